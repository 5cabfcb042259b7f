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

use std::path::{Path, PathBuf};

use rusqlite::{params, Connection, OptionalExtension};

use crate::bundle::VerifiedBundle;
use crate::error::{Error, Result};

/// A validator's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Verified and waiting for ETH.
    Imported,
    /// In a transaction that is not yet confirmed.
    Sent,
    /// Deposited and registered, with the configured confirmations.
    Confirmed,
    /// Its transaction reverted or vanished; eligible again.
    Reverted,
    /// Never to be staked: someone else deposited for its key first (front-running); the
    /// history entry names the deposit.
    Refused,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Imported => "imported",
            Status::Sent => "sent",
            Status::Confirmed => "confirmed",
            Status::Reverted => "reverted",
            Status::Refused => "refused",
        }
    }
    fn parse(s: &str) -> Status {
        match s {
            "sent" => Status::Sent,
            "confirmed" => Status::Confirmed,
            "reverted" => Status::Reverted,
            "refused" => Status::Refused,
            _ => Status::Imported,
        }
    }
}

/// A validator row.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ValidatorRow {
    /// `0x` hex.
    pub pubkey: String,
    /// The bundle's Merkle root, `0x` hex.
    pub bundle_id: String,
    pub index: u32,
    pub position: usize,
    pub owner_nonce: u64,
    pub status: Status,
    pub tx_hash: Option<String>,
    pub block_number: Option<u64>,
    #[serde(skip)]
    pub signature: Vec<u8>,
    #[serde(skip)]
    pub deposit_data_root: [u8; 32],
    #[serde(skip)]
    pub shares_data: Vec<u8>,
    #[serde(skip)]
    pub leaf: [u8; 32],
}

/// A bundle row.
#[derive(Debug, Clone, serde::Serialize)]
pub struct BundleRow {
    pub id: String,
    pub ceremony_id: String,
    pub path: String,
    pub operator_ids: Vec<u64>,
    pub withdrawal_type: u8,
    pub imported_at: String,
}

/// What a bundle's manifest says that the policy checks a `stake` against.
#[derive(Debug, Clone, serde::Serialize)]
pub struct BundleFacts {
    pub withdrawal_address: String,
    pub owner_address: String,
    /// (operator id, fingerprint hex) as pinned in the manifest.
    pub operators: Vec<(u64, String)>,
}

/// One transaction the policy let the key sign.
#[derive(Debug, Clone)]
pub struct LedgerEntry {
    /// `YYYY-MM-DD`, UTC.
    pub day: String,
    /// The transaction's signing hash (the hash the key signed).
    pub sighash: String,
    pub target: String,
    pub selector: String,
    pub value_wei: String,
    pub validators: u64,
    /// ETH (wei) the transaction makes the PoolManager send to SSV clusters.
    pub ssv_fee_wei: String,
}

/// The front-running scan's cursor (`stake::scan_deposits`): the deposit contract's
/// `DepositEvent`s from `first_block` up to `last_block` were read for every validator imported
/// when `keys_digest` was taken; the last scan read `scanned_from..=last_block`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DepositScan {
    /// `0x` hex, lowercase.
    pub deposit_contract: String,
    pub first_block: u64,
    /// Digest of every imported validator pubkey: a new import invalidates the cursor.
    pub keys_digest: String,
    pub scanned_from: u64,
    pub last_block: u64,
}

/// One history entry.
#[derive(Debug, Clone, serde::Serialize)]
pub struct HistoryRow {
    pub seq: i64,
    pub pubkey: String,
    pub status: String,
    pub tx_hash: Option<String>,
    pub block_number: Option<u64>,
    pub at: String,
    pub note: Option<String>,
}

/// A validator row as `import` compares it with a re-issue.
struct OldRow {
    bundle_id: String,
    status: Status,
    owner_nonce: u64,
    signature: Vec<u8>,
    deposit_data_root: Vec<u8>,
}

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

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS bundles (
    id TEXT PRIMARY KEY,
    ceremony_id TEXT NOT NULL,
    path TEXT NOT NULL,
    operator_ids TEXT NOT NULL,
    withdrawal_type INTEGER NOT NULL,
    identity TEXT NOT NULL,
    imported_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS validators (
    pubkey TEXT PRIMARY KEY,
    bundle_id TEXT NOT NULL REFERENCES bundles(id),
    idx INTEGER NOT NULL,
    position INTEGER NOT NULL,
    owner_nonce INTEGER NOT NULL,
    status TEXT NOT NULL,
    tx_hash TEXT,
    block_number INTEGER,
    signature BLOB NOT NULL,
    deposit_data_root BLOB NOT NULL,
    shares_data BLOB NOT NULL,
    leaf BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS history (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    pubkey TEXT NOT NULL,
    status TEXT NOT NULL,
    tx_hash TEXT,
    block_number INTEGER,
    at TEXT NOT NULL,
    note TEXT
);
CREATE TABLE IF NOT EXISTS bundle_facts (
    bundle_id TEXT PRIMARY KEY REFERENCES bundles(id),
    withdrawal_address TEXT NOT NULL,
    owner_address TEXT NOT NULL,
    operators TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS policy_ledger (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    day TEXT NOT NULL,
    at TEXT NOT NULL,
    sighash TEXT NOT NULL,
    target TEXT NOT NULL,
    selector TEXT NOT NULL,
    value_wei TEXT NOT NULL,
    validators INTEGER NOT NULL,
    ssv_fee_wei TEXT NOT NULL DEFAULT '0'
);
CREATE TABLE IF NOT EXISTS deposit_scan (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    deposit_contract TEXT NOT NULL,
    first_block INTEGER NOT NULL,
    keys_digest TEXT NOT NULL,
    scanned_from INTEGER NOT NULL,
    last_block INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS foreign_deposits (
    pubkey TEXT PRIMARY KEY,
    tx_hash TEXT,
    block_number INTEGER,
    withdrawal_credentials TEXT NOT NULL,
    found_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS superseded (
    pubkey TEXT NOT NULL,
    bundle_id TEXT NOT NULL REFERENCES bundles(id),
    idx INTEGER NOT NULL,
    position INTEGER NOT NULL,
    owner_nonce INTEGER NOT NULL,
    status TEXT NOT NULL,
    leaf BLOB NOT NULL,
    by_bundle TEXT NOT NULL REFERENCES bundles(id),
    at TEXT NOT NULL,
    PRIMARY KEY (pubkey, bundle_id)
);
CREATE TRIGGER IF NOT EXISTS superseded_no_update BEFORE UPDATE ON superseded
    BEGIN SELECT RAISE(ABORT, 'superseded is append-only'); END;
CREATE TRIGGER IF NOT EXISTS superseded_no_delete BEFORE DELETE ON superseded
    BEGIN SELECT RAISE(ABORT, 'superseded is append-only'); END;
CREATE INDEX IF NOT EXISTS policy_ledger_day ON policy_ledger(day);
CREATE TRIGGER IF NOT EXISTS policy_ledger_no_update BEFORE UPDATE ON policy_ledger
    BEGIN SELECT RAISE(ABORT, 'the policy ledger is append-only'); END;
CREATE TRIGGER IF NOT EXISTS policy_ledger_no_delete BEFORE DELETE ON policy_ledger
    BEGIN SELECT RAISE(ABORT, 'the policy ledger is append-only'); END;
CREATE TRIGGER IF NOT EXISTS history_no_update BEFORE UPDATE ON history
    BEGIN SELECT RAISE(ABORT, 'history is append-only'); END;
CREATE TRIGGER IF NOT EXISTS history_no_delete BEFORE DELETE ON history
    BEGIN SELECT RAISE(ABORT, 'history is append-only'); END;
"#;

fn now() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

fn h(b: &[u8]) -> String {
    format!("0x{}", hex::encode(b))
}

impl Store {
    /// Opens (creating) `state.sqlite` in `state_dir`.
    pub fn open(state_dir: &Path) -> Result<Store> {
        std::fs::create_dir_all(state_dir)
            .map_err(|e| Error::io(state_dir, "create the state directory", e))?;
        let path = state_dir.join("state.sqlite");
        let conn = Connection::open(&path).map_err(|e| Error::Store {
            path: path.clone(),
            action: "open".into(),
            source: e,
        })?;
        let s = Store { conn, path };
        s.conn
            .execute_batch(
                "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON; PRAGMA busy_timeout=10000;",
            )
            .map_err(|e| s.err("set pragmas", e))?;
        s.conn
            .execute_batch(SCHEMA)
            .map_err(|e| s.err("create schema", e))?;
        // A ledger from before SSV v2 has no column for ETH sent as SSV cluster fees.
        let has_fee: bool = s
            .conn
            .query_row(
                "SELECT COUNT(*) FROM pragma_table_info('policy_ledger') WHERE name = 'ssv_fee_wei'",
                [],
                |r| r.get::<_, i64>(0),
            )
            .map_err(|e| s.err("read the policy ledger's columns", e))?
            > 0;
        if !has_fee {
            s.conn
                .execute_batch(
                    "ALTER TABLE policy_ledger ADD COLUMN ssv_fee_wei TEXT NOT NULL DEFAULT '0'",
                )
                .map_err(|e| s.err("add ssv_fee_wei to the policy ledger", e))?;
        }
        Ok(s)
    }

    fn err(&self, action: impl Into<String>, source: rusqlite::Error) -> Error {
        store_error(&self.path)(&action.into(), source)
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

impl Store {
    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Imports a verified bundle. Idempotent for the same bundle.
    ///
    /// A validator already known from another bundle is refused, unless this bundle is new to
    /// the store and re-issues it (a re-creation after a front-run, `ceremony recover
    /// --recreate`): then this bundle takes it over, provided the key is still not staked
    /// (`imported` or `reverted`: never `sent`, `confirmed`, or `refused` as front-run, and no
    /// foreign deposit recorded for it) and its deposit data (signature, deposit data root) is
    /// byte-identical to the old bundle's. The taken-over row is archived in `superseded` (the
    /// old bundle's Merkle leaves stay complete) and a `superseded` history entry names both
    /// bundles. Any key that cannot be taken over refuses the whole import, naming every such key.
    pub fn import(&mut self, b: &VerifiedBundle) -> Result<usize> {
        self.import_or_check(b, true)
    }

    /// What [`Store::import`] would do, without recording anything: the same refusals (keys
    /// staked, sent or front-run, different deposit data), and how many validators it would add
    /// or take over.
    pub fn check_import(&mut self, b: &VerifiedBundle) -> Result<usize> {
        self.import_or_check(b, false)
    }

    fn import_or_check(&mut self, b: &VerifiedBundle, commit: bool) -> Result<usize> {
        let id = h(&b.merkle_root);
        let path = self.path.clone();
        let tx = self.conn.transaction().map_err(|e| Error::Store {
            path: path.clone(),
            action: "begin import".into(),
            source: e,
        })?;
        let e = store_error(&path);
        let known: bool = tx
            .query_row(
                "SELECT EXISTS(SELECT 1 FROM bundles WHERE id = ?1)",
                params![id],
                |r| r.get(0),
            )
            .map_err(|s| e("look up bundle", s))?;
        tx.execute(
            "INSERT OR IGNORE INTO bundles (id, ceremony_id, path, operator_ids, withdrawal_type, identity, imported_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                id,
                b.ceremony_id,
                b.dir.display().to_string(),
                serde_json::to_string(&b.operator_ids).unwrap_or_default(),
                b.withdrawal_type,
                hex::encode(&b.identity),
                now()
            ],
        )
        .map_err(|s| e("insert bundle", s))?;
        tx.execute(
            "INSERT OR IGNORE INTO bundle_facts (bundle_id, withdrawal_address, owner_address, operators)
             VALUES (?1, ?2, ?3, ?4)",
            params![
                id,
                b.withdrawal_address,
                b.owner_address,
                serde_json::to_string(&b.operators).unwrap_or_default(),
            ],
        )
        .map_err(|s| e("insert bundle facts", s))?;
        // First pass: what to insert, what to take over, and what refuses the import.
        let mut fresh = Vec::new();
        let mut takeovers = Vec::new();
        let mut blocked: Vec<String> = Vec::new();
        for v in &b.validators {
            let pk = h(&v.pubkey);
            let existing: Option<OldRow> = tx
                .query_row(
                    "SELECT bundle_id, status, owner_nonce, signature, deposit_data_root FROM validators WHERE pubkey = ?1",
                    params![pk],
                    |r| {
                        Ok(OldRow {
                            bundle_id: r.get(0)?,
                            status: Status::parse(&r.get::<_, String>(1)?),
                            owner_nonce: r.get::<_, i64>(2)? as u64,
                            signature: r.get(3)?,
                            deposit_data_root: r.get(4)?,
                        })
                    },
                )
                .optional()
                .map_err(|s| e("look up validator", s))?;
            let Some(old) = existing else {
                fresh.push(v);
                continue;
            };
            if old.bundle_id == id {
                continue;
            }
            let was_superseded: bool = tx
                .query_row(
                    "SELECT EXISTS(SELECT 1 FROM superseded WHERE pubkey = ?1 AND bundle_id = ?2)",
                    params![pk, id],
                    |r| r.get(0),
                )
                .map_err(|s| e("look up superseded validators", s))?;
            if was_superseded {
                // This (older) bundle's key was taken over by a newer one: it stays there.
                continue;
            }
            let other = &old.bundle_id;
            let what = format!("validator {pk} (index {})", v.index);
            if known {
                blocked.push(format!(
                    "{what} is already imported from bundle {other} (only a bundle new to the state store can take keys over)"
                ));
                continue;
            }
            let foreign: bool = tx
                .query_row(
                    "SELECT EXISTS(SELECT 1 FROM foreign_deposits WHERE pubkey = ?1)",
                    params![pk],
                    |r| r.get(0),
                )
                .map_err(|s| e("look up foreign deposits", s))?;
            match old.status {
                Status::Sent | Status::Confirmed => blocked.push(format!(
                    "{what} is already {} from bundle {other}",
                    if old.status == Status::Sent {
                        "sent (a stake transaction is in flight)"
                    } else {
                        "staked (confirmed)"
                    }
                )),
                Status::Refused => blocked.push(format!(
                    "{what} was refused as front-run in bundle {other} and stays refused"
                )),
                _ if foreign => blocked.push(format!(
                    "{what} has a foreign deposit on chain (front-run) and is never staked by the pool"
                )),
                Status::Imported | Status::Reverted => {
                    if old.signature != v.signature
                        || old.deposit_data_root != v.deposit_data_root.to_vec()
                    {
                        blocked.push(format!(
                            "{what} is re-issued with deposit data different from bundle {other}'s (signature or deposit data root): a re-created key must keep byte-identical deposit data"
                        ));
                    } else {
                        takeovers.push((v, old));
                    }
                }
            }
        }
        if !blocked.is_empty() {
            // Dropping the transaction rolls the bundle rows back.
            return Err(Error::refused(format!(
                "bundle {id} ({}) cannot be imported: {}",
                b.ceremony_id,
                blocked.join("; ")
            )));
        }
        let mut added = 0;
        for v in fresh {
            let pk = h(&v.pubkey);
            tx.execute(
                "INSERT INTO validators (pubkey, bundle_id, idx, position, owner_nonce, status, signature,
                 deposit_data_root, shares_data, leaf) VALUES (?1, ?2, ?3, ?4, ?5, 'imported', ?6, ?7, ?8, ?9)",
                params![
                    pk,
                    id,
                    v.index,
                    v.position as i64,
                    v.owner_nonce as i64,
                    v.signature,
                    v.deposit_data_root.to_vec(),
                    v.shares_data,
                    v.leaf.to_vec()
                ],
            )
            .map_err(|s| e("insert validator", s))?;
            tx.execute(
                "INSERT INTO history (pubkey, status, at, note) VALUES (?1, 'imported', ?2, ?3)",
                params![pk, now(), format!("bundle {} ({})", id, b.ceremony_id)],
            )
            .map_err(|s| e("append history", s))?;
            added += 1;
        }
        for (v, old) in takeovers {
            let pk = h(&v.pubkey);
            tx.execute(
                "INSERT INTO superseded (pubkey, bundle_id, idx, position, owner_nonce, status, leaf, by_bundle, at)
                 SELECT pubkey, bundle_id, idx, position, owner_nonce, status, leaf, ?2, ?3 FROM validators WHERE pubkey = ?1",
                params![pk, id, now()],
            )
            .map_err(|s| e("archive the superseded validator", s))?;
            tx.execute(
                "UPDATE validators SET bundle_id = ?2, idx = ?3, position = ?4, owner_nonce = ?5, status = 'imported',
                 tx_hash = NULL, block_number = NULL, shares_data = ?6, leaf = ?7 WHERE pubkey = ?1",
                params![
                    pk,
                    id,
                    v.index,
                    v.position as i64,
                    v.owner_nonce as i64,
                    v.shares_data,
                    v.leaf.to_vec()
                ],
            )
            .map_err(|s| e("take the validator over", s))?;
            if commit {
                tracing::info!(
                pubkey = %pk,
                from = %old.bundle_id,
                to = %id,
                owner_nonce = v.owner_nonce,
                "validator taken over by a newer bundle (re-created key shares)"
                );
            }
            tx.execute(
                "INSERT INTO history (pubkey, status, at, note) VALUES (?1, 'superseded', ?2, ?3)",
                params![
                    pk,
                    now(),
                    format!(
                        "superseded by bundle {id} ({}): owner nonce {} there (was {} in bundle {}, {})",
                        b.ceremony_id,
                        v.owner_nonce,
                        old.owner_nonce,
                        old.bundle_id,
                        old.status.as_str()
                    )
                ],
            )
            .map_err(|s| e("append history", s))?;
            added += 1;
        }
        if commit {
            tx.commit().map_err(|s| e("commit import", s))?;
        }
        // Otherwise dropping the transaction rolls everything back.
        Ok(added)
    }

    /// Sets a validator's status and appends the history entry, in one transaction.
    pub fn set_status(
        &mut self,
        pubkeys: &[String],
        status: Status,
        tx_hash: Option<&str>,
        block_number: Option<u64>,
        note: Option<&str>,
    ) -> Result<()> {
        let path = self.path.clone();
        let e = store_error(&path);
        let tx = self
            .conn
            .transaction()
            .map_err(|s| e("begin status update", s))?;
        for pk in pubkeys {
            tx.execute(
                "UPDATE validators SET status = ?2, tx_hash = COALESCE(?3, tx_hash), block_number = ?4 WHERE pubkey = ?1",
                params![pk, status.as_str(), tx_hash, block_number.map(|b| b as i64)],
            )
            .map_err(|s| e("update validator", s))?;
            tx.execute(
                "INSERT INTO history (pubkey, status, tx_hash, block_number, at, note) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![pk, status.as_str(), tx_hash, block_number.map(|b| b as i64), now(), note],
            )
            .map_err(|s| e("append history", s))?;
        }
        tx.commit().map_err(|s| e("commit status update", s))
    }

    /// Every validator, in (bundle, position) order.
    pub fn validators(&self) -> Result<Vec<ValidatorRow>> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT pubkey, bundle_id, idx, position, owner_nonce, status, tx_hash, block_number, signature,
                 deposit_data_root, shares_data, leaf FROM validators ORDER BY owner_nonce, bundle_id, position",
            )
            .map_err(|e| self.err("query validators", e))?;
        let rows = stmt
            .query_map([], |r| {
                let ddr: Vec<u8> = r.get(9)?;
                let leaf: Vec<u8> = r.get(11)?;
                let mut d = [0u8; 32];
                let mut l = [0u8; 32];
                if ddr.len() == 32 {
                    d.copy_from_slice(&ddr);
                }
                if leaf.len() == 32 {
                    l.copy_from_slice(&leaf);
                }
                Ok(ValidatorRow {
                    pubkey: r.get(0)?,
                    bundle_id: r.get(1)?,
                    index: r.get(2)?,
                    position: r.get::<_, i64>(3)? as usize,
                    owner_nonce: r.get::<_, i64>(4)? as u64,
                    status: Status::parse(&r.get::<_, String>(5)?),
                    tx_hash: r.get(6)?,
                    block_number: r.get::<_, Option<i64>>(7)?.map(|b| b as u64),
                    signature: r.get(8)?,
                    deposit_data_root: d,
                    shares_data: r.get(10)?,
                    leaf: l,
                })
            })
            .map_err(|e| self.err("query validators", e))?;
        rows.collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| self.err("read validators", e))
    }

    /// Every bundle.
    pub fn bundles(&self) -> Result<Vec<BundleRow>> {
        let mut stmt = self
            .conn
            .prepare("SELECT id, ceremony_id, path, operator_ids, withdrawal_type, imported_at FROM bundles ORDER BY imported_at")
            .map_err(|e| self.err("query bundles", e))?;
        let rows = stmt
            .query_map([], |r| {
                let ids: String = r.get(3)?;
                Ok(BundleRow {
                    id: r.get(0)?,
                    ceremony_id: r.get(1)?,
                    path: r.get(2)?,
                    operator_ids: serde_json::from_str(&ids).unwrap_or_default(),
                    withdrawal_type: r.get(4)?,
                    imported_at: r.get(5)?,
                })
            })
            .map_err(|e| self.err("query bundles", e))?;
        rows.collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| self.err("read bundles", e))
    }

    /// The leaves of a bundle, in manifest order (for proofs).
    pub fn leaves(&self, bundle_id: &str) -> Result<Vec<[u8; 32]>> {
        let mut stmt = self
            .conn
            .prepare("SELECT leaf, position FROM validators WHERE bundle_id = ?1
                 UNION ALL SELECT leaf, position FROM superseded WHERE bundle_id = ?1 ORDER BY position")
            .map_err(|e| self.err("query leaves", e))?;
        let rows = stmt
            .query_map(params![bundle_id], |r| {
                let v: Vec<u8> = r.get(0)?;
                let mut l = [0u8; 32];
                if v.len() == 32 {
                    l.copy_from_slice(&v);
                }
                Ok(l)
            })
            .map_err(|e| self.err("query leaves", e))?;
        rows.collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| self.err("read leaves", e))
    }

    /// What the policy checks a `stake` of bundle `id` (its root, `0x` hex) against; `None`
    /// when no such bundle was imported.
    pub fn bundle_facts(&self, id: &str) -> Result<Option<BundleFacts>> {
        self.conn
            .query_row(
                "SELECT withdrawal_address, owner_address, operators FROM bundle_facts WHERE bundle_id = ?1",
                params![id.to_ascii_lowercase()],
                |r| {
                    let ops: String = r.get(2)?;
                    Ok(BundleFacts {
                        withdrawal_address: r.get(0)?,
                        owner_address: r.get(1)?,
                        operators: serde_json::from_str(&ops).unwrap_or_default(),
                    })
                },
            )
            .optional()
            .map_err(|e| self.err("query bundle facts", e))
    }

    /// The bundle a validator (`0x` hex pubkey) was imported from, if any.
    pub fn validator_bundle(&self, pubkey: &str) -> Result<Option<String>> {
        self.conn
            .query_row(
                "SELECT bundle_id FROM validators WHERE pubkey = ?1",
                params![pubkey.to_ascii_lowercase()],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.err("look up validator", e))
    }

    /// The front-running scan's cursor, if a scan was recorded.
    pub fn deposit_scan(&self) -> Result<Option<DepositScan>> {
        self.conn
            .query_row(
                "SELECT deposit_contract, first_block, keys_digest, scanned_from, last_block FROM deposit_scan WHERE id = 1",
                [],
                |r| {
                    Ok(DepositScan {
                        deposit_contract: r.get(0)?,
                        first_block: r.get::<_, i64>(1)? as u64,
                        keys_digest: r.get(2)?,
                        scanned_from: r.get::<_, i64>(3)? as u64,
                        last_block: r.get::<_, i64>(4)? as u64,
                    })
                },
            )
            .optional()
            .map_err(|e| self.err("query the deposit scan cursor", e))
    }

    /// Records a scan in one transaction: the deposits it found for the pool's keys (kept for
    /// good, even if a reorg later drops them: the store errs on the safe side), then the cursor.
    pub fn record_deposit_scan(
        &self,
        scan: &DepositScan,
        found: &[crate::stake::FrontRunDeposit],
    ) -> Result<()> {
        let path = self.path.clone();
        let e = store_error(&path);
        let tx = self
            .conn
            .unchecked_transaction()
            .map_err(|s| e("begin deposit scan", s))?;
        for d in found {
            tx.execute(
                "INSERT OR IGNORE INTO foreign_deposits (pubkey, tx_hash, block_number, withdrawal_credentials, found_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    d.pubkey.to_ascii_lowercase(),
                    d.tx,
                    d.block.map(|b| b as i64),
                    d.withdrawal_credentials,
                    now()
                ],
            )
            .map_err(|s| e("record a foreign deposit", s))?;
        }
        tx.execute(
            "INSERT INTO deposit_scan (id, deposit_contract, first_block, keys_digest, scanned_from, last_block)
             VALUES (1, ?1, ?2, ?3, ?4, ?5)
             ON CONFLICT(id) DO UPDATE SET deposit_contract = ?1, first_block = ?2, keys_digest = ?3,
             scanned_from = ?4, last_block = ?5",
            params![
                scan.deposit_contract,
                scan.first_block as i64,
                scan.keys_digest,
                scan.scanned_from as i64,
                scan.last_block as i64
            ],
        )
        .map_err(|s| e("advance the deposit scan cursor", s))?;
        tx.commit().map_err(|s| e("commit deposit scan", s))
    }

    /// The recorded foreign deposits for any of `pubkeys` (`0x` hex), in `pubkeys` order.
    pub fn foreign_deposits(&self, pubkeys: &[&str]) -> Result<Vec<crate::stake::FrontRunDeposit>> {
        let mut out = Vec::new();
        for pk in pubkeys {
            let row = self
                .conn
                .query_row(
                    "SELECT pubkey, tx_hash, block_number, withdrawal_credentials FROM foreign_deposits WHERE pubkey = ?1",
                    params![pk.to_ascii_lowercase()],
                    |r| {
                        Ok(crate::stake::FrontRunDeposit {
                            pubkey: r.get(0)?,
                            tx: r.get(1)?,
                            block: r.get::<_, Option<i64>>(2)?.map(|b| b as u64),
                            withdrawal_credentials: r.get(3)?,
                        })
                    },
                )
                .optional()
                .map_err(|e| self.err("query foreign deposits", e))?;
            out.extend(row);
        }
        Ok(out)
    }

    /// A validator's status (`0x` hex pubkey), if it was imported.
    pub fn validator_status(&self, pubkey: &str) -> Result<Option<Status>> {
        self.conn
            .query_row(
                "SELECT status FROM validators WHERE pubkey = ?1",
                params![pubkey.to_ascii_lowercase()],
                |r| r.get::<_, String>(0),
            )
            .optional()
            .map(|s| s.map(|s| Status::parse(&s)))
            .map_err(|e| self.err("look up validator status", e))
    }

    /// Value (wei) and validators the key signed for on `day` (`YYYY-MM-DD`, UTC).
    pub fn signed_on(&self, day: &str) -> Result<(alloy::primitives::U256, u64)> {
        let mut stmt = self
            .conn
            .prepare("SELECT value_wei, validators FROM policy_ledger WHERE day = ?1")
            .map_err(|e| self.err("query policy ledger", e))?;
        let rows = stmt
            .query_map(params![day], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
            })
            .map_err(|e| self.err("query policy ledger", e))?;
        let mut value = alloy::primitives::U256::ZERO;
        let mut validators = 0u64;
        for row in rows {
            let (v, n) = row.map_err(|e| self.err("read policy ledger", e))?;
            // An unreadable amount counts as the maximum: the caps fail closed.
            value = value.saturating_add(v.parse().unwrap_or(alloy::primitives::U256::MAX));
            validators = validators.saturating_add(n.max(0) as u64);
        }
        Ok((value, validators))
    }

    /// ETH (wei) for SSV cluster fees the key signed for on `day` (`YYYY-MM-DD`, UTC).
    pub fn ssv_fees_on(&self, day: &str) -> Result<alloy::primitives::U256> {
        let mut stmt = self
            .conn
            .prepare("SELECT ssv_fee_wei FROM policy_ledger WHERE day = ?1")
            .map_err(|e| self.err("query policy ledger", e))?;
        let rows = stmt
            .query_map(params![day], |r| r.get::<_, String>(0))
            .map_err(|e| self.err("query policy ledger", e))?;
        let mut total = alloy::primitives::U256::ZERO;
        for row in rows {
            let v = row.map_err(|e| self.err("read policy ledger", e))?;
            // An unreadable amount counts as the maximum: the caps fail closed.
            total = total.saturating_add(v.parse().unwrap_or(alloy::primitives::U256::MAX));
        }
        Ok(total)
    }

    /// Appends one signed transaction to the policy ledger.
    pub fn record_signed(&self, entry: &LedgerEntry) -> Result<()> {
        self.conn
            .execute(
                "INSERT INTO policy_ledger (day, at, sighash, target, selector, value_wei, validators, ssv_fee_wei)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    entry.day,
                    now(),
                    entry.sighash,
                    entry.target,
                    entry.selector,
                    entry.value_wei,
                    entry.validators as i64,
                    entry.ssv_fee_wei
                ],
            )
            .map(|_| ())
            .map_err(|e| self.err("append to the policy ledger", e))
    }

    /// The whole history, oldest first.
    pub fn history(&self) -> Result<Vec<HistoryRow>> {
        let mut stmt = self
            .conn
            .prepare("SELECT seq, pubkey, status, tx_hash, block_number, at, note FROM history ORDER BY seq")
            .map_err(|e| self.err("query history", e))?;
        let rows = stmt
            .query_map([], |r| {
                Ok(HistoryRow {
                    seq: r.get(0)?,
                    pubkey: r.get(1)?,
                    status: r.get(2)?,
                    tx_hash: r.get(3)?,
                    block_number: r.get::<_, Option<i64>>(4)?.map(|b| b as u64),
                    at: r.get(5)?,
                    note: r.get(6)?,
                })
            })
            .map_err(|e| self.err("query history", e))?;
        rows.collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| self.err("read history", e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bundle::BundleValidator;

    fn bundle(n: usize, root: u8) -> VerifiedBundle {
        VerifiedBundle {
            dir: PathBuf::from("/b"),
            ceremony_id: "c".into(),
            network: "custom".into(),
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

    #[test]
    fn import_is_idempotent_and_history_is_append_only() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(dir.path()).unwrap();
        assert_eq!(s.import(&bundle(3, 9)).unwrap(), 3);
        assert_eq!(s.import(&bundle(3, 9)).unwrap(), 0);
        let pk = s.validators().unwrap()[0].pubkey.clone();
        s.set_status(
            std::slice::from_ref(&pk),
            Status::Sent,
            Some("0xabc"),
            None,
            None,
        )
        .unwrap();
        s.set_status(
            std::slice::from_ref(&pk),
            Status::Confirmed,
            None,
            Some(7),
            None,
        )
        .unwrap();
        // A newer bundle re-issuing a staked key is refused, naming it; nothing is recorded.
        let err = s.import(&bundle(1, 8)).unwrap_err();
        assert!(
            err.to_string().contains("already staked (confirmed)"),
            "{err}"
        );
        assert!(err.to_string().contains(&pk), "{err}");
        assert_eq!(s.bundles().unwrap().len(), 1);
        let v = &s.validators().unwrap()[0];
        assert_eq!(v.status, Status::Confirmed);
        assert_eq!(v.tx_hash.as_deref(), Some("0xabc"));
        assert_eq!(s.history().unwrap().len(), 5);
        assert!(s.conn.execute("DELETE FROM history", []).is_err());
        assert!(s
            .conn
            .execute("UPDATE history SET status = 'x'", [])
            .is_err());
        assert_eq!(s.leaves(&h(&[9; 32])).unwrap().len(), 3);
    }

    /// Keys 1 and 2 of `bundle(3, 9)` re-created at positions 0, 1 with owner nonces 0, 1.
    fn recreated(root: u8, keys: &[u8]) -> VerifiedBundle {
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

    #[test]
    fn a_newer_bundle_takes_over_keys_that_are_not_staked() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(dir.path()).unwrap();
        s.import(&bundle(3, 9)).unwrap();
        let pk = |k: u8| h(&[k; 48]);
        s.set_status(&[pk(0)], Status::Refused, None, None, Some("front_run: x"))
            .unwrap();
        s.set_status(&[pk(2)], Status::Reverted, None, None, None)
            .unwrap();
        let history_before = s.history().unwrap().len();

        // A dry run records nothing.
        assert_eq!(s.check_import(&recreated(100, &[1, 2])).unwrap(), 2);
        assert_eq!(s.history().unwrap().len(), history_before);
        assert_eq!(s.bundles().unwrap().len(), 1);
        assert_eq!(s.validator_bundle(&pk(1)).unwrap(), Some(h(&[9; 32])));
        assert_eq!(s.import(&recreated(100, &[1, 2])).unwrap(), 2);
        let vs = s.validators().unwrap();
        let row = |k: u8| vs.iter().find(|v| v.pubkey == pk(k)).unwrap().clone();
        assert_eq!(row(0).bundle_id, h(&[9; 32]));
        assert_eq!(row(0).status, Status::Refused);
        for (k, nonce) in [(1, 0), (2, 1)] {
            let v = row(k);
            assert_eq!(v.bundle_id, h(&[100; 32]));
            assert_eq!(v.owner_nonce, nonce);
            assert_eq!(v.position, nonce as usize);
            assert_eq!(v.status, Status::Imported);
            assert_eq!(v.shares_data, vec![3, 100]);
        }
        let history = s.history().unwrap();
        assert_eq!(history.len(), history_before + 2, "appended only");
        for row in &history[history_before..] {
            assert_eq!(row.status, "superseded");
            let note = row.note.as_deref().unwrap();
            assert!(
                note.starts_with(&format!("superseded by bundle {}", h(&[100; 32]))),
                "{note}"
            );
            assert!(note.contains(&h(&[9; 32])), "{note}");
        }
        // The old bundle's leaves stay complete (proofs), the new one has its own.
        assert_eq!(
            s.leaves(&h(&[9; 32])).unwrap(),
            vec![[0; 32], [1; 32], [2; 32]]
        );
        assert_eq!(
            s.leaves(&h(&[100; 32])).unwrap(),
            vec![[100; 32], [101; 32]]
        );
        // Importing the old bundle again changes nothing.
        assert_eq!(s.import(&bundle(3, 9)).unwrap(), 0);
        assert_eq!(s.validator_bundle(&pk(1)).unwrap(), Some(h(&[100; 32])));
        assert_eq!(s.history().unwrap().len(), history_before + 2);

        // A front-run key stays refused.
        let err = s.import(&recreated(110, &[0])).unwrap_err().to_string();
        assert!(
            err.contains("refused as front-run") && err.contains(&pk(0)),
            "{err}"
        );
        // Different deposit data for the same key is refused.
        let mut other = recreated(120, &[1]);
        other.validators[0].signature = vec![1; 96];
        let err = s.import(&other).unwrap_err().to_string();
        assert!(
            err.contains("deposit data") && err.contains(&pk(1)),
            "{err}"
        );
        let mut other = recreated(121, &[1]);
        other.validators[0].deposit_data_root = [1; 32];
        assert!(s.import(&other).is_err());
        // Sent and confirmed keys are named; nothing is recorded.
        s.set_status(&[pk(1)], Status::Sent, Some("0xabc"), None, None)
            .unwrap();
        s.set_status(&[pk(2)], Status::Confirmed, Some("0xabc"), Some(9), None)
            .unwrap();
        let err = s.import(&recreated(130, &[1, 2])).unwrap_err().to_string();
        assert!(
            err.contains(&format!("{} (index 1) is already sent", pk(1))),
            "{err}"
        );
        assert!(
            err.contains(&format!(
                "{} (index 2) is already staked (confirmed)",
                pk(2)
            )),
            "{err}"
        );
        assert_eq!(s.bundles().unwrap().len(), 2);
        assert!(s.conn.execute("DELETE FROM superseded", []).is_err());
    }

    #[test]
    fn a_key_with_a_foreign_deposit_is_not_taken_over() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(dir.path()).unwrap();
        s.import(&bundle(3, 9)).unwrap();
        let scan = DepositScan {
            deposit_contract: "0xaa".into(),
            first_block: 1,
            keys_digest: "0xd".into(),
            scanned_from: 1,
            last_block: 10,
        };
        let d = crate::stake::FrontRunDeposit {
            pubkey: h(&[2; 48]),
            tx: Some("0x1".into()),
            block: Some(5),
            withdrawal_credentials: "0x01".into(),
        };
        s.record_deposit_scan(&scan, &[d]).unwrap();
        let err = s.import(&recreated(100, &[1, 2])).unwrap_err().to_string();
        assert!(
            err.contains("foreign deposit") && err.contains(&h(&[2; 48])),
            "{err}"
        );
        assert_eq!(s.validator_bundle(&h(&[1; 48])).unwrap(), Some(h(&[9; 32])));
    }

    #[test]
    fn deposit_scan_cursor_and_foreign_deposits_persist() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        assert!(s.deposit_scan().unwrap().is_none());
        let d = |pk: &str, tx: &str| crate::stake::FrontRunDeposit {
            pubkey: pk.into(),
            tx: Some(tx.into()),
            block: Some(5),
            withdrawal_credentials: "0x01".into(),
        };
        let mut scan = DepositScan {
            deposit_contract: "0xaa".into(),
            first_block: 1,
            keys_digest: "0xd".into(),
            scanned_from: 1,
            last_block: 100,
        };
        s.record_deposit_scan(&scan, &[d("0xAB", "0x1")]).unwrap();
        scan.scanned_from = 36;
        scan.last_block = 120;
        // Seen again in the rescan window: the first record stays.
        s.record_deposit_scan(&scan, &[d("0xab", "0x2")]).unwrap();
        drop(s);
        let s = Store::open(dir.path()).unwrap();
        assert_eq!(s.deposit_scan().unwrap(), Some(scan));
        let f = s.foreign_deposits(&["0xcd", "0xAb"]).unwrap();
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].pubkey, "0xab");
        assert_eq!(f[0].tx.as_deref(), Some("0x1"));
    }

    #[test]
    fn policy_ledger_survives_a_restart_and_is_append_only() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        let e = |v: &str, n: u64| LedgerEntry {
            day: "2026-11-25".into(),
            sighash: "0x01".into(),
            target: "0xaa".into(),
            selector: "0x12345678".into(),
            value_wei: v.into(),
            validators: n,
            ssv_fee_wei: v.into(),
        };
        s.record_signed(&e("5", 3)).unwrap();
        s.record_signed(&e("7", 1)).unwrap();
        drop(s);
        let s = Store::open(dir.path()).unwrap();
        assert_eq!(
            s.signed_on("2026-11-25").unwrap(),
            (alloy::primitives::U256::from(12u64), 4)
        );
        assert_eq!(
            s.signed_on("2026-11-26").unwrap(),
            (alloy::primitives::U256::ZERO, 0)
        );
        assert!(s.conn.execute("DELETE FROM policy_ledger", []).is_err());
        assert!(s
            .conn
            .execute("UPDATE policy_ledger SET validators = 0", [])
            .is_err());
        let b = bundle(2, 9);
        let mut s = s;
        s.import(&b).unwrap();
        let f = s.bundle_facts(&h(&[9; 32])).unwrap().unwrap();
        assert_eq!(f.operators, vec![(1, "aa".to_string())]);
        assert!(s.validator_bundle(&h(&[0; 48])).unwrap().is_some());
        assert!(s.validator_bundle(&h(&[7; 48])).unwrap().is_none());
    }
}
