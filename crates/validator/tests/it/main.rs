//! Integration tests for `kc-validator`, built as one binary.

mod address;
mod bls;
mod common;
mod deposit;
mod derive;
mod exit;
mod keystore;
mod malformed;
mod mnemonic;
mod reference;
