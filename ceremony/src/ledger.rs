//! The key-index and owner-nonce ledger: a new batch may not reuse an EIP-2334 index of the same
//! master secret, nor an SSV owner nonce of the same owner, used by an earlier bundle.
//!
//! Earlier bundles are given with `--previous DIR` and each is verified in full first. Masters
//! are compared by their public fingerprint (SHA-256 of the EIP-2333 master public key), owners
//! by address.

use std::path::{Path, PathBuf};

use kc_bundle::plan::Plan;
use kc_bundle::verify::{self, VerifyOptions};
use serde::Serialize;

use crate::Error;

/// What the ledger keeps of an earlier bundle.
#[derive(Debug, Clone, Serialize)]
pub struct Previous {
    pub dir: PathBuf,
    pub ceremony_id: String,
    pub master_fingerprint: String,
    pub owner: String,
    pub nonces: (u64, u64),
    pub indices: (u32, u32),
    /// A reshare bundle: its nonces count, its indices are its source's (not new keys).
    #[serde(default)]
    pub reshare: bool,
}

/// Verifies and loads each earlier bundle; a bundle that does not verify stops the ceremony.
pub fn load_previous(dirs: &[PathBuf]) -> Result<Vec<Previous>, Error> {
    dirs.iter().map(|d| load_one(d)).collect()
}

fn load_one(dir: &Path) -> Result<Previous, Error> {
    if kc_bundle::reshare::kind_of_dir(dir) == kc_bundle::reshare::BundleKind::Reshare {
        return load_reshare(dir);
    }
    // The manifest used is the one that was verified (read once), not a second read of the file.
    let m = match verify::verified_manifest(dir, &VerifyOptions::default()) {
        Ok(m) => m,
        Err(report) => {
            let first = report.failures_line(Some(3));
            return Err(Error::Ledger {
                message: format!(
                    "previous bundle {} does not verify: {}",
                    dir.display(),
                    first
                ),
            });
        }
    };
    let first = m.validators.first().map(|v| v.index).unwrap_or(0);
    let last = m.validators.last().map(|v| v.index).unwrap_or(0);
    Ok(Previous {
        dir: dir.to_owned(),
        ceremony_id: m.ceremony_id,
        master_fingerprint: m.master.fingerprint,
        owner: m.owner.address,
        nonces: (m.owner.first_nonce, m.owner.last_nonce),
        indices: (first, last),
        reshare: false,
    })
}

fn load_reshare(dir: &Path) -> Result<Previous, Error> {
    let m = match kc_bundle::reshare::load_verified(dir, &VerifyOptions::default()) {
        Ok(b) => b.manifest,
        Err(report) => {
            let first = report.failures_line(Some(3));
            return Err(Error::Ledger {
                message: format!(
                    "previous reshare bundle {} does not verify: {}",
                    dir.display(),
                    first
                ),
            });
        }
    };
    let first = m.validators.iter().map(|v| v.index).min().unwrap_or(0);
    let last = m.validators.iter().map(|v| v.index).max().unwrap_or(0);
    Ok(Previous {
        dir: dir.to_owned(),
        ceremony_id: m.ceremony_id,
        master_fingerprint: m.source.master_fingerprint,
        owner: m.owner.address,
        nonces: (m.owner.first_nonce, m.owner.last_nonce),
        indices: (first, last),
        reshare: true,
    })
}

/// Refuses owner nonces `ours` (inclusive) of `owner` already used by an earlier bundle, and a
/// ceremony id used before. `field` names the plan field in the error.
pub fn check_nonce_range(
    owner: &str,
    ours: (u64, u64),
    id: &str,
    field: &str,
    previous: &[Previous],
) -> Result<(), Error> {
    for p in previous {
        if p.owner.eq_ignore_ascii_case(owner) {
            if let Some((lo, hi)) = overlap(ours, p.nonces) {
                return Err(Error::Ledger {
                    message: format!(
                        "{field}: nonces {lo}..={hi} of owner {} were already used by ceremony {} ({})",
                        p.owner,
                        p.ceremony_id,
                        p.dir.display()
                    ),
                });
            }
        }
        if p.ceremony_id == id {
            return Err(Error::Ledger {
                message: format!("ceremony id {id:?} was already used by {}", p.dir.display()),
            });
        }
    }
    Ok(())
}

fn overlap<T: Ord + Copy>(a: (T, T), b: (T, T)) -> Option<(T, T)> {
    let lo = a.0.max(b.0);
    let hi = a.1.min(b.1);
    (lo <= hi).then_some((lo, hi))
}

/// Refuses owner nonces already used by an earlier bundle of the same owner.
pub fn check_nonces(plan: &Plan, previous: &[Previous]) -> Result<(), Error> {
    let ours = (plan.first_nonce(), plan.nonce_of(plan.count() - 1));
    for p in previous {
        if p.owner.eq_ignore_ascii_case(&plan.owner.to_checksum()) {
            if let Some((lo, hi)) = overlap(ours, p.nonces) {
                return Err(Error::Ledger {
                    message: format!(
                        "ssv.owner_nonce: nonces {lo}..={hi} of owner {} were already used by ceremony {} ({})",
                        p.owner,
                        p.ceremony_id,
                        p.dir.display()
                    ),
                });
            }
        }
        if p.ceremony_id == plan.id() {
            return Err(Error::Ledger {
                message: format!(
                    "ceremony.id: {:?} was already used by {}",
                    p.ceremony_id,
                    p.dir.display()
                ),
            });
        }
    }
    Ok(())
}

/// Refuses EIP-2334 indices already used by an earlier bundle of the same master secret.
pub fn check_indices(
    plan: &Plan,
    master_fingerprint: &str,
    previous: &[Previous],
) -> Result<(), Error> {
    let ours = (plan.start_index(), plan.last_index());
    for p in previous
        .iter()
        .filter(|p| p.master_fingerprint == master_fingerprint && !p.reshare)
    {
        if let Some((lo, hi)) = overlap(ours, p.indices) {
            return Err(Error::Ledger {
                message: format!(
                    "ceremony.start_index: indices {lo}..={hi} of master {} were already used by ceremony {} ({})",
                    &master_fingerprint[..16],
                    p.ceremony_id,
                    p.dir.display()
                ),
            });
        }
    }
    Ok(())
}

/// What the transcript records about the earlier bundles.
pub fn summary(previous: &[Previous]) -> serde_json::Value {
    serde_json::to_value(previous).unwrap_or_default()
}
