//! Bench (run explicitly: `cargo nextest run -p signer-agent --run-ignored only -E 'test(bench)'`):
//! time and gas to stake 100 validators on anvil, 4-operator cluster, up to 80 per transaction.

use crate::e2e::{assert_chain_matches_bundle, ok, World};

#[test]
#[ignore = "bench: run explicitly"]
fn bench_stake_100_validators() {
    let t0 = std::time::Instant::now();
    let w = World::new(
        100,
        "max_validators_per_tx = 80\n[gas]\nmax_gas_per_tx = 30000000",
    );
    let setup = t0.elapsed();
    w.approve(&w.bundle);
    let t1 = std::time::Instant::now();
    ok(&w.agent(&["import", w.bundle.to_str().unwrap()], &[]));
    let import = t1.elapsed();
    // 100 × 32 ETH, and 1 ETH more for the SSV cluster's fees sent with 100 registrations
    // (user_deposit's own 0.05 ETH covers a few dozen: 99 were staked).
    w.user_deposit(3201);
    let t2 = std::time::Instant::now();
    ok(&w.agent(&["run", "--once"], &[]));
    let run = t2.elapsed();
    assert_chain_matches_bundle(&w, &w.bundle, 100);
    let status = ok(&w.agent(&["status", "--json"], &[]));
    let v: serde_json::Value = serde_json::from_str(&status).unwrap();
    let mut txs: Vec<String> = v["validators"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["tx_hash"].as_str().unwrap().to_string())
        .collect();
    txs.sort();
    txs.dedup();
    let gas: u64 = w.rt().block_on(async {
        use alloy::providers::Provider;
        let p = w.provider();
        let mut g = 0;
        for t in &txs {
            g += p
                .get_transaction_receipt(t.parse().unwrap())
                .await
                .unwrap()
                .unwrap()
                .gas_used;
        }
        g
    });
    eprintln!(
        "BENCH 100 validators: setup (bundle+deploy) {setup:?}, import {import:?}, run {run:?}, {} transactions, gas {gas} ({} per validator)",
        txs.len(),
        gas / 100
    );
}
