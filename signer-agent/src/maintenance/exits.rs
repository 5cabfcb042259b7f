//! Exits for withdrawals: the fewest validators that cover the unfunded withdrawal queue, their
//! lifecycle through the Beacon API, funding the queue, and removing withdrawn validators from
//! SSV.
//!
//! The queue's unfunded part (`pendingWithdrawalEther`) is covered, in this order, by the buffer,
//! the ETH that arrived and waits for an oracle report (`unaccountedEther`: withdrawals of exited
//! validators), and the validators already exiting (their beacon balance, 32 ETH when no Beacon
//! API answers). What is left is covered by exiting validators chosen by `exit_order`, the
//! fewest whose balances reach it.

use std::collections::BTreeMap;

use alloy::network::TransactionBuilder;
use alloy::primitives::{keccak256, Address, Bytes, U256};
use alloy::providers::{DynProvider, Provider};
use alloy::rpc::types::TransactionRequest;
use alloy::sol_types::{SolCall, SolEvent};
use serde::Serialize;

use super::beacon::{self, BeaconStatus};
use super::tx::{self, cluster_subject, validator_subject};
use super::{refused_is_skip, Ctx, ExitOrder, MaintenanceConfig, Pass, Wait};
use crate::chain::{IPoolManager, ISSVNetwork};
use crate::config::{Config, Contracts};
use crate::error::{Error, Result};
use crate::logscan::Events;
use crate::store::maintenance::{self as mstore, Action, ExitState};
use crate::store::{Status, Store};

/// 32 ETH in wei: what a validator returns when its beacon balance is not known.
const VALIDATOR_WEI: u128 = kc_validator::deposit::gwei_to_wei(crate::bundle::DEPOSIT_GWEI);
/// Requests `fundWithdrawals` may fund in one call (the PoolManager's MAX_FUND_PER_CALL).
const FUND_BATCH: u64 = 50;

/// A validator of the pool, live on SSV.
#[derive(Debug, Clone, Serialize)]
pub struct LiveValidator {
    /// `0x` hex, lower case.
    pub pubkey: String,
    /// The PoolManager's validator number (staking order).
    pub number: u64,
    pub operator_ids: Vec<u64>,
    /// Beacon balance in wei (32 ETH when unknown).
    pub balance_wei: U256,
}

/// What the queue needs and which validators would cover it.
#[derive(Debug, Clone, Serialize)]
pub struct ExitPlan {
    pub queue_unfunded_wei: U256,
    pub buffered_wei: U256,
    pub unaccounted_wei: U256,
    /// Expected from validators already exiting.
    pub exiting_wei: U256,
    /// What is still missing (0: no exit needed).
    pub missing_wei: U256,
    /// The validators to exit, in order, grouped by cluster when sent.
    pub exits: Vec<LiveValidator>,
    /// Validators whose SSV exit was requested but the beacon chain does not show exiting: the
    /// governance fallback (EIP-7002) is for them.
    pub stalled: Vec<String>,
}

/// Every validator the PoolManager staked with its validator number, from `ValidatorStaked`
/// up to block `at`.
async fn staked_numbers(events: &Events, c: &Contracts, at: u64) -> Result<BTreeMap<String, u64>> {
    let mut out = BTreeMap::new();
    for l in events.fetch(&crate::stake::staked_query(c), at).await? {
        let e = IPoolManager::ValidatorStaked::decode_log_data(l.data())
            .map_err(|e| Error::rpc("decode ValidatorStaked", e))?;
        out.insert(
            format!("0x{}", hex::encode(&e.pubkey)),
            e.validatorNumber.saturating_to::<u64>(),
        );
    }
    Ok(out)
}

/// The cluster each of the PoolManager's validators is registered in at block `at`, from the
/// SSV network's `ValidatorAdded`/`ValidatorRemoved` events (a reshared validator is in its new
/// cluster).
pub async fn validator_clusters(
    events: &Events,
    c: &Contracts,
    at: u64,
) -> Result<BTreeMap<String, Vec<u64>>> {
    let q = crate::ssv::owner_events_query(c, c.pool_manager);
    let mut out = BTreeMap::new();
    for l in events.fetch(&q, at).await? {
        match l.topic0().copied() {
            Some(ISSVNetwork::ValidatorAdded::SIGNATURE_HASH) => {
                let e = ISSVNetwork::ValidatorAdded::decode_log_data(l.data())
                    .map_err(|e| Error::rpc("decode ValidatorAdded", e))?;
                out.insert(format!("0x{}", hex::encode(&e.publicKey)), e.operatorIds);
            }
            Some(ISSVNetwork::ValidatorRemoved::SIGNATURE_HASH) => {
                let e = ISSVNetwork::ValidatorRemoved::decode_log_data(l.data())
                    .map_err(|e| Error::rpc("decode ValidatorRemoved", e))?;
                out.remove(&format!("0x{}", hex::encode(&e.publicKey)));
            }
            _ => {}
        }
    }
    Ok(out)
}

/// Chooses validators by `order` until their balances reach `missing`.
pub fn choose(mut live: Vec<LiveValidator>, order: ExitOrder, missing: U256) -> Vec<LiveValidator> {
    live.sort_by_key(|v| v.number);
    let mut out = Vec::new();
    let mut got = U256::ZERO;
    let mut left: BTreeMap<Vec<u64>, usize> = BTreeMap::new();
    for v in &live {
        *left.entry(v.operator_ids.clone()).or_default() += 1;
    }
    while got < missing && !live.is_empty() {
        let i = match order {
            ExitOrder::Oldest => 0,
            ExitOrder::LargestCluster => {
                // The cluster with the most validators left (ties: lowest ids), its oldest.
                let (ids, _) = left
                    .iter()
                    .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))
                    .map(|(k, v)| (k.clone(), *v))
                    .unwrap_or_default();
                live.iter().position(|v| v.operator_ids == ids).unwrap_or(0)
            }
        };
        let v = live.remove(i);
        if let Some(n) = left.get_mut(&v.operator_ids) {
            *n -= 1;
        }
        got += v.balance_wei;
        out.push(v);
    }
    out
}

fn gwei_to_wei(g: u64) -> U256 {
    U256::from(g) * U256::from(1_000_000_000u64)
}

/// The exit plan now (read-only: `exits plan` and `run` share it).
pub async fn plan(
    events: &Events,
    cfg: &Config,
    maint: &MaintenanceConfig,
    st: &Store,
) -> Result<ExitPlan> {
    let c = cfg.contracts()?;
    let provider = events.provider();
    let at = events.head().await?;
    let pm = IPoolManager::new(c.pool_manager, provider.clone());
    let call = |e: alloy::contract::Error, what: &str| Error::rpc(format!("PoolManager.{what}"), e);
    let queue = pm
        .pendingWithdrawalEther()
        .call()
        .await
        .map_err(|e| call(e, "pendingWithdrawalEther"))?;
    let buffered = pm
        .bufferedEther()
        .call()
        .await
        .map_err(|e| call(e, "bufferedEther"))?;
    let unaccounted = pm
        .unaccountedEther()
        .call()
        .await
        .map_err(|e| call(e, "unaccountedEther"))?;
    let exits = mstore::exits(st)?;
    let exiting: Vec<String> = exits
        .iter()
        .filter(|e| e.state < ExitState::Withdrawn)
        .map(|e| e.pubkey.clone())
        .collect();
    let numbers = staked_numbers(events, &c, at).await?;
    let clusters = validator_clusters(events, &c, at).await?;
    let known: Vec<String> = st
        .validators()?
        .into_iter()
        .filter(|v| v.status == Status::Confirmed)
        .map(|v| v.pubkey.to_ascii_lowercase())
        .collect();
    let mut in_exits: std::collections::BTreeSet<String> = exits
        .iter()
        .map(|e| e.pubkey.to_ascii_lowercase())
        .collect();
    // A validator waiting to move to a new cluster does not exit before it moved.
    in_exits.extend(
        super::reshare::rows(st)?
            .into_iter()
            .filter(|r| r.state == super::reshare::ReshareState::Imported)
            .map(|r| r.pubkey.to_ascii_lowercase()),
    );
    let mut candidates: Vec<String> = Vec::new();
    for pk in &known {
        if in_exits.contains(pk) || mstore::in_flight(st, &validator_subject(pk))? {
            continue;
        }
        if numbers.contains_key(pk) && clusters.contains_key(pk) {
            candidates.push(pk.clone());
        }
    }
    let mut balances: BTreeMap<String, beacon::BeaconValidator> = BTreeMap::new();
    if cfg.beacon.is_some() {
        let mut ask = exiting.clone();
        ask.extend(candidates.iter().cloned());
        if !ask.is_empty() {
            let client = cfg.beacon_client("the exit lifecycle")?;
            balances = beacon::validators(&client, &maint.beacon_state, &ask).await?;
        }
    }
    let balance_of = |pk: &str| {
        balances
            .get(pk)
            .map(|b| gwei_to_wei(b.balance_gwei))
            .unwrap_or(U256::from(VALIDATOR_WEI))
    };
    let exiting_wei = exiting.iter().fold(U256::ZERO, |a, pk| a + balance_of(pk));
    let missing = queue
        .saturating_sub(buffered)
        .saturating_sub(unaccounted)
        .saturating_sub(exiting_wei);
    let live: Vec<LiveValidator> = candidates
        .iter()
        .filter(|pk| {
            // Only validators the beacon chain shows active (or that it does not answer for).
            balances
                .get(pk.as_str())
                .is_none_or(|b| b.status == BeaconStatus::ActiveOngoing)
        })
        .map(|pk| LiveValidator {
            pubkey: pk.clone(),
            number: numbers[pk],
            operator_ids: clusters[pk].clone(),
            balance_wei: balance_of(pk),
        })
        .collect();
    let chosen = if missing.is_zero() {
        Vec::new()
    } else {
        choose(live, maint.exit_order, missing)
    };
    let stalled = exits
        .iter()
        .filter(|e| e.state == ExitState::Requested)
        .map(|e| e.pubkey.clone())
        .collect();
    Ok(ExitPlan {
        queue_unfunded_wei: queue,
        buffered_wei: buffered,
        unaccounted_wei: unaccounted,
        exiting_wei,
        missing_wei: missing,
        exits: chosen,
        stalled,
    })
}

/// The governance call for EIP-7002 triggerable exits of `pubkeys`
/// (`PoolManager.requestTriggerableExits`), with the ETH for the predeploy's fee now.
#[derive(Debug, Clone, Serialize)]
pub struct TriggerableCall {
    pub to: Address,
    pub pubkeys: Vec<String>,
    /// Fee per request read from the predeploy now, wei (None when it is not deployed here).
    pub fee_per_request_wei: Option<U256>,
    /// `msg.value` to send: the fee × requests, doubled for fee growth (the change is refunded).
    pub value_wei: Option<U256>,
    pub calldata: String,
}

/// Builds the governance call for `pubkeys`.
pub async fn triggerable_call(
    provider: &DynProvider,
    pool_manager: Address,
    pubkeys: &[String],
) -> Result<TriggerableCall> {
    let pm = IPoolManager::new(pool_manager, provider.clone());
    let target = pm
        .withdrawalRequestContract()
        .call()
        .await
        .map_err(|e| Error::rpc("PoolManager.withdrawalRequestContract", e))?;
    let mut fee = None;
    if target != Address::ZERO {
        let req = TransactionRequest::default().with_to(target);
        if let Ok(out) = provider.call(req).await {
            if out.len() == 32 {
                fee = Some(U256::from_be_slice(&out));
            }
        }
    }
    let keys: Vec<Bytes> = pubkeys
        .iter()
        .map(|p| p.parse().map_err(|_| bad_pubkey(p)))
        .collect::<Result<_>>()?;
    let call = IPoolManager::requestTriggerableExitsCall { pubkeys: keys };
    Ok(TriggerableCall {
        to: pool_manager,
        pubkeys: pubkeys.to_vec(),
        fee_per_request_wei: fee,
        value_wei: fee.map(|f| f * U256::from(pubkeys.len() as u64) * U256::from(2u64)),
        calldata: format!("0x{}", hex::encode(call.abi_encode())),
    })
}

/// Follows the exiting validators through the Beacon API; returns how many changed.
async fn follow(ctx: &Ctx<'_>, st: &Store, p: &mut Pass) -> Result<usize> {
    let open: Vec<mstore::ExitRow> = mstore::exits(st)?
        .into_iter()
        .filter(|e| e.state < ExitState::Withdrawn)
        .collect();
    if open.is_empty() {
        return Ok(0);
    }
    if ctx.cfg.beacon.is_none() {
        p.waits.push(Wait::NoBeacon);
        return Ok(0);
    }
    let client = ctx.cfg.beacon_client("the exit lifecycle")?;
    let pks: Vec<String> = open.iter().map(|e| e.pubkey.clone()).collect();
    let seen = beacon::validators(&client, &ctx.maint.beacon_state, &pks).await?;
    let mut changed = 0;
    for e in &open {
        let Some(v) = seen.get(&e.pubkey) else {
            continue;
        };
        let state = match v.status {
            BeaconStatus::Exiting => ExitState::Exiting,
            BeaconStatus::Exited => ExitState::Exited,
            BeaconStatus::Withdrawn => ExitState::Withdrawn,
            BeaconStatus::Pending | BeaconStatus::ActiveOngoing => continue,
        };
        changed += mstore::set_exit_state(
            st,
            std::slice::from_ref(&e.pubkey),
            &e.operator_ids,
            state,
            None,
            None,
            &format!(
                "beacon chain ({}): {:?}, balance {} gwei",
                ctx.maint.beacon_state, v.status, v.balance_gwei
            ),
        )?;
        if state == ExitState::Withdrawn {
            tracing::info!(pubkey = %e.pubkey, "validator withdrawn: its ETH went to the PoolManager");
        }
    }
    Ok(changed)
}

/// Funds queued withdrawals when `fundWithdrawals` would fund at least one (simulated first).
async fn fund(ctx: &Ctx<'_>, st: &mut Store, p: &mut Pass) -> Result<()> {
    let pm_addr = ctx.cfg.contracts()?.pool_manager;
    let pm = IPoolManager::new(pm_addr, ctx.provider.clone());
    let count = pm
        .withdrawalRequestCount()
        .call()
        .await
        .map_err(|e| Error::rpc("PoolManager.withdrawalRequestCount", e))?;
    let next = pm
        .nextRequestToFund()
        .call()
        .await
        .map_err(|e| Error::rpc("PoolManager.nextRequestToFund", e))?;
    if next >= count {
        return Ok(());
    }
    let subject = "queue".to_string();
    if mstore::in_flight(st, &subject)? {
        p.waits.push(Wait::InFlight { subject });
        return Ok(());
    }
    let call = IPoolManager::fundWithdrawalsCall {
        maxRequests: U256::from(FUND_BATCH),
    };
    let would = ctx
        .provider
        .call(
            TransactionRequest::default()
                .with_from(ctx.from)
                .with_to(pm_addr)
                .with_input(call.abi_encode()),
        )
        .await
        .map_err(|e| Error::rpc("eth_call(PoolManager.fundWithdrawals)", e))?;
    let funded = IPoolManager::fundWithdrawalsCall::abi_decode_returns(&would)
        .map_err(|e| Error::rpc("decode fundWithdrawals", e))?;
    if funded.is_zero() {
        return Ok(());
    }
    let note = format!("fundWithdrawals: funds {funded} queued requests from request {next}");
    if refused_is_skip(
        tx::send(
            ctx,
            st,
            Action::Fund,
            vec![subject],
            call.abi_encode(),
            &note,
        )
        .await
        .map(|s| tracing::info!(tx = %s.hash, %funded, "withdrawal queue funded")),
    )? {
        p.sent += 1;
    }
    Ok(())
}

/// Removes withdrawn validators from their SSV clusters, one batch per cluster and pass.
async fn remove(ctx: &Ctx<'_>, st: &mut Store, p: &mut Pass) -> Result<()> {
    let c = ctx.cfg.contracts()?;
    let pm = IPoolManager::new(c.pool_manager, ctx.provider.clone());
    let mut by_cluster: BTreeMap<Vec<u64>, Vec<String>> = BTreeMap::new();
    for e in mstore::exits(st)? {
        if e.state == ExitState::Withdrawn {
            by_cluster.entry(e.operator_ids).or_default().push(e.pubkey);
        }
    }
    for (ids, pubkeys) in by_cluster {
        let subject = cluster_subject(&ids);
        if mstore::in_flight(st, &subject)? {
            p.waits.push(Wait::InFlight { subject });
            continue;
        }
        let limit = pm
            .bulkLimit(U256::from(ids.len()))
            .call()
            .await
            .map_err(|e| Error::rpc("PoolManager.bulkLimit", e))?
            .saturating_to::<usize>();
        let batch: Vec<String> = pubkeys.into_iter().take(limit.max(1)).collect();
        let at = ctx.events.head().await?;
        let snapshot =
            crate::ssv::cluster_snapshot(ctx.events, &c, c.pool_manager, &ids, at).await?;
        let keys: Vec<Bytes> = batch
            .iter()
            .map(|k| k.parse().map_err(|_| bad_pubkey(k)))
            .collect::<Result<_>>()?;
        let input = IPoolManager::removeValidatorsCall {
            pubkeys: keys,
            operatorIds: ids.clone(),
            cluster: snapshot,
        }
        .abi_encode();
        let mut subjects = vec![subject];
        subjects.extend(batch.iter().map(|k| validator_subject(k)));
        let note = format!(
            "removeValidators: {} withdrawn validators from cluster {}",
            batch.len(),
            super::cluster_label(&ids)
        );
        if refused_is_skip(
            tx::send(ctx, st, Action::Remove, subjects, input, &note)
                .await
                .map(|s| tracing::info!(tx = %s.hash, gas = s.gas_used, validators = batch.len(), "withdrawn validators removed from SSV")),
        )? {
            p.sent += 1;
        }
    }
    Ok(())
}

/// Requests the exits the plan calls for, one transaction per cluster, within the policy's
/// daily cap.
async fn request(ctx: &Ctx<'_>, st: &mut Store, p: &mut Pass) -> Result<()> {
    if mstore::transactions(st, true)?
        .iter()
        .any(|t| t.action == Action::Exit)
    {
        p.waits.push(Wait::InFlight {
            subject: "exits".into(),
        });
        return Ok(());
    }
    let plan = plan(ctx.events, ctx.cfg, ctx.maint, st).await?;
    if plan.exits.is_empty() {
        return Ok(());
    }
    let policy = crate::policy::Policy::from_config(ctx.cfg)?;
    let (today, _) = mstore::signed_on(st, &crate::policy::today(), &[Action::Exit], None)?;
    let left = policy.maintenance.max_exits_per_day.saturating_sub(today) as usize;
    if left < plan.exits.len() {
        tracing::error!(
            needed = plan.exits.len(),
            left,
            "the policy's daily exit cap leaves fewer exits than the withdrawal queue needs"
        );
        p.waits.push(Wait::DailyCap {
            action: Action::Exit.as_str().into(),
            subject: "exits".into(),
        });
        if left == 0 {
            return Ok(());
        }
    }
    let mut by_cluster: BTreeMap<Vec<u64>, Vec<String>> = BTreeMap::new();
    for v in plan.exits.iter().take(left) {
        by_cluster
            .entry(v.operator_ids.clone())
            .or_default()
            .push(v.pubkey.clone());
    }
    tracing::info!(
        missing_wei = %plan.missing_wei,
        validators = plan.exits.len().min(left),
        "the withdrawal queue needs validator exits"
    );
    for (ids, pubkeys) in by_cluster {
        let keys: Vec<Bytes> = pubkeys
            .iter()
            .map(|k| k.parse().map_err(|_| bad_pubkey(k)))
            .collect::<Result<_>>()?;
        let input = IPoolManager::requestValidatorExitsCall {
            pubkeys: keys,
            operatorIds: ids.clone(),
        }
        .abi_encode();
        let mut subjects = vec![cluster_subject(&ids)];
        subjects.extend(pubkeys.iter().map(|k| validator_subject(k)));
        let note = format!(
            "requestValidatorExits: {} validators of cluster {} for the withdrawal queue",
            pubkeys.len(),
            super::cluster_label(&ids)
        );
        if refused_is_skip(
            tx::send(ctx, st, Action::Exit, subjects, input, &note)
                .await
                .map(|s| tracing::info!(tx = %s.hash, gas = s.gas_used, validators = pubkeys.len(), "validator exits requested")),
        )? {
            p.sent += 1;
        }
    }
    Ok(())
}

/// One pass: follow, fund, remove, request.
pub async fn run(ctx: &Ctx<'_>, st: &mut Store, p: &mut Pass) -> Result<()> {
    follow(ctx, st, p).await?;
    fund(ctx, st, p).await?;
    remove(ctx, st, p).await?;
    request(ctx, st, p).await?;
    let counts = mstore::exits(st)?;
    for s in [
        ExitState::Requested,
        ExitState::Exiting,
        ExitState::Exited,
        ExitState::Withdrawn,
        ExitState::Removed,
    ] {
        ctx.metrics.gauge(
            &format!("signer_agent_exits{{state=\"{}\"}}", s.as_str()),
            counts.iter().filter(|e| e.state == s).count() as f64,
        );
    }
    Ok(())
}

/// keccak256 of a pubkey (`0x` hex) as the PoolManager's events index it.
pub fn pubkey_hash(pubkey: &str) -> Option<alloy::primitives::B256> {
    let b: Bytes = pubkey.parse().ok()?;
    Some(keccak256(&b))
}

/// A stored pubkey that is not hex.
fn bad_pubkey(pubkey: &str) -> Error {
    crate::refusal::Refusal::StoreInconsistent {
        problem: format!("bad pubkey {pubkey}"),
    }
    .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(pk: u8, number: u64, ids: &[u64]) -> LiveValidator {
        LiveValidator {
            pubkey: format!("0x{pk:02x}"),
            number,
            operator_ids: ids.to_vec(),
            balance_wei: U256::from(VALIDATOR_WEI),
        }
    }

    fn eth(n: u64) -> U256 {
        U256::from(n) * U256::from(1_000_000_000_000_000_000u128)
    }

    #[test]
    fn the_fewest_validators_oldest_first() {
        let live = vec![v(3, 7, &[1]), v(1, 2, &[1]), v(2, 5, &[2])];
        let c = choose(live.clone(), ExitOrder::Oldest, eth(33));
        assert_eq!(c.iter().map(|v| v.number).collect::<Vec<_>>(), [2, 5]);
        assert!(choose(live.clone(), ExitOrder::Oldest, U256::ZERO).is_empty());
        assert_eq!(choose(live.clone(), ExitOrder::Oldest, eth(32)).len(), 1);
        // more than all of them: all of them
        assert_eq!(choose(live, ExitOrder::Oldest, eth(1000)).len(), 3);
    }

    #[test]
    fn largest_cluster_first_spreads_the_exits() {
        let live = vec![
            v(1, 1, &[1]),
            v(2, 2, &[2]),
            v(3, 3, &[2]),
            v(4, 4, &[2]),
            v(5, 5, &[1]),
        ];
        let c = choose(live, ExitOrder::LargestCluster, eth(96));
        // cluster [2] has 3, then 2 vs 2 (tie: lowest ids → [1]), then [2]
        assert_eq!(c.iter().map(|v| v.number).collect::<Vec<_>>(), [2, 1, 3]);
    }

    #[test]
    fn a_short_balance_needs_one_more() {
        let mut live = vec![v(1, 1, &[1]), v(2, 2, &[1])];
        live[0].balance_wei = eth(31);
        assert_eq!(choose(live, ExitOrder::Oldest, eth(32)).len(), 2);
    }
}
