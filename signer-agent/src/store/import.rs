//! Importing a verified bundle: [`decide`] is the rule (which keys are new, which a re-created
//! bundle takes over, which refuse the import), a pure function over the rows the import reads;
//! [`Store::import`] reads those rows and writes what the decision says, in one transaction.

use std::collections::HashMap;

use super::db::{args, Db, DbResult};
use super::rows::{blob32, Status};
use super::{h, now, DbCtx, Store};
use crate::bundle::{BundleValidator, VerifiedBundle};
use crate::error::{Error, Result};
use crate::refusal::{Blocked, BlockedKey, ImportRefusal};

/// A key of the bundle that the store already holds, as the import decision needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Existing {
    /// The bundle its `validators` row names now.
    pub bundle_id: String,
    pub status: Status,
    pub owner_nonce: u64,
    pub signature: Vec<u8>,
    pub deposit_data_root: [u8; 32],
    /// This bundle had the key and a newer bundle took it over (a `superseded` row).
    pub superseded_from_this_bundle: bool,
    /// The front-running scan recorded a foreign deposit for it.
    pub foreign_deposit: bool,
}

/// What the store holds that the import of one bundle depends on.
#[derive(Debug, Clone, Default)]
pub(crate) struct Known {
    /// The bundle was imported before.
    pub bundle_known: bool,
    /// The bundle's keys that the store holds, by `0x` hex pubkey.
    pub keys: HashMap<String, Existing>,
}

/// What an import does.
#[derive(Debug)]
pub(crate) struct Plan<'a> {
    /// Keys new to the store.
    pub fresh: Vec<&'a BundleValidator>,
    /// Keys this (new) bundle takes over from an older one, with the row they had.
    pub takeovers: Vec<(&'a BundleValidator, Existing)>,
}

/// The import rule. A key new to the store is added. A key already in this bundle, or one this
/// (older) bundle lost to a newer one, is left as it is. A key held by another bundle is taken
/// over only when this bundle is new to the store, the key is not staked (`imported` or
/// `reverted`: never `sent`, `confirmed` or `refused` as front-run), no foreign deposit is
/// recorded for it, and its deposit data (signature, deposit data root) is byte-identical.
/// Any key that cannot be taken over refuses the whole import.
pub(crate) fn decide<'a>(b: &'a VerifiedBundle, known: &Known) -> Result<Plan<'a>, ImportRefusal> {
    let id = h(&b.merkle_root);
    let mut plan = Plan {
        fresh: Vec::new(),
        takeovers: Vec::new(),
    };
    let mut blocked = Vec::new();
    for v in &b.validators {
        let pubkey = h(&v.pubkey);
        let Some(old) = known.keys.get(&pubkey) else {
            plan.fresh.push(v);
            continue;
        };
        if old.bundle_id == id || old.superseded_from_this_bundle {
            continue;
        }
        let why = if known.bundle_known {
            Some(Blocked::AlreadyImported)
        } else {
            match old.status {
                Status::Sent => Some(Blocked::Sent),
                Status::Confirmed => Some(Blocked::Confirmed),
                Status::Refused => Some(Blocked::FrontRun),
                _ if old.foreign_deposit => Some(Blocked::ForeignDeposit),
                Status::Imported | Status::Reverted => (old.signature != v.signature
                    || old.deposit_data_root != v.deposit_data_root)
                    .then_some(Blocked::DifferentDepositData),
            }
        };
        match why {
            Some(why) => blocked.push(BlockedKey {
                pubkey,
                index: v.index,
                other: old.bundle_id.clone(),
                why,
            }),
            None => plan.takeovers.push((v, old.clone())),
        }
    }
    if blocked.is_empty() {
        Ok(plan)
    } else {
        Err(ImportRefusal {
            bundle: id,
            ceremony_id: b.ceremony_id.clone(),
            keys: blocked,
        })
    }
}

impl Store {
    /// Imports a verified bundle (the rule: [`decide`]). Idempotent for the same bundle. A
    /// taken-over row is archived in `superseded` (the old bundle's Merkle leaves stay
    /// complete) and a `superseded` history entry names both bundles. A refusal names every
    /// key that refuses the import, and records nothing.
    pub fn import(&mut self, b: &VerifiedBundle) -> Result<usize> {
        self.import_or_check(b, true)
    }

    /// What [`Store::import`] would do, without recording anything: the same refusals (keys
    /// staked, sent or front-run, different deposit data), and how many validators it would add
    /// or take over.
    pub fn check_import(&mut self, b: &VerifiedBundle) -> Result<usize> {
        self.import_or_check(b, false)
    }

    /// Reads what [`decide`] needs about `b` (inside the import's transaction).
    fn read_known(&self, tx: &Db, b: &VerifiedBundle) -> Result<Known> {
        let id = h(&b.merkle_root);
        let bundle_known: bool = tx
            .query_one(
                "SELECT EXISTS(SELECT 1 FROM bundles WHERE id = ?1)",
                args![id.as_str()],
            )
            .and_then(|r| r.get(0))
            .ctx(self, "look up bundle")?;
        let mut keys = HashMap::new();
        for v in &b.validators {
            let pk = h(&v.pubkey);
            let Some(r) = tx
                .query_opt(
                    "SELECT bundle_id, status, owner_nonce, signature, deposit_data_root,
                        EXISTS(SELECT 1 FROM superseded s WHERE s.pubkey = v.pubkey AND s.bundle_id = ?2),
                        EXISTS(SELECT 1 FROM foreign_deposits f WHERE f.pubkey = v.pubkey)
                     FROM validators v WHERE pubkey = ?1",
                    args![pk.as_str(), id.as_str()],
                )
                .ctx(self, "look up validator")?
            else {
                continue;
            };
            let read = |e| self.err("read validator", e);
            let status: String = r.get(1).map_err(read)?;
            let ddr: Vec<u8> = r.get(4).map_err(read)?;
            let row = |p| self.row_error("validators", &pk, p);
            keys.insert(
                pk.clone(),
                Existing {
                    bundle_id: r.get(0).map_err(read)?,
                    status: Status::try_from(status.as_str()).map_err(row)?,
                    owner_nonce: r.get(2).map_err(read)?,
                    signature: r.get(3).map_err(read)?,
                    deposit_data_root: blob32("deposit_data_root", &ddr).map_err(row)?,
                    superseded_from_this_bundle: r.get(5).map_err(read)?,
                    foreign_deposit: r.get(6).map_err(read)?,
                },
            );
        }
        Ok(Known { bundle_known, keys })
    }

    fn import_or_check(&mut self, b: &VerifiedBundle, commit: bool) -> Result<usize> {
        let id = h(&b.merkle_root);
        let tx = self.db.begin().ctx(self, "begin import")?;
        let known = self.read_known(&tx, b)?;
        // Dropping the transaction (a refusal, a dry run) records nothing.
        let plan = decide(b, &known).map_err(|r| Error::from(crate::refusal::Refusal::from(r)))?;
        write_bundle(&tx, &id, b).ctx(self, "insert bundle")?;
        let added = plan.fresh.len() + plan.takeovers.len();
        for v in plan.fresh {
            write_fresh(&tx, &id, b, v).ctx(self, "insert validator")?;
        }
        for (v, old) in plan.takeovers {
            if commit {
                tracing::info!(
                    pubkey = %h(&v.pubkey),
                    from = %old.bundle_id,
                    to = %id,
                    owner_nonce = v.owner_nonce,
                    "validator taken over by a newer bundle (re-created key shares)"
                );
            }
            write_takeover(&tx, &id, b, v, &old).ctx(self, "take the validator over")?;
        }
        if commit {
            tx.commit().ctx(self, "commit import")?;
        }
        Ok(added)
    }
}

/// Records the bundle and its facts (nothing when it is known).
fn write_bundle(tx: &Db, id: &str, b: &VerifiedBundle) -> DbResult<()> {
    tx.execute(
        "INSERT INTO bundles (id, ceremony_id, path, operator_ids, withdrawal_type, identity, imported_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (id) DO NOTHING",
        args![
            id,
            b.ceremony_id.as_str(),
            b.dir.display().to_string(),
            serde_json::to_string(&b.operator_ids).unwrap_or_default(),
            b.withdrawal_type,
            hex::encode(&b.identity),
            now()
        ],
    )?;
    tx.execute(
        "INSERT INTO bundle_facts (bundle_id, withdrawal_address, owner_address, operators)
         VALUES (?1, ?2, ?3, ?4) ON CONFLICT (bundle_id) DO NOTHING",
        args![
            id,
            b.withdrawal_address.as_str(),
            b.owner_address.as_str(),
            serde_json::to_string(&b.operators).unwrap_or_default(),
        ],
    )?;
    Ok(())
}

/// Adds a key new to the store, with its `imported` history entry.
fn write_fresh(tx: &Db, id: &str, b: &VerifiedBundle, v: &BundleValidator) -> DbResult<()> {
    let pk = h(&v.pubkey);
    tx.execute(
        "INSERT INTO validators (pubkey, bundle_id, idx, position, owner_nonce, status, signature,
         deposit_data_root, shares_data, leaf) VALUES (?1, ?2, ?3, ?4, ?5, 'imported', ?6, ?7, ?8, ?9)",
        args![
            pk.as_str(),
            id,
            v.index,
            v.position,
            v.owner_nonce,
            v.signature.as_slice(),
            v.deposit_data_root.as_slice(),
            v.shares_data.as_slice(),
            v.leaf.as_slice()
        ],
    )?;
    tx.execute(
        "INSERT INTO history (pubkey, status, at, note) VALUES (?1, 'imported', ?2, ?3)",
        args![pk, now(), format!("bundle {} ({})", id, b.ceremony_id)],
    )?;
    Ok(())
}

/// Moves a key to this (newer) bundle: its old row archived in `superseded`, its row updated,
/// a `superseded` history entry naming both bundles.
fn write_takeover(
    tx: &Db,
    id: &str,
    b: &VerifiedBundle,
    v: &BundleValidator,
    old: &Existing,
) -> DbResult<()> {
    let pk = h(&v.pubkey);
    tx.execute(
        "INSERT INTO superseded (pubkey, bundle_id, idx, position, owner_nonce, status, leaf, by_bundle, at)
         SELECT pubkey, bundle_id, idx, position, owner_nonce, status, leaf, ?2, ?3 FROM validators WHERE pubkey = ?1",
        args![pk.as_str(), id, now()],
    )?;
    tx.execute(
        "UPDATE validators SET bundle_id = ?2, idx = ?3, position = ?4, owner_nonce = ?5, status = 'imported',
         tx_hash = NULL, block_number = NULL, shares_data = ?6, leaf = ?7 WHERE pubkey = ?1",
        args![
            pk.as_str(),
            id,
            v.index,
            v.position,
            v.owner_nonce,
            v.shares_data.as_slice(),
            v.leaf.as_slice()
        ],
    )?;
    tx.execute(
        "INSERT INTO history (pubkey, status, at, note) VALUES (?1, 'superseded', ?2, ?3)",
        args![
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
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::test_bundles::{bundle, recreated};
    use super::*;

    fn existing(bundle: u8, status: Status) -> Existing {
        Existing {
            bundle_id: h(&[bundle; 32]),
            status,
            owner_nonce: 0,
            signature: vec![0; 96],
            deposit_data_root: [0; 32],
            superseded_from_this_bundle: false,
            foreign_deposit: false,
        }
    }

    fn known(bundle_known: bool, keys: &[(u8, Existing)]) -> Known {
        Known {
            bundle_known,
            keys: keys
                .iter()
                .map(|(k, e)| (h(&[*k; 48]), e.clone()))
                .collect(),
        }
    }

    fn why(r: ImportRefusal) -> Vec<(String, Blocked)> {
        r.keys.into_iter().map(|k| (k.pubkey, k.why)).collect()
    }

    #[test]
    fn new_keys_are_added_and_own_keys_left_alone() {
        let b = bundle(3, 9);
        let p = decide(&b, &known(false, &[])).unwrap();
        assert_eq!(p.fresh.len(), 3);
        assert!(p.takeovers.is_empty());
        // The same bundle again: nothing to do, whatever its keys' status.
        let k = known(
            true,
            &[
                (0, existing(9, Status::Confirmed)),
                (1, existing(9, Status::Sent)),
                (2, existing(9, Status::Refused)),
            ],
        );
        let p = decide(&b, &k).unwrap();
        assert!(p.fresh.is_empty() && p.takeovers.is_empty());
    }

    #[test]
    fn a_new_bundle_takes_over_only_unstaked_keys_with_identical_deposit_data() {
        let b = recreated(100, &[1, 2]);
        let k = known(
            false,
            &[
                (1, existing(9, Status::Imported)),
                (2, existing(9, Status::Reverted)),
            ],
        );
        let p = decide(&b, &k).unwrap();
        assert!(p.fresh.is_empty());
        assert_eq!(p.takeovers.len(), 2);
        assert_eq!(p.takeovers[1].1.status, Status::Reverted);

        for (status, expected) in [
            (Status::Sent, Blocked::Sent),
            (Status::Confirmed, Blocked::Confirmed),
            (Status::Refused, Blocked::FrontRun),
        ] {
            let r = decide(
                &b,
                &known(
                    false,
                    &[(1, existing(9, status)), (2, existing(9, Status::Imported))],
                ),
            )
            .unwrap_err();
            assert_eq!(why(r), vec![(h(&[1; 48]), expected)]);
        }
        let mut foreign = existing(9, Status::Imported);
        foreign.foreign_deposit = true;
        let mut other_sig = existing(9, Status::Imported);
        other_sig.signature = vec![1; 96];
        let mut other_root = existing(9, Status::Reverted);
        other_root.deposit_data_root = [1; 32];
        let r = decide(&b, &known(false, &[(1, foreign), (2, other_sig)])).unwrap_err();
        assert_eq!(
            why(r.clone()),
            vec![
                (h(&[1; 48]), Blocked::ForeignDeposit),
                (h(&[2; 48]), Blocked::DifferentDepositData)
            ]
        );
        assert!(
            r.to_string().starts_with(&format!(
                "bundle {} (recreated-100) cannot be imported: ",
                h(&[100; 32])
            )),
            "{r}"
        );
        assert!(decide(&b, &known(false, &[(1, other_root)])).is_err());
        // A front-run key with a foreign deposit is named for the front-run.
        let mut both = existing(9, Status::Refused);
        both.foreign_deposit = true;
        let r = decide(&b, &known(false, &[(1, both)])).unwrap_err();
        assert_eq!(why(r), vec![(h(&[1; 48]), Blocked::FrontRun)]);
    }

    #[test]
    fn a_known_bundle_takes_nothing_over_and_an_older_bundle_keeps_its_loss() {
        let b = recreated(100, &[1]);
        let r = decide(&b, &known(true, &[(1, existing(9, Status::Imported))])).unwrap_err();
        assert_eq!(why(r), vec![(h(&[1; 48]), Blocked::AlreadyImported)]);
        // Bundle 9 lost key 1 to bundle 100: importing bundle 9 again leaves it there.
        let old = bundle(2, 9);
        let mut lost = existing(100, Status::Confirmed);
        lost.superseded_from_this_bundle = true;
        let p = decide(
            &old,
            &known(true, &[(0, existing(9, Status::Imported)), (1, lost)]),
        )
        .unwrap();
        assert!(p.fresh.is_empty() && p.takeovers.is_empty());
    }

    #[test]
    fn import_is_idempotent_and_history_is_append_only() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = crate::store::testing::open(dir.path());
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
        assert!(s.db().execute("DELETE FROM history", &[]).is_err());
        assert!(s
            .db()
            .execute("UPDATE history SET status = 'x'", &[])
            .is_err());
        assert_eq!(s.leaves(&h(&[9; 32])).unwrap().len(), 3);
    }

    #[test]
    fn a_newer_bundle_takes_over_keys_that_are_not_staked() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = crate::store::testing::open(dir.path());
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
        assert!(s.db().execute("DELETE FROM superseded", &[]).is_err());
    }

    #[test]
    fn a_key_with_a_foreign_deposit_is_not_taken_over() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = crate::store::testing::open(dir.path());
        s.import(&bundle(3, 9)).unwrap();
        let scan = super::super::DepositScan {
            deposit_contract: "0xaa".into(),
            first_block: 1,
            keys_digest: "0xd".into(),
            scanned_from: 1,
            last_block: 10,
        };
        let d = crate::types::FrontRunDeposit {
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
}
