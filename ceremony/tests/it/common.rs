//! Shared fixtures of the ceremony's integration tests: a temporary workspace with a private
//! SoftHSM token (set up through the repository's own `hsm-config/softhsm-setup.sh`),
//! provisioned ceremony keys, freshly generated RSA-2048 operator keys, and the plan writer,
//! most of them from the shared harness (`kc-test-utils`).
//!
//! Everything random (operator ids, addresses, nonces, indices) comes from one ChaCha20 stream
//! whose seed is printed; set `KC_TEST_SEED=<hex>` to replay a failing test.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use rand_chacha::rand_core::RngCore;
use rand_chacha::ChaCha20Rng;
use rsa::RsaPrivateKey;
use serde_json::{json, Value};

pub use kc_test_utils::files::{all_files, b64, copy_dir, read_json, sha256_hex};
pub use kc_test_utils::keys::{encode_key, rsa_keys};
pub use kc_test_utils::plan::PlanSpec;
pub use kc_test_utils::rng::{random_address, random_hex, random_ids, test_rng};
pub use kc_test_utils::run::Run;
pub use kc_test_utils::softhsm::{
    kryoptic_module, module_path, setup_kryoptic, setup_token, USER_PIN,
};
pub use kc_test_utils::tools::require_tool;

/// The ceremony executable under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_ceremony");

/// RSA-2048 operator keys shared by the tests, generated once per target directory (under a
/// lock, by whichever test process comes first): generating keys in each of a hundred test
/// processes would dominate the suite's time on two cores. Operator ids stay random per test,
/// and the tests that look inside the encrypted shares (the canary) or run every cluster size
/// generate their own keys ([`Workspace::fresh`]).
pub fn pooled_keys(n: usize) -> Vec<RsaPrivateKey> {
    kc_test_utils::keys::pooled_keys(
        &Path::new(env!("CARGO_TARGET_TMPDIR")).join("ceremony-it-operator-keys"),
        n,
    )
}

/// One operator: an id and a fresh RSA-2048 key pair.
pub struct Operator {
    pub id: u64,
    pub key: RsaPrivateKey,
    /// The public key as on chain: base64 of a PEM labelled `RSA PUBLIC KEY` with an SPKI body.
    pub encoded: String,
}

/// Which PKCS#11 token a workspace runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// SoftHSM 2.6.1 as it is.
    SoftHsm,
    /// SoftHSM restricted to a device's mechanism set (`hsm-config/emulate/<name>.mechanisms`).
    Emulating(&'static str),
    /// kryoptic (`scripts/install-kryoptic.sh`).
    Kryoptic,
}

/// A temporary directory with a SoftHSM token, optionally provisioned ceremony keys, operator
/// keys and an operators file.
pub struct Workspace {
    pub tmp: tempfile::TempDir,
    pub conf: PathBuf,
    /// The token kind, its module, and the variable naming its configuration.
    pub kind: TokenKind,
    pub module: PathBuf,
    pub token: String,
    pub pin_file: PathBuf,
    /// The identity public key printed by `hsm init` (hex), when provisioned.
    pub identity: Option<String>,
    pub operators: Vec<Operator>,
    pub rng: ChaCha20Rng,
}

impl Workspace {
    /// Token, `hsm init`, `n` operators (pooled keys) and a pinned `operators.json`.
    pub fn new(n: usize) -> Self {
        let mut ws = Self::create(n, true, false);
        ws.hsm_init().ok();
        ws
    }

    /// As [`Workspace::new`], with operator keys generated for this test alone.
    pub fn fresh(n: usize) -> Self {
        let mut ws = Self::create(n, true, true);
        ws.hsm_init().ok();
        ws
    }

    /// Token (not provisioned), `n` operators and a pinned `operators.json`.
    pub fn bare(n: usize) -> Self {
        Self::create(n, true, false)
    }

    /// No token at all (for runs that must stop before the HSM), `n` operators and a pinned
    /// `operators.json`.
    pub fn without_token(n: usize) -> Self {
        Self::create(n, false, false)
    }

    /// A token of `kind` (not provisioned), `n` operators (pooled keys), pinned operators.
    pub fn on(kind: TokenKind, n: usize) -> Self {
        Self::create_on(kind, n, true, false)
    }

    fn create(n: usize, with_token: bool, fresh_keys: bool) -> Self {
        Self::create_on(TokenKind::SoftHsm, n, with_token, fresh_keys)
    }

    fn create_on(kind: TokenKind, n: usize, with_token: bool, fresh_keys: bool) -> Self {
        let mut rng = test_rng();
        let tmp = tempfile::Builder::new()
            .prefix("kc-ceremony-it-")
            .tempdir()
            .unwrap();
        let token = format!("it-{}", random_hex(&mut rng, 4));
        let (conf, module) = match (with_token, kind) {
            (false, _) => (tmp.path().join("no-softhsm.conf"), module_path()),
            (true, TokenKind::SoftHsm) => (
                setup_token(&tmp.path().join("softhsm"), &token, None),
                module_path(),
            ),
            (true, TokenKind::Emulating(device)) => (
                setup_token(&tmp.path().join("softhsm"), &token, Some(device)),
                module_path(),
            ),
            (true, TokenKind::Kryoptic) => (
                setup_kryoptic(&tmp.path().join("kryoptic"), &token),
                kryoptic_module(),
            ),
        };
        let pin_file = tmp.path().join("pin");
        std::fs::write(&pin_file, format!("{USER_PIN}\n")).unwrap();
        let ids = random_ids(&mut rng, n);
        let keys = if fresh_keys {
            rsa_keys(tmp.path(), &vec![2048; n])
        } else {
            pooled_keys(n)
        };
        let operators = ids
            .into_iter()
            .zip(keys)
            .map(|(id, key)| Operator {
                id,
                encoded: encode_key(&key),
                key,
            })
            .collect();
        let ws = Self {
            tmp,
            conf,
            kind,
            module,
            token,
            pin_file,
            identity: None,
            operators,
            rng,
        };
        ws.write_operators("operators.json", true);
        ws
    }

    pub fn path(&self) -> &Path {
        self.tmp.path()
    }

    /// A command for the ceremony binary in this workspace (SoftHSM config, no PIN in the
    /// environment, no abort hook).
    pub fn cmd(&self) -> Command {
        let mut c = Command::new(BIN);
        let conf_var = match self.kind {
            TokenKind::Kryoptic => "KRYOPTIC_CONF",
            _ => "SOFTHSM2_CONF",
        };
        c.current_dir(self.path())
            .env(conf_var, &self.conf)
            .env("KC_PKCS11_MODULE", &self.module)
            .env_remove("CEREMONY_PIN")
            .env_remove(ceremony::pipeline::ABORT_ENV);
        c
    }

    /// Runs the ceremony binary with `args`.
    pub fn ceremony(&self, args: &[&str]) -> Run {
        Run::from(self.cmd().args(args).output().unwrap())
    }

    /// `ceremony hsm init` on the workspace token; records the identity key.
    pub fn hsm_init(&mut self) -> Run {
        self.hsm_init_with(&[])
    }

    /// `ceremony hsm init` with extra arguments (e.g. `--seal-backend rsa-oaep`).
    pub fn hsm_init_with(&mut self, extra: &[&str]) -> Run {
        let pin = self.pin_file.to_str().unwrap().to_owned();
        let token = self.token.clone();
        let mut args = vec!["hsm", "init", "--token", &token, "--pin-file", &pin];
        args.extend_from_slice(extra);
        let run = self.ceremony(&args);
        run.ok();
        let identity = run
            .stdout
            .lines()
            .find_map(|l| l.strip_prefix("identity public key"))
            .map(|h| h.trim().to_owned())
            .expect("hsm init prints the identity public key");
        self.identity = Some(identity);
        run
    }

    /// The entries of the operators file (in the workspace's order).
    pub fn operator_entries(&self) -> Vec<Value> {
        self.operators
            .iter()
            .map(|o| json!({"id": o.id, "public_key": o.encoded}))
            .collect()
    }

    /// A plausible provenance block.
    pub fn provenance(&mut self) -> Value {
        json!({
            "chain_id": 560048,
            "ssv_network": random_address(&mut self.rng),
            "block_number": 1_000_000 + self.rng.next_u32() as u64,
            "block_hash": format!("0x{}", random_hex(&mut self.rng, 32)),
            "exported_at": "2026-11-20T10:00:00Z",
        })
    }

    /// Rewrites the pinned `operators.json` as exported on `network`'s chain (the workspace
    /// writes it for hoodi's; a named network's plan needs its own chain's provenance).
    pub fn pin_operators_to(&self, network: &str) -> PathBuf {
        let chain: u64 = match network {
            "mainnet" => 1,
            "sepolia" => 11_155_111,
            "hoodi" => 560_048,
            other => panic!("no chain id for network {other}"),
        };
        let mut value = read_json(&self.path().join("operators.json"));
        value["provenance"]["chain_id"] = chain.into();
        std::fs::write(
            self.path().join("operators.json"),
            serde_json::to_string_pretty(&value).unwrap(),
        )
        .unwrap();
        self.path().join("operators.json")
    }

    /// Writes the operators file `name`, pinned (with provenance, hoodi's chain) or as a bare
    /// list.
    pub fn write_operators(&self, name: &str, pinned: bool) -> PathBuf {
        let value = if pinned {
            json!({
                "provenance": {
                    "chain_id": 560048,
                    "ssv_network": "0x58410Bef803ECd7E63B23664C586A6DB72DAf59c",
                    "block_number": 123456,
                    "block_hash": format!("0x{}", "ab".repeat(32)),
                    "exported_at": "2026-11-20T10:00:00Z",
                },
                "operators": self.operator_entries(),
            })
        } else {
            Value::Array(self.operator_entries())
        };
        self.write_json(name, &value)
    }

    pub fn write_json(&self, name: &str, value: &Value) -> PathBuf {
        let path = self.path().join(name);
        std::fs::write(&path, serde_json::to_string_pretty(value).unwrap()).unwrap();
        path
    }

    /// A valid plan with random id, addresses, nonce and start index (hoodi, 2 validators,
    /// 0x01, 32 ETH, pinned operators, seed from the HSM).
    pub fn plan(&mut self) -> PlanSpec {
        PlanSpec {
            id: format!("it-{}", random_hex(&mut self.rng, 6)),
            network: "hoodi".into(),
            fork_version: None,
            validators: 2,
            start_index: self.rng.next_u32() % 1_000_000,
            withdrawal_address: random_address(&mut self.rng),
            withdrawal_type: "0x01".into(),
            amount_gwei: 32_000_000_000,
            owner_address: random_address(&mut self.rng),
            owner_nonce: u64::from(self.rng.next_u32() % 50_000),
            operators_file: "operators.json".into(),
            allow_unpinned_operators: None,
            module: self.module.display().to_string(),
            token_label: self.token.clone(),
            seal_key_label: None,
            identity_key_label: None,
            seed_source: "hsm".into(),
            mnemonic_file: None,
            raw: vec![],
            remove: vec![],
            top: vec![],
        }
    }

    /// Writes `<name>.toml`.
    pub fn write_plan(&self, plan: &PlanSpec, name: &str) -> PathBuf {
        let path = self.path().join(format!("{name}.toml"));
        std::fs::write(&path, plan.render()).unwrap();
        path
    }

    /// `ceremony run --plan <name>.toml --out <name>` (headless, PIN file).
    pub fn run(&self, plan: &PlanSpec, name: &str) -> Run {
        self.run_with(plan, name, &[], &[])
    }

    /// As [`Workspace::run`] with extra arguments and environment.
    pub fn run_with(
        &self,
        plan: &PlanSpec,
        name: &str,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Run {
        let plan_path = self.write_plan(plan, &format!("{name}.plan"));
        let mut c = self.cmd();
        c.arg("run")
            .arg("--plan")
            .arg(&plan_path)
            .arg("--out")
            .arg(self.path().join(name))
            .arg("--pin-file")
            .arg(&self.pin_file)
            .arg("--allow-unlocked-memory")
            .args(args);
        for (k, v) in env {
            c.env(k, v);
        }
        Run::from(c.output().unwrap())
    }

    /// Runs a plan that must succeed; returns the bundle directory.
    #[track_caller]
    pub fn run_ok(&self, plan: &PlanSpec, name: &str) -> PathBuf {
        self.run(plan, name).ok();
        let dir = self.path().join(name);
        assert!(dir.join("manifest.json").is_file());
        dir
    }

    /// `ceremony recover --from FROM --plan <name>.plan.toml --out <name> [--recreate]`.
    pub fn recover(&self, from: &Path, plan: &PlanSpec, name: &str, recreate: bool) -> Run {
        self.recover_with_pin(from, plan, name, recreate, &self.pin_file)
    }

    /// As [`Workspace::recover`] with another PIN file.
    pub fn recover_with_pin(
        &self,
        from: &Path,
        plan: &PlanSpec,
        name: &str,
        recreate: bool,
        pin_file: &Path,
    ) -> Run {
        let plan_path = self.write_plan(plan, &format!("{name}.plan"));
        let mut c = self.cmd();
        c.arg("recover")
            .arg("--from")
            .arg(from)
            .arg("--plan")
            .arg(&plan_path)
            .arg("--out")
            .arg(self.path().join(name))
            .arg("--pin-file")
            .arg(pin_file)
            .arg("--allow-unlocked-memory");
        if recreate {
            c.arg("--recreate");
        }
        Run::from(c.output().unwrap())
    }

    /// `ceremony verify DIR [args]`, pinned to the workspace's identity (`--identity` from
    /// `hsm init`) unless `args` pin one or allow an unpinned identity themselves.
    pub fn verify(&self, dir: &Path, args: &[&str]) -> Run {
        let mut c = self.cmd();
        c.arg("verify").arg(dir).args(args);
        let chooses = args
            .iter()
            .any(|a| *a == "--identity" || *a == "--allow-unpinned-identity");
        if let (Some(id), false) = (&self.identity, chooses) {
            c.arg("--identity").arg(id);
        }
        Run::from(c.output().unwrap())
    }

    /// `ceremony verify DIR [args]` exactly as given (no identity added).
    pub fn verify_unpinned(&self, dir: &Path, args: &[&str]) -> Run {
        let mut c = self.cmd();
        c.arg("verify").arg(dir).args(args);
        Run::from(c.output().unwrap())
    }

    /// Asserts that neither `name` nor a staging directory for it exists in the workspace.
    #[track_caller]
    pub fn assert_nothing_written(&self, name: &str) {
        assert!(
            !self.path().join(name).exists(),
            "{name} exists but the run failed"
        );
        let staging = staging_dirs(self.path(), name);
        assert!(staging.is_empty(), "staging directories left: {staging:?}");
    }
}

/// `.<name>.incomplete-<pid>` directories in `parent`.
pub fn staging_dirs(parent: &Path, name: &str) -> Vec<PathBuf> {
    let prefix = format!(".{name}.incomplete-");
    std::fs::read_dir(parent)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(&prefix))
        })
        .collect()
}

/// Entropy of the tests' known mnemonic (test-only, public: never use it for real keys).
pub fn test_entropy() -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(b"kc-ceremony integration tests: known test mnemonic v1").into()
}

/// The tests' known 24-word mnemonic.
pub fn test_mnemonic() -> String {
    kc_validator::Mnemonic::from_entropy(&test_entropy())
        .unwrap()
        .phrase()
        .to_string()
}
