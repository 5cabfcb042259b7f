//! Oracle: a Beacon API fixture server (loopback, the standard JSON shapes) → `oracle report`
//! from a quorum of members, each with its own key (the agent's HSM key, development keys for
//! the others) → the rebase is visible in poolETH balances and in a `TokenRebased` event.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use alloy::primitives::{Address, U256};
use alloy::providers::Provider;
use alloy::rpc::types::Filter;
use alloy::signers::local::PrivateKeySigner;
use alloy::sol_types::SolEvent;
use signer_agent::chain::{IOracle, IERC20};

use crate::e2e::{ok, World};

alloy::sol! {
    #[sol(rpc)]
    interface IRebase {
        event TokenRebased(uint256 preTotalEther, uint256 postTotalEther, uint256 preTotalShares, uint256 postTotalShares, uint256 feeShares, uint256 timeElapsed);
    }
}

/// anvil's accounts 3 and 4 (well-known devnet keys): the other oracle members.
const MEMBER2_KEY: &str = "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6";
const MEMBER3_KEY: &str = "0x47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a";
/// anvil's account 5: not a member.
const STRANGER_KEY: &str = "0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba";

/// A Beacon API fixture: `GET /eth/v1/beacon/genesis` and
/// `GET /eth/v1/beacon/states/{state}/validators?id=…` over `validators` (pubkey → (balance gwei,
/// status)), as in ethereum/beacon-APIs (numbers as decimal strings). Unknown ids are left out,
/// as real beacon nodes do. One thread, one request per connection.
pub struct BeaconFixture {
    pub url: String,
    pub requests: Arc<Mutex<Vec<String>>>,
}

impl BeaconFixture {
    pub fn start(validators: BTreeMap<String, (u64, &'static str)>) -> BeaconFixture {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let requests = Arc::new(Mutex::new(Vec::new()));
        let log = requests.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                if reader.read_line(&mut line).is_err() {
                    continue;
                }
                // Skip the headers.
                loop {
                    let mut h = String::new();
                    if reader.read_line(&mut h).is_err() || h == "\r\n" || h.is_empty() {
                        break;
                    }
                }
                let target = line.split_whitespace().nth(1).unwrap_or("").to_string();
                log.lock().unwrap().push(target.clone());
                let (status, body) = answer(&target, &validators);
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        BeaconFixture { url, requests }
    }
}

fn answer(target: &str, validators: &BTreeMap<String, (u64, &'static str)>) -> (String, String) {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    if path == "/eth/v1/beacon/genesis" {
        return (
            "200 OK".into(),
            serde_json::json!({"data": {
                "genesis_time": "1742213400",
                "genesis_validators_root": format!("0x{}", "21".repeat(32)),
                "genesis_fork_version": "0x10000910"
            }})
            .to_string(),
        );
    }
    let parts: Vec<&str> = path.split('/').collect();
    if let ["", "eth", "v1", "beacon", "states", _state, "validators"] = parts.as_slice() {
        let ids: Vec<String> = query
            .split('&')
            .filter_map(|kv| kv.strip_prefix("id="))
            .flat_map(|v| {
                v.replace("%2C", ",")
                    .replace("%2c", ",")
                    .split(',')
                    .map(|s| s.to_ascii_lowercase())
                    .collect::<Vec<_>>()
            })
            .collect();
        let data: Vec<serde_json::Value> = validators
            .iter()
            .enumerate()
            .filter(|(_, (pk, _))| ids.contains(pk))
            .map(|(i, (pk, (balance, status)))| {
                serde_json::json!({
                    "index": (1000 + i).to_string(),
                    "balance": balance.to_string(),
                    "status": status,
                    "validator": {
                        "pubkey": pk,
                        "withdrawal_credentials": format!("0x01{}", "00".repeat(31)),
                        "effective_balance": "32000000000",
                        "slashed": false,
                        "activation_eligibility_epoch": "0",
                        "activation_epoch": "0",
                        "exit_epoch": "18446744073709551615",
                        "withdrawable_epoch": "18446744073709551615"
                    }
                })
            })
            .collect();
        return (
            "200 OK".into(),
            serde_json::json!({"execution_optimistic": false, "finalized": true, "data": data})
                .to_string(),
        );
    }
    (
        "404 Not Found".into(),
        serde_json::json!({"code": 404, "message": "not found"}).to_string(),
    )
}

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
    let pool_eth = w.dep.addr("pool_eth");
    let oracle = w.dep.addr("oracle");
    let user = w.user();
    let (before0, _) = w.rt().block_on(async {
        let p = w.provider();
        let o = IOracle::new(oracle, p.clone());
        let genesis = o.genesisTime().call().await.unwrap().to::<u64>();
        let frame = o.secondsPerFrame().call().await.unwrap().to::<u64>();
        let now = p
            .get_block_by_number(alloy::eips::BlockNumberOrTag::Latest)
            .await
            .unwrap()
            .unwrap()
            .header
            .timestamp;
        let target = now + 7 * 86_400;
        let target = target - (target - genesis) % frame + frame + 1;
        let _: serde_json::Value = p
            .raw_request("evm_setNextBlockTimestamp".into(), (target,))
            .await
            .unwrap();
        let _: serde_json::Value = p.raw_request("evm_mine".into(), ()).await.unwrap();
        let t = IERC20::new(pool_eth, p.clone());
        (
            t.balanceOf(user).call().await.unwrap(),
            t.totalSupply().call().await.unwrap(),
        )
    });
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
    let rebased = w.rt().block_on(async {
        let f = Filter::new()
            .address(w.dep.addr("pool_manager"))
            .event_signature(IRebase::TokenRebased::SIGNATURE_HASH)
            .from_block(0);
        w.provider()
            .get_logs(&f)
            .await
            .unwrap()
            .iter()
            .map(|l| IRebase::TokenRebased::decode_log_data(l.data()).unwrap())
            .collect::<Vec<_>>()
    });
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
