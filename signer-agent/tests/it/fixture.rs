//! A bundle-like fixture built directly with kc-validator and kc-ssv (until the ceremony can
//! produce one in tests): deposit_data.json, keyshares.json, manifest.json signed by a P-256
//! identity key (a software key here; the ceremony uses the HSM).
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use kc_bundle::manifest::{
    self, IdentityInfo, Manifest, ManifestSignature, MasterInfo, NetworkInfo, OperatorInfo,
    OperatorsInfo, OwnerInfo, ToolInfo, ValidatorEntry, WithdrawalInfo,
};
use kc_bundle::merkle::{self, LeafInput};
use p256::ecdsa::signature::hazmat::PrehashSigner;
use sha2::{Digest, Sha256};

/// TEST ONLY operator keys (crates/ssv/tests/fixtures/operators.json): (id there, base64 PEM).
pub fn operator_keys(n: usize) -> Vec<String> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../crates/ssv/tests/fixtures/operators.json");
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

/// The test identity key (P-256), deterministic.
pub fn identity(seed: u8) -> p256::ecdsa::SigningKey {
    p256::ecdsa::SigningKey::from_slice(&[seed; 32]).unwrap()
}

pub fn identity_hex(sk: &p256::ecdsa::SigningKey) -> String {
    hex::encode(sk.verifying_key().to_encoded_point(false).as_bytes())
}

/// Writes a bundle of `n` validators (EIP-2334 indexes from `start`) for the PoolManager
/// `owner` and the operators `(id, key)`, owner nonces from `first_nonce`.
pub fn build_bundle(
    dir: &Path,
    owner: [u8; 20],
    operators: &[(u64, String)],
    n: u32,
    start: u32,
    first_nonce: u64,
    identity: &p256::ecdsa::SigningKey,
) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let seed = [0x5eu8; 64];
    let keys = kc_validator::derive::signing_keys(&seed, start, n).unwrap();
    let addr = kc_validator::Address(owner);
    let wc =
        kc_validator::deposit::withdrawal_credentials(kc_validator::WithdrawalType::Eth1, &addr);
    let network = kc_validator::Network::Hoodi;
    let deposits: Vec<_> = keys
        .iter()
        .map(|sk| kc_validator::DepositData::create(sk, wc, 32_000_000_000, &network).unwrap())
        .collect();
    let cluster =
        kc_ssv::Cluster::parse(operators.iter().map(|(id, k)| (*id, k.as_str()))).unwrap();
    let keyshares = kc_ssv::build_keyshares(
        keys.iter(),
        &cluster,
        &addr,
        first_nonce,
        std::time::SystemTime::now(),
        &mut rand_core::OsRng,
    )
    .unwrap();
    let dd_json = kc_validator::deposit::to_json(&deposits);
    let ks_json = keyshares.to_json();
    std::fs::write(dir.join("deposit_data.json"), &dd_json).unwrap();
    std::fs::write(dir.join("keyshares.json"), &ks_json).unwrap();
    let ids: Vec<u64> = operators.iter().map(|(id, _)| *id).collect();
    let mut validators = Vec::new();
    let mut leaves = Vec::new();
    for (i, (d, item)) in deposits.iter().zip(&keyshares.shares).enumerate() {
        let shares = hex::decode(item.payload.shares_data.trim_start_matches("0x")).unwrap();
        let pk = d.pubkey.to_bytes();
        let sig = d.signature.to_bytes();
        let leaf = merkle::leaf_hash(&LeafInput {
            pubkey: &pk,
            signature: &sig,
            deposit_data_root: &d.deposit_data_root,
            operator_ids: &ids,
            shares_data: &shares,
        });
        leaves.push(leaf);
        validators.push(ValidatorEntry {
            index: start + i as u32,
            pubkey: hex::encode(pk),
            deposit_data_root: hex::encode(d.deposit_data_root),
            owner_nonce: first_nonce + i as u64,
            shares_data_sha256: hex::encode(Sha256::digest(&shares)),
            merkle_leaf: format!("0x{}", hex::encode(leaf)),
        });
    }
    let root = merkle::root(&leaves).unwrap();
    let mut files = BTreeMap::new();
    files.insert(
        "deposit_data.json".to_string(),
        hex::encode(Sha256::digest(dd_json.as_bytes())),
    );
    files.insert(
        "keyshares.json".to_string(),
        hex::encode(Sha256::digest(ks_json.as_bytes())),
    );
    let pk_sec1 = identity
        .verifying_key()
        .to_encoded_point(false)
        .as_bytes()
        .to_vec();
    let m = Manifest {
        format: manifest::FORMAT.to_string(),
        ceremony_id: "test-ceremony".into(),
        created_at: "2026-01-01T00:00:00Z".into(),
        network: NetworkInfo {
            name: "hoodi".into(),
            fork_version: "10000910".into(),
        },
        tool: ToolInfo {
            name: "signer-agent tests".into(),
            version: "0".into(),
            git_commit: None,
            binary_sha256: "00".repeat(32),
            cargo_lock_sha256: "00".repeat(32),
        },
        identity: IdentityInfo {
            algorithm: manifest::SIGNATURE_ALGORITHM.into(),
            key_label: "test-identity".into(),
            public_key: hex::encode(&pk_sec1),
            fingerprint: manifest::key_fingerprint(&pk_sec1),
        },
        master: MasterInfo {
            seed_source: "mnemonic".into(),
            fingerprint: "00".repeat(32),
            seal_key_label: "seal".into(),
        },
        withdrawal: WithdrawalInfo {
            address: addr.to_checksum(),
            kind: "0x01".into(),
            credentials: hex::encode(wc),
            amount_gwei: 32_000_000_000,
        },
        owner: OwnerInfo {
            address: addr.to_checksum(),
            first_nonce,
            last_nonce: first_nonce + n as u64 - 1,
        },
        operators: OperatorsInfo {
            provenance: None,
            unpinned_allowed: true,
            list: ids
                .iter()
                .map(|id| OperatorInfo {
                    id: *id,
                    fingerprint: "00".repeat(32),
                })
                .collect(),
        },
        validators,
        merkle_root: format!("0x{}", hex::encode(root)),
        transcript_head: "00".repeat(32),
        files,
    };
    write_manifest(dir, &m, identity);
    dir.to_path_buf()
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
