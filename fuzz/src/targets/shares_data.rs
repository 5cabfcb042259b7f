//! `sharesData` bytes: the first input byte picks the cluster size (4, 7, 10, 13); what splits
//! joins back to the same bytes (the layout is a bijection); hex of either case decodes alike;
//! errors name the validator and the field.

use kc_ssv::SharesData;

const VALIDATOR: &str = "0xfuzz-validator";

pub fn run(data: &[u8]) {
    let Some((&pick, bytes)) = data.split_first() else {
        return;
    };
    let n = [4, 7, 10, 13][usize::from(pick) % 4];
    match SharesData::from_bytes(bytes, n, VALIDATOR) {
        Ok(sd) => {
            assert_eq!(sd.operator_count(), n);
            assert_eq!(sd.to_bytes(), bytes, "sharesData: not a bijection");
            let upper = format!("0x{}", hex::encode_upper(bytes));
            assert_eq!(SharesData::from_hex(&upper, n, VALIDATOR).unwrap(), sd);
            assert_eq!(
                SharesData::from_hex(&sd.to_hex(), n, VALIDATOR).unwrap(),
                sd
            );
        }
        Err(e) => {
            assert_ne!(bytes.len(), SharesData::expected_len(n));
            let m = e.to_string();
            assert!(m.contains(VALIDATOR) && m.contains("sharesData"), "{m}");
        }
    }
    // The same input as hex text, as keyshares.json carries it.
    if let Ok(s) = std::str::from_utf8(bytes) {
        if let Err(e) = SharesData::from_hex(s, n, VALIDATOR) {
            let m = e.to_string();
            assert!(m.contains(VALIDATOR) && m.contains("sharesData"), "{m}");
        }
    }
}
