//! Deposit front-running (contracts/SECURITY.md finding 4): a third party deposits 1 ETH for one
//! of the bundle's keys with its own withdrawal credentials before the pool stakes it. The agent
//! must not stake that key (the pool's 32 ETH would top up the third party's validator), must
//! mark it refused for good, and must go on staking the others.

use std::time::Duration;

use alloy::primitives::{Address, Bytes, FixedBytes, U256};
use sha2::{Digest, Sha256};
use signer_agent::chain::IPoolManager;

use crate::daemon::{get, wait_for};
use crate::e2e::{ok, World};
use crate::fixture;

alloy::sol! {
    #[sol(rpc)]
    interface IDeposit {
        function deposit(bytes calldata pubkey, bytes calldata withdrawal_credentials, bytes calldata signature, bytes32 deposit_data_root) external payable;
    }
}

/// anvil's account 3 (well-known devnet key): the front-runner.
const ATTACKER_KEY: &str = "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6";

fn sha(parts: &[&[u8]]) -> [u8; 32] {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

/// `hash_tree_root(DepositData)`, as the deposit contract computes it.
fn deposit_data_root(pubkey: &[u8], wc: &[u8; 32], amount_gwei: u64, sig: &[u8]) -> [u8; 32] {
    let pubkey_root = sha(&[pubkey, &[0u8; 16]]);
    let sig_root = sha(&[&sha(&[&sig[..64]]), &sha(&[&sig[64..], &[0u8; 32]])]);
    sha(&[
        &sha(&[&pubkey_root, wc]),
        &sha(&[&amount_gwei.to_le_bytes(), &[0u8; 24], &sig_root]),
    ])
}

/// A third party deposits 1 ETH for `pubkey` with its own withdrawal credentials; returns the
/// depositing transaction. (The devnet deposit contract, like mainnet's, does not verify the BLS
/// signature; on a real chain the front-runner holds the key and signs it.)
fn front_run(w: &World, pubkey: &Bytes) -> alloy::primitives::B256 {
    let attacker = w.wallet_provider(ATTACKER_KEY);
    let attacker_addr: Address = ATTACKER_KEY
        .parse::<alloy::signers::local::PrivateKeySigner>()
        .unwrap()
        .address();
    let mut wc = [0u8; 32];
    wc[0] = 0x01;
    wc[12..].copy_from_slice(attacker_addr.as_slice());
    let sig = [0x42u8; 96];
    let root = deposit_data_root(pubkey, &wc, 1_000_000_000, &sig);
    w.rt().block_on(async {
        let dc = IDeposit::new(w.dep.addr("deposit_contract"), attacker);
        let r = dc
            .deposit(
                pubkey.clone(),
                Bytes::from(wc.to_vec()),
                Bytes::from(sig.to_vec()),
                FixedBytes::from(root),
            )
            .value(U256::from(10u128.pow(18)))
            .send()
            .await
            .unwrap()
            .get_receipt()
            .await
            .unwrap();
        assert!(r.status());
        r.transaction_hash
    })
}

#[test]
fn front_run_validator_is_refused_and_the_others_are_staked() {
    let w = World::new(3, "");
    w.approve(&w.bundle);
    ok(&w.agent(&["import", w.bundle.to_str().unwrap()], &[]));
    // The key with the highest owner nonce: the others' shares stay valid for the chain's
    // nonces once it is skipped.
    let status: serde_json::Value =
        serde_json::from_str(&ok(&w.agent(&["status", "--json"], &[]))).unwrap();
    let victim = status["validators"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["owner_nonce"] == 2)
        .unwrap()["pubkey"]
        .as_str()
        .unwrap()
        .to_string();
    let victim_bytes = Bytes::from(hex::decode(victim.trim_start_matches("0x")).unwrap());

    // The third party deposits 1 ETH for that key, with its own withdrawal credentials.
    let attack_tx = front_run(&w, &victim_bytes);
    assert_eq!(w.deposit_events().len(), 1);

    // Enough ETH for all three: the daemon stakes two and refuses the front-run one.
    w.user_deposit(3 * 32);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let log = w.dir.path().join("daemon.log");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_signer-agent"))
        .arg("--config")
        .arg(&w.config)
        .args(["--metrics-addr", &format!("127.0.0.1:{port}"), "run"])
        .env_remove("SIGNER_AGENT_PIN")
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let mut metrics = String::new();
    wait_for(
        "the front_run refusal and two confirmed validators on /metrics",
        Duration::from_secs(60),
        || {
            metrics = get(port, "/metrics").map(|(_, b)| b).unwrap_or_default();
            metrics.contains("signer_agent_refusals_total{rule=\"front_run\"} 1")
                && metrics.contains("signer_agent_validators{status=\"confirmed\"} 2")
                && metrics.contains("signer_agent_validators{status=\"refused\"} 1")
        },
    );
    let _ = child.kill();
    let _ = child.wait();
    let text = std::fs::read_to_string(&log).unwrap();
    let line = text
        .lines()
        .find(|l| l.contains("front_run") && l.contains("ERROR"))
        .unwrap_or_else(|| panic!("no front_run error in the log:\n{text}"));
    assert!(line.contains(&victim), "the error names the pubkey: {line}");
    assert!(
        line.contains(&format!("{attack_tx}")),
        "the error names the depositing transaction: {line}"
    );

    // `run --once` afterwards: nothing more is sent, the refused key is not retried.
    ok(&w.agent(&["run", "--once"], &[]));
    let events = w.deposit_events();
    assert_eq!(events.len(), 3, "the attacker's deposit and the pool's two");
    assert_eq!(
        events.iter().filter(|e| e.pubkey == victim_bytes).count(),
        1,
        "the pool never deposited for the front-run key"
    );
    assert_eq!(w.deposited_validators(), 2);
    w.rt().block_on(async {
        let pm = IPoolManager::new(w.dep.addr("pool_manager"), w.provider());
        for v in status["validators"].as_array().unwrap() {
            let pk = v["pubkey"].as_str().unwrap();
            let staked = pm
                .isStaked(Bytes::from(
                    hex::decode(pk.trim_start_matches("0x")).unwrap(),
                ))
                .call()
                .await
                .unwrap();
            assert_eq!(staked, pk != victim, "{pk} staked: {staked}");
        }
    });

    let status: serde_json::Value =
        serde_json::from_str(&ok(&w.agent(&["status", "--json"], &[]))).unwrap();
    for v in status["validators"].as_array().unwrap() {
        let want = if v["pubkey"] == victim.as_str() {
            "refused"
        } else {
            "confirmed"
        };
        assert_eq!(v["status"], want, "{status}");
    }
    let refusals = status["refusals"].as_array().unwrap();
    assert_eq!(refusals.len(), 1, "{status}");
    let note = refusals[0]["note"].as_str().unwrap();
    assert_eq!(refusals[0]["pubkey"], victim.as_str());
    assert!(note.starts_with("front_run:"), "{note}");
    assert!(note.contains(&format!("{attack_tx}")), "{note}");
    let human = ok(&w.agent(&["status"], &[]));
    assert!(human.contains("1 refused"), "{human}");
    assert!(
        human.contains(&format!("refused {victim}: front_run")),
        "{human}"
    );
}

/// The front-running scan keeps a cursor in the state store: the first stake reads the
/// `DepositEvent`s from the deploy block, each later one only the blocks after the cursor (and
/// the last `confirmations` + 64 again, against reorgs).
#[test]
fn a_second_stake_scans_from_the_cursor() {
    use alloy::providers::Provider;
    use signer_agent::config::{Config, Overrides};
    use signer_agent::store::Store;
    let w = World::new(2, "max_validators_per_tx = 1\n");
    w.approve(&w.bundle);
    ok(&w.agent(&["import", w.bundle.to_str().unwrap()], &[]));
    w.user_deposit(64);
    let cfg = Config::resolve(Some(&w.config), &Overrides::default()).unwrap();
    let deploy_block = cfg.contracts().unwrap().deploy_block;
    let depth = signer_agent::stake::rescan_depth(cfg.confirmations);
    let provider = w.provider();
    let mine = |n: u64| {
        w.rt().block_on(async {
            let _: serde_json::Value = provider
                .raw_request("anvil_mine".into(), (U256::from(n),))
                .await
                .unwrap();
        })
    };
    // Far enough from the deploy block that the rescan window does not reach it.
    mine(300);
    let store = Store::open_location(&cfg.state_location().unwrap()).unwrap();
    let (head, plan) = w.rt().block_on(async {
        let p = signer_agent::stake::prepare(&w.events(), &cfg, &store, None)
            .await
            .unwrap();
        (provider.get_block_number().await.unwrap(), p)
    });
    assert!(
        matches!(plan, signer_agent::stake::Prepared::Ready(_)),
        "{plan:?}"
    );
    let first = store
        .deposit_scan()
        .unwrap()
        .expect("a cursor after a scan");
    assert_eq!(first.scanned_from, deploy_block, "{first:?}");
    assert_eq!(first.last_block, head, "{first:?}");

    mine(5);
    // Two stakes of one validator each.
    ok(&w.agent(&["run", "--once"], &[]));
    assert_eq!(w.deposit_events().len(), 2);
    let last = store.deposit_scan().unwrap().unwrap();
    assert!(last.last_block > head + 5, "the cursor advanced: {last:?}");
    assert!(
        last.scanned_from > deploy_block && last.scanned_from > head + 1 - depth,
        "the last scan started at the cursor, not the deploy block: {last:?} (deploy block {deploy_block}, first head {head})"
    );
}

fn status_json(w: &World) -> serde_json::Value {
    serde_json::from_str(&ok(&w.agent(&["status", "--json"], &[]))).unwrap()
}

/// The pubkey of `status --json` with this owner nonce in bundle `bundle` (`0x` root).
fn key_of(status: &serde_json::Value, bundle: &str, nonce: u64) -> String {
    status["validators"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["owner_nonce"] == nonce && v["bundle_id"] == bundle)
        .unwrap_or_else(|| panic!("no validator with owner nonce {nonce} in {bundle}: {status}"))
        ["pubkey"]
        .as_str()
        .unwrap()
        .to_string()
}

fn status_of(status: &serde_json::Value, pubkey: &str) -> (String, String) {
    let v = status["validators"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["pubkey"] == pubkey)
        .unwrap();
    (
        v["status"].as_str().unwrap().to_string(),
        v["bundle_id"].as_str().unwrap().to_string(),
    )
}

/// docs/runbook.md "After a front-run": the first key (owner nonce 0) is front-run, so the later
/// keys carry nonces the SSV network will not reach; their shares are re-created for nonces 0 and
/// 1 (`ceremony recover --recreate`), governance approves the new root, and the new bundle takes
/// the keys over at import. The front-run key stays refused; a bundle re-issuing a staked key is
/// refused.
#[test]
fn a_recreated_bundle_takes_over_the_keys_after_a_front_run() {
    let w = World::new(3, "");
    w.approve(&w.bundle);
    ok(&w.agent(&["import", w.bundle.to_str().unwrap()], &[]));
    let old_root = format!("0x{}", hex::encode(fixture::root_of(&w.bundle)));
    let status = status_json(&w);
    let keys: Vec<String> = (0..3).map(|n| key_of(&status, &old_root, n)).collect();
    let bytes = |pk: &str| Bytes::from(hex::decode(pk.trim_start_matches("0x")).unwrap());
    front_run(&w, &bytes(&keys[0]));
    w.user_deposit(3 * 32);

    // Key 0 is refused; keys 1 and 2 stop on their owner nonces.
    let out = w.agent(&["run", "--once"], &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(5), "{err}");
    assert!(err.contains("nonce mismatch"), "{err}");
    let status = status_json(&w);
    assert_eq!(status_of(&status, &keys[0]).0, "refused");
    assert_eq!(status_of(&status, &keys[1]).0, "imported");
    assert_eq!(status_of(&status, &keys[2]).0, "imported");
    assert_eq!(w.deposited_validators(), 0);

    // The room re-creates keys 1 and 2 for owner nonces 0 and 1.
    let pool = w.dep.addr("pool_manager").to_checksum(None);
    let new = w.ceremony.recreate(
        w.dir.path(),
        "recreated",
        &pool,
        &w.operators_file,
        &w.bundle,
        2,
        1,
        0,
    );
    let new_root = format!("0x{}", hex::encode(fixture::root_of(&new)));
    assert_ne!(new_root, old_root);
    // Same keys and deposit data, byte for byte.
    let deposits = |b: &std::path::Path| -> Vec<serde_json::Value> {
        serde_json::from_str(&std::fs::read_to_string(b.join("deposit_data.json")).unwrap())
            .unwrap()
    };
    assert_eq!(deposits(&new)[..], deposits(&w.bundle)[1..]);
    // Not approved yet: refused.
    let out = w.agent(&["import", new.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(5));
    w.approve(&new);
    let out = ok(&w.agent(&["import", new.to_str().unwrap()], &[]));
    assert!(out.contains("imported 2 new validators"), "{out}");
    let status = status_json(&w);
    for (n, pk) in keys[1..].iter().enumerate() {
        assert_eq!(key_of(&status, &new_root, n as u64), *pk, "{status}");
    }
    {
        use signer_agent::config::{Config, Overrides};
        let cfg = Config::resolve(Some(&w.config), &Overrides::default()).unwrap();
        let store =
            signer_agent::store::Store::open_location(&cfg.state_location().unwrap()).unwrap();
        let superseded: Vec<_> = store
            .history()
            .unwrap()
            .into_iter()
            .filter(|r| r.status == "superseded")
            .collect();
        assert_eq!(superseded.len(), 2, "{superseded:?}");
        for (r, pk) in superseded.iter().zip(&keys[1..]) {
            assert_eq!(&r.pubkey, pk);
            let note = r.note.as_deref().unwrap();
            assert!(
                note.starts_with(&format!("superseded by bundle {new_root}"))
                    && note.contains(&old_root),
                "{note}"
            );
        }
    }

    // The daemon stakes keys 1 and 2 from the new bundle; key 0 stays refused.
    ok(&w.agent(&["run", "--once"], &[]));
    let status = status_json(&w);
    assert_eq!(
        status_of(&status, &keys[0]),
        ("refused".into(), old_root.clone())
    );
    for pk in &keys[1..] {
        assert_eq!(
            status_of(&status, pk),
            ("confirmed".into(), new_root.clone())
        );
    }
    assert_eq!(w.deposited_validators(), 2);
    let events = w.deposit_events();
    assert_eq!(events.len(), 3, "the attacker's deposit and the pool's two");
    let ks: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(new.join("keyshares.json")).unwrap())
            .unwrap();
    let added = w.validator_added();
    assert_eq!(added.len(), 2);
    for a in &added {
        let pk = format!("0x{}", hex::encode(&a.publicKey));
        assert!(keys[1..].contains(&pk), "{pk}");
        let item = ks["shares"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["payload"]["publicKey"] == pk.as_str())
            .unwrap();
        assert_eq!(
            format!("0x{}", hex::encode(&a.shares)),
            item["payload"]["sharesData"].as_str().unwrap(),
            "the re-created shares"
        );
    }
    w.rt().block_on(async {
        let pm = IPoolManager::new(w.dep.addr("pool_manager"), w.provider());
        for pk in &keys {
            let staked = pm.isStaked(bytes(pk)).call().await.unwrap();
            assert_eq!(staked, *pk != keys[0], "{pk}");
        }
    });

    // A bundle re-issuing a staked key is refused, naming it.
    let again = w.ceremony.recreate(
        w.dir.path(),
        "again",
        &pool,
        &w.operators_file,
        &w.bundle,
        1,
        1,
        2,
    );
    w.approve(&again);
    let out = w.agent(&["import", again.to_str().unwrap()], &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(5), "{err}");
    assert!(
        err.contains(&keys[1]) && err.contains("already staked (confirmed)"),
        "{err}"
    );
    let status = status_json(&w);
    assert_eq!(status_of(&status, &keys[1]), ("confirmed".into(), new_root));
}
