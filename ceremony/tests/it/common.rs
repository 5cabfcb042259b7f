//! Shared fixtures: a temporary workspace with a private SoftHSM token (set up through the
//! repository's own `hsm-config/softhsm-setup.sh`), provisioned ceremony keys, freshly generated
//! RSA-2048 operator keys, and a plan writer whose every field can be overridden.
//!
//! Everything random (operator ids, addresses, nonces, indices) comes from one ChaCha20 stream
//! whose seed is printed; set `KC_TEST_SEED=<hex>` to replay a failing test.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use base64::Engine as _;
use kc_validator::address::Address;
use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use rsa::RsaPrivateKey;
use serde_json::{json, Value};

/// The ceremony executable under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_ceremony");
/// Test-only user PIN of the workspace token.
pub const USER_PIN: &str = "it-user-pin-4821";
/// Test-only SO PIN of the workspace token.
pub const SO_PIN: &str = "it-so-pin-9357";

/// The PKCS#11 module the tests use.
pub fn module_path() -> PathBuf {
    let path = PathBuf::from(
        std::env::var("KC_PKCS11_MODULE")
            .unwrap_or_else(|_| "/usr/lib/softhsm/libsofthsm2.so".into()),
    );
    assert!(
        path.is_file(),
        "PKCS#11 module {} not found: run make tools (installs softhsm2); HSM tests are not skipped",
        path.display()
    );
    path
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn require_tool(name: &str) {
    let ok = Command::new("sh")
        .args(["-c", &format!("command -v {name}")])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        ok,
        "{name} not found: run make tools; these tests are not skipped"
    );
}

/// One operator: an id and a fresh RSA-2048 key pair.
pub struct Operator {
    pub id: u64,
    pub key: RsaPrivateKey,
    /// The public key as on chain: base64 of a PEM labelled `RSA PUBLIC KEY` with an SPKI body.
    pub encoded: String,
}

/// Generates RSA keys with `openssl genrsa` (all at once, in parallel processes).
pub fn rsa_keys(dir: &Path, bits: &[usize]) -> Vec<RsaPrivateKey> {
    use rsa::pkcs1::DecodeRsaPrivateKey;
    use rsa::pkcs8::DecodePrivateKey;
    require_tool("openssl");
    let tag = random_hex(&mut rand_core::OsRng, 4);
    let children: Vec<(PathBuf, std::process::Child)> = bits
        .iter()
        .enumerate()
        .map(|(i, b)| {
            let path = dir.join(format!("rsa-{tag}-{i}.pem"));
            let child = Command::new("openssl")
                .args(["genrsa", "-out"])
                .arg(&path)
                .arg(b.to_string())
                .stderr(std::process::Stdio::null())
                .spawn()
                .expect("run openssl genrsa (run make tools)");
            (path, child)
        })
        .collect();
    children
        .into_iter()
        .map(|(path, mut child)| {
            assert!(child.wait().unwrap().success(), "openssl genrsa failed");
            let pem = std::fs::read_to_string(&path).unwrap();
            RsaPrivateKey::from_pkcs8_pem(&pem)
                .or_else(|_| RsaPrivateKey::from_pkcs1_pem(&pem))
                .expect("openssl wrote an RSA private key")
        })
        .collect()
}

/// Size of the shared key pool (the largest cluster).
pub const POOL_KEYS: usize = 13;

/// RSA-2048 operator keys shared by the tests, generated once per target directory (under a
/// lock, by whichever test process comes first): generating keys in each of a hundred test
/// processes would dominate the suite's time on two cores. Operator ids stay random per test,
/// and the tests that look inside the encrypted shares (the canary) or run every cluster size
/// generate their own keys ([`Workspace::fresh`]).
pub fn pooled_keys(n: usize) -> Vec<RsaPrivateKey> {
    use rsa::pkcs8::DecodePrivateKey;
    assert!(n <= POOL_KEYS);
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("ceremony-it-operator-keys");
    std::fs::create_dir_all(&dir).unwrap();
    let path = |i: usize| dir.join(format!("operator-{i}.pem"));
    let complete = || (0..POOL_KEYS).all(|i| path(i).is_file());
    let lock = dir.join(".lock");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(300);
    while !complete() {
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&lock)
        {
            Ok(_) => {
                let missing: Vec<usize> = (0..POOL_KEYS).filter(|i| !path(*i).is_file()).collect();
                let keys = rsa_keys(&dir, &vec![2048; missing.len()]);
                for (i, key) in missing.into_iter().zip(keys) {
                    let pem = rsa::pkcs8::EncodePrivateKey::to_pkcs8_pem(&key, Default::default())
                        .unwrap();
                    let tmp = dir.join(format!(".operator-{i}.{}.tmp", std::process::id()));
                    std::fs::write(&tmp, pem.as_bytes()).unwrap();
                    std::fs::rename(&tmp, path(i)).unwrap();
                }
                std::fs::remove_file(&lock).unwrap();
            }
            Err(_) => {
                // Another process is generating; a lock older than a minute is stale.
                let stale = std::fs::metadata(&lock)
                    .and_then(|m| m.modified())
                    .map(|t| t.elapsed().unwrap_or_default().as_secs() > 60)
                    .unwrap_or(false);
                if stale {
                    let _ = std::fs::remove_file(&lock);
                }
                assert!(
                    std::time::Instant::now() < deadline,
                    "operator key pool lock"
                );
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
        }
    }
    (0..n)
        .map(|i| RsaPrivateKey::from_pkcs8_pem(&std::fs::read_to_string(path(i)).unwrap()).unwrap())
        .collect()
}

/// The network's encoding of an RSA public key.
pub fn encode_key(key: &RsaPrivateKey) -> String {
    kc_ssv::operator::network_encoding(&key.to_public_key()).unwrap()
}

/// The test's random stream (seed printed, or taken from `KC_TEST_SEED`).
pub fn test_rng() -> ChaCha20Rng {
    let seed: [u8; 32] = match std::env::var("KC_TEST_SEED") {
        Ok(h) => hex::decode(h.trim())
            .expect("KC_TEST_SEED is hex")
            .try_into()
            .expect("KC_TEST_SEED is 32 bytes"),
        Err(_) => {
            let mut s = [0u8; 32];
            rand_core::OsRng.fill_bytes(&mut s);
            s
        }
    };
    eprintln!("test seed (KC_TEST_SEED): {}", hex::encode(seed));
    ChaCha20Rng::from_seed(seed)
}

pub fn random_hex(rng: &mut impl RngCore, bytes: usize) -> String {
    let mut b = vec![0u8; bytes];
    rng.fill_bytes(&mut b);
    hex::encode(b)
}

/// A random, EIP-55 checksummed address (never zero).
pub fn random_address(rng: &mut impl RngCore) -> String {
    let mut b = [0u8; 20];
    rng.fill_bytes(&mut b);
    b[0] |= 0x10;
    Address(b).to_checksum()
}

/// `n` distinct operator ids in 1..100000.
pub fn random_ids(rng: &mut impl RngCore, n: usize) -> Vec<u64> {
    let mut ids = std::collections::BTreeSet::new();
    while ids.len() < n {
        ids.insert(1 + rng.next_u64() % 99_999);
    }
    // Shuffle-ish: the file lists them in an arbitrary order, the ceremony sorts.
    let mut v: Vec<u64> = ids.into_iter().collect();
    v.rotate_left(n / 2);
    v
}

/// A finished child process, with its output as text.
#[derive(Debug)]
pub struct Run {
    pub status: std::process::ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    fn from(o: Output) -> Self {
        Self {
            status: o.status,
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }
    /// Panics with the whole output unless the exit code is `code`.
    #[track_caller]
    pub fn expect_code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code(),
            Some(code),
            "expected exit {code}\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout,
            self.stderr
        );
        self
    }
    #[track_caller]
    pub fn ok(&self) -> &Self {
        self.expect_code(0)
    }
    /// The `ceremony: error: ...` line(s) of stderr.
    pub fn error_lines(&self) -> String {
        self.stderr
            .lines()
            .filter(|l| l.contains("error"))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// Every field of a plan, rendered to TOML. `raw` overrides (or adds) `section.key = <raw TOML>`,
/// `remove` drops a `section.key` or a whole `section`, `top` adds raw lines before the first
/// section.
#[derive(Debug, Clone)]
pub struct PlanSpec {
    pub id: String,
    pub network: String,
    pub fork_version: Option<String>,
    pub validators: u32,
    pub start_index: u32,
    pub withdrawal_address: String,
    pub withdrawal_type: String,
    pub amount_gwei: u64,
    pub owner_address: String,
    pub owner_nonce: u64,
    pub operators_file: String,
    pub allow_unpinned_operators: Option<bool>,
    pub module: String,
    pub token_label: String,
    pub seal_key_label: Option<String>,
    pub identity_key_label: Option<String>,
    pub seed_source: String,
    pub mnemonic_file: Option<String>,
    pub raw: Vec<(String, String)>,
    pub remove: Vec<String>,
    pub top: Vec<String>,
}

/// A table of the plan: its name and its keys with their rendered values (`None`: left out).
type Section<'a> = (&'a str, Vec<(&'a str, Option<String>)>);

fn toml_str(s: &str) -> String {
    serde_json::to_string(s).unwrap()
}

impl PlanSpec {
    /// Sets `section.key` to a raw TOML value (replacing the typed one).
    pub fn raw(mut self, key: &str, value: &str) -> Self {
        self.raw.push((key.to_owned(), value.to_owned()));
        self
    }
    /// Drops `section.key` or `section`.
    pub fn remove(mut self, key: &str) -> Self {
        self.remove.push(key.to_owned());
        self
    }

    pub fn render(&self) -> String {
        let s = |v: &str| Some(toml_str(v));
        let sections: Vec<Section<'_>> = vec![
            (
                "ceremony",
                vec![
                    ("id", s(&self.id)),
                    ("network", s(&self.network)),
                    ("fork_version", self.fork_version.as_deref().map(toml_str)),
                    ("validators", Some(self.validators.to_string())),
                    ("start_index", Some(self.start_index.to_string())),
                ],
            ),
            (
                "deposit",
                vec![
                    ("withdrawal_address", s(&self.withdrawal_address)),
                    ("withdrawal_type", s(&self.withdrawal_type)),
                    ("amount_gwei", Some(self.amount_gwei.to_string())),
                ],
            ),
            (
                "ssv",
                vec![
                    ("owner_address", s(&self.owner_address)),
                    ("owner_nonce", Some(self.owner_nonce.to_string())),
                    ("operators_file", s(&self.operators_file)),
                    (
                        "allow_unpinned_operators",
                        self.allow_unpinned_operators.map(|b| b.to_string()),
                    ),
                ],
            ),
            (
                "hsm",
                vec![
                    ("module", s(&self.module)),
                    ("token_label", s(&self.token_label)),
                    (
                        "seal_key_label",
                        self.seal_key_label.as_deref().map(toml_str),
                    ),
                    (
                        "identity_key_label",
                        self.identity_key_label.as_deref().map(toml_str),
                    ),
                ],
            ),
            (
                "seed",
                vec![
                    ("source", s(&self.seed_source)),
                    ("mnemonic_file", self.mnemonic_file.as_deref().map(toml_str)),
                ],
            ),
        ];
        let mut out = String::from("# written by the ceremony integration tests\n");
        for line in &self.top {
            out.push_str(line);
            out.push('\n');
        }
        for (section, fields) in sections {
            if self.remove.iter().any(|r| r == section) {
                continue;
            }
            out.push_str(&format!("\n[{section}]\n"));
            let mut keys: Vec<(String, Option<String>)> =
                fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
            for (path, raw) in &self.raw {
                if let Some((sec, key)) = path.split_once('.') {
                    if sec == section {
                        match keys.iter_mut().find(|(k, _)| k == key) {
                            Some(slot) => slot.1 = Some(raw.clone()),
                            None => keys.push((key.to_owned(), Some(raw.clone()))),
                        }
                    }
                }
            }
            for (key, value) in keys {
                if self.remove.contains(&format!("{section}.{key}")) {
                    continue;
                }
                if let Some(v) = value {
                    out.push_str(&format!("{key} = {v}\n"));
                }
            }
        }
        out
    }
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

/// The kryoptic module built by `scripts/install-kryoptic.sh` (`KC_KRYOPTIC_MODULE` overrides).
pub fn kryoptic_module() -> PathBuf {
    let path = std::env::var_os("KC_KRYOPTIC_MODULE")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".tools/kryoptic/libkryoptic_pkcs11.so"));
    assert!(
        path.is_file(),
        "kryoptic module {} not found: run make tools (scripts/install-kryoptic.sh); these tests are not skipped",
        path.display()
    );
    path
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

/// Initializes a kryoptic token through `hsm-config/kryoptic-setup.sh`; returns the
/// `KRYOPTIC_CONF` path.
pub fn setup_kryoptic(dir: &Path, label: &str) -> PathBuf {
    let out = Command::new(repo_root().join("hsm-config/kryoptic-setup.sh"))
        .arg(dir)
        .env("KC_HSM_LABEL", label)
        .env("KC_HSM_USER_PIN", USER_PIN)
        .env("KC_HSM_SO_PIN", SO_PIN)
        .env("KC_KRYOPTIC_MODULE", kryoptic_module())
        .output()
        .expect("run hsm-config/kryoptic-setup.sh");
    assert!(
        out.status.success(),
        "kryoptic-setup.sh failed (run make tools): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let conf = stdout
        .lines()
        .find_map(|l| l.strip_prefix("export KRYOPTIC_CONF="))
        .expect("kryoptic-setup.sh prints KRYOPTIC_CONF");
    PathBuf::from(conf.trim_matches('\'').trim_matches('"'))
}

/// Initializes a token through `hsm-config/softhsm-setup.sh` (restricted to a device's
/// mechanism set with `emulate`); returns the `SOFTHSM2_CONF` path.
pub fn setup_token(dir: &Path, label: &str, emulate: Option<&str>) -> PathBuf {
    module_path();
    require_tool("softhsm2-util");
    let mut cmd = Command::new(repo_root().join("hsm-config/softhsm-setup.sh"));
    if let Some(device) = emulate {
        cmd.env("KC_HSM_EMULATE", device);
    } else {
        cmd.env_remove("KC_HSM_EMULATE");
    }
    let out = cmd
        .env("KC_HSM_DIR", dir)
        .env("KC_HSM_LABEL", label)
        .env("KC_HSM_USER_PIN", USER_PIN)
        .env("KC_HSM_SO_PIN", SO_PIN)
        .env("KC_PKCS11_MODULE", module_path())
        .output()
        .expect("run hsm-config/softhsm-setup.sh");
    assert!(
        out.status.success(),
        "softhsm-setup.sh failed (run make tools): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let conf = stdout
        .lines()
        .find_map(|l| l.strip_prefix("export SOFTHSM2_CONF="))
        .expect("softhsm-setup.sh prints SOFTHSM2_CONF");
    PathBuf::from(conf.trim_matches('\'').trim_matches('"'))
}

/// Reads a bundle file as JSON.
pub fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every file under `dir` (relative path, bytes), sorted.
pub fn all_files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    fn walk(root: &Path, d: &Path, out: &mut Vec<(String, Vec<u8>)>) {
        for e in std::fs::read_dir(d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
                out.push((rel, std::fs::read(&p).unwrap()));
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// Copies a directory tree.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        let dest = to.join(p.file_name().unwrap());
        if p.is_dir() {
            copy_dir(&p, &dest);
        } else {
            std::fs::copy(&p, &dest).unwrap();
        }
    }
}

pub fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(data))
}

pub fn b64(data: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(data)
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
