//! Benchmarks: derive one validator key, sign a deposit, verify one, batch-verify 1,000.

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use kc_validator::bls::{batch_verify, PublicKey, Signature};
use kc_validator::deposit::{withdrawal_credentials, DepositData, Network, WithdrawalType};
use kc_validator::{derive, Address, Mnemonic};

fn benches(c: &mut Criterion) {
    let seed = Mnemonic::from_entropy(&[7u8; 32]).unwrap().to_seed("");
    let wc = withdrawal_credentials(WithdrawalType::Eth1, &Address([0xab; 20]));

    c.bench_function("derive signing key m/12381/3600/i/0/0", |b| {
        b.iter(|| derive::signing_key(black_box(seed.as_bytes()), black_box(42)).unwrap())
    });

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
