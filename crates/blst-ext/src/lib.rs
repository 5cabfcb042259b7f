//! Hash to G2 in two steps, for batched signature verification: [`hash_to_g2_uncleared`] maps a
//! message to the curve E'(Fp2) without clearing the cofactor, and [`clear_cofactor_g2`] clears
//! it, so that `clear_cofactor_g2(&hash_to_g2_uncleared(m, dst))` is blst's
//! `blst_hash_to_g2(m, dst)` exactly.
//!
//! Why: clearing the cofactor costs about 60 % of a hash to G2, and it is a group endomorphism of
//! E'(Fp2), so `Σ a_j·H(m_j) = clear(Σ a_j·Q(m_j))`: a verifier that sums weighted hashes (one
//! sum per key, see `kc_validator::bls::batch_verify_by_key`) clears once per sum instead of
//! once per message.
//!
//! blst keeps these steps internal. `build.rs` compiles them from the sources of the exact blst
//! release this crate depends on (with every public blst symbol renamed in that translation
//! unit, so that nothing clashes with blst's library), and `csrc/ext.c` adds the two entry
//! points. The only `unsafe` code of the workspace outside a test allocator: two calls through
//! a C interface whose arguments are plain fixed-size values owned by the caller.
//!
//! Variable inputs are public (messages, points of signatures being verified): nothing here
//! handles a secret.

#![allow(unsafe_code)] // FFI into blst's own compiled sources; the two calls below only

use blst::blst_p2;

extern "C" {
    fn kc_blst_hash_to_g2_uncleared(
        out: *mut blst_p2,
        msg: *const u8,
        msg_len: usize,
        dst: *const u8,
        dst_len: usize,
    );
    fn kc_blst_clear_cofactor_g2(out: *mut blst_p2, p: *const blst_p2);
}

/// The hash of `msg` to E'(Fp2) under the domain separation tag `dst` (RFC 9380's hash to
/// curve, suite `BLS12381G2_XMD:SHA-256_SSWU_RO_`) before its cofactor is cleared: a point on
/// the curve, in general not in G2. In Jacobian coordinates.
pub fn hash_to_g2_uncleared(msg: &[u8], dst: &[u8]) -> blst_p2 {
    let mut out = blst_p2::default();
    // SAFETY: `out` is a valid, exclusively borrowed blst_p2 (the C function writes only it);
    // `msg` and `dst` are valid for reads of their lengths, which the C function does not
    // exceed, and it keeps no pointer after returning.
    unsafe {
        kc_blst_hash_to_g2_uncleared(&mut out, msg.as_ptr(), msg.len(), dst.as_ptr(), dst.len());
    }
    out
}

/// `p` with its cofactor cleared (multiplied by the effective cofactor h_eff of RFC 9380): a
/// point of G2 for every point `p` of E'(Fp2). A group endomorphism of E'(Fp2). In Jacobian
/// coordinates.
pub fn clear_cofactor_g2(p: &blst_p2) -> blst_p2 {
    let mut out = blst_p2::default();
    // SAFETY: `out` and `p` are valid blst_p2 values (distinct: one borrowed mutably, one
    // shared); the C function reads `p`, writes `out`, and keeps no pointer.
    unsafe { kc_blst_clear_cofactor_g2(&mut out, p) };
    out
}
