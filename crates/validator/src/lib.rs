//! Validator key material, byte-identical with the Ethereum ecosystem.
//!
//! - [`mnemonic`]: BIP-39 (English) mnemonic ⇄ entropy ⇄ 64-byte seed.
//! - [`derive`]: EIP-2333 key derivation (`HKDF_mod_r`, Lamport parent → child) and EIP-2334 paths
//!   (`m/12381/3600/i/0/0` signing key, `m/12381/3600/i/0` withdrawal key).
//! - [`bls`]: BLS12-381 with `blst`, ciphersuite `BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_`,
//!   including batched verification with random scalars (one Miller loop per key).
//! - [`curve`]: 64-bit-weighted sums of G1/G2 points for batched checks (NAF, Pippenger).
//! - [`ssz`]: hash tree roots of `DepositMessage`, `DepositData`, `SigningData`, `ForkData`,
//!   `VoluntaryExit`; `compute_domain`; signing roots (consensus specs, phase 0).
//! - [`deposit`]: deposit data for mainnet, sepolia, hoodi and custom fork versions, in the exact
//!   JSON that ethstaker-deposit 1.3.1 writes, and parsing + verification of such files.
//! - [`exit`]: presigned voluntary exits (EIP-7044: Capella fork version) in ethstaker-deposit's JSON.
//! - [`keystore`]: EIP-2335 keystores (scrypt / pbkdf2, AES-128-CTR, SHA-256 checksum).
//! - [`address`]: EIP-55 checksummed execution addresses.
//!
//! ```
//! use kc_validator::{deposit, derive, Address, DepositData, Mnemonic, Network, WithdrawalType};
//!
//! let mnemonic = Mnemonic::from_entropy(&[0u8; 32])?; // "abandon ×23 art"
//! let seed = mnemonic.to_seed("");
//! let sk = derive::signing_key(seed.as_bytes(), 0)?; // m/12381/3600/0/0/0
//! let owner: Address = "0x000000000000000000000000000000000000dEaD".parse()?;
//! let wc = deposit::withdrawal_credentials(WithdrawalType::Eth1, &owner);
//! let d = DepositData::create(&sk, wc, 32_000_000_000, &Network::Hoodi)?;
//! assert_eq!(
//!     hex::encode(d.deposit_data_root),
//!     "50cdad86a42f0a639aec3a615ae000886e1dc9a34300f9c1d8fa074b386c7724"
//! );
//! let file = deposit::to_json(&[d]); // byte-identical with ethstaker-deposit 1.3.1
//! assert_eq!(deposit::from_json(&file)?.len(), 1); // parses and verifies every entry
//! # Ok::<(), kc_validator::Error>(())
//! ```
//!
//! This crate must never: print, log, format or serialize a secret except into an encrypted
//! keystore (secret types zeroize on drop and implement neither `Debug` nor `Display`); put secret
//! material into an error; do any I/O (it takes and returns bytes and strings); use `unsafe`.

pub mod address;
pub mod bls;
pub mod curve;
pub mod deposit;
pub mod derive;
mod error;
pub mod exit;
mod hexutil;
pub mod keystore;
pub mod mnemonic;
mod pyjson;
pub mod ssz;
pub mod text;

pub use address::Address;
pub use bls::{PublicKey, SecretKey, Signature};
pub use deposit::{DepositData, Network, WithdrawalType};
pub use error::Error;
pub use mnemonic::{Mnemonic, Seed};
