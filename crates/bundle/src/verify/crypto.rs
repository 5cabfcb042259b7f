//! The cryptography of a run of entries (points decoded, signatures in one batched pairing
//! check, share interpolations in one multi-scalar check), and its checks in the report.

use kc_ssv::{Cluster, SharesData};
use kc_validator::bls::{batch_verify_by_key, PublicKey, Signature, SignedBy};
use kc_validator::deposit::DepositData;

use crate::manifest::files;

use super::entries::{Crypto, Entry, Reference};
use super::Checker;

/// Validators per batched pairing check and per multi-scalar check (one task each): 64
/// signatures (a deposit and an ownership signature each) per pairing check.
pub(super) const SUB: usize = 32;

/// At most this many failures of one check are listed; the rest are counted.
pub(super) const MAX_LISTED: usize = 100;

/// Failures of one check, listed up to [`MAX_LISTED`].
#[derive(Default)]
pub(super) struct Fails {
    pub(super) list: Vec<(String, String)>,
    pub(super) omitted: usize,
}

impl Fails {
    pub(super) fn push(&mut self, field: String, detail: String) {
        if self.list.len() < MAX_LISTED {
            self.list.push((field, detail));
        } else {
            self.omitted += 1;
        }
    }
    pub(super) fn len(&self) -> usize {
        self.list.len() + self.omitted
    }
    pub(super) fn extend(&mut self, other: Fails) {
        for (f, d) in other.list {
            self.push(f, d);
        }
        self.omitted += other.omitted;
    }
    pub(super) fn into_list(mut self) -> Vec<(String, String)> {
        if self.omitted > 0 {
            self.list.push((
                String::new(),
                format!("and {} more failures of this check", self.omitted),
            ));
        }
        self.list
    }
}

/// The cryptography's results for a run of entries.
#[derive(Default)]
pub(super) struct CryptoOut {
    pub(super) deposit_fails: Fails,
    pub(super) decode_fails: Fails,
    pub(super) consistency_fails: Fails,
    pub(super) ownership_fails: Fails,
    pub(super) deposits_checked: usize,
    pub(super) shares_checked: usize,
    pub(super) deposits: Vec<(usize, DepositData)>,
}

impl CryptoOut {
    pub(super) fn merge(&mut self, o: CryptoOut) {
        self.deposit_fails.extend(o.deposit_fails);
        self.decode_fails.extend(o.decode_fails);
        self.consistency_fails.extend(o.consistency_fails);
        self.ownership_fails.extend(o.ownership_fails);
        self.deposits_checked += o.deposits_checked;
        self.shares_checked += o.shares_checked;
        self.deposits.extend(o.deposits);
    }
}

/// The cryptography of a run of entries (one task): only entries that passed their cheap
/// checks, only for files that may have it.
pub(super) fn crypto(
    sub: &[Entry],
    dep_mode: Crypto,
    ks_mode: Crypto,
    r: &Reference<'_>,
    cluster: Option<&Cluster>,
    collect: bool,
) -> CryptoOut {
    let mut out = CryptoOut::default();
    let mut keys: Vec<(usize, PublicKey)> = Vec::with_capacity(sub.len());
    // Deposits: the points (curve and subgroup), and the signing roots.
    let mut deposits: Vec<Deposit> = Vec::with_capacity(sub.len());
    if dep_mode == Crypto::Check || (collect && dep_mode != Crypto::Skip) {
        for e in sub {
            let (Some(raw), true) = (&e.raw, e.deposit_ok) else {
                continue;
            };
            match raw.decode() {
                Ok(d) => {
                    let root = d.signing_root();
                    keys.push((e.i, d.pubkey));
                    deposits.push((e.i, d, root));
                }
                Err(err) => out
                    .deposit_fails
                    .push(format!("[{}]", e.i), err.to_string()),
            }
        }
    }
    // Key shares: the validator key (taken from its deposit when that decoded: the same key,
    // by the cheap checks), the ownership signature, the ciphertexts against the cluster's
    // moduli, and the share interpolation.
    let mut ownership: Vec<Ownership> = Vec::new();
    let mut sets: Vec<(usize, PublicKey, &SharesData)> = Vec::new();
    if ks_mode == Crypto::Check {
        for e in sub {
            let (Some(sd), Some(v), true) = (&e.shares, &e.v, e.shares_ok) else {
                continue;
            };
            let field = format!("shares[{}].payload.sharesData", e.i);
            let pk = match keys.iter().find(|(i, _)| *i == e.i) {
                Some((_, pk)) => *pk,
                None => match hex::decode(&v.pubkey)
                    .ok()
                    .and_then(|b| PublicKey::from_bytes(&b).ok())
                {
                    Some(pk) => pk,
                    None => {
                        out.decode_fails.push(
                            format!("shares[{}].data.publicKey", e.i),
                            "not a valid BLS public key".into(),
                        );
                        continue;
                    }
                },
            };
            match Signature::from_bytes(&sd.signature) {
                Ok(sig) => {
                    let digest = kc_ssv::ownership::ownership_digest(&r.plan.owner, v.owner_nonce);
                    ownership.push((e.i, digest, pk, sig));
                }
                Err(err) => out
                    .decode_fails
                    .push(field.clone(), format!("ownership signature: {err}")),
            }
            if let Some(cluster) = cluster {
                for (op, ct) in cluster.operators().iter().zip(&sd.encrypted_shares) {
                    if !op.ciphertext_in_range(ct) {
                        out.decode_fails.push(
                            field.clone(),
                            format!(
                                "encrypted share of operator {} is not an RSA ciphertext for its key",
                                op.id()
                            ),
                        );
                    }
                }
            }
            sets.push((e.i, pk, sd));
        }
        // The validator keys were validated when decoded (from the deposit, or above): not again.
        let bytes: Vec<[u8; 48]> = sets.iter().map(|(_, pk, _)| pk.to_bytes()).collect();
        let batch: Vec<kc_ssv::ShareSet<'_>> = sets
            .iter()
            .zip(&bytes)
            .map(|((_, _, sd), pk)| kc_ssv::ShareSet {
                validator_public_key: pk,
                operator_ids: &r.ids,
                share_public_keys: &sd.share_public_keys,
            })
            .collect();
        let keys: Vec<PublicKey> = sets.iter().map(|(_, pk, _)| *pk).collect();
        if kc_ssv::verify_many_with_validated_keys(&batch, &keys).is_err() {
            for ((i, _, sd), pk) in sets.iter().zip(&bytes) {
                if let Err(err) =
                    kc_ssv::verify_share_public_keys(pk, &r.ids, &sd.share_public_keys)
                {
                    out.consistency_fails
                        .push(format!("shares[{i}].payload.sharesData"), err.to_string());
                }
            }
        }
        out.shares_checked = sets.len();
    }
    if dep_mode == Crypto::Check || ks_mode == Crypto::Check {
        let checked: &[Deposit] = if dep_mode == Crypto::Check {
            &deposits
        } else {
            &[]
        };
        check_signatures(checked, &ownership, &mut out);
    }
    out.deposits_checked = deposits.len();
    if collect {
        out.deposits = deposits.into_iter().map(|(i, d, _)| (i, d)).collect();
    }
    out
}

/// A decoded deposit: its entry, its content, its signing root.
pub(super) type Deposit = (usize, DepositData, [u8; 32]);
/// A decoded ownership signature: its entry, the digest signed, the validator key, the signature.
pub(super) type Ownership = (usize, [u8; 32], PublicKey, Signature);

/// Every signature of a run in one batched pairing check, one Miller loop per validator (its
/// deposit and ownership signatures are by its key); one by one only if the batch fails, to
/// name each bad signature in `out`.
pub(super) fn check_signatures(deposits: &[Deposit], ownership: &[Ownership], out: &mut CryptoOut) {
    let by_key = signed_by_key(deposits, ownership);
    let groups: Vec<SignedBy<'_>> = by_key.iter().map(|(pk, s)| (*pk, s.as_slice())).collect();
    if groups.is_empty() || batch_verify_by_key(&groups) {
        return;
    }
    for (i, d, root) in deposits {
        if !d.pubkey.verify(root, &d.signature) {
            out.deposit_fails
                .push(format!("[{i}]"), "deposit signature does not verify".into());
        }
    }
    for (i, digest, pk, sig) in ownership {
        if !pk.verify(digest, sig) {
            out.ownership_fails.push(
                format!("shares[{i}].payload.sharesData"),
                "ownership signature does not verify for the owner and nonce".into(),
            );
        }
    }
}

/// The signatures of a run grouped by key: a validator's deposit signature and its ownership
/// signature (both lists in entry order) share one group when both are by the same key.
#[allow(clippy::type_complexity)]
fn signed_by_key<'a>(
    deposits: &'a [Deposit],
    ownership: &'a [Ownership],
) -> Vec<(&'a PublicKey, Vec<(&'a [u8], &'a Signature)>)> {
    let mut out: Vec<(&PublicKey, Vec<(&[u8], &Signature)>)> =
        Vec::with_capacity(deposits.len().max(ownership.len()));
    let (mut a, mut b) = (0, 0);
    while a < deposits.len() || b < ownership.len() {
        let dep = deposits.get(a);
        let own = ownership.get(b);
        match (dep, own) {
            (Some((i, d, root)), Some((j, digest, pk, sig))) if i == j && d.pubkey == *pk => {
                out.push((
                    pk,
                    vec![(root.as_slice(), &d.signature), (digest.as_slice(), sig)],
                ));
                a += 1;
                b += 1;
            }
            (Some((i, d, root)), o) if o.is_none_or(|(j, ..)| i <= j) => {
                out.push((&d.pubkey, vec![(root.as_slice(), &d.signature)]));
                a += 1;
            }
            (_, Some((_, digest, pk, sig))) => {
                out.push((pk, vec![(digest.as_slice(), sig)]));
                b += 1;
            }
            (_, None) => break,
        }
    }
    out
}

/// Why a file got no cryptographic check.
pub(super) fn not_checked(file: &str) -> String {
    format!(
        "not checked: {file} does not match the manifest (hash, entry count or layout), so no \
         point was decoded and no signature verified"
    )
}

pub(super) fn proven(file: &str) -> String {
    format!(
        "verified in memory before {file} was written (batched) and the file is byte for byte \
         what was verified (same SHA-256): not redone"
    )
}

/// Records the cryptographic checks of both files.
pub(super) fn record_crypto(
    out: &mut CryptoOut,
    dep: Option<Crypto>,
    ks: Option<Crypto>,
    n: usize,
    c: &mut Checker,
) {
    let t = kc_ssv::shamir::threshold(n).unwrap_or(0);
    let Some(dep) = dep else {
        return record_shares(out, ks, n, t, c);
    };
    match dep {
        Crypto::Check => c.group(
            "deposit_data.signatures",
            files::DEPOSIT_DATA,
            std::mem::take(&mut out.deposit_fails).into_list(),
            format!(
                "{} deposit signatures and roots valid (batched)",
                out.deposits_checked
            ),
        ),
        Crypto::Proven => c.pass(
            "deposit_data.signatures",
            files::DEPOSIT_DATA,
            format!("roots valid; signatures {}", proven(files::DEPOSIT_DATA)),
        ),
        Crypto::Skip => c.fail(
            "deposit_data.signatures",
            files::DEPOSIT_DATA,
            "",
            not_checked(files::DEPOSIT_DATA),
        ),
    }
    record_shares(out, ks, n, t, c);
}

pub(super) fn record_shares(
    out: &mut CryptoOut,
    ks: Option<Crypto>,
    n: usize,
    t: usize,
    c: &mut Checker,
) {
    let Some(ks) = ks else { return };
    match ks {
        Crypto::Check => {
            c.group(
                "keyshares.decode",
                files::KEYSHARES,
                std::mem::take(&mut out.decode_fails).into_list(),
                format!(
                    "{} validator keys, ownership signatures and encrypted shares decoded",
                    out.shares_checked
                ),
            );
            c.group(
                "keyshares.consistency",
                files::KEYSHARES,
                std::mem::take(&mut out.consistency_fails).into_list(),
                format!(
                    "share public keys of every validator interpolate to its public key (threshold {t} of {n})"
                ),
            );
            c.group(
                "keyshares.ownership",
                files::KEYSHARES,
                std::mem::take(&mut out.ownership_fails).into_list(),
                format!(
                    "{} ownership signatures valid (batched)",
                    out.shares_checked
                ),
            );
        }
        Crypto::Proven => {
            c.pass(
                "keyshares.consistency",
                files::KEYSHARES,
                format!(
                    "share interpolation (threshold {t} of {n}) {}",
                    proven(files::KEYSHARES)
                ),
            );
            c.pass(
                "keyshares.ownership",
                files::KEYSHARES,
                format!("ownership signatures {}", proven(files::KEYSHARES)),
            );
        }
        Crypto::Skip => {
            for name in ["keyshares.consistency", "keyshares.ownership"] {
                c.fail(name, files::KEYSHARES, "", not_checked(files::KEYSHARES));
            }
        }
    }
}
