//! The maintenance phase on anvil + SoftHSM + the Beacon API fixture (scripts/beacon-fixture.py):
//! cluster runway and top-ups (exactly once across a crash and a restart), the policy's top-up
//! cap, reactivation of a liquidated cluster; exits for a withdrawal queue larger than the
//! buffer (exactly the needed number), their lifecycle through the Beacon API, the queue funded
//! when the ETH arrives, withdrawn validators removed from SSV — with the agent killed at each
//! step of the exit and removal flows.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use alloy::network::TransactionBuilder;
use alloy::primitives::{Address, U256};
use alloy::providers::Provider;
use alloy::rpc::types::{Filter, TransactionRequest};
use alloy::sol_types::SolEvent;
use signer_agent::chain::{Cluster, IPoolManager, ISSVNetwork};

use crate::e2e::{ok, World, USER_KEY};

alloy::sol! {
    #[sol(rpc)]
    interface IQueue {
        function requestWithdrawal(uint256 amount) external returns (uint256 requestId);
        function nextRequestToFund() external view returns (uint256);
        function withdrawalRequestCount() external view returns (uint256);
        function requestTriggerableExits(bytes[] calldata pubkeys) external payable;
    }
    struct Snapshot {
        uint32 validatorCount;
        uint64 networkFeeIndex;
        uint64 index;
        bool active;
        uint256 balance;
    }
    #[sol(rpc)]
    interface ILiquidate {
        function liquidate(address clusterOwner, uint64[] calldata operatorIds, Snapshot memory cluster) external;
        event ClusterDeposited(address indexed owner, uint64[] operatorIds, uint256 value, Snapshot cluster);
        event ClusterReactivated(address indexed owner, uint64[] operatorIds, Snapshot cluster);
    }
}

const ETH: u128 = 1_000_000_000_000_000_000;

/// scripts/beacon-fixture.py on a free loopback port; killed on drop.
pub struct PyBeacon {
    child: Child,
    pub port: u16,
}

impl PyBeacon {
    pub fn start(deposit_data: &Path, balance_gwei: u64) -> PyBeacon {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/beacon-fixture.py");
        let mut child = Command::new("python3")
            .arg(&script)
            .arg("0")
            .arg(deposit_data)
            .arg(balance_gwei.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run python3 {}: {e}", script.display()));
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .trim()
            .strip_prefix("listening ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("beacon fixture did not start: {line:?}"));
        PyBeacon { child, port }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Moves `pubkeys` to `status` (and `balance_gwei`) through the fixture's control endpoint.
    pub fn set(&self, pubkeys: &[String], status: &str, balance_gwei: Option<u64>) {
        let mut body = serde_json::json!({"pubkeys": pubkeys, "status": status});
        if let Some(b) = balance_gwei {
            body["balance"] = serde_json::json!(b.to_string());
        }
        let body = body.to_string();
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        write!(
            s,
            "POST /fixture/validators HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut text = String::new();
        let _ = s.read_to_string(&mut text);
        assert!(
            text.starts_with("HTTP/1.0 200") || text.starts_with("HTTP/1.1 200"),
            "{text}"
        );
    }
}

impl Drop for PyBeacon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A world whose agent runs the maintenance duties (`[maintenance]` + `extra`), with a Beacon
/// fixture over the bundle's validators.
pub(crate) fn world(n: u32, run: &str, maintenance: &str, policy: &str) -> (World, PyBeacon) {
    let w = World::new(
        n,
        &format!("{run}\n[maintenance]\n{maintenance}\n[policy]\n{policy}\n"),
    );
    let beacon = PyBeacon::start(&w.bundle.join("deposit_data.json"), 32_000_000_000);
    let text = std::fs::read_to_string(&w.config).unwrap().replace(
        "metrics_addr = \"127.0.0.1:0\"",
        &format!(
            "metrics_addr = \"127.0.0.1:0\"\nbeacon_url = \"{}\"",
            beacon.url()
        ),
    );
    std::fs::write(&w.config, text).unwrap();
    (w, beacon)
}

fn stake_all(w: &World, n: u64) {
    w.approve(&w.bundle);
    ok(&w.agent(&["import", w.bundle.to_str().unwrap()], &[]));
    w.user_deposit(32 * n);
    ok(&w.agent(&["run", "--once"], &[]));
    assert_eq!(w.deposited_validators(), n);
}

pub(crate) fn mine(w: &World, blocks: u64) {
    w.rt().block_on(async {
        let _: serde_json::Value = w
            .provider()
            .raw_request("anvil_mine".into(), (U256::from(blocks),))
            .await
            .unwrap();
    });
}

fn ids(w: &World) -> Vec<u64> {
    w.ops.iter().map(|o| o.0).collect()
}

fn cluster(w: &World, ids: &[u64]) -> Cluster {
    w.cluster_snapshot(ids)
}

pub(crate) fn ssv_logs(w: &World, topic: alloy::primitives::B256) -> Vec<alloy::rpc::types::Log> {
    w.rt().block_on(async {
        w.provider()
            .get_logs(
                &Filter::new()
                    .address(w.dep.addr("ssv_network"))
                    .event_signature(topic)
                    .from_block(0),
            )
            .await
            .unwrap()
    })
}

fn pm_logs(w: &World, topic: alloy::primitives::B256) -> Vec<alloy::rpc::types::Log> {
    w.rt().block_on(async {
        w.provider()
            .get_logs(
                &Filter::new()
                    .address(w.dep.addr("pool_manager"))
                    .event_signature(topic)
                    .from_block(0),
            )
            .await
            .unwrap()
    })
}

fn runway_days(w: &World) -> f64 {
    runway_days_on(w, &w.config)
}

/// The first cluster's runway in days, as `clusters status` with `config` shows it.
pub(crate) fn runway_days_on(w: &World, config: &Path) -> f64 {
    let st: serde_json::Value =
        serde_json::from_str(&ok(&w.agent_with(config, &["clusters", "status", "--json"])))
            .unwrap();
    st["clusters"][0]["runway_days"].as_f64().unwrap()
}

/// Prints the gas of every confirmed maintenance transaction in `status --json` (GAS.md).
fn print_gas(w: &World, st: &serde_json::Value) {
    for t in st["maintenance"]["transactions"].as_array().unwrap() {
        if t["state"] != "confirmed" {
            continue;
        }
        let r = w.rt().block_on(async {
            w.provider()
                .get_transaction_receipt(t["hash"].as_str().unwrap().parse().unwrap())
                .await
                .unwrap()
                .unwrap()
        });
        eprintln!("gas: {} — {}: {}", t["action"], t["note"], r.gas_used);
    }
}

/// Starts the daemon (`run`), waits for `/metrics` to show `line`, stops it; the metrics text.
fn daemon_metrics(w: &World, line: &str) -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_signer-agent"))
        .arg("--config")
        .arg(&w.config)
        .args(["--metrics-addr", &format!("127.0.0.1:{port}"), "run"])
        .env_remove("SIGNER_AGENT_PIN")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut metrics = String::new();
    crate::daemon::wait_for(line, Duration::from_secs(60), || {
        metrics = crate::daemon::get(port, "/metrics")
            .map(|(_, b)| b)
            .unwrap_or_default();
        metrics.contains(line)
    });
    let _ = child.kill();
    let _ = child.wait();
    metrics
}

/// Runs the agent with the process killed at `point` (fault injection): exit 86.
fn crash_at(w: &World, point: &str) {
    let o = w.agent(&["run", "--once"], &[("SIGNER_AGENT_CRASH_AT", point)]);
    assert_eq!(
        o.status.code(),
        Some(86),
        "expected the crash at {point}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// A top-up outbid in a busy mempool (the busy chain of `mempool.rs`: before every block a
/// transaction paying 5 % more fills it) goes through the same sender as a stake: not mined
/// after `replace_after_blocks` blocks it is replaced (same nonce, both fees bumped), the
/// replacement is mined, and the cluster is topped up once; the maintenance row follows the
/// mined version and the policy's daily top-up total counts the nonce once.
#[test]
fn a_top_up_that_is_not_mined_is_replaced_with_higher_fees_and_funds_the_cluster_once() {
    use crate::mempool::{busy_chain, first_pending, log_of, outbid_until_exit, receipt, spawn};
    use alloy::sol_types::SolCall;
    let (w, _beacon) = world(
        2,
        "[gas]\nreplace_after_blocks = 2",
        "min_runway_days = 13.9\ntarget_runway_days = 20\nalert_runway_days = 5",
        "",
    );
    stake_all(&w, 2);
    mine(&w, 700);
    assert!(runway_days(&w) < 13.9);
    busy_chain(&w);
    let log = w.dir.path().join("topup.log");
    let mut child = spawn(&w, &log, &[]);
    let original = first_pending(&w, w.agent, &mut child, &log);
    let o = outbid_until_exit(&w, &mut child, &log, &original);
    assert!(o.exit.success(), "{}", log_of(&log));
    crate::mempool::automine(&w, true);
    let after = o
        .replaced_after
        .expect("a replacement was seen in the pool");
    assert!(after >= 2, "replaced after {after} blocks");
    assert!(log_of(&log).contains("not mined: replaced with higher fees"));
    // Funded once, by the replacement.
    let deposited = ssv_logs(&w, ILiquidate::ClusterDeposited::SIGNATURE_HASH);
    assert_eq!(deposited.len(), 1);
    let mined = deposited[0].transaction_hash.unwrap();
    assert!(
        receipt(&w, original.hash).is_none(),
        "the original was mined"
    );
    let tx = crate::mempool::replacement_of(&w, &original, mined);
    use alloy::consensus::Transaction as _;
    let after_days = runway_days(&w);
    assert!(after_days > 19.5 && after_days < 20.1, "{after_days}");
    let st: serde_json::Value =
        serde_json::from_str(&ok(&w.agent(&["status", "--json"], &[]))).unwrap();
    let txs = st["maintenance"]["transactions"].as_array().unwrap();
    assert_eq!(txs.len(), 1, "{st}");
    assert_eq!(txs[0]["state"], "confirmed", "{st}");
    assert_eq!(txs[0]["hash"].as_str().unwrap(), format!("{mined}"), "{st}");
    // Both versions were signed through the policy; the day's top-up total counts the nonce
    // once.
    let store =
        signer_agent::store::Store::open_location(&w.cfg().state_location().unwrap()).unwrap();
    let day = signer_agent::policy::today();
    let (_, total) = signer_agent::store::maintenance::signed_on(
        &store,
        &day,
        &[signer_agent::store::maintenance::Action::TopUp],
        None,
    )
    .unwrap();
    let amount = IPoolManager::depositClusterETHCall::abi_decode(tx.input())
        .unwrap()
        .amount;
    assert_eq!(total, amount);
    let versions = signer_agent::replace::versions(&store, w.agent, original.nonce).unwrap();
    assert!(versions.len() >= 2, "{versions:?}");
    assert!(versions.iter().all(|v| v.kind == "maintenance"));
}

#[test]
fn runway_below_the_threshold_is_topped_up_to_the_target_exactly_once_across_a_restart() {
    let (w, _beacon) = world(
        2,
        "",
        "min_runway_days = 13.9\ntarget_runway_days = 20\nalert_runway_days = 5",
        "",
    );
    stake_all(&w, 2);
    let ids = ids(&w);
    let funded = |w: &World| ssv_logs(w, ILiquidate::ClusterDeposited::SIGNATURE_HASH).len();
    // Staked with the threshold + 7 days of margin: about 14 days, above the threshold.
    let before = runway_days(&w);
    assert!(before > 13.0 && before < 15.0, "{before}");
    ok(&w.agent(&["run", "--once"], &[]));
    assert_eq!(funded(&w), 0, "no top-up above the threshold");
    // 700 blocks later the runway is under 13.9 days (anvil mines ≈ 100 blocks a second).
    mine(&w, 700);
    assert!(runway_days(&w) < 13.9);
    let books = |w: &World| {
        w.rt().block_on(async {
            IPoolManager::new(w.dep.addr("pool_manager"), w.provider())
                .clusterEtherOf(ids.clone())
                .call()
                .await
                .unwrap()
        })
    };
    let books_before = books(&w);
    // Killed after the broadcast, before the receipt was recorded …
    crash_at(&w, "maint-after-send");
    // … the restart settles it from the chain and does not top up again.
    ok(&w.agent(&["run", "--once"], &[]));
    ok(&w.agent(&["run", "--once"], &[]));
    assert_eq!(funded(&w), 1, "exactly one top-up");
    let after = runway_days(&w);
    assert!(
        after > 19.9 && after < 20.1,
        "topped up to the 20-day target: {after}"
    );
    let c = cluster(&w, &ids);
    assert_eq!(c.validatorCount, 2);
    assert!(
        books(&w) > books_before,
        "the top-up is booked as the pool's cluster ETH"
    );
    let st: serde_json::Value =
        serde_json::from_str(&ok(&w.agent(&["status", "--json"], &[]))).unwrap();
    let txs = st["maintenance"]["transactions"].as_array().unwrap();
    assert_eq!(txs.len(), 1, "{st}");
    print_gas(&w, &st);
    assert_eq!(txs[0]["action"], "top_up");
    assert_eq!(txs[0]["state"], "confirmed");

    // The daemon exports each cluster's runway on /metrics. Read once the funding pass has
    // ended (its buffer alert is the last gauge it sets; the runway comes before it).
    let label = format!(
        "cluster_runway_days{{cluster=\"{}\"}} ",
        ids.iter().map(u64::to_string).collect::<Vec<_>>().join(",")
    );
    let metrics = daemon_metrics(&w, "signer_agent_topup_buffer_alert ");
    let days: f64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix(&label))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(days > 19.9 && days < 20.1, "{metrics}");
    assert!(
        metrics.contains("signer_agent_topup_buffer_alert 0"),
        "{metrics}"
    );
}

#[test]
fn a_policy_cap_refuses_a_top_up_beyond_it_and_nothing_is_sent() {
    // 0.0001 ETH per top-up: far below what 20 days of runway need.
    let (w, _beacon) = world(
        2,
        "",
        "min_runway_days = 13.9\ntarget_runway_days = 20",
        "max_topup_per_tx_gwei = 100000",
    );
    stake_all(&w, 2);
    mine(&w, 700);
    let balance = cluster(&w, &ids(&w)).balance;
    let o = w.agent(&["run", "--once"], &[]);
    ok(&o);
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("topup_cap"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(
        ssv_logs(&w, ILiquidate::ClusterDeposited::SIGNATURE_HASH).len(),
        0
    );
    assert_eq!(cluster(&w, &ids(&w)).balance, balance);
    assert!(runway_days(&w) < 13.9);
}

#[test]
fn a_liquidated_cluster_is_reactivated() {
    // Funded with no margin: one validator's cluster holds the minimum collateral and is
    // liquidatable a block later.
    let (w, _beacon) = world(
        1,
        "fee_margin_blocks = 0",
        "min_runway_days = 10\ntarget_runway_days = 20",
        "",
    );
    stake_all(&w, 1);
    let ids = ids(&w);
    mine(&w, 10);
    let c = cluster(&w, &ids);
    w.rt().block_on(async {
        // Anyone may liquidate a liquidatable cluster (a liquidator bot, here the user).
        let r = ILiquidate::new(w.dep.addr("ssv_network"), w.wallet_provider(USER_KEY))
            .liquidate(
                w.dep.addr("pool_manager"),
                ids.clone(),
                Snapshot {
                    validatorCount: c.validatorCount,
                    networkFeeIndex: c.networkFeeIndex,
                    index: c.index,
                    active: c.active,
                    balance: c.balance,
                },
            )
            .send()
            .await
            .unwrap()
            .get_receipt()
            .await
            .unwrap();
        assert!(r.status());
    });
    assert!(!cluster(&w, &ids).active);
    let o = w.agent(&["run", "--once"], &[]);
    ok(&o);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("ERROR") && err.contains("reactivated"),
        "{err}"
    );
    let c = cluster(&w, &ids);
    assert!(c.active, "reactivated");
    assert_eq!(
        ssv_logs(&w, ILiquidate::ClusterReactivated::SIGNATURE_HASH).len(),
        1
    );
    let liquidatable = w.rt().block_on(async {
        ISSVNetwork::new(w.dep.addr("ssv_network"), w.provider())
            .isLiquidatable(w.dep.addr("pool_manager"), ids.clone(), c)
            .call()
            .await
            .unwrap()
    });
    assert!(!liquidatable);
    assert!(runway_days(&w) > 19.0);

    // The buffer alert: a top-up is due within alert_runway_days (14) and a queued withdrawal
    // leaves the buffer nothing to pay it with.
    let m = daemon_metrics(&w, "signer_agent_topup_buffer_alert 0");
    assert!(m.contains("signer_agent_topup_due_soon_wei "), "{m}");
    let buffered = w.rt().block_on(async {
        IPoolManager::new(w.dep.addr("pool_manager"), w.provider())
            .bufferedEther()
            .call()
            .await
            .unwrap()
    });
    request_withdrawals(&w, &[buffered]);
    daemon_metrics(&w, "signer_agent_topup_buffer_alert 1");
}

/// The bundle's pubkeys (`0x` hex, lower case), in deposit order (= staking order here).
fn bundle_pubkeys(bundle: &Path) -> Vec<String> {
    let dd: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(bundle.join("deposit_data.json")).unwrap())
            .unwrap();
    dd.as_array()
        .unwrap()
        .iter()
        .map(|d| format!("0x{}", d["pubkey"].as_str().unwrap().to_ascii_lowercase()))
        .collect()
}

fn transfer(w: &World, to: Address, wei: U256) {
    w.rt().block_on(async {
        let r = w
            .wallet_provider(USER_KEY)
            .send_transaction(TransactionRequest::default().with_to(to).with_value(wei))
            .await
            .unwrap()
            .get_receipt()
            .await
            .unwrap();
        assert!(r.status());
    });
}

fn request_withdrawals(w: &World, amounts: &[U256]) {
    w.rt().block_on(async {
        let q = IQueue::new(w.dep.addr("pool_manager"), w.wallet_provider(USER_KEY));
        for a in amounts {
            let r = q
                .requestWithdrawal(*a)
                .send()
                .await
                .unwrap()
                .get_receipt()
                .await
                .unwrap();
            assert!(r.status());
        }
    });
}

fn queue(w: &World) -> (u64, u64) {
    w.rt().block_on(async {
        let q = IQueue::new(w.dep.addr("pool_manager"), w.provider());
        (
            q.nextRequestToFund().call().await.unwrap().to::<u64>(),
            q.withdrawalRequestCount().call().await.unwrap().to::<u64>(),
        )
    })
}

fn exit_requested(w: &World) -> Vec<String> {
    pm_logs(w, IPoolManager::ValidatorExitRequested::SIGNATURE_HASH)
        .iter()
        .map(|l| {
            let e = IPoolManager::ValidatorExitRequested::decode_log_data(l.data()).unwrap();
            format!("0x{}", hex::encode(&e.pubkey))
        })
        .collect()
}

#[test]
fn exits_cover_the_withdrawal_queue_are_followed_to_withdrawn_fund_the_queue_and_are_removed() {
    // Runway thresholds below the stake's ≈ 14 days: no top-up in this test.
    let (w, beacon) = world(
        5,
        "",
        "min_runway_days = 5\ntarget_runway_days = 10\nexit_order = \"oldest\"",
        "",
    );
    stake_all(&w, 5);
    let pm = w.dep.addr("pool_manager");
    let ids = ids(&w);
    let staked: Vec<String> = bundle_pubkeys(&w.bundle);
    // One request of 70 ETH and 51 small ones: more than the buffer (≈ 0.05 ETH); 3 validators
    // (96 ETH) cover them, 2 do not.
    let mut amounts = vec![U256::from(70 * ETH)];
    amounts.extend(vec![U256::from(ETH / 100); 51]);
    request_withdrawals(&w, &amounts);
    let plan: serde_json::Value =
        serde_json::from_str(&ok(&w.agent(&["exits", "plan", "--json"], &[]))).unwrap();
    let planned: Vec<&str> = plan["plan"]["exits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["pubkey"].as_str().unwrap())
        .collect();
    assert_eq!(
        planned,
        staked[..3].iter().map(String::as_str).collect::<Vec<_>>()
    );

    // Killed at each step of the exit request: before the record, before the broadcast (never
    // sent: dropped at the restart) and after the receipt (mined, not yet applied).
    crash_at(&w, "maint-before-record");
    crash_at(&w, "maint-before-send");
    assert!(exit_requested(&w).is_empty(), "nothing broadcast yet");
    crash_at(&w, "maint-after-receipt");
    ok(&w.agent(&["run", "--once"], &[]));
    ok(&w.agent(&["run", "--once"], &[]));
    let requested = exit_requested(&w);
    assert_eq!(
        requested,
        staked[..3].to_vec(),
        "exactly the 3 oldest, once each"
    );
    assert_eq!(
        ssv_logs(&w, ISSVNetwork::ValidatorExited::SIGNATURE_HASH).len(),
        3
    );
    // The governance fallback: EIP-7002 exits of the requested validators that do not exit.
    let plan: serde_json::Value =
        serde_json::from_str(&ok(&w.agent(&["exits", "plan", "--json"], &[]))).unwrap();
    assert!(
        plan["plan"]["exits"].as_array().unwrap().is_empty(),
        "{plan}"
    );
    let calldata = plan["governance_triggerable_exits"]["calldata"]
        .as_str()
        .unwrap();
    let call = <IQueue::requestTriggerableExitsCall as alloy::sol_types::SolCall>::abi_decode(
        &hex::decode(calldata.trim_start_matches("0x")).unwrap(),
    )
    .unwrap();
    let gov_keys: Vec<String> = call
        .pubkeys
        .iter()
        .map(|k| format!("0x{}", hex::encode(k)))
        .collect();
    assert_eq!(gov_keys, staked[..3].to_vec());

    // The beacon chain: exiting → exited.
    beacon.set(&requested, "active_exiting", None);
    ok(&w.agent(&["run", "--once"], &[]));
    beacon.set(&requested, "exited_unslashed", None);
    ok(&w.agent(&["run", "--once"], &[]));
    let st: serde_json::Value =
        serde_json::from_str(&ok(&w.agent(&["status", "--json"], &[]))).unwrap();
    for e in st["maintenance"]["exits"].as_array().unwrap() {
        assert_eq!(e["state"], "exited", "{st}");
    }
    // Withdrawn: the sweep sends their 96 ETH to the PoolManager.
    beacon.set(&requested, "withdrawal_done", Some(0));
    transfer(&w, pm, U256::from(96 * ETH));
    // Killed after the removal's broadcast: the restart settles it; one removal.
    crash_at(&w, "maint-after-send");
    ok(&w.agent(&["run", "--once"], &[]));
    ok(&w.agent(&["run", "--once"], &[]));
    let removed: Vec<String> = ssv_logs(&w, ISSVNetwork::ValidatorRemoved::SIGNATURE_HASH)
        .iter()
        .map(|l| {
            let e = ISSVNetwork::ValidatorRemoved::decode_log_data(l.data()).unwrap();
            assert_eq!(e.operatorIds, ids);
            format!("0x{}", hex::encode(&e.publicKey))
        })
        .collect();
    assert_eq!(
        removed, requested,
        "the withdrawn validators, removed once, in one batch"
    );
    assert_eq!(cluster(&w, &ids).validatorCount, 2);
    assert!(exit_requested(&w).len() == 3, "no more exits");

    // The ETH arrived: the oracle report books it and funds the first 50 requests; the agent
    // funds the rest (fundWithdrawals, only because it would fund some). A report funds only
    // requests made before its block's time, and on a fast machine the requests and the report
    // can fall in the same second: the clock moves on first.
    w.pool().advance_clock(1);
    ok(&w.agent(&["oracle", "report", "--state", "head"], &[]));
    assert_eq!(queue(&w), (50, 52));
    ok(&w.agent(&["run", "--once"], &[]));
    assert_eq!(queue(&w), (52, 52), "every request funded");
    ok(&w.agent(&["run", "--once"], &[]));

    // Every state change is a history row; status shows the lifecycle.
    let st: serde_json::Value =
        serde_json::from_str(&ok(&w.agent(&["status", "--json"], &[]))).unwrap();
    let txs = st["maintenance"]["transactions"].as_array().unwrap();
    let confirmed = |action: &str| {
        txs.iter()
            .filter(|t| t["action"] == action && t["state"] == "confirmed")
            .count()
    };
    assert_eq!(confirmed("exit"), 1, "{st}");
    assert_eq!(confirmed("remove"), 1, "{st}");
    assert_eq!(confirmed("fund"), 1, "{st}");
    print_gas(&w, &st);
    let text = ok(&w.agent(&["status"], &[]));
    assert!(text.contains("exit lifecycle"), "{text}");
    let store =
        signer_agent::store::Store::open_location(&w.cfg().state_location().unwrap()).unwrap();
    for pk in &requested {
        let states: Vec<String> = store
            .history()
            .unwrap()
            .into_iter()
            .filter(|h| h.pubkey.eq_ignore_ascii_case(pk))
            .map(|h| h.status)
            .collect();
        assert_eq!(
            states,
            [
                "imported",
                "sent",
                "confirmed",
                "exit_requested",
                "exiting",
                "exited",
                "withdrawn",
                "removed"
            ],
            "{pk}"
        );
    }
}
