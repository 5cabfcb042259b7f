//! The state store on PostgreSQL (`state_url = "postgres://…"`), for two agents sharing one
//! truth: the schema of [`super::schema`] at the same version numbers (tables, CHECK
//! constraints, append-only history and ledgers), and the leadership lease with its fencing
//! token ([`Lease`]).
//!
//! - The schema version lives in `kc_schema`; migrations run in one transaction under an
//!   advisory lock (two agents starting together migrate once); a database newer than the agent
//!   is refused ([`Error::StoreTooNew`]).
//! - `history`, `policy_ledger`, `superseded` and `maintenance_ledger` refuse UPDATE, DELETE and
//!   TRUNCATE by trigger, as on SQLite.
//! - `leadership` is one row: the holder, its fencing token (raised by every takeover) and the
//!   lease's expiry on the database's clock (one clock for every instance). A write that precedes
//!   a signature runs [`PgStore::set_status_fenced`]: in its transaction the lease row is locked
//!   and checked against the writer's token, so a deposed leader's late write is refused
//!   ([`Error::Fenced`]) and a takeover waits for a fenced write in flight.
//!
//! Not yet: the rest of the agent's store behind one interface with this backend (the agent
//! uses SQLite), TLS to a server that is not on loopback or a Unix socket (refused).

use std::str::FromStr;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use tokio_postgres::config::Host;
use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, NoTls};

use super::ledger::{day_totals, DayTotals, LedgerLine};
use super::rows::{LedgerEntry, Status};
use super::schema::VERSION;
use crate::error::{Error, Result};

/// Version 2 of the schema (the version SQLite reaches through its migrations), for an empty
/// PostgreSQL database: the same tables, columns, CHECK constraints and append-only rules.
const PG_V2: &str = r#"
CREATE TABLE bundles (
    id TEXT PRIMARY KEY,
    ceremony_id TEXT NOT NULL,
    path TEXT NOT NULL,
    operator_ids TEXT NOT NULL,
    withdrawal_type SMALLINT NOT NULL,
    identity TEXT NOT NULL,
    imported_at TEXT NOT NULL
);
CREATE TABLE validators (
    pubkey TEXT PRIMARY KEY,
    bundle_id TEXT NOT NULL REFERENCES bundles(id),
    idx BIGINT NOT NULL CHECK (idx >= 0),
    position BIGINT NOT NULL CHECK (position >= 0),
    owner_nonce BIGINT NOT NULL CHECK (owner_nonce >= 0),
    status TEXT NOT NULL CHECK (status IN ('imported', 'sent', 'confirmed', 'reverted', 'refused')),
    tx_hash TEXT,
    block_number BIGINT CHECK (block_number >= 0),
    signature BYTEA NOT NULL CHECK (length(signature) = 96),
    deposit_data_root BYTEA NOT NULL CHECK (length(deposit_data_root) = 32),
    shares_data BYTEA NOT NULL,
    leaf BYTEA NOT NULL CHECK (length(leaf) = 32)
);
CREATE TABLE history (
    seq BIGSERIAL PRIMARY KEY,
    pubkey TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('imported', 'sent', 'confirmed', 'reverted', 'refused',
        'superseded', 'exit_requested', 'exiting', 'exited', 'withdrawn', 'removed',
        'reshared', 'reshare_imported')),
    tx_hash TEXT,
    block_number BIGINT,
    at TEXT NOT NULL,
    note TEXT
);
CREATE TABLE bundle_facts (
    bundle_id TEXT PRIMARY KEY REFERENCES bundles(id),
    withdrawal_address TEXT NOT NULL,
    owner_address TEXT NOT NULL,
    operators TEXT NOT NULL
);
CREATE TABLE policy_ledger (
    seq BIGSERIAL PRIMARY KEY,
    day TEXT NOT NULL,
    at TEXT NOT NULL,
    sighash TEXT NOT NULL,
    target TEXT NOT NULL,
    selector TEXT NOT NULL,
    value_wei TEXT NOT NULL,
    validators BIGINT NOT NULL,
    ssv_fee_wei TEXT NOT NULL DEFAULT '0',
    nonce BIGINT
);
CREATE INDEX policy_ledger_day ON policy_ledger(day);
CREATE TABLE deposit_scan (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    deposit_contract TEXT NOT NULL,
    first_block BIGINT NOT NULL,
    keys_digest TEXT NOT NULL,
    scanned_from BIGINT NOT NULL,
    last_block BIGINT NOT NULL
);
CREATE TABLE foreign_deposits (
    pubkey TEXT PRIMARY KEY,
    tx_hash TEXT,
    block_number BIGINT,
    withdrawal_credentials TEXT NOT NULL,
    found_at TEXT NOT NULL
);
CREATE TABLE superseded (
    pubkey TEXT NOT NULL,
    bundle_id TEXT NOT NULL REFERENCES bundles(id),
    idx BIGINT NOT NULL,
    position BIGINT NOT NULL,
    owner_nonce BIGINT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('imported', 'reverted')),
    leaf BYTEA NOT NULL CHECK (length(leaf) = 32),
    by_bundle TEXT NOT NULL REFERENCES bundles(id),
    at TEXT NOT NULL,
    PRIMARY KEY (pubkey, bundle_id)
);
CREATE TABLE maint_tx (
    hash TEXT PRIMARY KEY,
    action TEXT NOT NULL CHECK (action IN ('top_up', 'reactivate', 'exit', 'fund', 'remove', 'reshare')),
    subjects TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('sent', 'confirmed', 'reverted', 'dropped')),
    nonce BIGINT,
    block_number BIGINT,
    sent_at TEXT NOT NULL,
    settled_at TEXT,
    note TEXT
);
CREATE TABLE exits (
    pubkey TEXT PRIMARY KEY,
    operator_ids TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('exit_requested', 'exiting', 'exited', 'withdrawn', 'removed')),
    tx_hash TEXT,
    updated_at TEXT NOT NULL
);
CREATE TABLE maintenance_ledger (
    seq BIGSERIAL PRIMARY KEY,
    day TEXT NOT NULL,
    at TEXT NOT NULL,
    sighash TEXT NOT NULL,
    action TEXT NOT NULL CHECK (action IN ('top_up', 'reactivate', 'exit', 'fund', 'remove', 'reshare')),
    count BIGINT NOT NULL,
    amount_wei TEXT NOT NULL,
    nonce BIGINT
);
-- Per statement: refused even when it would touch no row.
CREATE FUNCTION kc_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only', TG_TABLE_NAME USING ERRCODE = 'KCA01';
END $$;
CREATE TRIGGER history_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON history
    FOR EACH STATEMENT EXECUTE FUNCTION kc_append_only();
CREATE TRIGGER policy_ledger_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON policy_ledger
    FOR EACH STATEMENT EXECUTE FUNCTION kc_append_only();
CREATE TRIGGER superseded_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON superseded
    FOR EACH STATEMENT EXECUTE FUNCTION kc_append_only();
CREATE TRIGGER maintenance_ledger_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON maintenance_ledger
    FOR EACH STATEMENT EXECUTE FUNCTION kc_append_only();

CREATE TABLE leadership (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    holder TEXT NOT NULL,
    token BIGINT NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);
INSERT INTO leadership VALUES (1, '', 0, '-infinity');
"#;

/// The advisory lock key under which migrations run ("kcschema" in ASCII).
const MIGRATION_LOCK: i64 = 0x6b63_7363_6865_6d61;

/// The fencing check of a write that precedes a signature: the lease row of token `$1`, still
/// valid, locked until the transaction ends (a takeover's UPDATE waits for it).
const FENCE_CHECK: &str = "SELECT 1 FROM leadership WHERE id = 1 AND token = $1 AND expires_at > clock_timestamp() FOR SHARE";

/// An open PostgreSQL state store.
pub struct PgStore {
    client: Client,
    /// The URL as `redact::url` shows it.
    shown: String,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore").field("url", &self.shown).finish()
    }
}

/// Whether every host of `cfg` is on this machine (loopback address, `localhost`, Unix socket).
fn local_only(cfg: &tokio_postgres::Config) -> bool {
    cfg.get_hosts().iter().all(|h| match h {
        Host::Unix(_) => true,
        Host::Tcp(name) => {
            name == "localhost"
                || name
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback())
        }
    })
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

impl PgStore {
    /// Connects to `url` (`postgres://user@host:port/db`), with `password` from a file or the
    /// environment when given (never part of a message), and migrates the schema to
    /// [`VERSION`]. Must run on the agent's tokio runtime (the connection is a task of it).
    pub async fn connect(url: &str, password: Option<&SecretString>) -> Result<PgStore> {
        crate::redact::register_url(url);
        if let Some(p) = password {
            crate::redact::register(p.expose_secret());
        }
        let shown = crate::redact::url(url);
        let mut cfg = tokio_postgres::Config::from_str(url).map_err(|e| {
            Error::config(
                "state_url",
                format!(
                    "{shown}: not a PostgreSQL URL: {}",
                    crate::redact::scrub(&e.to_string())
                ),
            )
        })?;
        if !local_only(&cfg) {
            return Err(Error::config(
                "state_url",
                format!("{shown}: TLS to PostgreSQL is not supported yet: only a server on loopback or a Unix socket is accepted"),
            ));
        }
        if let Some(p) = password {
            cfg.password(p.expose_secret());
        }
        cfg.application_name("signer-agent");
        let (client, connection) = cfg.connect(NoTls).await.map_err(|e| Error::Postgres {
            url: shown.clone(),
            action: "connect".into(),
            source: e,
        })?;
        let conn_url = shown.clone();
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::warn!(url = %conn_url, error = %e, "state store connection closed");
            }
        });
        let mut s = PgStore { client, shown };
        s.migrate().await?;
        Ok(s)
    }

    /// Connects as `state_url` of the configuration says (the password from its file or the
    /// environment; TLS with the `[tls]` roots, certificate and host name verified, to a server
    /// off this host) and migrates the schema. `application` names the connection on the
    /// server (`pg_stat_activity.application_name`): `signer-agent/<instance>` for a daemon,
    /// so that `status` can list the instances connected.
    pub async fn open(s: &crate::config::state::PgSettings, application: &str) -> Result<PgStore> {
        let shown = s.shown.clone();
        let mut cfg = tokio_postgres::Config::from_str(s.url()).map_err(|e| {
            Error::config(
                "state_url",
                format!(
                    "{shown}: not a PostgreSQL URL: {}",
                    crate::redact::scrub(&e.to_string())
                ),
            )
        })?;
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
        let client = match &s.transport {
            crate::config::state::PgTransport::Plain => {
                let (client, connection) = cfg.connect(NoTls).await.map_err(connected)?;
                spawn_connection(shown.clone(), connection);
                client
            }
            crate::config::state::PgTransport::Tls(tls) => {
                cfg.ssl_mode(tokio_postgres::config::SslMode::Require);
                let make = super::pg_tls::MakeRustls::new(crate::tls::client_config(tls)?);
                let (client, connection) = cfg.connect(make).await.map_err(connected)?;
                spawn_connection(shown.clone(), connection);
                client
            }
        };
        let mut st = PgStore { client, shown };
        st.migrate().await?;
        Ok(st)
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

    fn err(&self, action: &str) -> impl Fn(tokio_postgres::Error) -> Error + '_ {
        let action = action.to_owned();
        move |source| Error::Postgres {
            url: self.shown.clone(),
            action: action.clone(),
            source,
        }
    }

    /// The schema version of the database (0: empty).
    pub async fn version(&self) -> Result<i64> {
        let row = self
            .client
            .query_opt("SELECT version FROM kc_schema", &[])
            .await;
        match row {
            Ok(r) => Ok(r.map(|r| r.get(0)).unwrap_or(0)),
            Err(e) if e.code() == Some(&SqlState::UNDEFINED_TABLE) => Ok(0),
            Err(e) => Err(self.err("read the schema version")(e)),
        }
    }

    /// Brings the database to [`VERSION`] in one transaction, under an advisory lock; refuses
    /// a database newer than this agent.
    async fn migrate(&mut self) -> Result<()> {
        let shown = self.shown.clone();
        let e = |action: &'static str| {
            let shown = shown.clone();
            move |source| Error::Postgres {
                url: shown.clone(),
                action: action.into(),
                source,
            }
        };
        let tx = self
            .client
            .transaction()
            .await
            .map_err(e("begin the schema migration"))?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
            .await
            .map_err(e("lock the schema migration"))?;
        tx.batch_execute("CREATE TABLE IF NOT EXISTS kc_schema (one INTEGER PRIMARY KEY CHECK (one = 1), version BIGINT NOT NULL)")
            .await
            .map_err(e("create the schema version table"))?;
        let found: i64 = tx
            .query_opt("SELECT version FROM kc_schema", &[])
            .await
            .map_err(e("read the schema version"))?
            .map(|r| r.get(0))
            .unwrap_or(0);
        if found > VERSION {
            return Err(Error::StoreTooNew {
                store: shown.clone(),
                found,
                supported: VERSION,
            });
        }
        if found < VERSION {
            // PostgreSQL stores start at version 2: there is no older PostgreSQL schema.
            tx.batch_execute(PG_V2)
                .await
                .map_err(e("migrate the schema to version 2"))?;
            tx.execute(
                "INSERT INTO kc_schema (one, version) VALUES (1, $1) ON CONFLICT (one) DO UPDATE SET version = $1",
                &[&VERSION],
            )
            .await
            .map_err(e("record the schema version"))?;
        }
        tx.commit().await.map_err(e("commit the schema migration"))
    }

    /// The client, for tests and the modules that move onto this backend.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// [`Error::Postgres`] for `action` on this database, usable while a transaction holds
    /// `&mut self`.
    fn pg_error(shown: &str, action: &'static str) -> impl Fn(tokio_postgres::Error) -> Error {
        let shown = shown.to_owned();
        move |source| Error::Postgres {
            url: shown.clone(),
            action: action.into(),
            source,
        }
    }

    /// Begins a transaction of the lease holder of fencing `token`: the lease row is checked
    /// and locked until the transaction ends. [`Error::Fenced`] when the token is not current.
    async fn fenced(&mut self, token: i64) -> Result<tokio_postgres::Transaction<'_>> {
        let shown = self.shown.clone();
        let tx = self
            .client
            .transaction()
            .await
            .map_err(Self::pg_error(&shown, "begin a fenced write"))?;
        let held = tx
            .query_opt(FENCE_CHECK, &[&token])
            .await
            .map_err(Self::pg_error(&shown, "check the lease"))?;
        match held {
            Some(_) => Ok(tx),
            None => Err(Error::Fenced { url: shown, token }),
        }
    }

    /// Sets validators' status and appends their history entries, in one transaction of the
    /// lease holder of fencing `token`: a deposed leader's write is refused with
    /// [`Error::Fenced`] and changes nothing.
    pub async fn set_status_fenced(
        &mut self,
        token: i64,
        pubkeys: &[String],
        status: Status,
        tx_hash: Option<&str>,
        block_number: Option<u64>,
        note: Option<&str>,
    ) -> Result<()> {
        let shown = self.shown.clone();
        let e = |action| Self::pg_error(&shown, action);
        let tx = self.fenced(token).await?;
        let block = block_number.map(|b| b as i64);
        for pk in pubkeys {
            tx.execute(
                "UPDATE validators SET status = $2, tx_hash = COALESCE($3, tx_hash), block_number = $4 WHERE pubkey = $1",
                &[pk, &status.as_str(), &tx_hash, &block],
            )
            .await
            .map_err(e("update validator"))?;
            tx.execute(
                "INSERT INTO history (pubkey, status, tx_hash, block_number, at, note) VALUES ($1, $2, $3, $4, $5, $6)",
                &[pk, &status.as_str(), &tx_hash, &block, &super::now(), &note],
            )
            .await
            .map_err(e("append history"))?;
        }
        tx.commit().await.map_err(e("commit status update"))
    }

    /// Appends one transaction the policy let the key sign to the shared policy ledger, in a
    /// transaction of the lease holder of fencing `token` (the last write before the key
    /// signs): a deposed leader's entry is refused and it signs nothing.
    pub async fn record_signed_fenced(&mut self, token: i64, entry: &LedgerEntry) -> Result<()> {
        let shown = self.shown.clone();
        let e = |action| Self::pg_error(&shown, action);
        let tx = self.fenced(token).await?;
        tx.execute(
            "INSERT INTO policy_ledger (day, at, sighash, target, selector, value_wei, validators, ssv_fee_wei, nonce)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            &[
                &entry.day,
                &super::now(),
                &entry.sighash,
                &entry.target,
                &entry.selector,
                &entry.value_wei,
                &(entry.validators as i64),
                &entry.ssv_fee_wei,
                &entry.nonce.map(|n| n as i64),
            ],
        )
        .await
        .map_err(e("append to the policy ledger"))?;
        tx.commit().await.map_err(e("commit the policy ledger"))
    }

    /// What the key signed on `day` (`YYYY-MM-DD`, UTC) by every instance, summed by the same
    /// rule as on SQLite ([`super::ledger::day_totals`]: a nonce once, `except` left out).
    pub async fn day_totals(&self, day: &str, except: Option<u64>) -> Result<DayTotals> {
        let rows = self
            .client
            .query(
                "SELECT seq, nonce, value_wei, validators, ssv_fee_wei FROM policy_ledger WHERE day = $1",
                &[&day],
            )
            .await
            .map_err(Self::pg_error(&self.shown, "query policy ledger"))?;
        let lines = rows.iter().map(|r| LedgerLine {
            seq: r.get(0),
            nonce: r.get(1),
            value: r.get(2),
            count: r.get(3),
            fees: r.get(4),
        });
        Ok(day_totals(lines, except))
    }
}

/// Who holds the lease, as one instance sees it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase", tag = "role")]
pub enum Role {
    /// This instance holds the lease under fencing `token`: it may sign.
    Leader { token: i64 },
    /// Another instance holds it (or held it last): this one reads and serves `/health`.
    Standby { holder: String },
}

/// An instance's claim on the leadership lease.
#[derive(Debug, Clone)]
pub struct Lease {
    /// This instance's name (host, process, a random part: unique per run).
    pub holder: String,
    /// How long the lease lasts without renewal (`lease_timeout_secs`).
    pub ttl: Duration,
}

impl Lease {
    /// Takes the lease if it is free or expired (a new fencing token), renews it if this
    /// instance holds it (the same token); otherwise reports who holds it. Expiry is judged on
    /// the database's clock.
    pub async fn acquire(&self, pg: &PgStore) -> Result<Role> {
        let ttl_ms = self.ttl.as_millis() as f64;
        // One statement, one timestamp: renewal keeps the token, a takeover raises it. A
        // concurrent contender waits for the row and re-checks it, so one of them wins.
        let row = pg
            .client
            .query_opt(
                "UPDATE leadership SET
                    token = CASE WHEN holder = $1 AND expires_at > statement_timestamp()
                        THEN token ELSE token + 1 END,
                    holder = $1,
                    expires_at = statement_timestamp() + $2::float8 * interval '1 millisecond'
                 WHERE id = 1 AND (holder = $1 OR expires_at <= statement_timestamp())
                 RETURNING token",
                &[&self.holder, &ttl_ms],
            )
            .await
            .map_err(pg.err("take or renew the lease"))?;
        if let Some(row) = row {
            return Ok(Role::Leader { token: row.get(0) });
        }
        let holder: String = pg
            .client
            .query_one("SELECT holder FROM leadership WHERE id = 1", &[])
            .await
            .map_err(pg.err("read the lease"))?
            .get(0);
        Ok(Role::Standby { holder })
    }

    /// Whether this instance still holds the lease of `token` with at least `margin` left on
    /// the database's clock: checked just before the key signs, so that a signature is made
    /// only while no other instance can take over for `margin`.
    pub async fn still_held(&self, pg: &PgStore, token: i64, margin: Duration) -> Result<bool> {
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
    pub async fn info(pg: &PgStore) -> Result<Option<LeaseInfo>> {
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
    pub async fn release(&self, pg: &PgStore, token: i64) -> Result<()> {
        pg.client
            .execute(
                "UPDATE leadership SET expires_at = '-infinity' WHERE id = 1 AND holder = $1 AND token = $2",
                &[&self.holder, &token],
            )
            .await
            .map(|_| ())
            .map_err(pg.err("release the lease"))
    }
}

#[cfg(test)]
mod tests {
    use kc_test_utils::postgres::Postgres;

    use super::*;

    async fn store(url: &str) -> PgStore {
        PgStore::connect(url, None).await.unwrap()
    }

    async fn import_one(pg: &PgStore, pubkey: &str) {
        pg.client()
            .batch_execute(&format!(
                "INSERT INTO bundles VALUES ('0x09', 'c', '/b', '[1]', 1, '04', 't');
                 INSERT INTO validators (pubkey, bundle_id, idx, position, owner_nonce, status, signature,
                    deposit_data_root, shares_data, leaf)
                 VALUES ('{pubkey}', '0x09', 0, 0, 0, 'imported', decode(repeat('00', 96), 'hex'),
                    decode(repeat('00', 32), 'hex'), '\\x01', decode(repeat('00', 32), 'hex'));"
            ))
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn the_schema_migrates_once_is_append_only_and_refuses_unknown_values() {
        let server = Postgres::start();
        let url = server.create_database("state");
        let a = store(&url).await;
        // A second agent starting on the same database migrates nothing.
        let b = store(&url).await;
        assert_eq!(a.version().await.unwrap(), VERSION);
        assert_eq!(b.version().await.unwrap(), VERSION);
        import_one(&a, "0xaa").await;
        let c = a.client();
        c.execute(
            "INSERT INTO history (pubkey, status, at) VALUES ('0xaa', 'imported', 't')",
            &[],
        )
        .await
        .unwrap();
        c.execute(
            "INSERT INTO policy_ledger (day, at, sighash, target, selector, value_wei, validators) VALUES ('d', 't', 's', 't', 's', '1', 1)",
            &[],
        )
        .await
        .unwrap();
        for refused in [
            "UPDATE history SET note = 'x'",
            "DELETE FROM history",
            "TRUNCATE history",
            "UPDATE policy_ledger SET validators = 0",
            "DELETE FROM policy_ledger",
            "TRUNCATE policy_ledger",
            "DELETE FROM maintenance_ledger",
            "DELETE FROM superseded",
            "UPDATE validators SET status = 'staked'",
            "UPDATE validators SET leaf = '\\x00'",
            "INSERT INTO history (pubkey, status, at) VALUES ('0xaa', 'Imported', 't')",
        ] {
            let err = c.batch_execute(refused).await.unwrap_err();
            let code = err.code().unwrap().code().to_owned();
            assert!(
                code == "KCA01" || code == SqlState::CHECK_VIOLATION.code(),
                "{refused}: {err:?}"
            );
        }
        let n: i64 = c
            .query_one("SELECT count(*) FROM history", &[])
            .await
            .unwrap()
            .get(0);
        assert_eq!(n, 1);
    }

    /// The two dialects' DDL are written twice: they must declare the same tables and columns.
    #[tokio::test]
    async fn postgres_and_sqlite_have_the_same_tables_and_columns() {
        let server = Postgres::start();
        let url = server.create_database("state");
        let pg = store(&url).await;
        let sqlite = crate::store::Store::in_memory().unwrap();
        let mut tables: Vec<String> = sqlite
            .conn()
            .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<std::result::Result<_, _>>()
            .unwrap();
        tables.sort();
        let mut pg_tables: Vec<String> = pg
            .client()
            .query(
                "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public'
                 AND table_name NOT IN ('kc_schema', 'leadership')",
                &[],
            )
            .await
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
        pg_tables.sort();
        assert_eq!(pg_tables, tables);
        assert!(tables.len() >= 11, "{tables:?}");
        for t in &tables {
            let mut cols: Vec<String> = sqlite
                .conn()
                .prepare("SELECT name FROM pragma_table_info(?1)")
                .unwrap()
                .query_map([t], |r| r.get(0))
                .unwrap()
                .collect::<std::result::Result<_, _>>()
                .unwrap();
            cols.sort();
            let mut pg_cols: Vec<String> = pg
                .client()
                .query(
                    "SELECT column_name::text FROM information_schema.columns WHERE table_schema = 'public' AND table_name = $1",
                    &[t],
                )
                .await
                .unwrap()
                .iter()
                .map(|r| r.get(0))
                .collect();
            pg_cols.sort();
            assert_eq!(pg_cols, cols, "table {t}");
        }
    }

    #[tokio::test]
    async fn a_database_newer_than_the_agent_is_refused() {
        let server = Postgres::start();
        let url = server.create_database("state");
        let a = store(&url).await;
        a.client()
            .execute("UPDATE kc_schema SET version = $1", &[&(VERSION + 1)])
            .await
            .unwrap();
        match PgStore::connect(&url, None).await {
            Err(Error::StoreTooNew {
                found, supported, ..
            }) => assert_eq!((found, supported), (VERSION + 1, VERSION)),
            other => panic!("expected StoreTooNew, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_server_off_this_host_without_tls_is_refused_before_connecting() {
        let err = PgStore::connect("postgres://kc:hunter2@db.example.org:5432/state", None)
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Config { .. }), "{err}");
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }

    fn lease(name: &str, ttl_ms: u64) -> Lease {
        Lease {
            holder: name.into(),
            ttl: Duration::from_millis(ttl_ms),
        }
    }

    #[tokio::test]
    async fn one_leader_at_a_time_and_a_deposed_leaders_late_write_is_refused() {
        let server = Postgres::start();
        let url = server.create_database("state");
        let mut a = store(&url).await;
        let mut b = store(&url).await;
        import_one(&a, "0xaa").await;
        let (la, lb) = (lease("a", 1500), lease("b", 1500));

        // Exactly one of two contenders leads; the other sees who.
        let Role::Leader { token: t1 } = la.acquire(&a).await.unwrap() else {
            panic!("a should lead")
        };
        assert_eq!(
            lb.acquire(&b).await.unwrap(),
            Role::Standby { holder: "a".into() }
        );
        // Renewal keeps the token.
        assert_eq!(la.acquire(&a).await.unwrap(), Role::Leader { token: t1 });
        a.set_status_fenced(t1, &["0xaa".into()], Status::Sent, Some("0x1"), None, None)
            .await
            .unwrap();
        // A standby's write with a token it never held is refused.
        assert!(matches!(
            b.set_status_fenced(t1 + 1, &["0xaa".into()], Status::Refused, None, None, None)
                .await,
            Err(Error::Fenced { .. })
        ));

        // a stops renewing (it hangs, or lost its connection): after the timeout b takes over
        // with a higher token.
        tokio::time::sleep(Duration::from_millis(1700)).await;
        let Role::Leader { token: t2 } = lb.acquire(&b).await.unwrap() else {
            panic!("b should take over")
        };
        assert!(t2 > t1);
        // a's late write is refused and changes nothing; its renewal finds b leading.
        let late = a
            .set_status_fenced(
                t1,
                &["0xaa".into()],
                Status::Reverted,
                None,
                None,
                Some("late"),
            )
            .await;
        assert!(
            matches!(late, Err(Error::Fenced { token, .. }) if token == t1),
            "{late:?}"
        );
        assert_eq!(
            la.acquire(&a).await.unwrap(),
            Role::Standby { holder: "b".into() }
        );
        b.set_status_fenced(t2, &["0xaa".into()], Status::Confirmed, None, Some(9), None)
            .await
            .unwrap();
        let rows = a
            .client()
            .query("SELECT status FROM history ORDER BY seq", &[])
            .await
            .unwrap();
        let statuses: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
        assert_eq!(statuses, ["sent", "confirmed"]);

        // A clean release hands over at once.
        lb.release(&b, t2).await.unwrap();
        let Role::Leader { token: t3 } = la.acquire(&a).await.unwrap() else {
            panic!("a should lead again")
        };
        assert!(t3 > t2);
    }

    #[tokio::test]
    async fn the_daily_caps_are_shared_and_a_deposed_leaders_ledger_entry_is_refused() {
        let server = Postgres::start();
        let url = server.create_database("state");
        let mut a = store(&url).await;
        let mut b = store(&url).await;
        let (la, lb) = (lease("a", 500), lease("b", 5000));
        let Role::Leader { token: t1 } = la.acquire(&a).await.unwrap() else {
            panic!("a should lead")
        };
        let entry = |value: &str, nonce| LedgerEntry {
            day: "2026-12-02".into(),
            sighash: "0x01".into(),
            target: "0xaa".into(),
            selector: "0x12345678".into(),
            value_wei: value.into(),
            validators: 2,
            ssv_fee_wei: "1".into(),
            nonce: Some(nonce),
        };
        a.record_signed_fenced(t1, &entry("64", 0)).await.unwrap();
        a.record_signed_fenced(t1, &entry("70", 0)).await.unwrap();
        tokio::time::sleep(Duration::from_millis(600)).await;
        let Role::Leader { token: t2 } = lb.acquire(&b).await.unwrap() else {
            panic!("b should take over")
        };
        // The new leader counts what the old one signed (nonce 0 once, its largest version).
        let t = b.day_totals("2026-12-02", None).await.unwrap();
        assert_eq!(
            (t.value, t.count),
            (alloy::primitives::U256::from(70u64), 2)
        );
        // The old leader's late entry is refused: it would sign outside the lease.
        assert!(matches!(
            a.record_signed_fenced(t1, &entry("32", 1)).await,
            Err(Error::Fenced { .. })
        ));
        b.record_signed_fenced(t2, &entry("32", 1)).await.unwrap();
        let t = a.day_totals("2026-12-02", Some(1)).await.unwrap();
        assert_eq!(t.value, alloy::primitives::U256::from(70u64));
        let t = a.day_totals("2026-12-02", None).await.unwrap();
        assert_eq!(
            (t.value, t.count, t.fees),
            (
                alloy::primitives::U256::from(102u64),
                4,
                alloy::primitives::U256::from(2u64)
            )
        );
    }

    #[tokio::test]
    async fn a_takeover_waits_for_the_fenced_write_in_flight() {
        let server = Postgres::start();
        let url = server.create_database("state");
        let a = store(&url).await;
        let b = store(&url).await;
        let la = lease("a", 300);
        let Role::Leader { token } = la.acquire(&a).await.unwrap() else {
            panic!("a should lead")
        };
        // a's fenced transaction holds the lease row; its lease expires meanwhile.
        a.client().batch_execute("BEGIN").await.unwrap();
        let held = a.client().query_opt(FENCE_CHECK, &[&token]).await.unwrap();
        assert!(held.is_some());
        tokio::time::sleep(Duration::from_millis(400)).await;
        let lb = lease("b", 1000);
        let take = tokio::spawn(async move { lb.acquire(&b).await.map(|r| (r, b)) });
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(
            !take.is_finished(),
            "the takeover must wait for a's transaction"
        );
        a.client().batch_execute("COMMIT").await.unwrap();
        let (role, _b) = take.await.unwrap().unwrap();
        assert_eq!(role, Role::Leader { token: token + 1 });
    }
}
