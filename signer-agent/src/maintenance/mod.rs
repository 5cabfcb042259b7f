//! The maintenance phase: what `run` does besides staking, when the configuration
//! has a `[maintenance]` section.
//!
//! - [`funding`]: every ETH cluster of the pool keeps a runway (balance over burn rate) of at
//!   least `min_runway_days`, topped up to `target_runway_days` through
//!   `PoolManager.depositClusterETH`; a liquidated cluster is reactivated
//!   (`PoolManager.reactivateCluster`, logged as an error); the buffer's ability to pay the next
//!   top-ups within `alert_runway_days` is watched. Legacy SSV clusters cannot be funded on v2:
//!   they are reported (migrate them).
//! - [`exits`]: when the unfunded withdrawal queue exceeds what the buffer, the ETH waiting for a
//!   report and the exiting validators will return, the fewest validators needed are exited
//!   (`PoolManager.requestValidatorExits`, `exit_order`); each is followed through the Beacon API
//!   (exit requested → exited → withdrawn), the queue is funded (`fundWithdrawals`) when that
//!   would fund a request, and withdrawn validators are removed from SSV
//!   (`PoolManager.removeValidators`, batched per cluster).
//! - [`reshare`]: validators of imported reshare bundles move to their new cluster
//!   (`PoolManager.reshareValidators`) in owner nonce order, within the staking cap of the day.
//!
//! Crash safety: every transaction goes through [`crate::replace::Sender`] like a stake: signed,
//! recorded (the transaction and, through its hook, the maintenance row `sent` with its
//! subjects) before it is broadcast, then followed through the mempool (replaced with bumped
//! fees within the caps, a dropped one decided again, a nonce used from outside stops the
//! agent) ([`tx`]). At start-up the unsettled ones are followed to their end, and a subject
//! (cluster or validator) with a transaction in flight gets no second one. Decisions are taken on
//! the chain's state (cluster snapshots, the queue) and the Beacon API, never on messages.
//!
//! Event queries (stakes, cluster events, operator keys) go through [`crate::logscan::Events`]:
//! chunked, from the deployment's first blocks, with cursors in the state store.

pub mod beacon;
pub mod cli;
pub mod exits;
pub mod funding;
pub mod reshare;
pub mod tx;

use serde::Serialize;

pub use crate::config::maintenance::{ExitOrder, MaintenanceConfig, MaintenanceFile};
use crate::error::{Error, Result};

/// What one maintenance pass did.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct Pass {
    /// Transactions confirmed in this pass.
    pub sent: usize,
    /// Duties that wait (each logged with its [`Wait`]).
    pub waits: Vec<Wait>,
}

/// Why a maintenance duty sends nothing now (not an error: the daemon goes on). Logged and
/// exported as `signer_agent_maintenance_waits{reason=…}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum Wait {
    /// A transaction for this subject is in flight.
    InFlight { subject: String },
    /// The buffer (minus what queued withdrawals need) cannot pay this.
    BufferShort {
        subject: String,
        needed_wei: String,
        available_wei: String,
    },
    /// The policy's daily cap for this action is used up today (UTC).
    DailyCap { action: String, subject: String },
    /// The amount is above the policy's per-transaction cap: the transaction would be refused.
    AbovePolicyCap {
        action: String,
        subject: String,
        amount: String,
        cap: String,
    },
    /// Above the PoolManager's cap on ETH per validator of the cluster.
    AboveContractCap {
        subject: String,
        amount_wei: String,
        cap_wei: String,
    },
    /// A legacy SSV cluster cannot be funded on v2: governance must migrate it.
    LegacyCluster { subject: String },
    /// No Beacon API configured: the exit lifecycle cannot be followed.
    NoBeacon,
    /// The next reshare's owner nonce is not the SSV network's yet.
    NonceOrder {
        subject: String,
        want: u64,
        chain: u64,
    },
    /// The reshare root is not (or no longer) approved.
    NotApproved { subject: String },
    /// An operator of a reshare's new cluster is gone, removed, private without whitelisting the
    /// PoolManager, or has another key than the shares were made for.
    OperatorMismatch {
        subject: String,
        operator: u64,
        problem: crate::ssv::OperatorProblem,
    },
}

impl Wait {
    /// The metric label.
    pub fn reason(&self) -> &'static str {
        match self {
            Wait::InFlight { .. } => "in_flight",
            Wait::BufferShort { .. } => "buffer_short",
            Wait::DailyCap { .. } => "daily_cap",
            Wait::AbovePolicyCap { .. } => "above_policy_cap",
            Wait::AboveContractCap { .. } => "above_contract_cap",
            Wait::LegacyCluster { .. } => "legacy_cluster",
            Wait::NoBeacon => "no_beacon",
            Wait::NonceOrder { .. } => "nonce_order",
            Wait::NotApproved { .. } => "not_approved",
            Wait::OperatorMismatch { .. } => "operator_mismatch",
        }
    }
}

/// Cluster label for metrics and the store: operator ids joined by `,`.
pub fn cluster_label(ids: &[u64]) -> String {
    ids.iter().map(u64::to_string).collect::<Vec<_>>().join(",")
}

/// Everything a maintenance pass needs.
pub struct Ctx<'a> {
    pub provider: &'a alloy::providers::DynProvider,
    /// Every event query (the daemon's scanner and cache).
    pub events: &'a crate::logscan::Events,
    pub wallet: &'a alloy::network::EthereumWallet,
    pub from: alloy::primitives::Address,
    pub cfg: &'a crate::config::Config,
    pub maint: &'a MaintenanceConfig,
    pub metrics: &'a crate::metrics::Metrics,
}

/// One maintenance pass: settle unsettled transactions, then funding, then exits. Returns what
/// was sent and what waits. RPC errors propagate (the daemon backs off); a refused transaction
/// (the policy) is logged and counted and the other duties go on.
pub async fn pass(ctx: &Ctx<'_>, st: &mut crate::store::Store) -> Result<Pass> {
    tx::reconcile(ctx, st).await?;
    let mut p = Pass::default();
    funding::run(ctx, st, &mut p).await?;
    exits::run(ctx, st, &mut p).await?;
    reshare::run(ctx, st, &mut p).await?;
    for w in &p.waits {
        tracing::info!(wait = ?w, "maintenance waits");
    }
    let mut by_reason: std::collections::BTreeMap<&str, u64> = Default::default();
    for w in &p.waits {
        *by_reason.entry(w.reason()).or_default() += 1;
    }
    for r in [
        "in_flight",
        "buffer_short",
        "daily_cap",
        "above_policy_cap",
        "above_contract_cap",
        "legacy_cluster",
        "no_beacon",
        "nonce_order",
        "not_approved",
        "operator_mismatch",
    ] {
        ctx.metrics.gauge(
            &format!("signer_agent_maintenance_waits{{reason=\"{r}\"}}"),
            by_reason.get(r).copied().unwrap_or(0) as f64,
        );
    }
    Ok(p)
}

/// Runs `f`; a policy refusal becomes `Ok(false)` (logged and counted by the policy signer), any
/// other error propagates.
pub(crate) fn refused_is_skip(r: Result<()>) -> Result<bool> {
    match r {
        Ok(()) => Ok(true),
        Err(Error::Refused(reason)) => {
            tracing::error!(%reason, rule = reason.rule(), "maintenance transaction refused; nothing sent");
            Ok(false)
        }
        Err(e) => Err(e),
    }
}
