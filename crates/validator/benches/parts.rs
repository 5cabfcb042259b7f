//! What one validator's verification costs, part by part (`cargo bench -p kc-validator --bench
//! parts`): hashing to G2 (whole, and in its two steps), point decoding with subgroup checks,
//! the 64-bit-weighted sums, a Miller loop in a batch, the final exponentiation, and the batched
//! check of a validator's two signatures by one key as `ceremony verify` runs it.

use blstrs::{G1Affine, G1Projective, G2Affine, G2Projective, Scalar};
use criterion::{black_box, criterion_group, criterion_main, Criterion};
use group::{Curve, Group};
use kc_validator::bls::{
    batch_verify, batch_verify_by_key, PublicKey, SecretKey, Signature, SignedBy, DST,
};
use kc_validator::curve::{lincomb_u64, msm_u64, random_weights};

fn parts(c: &mut Criterion) {
    let mut g = c.benchmark_group("parts");
    let msg = [0x5au8; 32];
    g.bench_function("hash_to_g2", |b| {
        b.iter(|| G2Projective::hash_to_curve(black_box(&msg), DST, &[]))
    });
    // The two steps batched verification takes instead (one clearing per key, not per message).
    g.bench_function("hash_to_g2_uncleared", |b| {
        b.iter(|| kc_blst_ext::hash_to_g2_uncleared(black_box(&msg), DST))
    });
    let uncleared = kc_blst_ext::hash_to_g2_uncleared(&msg, DST);
    g.bench_function("clear_cofactor_g2", |b| {
        b.iter(|| kc_blst_ext::clear_cofactor_g2(black_box(&uncleared)))
    });
    let key = SecretKey::from_bytes(&[0x11; 32]).unwrap();
    let sig = key.sign(&msg).to_bytes();
    let pk = key.public_key().to_bytes();
    g.bench_function("g2_decode_subgroup", |b| {
        b.iter(|| Signature::from_bytes(black_box(&sig)).unwrap())
    });
    g.bench_function("g1_decode_subgroup", |b| {
        b.iter(|| PublicKey::from_bytes(black_box(&pk)).unwrap())
    });
    g.bench_function("g1_decode_subgroup_blstrs", |b| {
        b.iter(|| G1Affine::from_compressed(black_box(&pk)).unwrap())
    });
    let w = random_weights(256).unwrap();
    let h: Vec<G2Projective> = (0..2u8)
        .map(|i| G2Projective::hash_to_curve(&[i; 32], DST, &[]))
        .collect();
    g.bench_function("g2_lincomb_2", |b| {
        b.iter(|| lincomb_u64(black_box(&h), &w[..2]))
    });
    g.bench_function("g2_lincomb_1", |b| {
        b.iter(|| lincomb_u64(black_box(&h[..1]), &w[..1]))
    });
    let pts2: Vec<G2Affine> = (0..64u64)
        .map(|i| (G2Projective::generator() * Scalar::from(i + 9)).to_affine())
        .collect();
    g.bench_function("g2_msm_64", |b| {
        b.iter(|| -> G2Projective { msm_u64(black_box(&pts2), &w[..64]) })
    });
    let pts1: Vec<G1Affine> = (0..128u64)
        .map(|i| (G1Projective::generator() * Scalar::from(i + 9)).to_affine())
        .collect();
    g.bench_function("g1_msm_32", |b| {
        b.iter(|| -> G1Projective { msm_u64(black_box(&pts1[..32]), &w[..32]) })
    });
    g.bench_function("g1_msm_128", |b| {
        b.iter(|| -> G1Projective { msm_u64(black_box(&pts1), &w[..128]) })
    });
    let s = Scalar::from(u64::MAX) * Scalar::from(u64::MAX);
    g.bench_function("g1_mul_full", |b| {
        b.iter(|| G1Projective::generator() * black_box(s))
    });
    let qa: Vec<blst::blst_p2_affine> = pts2.iter().map(|p| *p.as_ref()).collect();
    let pa: Vec<blst::blst_p1_affine> = pts1.iter().map(|p| *p.as_ref()).collect();
    g.bench_function("miller_loop_32_pairs", |b| {
        b.iter(|| {
            let mut p = blst::Pairing::new(true, DST);
            for (q, pp) in qa[..32].iter().zip(&pa) {
                p.raw_aggregate(q, pp);
            }
            p.commit();
            p
        })
    });
    let mut p = blst::Pairing::new(true, DST);
    p.raw_aggregate(&qa[0], &pa[0]);
    p.commit();
    g.bench_function("final_exponentiation", |b| {
        b.iter(|| black_box(&p).finalverify(None))
    });

    // A run of 32 validators, two signatures each by one key: old (one pair per signature,
    // blst's threads) and new (one Miller loop per validator).
    let keys: Vec<SecretKey> = (1..=32u8)
        .map(|i| SecretKey::from_bytes(&[i; 32]).unwrap())
        .collect();
    let pks: Vec<PublicKey> = keys.iter().map(SecretKey::public_key).collect();
    let msgs: Vec<[[u8; 32]; 2]> = (0..32u8).map(|i| [[i; 32], [i ^ 0xff; 32]]).collect();
    let sigs: Vec<[Signature; 2]> = keys
        .iter()
        .zip(&msgs)
        .map(|(k, m)| [k.sign(&m[0]), k.sign(&m[1])])
        .collect();
    let flat: Vec<(&[u8], &PublicKey, &Signature)> = pks
        .iter()
        .zip(&msgs)
        .zip(&sigs)
        .flat_map(|((pk, m), s)| [(&m[0][..], pk, &s[0]), (&m[1][..], pk, &s[1])])
        .collect();
    g.sample_size(20);
    g.bench_function("batch_verify_32x2_per_signature", |b| {
        b.iter(|| assert!(batch_verify(black_box(&flat))))
    });
    let items: Vec<[(&[u8], &Signature); 2]> = msgs
        .iter()
        .zip(&sigs)
        .map(|(m, s)| [(&m[0][..], &s[0]), (&m[1][..], &s[1])])
        .collect();
    let groups: Vec<SignedBy<'_>> = pks.iter().zip(&items).map(|(pk, s)| (pk, &s[..])).collect();
    g.bench_function("batch_verify_by_key_32x2", |b| {
        b.iter(|| assert!(batch_verify_by_key(black_box(&groups))))
    });
    g.finish();
}

criterion_group!(benches, parts);
criterion_main!(benches);
