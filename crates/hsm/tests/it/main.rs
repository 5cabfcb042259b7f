//! Integration tests against SoftHSM. Every test creates its own private token directory
//! (`SoftHsmToken::new`), which works because nextest runs each test in its own process: one
//! `C_Initialize` per process. Run with `cargo nextest run -p kc-hsm`.
//!
//! If SoftHSM is missing the tests fail with a message to run `make tools`.

mod attestation;
mod backends;
mod hsm_config;
mod keys;
mod session;
