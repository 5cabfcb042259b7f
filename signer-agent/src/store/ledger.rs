//! The policy ledger (append-only: one row per transaction the policy let the key sign) and
//! [`day_totals`], the one rule by which the policy ledger and the maintenance ledger sum a day:
//! each nonce counted once, by the largest of its versions.

use std::collections::BTreeMap;

use alloy::primitives::U256;

use super::db::args;
use super::rows::LedgerEntry;
use super::{now, DbCtx, Store};
use crate::error::Result;

/// What a day's ledger rows add up to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DayTotals {
    /// Value (wei): ETH sent with the transactions, or a maintenance action's amount.
    pub value: U256,
    /// Validators (policy ledger) or subjects (maintenance ledger).
    pub count: u64,
    /// ETH (wei) for SSV cluster fees (policy ledger; zero for maintenance).
    pub fees: U256,
}

/// One ledger row as [`day_totals`] sums it: amounts as stored (decimal text).
#[derive(Debug, Clone)]
pub(crate) struct LedgerLine {
    pub seq: i64,
    pub nonce: Option<i64>,
    pub value: String,
    pub count: i64,
    pub fees: String,
}

/// Sums a day's ledger rows per nonce: (value, count, fees) of each nonce's largest version
/// (replacements of one nonce are mined once), rows without a nonce each on their own, the
/// versions of nonce `except` left out (the one being signed replaces them). An unreadable
/// amount counts as the maximum: the caps fail closed.
pub(crate) fn day_totals(
    lines: impl IntoIterator<Item = LedgerLine>,
    except: Option<u64>,
) -> DayTotals {
    let mut per: BTreeMap<(bool, i64), DayTotals> = BTreeMap::new();
    for l in lines {
        if l.nonce.is_some() && l.nonce == except.map(|n| n as i64) {
            continue;
        }
        let key = match l.nonce {
            Some(n) => (true, n),
            None => (false, l.seq),
        };
        let e = per.entry(key).or_default();
        e.value = e.value.max(l.value.parse().unwrap_or(U256::MAX));
        e.count = e.count.max(l.count.max(0) as u64);
        e.fees = e.fees.max(l.fees.parse().unwrap_or(U256::MAX));
    }
    per.values().fold(DayTotals::default(), |a, x| DayTotals {
        value: a.value.saturating_add(x.value),
        count: a.count.saturating_add(x.count),
        fees: a.fees.saturating_add(x.fees),
    })
}

impl Store {
    /// The policy ledger's rows of `day` (`YYYY-MM-DD`, UTC).
    fn policy_lines(&self, day: &str) -> Result<Vec<LedgerLine>> {
        let rows = self
            .db
            .query(
                "SELECT seq, nonce, value_wei, validators, ssv_fee_wei FROM policy_ledger WHERE day = ?1",
                args![day],
            )
            .ctx(self, "query policy ledger")?;
        rows.iter()
            .map(|r| {
                Ok(LedgerLine {
                    seq: r.get(0)?,
                    nonce: r.get(1)?,
                    value: r.get(2)?,
                    count: r.get(3)?,
                    fees: r.get(4)?,
                })
            })
            .collect::<super::db::DbResult<Vec<_>>>()
            .ctx(self, "read policy ledger")
    }

    /// Value (wei) and validators the key signed for on `day` (`YYYY-MM-DD`, UTC), a nonce
    /// counted once.
    pub fn signed_on(&self, day: &str) -> Result<(U256, u64)> {
        let t = day_totals(self.policy_lines(day)?, None);
        Ok((t.value, t.count))
    }

    /// [`Store::signed_on`] and [`Store::ssv_fees_on`] without the versions of `nonce`: what a
    /// new version of that nonce adds to (it replaces them).
    pub fn signed_on_except(&self, day: &str, nonce: u64) -> Result<(U256, u64, U256)> {
        let t = day_totals(self.policy_lines(day)?, Some(nonce));
        Ok((t.value, t.count, t.fees))
    }

    /// ETH (wei) for SSV cluster fees the key signed for on `day` (`YYYY-MM-DD`, UTC), a nonce
    /// counted once.
    pub fn ssv_fees_on(&self, day: &str) -> Result<U256> {
        Ok(day_totals(self.policy_lines(day)?, None).fees)
    }

    /// Appends one signed transaction to the policy ledger, fenced ([`Store::set_fence`]): it
    /// is the last write before the key signs.
    pub fn record_signed(&self, entry: &LedgerEntry) -> Result<()> {
        self.fenced("append to the policy ledger", |tx| {
            tx.execute(
                "INSERT INTO policy_ledger (day, at, sighash, target, selector, value_wei, validators, ssv_fee_wei, nonce)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                args![
                    entry.day.as_str(),
                    now(),
                    entry.sighash.as_str(),
                    entry.target.as_str(),
                    entry.selector.as_str(),
                    entry.value_wei.as_str(),
                    entry.validators,
                    entry.ssv_fee_wei.as_str(),
                    entry.nonce
                ],
            )
            .map(|_| ())
            .ctx(self, "append to the policy ledger")
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::h;
    use super::super::test_bundles::bundle;
    use super::*;

    #[test]
    fn day_totals_count_a_nonce_once_and_an_unreadable_amount_as_the_maximum() {
        let l = |seq, nonce, value: &str, count| LedgerLine {
            seq,
            nonce,
            value: value.into(),
            count,
            fees: "1".into(),
        };
        let lines = vec![
            l(1, Some(4), "2", 1),
            l(2, Some(4), "5", 3),
            l(3, None, "7", 2),
            l(4, None, "7", 2),
        ];
        assert_eq!(
            day_totals(lines.clone(), None),
            DayTotals {
                value: U256::from(19u64),
                count: 7,
                fees: U256::from(3u64)
            }
        );
        assert_eq!(day_totals(lines, Some(4)).value, U256::from(14u64));
        assert_eq!(
            day_totals(vec![l(1, None, "x", 1), l(2, None, "1", 1)], None).value,
            U256::MAX
        );
    }

    #[test]
    fn policy_ledger_survives_a_restart_and_is_append_only() {
        let dir = tempfile::tempdir().unwrap();
        let s = crate::store::testing::open(dir.path());
        let e = |v: &str, n: u64| LedgerEntry {
            day: "2026-11-25".into(),
            sighash: "0x01".into(),
            target: "0xaa".into(),
            selector: "0x12345678".into(),
            value_wei: v.into(),
            validators: n,
            ssv_fee_wei: v.into(),
            nonce: None,
        };
        s.record_signed(&e("5", 3)).unwrap();
        s.record_signed(&e("7", 1)).unwrap();
        drop(s);
        let s = crate::store::testing::open(dir.path());
        assert_eq!(s.signed_on("2026-11-25").unwrap(), (U256::from(12u64), 4));
        assert_eq!(s.signed_on("2026-11-26").unwrap(), (U256::ZERO, 0));
        // Versions of one nonce (replacements) count once, by their largest amounts.
        for (v, nonce) in [("2", 9), ("3", 9), ("1", 9), ("4", 10)] {
            s.record_signed(&LedgerEntry {
                day: "2026-11-27".into(),
                nonce: Some(nonce),
                ..e(v, 2)
            })
            .unwrap();
        }
        assert_eq!(s.signed_on("2026-11-27").unwrap(), (U256::from(7u64), 4));
        assert_eq!(s.ssv_fees_on("2026-11-27").unwrap(), U256::from(7u64));
        // A new version of nonce 9 adds to what the other nonces signed.
        assert_eq!(
            s.signed_on_except("2026-11-27", 9).unwrap(),
            (U256::from(4u64), 2, U256::from(4u64))
        );
        assert!(s.db().execute("DELETE FROM policy_ledger", &[]).is_err());
        assert!(s
            .db()
            .execute("UPDATE policy_ledger SET validators = 0", &[])
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
