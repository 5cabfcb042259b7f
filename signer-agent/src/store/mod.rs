//! The state store: SQLite in the state directory. A cache of the chain, never its master: at
//! start-up `run` reconciles it with the chain's events.
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
//!   (`crate::maintenance::store`).
//!
//! The store fails closed: its schema is versioned and migrated ([`schema`]), status columns
//! and fixed-length blobs carry CHECK constraints, and reading a row that is not what it must be
//! is an error ([`RowError`]), never a default.
//!
//! Split by job: [`schema`] (DDL, migrations), [`rows`] (row types, fail-closed conversions),
//! `import` (the import decision, a pure function over the rows it reads), `validators`
//! (status changes, history, reads), `scan` (front-running scan cursor), `ledger` (the policy
//! ledger and the per-nonce day totals shared with the maintenance ledger).

use std::path::{Path, PathBuf};

use rusqlite::Connection;

use crate::error::{Error, Result};

mod import;
pub(crate) mod ledger;
pub mod pg;
pub mod pg_tls;
pub mod rows;
mod scan;
pub mod schema;
mod validators;

pub use import::{Blocked, BlockedKey, ImportRefusal};
pub use ledger::DayTotals;
pub use rows::{
    BundleFacts, BundleRow, DepositScan, HistoryRow, LedgerEntry, RowError, Status, ValidatorRow,
};

/// The open database.
pub struct Store {
    conn: Connection,
    path: PathBuf,
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
    /// Opens (creating) `state.sqlite` in `state_dir` and migrates it to [`schema::VERSION`];
    /// refuses a store newer than this agent ([`Error::StoreTooNew`]).
    pub fn open(state_dir: &Path) -> Result<Store> {
        std::fs::create_dir_all(state_dir)
            .map_err(|e| Error::io(state_dir, "create the state directory", e))?;
        let path = state_dir.join("state.sqlite");
        let conn = Connection::open(&path).map_err(|e| Error::Store {
            path: path.clone(),
            action: "open".into(),
            source: e,
        })?;
        let mut s = Store { conn, path };
        s.conn
            .execute_batch(
                "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON; PRAGMA busy_timeout=10000;",
            )
            .map_err(|e| s.err("set pragmas", e))?;
        schema::migrate(&mut s.conn, &s.path)?;
        Ok(s)
    }

    /// A state store in memory (an oracle member without a state directory: its transactions
    /// are followed for the life of the process only).
    pub fn in_memory() -> Result<Store> {
        let path = PathBuf::from(":memory:");
        let conn = Connection::open_in_memory().map_err(|e| Error::Store {
            path: path.clone(),
            action: "open".into(),
            source: e,
        })?;
        let mut s = Store { conn, path };
        s.conn
            .execute_batch("PRAGMA foreign_keys=ON;")
            .map_err(|e| s.err("set pragmas", e))?;
        schema::migrate(&mut s.conn, &s.path)?;
        Ok(s)
    }

    fn err(&self, action: impl Into<String>, source: rusqlite::Error) -> Error {
        store_error(&self.path)(&action.into(), source)
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

    /// The connection, for modules that keep their own tables in the state database
    /// (`replace`: the transactions the agent signed).
    pub(crate) fn connection(&self) -> &Connection {
        &self.conn
    }

    /// [`Error::Store`] for `action` on this database.
    pub(crate) fn error(&self, action: &str, source: rusqlite::Error) -> Error {
        self.err(action, source)
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The connection, for the maintenance tables (`crate::maintenance::store`).
    pub(crate) fn conn(&self) -> &Connection {
        &self.conn
    }
}

/// Maps a SQLite error to [`Error::Store`] naming the database and the action; usable while a
/// transaction holds `&mut self` (take a clone of the path first).
fn store_error(path: &Path) -> impl Fn(&str, rusqlite::Error) -> Error + '_ {
    move |action, source| Error::Store {
        path: path.to_owned(),
        action: action.to_owned(),
        source,
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
