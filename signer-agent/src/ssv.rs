//! The SSV network v2.0.0 as the agent sees it: the network check (v2, from the contract), the
//! pool's clusters read from the network's events (ETH clusters and legacy SSV-paid clusters
//! until they are migrated), and the fee arithmetic of ETH clusters (operators' ETH fees + the
//! network fee, weighted by effective balance) that gives the ETH to send with a registration,
//! a top-up, a reactivation or a migration, and a cluster's runway.
//!
//! The arithmetic follows the v2.0.0 contracts (ssvlabs/ssv-network docs/SPEC.md §10, notes in
//! docs/agent.md): fees are per block per 32 ETH of effective balance; a cluster is charged for
//! 10,000 vUnits per 32 ETH (`⌈EB × 10,000 / 32⌉`); amounts are kept in units of 1e5 wei; a
//! cluster is liquidatable below the minimum collateral or below
//! `⌊threshold blocks × (Σ operator fees + network fee)/1e5 × vUnits / 10,000⌋ × 1e5`. A new
//! validator counts 32 ETH (the network charges 32 ETH per validator until its oracles report
//! the cluster's effective balance); an existing cluster counts the effective balance the
//! network holds for it (`getEffectiveBalance`), which for 0x02 (compounding) validators grows
//! with their balance.

use std::collections::BTreeMap;

use alloy::primitives::{Address, B256, U256};
use alloy::providers::DynProvider;
use alloy::sol_types::SolEvent;
use serde::Serialize;

use crate::chain::{Cluster, ISSVNetwork};
use crate::config::Contracts;
use crate::error::{Error, Result};
use crate::logscan::{Events, Query};

/// Effective balance the network charges per new validator, ETH.
pub const EB_PER_VALIDATOR: u64 = 32;
const VUNITS_PRECISION: u128 = 10_000;
const ETH_PACK: u128 = 100_000;
/// Blocks of fees added to every funding's margin: the blocks between the plan (whose balance
/// reading it uses) and the transaction's inclusion, during which the cluster keeps paying.
pub const INCLUSION_BLOCKS: u64 = 64;
pub use crate::units::SECONDS_PER_BLOCK;

/// What the SSV network contract says about itself.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct NetworkInfo {
    /// SSVNetwork.
    pub address: Address,
    /// SSVNetworkViews (where the views are read).
    pub views: Address,
    pub version: String,
}

/// Refuses unless the SSV network is v2 (ETH-paid clusters): SSVNetworkViews' `getVersion()` is
/// `v2.…` or later and a v2-only view (`getNetworkFeeSSV`) answers.
pub async fn check_v2(provider: &DynProvider, contracts: &Contracts) -> Result<NetworkInfo> {
    let c = ISSVNetwork::new(contracts.ssv_network_views, provider.clone());
    let not_v2 = |found: String| Error::SsvNetworkVersion {
        address: contracts.ssv_network,
        found,
    };
    let version = c
        .getVersion()
        .call()
        .await
        .map_err(|e| not_v2(format!("getVersion() failed ({e})")))?;
    if version_major(&version).is_none_or(|m| m < 2) {
        return Err(not_v2(format!("getVersion() is {version:?}")));
    }
    c.getNetworkFeeSSV().call().await.map_err(|e| {
        not_v2(format!(
            "{version:?} but the v2 view getNetworkFeeSSV() fails ({e})"
        ))
    })?;
    Ok(NetworkInfo {
        address: contracts.ssv_network,
        views: contracts.ssv_network_views,
        version,
    })
}

/// `v2.0.0` → 2, `2.1` → 2, `v1.2.0-devnet` → 1.
fn version_major(v: &str) -> Option<u64> {
    let v = v.trim();
    let v = v.strip_prefix('v').unwrap_or(v);
    v.split(['.', '-']).next()?.parse().ok()
}

/// How a cluster pays its fees.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ClusterKind {
    /// v2: ETH (`msg.value`), weighted by effective balance.
    Eth,
    /// A legacy SSV-paid cluster (registered before the v2 upgrade): no new validators, no
    /// top-ups; migrate it to ETH (`migrateClusterToETH`).
    Legacy,
}

/// One of an owner's clusters as the network's events leave it.
#[derive(Debug, Clone, Serialize)]
pub struct ClusterState {
    pub operator_ids: Vec<u64>,
    #[serde(serialize_with = "ser_cluster")]
    pub snapshot: Cluster,
    /// Block of the event the snapshot comes from.
    pub block: Option<u64>,
}

fn ser_cluster<S: serde::Serializer>(c: &Cluster, s: S) -> std::result::Result<S::Ok, S::Error> {
    use serde::ser::SerializeStruct;
    let mut st = s.serialize_struct("Cluster", 5)?;
    st.serialize_field("validator_count", &c.validatorCount)?;
    st.serialize_field("network_fee_index", &c.networkFeeIndex)?;
    st.serialize_field("index", &c.index)?;
    st.serialize_field("active", &c.active)?;
    st.serialize_field("balance", &c.balance.to_string())?;
    st.end()
}

/// The empty cluster a first registration passes.
pub fn new_cluster() -> Cluster {
    Cluster {
        validatorCount: 0,
        networkFeeIndex: 0,
        index: 0,
        active: true,
        balance: U256::ZERO,
    }
}

/// The SSV network's cluster events of `owner` (both cluster kinds: ValidatorAdded/Removed,
/// ClusterDeposited/Withdrawn/Liquidated/Reactivated, ClusterMigratedToETH,
/// ClusterBalanceUpdated), from the pool's first block when `owner` is the PoolManager (it has
/// no older event), else from the SSV network's.
pub fn owner_events_query(c: &Contracts, owner: Address) -> Query {
    let first = if owner == c.pool_manager {
        c.deploy_block.max(c.ssv_network_block)
    } else {
        c.ssv_network_block
    };
    Query::new(
        format!("SSV cluster events of {owner}"),
        c.ssv_network,
        first,
    )
    .events(&[
        ISSVNetwork::ValidatorAdded::SIGNATURE_HASH,
        ISSVNetwork::ValidatorRemoved::SIGNATURE_HASH,
        ISSVNetwork::ClusterDeposited::SIGNATURE_HASH,
        ISSVNetwork::ClusterWithdrawn::SIGNATURE_HASH,
        ISSVNetwork::ClusterLiquidated::SIGNATURE_HASH,
        ISSVNetwork::ClusterReactivated::SIGNATURE_HASH,
        ISSVNetwork::ClusterMigratedToETH::SIGNATURE_HASH,
        ISSVNetwork::ClusterBalanceUpdated::SIGNATURE_HASH,
    ])
    .topic(1, B256::left_padding_from(owner.as_slice()))
}

/// The owner's SSV nonce up to block `at`: the number of `ValidatorAdded` events the network
/// emitted for it (each registration uses the nonce and increments it; removals do not give
/// it back). The real SSVNetworkViews has no nonce view: events are the source.
pub async fn owner_nonce(events: &Events, c: &Contracts, owner: Address, at: u64) -> Result<u64> {
    let logs = events.fetch(&owner_events_query(c, owner), at).await?;
    Ok(logs
        .iter()
        .filter(|l| l.topic0() == Some(&ISSVNetwork::ValidatorAdded::SIGNATURE_HASH))
        .count() as u64)
}

/// Every cluster of `owner` with its latest snapshot up to block `at`, from the events of both
/// kinds, keyed by operator ids.
pub async fn cluster_states(
    events: &Events,
    c: &Contracts,
    owner: Address,
    at: u64,
) -> Result<BTreeMap<Vec<u64>, ClusterState>> {
    let logs = events.fetch(&owner_events_query(c, owner), at).await?;
    let mut out = BTreeMap::new();
    for log in &logs {
        let Some((ids, cluster)) = cluster_event(log)? else {
            continue;
        };
        out.insert(
            ids.clone(),
            ClusterState {
                operator_ids: ids,
                snapshot: cluster,
                block: log.block_number,
            },
        );
    }
    Ok(out)
}

/// The `cluster` of the last SSV cluster event among `logs` whose operator ids are `ids`
/// (events of other kinds are skipped; an undecodable cluster event is an error).
pub fn latest_cluster(logs: &[alloy::rpc::types::Log], ids: &[u64]) -> Result<Option<Cluster>> {
    let mut latest = None;
    for log in logs {
        if let Some((log_ids, cluster)) = cluster_event(log)? {
            if log_ids == ids {
                latest = Some(cluster);
            }
        }
    }
    Ok(latest)
}

/// The operator ids and cluster snapshot an SSV cluster event of either cluster kind carries;
/// `None` for a log of another kind.
pub fn cluster_event(log: &alloy::rpc::types::Log) -> Result<Option<(Vec<u64>, Cluster)>> {
    macro_rules! decode {
        ($event:ident) => {{
            let e = ISSVNetwork::$event::decode_log_data(log.data())
                .map_err(|e| Error::rpc(concat!("decode ", stringify!($event)), e))?;
            Some((e.operatorIds, e.cluster))
        }};
    }
    Ok(match log.topic0().copied() {
        Some(ISSVNetwork::ValidatorAdded::SIGNATURE_HASH) => decode!(ValidatorAdded),
        Some(ISSVNetwork::ValidatorRemoved::SIGNATURE_HASH) => decode!(ValidatorRemoved),
        Some(ISSVNetwork::ClusterDeposited::SIGNATURE_HASH) => decode!(ClusterDeposited),
        Some(ISSVNetwork::ClusterWithdrawn::SIGNATURE_HASH) => decode!(ClusterWithdrawn),
        Some(ISSVNetwork::ClusterLiquidated::SIGNATURE_HASH) => decode!(ClusterLiquidated),
        Some(ISSVNetwork::ClusterReactivated::SIGNATURE_HASH) => decode!(ClusterReactivated),
        Some(ISSVNetwork::ClusterMigratedToETH::SIGNATURE_HASH) => decode!(ClusterMigratedToETH),
        Some(ISSVNetwork::ClusterBalanceUpdated::SIGNATURE_HASH) => decode!(ClusterBalanceUpdated),
        _ => None,
    })
}

/// The snapshot of `owner`'s cluster of `ids` at block `at` (the empty cluster when it has none
/// yet).
pub async fn cluster_snapshot(
    events: &Events,
    c: &Contracts,
    owner: Address,
    ids: &[u64],
    at: u64,
) -> Result<Cluster> {
    Ok(cluster_states(events, c, owner, at)
        .await?
        .remove(ids)
        .map(|s| s.snapshot)
        .unwrap_or_else(new_cluster))
}

/// The kind of an existing cluster (`getClusterAssetType`: 1 ETH, 0 legacy SSV).
pub async fn cluster_kind(
    provider: &DynProvider,
    views: Address,
    owner: Address,
    ids: &[u64],
) -> Result<ClusterKind> {
    let t = ISSVNetwork::new(views, provider.clone())
        .getClusterAssetType(owner, ids.to_vec())
        .call()
        .await
        .map_err(|e| Error::rpc(format!("getClusterAssetType({ids:?})"), e))?;
    match t {
        1 => Ok(ClusterKind::Eth),
        0 => Ok(ClusterKind::Legacy),
        other => Err(Error::rpc(
            format!("getClusterAssetType({ids:?})"),
            format!("unknown asset type {other}"),
        )),
    }
}

/// Why an operator cannot take the pool's validators.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(tag = "problem", rename_all = "snake_case")]
pub enum OperatorProblem {
    #[error("does not exist on the SSV network")]
    DoesNotExist,
    #[error("was removed from the SSV network")]
    Removed,
    /// Private and the PoolManager (the cluster owner) is not on its whitelist: the network
    /// refuses the registration (`CallerNotWhitelistedWithData`).
    #[error("is private and has not whitelisted the PoolManager {pool}: its owner must call setOperatorsWhitelists([{id}], [{pool}])")]
    NotWhitelisted { id: u64, pool: Address },
    /// No `OperatorAdded` event carries its public key.
    #[error("no OperatorAdded event carries its public key")]
    NoPublicKey,
    #[error("its on-chain public key cannot be read: {0}")]
    KeyUnreadable(String),
    /// Its key on chain is not the one the bundle's shares were encrypted to.
    #[error(
        "its on-chain public key has fingerprint {on_chain}, the bundle's manifest pinned {pinned}"
    )]
    KeyChanged { on_chain: String, pinned: String },
    #[error("is not pinned in the bundle's manifest")]
    NotPinned,
}

/// One operator as the views show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OperatorState {
    pub id: u64,
    pub owner: Address,
    pub active: bool,
    pub private: bool,
    /// Whether it whitelisted the cluster owner asked about.
    pub whitelisted: bool,
}

impl OperatorState {
    /// What stops `owner` from registering with this operator, if anything.
    pub fn problem(&self, owner: Address) -> Option<OperatorProblem> {
        if self.owner == Address::ZERO {
            Some(OperatorProblem::DoesNotExist)
        } else if !self.active {
            Some(OperatorProblem::Removed)
        } else if self.private && !self.whitelisted {
            Some(OperatorProblem::NotWhitelisted {
                id: self.id,
                pool: owner,
            })
        } else {
            None
        }
    }
}

/// The operators `ids` as SSVNetworkViews shows them: existence, removal, privacy, and whether
/// each whitelisted `owner` (`getWhitelistedOperators`, asked once for the private ones).
pub async fn operator_states(
    provider: &DynProvider,
    views: Address,
    ids: &[u64],
    owner: Address,
) -> Result<Vec<OperatorState>> {
    let c = ISSVNetwork::new(views, provider.clone());
    let mut out = Vec::with_capacity(ids.len());
    for &id in ids {
        let op = c
            .getOperatorById(id)
            .call()
            .await
            .map_err(|e| Error::rpc(format!("getOperatorById({id})"), e))?;
        out.push(OperatorState {
            id,
            owner: op.owner,
            active: op.active,
            private: op.isPrivate,
            whitelisted: false,
        });
    }
    let mut private: Vec<u64> = out
        .iter()
        .filter(|o| o.private && o.active)
        .map(|o| o.id)
        .collect();
    if !private.is_empty() {
        private.sort_unstable();
        let listed = c
            .getWhitelistedOperators(private.clone(), owner)
            .call()
            .await
            .map_err(|e| Error::rpc(format!("getWhitelistedOperators({private:?}, {owner})"), e))?;
        for o in &mut out {
            o.whitelisted = listed.contains(&o.id);
        }
    }
    Ok(out)
}

/// The `OperatorAdded` events of operator `id` (its public key), from the SSV network's first
/// block.
pub fn operator_added_query(c: &Contracts, id: u64) -> Query {
    Query::new(
        format!("OperatorAdded({id})"),
        c.ssv_network,
        c.ssv_network_block,
    )
    .events(&[ISSVNetwork::OperatorAdded::SIGNATURE_HASH])
    .topic(1, B256::left_padding_from(&id.to_be_bytes()))
}

/// Operator `id`'s public key as published (the text the SDK shows), from its latest
/// `OperatorAdded` event up to block `at`.
pub async fn operator_public_key(
    events: &Events,
    c: &Contracts,
    id: u64,
    at: u64,
) -> Result<std::result::Result<String, OperatorProblem>> {
    let logs = events.fetch(&operator_added_query(c, id), at).await?;
    let Some(log) = logs.last() else {
        return Ok(Err(OperatorProblem::NoPublicKey));
    };
    Ok(operator_key_from_log(log).map_err(OperatorProblem::KeyUnreadable))
}

/// Whether operator `id`'s key on chain has the fingerprint `pinned` (hex) the bundle's
/// manifest pins.
pub async fn operator_key_problem(
    events: &Events,
    c: &Contracts,
    id: u64,
    pinned: Option<&str>,
    at: u64,
) -> Result<Option<OperatorProblem>> {
    let text = match operator_public_key(events, c, id, at).await? {
        Ok(t) => t,
        Err(p) => return Ok(Some(p)),
    };
    let key = match kc_ssv::OperatorKey::parse(id, &text) {
        Ok(k) => k,
        Err(e) => return Ok(Some(OperatorProblem::KeyUnreadable(e.to_string()))),
    };
    let on_chain = key.fingerprint_hex();
    let Some(pinned) = pinned else {
        return Ok(Some(OperatorProblem::NotPinned));
    };
    let pinned = pinned.trim_start_matches("0x").to_ascii_lowercase();
    Ok((on_chain != pinned).then_some(OperatorProblem::KeyChanged { on_chain, pinned }))
}

/// The network's ETH fee parameters for one cluster, from the views.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct FeeParams {
    /// Σ operators' ETH fees + the network fee, wei per block per 32 ETH.
    pub rate_wei: U256,
    pub liquidation_threshold_blocks: u64,
    pub minimum_collateral_wei: U256,
}

/// Reads [`FeeParams`] for the cluster of `ids`; a removed or unknown operator stops the cluster
/// ([`Error::ClusterStopped`]).
pub async fn fee_params(provider: &DynProvider, views: Address, ids: &[u64]) -> Result<FeeParams> {
    let c = ISSVNetwork::new(views, provider.clone());
    let mut rate = c
        .getNetworkFee()
        .call()
        .await
        .map_err(|e| Error::rpc("getNetworkFee", e))?;
    for id in ids {
        let op = c
            .getOperatorById(*id)
            .call()
            .await
            .map_err(|e| Error::rpc(format!("getOperatorById({id})"), e))?;
        if op.owner == Address::ZERO || !op.active {
            return Err(Error::ClusterStopped {
                operator_ids: ids.to_vec(),
                operator_id: *id,
                problem: if op.owner == Address::ZERO {
                    OperatorProblem::DoesNotExist
                } else {
                    OperatorProblem::Removed
                },
            });
        }
        rate += c
            .getOperatorFee(*id)
            .call()
            .await
            .map_err(|e| Error::rpc(format!("getOperatorFee({id})"), e))?;
    }
    Ok(FeeParams {
        rate_wei: rate,
        liquidation_threshold_blocks: c
            .getLiquidationThresholdPeriod()
            .call()
            .await
            .map_err(|e| Error::rpc("getLiquidationThresholdPeriod", e))?,
        minimum_collateral_wei: c
            .getMinimumLiquidationCollateral()
            .call()
            .await
            .map_err(|e| Error::rpc("getMinimumLiquidationCollateral", e))?,
    })
}

/// vUnits the network charges for `eb_eth` ETH of effective balance (`⌈EB × 10,000 / 32⌉`).
pub fn vunits(eb_eth: u64) -> u128 {
    (u128::from(eb_eth) * VUNITS_PRECISION).div_ceil(u128::from(EB_PER_VALIDATOR))
}

/// Wei a cluster of `eb_eth` effective balance pays over `blocks` blocks, with the network's
/// rounding (units of 1e5 wei, vUnits floored).
pub fn fees_over(params: &FeeParams, eb_eth: u64, blocks: u64) -> U256 {
    let rate_packed = params.rate_wei / U256::from(ETH_PACK);
    let units = U256::from(blocks) * rate_packed * U256::from(vunits(eb_eth))
        / U256::from(VUNITS_PRECISION);
    units * U256::from(ETH_PACK)
}

/// The balance a cluster of `eb_eth` must hold to stay `margin_blocks` away from liquidation:
/// the fees over the network's liquidation threshold plus the margin, at least the minimum
/// collateral, rounded up to the network's 1e5 wei unit.
pub fn target_balance(params: &FeeParams, eb_eth: u64, margin_blocks: u64) -> U256 {
    let need = fees_over(
        params,
        eb_eth,
        params
            .liquidation_threshold_blocks
            .saturating_add(margin_blocks),
    )
    .max(params.minimum_collateral_wei);
    let unit = U256::from(ETH_PACK);
    need.div_ceil(unit) * unit
}

/// ETH to send so that a cluster now holding `balance_wei` for `eb_eth` reaches the target with
/// `new_validators` more (32 ETH each).
pub fn eth_to_send(
    params: &FeeParams,
    balance_wei: U256,
    eb_eth: u64,
    new_validators: u64,
    margin_blocks: u64,
) -> U256 {
    let eb = eb_eth + new_validators * EB_PER_VALIDATOR;
    target_balance(params, eb, margin_blocks).saturating_sub(balance_wei)
}

/// Blocks a balance lasts at `burn_wei_per_block` (None when nothing burns).
pub fn runway_blocks(balance_wei: U256, burn_wei_per_block: U256) -> Option<u64> {
    if burn_wei_per_block.is_zero() {
        return None;
    }
    Some((balance_wei / burn_wei_per_block).saturating_to::<u64>())
}

/// An ETH cluster's economics now.
#[derive(Debug, Clone, Serialize)]
pub struct ClusterFunds {
    pub kind: ClusterKind,
    pub active: bool,
    pub validators: u32,
    /// Effective balance the network charges for, ETH (32 per validator unless reported).
    pub effective_balance_eth: u64,
    /// ETH (an ETH cluster) or SSV (a legacy cluster), fees settled to the current block; 0 when
    /// liquidated.
    pub balance_wei: U256,
    /// ETH per block (an ETH cluster).
    pub burn_wei_per_block: U256,
    /// Blocks until the balance is used up (not until liquidation: that comes a liquidation
    /// threshold earlier).
    pub runway_blocks: Option<u64>,
    pub liquidatable: bool,
}

/// Reads [`ClusterFunds`] for `owner`'s existing cluster from the views.
pub async fn cluster_funds(
    provider: &DynProvider,
    views: Address,
    owner: Address,
    ids: &[u64],
    snapshot: &Cluster,
) -> Result<ClusterFunds> {
    let c = ISSVNetwork::new(views, provider.clone());
    let kind = cluster_kind(provider, views, owner, ids).await?;
    let eb = c
        .getEffectiveBalance(owner, ids.to_vec(), snapshot.clone())
        .call()
        .await
        .map_err(|e| Error::rpc(format!("getEffectiveBalance({ids:?})"), e))?;
    let mut f = ClusterFunds {
        kind,
        active: snapshot.active,
        validators: snapshot.validatorCount,
        effective_balance_eth: u64::from(eb),
        balance_wei: U256::ZERO,
        burn_wei_per_block: U256::ZERO,
        runway_blocks: None,
        liquidatable: false,
    };
    if !snapshot.active {
        f.balance_wei = snapshot.balance;
        return Ok(f);
    }
    match kind {
        ClusterKind::Eth => {
            f.balance_wei = c
                .getBalance(owner, ids.to_vec(), snapshot.clone())
                .call()
                .await
                .map_err(|e| Error::rpc(format!("getBalance({ids:?})"), e))?;
            f.burn_wei_per_block = c
                .getBurnRate(owner, ids.to_vec(), snapshot.clone())
                .call()
                .await
                .map_err(|e| Error::rpc(format!("getBurnRate({ids:?})"), e))?;
            f.liquidatable = c
                .isLiquidatable(owner, ids.to_vec(), snapshot.clone())
                .call()
                .await
                .map_err(|e| Error::rpc(format!("isLiquidatable({ids:?})"), e))?;
            f.runway_blocks = runway_blocks(f.balance_wei, f.burn_wei_per_block);
        }
        ClusterKind::Legacy => {
            f.balance_wei = c
                .getBalanceSSV(owner, ids.to_vec(), snapshot.clone())
                .call()
                .await
                .map_err(|e| Error::rpc(format!("getBalanceSSV({ids:?})"), e))?;
        }
    }
    Ok(f)
}

/// One of the pool's clusters, for `signer-agent clusters status`.
#[derive(Debug, Clone, Serialize)]
pub struct ClusterReport {
    pub operator_ids: Vec<u64>,
    #[serde(flatten)]
    pub funds: ClusterFunds,
    /// What the PoolManager's books hold for it (ETH clusters).
    pub pool_books_wei: U256,
    /// Days of runway at 12-second blocks (ETH clusters).
    pub runway_days: Option<f64>,
    #[serde(serialize_with = "ser_cluster")]
    pub snapshot: Cluster,
}

/// Every cluster the PoolManager owns on the SSV network, with its funds and runway in ETH.
pub async fn pool_clusters(events: &Events, c: &Contracts) -> Result<Vec<ClusterReport>> {
    let provider = events.provider();
    let pool_manager = c.pool_manager;
    let at = events.head().await?;
    let pm = crate::chain::IPoolManager::new(pool_manager, provider.clone());
    let mut out = Vec::new();
    for (ids, st) in cluster_states(events, c, pool_manager, at).await? {
        let funds = cluster_funds(
            provider,
            c.ssv_network_views,
            pool_manager,
            &ids,
            &st.snapshot,
        )
        .await?;
        let books = pm
            .clusterEtherOf(ids.clone())
            .call()
            .await
            .map_err(|e| Error::rpc(format!("PoolManager.clusterEtherOf({ids:?})"), e))?;
        let runway_days = funds
            .runway_blocks
            .map(|b| (b as f64) * SECONDS_PER_BLOCK as f64 / 86_400.0);
        out.push(ClusterReport {
            operator_ids: ids,
            funds,
            pool_books_wei: books,
            runway_days,
            snapshot: st.snapshot,
        });
    }
    Ok(out)
}

/// One legacy cluster in a migration plan.
#[derive(Debug, Clone, Serialize)]
pub struct MigrationItem {
    pub operator_ids: Vec<u64>,
    #[serde(serialize_with = "ser_cluster")]
    pub snapshot: Cluster,
    pub validators: u32,
    pub effective_balance_eth: u64,
    /// SSV the network refunds (its balance now, fees settled).
    pub ssv_balance_wei: U256,
    /// ETH to send as the cluster's new balance: the liquidation threshold plus the margin at
    /// the cluster's effective balance, at least the minimum collateral.
    pub eth_wei: U256,
}

/// What governance sends to migrate the pool's legacy clusters (`PoolManager.migrateClusters`).
#[derive(Debug, Clone, Serialize)]
pub struct MigrationPlan {
    pub pool_manager: Address,
    pub clusters: Vec<MigrationItem>,
    pub total_eth_wei: U256,
    /// ABI-encoded `migrateClusters(operatorIds, clusters, amounts)`, `0x` hex (empty when there
    /// is nothing to migrate).
    pub calldata: String,
}

/// The migration of every legacy SSV cluster of the PoolManager, with `margin_blocks` of runway
/// beyond the network's liquidation threshold.
pub async fn migration_plan(
    events: &Events,
    c: &Contracts,
    margin_blocks: u64,
) -> Result<MigrationPlan> {
    use alloy::sol_types::SolCall;
    let provider = events.provider();
    let (views, pool_manager) = (c.ssv_network_views, c.pool_manager);
    let at = events.head().await?;
    let mut items = Vec::new();
    for (ids, st) in cluster_states(events, c, pool_manager, at).await? {
        if cluster_kind(provider, views, pool_manager, &ids).await? != ClusterKind::Legacy {
            continue;
        }
        let funds = cluster_funds(provider, views, pool_manager, &ids, &st.snapshot).await?;
        let params = fee_params(provider, views, &ids).await?;
        let eth_wei = target_balance(
            &params,
            funds.effective_balance_eth,
            margin_blocks + INCLUSION_BLOCKS,
        );
        items.push(MigrationItem {
            operator_ids: ids,
            snapshot: st.snapshot,
            validators: funds.validators,
            effective_balance_eth: funds.effective_balance_eth,
            ssv_balance_wei: funds.balance_wei,
            eth_wei,
        });
    }
    let total = items.iter().fold(U256::ZERO, |a, i| a + i.eth_wei);
    let calldata = if items.is_empty() {
        String::new()
    } else {
        let call = crate::chain::IPoolManager::migrateClustersCall {
            operatorIds: items.iter().map(|i| i.operator_ids.clone()).collect(),
            clusters: items.iter().map(|i| i.snapshot.clone()).collect(),
            amounts: items.iter().map(|i| i.eth_wei).collect(),
        };
        format!("0x{}", hex::encode(call.abi_encode()))
    };
    Ok(MigrationPlan {
        pool_manager,
        clusters: items,
        total_eth_wei: total,
        calldata,
    })
}

/// The `PoolManager.syncClusterBalances` call that books the fees the pool's ETH clusters
/// consumed since the last sync (clusters whose books exceed their balance now), or `None` when
/// there is nothing to book.
pub async fn sync_call(
    events: &Events,
    c: &Contracts,
) -> Result<Option<crate::chain::IPoolManager::syncClusterBalancesCall>> {
    let provider = events.provider();
    let (views, pool_manager) = (c.ssv_network_views, c.pool_manager);
    let at = events.head().await?;
    let pm = crate::chain::IPoolManager::new(pool_manager, provider.clone());
    let mut ids = Vec::new();
    let mut clusters = Vec::new();
    for (key, st) in cluster_states(events, c, pool_manager, at).await? {
        let books = pm
            .clusterEtherOf(key.clone())
            .call()
            .await
            .map_err(|e| Error::rpc(format!("PoolManager.clusterEtherOf({key:?})"), e))?;
        if books.is_zero()
            || cluster_kind(provider, views, pool_manager, &key).await? != ClusterKind::Eth
        {
            continue;
        }
        let now = if st.snapshot.active {
            ISSVNetwork::new(views, provider.clone())
                .getBalance(pool_manager, key.clone(), st.snapshot.clone())
                .call()
                .await
                .map_err(|e| Error::rpc(format!("getBalance({key:?})"), e))?
        } else {
            st.snapshot.balance
        };
        if now < books {
            ids.push(key);
            clusters.push(st.snapshot);
        }
    }
    Ok(
        (!ids.is_empty()).then_some(crate::chain::IPoolManager::syncClusterBalancesCall {
            operatorIds: ids,
            clusters,
        }),
    )
}

/// The public key text an `OperatorAdded` log carries, or why it carries none.
pub fn operator_key_from_log(log: &alloy::rpc::types::Log) -> std::result::Result<String, String> {
    let ev = ISSVNetwork::OperatorAdded::decode_log_data(log.data())
        .map_err(|e| format!("undecodable OperatorAdded event: {e}"))?;
    public_key_text(&ev.publicKey).ok_or_else(|| "its on-chain public key is not text".to_owned())
}

/// The operator key as the SDK shows it: mainnet stores `abi.encode(string)` in the event's
/// `bytes publicKey`; a plain UTF-8 body is accepted too.
pub fn public_key_text(raw: &alloy::primitives::Bytes) -> Option<String> {
    if let Ok(s) = <String as alloy::sol_types::SolValue>::abi_decode(raw) {
        if !s.is_empty() {
            return Some(s);
        }
    }
    std::str::from_utf8(raw)
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> FeeParams {
        // v2.0.0 initial values: 4 operators at the default 1.77 gwei + network fee 3.5509 gwei
        FeeParams {
            rate_wei: U256::from(4u64 * 1_770_000_000 + 3_550_900_000),
            liquidation_threshold_blocks: 50_190,
            minimum_collateral_wei: U256::from(940_000_000_000_000u64),
        }
    }

    #[test]
    fn versions() {
        assert_eq!(version_major("v2.0.0"), Some(2));
        assert_eq!(version_major("v2.0.0-devnet"), Some(2));
        assert_eq!(version_major("3.1"), Some(3));
        assert_eq!(version_major("v1.2.0"), Some(1));
        assert_eq!(version_major("devnet"), None);
    }

    #[test]
    fn vunits_round_up_like_the_network() {
        assert_eq!(vunits(32), 10_000);
        assert_eq!(vunits(64), 20_000);
        assert_eq!(vunits(33), 10_313); // ⌈33 × 10,000 / 32⌉ = ⌈10,312.5⌉
        assert_eq!(vunits(0), 0);
    }

    #[test]
    fn one_validator_needs_the_minimum_collateral() {
        let p = params();
        // 50,190 blocks × 10.6309 gwei = 0.000533... ETH < 0.00094 ETH
        assert_eq!(
            eth_to_send(&p, U256::ZERO, 0, 1, 0),
            U256::from(940_000_000_000_000u64)
        );
    }

    #[test]
    fn a_bulk_batch_needs_the_weighted_threshold_and_margin() {
        let p = params();
        let per_block = U256::from(10_630_900_000u64);
        let want = per_block * U256::from(50_190u64 + 7_200) * U256::from(80u64);
        assert_eq!(eth_to_send(&p, U256::ZERO, 0, 80, 7_200), want);
        // what the cluster holds counts
        assert_eq!(
            eth_to_send(&p, want - U256::from(100_000u64), 80 * 32, 0, 7_200),
            U256::from(100_000u64)
        );
        assert_eq!(
            eth_to_send(&p, want * U256::from(2u64), 80 * 32, 0, 7_200),
            U256::ZERO
        );
    }

    #[test]
    fn compounding_validators_are_charged_for_their_effective_balance() {
        let p = params();
        // two 0x02 validators the oracle reported at 64 ETH each, plus one new at 32 ETH
        let with_eb = eth_to_send(&p, U256::ZERO, 128, 1, 0);
        let flat = eth_to_send(&p, U256::ZERO, 64, 1, 0);
        assert_eq!(with_eb, fees_over(&p, 160, 50_190));
        assert!(with_eb > flat);
        assert_eq!(
            with_eb,
            U256::from(10_630_900_000u64) * U256::from(50_190u64) * U256::from(5u64)
        );
    }

    #[test]
    fn runway() {
        assert_eq!(
            runway_blocks(U256::from(1000u64), U256::from(3u64)),
            Some(333)
        );
        assert_eq!(runway_blocks(U256::from(1000u64), U256::ZERO), None);
    }
}
