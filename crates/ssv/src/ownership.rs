//! The SSV ownership signature: binds a validator's shares to one owner and one owner nonce.
//!
//! Message: the UTF-8 bytes of `"<EIP-55 checksummed owner>:<nonce in decimal>"`, hashed with
//! keccak256; the 32-byte digest is BLS-signed with the validator key (Ethereum ciphersuite).
//! Sources: the SDK's `buildSignature`/`validateSignature` (`dist/KeyShares-*.js`) and the SSV
//! node's `verifySignature` (ssvlabs/ssv `eth/eventhandler/validation.go`, which formats the
//! owner with go-ethereum's `Address.String()`, the EIP-55 form).

use kc_validator::{Address, PublicKey, SecretKey, Signature};
use sha3::{Digest, Keccak256};

/// The signed text, e.g. `0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed:7`.
pub fn ownership_text(owner: &Address, nonce: u64) -> String {
    format!("{}:{nonce}", owner.to_checksum())
}

/// keccak256 of [`ownership_text`]: the 32 bytes that are BLS-signed.
pub fn ownership_digest(owner: &Address, nonce: u64) -> [u8; 32] {
    Keccak256::digest(ownership_text(owner, nonce).as_bytes()).into()
}

/// Signs the ownership digest with the validator key.
pub fn sign_ownership(validator: &SecretKey, owner: &Address, nonce: u64) -> Signature {
    validator.sign(&ownership_digest(owner, nonce))
}

/// Verifies an ownership signature under the validator public key.
pub fn verify_ownership(
    validator: &PublicKey,
    owner: &Address,
    nonce: u64,
    signature: &Signature,
) -> bool {
    validator.verify(&ownership_digest(owner, nonce), signature)
}
