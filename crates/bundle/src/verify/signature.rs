//! `manifest.sig`: its exact form, the signature over the manifest's SHA-256, the identity
//! it names, and the pinned identity (both bundle kinds).

use std::path::Path;

use crate::bounded::{self, caps};
use crate::manifest::{self, files, ManifestHead, ManifestSignature};

use super::{Checker, VerifyOptions};

pub(super) fn check_signature(
    dir: &Path,
    manifest: &ManifestHead,
    manifest_sha256: &[u8; 32],
    opts: &VerifyOptions,
    c: &mut Checker,
) {
    check_signature_of(dir, &manifest.identity, manifest_sha256, opts, c)
}

/// `manifest.sig` over the manifest whose SHA-256 is `manifest_sha256`, by the manifest's
/// `identity`, pinned when asked (both bundle kinds).
pub(crate) fn check_signature_of(
    dir: &Path,
    identity: &manifest::IdentityInfo,
    manifest_sha256: &[u8; 32],
    opts: &VerifyOptions,
    c: &mut Checker,
) {
    let sig = match bounded::read(&dir.join(files::MANIFEST_SIG), &caps::manifest_sig()) {
        Ok((b, _)) => match ManifestSignature::from_bytes(&b) {
            Ok(s) => {
                // No hash covers manifest.sig: only the exact form the ceremony writes is
                // accepted, so that no byte of it can change unnoticed (hex case, whitespace).
                let lower = |v: &str| !v.bytes().any(|b| b.is_ascii_uppercase());
                if s.to_bytes() != b
                    || !lower(&s.public_key)
                    || !lower(&s.signature)
                    || !lower(&s.manifest_sha256)
                {
                    c.fail(
                        "manifest.signature",
                        files::MANIFEST_SIG,
                        files::MANIFEST_SIG,
                        "not in the exact form the ceremony writes (pretty JSON, lower-case hex, \
                         trailing newline)",
                    );
                }
                s
            }
            Err(e) => return c.fail("manifest.signature", files::MANIFEST_SIG, "", e.to_string()),
        },
        // The whole file could not be read: the field is the file, as for the others.
        Err(e) => {
            return c.fail(
                "manifest.signature",
                files::MANIFEST_SIG,
                files::MANIFEST_SIG,
                e.to_string(),
            )
        }
    };
    let signer = hex::decode(&sig.public_key)
        .ok()
        .map(|k| manifest::key_fingerprint(&k));
    match sig.verify_digest(manifest_sha256) {
        Ok(()) => c.pass(
            "manifest.signature",
            files::MANIFEST_SIG,
            format!(
                "{} by {}",
                sig.algorithm,
                manifest::key_fingerprint(&hex::decode(&sig.public_key).unwrap_or_default())
            ),
        ),
        Err(e) => c.fail(
            "manifest.signature",
            files::MANIFEST_SIG,
            "signature",
            e.to_string(),
        ),
    }
    if sig.public_key != identity.public_key {
        c.fail(
            "identity.manifest",
            files::MANIFEST_SIG,
            "public_key",
            "differs from manifest identity.public_key",
        );
    }
    let fp = hex::decode(&identity.public_key)
        .map(|k| manifest::key_fingerprint(&k))
        .unwrap_or_default();
    if fp != identity.fingerprint {
        c.fail(
            "identity.manifest",
            files::MANIFEST,
            "identity.fingerprint",
            "is not the SHA-256 of identity.public_key",
        );
    }
    c.signed_by = signer;
    if !opts.trusted_identities.is_empty() {
        let mut bad_pin = None;
        let trusted = opts.trusted_identities.iter().find(|pinned| {
            same_p256_key(pinned, &sig.public_key)
                .map_err(|e| bad_pin = Some(e))
                .unwrap_or(false)
        });
        match (trusted, bad_pin) {
            (Some(key), _) => {
                c.identity_pinned = true;
                c.pinned_key = Some(key.clone());
                c.pass(
                    "identity.pinned",
                    files::MANIFEST_SIG,
                    format!("signed by the pinned identity {}", fp),
                )
            }
            (None, Some(e)) => c.fail("identity.pinned", files::MANIFEST_SIG, "public_key", e),
            (None, None) => c.fail(
                "identity.pinned",
                files::MANIFEST_SIG,
                "public_key",
                match opts.trusted_identities.len() {
                    1 => format!("signed by {fp}, which is not the pinned identity"),
                    n => format!("signed by {fp}, which is not one of the {n} trusted identities"),
                },
            ),
        }
    }
}

pub(super) fn same_p256_key(pinned: &[u8], hex_key: &str) -> Result<bool, String> {
    let a = p256::PublicKey::from_sec1_bytes(pinned)
        .map_err(|_| "the pinned identity is not a P-256 public key".to_owned())?;
    let b = hex::decode(hex_key)
        .ok()
        .and_then(|k| p256::PublicKey::from_sec1_bytes(&k).ok());
    Ok(b.is_some_and(|b| a == b))
}
