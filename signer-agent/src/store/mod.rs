//! The state store: SQLite in the state directory (one host), or PostgreSQL shared by the
//! agents of a pool ([`StoreLocation`], [`Store::open_location`]). A cache of the chain, never
//! its master: at start-up `run` reconciles it with the chain's events. Both backends have the
//! same tables at the same schema version and the same append-only rules; every operation is
//! the same method on both ([`db`]: SQL written once, run by either backend).
//!
//! - `bundles`: one row per imported bundle (its Merkle root is its id).
//! - `validators`: one row per validator with everything `stake` sends, and its current status.
//! - `history`: append-only (`imported` → `sent` (tx) → `confirmed` (block), or `reverted`;
//!   or `refused`: front-run, never staked; or `superseded`: a newer bundle took the key over);
//!   triggers refuse UPDATE and DELETE on it.
//! - `superseded`: append-only, the rows a newer bundle took over (`import` of a re-created
//!   bundle after a front-run): which bundle and position the key had there, so that the old
//!   bundle's Merkle leaves stay complete; the key's `validators` row now names the new bundle.
//! - `bundle_facts`: per bundle, what the transaction policy checks a `stake` against: the
//!   manifest's withdrawal and owner addresses and the pinned operator key fingerprints.
//! - `deposit_scan`, `foreign_deposits`: the front-running scan's cursor (last scanned block)
//!   and the `DepositEvent`s it found for the pool's not-yet-staked keys, so that each stake
//!   scans only new blocks.
//! - `policy_ledger`: append-only, one row per transaction the policy let the key sign (day,
//!   value, validators): the daily caps survive a restart.
//! - `maint_tx`, `exits`, `maintenance_ledger`: the maintenance tables
//!   (`crate::store::maintenance`).
//! - `transactions`: every signed transaction, recorded before broadcast (`crate::replace`);
//!   `reshare_bundles`, `reshares`: imported reshare bundles (`crate::maintenance::reshare`).
//! - PostgreSQL only: `kc_schema` (the schema version) and `leadership`, the lease of agents
//!   sharing the store ([`lease`]); writes that precede a signature are fenced by its token
//!   ([`Store::set_fence`]).
//!
//! The store fails closed: its schema is versioned and migrated ([`schema`]), status columns
//! and fixed-length blobs carry CHECK constraints, and reading a row that is not what it must be
//! is an error ([`RowError`]), never a default.
//!
//! Split by job: [`db`] (the two backends behind one interface), [`schema`] (DDL, SQLite
//! migrations), [`pg`] (the PostgreSQL schema and migrations), [`lease`] (leadership and
//! fencing), [`rows`] (row types, fail-closed conversions),
//! `import` (the import decision, a pure function over the rows it reads), `validators`
//! (status changes, history, reads), `scan` (front-running scan cursor), `ledger` (the policy
//! ledger and the per-nonce day totals shared with the maintenance ledger).

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::{Error, Result};

pub mod db;
mod import;
pub mod lease;
pub(crate) mod ledger;
pub mod maintenance;
pub mod pg;
pub mod pg_lease;
pub mod pg_settings;
pub mod pg_tls;
pub mod reshare;
pub mod rows;
mod scan;
pub mod schema;
#[cfg(test)]
pub(crate) mod testing;
mod validators;

pub use crate::refusal::{Blocked, BlockedKey, ImportRefusal};
pub use db::{DbError, StoreLocation};
pub use lease::{LeaseInfo, Role};
pub use ledger::DayTotals;
pub use rows::{
    BundleFacts, BundleRow, DepositScan, HistoryRow, LedgerEntry, RowError, Status, ValidatorRow,
};

use db::{Db, DbResult};

/// The open database.
pub struct Store {
    db: Db,
    /// The SQLite file, or the PostgreSQL URL as `redact::url` shows it (messages only).
    path: PathBuf,
    /// The fencing token of the lease this instance holds ([`Store::set_fence`]).
    fence: Fence,
}

/// The fencing token the writes that precede a signature are checked against, shared by the
/// stores of one instance (the daemon's and its policy signer's: [`Store::attach_fence`]).
#[derive(Debug, Clone, Default)]
pub struct Fence(std::sync::Arc<std::sync::Mutex<Option<i64>>>);

impl Fence {
    /// Sets the token (`None`: writes are not fenced).
    pub fn set(&self, token: Option<i64>) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = token;
    }

    /// The token.
    pub fn get(&self) -> Option<i64> {
        *self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

pub(crate) fn now() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

pub(crate) fn h(b: &[u8]) -> String {
    format!("0x{}", hex::encode(b))
}

impl Store {
    /// Opens the state store at `location` and migrates it to [`schema::VERSION`]; refuses a
    /// store newer than this agent ([`Error::StoreTooNew`]).
    ///
    /// - [`StoreLocation::Sqlite`]: `state.sqlite` in the directory (created), as [`Store::open`].
    /// - [`StoreLocation::Postgres`]: the database at the URL (it must exist; the agent creates
    ///   its tables), the password given apart from the URL and never shown; migrations run
    ///   once under an advisory lock when two agents start together. The connection lives on
    ///   its own thread: the store's methods are synchronous on both backends and may be called
    ///   from async code on any runtime.
    pub fn open_location(location: &StoreLocation) -> Result<Store> {
        match location {
            StoreLocation::Sqlite(dir) => Store::open(dir),
            StoreLocation::Postgres { url, password } => {
                Store::open_postgres(db::PgConn::connect(url, password.as_ref(), None)?)
            }
            StoreLocation::PostgresOver {
                url,
                password,
                transport,
            } => Store::open_postgres(db::PgConn::connect(
                url,
                password.as_ref(),
                Some(transport),
            )?),
        }
    }

    fn open_postgres(conn: db::PgConn) -> Result<Store> {
        let path = PathBuf::from(conn.shown.clone());
        let s = Store {
            db: Db::Postgres(conn),
            path,
            fence: Fence::default(),
        };
        pg::migrate(&s)?;
        Ok(s)
    }

    /// Opens (creating) `state.sqlite` in `state_dir` and migrates it to [`schema::VERSION`];
    /// refuses a store newer than this agent ([`Error::StoreTooNew`]).
    pub fn open(state_dir: &Path) -> Result<Store> {
        std::fs::create_dir_all(state_dir)
            .map_err(|e| Error::io(state_dir, "create the state directory", e))?;
        let path = state_dir.join("state.sqlite");
        let conn = rusqlite::Connection::open(&path).map_err(|e| Error::Store {
            path: path.clone(),
            action: "open".into(),
            source: e.into(),
        })?;
        conn.execute_batch(
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON; PRAGMA busy_timeout=10000;",
        )
        .map_err(|e| store_error(&path)("set pragmas", e.into()))?;
        Store::sqlite(conn, path)
    }

    /// A state store in memory (an oracle member without a state directory: its transactions
    /// are followed for the life of the process only).
    pub fn in_memory() -> Result<Store> {
        let path = PathBuf::from(":memory:");
        let conn = rusqlite::Connection::open_in_memory().map_err(|e| Error::Store {
            path: path.clone(),
            action: "open".into(),
            source: e.into(),
        })?;
        conn.execute_batch("PRAGMA foreign_keys=ON;")
            .map_err(|e| store_error(&path)("set pragmas", e.into()))?;
        Store::sqlite(conn, path)
    }

    fn sqlite(mut conn: rusqlite::Connection, path: PathBuf) -> Result<Store> {
        schema::migrate(&mut conn, &path)?;
        Ok(Store {
            db: Db::Sqlite(conn),
            path,
            fence: Fence::default(),
        })
    }

    fn err(&self, action: impl Into<String>, source: DbError) -> Error {
        store_error(&self.path)(&action.into(), source)
    }

    /// [`Error::Store`] for `action` on this database.
    pub(crate) fn error(&self, action: &str, source: DbError) -> Error {
        self.err(action, source)
    }

    /// [`Error::StoreRow`]: row `key` of `table` is not what it must be.
    pub(crate) fn row_error(&self, table: &'static str, key: &str, problem: RowError) -> Error {
        Error::StoreRow {
            path: self.path.clone(),
            table,
            key: key.to_owned(),
            problem,
        }
    }

    /// The database, for the modules that keep their own tables in it (`replace`, the
    /// maintenance tables, reshares).
    pub(crate) fn db(&self) -> &Db {
        &self.db
    }

    /// The database file, or the PostgreSQL URL as shown (without credentials).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The schema version of the open database ([`schema::VERSION`] once opened).
    pub fn schema_version(&self) -> Result<i64> {
        match &self.db {
            Db::Sqlite(c) => {
                schema::version(c).map_err(|e| self.err("read the schema version", e.into()))
            }
            Db::Postgres(_) => pg::version(self),
        }
    }

    /// The backend's kind.
    pub fn dialect(&self) -> db::Dialect {
        self.db.dialect()
    }

    /// Writes that precede a signature check, from now on, that this instance still holds
    /// the lease of fencing `token` (`None`: no check). On PostgreSQL the check runs in the
    /// write's own transaction and a token that moved on fails it with [`Error::Fenced`];
    /// SQLite (one host) has no lease and ignores the fence.
    pub fn set_fence(&self, token: Option<i64>) {
        self.fence.set(token);
    }

    /// The fencing token set by [`Store::set_fence`].
    pub fn fence(&self) -> Option<i64> {
        self.fence.get()
    }

    /// This store's fence, to share with another store of the same instance.
    pub fn fence_handle(&self) -> Fence {
        self.fence.clone()
    }

    /// Makes this store check the writes that precede a signature against `fence` (shared with
    /// the store it came from: setting it on one sets it on both).
    pub fn attach_fence(&mut self, fence: &Fence) {
        self.fence = fence.clone();
    }

    /// Begins a transaction of a write that precedes a signature: on PostgreSQL with a fence
    /// set, the lease row is checked against the token and locked until the transaction ends
    /// (a takeover waits for it); [`Error::Fenced`] when the token is not current.
    pub(crate) fn begin_fenced(&self, action: &str) -> Result<db::Tx<'_>> {
        let tx = self.db.begin().map_err(|e| self.err(action, e))?;
        if let (Db::Postgres(_), Some(token)) = (&self.db, self.fence.get()) {
            let held = tx
                .query_opt(lease::FENCE_CHECK, db::args![token])
                .map_err(|e| self.err("check the lease", e))?;
            if held.is_none() {
                return Err(Error::Fenced {
                    url: self.path.display().to_string(),
                    token,
                });
            }
        }
        Ok(tx)
    }

    /// Runs `f` in a transaction of this database, committed when it returns `Ok`.
    pub(crate) fn transaction<T>(
        &self,
        action: &str,
        f: impl FnOnce(&db::Tx<'_>) -> Result<T>,
    ) -> Result<T> {
        let tx = self.db.begin().map_err(|e| self.err(action, e))?;
        let out = f(&tx)?;
        tx.commit().map_err(|e| self.err(action, e))?;
        Ok(out)
    }

    /// Runs `f` in a fenced transaction ([`Store::begin_fenced`]), committed when it returns
    /// `Ok`.
    pub(crate) fn fenced<T>(
        &self,
        action: &str,
        f: impl FnOnce(&db::Tx<'_>) -> Result<T>,
    ) -> Result<T> {
        let tx = self.begin_fenced(action)?;
        let out = f(&tx)?;
        tx.commit().map_err(|e| self.err(action, e))?;
        Ok(out)
    }

    /// Takes the leadership lease if it is free or expired (a new fencing token), renews it if
    /// `holder` holds it (the same token), else reports who holds it; expiry on the database's
    /// clock. SQLite (one host): always the leader, token 0.
    pub fn lease_acquire(&self, holder: &str, ttl: Duration) -> Result<Role> {
        lease::acquire(self, holder, ttl)
    }

    /// Gives the lease up (a clean shutdown): a standby takes over at once.
    pub fn lease_release(&self, holder: &str, token: i64) -> Result<()> {
        lease::release(self, holder, token)
    }

    /// Who holds the lease (PostgreSQL; `None` on SQLite, or before anyone took it).
    pub fn lease_holder(&self) -> Result<Option<LeaseInfo>> {
        lease::holder(self)
    }

    /// The SQLite connection (SQLite-only tests of the schema).
    #[cfg(test)]
    pub(crate) fn conn(&self) -> &rusqlite::Connection {
        match &self.db {
            Db::Sqlite(c) => c,
            Db::Postgres(_) => panic!("a SQLite-only test opened a PostgreSQL store"),
        }
    }
}

/// Maps a database error to [`Error::Store`] naming the database and the action.
fn store_error(path: &Path) -> impl Fn(&str, DbError) -> Error + '_ {
    move |action, source| Error::Store {
        path: path.to_owned(),
        action: action.to_owned(),
        source,
    }
}

/// A database result with the error mapped to [`Error::Store`] for `action`.
pub(crate) trait DbCtx<T> {
    fn ctx(self, st: &Store, action: &str) -> Result<T>;
}

impl<T> DbCtx<T> for DbResult<T> {
    fn ctx(self, st: &Store, action: &str) -> Result<T> {
        self.map_err(|e| st.err(action, e))
    }
}

#[cfg(test)]
pub(crate) mod test_bundles {
    use std::path::PathBuf;

    use crate::bundle::{BundleValidator, VerifiedBundle};

    pub(crate) fn bundle(n: usize, root: u8) -> VerifiedBundle {
        VerifiedBundle {
            dir: PathBuf::from("/b"),
            ceremony_id: "c".into(),
            network: "custom".into(),
            fork_version: "00000000".into(),
            merkle_root: [root; 32],
            operator_ids: vec![1, 2, 3, 4],
            withdrawal_type: 1,
            withdrawal_address: "0x".into(),
            owner_address: "0x".into(),
            identity: vec![4; 65],
            operators: vec![(1, "aa".into())],
            validators: (0..n)
                .map(|i| BundleValidator {
                    index: i as u32,
                    position: i,
                    pubkey: vec![i as u8; 48],
                    signature: vec![0; 96],
                    deposit_data_root: [0; 32],
                    shares_data: vec![1, 2],
                    owner_nonce: i as u64,
                    leaf: [i as u8; 32],
                    proof: vec![],
                })
                .collect(),
        }
    }

    /// Keys `keys` of `bundle(3, 9)` re-created at positions 0, 1, … with owner nonces 0, 1, ….
    pub(crate) fn recreated(root: u8, keys: &[u8]) -> VerifiedBundle {
        let mut b = bundle(0, root);
        b.ceremony_id = format!("recreated-{root}");
        b.validators = keys
            .iter()
            .enumerate()
            .map(|(i, &k)| BundleValidator {
                index: k as u32,
                position: i,
                pubkey: vec![k; 48],
                signature: vec![0; 96],
                deposit_data_root: [0; 32],
                shares_data: vec![3, root],
                owner_nonce: i as u64,
                leaf: [root + i as u8; 32],
                proof: vec![],
            })
            .collect();
        b
    }
}
