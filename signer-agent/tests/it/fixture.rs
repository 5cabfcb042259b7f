//! Real ceremony bundles for the tests, made in process by the ceremony library
//! (`ceremony::pipeline::run`) against a SoftHSM token, plus helpers to forge a re-signed
//! manifest (a software P-256 key: the "untrusted identity" refusal).
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use ceremony::buildinfo::ToolIdentity;
use ceremony::hygiene::Hygiene;
use ceremony::pipeline::{self, MasterSource, People, RunConfig, Silent};
use kc_bundle::manifest::{self, Manifest, ManifestSignature};
use kc_hsm::testing::{SoftHsmToken, TEST_USER_PIN};
use p256::ecdsa::signature::hazmat::PrehashSigner;
use sha2::{Digest, Sha256};

/// TEST ONLY operator keys (crates/ssv/tests/fixtures/operators.json), network-encoded.
pub fn operator_keys(n: usize) -> Vec<String> {
    kc_test_utils::keys::fixture_keys(n)
}

/// The test identity key (P-256), deterministic.
pub fn identity(seed: u8) -> p256::ecdsa::SigningKey {
    p256::ecdsa::SigningKey::from_slice(&[seed; 32]).unwrap()
}

pub fn identity_hex(sk: &p256::ecdsa::SigningKey) -> String {
    hex::encode(sk.verifying_key().to_encoded_point(false).as_bytes())
}

/// The tests' chain is anvil (chain id 31337), a devnet: its bundles are for a custom network
/// (a named network's bundle must have its operators read on that network's chain, and the
/// agent refuses a bundle for another chain than the node's).
pub const DEVNET: &str = "network = \"custom\"\nfork_version = \"0x10000038\"";

/// The ceremony's side of the tests: its own SoftHSM token (label `ceremony`, in the same
/// process-wide SoftHSM directory as the agent's token) with a seal key and an identity key.
pub struct CeremonyHsm {
    pub token: SoftHsmToken,
    /// SEC1 uncompressed identity public key, hex (what the agent trusts).
    pub identity_hex: String,
}

impl CeremonyHsm {
    /// Creates the token and provisions the keys (`ceremony hsm init` does the same).
    pub fn new() -> CeremonyHsm {
        let token = SoftHsmToken::new("ceremony", TEST_USER_PIN);
        let session = token.login();
        kc_hsm::SealKey::provision(&session, "kc-seal").unwrap();
        let id = kc_hsm::IdentityKey::provision(&session, "kc-identity").unwrap();
        let identity_hex = hex::encode(id.public_key_sec1());
        CeremonyHsm {
            token,
            identity_hex,
        }
    }

    /// Runs a real ceremony (`ceremony::pipeline::run`, in process) for `n` validators from
    /// EIP-2334 index `start`, owner and withdrawal address `pool`, SSV owner nonces from
    /// `first_nonce`, operators from `operators_file` (as `signer-agent operators export` wrote
    /// it). The bundle lands in `dir/name`.
    #[allow(clippy::too_many_arguments)]
    pub fn run(
        &self,
        dir: &Path,
        name: &str,
        pool: &str,
        operators_file: &Path,
        n: u32,
        start: u32,
        first_nonce: u64,
    ) -> PathBuf {
        self.run_with(
            dir,
            name,
            pool,
            operators_file,
            (n, start, first_nonce),
            MasterSource::Plan,
        )
    }

    /// `ceremony recover --from BUNDLE --recreate`: the validators `start..start + n` of
    /// `from` again (same keys and deposit data), with new SSV owner nonces from `first_nonce`.
    #[allow(clippy::too_many_arguments)]
    pub fn recreate(
        &self,
        dir: &Path,
        name: &str,
        pool: &str,
        operators_file: &Path,
        from: &Path,
        n: u32,
        start: u32,
        first_nonce: u64,
    ) -> PathBuf {
        self.run_with(
            dir,
            name,
            pool,
            operators_file,
            (n, start, first_nonce),
            MasterSource::Recover {
                bundle: from.to_path_buf(),
            },
        )
    }

    /// A ceremony for `network` (the plan's `network = …` line(s)) instead of the devnet's.
    #[allow(clippy::too_many_arguments)]
    pub fn run_for_network(
        &self,
        dir: &Path,
        name: &str,
        pool: &str,
        operators_file: &Path,
        n: u32,
        network: &str,
    ) -> PathBuf {
        self.run_plan(
            dir,
            name,
            pool,
            operators_file,
            (n, 0, 0),
            MasterSource::Plan,
            network,
        )
    }

    fn run_with(
        &self,
        dir: &Path,
        name: &str,
        pool: &str,
        operators_file: &Path,
        counts: (u32, u32, u64),
        master: MasterSource,
    ) -> PathBuf {
        self.run_plan(dir, name, pool, operators_file, counts, master, DEVNET)
    }

    #[allow(clippy::too_many_arguments)]
    fn run_plan(
        &self,
        dir: &Path,
        name: &str,
        pool: &str,
        operators_file: &Path,
        (n, start, first_nonce): (u32, u32, u64),
        master: MasterSource,
        network: &str,
    ) -> PathBuf {
        let plan_path = dir.join(format!("{name}.plan.toml"));
        let text = format!(
            r#"[ceremony]
id = "agent-test-{name}"
{network}
validators = {n}
start_index = {start}

[deposit]
withdrawal_address = "{pool}"
withdrawal_type = "0x01"
amount_gwei = 32000000000

[ssv]
owner_address = "{pool}"
owner_nonce = {first_nonce}
operators_file = "{ops}"

[hsm]
module = "{module}"
token_label = "ceremony"

[seed]
source = "hsm"
"#,
            ops = operators_file.display(),
            module = self.token.module_path().display(),
        );
        std::fs::write(&plan_path, &text).unwrap();
        let plan = kc_bundle::plan::Plan::load(&plan_path)
            .unwrap_or_else(|e| panic!("the test plan does not parse: {e}\n{text}"));
        let out = dir.join(name);
        let cfg = RunConfig {
            out: out.clone(),
            pin: self.token.pin(),
            people: People {
                administrator: Some("Test Administrator".into()),
                witnesses: vec!["Test Witness".into()],
            },
            previous: vec![],
            master,
            hygiene: Hygiene {
                core_dumps_disabled: false,
                not_dumpable: false,
                memory_locked: false,
            },
            tool: ToolIdentity {
                name: "ceremony".into(),
                version: "test".into(),
                git_commit: None,
                binary_sha256: "00".repeat(32),
                cargo_lock_sha256: "00".repeat(32),
            },
        };
        let outcome = pipeline::run(&plan, &cfg, &Silent)
            .unwrap_or_else(|e| panic!("ceremony run failed: {e}"));
        assert!(outcome.report.ok());
        out
    }
}

/// Writes manifest.json and its signature.
pub fn write_manifest(dir: &Path, m: &Manifest, identity: &p256::ecdsa::SigningKey) {
    let bytes = m.to_bytes();
    let digest = Sha256::digest(&bytes);
    let sig: p256::ecdsa::Signature = identity.sign_prehash(&digest).unwrap();
    let s = ManifestSignature {
        algorithm: manifest::SIGNATURE_ALGORITHM.into(),
        public_key: hex::encode(identity.verifying_key().to_encoded_point(false).as_bytes()),
        manifest_sha256: hex::encode(digest),
        signature: hex::encode(sig.to_bytes()),
    };
    std::fs::write(dir.join("manifest.json"), bytes).unwrap();
    std::fs::write(dir.join("manifest.sig"), s.to_bytes()).unwrap();
}

/// The bundle's Merkle root (from its manifest).
pub fn root_of(dir: &Path) -> [u8; 32] {
    let m = Manifest::from_bytes(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap();
    hex::decode(m.merkle_root.trim_start_matches("0x"))
        .unwrap()
        .try_into()
        .unwrap()
}
