//! Planning and sending `PoolManager.stake`, and reconciling the store with the chain.
//!
//! Crash safety: a transaction is signed, its hash recorded as `sent`, and only then broadcast;
//! after a restart, [`reconcile`] settles every unconfirmed validator from the chain (the chain is
//! the truth): staked on chain → `confirmed`; its transaction reverted, or never mined while the
//! account has nothing pending → `reverted` (eligible again). The PoolManager itself refuses a
//! key staked before, so a duplicate send cannot deposit twice.

use std::time::Duration;

use alloy::eips::BlockId;
use alloy::network::{EthereumWallet, TransactionBuilder};
use alloy::primitives::{keccak256, Address, Bytes, B256, U256};
use alloy::providers::{DynProvider, Provider};
use alloy::rpc::types::{Filter, TransactionRequest};
use alloy::sol_types::{SolCall, SolEvent, SolInterface};
use serde::Serialize;

use crate::chain::{Cluster, IDepositContract, IPoolManager};
use crate::config::{Config, Contracts, GasCaps};
use crate::error::{Error, Result};
use crate::store::{Status, Store, ValidatorRow};

/// 32 ETH in wei.
pub const DEPOSIT_WEI: u128 = kc_validator::deposit::gwei_to_wei(crate::bundle::DEPOSIT_GWEI);

/// Test-only fault injection (feature `fault-injection`): exit the process at a named point.
#[cfg(feature = "fault-injection")]
pub fn crash_point(name: &str) {
    if std::env::var("SIGNER_AGENT_CRASH_AT").ok().as_deref() == Some(name) {
        eprintln!("fault injection: exiting at {name}");
        std::process::exit(86);
    }
}

/// Test-only fault injection: a no-op without the `fault-injection` feature.
#[cfg(not(feature = "fault-injection"))]
#[inline(always)]
pub fn crash_point(_name: &str) {}

/// What one `stake` transaction would carry.
#[derive(Debug, Clone, Serialize)]
pub struct StakePlan {
    pub bundle_id: String,
    pub operator_ids: Vec<u64>,
    pub validators: Vec<PlannedValidator>,
    pub expected_deposit_root: String,
    pub owner_nonce: u64,
    /// 32 ETH per validator plus `cluster_fee_wei`.
    pub eth_needed_wei: String,
    /// 32 ETH per validator, to the deposit contract.
    pub deposits_wei: String,
    /// ETH for SSV fees sent with the registration (the `clusterFee` of `stake`).
    pub cluster_fee_wei: String,
    /// The SSV network's version (`getVersion()`).
    pub ssv_network_version: String,
    pub buffered_available_wei: String,
    pub gas_estimate: Option<u64>,
    pub max_fee_per_gas_wei: String,
    #[serde(skip)]
    pub(crate) call: Option<IPoolManager::stakeCall>,
    #[serde(skip)]
    pub(crate) pubkeys: Vec<String>,
}

impl StakePlan {
    /// The `stake` call the plan would send (absent in a dry run without a signer).
    pub fn call(&self) -> Option<&IPoolManager::stakeCall> {
        self.call.as_ref()
    }
}

/// One validator in a plan.
#[derive(Debug, Clone, Serialize)]
pub struct PlannedValidator {
    pub pubkey: String,
    pub index: u32,
    pub owner_nonce: u64,
}

/// What [`prepare`] found.
// One value per loop iteration; boxing the plan would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Prepared {
    /// Ready to send.
    Ready(StakePlan),
    /// Nothing can be sent now; the reason says why (not an error: the daemon waits).
    Waiting { reason: String },
    /// Every imported validator is staked.
    Done,
    /// Keys of the next transaction that someone else already deposited for (front-running):
    /// nothing is sent; the caller marks them refused and plans again without them.
    FrontRun { deposits: Vec<FrontRunDeposit> },
}

/// A `DepositEvent` of the deposit contract for one of the pool's keys that the pool did not
/// make: staking that key would top up the depositor's validator with the pool's 32 ETH.
#[derive(Debug, Clone, Serialize)]
pub struct FrontRunDeposit {
    /// `0x` hex, as in the store.
    pub pubkey: String,
    /// The depositing transaction.
    pub tx: Option<String>,
    pub block: Option<u64>,
    /// The withdrawal credentials the depositor chose, `0x` hex.
    pub withdrawal_credentials: String,
}

impl FrontRunDeposit {
    /// The reason recorded in the history and logged.
    pub fn reason(&self) -> String {
        format!(
            "front_run: the deposit contract already has a DepositEvent for {} (tx {}, block {}, withdrawal credentials {}); staking it would send the pool's 32 ETH to that validator; refused, never staked by the pool",
            self.pubkey,
            self.tx.as_deref().unwrap_or("unknown"),
            self.block.map(|b| b.to_string()).unwrap_or_else(|| "unknown".into()),
            self.withdrawal_credentials
        )
    }
}

/// Every `DepositEvent` of `deposit_contract` in blocks `from..=to` whose pubkey is one of
/// `pubkeys` (`0x` hex, lowercase). `DepositEvent` has no indexed field, so every event in the
/// range is read (through the chunked [`crate::logscan::Scanner`]) and decoded, chunk by chunk;
/// only the matches are kept.
pub async fn front_run_deposits(
    scanner: &crate::logscan::Scanner,
    deposit_contract: Address,
    from: u64,
    to: u64,
    pubkeys: &[&str],
) -> Result<Vec<FrontRunDeposit>> {
    let mut found = Vec::new();
    let filter = Filter::new()
        .address(deposit_contract)
        .event_signature(IDepositContract::DepositEvent::SIGNATURE_HASH);
    scanner
        .scan("DepositEvent", &filter, from, to, |_, _, logs| {
            found.extend(front_run_in(&logs, pubkeys)?);
            Ok(())
        })
        .await?;
    Ok(found)
}

/// The `DepositEvent`s among `logs` whose pubkey is one of `pubkeys` (`0x` hex, any case). An
/// undecodable event from the deposit contract is an error, not a proof of absence.
pub fn front_run_in(
    logs: &[alloy::rpc::types::Log],
    pubkeys: &[&str],
) -> Result<Vec<FrontRunDeposit>> {
    let mut found = Vec::new();
    for log in logs {
        let ev = IDepositContract::DepositEvent::decode_log_data(log.data())
            .map_err(|e| Error::rpc("decode DepositEvent", e))?;
        let pk = format!("0x{}", hex::encode(&ev.pubkey));
        if pubkeys.iter().any(|p| p.eq_ignore_ascii_case(&pk)) {
            found.push(FrontRunDeposit {
                pubkey: pk,
                tx: log.transaction_hash.map(|h| format!("{h}")),
                block: log.block_number,
                withdrawal_credentials: format!("0x{}", hex::encode(&ev.withdrawal_credentials)),
            });
        }
    }
    Ok(found)
}

/// Blocks below the cursor that every scan reads again: a reorg shallower than this cannot hide
/// a deposit from the scan.
pub fn rescan_depth(confirmations: u64) -> u64 {
    confirmations.saturating_add(64)
}

/// Digest of every imported validator pubkey: the cursor is valid only for the keys it scanned
/// for, and an import (which only ever adds keys) changes it.
pub fn keys_digest(all: &[ValidatorRow]) -> String {
    let mut keys: Vec<String> = all.iter().map(|v| v.pubkey.to_ascii_lowercase()).collect();
    keys.sort();
    format!("{}", keccak256(keys.join(",").as_bytes()))
}

/// The first block the next scan must read, up to head `at`: from the deploy block when there
/// is no usable cursor (none, another deposit contract or deploy block, new keys imported, or a
/// head that went back below the rescan window), else the last `depth` blocks under the cursor
/// and everything after it.
pub fn scan_start(
    cursor: Option<&crate::store::DepositScan>,
    deposit_contract: &str,
    first_block: u64,
    digest: &str,
    at: u64,
    depth: u64,
) -> u64 {
    let Some(c) = cursor else {
        return first_block;
    };
    if !c.deposit_contract.eq_ignore_ascii_case(deposit_contract)
        || c.first_block != first_block
        || c.keys_digest != digest
    {
        return first_block;
    }
    let from = c
        .last_block
        .saturating_add(1)
        .saturating_sub(depth)
        .max(first_block);
    if at < from {
        // The head is below the window the cursor vouches for: a deep reorg, or another node.
        return first_block;
    }
    from
}

/// Brings the front-running scan up to block `at`: reads the `DepositEvent`s after the stored
/// cursor (re-reading the last [`rescan_depth`] blocks against reorgs), records those for the
/// pool's not-yet-staked keys and advances the cursor, in one store transaction. Returns the
/// range read.
pub async fn scan_deposits(
    scanner: &crate::logscan::Scanner,
    store: &Store,
    deposit_contract: Address,
    first_block: u64,
    at: u64,
    confirmations: u64,
) -> Result<(u64, u64)> {
    let all = store.validators()?;
    let digest = keys_digest(&all);
    let dc = format!("{deposit_contract:#x}");
    let cursor = store.deposit_scan()?;
    let from = scan_start(
        cursor.as_ref(),
        &dc,
        first_block,
        &digest,
        at,
        rescan_depth(confirmations),
    );
    if cursor.is_some() && from == first_block {
        tracing::info!(
            from,
            at,
            "front-running scan: cursor not usable; scanning from the deploy block"
        );
    }
    // Keys the pool has not deposited for (a `sent` key blocks planning, so none is in flight).
    let keys: Vec<&str> = all
        .iter()
        .filter(|v| matches!(v.status, Status::Imported | Status::Reverted))
        .map(|v| v.pubkey.as_str())
        .collect();
    let found = front_run_deposits(scanner, deposit_contract, from, at, &keys).await?;
    store.record_deposit_scan(
        &crate::store::DepositScan {
            deposit_contract: dc,
            first_block,
            keys_digest: digest,
            scanned_from: from,
            last_block: at,
        },
        &found,
    )?;
    tracing::debug!(from, to = at, found = found.len(), "front-running scan");
    Ok((from, at))
}

fn wei(v: U256) -> String {
    v.to_string()
}

pub fn eth(v: U256) -> String {
    format!("{} ETH", decimal(v))
}

/// An 18-decimal amount with 6 decimals shown (rounded down).
pub fn decimal(v: U256) -> String {
    let e = U256::from(1_000_000_000_000_000_000u128);
    let whole = v / e;
    let frac = (v % e) / U256::from(1_000_000_000_000u128);
    format!("{whole}.{frac:06}")
}

fn transport_revert(e: &alloy::transports::TransportError) -> String {
    if let Some(payload) = e.as_error_resp() {
        if let Some(decoded) =
            payload.as_decoded_interface_error::<IPoolManager::IPoolManagerErrors>()
        {
            return format!("reverted: {decoded:?}");
        }
    }
    e.to_string()
}

/// Rechecks the cluster's operators against the chain (at block `at`) before a stake: each
/// exists, is not removed, has whitelisted the PoolManager if it is private, and its public key
/// (the latest `OperatorAdded`) has the fingerprint pinned in the bundle's manifest. The first
/// problem stops staking for this cluster ([`Error::ClusterStopped`], naming the operator).
pub async fn check_operators(
    events: &crate::logscan::Events,
    c: &Contracts,
    store: &Store,
    bundle_id: &str,
    ids: &[u64],
    at: u64,
) -> Result<()> {
    let facts = store.bundle_facts(bundle_id)?.ok_or_else(|| {
        Error::refused(format!(
            "bundle {bundle_id} has no pinned operator fingerprints in the state store (imported by an older agent): import it again"
        ))
    })?;
    let stop = |id: u64, problem: crate::ssv::OperatorProblem| Error::ClusterStopped {
        operator_ids: ids.to_vec(),
        operator_id: id,
        problem,
    };
    let states =
        crate::ssv::operator_states(events.provider(), c.ssv_network_views, ids, c.pool_manager)
            .await?;
    for st in &states {
        if let Some(p) = st.problem(c.pool_manager) {
            return Err(stop(st.id, p));
        }
    }
    for &id in ids {
        let pinned = facts
            .operators
            .iter()
            .find(|(i, _)| *i == id)
            .map(|(_, f)| f.as_str());
        if let Some(p) = crate::ssv::operator_key_problem(events, c, id, pinned, at).await? {
            return Err(stop(id, p));
        }
    }
    Ok(())
}

/// The ETH for SSV fees to send with `k` more validators into the pool's cluster of `ids`
/// (`snapshot`): enough for the network's liquidation threshold plus `margin_blocks` (and
/// [`crate::ssv::INCLUSION_BLOCKS`] for the blocks until the transaction is included) at the
/// cluster's burn rate afterwards (the effective balance the network charges: its reported EB
/// plus 32 ETH per new validator), at least the minimum collateral, less what it holds now.
/// A legacy SSV-paid cluster refuses ([`Error::LegacyCluster`]); so does a liquidated one.
pub async fn cluster_fee(
    provider: &DynProvider,
    views: Address,
    owner: Address,
    ids: &[u64],
    snapshot: &Cluster,
    k: u64,
    margin_blocks: u64,
) -> Result<U256> {
    let params = crate::ssv::fee_params(provider, views, ids).await?;
    let fresh = *snapshot == crate::ssv::new_cluster();
    let (balance, eb) = if fresh {
        (U256::ZERO, 0)
    } else {
        let f = crate::ssv::cluster_funds(provider, views, owner, ids, snapshot).await?;
        if f.kind == crate::ssv::ClusterKind::Legacy {
            return Err(Error::LegacyCluster {
                operator_ids: ids.to_vec(),
            });
        }
        if !f.active {
            return Err(Error::refused(format!(
                "cluster {ids:?} is liquidated: it must be reactivated (PoolManager.reactivateCluster) before the pool stakes into it; staking for this cluster stops"
            )));
        }
        (f.balance_wei, f.effective_balance_eth)
    };
    Ok(crate::ssv::eth_to_send(
        &params,
        balance,
        eb,
        k,
        margin_blocks + crate::ssv::INCLUSION_BLOCKS,
    ))
}

/// Works out the next `stake` transaction, checking everything that would make it fail.
pub async fn prepare(
    events: &crate::logscan::Events,
    cfg: &Config,
    store: &Store,
    signer: Option<Address>,
) -> Result<Prepared> {
    let provider = events.provider();
    crate::chain::check_chain(provider, cfg.chain_id).await?;
    crate::ssv::check_v2(provider, &cfg.contracts()?).await?;
    let all = store.validators()?;
    let pending: Vec<&ValidatorRow> = all
        .iter()
        .filter(|v| matches!(v.status, Status::Imported | Status::Reverted))
        .collect();
    if all.iter().any(|v| v.status == Status::Sent) {
        return Ok(Prepared::Waiting {
            reason: "a stake transaction is in flight; reconcile first".into(),
        });
    }
    if pending.is_empty() {
        return Ok(Prepared::Done);
    }
    let bundles = store.bundles()?;
    // Bundles in the order of their first pending validator's owner nonce, then of import. A
    // bundle that is stopped (its batch not approved, an operator removed or changed, or a nonce
    // gap left by a refused key) does not hold up the others: the planner logs why and tries the
    // next one.
    let mut order: Vec<(u64, usize, &str)> = Vec::new();
    for v in &pending {
        if !order.iter().any(|(_, _, id)| *id == v.bundle_id) {
            let imported = bundles
                .iter()
                .position(|b| b.id == v.bundle_id)
                .unwrap_or(usize::MAX);
            order.push((v.owner_nonce, imported, &v.bundle_id));
        }
    }
    order.sort();
    let mut first_stop: Option<Error> = None;
    for (_, _, id) in order {
        let mine: Vec<&ValidatorRow> = pending
            .iter()
            .copied()
            .filter(|v| v.bundle_id == id)
            .collect();
        let bundle = bundles.iter().find(|b| b.id == id).ok_or_else(|| {
            Error::refused(format!(
                "bundle {id} of validator {} is not in the store",
                mine[0].pubkey
            ))
        })?;
        match prepare_bundle(events, cfg, store, signer, &all, &mine, bundle).await {
            Err(Error::Refused { reason }) if bundle_stopped(&reason) => {
                tracing::warn!(
                    bundle = %id,
                    %reason,
                    "this bundle cannot be staked now; planning the next pending bundle"
                );
                first_stop.get_or_insert(Error::Refused { reason });
            }
            Err(e @ (Error::LegacyCluster { .. } | Error::ClusterStopped { .. })) => {
                tracing::warn!(
                    bundle = %id,
                    reason = %e,
                    "this bundle cannot be staked now; planning the next pending bundle"
                );
                first_stop.get_or_insert(e);
            }
            other => return other,
        }
    }
    // Every pending bundle is stopped: the first one's reason.
    Err(first_stop.unwrap_or_else(|| Error::refused("no pending bundle can be planned")))
}

/// Refuses unless governance approved `root` on the PoolManager for this withdrawal type and
/// this cluster (the batch stores the hash of its operator ids). Shared by `verify`/`import`
/// and the planner.
pub async fn check_batch_approved(
    provider: &DynProvider,
    pool_manager: Address,
    root: B256,
    withdrawal_type: u8,
    operator_ids: &[u64],
) -> Result<()> {
    let batch = IPoolManager::new(pool_manager, provider.clone())
        .getBatch(root)
        .call()
        .await
        .map_err(|e| Error::rpc("PoolManager.getBatch", e))?;
    if !batch.approved {
        return Err(Error::refused(format!(
            "root not approved: batch {root} is not approved on PoolManager {pool_manager}"
        )));
    }
    if batch.withdrawalType != withdrawal_type {
        return Err(Error::refused(format!(
            "batch {root} was approved for withdrawal type 0x{:02x}, the bundle is 0x{withdrawal_type:02x}",
            batch.withdrawalType
        )));
    }
    let ids_hash = keccak256(alloy::sol_types::SolValue::abi_encode(
        &operator_ids.to_vec(),
    ));
    if batch.operatorIdsHash != ids_hash {
        return Err(Error::refused(format!(
            "batch {root} was approved for another cluster than {operator_ids:?}"
        )));
    }
    Ok(())
}

/// Whether a refusal of [`prepare_bundle`] stops only that bundle (its cluster, batch or nonces),
/// so the planner may go on with the next pending bundle.
fn bundle_stopped(reason: &str) -> bool {
    [
        "staking for this cluster stops",
        "nonce mismatch",
        "root not approved",
        "was approved for",
        "no pinned operator fingerprints",
        "is liquidated: it must be reactivated",
    ]
    .iter()
    .any(|m| reason.contains(m))
}

/// [`prepare`] for one bundle: `mine` are its pending validators, in owner nonce order.
async fn prepare_bundle(
    events: &crate::logscan::Events,
    cfg: &Config,
    store: &Store,
    signer: Option<Address>,
    all: &[ValidatorRow],
    mine: &[&ValidatorRow],
    bundle: &crate::store::BundleRow,
) -> Result<Prepared> {
    let provider = events.provider();
    let c = &cfg.contracts()?;
    let first = mine[0];
    let pm = IPoolManager::new(c.pool_manager, provider.clone());
    // Every read below is of the chain up to this block.
    let at = provider
        .get_block_number()
        .await
        .map_err(|e| Error::rpc("eth_blockNumber", e))?;
    let root: B256 = bundle
        .id
        .parse()
        .map_err(|_| Error::refused(format!("bundle id {} is not a root", bundle.id)))?;

    // Governance approved this batch, for this withdrawal type and cluster.
    check_batch_approved(
        provider,
        c.pool_manager,
        root,
        bundle.withdrawal_type,
        &bundle.operator_ids,
    )
    .await?;
    if let Some(signer) = signer {
        let role = pm
            .OPERATOR_ROLE()
            .call()
            .await
            .map_err(|e| Error::rpc("PoolManager.OPERATOR_ROLE", e))?;
        let ok = pm
            .hasRole(role, signer)
            .call()
            .await
            .map_err(|e| Error::rpc("PoolManager.hasRole", e))?;
        if !ok {
            return Err(Error::refused(format!(
                "the agent's address {signer} lacks OPERATOR_ROLE on the PoolManager"
            )));
        }
    }

    // Owner nonce: the next validator's ownership signature must use the chain's current nonce
    // (the PoolManager's ValidatorAdded events: SSVNetworkViews has no nonce view).
    let chain_nonce = crate::ssv::owner_nonce(events, c, c.pool_manager, at).await?;
    if chain_nonce != first.owner_nonce {
        // A refused (front-run) validator keeps its nonce unused: the later validators' shares
        // were signed for nonces the SSV network will not reach.
        let hint = match all
            .iter()
            .find(|v| v.status == Status::Refused && v.owner_nonce == chain_nonce)
        {
            Some(r) => format!(
                " (validator {} with owner nonce {chain_nonce} was refused as front-run: the later validators' shares must be signed again for the SSV network's nonces)",
                r.pubkey
            ),
            None => String::new(),
        };
        return Err(Error::refused(format!(
            "nonce mismatch: the next validator (index {}, {}) was signed for owner nonce {}, the SSV network's nonce for the PoolManager is {chain_nonce}{hint}",
            first.index, first.pubkey, first.owner_nonce
        )));
    }

    // ETH.
    let buffered = pm
        .bufferedEther()
        .call()
        .await
        .map_err(|e| Error::rpc("PoolManager.bufferedEther", e))?;
    let pending_w = pm
        .pendingWithdrawalEther()
        .call()
        .await
        .map_err(|e| Error::rpc("PoolManager.pendingWithdrawalEther", e))?;
    let available = buffered.saturating_sub(pending_w);
    let by_eth = (available / U256::from(DEPOSIT_WEI)).to::<u64>() as usize;
    let limit = pm
        .bulkLimit(U256::from(bundle.operator_ids.len()))
        .call()
        .await
        .map_err(|e| Error::rpc("PoolManager.bulkLimit", e))?
        .to::<u64>() as usize;
    // This bundle's validators with consecutive owner nonces from the chain's.
    let same_bundle: Vec<&ValidatorRow> = mine
        .iter()
        .copied()
        .enumerate()
        .take_while(|(i, v)| v.owner_nonce == first.owner_nonce + *i as u64)
        .map(|(_, v)| v)
        .collect();
    let k = by_eth
        .min(limit)
        .min(cfg.max_validators_per_tx)
        .min(same_bundle.len());
    if k == 0 {
        return Ok(Prepared::Waiting {
            reason: format!(
                "not enough ETH: {} available in the pool, 32 ETH needed per validator",
                eth(available)
            ),
        });
    }
    // The policy's daily validator cap: plan within what is left today, so the daemon stakes
    // up to the cap and then waits for the next day (the policy signer enforces it anyway).
    let cap = crate::policy::Policy::from_config(cfg)?.max_validators_per_day;
    let (_, today_n) = store.signed_on(&crate::policy::today())?;
    let left = cap.saturating_sub(today_n) as usize;
    if left == 0 {
        return Ok(Prepared::Waiting {
            reason: format!(
                "daily validator cap reached: {today_n} staked today (UTC), the policy allows {cap}"
            ),
        });
    }
    let k = k.min(left);
    let chosen = &same_bundle[..k];
    // Consecutive nonces.
    for (i, v) in chosen.iter().enumerate() {
        if v.owner_nonce != first.owner_nonce + i as u64 {
            return Err(Error::refused(format!(
                "nonce mismatch: validator {} has owner nonce {}, expected {}",
                v.pubkey,
                v.owner_nonce,
                first.owner_nonce + i as u64
            )));
        }
    }

    // Already staked on chain (the DB is a cache): reconcile before sending.
    for v in chosen {
        let pk: Bytes = v
            .pubkey
            .parse()
            .map_err(|_| Error::refused(format!("bad pubkey {}", v.pubkey)))?;
        if pm
            .isStaked(pk)
            .call()
            .await
            .map_err(|e| Error::rpc("PoolManager.isStaked", e))?
        {
            return Ok(Prepared::Waiting {
                reason: format!(
                    "validator {} is already staked on chain; reconcile first",
                    v.pubkey
                ),
            });
        }
    }

    // Deposit front-running (SECURITY.md finding 4): no key of the transaction may have a
    // `DepositEvent` from the deployment's first block up to block `at`, the block whose deposit
    // root the transaction passes as `expectedDepositRoot` (so a deposit after the scan changes
    // the root and the stake reverts).
    // The scan is incremental: the store keeps a cursor and the deposits found for the pool's
    // keys, so each stake reads only the blocks after the cursor (and the last few again).
    scan_deposits(
        events.scanner(),
        store,
        c.deposit_contract,
        c.deploy_block,
        at,
        cfg.confirmations,
    )
    .await?;
    let keys: Vec<&str> = chosen.iter().map(|v| v.pubkey.as_str()).collect();
    let deposits = store.foreign_deposits(&keys)?;
    if !deposits.is_empty() {
        return Ok(Prepared::FrontRun { deposits });
    }

    // The cluster's operators, as the chain has them now, are the ones the ceremony encrypted
    // the shares to.
    check_operators(events, c, store, &bundle.id, &bundle.operator_ids, at).await?;

    let cluster =
        crate::ssv::cluster_snapshot(events, c, c.pool_manager, &bundle.operator_ids, at).await?;
    // ETH for the cluster's fees, from the buffer too: fewer validators when it does not fit.
    let policy = crate::policy::Policy::from_config(cfg)?;
    let fee_left_today = policy
        .max_ssv_fee_per_day_wei
        .saturating_sub(store.ssv_fees_on(&crate::policy::today())?);
    let fee_cap = pm
        .clusterFeeCapPerValidator()
        .call()
        .await
        .map_err(|e| Error::rpc("PoolManager.clusterFeeCapPerValidator", e))?;
    let mut k = k;
    let mut fee;
    loop {
        fee = cluster_fee(
            provider,
            c.ssv_network_views,
            c.pool_manager,
            &bundle.operator_ids,
            &cluster,
            k as u64,
            cfg.fee_margin_blocks,
        )
        .await?;
        if U256::from(DEPOSIT_WEI) * U256::from(k) + fee <= available || k == 1 {
            break;
        }
        k -= 1;
    }
    let deposits = U256::from(DEPOSIT_WEI) * U256::from(k);
    if deposits + fee > available {
        return Ok(Prepared::Waiting {
            reason: format!(
                "not enough ETH: {} available in the pool, {} needed for 1 validator (32 ETH) and its SSV cluster fees ({})",
                eth(available),
                eth(deposits + fee),
                eth(fee)
            ),
        });
    }
    let cap = fee_cap * U256::from(cluster.validatorCount as u64 + k as u64);
    if fee > cap {
        return Err(Error::refused(format!(
            "ssv fees above the PoolManager's cap: {} for {k} validators into cluster {:?}, governance allows {} ({} per validator)",
            eth(fee),
            bundle.operator_ids,
            eth(cap),
            eth(fee_cap)
        )));
    }
    if fee > policy.max_ssv_fee_per_tx_wei {
        return Err(Error::refused(format!(
            "ssv fees above the policy: {} for {k} validators, the policy allows {} per transaction",
            eth(fee),
            eth(policy.max_ssv_fee_per_tx_wei)
        )));
    }
    if fee > fee_left_today {
        return Ok(Prepared::Waiting {
            reason: format!(
                "daily SSV fee cap reached: {} needed, {} left today (UTC) of the policy's {}",
                eth(fee),
                eth(fee_left_today),
                eth(policy.max_ssv_fee_per_day_wei)
            ),
        });
    }
    let chosen = &chosen[..k];
    let network = crate::ssv::check_v2(provider, c).await?;
    let deposit_root = IDepositContract::new(c.deposit_contract, provider.clone())
        .get_deposit_root()
        .call()
        .block(BlockId::number(at))
        .await
        .map_err(|e| Error::rpc("DepositContract.get_deposit_root", e))?;
    let leaves = store.leaves(&bundle.id)?;
    let mut data = Vec::with_capacity(k);
    for v in chosen {
        let proof = kc_bundle::merkle::proof(&leaves, v.position).ok_or_else(|| {
            Error::refused(format!(
                "no proof for validator {} at position {}",
                v.pubkey, v.position
            ))
        })?;
        if !kc_bundle::merkle::verify_proof(&proof, &root.0, &v.leaf) {
            return Err(Error::refused(format!(
                "the stored proof of {} does not verify against {root}",
                v.pubkey
            )));
        }
        data.push(IPoolManager::ValidatorData {
            pubkey: v
                .pubkey
                .parse()
                .map_err(|_| Error::refused(format!("bad pubkey {}", v.pubkey)))?,
            signature: Bytes::from(v.signature.clone()),
            depositDataRoot: B256::from(v.deposit_data_root),
            sharesData: Bytes::from(v.shares_data.clone()),
            proof: proof.into_iter().map(B256::from).collect(),
        });
    }
    let call = IPoolManager::stakeCall {
        batchRoot: root,
        operatorIds: bundle.operator_ids.clone(),
        validators: data,
        expectedDepositRoot: deposit_root,
        clusterFee: fee,
        cluster,
    };
    let fees = provider
        .estimate_eip1559_fees()
        .await
        .map_err(|e| Error::rpc("eth_feeHistory", e))?;
    let gas_estimate = match signer {
        Some(from) => {
            let req = TransactionRequest::default()
                .with_from(from)
                .with_to(c.pool_manager)
                .with_input(call.abi_encode());
            Some(provider.estimate_gas(req).await.map_err(|e| {
                Error::refused(format!("stake would fail: {}", transport_revert(&e)))
            })?)
        }
        None => None,
    };
    Ok(Prepared::Ready(StakePlan {
        bundle_id: bundle.id.clone(),
        operator_ids: bundle.operator_ids.clone(),
        validators: chosen
            .iter()
            .map(|v| PlannedValidator {
                pubkey: v.pubkey.clone(),
                index: v.index,
                owner_nonce: v.owner_nonce,
            })
            .collect(),
        expected_deposit_root: format!("{deposit_root}"),
        owner_nonce: first.owner_nonce,
        eth_needed_wei: wei(deposits + fee),
        deposits_wei: wei(deposits),
        cluster_fee_wei: wei(fee),
        ssv_network_version: network.version,
        buffered_available_wei: wei(available),
        gas_estimate,
        max_fee_per_gas_wei: fees.max_fee_per_gas.to_string(),
        pubkeys: chosen.iter().map(|v| v.pubkey.clone()).collect(),
        call: Some(call),
    }))
}

/// Signs the plan's transaction, records it and its validators as `sent` (with its hash)
/// *before* broadcasting, broadcasts, follows it through the mempool ([`crate::replace`]:
/// replaced with higher fees when it is not mined, each version recorded before it is sent),
/// waits for the confirmations, and records the outcome.
pub async fn send(
    provider: &DynProvider,
    wallet: &EthereumWallet,
    from: Address,
    cfg: &Config,
    store: &mut Store,
    plan: &StakePlan,
) -> Result<(B256, u64, u64)> {
    let call = plan
        .call
        .as_ref()
        .ok_or_else(|| Error::refused("the plan has no call (dry run)"))?;
    let gas = plan
        .gas_estimate
        .ok_or_else(|| Error::refused("no gas estimate"))?;
    let gas_limit = gas + gas / 5;
    check_gas(&cfg.gas, gas_limit, plan)?;
    let out = crate::replace::Outgoing {
        kind: crate::replace::Kind::Stake,
        to: cfg.contracts()?.pool_manager,
        input: Bytes::from(call.abi_encode()),
        value: U256::ZERO,
        gas_limit,
        pubkeys: plan.pubkeys.clone(),
    };
    let sender = crate::replace::Sender {
        provider,
        wallet,
        from,
        cfg,
    };
    let mut hook = mark_sent(&plan.pubkeys);
    let mined = sender.send(store, &out, &mut hook).await;
    settle(provider, cfg, store, &plan.pubkeys, mined).await
}

/// The hook that records each signed version of a stake: its validators `sent` with its hash.
fn mark_sent(
    pubkeys: &[String],
) -> impl FnMut(&mut Store, &crate::replace::Signed) -> Result<()> + '_ {
    move |store, s| {
        crash_point("before-record");
        let note = match s.replaces {
            None => format!("nonce {}", s.nonce),
            Some(old) => format!(
                "nonce {}, replaces {old} (max fee {} wei, priority {} wei)",
                s.nonce, s.max_fee, s.max_priority_fee
            ),
        };
        store.set_status(
            pubkeys,
            Status::Sent,
            Some(&format!("{}", s.hash)),
            None,
            Some(&note),
        )
    }
}

/// Records the outcome of a followed stake: confirmed after the confirmations, reverted, or —
/// dropped or its nonce taken — eligible again (the chain decides: [`reconcile`] runs next).
async fn settle(
    provider: &DynProvider,
    cfg: &Config,
    store: &mut Store,
    pubkeys: &[String],
    outcome: Result<crate::replace::Mined>,
) -> Result<(B256, u64, u64)> {
    let m = match outcome {
        Ok(m) => m,
        Err(e @ Error::TxDropped { .. }) => {
            store.set_status(
                pubkeys,
                Status::Reverted,
                None,
                None,
                Some("dropped from the mempool without being mined; planned again"),
            )?;
            return Err(e);
        }
        Err(e @ Error::NonceTaken { .. }) => {
            // None of its versions can be mined any more; whether the other transaction staked
            // them is the chain's to say (the next reconcile asks `isStaked`).
            store.set_status(
                pubkeys,
                Status::Reverted,
                None,
                None,
                Some(&format!("not staked by the agent: {e}")),
            )?;
            return Err(e);
        }
        Err(e) => return Err(e),
    };
    crash_point("after-receipt");
    let hash_s = format!("{}", m.hash);
    let block = match mined(&m.receipt) {
        Ok(block) => block,
        Err(Mined::Pending) => unreachable!("the sender returns mined versions only"),
        Err(Mined::Reverted { block }) => {
            store.set_status(
                pubkeys,
                Status::Reverted,
                Some(&hash_s),
                Some(block),
                Some("transaction reverted"),
            )?;
            return Err(Error::Transaction {
                tx: hash_s,
                message: format!("reverted in block {block}"),
            });
        }
    };
    wait_confirmations(provider, block, cfg).await?;
    let note = (m.versions > 1).then(|| format!("mined after {} replacements", m.versions - 1));
    store.set_status(
        pubkeys,
        Status::Confirmed,
        Some(&hash_s),
        Some(block),
        note.as_deref(),
    )?;
    crash_point("after-confirm");
    Ok((m.hash, block, m.receipt.gas_used))
}

/// Follows a stake that is still in the mempool after a restart (validators `sent`, reconcile
/// left them there): waits, replaces it when it is not mined, and records the outcome.
/// `Ok(None)` when nothing is in flight.
pub async fn resume(
    provider: &DynProvider,
    wallet: &EthereumWallet,
    from: Address,
    cfg: &Config,
    store: &mut Store,
) -> Result<Option<(B256, u64, u64)>> {
    let sent: Vec<ValidatorRow> = store
        .validators()?
        .into_iter()
        .filter(|v| v.status == Status::Sent)
        .collect();
    let Some(first) = sent.first() else {
        return Ok(None);
    };
    let Some(row) = first
        .tx_hash
        .as_deref()
        .map(|h| crate::replace::by_hash(store, h))
        .transpose()?
        .flatten()
    else {
        return Ok(None);
    };
    let pubkeys: Vec<String> = sent
        .iter()
        .filter(|v| v.tx_hash == first.tx_hash)
        .map(|v| v.pubkey.clone())
        .collect();
    let sender = crate::replace::Sender {
        provider,
        wallet,
        from,
        cfg,
    };
    let mut hook = mark_sent(&pubkeys);
    let mined = sender.follow(store, row.nonce, &mut hook).await;
    settle(provider, cfg, store, &pubkeys, mined)
        .await
        .map(Some)
}

/// A policy refusal stays a refusal (exit 5, the daemon waits); anything else is a signer error.
pub(crate) fn policy_or_signer(from: Address, e: impl std::fmt::Display) -> Error {
    let m = e.to_string();
    match m.find("policy refused (") {
        Some(i) => Error::refused(m[i..].to_string()),
        None => Error::Signer {
            label: format!("{from}"),
            message: format!("cannot sign the transaction: {m}"),
        },
    }
}

fn check_gas(caps: &GasCaps, gas_limit: u64, _plan: &StakePlan) -> Result<()> {
    if gas_limit > caps.max_gas_per_tx {
        return Err(Error::refused(format!(
            "gas above cap: the stake transaction needs a gas limit of {gas_limit}, the cap is {}",
            caps.max_gas_per_tx
        )));
    }
    Ok(())
}

/// Why a receipt does not show a successful transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mined {
    /// The receipt names no block: not mined (yet), whatever its status says.
    Pending,
    Reverted {
        block: u64,
    },
}

/// The block of a successful transaction from its receipt, or why there is none.
pub fn mined(receipt: &alloy::rpc::types::TransactionReceipt) -> std::result::Result<u64, Mined> {
    let Some(block) = receipt.block_number else {
        return Err(Mined::Pending);
    };
    if !receipt.status() {
        return Err(Mined::Reverted { block });
    }
    Ok(block)
}

async fn wait_confirmations(provider: &DynProvider, block: u64, cfg: &Config) -> Result<()> {
    let need = block + cfg.confirmations.max(1) - 1;
    let mut delay = Duration::from_millis(200);
    loop {
        let head = provider
            .get_block_number()
            .await
            .map_err(|e| Error::rpc("eth_blockNumber", e))?;
        if head >= need {
            return Ok(());
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(cfg.poll_interval_secs.max(1)));
    }
}

/// The PoolManager's `ValidatorStaked` events (every stake of the pool), from its first block.
pub fn staked_query(c: &Contracts) -> crate::logscan::Query {
    crate::logscan::Query::new("ValidatorStaked", c.pool_manager, c.deploy_block)
        .events(&[IPoolManager::ValidatorStaked::SIGNATURE_HASH])
}

/// Settles every unconfirmed validator from the chain (the chain is the truth): staked on chain
/// → `confirmed`; a `sent` one whose transaction (any version of its nonce) reverted →
/// `reverted`; one whose transaction is gone from the mempool with its nonce unused →
/// `reverted` (dropped); one whose nonce was used by a transaction the agent did not sign →
/// `reverted`, then [`Error::NonceTaken`]; one still in the mempool stays `sent` (the daemon
/// follows it: [`resume`]). Returns how many changed.
pub async fn reconcile(
    events: &crate::logscan::Events,
    contracts: &Contracts,
    store: &mut Store,
    from: Option<Address>,
) -> Result<usize> {
    let provider = events.provider();
    let pm = IPoolManager::new(contracts.pool_manager, provider.clone());
    let mut changed = 0;
    let mut staked_logs: Option<Vec<alloy::rpc::types::Log>> = None;
    let mut taken: Option<Error> = None;
    for v in store.validators()? {
        if v.status == Status::Confirmed {
            continue;
        }
        let pk: Bytes = v
            .pubkey
            .parse()
            .map_err(|_| Error::refused(format!("bad pubkey {}", v.pubkey)))?;
        let staked = pm
            .isStaked(pk.clone())
            .call()
            .await
            .map_err(|e| Error::rpc("PoolManager.isStaked", e))?;
        if staked {
            if staked_logs.is_none() {
                let at = events.head().await?;
                staked_logs = Some(events.fetch(&staked_query(contracts), at).await?);
            }
            let topic = keccak256(&pk);
            let (tx, block) = match staked_logs
                .as_deref()
                .unwrap_or_default()
                .iter()
                .rev()
                .find(|l| l.topics().get(2) == Some(&topic))
            {
                Some(l) => (l.transaction_hash.map(|h| format!("{h}")), l.block_number),
                None => (None, None),
            };
            store.set_status(
                std::slice::from_ref(&v.pubkey),
                Status::Confirmed,
                tx.as_deref(),
                block,
                Some("reconciled: staked on chain"),
            )?;
            changed += 1;
            crash_point("during-reconcile");
            continue;
        }
        if v.status != Status::Sent {
            continue;
        }
        let recorded = match v.tx_hash.as_deref() {
            Some(h) => crate::replace::by_hash(store, h)?,
            None => None,
        };
        let outcome = match (recorded, from) {
            (Some(row), Some(sender)) => sent_outcome(provider, store, sender, row.nonce).await?,
            // Recorded by an agent from before the transactions table: its one hash.
            _ => legacy_outcome(provider, v.tx_hash.as_deref(), from).await?,
        };
        let note = match outcome {
            SentOutcome::InFlight => continue,
            SentOutcome::MinedNotStaked => {
                // Cannot happen with this PoolManager; leave it for an operator to look at.
                tracing::error!(pubkey = %v.pubkey, "transaction succeeded but the validator is not staked");
                continue;
            }
            SentOutcome::Reverted => "reconciled: transaction reverted".to_string(),
            SentOutcome::Dropped => "reconciled: transaction never mined (dropped)".to_string(),
            SentOutcome::Taken { nonce, ours } => {
                let e = Error::NonceTaken {
                    address: from.unwrap_or_default(),
                    nonce,
                    ours,
                };
                let note = format!("reconciled: {e}");
                taken.get_or_insert(e);
                note
            }
        };
        store.set_status(
            std::slice::from_ref(&v.pubkey),
            Status::Reverted,
            None,
            None,
            Some(&note),
        )?;
        changed += 1;
    }
    match taken {
        Some(e) => Err(e),
        None => Ok(changed),
    }
}

/// What became of a `sent` transaction that did not stake its validators.
enum SentOutcome {
    InFlight,
    Reverted,
    MinedNotStaked,
    Dropped,
    Taken { nonce: u64, ours: String },
}

async fn sent_outcome(
    provider: &DynProvider,
    store: &Store,
    sender: Address,
    nonce: u64,
) -> Result<SentOutcome> {
    let all = crate::replace::versions(store, sender, nonce)?;
    for r in &all {
        if let Some(rc) = provider
            .get_transaction_receipt(r.hash)
            .await
            .map_err(|e| Error::rpc("eth_getTransactionReceipt", e))?
        {
            match mined(&rc) {
                Ok(_) => return Ok(SentOutcome::MinedNotStaked),
                Err(Mined::Reverted { .. }) => return Ok(SentOutcome::Reverted),
                Err(Mined::Pending) => {}
            }
        }
    }
    let latest = provider
        .get_transaction_count(sender)
        .latest()
        .await
        .map_err(|e| Error::rpc("eth_getTransactionCount", e))?;
    if latest > nonce {
        return Ok(SentOutcome::Taken {
            nonce,
            ours: all
                .iter()
                .map(|r| format!("{}", r.hash))
                .collect::<Vec<_>>()
                .join(", "),
        });
    }
    for r in &all {
        if provider
            .get_transaction_by_hash(r.hash)
            .await
            .map_err(|e| Error::rpc("eth_getTransactionByHash", e))?
            .is_some()
        {
            return Ok(SentOutcome::InFlight);
        }
    }
    Ok(SentOutcome::Dropped)
}

async fn legacy_outcome(
    provider: &DynProvider,
    hash: Option<&str>,
    from: Option<Address>,
) -> Result<SentOutcome> {
    let hash: Option<B256> = hash.and_then(|h| h.parse().ok());
    if let Some(h) = hash {
        if let Some(r) = provider
            .get_transaction_receipt(h)
            .await
            .map_err(|e| Error::rpc("eth_getTransactionReceipt", e))?
        {
            match mined(&r) {
                Ok(_) => return Ok(SentOutcome::MinedNotStaked),
                Err(Mined::Reverted { .. }) => return Ok(SentOutcome::Reverted),
                Err(Mined::Pending) => {}
            }
        }
    }
    // Never mined. If the account has nothing pending, it never will be.
    let Some(a) = from else {
        return Ok(SentOutcome::InFlight);
    };
    let latest = provider
        .get_transaction_count(a)
        .latest()
        .await
        .map_err(|e| Error::rpc("eth_getTransactionCount", e))?;
    let pending = provider
        .get_transaction_count(a)
        .pending()
        .await
        .map_err(|e| Error::rpc("eth_getTransactionCount", e))?;
    Ok(if latest == pending {
        SentOutcome::Dropped
    } else {
        SentOutcome::InFlight
    })
}

/// Decodes a PoolManager custom error from raw revert data (for messages).
pub fn decode_pool_error(data: &[u8]) -> Option<String> {
    IPoolManager::IPoolManagerErrors::abi_decode(data)
        .ok()
        .map(|e| format!("{e:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::DepositScan;

    fn cursor(last: u64) -> DepositScan {
        DepositScan {
            deposit_contract: "0xaa".into(),
            first_block: 10,
            keys_digest: "0xd".into(),
            scanned_from: 10,
            last_block: last,
        }
    }

    #[test]
    fn the_scan_starts_at_the_cursor_minus_the_reorg_window() {
        let depth = rescan_depth(2);
        assert_eq!(depth, 66);
        // No cursor: from the deploy block.
        assert_eq!(scan_start(None, "0xaa", 10, "0xd", 1000, depth), 10);
        // A cursor: the last 66 blocks again, and whatever is new.
        let c = cursor(1000);
        assert_eq!(scan_start(Some(&c), "0xAA", 10, "0xd", 1010, depth), 935);
        // Close to the deploy block: never below it.
        assert_eq!(
            scan_start(Some(&cursor(40)), "0xaa", 10, "0xd", 50, depth),
            10
        );
        // A head back inside the window (a reorg): from the window, up to the new head.
        assert_eq!(scan_start(Some(&c), "0xaa", 10, "0xd", 990, depth), 935);
        // A head below the window: start over.
        assert_eq!(scan_start(Some(&c), "0xaa", 10, "0xd", 900, depth), 10);
        // New keys imported, another contract, another deploy block: start over.
        assert_eq!(scan_start(Some(&c), "0xaa", 10, "0xe", 1010, depth), 10);
        assert_eq!(scan_start(Some(&c), "0xbb", 10, "0xd", 1010, depth), 10);
        assert_eq!(scan_start(Some(&c), "0xaa", 11, "0xd", 1010, depth), 11);
    }
}
