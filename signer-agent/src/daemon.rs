//! The daemon (`run`): reconcile the state store with the chain at start-up (and follow a stake
//! still in the mempool), then — each pass — the maintenance duties, then the next stake
//! whenever the pool holds 32 ETH per validator. RPC errors back off; a refusal waits for the
//! next poll; SIGINT/SIGTERM stop it cleanly, closing the signer's HSM sessions.
//!
//! With a shared PostgreSQL store (`state_url`) two agents run this loop and only the holder of
//! the leadership lease ([`crate::leader`]) runs passes: the standby reads the chain and the
//! store (gauges, `/health`) and waits for the lease. Taking the lease starts with a settle
//! from the chain (what the old leader sent is found, not sent again); losing it drops the pass
//! in flight at once (as a crash would: every step is recorded before the next), and the key's
//! gate refuses any signature after that. With SQLite this agent always leads.

use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use alloy::network::EthereumWallet;
use alloy::primitives::{Address, U256};
use alloy::providers::DynProvider;

use crate::config::{Config, Contracts};
use crate::error::{Error, Result};
use crate::leader::Leadership;
use crate::logscan::Events;
use crate::metrics::Metrics;
use crate::stake::{FrontRunDeposit, Prepared, StakePlan};
use crate::store::{Status, Store};

/// What a pass asks for next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Next {
    /// Something changed on chain: run the next pass at once.
    Again,
    /// Nothing to do now: wait for the poll interval (or stop, with `--once`).
    Idle,
}

/// Runs the daemon until a signal (or, with `once`, until nothing more can be staked now).
pub async fn run(cfg: &Config, once: bool) -> Result<()> {
    let contracts = cfg.contracts()?;
    let provider = crate::chain::read_provider(cfg)?;
    let events = Events::for_config(cfg, &provider)?;
    let store = Store::open_location(&cfg.state_location()?)?;
    // Before any signing work: the lease (a shared store), whose gate the key signs behind.
    let leadership = match cfg.postgres() {
        Some(s) => Some(Leadership::start(s).await?),
        None => None,
    };
    let gate = leadership.as_ref().map(Leadership::gate);
    // The store's writes that precede a signature (its own and the policy signer's ledger)
    // are fenced by the token of the term they belong to.
    let fence = store.fence_handle();
    let (wallet, from, refusals) =
        crate::wallet::open_signer_gated(cfg, gate, Some(&fence)).await?;
    let metrics = Metrics::new(cfg.poll_interval_secs * 10 + 60);
    metrics.attach_policy(refusals);
    if let Some(l) = &leadership {
        metrics.attach_lease(l.watch());
    }
    let mut d = Daemon {
        cfg,
        contracts,
        events,
        store,
        provider,
        wallet,
        from,
        metrics,
        reconciled: false,
    };

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown_signal().await;
        let _ = stop_tx.send(true);
    });
    let mut server_stop = stop_rx.clone();
    let (bound, server) = crate::metrics::serve(cfg.metrics_addr, d.metrics.clone(), async move {
        let _ = server_stop.wait_for(|s| *s).await;
    })
    .await?;
    tracing::info!(%bound, address = %from, "signer-agent running");

    let mut backoff = Duration::from_secs(1);
    let mut stop = stop_rx.clone();
    // The fencing token the passes run under (a shared store), to notice a new term.
    let mut term: Option<i64> = None;
    // `--once` as standby waits once for the holder's lease to run out (a crashed run of this
    // agent holds it until then; a live holder renews it and this run ends as standby).
    let mut waited_for_lease = false;
    let result = loop {
        if *stop.borrow() {
            tracing::info!("stopping on signal");
            break Ok(());
        }
        d.metrics.loop_iterations.fetch_add(1, Relaxed);
        if let Some(l) = &leadership {
            match l.view().token {
                None => {
                    // Standby: whatever the last term did is settled again by the next one.
                    term = None;
                    d.reconciled = false;
                    if once && !waited_for_lease {
                        waited_for_lease = true;
                        let mut changed = l.watch();
                        tokio::select! {
                            _ = tokio::time::sleep(l.lease_timeout() + Duration::from_secs(2)) => {}
                            _ = changed.wait_for(|v| v.leads()) => {}
                            _ = stop.wait_for(|s| *s) => {}
                        }
                        continue;
                    }
                    if once {
                        let holder = l.view().holder.unwrap_or_else(|| "(unknown)".into());
                        tracing::info!(%holder, "standby: another instance holds the lease; nothing to do");
                        break Ok(());
                    }
                    d.stand_by().await;
                    let mut changed = l.watch();
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_secs(cfg.poll_interval_secs)) => {}
                        _ = changed.wait_for(|v| v.leads()) => {}
                        _ = stop.wait_for(|s| *s) => {}
                    }
                    continue;
                }
                Some(t) if term != Some(t) => {
                    tracing::info!(
                        token = t,
                        "leading: settling from the chain before anything is signed"
                    );
                    term = Some(t);
                    // From now on a write of this term is refused once the token moves on.
                    d.store.set_fence(Some(t));
                    d.reconciled = false;
                }
                Some(_) => {}
            }
        }
        let outcome = match (&leadership, term) {
            (Some(l), Some(t)) => tokio::select! {
                r = d.pass() => r,
                _ = l.lost(t) => Err(Error::Fenced { url: cfg.postgres().map(|s| s.shown.clone()).unwrap_or_default(), token: t }),
            },
            _ => d.pass().await,
        };
        let wait = match outcome {
            Ok(next) => {
                d.metrics.success();
                backoff = Duration::from_secs(1);
                match next {
                    Next::Again => continue,
                    Next::Idle if once => break Ok(()),
                    Next::Idle => Duration::from_secs(cfg.poll_interval_secs),
                }
            }
            Err(e) => match d.after_error(e, once, &mut backoff) {
                Ok(wait) => wait,
                Err(e) => break Err(e),
            },
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = stop.wait_for(|s| *s) => {}
        }
    };
    if let Some(l) = &leadership {
        // The standby takes over at once instead of after the timeout.
        l.release().await;
    }
    drop(stop_rx);
    server.abort();
    // Shutdown: the signer's HSM sessions are closed, not left to the process exit.
    let closed = crate::signer::pkcs11::close_all();
    tracing::info!(sessions = closed, "closed the signer's HSM sessions");
    result
}

/// The daemon's state between passes.
struct Daemon<'a> {
    cfg: &'a Config,
    contracts: Contracts,
    provider: DynProvider,
    events: Events,
    store: Store,
    wallet: EthereumWallet,
    from: Address,
    metrics: std::sync::Arc<Metrics>,
    /// The store was settled from the chain since the start or the last doubt.
    reconciled: bool,
}

impl Daemon<'_> {
    /// One pass: settle from the chain when needed, the maintenance duties, the next stake.
    async fn pass(&mut self) -> Result<Next> {
        if !self.reconciled {
            if let Some(next) = self.settle().await? {
                return Ok(next);
            }
        }
        update_gauges(&self.metrics, &self.provider, self.cfg, &self.store).await;
        if self.maintenance().await? {
            // Read the chain again before anything else.
            return Ok(Next::Again);
        }
        let prepared =
            crate::stake::prepare(&self.events, self.cfg, &self.store, Some(self.from)).await?;
        match prepared {
            Prepared::Done => {
                tracing::info!("every imported validator is staked");
                Ok(Next::Idle)
            }
            Prepared::Waiting { reason } => {
                tracing::info!(%reason, "waiting");
                if reason.needs_reconcile() {
                    // Settle from the chain, then try again.
                    self.reconciled = false;
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    return Ok(Next::Again);
                }
                Ok(Next::Idle)
            }
            Prepared::FrontRun { deposits } => self.refuse_front_run(&deposits),
            Prepared::Ready(plan) => self.stake(&plan).await,
        }
    }

    /// Reconciles the store with the chain, then follows a stake still in the mempool (sent
    /// before a restart) to the end, replacing it when it is not mined. `Some` when that
    /// decides the pass.
    async fn settle(&mut self) -> Result<Option<Next>> {
        crate::chain::check_chain(&self.provider, self.cfg.chain_id).await?;
        let n = crate::stake::reconcile(
            &self.events,
            &self.contracts,
            &mut self.store,
            Some(self.from),
        )
        .await?;
        tracing::info!(changed = n, "reconciled the state store with the chain");
        self.reconciled = true;
        let resumed = crate::stake::resume(
            &self.provider,
            &self.wallet,
            self.from,
            self.cfg,
            &mut self.store,
        )
        .await;
        match resumed {
            Ok(Some((tx, block, gas))) => {
                tracing::info!(%tx, block, gas, "staked (a transaction sent before the restart)");
                Ok(Some(Next::Again))
            }
            Ok(None) => Ok(None),
            Err(Error::TxDropped { tx, nonce }) => {
                tracing::warn!(%tx, nonce, "dropped from the mempool: planning again");
                self.reconciled = false;
                Ok(Some(Next::Again))
            }
            Err(e) => Err(e),
        }
    }

    /// The standby's pass: it reads the chain and the store (the gauges) and signs nothing.
    async fn stand_by(&mut self) {
        update_gauges(&self.metrics, &self.provider, self.cfg, &self.store).await;
        match crate::chain::check_chain(&self.provider, self.cfg.chain_id).await {
            Ok(()) => self.metrics.success(),
            Err(e) => self.metrics.error(&e),
        }
    }

    /// The maintenance duties (with `[maintenance]`); whether they sent anything.
    async fn maintenance(&mut self) -> Result<bool> {
        let Some(maint) = &self.cfg.maintenance else {
            return Ok(false);
        };
        let ctx = crate::maintenance::Ctx {
            provider: &self.provider,
            events: &self.events,
            wallet: &self.wallet,
            from: self.from,
            cfg: self.cfg,
            maint,
            metrics: &self.metrics,
        };
        Ok(crate::maintenance::pass(&ctx, &mut self.store).await?.sent > 0)
    }

    /// Marks front-run keys refused (never staked by the pool), then plans again without them.
    fn refuse_front_run(&mut self, deposits: &[FrontRunDeposit]) -> Result<Next> {
        for d in deposits {
            let reason = d.reason();
            tracing::error!(
                rule = "front_run",
                pubkey = %d.pubkey,
                deposit_tx = d.tx.as_deref().unwrap_or("unknown"),
                %reason,
                "deposit front-running: validator refused; nothing signed or sent for it"
            );
            self.metrics.refused("front_run");
            self.store.set_status(
                std::slice::from_ref(&d.pubkey),
                Status::Refused,
                None,
                None,
                Some(&reason),
            )?;
        }
        Ok(Next::Again)
    }

    /// Sends a planned stake and follows it to its outcome.
    async fn stake(&mut self, plan: &StakePlan) -> Result<Next> {
        let k = plan.validators.len();
        let sent = crate::stake::send(
            &self.provider,
            &self.wallet,
            self.from,
            self.cfg,
            &mut self.store,
            plan,
        )
        .await;
        match sent {
            Ok((tx, block, gas)) => {
                self.metrics.stake_transactions.fetch_add(1, Relaxed);
                self.metrics.validators_staked.fetch_add(k as u64, Relaxed);
                self.metrics.gas_used.fetch_add(gas, Relaxed);
                tracing::info!(%tx, block, gas, validators = k, "staked");
                Ok(Next::Again)
            }
            Err(Error::TxDropped { tx, nonce }) => {
                // Its validators are eligible again; plan anew (same nonce).
                tracing::warn!(%tx, nonce, "dropped from the mempool: planning again");
                self.reconciled = false;
                Ok(Next::Again)
            }
            Err(e) => {
                self.reconciled = false;
                Err(e)
            }
        }
    }

    /// How long to wait after a failed pass (counted and logged), or the error that stops the
    /// daemon.
    fn after_error(&self, e: Error, once: bool, backoff: &mut Duration) -> Result<Duration> {
        let m = &self.metrics;
        if let Some(rule) = e.refusal_rule() {
            // A policy refusal was counted by the policy signer under its own rule.
            if !matches!(&e, Error::Refused(r) if r.counted_by_policy()) {
                m.refused(rule);
            }
            m.error(&e);
            tracing::error!(error = %e, rule, "refused; nothing sent");
            if once {
                return Err(e);
            }
            return Ok(Duration::from_secs(self.cfg.poll_interval_secs));
        }
        match e {
            // The lease moved on (or could not be shown to be held) while this instance led: it
            // stands by now; the next leader settles whatever this pass left from the chain.
            e @ Error::Fenced { .. } if !once => {
                m.error(&e);
                tracing::error!(error = %e, "no longer the leader: signing stopped; standing by");
                Ok(Duration::from_secs(1))
            }
            e @ (Error::Rpc { .. } | Error::Transaction { .. }) => {
                m.rpc_errors.fetch_add(1, Relaxed);
                m.error(&e);
                tracing::warn!(error = %e, backoff_secs = backoff.as_secs(), "rpc error; backing off");
                if once && *backoff > Duration::from_secs(8) {
                    return Err(e);
                }
                let w = *backoff;
                *backoff = (*backoff * 2).min(Duration::from_secs(300));
                Ok(w)
            }
            e => Err(e),
        }
    }
}

async fn update_gauges(m: &Metrics, provider: &DynProvider, cfg: &Config, store: &Store) {
    if let Ok(vs) = store.validators() {
        for s in [
            Status::Imported,
            Status::Sent,
            Status::Confirmed,
            Status::Reverted,
            Status::Refused,
        ] {
            let n = vs.iter().filter(|v| v.status == s).count();
            m.gauge(
                &format!("signer_agent_validators{{status=\"{}\"}}", s.as_str()),
                n as f64,
            );
        }
    }
    if let Ok(c) = cfg.contracts() {
        let pm = crate::chain::IPoolManager::new(c.pool_manager, provider.clone());
        if let Ok(b) = pm.bufferedEther().call().await {
            m.gauge("signer_agent_pool_buffered_ether_wei", u256_f64(b));
        }
    }
}

fn u256_f64(v: U256) -> f64 {
    v.to_string().parse().unwrap_or(f64::NAN)
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
