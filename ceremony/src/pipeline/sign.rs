//! `manifest.json` and its signature by the HSM identity key (both bundle kinds), and the
//! read-back verification of the staged bundle.

use std::path::Path;

use kc_bundle::fsio::Staging;
use kc_bundle::manifest::{self, files, sha256_hex, ManifestSignature};
use kc_bundle::verify::{self, Report, VerifyOptions};
use kc_hsm::{HsmSession, IdentityKey};

use crate::buildinfo::ToolIdentity;
use crate::Error;

/// Writes `manifest.json` (`manifest_bytes`) and `manifest.sig`, its signature by the HSM
/// identity key (both bundle kinds use these two file names); returns the manifest's SHA-256
/// (hex), the bundle's digest.
pub(crate) fn write_signed_manifest(
    staging: &Staging,
    session: &HsmSession,
    identity: &IdentityKey,
    manifest_bytes: &[u8],
) -> Result<String, Error> {
    staging.write(files::MANIFEST, manifest_bytes)?;
    sign_manifest(staging, session, identity, sha256_hex(manifest_bytes))
}

/// Writes `manifest.sig`: the HSM identity key's signature over the manifest whose SHA-256
/// (hex) is `manifest_sha` — computed as `manifest.json` was written. Returns that digest, the
/// bundle's digest.
pub(super) fn sign_manifest(
    staging: &Staging,
    session: &HsmSession,
    identity: &IdentityKey,
    manifest_sha: String,
) -> Result<String, Error> {
    let digest: [u8; 32] = hex::decode(&manifest_sha)
        .ok()
        .and_then(|d| d.try_into().ok())
        .expect("a SHA-256 in hex");
    let signature = identity.sign_digest(session, &digest)?;
    let sig = ManifestSignature {
        algorithm: manifest::SIGNATURE_ALGORITHM.to_owned(),
        public_key: hex::encode(identity.public_key_sec1()),
        manifest_sha256: manifest_sha,
        signature: hex::encode(signature),
    };
    staging.write(files::MANIFEST_SIG, &sig.to_bytes())?;
    Ok(sig.manifest_sha256)
}

/// The manifest's `tool` section for the binary that runs.
pub(crate) fn tool_info(tool: &ToolIdentity) -> manifest::ToolInfo {
    manifest::ToolInfo {
        name: tool.name.clone(),
        version: tool.version.clone(),
        git_commit: tool.git_commit.clone(),
        binary_sha256: tool.binary_sha256.clone(),
        cargo_lock_sha256: tool.cargo_lock_sha256.clone(),
    }
}

/// Verifies the staging directory as an auditor would, pinned to this ceremony's identity and
/// binary (the `INCOMPLETE` marker is the one file tolerated), except the cryptography it
/// `proven` in memory on the same bytes.
pub(super) fn verify_staged(
    dir: &Path,
    identity: &[u8],
    binary: &str,
    proven: verify::Proven,
) -> Report {
    let opts = VerifyOptions {
        trusted_identities: vec![identity.to_vec()],
        expect_binary: Some(binary.to_owned()),
        staged: true,
        proven: Some(proven),
        ..VerifyOptions::default()
    };
    verify::verify_bundle(dir, &opts)
}
