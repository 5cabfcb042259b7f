//! Validators, bundles and their history: status changes (each with its history entry, in one
//! transaction) and the reads, every row converted fail-closed.

use rusqlite::{params, OptionalExtension};

use super::rows::{blob32, json, BundleFacts, BundleRow, HistoryRow, Status, ValidatorRow};
use super::{now, store_error, Store};
use crate::error::Result;

impl Store {
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

    /// Every validator, in (owner nonce, bundle, position) order.
    pub fn validators(&self) -> Result<Vec<ValidatorRow>> {
        type Raw = (
            String,
            String,
            u32,
            i64,
            i64,
            String,
            Option<String>,
            Option<i64>,
            Vec<u8>,
            Vec<u8>,
            Vec<u8>,
            Vec<u8>,
        );
        let mut stmt = self
            .conn
            .prepare(
                "SELECT pubkey, bundle_id, idx, position, owner_nonce, status, tx_hash, block_number, signature,
                 deposit_data_root, shares_data, leaf FROM validators ORDER BY owner_nonce, bundle_id, position",
            )
            .map_err(|e| self.err("query validators", e))?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                    r.get(7)?,
                    r.get(8)?,
                    r.get(9)?,
                    r.get(10)?,
                    r.get(11)?,
                ))
            })
            .map_err(|e| self.err("query validators", e))?;
        let mut out = Vec::new();
        for row in rows {
            let (pk, bundle_id, index, position, nonce, status, tx, block, sig, ddr, shares, leaf): Raw =
                row.map_err(|e| self.err("read validators", e))?;
            let bad = |p| self.row_error("validators", &pk, p);
            out.push(ValidatorRow {
                status: Status::try_from(status.as_str()).map_err(bad)?,
                deposit_data_root: blob32("deposit_data_root", &ddr).map_err(bad)?,
                leaf: blob32("leaf", &leaf).map_err(bad)?,
                pubkey: pk,
                bundle_id,
                index,
                position: position as usize,
                owner_nonce: nonce as u64,
                tx_hash: tx,
                block_number: block.map(|b| b as u64),
                signature: sig,
                shares_data: shares,
            });
        }
        Ok(out)
    }

    /// Every bundle.
    pub fn bundles(&self) -> Result<Vec<BundleRow>> {
        let mut stmt = self
            .conn
            .prepare("SELECT id, ceremony_id, path, operator_ids, withdrawal_type, imported_at FROM bundles ORDER BY imported_at")
            .map_err(|e| self.err("query bundles", e))?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, u8>(4)?,
                    r.get::<_, String>(5)?,
                ))
            })
            .map_err(|e| self.err("query bundles", e))?;
        let mut out = Vec::new();
        for row in rows {
            let (id, ceremony_id, path, ids, withdrawal_type, imported_at) =
                row.map_err(|e| self.err("read bundles", e))?;
            out.push(BundleRow {
                operator_ids: json("operator_ids", &ids)
                    .map_err(|p| self.row_error("bundles", &id, p))?,
                id,
                ceremony_id,
                path,
                withdrawal_type,
                imported_at,
            });
        }
        Ok(out)
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
                Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, i64>(1)?))
            })
            .map_err(|e| self.err("query leaves", e))?;
        let mut out = Vec::new();
        for row in rows {
            let (leaf, position) = row.map_err(|e| self.err("read leaves", e))?;
            out.push(blob32("leaf", &leaf).map_err(|p| {
                self.row_error("validators", &format!("{bundle_id} position {position}"), p)
            })?);
        }
        Ok(out)
    }

    /// What the policy checks a `stake` of bundle `id` (its root, `0x` hex) against; `None`
    /// when no such bundle was imported.
    pub fn bundle_facts(&self, id: &str) -> Result<Option<BundleFacts>> {
        let raw = self
            .conn
            .query_row(
                "SELECT withdrawal_address, owner_address, operators FROM bundle_facts WHERE bundle_id = ?1",
                params![id.to_ascii_lowercase()],
                |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?)),
            )
            .optional()
            .map_err(|e| self.err("query bundle facts", e))?;
        raw.map(|(withdrawal_address, owner_address, ops)| {
            Ok(BundleFacts {
                withdrawal_address,
                owner_address,
                operators: json("operators", &ops)
                    .map_err(|p| self.row_error("bundle_facts", id, p))?,
            })
        })
        .transpose()
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

    /// A validator's status (`0x` hex pubkey), if it was imported.
    pub fn validator_status(&self, pubkey: &str) -> Result<Option<Status>> {
        let raw = self
            .conn
            .query_row(
                "SELECT status FROM validators WHERE pubkey = ?1",
                params![pubkey.to_ascii_lowercase()],
                |r| r.get::<_, String>(0),
            )
            .optional()
            .map_err(|e| self.err("look up validator status", e))?;
        raw.map(|s| {
            Status::try_from(s.as_str()).map_err(|p| self.row_error("validators", pubkey, p))
        })
        .transpose()
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
    use super::super::test_bundles::bundle;
    use super::super::{h, RowError};
    use super::*;
    use crate::Error;

    /// A store written by something else (another tool, a hand edit, a newer agent's rows
    /// copied back) holds a value this agent does not know: reading it is an error.
    #[test]
    fn an_unreadable_row_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(dir.path()).unwrap();
        s.import(&bundle(2, 9)).unwrap();
        let pk = h(&[1; 48]);
        // Past the CHECK constraints (as a store from outside would be).
        s.conn
            .execute_batch("PRAGMA ignore_check_constraints = ON")
            .unwrap();
        s.conn
            .execute(
                "UPDATE validators SET status = 'staked' WHERE pubkey = ?1",
                [&pk],
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
        s.conn
            .execute(
                "UPDATE validators SET status = 'imported', leaf = x'0102' WHERE pubkey = ?1",
                [&pk],
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
        s.conn
            .execute("UPDATE bundles SET operator_ids = '[1,'", [])
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
        let mut s = Store::open(dir.path()).unwrap();
        s.import(&bundle(1, 9)).unwrap();
        for bad in [
            "UPDATE validators SET status = 'staked'",
            "UPDATE validators SET leaf = x'00'",
            "UPDATE validators SET deposit_data_root = zeroblob(31)",
            "UPDATE validators SET signature = zeroblob(95)",
        ] {
            assert!(s.conn.execute(bad, []).is_err(), "{bad}");
        }
        assert_eq!(s.validators().unwrap()[0].status, Status::Imported);
    }
}
