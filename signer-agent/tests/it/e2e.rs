//! The agent's world on anvil: the deployed contracts, a SoftHSM-held agent key and a real
//! ceremony bundle (made in process by the ceremony library), which the agent's other tests
//! build on; and crash safety (a crash at every step, then a restart, stakes each validator
//! once). The whole product flow through the real executables (plan → ceremony → verify →
//! agent → chain → oracle) is the system test `tests/system/tests/it/flow.rs`.

use std::path::{Path, PathBuf};
use std::process::Output;

use alloy::primitives::{Address, B256, U256};
use alloy::providers::{DynProvider, Provider, ProviderBuilder};
use alloy::signers::local::PrivateKeySigner;
use kc_hsm::testing::{SoftHsmToken, TEST_USER_PIN};
use signer_agent::chain::{IDepositContract, ISSVNetwork};

use crate::common::{deploy_in_mode, Anvil, Deployment, Pool};
use crate::fixture;

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
        World::build(n, extra_config, extra_members, quorum, "v2", &[], 0)
    }

    /// As [`World::new`], anvil started with `anvil_args` too, and `pre_mine` empty blocks
    /// mined before the deployment.
    pub fn with_anvil(n: u32, extra_config: &str, anvil_args: &[&str], pre_mine: u64) -> World {
        World::build(n, extra_config, &[], None, "v2", anvil_args, pre_mine)
    }

    /// As [`World::new`] on an SSV stand-in deployed as a v1 network (`legacy` mode).
    pub fn legacy(n: u32, extra_config: &str) -> World {
        World::build(n, extra_config, &[], None, "legacy", &[], 0)
    }

    fn build(
        n: u32,
        extra_config: &str,
        extra_members: &[Address],
        quorum: Option<u64>,
        ssv_mode: &str,
        anvil_args: &[&str],
        pre_mine: u64,
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
        let anvil = Anvil::start_with(anvil_args);
        if pre_mine > 0 {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(async {
                    let p = ProviderBuilder::new().connect_http(anvil.url().parse().unwrap());
                    let _: serde_json::Value = p
                        .raw_request("anvil_mine".into(), (U256::from(pre_mine),))
                        .await
                        .unwrap();
                });
        }
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
        // The state store of this run's backend (`KC_TEST_STORE`): SQLite in `state`, or a
        // fresh database on this test process's PostgreSQL (the event cache stays in `state`),
        // with the shortest lease: a run restarted after a crash waits for its lease to end.
        let state_url = if kc_test_utils::postgres::store_is_postgres() {
            format!(
                "state_url = \"{}\"\nlease_timeout_secs = 3\n",
                kc_test_utils::postgres::Postgres::shared().fresh_database()
            )
        } else {
            String::new()
        };
        std::fs::write(
            &config,
            format!(
                r#"rpc_url = "{url}"
chain_id = 31337
deployment = "devnet.json"
state_dir = "state"
{state_url}confirmations = 1
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
        crate::common::rt()
    }

    /// The deployed pool, to read the chain.
    pub fn pool(&self) -> Pool {
        Pool::new(&self.anvil, &self.dep)
    }

    pub fn provider(&self) -> DynProvider {
        self.pool().provider()
    }

    /// The agent's configuration.
    pub fn cfg(&self) -> signer_agent::config::Config {
        signer_agent::config::Config::resolve(Some(&self.config), &Default::default()).unwrap()
    }

    /// The agent's configuration with `top` (top-level keys) after its first line and
    /// `tables` at the end, written to `name` in the test directory.
    /// A top-level key of `top` replaces the base's (the PostgreSQL pass's `state_url`).
    pub fn config_with(&self, name: &str, top: &str, tables: &str) -> PathBuf {
        let base = std::fs::read_to_string(&self.config).unwrap();
        let key = |l: &str| l.split('=').next().unwrap_or_default().trim().to_owned();
        let replaced: Vec<String> = top.lines().filter(|l| l.contains('=')).map(key).collect();
        let base: String = base
            .lines()
            .filter(|l| !(l.contains('=') && replaced.contains(&key(l))))
            .map(|l| format!("{l}\n"))
            .collect();
        let (first, rest) = base.split_once('\n').unwrap();
        let p = self.dir.path().join(name);
        std::fs::write(&p, format!("{first}\n{top}{rest}\n{tables}\n")).unwrap();
        p
    }

    /// Runs the agent with the configuration `config`.
    pub fn agent_with(&self, config: &Path, args: &[&str]) -> Output {
        std::process::Command::new(env!("CARGO_BIN_EXE_signer-agent"))
            .arg("--config")
            .arg(config)
            .args(args)
            .env_remove("SIGNER_AGENT_PIN")
            .output()
            .unwrap()
    }

    /// Event queries over this chain (no cache).
    pub fn events(&self) -> signer_agent::logscan::Events {
        signer_agent::logscan::Events::uncached(
            signer_agent::logscan::Scanner::new(self.provider(), 10_000),
            66,
        )
    }

    /// The pool's cluster of `ids` now (from the SSV network's events).
    pub fn cluster_snapshot(&self, ids: &[u64]) -> signer_agent::chain::Cluster {
        let c = self.cfg().contracts().unwrap();
        let events = self.events();
        self.rt().block_on(async {
            let at = events.head().await.unwrap();
            signer_agent::ssv::cluster_snapshot(&events, &c, c.pool_manager, ids, at)
                .await
                .unwrap()
        })
    }

    pub fn wallet_provider(&self, key: &str) -> DynProvider {
        self.pool().wallet_provider(key)
    }

    pub fn approve(&self, bundle: &Path) {
        let ids: Vec<u64> = self.ops.iter().map(|o| o.0).collect();
        self.pool()
            .approve(B256::from(fixture::root_of(bundle)), &ids);
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
        self.pool().deposit(USER_KEY, wei);
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
        self.pool().deposit_events()
    }

    pub fn validator_added(&self) -> Vec<ISSVNetwork::ValidatorAdded> {
        self.pool().validator_added()
    }

    /// poolETH balance of `who`.
    pub fn pool_eth_balance(&self, who: Address) -> U256 {
        self.pool().pool_eth_balance(who)
    }

    pub fn deposited_validators(&self) -> u64 {
        self.pool().deposited_validators()
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
    let ids: Vec<u64> = w.ops.iter().map(|o| o.0).collect();
    w.pool().assert_matches_bundle(bundle, &ids, expect);
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
