//! Shamir secret sharing of a validator key over the BLS12-381 scalar field, and the public
//! consistency check (Lagrange interpolation in G1) that auditors run without any secret.
//!
//! Convention (the SSV SDK's `Threshold.create`, and the SSV node): the x-coordinate of a share
//! is the operator **id** itself, the polynomial has degree t-1 with t = n - f, n = 3f+1, and its
//! constant term is the validator secret. A share public key is `share_secret * G1`.

use blstrs::{G1Affine, G1Projective, Scalar};
use ff::{Field, PrimeField};
use group::prime::PrimeCurveAffine;
use group::{Curve, Group};
use rand_core::CryptoRngCore;
use rayon::prelude::*;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::error::{Error, Result};

/// Cluster sizes the SSV network accepts (n = 3f+1, f = 1..=4).
pub const CLUSTER_SIZES: [usize; 4] = [4, 7, 10, 13];

/// Largest operator id we accept: the SDK's JSON carries ids as JavaScript numbers.
pub const MAX_OPERATOR_ID: u64 = (1 << 53) - 1;

/// Length of a compressed BLS12-381 G1 public key.
pub const PUBLIC_KEY_LEN: usize = 48;

/// f for a cluster of `n` operators, if `n` is a valid cluster size.
pub fn fault_tolerance(n: usize) -> Option<usize> {
    CLUSTER_SIZES.contains(&n).then(|| (n - 1) / 3)
}

/// t = n - f for a cluster of `n` operators, if `n` is a valid cluster size.
pub fn threshold(n: usize) -> Option<usize> {
    fault_tolerance(n).map(|f| n - f)
}

/// Checks that `n` operators make a cluster the SSV network accepts ([`CLUSTER_SIZES`]); returns
/// the threshold t. `context` names what was counted (e.g. `operators`).
pub fn check_cluster_size(context: &str, n: usize) -> Result<usize> {
    threshold(n).ok_or_else(|| Error::WrongOperatorCount {
        context: context.to_owned(),
        count: n,
    })
}

/// The cluster sizes for messages: `4, 7, 10 or 13`.
pub fn cluster_sizes_text() -> String {
    let (last, rest) = CLUSTER_SIZES.split_last().expect("cluster sizes");
    let rest: Vec<String> = rest.iter().map(ToString::to_string).collect();
    format!("{} or {last}", rest.join(", "))
}

/// Checks a list of operator ids as the SSV network needs it: a valid cluster size, every id in
/// 1..=2^53-1, no duplicates, strictly increasing. Returns the threshold.
pub fn check_operator_ids(context: &str, ids: &[u64]) -> Result<usize> {
    let t = check_cluster_size(context, ids.len())?;
    let mut sorted = ids.to_vec();
    sorted.sort_unstable();
    for pair in sorted.windows(2) {
        if pair[0] == pair[1] {
            return Err(Error::DuplicateOperatorId {
                context: context.to_owned(),
                id: pair[0],
            });
        }
    }
    for &id in ids {
        if id == 0 || id > MAX_OPERATOR_ID {
            return Err(Error::InvalidOperatorId {
                context: context.to_owned(),
                id,
            });
        }
    }
    for pair in ids.windows(2) {
        if pair[1] < pair[0] {
            return Err(Error::OperatorsNotSorted {
                context: context.to_owned(),
                previous: pair[0],
                id: pair[1],
            });
        }
    }
    Ok(t)
}

/// Overwrites a scalar with zero in a way the optimiser keeps (best effort: `blstrs::Scalar`
/// is `Copy` and has no `Zeroize`; copies the compiler made in registers are out of reach).
fn wipe(s: &mut Scalar) {
    *s = Scalar::ZERO;
    core::hint::black_box(s);
}

/// Secret scalars (polynomial coefficients) that are wiped on drop.
struct SecretScalars(Vec<Scalar>);

impl Drop for SecretScalars {
    fn drop(&mut self) {
        self.0.iter_mut().for_each(wipe);
    }
}

/// A scalar from 32 big-endian bytes, if canonical (< r).
fn scalar_from_be(bytes: &[u8; 32]) -> Option<Scalar> {
    Option::from(Scalar::from_bytes_be(bytes))
}

/// One operator's share of a validator secret. Zeroized on drop; no `Debug`, no `Display`.
pub struct ShareSecret {
    operator_id: u64,
    be: Zeroizing<[u8; 32]>,
}

impl ShareSecret {
    /// The operator id, which is also the share's x-coordinate.
    pub fn operator_id(&self) -> u64 {
        self.operator_id
    }

    /// The share secret as 32 big-endian bytes.
    pub fn to_be_bytes(&self) -> Zeroizing<[u8; 32]> {
        self.be.clone()
    }

    /// The share public key, `share * G1`.
    pub fn public_key(&self) -> SharePublicKey {
        let mut s = self.scalar();
        let pk = SharePublicKey((G1Projective::generator() * s).to_affine().to_compressed());
        wipe(&mut s);
        pk
    }

    /// The exact RSA plaintext the SSV node expects: ASCII `"0x"` followed by 64 lower-case hex
    /// digits of the 32-byte big-endian share (see `docs/ssv-share-encryption.md`).
    pub fn plaintext(&self) -> Zeroizing<Vec<u8>> {
        let mut out = Zeroizing::new(vec![0u8; 66]);
        out[0] = b'0';
        out[1] = b'x';
        // Cannot fail: the output slice is exactly twice the input length.
        let _ = hex::encode_to_slice(&self.be[..], &mut out[2..]);
        out
    }

    /// Parses a decrypted share plaintext as the SSV node does (`0x` + 64 hex digits, a
    /// canonical scalar). Errors never include the plaintext.
    pub fn from_plaintext(operator_id: u64, plaintext: &[u8]) -> Result<Self> {
        let err = |reason| Error::SharePlaintext {
            id: operator_id,
            reason,
        };
        if plaintext.len() != 66 {
            return Err(err("length is not 66 bytes"));
        }
        if &plaintext[..2] != b"0x" {
            return Err(err("missing 0x prefix"));
        }
        let mut be = Zeroizing::new([0u8; 32]);
        hex::decode_to_slice(&plaintext[2..], &mut be[..]).map_err(|_| err("not hex"))?;
        let mut s = scalar_from_be(&be).ok_or_else(|| err("not below the group order"))?;
        wipe(&mut s);
        Ok(Self { operator_id, be })
    }

    fn scalar(&self) -> Scalar {
        // The bytes were produced from, or checked as, a canonical scalar.
        scalar_from_be(&self.be).unwrap_or(Scalar::ZERO)
    }
}

/// A share public key: a compressed BLS12-381 G1 point (48 bytes).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SharePublicKey(pub [u8; PUBLIC_KEY_LEN]);

impl SharePublicKey {
    /// The compressed bytes.
    pub fn to_bytes(&self) -> [u8; PUBLIC_KEY_LEN] {
        self.0
    }

    /// `0x`-prefixed lower-case hex.
    pub fn to_hex(&self) -> String {
        format!("0x{}", hex::encode(self.0))
    }
}

impl std::fmt::Debug for SharePublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SharePublicKey({})", self.to_hex())
    }
}

/// The result of splitting one validator secret: shares in operator-id order.
pub struct Split {
    shares: Vec<ShareSecret>,
    public_keys: Vec<SharePublicKey>,
    /// The share public keys as points (public; kept for checks that need no decoding).
    points: Vec<G1Affine>,
    threshold: usize,
}

impl Split {
    /// The share secrets, in operator-id order.
    pub fn shares(&self) -> &[ShareSecret] {
        &self.shares
    }

    /// The share public keys, in operator-id order.
    pub fn public_keys(&self) -> &[SharePublicKey] {
        &self.public_keys
    }

    /// The operator ids, in order.
    pub fn operator_ids(&self) -> Vec<u64> {
        self.shares.iter().map(ShareSecret::operator_id).collect()
    }

    /// How many shares reconstruct the secret.
    pub fn threshold(&self) -> usize {
        self.threshold
    }

    /// The share public keys as points, in operator-id order.
    pub(crate) fn points(&self) -> &[G1Affine] {
        &self.points
    }

    /// Consumes the split, returning the share secrets.
    pub fn into_shares(self) -> Vec<ShareSecret> {
        self.shares
    }
}

/// Splits a validator secret (32 bytes, big-endian, a canonical non-zero scalar) into one share
/// per operator id. `operator_ids` must be a valid cluster (4/7/10/13 ids, sorted, distinct,
/// non-zero). The t-1 random coefficients come from `rng`.
pub fn split_secret(
    secret_be: &[u8; 32],
    operator_ids: &[u64],
    rng: &mut impl CryptoRngCore,
) -> Result<Split> {
    let t = check_operator_ids("split", operator_ids)?;
    let mut coefficients = SecretScalars(Vec::with_capacity(t));
    coefficients.0.push(
        scalar_from_be(secret_be).ok_or_else(|| Error::Reconstruction {
            reason: "validator secret is not a canonical scalar".into(),
        })?,
    );
    for _ in 1..t {
        coefficients.0.push(Scalar::random(&mut *rng));
    }
    let mut shares = Vec::with_capacity(operator_ids.len());
    let mut points = Vec::with_capacity(operator_ids.len());
    for &id in operator_ids {
        let x = Scalar::from(id);
        // Horner: a_{t-1} x^{t-1} + ... + a_0.
        let mut y = Scalar::ZERO;
        for c in coefficients.0.iter().rev() {
            y = y * x + c;
        }
        points.push(G1Projective::generator() * y);
        shares.push(ShareSecret {
            operator_id: id,
            be: Zeroizing::new(y.to_bytes_be()),
        });
        wipe(&mut y);
    }
    let mut affine = vec![G1Affine::identity(); points.len()];
    G1Projective::batch_normalize(&points, &mut affine);
    let public_keys = affine
        .iter()
        .map(|p| SharePublicKey(p.to_compressed()))
        .collect();
    Ok(Split {
        shares,
        public_keys,
        points: affine,
        threshold: t,
    })
}

/// Lagrange basis coefficients λ_i(at) for the x-coordinates `xs` (distinct).
fn lagrange_coefficients(xs: &[Scalar], at: &Scalar) -> Option<Vec<Scalar>> {
    let mut out = Vec::with_capacity(xs.len());
    for (i, xi) in xs.iter().enumerate() {
        let mut num = Scalar::ONE;
        let mut den = Scalar::ONE;
        for (m, xm) in xs.iter().enumerate() {
            if m != i {
                num *= *at - xm;
                den *= *xi - xm;
            }
        }
        let inv: Option<Scalar> = den.invert().into();
        out.push(num * inv?);
    }
    Some(out)
}

/// Reconstructs the secret from shares by Lagrange interpolation at 0. At least `t` shares of
/// one split are needed; with fewer the result is unrelated to the secret (that is the point
/// of Shamir sharing), so callers must know t. Ids must be distinct.
pub fn reconstruct(shares: &[&ShareSecret]) -> Result<Zeroizing<[u8; 32]>> {
    if shares.is_empty() {
        return Err(Error::Reconstruction {
            reason: "no shares".into(),
        });
    }
    let mut ids: Vec<u64> = shares.iter().map(|s| s.operator_id).collect();
    ids.sort_unstable();
    if let Some(pair) = ids.windows(2).find(|p| p[0] == p[1]) {
        return Err(Error::Reconstruction {
            reason: format!("operator id {} given twice", pair[0]),
        });
    }
    let xs: Vec<Scalar> = shares.iter().map(|s| Scalar::from(s.operator_id)).collect();
    let lambdas =
        lagrange_coefficients(&xs, &Scalar::ZERO).ok_or_else(|| Error::Reconstruction {
            reason: "duplicate x-coordinates".into(),
        })?;
    let mut acc = Scalar::ZERO;
    for (share, lambda) in shares.iter().zip(&lambdas) {
        let mut s = share.scalar();
        acc += s * lambda;
        wipe(&mut s);
    }
    let out = Zeroizing::new(acc.to_bytes_be());
    wipe(&mut acc);
    Ok(out)
}

/// Decodes a compressed G1 point with subgroup check; rejects the identity.
fn decode_g1(bytes: &[u8; PUBLIC_KEY_LEN]) -> Option<G1Projective> {
    let p: Option<G1Affine> = G1Affine::from_compressed(bytes).into();
    let p = p?;
    if bool::from(p.is_identity()) {
        return None;
    }
    Some(p.into())
}

/// The public consistency check an auditor runs on one validator: every share public key lies on
/// one polynomial of degree < t whose value at 0 is the validator public key, with the operator
/// ids (sorted, distinct, a valid cluster size) as x-coordinates.
///
/// How: interpolate from the first t shares (Lagrange in G1) at x = 0 and at the x of every
/// other share. The f+1 equations are checked at once as one multi-scalar multiplication,
/// weighted by 128-bit coefficients derived from a SHA-256 hash of all inputs (deterministic,
/// no RNG). On failure, the equations are checked one by one to name the culprit.
pub fn verify_share_public_keys(
    validator_public_key: &[u8; PUBLIC_KEY_LEN],
    operator_ids: &[u64],
    share_public_keys: &[SharePublicKey],
) -> Result<()> {
    verify_many_share_public_keys(&[ShareSet {
        validator_public_key,
        operator_ids,
        share_public_keys,
    }])
}

/// One validator's public share data, for [`verify_many_share_public_keys`].
#[derive(Clone, Copy, Debug)]
pub struct ShareSet<'a> {
    /// The validator public key (compressed G1).
    pub validator_public_key: &'a [u8; PUBLIC_KEY_LEN],
    /// The operator ids, sorted.
    pub operator_ids: &'a [u64],
    /// The share public keys, in operator-id order.
    pub share_public_keys: &'a [SharePublicKey],
}

/// A decoded share set and the terms of its batched equation.
struct Decoded {
    validator: String,
    ids: Vec<u64>,
    pk: G1Projective,
    points: Vec<G1Projective>,
    xs: Vec<Scalar>,
    t: usize,
    seed: [u8; 32],
    msm_points: Vec<G1Projective>,
    msm_scalars: Vec<Scalar>,
}

fn decode_set(set: &ShareSet<'_>) -> Result<Decoded> {
    let validator = format!("0x{}", hex::encode(set.validator_public_key));
    check_set_shape(set, &validator)?;
    let pk = decode_g1(set.validator_public_key).ok_or_else(|| Error::InvalidPublicKey {
        validator: validator.clone(),
        field: "validator public key".into(),
    })?;
    let mut points = Vec::with_capacity(set.operator_ids.len());
    for (id, spk) in set.operator_ids.iter().zip(set.share_public_keys) {
        points.push(decode_g1(&spk.0).ok_or_else(|| Error::InvalidPublicKey {
            validator: validator.clone(),
            field: format!("share public key of operator {id}"),
        })?);
    }
    decoded_from_points(set, validator, pk, points)
}

/// A valid cluster and one share public key per operator.
fn check_set_shape(set: &ShareSet<'_>, validator: &str) -> Result<usize> {
    let t = check_operator_ids(&format!("validator {validator}"), set.operator_ids)?;
    let n = set.operator_ids.len();
    if set.share_public_keys.len() != n {
        return Err(Error::FieldMismatch {
            context: format!("validator {validator}"),
            field: "share public keys",
            detail: format!("{} keys for {n} operators", set.share_public_keys.len()),
        });
    }
    Ok(t)
}

/// The batched equation's terms of a set whose points are already known (decoded with their
/// checks, or computed).
fn decoded_from_points(
    set: &ShareSet<'_>,
    validator: String,
    pk: G1Projective,
    points: Vec<G1Projective>,
) -> Result<Decoded> {
    let t = check_set_shape(set, &validator)?;
    let xs: Vec<Scalar> = set
        .operator_ids
        .iter()
        .map(|&id| Scalar::from(id))
        .collect();
    let seed = batch_seed(set);
    let (msm_points, msm_scalars) =
        batch_terms(&seed, &pk, &points, &xs, t).ok_or_else(|| Error::SharesDoNotInterpolate {
            validator: validator.clone(),
            detail: "duplicate x-coordinates",
        })?;
    Ok(Decoded {
        validator,
        ids: set.operator_ids.to_vec(),
        pk,
        points,
        xs,
        t,
        seed,
        msm_points,
        msm_scalars,
    })
}

/// The consistency check of [`verify_share_public_keys`] for many validators at once: every
/// validator's equations, weighted by per-validator 128-bit coefficients (SHA-256 of all
/// inputs), go into a single multi-scalar multiplication, which costs less per point than one
/// small MSM per validator; points are decoded (with subgroup checks) on all cores (rayon).
/// If it fails, each validator is checked on its own and the first failure (in input order) is
/// returned with its culprit named.
///
/// Soundness: the group has prime order r and every point is subgroup-checked, so a false
/// statement leaves some equation with a non-zero error e·G; the weights are 128-bit values
/// from SHA-256 of every input, so the weighted sum vanishes with probability about 2^-127 per
/// set of inputs an adversary tries.
pub fn verify_many_share_public_keys(sets: &[ShareSet<'_>]) -> Result<()> {
    if sets.is_empty() {
        return Ok(()); // blst's multi-scalar multiplication panics on no points
    }
    // Decompression with subgroup checks dominates: spread it over the cores.
    let decoded = sets
        .par_iter()
        .map(decode_set)
        .collect::<Result<Vec<_>>>()?;
    check_decoded(&decoded)
}

/// [`verify_many_share_public_keys`] for validators whose public keys were already validated
/// (on the curve, in the subgroup, not the identity: a [`kc_validator::PublicKey`]), so that
/// they are not decoded a second time: `keys[i]` must be the key whose compressed form is
/// `sets[i].validator_public_key`. The share public keys are decoded with their checks.
pub fn verify_many_with_validated_keys(
    sets: &[ShareSet<'_>],
    keys: &[kc_validator::PublicKey],
) -> Result<()> {
    if sets.is_empty() {
        return Ok(());
    }
    let decoded = sets
        .par_iter()
        .zip(keys)
        .map(|(set, key)| {
            let validator = format!("0x{}", hex::encode(set.validator_public_key));
            let pk: Option<G1Affine> =
                G1Affine::from_uncompressed_unchecked(&key.to_uncompressed()).into();
            let pk = match pk {
                Some(pk) if key.to_bytes() == *set.validator_public_key => pk,
                _ => {
                    return Err(Error::InvalidPublicKey {
                        validator,
                        field: "validator public key (not the validated key)".into(),
                    })
                }
            };
            check_set_shape(set, &validator)?;
            let mut points = Vec::with_capacity(set.operator_ids.len());
            for (id, spk) in set.operator_ids.iter().zip(set.share_public_keys) {
                points.push(decode_g1(&spk.0).ok_or_else(|| Error::InvalidPublicKey {
                    validator: validator.clone(),
                    field: format!("share public key of operator {id}"),
                })?);
            }
            decoded_from_points(set, validator, G1Projective::from(pk), points)
        })
        .collect::<Result<Vec<_>>>()?;
    check_decoded(&decoded)
}

/// The same check for share sets whose points were computed here (by [`split_secret`]) rather
/// than read: no decompression or subgroup check (the points are on the curve and in the
/// subgroup by construction). `points[i]` are the share points of `sets[i]` and `keys[i]` its
/// validator point. Each point must compress to the bytes of its set (cheap: the points are
/// affine), so the check is about exactly the bytes that are written.
pub(crate) fn verify_many_computed(
    sets: &[ShareSet<'_>],
    keys: &[G1Affine],
    points: &[&[G1Affine]],
) -> Result<()> {
    if sets.is_empty() {
        return Ok(());
    }
    let decoded = sets
        .iter()
        .zip(keys)
        .zip(points)
        .map(|((set, pk), pts)| {
            let validator = format!("0x{}", hex::encode(set.validator_public_key));
            if pk.to_compressed() != *set.validator_public_key {
                return Err(Error::InvalidPublicKey {
                    validator,
                    field: "validator public key (not the computed point)".into(),
                });
            }
            check_set_shape(set, &validator)?;
            if pts.len() != set.share_public_keys.len() {
                return Err(Error::FieldMismatch {
                    context: format!("validator {validator}"),
                    field: "share points",
                    detail: format!(
                        "{} points for {} keys",
                        pts.len(),
                        set.share_public_keys.len()
                    ),
                });
            }
            for ((p, spk), id) in pts.iter().zip(set.share_public_keys).zip(set.operator_ids) {
                if p.to_compressed() != spk.0 {
                    return Err(Error::InconsistentShare {
                        validator,
                        operator_id: *id,
                    });
                }
            }
            let pts = pts.iter().map(G1Projective::from).collect();
            decoded_from_points(set, validator, G1Projective::from(pk), pts)
        })
        .collect::<Result<Vec<_>>>()?;
    check_decoded(&decoded)
}

/// One multi-scalar multiplication over every set's weighted equations; on failure, the sets
/// one by one to name the culprit.
fn check_decoded(decoded: &[Decoded]) -> Result<()> {
    let mut h = Sha256::new();
    h.update(b"kc-ssv/share-consistency-many/v1");
    for d in decoded {
        h.update(d.seed);
    }
    let global = h.finalize();
    let mut points = Vec::with_capacity(decoded.iter().map(|d| d.msm_points.len()).sum());
    let mut scalars = Vec::with_capacity(points.capacity());
    for (v, d) in decoded.iter().enumerate() {
        let sigma = if decoded.len() == 1 {
            Scalar::ONE
        } else {
            weight(&global, v as u32)
        };
        points.extend_from_slice(&d.msm_points);
        scalars.extend(d.msm_scalars.iter().map(|s| s * sigma));
    }
    if bool::from(G1Projective::multi_exp(&points, &scalars).is_identity()) {
        return Ok(());
    }
    for d in decoded {
        let own = G1Projective::multi_exp(&d.msm_points, &d.msm_scalars);
        if !bool::from(own.is_identity()) {
            return Err(diagnose(&d.validator, &d.ids, &d.pk, &d.points, &d.xs, d.t));
        }
    }
    Ok(())
}

/// Fiat–Shamir seed of one share set: SHA-256 of all its inputs.
fn batch_seed(set: &ShareSet<'_>) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"kc-ssv/share-consistency/v1");
    h.update(set.validator_public_key);
    for (id, spk) in set.operator_ids.iter().zip(set.share_public_keys) {
        h.update(id.to_be_bytes());
        h.update(spk.0);
    }
    h.finalize().into()
}

/// The k-th 128-bit weight from a seed (odd, so never zero).
fn weight(seed: &[u8], k: u32) -> Scalar {
    let d = Sha256::new()
        .chain_update(seed)
        .chain_update(k.to_be_bytes())
        .finalize();
    let mut w = [0u8; 16];
    w.copy_from_slice(&d[..16]);
    Scalar::from_u128(u128::from_be_bytes(w) | 1)
}

/// Terms of Σ_k ρ_k (Σ_{i<t} λ_i(x_k) P_i − Q_k) for targets x_0 = 0 (Q = validator key) and
/// the x of every share beyond the first t (Q = that share's key): n+1 points. The equation
/// holds (the MSM is the identity) iff, with overwhelming probability, every target does.
fn batch_terms(
    seed: &[u8; 32],
    pk: &G1Projective,
    points: &[G1Projective],
    xs: &[Scalar],
    t: usize,
) -> Option<(Vec<G1Projective>, Vec<Scalar>)> {
    let n = xs.len();
    let base = &xs[..t];
    let mut coefficients = vec![Scalar::ZERO; t];
    let mut msm_points = Vec::with_capacity(n + 1);
    let mut msm_scalars = Vec::with_capacity(n + 1);
    let targets = std::iter::once((Scalar::ZERO, *pk))
        .chain(xs[t..].iter().copied().zip(points[t..].iter().copied()));
    for (k, (x, q)) in targets.enumerate() {
        let w = weight(seed, k as u32);
        let lambdas = lagrange_coefficients(base, &x)?;
        for (c, l) in coefficients.iter_mut().zip(&lambdas) {
            *c += l * w;
        }
        msm_points.push(q);
        msm_scalars.push(-w);
    }
    msm_points.extend_from_slice(&points[..t]);
    msm_scalars.extend_from_slice(&coefficients);
    Some((msm_points, msm_scalars))
}

/// Unbatched check of one set of (x, P) against the validator key: interpolate from the first
/// t at 0 and at every further x.
fn exact_check(pk: &G1Projective, points: &[G1Projective], xs: &[Scalar], t: usize) -> bool {
    let interpolate = |at: &Scalar| -> Option<G1Projective> {
        let l = lagrange_coefficients(&xs[..t], at)?;
        Some(G1Projective::multi_exp(&points[..t], &l))
    };
    if interpolate(&Scalar::ZERO) != Some(*pk) {
        return false;
    }
    xs[t..]
        .iter()
        .zip(&points[t..])
        .all(|(x, p)| interpolate(x) == Some(*p))
}

/// Names the culprit after the batched check failed.
fn diagnose(
    validator: &str,
    operator_ids: &[u64],
    pk: &G1Projective,
    points: &[G1Projective],
    xs: &[Scalar],
    t: usize,
) -> Error {
    let mut culprits = Vec::new();
    for (skip, &id) in operator_ids.iter().enumerate() {
        let p: Vec<G1Projective> = points
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != skip)
            .map(|(_, p)| *p)
            .collect();
        let x: Vec<Scalar> = xs
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != skip)
            .map(|(_, x)| *x)
            .collect();
        if exact_check(pk, &p, &x, t) {
            culprits.push(id);
        }
    }
    if let [operator_id] = culprits[..] {
        return Error::InconsistentShare {
            validator: validator.to_owned(),
            operator_id,
        };
    }
    // Do the shares agree among themselves (then the polynomial's value at 0 is another key)?
    let l0 = lagrange_coefficients(&xs[..t], &Scalar::ZERO);
    let other_zero = l0.map(|l| G1Projective::multi_exp(&points[..t], &l));
    if let Some(at_zero) = other_zero {
        if exact_check(&at_zero, points, xs, t) {
            return Error::SharesDoNotInterpolate {
                validator: validator.to_owned(),
                detail: "the shares agree among themselves but belong to another key",
            };
        }
    }
    Error::SharesDoNotInterpolate {
        validator: validator.to_owned(),
        detail: "several shares are off one polynomial, or out of order",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clusters_have_3f_plus_1_operators_for_f_1_to_4() {
        let table = [(4, 1, 3), (7, 2, 5), (10, 3, 7), (13, 4, 9)];
        for (n, f, t) in table {
            assert_eq!(fault_tolerance(n), Some(f), "n = {n}");
            assert_eq!(threshold(n), Some(t), "n = {n}");
            assert_eq!(check_cluster_size("operators", n).unwrap(), t);
        }
        assert_eq!(CLUSTER_SIZES.to_vec(), table.map(|(n, _, _)| n).to_vec());
        assert_eq!(cluster_sizes_text(), "4, 7, 10 or 13");
    }

    #[test]
    fn a_cluster_of_5_or_any_other_size_is_refused_naming_the_count() {
        for n in [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 16, 100] {
            assert_eq!(fault_tolerance(n), None, "n = {n}");
            assert_eq!(threshold(n), None, "n = {n}");
            let e = check_cluster_size("operators", n).unwrap_err();
            assert!(
                matches!(&e, Error::WrongOperatorCount { context, count } if context == "operators" && *count == n),
                "{e:?}"
            );
        }
        assert_eq!(
            check_cluster_size("operators", 5).unwrap_err().to_string(),
            "operators: 5 operators, a cluster needs 4, 7, 10 or 13 (3f+1)"
        );
    }
}
