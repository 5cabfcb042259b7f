//! SSV key shares: split a validator key among SSV operators, encrypt each share to its
//! operator, sign ownership, and read and write the `keyshares.json` the SSV SDK accepts.
//!
//! - [`shamir`]: Shamir sharing over the BLS12-381 scalar field with the operator **id** as the
//!   x-coordinate (n = 3f+1 ∈ {4, 7, 10, 13}, t = n − f), reconstruction, and the public
//!   consistency check (Lagrange interpolation in G1, one multi-scalar multiplication).
//! - [`operator`]: operator RSA public keys in the network's encoding (base64 of a PEM; SPKI or
//!   PKCS#1 body), RSA-2048 only, SHA-256 fingerprints of the canonical SPKI DER, clusters, and
//!   share encryption with RSA PKCS#1 v1.5 ([`pkcs1`]: a fixed-exponent Montgomery public
//!   operation on `crypto-bigint`; encryption only).
//! - [`ownership`]: keccak256(`"<EIP-55 owner>:<nonce>"`) signed with the validator key.
//! - [`shares_data`]: `sharesData` = signature ‖ share public keys ‖ encrypted shares.
//! - [`keyshares`]: `keyshares.json` (version `v1.1.0`), building and verifying entries.
//!
//! Spec: the SSV SDK `@ssv-labs/ssv-sdk` 0.1.0 (`dist/KeyShares-*.js`) and the SSV node
//! (ssvlabs/ssv), as recorded in `docs/ssv-share-encryption.md`.
//!
//! This crate must never: print, log, format or serialize a share secret or validator secret
//! except as an RSA ciphertext to its operator (share secrets zeroize on drop and implement
//! neither `Debug` nor `Display`); put secret material into an error; decrypt anything (the
//! ceremony only encrypts); use `unsafe`; read a clock or the OS RNG on its own (callers pass
//! the time and a `CryptoRngCore`).

pub mod error;
pub mod keyshares;
pub mod operator;
pub mod ownership;
pub mod pkcs1;
pub mod shamir;
pub mod shares_data;

pub use error::{Error, Result};
pub use keyshares::{
    build_item, build_item_verified, build_keyshares, build_shares_unchecked,
    check_built_consistency, keyshares_item, verify_item, verify_item_for_cluster, BuiltShares,
    KeySharesFile, KeySharesItem, KeySharesWriter, VerifiedItem,
};
pub use operator::{Cluster, EncryptedShare, OperatorKey};
pub use ownership::{sign_ownership, verify_ownership};
pub use shamir::{
    reconstruct, split_secret, verify_many_share_public_keys, verify_many_with_validated_keys,
    verify_share_public_keys, SharePublicKey, ShareSecret, ShareSet, Split,
};
pub use shares_data::SharesData;

/// Splits a validator key among the operators of `cluster` (operator-id order).
pub fn split(
    validator: &kc_validator::SecretKey,
    cluster: &Cluster,
    rng: &mut impl rand_core::CryptoRngCore,
) -> Result<Split> {
    split_secret(&validator.to_bytes(), &cluster.ids(), rng)
}
