//! Cluster funding: runway per cluster on `/metrics`, top-ups below `min_runway_days` to
//! `target_runway_days`, reactivation of a liquidated cluster, and the buffer alert.
//!
//! Runway is the cluster's balance over its burn rate (operators' fees + network fee, weighted by
//! the effective balance the network charges), in days of 12-second blocks, read from the SSV
//! views (`crate::ssv`). The network liquidates a cluster a liquidation threshold (≈ 7 days on
//! v2.0.0) *before* the runway ends: `min_runway_days` must leave room for that.

use alloy::primitives::U256;
use alloy::sol_types::SolCall;

use super::tx::{self, cluster_subject};
use super::{cluster_label, refused_is_skip, Ctx, MaintenanceConfig, Pass, Wait};
use crate::chain::IPoolManager;
use crate::error::{Error, Result};
use crate::ssv::{self, ClusterKind, FeeParams};
use crate::store::maintenance::{self as mstore, Action};
use crate::store::Store;

const UNIT: u64 = 100_000;

/// ETH a cluster of `eb_eth` must hold for `days` of runway (plus the blocks until inclusion),
/// at least what keeps it above the network's liquidation threshold, in the network's units.
pub fn balance_for_days(params: &FeeParams, eb_eth: u64, days: f64) -> U256 {
    let blocks = MaintenanceConfig::blocks(days).saturating_add(ssv::INCLUSION_BLOCKS);
    ssv::fees_over(params, eb_eth, blocks).max(ssv::target_balance(
        params,
        eb_eth,
        ssv::INCLUSION_BLOCKS,
    ))
}

/// What to send to bring a cluster holding `balance` to `target` (rounded up to 1e5 wei).
pub fn top_up_amount(target: U256, balance: U256) -> U256 {
    let unit = U256::from(UNIT);
    target.saturating_sub(balance).div_ceil(unit) * unit
}

/// One pass of cluster funding: each cluster that is due gets its top-up (or reactivation) when
/// every cap allows it and the buffer pays it; then the buffer alert for what is due soon.
pub async fn run(ctx: &Ctx<'_>, st: &mut Store, p: &mut Pass) -> Result<()> {
    let c = ctx.cfg.contracts()?;
    let clusters = ssv::pool_clusters(ctx.events, &c).await?;
    let mut pool = PoolFunds::read(ctx, &c).await?;
    for r in clusters {
        let Some(due) = due(ctx, st, p, &c, &r, &mut pool).await? else {
            continue;
        };
        if let Some(wait) = refusal(ctx, st, &mut pool, &r, &due)? {
            p.waits.push(wait);
            continue;
        }
        send(ctx, st, p, &r, &due, &mut pool).await?;
    }
    pool.alert(ctx);
    Ok(())
}

/// The pool's side of a pass: what the buffer can pay, the caps it pays under, and what the
/// clusters due soon will need.
struct PoolFunds {
    /// Buffered ether not owed to the withdrawal queue; less what this pass has sent.
    available: U256,
    cap_per_validator: U256,
    policy: crate::policy::Policy,
    /// The UTC day the daily caps count.
    day: String,
    /// What the clusters due within the alert window will need.
    due_soon: U256,
    /// A cluster due now could not be paid.
    short_now: bool,
}

impl PoolFunds {
    async fn read(ctx: &Ctx<'_>, c: &crate::config::Contracts) -> Result<Self> {
        let pm = IPoolManager::new(c.pool_manager, ctx.provider.clone());
        let buffered = pm
            .bufferedEther()
            .call()
            .await
            .map_err(|e| Error::rpc("PoolManager.bufferedEther", e))?;
        let queued = pm
            .pendingWithdrawalEther()
            .call()
            .await
            .map_err(|e| Error::rpc("PoolManager.pendingWithdrawalEther", e))?;
        let cap_per_validator = pm
            .clusterFeeCapPerValidator()
            .call()
            .await
            .map_err(|e| Error::rpc("PoolManager.clusterFeeCapPerValidator", e))?;
        Ok(PoolFunds {
            available: buffered.saturating_sub(queued),
            cap_per_validator,
            policy: crate::policy::Policy::from_config(ctx.cfg)?,
            day: crate::policy::today(),
            due_soon: U256::ZERO,
            short_now: false,
        })
    }

    /// The buffer alert on `/metrics` (and in the log): the top-ups due within the alert window,
    /// and whether the buffer can pay them.
    fn alert(&self, ctx: &Ctx<'_>) {
        let short = self.short_now || self.due_soon > self.available;
        ctx.metrics.gauge(
            "signer_agent_topup_due_soon_wei",
            self.due_soon.to_string().parse().unwrap_or(f64::NAN),
        );
        ctx.metrics.gauge(
            "signer_agent_topup_buffer_alert",
            if short { 1.0 } else { 0.0 },
        );
        if short {
            tracing::warn!(
                due_wei = %self.due_soon,
                available_wei = %self.available,
                within_days = ctx.maint.alert_runway_days,
                "the buffer cannot cover the cluster top-ups due within the alert window"
            );
        }
    }
}

/// A cluster's top-up (or reactivation) that is due now.
struct Due {
    action: Action,
    amount: U256,
    label: String,
    subject: String,
}

/// Whether the cluster `r` is due now, and for what: its runway on `/metrics`; a legacy cluster,
/// one with a transaction in flight or one whose fees cannot be read is skipped; one due within
/// the alert window adds what it will need to `pool.due_soon`.
async fn due(
    ctx: &Ctx<'_>,
    st: &Store,
    p: &mut Pass,
    c: &crate::config::Contracts,
    r: &ssv::ClusterReport,
    pool: &mut PoolFunds,
) -> Result<Option<Due>> {
    let m = ctx.maint;
    let ids = &r.operator_ids;
    let label = cluster_label(ids);
    if let Some(days) = r.runway_days {
        ctx.metrics
            .gauge(&format!("cluster_runway_days{{cluster=\"{label}\"}}"), days);
    }
    if r.funds.validators == 0 {
        return Ok(None);
    }
    let subject = cluster_subject(ids);
    if r.funds.kind == ClusterKind::Legacy {
        tracing::error!(cluster = %label, "legacy SSV-paid cluster: it cannot be topped up on SSV v2; governance must migrate it (clusters migration-plan)");
        p.waits.push(Wait::LegacyCluster { subject });
        return Ok(None);
    }
    if mstore::in_flight(st, &subject)? {
        p.waits.push(Wait::InFlight { subject });
        return Ok(None);
    }
    let params = match ssv::fee_params(ctx.provider, c.ssv_network_views, ids).await {
        Ok(x) => x,
        Err(e @ (Error::Refused(_) | Error::ClusterStopped { .. })) => {
            tracing::error!(cluster = %label, reason = %e, "cannot fund this cluster");
            return Ok(None);
        }
        Err(e) => return Err(e),
    };
    let eb = r.funds.effective_balance_eth;
    let target = balance_for_days(&params, eb, m.target_runway_days);
    let action = if !r.funds.active {
        tracing::error!(cluster = %label, validators = r.funds.validators, "cluster LIQUIDATED: its validators are not operated; reactivating it");
        Action::Reactivate
    } else if r.runway_days.is_some_and(|d| d < m.min_runway_days) {
        Action::TopUp
    } else {
        // Not due yet: is it due within the alert window? Then count what it will need.
        if r.runway_days
            .is_some_and(|d| d - m.min_runway_days <= m.alert_runway_days)
        {
            let at_trigger =
                ssv::fees_over(&params, eb, MaintenanceConfig::blocks(m.min_runway_days));
            pool.due_soon += top_up_amount(target, at_trigger);
        }
        return Ok(None);
    };
    let balance = if r.funds.active {
        r.funds.balance_wei
    } else {
        r.snapshot.balance
    };
    let amount = top_up_amount(target, balance);
    Ok((!amount.is_zero()).then_some(Due {
        action,
        amount,
        label,
        subject,
    }))
}

/// Why a due top-up is not sent now, if it is not: the PoolManager's cap per validator, the
/// policy's caps per transaction and per day, or a buffer that cannot pay it.
fn refusal(
    ctx: &Ctx<'_>,
    st: &Store,
    pool: &mut PoolFunds,
    r: &ssv::ClusterReport,
    due: &Due,
) -> Result<Option<Wait>> {
    let Due {
        action,
        amount,
        label,
        subject,
    } = due;
    let (amount, subject) = (*amount, subject.clone());
    let cap = pool.cap_per_validator * U256::from(r.funds.validators);
    if amount > cap {
        tracing::error!(cluster = %label, %amount, %cap, "top-up above the PoolManager's cap per validator; governance must raise it (setClusterFeeCap)");
        return Ok(Some(Wait::AboveContractCap {
            subject,
            amount_wei: amount.to_string(),
            cap_wei: cap.to_string(),
        }));
    }
    let policy = &pool.policy;
    let caps = &policy.maintenance;
    let over_tx = [
        ("topup_cap", caps.max_topup_per_tx_wei),
        ("ssv_fee_cap", policy.max_ssv_fee_per_tx_wei),
    ]
    .into_iter()
    .find(|(_, c)| amount > *c);
    if let Some((rule, cap)) = over_tx {
        tracing::error!(cluster = %label, %amount, %cap, rule, "top-up above the policy's cap per transaction: refused, nothing sent");
        ctx.metrics.refused(rule);
        return Ok(Some(Wait::AbovePolicyCap {
            action: action.as_str().into(),
            subject,
            amount: amount.to_string(),
            cap: cap.to_string(),
        }));
    }
    let (_, topped_today) =
        mstore::signed_on(st, &pool.day, &[Action::TopUp, Action::Reactivate], None)?;
    let fees_today = st.ssv_fees_on(&pool.day)?;
    if topped_today.saturating_add(amount) > caps.max_topup_per_day_wei
        || fees_today.saturating_add(amount) > policy.max_ssv_fee_per_day_wei
    {
        tracing::error!(cluster = %label, %amount, "daily top-up / SSV fee cap reached: waiting for the next UTC day");
        return Ok(Some(Wait::DailyCap {
            action: action.as_str().into(),
            subject,
        }));
    }
    if amount > pool.available {
        tracing::error!(cluster = %label, %amount, available = %pool.available, "the buffer cannot pay this cluster's top-up");
        pool.short_now = true;
        return Ok(Some(Wait::BufferShort {
            subject,
            needed_wei: amount.to_string(),
            available_wei: pool.available.to_string(),
        }));
    }
    Ok(None)
}

/// Sends the cluster's top-up or reactivation (crash-safe, `tx::send`); a refusal of the
/// policy skips it.
async fn send(
    ctx: &Ctx<'_>,
    st: &mut Store,
    p: &mut Pass,
    r: &ssv::ClusterReport,
    due: &Due,
    pool: &mut PoolFunds,
) -> Result<()> {
    let Due {
        action,
        amount,
        label,
        subject,
    } = due;
    let (action, amount) = (*action, *amount);
    let ids = r.operator_ids.clone();
    let input = match action {
        Action::Reactivate => IPoolManager::reactivateClusterCall {
            operatorIds: ids,
            amount,
            cluster: r.snapshot.clone(),
        }
        .abi_encode(),
        _ => IPoolManager::depositClusterETHCall {
            operatorIds: ids,
            amount,
            cluster: r.snapshot.clone(),
        }
        .abi_encode(),
    };
    let note = format!(
        "{} cluster {label}: {amount} wei for {} days of runway (was {})",
        action.as_str(),
        ctx.maint.target_runway_days,
        r.runway_days
            .map(|d| format!("{d:.2} days"))
            .unwrap_or_else(|| "liquidated".into())
    );
    let sent = refused_is_skip(
        tx::send(ctx, st, action, vec![subject.clone()], input, &note)
            .await
            .map(|s| {
                tracing::info!(tx = %s.hash, gas = s.gas_used, cluster = %label, %amount, action = action.as_str(), "cluster funded");
                if action == Action::Reactivate {
                    tracing::error!(cluster = %label, tx = %s.hash, "liquidated cluster reactivated");
                }
            }),
    )?;
    if sent {
        p.sent += 1;
        pool.available = pool.available.saturating_sub(amount);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> FeeParams {
        FeeParams {
            rate_wei: U256::from(4u64 * 1_770_000_000 + 3_550_900_000),
            liquidation_threshold_blocks: 50_190,
            minimum_collateral_wei: U256::from(940_000_000_000_000u64),
        }
    }

    #[test]
    fn target_balance_is_days_of_fees_and_never_below_the_threshold() {
        let p = params();
        // 60 days at 4 validators: 432,000 blocks + 64 for inclusion
        let want = ssv::fees_over(&p, 128, 432_064);
        assert_eq!(balance_for_days(&p, 128, 60.0), want);
        // 1 day is below the liquidation threshold: the threshold wins
        assert_eq!(
            balance_for_days(&p, 128, 1.0),
            ssv::target_balance(&p, 128, ssv::INCLUSION_BLOCKS)
        );
    }

    #[test]
    fn top_up_amounts_round_up_to_the_network_unit() {
        assert_eq!(
            top_up_amount(U256::from(1_000_000u64), U256::from(1u64)),
            U256::from(1_000_000u64)
        );
        assert_eq!(
            top_up_amount(U256::from(5u64), U256::from(10u64)),
            U256::ZERO
        );
    }
}
