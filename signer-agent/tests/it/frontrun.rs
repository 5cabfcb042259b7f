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

    // The third party deposits 1 ETH for that key, with its own withdrawal credentials. (The
    // devnet deposit contract, like mainnet's, does not verify the BLS signature; on a real
    // chain the front-runner holds the key and signs it.)
    let attacker = w.wallet_provider(ATTACKER_KEY);
    let attacker_addr: Address = ATTACKER_KEY
        .parse::<alloy::signers::local::PrivateKeySigner>()
        .unwrap()
        .address();
    let mut wc = [0u8; 32];
    wc[0] = 0x01;
    wc[12..].copy_from_slice(attacker_addr.as_slice());
    let sig = [0x42u8; 96];
    let root = deposit_data_root(&victim_bytes, &wc, 1_000_000_000, &sig);
    let attack_tx = w.rt().block_on(async {
        let dc = IDeposit::new(w.dep.addr("deposit_contract"), attacker);
        let r = dc
            .deposit(
                victim_bytes.clone(),
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
    });
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
    let store = Store::open(cfg.state_dir().unwrap()).unwrap();
    let (head, plan) = w.rt().block_on(async {
        let p = signer_agent::stake::prepare(&provider, &cfg, &store, None)
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
