//! Ethereum execution-layer addresses with EIP-55 mixed-case checksums.
//!
//! Parsing accepts `0x` + 40 hex digits. An all-lower-case or all-upper-case string carries no
//! checksum and is accepted; a mixed-case string must match its EIP-55 checksum exactly
//! ([`Error::AddressChecksum`] otherwise).

use std::fmt;
use std::str::FromStr;

use sha3::{Digest, Keccak256};

use crate::Error;

/// A 20-byte execution-layer address.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Address(pub [u8; 20]);

impl Address {
    /// The EIP-55 checksummed form, `0x`-prefixed.
    pub fn to_checksum(&self) -> String {
        let lower = hex::encode(self.0);
        let hash = Keccak256::digest(lower.as_bytes());
        let mut out = String::with_capacity(42);
        out.push_str("0x");
        for (i, c) in lower.chars().enumerate() {
            let nibble = (hash[i / 2] >> if i % 2 == 0 { 4 } else { 0 }) & 0x0f;
            if c.is_ascii_alphabetic() && nibble >= 8 {
                out.push(c.to_ascii_uppercase());
            } else {
                out.push(c);
            }
        }
        out
    }

    /// Lower-case `0x`-prefixed hex.
    pub fn to_lower_hex(&self) -> String {
        format!("0x{}", hex::encode(self.0))
    }

    /// The raw 20 bytes.
    pub fn as_bytes(&self) -> &[u8; 20] {
        &self.0
    }
}

impl FromStr for Address {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        let what = || format!("address {s:?}");
        let body = s.strip_prefix("0x").ok_or_else(|| Error::InvalidAddress {
            what: what(),
            reason: "expected a 0x prefix".into(),
        })?;
        if body.len() != 40 {
            return Err(Error::InvalidAddress {
                what: what(),
                reason: format!("expected 40 hex digits after 0x, got {}", body.len()),
            });
        }
        let bytes: [u8; 20] = crate::hexutil::decode_fixed(&what(), body)?;
        let addr = Address(bytes);
        let has_lower = body.chars().any(|c| c.is_ascii_lowercase());
        let has_upper = body.chars().any(|c| c.is_ascii_uppercase());
        if has_lower && has_upper {
            let expected = addr.to_checksum();
            if expected[2..] != *body {
                return Err(Error::AddressChecksum {
                    what: what(),
                    expected,
                });
            }
        }
        Ok(addr)
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_checksum())
    }
}

impl fmt::Debug for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Address({})", self.to_checksum())
    }
}

impl serde::Serialize for Address {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_checksum())
    }
}

impl<'de> serde::Deserialize<'de> for Address {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}
