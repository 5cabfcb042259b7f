//! The product end to end, through its real executables: a SoftHSM room (`ceremony hsm init
//! --json`), a plan for the pool deployed on anvil with its operators exported from the chain
//! (`signer-agent operators export`), `ceremony run`, `ceremony verify` pinned to the identity
//! (with the audit report), governance approves the batch, `signer-agent verify`, `import`,
//! users deposit, `plan`, `run --once` stakes through the HSM-held key, the chain holds exactly
//! the bundle's deposits and shares, and an oracle report from a quorum rebases poolETH.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use alloy::primitives::{Address, B256, U256};
use alloy::providers::Provider;
use alloy::signers::local::PrivateKeySigner;
use kc_system_tests::workspace_binary;
use kc_test_utils::beacon::BeaconFixture;
use kc_test_utils::chain::{deploy_with, rt, Anvil, Pool, ANVIL_ADDR0, ANVIL_KEY0};
use kc_test_utils::files::read_json;
use kc_test_utils::keys::fixture_keys;
use kc_test_utils::plan::PlanSpec;
use kc_test_utils::rng::{random_hex, test_rng, RngCore};
use kc_test_utils::run::Run;
use kc_test_utils::softhsm::{module_path, setup_token, USER_PIN};

/// A user's key (test only; funded with anvil_setBalance).
const USER_KEY: &str = "0x59c6995e998f97a5a0044966f0945389dc9c86dae88c7a8412f6603b6b78690d";
const ETH: u128 = 1_000_000_000_000_000_000;

/// The room and the online side of one test: the SoftHSM directory with the ceremony's token
/// and the agent's, the agent's configuration, and the executables.
struct Site {
    dir: tempfile::TempDir,
    softhsm_conf: PathBuf,
    pin_file: PathBuf,
    agent_config: PathBuf,
    ceremony: PathBuf,
    agent: PathBuf,
}

impl Site {
    fn ceremony(&self, args: &[&str]) -> Run {
        Run::from(
            Command::new(&self.ceremony)
                .current_dir(self.dir.path())
                .env("SOFTHSM2_CONF", &self.softhsm_conf)
                .env("KC_PKCS11_MODULE", module_path())
                .env_remove("CEREMONY_PIN")
                .args(args)
                .output()
                .unwrap(),
        )
    }

    fn agent(&self, args: &[&str]) -> Run {
        Run::from(
            Command::new(&self.agent)
                .current_dir(self.dir.path())
                .env("SOFTHSM2_CONF", &self.softhsm_conf)
                .env_remove("SIGNER_AGENT_PIN")
                .arg("--config")
                .arg(&self.agent_config)
                .args(args)
                .output()
                .unwrap(),
        )
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

fn arg(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn plan_ceremony_verify_agent_chain_and_oracle_rebase() {
    let mut rng = test_rng();
    let dir = tempfile::Builder::new()
        .prefix("kc-system-")
        .tempdir()
        .unwrap();
    // Two tokens in one SoftHSM directory, both through hsm-config/softhsm-setup.sh: the room's
    // and the agent's (in production two HSMs; the executables see only their own label).
    let softhsm = dir.path().join("softhsm");
    let softhsm_conf = setup_token(&softhsm, "ceremony", None);
    assert_eq!(setup_token(&softhsm, "agent", None), softhsm_conf);
    let pin_file = dir.path().join("pin");
    std::fs::write(&pin_file, format!("{USER_PIN}\n")).unwrap();
    let anvil = Anvil::start();
    let site = Site {
        agent_config: dir.path().join("agent.toml"),
        dir,
        softhsm_conf,
        pin_file,
        ceremony: workspace_binary("ceremony", "ceremony"),
        agent: workspace_binary("signer-agent", "signer-agent"),
    };

    // The room: provision the seal and identity keys; the identity is read from the JSON.
    let init = site.ceremony(&[
        "hsm",
        "init",
        "--token",
        "ceremony",
        "--pin-file",
        arg(&site.pin_file),
        "--json",
    ]);
    init.ok();
    let init: serde_json::Value = serde_json::from_str(&init.stdout).unwrap();
    let identity = init["identity_key"]["public_key"]
        .as_str()
        .unwrap()
        .to_owned();

    // The agent: its configuration (the deployment is written below) and its HSM key.
    std::fs::write(
        &site.agent_config,
        format!(
            r#"rpc_url = "{url}"
chain_id = {chain_id}
deployment = "devnet.json"
state_dir = "state"
confirmations = 1
metrics_addr = "127.0.0.1:0"
trusted_identities = ["{identity}"]

[signer]
module = "{module}"
token_label = "agent"
key_label = "agent-tx"
pin_file = "pin"

[run]
poll_interval_secs = 1
"#,
            url = anvil.url(),
            chain_id = anvil.chain_id,
            module = module_path().display(),
        ),
    )
    .unwrap();
    let agent: Address = site
        .agent(&["key", "init"])
        .ok()
        .stdout
        .trim()
        .parse()
        .unwrap();

    // The chain: the pool with the agent as its operator and as oracle member, governance
    // (anvil's account 0) as the second of a quorum of two; SSV operators registered.
    let keys = fixture_keys(4);
    let dep = deploy_with(
        &anvil,
        &agent.to_checksum(None),
        &[&agent.to_checksum(None), ANVIL_ADDR0],
        Some(2),
        &keys,
        site.dir.path(),
    );
    let pool = Pool::new(&anvil, &dep);
    let ids = dep.operator_ids();
    pool.set_balance(agent, U256::from(100 * ETH));
    let user = USER_KEY.parse::<PrivateKeySigner>().unwrap().address();
    pool.set_balance(user, U256::from(10_000 * ETH));
    let list: Vec<String> = ids.iter().map(u64::to_string).collect();
    let operators = site.path("operators.json");
    site.agent(&[
        "operators",
        "export",
        "--ids",
        &list.join(","),
        "--out",
        arg(&operators),
    ])
    .ok();

    // The ceremony: 4 validators for the pool (withdrawals and SSV ownership), a devnet fork
    // version, from a random EIP-2334 index, the operators as exported.
    let manager = dep.addr("pool_manager").to_checksum(None);
    let plan = PlanSpec {
        id: format!("system-{}", random_hex(&mut rng, 4)),
        network: "custom".into(),
        fork_version: Some("0x10000038".into()),
        validators: 4,
        start_index: rng.next_u32() % 100_000,
        withdrawal_address: manager.clone(),
        withdrawal_type: "0x01".into(),
        amount_gwei: 32_000_000_000,
        owner_address: manager,
        owner_nonce: 0,
        operators_file: "operators.json".into(),
        allow_unpinned_operators: None,
        module: module_path().display().to_string(),
        token_label: "ceremony".into(),
        seal_key_label: None,
        identity_key_label: None,
        seed_source: "hsm".into(),
        mnemonic_file: None,
        raw: vec![],
        remove: vec![],
        top: vec![],
    };
    let plan_path = site.path("plan.toml");
    std::fs::write(&plan_path, plan.render()).unwrap();
    let bundle = site.path("bundle");
    site.ceremony(&[
        "run",
        "--plan",
        arg(&plan_path),
        "--out",
        arg(&bundle),
        "--pin-file",
        arg(&site.pin_file),
        "--allow-unlocked-memory",
        "--administrator",
        "System Test Administrator",
        "--witness",
        "System Test Witness",
    ])
    .ok();

    // The auditor: every check passes, pinned to the identity the room published.
    let report = site.path("audit.html");
    let verified = site.ceremony(&[
        "verify",
        arg(&bundle),
        "--identity",
        &identity,
        "--json",
        "--report",
        arg(&report),
    ]);
    verified.ok();
    let verified: serde_json::Value = serde_json::from_str(&verified.stdout).unwrap();
    let checks = verified["checks"].as_array().unwrap();
    assert!(checks.iter().all(|c| c["ok"] == true), "{checks:?}");
    assert!(checks.iter().any(|c| c["name"] == "identity.pinned"));
    assert!(std::fs::read_to_string(&report)
        .unwrap()
        .contains("VERIFIED"));

    // The operators' provenance (chain, SSV contract, block and its hash) is pinned in the
    // signed manifest, and verification reports it.
    let manifest = read_json(&bundle.join("manifest.json"));
    let export = read_json(&operators);
    let p = &export["provenance"];
    assert_eq!(
        manifest["operators"]["provenance"], *p,
        "the manifest pins the export"
    );
    assert_eq!(manifest["operators"]["unpinned_allowed"], false);
    assert_eq!(p["chain_id"], anvil.chain_id);
    assert_eq!(
        p["ssv_network"].as_str().unwrap().to_lowercase(),
        dep.addr("ssv_network").to_string().to_lowercase()
    );
    let block_hash = rt().block_on(async {
        pool.provider()
            .get_block_by_number(p["block_number"].as_u64().unwrap().into())
            .await
            .unwrap()
            .expect("the exported block exists")
            .header
            .hash
    });
    assert_eq!(format!("{block_hash}"), p["block_hash"].as_str().unwrap());
    let keys_check = checks
        .iter()
        .find(|c| c["name"] == "operators.keys")
        .unwrap();
    let detail = keys_check["detail"].as_str().unwrap();
    assert!(
        detail.contains(p["block_hash"].as_str().unwrap())
            && detail.contains(&anvil.chain_id.to_string()),
        "{detail}"
    );

    // Governance approves the batch root the manifest names, for the exported cluster.
    let root: B256 = manifest["merkle_root"].as_str().unwrap().parse().unwrap();
    pool.approve(root, &ids);

    // The agent verifies and imports the bundle (pinned to the same identity).
    let out = site.agent(&["verify", arg(&bundle)]).ok().stdout.clone();
    assert!(
        out.contains(manifest["ceremony_id"].as_str().unwrap()),
        "{out}"
    );
    let out = site.agent(&["import", arg(&bundle)]).ok().stdout.clone();
    assert!(out.contains("imported 4 new validators"), "{out}");

    // Not enough ETH for all: the agent stakes what the pool holds, then the rest.
    let headroom = U256::from(ETH / 20); // the SSV cluster's ETH fees
    pool.deposit(USER_KEY, U256::from(40 * ETH) + headroom);
    let out = site.agent(&["plan"]).ok().stdout.clone();
    assert!(out.contains("would stake 1 validators"), "{out}");
    site.agent(&["run", "--once"]).ok();
    assert_eq!(pool.deposited_validators(), 1);
    pool.deposit(USER_KEY, U256::from(100 * ETH) + headroom);
    site.agent(&["run", "--once"]).ok();
    pool.assert_matches_bundle(&bundle, &ids, 4);
    let status: serde_json::Value =
        serde_json::from_str(&site.agent(&["status", "--json"]).ok().stdout).unwrap();
    let vs = status["validators"].as_array().unwrap();
    assert_eq!(vs.len(), 4);
    assert!(vs.iter().all(|v| v["status"] == "confirmed"), "{status}");
    // Running again sends nothing.
    site.agent(&["run", "--once"]).ok();
    assert_eq!(pool.deposit_events().len(), 4);
    // Every transaction above went through the default policy.
    let policy = site.agent(&["policy", "show"]).ok().stdout.clone();
    assert!(
        policy.contains(&format!("{} 0x", dep.addr("pool_manager")))
            && policy.contains("PoolManager.stake"),
        "{policy}"
    );
    assert!(policy.contains("Oracle.submitReport"), "{policy}");

    // The oracle: the beacon chain holds the bundle's validators at 32.01 ETH each; a week
    // later the agent (HSM key) and governance (a development key) report in one frame.
    let mut beacon = BTreeMap::new();
    for d in read_json(&bundle.join("deposit_data.json"))
        .as_array()
        .unwrap()
    {
        let pk = format!("0x{}", d["pubkey"].as_str().unwrap());
        beacon.insert(pk, (32_010_000_000u64, "active_ongoing"));
    }
    let beacon = BeaconFixture::start(beacon);
    pool.warp_to_frame_after(7 * 86_400);
    let governance_key = site.path("governance.key");
    std::fs::write(&governance_key, ANVIL_KEY0).unwrap();
    let report = [
        "--beacon-url",
        beacon.url.as_str(),
        "oracle",
        "report",
        "--state",
        "head",
    ];
    let first: serde_json::Value = serde_json::from_str(&site.agent(&report).ok().stdout).unwrap();
    assert!(first["tx"].as_str().unwrap().starts_with("0x"), "{first}");
    assert!(pool.rebases().is_empty(), "one vote is not a quorum");
    let before = pool.pool_eth_balance(user);
    let total_before = rt().block_on(async {
        signer_agent::chain::IPoolManager::new(dep.addr("pool_manager"), pool.provider())
            .totalPooledEther()
            .call()
            .await
            .unwrap()
    });
    site.agent(
        &[
            &["--dev-private-key-file", arg(&governance_key)][..],
            &report[..],
        ]
        .concat(),
    )
    .ok();
    let rebased = pool.rebases();
    assert_eq!(rebased.len(), 1, "one TokenRebased event");
    assert_eq!(
        rebased[0].postTotalEther - rebased[0].preTotalEther,
        U256::from(4 * 10_000_000_000_000_000u128),
        "the pool's total rose by the 4 × 0.01 ETH the beacon chain reported"
    );
    // The user's share of the rise, minus the 10 % protocol fee.
    let after = pool.pool_eth_balance(user);
    assert!(after > before, "poolETH did not grow: {before} → {after}");
    let expected = U256::from(4 * 10_000_000_000_000_000u128) * before / total_before
        * U256::from(9)
        / U256::from(10);
    let gain = after - before;
    let tolerance = expected / U256::from(100);
    assert!(
        gain + tolerance >= expected && gain <= expected + tolerance,
        "gain {gain}, expected about {expected}"
    );
}
