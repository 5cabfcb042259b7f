//! The ceremony bundle: the plan, the manifest, the transcript, the batch Merkle root, the
//! sealed master secret's envelope, and whole-bundle verification (DESIGN.md, "The bundle").
//!
//! Shared by `ceremony` (which writes and verifies bundles) and `signer-agent` (which verifies
//! them before it sends anything). This crate holds no secret and never touches an HSM: it
//! reads, writes and checks public or encrypted material only.

pub mod bounded;
mod error;
pub mod fsio;
pub mod jsonstream;
pub mod manifest;
pub mod merkle;
pub mod operators;
pub mod plan;
pub mod reshare;
pub mod seal;
pub mod transcript;
pub mod verify;

pub use error::Error;
pub use kc_validator::text::printable;
