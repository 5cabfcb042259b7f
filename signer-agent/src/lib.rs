//! `signer-agent`: the online half of the key ceremony appliance. It verifies a ceremony bundle
//! (public files only), imports its validators into a SQLite state store, and — whenever the
//! pool holds 32 ETH per validator — stakes them through `PoolManager.stake` (deposit contract +
//! SSV registration in one transaction), signing with a secp256k1 key held in a PKCS#11 token.
//! It also exports SSV operator keys with provenance for the ceremony room and submits oracle
//! reports read from a standard Beacon API.
//!
//! Modules: [`config`] (TOML + env + flags), [`profiles`] (built-in mainnet/hoodi contracts),
//! [`tls`] (HTTPS with rustls/ring, trust roots, endpoint credentials), [`redact`] (no
//! credential in any log line, error or output), [`signer`] (the PKCS#11 alloy signer),
//! [`wallet`] (that signer behind the policy, as the commands open it), [`chain`] (`sol!`
//! bindings), [`logscan`] (the one chunked log scanner and the event cache every event query
//! goes through), [`ssv`] (SSV network v2: cluster state from events, operator checks, ETH fee
//! and runway arithmetic from SSVNetworkViews), [`operators`] (export), [`bundle`] (verified
//! bundle reading), [`verify`] (the chain's view of a bundle), [`store`] (SQLite state with
//! append-only history; PostgreSQL for two agents), [`leader`] (the leadership lease of two
//! agents on one PostgreSQL store, and the gate the key signs behind), [`stake`] (plan, front-running scan, send, reconcile), [`replace`]
//! (transactions followed through the mempool: replaced, dropped, nonce taken), [`oracle`],
//! [`metrics`] (Prometheus + health), [`policy`] (what the transaction key may sign, enforced
//! below all agent logic), [`doctor`] (the pre-flight checks), [`maintenance`] (cluster funding,
//! exits for withdrawals, reshare migrations), [`daemon`] (the `run` loop), [`cli`] (the
//! commands). Shared below them all: [`types`], [`units`], [`fault`].
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
pub mod daemon;
pub mod doctor;
mod error;
pub mod fault;
pub mod leader;
pub mod logscan;
pub mod maintenance;
pub mod metrics;
pub mod operators;
pub mod oracle;
pub mod policy;
pub mod profiles;
pub mod redact;
pub mod refusal;
pub mod replace;
pub mod revert;
pub mod signer;
pub mod ssv;
pub mod stake;
pub mod store;
pub mod tls;
pub mod types;
pub mod units;
pub mod verify;
pub mod wallet;

pub use error::{Error, Result};
pub use refusal::{Refusal, WaitReason};
