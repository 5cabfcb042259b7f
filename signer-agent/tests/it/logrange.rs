//! Behind a JSON-RPC proxy that refuses `eth_getLogs` spans over 1,000 blocks (as
//! hosted providers cap them), import, plan, run, the owner-nonce check and `operators export`
//! all work on a chain of more than 20,000 blocks whose events lie far apart; the scanner never
//! gets an answer for more than 1,000 blocks, shrinks after a refusal, and — with its cursors in
//! the state store — reads only new blocks on the next command.

use std::sync::atomic::Ordering;
use std::time::Instant;

use alloy::primitives::U256;
use alloy::providers::Provider;

use crate::e2e::{assert_chain_matches_bundle, ok, World};
use crate::proxy::{ProxyOptions, RpcProxy};

const LIMIT: u64 = 1_000;

fn mine(w: &World, n: u64) {
    let t = Instant::now();
    w.rt().block_on(async {
        let _: serde_json::Value = w
            .provider()
            .raw_request("anvil_mine".into(), (U256::from(n),))
            .await
            .unwrap();
    });
    eprintln!("mined {n} blocks in {:.1} s", t.elapsed().as_secs_f64());
}

fn head(w: &World) -> u64 {
    w.rt()
        .block_on(async { w.provider().get_block_number().await.unwrap() })
}

#[test]
fn everything_works_behind_a_provider_that_caps_log_ranges_at_1000_blocks() {
    // A chain of more than 20,000 mined blocks: 12,000 before the deployment, then 3,000
    // between every step, so that no two events are within one capped request. (Cancun: anvil
    // mines blocks quickly without Prague's history-contract writes; it keeps only recent
    // states — the agent reads the head.)
    let w = World::with_anvil(
        4,
        "max_validators_per_tx = 2\n[contracts]\ndeploy_block = 1\nssv_network_block = 1",
        &["--hardfork", "cancun", "--prune-history", "64"],
        12_000,
    );
    let proxy = RpcProxy::start(
        w.anvil.url(),
        ProxyOptions {
            max_log_span: Some(LIMIT),
            ..Default::default()
        },
    );
    // The agent talks to the proxy only.
    let text = std::fs::read_to_string(&w.config).unwrap();
    let text = text.replacen(&w.anvil.url(), &proxy.url(), 1);
    assert!(text.contains(&proxy.url()));
    let cfg = w.dir.path().join("capped.toml");
    std::fs::write(&cfg, text).unwrap();
    let agent = |args: &[&str]| {
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_signer-agent"))
            .arg("--config")
            .arg(&cfg)
            .args(args)
            .env_remove("SIGNER_AGENT_PIN")
            .output()
            .unwrap();
        ok(&o)
    };
    let s = &proxy.stats;
    let mut rows: Vec<(String, u64, u64, u64, f64)> = Vec::new();
    let mut measure = |what: &str, f: &dyn Fn() -> String| -> String {
        let (r0, x0, b0) = (
            s.get_logs.load(Ordering::Relaxed),
            s.get_logs_refused.load(Ordering::Relaxed),
            s.blocks_served.load(Ordering::Relaxed),
        );
        let t = Instant::now();
        let out = f();
        eprintln!(
            "{what}: {} getLogs, {} refused, {} blocks, {:.1} s",
            s.get_logs.load(Ordering::Relaxed) - r0,
            s.get_logs_refused.load(Ordering::Relaxed) - x0,
            s.blocks_served.load(Ordering::Relaxed) - b0,
            t.elapsed().as_secs_f64()
        );
        rows.push((
            what.to_string(),
            s.get_logs.load(Ordering::Relaxed) - r0,
            s.get_logs_refused.load(Ordering::Relaxed) - x0,
            s.blocks_served.load(Ordering::Relaxed) - b0,
            t.elapsed().as_secs_f64(),
        ));
        out
    };

    // The configuration scans from block 1 (as if the pool were as old as the chain): every
    // query reads more than 20,000 blocks through the capped provider. The operators were
    // registered at deployment; blocks pass before the ceremony's bundle is imported.
    mine(&w, 3_000);
    w.approve(&w.bundle);
    let out = measure("import (nonce check)", &|| {
        agent(&["import", w.bundle.to_str().unwrap()])
    });
    assert!(out.contains("imported 4 new validators"), "{out}");
    // Users deposit for two validators; 3,000 blocks later the agent stakes them.
    w.user_deposit(64);
    mine(&w, 3_000);
    let plan: serde_json::Value =
        serde_json::from_str(&measure("plan", &|| agent(&["plan", "--json"]))).unwrap();
    assert_eq!(plan["outcome"], "ready", "{plan}");
    assert_eq!(plan["validators"].as_array().unwrap().len(), 2, "{plan}");
    assert_eq!(plan["owner_nonce"], 0, "{plan}");
    measure("run --once (2 staked)", &|| agent(&["run", "--once"]));
    assert_eq!(w.deposited_validators(), 2);
    // 3,000 blocks later, two more: the owner nonce (2) comes from the ValidatorAdded events
    // 3,000 blocks back, the cluster snapshot from the last of them.
    mine(&w, 3_000);
    w.user_deposit(64);
    let plan: serde_json::Value =
        serde_json::from_str(&measure("plan (from the cursors)", &|| {
            agent(&["plan", "--json"])
        }))
        .unwrap();
    assert_eq!(plan["owner_nonce"], 2, "{plan}");
    measure("run --once (2 more staked)", &|| agent(&["run", "--once"]));
    assert_chain_matches_bundle(&w, &w.bundle, 4);
    // The operators' keys, from OperatorAdded events 9,000 blocks back.
    let ids = w
        .ops
        .iter()
        .map(|o| o.0.to_string())
        .collect::<Vec<_>>()
        .join(",");
    let export = w.dir.path().join("operators-capped.json");
    measure("operators export", &|| {
        agent(&[
            "operators",
            "export",
            "--ids",
            &ids,
            "--out",
            export.to_str().unwrap(),
        ])
    });
    let exported: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&export).unwrap()).unwrap();
    let keys: Vec<&str> = exported["operators"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["public_key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, w.ops.iter().map(|o| o.1.as_str()).collect::<Vec<_>>());
    let status: serde_json::Value = serde_json::from_str(&agent(&["status", "--json"])).unwrap();
    assert!(status["validators"]
        .as_array()
        .unwrap()
        .iter()
        .all(|v| v["status"] == "confirmed"));

    let head = head(&w);
    eprintln!("chain of {head} blocks, eth_getLogs capped at {LIMIT} blocks:");
    eprintln!(
        "{:<28} {:>9} {:>8} {:>10} {:>8} {:>12}",
        "command", "getLogs", "refused", "blocks", "seconds", "blocks/s"
    );
    for (what, n, x, b, t) in &rows {
        eprintln!(
            "{what:<28} {n:>9} {x:>8} {b:>10} {t:>8.2} {:>12.0}",
            *b as f64 / t
        );
    }
    assert!(head > 20_000, "the chain has {head} blocks");
    // The provider refused spans over its limit, and never served one.
    assert!(s.get_logs_refused.load(Ordering::Relaxed) > 0);
    assert!(
        s.max_span_served.load(Ordering::Relaxed) <= LIMIT,
        "served a span of {}",
        s.max_span_served.load(Ordering::Relaxed)
    );
    // Each command is a new process, yet none reads from the start again: the import read its
    // one query (the pool's SSV events) from block 1; the second plan read, for each of its six
    // queries (the pool's SSV events, the deposit contract's events, four operators' keys), only
    // the 3,000 new blocks (and the few the transactions made) and the reorg overlap
    // (confirmations + 64) from its cursor.
    let (import, second_plan) = (&rows[0], &rows[3]);
    assert!(
        import.3 >= head - 6_100,
        "the import read {} blocks",
        import.3
    );
    let overlap = signer_agent::stake::rescan_depth(1);
    assert!(
        second_plan.3 <= 6 * (3_000 + overlap + 20),
        "the second plan read {} blocks",
        second_plan.3
    );
}
