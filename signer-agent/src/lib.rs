//! `signer-agent`: the online half of the key ceremony appliance. It verifies a ceremony bundle
//! (public files only), imports its validators into a SQLite state store, and — whenever the
//! pool holds 32 ETH per validator — stakes them through `PoolManager.stake` (deposit contract +
//! SSV registration in one transaction), signing with a secp256k1 key held in a PKCS#11 token.
//! It also exports SSV operator keys with provenance for the ceremony room and submits oracle
//! reports read from a standard Beacon API.
//!
//! Modules: [`config`] (TOML + env + flags), [`signer`] (the PKCS#11 alloy signer), [`chain`]
//! (`sol!` bindings), [`ssv`] (SSV network v2: cluster state from events, ETH fee and runway
//! arithmetic from the views), [`operators`] (export), [`bundle`] (verified bundle reading), [`store`]
//! (SQLite state with append-only history), [`stake`] (plan, send, reconcile), [`oracle`],
//! [`metrics`] (Prometheus + health), [`policy`] (what the transaction key may sign, enforced
//! below all agent logic), [`cli`] (the commands).
//!
//! What it must never do: hold a BLS secret (it reads `deposit_data.json`, `keyshares.json`
//! and the manifest only); log or print the HSM PIN or a private key; deposit a public key twice
//! (the store is a cache, the chain the truth: it reconciles at start-up, and the PoolManager
//! refuses a key staked before); send anything when a check fails.
//!
//! Features: `fault-injection` (tests only) makes the process exit at named points
//! (`SIGNER_AGENT_CRASH_AT`) to test crash safety.

pub mod bundle;
pub mod chain;
pub mod cli;
pub mod config;
mod error;
pub mod metrics;
pub mod operators;
pub mod oracle;
pub mod policy;
pub mod signer;
pub mod ssv;
pub mod stake;
pub mod store;

pub use error::{Error, Result};
