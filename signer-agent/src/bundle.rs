//! Reading a ceremony bundle (public files only) into what `stake` needs, after verification.
//!
//! [`load_verified`] is the single entry point. It makes ONE call to the whole-bundle
//! verification shared with `ceremony verify` ([`kc_bundle::verify::load_verified`]: every
//! signature, hash, root, the transcript chain and the share interpolation), given the trusted
//! identity keys (one of them must have signed the manifest) and the one deposit amount the
//! agent stakes (32 ETH), and takes the validators from the [`kc_bundle::verify::VerifiedBundle`]
//! it returns: nothing is read or checked twice. The agent never reads `sealed/` beyond hashing
//! it, and holds no BLS secret.

use std::path::{Path, PathBuf};

use kc_bundle::merkle;
use kc_bundle::verify::{Report, VerifyOptions};

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
    let opts = VerifyOptions {
        trusted_identities: trusted.to_vec(),
        deposit_amount_gwei: Some(DEPOSIT_GWEI),
        ..VerifyOptions::default()
    };
    let untrusted = |report: &Report| {
        format!(
            "untrusted identity: manifest signed by {}, not one of the {} trusted_identities",
            report.signed_by.as_deref().unwrap_or("an unreadable key"),
            trusted.len()
        )
    };
    let vb = match kc_bundle::verify::load_verified(dir, &opts) {
        Ok(vb) => vb,
        Err(report) => {
            let mut msg = describe_failures(&report);
            if !report.identity_pinned {
                msg = format!("{}; {msg}", untrusted(&report));
            }
            return Err(fail(msg));
        }
    };
    // No trusted identity at all: the verification could not pin one, and the agent refuses.
    let Some(identity) = vb.identity.clone() else {
        return Err(fail(format!(
            "untrusted identity: manifest signed by {}, not one of the {} trusted_identities",
            kc_bundle::manifest::key_fingerprint(
                &hex::decode(&vb.manifest.identity.public_key).unwrap_or_default()
            ),
            trusted.len()
        )));
    };
    if let Some(chain) = node_chain_id {
        check_chain(dir, &vb.manifest, chain)?;
    }
    Ok(from_verified(dir, &vb, identity))
}

/// The validators of a verified bundle as `stake` sends them. Everything was checked by the
/// shared verification, pinned to a trusted identity and to 32 ETH per deposit: the entries
/// against the plan (indices and consecutive owner nonces), every key share item's cluster, the
/// leaves and their root; the proofs here are of that root.
fn from_verified(
    dir: &Path,
    vb: &kc_bundle::verify::VerifiedBundle,
    identity: Vec<u8>,
) -> VerifiedBundle {
    let m = &vb.manifest;
    let root = merkle::root(&vb.leaves).expect("a verified bundle has validators");
    let validators = m
        .validators
        .iter()
        .zip(&vb.deposits)
        .zip(&vb.shares_data)
        .enumerate()
        .map(|(i, ((v, d), shares))| BundleValidator {
            index: v.index,
            position: i,
            pubkey: d.pubkey.to_bytes().to_vec(),
            signature: d.signature.to_bytes().to_vec(),
            deposit_data_root: d.deposit_data_root,
            shares_data: shares.clone(),
            owner_nonce: v.owner_nonce,
            leaf: vb.leaves[i],
            proof: vb.proof(i),
        })
        .collect();
    VerifiedBundle {
        dir: dir.to_owned(),
        ceremony_id: m.ceremony_id.clone(),
        network: m.network.name.clone(),
        fork_version: m.network.fork_version.clone(),
        merkle_root: root,
        operator_ids: vb.operator_ids(),
        withdrawal_type: vb.plan.withdrawal_type.prefix(),
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
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kc_bundle::manifest::files;

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
