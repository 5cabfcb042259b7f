//! Integration tests for `kc-validator`, built as one binary.

mod address;
mod bls;
mod common;
mod derive;
