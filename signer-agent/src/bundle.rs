//! Reading a ceremony bundle (public files only) into what `stake` needs, after verification.
//!
//! The agent reads `manifest.json`, `manifest.sig`, `deposit_data.json` and `keyshares.json`;
//! it never reads `sealed/` beyond hashing it, and holds no BLS secret. [`load_verified`] is the
//! single entry point: the whole-bundle verification (`kc_bundle::verify`, shared with
//! `ceremony verify`) plugs in there as one call; until it lands, the agent checks what it relies
//! on itself: the pinned identity, the manifest signature, every file hash, and that each
//! validator's leaf and the batch root are recomputed from the files it will send.

use std::path::{Path, PathBuf};

use kc_bundle::manifest::{files, Manifest, ManifestSignature};
use kc_bundle::merkle::{self, LeafInput};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// One validator as it will be staked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleValidator {
    /// EIP-2334 index.
    pub index: u32,
    /// Position in the manifest (leaf order).
    pub position: usize,
    pub pubkey: Vec<u8>,
    pub signature: Vec<u8>,
    pub deposit_data_root: [u8; 32],
    pub shares_data: Vec<u8>,
    pub owner_nonce: u64,
    pub leaf: [u8; 32],
}

/// A bundle that passed verification.
#[derive(Debug, Clone)]
pub struct VerifiedBundle {
    pub dir: PathBuf,
    pub ceremony_id: String,
    pub network: String,
    pub merkle_root: [u8; 32],
    pub operator_ids: Vec<u64>,
    /// 1 (0x01) or 2 (0x02).
    pub withdrawal_type: u8,
    pub withdrawal_address: String,
    pub owner_address: String,
    /// SEC1 uncompressed identity public key.
    pub identity: Vec<u8>,
    pub validators: Vec<BundleValidator>,
}

#[derive(Deserialize)]
struct DepositDatum {
    pubkey: String,
    withdrawal_credentials: String,
    amount: u64,
    signature: String,
    deposit_data_root: String,
}

#[derive(Deserialize)]
struct KeySharesFile {
    shares: Vec<KeySharesItem>,
}

#[derive(Deserialize)]
struct KeySharesItem {
    payload: KeySharesPayload,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct KeySharesPayload {
    public_key: String,
    operator_ids: Vec<u64>,
    shares_data: String,
}

fn unhex(s: &str) -> std::result::Result<Vec<u8>, String> {
    hex::decode(s.trim_start_matches("0x")).map_err(|e| format!("not hex: {e}"))
}

/// Verifies the bundle in `dir` against the trusted identity keys and returns its validators.
pub fn load_verified(dir: &Path, trusted: &[Vec<u8>]) -> Result<VerifiedBundle> {
    let fail = |message: String| Error::Bundle {
        path: dir.to_owned(),
        message,
    };
    let read = |name: &str| -> Result<Vec<u8>> {
        let p = dir.join(name);
        std::fs::read(&p).map_err(|e| Error::io(p, "read a bundle file", e))
    };
    let manifest_bytes = read(files::MANIFEST)?;
    let sig_bytes = read(files::MANIFEST_SIG)?;
    let manifest = Manifest::from_bytes(&manifest_bytes).map_err(|e| fail(e.to_string()))?;
    let sig = ManifestSignature::from_bytes(&sig_bytes).map_err(|e| fail(e.to_string()))?;

    // 1. Pinned identity: the key that signed must be trusted, and be the manifest's own.
    let signer_key =
        unhex(&sig.public_key).map_err(|m| fail(format!("manifest.sig: public_key: {m}")))?;
    if !trusted.iter().any(|t| t == &signer_key) {
        return Err(fail(format!(
            "untrusted identity: manifest signed by {} (fingerprint {}), not one of the {} trusted_identities",
            manifest.identity.key_label,
            kc_bundle::manifest::key_fingerprint(&signer_key),
            trusted.len()
        )));
    }
    if unhex(&manifest.identity.public_key).ok().as_deref() != Some(&signer_key[..]) {
        return Err(fail(
            "manifest.sig: signed by a key other than manifest.identity.public_key".into(),
        ));
    }
    sig.verify(&manifest_bytes)
        .map_err(|e| fail(format!("manifest.sig: {e}")))?;

    // 2. The whole-bundle verification shared with `ceremony verify` goes here (one call) when
    //    `kc_bundle::verify` lands. Meanwhile: every file hash the manifest lists.
    for (name, want) in &manifest.files {
        let bytes = read(name)?;
        let got = hex::encode(Sha256::digest(&bytes));
        if &got != want {
            return Err(fail(format!(
                "{name}: sha256 {got} does not match the manifest ({want})"
            )));
        }
    }
    for required in [files::DEPOSIT_DATA, files::KEYSHARES] {
        if !manifest.files.contains_key(required) {
            return Err(fail(format!("manifest.files: {required} is not listed")));
        }
    }

    // 3. What will be sent, recomputed from the files.
    let deposits: Vec<DepositDatum> = serde_json::from_slice(&read(files::DEPOSIT_DATA)?)
        .map_err(|e| fail(format!("{}: {e}", files::DEPOSIT_DATA)))?;
    let keyshares: KeySharesFile = serde_json::from_slice(&read(files::KEYSHARES)?)
        .map_err(|e| fail(format!("{}: {e}", files::KEYSHARES)))?;
    let withdrawal_type = match manifest.withdrawal.kind.as_str() {
        "0x01" => 1u8,
        "0x02" => 2u8,
        other => {
            return Err(fail(format!(
                "manifest.withdrawal.type: {other:?} is not 0x01 or 0x02"
            )))
        }
    };
    let mut operator_ids: Option<Vec<u64>> = None;
    let mut validators = Vec::with_capacity(manifest.validators.len());
    for (position, v) in manifest.validators.iter().enumerate() {
        let at = |m: String| fail(format!("validators[{position}] (index {}): {m}", v.index));
        let pubkey = unhex(&v.pubkey).map_err(|m| at(format!("pubkey: {m}")))?;
        let dd = deposits
            .iter()
            .find(|d| unhex(&d.pubkey).ok().as_deref() == Some(&pubkey[..]))
            .ok_or_else(|| at("not in deposit_data.json".into()))?;
        let ks = keyshares
            .shares
            .iter()
            .find(|k| unhex(&k.payload.public_key).ok().as_deref() == Some(&pubkey[..]))
            .ok_or_else(|| at("not in keyshares.json".into()))?;
        let ddr_bytes =
            unhex(&dd.deposit_data_root).map_err(|m| at(format!("deposit_data_root: {m}")))?;
        let ddr: [u8; 32] = ddr_bytes
            .try_into()
            .map_err(|_| at("deposit_data_root: not 32 bytes".into()))?;
        if hex::encode(ddr) != v.deposit_data_root.trim_start_matches("0x") {
            return Err(at(
                "deposit_data_root differs between deposit_data.json and the manifest".into(),
            ));
        }
        if dd.withdrawal_credentials.trim_start_matches("0x")
            != manifest.withdrawal.credentials.trim_start_matches("0x")
        {
            return Err(at(
                "withdrawal_credentials differ from the manifest's".into()
            ));
        }
        if dd.amount != 32_000_000_000 {
            return Err(at(format!(
                "amount {} gwei; stake deposits exactly 32 ETH",
                dd.amount
            )));
        }
        let signature = unhex(&dd.signature).map_err(|m| at(format!("signature: {m}")))?;
        let shares_data =
            unhex(&ks.payload.shares_data).map_err(|m| at(format!("sharesData: {m}")))?;
        if hex::encode(Sha256::digest(&shares_data)) != v.shares_data_sha256 {
            return Err(at("sharesData hash differs from the manifest".into()));
        }
        match &operator_ids {
            None => operator_ids = Some(ks.payload.operator_ids.clone()),
            Some(ids) if ids != &ks.payload.operator_ids => {
                return Err(at("operatorIds differ from the batch's cluster".into()))
            }
            Some(_) => {}
        }
        let leaf = merkle::leaf_hash(&LeafInput {
            pubkey: &pubkey,
            signature: &signature,
            deposit_data_root: &ddr,
            operator_ids: &ks.payload.operator_ids,
            shares_data: &shares_data,
        });
        if format!("0x{}", hex::encode(leaf)) != v.merkle_leaf {
            return Err(at(
                "merkle leaf recomputed from the files differs from the manifest".into(),
            ));
        }
        validators.push(BundleValidator {
            index: v.index,
            position,
            pubkey,
            signature,
            deposit_data_root: ddr,
            shares_data,
            owner_nonce: v.owner_nonce,
            leaf,
        });
    }
    let operator_ids = operator_ids.ok_or_else(|| fail("the bundle has no validators".into()))?;
    let manifest_ids: Vec<u64> = manifest.operators.list.iter().map(|o| o.id).collect();
    if manifest_ids != operator_ids {
        return Err(fail(
            "operators in keyshares.json differ from manifest.operators".into(),
        ));
    }
    let leaves: Vec<[u8; 32]> = validators.iter().map(|v| v.leaf).collect();
    let root = merkle::root(&leaves).ok_or_else(|| fail("the bundle has no validators".into()))?;
    if format!("0x{}", hex::encode(root)) != manifest.merkle_root {
        return Err(fail(
            "merkle_root recomputed from the validators differs from the manifest".into(),
        ));
    }
    for w in validators.windows(2) {
        if w[1].owner_nonce != w[0].owner_nonce + 1 {
            return Err(fail(format!(
                "owner nonces are not consecutive: index {} has {}, index {} has {}",
                w[0].index, w[0].owner_nonce, w[1].index, w[1].owner_nonce
            )));
        }
    }
    Ok(VerifiedBundle {
        dir: dir.to_owned(),
        ceremony_id: manifest.ceremony_id.clone(),
        network: manifest.network.name.clone(),
        merkle_root: root,
        operator_ids,
        withdrawal_type,
        withdrawal_address: manifest.withdrawal.address.clone(),
        owner_address: manifest.owner.address.clone(),
        identity: signer_key,
        validators,
    })
}
