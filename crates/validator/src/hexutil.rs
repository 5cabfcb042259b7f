//! Small hex helpers that produce this crate's named errors.

use crate::Error;

/// Decodes `s` (no `0x` prefix allowed) into exactly `N` bytes.
pub(crate) fn decode_fixed<const N: usize>(what: &str, s: &str) -> Result<[u8; N], Error> {
    let v = decode(what, s)?;
    if v.len() != N {
        return Err(Error::InvalidLength {
            what: what.to_string(),
            expected: N,
            got: v.len(),
        });
    }
    let mut out = [0u8; N];
    out.copy_from_slice(&v);
    Ok(out)
}

/// Decodes hex without a `0x` prefix (a prefix is reported as [`Error::HexPrefix`]).
pub(crate) fn decode(what: &str, s: &str) -> Result<Vec<u8>, Error> {
    if s.starts_with("0x") || s.starts_with("0X") {
        return Err(Error::HexPrefix {
            what: what.to_string(),
            reason: "unexpected 0x prefix",
        });
    }
    hex::decode(s).map_err(|e| Error::InvalidHex {
        what: what.to_string(),
        reason: match e {
            hex::FromHexError::InvalidHexCharacter { c, index } => {
                format!("character {c:?} at position {index}")
            }
            hex::FromHexError::OddLength => "odd number of digits".to_string(),
            other => other.to_string(),
        },
    })
}

/// Decodes `0x`-prefixed hex into exactly `N` bytes.
pub(crate) fn decode_fixed_0x<const N: usize>(what: &str, s: &str) -> Result<[u8; N], Error> {
    let rest = s.strip_prefix("0x").ok_or_else(|| Error::HexPrefix {
        what: what.to_string(),
        reason: "expected a 0x prefix",
    })?;
    decode_fixed(what, rest)
}
