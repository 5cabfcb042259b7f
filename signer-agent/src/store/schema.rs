//! The store's schema and its migrations, numbered by SQLite's `PRAGMA user_version`.
//!
//! - Version 0: a store made before the schema was versioned (any of its historical shapes: a
//!   policy ledger without `ssv_fee_wei` or `nonce`, maintenance tables present or not).
//! - Version 1: the unversioned schema completed: every table, the ledger's late columns, the
//!   maintenance tables (which were created on first use).
//! - Version 2: CHECK constraints: status columns hold only the values the agent knows, hashes
//!   and leaves are 32 bytes, deposit signatures 96. Tables are rebuilt; a row that breaks a
//!   constraint stops the migration (nothing is changed) and names the table.
//!
//! - Version 3: the tables that were created on first use outside the versioned schema: the
//!   signed transactions (`crate::replace`; now with an insertion-order `seq`, the row id they
//!   were ordered by) and the reshare bundles and their validators
//!   (`crate::maintenance::reshare`). A store made before keeps their rows.
//!
//! PostgreSQL stores ([`super::pg`]) have the same tables and columns at the same version
//! numbers.
//!
//! A store whose version is newer than [`VERSION`] is refused ([`crate::Error::StoreTooNew`]):
//! an older agent does not write into a schema it does not know.

use std::path::Path;

use rusqlite::Connection;

use crate::error::{Error, Result};

/// The schema version this agent writes.
pub const VERSION: i64 = 3;

/// Version 1: the schema as the unversioned agents created it (`IF NOT EXISTS`: a version-0
/// store keeps its tables and rows).
const V1: &str = r#"
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
CREATE TABLE IF NOT EXISTS maint_tx (
    hash TEXT PRIMARY KEY,
    action TEXT NOT NULL,
    subjects TEXT NOT NULL,
    state TEXT NOT NULL,
    nonce INTEGER,
    block_number INTEGER,
    sent_at TEXT NOT NULL,
    settled_at TEXT,
    note TEXT
);
CREATE TABLE IF NOT EXISTS exits (
    pubkey TEXT PRIMARY KEY,
    operator_ids TEXT NOT NULL,
    state TEXT NOT NULL,
    tx_hash TEXT,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS maintenance_ledger (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    day TEXT NOT NULL,
    at TEXT NOT NULL,
    sighash TEXT NOT NULL,
    action TEXT NOT NULL,
    count INTEGER NOT NULL,
    amount_wei TEXT NOT NULL,
    nonce INTEGER
);
"#;

/// Version 2: the tables with status columns or fixed-length blobs rebuilt with CHECK
/// constraints (SQLite cannot add one to an existing table), rows copied as they are; then the
/// append-only triggers and indexes.
const V2: &str = r#"
CREATE TABLE validators_v2 (
    pubkey TEXT PRIMARY KEY,
    bundle_id TEXT NOT NULL REFERENCES bundles(id),
    idx INTEGER NOT NULL CHECK (idx >= 0),
    position INTEGER NOT NULL CHECK (position >= 0),
    owner_nonce INTEGER NOT NULL CHECK (owner_nonce >= 0),
    status TEXT NOT NULL CHECK (status IN ('imported', 'sent', 'confirmed', 'reverted', 'refused')),
    tx_hash TEXT,
    block_number INTEGER CHECK (block_number >= 0),
    signature BLOB NOT NULL CHECK (length(signature) = 96),
    deposit_data_root BLOB NOT NULL CHECK (length(deposit_data_root) = 32),
    shares_data BLOB NOT NULL,
    leaf BLOB NOT NULL CHECK (length(leaf) = 32)
);
INSERT INTO validators_v2 SELECT pubkey, bundle_id, idx, position, owner_nonce, status, tx_hash,
    block_number, signature, deposit_data_root, shares_data, leaf FROM validators;
DROP TABLE validators;
ALTER TABLE validators_v2 RENAME TO validators;

CREATE TABLE history_v2 (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    pubkey TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('imported', 'sent', 'confirmed', 'reverted', 'refused',
        'superseded', 'exit_requested', 'exiting', 'exited', 'withdrawn', 'removed',
        'reshared', 'reshare_imported')),
    tx_hash TEXT,
    block_number INTEGER,
    at TEXT NOT NULL,
    note TEXT
);
INSERT INTO history_v2 SELECT seq, pubkey, status, tx_hash, block_number, at, note FROM history;
DROP TABLE history;
ALTER TABLE history_v2 RENAME TO history;

CREATE TABLE superseded_v2 (
    pubkey TEXT NOT NULL,
    bundle_id TEXT NOT NULL REFERENCES bundles(id),
    idx INTEGER NOT NULL,
    position INTEGER NOT NULL,
    owner_nonce INTEGER NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('imported', 'reverted')),
    leaf BLOB NOT NULL CHECK (length(leaf) = 32),
    by_bundle TEXT NOT NULL REFERENCES bundles(id),
    at TEXT NOT NULL,
    PRIMARY KEY (pubkey, bundle_id)
);
INSERT INTO superseded_v2 SELECT pubkey, bundle_id, idx, position, owner_nonce, status, leaf,
    by_bundle, at FROM superseded;
DROP TABLE superseded;
ALTER TABLE superseded_v2 RENAME TO superseded;

CREATE TABLE maint_tx_v2 (
    hash TEXT PRIMARY KEY,
    action TEXT NOT NULL CHECK (action IN ('top_up', 'reactivate', 'exit', 'fund', 'remove', 'reshare')),
    subjects TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('sent', 'confirmed', 'reverted', 'dropped')),
    nonce INTEGER,
    block_number INTEGER,
    sent_at TEXT NOT NULL,
    settled_at TEXT,
    note TEXT
);
INSERT INTO maint_tx_v2 SELECT hash, action, subjects, state, nonce, block_number, sent_at,
    settled_at, note FROM maint_tx;
DROP TABLE maint_tx;
ALTER TABLE maint_tx_v2 RENAME TO maint_tx;

CREATE TABLE exits_v2 (
    pubkey TEXT PRIMARY KEY,
    operator_ids TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('exit_requested', 'exiting', 'exited', 'withdrawn', 'removed')),
    tx_hash TEXT,
    updated_at TEXT NOT NULL
);
INSERT INTO exits_v2 SELECT pubkey, operator_ids, state, tx_hash, updated_at FROM exits;
DROP TABLE exits;
ALTER TABLE exits_v2 RENAME TO exits;

CREATE TABLE maintenance_ledger_v2 (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    day TEXT NOT NULL,
    at TEXT NOT NULL,
    sighash TEXT NOT NULL,
    action TEXT NOT NULL CHECK (action IN ('top_up', 'reactivate', 'exit', 'fund', 'remove', 'reshare')),
    count INTEGER NOT NULL,
    amount_wei TEXT NOT NULL,
    nonce INTEGER
);
INSERT INTO maintenance_ledger_v2 SELECT seq, day, at, sighash, action, count, amount_wei, nonce
    FROM maintenance_ledger;
DROP TABLE maintenance_ledger;
ALTER TABLE maintenance_ledger_v2 RENAME TO maintenance_ledger;

CREATE INDEX IF NOT EXISTS policy_ledger_day ON policy_ledger(day);
CREATE TRIGGER IF NOT EXISTS superseded_no_update BEFORE UPDATE ON superseded
    BEGIN SELECT RAISE(ABORT, 'superseded is append-only'); END;
CREATE TRIGGER IF NOT EXISTS superseded_no_delete BEFORE DELETE ON superseded
    BEGIN SELECT RAISE(ABORT, 'superseded is append-only'); END;
CREATE TRIGGER IF NOT EXISTS policy_ledger_no_update BEFORE UPDATE ON policy_ledger
    BEGIN SELECT RAISE(ABORT, 'the policy ledger is append-only'); END;
CREATE TRIGGER IF NOT EXISTS policy_ledger_no_delete BEFORE DELETE ON policy_ledger
    BEGIN SELECT RAISE(ABORT, 'the policy ledger is append-only'); END;
CREATE TRIGGER IF NOT EXISTS history_no_update BEFORE UPDATE ON history
    BEGIN SELECT RAISE(ABORT, 'history is append-only'); END;
CREATE TRIGGER IF NOT EXISTS history_no_delete BEFORE DELETE ON history
    BEGIN SELECT RAISE(ABORT, 'history is append-only'); END;
CREATE TRIGGER IF NOT EXISTS maintenance_ledger_no_update BEFORE UPDATE ON maintenance_ledger
    BEGIN SELECT RAISE(ABORT, 'the maintenance ledger is append-only'); END;
CREATE TRIGGER IF NOT EXISTS maintenance_ledger_no_delete BEFORE DELETE ON maintenance_ledger
    BEGIN SELECT RAISE(ABORT, 'the maintenance ledger is append-only'); END;
"#;

/// Version 3: the tables made on first use before (their first shape, `IF NOT EXISTS`), then
/// `transactions` rebuilt with `seq` (its rows keep their order: `seq` is their row id).
const V3: &str = r#"
CREATE TABLE IF NOT EXISTS transactions (
    hash TEXT PRIMARY KEY,
    sender TEXT NOT NULL,
    nonce INTEGER NOT NULL,
    kind TEXT NOT NULL,
    target TEXT NOT NULL,
    input BLOB NOT NULL,
    value TEXT NOT NULL,
    gas_limit INTEGER NOT NULL,
    max_fee TEXT NOT NULL,
    max_priority_fee TEXT NOT NULL,
    replaces TEXT,
    pubkeys TEXT NOT NULL,
    signed_at TEXT NOT NULL,
    state TEXT NOT NULL
);
CREATE TABLE transactions_v3 (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    hash TEXT NOT NULL UNIQUE,
    sender TEXT NOT NULL,
    nonce INTEGER NOT NULL CHECK (nonce >= 0),
    kind TEXT NOT NULL,
    target TEXT NOT NULL,
    input BLOB NOT NULL,
    value TEXT NOT NULL,
    gas_limit INTEGER NOT NULL,
    max_fee TEXT NOT NULL,
    max_priority_fee TEXT NOT NULL,
    replaces TEXT,
    pubkeys TEXT NOT NULL,
    signed_at TEXT NOT NULL,
    state TEXT NOT NULL
);
INSERT INTO transactions_v3 (seq, hash, sender, nonce, kind, target, input, value, gas_limit,
    max_fee, max_priority_fee, replaces, pubkeys, signed_at, state)
    SELECT rowid, hash, sender, nonce, kind, target, input, value, gas_limit, max_fee,
    max_priority_fee, replaces, pubkeys, signed_at, state FROM transactions ORDER BY rowid;
DROP TABLE transactions;
ALTER TABLE transactions_v3 RENAME TO transactions;
CREATE INDEX transactions_nonce ON transactions(sender, nonce);

CREATE TABLE IF NOT EXISTS reshare_bundles (
    id TEXT PRIMARY KEY,
    ceremony_id TEXT NOT NULL,
    path TEXT NOT NULL,
    operator_ids TEXT NOT NULL,
    operators TEXT NOT NULL,
    source_root TEXT NOT NULL,
    imported_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS reshares (
    pubkey TEXT NOT NULL,
    bundle_id TEXT NOT NULL REFERENCES reshare_bundles(id),
    position INTEGER NOT NULL,
    owner_nonce INTEGER NOT NULL,
    shares_data BLOB NOT NULL,
    leaf BLOB NOT NULL,
    state TEXT NOT NULL,
    tx_hash TEXT,
    PRIMARY KEY (pubkey, bundle_id)
);
"#;

/// The policy ledger's columns added after its first version, with their declarations.
const LEDGER_LATE_COLUMNS: [(&str, &str); 2] = [
    // SSV v2: ETH sent as SSV cluster fees.
    ("ssv_fee_wei", "TEXT NOT NULL DEFAULT '0'"),
    // Transaction replacement: the nonce a transaction used.
    ("nonce", "INTEGER"),
];

/// The schema version of the open database.
pub(crate) fn version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.pragma_query_value(None, "user_version", |r| r.get(0))
}

/// Brings the database to [`VERSION`] in one transaction (nothing changes if a step fails);
/// refuses a database newer than this agent.
pub(crate) fn migrate(conn: &mut Connection, path: &Path) -> Result<()> {
    let e = |action: &str, source: rusqlite::Error| Error::Store {
        path: path.to_owned(),
        action: action.to_owned(),
        source: source.into(),
    };
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(|s| e("begin the schema migration", s))?;
    let found = version(&tx).map_err(|s| e("read the schema version", s))?;
    if found > VERSION {
        return Err(Error::StoreTooNew {
            store: path.display().to_string(),
            found,
            supported: VERSION,
        });
    }
    if found == VERSION {
        return Ok(());
    }
    if found < 1 {
        tx.execute_batch(V1)
            .map_err(|s| e("migrate the schema to version 1", s))?;
        for (column, decl) in LEDGER_LATE_COLUMNS {
            let has: bool = tx
                .query_row(
                    "SELECT EXISTS(SELECT 1 FROM pragma_table_info('policy_ledger') WHERE name = ?1)",
                    [column],
                    |r| r.get(0),
                )
                .map_err(|s| e("read the policy ledger's columns", s))?;
            if !has {
                tx.execute_batch(&format!(
                    "ALTER TABLE policy_ledger ADD COLUMN {column} {decl}"
                ))
                .map_err(|s| e(&format!("add {column} to the policy ledger"), s))?;
            }
        }
    }
    if found < 2 {
        tx.execute_batch(V2)
            .map_err(|s| e("migrate the schema to version 2 (CHECK constraints)", s))?;
    }
    if found < 3 {
        tx.execute_batch(V3).map_err(|s| {
            e(
                "migrate the schema to version 3 (transactions and reshare tables)",
                s,
            )
        })?;
    }
    tx.pragma_update(None, "user_version", VERSION)
        .map_err(|s| e("record the schema version", s))?;
    tx.commit().map_err(|s| e("commit the schema migration", s))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    /// A store as the unversioned agent left it: its DDL (from before SSV v2 for the ledger)
    /// and a row in each kind of table.
    fn unversioned_store(dir: &Path) {
        let old = Connection::open(dir.join("state.sqlite")).unwrap();
        old.execute_batch(
            "CREATE TABLE bundles (id TEXT PRIMARY KEY, ceremony_id TEXT NOT NULL, path TEXT NOT NULL,
                operator_ids TEXT NOT NULL, withdrawal_type INTEGER NOT NULL, identity TEXT NOT NULL,
                imported_at TEXT NOT NULL);
             CREATE TABLE validators (pubkey TEXT PRIMARY KEY, bundle_id TEXT NOT NULL REFERENCES bundles(id),
                idx INTEGER NOT NULL, position INTEGER NOT NULL, owner_nonce INTEGER NOT NULL,
                status TEXT NOT NULL, tx_hash TEXT, block_number INTEGER, signature BLOB NOT NULL,
                deposit_data_root BLOB NOT NULL, shares_data BLOB NOT NULL, leaf BLOB NOT NULL);
             CREATE TABLE history (seq INTEGER PRIMARY KEY AUTOINCREMENT, pubkey TEXT NOT NULL,
                status TEXT NOT NULL, tx_hash TEXT, block_number INTEGER, at TEXT NOT NULL, note TEXT);
             CREATE TRIGGER history_no_delete BEFORE DELETE ON history
                BEGIN SELECT RAISE(ABORT, 'history is append-only'); END;
             CREATE TABLE policy_ledger (seq INTEGER PRIMARY KEY AUTOINCREMENT, day TEXT NOT NULL,
                at TEXT NOT NULL, sighash TEXT NOT NULL, target TEXT NOT NULL,
                selector TEXT NOT NULL, value_wei TEXT NOT NULL, validators INTEGER NOT NULL);
             INSERT INTO bundles VALUES ('0x09', 'c', '/b', '[1,2,3,4]', 1, '04', 't');
             INSERT INTO validators VALUES ('0xaa', '0x09', 0, 0, 7, 'sent', '0xt', NULL,
                zeroblob(96), zeroblob(32), x'0102', zeroblob(32));
             INSERT INTO history (pubkey, status, at) VALUES ('0xaa', 'imported', 't'), ('0xaa', 'sent', 't');
             INSERT INTO policy_ledger (day, at, sighash, target, selector, value_wei, validators)
                VALUES ('2026-01-01', 't', '0x01', '0x02', '0x03', '5', 2);",
        )
        .unwrap();
    }

    #[test]
    fn a_store_of_the_unversioned_schema_is_migrated_and_keeps_its_rows() {
        let dir = tempfile::tempdir().unwrap();
        unversioned_store(dir.path());
        for round in 0..2 {
            // Twice: opening a migrated store changes nothing.
            let s = Store::open(dir.path()).unwrap();
            assert_eq!(version(s.conn()).unwrap(), VERSION);
            let v = &s.validators().unwrap()[0];
            assert_eq!(
                (v.pubkey.as_str(), v.status),
                ("0xaa", super::super::Status::Sent)
            );
            assert_eq!(v.owner_nonce, 7);
            // Each round appends one entry (below).
            assert_eq!(s.history().unwrap().len(), 2 + round);
            assert_eq!(
                s.signed_on("2026-01-01").unwrap(),
                (alloy::primitives::U256::from(5u64), 2)
            );
            let row: (String, Option<i64>) = s
                .conn()
                .query_row("SELECT ssv_fee_wei, nonce FROM policy_ledger", [], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .unwrap();
            assert_eq!(row, ("0".to_string(), None));
            // The new constraints hold, and the append-only triggers exist again.
            assert!(s
                .conn()
                .execute("UPDATE validators SET status = 'bogus'", [])
                .is_err());
            assert!(s.conn().execute("DELETE FROM history", []).is_err());
            assert!(s
                .conn()
                .execute("UPDATE history SET note = 'x'", [])
                .is_err());
            // History keeps counting from where it was.
            let seq: i64 = s
                .conn()
                .query_row(
                    "INSERT INTO history (pubkey, status, at) VALUES ('0xaa', 'confirmed', 't') RETURNING seq",
                    [],
                    |r| r.get(0),
                )
                .unwrap();
            assert!(seq > 2);
        }
    }

    #[test]
    fn a_store_newer_than_the_agent_is_refused_and_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        drop(Store::open(dir.path()).unwrap());
        let c = Connection::open(dir.path().join("state.sqlite")).unwrap();
        c.pragma_update(None, "user_version", VERSION + 1).unwrap();
        drop(c);
        match Store::open(dir.path()) {
            Err(Error::StoreTooNew {
                found, supported, ..
            }) => assert_eq!((found, supported), (VERSION + 1, VERSION)),
            other => panic!("expected StoreTooNew, got {other:?}"),
        }
        let c = Connection::open(dir.path().join("state.sqlite")).unwrap();
        assert_eq!(version(&c).unwrap(), VERSION + 1);
    }

    #[test]
    fn an_unversioned_row_the_constraints_refuse_stops_the_migration_and_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        unversioned_store(dir.path());
        let c = Connection::open(dir.path().join("state.sqlite")).unwrap();
        c.execute("UPDATE validators SET leaf = x'00'", []).unwrap();
        drop(c);
        let err = Store::open(dir.path()).unwrap_err();
        assert!(
            matches!(&err, Error::Store { action, .. } if action.contains("version 2")),
            "{err}"
        );
        let c = Connection::open(dir.path().join("state.sqlite")).unwrap();
        assert_eq!(version(&c).unwrap(), 0);
        let cols: i64 = c
            .query_row(
                "SELECT COUNT(*) FROM pragma_table_info('policy_ledger')",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(cols, 8, "the version-1 step was rolled back too");
    }

    #[test]
    fn status_columns_take_only_known_values() {
        use crate::store::db::args;
        let s = crate::store::testing::scratch();
        let c = s.db();
        let mut ok = Vec::new();
        ok.extend(super::super::Status::ALL.iter().map(|s| s.as_str()));
        ok.extend(
            crate::store::maintenance::ExitState::ALL
                .iter()
                .map(|s| s.as_str()),
        );
        ok.extend(["superseded", "reshared", "reshare_imported"]);
        for status in ok {
            c.execute(
                "INSERT INTO history (pubkey, status, at) VALUES ('0x', ?1, 't')",
                args![status],
            )
            .unwrap_or_else(|e| panic!("{status}: {e}"));
        }
        assert!(c
            .execute(
                "INSERT INTO history (pubkey, status, at) VALUES ('0x', 'Imported', 't')",
                &[],
            )
            .is_err());
        for a in crate::store::maintenance::Action::ALL {
            c.execute(
                "INSERT INTO maint_tx (hash, action, subjects, state, sent_at) VALUES (?1, ?1, '[]', 'sent', 't')",
                args![a.as_str()],
            )
            .unwrap();
        }
        assert!(c
            .execute(
                "INSERT INTO maint_tx (hash, action, subjects, state, sent_at) VALUES ('h', 'fund', '[]', 'pending', 't')",
                &[],
            )
            .is_err());
    }

    /// A version-2 store whose transactions and reshare tables were made on first use keeps
    /// their rows (and the transactions their order) at version 3.
    #[test]
    fn a_version_2_store_keeps_its_transactions_and_reshares() {
        let dir = tempfile::tempdir().unwrap();
        drop(Store::open(dir.path()).unwrap());
        let c = Connection::open(dir.path().join("state.sqlite")).unwrap();
        // Back to version 2 as the agent of that version left it: the tables of first use.
        c.execute_batch(
            "DROP TABLE transactions; DROP TABLE reshares; DROP TABLE reshare_bundles;
             CREATE TABLE transactions (hash TEXT PRIMARY KEY, sender TEXT NOT NULL, nonce INTEGER NOT NULL,
                kind TEXT NOT NULL, target TEXT NOT NULL, input BLOB NOT NULL, value TEXT NOT NULL,
                gas_limit INTEGER NOT NULL, max_fee TEXT NOT NULL, max_priority_fee TEXT NOT NULL,
                replaces TEXT, pubkeys TEXT NOT NULL, signed_at TEXT NOT NULL, state TEXT NOT NULL);
             CREATE TABLE reshare_bundles (id TEXT PRIMARY KEY, ceremony_id TEXT NOT NULL, path TEXT NOT NULL,
                operator_ids TEXT NOT NULL, operators TEXT NOT NULL, source_root TEXT NOT NULL,
                imported_at TEXT NOT NULL);
             CREATE TABLE reshares (pubkey TEXT NOT NULL, bundle_id TEXT NOT NULL REFERENCES reshare_bundles(id),
                position INTEGER NOT NULL, owner_nonce INTEGER NOT NULL, shares_data BLOB NOT NULL,
                leaf BLOB NOT NULL, state TEXT NOT NULL, tx_hash TEXT, PRIMARY KEY (pubkey, bundle_id));
             INSERT INTO transactions VALUES ('0xb2', '0xs', 4, 'stake', '0xt', x'01', '0', 21000, '2', '1', NULL, '[]', 't', 'signed');
             INSERT INTO transactions VALUES ('0xa1', '0xs', 4, 'stake', '0xt', x'01', '0', 21000, '3', '2', '0xb2', '[]', 't', 'signed');
             INSERT INTO reshare_bundles VALUES ('0x77', 'c', '/r', '[5,6,7,8]', '[]', '0x09', 't');
             INSERT INTO reshares VALUES ('0xaa', '0x77', 0, 3, x'01', zeroblob(32), 'imported', NULL);
             PRAGMA user_version = 2;",
        )
        .unwrap();
        drop(c);
        let s = Store::open(dir.path()).unwrap();
        assert_eq!(version(s.conn()).unwrap(), VERSION);
        let hashes: Vec<String> = s
            .conn()
            .prepare("SELECT hash FROM transactions WHERE nonce = 4 ORDER BY seq")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert_eq!(hashes, ["0xb2", "0xa1"], "the versions keep their order");
        let r = crate::maintenance::reshare::rows(&s).unwrap();
        assert_eq!((r.len(), r[0].owner_nonce), (1, 3));
        assert_eq!(
            crate::maintenance::reshare::bundle_cluster(&s, "0x77").unwrap(),
            Some(vec![5, 6, 7, 8])
        );
    }
}
