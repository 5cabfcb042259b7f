//! `keyshares.json` (SSV SDK format): parse; what parses round-trips; the entries of small files
//! are verified one by one and as a file, and the batched verdict agrees with the one-by-one
//! verdicts (plus uniqueness); errors name the validator or operator and the field.

use std::collections::HashSet;

use kc_ssv::keyshares::verify_item;
use kc_ssv::{Error, KeySharesFile};

/// Entries verified per input (each costs RSA key parsing and BLS work).
const MAX_VERIFIED: usize = 8;

pub fn run(data: &[u8]) {
    let text = crate::props::text(data);
    let file = match KeySharesFile::from_json(&text) {
        Ok(f) => f,
        Err(e) => {
            let m = e.to_string();
            match e {
                Error::Json(_) => crate::props::names_field("keyshares", &m, &["EOF"]),
                Error::Version { .. } => assert!(m.contains("version"), "{m}"),
                other => panic!("keyshares: unexpected error variant {other:?}"),
            }
            return;
        }
    };
    let again = KeySharesFile::from_json(&file.to_json()).expect("a written file parses");
    assert_eq!(again, file, "keyshares: not the same after a round trip");
    if file.shares.len() > MAX_VERIFIED {
        return;
    }
    let mut all_ok = true;
    let mut seen = HashSet::new();
    for item in &file.shares {
        match verify_item(item) {
            Ok(v) => {
                assert_eq!(
                    v.shares_data.operator_count(),
                    item.payload.operator_ids.len()
                );
                assert_eq!(v.cluster.ids(), item.payload.operator_ids);
                all_ok &= seen.insert(v.validator_public_key.to_bytes());
            }
            Err(e) => {
                all_ok = false;
                let m = e.to_string();
                crate::props::names_field("keyshares", &m, &["validator ", "operator", "nonce"]);
            }
        }
    }
    let batch = file.verify(None);
    assert_eq!(
        batch.is_ok(),
        all_ok,
        "keyshares: the file verdict ({:?}) differs from the entries' verdicts",
        batch.err().map(|e| e.to_string())
    );
}
