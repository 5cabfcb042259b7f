//! Reading a ceremony bundle (public files only) into what `stake` needs, after verification.
//!
//! [`load_verified`] is the single entry point. It makes ONE call to the whole-bundle
//! verification shared with `ceremony verify` ([`kc_bundle::verify::load_verified`]: every
//! signature, hash, root, the transcript chain and the share interpolation), pinned to the
//! trusted identity key that signed the manifest, then adds what only the agent relies on:
//! exactly 32 ETH per deposit, consecutive owner nonces, one cluster, and a Merkle proof per
//! validator that checks against the batch root it will send. The agent never reads `sealed/`
//! beyond hashing it, and holds no BLS secret.

use std::path::{Path, PathBuf};

use kc_bundle::bounded::{self, caps};
use kc_bundle::manifest::{files, key_fingerprint, ManifestSignature};
use kc_bundle::merkle;
use kc_bundle::verify::{Report, VerifyOptions};
use kc_validator::WithdrawalType;

use crate::error::{Error, Result};

/// The only deposit amount `PoolManager.stake` makes (gwei): 32 ETH, the activation balance.
pub const DEPOSIT_GWEI: u64 = kc_validator::deposit::MIN_ACTIVATION_BALANCE_GWEI;

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
    /// Merkle proof of `leaf` under the batch root.
    pub proof: Vec<[u8; 32]>,
}

/// A bundle that passed verification.
#[derive(Debug, Clone)]
pub struct VerifiedBundle {
    pub dir: PathBuf,
    pub ceremony_id: String,
    pub network: String,
    /// The genesis fork version the deposits are signed for (manifest, hex).
    pub fork_version: String,
    pub merkle_root: [u8; 32],
    pub operator_ids: Vec<u64>,
    /// 1 (0x01) or 2 (0x02).
    pub withdrawal_type: u8,
    pub withdrawal_address: String,
    pub owner_address: String,
    /// SEC1 uncompressed identity public key.
    pub identity: Vec<u8>,
    /// The cluster's operators as the manifest pins them: (id, SHA-256 fingerprint of the
    /// key's DER, hex).
    pub operators: Vec<(u64, String)>,
    pub validators: Vec<BundleValidator>,
}

/// Whether two SEC1 encodings (compressed or not) are the same P-256 key.
fn same_key(a: &[u8], b: &[u8]) -> bool {
    match (
        p256::PublicKey::from_sec1_bytes(a),
        p256::PublicKey::from_sec1_bytes(b),
    ) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// The key `manifest.sig` names, if the file can be read at all (the shared verification
/// reports why not). Read through the bundle's bounded reader: a FIFO, a device or a huge file
/// there is refused at once, never waited on or read.
fn signer_key(dir: &Path) -> Option<Vec<u8>> {
    let (bytes, _) = bounded::read(&dir.join(files::MANIFEST_SIG), &caps::manifest_sig()).ok()?;
    let sig = ManifestSignature::from_bytes(&bytes).ok()?;
    hex::decode(sig.public_key.trim_start_matches("0x")).ok()
}

/// The bundle is for the chain the node serves: its network is that chain's named
/// network (`custom` for any other chain, e.g. a devnet), and the operators' keys were read on
/// that chain. A deposit signed for another network's fork would be accepted by the deposit
/// contract and then ignored by the beacon chain: the ETH would be lost.
fn check_chain(dir: &Path, m: &kc_bundle::manifest::Manifest, node_chain_id: u64) -> Result<()> {
    let want = kc_bundle::plan::network_name_for_chain(node_chain_id);
    if m.network.name != want {
        return Err(Error::BundleChain {
            path: dir.to_owned(),
            field: "network.name",
            bundle: m.network.name.clone(),
            node_chain_id,
            expected: want.to_owned(),
        });
    }
    if let Some(p) = &m.operators.provenance {
        if p.chain_id != node_chain_id {
            return Err(Error::BundleChain {
                path: dir.to_owned(),
                field: "operators.provenance.chain_id",
                bundle: p.chain_id.to_string(),
                node_chain_id,
                expected: node_chain_id.to_string(),
            });
        }
    }
    Ok(())
}

/// Every failed check of `report`, one `file: field: detail (check)` each, joined by `; `.
pub fn describe_failures(report: &Report) -> String {
    match report.failures().count() {
        0 => "no check ran".to_owned(),
        n => format!(
            "verification failed, {n} problem(s): {}",
            report.failures_line(None)
        ),
    }
}

/// Verifies the bundle in `dir` against the trusted identity keys and returns its validators.
pub fn load_verified(dir: &Path, trusted: &[Vec<u8>]) -> Result<VerifiedBundle> {
    load(dir, trusted, None)
}

/// [`load_verified`], and the bundle is for `node_chain_id`, the chain the node serves (its
/// network and its operators' provenance).
pub fn load_verified_on_chain(
    dir: &Path,
    trusted: &[Vec<u8>],
    node_chain_id: u64,
) -> Result<VerifiedBundle> {
    load(dir, trusted, Some(node_chain_id))
}

fn load(dir: &Path, trusted: &[Vec<u8>], node_chain_id: Option<u64>) -> Result<VerifiedBundle> {
    let fail = |message: String| Error::Bundle {
        path: dir.to_owned(),
        message,
    };
    // The trusted key that signed, if any, is pinned for the shared verification.
    let signer = signer_key(dir);
    let pinned = signer
        .as_deref()
        .and_then(|k| trusted.iter().find(|t| same_key(t, k)).cloned());
    let untrusted = || {
        let who = signer
            .as_deref()
            .map(key_fingerprint)
            .unwrap_or_else(|| "an unreadable key".into());
        format!(
            "untrusted identity: manifest signed by {who}, not one of the {} trusted_identities",
            trusted.len()
        )
    };
    let opts = VerifyOptions {
        identity: pinned.clone(),
        ..VerifyOptions::default()
    };
    let vb = match kc_bundle::verify::load_verified(dir, &opts) {
        Ok(vb) => vb,
        Err(report) => {
            let mut msg = describe_failures(&report);
            if pinned.is_none() {
                msg = format!("{}; {msg}", untrusted());
            }
            return Err(fail(msg));
        }
    };
    let Some(identity) = pinned else {
        return Err(fail(untrusted()));
    };
    if let Some(chain) = node_chain_id {
        check_chain(dir, &vb.manifest, chain)?;
    }
    from_verified(dir, &vb, identity).map_err(|problems| {
        fail(format!(
            "refused by the agent's own checks, {} problem(s): {}",
            problems.len(),
            problems.join("; ")
        ))
    })
}

/// The agent's own checks on a verified bundle, and the validators as `stake` sends them.
/// Returns every problem found (file and field named), not just the first.
fn from_verified(
    dir: &Path,
    vb: &kc_bundle::verify::VerifiedBundle,
    identity: Vec<u8>,
) -> std::result::Result<VerifiedBundle, Vec<String>> {
    let m = &vb.manifest;
    let mut problems = Vec::new();
    let withdrawal_type = match m.withdrawal.kind.parse::<WithdrawalType>() {
        Ok(t) => t.prefix(),
        Err(e) => {
            problems.push(format!("{}: withdrawal.type: {e}", files::MANIFEST));
            0
        }
    };
    let root = match merkle::root(&vb.leaves) {
        Some(r) => r,
        None => {
            problems.push(format!(
                "{}: validators: the bundle has none",
                files::MANIFEST
            ));
            [0; 32]
        }
    };
    let operator_ids = vb.operator_ids();
    let mut validators = Vec::with_capacity(m.validators.len());
    for (i, ((v, d), shares)) in m
        .validators
        .iter()
        .zip(&vb.deposits)
        .zip(&vb.shares_data)
        .enumerate()
    {
        if d.amount != DEPOSIT_GWEI {
            problems.push(format!(
                "{}: [{i}].amount: {} gwei; stake deposits exactly 32 ETH",
                files::DEPOSIT_DATA,
                d.amount
            ));
        }
        if let Some(item) = vb.keyshares.shares.get(i) {
            if item.payload.operator_ids != operator_ids {
                problems.push(format!(
                    "{}: shares[{i}].payload.operatorIds: {:?}, the batch's cluster is {operator_ids:?}",
                    files::KEYSHARES,
                    item.payload.operator_ids
                ));
            }
        }
        let leaf = vb.leaves[i];
        let proof = vb.proof(i);
        if !merkle::verify_proof(&proof, &root, &leaf) {
            problems.push(format!(
                "{}: validators[{i}].merkle_leaf: its proof does not reach the root",
                files::MANIFEST
            ));
        }
        validators.push(BundleValidator {
            index: v.index,
            position: i,
            pubkey: d.pubkey.to_bytes().to_vec(),
            signature: d.signature.to_bytes().to_vec(),
            deposit_data_root: d.deposit_data_root,
            shares_data: shares.clone(),
            owner_nonce: v.owner_nonce,
            leaf,
            proof,
        });
    }
    for w in validators.windows(2) {
        if w[1].owner_nonce != w[0].owner_nonce + 1 {
            problems.push(format!(
                "{}: validators[{}].owner_nonce: {} does not follow {} (index {})",
                files::MANIFEST,
                w[1].position,
                w[1].owner_nonce,
                w[0].owner_nonce,
                w[0].index
            ));
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(VerifiedBundle {
        dir: dir.to_owned(),
        ceremony_id: m.ceremony_id.clone(),
        network: m.network.name.clone(),
        fork_version: m.network.fork_version.clone(),
        merkle_root: root,
        operator_ids,
        withdrawal_type,
        withdrawal_address: m.withdrawal.address.clone(),
        owner_address: m.owner.address.clone(),
        identity,
        operators: m
            .operators
            .list
            .iter()
            .map(|o| (o.id, o.fingerprint.clone()))
            .collect(),
        validators,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `load_verified` on `dir` in a thread; `None` if it has not returned in 20 s.
    fn load_within_deadline(dir: &Path) -> Option<Result<VerifiedBundle>> {
        let (tx, rx) = std::sync::mpsc::channel();
        let dir = dir.to_owned();
        std::thread::spawn(move || {
            let _ = tx.send(load_verified(&dir, &[vec![4u8; 65]]));
        });
        rx.recv_timeout(std::time::Duration::from_secs(20)).ok()
    }

    /// A FIFO at `manifest.sig` made the agent wait forever (a plain read of the
    /// signature before the shared verification); it is refused at once.
    #[test]
    fn a_fifo_at_manifest_sig_is_refused_without_hanging() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join(files::MANIFEST), b"{}").unwrap();
        let fifo = tmp.path().join(files::MANIFEST_SIG);
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        let e = load_within_deadline(tmp.path())
            .expect("load_verified hangs on a FIFO at manifest.sig")
            .unwrap_err();
        assert!(e.to_string().contains("verification failed"), "{e}");
    }

    /// A symlink from `manifest.sig` to `/dev/zero` grew the agent to gigabytes; it is
    /// refused without being read.
    #[test]
    fn a_symlink_to_dev_zero_at_manifest_sig_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join(files::MANIFEST), b"{}").unwrap();
        std::os::unix::fs::symlink("/dev/zero", tmp.path().join(files::MANIFEST_SIG)).unwrap();
        let e = load_within_deadline(tmp.path())
            .expect("load_verified hangs on /dev/zero at manifest.sig")
            .unwrap_err();
        assert!(e.to_string().contains("verification failed"), "{e}");
    }
}
