//! `kc-test-utils`: the test harness shared by the ceremony's integration tests, the agent's
//! and the system tests under `tests/system` (a dev-dependency only: `cargo tree -e normal`
//! of every shipped crate leaves it out).
//!
//! - [`tools`]: the repository root; tools that must be installed (`make tools`), never skipped.
//! - [`softhsm`]: SoftHSM and kryoptic tokens set up through `hsm-config/*-setup.sh`.
//! - [`keys`]: operator RSA keys (generated with openssl, pooled per target directory, or the
//!   fixture keys of `crates/ssv/tests/fixtures`).
//! - [`rng`]: the tests' random stream (seed printed; `KC_TEST_SEED` replays it).
//! - [`run`]: a finished child process and assertions on its exit code.
//! - [`plan`]: a ceremony plan writer whose every field can be overridden.
//! - [`files`]: reading and copying bundle files.
//! - [`beacon`]: a Beacon API fixture server on loopback.
//! - [`chain`] (feature `chain`): anvil, the pool deployed by its own script, SSV operators, and
//!   what the tests read back from the chain.
//!
//! Test code: it panics with a message that says what is missing or wrong, instead of
//! returning errors.

pub mod beacon;
#[cfg(feature = "chain")]
pub mod chain;
pub mod files;
pub mod keys;
pub mod plan;
#[cfg(feature = "postgres")]
pub mod postgres;
pub mod rng;
pub mod run;
pub mod softhsm;
pub mod tools;
