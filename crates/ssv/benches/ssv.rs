//! kc-ssv benchmarks: per-validator split + encrypt + sign for 4, 7, 10 and 13 operators, the
//! full entry build (which self-verifies), and the auditor's consistency check.
//! Run: `cargo bench -p kc-ssv`.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use kc_ssv::{
    build_item, build_keyshares, sign_ownership, split, verify_item, verify_many_share_public_keys,
    verify_share_public_keys, Cluster, OperatorKey, ShareSet,
};
use kc_validator::{Address, SecretKey};
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;

fn cluster(n: usize) -> Cluster {
    let f: serde_json::Value =
        serde_json::from_str(include_str!("../tests/fixtures/operators.json")).unwrap();
    let ops = f["operators"].as_array().unwrap()[..n]
        .iter()
        .map(|o| {
            OperatorKey::parse(o["id"].as_u64().unwrap(), o["public_key"].as_str().unwrap())
                .unwrap()
        })
        .collect();
    Cluster::new(ops).unwrap()
}

fn bench(c: &mut Criterion) {
    let mut rng = ChaCha20Rng::seed_from_u64(7);
    let mut sk_bytes = [0u8; 32];
    sk_bytes[31] = 0x2a;
    sk_bytes[0] = 0x11;
    let sk = SecretKey::from_bytes(&sk_bytes).unwrap();
    let owner = Address([0x5a; 20]);

    let mut g = c.benchmark_group("split_encrypt_sign");
    for n in [4, 7, 10, 13] {
        let cl = cluster(n);
        g.bench_with_input(BenchmarkId::from_parameter(n), &cl, |b, cl| {
            b.iter(|| {
                let s = split(&sk, cl, &mut rng).unwrap();
                let cts: Vec<_> = cl
                    .operators()
                    .iter()
                    .zip(s.shares())
                    .map(|(op, share)| op.encrypt_share(share, &mut rng).unwrap())
                    .collect();
                black_box((cts, sign_ownership(&sk, &owner, 5)))
            })
        });
    }
    g.finish();

    let mut g = c.benchmark_group("split_only");
    for n in [4, 13] {
        let cl = cluster(n);
        g.bench_with_input(BenchmarkId::from_parameter(n), &cl, |b, cl| {
            b.iter(|| black_box(split(&sk, cl, &mut rng).unwrap().public_keys().len()))
        });
    }
    g.finish();

    let cl = cluster(4);
    let s = split(&sk, &cl, &mut rng).unwrap();
    // The floor `make bench` reports: one share encrypted to one operator (RSA-2048, e = 65537,
    // PKCS#1 v1.5 with its random padding).
    let mut floor = c.benchmark_group("floor");
    floor.bench_function("rsa2048_encrypt", |b| {
        b.iter(|| {
            black_box(
                cl.operators()[0]
                    .encrypt_share(&s.shares()[0], &mut rng)
                    .unwrap(),
            )
        })
    });
    floor.finish();
    c.bench_function("rsa2048_pkcs1v15_encrypt_one_share", |b| {
        b.iter(|| {
            black_box(
                cl.operators()[0]
                    .encrypt_share(&s.shares()[0], &mut rng)
                    .unwrap(),
            )
        })
    });

    let mut g = c.benchmark_group("build_item_with_self_verification");
    for n in [4, 13] {
        let cl = cluster(n);
        g.bench_with_input(BenchmarkId::from_parameter(n), &cl, |b, cl| {
            b.iter(|| black_box(build_item(&sk, cl, &owner, 5, &mut rng).unwrap()))
        });
    }
    g.finish();

    let mut g = c.benchmark_group("consistency_check");
    for n in [4, 7, 10, 13] {
        let cl = cluster(n);
        let s = split(&sk, &cl, &mut rng).unwrap();
        let pk = sk.public_key().to_bytes();
        let ids = cl.ids();
        let pks = s.public_keys().to_vec();
        g.bench_function(BenchmarkId::from_parameter(n), |b| {
            b.iter(|| verify_share_public_keys(black_box(&pk), &ids, &pks).unwrap())
        });
    }
    g.finish();

    // An auditor's view: 100 validators with 13 operators each, checked in one batch.
    let cl = cluster(13);
    let sks: Vec<SecretKey> = (1..=100u8)
        .map(|i| {
            let mut b = sk_bytes;
            b[30] = i;
            SecretKey::from_bytes(&b).unwrap()
        })
        .collect();
    let file = build_keyshares(&sks, &cl, &owner, 0, std::time::UNIX_EPOCH, &mut rng).unwrap();
    let verified = file.verify(Some(&cl)).unwrap();
    let keys: Vec<[u8; 48]> = verified
        .iter()
        .map(|v| v.validator_public_key.to_bytes())
        .collect();
    let ids = cl.ids();
    let sets: Vec<ShareSet<'_>> = verified
        .iter()
        .zip(&keys)
        .map(|(v, k)| ShareSet {
            validator_public_key: k,
            operator_ids: &ids,
            share_public_keys: &v.shares_data.share_public_keys,
        })
        .collect();
    let mut g = c.benchmark_group("auditor_100_validators_13_operators");
    g.bench_function("consistency_one_by_one", |b| {
        b.iter(|| {
            for s in &sets {
                verify_share_public_keys(
                    s.validator_public_key,
                    s.operator_ids,
                    s.share_public_keys,
                )
                .unwrap()
            }
        })
    });
    g.bench_function("consistency_batched", |b| {
        b.iter(|| verify_many_share_public_keys(black_box(&sets)).unwrap())
    });
    g.bench_function("verify_whole_file", |b| {
        b.iter(|| black_box(file.verify(Some(&cl)).unwrap()))
    });
    g.finish();

    let one = keys[0];
    c.bench_function("g1_decompress_with_subgroup_check", |b| {
        b.iter(|| black_box(blstrs::G1Affine::from_compressed(black_box(&one)).is_some()))
    });
    c.bench_function("g1_decompress_unchecked", |b| {
        b.iter(|| black_box(blstrs::G1Affine::from_compressed_unchecked(black_box(&one)).is_some()))
    });

    let mut g = c.benchmark_group("verify_item");
    for n in [4, 13] {
        let cl = cluster(n);
        let item = build_item(&sk, &cl, &owner, 5, &mut rng).unwrap();
        g.bench_function(BenchmarkId::from_parameter(n), |b| {
            b.iter(|| verify_item(black_box(&item)).unwrap())
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(std::time::Duration::from_secs(3));
    targets = bench
}
criterion_main!(benches);
