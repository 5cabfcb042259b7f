//! The state store's schema on PostgreSQL (`state_url = "postgres://…"`), for agents sharing
//! one truth: the tables of [`super::schema`] at the same version numbers (columns, CHECK
//! constraints, append-only history and ledgers), and the leadership lease row
//! ([`super::lease`]).
//!
//! - The schema version lives in `kc_schema`; migrations run in one transaction under an
//!   advisory lock (two agents starting together migrate once); a database newer than the agent
//!   is refused ([`Error::StoreTooNew`]).
//! - `history`, `policy_ledger`, `superseded` and `maintenance_ledger` refuse UPDATE, DELETE and
//!   TRUNCATE by trigger, as SQLite's triggers refuse UPDATE and DELETE.
//! - PostgreSQL stores start at version 2: there is no older PostgreSQL schema.
//!
//! TLS: as the configuration decides (`config::state`, [`super::StoreLocation::PostgresOver`]):
//! verified TLS to a server off this host ([`super::pg_tls`]); a bare
//! [`super::StoreLocation::Postgres`] reaches only a server on this host.

use super::db::args;
use super::schema::VERSION;
use super::{DbCtx, Store};
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

/// Version 3: the signed transactions and the reshare tables (created on first use before
/// the schema was versioned on SQLite).
const PG_V3: &str = r#"
CREATE TABLE transactions (
    seq BIGSERIAL PRIMARY KEY,
    hash TEXT NOT NULL UNIQUE,
    sender TEXT NOT NULL,
    nonce BIGINT NOT NULL CHECK (nonce >= 0),
    kind TEXT NOT NULL,
    target TEXT NOT NULL,
    input BYTEA NOT NULL,
    value TEXT NOT NULL,
    gas_limit BIGINT NOT NULL,
    max_fee TEXT NOT NULL,
    max_priority_fee TEXT NOT NULL,
    replaces TEXT,
    pubkeys TEXT NOT NULL,
    signed_at TEXT NOT NULL,
    state TEXT NOT NULL
);
CREATE INDEX transactions_nonce ON transactions(sender, nonce);
CREATE TABLE reshare_bundles (
    id TEXT PRIMARY KEY,
    ceremony_id TEXT NOT NULL,
    path TEXT NOT NULL,
    operator_ids TEXT NOT NULL,
    operators TEXT NOT NULL,
    source_root TEXT NOT NULL,
    imported_at TEXT NOT NULL
);
CREATE TABLE reshares (
    pubkey TEXT NOT NULL,
    bundle_id TEXT NOT NULL REFERENCES reshare_bundles(id),
    position BIGINT NOT NULL,
    owner_nonce BIGINT NOT NULL,
    shares_data BYTEA NOT NULL,
    leaf BYTEA NOT NULL,
    state TEXT NOT NULL,
    tx_hash TEXT,
    PRIMARY KEY (pubkey, bundle_id)
);
"#;

/// The advisory lock key under which migrations run ("kcschema" in ASCII).
const MIGRATION_LOCK: i64 = 0x6b63_7363_6865_6d61;

/// The schema version of the database (0: empty).
pub(crate) fn version(st: &Store) -> Result<i64> {
    let exists: bool = st
        .db()
        .query_one("SELECT to_regclass('kc_schema') IS NOT NULL", &[])
        .and_then(|r| r.get(0))
        .ctx(st, "look for the schema version table")?;
    if !exists {
        return Ok(0);
    }
    let row = st
        .db()
        .query_opt("SELECT version FROM kc_schema", &[])
        .ctx(st, "read the schema version")?;
    Ok(match row {
        Some(r) => r.get(0).ctx(st, "read the schema version")?,
        None => 0,
    })
}

/// Brings the database to [`VERSION`] in one transaction, under an advisory lock; refuses a
/// database newer than this agent.
pub(crate) fn migrate(st: &Store) -> Result<()> {
    st.transaction("migrate the schema", |tx| {
        tx.execute("SELECT pg_advisory_xact_lock(?1)", args![MIGRATION_LOCK])
            .ctx(st, "lock the schema migration")?;
        tx.batch("CREATE TABLE IF NOT EXISTS kc_schema (one INTEGER PRIMARY KEY CHECK (one = 1), version BIGINT NOT NULL)")
            .ctx(st, "create the schema version table")?;
        let found: i64 = match tx
            .query_opt("SELECT version FROM kc_schema", &[])
            .ctx(st, "read the schema version")?
        {
            Some(r) => r.get(0).ctx(st, "read the schema version")?,
            None => 0,
        };
        if found > VERSION {
            return Err(Error::StoreTooNew {
                store: st.path().display().to_string(),
                found,
                supported: VERSION,
            });
        }
        if found < 2 {
            tx.batch(PG_V2)
                .ctx(st, "migrate the schema to version 2")?;
        }
        if found < 3 {
            tx.batch(PG_V3)
                .ctx(st, "migrate the schema to version 3 (transactions and reshare tables)")?;
        }
        if found < VERSION {
            tx.execute(
                "INSERT INTO kc_schema (one, version) VALUES (1, ?1) ON CONFLICT (one) DO UPDATE SET version = ?1",
                args![VERSION],
            )
            .ctx(st, "record the schema version")?;
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use kc_test_utils::postgres::Postgres;

    use super::*;
    use crate::store::db::Dialect;
    use crate::store::lease::FENCE_CHECK;
    use crate::store::{h, LedgerEntry, Role, Status, StoreLocation};

    fn store(url: &str) -> Store {
        Store::open_location(&StoreLocation::Postgres {
            url: url.into(),
            password: None,
        })
        .unwrap()
    }

    fn import_one(pg: &Store, pubkey: &str) {
        pg.db()
            .batch(&format!(
                "INSERT INTO bundles VALUES ('0x09', 'c', '/b', '[1]', 1, '04', 't');
                 INSERT INTO validators (pubkey, bundle_id, idx, position, owner_nonce, status, signature,
                    deposit_data_root, shares_data, leaf)
                 VALUES ('{pubkey}', '0x09', 0, 0, 0, 'imported', decode(repeat('00', 96), 'hex'),
                    decode(repeat('00', 32), 'hex'), '\\x01', decode(repeat('00', 32), 'hex'));"
            ))
            .unwrap();
    }

    /// Also the store's use from async code on a current-thread runtime (as `#[tokio::test]`
    /// and the agent's commands run it): the connection's own thread answers.
    #[tokio::test]
    async fn the_schema_migrates_once_is_append_only_and_refuses_unknown_values() {
        let server = Postgres::shared();
        let url = server.fresh_database();
        let a = store(&url);
        // A second agent starting on the same database migrates nothing.
        let b = store(&url);
        assert_eq!(a.dialect(), Dialect::Postgres);
        assert_eq!(version(&a).unwrap(), VERSION);
        assert_eq!(version(&b).unwrap(), VERSION);
        import_one(&a, "0xaa");
        let c = a.db();
        c.execute(
            "INSERT INTO history (pubkey, status, at) VALUES ('0xaa', 'imported', 't')",
            &[],
        )
        .unwrap();
        c.execute(
            "INSERT INTO policy_ledger (day, at, sighash, target, selector, value_wei, validators) VALUES ('d', 't', 's', 't', 's', '1', 1)",
            &[],
        )
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
            let err = c.batch(refused).unwrap_err();
            let code = err.pg_code().unwrap_or_default().to_owned();
            assert!(code == "KCA01" || code == "23514", "{refused}: {err:?}");
        }
        let n: i64 = c
            .query_one("SELECT count(*) FROM history", &[])
            .unwrap()
            .get(0)
            .unwrap();
        assert_eq!(n, 1);
    }

    /// The rows the agent writes cannot be changed or removed on PostgreSQL either: UPDATE and
    /// DELETE of history and ledger rows (written through the store's own methods) are refused
    /// and the rows stay.
    #[test]
    fn history_and_ledger_rows_refuse_update_and_delete_on_postgres() {
        let st = store(&Postgres::shared().fresh_database());
        let mut st = st;
        st.import(&crate::store::test_bundles::bundle(2, 9))
            .unwrap();
        st.set_status(&[h(&[0; 48])], Status::Sent, Some("0x1"), None, None)
            .unwrap();
        st.record_signed(&LedgerEntry {
            day: "2026-12-02".into(),
            sighash: "0x01".into(),
            target: "0xaa".into(),
            selector: "0x12345678".into(),
            value_wei: "32".into(),
            validators: 1,
            ssv_fee_wei: "0".into(),
            nonce: Some(0),
        })
        .unwrap();
        crate::store::maintenance::record_signed(
            &st,
            "2026-12-02",
            "0x02",
            crate::store::maintenance::Action::TopUp,
            1,
            alloy::primitives::U256::from(5u64),
            1,
        )
        .unwrap();
        let history = st.history().unwrap().len();
        for (table, column) in [
            ("history", "note"),
            ("policy_ledger", "value_wei"),
            ("maintenance_ledger", "amount_wei"),
        ] {
            for sql in [
                format!("UPDATE {table} SET {column} = 'x'"),
                format!("DELETE FROM {table}"),
            ] {
                let err = st.db().execute(&sql, &[]).unwrap_err();
                assert_eq!(err.pg_code(), Some("KCA01"), "{sql}: {err}");
            }
        }
        assert_eq!(st.history().unwrap().len(), history);
        assert_eq!(
            st.signed_on("2026-12-02").unwrap(),
            (alloy::primitives::U256::from(32u64), 1)
        );
    }

    /// The two dialects' DDL are written twice: they must declare the same tables and columns.
    #[test]
    fn postgres_and_sqlite_have_the_same_tables_and_columns() {
        let pg = store(&Postgres::shared().fresh_database());
        let sqlite = crate::store::Store::in_memory().unwrap();
        let names = |st: &Store, sql: &str, arg: Option<&str>| -> Vec<String> {
            let mut v: Vec<String> = st
                .db()
                .query(sql, crate::store::db::args![arg])
                .unwrap()
                .iter()
                .map(|r| r.get(0).unwrap())
                .collect();
            v.sort();
            v
        };
        let tables = names(
            &sqlite,
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND ?1 IS NULL",
            None,
        );
        let pg_tables = names(
            &pg,
            "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public'
             AND table_name NOT IN ('kc_schema', 'leadership') AND ?1::text IS NULL",
            None,
        );
        assert_eq!(pg_tables, tables);
        assert!(tables.len() >= 14, "{tables:?}");
        for t in &tables {
            let cols = names(&sqlite, "SELECT name FROM pragma_table_info(?1)", Some(t));
            let pg_cols = names(
                &pg,
                "SELECT column_name::text FROM information_schema.columns WHERE table_schema = 'public' AND table_name = ?1",
                Some(t),
            );
            assert_eq!(pg_cols, cols, "table {t}");
        }
    }

    /// A database made at version 2 (before the transactions and reshare tables were part of
    /// the versioned schema) is migrated to the current version and keeps its rows.
    #[test]
    fn a_version_2_database_is_migrated_and_keeps_its_rows() {
        let url = Postgres::shared().fresh_database();
        let raw = store(&url);
        // Back to what a version-2 agent made: its schema and a row.
        raw.db()
            .batch(
                "DROP SCHEMA public CASCADE; CREATE SCHEMA public;
                 CREATE TABLE kc_schema (one INTEGER PRIMARY KEY CHECK (one = 1), version BIGINT NOT NULL);
                 INSERT INTO kc_schema VALUES (1, 2);",
            )
            .unwrap();
        raw.db().batch(PG_V2).unwrap();
        import_one(&raw, "0xaa");
        drop(raw);
        let s = store(&url);
        assert_eq!(version(&s).unwrap(), VERSION);
        assert_eq!(s.validators().unwrap()[0].pubkey, "0xaa");
        assert!(crate::maintenance::reshare::rows(&s).unwrap().is_empty());
        assert_eq!(
            crate::replace::dropped_nonce(&s, alloy::primitives::Address::ZERO, 0).unwrap(),
            None
        );
        // Opening it again migrates nothing.
        drop(s);
        assert_eq!(version(&store(&url)).unwrap(), VERSION);
    }

    #[test]
    fn a_database_newer_than_the_agent_is_refused() {
        let url = Postgres::shared().fresh_database();
        let a = store(&url);
        a.db()
            .execute("UPDATE kc_schema SET version = ?1", args![VERSION + 1])
            .unwrap();
        match Store::open_location(&StoreLocation::Postgres {
            url: url.clone(),
            password: None,
        }) {
            Err(Error::StoreTooNew {
                found, supported, ..
            }) => assert_eq!((found, supported), (VERSION + 1, VERSION)),
            other => panic!("expected StoreTooNew, got {other:?}"),
        }
        assert_eq!(version(&a).unwrap(), VERSION + 1);
    }

    #[test]
    fn a_server_off_this_host_without_tls_is_refused_before_connecting() {
        let err = Store::open_location(&StoreLocation::Postgres {
            url: "postgres://kc:hunter2@db.example.org:5432/state".into(),
            password: None,
        })
        .unwrap_err();
        assert!(matches!(err, Error::Config { .. }), "{err}");
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }

    #[test]
    fn a_password_given_apart_from_the_url_is_never_shown() {
        // The test server trusts its users: a password is sent only when asked, so the check
        // is that a given password never reaches a message, whatever the outcome.
        let url = Postgres::shared().fresh_database();
        let secret = secrecy::SecretString::from("correct horse battery".to_owned());
        let st = Store::open_location(&StoreLocation::Postgres {
            url: url.clone(),
            password: Some(secret),
        })
        .unwrap();
        assert!(!format!("{st:?}").contains("correct horse"));
        let bad = Store::open_location(&StoreLocation::Postgres {
            url: url.replace("/t", "/missing_t"),
            password: Some(secrecy::SecretString::from(
                "correct horse battery".to_owned(),
            )),
        })
        .unwrap_err();
        assert!(matches!(bad, Error::Postgres { .. }), "{bad}");
        assert!(!bad.to_string().contains("correct horse"), "{bad}");
        // A password in the URL is not shown either (the URL is shown as scheme, host, port).
        let in_url = url
            .replace("kc@", "kc:pw-in-the-url@")
            .replace("/t", "/missing_t");
        let bad = Store::open_location(&StoreLocation::Postgres {
            url: in_url,
            password: None,
        })
        .unwrap_err();
        assert!(!bad.to_string().contains("pw-in-the-url"), "{bad}");
        assert!(!format!("{bad:?}").contains("pw-in-the-url"), "{bad:?}");
    }

    #[test]
    fn one_leader_at_a_time_and_a_deposed_leaders_late_write_is_refused() {
        let url = Postgres::shared().fresh_database();
        let mut a = store(&url);
        let mut b = store(&url);
        import_one(&a, "0xaa");
        let ttl = Duration::from_millis(1500);
        assert_eq!(a.lease_holder().unwrap(), None);

        // Exactly one of two contenders leads; the other sees who.
        let Role::Leader { token: t1 } = a.lease_acquire("a", ttl).unwrap() else {
            panic!("a should lead")
        };
        assert_eq!(
            b.lease_acquire("b", ttl).unwrap(),
            Role::Standby { holder: "a".into() }
        );
        let info = b.lease_holder().unwrap().unwrap();
        assert_eq!((info.holder.as_str(), info.token), ("a", t1));
        assert!(
            info.remaining_ms > 0 && info.remaining_ms <= 1500,
            "{info:?}"
        );
        // Renewal keeps the token.
        assert_eq!(
            a.lease_acquire("a", ttl).unwrap(),
            Role::Leader { token: t1 }
        );
        a.set_fence(Some(t1));
        a.set_status(&["0xaa".into()], Status::Sent, Some("0x1"), None, None)
            .unwrap();
        // A standby's write with a token it never held is refused.
        b.set_fence(Some(t1 + 1));
        assert!(matches!(
            b.set_status(&["0xaa".into()], Status::Refused, None, None, None),
            Err(Error::Fenced { .. })
        ));

        // a stops renewing (it hangs, or lost its connection): after the timeout b takes over
        // with a higher token.
        std::thread::sleep(Duration::from_millis(1700));
        let Role::Leader { token: t2 } = b.lease_acquire("b", ttl).unwrap() else {
            panic!("b should take over")
        };
        assert!(t2 > t1);
        b.set_fence(Some(t2));
        // a's late write is refused and changes nothing; its renewal finds b leading.
        let late = a.set_status(&["0xaa".into()], Status::Reverted, None, None, Some("late"));
        assert!(
            matches!(late, Err(Error::Fenced { token, .. }) if token == t1),
            "{late:?}"
        );
        assert_eq!(
            a.lease_acquire("a", ttl).unwrap(),
            Role::Standby { holder: "b".into() }
        );
        b.set_status(&["0xaa".into()], Status::Confirmed, None, Some(9), None)
            .unwrap();
        let statuses: Vec<String> = a.history().unwrap().into_iter().map(|h| h.status).collect();
        assert_eq!(statuses, ["sent", "confirmed"]);

        // A clean release hands over at once.
        b.lease_release("b", t2).unwrap();
        let Role::Leader { token: t3 } = a.lease_acquire("a", ttl).unwrap() else {
            panic!("a should lead again")
        };
        assert!(t3 > t2);
    }

    #[test]
    fn the_daily_caps_are_shared_and_a_deposed_leaders_ledger_entry_is_refused() {
        let url = Postgres::shared().fresh_database();
        let a = store(&url);
        let b = store(&url);
        let Role::Leader { token: t1 } = a.lease_acquire("a", Duration::from_millis(500)).unwrap()
        else {
            panic!("a should lead")
        };
        a.set_fence(Some(t1));
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
        a.record_signed(&entry("64", 0)).unwrap();
        a.record_signed(&entry("70", 0)).unwrap();
        std::thread::sleep(Duration::from_millis(600));
        let Role::Leader { token: t2 } = b.lease_acquire("b", Duration::from_secs(5)).unwrap()
        else {
            panic!("b should take over")
        };
        b.set_fence(Some(t2));
        // The new leader counts what the old one signed (nonce 0 once, its largest version).
        assert_eq!(
            b.signed_on("2026-12-02").unwrap(),
            (alloy::primitives::U256::from(70u64), 2)
        );
        // The old leader's late entry is refused: it would sign outside the lease.
        assert!(matches!(
            a.record_signed(&entry("32", 1)),
            Err(Error::Fenced { .. })
        ));
        b.record_signed(&entry("32", 1)).unwrap();
        assert_eq!(
            a.signed_on_except("2026-12-02", 1).unwrap().0,
            alloy::primitives::U256::from(70u64)
        );
        assert_eq!(
            a.signed_on_except("2026-12-02", 99).unwrap(),
            (
                alloy::primitives::U256::from(102u64),
                4,
                alloy::primitives::U256::from(2u64)
            )
        );
        // The maintenance records and the signed transactions are fenced the same way.
        assert!(matches!(
            crate::store::maintenance::record_sent(
                &a,
                "0xa1",
                crate::store::maintenance::Action::Exit,
                &["validator:0xab".into()],
                3,
                "x"
            ),
            Err(Error::Fenced { .. })
        ));
        assert!(matches!(
            crate::store::maintenance::record_signed(
                &a,
                "2026-12-02",
                "0x3",
                crate::store::maintenance::Action::Exit,
                1,
                alloy::primitives::U256::ZERO,
                3
            ),
            Err(Error::Fenced { .. })
        ));
        crate::store::maintenance::record_sent(
            &b,
            "0xa1",
            crate::store::maintenance::Action::Exit,
            &["validator:0xab".into()],
            3,
            "x",
        )
        .unwrap();
    }

    #[test]
    fn a_takeover_waits_for_the_fenced_write_in_flight() {
        let url = Postgres::shared().fresh_database();
        let a = store(&url);
        let b = store(&url);
        let Role::Leader { token } = a.lease_acquire("a", Duration::from_millis(300)).unwrap()
        else {
            panic!("a should lead")
        };
        // a's fenced transaction holds the lease row; its lease expires meanwhile.
        a.db().batch("BEGIN").unwrap();
        let held = a.db().query_opt(FENCE_CHECK, args![token]).unwrap();
        assert!(held.is_some());
        std::thread::sleep(Duration::from_millis(400));
        let take = std::thread::spawn(move || {
            b.lease_acquire("b", Duration::from_secs(1)).map(|r| (r, b))
        });
        std::thread::sleep(Duration::from_millis(300));
        assert!(
            !take.is_finished(),
            "the takeover must wait for a's transaction"
        );
        a.db().batch("COMMIT").unwrap();
        let (role, _b) = take.join().unwrap().unwrap();
        assert_eq!(role, Role::Leader { token: token + 1 });
    }
}
