//! The split hash against blst's public one, and the endomorphism property batching relies on.

use blst::{
    blst_hash_to_g2, blst_p2, blst_p2_add_or_double, blst_p2_in_g2, blst_p2_is_equal, blst_p2_mult,
    blst_p2_on_curve,
};
use kc_blst_ext::{clear_cofactor_g2, hash_to_g2_uncleared};

const DST: &[u8] = b"BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_";

#[allow(unsafe_code)] // blst's own C interface, to compare with
fn blst_hash(msg: &[u8], dst: &[u8]) -> blst_p2 {
    let mut out = blst_p2::default();
    // SAFETY: valid out-pointer and input slices; blst keeps no pointer.
    unsafe {
        blst_hash_to_g2(
            &mut out,
            msg.as_ptr(),
            msg.len(),
            dst.as_ptr(),
            dst.len(),
            std::ptr::null(),
            0,
        )
    };
    out
}

#[allow(unsafe_code)]
fn eq(a: &blst_p2, b: &blst_p2) -> bool {
    // SAFETY: both are valid points; read only.
    unsafe { blst_p2_is_equal(a, b) }
}

#[allow(unsafe_code)]
fn in_g2(p: &blst_p2) -> bool {
    // SAFETY: a valid point; read only.
    unsafe { blst_p2_in_g2(p) }
}

#[allow(unsafe_code)]
fn on_curve(p: &blst_p2) -> bool {
    // SAFETY: a valid point; read only.
    unsafe { blst_p2_on_curve(p) }
}

#[allow(unsafe_code)]
fn add(a: &blst_p2, b: &blst_p2) -> blst_p2 {
    let mut out = blst_p2::default();
    // SAFETY: valid points and out-pointer.
    unsafe { blst_p2_add_or_double(&mut out, a, b) };
    out
}

#[allow(unsafe_code)]
fn mul(p: &blst_p2, k: u64) -> blst_p2 {
    let mut out = blst_p2::default();
    let bytes = k.to_le_bytes();
    // SAFETY: valid point and out-pointer; the scalar is 64 bits, little-endian, as given.
    unsafe { blst_p2_mult(&mut out, p, bytes.as_ptr(), 64) };
    out
}

fn random_bytes(n: usize) -> Vec<u8> {
    let mut b = vec![0u8; n];
    getrandom::getrandom(&mut b).expect("OS random generator");
    b
}

#[test]
fn clearing_the_uncleared_hash_is_blsts_hash_to_g2_for_any_message_and_tag() {
    let tags: [&[u8]; 3] = [DST, b"BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_NUL_", b"x"];
    for (i, dst) in tags.iter().enumerate() {
        for len in [0usize, 1, 31, 32, 33, 64, 200, 1000] {
            let msg = random_bytes(len);
            let q = hash_to_g2_uncleared(&msg, dst);
            assert!(
                on_curve(&q),
                "tag {i}, {len} bytes: the uncleared point is on E'"
            );
            let h = clear_cofactor_g2(&q);
            assert!(
                eq(&h, &blst_hash(&msg, dst)),
                "tag {i}, {len} bytes: clear(uncleared) differs from blst_hash_to_g2"
            );
            assert!(
                in_g2(&h),
                "tag {i}, {len} bytes: the cleared point is in G2"
            );
        }
    }
}

#[test]
fn the_uncleared_hash_is_in_general_outside_g2() {
    // If the split were a no-op (the first step already cleared), batching would save nothing
    // and the check above would pass all the same: show that the first step stops short.
    let outside = (0..8)
        .filter(|i| !in_g2(&hash_to_g2_uncleared(&[*i as u8], DST)))
        .count();
    assert!(
        outside >= 7,
        "only {outside} of 8 uncleared hashes lie outside G2"
    );
}

#[test]
fn clearing_commutes_with_weighted_sums_of_uncleared_points() {
    // Σ a_j·clear(Q_j) = clear(Σ a_j·Q_j): the identity batched verification relies on.
    let qs: Vec<blst_p2> = (0..3)
        .map(|_| hash_to_g2_uncleared(&random_bytes(40), DST))
        .collect();
    let weights: Vec<u64> = random_bytes(24)
        .chunks_exact(8)
        .map(|c| u64::from_le_bytes(c.try_into().unwrap()) | 1)
        .collect();
    let mut sum_of_cleared = mul(&clear_cofactor_g2(&qs[0]), weights[0]);
    let mut sum = mul(&qs[0], weights[0]);
    for (q, &a) in qs.iter().zip(&weights).skip(1) {
        sum_of_cleared = add(&sum_of_cleared, &mul(&clear_cofactor_g2(q), a));
        sum = add(&sum, &mul(q, a));
    }
    assert!(eq(&clear_cofactor_g2(&sum), &sum_of_cleared));
}
