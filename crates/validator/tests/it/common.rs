//! Shared helpers for the tests.

use std::path::PathBuf;

/// `crates/validator/tests/vectors/<name>` parsed as JSON.
pub fn vector(name: &str) -> serde_json::Value {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/vectors")
        .join(name);
    let s = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    serde_json::from_str(&s).unwrap()
}

/// A decimal big-endian integer (as in the EIP-2333 vectors) as 32 bytes.
pub fn decimal_to_be32(s: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    for d in s.bytes() {
        assert!(d.is_ascii_digit(), "not decimal: {s}");
        let mut carry = u32::from(d - b'0');
        for b in out.iter_mut().rev() {
            let v = u32::from(*b) * 10 + carry;
            *b = (v & 0xff) as u8;
            carry = v >> 8;
        }
        assert_eq!(carry, 0, "overflow: {s}");
    }
    out
}
