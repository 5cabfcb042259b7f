//! Validators, bundles and their history: status changes (each with its history entry, in one
//! transaction) and the reads, every row converted fail-closed.

use super::db::{args, Row};
use super::rows::{blob32, json, BundleFacts, BundleRow, HistoryRow, Status, ValidatorRow};
use super::{now, DbCtx, Store};
use crate::error::Result;

impl Store {
    /// Sets a validator's status and appends the history entry, in one transaction; fenced
    /// ([`Store::set_fence`]): a status change is what a signature follows or records.
    pub fn set_status(
        &mut self,
        pubkeys: &[String],
        status: Status,
        tx_hash: Option<&str>,
        block_number: Option<u64>,
        note: Option<&str>,
    ) -> Result<()> {
        let st = &*self;
        st.fenced("update status", |tx| {
            for pk in pubkeys {
                tx.execute(
                    "UPDATE validators SET status = ?2, tx_hash = COALESCE(?3, tx_hash), block_number = ?4 WHERE pubkey = ?1",
                    args![pk, status.as_str(), tx_hash, block_number],
                )
                .ctx(st, "update validator")?;
                tx.execute(
                    "INSERT INTO history (pubkey, status, tx_hash, block_number, at, note) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    args![pk, status.as_str(), tx_hash, block_number, now(), note],
                )
                .ctx(st, "append history")?;
            }
            Ok(())
        })
    }

    /// Every validator, in (owner nonce, bundle, position) order.
    pub fn validators(&self) -> Result<Vec<ValidatorRow>> {
        let rows = self
            .db
            .query(
                "SELECT pubkey, bundle_id, idx, position, owner_nonce, status, tx_hash, block_number, signature,
                 deposit_data_root, shares_data, leaf FROM validators ORDER BY owner_nonce, bundle_id, position",
                &[],
            )
            .ctx(self, "query validators")?;
        rows.iter().map(|r| self.validator_row(r)).collect()
    }

    fn validator_row(&self, r: &Row) -> Result<ValidatorRow> {
        let read = |e| self.err("read validators", e);
        let pk: String = r.get(0).map_err(read)?;
        let status: String = r.get(5).map_err(read)?;
        let ddr: Vec<u8> = r.get(9).map_err(read)?;
        let leaf: Vec<u8> = r.get(11).map_err(read)?;
        let bad = |p| self.row_error("validators", &pk, p);
        Ok(ValidatorRow {
            status: Status::try_from(status.as_str()).map_err(bad)?,
            deposit_data_root: blob32("deposit_data_root", &ddr).map_err(bad)?,
            leaf: blob32("leaf", &leaf).map_err(bad)?,
            bundle_id: r.get(1).map_err(read)?,
            index: r.get(2).map_err(read)?,
            position: r.get(3).map_err(read)?,
            owner_nonce: r.get(4).map_err(read)?,
            tx_hash: r.get(6).map_err(read)?,
            block_number: r.get(7).map_err(read)?,
            signature: r.get(8).map_err(read)?,
            shares_data: r.get(10).map_err(read)?,
            pubkey: pk,
        })
    }

    /// Every bundle.
    pub fn bundles(&self) -> Result<Vec<BundleRow>> {
        let rows = self
            .db
            .query(
                "SELECT id, ceremony_id, path, operator_ids, withdrawal_type, imported_at FROM bundles ORDER BY imported_at",
                &[],
            )
            .ctx(self, "query bundles")?;
        let mut out = Vec::new();
        for r in rows {
            let read = |e| self.err("read bundles", e);
            let id: String = r.get(0).map_err(read)?;
            let ids: String = r.get(3).map_err(read)?;
            out.push(BundleRow {
                operator_ids: json("operator_ids", &ids)
                    .map_err(|p| self.row_error("bundles", &id, p))?,
                ceremony_id: r.get(1).map_err(read)?,
                path: r.get(2).map_err(read)?,
                withdrawal_type: r.get(4).map_err(read)?,
                imported_at: r.get(5).map_err(read)?,
                id,
            });
        }
        Ok(out)
    }

    /// The leaves of a bundle, in manifest order (for proofs).
    pub fn leaves(&self, bundle_id: &str) -> Result<Vec<[u8; 32]>> {
        let rows = self
            .db
            .query(
                "SELECT leaf, position FROM validators WHERE bundle_id = ?1
                 UNION ALL SELECT leaf, position FROM superseded WHERE bundle_id = ?1 ORDER BY position",
                args![bundle_id],
            )
            .ctx(self, "query leaves")?;
        let mut out = Vec::new();
        for r in rows {
            let leaf: Vec<u8> = r.get(0).ctx(self, "read leaves")?;
            let position: i64 = r.get(1).ctx(self, "read leaves")?;
            out.push(blob32("leaf", &leaf).map_err(|p| {
                self.row_error("validators", &format!("{bundle_id} position {position}"), p)
            })?);
        }
        Ok(out)
    }

    /// What the policy checks a `stake` of bundle `id` (its root, `0x` hex) against; `None`
    /// when no such bundle was imported.
    pub fn bundle_facts(&self, id: &str) -> Result<Option<BundleFacts>> {
        let Some(r) = self
            .db
            .query_opt(
                "SELECT withdrawal_address, owner_address, operators FROM bundle_facts WHERE bundle_id = ?1",
                args![id.to_ascii_lowercase()],
            )
            .ctx(self, "query bundle facts")?
        else {
            return Ok(None);
        };
        let ops: String = r.get(2).ctx(self, "read bundle facts")?;
        Ok(Some(BundleFacts {
            withdrawal_address: r.get(0).ctx(self, "read bundle facts")?,
            owner_address: r.get(1).ctx(self, "read bundle facts")?,
            operators: json("operators", &ops)
                .map_err(|p| self.row_error("bundle_facts", id, p))?,
        }))
    }

    /// The bundle a validator (`0x` hex pubkey) was imported from, if any.
    pub fn validator_bundle(&self, pubkey: &str) -> Result<Option<String>> {
        self.db
            .query_opt(
                "SELECT bundle_id FROM validators WHERE pubkey = ?1",
                args![pubkey.to_ascii_lowercase()],
            )
            .and_then(|r| r.map(|r| r.get(0)).transpose())
            .ctx(self, "look up validator")
    }

    /// A validator's status (`0x` hex pubkey), if it was imported.
    pub fn validator_status(&self, pubkey: &str) -> Result<Option<Status>> {
        let raw: Option<String> = self
            .db
            .query_opt(
                "SELECT status FROM validators WHERE pubkey = ?1",
                args![pubkey.to_ascii_lowercase()],
            )
            .and_then(|r| r.map(|r| r.get(0)).transpose())
            .ctx(self, "look up validator status")?;
        raw.map(|s| {
            Status::try_from(s.as_str()).map_err(|p| self.row_error("validators", pubkey, p))
        })
        .transpose()
    }

    /// The whole history, oldest first.
    pub fn history(&self) -> Result<Vec<HistoryRow>> {
        let rows = self
            .db
            .query(
                "SELECT seq, pubkey, status, tx_hash, block_number, at, note FROM history ORDER BY seq",
                &[],
            )
            .ctx(self, "query history")?;
        rows.iter()
            .map(|r| {
                Ok(HistoryRow {
                    seq: r.get(0)?,
                    pubkey: r.get(1)?,
                    status: r.get(2)?,
                    tx_hash: r.get(3)?,
                    block_number: r.get(4)?,
                    at: r.get(5)?,
                    note: r.get(6)?,
                })
            })
            .collect::<super::db::DbResult<Vec<_>>>()
            .ctx(self, "read history")
    }
}

#[cfg(test)]
mod tests {
    use super::super::db::{args, Dialect};
    use super::super::test_bundles::bundle;
    use super::super::{h, RowError};
    use super::*;
    use crate::Error;

    /// A store written by something else (another tool, a hand edit, a newer agent's rows
    /// copied back) holds a value this agent does not know: reading it is an error.
    #[test]
    fn an_unreadable_row_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = crate::store::testing::open(dir.path());
        s.import(&bundle(2, 9)).unwrap();
        let pk = h(&[1; 48]);
        // Past the CHECK constraints (as a store from outside would be).
        match s.dialect() {
            Dialect::Sqlite => s.db().batch("PRAGMA ignore_check_constraints = ON"),
            Dialect::Postgres => s.db().batch(
                "ALTER TABLE validators DROP CONSTRAINT validators_status_check;
                 ALTER TABLE validators DROP CONSTRAINT validators_leaf_check",
            ),
        }
        .unwrap();
        s.db()
            .execute(
                "UPDATE validators SET status = 'staked' WHERE pubkey = ?1",
                args![pk.as_str()],
            )
            .unwrap();
        match s.validators() {
            Err(Error::StoreRow {
                table,
                key,
                problem,
                ..
            }) => {
                assert_eq!((table, key.as_str()), ("validators", pk.as_str()));
                assert_eq!(problem, RowError::unknown("status", "staked"));
            }
            other => panic!("expected StoreRow, got {other:?}"),
        }
        assert!(matches!(
            s.validator_status(&pk),
            Err(Error::StoreRow { .. })
        ));
        s.db()
            .execute(
                "UPDATE validators SET status = 'imported', leaf = ?2 WHERE pubkey = ?1",
                args![pk.as_str(), vec![1u8, 2]],
            )
            .unwrap();
        match s.validators() {
            Err(Error::StoreRow { problem, .. }) => assert_eq!(
                problem,
                RowError::BlobLength {
                    column: "leaf",
                    expected: 32,
                    found: 2
                }
            ),
            other => panic!("expected StoreRow, got {other:?}"),
        }
        assert!(matches!(
            s.leaves(&h(&[9; 32])),
            Err(Error::StoreRow { .. })
        ));
        s.db()
            .execute("UPDATE bundles SET operator_ids = '[1,'", &[])
            .unwrap();
        assert!(matches!(
            s.bundles(),
            Err(Error::StoreRow {
                table: "bundles",
                ..
            })
        ));
    }

    #[test]
    fn the_constraints_refuse_what_the_agent_would_not_read() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = crate::store::testing::open(dir.path());
        s.import(&bundle(1, 9)).unwrap();
        assert!(s
            .db()
            .execute("UPDATE validators SET status = 'staked'", &[])
            .is_err());
        for (column, len) in [("leaf", 1), ("deposit_data_root", 31), ("signature", 95)] {
            let bad = format!("UPDATE validators SET {column} = ?1");
            assert!(
                s.db().execute(&bad, args![vec![0u8; len]]).is_err(),
                "{column} of {len} bytes"
            );
        }
        assert_eq!(s.validators().unwrap()[0].status, Status::Imported);
    }
}
