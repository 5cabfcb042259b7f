//! `manifest.json`: parse; what parses round-trips; errors name a field (or line and column).

use kc_bundle::manifest::{Manifest, FORMAT};
use kc_bundle::Error;

pub fn run(data: &[u8]) {
    match Manifest::from_bytes(data) {
        Ok(m) => {
            assert_eq!(m.format, FORMAT);
            let again = Manifest::from_bytes(&m.to_bytes()).expect("a written manifest parses");
            assert_eq!(again, m, "manifest: not the same after a round trip");
        }
        Err(Error::Manifest { field, message }) => {
            assert!(!field.is_empty(), "manifest: an error without a field");
            crate::props::one_line("manifest", &message);
        }
        Err(other) => panic!("manifest: unexpected error variant {other:?}"),
    }
}
