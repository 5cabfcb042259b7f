//! The front-running scan's cursor and the foreign deposits it found.

use super::db::args;
use super::rows::DepositScan;
use super::{now, DbCtx, Store};
use crate::error::Result;

impl Store {
    /// The front-running scan's cursor, if a scan was recorded.
    pub fn deposit_scan(&self) -> Result<Option<DepositScan>> {
        let Some(r) = self
            .db
            .query_opt(
                "SELECT deposit_contract, first_block, keys_digest, scanned_from, last_block FROM deposit_scan WHERE id = 1",
                &[],
            )
            .ctx(self, "query the deposit scan cursor")?
        else {
            return Ok(None);
        };
        (|| -> super::db::DbResult<_> {
            Ok(Some(DepositScan {
                deposit_contract: r.get(0)?,
                first_block: r.get(1)?,
                keys_digest: r.get(2)?,
                scanned_from: r.get(3)?,
                last_block: r.get(4)?,
            }))
        })()
        .ctx(self, "read the deposit scan cursor")
    }

    /// Records a scan in one transaction: the deposits it found for the pool's keys (kept for
    /// good, even if a reorg later drops them: the store errs on the safe side), then the cursor.
    pub fn record_deposit_scan(
        &self,
        scan: &DepositScan,
        found: &[crate::types::FrontRunDeposit],
    ) -> Result<()> {
        self.transaction("record a deposit scan", |tx| {
            for d in found {
                tx.execute(
                    "INSERT INTO foreign_deposits (pubkey, tx_hash, block_number, withdrawal_credentials, found_at)
                     VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (pubkey) DO NOTHING",
                    args![
                        d.pubkey.to_ascii_lowercase(),
                        d.tx.as_deref(),
                        d.block,
                        d.withdrawal_credentials.as_str(),
                        now()
                    ],
                )
                .ctx(self, "record a foreign deposit")?;
            }
            tx.execute(
                "INSERT INTO deposit_scan (id, deposit_contract, first_block, keys_digest, scanned_from, last_block)
                 VALUES (1, ?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (id) DO UPDATE SET deposit_contract = ?1, first_block = ?2, keys_digest = ?3,
                 scanned_from = ?4, last_block = ?5",
                args![
                    scan.deposit_contract.as_str(),
                    scan.first_block,
                    scan.keys_digest.as_str(),
                    scan.scanned_from,
                    scan.last_block
                ],
            )
            .ctx(self, "advance the deposit scan cursor")?;
            Ok(())
        })
    }

    /// The recorded foreign deposits for any of `pubkeys` (`0x` hex), in `pubkeys` order.
    pub fn foreign_deposits(&self, pubkeys: &[&str]) -> Result<Vec<crate::types::FrontRunDeposit>> {
        let mut out = Vec::new();
        for pk in pubkeys {
            let row = self
                .db
                .query_opt(
                    "SELECT pubkey, tx_hash, block_number, withdrawal_credentials FROM foreign_deposits WHERE pubkey = ?1",
                    args![pk.to_ascii_lowercase()],
                )
                .ctx(self, "query foreign deposits")?;
            if let Some(r) = row {
                out.push(
                    (|| -> super::db::DbResult<_> {
                        Ok(crate::types::FrontRunDeposit {
                            pubkey: r.get(0)?,
                            tx: r.get(1)?,
                            block: r.get(2)?,
                            withdrawal_credentials: r.get(3)?,
                        })
                    })()
                    .ctx(self, "read foreign deposits")?,
                );
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deposit_scan_cursor_and_foreign_deposits_persist() {
        let dir = tempfile::tempdir().unwrap();
        let s = super::super::testing::open(dir.path());
        assert!(s.deposit_scan().unwrap().is_none());
        let d = |pk: &str, tx: &str| crate::types::FrontRunDeposit {
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
        let s = super::super::testing::open(dir.path());
        assert_eq!(s.deposit_scan().unwrap(), Some(scan));
        let f = s.foreign_deposits(&["0xcd", "0xAb"]).unwrap();
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].pubkey, "0xab");
        assert_eq!(f[0].tx.as_deref(), Some("0x1"));
    }
}
