//! The `--from` bundle of `recover` and `reshare`: verified in full, pinned to the token's
//! identity key, before the PIN is used or anything is unsealed.

use std::path::{Path, PathBuf};

use kc_bundle::manifest::{files, sha256_hex, Manifest};
use kc_bundle::seal::SealedMaster;
use kc_bundle::verify::{self, VerifyOptions};
use kc_hsm::Token;

use crate::Error;

/// Reads a bundle file through the bounded reader (the one verification uses).
pub(crate) fn read_bundle_file(
    path: &Path,
    cap: &kc_bundle::bounded::Cap,
) -> Result<Vec<u8>, Error> {
    kc_bundle::bounded::read(path, cap)
        .map(|(bytes, _)| bytes)
        .map_err(|source| {
            kc_bundle::Error::Read {
                path: path.to_owned(),
                source,
            }
            .into()
        })
}

/// The `--from` bundle of a recovery, verified (pinned to the token's identity key) before login.
pub(crate) struct Recovered {
    pub(crate) path: PathBuf,
    /// The identity public key it was verified with (read from the token without login).
    pub(crate) identity: [u8; 65],
    pub(crate) envelope: SealedMaster,
    /// The verified manifest (`reshare` reads the validators it moves from it).
    pub(crate) manifest: Manifest,
}

/// Verifies the `--from` bundle in full, pinned to the identity public key the token holds under
/// the plan's identity label (read without logging in), and returns its sealed master secret:
/// the very bytes whose hash the verified manifest lists. For `rsa-oaep`, the envelope must also
/// name the token's seal public key. Nothing here uses the PIN or decrypts anything.
pub(crate) fn verify_from(
    bundle: &Path,
    token: &Token,
    identity_label: &str,
) -> Result<Recovered, Error> {
    let fail = |failures: String| Error::FromBundle {
        path: bundle.to_owned(),
        failures,
    };
    let identity = kc_hsm::identity_public_key(token, identity_label)?;
    let opts = VerifyOptions {
        trusted_identities: vec![identity.to_vec()],
        expect_binary: None,
        ..VerifyOptions::default()
    };
    // Only the manifest is kept: memory does not grow with the size of the --from bundle.
    let manifest = verify::verified_manifest(bundle, &opts)
        .map_err(|report| fail(report.failures_line(None)))?;
    let sealed_path = bundle.join(files::SEALED_MASTER);
    let bytes = read_bundle_file(&sealed_path, &kc_bundle::bounded::caps::sealed_master())?;
    // Read again after verification: it must still be the file the manifest lists.
    if manifest.files.get(files::SEALED_MASTER) != Some(&sha256_hex(&bytes)) {
        return Err(fail(format!(
            "{} changed after it was verified",
            files::SEALED_MASTER
        )));
    }
    let envelope = SealedMaster::from_bytes(&bytes)?;
    if let Some(want) = &envelope.key_sha256 {
        match kc_hsm::rsa_seal_key_sha256_public(token, &envelope.key_label)? {
            Some(found) if found.eq_ignore_ascii_case(want) => {}
            found => {
                return Err(kc_hsm::Error::SealedToAnotherKey {
                    label: envelope.key_label.clone(),
                    token: token.label().to_owned(),
                    envelope: want.clone(),
                    found: found.unwrap_or_else(|| "no RSA seal public key".into()),
                }
                .into())
            }
        }
    }
    Ok(Recovered {
        path: bundle.to_owned(),
        identity,
        envelope,
        manifest,
    })
}
