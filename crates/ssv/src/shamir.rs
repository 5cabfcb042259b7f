//! Shamir secret sharing of a validator key over the BLS12-381 scalar field, and the public
//! consistency check (Lagrange interpolation in G1) that auditors run without any secret.
//!
//! Convention (the SSV SDK's `Threshold.create`, and the SSV node): the x-coordinate of a share
//! is the operator **id** itself, the polynomial has degree t-1 with t = n - f, n = 3f+1, and its
//! constant term is the validator secret. A share public key is `share_secret * G1`.

use blstrs::{G1Affine, G1Projective, Scalar};
use ff::Field;
use group::prime::PrimeCurveAffine;
use group::{Curve, Group};
use rand_core::CryptoRngCore;
use rayon::prelude::*;
use zeroize::Zeroizing;

use kc_validator::curve::{lincomb_u64, msm_u64, random_weights};

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
fn decode_g1(bytes: &[u8; PUBLIC_KEY_LEN]) -> Option<G1Affine> {
    let p: Option<G1Affine> = G1Affine::from_compressed(bytes).into();
    let p = p?;
    if bool::from(p.is_identity()) {
        return None;
    }
    Some(p)
}

/// The public consistency check an auditor runs on one validator: every share public key lies on
/// one polynomial of degree < t whose value at 0 is the validator public key, with the operator
/// ids (sorted, distinct, a valid cluster size) as x-coordinates.
///
/// How: interpolate from the first t shares (Lagrange in G1) at x = 0 and at the x of every
/// other share; the f+1 equations are checked at once with random weights
/// ([`verify_many_share_public_keys`]). On failure, the equations are checked one by one to
/// name the culprit.
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

/// A share set's points: the validator key and the share keys (validated or computed).
struct Decoded<'a> {
    set: ShareSet<'a>,
    pk: G1Affine,
    points: Vec<G1Affine>,
    t: usize,
}

impl Decoded<'_> {
    fn validator(&self) -> String {
        format!("0x{}", hex::encode(self.set.validator_public_key))
    }
}

fn decode_set<'a>(set: &ShareSet<'a>) -> Result<Decoded<'a>> {
    let validator = || format!("0x{}", hex::encode(set.validator_public_key));
    let t = check_set_shape(set, &validator())?;
    let pk = decode_g1(set.validator_public_key).ok_or_else(|| Error::InvalidPublicKey {
        validator: validator(),
        field: "validator public key".into(),
    })?;
    let points = decode_shares(set, validator)?;
    Ok(Decoded {
        set: *set,
        pk,
        points,
        t,
    })
}

/// The share public keys of a set, decoded with their checks (curve, subgroup, not the
/// identity).
fn decode_shares(set: &ShareSet<'_>, validator: impl Fn() -> String) -> Result<Vec<G1Affine>> {
    set.operator_ids
        .iter()
        .zip(set.share_public_keys)
        .map(|(id, spk)| {
            decode_g1(&spk.0).ok_or_else(|| Error::InvalidPublicKey {
                validator: validator(),
                field: format!("share public key of operator {id}"),
            })
        })
        .collect()
}

/// A valid cluster and one share public key per operator; returns the threshold.
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

/// The consistency check of [`verify_share_public_keys`] for many validators at once; points
/// are decoded (with subgroup checks) on all cores (rayon). If the batched check fails, each
/// validator is checked on its own and the first failure (in input order) is returned with its
/// culprit named.
///
/// How (per cluster, i.e. per list of operator ids): with the first t shares as the base and
/// targets x_0 = 0 (value: the validator key) and the x of every further share (value: that
/// share's key), every validator v must satisfy E_vk = Σ_{i<t} λ_k,i·P_v,i − Q_v,k = 0 for each
/// target k, the Lagrange coefficients λ being the cluster's. With fresh random 64-bit weights
/// w_v (per validator) and ρ_k (per target) from the OS, Σ_v Σ_k w_v·ρ_k·E_vk regroups as
/// Σ_i μ_i·(Σ_v w_v·P_v,i) − Σ_k ρ_k·(Σ_v w_v·Q_v,k) with μ_i = Σ_k ρ_k·λ_k,i: one
/// 64-bit-weighted multi-scalar multiplication per column (n + 1 of them), then n + 1 products.
///
/// Soundness: the group has prime order r and every point is subgroup-checked (or computed), so
/// a false statement leaves some E_vk ≠ 0; the weighted sum is a non-zero polynomial of degree
/// two in weights drawn after the points were fixed, so it vanishes with probability at most
/// 2·2^-63 (Schwartz–Zippel). If the OS generator fails, every validator is checked exactly.
pub fn verify_many_share_public_keys(sets: &[ShareSet<'_>]) -> Result<()> {
    if sets.is_empty() {
        return Ok(());
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
            let validator = || format!("0x{}", hex::encode(set.validator_public_key));
            let pk: Option<G1Affine> =
                G1Affine::from_uncompressed_unchecked(&key.to_uncompressed()).into();
            let pk = match pk {
                Some(pk) if key.to_bytes() == *set.validator_public_key => pk,
                _ => {
                    return Err(Error::InvalidPublicKey {
                        validator: validator(),
                        field: "validator public key (not the validated key)".into(),
                    })
                }
            };
            let t = check_set_shape(set, &validator())?;
            let points = decode_shares(set, validator)?;
            Ok(Decoded {
                set: *set,
                pk,
                points,
                t,
            })
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
            let t = check_set_shape(set, &validator)?;
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
            Ok(Decoded {
                set: *set,
                pk: *pk,
                points: pts.to_vec(),
                t,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    check_decoded(&decoded)
}

/// The batched check of every run of sets with the same operator ids; where it fails, the sets
/// one by one to name the culprit.
fn check_decoded(decoded: &[Decoded<'_>]) -> Result<()> {
    let mut start = 0;
    while start < decoded.len() {
        let ids = decoded[start].set.operator_ids;
        let len = decoded[start..]
            .iter()
            .take_while(|d| d.set.operator_ids == ids)
            .count();
        let run = &decoded[start..start + len];
        if !cluster_holds(run) {
            for d in run {
                let xs: Vec<Scalar> = ids.iter().map(|&id| Scalar::from(id)).collect();
                let pk = G1Projective::from(d.pk);
                let points: Vec<G1Projective> = d.points.iter().map(G1Projective::from).collect();
                if !exact_check(&pk, &points, &xs, d.t) {
                    return Err(diagnose(&d.validator(), ids, &pk, &points, &xs, d.t));
                }
            }
        }
        start += len;
    }
    Ok(())
}

/// The batched equation of [`verify_many_share_public_keys`] for sets that share their operator
/// ids (and so n and t): `true` when it holds.
fn cluster_holds(sets: &[Decoded<'_>]) -> bool {
    let Some(first) = sets.first() else {
        return true;
    };
    let t = first.t;
    let xs: Vec<Scalar> = first
        .set
        .operator_ids
        .iter()
        .map(|&id| Scalar::from(id))
        .collect();
    let n = xs.len();
    let targets: Vec<Scalar> = std::iter::once(Scalar::ZERO)
        .chain(xs[t..].iter().copied())
        .collect();
    let Some(lambdas) = targets
        .iter()
        .map(|x| lagrange_coefficients(&xs[..t], x))
        .collect::<Option<Vec<_>>>()
    else {
        return false;
    };
    let (Some(w), Some(rho)) = (random_weights(sets.len()), random_weights(targets.len())) else {
        return false;
    };
    if sets.iter().any(|d| d.points.len() != n || d.t != t) {
        return false;
    }
    let column = |pick: &dyn Fn(&Decoded<'_>) -> G1Affine| -> G1Projective {
        let points: Vec<G1Affine> = sets.iter().map(pick).collect();
        msm_u64(&points, &w)
    };
    let mut total = G1Projective::identity();
    for i in 0..t {
        let mu: Scalar = lambdas
            .iter()
            .zip(&rho)
            .map(|(l, &r)| l[i] * Scalar::from(r))
            .sum();
        total += column(&|d| d.points[i]) * mu;
    }
    let mut values = vec![column(&|d| d.pk)];
    values.extend((t..n).map(|j| column(&|d| d.points[j])));
    total -= lincomb_u64(&values, &rho);
    bool::from(total.is_identity())
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
