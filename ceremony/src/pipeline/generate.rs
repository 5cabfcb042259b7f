//! Making validators, a chunk at a time on all cores, and checking them in batches before
//! anything of them is written; writing a checked chunk overlaps making the next.

use std::sync::atomic::{AtomicUsize, Ordering};

use kc_bundle::plan::Plan;
use kc_ssv::Cluster;
use kc_validator::bls::{batch_verify_by_key, PublicKey, Signature, SignedBy};
use kc_validator::deposit::DepositData;
use kc_validator::derive::CoinKey;
use kc_validator::Address;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;
use rayon::prelude::*;
use zeroize::Zeroizing;

use super::streams::Streams;
use super::{hkdf32, Progress};
use crate::Error;

/// What generating a validator needs, shared by the chunks.
pub(super) struct Generation<'a> {
    pub(super) plan: &'a Plan,
    pub(super) progress: &'a dyn Progress,
    pub(super) coin: &'a CoinKey,
    pub(super) shares_prk: &'a Zeroizing<[u8; 32]>,
    pub(super) cluster: &'a Cluster,
    pub(super) ids: Vec<u64>,
    pub(super) wc: [u8; 32],
}

impl Generation<'_> {
    /// Makes and checks validators `first..last` on all cores (nothing of them is written
    /// before the check).
    fn make_chunk(&self, first: u32, last: u32, done: &AtomicUsize) -> Result<Vec<Made>, Error> {
        let total = self.plan.count() as usize;
        let made: Vec<Made> = (first..last)
            .into_par_iter()
            .map(|i| {
                if self.progress.cancelled() {
                    return Err(Error::Cancelled);
                }
                let made = make_validator(
                    self.plan,
                    self.coin,
                    self.shares_prk,
                    self.cluster,
                    self.wc,
                    i,
                )?;
                let n = done.fetch_add(1, Ordering::Relaxed) + 1;
                self.progress.validators(n, total);
                Ok(made)
            })
            .collect::<Result<_, Error>>()?;
        check_made(&made, &self.ids, &self.plan.owner)?;
        Ok(made)
    }

    /// Every validator of the plan, a chunk at a time: writing a checked chunk (one core)
    /// overlaps making and checking the next (all cores).
    pub(super) fn write_all(&self, out: &mut Streams) -> Result<(), Error> {
        let done = AtomicUsize::new(0);
        let mut pending: Vec<Made> = Vec::new();
        let mut first = 0u32;
        loop {
            let last = self.plan.count().min(first.saturating_add(CHUNK));
            let written = std::mem::take(&mut pending);
            let (made, wrote) = rayon::join(
                || {
                    if first < last {
                        self.make_chunk(first, last, &done)
                    } else {
                        Ok(Vec::new())
                    }
                },
                || out.write(written, self),
            );
            wrote?;
            pending = made?;
            if pending.is_empty() {
                return Ok(());
            }
            first = last;
        }
    }
}

/// Validators generated per round: bounds what is held in memory.
const CHUNK: u32 = 512;
/// Validators per batched check (one task each, on all cores).
const CHECK_BATCH: usize = 64;

/// One validator, generated and not yet checked.
pub(super) struct Made {
    pub(super) index: u32,
    pub(super) nonce: u64,
    pub(super) deposit: DepositData,
    pub(super) built: kc_ssv::BuiltShares,
}

/// Derives validator `i` of the batch (its remaining path levels below `coin`), signs its
/// deposit and builds its key shares; the secret key is wiped when this returns.
fn make_validator(
    plan: &Plan,
    coin: &CoinKey,
    shares_prk: &[u8; 32],
    cluster: &Cluster,
    wc: [u8; 32],
    i: u32,
) -> Result<Made, Error> {
    let index = plan.start_index() + i;
    let nonce = plan.nonce_of(i);
    let mut rng_seed = hkdf32(&shares_prk[..], b"validator", &index.to_be_bytes());
    let mut rng = ChaCha20Rng::from_seed(*rng_seed);
    zeroize::Zeroize::zeroize(&mut *rng_seed);
    let sk = coin.signing_key(index);
    let deposit = DepositData::create(&sk, wc, plan.amount_gwei(), &plan.network)
        .map_err(|source| Error::Validator { index, source })?;
    let built = kc_ssv::build_shares_unchecked(&sk, cluster, &plan.owner, nonce, &mut rng)
        .map_err(|source| Error::Shares { index, source })?;
    Ok(Made {
        index,
        nonce,
        deposit,
        built,
    })
}

/// Checks every validator of a round before anything of it is written: all deposit and
/// ownership signatures in batched pairing checks (random linear combinations, one pairing per
/// validator for its two signatures: `batch_verify_by_key`), all share
/// interpolations in multi-scalar checks, in batches of [`CHECK_BATCH`] on all cores. When a
/// batch fails, its validators are checked one by one to name the first bad one.
fn check_made(made: &[Made], ids: &[u64], owner: &Address) -> Result<(), Error> {
    made.par_chunks(CHECK_BATCH).try_for_each(|batch| {
        let roots: Vec<([u8; 32], [u8; 32])> = batch
            .iter()
            .map(|v| {
                (
                    v.deposit.signing_root(),
                    kc_ssv::ownership::ownership_digest(owner, v.nonce),
                )
            })
            .collect();
        // Both signatures of a validator are by its key: one pairing per validator.
        let signed: Vec<[(&[u8], &Signature); 2]> = batch
            .iter()
            .zip(&roots)
            .map(|(v, (root, digest))| {
                [
                    (root.as_slice(), &v.deposit.signature),
                    (digest.as_slice(), &v.built.ownership),
                ]
            })
            .collect();
        let groups: Vec<SignedBy<'_>> = batch
            .iter()
            .zip(&signed)
            .map(|(v, s)| (&v.deposit.pubkey, s.as_slice()))
            .collect();
        if !batch_verify_by_key(&groups) {
            for (v, (root, digest)) in batch.iter().zip(&roots) {
                if !v.deposit.pubkey.verify(root, &v.deposit.signature) {
                    return Err(Error::SelfCheck(format!(
                        "validator {}: the deposit signature does not verify",
                        v.index
                    )));
                }
                if !v.deposit.pubkey.verify(digest, &v.built.ownership) {
                    return Err(Error::SelfCheck(format!(
                        "validator {}: the ownership signature does not verify",
                        v.index
                    )));
                }
            }
            return Err(Error::SelfCheck(
                "a batched signature check failed but every signature verifies alone".into(),
            ));
        }
        let sets: Vec<(&PublicKey, &kc_ssv::BuiltShares)> = batch
            .iter()
            .map(|v| (&v.deposit.pubkey, &v.built))
            .collect();
        kc_ssv::check_built_consistency(&sets, ids).map_err(|e| {
            let index = batch
                .iter()
                .find(|v| e.to_string().contains(&v.deposit.pubkey.to_hex()))
                .map_or(0, |v| v.index);
            Error::Shares { index, source: e }
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A plan of `n` validators on hoodi for the fixture operators (as stored in a bundle: no
    /// file on this machine is looked at).
    use std::path::Path;

    use kc_validator::deposit;

    fn plan(n: u32) -> (Plan, Cluster) {
        let fixture: serde_json::Value = serde_json::from_str(include_str!(
            "../../../crates/ssv/tests/fixtures/operators.json"
        ))
        .unwrap();
        let list: Vec<kc_bundle::operators::OperatorEntry> = fixture["operators"]
            .as_array()
            .unwrap()
            .iter()
            .take(4)
            .map(|o| kc_bundle::operators::OperatorEntry {
                id: o["id"].as_u64().unwrap(),
                public_key: o["public_key"].as_str().unwrap().to_owned(),
            })
            .collect();
        let ops =
            kc_bundle::operators::OperatorsFile::parse(&serde_json::to_string(&list).unwrap())
                .unwrap();
        let text = format!(
            "[ceremony]\nid = \"unit\"\nnetwork = \"hoodi\"\nvalidators = {n}\nstart_index = 40\n\n\
             [deposit]\nwithdrawal_address = \"0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed\"\n\
             withdrawal_type = \"0x01\"\namount_gwei = 32000000000\n\n\
             [ssv]\nowner_address = \"0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359\"\n\
             owner_nonce = 9\noperators_file = \"operators.json\"\nallow_unpinned_operators = true\n\n\
             [hsm]\nmodule = \"/nonexistent.so\"\ntoken_label = \"t\"\n\n[seed]\nsource = \"hsm\"\n"
        );
        let plan = Plan::parse_in_bundle(&text, Path::new("plan.toml"), ops).unwrap();
        let cluster = plan.operators.cluster().unwrap();
        (plan, cluster)
    }

    fn made(n: u32) -> (Plan, Cluster, Vec<Made>) {
        let (plan, cluster) = plan(n);
        let coin = CoinKey::from_seed(&[0x42; 64]).unwrap();
        let wc = deposit::withdrawal_credentials(plan.withdrawal_type, &plan.withdrawal_address);
        let made = (0..n)
            .map(|i| make_validator(&plan, &coin, &[7; 32], &cluster, wc, i).unwrap())
            .collect();
        (plan, cluster, made)
    }

    /// What generation makes passes its batched check, and is the same as the full path's keys.
    #[test]
    fn generated_validators_pass_the_batched_check() {
        let (plan, cluster, made) = made(5);
        check_made(&made, &cluster.ids(), &plan.owner).unwrap();
        let seed = [0x42; 64];
        for v in &made {
            let sk = kc_validator::derive::signing_key(&seed, v.index).unwrap();
            assert_eq!(v.deposit.pubkey, sk.public_key());
            v.deposit.verify_for(&plan.network).unwrap();
        }
        assert_eq!(made[0].index, 40);
        assert_eq!(made[4].nonce, 13);
    }

    /// The invariant "every artifact is verified before the ceremony reports success" starts
    /// before anything is written: a deposit signature, an ownership signature or a share key
    /// that is not what it must be is refused by the batched check, naming the validator.
    #[test]
    fn a_bad_artifact_is_refused_before_anything_is_written() {
        let (plan, cluster, good) = made(4);
        let ids = cluster.ids();
        let name = |r: Result<(), Error>| r.unwrap_err().to_string();

        // Two deposit signatures swapped.
        let (_, _, mut m) = made(4);
        let s = m[1].deposit.signature;
        m[1].deposit.signature = m[2].deposit.signature;
        m[2].deposit.signature = s;
        let e = name(check_made(&m, &ids, &plan.owner));
        assert!(
            e.contains("validator 41") && e.contains("deposit signature"),
            "{e}"
        );

        // An ownership signature for another nonce.
        let (_, _, mut m) = made(4);
        m[3].built.ownership = m[2].built.ownership;
        let e = name(check_made(&m, &ids, &plan.owner));
        assert!(e.contains("validator 43") && e.contains("ownership"), "{e}");

        // A share public key that is not on the validator's polynomial.
        let (_, _, mut m) = made(4);
        m[2].built.shares_data.share_public_keys[0] =
            good[1].built.shares_data.share_public_keys[0];
        let e = name(check_made(&m, &ids, &plan.owner));
        assert!(e.contains(&m[2].deposit.pubkey.to_hex()), "{e}");
    }
}
