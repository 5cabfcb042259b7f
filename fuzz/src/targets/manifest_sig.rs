//! `manifest.sig` over the real `manifest.json`: a signature file that verifies, and is in the
//! exact form the ceremony writes, is the real one (ECDSA with low s leaves one valid form);
//! errors name the field.

use kc_bundle::manifest::{files, ManifestSignature};
use kc_bundle::Error;

pub fn run(data: &[u8]) {
    let real = crate::fixture::original();
    let manifest = real.get(files::MANIFEST);
    match ManifestSignature::from_bytes(data) {
        Ok(s) => {
            let exact = s.to_bytes() == data
                && [&s.public_key, &s.signature, &s.manifest_sha256]
                    .iter()
                    .all(|v| !v.bytes().any(|b| b.is_ascii_uppercase()));
            match s.verify(manifest) {
                Ok(()) if exact => assert_eq!(
                    data,
                    real.get(files::MANIFEST_SIG),
                    "manifest.sig: a second exact signature file verifies"
                ),
                Ok(()) => {}
                Err(Error::Signature { message }) => crate::props::names_field(
                    "manifest_sig",
                    &message,
                    &["algorithm", "manifest_sha256", "public_key", "signature"],
                ),
                Err(other) => panic!("manifest_sig: unexpected error variant {other:?}"),
            }
        }
        Err(Error::Signature { message }) => {
            assert!(message.starts_with("manifest.sig: "), "{message}");
            crate::props::one_line("manifest_sig", &message);
        }
        Err(other) => panic!("manifest_sig: unexpected error variant {other:?}"),
    }
}
