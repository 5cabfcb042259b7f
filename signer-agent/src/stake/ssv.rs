//! The SSV side of a stake: the cluster's operators rechecked against the chain and the pinned
//! fingerprints, and the ETH for the cluster's fees.

use alloy::primitives::{Address, U256};
use alloy::providers::DynProvider;

use crate::chain::Cluster;
use crate::config::Contracts;
use crate::error::{Error, Result};
use crate::refusal::Refusal;
use crate::store::Store;

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
    let facts = store
        .bundle_facts(bundle_id)?
        .ok_or_else(|| Refusal::NoPinnedFingerprints {
            bundle: bundle_id.to_owned(),
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
            return Err(Refusal::ClusterLiquidated {
                operator_ids: ids.to_vec(),
            }
            .into());
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
