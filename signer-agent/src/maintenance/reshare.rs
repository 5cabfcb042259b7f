//! Reshare bundles in the agent: `import` verifies one (pinned to a trusted identity, the
//! shared `kc_bundle::reshare` verification) and checks it against the chain; `run` migrates its
//! validators with `PoolManager.reshareValidators`, in owner nonce order, within the policy
//! (the validators count against the staking cap of the day).
//!
//! Import refuses ([`ReshareRefusal`]): an owner that is not the PoolManager, a validator the
//! pool never staked (not confirmed in the state store, or not staked on chain), a root
//! governance has not approved for the new cluster, owner nonces the SSV network already used.
//! Nothing is sent for a refused bundle.

use std::path::Path;

use alloy::primitives::{Address, Bytes, B256, U256};
use alloy::sol_types::SolCall;

use super::tx::{self, cluster_subject, validator_subject};
use super::{refused_is_skip, Ctx, Pass, Wait};
use crate::chain::IPoolManager;
use crate::config::{Config, Contracts};
use crate::error::{Error, Result};
use crate::logscan::Events;
use crate::refusal::Refusal;
use crate::ssv::OperatorProblem;
use crate::store::db::args;
use crate::store::maintenance::{self as mstore, err, Action};
use crate::store::{Status, Store};

pub use crate::refusal::ReshareRefusal;
pub use crate::store::reshare::{
    bundle_cluster, bundle_operators, mark_migrated, rows, ReshareRow, ReshareState,
};

impl From<ReshareRefusal> for Error {
    fn from(r: ReshareRefusal) -> Self {
        crate::refusal::Refusal::from(r).into()
    }
}

/// The first operator of a reshare's new cluster that cannot take the shares, with why: it
/// does not exist, was removed, is private without having whitelisted the PoolManager, or its
/// latest `OperatorAdded` key is not the pinned one the shares were encrypted to.
pub async fn check_new_operators(
    events: &Events,
    c: &Contracts,
    pinned: &[(u64, String)],
    at: u64,
) -> Result<Option<(u64, OperatorProblem)>> {
    let ids: Vec<u64> = pinned.iter().map(|(id, _)| *id).collect();
    let states =
        crate::ssv::operator_states(events.provider(), c.ssv_network_views, &ids, c.pool_manager)
            .await?;
    for (state, (id, fingerprint)) in states.iter().zip(pinned) {
        if let Some(problem) = state.problem(c.pool_manager) {
            return Ok(Some((*id, problem)));
        }
        if let Some(problem) =
            crate::ssv::operator_key_problem(events, c, *id, Some(fingerprint), at).await?
        {
            return Ok(Some((*id, problem)));
        }
    }
    Ok(None)
}

/// Verifies a reshare bundle pinned to the trusted identities: the shared verification checks
/// that one of them signed it (`identity.pinned`).
pub fn load_verified(
    dir: &Path,
    trusted: &[Vec<u8>],
) -> Result<kc_bundle::reshare::VerifiedReshare> {
    let fail = |message: String| Error::Bundle {
        path: dir.to_owned(),
        message,
    };
    let untrusted = || {
        format!(
            "untrusted identity: the reshare manifest is not signed by one of the {} trusted_identities",
            trusted.len()
        )
    };
    let (report, loaded) = kc_bundle::reshare::verify(
        dir,
        &kc_bundle::verify::VerifyOptions {
            trusted_identities: trusted.to_vec(),
            ..Default::default()
        },
    );
    match loaded {
        Some(b) if report.identity_pinned => Ok(b),
        Some(_) => Err(fail(untrusted())),
        None if !report.identity_pinned => Err(fail(format!(
            "{}; {}",
            untrusted(),
            crate::bundle::describe_failures(&report)
        ))),
        None => Err(fail(crate::bundle::describe_failures(&report))),
    }
}

/// `import` of a reshare bundle. Returns the number of validators added.
pub async fn import(cfg: &Config, events: &Events, dir: &Path) -> Result<usize> {
    let b = load_verified(dir, &cfg.trusted_identities)?;
    let provider = events.provider();
    crate::chain::check_chain(provider, cfg.chain_id).await?;
    let c = cfg.contracts()?;
    let m = &b.manifest;
    let owner: Address = crate::config::parse_address("manifest.owner.address", &m.owner.address)?;
    if owner != c.pool_manager {
        return Err(ReshareRefusal::WrongOwner {
            owner: m.owner.address.clone(),
            pool_manager: c.pool_manager,
        }
        .into());
    }
    let st = Store::open_location(&cfg.state_location()?)?;
    let pm = IPoolManager::new(c.pool_manager, provider.clone());
    for v in &m.validators {
        let pk = format!("0x{}", v.pubkey);
        let status = st.validator_status(&pk)?;
        let on_chain = pm
            .isStaked(Bytes::from(hex::decode(&v.pubkey).unwrap_or_default()))
            .call()
            .await
            .map_err(|e| Error::rpc("PoolManager.isStaked", e))?;
        if status != Some(Status::Confirmed) || !on_chain {
            return Err(ReshareRefusal::NeverStaked {
                pubkey: pk,
                status: status
                    .map(|s| s.as_str().to_owned())
                    .unwrap_or_else(|| "unknown".into()),
                on_chain,
            }
            .into());
        }
        if let Some(e) = mstore::exits(&st)?
            .iter()
            .find(|e| e.pubkey.eq_ignore_ascii_case(&pk))
        {
            return Err(ReshareRefusal::Exiting {
                pubkey: pk,
                state: e.state.as_str().into(),
            }
            .into());
        }
    }
    let root: B256 = m
        .merkle_root
        .parse()
        .map_err(|_| Refusal::StoreInconsistent {
            problem: format!("reshare root {} is not 32 bytes", m.merkle_root),
        })?;
    let ids = b.operator_ids();
    let approved = pm
        .isReshareApproved(root, ids.clone())
        .call()
        .await
        .map_err(|e| Error::rpc("PoolManager.isReshareApproved", e))?;
    if !approved {
        return Err(ReshareRefusal::NotApproved {
            root,
            operator_ids: ids,
        }
        .into());
    }
    let at = events.head().await?;
    let chain = crate::ssv::owner_nonce(events, &c, c.pool_manager, at).await?;
    let id = format!("{root}");
    let already = rows(&st)?.iter().filter(|r| r.bundle_id == id).count();
    if m.owner.first_nonce < chain && already == 0 {
        return Err(ReshareRefusal::NonceUsed {
            first: m.owner.first_nonce,
            chain,
        }
        .into());
    }
    st.transaction("import a reshare bundle", |tx| {
        tx.execute(
            "INSERT INTO reshare_bundles (id, ceremony_id, path, operator_ids, operators, source_root, imported_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (id) DO NOTHING",
            args![
                id.as_str(),
                m.ceremony_id.as_str(),
                dir.display().to_string(),
                serde_json::to_string(&b.operator_ids()).unwrap_or_default(),
                serde_json::to_string(
                    &m.operators
                        .list
                        .iter()
                        .map(|o| (o.id, o.fingerprint.clone()))
                        .collect::<Vec<_>>()
                )
                .unwrap_or_default(),
                m.source.merkle_root.as_str(),
                crate::store::now()
            ],
        )
        .map_err(|e| err(&st, "insert a reshare bundle", e))?;
        let mut added = 0;
        for (i, v) in m.validators.iter().enumerate() {
            let n = tx
                .execute(
                    "INSERT INTO reshares (pubkey, bundle_id, position, owner_nonce, shares_data, leaf, state)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'imported') ON CONFLICT (pubkey, bundle_id) DO NOTHING",
                    args![
                        format!("0x{}", v.pubkey),
                        id.as_str(),
                        i,
                        v.owner_nonce,
                        b.shares_data[i].as_slice(),
                        b.leaves[i].as_slice()
                    ],
                )
                .map_err(|e| err(&st, "insert a reshare validator", e))?;
            if n > 0 {
                tx.execute(
                    "INSERT INTO history (pubkey, status, at, note) VALUES (?1, 'reshare_imported', ?2, ?3)",
                    args![
                        format!("0x{}", v.pubkey),
                        crate::store::now(),
                        format!("reshare bundle {id} ({}): owner nonce {}, cluster {:?}", m.ceremony_id, v.owner_nonce, b.operator_ids())
                    ],
                )
                .map_err(|e| err(&st, "append history", e))?;
            }
            added += n as usize;
        }
        Ok(added)
    })
}

/// One pass: the next reshare batch in owner nonce order, when its nonce is the chain's.
pub async fn run(ctx: &Ctx<'_>, st: &mut Store, p: &mut Pass) -> Result<()> {
    let pending: Vec<ReshareRow> = rows(st)?
        .into_iter()
        .filter(|r| r.state == ReshareState::Imported)
        .collect();
    let Some(first) = pending.first() else {
        return Ok(());
    };
    if mstore::transactions(st, true)?
        .iter()
        .any(|t| t.action == Action::Reshare)
    {
        p.waits.push(Wait::InFlight {
            subject: "reshare".into(),
        });
        return Ok(());
    }
    let c = ctx.cfg.contracts()?;
    let at = ctx.events.head().await?;
    let chain = crate::ssv::owner_nonce(ctx.events, &c, c.pool_manager, at).await?;
    if first.owner_nonce != chain {
        tracing::warn!(
            pubkey = %first.pubkey,
            owner_nonce = first.owner_nonce,
            chain,
            "the next reshare's owner nonce is not the SSV network's: waiting (staking or another reshare uses the nonces first)"
        );
        p.waits.push(Wait::NonceOrder {
            subject: validator_subject(&first.pubkey),
            want: first.owner_nonce,
            chain,
        });
        return Ok(());
    }
    let to_ids = bundle_cluster(st, &first.bundle_id)?.unwrap_or_default();
    let clusters = super::exits::validator_clusters(ctx.events, &c, at).await?;
    let Some(from_ids) = clusters.get(&first.pubkey.to_ascii_lowercase()).cloned() else {
        tracing::error!(pubkey = %first.pubkey, "the validator of the next reshare is not registered on SSV");
        return Ok(());
    };
    let pm = IPoolManager::new(c.pool_manager, ctx.provider.clone());
    let limit = pm
        .bulkLimit(U256::from(to_ids.len()))
        .call()
        .await
        .map_err(|e| Error::rpc("PoolManager.bulkLimit", e))?
        .saturating_to::<usize>();
    let policy = crate::policy::Policy::from_config(ctx.cfg)?;
    let (_, today) = st.signed_on(&crate::policy::today())?;
    let left = policy.max_validators_per_day.saturating_sub(today) as usize;
    if left == 0 {
        p.waits.push(Wait::DailyCap {
            action: Action::Reshare.as_str().into(),
            subject: "validators".into(),
        });
        return Ok(());
    }
    let batch: Vec<&ReshareRow> = pending
        .iter()
        .enumerate()
        .take_while(|(i, r)| {
            r.bundle_id == first.bundle_id
                && r.owner_nonce == first.owner_nonce + *i as u64
                && clusters.get(&r.pubkey.to_ascii_lowercase()) == Some(&from_ids)
        })
        .map(|(_, r)| r)
        .take(limit.min(left).min(ctx.cfg.max_validators_per_tx))
        .collect();
    let root: B256 = first
        .bundle_id
        .parse()
        .map_err(|_| Refusal::StoreInconsistent {
            problem: format!("reshare bundle id {} is not a root", first.bundle_id),
        })?;
    if !pm
        .isReshareApproved(root, to_ids.clone())
        .call()
        .await
        .map_err(|e| Error::rpc("PoolManager.isReshareApproved", e))?
    {
        tracing::error!(%root, "reshare root not approved (revoked?): nothing sent");
        p.waits.push(Wait::NotApproved {
            subject: format!("reshare:{root}"),
        });
        return Ok(());
    }
    // The new operators are the ones the shares were encrypted to.
    let pinned = bundle_operators(st, &first.bundle_id)?;
    if let Some((operator, problem)) = check_new_operators(ctx.events, &c, &pinned, at).await? {
        tracing::error!(%root, operator, %problem, "an operator of the reshare's new cluster cannot take the shares: nothing sent");
        p.waits.push(Wait::OperatorMismatch {
            subject: format!("reshare:{root}"),
            operator,
            problem,
        });
        return Ok(());
    }
    let from = crate::ssv::cluster_snapshot(ctx.events, &c, c.pool_manager, &from_ids, at).await?;
    let to = crate::ssv::cluster_snapshot(ctx.events, &c, c.pool_manager, &to_ids, at).await?;
    // ETH for the new cluster: what it needs for its validators after the move, less what it
    // holds and — when the old cluster empties — less the balance carried across.
    let k = batch.len() as u64;
    let mut fee = crate::stake::cluster_fee(
        ctx.provider,
        c.ssv_network_views,
        c.pool_manager,
        &to_ids,
        &to,
        k,
        ctx.cfg.fee_margin_blocks,
    )
    .await?;
    if from.validatorCount as u64 == k && from.active {
        let f = crate::ssv::cluster_funds(
            ctx.provider,
            c.ssv_network_views,
            c.pool_manager,
            &from_ids,
            &from,
        )
        .await?;
        if f.kind == crate::ssv::ClusterKind::Eth {
            let burn = f.burn_wei_per_block * U256::from(crate::ssv::INCLUSION_BLOCKS);
            fee = fee.saturating_sub(f.balance_wei.saturating_sub(burn));
        }
    }
    let leaves = rows(st)?
        .into_iter()
        .filter(|r| r.bundle_id == first.bundle_id)
        .map(|r| (r.position, r.leaf))
        .collect::<std::collections::BTreeMap<_, _>>();
    let leaves: Vec<[u8; 32]> = leaves.into_values().collect();
    let mut data = Vec::new();
    for r in &batch {
        let proof = kc_bundle::merkle::proof(&leaves, r.position).unwrap_or_default();
        data.push(IPoolManager::ReshareData {
            pubkey: r.pubkey.parse().map_err(|_| Refusal::StoreInconsistent {
                problem: format!("bad pubkey {}", r.pubkey),
            })?,
            sharesData: Bytes::from(r.shares_data.clone()),
            proof: proof.into_iter().map(B256::from).collect(),
        });
    }
    let input = IPoolManager::reshareValidatorsCall {
        reshareRoot: root,
        fromOperatorIds: from_ids.clone(),
        fromCluster: from,
        toOperatorIds: to_ids.clone(),
        toCluster: to,
        validators: data,
        clusterFee: fee,
    }
    .abi_encode();
    let mut subjects = vec![
        format!("reshare:{}", first.bundle_id),
        cluster_subject(&from_ids),
        cluster_subject(&to_ids),
    ];
    subjects.extend(batch.iter().map(|r| validator_subject(&r.pubkey)));
    let note = format!(
        "reshareValidators: {k} validators from cluster {} to {} (nonces {}..), {fee} wei for fees",
        super::cluster_label(&from_ids),
        super::cluster_label(&to_ids),
        first.owner_nonce
    );
    if refused_is_skip(
        tx::send(ctx, st, Action::Reshare, subjects, input, &note)
            .await
            .map(|s| tracing::info!(tx = %s.hash, gas = s.gas_used, validators = k, "validators moved to the new cluster")),
    )? {
        p.sent += 1;
    }
    Ok(())
}
