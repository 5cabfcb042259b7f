//! The transaction policy on anvil with the deployed contracts, real ceremony bundles and the
//! agent's SoftHSM key: one refusing test per rule, each checking that the HSM was
//! not asked to sign (a counting wrapper around the PKCS#11 backend) and that the rule's counter
//! moved; a transaction that would revert is neither signed nor sent; an operator removed after
//! the ceremony stops staking for its cluster; a stake over the daily validator cap is refused
//! through the binary with nothing deposited.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use alloy::consensus::TxEip1559;
use alloy::network::{EthereumWallet, TransactionBuilder, TxSigner};
use alloy::primitives::{Address, Bytes, TxKind, B256, U256};
use alloy::providers::Provider;
use alloy::rpc::types::TransactionRequest;
use alloy::sol_types::SolCall;
use signer_agent::chain::{IOracle, IPoolManager};
use signer_agent::config::{Config, Overrides};
use signer_agent::policy::{Policy, PolicySigner};
use signer_agent::signer::{pkcs11::Pkcs11Backend, HsmSigner, PrehashBackend};
use signer_agent::stake::Prepared;
use signer_agent::store::Store;

use crate::common::{IRegister, OPERATOR_OWNER_KEY};
use crate::e2e::{ok, World};

/// The PKCS#11 backend, counting the signatures it is asked for.
struct Counting {
    inner: Pkcs11Backend,
    signs: Arc<AtomicUsize>,
}

impl PrehashBackend for Counting {
    fn describe(&self) -> String {
        self.inner.describe()
    }
    fn public_key(&self) -> signer_agent::Result<k256::ecdsa::VerifyingKey> {
        self.inner.public_key()
    }
    fn sign_prehash(&self, digest: &[u8; 32]) -> signer_agent::Result<[u8; 64]> {
        self.signs.fetch_add(1, Ordering::SeqCst);
        self.inner.sign_prehash(digest)
    }
}

/// A world with `n` validators imported and ETH for them, and the agent's policy signer over
/// the SoftHSM key (policy from the config, state store and simulation as the agent has them).
struct Ctx {
    w: World,
    cfg: Config,
    signer: PolicySigner<HsmSigner>,
    signs: Arc<AtomicUsize>,
    rt: tokio::runtime::Runtime,
}

impl Ctx {
    fn new(n: u32, extra_config: &str) -> Ctx {
        let w = World::new(n, extra_config);
        w.approve(&w.bundle);
        ok(&w.agent(&["import", w.bundle.to_str().unwrap()], &[]));
        w.user_deposit(32 * n as u64);
        let cfg = Config::resolve(Some(&w.config), &Overrides::default()).unwrap();
        let signs = Arc::new(AtomicUsize::new(0));
        let pin = w.dir.path().join("pin");
        let backend = Pkcs11Backend::open(
            w._tok.module_path(),
            "agent",
            "agent-tx",
            signer_agent::config::read_pin(Some(&pin)).unwrap(),
        )
        .unwrap();
        let mut hsm = HsmSigner::open(Arc::new(Counting {
            inner: backend,
            signs: signs.clone(),
        }))
        .unwrap();
        alloy::signers::Signer::set_chain_id(&mut hsm, Some(cfg.chain_id));
        signs.store(0, Ordering::SeqCst); // the open self-check signed once
        let signer = PolicySigner::new(hsm, Policy::from_config(&cfg).unwrap())
            .with_store(Store::open_location(&cfg.state_location().unwrap()).unwrap())
            .with_simulator(signer_agent::chain::read_provider(&cfg).unwrap());
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        Ctx {
            w,
            cfg,
            signer,
            signs,
            rt,
        }
    }

    fn pool(&self) -> Address {
        self.w.dep.addr("pool_manager")
    }

    /// The stake call the agent would send now.
    fn stake_call(&self) -> IPoolManager::stakeCall {
        let store = Store::open_location(&self.cfg.state_location().unwrap()).unwrap();
        let p = self.rt.block_on(async {
            signer_agent::stake::prepare(&self.w.events(), &self.cfg, &store, Some(self.w.agent))
                .await
                .unwrap()
        });
        match p {
            Prepared::Ready(plan) => plan.call().unwrap().clone(),
            other => panic!("nothing to stake: {other:?}"),
        }
    }

    /// A transaction as the agent would build it (fees within the default caps).
    fn tx(&self, to: Address, input: Vec<u8>) -> TxEip1559 {
        TxEip1559 {
            chain_id: self.cfg.chain_id,
            nonce: 0,
            gas_limit: 20_000_000,
            max_fee_per_gas: 20_000_000_000,
            max_priority_fee_per_gas: 1_000_000_000,
            to: TxKind::Call(to),
            value: U256::ZERO,
            access_list: Default::default(),
            input: input.into(),
        }
    }

    fn stake_tx(&self, call: &IPoolManager::stakeCall) -> TxEip1559 {
        self.tx(self.pool(), call.abi_encode())
    }

    fn sign(&self, mut t: TxEip1559) -> Result<(), String> {
        self.rt
            .block_on(self.signer.sign_transaction(&mut t))
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    fn count(&self, rule: &str) -> u64 {
        self.signer
            .refusals()
            .lock()
            .unwrap()
            .get(rule)
            .copied()
            .unwrap_or(0)
    }

    /// Refused under `rule`, with the HSM not asked and the rule's counter moved by one.
    fn refused(&self, t: TxEip1559, rule: &str) -> String {
        let before = self.count(rule);
        let asked = self.signs.load(Ordering::SeqCst);
        let e = self.sign(t).unwrap_err();
        assert!(e.contains(&format!("policy refused ({rule})")), "{e}");
        assert_eq!(
            self.signs.load(Ordering::SeqCst),
            asked,
            "the HSM was asked to sign: {e}"
        );
        assert_eq!(self.count(rule), before + 1, "{rule}: {e}");
        e
    }
}

#[test]
fn wrong_chain_is_refused() {
    let c = Ctx::new(1, "");
    let mut t = c.stake_tx(&c.stake_call());
    t.chain_id = 1;
    c.refused(t, "chain_id");
}

#[test]
fn unlisted_target_is_refused() {
    let c = Ctx::new(1, "");
    // The deposit contract itself: the agent only ever calls the PoolManager.
    let t = c.tx(
        c.w.dep.addr("deposit_contract"),
        c.stake_call().abi_encode(),
    );
    c.refused(t, "target");
}

#[test]
fn unlisted_selector_is_refused() {
    let c = Ctx::new(1, "");
    // PoolManager.deposit() is a real function of the allowed target, but not on the list.
    let t = c.tx(c.pool(), IPoolManager::depositCall {}.abi_encode());
    c.refused(t, "selector");
}

#[test]
fn eth_transfer_is_refused() {
    let c = Ctx::new(1, "");
    let mut t = c.tx(c.w.user(), vec![]);
    t.value = U256::from(10u64.pow(18));
    c.refused(t, "eth_transfer");
}

#[test]
fn contract_creation_is_refused() {
    let c = Ctx::new(1, "");
    let mut t = c.tx(c.pool(), vec![0x60, 0x00, 0x60, 0x00, 0xf3]);
    t.to = TxKind::Create;
    c.refused(t, "contract_creation");
}

#[test]
fn value_above_the_cap_is_refused() {
    let c = Ctx::new(1, "");
    let mut t = c.stake_tx(&c.stake_call());
    t.value = U256::from(1u64);
    c.refused(t, "value_cap");
}

#[test]
fn value_over_the_day_is_refused() {
    // 1 ETH per transaction, 1.5 ETH a day: the second 1 ETH transaction breaks the day's cap.
    let c = Ctx::new(
        1,
        "[policy]\nmax_value_per_tx_gwei = 1000000000\nmax_value_per_day_gwei = 1500000000\n\
         [[policy.allow]]\ntarget = \"pool_manager\"\nfunctions = [\"deposit()\"]\n",
    );
    let mut t = c.tx(c.pool(), IPoolManager::depositCall {}.abi_encode());
    t.value = U256::from(10u64.pow(18));
    c.sign(t.clone()).unwrap();
    assert_eq!(c.signs.load(Ordering::SeqCst), 1);
    // The next transaction (the next nonce) adds to the day.
    t.nonce = 1;
    c.refused(t, "value_day_cap");
}

#[test]
fn fees_above_the_caps_are_refused() {
    let c = Ctx::new(
        1,
        "[policy]\nmax_fee_per_gas_gwei = 50\nmax_priority_fee_per_gas_gwei = 2\n",
    );
    let call = c.stake_call();
    let mut t = c.stake_tx(&call);
    t.max_fee_per_gas = 50_000_000_001;
    c.refused(t, "fee_cap");
    let mut t = c.stake_tx(&call);
    t.max_priority_fee_per_gas = 2_000_000_001;
    c.refused(t, "priority_fee_cap");
}

#[test]
fn validators_over_the_day_are_refused() {
    let c = Ctx::new(3, "[policy]\nmax_validators_per_day = 2\n");
    // The agent plans within the cap (2 of the 3); signing it uses up the day.
    let call = c.stake_call();
    assert_eq!(call.validators.len(), 2);
    c.sign(c.stake_tx(&call)).unwrap();
    assert_eq!(c.signs.load(Ordering::SeqCst), 1);
    // A replacement of it (the same nonce, higher fees) is the same stake: it is signed.
    let mut bumped = c.stake_tx(&call);
    bumped.max_fee_per_gas += bumped.max_fee_per_gas / 5;
    bumped.max_priority_fee_per_gas += bumped.max_priority_fee_per_gas / 5;
    c.sign(bumped).unwrap();
    assert_eq!(c.signs.load(Ordering::SeqCst), 2);
    // Anything more today (a next nonce) is refused, without asking the HSM.
    let mut next = c.stake_tx(&call);
    next.nonce = 1;
    let e = c.refused(next, "validator_cap");
    assert!(e.contains("2 validators on top of 2 staked today"), "{e}");
}

#[test]
fn unknown_validator_is_refused() {
    let c = Ctx::new(1, "");
    // A validator of a real, approved bundle the agent never imported, under the imported root.
    let other = c.w.ceremony_bundle("other", 1, 20, 1);
    c.w.approve(&other);
    let v = signer_agent::bundle::load_verified(&other, &c.cfg.trusted_identities).unwrap();
    let mut call = c.stake_call();
    call.validators[0].pubkey = Bytes::from(v.validators[0].pubkey.clone());
    let e = c.refused(c.stake_tx(&call), "unknown_validator");
    assert!(
        e.contains("not imported from a verified, trusted bundle"),
        "{e}"
    );
}

#[test]
fn a_refused_front_run_validator_is_refused() {
    let c = Ctx::new(2, "");
    // The agent built a stake of both keys; then one of them was marked refused (front-run),
    // e.g. by another agent process. Defence in depth: the policy itself refuses the stake.
    let call = c.stake_call();
    assert_eq!(call.validators.len(), 2);
    let victim = format!("0x{}", hex::encode(&call.validators[1].pubkey));
    Store::open_location(&c.cfg.state_location().unwrap())
        .unwrap()
        .set_status(
            std::slice::from_ref(&victim),
            signer_agent::store::Status::Refused,
            None,
            None,
            Some("front_run: test"),
        )
        .unwrap();
    let e = c.refused(c.stake_tx(&call), "front_run");
    assert!(e.contains(&victim), "{e}");
    assert_eq!(c.signs.load(Ordering::SeqCst), 0);
    // A stake of the other key alone is still signed.
    let mut one = call.clone();
    one.validators.truncate(1);
    c.sign(c.stake_tx(&one)).unwrap();
    assert_eq!(c.signs.load(Ordering::SeqCst), 1);
}

#[test]
fn foreign_withdrawal_address_is_refused() {
    let c = Ctx::new(1, "");
    // A real bundle whose withdrawal address is not the PoolManager, put in the state store
    // behind the agent's back (`import` itself refuses it).
    let foreign = c.w.ceremony.run(
        c.w.dir.path(),
        "foreign",
        &c.w.user().to_checksum(None),
        &c.w.operators_file,
        1,
        30,
        1,
    );
    let e = String::from_utf8_lossy(
        &c.w.agent(&["import", foreign.to_str().unwrap()], &[])
            .stderr,
    )
    .into_owned();
    assert!(e.contains("is not the PoolManager"), "{e}");
    let v = signer_agent::bundle::load_verified(&foreign, &c.cfg.trusted_identities).unwrap();
    Store::open_location(&c.cfg.state_location().unwrap())
        .unwrap()
        .import(&v)
        .unwrap();
    let mut call = c.stake_call();
    call.batchRoot = B256::from(v.merkle_root);
    call.validators[0].pubkey = Bytes::from(v.validators[0].pubkey.clone());
    let e = c.refused(c.stake_tx(&call), "withdrawal_address");
    assert!(e.contains("foreign withdrawal address"), "{e}");
    // A root the agent never imported at all.
    let mut call = c.stake_call();
    call.batchRoot = B256::repeat_byte(7);
    c.refused(c.stake_tx(&call), "withdrawal_address");
}

#[test]
fn a_transaction_that_would_revert_is_neither_signed_nor_sent() {
    let c = Ctx::new(1, "");
    let provider = c.w.provider();
    let nonce = |p: &alloy::providers::DynProvider| {
        c.rt.block_on(async { p.get_transaction_count(c.w.agent).pending().await })
            .unwrap()
    };
    let before = nonce(&provider);
    // A stale deposit root: PoolManager.stake reverts with DepositRootChanged.
    let mut call = c.stake_call();
    call.expectedDepositRoot = B256::repeat_byte(1);
    let e = c.refused(c.stake_tx(&call), "simulation_revert");
    assert!(e.contains("DepositRootChanged"), "{e}");
    // A report for a frame that is not the current one: the Oracle reverts.
    let report = IOracle::submitReportCall {
        frameId: U256::from(999_999u64),
        beaconBalance: U256::ZERO,
        beaconValidators: U256::ZERO,
        exitedValidators: U256::ZERO,
    };
    c.refused(
        c.tx(c.w.dep.addr("oracle"), report.abi_encode()),
        "simulation_revert",
    );
    // Through a wallet, as the agent sends: building fails, nothing reaches the node.
    let wallet = EthereumWallet::from(c.signer.clone());
    let req = TransactionRequest::default()
        .with_from(c.w.agent)
        .with_to(c.pool())
        .with_input(call.abi_encode())
        .with_nonce(before)
        .with_chain_id(c.cfg.chain_id)
        .with_gas_limit(20_000_000)
        .with_max_fee_per_gas(20_000_000_000)
        .with_max_priority_fee_per_gas(1_000_000_000);
    let r = c.rt.block_on(alloy::network::NetworkTransactionBuilder::<
        alloy::network::Ethereum,
    >::build(req, &wallet));
    assert!(r.is_err(), "a reverting transaction was signed");
    assert_eq!(c.signs.load(Ordering::SeqCst), 0);
    assert_eq!(nonce(&provider), before, "something was sent");
    assert_eq!(c.w.deposit_events().len(), 0);
    // The honest stake goes through the same signer.
    c.sign(c.stake_tx(&c.stake_call())).unwrap();
    assert_eq!(c.signs.load(Ordering::SeqCst), 1);
}

#[test]
fn the_agent_stakes_up_to_the_daily_validator_cap_then_waits() {
    let w = World::new(3, "[policy]\nmax_validators_per_day = 2\n");
    w.approve(&w.bundle);
    ok(&w.agent(&["import", w.bundle.to_str().unwrap()], &[]));
    w.user_deposit(96);
    let o = w.agent(&["run", "--once"], &[]);
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{e}");
    assert!(e.contains("daily validator cap reached"), "{e}");
    // The start-up attestation is in the log.
    assert!(
        e.contains("transaction key attested") && e.contains("never_extractable"),
        "{e}"
    );
    assert_eq!(w.deposit_events().len(), 2);
    // A restart does not reset the day's count.
    let o = w.agent(&["run", "--once"], &[]);
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(
        o.status.success() && e.contains("daily validator cap reached"),
        "{e}"
    );
    assert_eq!(w.deposit_events().len(), 2);
    let show = ok(&w.agent(&["policy", "show"], &[]));
    assert!(show.contains("2 staked per day"), "{show}");
    assert!(show.contains("PoolManager.stake"), "{show}");
}

#[test]
fn an_operator_removed_after_the_ceremony_stops_staking_for_its_cluster() {
    let w = World::new(2, "");
    w.approve(&w.bundle);
    ok(&w.agent(&["import", w.bundle.to_str().unwrap()], &[]));
    w.user_deposit(64);
    let removed = w.ops[1].0;
    w.rt().block_on(async {
        let p = w.wallet_provider(OPERATOR_OWNER_KEY);
        let r = IRegister::new(w.dep.addr("ssv_network"), p)
            .removeOperator(removed)
            .send()
            .await
            .unwrap()
            .get_receipt()
            .await
            .unwrap();
        assert!(r.status());
    });
    let o = w.agent(&["run", "--once"], &[]);
    let e = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(5), "{e}");
    assert!(
        e.contains(&format!("operator {removed} of cluster"))
            && e.contains("was removed from the SSV network")
            && e.contains("staking for this cluster stops"),
        "{e}"
    );
    assert_eq!(w.deposit_events().len(), 0);
    let out = String::from_utf8_lossy(&w.agent(&["plan"], &[]).stderr).into_owned();
    assert!(out.contains("staking for this cluster stops"), "{out}");
}

#[test]
fn an_imported_transaction_key_is_refused_at_start_up() {
    use kc_hsm::testing::{SoftHsmToken, TEST_USER_PIN};
    let tok = SoftHsmToken::new("imported", TEST_USER_PIN);
    let dir = tempfile::tempdir().unwrap();
    // A secp256k1 key made outside the token (so never local, not always sensitive) and
    // imported into it with SoftHSM's own tool.
    let pem = dir.path().join("key.pem");
    let gen = std::process::Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:secp256k1",
            "-out",
        ])
        .arg(&pem)
        .output()
        .expect("openssl is needed for this test (make tools installs it)");
    assert!(
        gen.status.success(),
        "{}",
        String::from_utf8_lossy(&gen.stderr)
    );
    let imp = std::process::Command::new("softhsm2-util")
        .env("SOFTHSM2_CONF", tok.conf_path())
        .args(["--import"])
        .arg(&pem)
        .args([
            "--token",
            "imported",
            "--label",
            "agent-tx",
            "--id",
            "0a",
            "--pin",
            TEST_USER_PIN,
        ])
        .output()
        .expect("softhsm2-util is needed for this test (make tools installs it)");
    assert!(
        imp.status.success(),
        "{}{}",
        String::from_utf8_lossy(&imp.stdout),
        String::from_utf8_lossy(&imp.stderr)
    );
    let pin = dir.path().join("pin");
    std::fs::write(&pin, TEST_USER_PIN).unwrap();
    let config = dir.path().join("agent.toml");
    std::fs::write(
        &config,
        format!(
            "rpc_url = \"http://127.0.0.1:9\"\nchain_id = 31337\n[signer]\nmodule = \"{}\"\n\
             token_label = \"imported\"\nkey_label = \"agent-tx\"\npin_file = \"pin\"\n",
            tok.module_path().display()
        ),
    )
    .unwrap();
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_signer-agent"))
        .arg("--config")
        .arg(&config)
        .args(["key", "show"])
        .env("SOFTHSM2_CONF", tok.conf_path())
        .env_remove("SIGNER_AGENT_PIN")
        .output()
        .unwrap();
    let e = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(3), "{e}");
    assert!(e.contains("refused for transaction use"), "{e}");
    assert!(
        e.contains("CKA_LOCAL"),
        "the refusal names the attribute: {e}"
    );
}

#[test]
fn the_daemon_exports_policy_refusals_on_metrics() {
    use crate::daemon::{get, wait_for};
    use std::time::Duration;
    // An allow-list without PoolManager.stake: every stake the daemon plans is refused.
    let w = World::new(
        1,
        "[[policy.allow]]\ntarget = \"oracle\"\nfunctions = [\"submitReport(uint256,uint256,uint256,uint256)\"]\n",
    );
    w.approve(&w.bundle);
    ok(&w.agent(&["import", w.bundle.to_str().unwrap()], &[]));
    w.user_deposit(32);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_signer-agent"))
        .arg("--config")
        .arg(&w.config)
        .args(["--metrics-addr", &format!("127.0.0.1:{port}"), "run"])
        .env_remove("SIGNER_AGENT_PIN")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut metrics = String::new();
    wait_for(
        "the target refusal on /metrics",
        Duration::from_secs(60),
        || {
            metrics = get(port, "/metrics").map(|(_, b)| b).unwrap_or_default();
            metrics.contains("signer_agent_refusals_total{rule=\"target\"}")
        },
    );
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(w.deposit_events().len(), 0, "{metrics}");
}

#[test]
fn a_stopped_bundle_does_not_hold_up_the_next_one() {
    // Bundle 1 (cluster A) and bundle 2 (cluster B, sharing three operators with A), both signed
    // for the PoolManager's current SSV nonce. An operator only in A is removed: bundle 1 stops,
    // and the planner stakes bundle 2 instead of waiting behind it.
    let mut w = World::new(1, "");
    let extra = crate::fixture::operator_keys(5).pop().unwrap();
    let new_id =
        crate::common::register_operators(&w.anvil, w.dep.addr("ssv_network"), &[extra])[0];
    let removed = w.ops[1].0;
    let ids_b: Vec<u64> = w
        .ops
        .iter()
        .map(|o| o.0)
        .filter(|i| *i != removed)
        .chain([new_id])
        .collect();
    let ops_b = w.dir.path().join("operators-b.json");
    let list = ids_b
        .iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(",");
    ok(&w.agent(
        &[
            "operators",
            "export",
            "--ids",
            &list,
            "--out",
            ops_b.to_str().unwrap(),
        ],
        &[],
    ));
    let pool = w.dep.addr("pool_manager").to_checksum(None);
    let second = w
        .ceremony
        .run(w.dir.path(), "second", &pool, &ops_b, 1, 10, 0);
    w.approve(&w.bundle);
    let ops_a = std::mem::replace(
        &mut w.ops,
        ids_b.iter().map(|i| (*i, String::new())).collect(),
    );
    w.approve(&second);
    w.ops = ops_a;
    ok(&w.agent(&["import", w.bundle.to_str().unwrap()], &[]));
    ok(&w.agent(&["import", second.to_str().unwrap()], &[]));
    w.rt().block_on(async {
        let p = w.wallet_provider(OPERATOR_OWNER_KEY);
        let r = IRegister::new(w.dep.addr("ssv_network"), p)
            .removeOperator(removed)
            .send()
            .await
            .unwrap()
            .get_receipt()
            .await
            .unwrap();
        assert!(r.status());
    });
    w.user_deposit(64);
    let o = w.agent(&["run", "--once"], &[]);
    let e = String::from_utf8_lossy(&o.stderr);
    // Bundle 2 was staked; bundle 1 stays stopped (the run ends on its refusal).
    assert_eq!(w.deposit_events().len(), 1, "{e}");
    assert!(
        e.contains("planning the next pending bundle")
            && e.contains(&format!("operator {removed} of cluster"))
            && e.contains("staking for this cluster stops"),
        "{e}"
    );
    let v2 = signer_agent::bundle::load_verified(
        &second,
        &Config::resolve(Some(&w.config), &Overrides::default())
            .unwrap()
            .trusted_identities,
    )
    .unwrap();
    assert_eq!(
        w.deposit_events()[0].pubkey,
        Bytes::from(v2.validators[0].pubkey.clone())
    );
    let status: serde_json::Value =
        serde_json::from_str(&ok(&w.agent(&["status", "--json"], &[]))).unwrap();
    let confirmed: Vec<&serde_json::Value> = status["validators"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| v["status"] == "confirmed")
        .collect();
    assert_eq!(confirmed.len(), 1, "{status}");
}

#[test]
fn eth_for_ssv_fees_above_the_caps_is_refused() {
    // 0.001 ETH per transaction, 0.0015 ETH per day for SSV cluster fees.
    let c = Ctx::new(
        1,
        "fee_margin_blocks = 0\n[policy]\nmax_ssv_fee_per_tx_gwei = 1000000\nmax_ssv_fee_per_day_gwei = 1500000\n",
    );
    let ids: Vec<u64> = c.w.ops.iter().map(|o| o.0).collect();
    let top_up = |wei: u64| IPoolManager::depositClusterETHCall {
        operatorIds: ids.clone(),
        amount: U256::from(wei),
        cluster: signer_agent::ssv::new_cluster(),
    };
    // stake's clusterFee, a top-up and a reactivation all count
    // the agent's own stake call (0.00094 ETH for fees), with the fee raised to 0.002 ETH
    let mut stake = c.stake_call();
    assert_eq!(stake.clusterFee, U256::from(940_000_000_000_000u64));
    stake.clusterFee = U256::from(2_000_000_000_000_000u64);
    let e = c.refused(
        c.tx(c.pool(), top_up(2_000_000_000_000_000).abi_encode()),
        "ssv_fee_cap",
    );
    assert!(
        e.contains("exceeds the cap of 1000000000000000 wei per transaction"),
        "{e}"
    );
    let react = IPoolManager::reactivateClusterCall {
        operatorIds: ids.clone(),
        amount: U256::from(1_000_000_000_000_001u64),
        cluster: signer_agent::ssv::new_cluster(),
    };
    c.refused(c.tx(c.pool(), react.abi_encode()), "ssv_fee_cap");
    c.refused(c.stake_tx(&stake), "ssv_fee_cap");
    // within the per-transaction cap but over the day's: 0.001 ETH signed today, 0.0006 more
    let store = Store::open_location(&c.cfg.state_location().unwrap()).unwrap();
    store
        .record_signed(&signer_agent::store::LedgerEntry {
            day: signer_agent::policy::today(),
            sighash: "0x01".into(),
            target: format!("{}", c.pool()),
            selector: "0x00000000".into(),
            value_wei: "0".into(),
            validators: 0,
            ssv_fee_wei: "1000000000000000".into(),
            nonce: None,
        })
        .unwrap();
    let e = c.refused(
        c.tx(c.pool(), top_up(600_000_000_000_000).abi_encode()),
        "ssv_fee_day_cap",
    );
    assert!(
        e.contains("on top of 1000000000000000 wei signed today"),
        "{e}"
    );
}
