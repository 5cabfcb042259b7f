//! Test helpers: fixture operator keys, random validators and owners, external tools.

use std::path::PathBuf;
use std::process::Command;

use blstrs::Scalar;
use ff::Field;
use kc_ssv::{Cluster, OperatorKey};
use kc_validator::{Address, SecretKey};
use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;

/// Operator ids in the fixtures: deliberately not 1..n.
pub const FIXTURE_IDS: [u64; 13] = [
    7, 17, 99, 203, 350, 512, 1001, 2024, 3000, 4242, 5555, 8191, 65537,
];

pub fn fixtures() -> serde_json::Value {
    serde_json::from_str(include_str!("../fixtures/operators.json")).unwrap()
}

/// (id, network-encoded public key, PKCS#1 private key PEM) of a fixture operator.
pub fn fixture_operator(id: u64) -> (u64, String, String) {
    let f = fixtures();
    let op = f["operators"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["id"] == id)
        .unwrap();
    (
        id,
        op["public_key"].as_str().unwrap().to_owned(),
        op["private_key_pem"].as_str().unwrap().to_owned(),
    )
}

pub fn fixture_other(name: &str) -> String {
    fixtures()["other"][name].as_str().unwrap().to_owned()
}

/// A cluster of fixture operators with these ids.
pub fn cluster(ids: &[u64]) -> Cluster {
    Cluster::new(
        ids.iter()
            .map(|&id| OperatorKey::parse(id, &fixture_operator(id).1).unwrap())
            .collect(),
    )
    .unwrap()
}

/// The first n fixture ids (n in 4, 7, 10, 13), shuffled-then-sorted subsets are chosen by callers.
pub fn ids(n: usize) -> Vec<u64> {
    FIXTURE_IDS[..n].to_vec()
}

/// A seeded RNG; the seed is printed so that a failure can be replayed.
pub fn rng() -> ChaCha20Rng {
    let seed = match std::env::var("KC_TEST_SEED") {
        Ok(s) => s.parse().unwrap(),
        Err(_) => rand_chacha::rand_core::OsRng.next_u64(),
    };
    eprintln!("KC_TEST_SEED={seed}");
    ChaCha20Rng::seed_from_u64(seed)
}

pub fn random_validator(rng: &mut ChaCha20Rng) -> SecretKey {
    loop {
        let s = Scalar::random(&mut *rng);
        if let Ok(sk) = SecretKey::from_bytes(&s.to_bytes_be()) {
            return sk;
        }
    }
}

pub fn random_owner(rng: &mut ChaCha20Rng) -> Address {
    let mut a = [0u8; 20];
    rng.fill_bytes(&mut a);
    Address(a)
}

pub fn random_nonce(rng: &mut ChaCha20Rng) -> u64 {
    rng.next_u64() % 60_000
}

pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

pub fn interop_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/interop")
}

/// The SSV SDK directory (KC_SSV_SDK_DIR, default <workspace>/tools/ssv-sdk). Fails — never
/// skips — when node or the SDK is missing.
pub fn sdk_dir() -> PathBuf {
    let dir = std::env::var_os("KC_SSV_SDK_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("tools/ssv-sdk"));
    let pkg = dir.join("node_modules/@ssv-labs/ssv-sdk/package.json");
    assert!(
        pkg.exists(),
        "SSV SDK not installed at {}: run `make tools` (scripts/install-node.sh)",
        dir.display()
    );
    let node = Command::new("node").arg("--version").output();
    assert!(
        node.map(|o| o.status.success()).unwrap_or(false),
        "node is not on PATH: run `make tools` (scripts/install-apt.sh installs nodejs)"
    );
    dir
}

/// The Python with pyca/cryptography and py_ecc (KC_PYTHON, default <workspace>/.tools/venv/bin/python).
pub fn python() -> PathBuf {
    let py = std::env::var_os("KC_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join(".tools/venv/bin/python"));
    let ok = Command::new(&py)
        .args(["-c", "import cryptography, py_ecc"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        ok,
        "{} lacks cryptography/py_ecc: run `make tools` (scripts/install-python.sh)",
        py.display()
    );
    py
}

/// Runs a command; panics with its stderr if it fails; returns stdout.
pub fn run(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}
