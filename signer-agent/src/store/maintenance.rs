//! The maintenance tables of the state store (same database, SQLite or PostgreSQL; their schema and CHECK
//! constraints are the store's, `crate::store::schema`):
//!
//! - `maint_tx`: every maintenance transaction, recorded `sent` (hash, action, subjects) before
//!   it is broadcast, then `confirmed`, `reverted` or `dropped` (never mined); a subject with a
//!   `sent` row gets no second transaction.
//! - `exits`: the exit lifecycle of each validator the agent exited (`requested` → `exiting` →
//!   `exited` → `withdrawn` → `removed`); every change is also a row of the append-only `history`.
//! - `maintenance_ledger`: append-only, one row per maintenance transaction the policy let the
//!   key sign (action, count, amount, nonce): the daily caps of `[policy]` survive a restart, and
//!   count a nonce once (a replacement replaces its earlier versions, it does not add to them).

use alloy::primitives::U256;
use serde::Serialize;

use super::db::args;
use super::ledger::{day_totals, LedgerLine};
use super::{DbError, RowError, Store};
use crate::error::{Error, Result};

/// A maintenance action (one PoolManager function each).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// `depositClusterETH`
    TopUp,
    /// `reactivateCluster`
    Reactivate,
    /// `requestValidatorExits`
    Exit,
    /// `fundWithdrawals`
    Fund,
    /// `removeValidators`
    Remove,
    /// `reshareValidators`
    Reshare,
}

impl Action {
    /// Every action, in the order of the schema's CHECK constraint.
    pub const ALL: [Action; 6] = [
        Action::TopUp,
        Action::Reactivate,
        Action::Exit,
        Action::Fund,
        Action::Remove,
        Action::Reshare,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Action::TopUp => "top_up",
            Action::Reactivate => "reactivate",
            Action::Exit => "exit",
            Action::Fund => "fund",
            Action::Remove => "remove",
            Action::Reshare => "reshare",
        }
    }
}

impl TryFrom<&str> for Action {
    type Error = RowError;

    fn try_from(s: &str) -> std::result::Result<Action, RowError> {
        Action::ALL
            .into_iter()
            .find(|a| a.as_str() == s)
            .ok_or_else(|| RowError::unknown("action", s))
    }
}

/// Where a validator the agent exited is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ExitState {
    /// `requestValidatorExits` confirmed; the operators sign and broadcast the exit.
    Requested,
    /// The beacon chain shows it exiting (`active_exiting`).
    Exiting,
    /// Exited (`exited_*`, `withdrawal_possible`): its balance waits for the withdrawal sweep.
    Exited,
    /// `withdrawal_done`: its ETH was sent to the PoolManager.
    Withdrawn,
    /// Removed from its SSV cluster (`removeValidators` confirmed): the pool pays no more fees.
    Removed,
}

impl ExitState {
    /// Every state, in lifecycle order.
    pub const ALL: [ExitState; 5] = [
        ExitState::Requested,
        ExitState::Exiting,
        ExitState::Exited,
        ExitState::Withdrawn,
        ExitState::Removed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ExitState::Requested => "exit_requested",
            ExitState::Exiting => "exiting",
            ExitState::Exited => "exited",
            ExitState::Withdrawn => "withdrawn",
            ExitState::Removed => "removed",
        }
    }
}

impl TryFrom<&str> for ExitState {
    type Error = RowError;

    fn try_from(s: &str) -> std::result::Result<ExitState, RowError> {
        ExitState::ALL
            .into_iter()
            .find(|a| a.as_str() == s)
            .ok_or_else(|| RowError::unknown("state", s))
    }
}

/// State of a maintenance transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TxState {
    Sent,
    Confirmed,
    Reverted,
    /// Never mined (the account had nothing pending any more).
    Dropped,
}

impl TxState {
    pub fn as_str(self) -> &'static str {
        match self {
            TxState::Sent => "sent",
            TxState::Confirmed => "confirmed",
            TxState::Reverted => "reverted",
            TxState::Dropped => "dropped",
        }
    }
}

impl TryFrom<&str> for TxState {
    type Error = RowError;

    fn try_from(s: &str) -> std::result::Result<TxState, RowError> {
        [
            TxState::Sent,
            TxState::Confirmed,
            TxState::Reverted,
            TxState::Dropped,
        ]
        .into_iter()
        .find(|a| a.as_str() == s)
        .ok_or_else(|| RowError::unknown("state", s))
    }
}

/// One maintenance transaction.
#[derive(Debug, Clone, Serialize)]
pub struct TxRow {
    pub hash: String,
    pub action: Action,
    /// What it acts on: `cluster:1,2,3,4`, `validator:0x…`, `queue`.
    pub subjects: Vec<String>,
    pub state: TxState,
    pub nonce: Option<u64>,
    pub block_number: Option<u64>,
    pub sent_at: String,
    pub note: Option<String>,
}

/// One validator in the exit lifecycle.
#[derive(Debug, Clone, Serialize)]
pub struct ExitRow {
    pub pubkey: String,
    pub operator_ids: Vec<u64>,
    pub state: ExitState,
    pub tx_hash: Option<String>,
    pub updated_at: String,
}

fn now() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// A state store error of the maintenance tables.
pub(crate) fn err(st: &Store, action: &str, source: DbError) -> Error {
    st.error(action, source)
}

/// Records a transaction as `sent` (before it is broadcast), fenced
/// ([`Store::set_fence`]).
pub fn record_sent(
    st: &Store,
    hash: &str,
    action: Action,
    subjects: &[String],
    nonce: u64,
    note: &str,
) -> Result<()> {
    st.fenced("record a maintenance transaction", |tx| {
        tx.execute(
            "INSERT INTO maint_tx (hash, action, subjects, state, nonce, sent_at, note) VALUES (?1, ?2, ?3, 'sent', ?4, ?5, ?6)",
            args![
                hash,
                action.as_str(),
                serde_json::to_string(subjects).unwrap_or_default(),
                nonce,
                now(),
                note
            ],
        )
        .map(|_| ())
        .map_err(|e| err(st, "record a maintenance transaction", e))
    })
}

/// Points the `sent` row of `nonce` at version `hash` of it (a replacement, or the version that
/// was mined).
pub fn follow_version(st: &Store, nonce: u64, hash: &str, note: &str) -> Result<()> {
    st.db()
        .execute(
            "UPDATE maint_tx SET hash = ?2, note = ?3 WHERE nonce = ?1 AND state = 'sent' AND hash <> ?2",
            args![nonce, hash, note],
        )
        .map(|_| ())
        .map_err(|e| err(st, "follow a replaced maintenance transaction", e))
}

/// Settles the `sent` row of `nonce` (none of its versions was mined).
pub fn settle_nonce(st: &Store, nonce: u64, state: TxState, note: &str) -> Result<()> {
    st.db()
        .execute(
            "UPDATE maint_tx SET state = ?2, settled_at = ?3, note = ?4 WHERE nonce = ?1 AND state = 'sent'",
            args![nonce, state.as_str(), now(), note],
        )
        .map(|_| ())
        .map_err(|e| err(st, "settle a maintenance transaction", e))
}

/// Settles a transaction.
pub fn settle(
    st: &Store,
    hash: &str,
    state: TxState,
    block: Option<u64>,
    note: Option<&str>,
) -> Result<()> {
    st.db()
        .execute(
            "UPDATE maint_tx SET state = ?2, block_number = ?3, settled_at = ?4, note = COALESCE(?5, note) WHERE hash = ?1",
            args![hash, state.as_str(), block, now(), note],
        )
        .map(|_| ())
        .map_err(|e| err(st, "settle a maintenance transaction", e))
}

/// Maintenance transactions, oldest first; only the unsettled ones with `sent_only`.
pub fn transactions(st: &Store, sent_only: bool) -> Result<Vec<TxRow>> {
    let sql = if sent_only {
        "SELECT hash, action, subjects, state, nonce, block_number, sent_at, note FROM maint_tx WHERE state = 'sent' ORDER BY sent_at, hash"
    } else {
        "SELECT hash, action, subjects, state, nonce, block_number, sent_at, note FROM maint_tx ORDER BY sent_at, hash"
    };
    let rows = st
        .db()
        .query(sql, &[])
        .map_err(|e| err(st, "query maintenance transactions", e))?;
    let mut out = Vec::new();
    for r in rows {
        let read = |e| err(st, "read maintenance transactions", e);
        let hash: String = r.get(0).map_err(read)?;
        let action: String = r.get(1).map_err(read)?;
        let subjects: String = r.get(2).map_err(read)?;
        let state: String = r.get(3).map_err(read)?;
        let bad = |p| st.row_error("maint_tx", &hash, p);
        out.push(TxRow {
            action: Action::try_from(action.as_str()).map_err(bad)?,
            subjects: crate::store::rows::json("subjects", &subjects).map_err(bad)?,
            state: TxState::try_from(state.as_str()).map_err(bad)?,
            nonce: r.get(4).map_err(read)?,
            block_number: r.get(5).map_err(read)?,
            sent_at: r.get(6).map_err(read)?,
            note: r.get(7).map_err(read)?,
            hash,
        });
    }
    Ok(out)
}

/// Whether a transaction for `subject` is in flight.
pub fn in_flight(st: &Store, subject: &str) -> Result<bool> {
    Ok(transactions(st, true)?
        .iter()
        .any(|t| t.subjects.iter().any(|s| s == subject)))
}

/// Sets the exit state of `pubkeys` (inserting them at `Requested`) and appends a history row
/// for each change, in one transaction. A state never goes back.
pub fn set_exit_state(
    st: &Store,
    pubkeys: &[String],
    operator_ids: &[u64],
    state: ExitState,
    tx_hash: Option<&str>,
    block: Option<u64>,
    note: &str,
) -> Result<usize> {
    st.transaction("update exit state", |tx| {
        let mut changed = 0;
        for pk in pubkeys {
            let pk = pk.to_ascii_lowercase();
            let old: Option<String> = tx
                .query_opt("SELECT state FROM exits WHERE pubkey = ?1", args![pk.as_str()])
                .and_then(|r| r.map(|r| r.get(0)).transpose())
                .map_err(|e| err(st, "read exit state", e))?;
            let old = old
                .map(|s| ExitState::try_from(s.as_str()))
                .transpose()
                .map_err(|p| st.row_error("exits", &pk, p))?;
            if old >= Some(state) {
                continue;
            }
            tx.execute(
                "INSERT INTO exits (pubkey, operator_ids, state, tx_hash, updated_at) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (pubkey) DO UPDATE SET state = ?3, tx_hash = COALESCE(?4, exits.tx_hash), updated_at = ?5",
                args![
                    pk.as_str(),
                    serde_json::to_string(operator_ids).unwrap_or_default(),
                    state.as_str(),
                    tx_hash,
                    now()
                ],
            )
            .map_err(|e| err(st, "update exit state", e))?;
            tx.execute(
                "INSERT INTO history (pubkey, status, tx_hash, block_number, at, note) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                args![pk.as_str(), state.as_str(), tx_hash, block, now(), note],
            )
            .map_err(|e| err(st, "append history", e))?;
            changed += 1;
        }
        Ok(changed)
    })
}

/// Every validator in the exit lifecycle.
pub fn exits(st: &Store) -> Result<Vec<ExitRow>> {
    let rows = st
        .db()
        .query(
            "SELECT pubkey, operator_ids, state, tx_hash, updated_at FROM exits ORDER BY updated_at, pubkey",
            &[],
        )
        .map_err(|e| err(st, "query exits", e))?;
    let mut out = Vec::new();
    for r in rows {
        let read = |e| err(st, "read exits", e);
        let pubkey: String = r.get(0).map_err(read)?;
        let ids: String = r.get(1).map_err(read)?;
        let state: String = r.get(2).map_err(read)?;
        let bad = |p| st.row_error("exits", &pubkey, p);
        out.push(ExitRow {
            operator_ids: crate::store::rows::json("operator_ids", &ids).map_err(bad)?,
            state: ExitState::try_from(state.as_str()).map_err(bad)?,
            tx_hash: r.get(3).map_err(read)?,
            updated_at: r.get(4).map_err(read)?,
            pubkey,
        });
    }
    Ok(out)
}

/// Appends one signed maintenance transaction (of key nonce `nonce`) to the ledger, fenced
/// ([`Store::set_fence`]): it is the last write before the key signs.
pub fn record_signed(
    st: &Store,
    day: &str,
    sighash: &str,
    action: Action,
    count: u64,
    amount: U256,
    nonce: u64,
) -> Result<()> {
    st.fenced("append to the maintenance ledger", |tx| {
        tx.execute(
            "INSERT INTO maintenance_ledger (day, at, sighash, action, count, amount_wei, nonce) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            args![day, now(), sighash, action.as_str(), count, amount.to_string(), nonce],
        )
        .map(|_| ())
        .map_err(|e| err(st, "append to the maintenance ledger", e))
    })
}

/// (count, amount) signed on `day` for `actions`, each nonce counted once (the largest of its
/// versions), the versions of nonce `except` left out (the one being signed replaces them). An
/// unreadable amount counts as the maximum: the caps fail closed.
pub fn signed_on(
    st: &Store,
    day: &str,
    actions: &[Action],
    except: Option<u64>,
) -> Result<(u64, U256)> {
    let rows = st
        .db()
        .query(
            "SELECT seq, action, count, amount_wei, nonce FROM maintenance_ledger WHERE day = ?1",
            args![day],
        )
        .map_err(|e| err(st, "query the maintenance ledger", e))?;
    let mut lines = Vec::new();
    for r in rows {
        let read = |e| err(st, "read the maintenance ledger", e);
        let a: String = r.get(1).map_err(read)?;
        let line = LedgerLine {
            seq: r.get(0).map_err(read)?,
            count: r.get(2).map_err(read)?,
            value: r.get(3).map_err(read)?,
            nonce: r.get(4).map_err(read)?,
            fees: "0".into(),
        };
        let a = Action::try_from(a.as_str())
            .map_err(|p| st.row_error("maintenance_ledger", &line.seq.to_string(), p))?;
        if actions.contains(&a) {
            lines.push(line);
        }
    }
    let t = day_totals(lines, except);
    Ok((t.count, t.value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_states_only_move_forward_and_every_change_is_history() {
        let dir = tempfile::tempdir().unwrap();
        let st = crate::store::testing::open(dir.path());
        let pk = vec!["0xAB".to_string()];
        assert_eq!(
            set_exit_state(
                &st,
                &pk,
                &[1, 2, 3, 4],
                ExitState::Requested,
                Some("0x1"),
                Some(5),
                "n"
            )
            .unwrap(),
            1
        );
        assert_eq!(
            set_exit_state(
                &st,
                &pk,
                &[1, 2, 3, 4],
                ExitState::Withdrawn,
                None,
                None,
                "n"
            )
            .unwrap(),
            1
        );
        // back to exited: ignored
        assert_eq!(
            set_exit_state(&st, &pk, &[1, 2, 3, 4], ExitState::Exited, None, None, "n").unwrap(),
            0
        );
        let e = exits(&st).unwrap();
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].state, ExitState::Withdrawn);
        assert_eq!(e[0].tx_hash.as_deref(), Some("0x1"));
        let h: Vec<String> = st
            .history()
            .unwrap()
            .into_iter()
            .map(|h| h.status)
            .collect();
        assert_eq!(h, ["exit_requested", "withdrawn"]);
    }

    #[test]
    fn transactions_in_flight_and_the_ledger_survive_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        {
            let st = crate::store::testing::open(dir.path());
            record_sent(
                &st,
                "0xaa",
                Action::TopUp,
                &["cluster:1,2,3,4".into()],
                3,
                "x",
            )
            .unwrap();
            record_signed(&st, "2026-01-01", "0x1", Action::Exit, 3, U256::ZERO, 4).unwrap();
            record_signed(
                &st,
                "2026-01-01",
                "0x2",
                Action::TopUp,
                0,
                U256::from(7u64),
                5,
            )
            .unwrap();
        }
        let st = crate::store::testing::open(dir.path());
        assert!(in_flight(&st, "cluster:1,2,3,4").unwrap());
        settle(&st, "0xaa", TxState::Confirmed, Some(9), None).unwrap();
        assert!(!in_flight(&st, "cluster:1,2,3,4").unwrap());
        assert_eq!(
            signed_on(&st, "2026-01-01", &[Action::Exit], None).unwrap(),
            (3, U256::ZERO)
        );
        assert_eq!(
            signed_on(
                &st,
                "2026-01-01",
                &[Action::TopUp, Action::Reactivate],
                None
            )
            .unwrap(),
            (0, U256::from(7u64))
        );
        assert!(st
            .db()
            .execute("DELETE FROM maintenance_ledger", &[])
            .is_err());
    }

    #[test]
    fn the_ledger_counts_a_nonce_once_and_a_replacement_replaces_it() {
        let dir = tempfile::tempdir().unwrap();
        let st = crate::store::testing::open(dir.path());
        let day = "2026-01-01";
        let tops = [Action::TopUp, Action::Reactivate];
        record_signed(&st, day, "0x1", Action::TopUp, 0, U256::from(10u64), 7).unwrap();
        // A replacement of nonce 7 (higher fees, the same call) does not add to it.
        record_signed(&st, day, "0x2", Action::TopUp, 0, U256::from(10u64), 7).unwrap();
        assert_eq!(
            signed_on(&st, day, &tops, None).unwrap().1,
            U256::from(10u64)
        );
        // The next nonce adds to it.
        record_signed(&st, day, "0x3", Action::Reactivate, 0, U256::from(5u64), 8).unwrap();
        assert_eq!(
            signed_on(&st, day, &tops, None).unwrap().1,
            U256::from(15u64)
        );
        // Signing nonce 8 again leaves its earlier versions out.
        assert_eq!(
            signed_on(&st, day, &tops, Some(8)).unwrap().1,
            U256::from(10u64)
        );
        // Exits count validators per nonce, apart from top-ups.
        record_signed(&st, day, "0x4", Action::Exit, 2, U256::ZERO, 9).unwrap();
        record_signed(&st, day, "0x5", Action::Exit, 2, U256::ZERO, 9).unwrap();
        assert_eq!(signed_on(&st, day, &[Action::Exit], None).unwrap().0, 2);
        assert_eq!(
            signed_on(&st, day, &tops, None).unwrap().1,
            U256::from(15u64)
        );
    }

    #[test]
    fn a_replaced_or_dropped_transaction_settles_its_row_by_nonce() {
        let dir = tempfile::tempdir().unwrap();
        let st = crate::store::testing::open(dir.path());
        let subject = "validator:0xab".to_owned();
        record_sent(
            &st,
            "0xa1",
            Action::Exit,
            std::slice::from_ref(&subject),
            3,
            "x",
        )
        .unwrap();
        follow_version(&st, 3, "0xa2", "replaces 0xa1").unwrap();
        let t = transactions(&st, true).unwrap();
        assert_eq!(t.len(), 1);
        assert_eq!(t[0].hash, "0xa2");
        assert!(in_flight(&st, &subject).unwrap());
        settle_nonce(&st, 3, TxState::Dropped, "dropped").unwrap();
        assert!(!in_flight(&st, &subject).unwrap());
        assert_eq!(transactions(&st, false).unwrap()[0].state, TxState::Dropped);
        // A later row reusing the nonce is its own.
        record_sent(
            &st,
            "0xb1",
            Action::Exit,
            std::slice::from_ref(&subject),
            3,
            "y",
        )
        .unwrap();
        follow_version(&st, 3, "0xb2", "replaces 0xb1").unwrap();
        let hashes: Vec<String> = transactions(&st, false)
            .unwrap()
            .into_iter()
            .map(|t| t.hash)
            .collect();
        assert!(hashes.contains(&"0xa2".to_owned()) && hashes.contains(&"0xb2".to_owned()));
    }
}
