//! Integration tests of the `ceremony` binary against SoftHSM: the whole ceremony, bad input,
//! faults, interruptions, tampering, the ledger, build attestation and operator provenance.
//!
//! Every test runs the real executable (`CARGO_BIN_EXE_ceremony`) in a private workspace with
//! its own SoftHSM token, set up by `hsm-config/softhsm-setup.sh`. Run with `cargo nextest`
//! (one process per test). Missing SoftHSM or openssl fails the test ("run make tools"): these
//! tests are never skipped.

mod bad_plans;
mod canary;
mod common;
mod hsm_faults;
mod interrupt;
mod ledger;
mod no_network;
mod provenance;
mod recovery;
mod report;
mod reshare;
mod runs;
mod tamper;
mod tokens;
mod untrusted;
