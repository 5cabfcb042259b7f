//! `sharesData`: the bytes `registerValidator` carries and the SSV node splits.
//!
//! Layout (SDK `KeySharesItem.buildPayload`, node `handleValidatorAdded`): the 96-byte ownership
//! signature ‖ n × 48-byte share public keys ‖ n × 256-byte RSA ciphertexts, each list in
//! operator-id order. As JSON: one `0x`-prefixed lower-case hex string.

use crate::error::{Error, Result};
use crate::operator::{EncryptedShare, ENCRYPTED_SHARE_LEN};
use crate::shamir::{SharePublicKey, PUBLIC_KEY_LEN};

/// Length of the ownership signature (compressed G2).
pub const SIGNATURE_LEN: usize = 96;

/// Decoded `sharesData` of one validator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SharesData {
    /// The ownership signature (compressed G2, unvalidated here).
    pub signature: [u8; SIGNATURE_LEN],
    /// Share public keys, in operator-id order (unvalidated here).
    pub share_public_keys: Vec<SharePublicKey>,
    /// Encrypted shares, in operator-id order.
    pub encrypted_shares: Vec<EncryptedShare>,
}

impl SharesData {
    /// The byte length for `n` operators.
    pub fn expected_len(n: usize) -> usize {
        SIGNATURE_LEN + n * (PUBLIC_KEY_LEN + ENCRYPTED_SHARE_LEN)
    }

    /// Number of operators.
    pub fn operator_count(&self) -> usize {
        self.share_public_keys.len()
    }

    /// Serializes to bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(Self::expected_len(self.operator_count()));
        out.extend_from_slice(&self.signature);
        for pk in &self.share_public_keys {
            out.extend_from_slice(&pk.0);
        }
        for ct in &self.encrypted_shares {
            out.extend_from_slice(&ct.0);
        }
        out
    }

    /// SHA-256 of the raw bytes ([`SharesData::to_bytes`], not of the hex text): the
    /// "sharesData hash" a manifest records.
    pub fn sha256(&self) -> [u8; 32] {
        use sha2::Digest as _;
        sha2::Sha256::digest(self.to_bytes()).into()
    }

    /// Serializes to `0x`-prefixed lower-case hex.
    pub fn to_hex(&self) -> String {
        format!("0x{}", hex::encode(self.to_bytes()))
    }

    /// Splits bytes for `operator_count` operators; the length must be exact.
    /// `validator` names the validator in errors.
    pub fn from_bytes(bytes: &[u8], operator_count: usize, validator: &str) -> Result<Self> {
        let expected = Self::expected_len(operator_count);
        if bytes.len() != expected {
            return Err(Error::LengthMismatch {
                validator: validator.to_owned(),
                field: "sharesData",
                expected,
                actual: bytes.len(),
            });
        }
        let (sig, rest) = bytes.split_at(SIGNATURE_LEN);
        let (pks, cts) = rest.split_at(operator_count * PUBLIC_KEY_LEN);
        let mut signature = [0u8; SIGNATURE_LEN];
        signature.copy_from_slice(sig);
        let share_public_keys = pks
            .chunks_exact(PUBLIC_KEY_LEN)
            .map(|c| {
                let mut a = [0u8; PUBLIC_KEY_LEN];
                a.copy_from_slice(c);
                SharePublicKey(a)
            })
            .collect();
        let encrypted_shares = cts
            .chunks_exact(ENCRYPTED_SHARE_LEN)
            .map(|c| {
                let mut a = [0u8; ENCRYPTED_SHARE_LEN];
                a.copy_from_slice(c);
                EncryptedShare(a)
            })
            .collect();
        Ok(Self {
            signature,
            share_public_keys,
            encrypted_shares,
        })
    }

    /// Parses `0x`-prefixed hex (either case) for `operator_count` operators.
    pub fn from_hex(s: &str, operator_count: usize, validator: &str) -> Result<Self> {
        let bytes = decode_0x_hex(s, validator, "sharesData")?;
        Self::from_bytes(&bytes, operator_count, validator)
    }
}

/// Decodes `0x`-prefixed hex, naming the field in errors.
pub(crate) fn decode_0x_hex(s: &str, validator: &str, field: &'static str) -> Result<Vec<u8>> {
    let body = s.strip_prefix("0x").ok_or_else(|| Error::Hex {
        validator: validator.to_owned(),
        field,
        reason: "missing 0x prefix".into(),
    })?;
    hex::decode(body).map_err(|e| Error::Hex {
        validator: validator.to_owned(),
        field,
        reason: e.to_string(),
    })
}
