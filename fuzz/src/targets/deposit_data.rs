//! `deposit_data.json`: parse (shapes, hex, BLS points; no signature work). What parses writes
//! back in the ethstaker-deposit layout and parses to the same entries, and every entry's
//! structure check terminates with a verdict; errors name the entry and field, or a line.

use kc_validator::deposit::{parse_json, to_json};
use kc_validator::Error;

const ROUND_TRIP_ENTRIES: usize = 64;

pub fn run(data: &[u8]) {
    let text = crate::props::text(data);
    match parse_json(&text) {
        Ok(list) => {
            let written = to_json(&list);
            // Parsing validates every BLS point (~0.3 ms an entry): the round trip is checked
            // on inputs of a few entries, which is where the fuzzer's mutations land.
            if list.len() <= ROUND_TRIP_ENTRIES {
                let again = parse_json(&written).expect("written deposit data parses");
                assert_eq!(again, list, "deposit_data: not the same after a round trip");
                assert_eq!(to_json(&again), written);
            }
            for d in &list {
                let _ = d.verify_structure();
            }
        }
        Err(e @ Error::Entry { .. }) => {
            let m = e.to_string();
            assert!(m.starts_with("deposit_data["), "{m}");
            crate::props::names_field(
                "deposit_data",
                &m,
                &[
                    "pubkey",
                    "withdrawal_credentials",
                    "signature",
                    "deposit_message_root",
                    "deposit_data_root",
                    "fork_version",
                    "network_name",
                    "deposit_cli_version",
                    "amount",
                ],
            );
        }
        Err(e @ Error::Json { .. }) => {
            crate::props::names_field("deposit_data", &e.to_string(), &["EOF"])
        }
        Err(other) => panic!("deposit_data: unexpected error variant {other:?}"),
    }
}
