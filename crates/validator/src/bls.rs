//! BLS12-381 signatures in Ethereum's ciphersuite, on `blst`.
//!
//! Ciphersuite `BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_` (min-pubkey-size): 48-byte compressed
//! G1 public keys, 96-byte compressed G2 signatures. Public keys and signatures are validated when
//! they are built from bytes (on curve, in subgroup, and for keys: not the identity), so `verify`
//! does not repeat those checks.

use std::fmt;
use std::hash::{Hash, Hasher};

use blst::min_pk;
use blst::BLST_ERROR;
use blstrs::{G1Affine, G2Affine, G2Projective};
use group::prime::PrimeCurveAffine;
use group::{Curve, Group};
use zeroize::Zeroizing;

use crate::Error;

/// The Ethereum proof-of-possession ciphersuite's domain separation tag.
pub const DST: &[u8] = b"BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_";

/// Length of a compressed public key.
pub const PUBLIC_KEY_LEN: usize = 48;
/// Length of a compressed signature.
pub const SIGNATURE_LEN: usize = 96;
/// Length of a secret key.
pub const SECRET_KEY_LEN: usize = 32;

fn point_error(what: &str, e: BLST_ERROR) -> Error {
    let what = what.to_string();
    match e {
        BLST_ERROR::BLST_POINT_NOT_ON_CURVE => Error::PointNotOnCurve { what },
        BLST_ERROR::BLST_POINT_NOT_IN_GROUP => Error::PointNotInSubgroup { what },
        BLST_ERROR::BLST_PK_IS_INFINITY => Error::InfinityPublicKey { what },
        _ => Error::BadPointEncoding { what },
    }
}

/// A BLS secret key: a scalar `0 < sk < r`. Zeroized on drop (blst's own type wipes itself);
/// it has no `Debug`, `Display` or `Clone`.
pub struct SecretKey(min_pk::SecretKey);

impl SecretKey {
    /// Reads a 32-byte big-endian scalar; rejects 0 and values `>= r`.
    pub fn from_bytes(b: &[u8]) -> Result<Self, Error> {
        if b.len() != SECRET_KEY_LEN {
            return Err(Error::InvalidLength {
                what: "secret key".into(),
                expected: SECRET_KEY_LEN,
                got: b.len(),
            });
        }
        min_pk::SecretKey::from_bytes(b)
            .map(SecretKey)
            .map_err(|_| Error::InvalidSecretKey {
                what: "secret key".into(),
            })
    }

    /// The 32-byte big-endian scalar, in a buffer that is wiped when dropped.
    pub fn to_bytes(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.0.to_bytes())
    }

    /// `sk × G1`.
    pub fn public_key(&self) -> PublicKey {
        PublicKey::from_point(self.0.sk_to_pk())
    }

    /// Signs `msg` (hash-to-G2 with [`DST`]).
    pub fn sign(&self, msg: &[u8]) -> Signature {
        Signature::from_point(self.0.sign(msg, DST, &[]))
    }
}

/// A validated BLS public key (on the curve, in G1's subgroup, not the identity).
#[derive(Clone, Copy)]
pub struct PublicKey {
    point: min_pk::PublicKey,
    bytes: [u8; PUBLIC_KEY_LEN],
}

impl PublicKey {
    fn from_point(point: min_pk::PublicKey) -> Self {
        PublicKey {
            point,
            bytes: point.compress(),
        }
    }

    /// Reads a 48-byte compressed key; checks the encoding, the curve, the subgroup, and that it
    /// is not the point at infinity.
    pub fn from_bytes(b: &[u8]) -> Result<Self, Error> {
        if b.len() != PUBLIC_KEY_LEN {
            return Err(Error::InvalidLength {
                what: "public key".into(),
                expected: PUBLIC_KEY_LEN,
                got: b.len(),
            });
        }
        let point = min_pk::PublicKey::key_validate(b).map_err(|e| point_error("public key", e))?;
        Ok(PublicKey::from_point(point))
    }

    /// Parses 96 hex characters (no `0x`).
    pub fn from_hex(s: &str) -> Result<Self, Error> {
        let b: [u8; PUBLIC_KEY_LEN] = crate::hexutil::decode_fixed("public key", s)?;
        Self::from_bytes(&b)
    }

    /// The 48-byte compressed encoding.
    pub fn to_bytes(&self) -> [u8; PUBLIC_KEY_LEN] {
        self.bytes
    }

    /// The 96-byte uncompressed encoding (x ‖ y): another library can take the point from it
    /// without a square root.
    pub fn to_uncompressed(&self) -> [u8; 2 * PUBLIC_KEY_LEN] {
        self.point.serialize()
    }

    /// Lower-case hex of the compressed encoding, without `0x`.
    pub fn to_hex(&self) -> String {
        hex::encode(self.bytes)
    }

    /// Verifies `sig` over `msg` under this key.
    pub fn verify(&self, msg: &[u8], sig: &Signature) -> bool {
        // Both points were validated (subgroup, not infinity) when they were built.
        sig.point.verify(false, msg, DST, &[], &self.point, false) == BLST_ERROR::BLST_SUCCESS
    }
}

impl PartialEq for PublicKey {
    fn eq(&self, other: &Self) -> bool {
        self.bytes == other.bytes
    }
}
impl Eq for PublicKey {}
impl Hash for PublicKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.bytes.hash(state);
    }
}
impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.to_hex())
    }
}
impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// A validated BLS signature (on the curve, in G2's subgroup).
#[derive(Clone, Copy)]
pub struct Signature {
    point: min_pk::Signature,
    bytes: [u8; SIGNATURE_LEN],
}

impl Signature {
    fn from_point(point: min_pk::Signature) -> Self {
        Signature {
            point,
            bytes: point.compress(),
        }
    }

    /// Reads a 96-byte compressed signature; checks the encoding, the curve and the subgroup.
    pub fn from_bytes(b: &[u8]) -> Result<Self, Error> {
        if b.len() != SIGNATURE_LEN {
            return Err(Error::InvalidLength {
                what: "signature".into(),
                expected: SIGNATURE_LEN,
                got: b.len(),
            });
        }
        let point =
            min_pk::Signature::sig_validate(b, false).map_err(|e| point_error("signature", e))?;
        Ok(Signature::from_point(point))
    }

    /// Parses 192 hex characters (no `0x`).
    pub fn from_hex(s: &str) -> Result<Self, Error> {
        let b: [u8; SIGNATURE_LEN] = crate::hexutil::decode_fixed("signature", s)?;
        Self::from_bytes(&b)
    }

    /// The 96-byte compressed encoding.
    pub fn to_bytes(&self) -> [u8; SIGNATURE_LEN] {
        self.bytes
    }

    /// Lower-case hex, without `0x`.
    pub fn to_hex(&self) -> String {
        hex::encode(self.bytes)
    }

    /// The point, for group arithmetic.
    fn g2(&self) -> G2Affine {
        let mut p = G2Affine::identity();
        *p.as_mut() = blst::blst_p2_affine::from(self.point);
        p
    }
}

impl PartialEq for Signature {
    fn eq(&self, other: &Self) -> bool {
        self.bytes == other.bytes
    }
}
impl Eq for Signature {}
impl Hash for Signature {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.bytes.hash(state);
    }
}
impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signature({})", self.to_hex())
    }
}

/// Verifies many `(message, public key, signature)` triples at once.
///
/// Each signature is weighted by a fresh random 64-bit scalar (so that invalid signatures cannot
/// cancel out) and the whole set is checked with one multi-pairing
/// (`blst::verify_multiple_aggregate_signatures`). Returns `true` only if every triple is valid.
/// An empty list returns `false`, so that "nothing was checked" is never read as success.
/// If the OS random generator fails, falls back to verifying one by one.
pub fn batch_verify(items: &[(&[u8], &PublicKey, &Signature)]) -> bool {
    if items.is_empty() {
        return false;
    }
    if items.len() == 1 {
        let (m, pk, sig) = items[0];
        return pk.verify(m, sig);
    }
    let mut rands = Vec::with_capacity(items.len());
    let mut buf = vec![0u8; 8 * items.len()];
    if getrandom::getrandom(&mut buf).is_err() {
        return items.iter().all(|(m, pk, sig)| pk.verify(m, sig));
    }
    for chunk in buf.chunks_exact(8) {
        let mut b = [0u8; 32];
        // little-endian scalar; force non-zero by setting the low bit
        b[..8].copy_from_slice(chunk);
        b[0] |= 1;
        rands.push(blst::blst_scalar { b });
    }
    let msgs: Vec<&[u8]> = items.iter().map(|(m, _, _)| *m).collect();
    let pks: Vec<&min_pk::PublicKey> = items.iter().map(|(_, pk, _)| &pk.point).collect();
    let sigs: Vec<&min_pk::Signature> = items.iter().map(|(_, _, s)| &s.point).collect();
    min_pk::Signature::verify_multiple_aggregate_signatures(
        &msgs, DST, &pks, false, &sigs, false, &rands, 64,
    ) == BLST_ERROR::BLST_SUCCESS
}

/// Signatures made with one key: the key, and (message, signature) pairs.
pub type SignedBy<'a> = (&'a PublicKey, &'a [(&'a [u8], &'a Signature)]);

/// Verifies groups of signatures, each group made with one key (e.g. a validator's deposit
/// and ownership signatures), with one Miller loop per group: `true` only if every signature
/// is valid. An empty list (or only empty groups) returns `false`.
///
/// With fresh random 64-bit weights `a` (one per signature, from the OS) it checks
/// `Π_g e(pk_g, Σ_j a_gj·H(m_gj)) = e(G1, Σ_g Σ_j a_gj·σ_gj)`: the signatures of one key
/// share its pairing, and the weighted signatures are summed by one multi-scalar
/// multiplication. A key's sum is computed as `clear(Σ_j a_gj·Q(m_gj))`, `Q` the hash to the
/// curve before its cofactor is cleared (`kc_blst_ext`): clearing is a group endomorphism, so
/// this is the same point with one clearing per key instead of one per message. Soundness: every point was validated (subgroup) when it was built, so a
/// wrong signature leaves an error `σ − sk·H(m) ≠ 0` in G2 (prime order); the check passes
/// only if `Σ a·error = 0`, a non-zero polynomial of degree one in weights that are drawn after
/// the signatures are fixed: probability at most 2^-63. Two wrong signatures of one key cannot
/// cancel: each has its own weight. If the OS generator fails, every signature is verified
/// alone.
pub fn batch_verify_by_key(groups: &[SignedBy<'_>]) -> bool {
    let total: usize = groups.iter().map(|(_, s)| s.len()).sum();
    if total == 0 {
        return false;
    }
    let one_by_one = || {
        groups
            .iter()
            .all(|(pk, signed)| signed.iter().all(|(m, sig)| pk.verify(m, sig)))
    };
    if total == 1 {
        return one_by_one();
    }
    let Some(weights) = crate::curve::random_weights(total) else {
        return one_by_one();
    };
    let mut sigs = Vec::with_capacity(total);
    let mut hashes = Vec::with_capacity(total);
    let mut runs = Vec::with_capacity(groups.len());
    for (_, signed) in groups {
        // Before cofactor clearing: each group's weighted sum is cleared once, below.
        hashes.extend(signed.iter().map(|(m, _)| {
            let mut q = G2Projective::identity();
            *q.as_mut() = kc_blst_ext::hash_to_g2_uncleared(m, DST);
            q
        }));
        sigs.extend(signed.iter().map(|(_, s)| s.g2()));
        runs.push(signed.len());
    }
    let mut qs: Vec<blst::blst_p2> = Vec::with_capacity(groups.len());
    let mut ps: Vec<blst::blst_p1_affine> = Vec::with_capacity(groups.len());
    let sums = crate::curve::lincombs_u64(&hashes, &weights, &runs);
    for ((pk, _), sum) in groups.iter().zip(&sums) {
        let mut q = G2Projective::identity();
        *q.as_mut() = kc_blst_ext::clear_cofactor_g2(sum.as_ref());
        // e(pk, identity) = 1: nothing to pair (only for an empty group, or with negligible
        // probability).
        if !bool::from(q.is_identity()) {
            qs.push(*q.as_ref());
            ps.push(blst::blst_p1_affine::from(pk.point));
        }
    }
    let s: G2Projective = crate::curve::msm_u64(&sigs, &weights);
    let mut pairing = blst::Pairing::new(true, DST);
    // blst converts up to 767 points at a time on the calling thread (one inversion for all).
    for (q, p) in qs.chunks(512).zip(ps.chunks(512)) {
        let affine = blst::p2_affines::from(q);
        for (q, p) in affine.as_slice().iter().zip(p) {
            pairing.raw_aggregate(q, p);
        }
    }
    if !bool::from(s.is_identity()) {
        let s = s.to_affine();
        let minus_g1 = -G1Affine::generator();
        pairing.raw_aggregate(s.as_ref(), minus_g1.as_ref());
    }
    pairing.commit();
    pairing.finalverify(None)
}
