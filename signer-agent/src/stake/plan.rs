//! Working out the next `stake` transaction: every check that would make it fail, in order,
//! each a named step of [`BundlePlanner`].

use std::ops::ControlFlow;

use alloy::eips::BlockId;
use alloy::network::TransactionBuilder;
use alloy::primitives::{keccak256, Address, Bytes, B256, U256};
use alloy::providers::{DynProvider, Provider};
use alloy::rpc::types::TransactionRequest;
use alloy::sol_types::SolCall;

use super::frontrun::scan_deposits;
use super::ssv::{check_operators, cluster_fee};
use super::{PlannedValidator, Prepared, StakePlan};
use crate::chain::{Cluster, IDepositContract, IPoolManager};
use crate::config::{Config, Contracts};
use crate::error::{Error, Result};
use crate::logscan::Events;
use crate::refusal::{Refusal, WaitReason};
use crate::store::{BundleRow, Status, Store, ValidatorRow};
use crate::units::{wei, DEPOSIT_WEI};

/// Works out the next `stake` transaction, checking everything that would make it fail.
pub async fn prepare(
    events: &Events,
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
            reason: WaitReason::InFlight,
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
        let bundle =
            bundles
                .iter()
                .find(|b| b.id == id)
                .ok_or_else(|| Refusal::StoreInconsistent {
                    problem: format!(
                        "bundle {id} of validator {} is not in the store",
                        mine[0].pubkey
                    ),
                })?;
        match prepare_bundle(events, cfg, store, signer, &all, &mine, bundle).await {
            Err(e) if e.stops_bundle() => {
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
    Err(first_stop.unwrap_or_else(|| {
        Refusal::StoreInconsistent {
            problem: "no pending bundle can be planned".into(),
        }
        .into()
    }))
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
        return Err(Refusal::RootNotApproved { root, pool_manager }.into());
    }
    if batch.withdrawalType != withdrawal_type {
        return Err(Refusal::BatchWithdrawalType {
            root,
            approved: batch.withdrawalType,
            bundle: withdrawal_type,
        }
        .into());
    }
    let ids_hash = keccak256(alloy::sol_types::SolValue::abi_encode(
        &operator_ids.to_vec(),
    ));
    if batch.operatorIdsHash != ids_hash {
        return Err(Refusal::BatchCluster {
            root,
            operator_ids: operator_ids.to_vec(),
        }
        .into());
    }
    Ok(())
}

/// A step of planning: go on with a `T`, or stop here with what [`prepare`] answers.
type Gate<T> = ControlFlow<Prepared, T>;

/// The value of a step that went on; a step that stopped returns its answer from the caller.
macro_rules! proceed {
    ($step:expr) => {
        match $step {
            ControlFlow::Continue(v) => v,
            ControlFlow::Break(answer) => return Ok(answer),
        }
    };
}

/// [`prepare`] for one bundle: `mine` are its pending validators, in owner nonce order. Each
/// step is a method of [`BundlePlanner`]; the first that fails or stops decides.
async fn prepare_bundle(
    events: &Events,
    cfg: &Config,
    store: &Store,
    signer: Option<Address>,
    all: &[ValidatorRow],
    mine: &[&ValidatorRow],
    bundle: &BundleRow,
) -> Result<Prepared> {
    let p = BundlePlanner::new(events, cfg, store, bundle).await?;
    let first = mine[0];
    // Governance approved this batch, for this withdrawal type and cluster.
    check_batch_approved(
        events.provider(),
        p.c.pool_manager,
        p.root,
        bundle.withdrawal_type,
        &bundle.operator_ids,
    )
    .await?;
    p.check_role(signer).await?;
    p.check_owner_nonce(all, first).await?;
    let (chosen, available) = proceed!(p.affordable(mine).await?);
    proceed!(p.not_staked_yet(&chosen).await?);
    proceed!(p.not_front_run(&chosen).await?);
    // The cluster's operators, as the chain has them now, are the ones the ceremony encrypted
    // the shares to.
    check_operators(events, &p.c, store, &bundle.id, &bundle.operator_ids, p.at).await?;
    let fees = proceed!(p.fit_fees(chosen.len(), available).await?);
    let chosen = &chosen[..fees.k];
    let network = crate::ssv::check_v2(events.provider(), &p.c).await?;
    let (call, deposit_root) = p.stake_call(chosen, &fees).await?;
    let max_fee_per_gas = events
        .provider()
        .estimate_eip1559_fees()
        .await
        .map_err(|e| Error::rpc("eth_feeHistory", e))?
        .max_fee_per_gas;
    let gas_estimate = p.estimate_gas(signer, &call).await?;
    let deposits = U256::from(DEPOSIT_WEI) * U256::from(fees.k);
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
        eth_needed_wei: wei(deposits + fees.fee),
        deposits_wei: wei(deposits),
        cluster_fee_wei: wei(fees.fee),
        ssv_network_version: network.version,
        buffered_available_wei: wei(available),
        gas_estimate,
        max_fee_per_gas_wei: max_fee_per_gas.to_string(),
        pubkeys: chosen.iter().map(|v| v.pubkey.clone()).collect(),
        call: Some(call),
    }))
}

/// What the steps of planning one bundle share: every read is of the chain up to block `at`.
struct BundlePlanner<'a> {
    events: &'a Events,
    cfg: &'a Config,
    store: &'a Store,
    bundle: &'a BundleRow,
    c: Contracts,
    pm: IPoolManager::IPoolManagerInstance<DynProvider>,
    root: B256,
    at: u64,
}

/// The SSV fees that fit: `k` validators (at most the ones chosen), their fee, the cluster.
struct Fees {
    k: usize,
    fee: U256,
    cluster: Cluster,
}

impl<'a> BundlePlanner<'a> {
    async fn new(
        events: &'a Events,
        cfg: &'a Config,
        store: &'a Store,
        bundle: &'a BundleRow,
    ) -> Result<BundlePlanner<'a>> {
        let provider = events.provider();
        let c = cfg.contracts()?;
        let at = provider
            .get_block_number()
            .await
            .map_err(|e| Error::rpc("eth_blockNumber", e))?;
        let root: B256 = bundle.id.parse().map_err(|_| Refusal::StoreInconsistent {
            problem: format!("bundle id {} is not a root", bundle.id),
        })?;
        Ok(BundlePlanner {
            events,
            cfg,
            store,
            bundle,
            pm: IPoolManager::new(c.pool_manager, provider.clone()),
            c,
            root,
            at,
        })
    }

    /// The agent's key holds OPERATOR_ROLE (checked only when a signer is configured).
    async fn check_role(&self, signer: Option<Address>) -> Result<()> {
        let Some(signer) = signer else {
            return Ok(());
        };
        let role = self
            .pm
            .OPERATOR_ROLE()
            .call()
            .await
            .map_err(|e| Error::rpc("PoolManager.OPERATOR_ROLE", e))?;
        let ok = self
            .pm
            .hasRole(role, signer)
            .call()
            .await
            .map_err(|e| Error::rpc("PoolManager.hasRole", e))?;
        if !ok {
            return Err(Refusal::OperatorRole { address: signer }.into());
        }
        Ok(())
    }

    /// The next validator's ownership signature uses the chain's current owner nonce (the
    /// PoolManager's ValidatorAdded events: SSVNetworkViews has no nonce view).
    async fn check_owner_nonce(&self, all: &[ValidatorRow], first: &ValidatorRow) -> Result<()> {
        let chain_nonce =
            crate::ssv::owner_nonce(self.events, &self.c, self.c.pool_manager, self.at).await?;
        if chain_nonce == first.owner_nonce {
            return Ok(());
        }
        // A refused (front-run) validator keeps its nonce unused: the later validators' shares
        // were signed for nonces the SSV network will not reach.
        let front_run = all
            .iter()
            .find(|v| v.status == Status::Refused && v.owner_nonce == chain_nonce)
            .map(|r| r.pubkey.clone());
        Err(Refusal::OwnerNonce {
            index: first.index,
            pubkey: first.pubkey.clone(),
            signed_for: first.owner_nonce,
            chain: chain_nonce,
            front_run,
        }
        .into())
    }

    /// The validators the next transaction can take (consecutive owner nonces, within the
    /// buffer's ETH, the contract's bulk limit, `max_validators_per_tx` and the policy's daily
    /// validator cap), and the ETH available.
    async fn affordable<'v>(
        &self,
        mine: &[&'v ValidatorRow],
    ) -> Result<Gate<(Vec<&'v ValidatorRow>, U256)>> {
        let first = mine[0];
        let buffered = self
            .pm
            .bufferedEther()
            .call()
            .await
            .map_err(|e| Error::rpc("PoolManager.bufferedEther", e))?;
        let pending_w = self
            .pm
            .pendingWithdrawalEther()
            .call()
            .await
            .map_err(|e| Error::rpc("PoolManager.pendingWithdrawalEther", e))?;
        let available = buffered.saturating_sub(pending_w);
        let by_eth = (available / U256::from(DEPOSIT_WEI)).to::<u64>() as usize;
        let limit = self
            .pm
            .bulkLimit(U256::from(self.bundle.operator_ids.len()))
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
            .min(self.cfg.max_validators_per_tx)
            .min(same_bundle.len());
        if k == 0 {
            return Ok(ControlFlow::Break(Prepared::Waiting {
                reason: WaitReason::NoDeposit { available },
            }));
        }
        // The policy's daily validator cap: plan within what is left today, so the daemon
        // stakes up to the cap and then waits for the next day (the policy signer enforces it
        // anyway).
        let cap = crate::policy::Policy::from_config(self.cfg)?.max_validators_per_day;
        let (_, today_n) = self.store.signed_on(&crate::policy::today())?;
        let left = cap.saturating_sub(today_n) as usize;
        if left == 0 {
            return Ok(ControlFlow::Break(Prepared::Waiting {
                reason: WaitReason::ValidatorCap {
                    staked: today_n,
                    cap,
                },
            }));
        }
        let chosen = same_bundle[..k.min(left)].to_vec();
        for (i, v) in chosen.iter().enumerate() {
            if v.owner_nonce != first.owner_nonce + i as u64 {
                return Err(Refusal::NonceGap {
                    pubkey: v.pubkey.clone(),
                    has: v.owner_nonce,
                    expected: first.owner_nonce + i as u64,
                }
                .into());
            }
        }
        Ok(ControlFlow::Continue((chosen, available)))
    }

    /// None of `chosen` is staked on chain already (the DB is a cache): else reconcile first.
    async fn not_staked_yet(&self, chosen: &[&ValidatorRow]) -> Result<Gate<()>> {
        for v in chosen {
            if self
                .pm
                .isStaked(pubkey_bytes(&v.pubkey)?)
                .call()
                .await
                .map_err(|e| Error::rpc("PoolManager.isStaked", e))?
            {
                return Ok(ControlFlow::Break(Prepared::Waiting {
                    reason: WaitReason::AlreadyStaked {
                        pubkey: v.pubkey.clone(),
                    },
                }));
            }
        }
        Ok(ControlFlow::Continue(()))
    }

    /// Deposit front-running (SECURITY.md finding 4): no key of the transaction may have a
    /// `DepositEvent` from the deployment's first block up to block `at`, the block whose deposit
    /// root the transaction passes as `expectedDepositRoot` (so a deposit after the scan changes
    /// the root and the stake reverts). The scan is incremental: the store keeps a cursor and
    /// the deposits found for the pool's keys, so each stake reads only the blocks after the
    /// cursor (and the last few again).
    async fn not_front_run(&self, chosen: &[&ValidatorRow]) -> Result<Gate<()>> {
        scan_deposits(
            self.events.scanner(),
            self.store,
            self.c.deposit_contract,
            self.c.deploy_block,
            self.at,
            self.cfg.confirmations,
        )
        .await?;
        let keys: Vec<&str> = chosen.iter().map(|v| v.pubkey.as_str()).collect();
        let deposits = self.store.foreign_deposits(&keys)?;
        if !deposits.is_empty() {
            return Ok(ControlFlow::Break(Prepared::FrontRun { deposits }));
        }
        Ok(ControlFlow::Continue(()))
    }

    /// ETH for the cluster's fees, from the buffer too: fewer validators when it does not fit;
    /// within the PoolManager's cap and the policy's per-transaction and daily caps.
    async fn fit_fees(&self, chosen: usize, available: U256) -> Result<Gate<Fees>> {
        let c = &self.c;
        let ids = &self.bundle.operator_ids;
        let provider = self.events.provider();
        let cluster =
            crate::ssv::cluster_snapshot(self.events, c, c.pool_manager, ids, self.at).await?;
        let policy = crate::policy::Policy::from_config(self.cfg)?;
        let fee_left_today = policy
            .max_ssv_fee_per_day_wei
            .saturating_sub(self.store.ssv_fees_on(&crate::policy::today())?);
        let fee_cap = self
            .pm
            .clusterFeeCapPerValidator()
            .call()
            .await
            .map_err(|e| Error::rpc("PoolManager.clusterFeeCapPerValidator", e))?;
        let mut k = chosen;
        let mut fee;
        loop {
            fee = cluster_fee(
                provider,
                c.ssv_network_views,
                c.pool_manager,
                ids,
                &cluster,
                k as u64,
                self.cfg.fee_margin_blocks,
            )
            .await?;
            if U256::from(DEPOSIT_WEI) * U256::from(k) + fee <= available || k == 1 {
                break;
            }
            k -= 1;
        }
        let deposits = U256::from(DEPOSIT_WEI) * U256::from(k);
        if deposits + fee > available {
            return Ok(ControlFlow::Break(Prepared::Waiting {
                reason: WaitReason::NoFees {
                    available,
                    needed: deposits + fee,
                    fee,
                },
            }));
        }
        let cap = fee_cap * U256::from(cluster.validatorCount as u64 + k as u64);
        if fee > cap {
            return Err(Refusal::SsvFeeAboveContractCap {
                fee,
                validators: k,
                operator_ids: ids.clone(),
                cap,
                per_validator: fee_cap,
            }
            .into());
        }
        if fee > policy.max_ssv_fee_per_tx_wei {
            return Err(Refusal::SsvFeeAbovePolicy {
                fee,
                validators: k,
                cap: policy.max_ssv_fee_per_tx_wei,
            }
            .into());
        }
        if fee > fee_left_today {
            return Ok(ControlFlow::Break(Prepared::Waiting {
                reason: WaitReason::SsvFeeCap {
                    needed: fee,
                    left: fee_left_today,
                    cap: policy.max_ssv_fee_per_day_wei,
                },
            }));
        }
        Ok(ControlFlow::Continue(Fees { k, fee, cluster }))
    }

    /// The `stake` call for `chosen` (each with its Merkle proof from the stored leaves) and
    /// the deposit root at block `at` it expects.
    async fn stake_call(
        &self,
        chosen: &[&ValidatorRow],
        fees: &Fees,
    ) -> Result<(IPoolManager::stakeCall, B256)> {
        let root = self.root;
        let deposit_root =
            IDepositContract::new(self.c.deposit_contract, self.events.provider().clone())
                .get_deposit_root()
                .call()
                .block(BlockId::number(self.at))
                .await
                .map_err(|e| Error::rpc("DepositContract.get_deposit_root", e))?;
        let leaves = self.store.leaves(&self.bundle.id)?;
        let mut data = Vec::with_capacity(chosen.len());
        for v in chosen {
            let proof =
                kc_bundle::merkle::proof(&leaves, v.position).ok_or_else(|| Refusal::NoProof {
                    pubkey: v.pubkey.clone(),
                    position: v.position,
                })?;
            if !kc_bundle::merkle::verify_proof(&proof, &root.0, &v.leaf) {
                return Err(Refusal::ProofMismatch {
                    pubkey: v.pubkey.clone(),
                    root,
                }
                .into());
            }
            data.push(IPoolManager::ValidatorData {
                pubkey: pubkey_bytes(&v.pubkey)?,
                signature: Bytes::from(v.signature.clone()),
                depositDataRoot: B256::from(v.deposit_data_root),
                sharesData: Bytes::from(v.shares_data.clone()),
                proof: proof.into_iter().map(B256::from).collect(),
            });
        }
        let call = IPoolManager::stakeCall {
            batchRoot: root,
            operatorIds: self.bundle.operator_ids.clone(),
            validators: data,
            expectedDepositRoot: deposit_root,
            clusterFee: fees.fee,
            cluster: fees.cluster.clone(),
        };
        Ok((call, deposit_root))
    }

    /// The gas `call` needs from `signer` (none without a signer: a dry run); a revert refuses.
    async fn estimate_gas(
        &self,
        signer: Option<Address>,
        call: &IPoolManager::stakeCall,
    ) -> Result<Option<u64>> {
        let Some(from) = signer else {
            return Ok(None);
        };
        let req = TransactionRequest::default()
            .with_from(from)
            .with_to(self.c.pool_manager)
            .with_input(call.abi_encode());
        let gas = self
            .events
            .provider()
            .estimate_gas(req)
            .await
            .map_err(|e| Refusal::WouldRevert {
                what: "stake".into(),
                reason: crate::revert::reason(&e),
            })?;
        Ok(Some(gas))
    }
}

/// A stored `0x` pubkey as calldata bytes.
pub(crate) fn pubkey_bytes(pubkey: &str) -> Result<Bytes> {
    pubkey.parse().map_err(|_| {
        Refusal::StoreInconsistent {
            problem: format!("bad pubkey {pubkey}"),
        }
        .into()
    })
}
