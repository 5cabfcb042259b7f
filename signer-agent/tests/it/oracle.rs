//! Oracle: a Beacon API fixture server (loopback, the standard JSON shapes) → `oracle report`
//! from a quorum of members, each with its own key (the agent's HSM key, development keys for
//! the others) → the rebase is visible in poolETH balances and in a `TokenRebased` event.

use std::collections::BTreeMap;

use alloy::primitives::{Address, U256};
use alloy::providers::Provider;
use alloy::signers::local::PrivateKeySigner;
use kc_test_utils::beacon::BeaconFixture;

use crate::e2e::{ok, World};

/// anvil's accounts 3 and 4 (well-known devnet keys): the other oracle members.
const MEMBER2_KEY: &str = "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6";
const MEMBER3_KEY: &str = "0x47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a";
/// anvil's account 5: not a member.
const STRANGER_KEY: &str = "0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba";

fn addr(key: &str) -> Address {
    key.parse::<PrivateKeySigner>().unwrap().address()
}

#[test]
fn oracle_reports_from_a_quorum_rebase_pool_eth() {
    let w = World::with_members(4, "", &[addr(MEMBER2_KEY), addr(MEMBER3_KEY)], Some(2));
    w.approve(&w.bundle);
    ok(&w.agent(&["import", w.bundle.to_str().unwrap()], &[]));
    w.user_deposit(128);
    ok(&w.agent(&["run", "--once"], &[]));
    assert_eq!(w.deposited_validators(), 4);

    // The beacon chain: each validator at 32.01 ETH, plus one key that is not the pool's.
    let dd: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(w.bundle.join("deposit_data.json")).unwrap())
            .unwrap();
    let mut beacon = BTreeMap::new();
    for d in dd.as_array().unwrap() {
        let pk = format!("0x{}", d["pubkey"].as_str().unwrap());
        beacon.insert(pk, (32_010_000_000u64, "active_ongoing"));
    }
    beacon.insert(
        format!("0x{}", "ab".repeat(48)),
        (64_000_000_000, "active_ongoing"),
    );
    let fixture = BeaconFixture::start(beacon);

    // Members' development keys (files, as `--dev-private-key-file` reads them).
    let key_file = |name: &str, key: &str| {
        let p = w.dir.path().join(name);
        std::fs::write(&p, key).unwrap();
        p.to_str().unwrap().to_string()
    };
    let m2 = key_file("member2.key", MEMBER2_KEY);
    let m3 = key_file("member3.key", MEMBER3_KEY);
    let stranger = key_file("stranger.key", STRANGER_KEY);
    for k in [MEMBER2_KEY, MEMBER3_KEY, STRANGER_KEY] {
        w.rt().block_on(async {
            let _: () = w
                .provider()
                .raw_request(
                    "anvil_setBalance".into(),
                    (addr(k), U256::from(10u128.pow(19))),
                )
                .await
                .unwrap();
        });
    }

    // Dry run: the sums, nothing sent; only the pool's validators are asked for.
    let beacon_flag = ["--beacon-url", fixture.url.as_str()];
    let out = ok(&w.agent(
        &[
            &beacon_flag[..],
            &["oracle", "report", "--state", "head", "--dry-run"],
        ]
        .concat(),
        &[],
    ));
    let r: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        r["balance_wei"],
        (U256::from(4u64 * 32_010_000_000) * U256::from(1_000_000_000u64)).to_string()
    );
    assert_eq!(r["validators"], 4);
    assert_eq!(r["exited"], 0);
    assert_eq!(r["not_seen"], 0);
    let asked = fixture.requests.lock().unwrap().clone();
    assert!(
        asked
            .iter()
            .any(|t| t.starts_with("/eth/v1/beacon/states/head/validators?id=")),
        "{asked:?}"
    );
    assert!(!asked.iter().any(|t| t.contains(&"ab".repeat(48))));

    // A week passes (the Oracle bounds the rise per year, pro rata), and we start at the
    // beginning of a frame so that every member reports in the same one.
    let user = w.user();
    w.pool().warp_to_frame_after(7 * 86_400);
    let before0 = w.pool_eth_balance(user);
    assert!(before0 > U256::ZERO);

    // Member 1: the agent (HSM key). It first books the week's SSV fees (the cluster's ETH
    // consumed by the network): the pool's total drops by exactly that. One vote is not a
    // quorum: no rebase.
    let pm = signer_agent::chain::IPoolManager::new(w.dep.addr("pool_manager"), w.provider());
    let (books, total0) = w.rt().block_on(async {
        (
            pm.clusterEther().call().await.unwrap(),
            pm.totalPooledEther().call().await.unwrap(),
        )
    });
    let report = ["oracle", "report", "--state", "head"];
    let out = ok(&w.agent(&[&beacon_flag[..], &report[..]].concat(), &[]));
    let s: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(s["tx"].as_str().unwrap().starts_with("0x"), "{s}");
    let (books_after, total1) = w.rt().block_on(async {
        (
            pm.clusterEther().call().await.unwrap(),
            pm.totalPooledEther().call().await.unwrap(),
        )
    });
    let fees = books - books_after;
    assert!(fees > U256::ZERO, "a week of SSV fees was booked");
    assert_eq!(total0 - total1, fees);
    let before = w.pool_eth_balance(user);
    let total_before = total1;
    // It may not vote twice in the frame: refused before anything is signed.
    let o = w.agent(&[&beacon_flag[..], &report[..]].concat(), &[]);
    assert_eq!(
        o.status.code(),
        Some(5),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(String::from_utf8_lossy(&o.stderr).contains("AlreadyReported"));
    // Not a member: refused.
    let o = w.agent(
        &[
            &beacon_flag[..],
            &["--dev-private-key-file", &stranger],
            &report[..],
        ]
        .concat(),
        &[],
    );
    assert_eq!(o.status.code(), Some(5));
    assert!(String::from_utf8_lossy(&o.stderr).contains("is not a member of the Oracle"));

    // Member 2 (a development key): quorum of 2 reached, the report is applied.
    ok(&w.agent(
        &[
            &beacon_flag[..],
            &["--dev-private-key-file", &m2],
            &report[..],
        ]
        .concat(),
        &[],
    ));
    let after = w.pool_eth_balance(user);
    assert!(
        after > before,
        "poolETH balance did not grow: {before} → {after}"
    );
    // The user's share of a +0.04 ETH rise on ~128 ETH, minus the 10 % protocol fee.
    let gain = after - before;
    let expected = U256::from(40_000_000_000_000_000u128) * before / total_before * U256::from(9)
        / U256::from(10);
    let tolerance = expected / U256::from(100);
    assert!(
        gain + tolerance >= expected && gain <= expected + tolerance,
        "gain {gain}, expected about {expected}"
    );
    let rebased = w.pool().rebases();
    assert_eq!(rebased.len(), 1, "one TokenRebased event");
    assert!(rebased[0].postTotalEther > rebased[0].preTotalEther);
    assert_eq!(
        rebased[0].postTotalEther - rebased[0].preTotalEther,
        U256::from(40_000_000_000_000_000u128)
    );

    // Member 3 arrives late: the frame is complete, refused, nothing changes.
    let o = w.agent(
        &[
            &beacon_flag[..],
            &["--dev-private-key-file", &m3],
            &report[..],
        ]
        .concat(),
        &[],
    );
    assert_eq!(o.status.code(), Some(5));
    assert!(String::from_utf8_lossy(&o.stderr).contains("FrameAlreadyCompleted"));
    // (it booked the few blocks of SSV fees since, before voting: no rebase, only that expense)
    let late = w.pool_eth_balance(user);
    assert!(
        late <= after && after - late < U256::from(1_000_000_000_000u64),
        "{after} → {late}"
    );
}
