//! Prometheus metrics (text exposition format) and a health endpoint, served on loopback.
//!
//! `GET /metrics`: counters and gauges below. `GET /health`: 200 `ok` while the daemon's loop
//! has succeeded within the last few poll intervals, else 503 with the last error. With a
//! shared store, both also show this instance's role in the leadership lease: `/health` adds
//! `role: leader|standby` and `holder: <instance>` lines, `/metrics` the gauges
//! `signer_agent_leader` (1 leading, 0 standing by) and `signer_agent_lease_token`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;

use crate::error::{Error, Result};

/// The agent's metrics.
#[derive(Debug, Default)]
pub struct Metrics {
    pub stake_transactions: AtomicU64,
    pub validators_staked: AtomicU64,
    pub rpc_errors: AtomicU64,
    pub loop_iterations: AtomicU64,
    pub gas_used: AtomicU64,
    /// Unix seconds of the last successful loop iteration.
    pub last_success: AtomicU64,
    /// Seconds after which `/health` reports unhealthy.
    pub stale_after: AtomicU64,
    refusals: Mutex<BTreeMap<String, u64>>,
    /// The transaction policy's refusal counters (by rule), when a signer is open.
    policy: Mutex<Option<crate::policy::Refusals>>,
    gauges: Mutex<BTreeMap<String, f64>>,
    last_error: Mutex<Option<String>>,
    /// This instance's role in the lease (a shared store), as its lease task sees it.
    lease: Mutex<Option<tokio::sync::watch::Receiver<crate::leader::View>>>,
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

impl Metrics {
    /// New metrics; `/health` is stale after `stale_after` seconds without success.
    pub fn new(stale_after: u64) -> Arc<Self> {
        let m = Metrics::default();
        m.stale_after.store(stale_after, Ordering::Relaxed);
        m.last_success.store(now(), Ordering::Relaxed);
        Arc::new(m)
    }

    /// Counts a refusal under a short rule name.
    pub fn refused(&self, rule: &str) {
        let mut r = self.refusals.lock().unwrap_or_else(|p| p.into_inner());
        *r.entry(rule.to_string()).or_default() += 1;
    }

    /// Exports the transaction policy's refusal counters with the others.
    pub fn attach_policy(&self, refusals: crate::policy::Refusals) {
        *self.policy.lock().unwrap_or_else(|p| p.into_inner()) = Some(refusals);
    }

    /// Shows this instance's role in the lease on `/health` and `/metrics`.
    pub fn attach_lease(&self, view: tokio::sync::watch::Receiver<crate::leader::View>) {
        *self.lease.lock().unwrap_or_else(|p| p.into_inner()) = Some(view);
    }

    /// This instance's role now (`None`: no shared store).
    pub fn lease(&self) -> Option<crate::leader::View> {
        self.lease
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .map(|rx| rx.borrow().clone())
    }

    /// Sets a gauge (name must be a valid metric name with optional `{labels}`).
    pub fn gauge(&self, name: &str, value: f64) {
        let mut g = self.gauges.lock().unwrap_or_else(|p| p.into_inner());
        g.insert(name.to_string(), value);
    }

    /// Marks a successful iteration.
    pub fn success(&self) {
        self.last_success.store(now(), Ordering::Relaxed);
        *self.last_error.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }

    /// Records an error.
    pub fn error(&self, e: &Error) {
        *self.last_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(e.to_string());
    }

    /// The text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let counter = |out: &mut String, name: &str, help: &str, v: u64| {
            out.push_str(&format!(
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}\n"
            ));
        };
        counter(
            &mut out,
            "signer_agent_stake_transactions_total",
            "Confirmed stake transactions.",
            self.stake_transactions.load(Ordering::Relaxed),
        );
        counter(
            &mut out,
            "signer_agent_validators_staked_total",
            "Validators staked by this process.",
            self.validators_staked.load(Ordering::Relaxed),
        );
        counter(
            &mut out,
            "signer_agent_rpc_errors_total",
            "RPC errors (each retried with back-off).",
            self.rpc_errors.load(Ordering::Relaxed),
        );
        counter(
            &mut out,
            "signer_agent_loop_iterations_total",
            "Daemon loop iterations.",
            self.loop_iterations.load(Ordering::Relaxed),
        );
        counter(
            &mut out,
            "signer_agent_gas_used_total",
            "Gas used by confirmed stake transactions.",
            self.gas_used.load(Ordering::Relaxed),
        );
        out.push_str("# HELP signer_agent_refusals_total Refusals by rule.\n# TYPE signer_agent_refusals_total counter\n");
        let mut all = self
            .refusals
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        if let Some(p) = self
            .policy
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
        {
            for (rule, n) in p.lock().unwrap_or_else(|p| p.into_inner()).iter() {
                *all.entry((*rule).to_string()).or_default() += n;
            }
        }
        for (rule, n) in all.iter() {
            out.push_str(&format!(
                "signer_agent_refusals_total{{rule=\"{rule}\"}} {n}\n"
            ));
        }
        out.push_str(&format!(
            "# HELP signer_agent_last_success_timestamp_seconds Last successful loop iteration.\n# TYPE signer_agent_last_success_timestamp_seconds gauge\nsigner_agent_last_success_timestamp_seconds {}\n",
            self.last_success.load(Ordering::Relaxed)
        ));
        for (name, v) in self.gauges.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            out.push_str(&format!("{name} {v}\n"));
        }
        if let Some(v) = self.lease() {
            out.push_str(&format!(
                "# HELP signer_agent_leader 1 while this instance holds the leadership lease.\n# TYPE signer_agent_leader gauge\nsigner_agent_leader {}\n",
                u8::from(v.leads())
            ));
            out.push_str(&format!(
                "# HELP signer_agent_lease_token The fencing token this instance leads under (0: standby).\n# TYPE signer_agent_lease_token gauge\nsigner_agent_lease_token {}\n",
                v.token.unwrap_or(0)
            ));
        }
        out
    }

    /// The `/health` lines of the lease (empty without a shared store).
    fn lease_lines(&self) -> String {
        match self.lease() {
            Some(v) => format!(
                "role: {}\nholder: {}\n",
                v.role,
                v.holder.as_deref().unwrap_or("(unknown)")
            ),
            None => String::new(),
        }
    }

    fn healthy(&self) -> (bool, String) {
        let age = now().saturating_sub(self.last_success.load(Ordering::Relaxed));
        let stale = self.stale_after.load(Ordering::Relaxed);
        let err = self
            .last_error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let lease = self.lease_lines();
        if age <= stale {
            (true, format!("ok\n{lease}"))
        } else {
            (
                false,
                format!(
                    "unhealthy: no successful iteration for {age} s; last error: {}\n{lease}",
                    err.unwrap_or_default()
                ),
            )
        }
    }
}

async fn metrics(State(m): State<Arc<Metrics>>) -> String {
    m.render()
}

async fn health(State(m): State<Arc<Metrics>>) -> (StatusCode, String) {
    match m.healthy() {
        (true, s) => (StatusCode::OK, s),
        (false, s) => (StatusCode::SERVICE_UNAVAILABLE, s),
    }
}

/// Binds `addr` and serves until `shutdown` resolves. Returns the bound address (port 0 picks
/// a free one).
pub async fn serve(
    addr: SocketAddr,
    m: Arc<Metrics>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| Error::Metrics {
            addr: addr.to_string(),
            message: format!("cannot bind: {e}"),
        })?;
    let bound = listener.local_addr().map_err(|e| Error::Metrics {
        addr: addr.to_string(),
        message: e.to_string(),
    })?;
    let app = Router::new()
        .route("/metrics", get(metrics))
        .route("/health", get(health))
        .with_state(m);
    let handle = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await
        {
            tracing::error!(error = %e, "metrics server stopped");
        }
    });
    Ok((bound, handle))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_refusals_are_exported_by_rule() {
        let m = Metrics::new(60);
        m.refused("gas_cap");
        let p: crate::policy::Refusals = Default::default();
        p.lock().unwrap().insert("validator_cap", 2);
        m.attach_policy(p.clone());
        *p.lock().unwrap().entry("target").or_default() += 1;
        let text = m.render();
        assert!(
            text.contains("signer_agent_refusals_total{rule=\"validator_cap\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("signer_agent_refusals_total{rule=\"target\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("signer_agent_refusals_total{rule=\"gas_cap\"} 1"),
            "{text}"
        );
    }

    #[test]
    fn the_lease_role_is_shown_on_health_and_metrics() {
        let m = Metrics::new(60);
        assert_eq!(m.healthy(), (true, "ok\n".to_string()));
        assert!(!m.render().contains("signer_agent_leader"));
        let (tx, rx) = tokio::sync::watch::channel(crate::leader::View {
            role: "standby",
            token: None,
            holder: Some("b".into()),
            last_renewal: None,
        });
        m.attach_lease(rx);
        assert_eq!(m.healthy().1, "ok\nrole: standby\nholder: b\n");
        assert!(m.render().contains("signer_agent_leader 0\n"));
        tx.send_replace(crate::leader::View {
            role: "leader",
            token: Some(7),
            holder: Some("a".into()),
            last_renewal: Some(1),
        });
        assert_eq!(m.healthy().1, "ok\nrole: leader\nholder: a\n");
        let text = m.render();
        assert!(text.contains("signer_agent_leader 1\n"), "{text}");
        assert!(text.contains("signer_agent_lease_token 7\n"), "{text}");
    }
}
