//! End to end on anvil with the deployed contracts and a SoftHSM-held agent key: a real
//! ceremony bundle (made in process by the ceremony library) →
//! import → users deposit → `run` stakes → the chain shows exactly the bundle's deposits and
//! shares; crash safety; refusals; operators export.

use std::path::{Path, PathBuf};
use std::process::Output;

use alloy::network::EthereumWallet;
use alloy::primitives::{keccak256, Address, Bytes, B256, U256};
use alloy::providers::{DynProvider, Provider, ProviderBuilder};
use alloy::rpc::types::Filter;
use alloy::signers::local::PrivateKeySigner;
use alloy::sol_types::SolEvent;
use kc_hsm::testing::{SoftHsmToken, TEST_USER_PIN};
use signer_agent::chain::{IDepositContract, IPoolManager, ISSVNetwork};

use crate::common::{deploy_in_mode, Anvil, Deployment, ANVIL_KEY0};
use crate::fixture;

alloy::sol! {
    #[sol(rpc)]
    interface IGov {
        function approveBatch(bytes32 root, uint8 withdrawalType, uint64[] calldata operatorIds) external;
    }
}

/// What [`World::user_deposit`] adds for the SSV cluster's ETH fees: 0.05 ETH.
pub const FEE_HEADROOM_WEI: u128 = 50_000_000_000_000_000;

/// A user's key (test only; funded with anvil_setBalance).
pub const USER_KEY: &str = "0x59c6995e998f97a5a0044966f0945389dc9c86dae88c7a8412f6603b6b78690d";

#[allow(dead_code)]
pub struct World {
    pub anvil: Anvil,
    pub _tok: SoftHsmToken,
    /// The ceremony's token, seal and identity keys (real bundles are made with it).
    pub ceremony: fixture::CeremonyHsm,
    pub dir: tempfile::TempDir,
    pub dep: Deployment,
    pub agent: Address,
    pub config: PathBuf,
    /// The first bundle: `n` validators from index 0, owner nonces from 0.
    pub bundle: PathBuf,
    /// `signer-agent operators export` of the deployed operators (pinned provenance).
    pub operators_file: PathBuf,
    pub ops: Vec<(u64, String)>,
}

impl World {
    /// anvil + SoftHSM agent key + deployed contracts + a real ceremony bundle of `n`
    /// validators + config.
    pub fn new(n: u32, extra_config: &str) -> World {
        World::with_members(n, extra_config, &[], None)
    }

    /// As [`World::new`], with extra oracle members (the agent is always one) and quorum.
    pub fn with_members(
        n: u32,
        extra_config: &str,
        extra_members: &[Address],
        quorum: Option<u64>,
    ) -> World {
        World::build(n, extra_config, extra_members, quorum, "v2")
    }

    /// As [`World::new`] on an SSV stand-in deployed as a v1 network (`legacy` mode).
    pub fn legacy(n: u32, extra_config: &str) -> World {
        World::build(n, extra_config, &[], None, "legacy")
    }

    fn build(
        n: u32,
        extra_config: &str,
        extra_members: &[Address],
        quorum: Option<u64>,
        ssv_mode: &str,
    ) -> World {
        // The agent's token first: it sets up the process's SoftHSM directory.
        let tok = SoftHsmToken::new("agent", TEST_USER_PIN);
        let agent = Address::from(
            signer_agent::signer::pkcs11::generate(
                tok.module_path(),
                "agent",
                "agent-tx",
                &tok.pin(),
            )
            .unwrap(),
        );
        let ceremony = fixture::CeremonyHsm::new();
        let anvil = Anvil::start();
        let dir = tempfile::tempdir().unwrap();
        let keys = fixture::operator_keys(4);
        let agent_s = agent.to_checksum(None);
        let mut members = vec![agent_s.clone()];
        members.extend(extra_members.iter().map(|a| a.to_checksum(None)));
        let members: Vec<&str> = members.iter().map(String::as_str).collect();
        let dep = deploy_in_mode(
            &anvil,
            &agent_s,
            &members,
            quorum,
            &keys,
            dir.path(),
            ssv_mode,
        );
        let ids = dep.operator_ids();
        let ops: Vec<(u64, String)> = ids.iter().copied().zip(keys).collect();
        let pin = dir.path().join("pin");
        std::fs::write(&pin, TEST_USER_PIN).unwrap();
        let config = dir.path().join("agent.toml");
        std::fs::write(
            &config,
            format!(
                r#"rpc_url = "{url}"
chain_id = 31337
deployment = "devnet.json"
state_dir = "state"
confirmations = 1
metrics_addr = "127.0.0.1:0"
trusted_identities = ["{id}"]

[signer]
module = "{module}"
token_label = "agent"
key_label = "agent-tx"
pin_file = "pin"

[run]
poll_interval_secs = 1
{extra_config}
"#,
                url = anvil.url(),
                id = ceremony.identity_hex,
                module = tok.module_path().display(),
            ),
        )
        .unwrap();
        let operators_file = dir.path().join("operators.json");
        let mut w = World {
            anvil,
            _tok: tok,
            ceremony,
            dir,
            dep,
            agent,
            config,
            bundle: PathBuf::new(),
            operators_file,
            ops,
        };
        let list = ids.iter().map(u64::to_string).collect::<Vec<_>>().join(",");
        ok(&w.agent(
            &[
                "operators",
                "export",
                "--ids",
                &list,
                "--out",
                w.operators_file.to_str().unwrap(),
            ],
            &[],
        ));
        w.bundle = w.ceremony_bundle("bundle", n, 0, 0);
        w.rt().block_on(async {
            // Gas money for the agent.
            let p = w.provider();
            let _: () = p
                .raw_request(
                    "anvil_setBalance".into(),
                    (agent, U256::from(100u128 * 10u128.pow(18))),
                )
                .await
                .unwrap();
            let user = USER_KEY.parse::<PrivateKeySigner>().unwrap().address();
            let _: () = p
                .raw_request(
                    "anvil_setBalance".into(),
                    (user, U256::from(10_000u128 * 10u128.pow(18))),
                )
                .await
                .unwrap();
        });
        w
    }

    /// A real ceremony bundle (in `dir/name`) for the PoolManager and the deployed operators.
    pub fn ceremony_bundle(&self, name: &str, n: u32, start: u32, first_nonce: u64) -> PathBuf {
        self.ceremony.run(
            self.dir.path(),
            name,
            &self.dep.addr("pool_manager").to_checksum(None),
            &self.operators_file,
            n,
            start,
            first_nonce,
        )
    }

    /// The user's address (funded with 10,000 ETH).
    pub fn user(&self) -> Address {
        USER_KEY.parse::<PrivateKeySigner>().unwrap().address()
    }

    pub fn rt(&self) -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    pub fn provider(&self) -> DynProvider {
        ProviderBuilder::new()
            .connect_http(self.anvil.url().parse().unwrap())
            .erased()
    }

    pub fn wallet_provider(&self, key: &str) -> DynProvider {
        let k: PrivateKeySigner = key.parse().unwrap();
        ProviderBuilder::new()
            .wallet(EthereumWallet::from(k))
            .connect_http(self.anvil.url().parse().unwrap())
            .erased()
    }

    pub fn approve(&self, bundle: &Path) {
        let root = B256::from(fixture::root_of(bundle));
        let ids: Vec<u64> = self.ops.iter().map(|o| o.0).collect();
        self.rt().block_on(async {
            let p = self.wallet_provider(ANVIL_KEY0);
            let gov = IGov::new(self.dep.addr("pool_manager"), p);
            gov.approveBatch(root, 1, ids)
                .send()
                .await
                .unwrap()
                .get_receipt()
                .await
                .unwrap();
        });
    }

    /// The user deposits `eth` ETH, plus 0.05 ETH for the SSV cluster's fees (enough for the
    /// ETH the agent sends with the registration of a few dozen validators).
    pub fn user_deposit(&self, eth: u64) {
        self.user_deposit_wei(
            U256::from(eth) * U256::from(10u128.pow(18)) + U256::from(FEE_HEADROOM_WEI),
        );
    }

    /// The user deposits exactly `wei`.
    pub fn user_deposit_wei(&self, wei: U256) {
        self.rt().block_on(async {
            let p = self.wallet_provider(USER_KEY);
            let pm = IPoolManager::new(self.dep.addr("pool_manager"), p);
            let r = pm
                .deposit()
                .value(wei)
                .send()
                .await
                .unwrap()
                .get_receipt()
                .await
                .unwrap();
            assert!(r.status());
        });
    }

    pub fn agent(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_signer-agent"));
        c.arg("--config")
            .arg(&self.config)
            .args(args)
            .env_remove("SIGNER_AGENT_PIN");
        for (k, v) in env {
            c.env(k, v);
        }
        c.output().unwrap()
    }

    pub fn deposit_events(&self) -> Vec<IDepositContract::DepositEvent> {
        self.rt().block_on(async {
            let f = Filter::new()
                .address(self.dep.addr("deposit_contract"))
                .event_signature(IDepositContract::DepositEvent::SIGNATURE_HASH)
                .from_block(0);
            self.provider()
                .get_logs(&f)
                .await
                .unwrap()
                .iter()
                .map(|l| IDepositContract::DepositEvent::decode_log_data(l.data()).unwrap())
                .collect()
        })
    }

    pub fn validator_added(&self) -> Vec<ISSVNetwork::ValidatorAdded> {
        self.rt().block_on(async {
            let f = Filter::new()
                .address(self.dep.addr("ssv_network"))
                .event_signature(ISSVNetwork::ValidatorAdded::SIGNATURE_HASH)
                .from_block(0);
            self.provider()
                .get_logs(&f)
                .await
                .unwrap()
                .iter()
                .map(|l| ISSVNetwork::ValidatorAdded::decode_log_data(l.data()).unwrap())
                .collect()
        })
    }

    /// poolETH balance of `who`.
    pub fn pool_eth_balance(&self, who: Address) -> U256 {
        self.rt().block_on(async {
            signer_agent::chain::IERC20::new(self.dep.addr("pool_eth"), self.provider())
                .balanceOf(who)
                .call()
                .await
                .unwrap()
        })
    }

    pub fn deposited_validators(&self) -> u64 {
        self.rt().block_on(async {
            IPoolManager::new(self.dep.addr("pool_manager"), self.provider())
                .depositedValidators()
                .call()
                .await
                .unwrap()
                .to::<u64>()
        })
    }
}

pub fn ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Every DepositEvent matches deposit_data.json, every ValidatorAdded carries keyshares.json's
/// sharesData, each key exactly once.
pub fn assert_chain_matches_bundle(w: &World, bundle: &Path, expect: usize) {
    let dd: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(bundle.join("deposit_data.json")).unwrap())
            .unwrap();
    let ks: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(bundle.join("keyshares.json")).unwrap())
            .unwrap();
    let events = w.deposit_events();
    assert_eq!(events.len(), expect, "deposit events");
    for e in &events {
        let pk = hex::encode(&e.pubkey);
        let d = dd
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["pubkey"] == pk.as_str())
            .expect("deposit of a bundle key");
        assert_eq!(
            hex::encode(&e.withdrawal_credentials),
            d["withdrawal_credentials"].as_str().unwrap()
        );
        assert_eq!(hex::encode(&e.signature), d["signature"].as_str().unwrap());
        assert_eq!(
            u64::from_le_bytes(e.amount.as_ref().try_into().unwrap()),
            d["amount"].as_u64().unwrap()
        );
        assert_eq!(
            events.iter().filter(|x| x.pubkey == e.pubkey).count(),
            1,
            "key {pk} deposited twice"
        );
    }
    let added = w.validator_added();
    assert_eq!(added.len(), expect, "ValidatorAdded events");
    for a in &added {
        let pk = format!("0x{}", hex::encode(&a.publicKey));
        let item = ks["shares"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["payload"]["publicKey"] == pk.as_str())
            .unwrap();
        assert_eq!(
            format!("0x{}", hex::encode(&a.shares)),
            item["payload"]["sharesData"].as_str().unwrap()
        );
        assert_eq!(a.operatorIds, w.ops.iter().map(|o| o.0).collect::<Vec<_>>());
    }
    assert_eq!(w.deposited_validators(), expect as u64);
    w.rt().block_on(async {
        let pm = IPoolManager::new(w.dep.addr("pool_manager"), w.provider());
        for e in &events {
            assert!(pm
                .isStaked(Bytes::from(e.pubkey.to_vec()))
                .call()
                .await
                .unwrap());
        }
    });
    let _ = keccak256(b"");
}

#[test]
fn bundle_import_deposit_run_stakes_everything_once() {
    let w = World::new(4, "");
    w.approve(&w.bundle);
    let out = ok(&w.agent(&["import", w.bundle.to_str().unwrap()], &[]));
    assert!(out.contains("imported 4 new validators"), "{out}");
    // Not enough ETH yet: nothing is sent.
    w.user_deposit(40);
    let out = ok(&w.agent(&["plan"], &[]));
    assert!(out.contains("would stake 1 validators"), "{out}");
    ok(&w.agent(&["run", "--once"], &[]));
    assert_eq!(w.deposited_validators(), 1);
    w.user_deposit(100);
    let o = w.agent(&["run", "--once"], &[]);
    ok(&o);
    assert_chain_matches_bundle(&w, &w.bundle, 4);
    let status: serde_json::Value =
        serde_json::from_str(&ok(&w.agent(&["status", "--json"], &[]))).unwrap();
    let vs = status["validators"].as_array().unwrap();
    assert_eq!(vs.len(), 4);
    assert!(vs.iter().all(|v| v["status"] == "confirmed"), "{status}");
    // Running again sends nothing.
    ok(&w.agent(&["run", "--once"], &[]));
    assert_eq!(w.deposit_events().len(), 4);
    // Every transaction above went through the default policy.
    let policy = ok(&w.agent(&["policy", "show"], &[]));
    let pm = w.dep.addr("pool_manager").to_string();
    assert!(
        policy.contains(&format!("{pm} 0x")) && policy.contains("PoolManager.stake"),
        "{policy}"
    );
    assert!(policy.contains("Oracle.submitReport"), "{policy}");
}

#[test]
fn crash_at_every_step_then_restart_stakes_each_validator_exactly_once() {
    let w = World::new(6, "max_validators_per_tx = 1");
    w.approve(&w.bundle);
    ok(&w.agent(&["import", w.bundle.to_str().unwrap()], &[]));
    w.user_deposit(6 * 32);
    for point in [
        "before-send",
        "after-send",
        "during-reconcile",
        "after-receipt",
        "after-confirm",
        "before-record",
    ] {
        let o = w.agent(&["run", "--once"], &[("SIGNER_AGENT_CRASH_AT", point)]);
        assert_eq!(
            o.status.code(),
            Some(86),
            "crash at {point}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    ok(&w.agent(&["run", "--once"], &[]));
    assert_chain_matches_bundle(&w, &w.bundle, 6);
    let status: serde_json::Value =
        serde_json::from_str(&ok(&w.agent(&["status", "--json"], &[]))).unwrap();
    assert!(
        status["validators"]
            .as_array()
            .unwrap()
            .iter()
            .all(|v| v["status"] == "confirmed"),
        "{status}"
    );
}

/// Issue #9: an `operators export` from the chain carries its provenance (chain id, SSV network
/// contract, block number and hash) into the ceremony's signed manifest, and verification
/// reports it.
#[test]
fn the_exported_provenance_is_pinned_in_the_signed_manifest() {
    let w = World::new(1, "");
    let export: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&w.operators_file).unwrap()).unwrap();
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(w.bundle.join("manifest.json")).unwrap()).unwrap();
    let p = &export["provenance"];
    assert_eq!(
        manifest["operators"]["provenance"], *p,
        "the manifest pins the export"
    );
    assert_eq!(manifest["operators"]["unpinned_allowed"], false);
    assert_eq!(p["chain_id"], 31337);
    assert_eq!(
        p["ssv_network"].as_str().unwrap().to_lowercase(),
        w.dep.addr("ssv_network").to_string().to_lowercase()
    );
    // The block hash is the chain's hash at that block.
    let provider = ProviderBuilder::new().connect_http(w.anvil.url().parse().unwrap());
    let number = p["block_number"].as_u64().unwrap();
    let block = w
        .rt()
        .block_on(async { provider.get_block_by_number(number.into()).await })
        .unwrap()
        .expect("the exported block exists");
    assert_eq!(
        format!("{}", block.header.hash),
        p["block_hash"].as_str().unwrap()
    );
    // Verification prints it.
    let report = kc_bundle::verify::verify_bundle(&w.bundle, &Default::default());
    assert!(report.ok(), "{:?}", report.failures().collect::<Vec<_>>());
    let ops = report
        .checks
        .iter()
        .find(|c| c.name == "operators.keys")
        .unwrap();
    assert!(
        ops.detail.contains(p["block_hash"].as_str().unwrap()) && ops.detail.contains("31337"),
        "{}",
        ops.detail
    );
}
