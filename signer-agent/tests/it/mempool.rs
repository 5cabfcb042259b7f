//! Transactions that survive a real mempool, on an anvil that mines only when the
//! test says so (`evm_setAutomine false`):
//! - a stake outbid in a busy mempool (before every block, a transaction paying 5 % more on both
//!   fees that burns nearly the whole block's gas, so the stake does not fit after it) is not
//!   mined; after `gas.replace_after_blocks` blocks the agent replaces it
//!   (same nonce, both fees bumped within the caps) and the replacement is mined — once: exactly
//!   one DepositEvent per validator;
//! - a stake dropped from the mempool is detected, its validators planned again (same nonce),
//!   and staked once;
//! - a nonce of the agent's key used by a transaction the agent did not send stops the agent
//!   with a named error (exit 4); a restart stakes the validators once;
//! - a crash after a replacement is recorded and before it is broadcast: the restart follows
//!   the nonce and stakes once.

use std::fs::File;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use alloy::network::TransactionBuilder;
use alloy::primitives::{Address, B256, U256};
use alloy::providers::Provider;
use alloy::rpc::types::TransactionRequest;

use crate::common::ANVIL_KEY0;
use crate::e2e::{assert_chain_matches_bundle, ok, World};

/// anvil's account 6 (well-known devnet key): a development transaction key.
const DEV_KEY: &str = "0x92db14e403b83dfe3df233f83dfa3a0d7096f21ca9b0d6d6b8d88b2b4ec1564e";

alloy::sol! {
    #[sol(rpc)]
    interface IGrant {
        function OPERATOR_ROLE() external view returns (bytes32);
        function grantRole(bytes32 role, address account) external;
    }
}

fn rpc<T: serde::de::DeserializeOwned>(w: &World, method: &str, params: serde_json::Value) -> T {
    let v: serde_json::Value = w.rt().block_on(async {
        w.provider()
            .raw_request::<_, serde_json::Value>(method.to_string().into(), params)
            .await
            .unwrap()
    });
    serde_json::from_value(v).unwrap()
}

pub(crate) fn automine(w: &World, on: bool) {
    let _: serde_json::Value = rpc(w, "evm_setAutomine", serde_json::json!([on]));
}

pub(crate) fn mine(w: &World) {
    let _: serde_json::Value = rpc(w, "evm_mine", serde_json::json!([]));
}

/// A pending transaction in anvil's pool.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Pending {
    pub hash: B256,
    pub nonce: u64,
    pub max_fee: u128,
    pub priority: u128,
    pub gas: u64,
}

/// The pending transactions of `from` in anvil's pool.
pub(crate) fn pending(w: &World, from: Address) -> Vec<Pending> {
    let pool: serde_json::Value = rpc(w, "txpool_content", serde_json::json!([]));
    let mut out = Vec::new();
    for (addr, txs) in pool["pending"].as_object().unwrap() {
        if !addr.eq_ignore_ascii_case(&format!("{from:#x}")) {
            continue;
        }
        for tx in txs.as_object().unwrap().values() {
            let hex = |k: &str| {
                u128::from_str_radix(tx[k].as_str().unwrap().trim_start_matches("0x"), 16).unwrap()
            };
            out.push(Pending {
                hash: tx["hash"].as_str().unwrap().parse().unwrap(),
                nonce: hex("nonce") as u64,
                max_fee: hex("maxFeePerGas"),
                priority: hex("maxPriorityFeePerGas"),
                gas: hex("gas") as u64,
            });
        }
    }
    out
}

pub(crate) fn spawn(w: &World, log: &Path, extra: &[&str]) -> Child {
    spawn_env(w, log, extra, &[])
}

fn spawn_env(w: &World, log: &Path, extra: &[&str], env: &[(&str, &str)]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_signer-agent"))
        .arg("--config")
        .arg(&w.config)
        .args(extra)
        .args(["run", "--once"])
        .envs(env.iter().copied())
        .env_remove("SIGNER_AGENT_PIN")
        .stdout(Stdio::null())
        .stderr(File::create(log).unwrap())
        .spawn()
        .unwrap()
}

pub(crate) fn log_of(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_default()
}

/// Waits (mining nothing) until `from` has a transaction in the pool.
pub(crate) fn first_pending(w: &World, from: Address, child: &mut Child, log: &Path) -> Pending {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        if let Some(t) = pending(w, from).into_iter().next() {
            return t;
        }
        if let Some(s) = child.try_wait().unwrap() {
            panic!("the agent exited ({s}) before sending: {}", log_of(log));
        }
        assert!(Instant::now() < deadline, "nothing sent: {}", log_of(log));
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn status(w: &World) -> serde_json::Value {
    serde_json::from_str(&ok(&w.agent(&["status", "--json"], &[]))).unwrap()
}

pub(crate) fn receipt(w: &World, h: B256) -> Option<alloy::rpc::types::TransactionReceipt> {
    w.rt()
        .block_on(async { w.provider().get_transaction_receipt(h).await })
        .unwrap()
}

fn setup(w: &World) {
    w.approve(&w.bundle);
    ok(&w.agent(&["import", w.bundle.to_str().unwrap()], &[]));
    w.user_deposit(64);
}

/// Block gas limit of the busy chain: room for one stake or for the competing transaction the
/// test sends before every block, not both.
const BLOCK_GAS: u64 = 3_000_000;

/// The priority fee the chain has been paying (what the node's estimate gives the stake).
const GOING_TIP: u128 = 1_000_000_000;

/// Sends a transaction from anvil's account 0 with these fees that uses all of its `gas` (a
/// contract creation whose code loops until it runs out of gas; 21,000 is a plain transfer).
fn send_from_account0(w: &World, max_fee: u128, tip: u128, gas: u64) {
    let p = w.wallet_provider(ANVIL_KEY0);
    w.rt().block_on(async {
        let tx = TransactionRequest::default()
            .with_gas_limit(gas)
            .with_max_fee_per_gas(max_fee)
            .with_max_priority_fee_per_gas(tip);
        let tx = if gas == 21_000 {
            tx.with_to(Address::repeat_byte(0xbe))
                .with_value(U256::from(1u64))
        } else {
            // JUMPDEST PUSH1 0 JUMP
            tx.with_deploy_code(alloy::primitives::Bytes::from_static(&[
                0x5b, 0x60, 0x00, 0x56,
            ]))
        };
        let _ = p.send_transaction(tx).await.unwrap();
    });
}

/// A chain whose mempool is busy: blocks are mined only by the test, each holding at most
/// `BLOCK_GAS`, and the last ten paid a 1 gwei tip (the node's fee estimate, which the agent
/// signs with, gives the stake that tip).
pub(crate) fn busy_chain(w: &World) {
    automine(w, false);
    let _: serde_json::Value = rpc(
        w,
        "evm_setBlockGasLimit",
        serde_json::json!([format!("0x{BLOCK_GAS:x}")]),
    );
    for _ in 0..10 {
        send_from_account0(w, 100 * GOING_TIP, GOING_TIP, 21_000);
        mine(w);
    }
}

/// One block of a busy mempool: someone outbids `original` by 5 % (less than a replacement's
/// bump) on both fees, with a transaction that leaves no room for it in the block (anvil orders
/// by fees and skips what does not fit, keeping it in the pool); then the block.
pub(crate) fn outbid_block(w: &World, original: &Pending) {
    send_from_account0(
        w,
        original.max_fee + original.max_fee / 20,
        original.priority + original.priority / 20,
        BLOCK_GAS - original.gas / 2,
    );
    mine(w);
}

/// What [`outbid_until_exit`] saw.
pub(crate) struct Outbid {
    pub exit: std::process::ExitStatus,
    pub blocks: u32,
    /// Blocks mined before a version other than the original was seen in the pool.
    pub replaced_after: Option<u32>,
}

/// Until the agent exits: blocks of [`outbid_block`].
/// While no replacement is in the pool, the original is there, not mined, not dropped.
pub(crate) fn outbid_until_exit(
    w: &World,
    child: &mut Child,
    log: &Path,
    original: &Pending,
) -> Outbid {
    let mut blocks = 0u32;
    let mut replaced_after = None;
    let exit = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            blocks < 40,
            "not mined after {blocks} blocks: {}",
            log_of(log)
        );
        let now = pending(w, w.agent);
        if replaced_after.is_none() {
            if now.iter().any(|t| t.hash != original.hash) {
                replaced_after = Some(blocks);
            } else {
                assert_eq!(
                    now.iter().map(|t| t.hash).collect::<Vec<_>>(),
                    vec![original.hash],
                    "{}",
                    log_of(log)
                );
                assert!(receipt(w, original.hash).is_none());
            }
        }
        outbid_block(w, original);
        blocks += 1;
        // Let the agent (polling every 250 ms here) see the block before the next one.
        std::thread::sleep(Duration::from_millis(500));
    };
    Outbid {
        exit,
        blocks,
        replaced_after,
    }
}

/// The mined transaction `mined`, checked to be a replacement of `original`: the same nonce,
/// both fees bumped by at least 10 %.
pub(crate) fn replacement_of(
    w: &World,
    original: &Pending,
    mined: B256,
) -> alloy::rpc::types::Transaction {
    use alloy::consensus::Transaction as _;
    assert_ne!(mined, original.hash);
    let tx = w
        .rt()
        .block_on(async { w.provider().get_transaction_by_hash(mined).await })
        .unwrap()
        .unwrap();
    assert_eq!(tx.nonce(), original.nonce);
    assert!(tx.max_priority_fee_per_gas().unwrap() * 100 >= original.priority * 110);
    assert!(tx.max_fee_per_gas() * 100 >= original.max_fee * 110);
    tx
}

#[test]
fn a_stake_that_is_not_mined_is_replaced_with_higher_fees_and_mined_once() {
    let w = World::new(2, "\n[gas]\nreplace_after_blocks = 2");
    setup(&w);
    busy_chain(&w);
    let log = w.dir.path().join("run.log");
    let mut child = spawn(&w, &log, &[]);
    let t0 = Instant::now();
    let original = first_pending(&w, w.agent, &mut child, &log);
    let sent = t0.elapsed();
    assert!(original.priority >= GOING_TIP / 2, "{original:?}");
    let Outbid {
        exit,
        blocks,
        replaced_after,
    } = outbid_until_exit(&w, &mut child, &log, &original);
    let after = t0.elapsed() - sent;
    assert!(exit.success(), "{}", log_of(&log));
    automine(&w, true);
    let after_blocks = replaced_after.expect("a replacement was seen in the pool");
    assert!(after_blocks >= 2, "replaced after {after_blocks} blocks");

    // Mined once: one DepositEvent per validator, by the replacement (same nonce).
    assert_chain_matches_bundle(&w, &w.bundle, 2);
    assert!(
        receipt(&w, original.hash).is_none(),
        "the original was mined"
    );
    let st = status(&w);
    let vs = st["validators"].as_array().unwrap();
    assert!(vs.iter().all(|v| v["status"] == "confirmed"), "{st}");
    let mined: B256 = vs[0]["tx_hash"].as_str().unwrap().parse().unwrap();
    assert_ne!(mined, original.hash);
    assert!(receipt(&w, mined).unwrap().status());
    let tx = replacement_of(&w, &original, mined);
    use alloy::consensus::Transaction as _;
    // The history recorded the replacement before it was sent; the log says why.
    let history = signer_agent::store::Store::open_location(&w.cfg().state_location().unwrap())
        .unwrap()
        .history()
        .unwrap();
    assert!(
        history.iter().any(|h| h.status == "sent"
            && h.note.as_deref().is_some_and(|n| n.contains(&format!(
                "nonce {}, replaces {}",
                original.nonce, original.hash
            )))),
        "{history:#?}"
    );
    assert!(log_of(&log).contains("not mined: replaced with higher fees"));
    assert!(!log_of(&log).contains("dropped"), "{}", log_of(&log));
    eprintln!(
        "sent {:.1} s after start; replaced after {after_blocks} blocks; staked after {blocks} blocks ({:.1} s after it was sent); priority fee {} → {} wei, max fee {} → {} wei",
        sent.as_secs_f64(),
        after.as_secs_f64(),
        original.priority,
        tx.max_priority_fee_per_gas().unwrap(),
        original.max_fee,
        tx.max_fee_per_gas()
    );
}

/// Crash safety with replacements: the agent dies after recording a replacement and before
/// broadcasting it; the restarted agent follows the nonce (both versions known from the state
/// store), replaces again as the stake is still not mined, and each validator is staked once.
#[test]
fn a_crash_before_a_replacement_is_broadcast_then_a_restart_stakes_once() {
    let w = World::new(2, "\n[gas]\nreplace_after_blocks = 2");
    setup(&w);
    busy_chain(&w);
    let log = w.dir.path().join("crash.log");
    let mut child = spawn_env(
        &w,
        &log,
        &[],
        &[("SIGNER_AGENT_CRASH_AT", "before-replace-send")],
    );
    let original = first_pending(&w, w.agent, &mut child, &log);
    let o = outbid_until_exit(&w, &mut child, &log, &original);
    assert_eq!(o.exit.code(), Some(86), "{}", log_of(&log));
    assert_eq!(
        o.replaced_after, None,
        "nothing was broadcast but the original"
    );
    let recorded = {
        let store =
            signer_agent::store::Store::open_location(&w.cfg().state_location().unwrap()).unwrap();
        signer_agent::replace::versions(&store, w.agent, original.nonce).unwrap()
    };
    assert_eq!(recorded.len(), 2, "{recorded:#?}");
    assert_eq!(recorded[0].hash, original.hash);

    let log = w.dir.path().join("restart.log");
    let mut child = spawn(&w, &log, &[]);
    let o = outbid_until_exit(&w, &mut child, &log, &original);
    assert!(o.exit.success(), "{}", log_of(&log));
    automine(&w, true);
    assert!(o.replaced_after.is_some(), "{}", log_of(&log));
    assert!(
        log_of(&log).contains("following a transaction sent before the restart"),
        "{}",
        log_of(&log)
    );
    assert_chain_matches_bundle(&w, &w.bundle, 2);
    assert!(receipt(&w, original.hash).is_none());
    let st = status(&w);
    let vs = st["validators"].as_array().unwrap();
    assert!(vs.iter().all(|v| v["status"] == "confirmed"), "{st}");
    let mined: B256 = vs[0]["tx_hash"].as_str().unwrap().parse().unwrap();
    let store =
        signer_agent::store::Store::open_location(&w.cfg().state_location().unwrap()).unwrap();
    let all = signer_agent::replace::versions(&store, w.agent, original.nonce).unwrap();
    assert!(all.len() >= 3, "{all:#?}");
    assert!(all.iter().any(|r| r.hash == mined), "{all:#?}");
}

#[test]
fn a_dropped_stake_is_planned_again_and_staked_once() {
    let w = World::new(2, "");
    setup(&w);
    automine(&w, false);
    let log = w.dir.path().join("run.log");
    let mut child = spawn(&w, &log, &[]);
    let first = first_pending(&w, w.agent, &mut child, &log);
    let (dropped, nonce) = (first.hash, first.nonce);
    let _: serde_json::Value = rpc(&w, "anvil_dropTransaction", serde_json::json!([dropped]));
    let deadline = Instant::now() + Duration::from_secs(120);
    let exit = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "not staked: {}", log_of(&log));
        // Mine only the new transaction.
        if let Some(t) = pending(&w, w.agent).first() {
            assert_ne!(t.hash, dropped);
            assert_eq!(t.nonce, nonce, "the dropped nonce is used again");
            mine(&w);
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(exit.success(), "{}", log_of(&log));
    automine(&w, true);
    assert_chain_matches_bundle(&w, &w.bundle, 2);
    assert!(receipt(&w, dropped).is_none());
    assert!(
        log_of(&log).contains("dropped from the mempool"),
        "{}",
        log_of(&log)
    );
    let history = signer_agent::store::Store::open_location(&w.cfg().state_location().unwrap())
        .unwrap()
        .history()
        .unwrap();
    assert!(
        history
            .iter()
            .any(|h| h.status == "reverted"
                && h.note.as_deref().is_some_and(|n| n.contains("dropped"))),
        "{history:#?}"
    );
}

#[test]
fn a_nonce_used_from_outside_stops_the_agent_then_a_restart_stakes_once() {
    let w = World::new(2, "");
    setup(&w);
    // A development key as the agent's (so that the test can sign with it too).
    let key: alloy::signers::local::PrivateKeySigner = DEV_KEY.parse().unwrap();
    let dev = key.address();
    let key_file = w.dir.path().join("dev.key");
    std::fs::write(&key_file, DEV_KEY).unwrap();
    w.rt().block_on(async {
        let g = IGrant::new(w.dep.addr("pool_manager"), w.wallet_provider(ANVIL_KEY0));
        let role = g.OPERATOR_ROLE().call().await.unwrap();
        g.grantRole(role, dev)
            .send()
            .await
            .unwrap()
            .get_receipt()
            .await
            .unwrap();
    });
    let flag = ["--dev-private-key-file", key_file.to_str().unwrap()];
    automine(&w, false);
    let log = w.dir.path().join("run.log");
    let mut child = spawn(&w, &log, &flag);
    let first = first_pending(&w, dev, &mut child, &log);
    let (ours, nonce, fee) = (first.hash, first.nonce, first.max_fee);
    // Someone else with the key sends another transaction with that nonce, and it is mined.
    w.rt().block_on(async {
        let p = w.wallet_provider(DEV_KEY);
        let tx = TransactionRequest::default()
            .with_from(dev)
            .with_to(dev)
            .with_value(U256::ZERO)
            .with_nonce(nonce)
            .with_gas_limit(21_000)
            .with_max_fee_per_gas(fee * 10)
            .with_max_priority_fee_per_gas(fee * 5);
        let _ = p.send_transaction(tx).await.unwrap();
    });
    mine(&w);
    let deadline = Instant::now() + Duration::from_secs(60);
    let exit = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "the agent did not stop: {}",
            log_of(&log)
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(exit.code(), Some(4), "{}", log_of(&log));
    let text = log_of(&log);
    assert!(
        text.contains(&format!(
            "nonce {nonce} of the agent's key {dev} was used by a transaction the agent did not send"
        )) && text.contains(&format!("{ours}")),
        "{text}"
    );
    assert!(receipt(&w, ours).is_none());
    assert!(w.deposit_events().is_empty());
    let st = status(&w);
    assert!(
        st["validators"]
            .as_array()
            .unwrap()
            .iter()
            .all(|v| v["status"] == "reverted"),
        "{st}"
    );
    // A restart (the operator has looked into it) stakes each validator once.
    automine(&w, true);
    ok(&w.agent(&[&flag[..], &["run", "--once"]].concat(), &[]));
    assert_chain_matches_bundle(&w, &w.bundle, 2);
}
