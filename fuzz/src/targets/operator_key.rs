//! An SSV operator public key: the first input byte is the operator id (0 tests the id check),
//! the rest the key text. What parses is RSA-2048, its fingerprint is the SHA-256 of its
//! canonical SPKI and survives re-encoding in the network's encoding; errors name the operator.

use kc_ssv::operator::{network_encoding, RSA_BITS};
use kc_ssv::OperatorKey;
use rsa::traits::PublicKeyParts as _;
use sha2::{Digest, Sha256};

pub fn run(data: &[u8]) {
    let Some((&id, text)) = data.split_first() else {
        return;
    };
    let id = u64::from(id);
    let text = crate::props::text(text);
    match OperatorKey::parse(id, &text) {
        Ok(k) => {
            assert_ne!(id, 0);
            assert_eq!(k.rsa().n().bits(), RSA_BITS);
            assert_eq!(
                k.fingerprint(),
                <[u8; 32]>::from(Sha256::digest(k.spki_der()))
            );
            let encoded = network_encoding(k.rsa()).expect("an RSA-2048 key encodes");
            let again = OperatorKey::parse(id, &encoded).expect("its network encoding parses");
            assert_eq!(again.fingerprint(), k.fingerprint());
            assert_eq!(again, k);
        }
        Err(e) => {
            let m = e.to_string();
            assert!(
                m.contains(&id.to_string()),
                "operator_key: the error names no id: {m}"
            );
            crate::props::one_line("operator_key", &m);
        }
    }
}
