//! The crate's one error type. Every variant names what is wrong and where (operator id,
//! validator public key, JSON field); none carries secret material.

use std::path::PathBuf;

/// Errors of the SSV key-share layer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The number of operators is not 4, 7, 10 or 13 ([`crate::shamir::CLUSTER_SIZES`]).
    #[error(
        "{context}: {count} operators, a cluster needs {} (3f+1)",
        crate::shamir::cluster_sizes_text()
    )]
    WrongOperatorCount { context: String, count: usize },

    /// The same operator id appears twice.
    #[error("{context}: operator id {id} appears more than once")]
    DuplicateOperatorId { context: String, id: u64 },

    /// Two operators share one RSA public key.
    #[error("operators {first} and {second} have the same public key")]
    DuplicateOperatorKey { first: u64, second: u64 },

    /// An operator id that cannot be used as a Shamir x-coordinate or in the SDK's JSON.
    #[error("{context}: operator id {id} is invalid (must be 1..=2^53-1)")]
    InvalidOperatorId { context: String, id: u64 },

    /// Operator ids are not in strictly increasing order where the format requires it.
    #[error("{context}: operator ids are not sorted: {id} follows {previous}")]
    OperatorsNotSorted {
        context: String,
        previous: u64,
        id: u64,
    },

    /// An operator public key that is not base64 of a PEM RSA public key.
    #[error("operator {id}: bad public key encoding: {reason}")]
    OperatorKeyEncoding { id: u64, reason: String },

    /// An operator RSA key whose modulus is not 2048 bits.
    #[error("operator {id}: RSA key is {bits} bits, the SSV network uses RSA-2048")]
    OperatorKeySize { id: u64, bits: usize },

    /// RSA encryption of a share failed.
    #[error("operator {id}: share encryption failed: {reason}")]
    Encryption { id: u64, reason: String },

    /// A decrypted share plaintext is not what the SSV node accepts (never shows the plaintext).
    #[error("operator {id}: share plaintext is not \"0x\" + 64 hex digits of a scalar: {reason}")]
    SharePlaintext { id: u64, reason: &'static str },

    /// Share secrets given to reconstruction are unusable (duplicate ids, too few).
    #[error("reconstruction: {reason}")]
    Reconstruction { reason: String },

    /// A byte field has the wrong length.
    #[error("validator {validator}: {field} is {actual} bytes, expected {expected}")]
    LengthMismatch {
        validator: String,
        field: &'static str,
        expected: usize,
        actual: usize,
    },

    /// A hex field that does not decode.
    #[error("validator {validator}: {field} is not 0x-prefixed hex: {reason}")]
    Hex {
        validator: String,
        field: &'static str,
        reason: String,
    },

    /// A BLS public key (validator or share) that is not a valid compressed G1 point.
    #[error("validator {validator}: {field} is not a valid BLS12-381 G1 public key")]
    InvalidPublicKey { validator: String, field: String },

    /// A BLS signature that is not a valid compressed G2 point.
    #[error("validator {validator}: ownership signature is not a valid BLS12-381 G2 point")]
    InvalidSignature { validator: String },

    /// The ownership signature does not verify under the validator key.
    #[error("validator {validator}: ownership signature does not verify for owner {owner} nonce {nonce}")]
    SignatureMismatch {
        validator: String,
        owner: String,
        nonce: u64,
    },

    /// One share public key is off the polynomial the others define.
    #[error("validator {validator}: share public key of operator {operator_id} is inconsistent with the other shares")]
    InconsistentShare { validator: String, operator_id: u64 },

    /// The share public keys are not on one polynomial through the validator key.
    #[error("validator {validator}: share public keys do not interpolate to the validator public key ({detail})")]
    SharesDoNotInterpolate {
        validator: String,
        detail: &'static str,
    },

    /// An RSA ciphertext that no 2048-bit key of this operator could have produced.
    #[error("validator {validator}: encrypted share for operator {operator_id} is not below the operator's RSA modulus")]
    CiphertextOutOfRange { validator: String, operator_id: u64 },

    /// The owner nonce range does not fit.
    #[error("owner nonce {first} + {count} validators exceeds {max} (the SSV node keeps nonces as uint16)")]
    NonceOverflow { first: u64, count: usize, max: u64 },

    /// An owner address that is not a valid (EIP-55) Ethereum address.
    #[error("{context}: owner address {value:?} is invalid: {reason}")]
    OwnerAddress {
        context: String,
        value: String,
        reason: String,
    },

    /// Two fields that must agree do not.
    #[error("{context}: {field} does not match: {detail}")]
    FieldMismatch {
        context: String,
        field: &'static str,
        detail: String,
    },

    /// The same validator appears twice in one keyshares.json.
    #[error("keyshares.json: validator {validator} appears more than once")]
    DuplicateValidator { validator: String },

    /// The keyshares.json version is not one the SDK reads.
    #[error("keyshares.json: version {found:?} is not supported (v1.1.0 or v1.2.0)")]
    Version { found: String },

    /// JSON that does not parse into the keyshares format.
    #[error("keyshares.json: {0}")]
    Json(String),

    /// An I/O error on a named file.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
