//! Leadership of two agents sharing a PostgreSQL state store: only the instance holding the
//! lease signs.
//!
//! [`Leadership::start`] opens the lease's own connection and runs the lease task: the leader
//! renews every third of `lease_timeout_secs`; the standby looks again when the holder's lease
//! is due to run out (database clock), so it takes over within `lease_timeout_secs` of the
//! leader's last renewal (plus one look of at most a third of it). The leader steps down *at
//! once* — before its lease has run out on the database — when a renewal fails, times out,
//! finds another holder, or its connection is cut; it then reconnects and competes again as a
//! standby.
//!
//! The daemon runs a pass only while [`Leadership::view`] says it leads, and drops the pass the
//! moment the lease is lost ([`Leadership::lost`]). The last line of defence is the [`Gate`] in
//! the policy signer: just before the key signs, the lease must still be this instance's, on
//! the database, for at least a third of the timeout: a deposed leader's signature is refused
//! ([`Error::Fenced`]) even if its daemon has not noticed yet; the store's fenced writes refuse
//! its late writes the same way.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::sync::{watch, RwLock};

use crate::config::state::PgSettings;
use crate::error::{Error, Result};
use crate::store::pg_lease::{instance_of, Lease, LeaseConn, LeaseInfo, Role};

/// This instance's role, as its lease task last saw it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct View {
    /// `leader` or `standby`.
    pub role: &'static str,
    /// The fencing token this instance leads under (leader only).
    pub token: Option<i64>,
    /// The holder's instance name (`None`: unknown — the store cannot be reached — or nobody).
    pub holder: Option<String>,
    /// Unix seconds of this instance's last successful renewal (leader only).
    pub last_renewal: Option<u64>,
}

impl View {
    fn standby(holder: Option<String>) -> View {
        View {
            role: "standby",
            token: None,
            holder,
            last_renewal: None,
        }
    }

    /// Whether this instance leads.
    pub fn leads(&self) -> bool {
        self.token.is_some()
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

/// This instance's claim on the lease and the task that keeps it.
pub struct Leadership {
    settings: PgSettings,
    lease: Lease,
    /// The lease's own connection (replaced when it is cut).
    pg: RwLock<Arc<LeaseConn>>,
    view: watch::Sender<View>,
    /// When this instance's lease runs out at the latest, by the local clock (set at the start
    /// of a successful renewal: the database's expiry is later).
    valid_until: std::sync::Mutex<Option<Instant>>,
    /// Released on shutdown: the task takes the lease no more.
    released: std::sync::atomic::AtomicBool,
    /// After stepping down, this instance only watches the lease until then: the standby,
    /// which looks when the lease runs out, takes it first (a leader cut from the store does
    /// not come back under its old term when its connection does).
    backoff_until: std::sync::Mutex<Option<Instant>>,
    /// Another live agent holds this instance name's claim (logged once).
    name_taken: std::sync::atomic::AtomicBool,
}

impl std::fmt::Debug for Leadership {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Leadership")
            .field("holder", &self.lease.holder)
            .field("view", &*self.view.borrow())
            .finish()
    }
}

/// The name of the lease connection on the server (`status` lists the instances by it).
pub fn application_name(instance: &str) -> String {
    format!("signer-agent/{instance}")
}

impl Leadership {
    /// Connects (a store that cannot be reached stops the start-up, named), then runs the lease
    /// task until the runtime ends. The first attempt to lead is made before this returns.
    pub async fn start(settings: &PgSettings) -> Result<Arc<Leadership>> {
        let pg = LeaseConn::open(settings, &application_name(&settings.instance)).await?;
        let l = Arc::new(Leadership {
            lease: Lease {
                // The instance's name: a restarted agent (after a crash) resumes its own lease
                // at once; a second live agent under the same name never leads (its claim on
                // the name is refused, see `attempt`).
                holder: settings.instance.clone(),
                ttl: settings.lease_timeout,
            },
            settings: settings.clone(),
            pg: RwLock::new(Arc::new(pg)),
            view: watch::channel(View::standby(None)).0,
            valid_until: std::sync::Mutex::new(None),
            released: std::sync::atomic::AtomicBool::new(false),
            backoff_until: std::sync::Mutex::new(None),
            name_taken: std::sync::atomic::AtomicBool::new(false),
        });
        let first = l.attempt().await;
        let task = l.clone();
        tokio::spawn(async move { task.keep(first).await });
        Ok(l)
    }

    /// This instance's role now.
    pub fn view(&self) -> View {
        self.view.borrow().clone()
    }

    /// A receiver of role changes.
    pub fn watch(&self) -> watch::Receiver<View> {
        self.view.subscribe()
    }

    /// `lease_timeout_secs`.
    pub fn lease_timeout(&self) -> Duration {
        self.settings.lease_timeout
    }

    /// This instance's name.
    pub fn instance(&self) -> &str {
        &self.settings.instance
    }

    /// Resolves when this instance no longer leads under `token`.
    pub async fn lost(&self, token: i64) {
        let mut rx = self.view.subscribe();
        let _ = rx.wait_for(|v| v.token != Some(token)).await;
    }

    /// The lease as the database shows it now.
    pub async fn info(&self) -> Result<Option<LeaseInfo>> {
        let pg = self.pg.read().await.clone();
        Lease::info(&pg).await
    }

    /// Gives the lease up (a clean shutdown): the standby takes over at once.
    pub async fn release(&self) {
        self.released
            .store(true, std::sync::atomic::Ordering::SeqCst);
        let token = self.view().token;
        self.step_down(None, "released on shutdown");
        if let Some(token) = token {
            let pg = self.pg.read().await.clone();
            if let Err(e) = self.lease.release(&pg, token).await {
                tracing::warn!(error = %e, "could not release the lease; the standby takes over when it runs out");
            }
        }
    }

    /// One attempt to take or renew the lease, bounded by a third of the timeout. `Ok(Some)`:
    /// the holder's lease has this long left (standby).
    async fn attempt(&self) -> std::result::Result<Option<Duration>, String> {
        let started = Instant::now();
        let pg = self.pg.read().await.clone();
        let backoff = *self.backoff_until.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(until) = backoff.filter(|u| started < *u) {
            // Stepped down a moment ago: only watch who holds the lease.
            let info = tokio::time::timeout(self.settings.renew_every(), Lease::info(&pg)).await;
            return match info {
                Ok(Ok(i)) => {
                    let holder = i.filter(LeaseInfo::held).map(|i| i.holder);
                    self.step_down(holder, "stepped down");
                    Ok(Some(until - started))
                }
                Ok(Err(e)) => Err(e.to_string()),
                Err(_) => Err("no answer from the state store".into()),
            };
        }
        // The lease is held under the instance name: take it only while this connection holds
        // the name's claim, so that a second agent started under the same name never leads.
        match tokio::time::timeout(
            self.settings.renew_every(),
            pg.claim_name(&self.settings.instance),
        )
        .await
        {
            Ok(Ok(true)) => {}
            Ok(Ok(false)) => {
                if !self
                    .name_taken
                    .swap(true, std::sync::atomic::Ordering::SeqCst)
                {
                    tracing::error!(instance = %self.settings.instance, "another agent runs under this instance name: this one stays a standby until it stops (give each agent its own instance)");
                }
                self.step_down(
                    Some(self.settings.instance.clone()),
                    "another agent runs under this instance name",
                );
                return Ok(Some(self.settings.renew_every()));
            }
            Ok(Err(e)) => return Err(e.to_string()),
            Err(_) => return Err("no answer from the state store".into()),
        }
        self.name_taken
            .store(false, std::sync::atomic::Ordering::SeqCst);
        let r = tokio::time::timeout(self.settings.renew_every(), self.lease.acquire(&pg)).await;
        match r {
            Ok(Ok(Role::Leader { token })) => {
                if self.released.load(std::sync::atomic::Ordering::SeqCst) {
                    // Released while this attempt was in flight: give it back at once.
                    let _ = self.lease.release(&pg, token).await;
                    return Ok(None);
                }
                *self.valid_until.lock().unwrap_or_else(|p| p.into_inner()) =
                    Some(started + self.settings.lease_timeout);
                let was = self.view().token;
                if was != Some(token) {
                    tracing::info!(instance = %self.settings.instance, token, "took the lease: leading");
                }
                self.view.send_replace(View {
                    role: "leader",
                    token: Some(token),
                    holder: Some(self.settings.instance.clone()),
                    last_renewal: Some(unix_now()),
                });
                Ok(None)
            }
            Ok(Ok(Role::Standby { holder })) => {
                let holder = instance_of(&holder).to_owned();
                self.step_down(Some(holder.clone()), "another instance holds the lease");
                let left = match Lease::info(&pg).await {
                    Ok(Some(i)) if i.held() => Duration::from_millis(i.remaining_ms as u64),
                    _ => Duration::ZERO,
                };
                Ok(Some(left))
            }
            Ok(Err(e)) => {
                self.step_down(None, "the lease could not be renewed");
                Err(e.to_string())
            }
            Err(_) => {
                self.step_down(None, "the lease renewal timed out");
                Err(format!(
                    "no answer from the state store within {:?}",
                    self.settings.renew_every()
                ))
            }
        }
    }

    /// No longer leading: logged once, the view updated (the daemon drops its pass).
    fn step_down(&self, holder: Option<String>, why: &str) {
        *self.valid_until.lock().unwrap_or_else(|p| p.into_inner()) = None;
        let was = self.view();
        if let Some(token) = was.token {
            tracing::error!(instance = %self.settings.instance, token, reason = why, "lost the lease: signing stopped");
            *self.backoff_until.lock().unwrap_or_else(|p| p.into_inner()) =
                Some(Instant::now() + self.settings.lease_timeout + self.settings.renew_every());
        }
        let next = View::standby(holder);
        if was != next {
            self.view.send_replace(next);
        }
    }

    /// The lease task: renew (leader) or look again when the holder's lease runs out
    /// (standby); reconnect when the connection is cut.
    async fn keep(self: Arc<Self>, mut last: std::result::Result<Option<Duration>, String>) {
        let every = self.settings.renew_every();
        loop {
            let wait = match &last {
                Ok(None) => every,
                // Look again just after the holder's lease runs out, at most a third later.
                Ok(Some(left)) => (*left + Duration::from_millis(50)).min(every),
                Err(e) => {
                    tracing::warn!(error = %crate::redact::scrub(e), "state store: lease attempt failed");
                    if self.pg.read().await.is_closed() {
                        self.reconnect().await;
                    }
                    every
                }
            };
            tokio::time::sleep(wait).await;
            if self.released.load(std::sync::atomic::Ordering::SeqCst) {
                return;
            }
            last = self.attempt().await;
        }
    }

    async fn reconnect(&self) {
        match LeaseConn::open(&self.settings, &application_name(&self.settings.instance)).await {
            Ok(pg) => {
                tracing::info!("state store: reconnected");
                *self.pg.write().await = Arc::new(pg);
            }
            Err(e) => tracing::warn!(error = %e, "state store: cannot reconnect yet"),
        }
    }

    /// The signer's gate over this leadership.
    pub fn gate(self: &Arc<Self>) -> Gate {
        Gate(GateKind::Lease(self.clone()))
    }
}

/// Asked by the policy signer just before the key signs: does this instance lead, on the
/// database, for at least a third of the timeout more?
#[derive(Clone, Debug)]
pub struct Gate(GateKind);

#[derive(Clone, Debug)]
enum GateKind {
    /// The daemon: its own lease.
    Lease(Arc<Leadership>),
    /// A one-off command (`oracle report`; `run --once` leads itself): it signs only on the
    /// host whose daemon leads (the lease held under this configuration's `instance`), or
    /// when no instance holds the lease. Connects when asked (a command that never signs
    /// never does).
    Instance(PgSettings),
}

impl Gate {
    /// The gate of a one-off command of `instance` (see [`GateKind::Instance`]).
    pub fn for_instance(settings: &PgSettings) -> Gate {
        Gate(GateKind::Instance(settings.clone()))
    }

    /// `Ok` when this instance may sign now; [`Error::Fenced`] when it does not hold the lease
    /// (or cannot show that it does).
    pub async fn check(&self) -> Result<()> {
        match &self.0 {
            GateKind::Lease(l) => l.check().await,
            GateKind::Instance(s) => instance_holds(s).await,
        }
    }
}

impl Leadership {
    async fn check(&self) -> Result<()> {
        let url = self.settings.shown.clone();
        let Some(token) = self.view().token else {
            return Err(Error::Fenced { url, token: 0 });
        };
        let margin = self.settings.renew_every();
        // By the local clock first: a lease whose renewal is overdue signs nothing, even with
        // the database out of reach.
        let local = *self.valid_until.lock().unwrap_or_else(|p| p.into_inner());
        if local.is_none_or(|until| Instant::now() + margin >= until) {
            return Err(Error::Fenced { url, token });
        }
        let pg = self.pg.read().await.clone();
        let held = tokio::time::timeout(margin, self.lease.still_held(&pg, token, margin)).await;
        match held {
            Ok(Ok(true)) => Ok(()),
            Ok(Ok(false)) => {
                self.step_down(None, "the lease is no longer this instance's");
                Err(Error::Fenced { url, token })
            }
            Ok(Err(e)) => {
                tracing::error!(error = %e, "cannot check the lease before signing: nothing signed");
                Err(Error::Fenced { url, token })
            }
            Err(_) => Err(Error::Fenced { url, token }),
        }
    }
}

/// Whether the lease is held under `s.instance` (by its daemon) for a third of the timeout
/// more; [`Error::Fenced`] (with the token seen) when not.
async fn instance_holds(s: &PgSettings) -> Result<()> {
    let pg = LeaseConn::open(s, &format!("signer-agent-cli/{}", s.instance)).await?;
    let info = Lease::info(&pg).await?;
    let margin_ms = s.renew_every().as_millis() as i64;
    match info {
        // Another instance leads (or this one's lease is about to run out): not here.
        Some(i) if i.held() && (i.holder != s.instance || i.remaining_ms <= margin_ms) => {
            let token = i.token;
            tracing::error!(
                instance = %s.instance,
                "this instance does not hold the lease (its daemon is not the leader): nothing signed"
            );
            Err(Error::Fenced {
                url: s.shown.clone(),
                token,
            })
        }
        // This instance's daemon leads, or no daemon does (a one-off command on a pool whose
        // agents are all stopped; the Oracle refuses a second report in a frame all the same).
        _ => Ok(()),
    }
}

/// Both instances and the lease, as `status` and `doctor` show them.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Overview {
    /// The store, as `redact::url` shows it.
    pub store: String,
    /// This configuration's instance.
    pub instance: String,
    /// The lease (`None`: never held).
    pub lease: Option<LeaseInfo>,
    /// The holder's last renewal: the expiry less `lease_timeout_secs` (UTC, RFC 3339).
    pub last_renewal: Option<String>,
    /// The agents connected to the store now, by their lease connections.
    pub instances: Vec<crate::store::pg_lease::Instance>,
}

impl Overview {
    /// Reads the lease and the connected instances.
    pub async fn read(s: &PgSettings) -> Result<Overview> {
        let pg = LeaseConn::open(s, &format!("signer-agent-cli/{}", s.instance)).await?;
        let lease = Lease::info(&pg).await?;
        let last_renewal = match &lease {
            Some(l) if l.held() => {
                let ms = s.lease_timeout.as_millis() as f64;
                let row = pg
                    .client()
                    .query_one(
                        "SELECT to_char((expires_at - $1::float8 * interval '1 millisecond') AT TIME ZONE 'UTC',
                                'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') FROM leadership WHERE id = 1",
                        &[&ms],
                    )
                    .await
                    .map_err(|e| Error::Postgres {
                        url: s.shown.clone(),
                        action: "read the lease".into(),
                        source: e,
                    })?;
                Some(row.get(0))
            }
            _ => None,
        };
        Ok(Overview {
            store: s.shown.clone(),
            instance: s.instance.clone(),
            lease,
            last_renewal,
            instances: pg.instances().await?,
        })
    }

    /// The role of instance `name`: `leader`, `standby` (connected, not holding the lease).
    pub fn role_of(&self, name: &str) -> &'static str {
        match &self.lease {
            Some(l) if l.held() && l.holder == name => "leader",
            _ => "standby",
        }
    }

    /// One line for the lease, one per connected instance.
    pub fn lines(&self) -> Vec<String> {
        let mut out = vec![match &self.lease {
            Some(l) if l.held() => format!(
                "lease on {}: held by {} (token {}), expires {} ({} ms left), last renewal {}",
                self.store,
                l.holder,
                l.token,
                l.expires_at,
                l.remaining_ms,
                self.last_renewal.as_deref().unwrap_or("-")
            ),
            Some(l) => format!(
                "lease on {}: free (last held by {} under token {}, {}): the next instance to look takes it",
                self.store, l.holder, l.token, l.expires_at
            ),
            None => format!("lease on {}: never held", self.store),
        }];
        if self.instances.is_empty() {
            out.push("instances: none connected".into());
        }
        for i in &self.instances {
            out.push(format!(
                "instance {}: {} (from {}, connected since {})",
                i.name,
                self.role_of(&i.name),
                i.address,
                i.since
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use kc_test_utils::postgres::Postgres;

    use super::*;
    use crate::config::state::{resolve, StateKeys};

    fn settings(url: &str, instance: &str, secs: u64) -> PgSettings {
        resolve(
            &StateKeys {
                state_url: Some(url.into()),
                instance: Some(instance.into()),
                lease_timeout_secs: Some(secs),
                ..Default::default()
            },
            None,
            &Default::default(),
        )
        .unwrap()
        .unwrap()
    }

    /// A PostgreSQL server with a state database whose schema (the lease row with it) the
    /// store has created: the server (kept alive by the caller), the URL and the location.
    fn store_with_schema() -> (Postgres, String, crate::store::StoreLocation) {
        let server = Postgres::start();
        let url = server.create_database("state");
        let location = crate::store::StoreLocation::Postgres {
            url: url.clone(),
            password: None,
        };
        drop(crate::store::Store::open_location(&location).unwrap());
        (server, url, location)
    }

    async fn wait_until(what: &str, limit: Duration, mut f: impl FnMut() -> bool) -> Duration {
        let t = Instant::now();
        while !f() {
            assert!(t.elapsed() < limit, "timed out waiting for {what}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        t.elapsed()
    }

    /// A leader whose connection is cut stops signing at once (its gate refuses before its
    /// lease has run out on the database), the standby takes over within the timeout, and the
    /// old token's late write is refused by the store.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_leader_cut_from_the_store_signs_nothing_more_and_the_standby_takes_over() {
        let (_server, url, location) = store_with_schema();
        let a = Leadership::start(&settings(&url, "a", 3)).await.unwrap();
        let b = Leadership::start(&settings(&url, "b", 3)).await.unwrap();
        let ta = a.view().token.expect("a starts first and leads");
        assert_eq!(b.view().role, "standby");
        assert_eq!(b.view().holder.as_deref(), Some("a"));
        a.gate().check().await.unwrap();
        assert!(matches!(
            b.gate().check().await,
            Err(Error::Fenced { token: 0, .. })
        ));
        let info = a.info().await.unwrap().unwrap();
        assert_eq!((info.holder.as_str(), info.token), ("a", ta));
        assert!(info.held());

        // Cut a's connection on the server.
        let (admin, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(conn);
        let cut = admin
            .execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'signer-agent/a'",
                &[],
            )
            .await
            .unwrap();
        assert_eq!(cut, 1);
        let cut_at = Instant::now();
        // a's next renewal (a second later at most) fails: it steps down before its lease
        // has run out on the database (3 s).
        wait_until("a to step down", Duration::from_secs(3), || {
            !a.view().leads()
        })
        .await;
        assert!(cut_at.elapsed() < Duration::from_secs(3));
        assert!(matches!(a.gate().check().await, Err(Error::Fenced { .. })));
        // b takes over within the timeout of a's last renewal (plus one look).
        let took = wait_until("b to take over", Duration::from_secs(6), || {
            b.view().leads()
        })
        .await;
        let tb = b.view().token.unwrap();
        assert!(tb > ta, "a takeover raises the token");
        assert!(
            took <= Duration::from_secs(4) + Duration::from_millis(500),
            "{took:?}"
        );
        b.gate().check().await.unwrap();
        // a's late write under its old token is refused by the store.
        let mut late = crate::store::Store::open_location(&location).unwrap();
        late.set_fence(Some(ta));
        let r = late.set_status(&[], crate::store::Status::Sent, None, None, None);
        assert!(
            matches!(r, Err(Error::Fenced { token, .. }) if token == ta),
            "{r:?}"
        );
        // a reconnects and stays a standby behind b.
        wait_until("a to see b leading", Duration::from_secs(6), || {
            a.view().holder.as_deref() == Some("b")
        })
        .await;
        assert!(!a.view().leads());
        // A clean release hands over at once.
        b.release().await;
        // (a stood down 4 s after its cut: the lease's timeout and a look.)
        wait_until("a to lead again", Duration::from_secs(6), || {
            a.view().leads()
        })
        .await;
        assert!(a.view().token.unwrap() > tb);
    }

    /// Two agents started under one instance name (a copied configuration): the lease is held
    /// under the name, so without the name's claim both would lead under one token. The second
    /// stays a standby while the first lives, and leads once the first is gone.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_second_agent_under_the_same_name_never_leads_while_the_first_lives() {
        let (_server, url, _) = store_with_schema();
        let first = Leadership::start(&settings(&url, "same", 3)).await.unwrap();
        let token = first.view().token.expect("the first agent leads");
        let second = Leadership::start(&settings(&url, "same", 3)).await.unwrap();
        // Over two lease periods (3 s each, renewed every second), the second never leads.
        let until = Instant::now() + Duration::from_secs(6);
        while Instant::now() < until {
            assert!(
                !second.view().leads(),
                "two agents named 'same' lead at once"
            );
            assert!(matches!(
                second.gate().check().await,
                Err(Error::Fenced { .. })
            ));
            assert_eq!(first.view().token, Some(token));
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        first.gate().check().await.unwrap();
        // The first stops (its lease released, its connection closed with its task): the
        // second takes the name and the lease.
        first.release().await;
        drop(first);
        wait_until("the second agent to lead", Duration::from_secs(6), || {
            second.view().leads()
        })
        .await;
        assert!(second.view().token.unwrap() > token);
        second.gate().check().await.unwrap();
    }
}
