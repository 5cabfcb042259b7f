//! Operator RSA keys for tests: generated with `openssl genrsa` (in parallel), shared through a
//! pool per target directory, or the fixed fixture keys of `crates/ssv/tests/fixtures`.

use std::path::{Path, PathBuf};
use std::process::Command;

use rsa::RsaPrivateKey;

use crate::rng::random_hex;
use crate::tools::{repo_root, require_tool};

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
///
/// `dir` holds the pool (a test binary's `CARGO_TARGET_TMPDIR` below).
pub fn pooled_keys(dir: &Path, n: usize) -> Vec<RsaPrivateKey> {
    use rsa::pkcs8::DecodePrivateKey;
    assert!(n <= POOL_KEYS);
    std::fs::create_dir_all(dir).unwrap();
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
                let keys = rsa_keys(dir, &vec![2048; missing.len()]);
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

/// The network encodings of the first `n` TEST ONLY operator keys of
/// `crates/ssv/tests/fixtures/operators.json` (fixed keys: no generation time).
pub fn fixture_keys(n: usize) -> Vec<String> {
    let path = repo_root().join("crates/ssv/tests/fixtures/operators.json");
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let mut keys: Vec<String> = v["operators"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["public_key"].as_str().unwrap().to_string())
        .collect();
    keys.truncate(n);
    assert_eq!(keys.len(), n, "not enough fixture operator keys");
    keys
}
