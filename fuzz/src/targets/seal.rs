//! `sealed/master.seal`: parse the envelope; what parses has a well-formed blob and digest and
//! round-trips; errors name the field.

use kc_bundle::seal::{SealedMaster, OVERHEAD, SECRET_LENS};
use kc_bundle::Error;

pub fn run(data: &[u8]) {
    match SealedMaster::from_bytes(data) {
        Ok(s) => {
            let blob = s.blob_bytes();
            assert!(SECRET_LENS.contains(&(blob.len() - OVERHEAD)));
            let _ = s.plan_digest();
            let again = SealedMaster::from_bytes(&s.to_bytes()).expect("a written seal parses");
            assert_eq!(again, s, "seal: not the same after a round trip");
        }
        Err(Error::Seal { message }) => crate::props::names_field(
            "seal",
            &message,
            &["format", "algorithm", "plan_sha256", "blob", "field", "EOF"],
        ),
        Err(other) => panic!("seal: unexpected error variant {other:?}"),
    }
}
