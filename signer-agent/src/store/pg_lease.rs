//! The leadership lease's own connection to the PostgreSQL store: asynchronous (tokio-postgres
//! on the agent's runtime), over TLS as the configuration says ([`super::pg_tls`]), and named
//! on the server (`application_name = signer-agent/<instance>`) so that `status` lists the
//! instances connected and a test can cut one. It runs the lease's statements on the
//! `leadership` row the store's migrations create ([`super::lease`]); the store's own writes
//! that precede a signature are fenced by the same row ([`super::Store::set_fence`]).
//!
//! A connection of its own: a cut connection is noticed by the lease task at its next renewal
//! (the leader steps down), whatever the store's connection is doing.

use std::time::Duration;

use secrecy::ExposeSecret;
use tokio_postgres::{Client, NoTls};

pub use super::lease::Role;
use crate::error::{Error, Result};

/// The lease connection.
pub struct LeaseConn {
    client: Client,
    /// The URL as `redact::url` shows it.
    shown: String,
    /// Whether this connection holds its instance name's claim ([`LeaseConn::claim_name`]).
    claimed: std::sync::atomic::AtomicBool,
}

/// The first key of the session advisory locks that claim instance names (the second is the
/// name's `hashtext`): "kc-i" in ASCII, apart from any other advisory lock.
const NAME_CLAIMS: i32 = 0x6b63_2d69;

impl std::fmt::Debug for LeaseConn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeaseConn")
            .field("url", &self.shown)
            .finish()
    }
}

/// Runs a connection's I/O on the runtime until it closes (the client then fails fast).
fn spawn_connection<S, T>(shown: String, connection: tokio_postgres::Connection<S, T>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::warn!(url = %shown, error = %e, "state store connection closed");
        }
    });
}

/// Connects with `cfg`, over TLS with `tls` when given, and runs the connection's I/O on the
/// current runtime (the state store's thread, or the agent's).
pub(crate) async fn connect_client(
    cfg: &tokio_postgres::Config,
    tls: Option<rustls::ClientConfig>,
    shown: String,
) -> std::result::Result<Client, tokio_postgres::Error> {
    match tls {
        None => {
            let (client, connection) = cfg.connect(NoTls).await?;
            spawn_connection(shown, connection);
            Ok(client)
        }
        Some(t) => {
            let (client, connection) = cfg.connect(super::pg_tls::MakeRustls::new(t)).await?;
            spawn_connection(shown, connection);
            Ok(client)
        }
    }
}

/// An agent connected to the store now (`status`, `doctor`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Instance {
    /// Its `instance` name.
    pub name: String,
    /// Where it connects from (`local`: a Unix socket).
    pub address: String,
    /// Since when (its first open connection, UTC).
    pub since: String,
}

/// The lease as the database shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LeaseInfo {
    /// The holder's instance name (without the run's random part).
    pub holder: String,
    /// The fencing token: raised by every takeover.
    pub token: i64,
    /// When the lease runs out without renewal (UTC, RFC 3339, database clock).
    pub expires_at: String,
    /// Milliseconds until then (negative: expired; the next contender takes over).
    pub remaining_ms: i64,
}

impl LeaseInfo {
    /// Whether the lease is still held (not expired, not released).
    pub fn held(&self) -> bool {
        self.remaining_ms > 0
    }
}

/// The instance name in a lease holder (`instance#run`).
pub fn instance_of(holder: &str) -> &str {
    holder.split('#').next().unwrap_or(holder)
}

impl LeaseConn {
    /// Connects as `state_url` of the configuration says (the password from its file or the
    /// environment; TLS with the `[tls]` roots, certificate and host name verified, to a server
    /// off this host) (the store has migrated the schema). `application` names the connection on the
    /// server (`pg_stat_activity.application_name`): `signer-agent/<instance>` for a daemon,
    /// so that `status` can list the instances connected.
    pub async fn open(s: &super::pg_settings::PgSettings, application: &str) -> Result<LeaseConn> {
        let (mut cfg, shown) = super::db::parse_url(s.url())?;
        if let Some(p) = s.password() {
            cfg.password(p.expose_secret());
        }
        cfg.application_name(application);
        // A connection attempt never hangs longer than the lease it is for.
        cfg.connect_timeout(s.lease_timeout);
        let connected = |e| Error::Postgres {
            url: shown.clone(),
            action: "connect".into(),
            source: e,
        };
        let tls = match &s.transport {
            super::pg_settings::PgTransport::Plain => None,
            super::pg_settings::PgTransport::Tls(tls) => {
                cfg.ssl_mode(tokio_postgres::config::SslMode::Require);
                Some(crate::tls::client_config(tls)?)
            }
        };
        let client = connect_client(&cfg, tls, shown.clone())
            .await
            .map_err(connected)?;
        Ok(LeaseConn {
            client,
            shown,
            claimed: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// Claims `instance` for as long as this connection lives (a session advisory lock keyed by
    /// the name, released by the server when the connection ends, also when the process dies):
    /// `false` while another live connection holds it, i.e. another agent runs under the same
    /// name. The lease is held under the name, so two agents sharing one would both lead; a
    /// daemon takes the lease only while its connection holds the claim. (Two different names
    /// whose 32-bit hashes collide would also exclude each other: rename one.)
    pub async fn claim_name(&self, instance: &str) -> Result<bool> {
        use std::sync::atomic::Ordering;
        if self.claimed.load(Ordering::SeqCst) {
            return Ok(true);
        }
        let row = self
            .client
            .query_one(
                "SELECT pg_try_advisory_lock($1, hashtext($2))",
                &[&NAME_CLAIMS, &instance],
            )
            .await
            .map_err(self.err("claim the instance name"))?;
        let claimed: bool = row.get(0);
        self.claimed.store(claimed, Ordering::SeqCst);
        Ok(claimed)
    }

    /// The URL as `redact::url` shows it.
    pub fn shown(&self) -> &str {
        &self.shown
    }

    /// Whether the connection is gone (the server closed it, or the network did).
    pub fn is_closed(&self) -> bool {
        self.client.is_closed()
    }

    /// The agents connected now (`signer-agent/<instance>` connections), with the address they
    /// connect from and since when (UTC, RFC 3339).
    pub async fn instances(&self) -> Result<Vec<Instance>> {
        let rows = self
            .client
            .query(
                "SELECT substr(application_name, 14), COALESCE(host(client_addr), 'local'),
                        to_char(min(backend_start) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')
                 FROM pg_stat_activity WHERE application_name LIKE 'signer-agent/%'
                 GROUP BY 1, 2 ORDER BY 1, 2",
                &[],
            )
            .await
            .map_err(self.err("list the connected instances"))?;
        Ok(rows
            .iter()
            .map(|r| Instance {
                name: r.get(0),
                address: r.get(1),
                since: r.get(2),
            })
            .collect())
    }

    /// The client (tests).
    pub fn client(&self) -> &Client {
        &self.client
    }

    fn err(&self, action: &str) -> impl Fn(tokio_postgres::Error) -> Error + '_ {
        let action = action.to_owned();
        move |source| Error::Postgres {
            url: self.shown.clone(),
            action: action.clone(),
            source,
        }
    }
}

/// An instance's claim on the leadership lease.
#[derive(Debug, Clone)]
pub struct Lease {
    /// This instance's name (`instance`): a restarted agent resumes its own lease; two live
    /// agents cannot share it ([`LeaseConn::claim_name`]).
    pub holder: String,
    /// How long the lease lasts without renewal (`lease_timeout_secs`).
    pub ttl: Duration,
}

impl Lease {
    /// Takes the lease if it is free or expired (a new fencing token), renews it if this
    /// instance holds it (the same token); otherwise reports who holds it. Expiry is judged on
    /// the database's clock.
    pub async fn acquire(&self, pg: &LeaseConn) -> Result<Role> {
        let ttl_ms = self.ttl.as_millis() as f64;
        // The store's statement ([`super::lease::ACQUIRE`]): one for both callers.
        let row = pg
            .client
            .query_opt(
                &super::db::to_pg(super::lease::ACQUIRE),
                &[&self.holder, &ttl_ms],
            )
            .await
            .map_err(pg.err("take or renew the lease"))?;
        if let Some(row) = row {
            return Ok(Role::Leader { token: row.get(0) });
        }
        let holder: String = pg
            .client
            .query_one(super::lease::HOLDER, &[])
            .await
            .map_err(pg.err("read the lease"))?
            .get(0);
        Ok(Role::Standby { holder })
    }

    /// Whether this instance still holds the lease of `token` with at least `margin` left on
    /// the database's clock: checked just before the key signs, so that a signature is made
    /// only while no other instance can take over for `margin`.
    pub async fn still_held(&self, pg: &LeaseConn, token: i64, margin: Duration) -> Result<bool> {
        let margin_ms = margin.as_millis() as f64;
        let row = pg
            .client
            .query_opt(
                "SELECT 1 FROM leadership WHERE id = 1 AND holder = $1 AND token = $2
                   AND expires_at > clock_timestamp() + $3::float8 * interval '1 millisecond'",
                &[&self.holder, &token, &margin_ms],
            )
            .await
            .map_err(pg.err("check the lease"))?;
        Ok(row.is_some())
    }

    /// The lease as the database shows it (`None`: no instance ever held it).
    pub async fn info(pg: &LeaseConn) -> Result<Option<LeaseInfo>> {
        let row = pg
            .client
            .query_one(
                "SELECT holder, token,
                    CASE WHEN expires_at = '-infinity' THEN 'released'
                         ELSE to_char(expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') END,
                    CASE WHEN expires_at = '-infinity' THEN -1
                         ELSE (extract(epoch FROM expires_at - clock_timestamp()) * 1000)::bigint END
                 FROM leadership WHERE id = 1",
                &[],
            )
            .await
            .map_err(pg.err("read the lease"))?;
        let token: i64 = row.get(1);
        if token == 0 {
            return Ok(None);
        }
        let holder: String = row.get(0);
        Ok(Some(LeaseInfo {
            holder: instance_of(&holder).to_owned(),
            token,
            expires_at: row.get(2),
            remaining_ms: row.get(3),
        }))
    }

    /// Gives the lease up (a clean shutdown): the standby takes over at once instead of after
    /// the timeout.
    pub async fn release(&self, pg: &LeaseConn, token: i64) -> Result<()> {
        pg.client
            .execute(
                &super::db::to_pg(super::lease::RELEASE),
                &[&self.holder, &token],
            )
            .await
            .map(|_| ())
            .map_err(pg.err("release the lease"))
    }
}
