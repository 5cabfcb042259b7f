//! Benchmarks: derive one validator key, sign a deposit, verify one, batch-verify 1,000.

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use kc_validator::bls::{
    batch_verify, batch_verify_by_key, PublicKey, SecretKey, Signature, SignedBy,
};
use kc_validator::deposit::{withdrawal_credentials, DepositData, Network, WithdrawalType};
use kc_validator::{derive, Address, Mnemonic};

fn benches(c: &mut Criterion) {
    let seed = Mnemonic::from_entropy(&[7u8; 32]).unwrap().to_seed("");
    let wc = withdrawal_credentials(WithdrawalType::Eth1, &Address([0xab; 20]));

    c.bench_function("derive signing key m/12381/3600/i/0/0", |b| {
        b.iter(|| derive::signing_key(black_box(seed.as_bytes()), black_box(42)).unwrap())
    });

    // The floors `make bench` reports: what generation cannot avoid per validator (3 child
    // derivations below the cached prefix, 1 + n G1 multiplications, 2 signatures, n RSA
    // encryptions (kc-ssv)), and what verification cannot (batched pairing checks).
    let mut floor = c.benchmark_group("floor");
    let parent = derive::master_sk(seed.as_bytes()).unwrap();
    floor.bench_function("child_derivation", |b| {
        b.iter(|| derive::child_sk(black_box(&parent), black_box(7)))
    });
    let key = derive::signing_key(seed.as_bytes(), 1).unwrap();
    floor.bench_function("g1_mul", |b| b.iter(|| black_box(&key).public_key()));
    let msg = [0x5a; 32];
    floor.bench_function("sign", |b| b.iter(|| black_box(&key).sign(black_box(&msg))));
    // A validator's two signatures (deposit, ownership) by its key, 32 validators: checked as
    // `ceremony run` and `verify` check them (one pairing per key, on the calling thread).
    let keys: Vec<SecretKey> = (1..=32u8)
        .map(|i| derive::signing_key(seed.as_bytes(), u32::from(i)).unwrap())
        .collect();
    let pks: Vec<PublicKey> = keys.iter().map(SecretKey::public_key).collect();
    let msgs: Vec<[Vec<u8>; 2]> = (0..32u8)
        .map(|i| [vec![i; 32], vec![i ^ 0x80; 32]])
        .collect();
    let sigs: Vec<[Signature; 2]> = keys
        .iter()
        .zip(&msgs)
        .map(|(k, [a, b])| [k.sign(a), k.sign(b)])
        .collect();
    let signed: Vec<[(&[u8], &Signature); 2]> = msgs
        .iter()
        .zip(&sigs)
        .map(|([a, b], [sa, sb])| [(a.as_slice(), sa), (b.as_slice(), sb)])
        .collect();
    let groups: Vec<SignedBy<'_>> = pks
        .iter()
        .zip(&signed)
        .map(|(pk, s)| (pk, s.as_slice()))
        .collect();
    floor.bench_function("batch_verify_32_keys_2_signatures", |b| {
        b.iter(|| assert!(batch_verify_by_key(black_box(&groups))))
    });
    let pk = key.public_key();
    let sig_bytes = sigs[0][0].to_bytes();
    floor.bench_function("signature_decode_subgroup_check", |b| {
        b.iter(|| Signature::from_bytes(black_box(&sig_bytes)).unwrap())
    });
    let pk_bytes = pk.to_bytes();
    floor.bench_function("public_key_decode_subgroup_check", |b| {
        b.iter(|| PublicKey::from_bytes(black_box(&pk_bytes)).unwrap())
    });
    floor.finish();

    let sk = derive::signing_key(seed.as_bytes(), 0).unwrap();
    c.bench_function("sign deposit (DepositData::create)", |b| {
        b.iter(|| DepositData::create(&sk, black_box(wc), 32_000_000_000, &Network::Hoodi).unwrap())
    });

    let d = DepositData::create(&sk, wc, 32_000_000_000, &Network::Hoodi).unwrap();
    c.bench_function("verify deposit (DepositData::verify)", |b| {
        b.iter(|| black_box(&d).verify().unwrap())
    });

    let n = 1000u32;
    let keys = derive::signing_keys(seed.as_bytes(), 0, 16).unwrap();
    let msgs: Vec<[u8; 32]> = (0..n)
        .map(|i| {
            let mut m = [0u8; 32];
            m[..4].copy_from_slice(&i.to_le_bytes());
            m
        })
        .collect();
    let pks: Vec<PublicKey> = (0..n as usize).map(|i| keys[i % 16].public_key()).collect();
    let sigs: Vec<Signature> = (0..n as usize)
        .map(|i| keys[i % 16].sign(&msgs[i]))
        .collect();
    let items: Vec<(&[u8], &PublicKey, &Signature)> = msgs
        .iter()
        .zip(&pks)
        .zip(&sigs)
        .map(|((m, p), s)| (m.as_slice(), p, s))
        .collect();
    let mut g = c.benchmark_group("batch");
    g.sample_size(10);
    g.bench_function("batch_verify 1000 signatures", |b| {
        b.iter(|| assert!(batch_verify(black_box(&items))))
    });
    g.finish();
}

criterion_group!(validator, benches);
criterion_main!(validator);
