//! The one error type of the agent. Every variant carries what went wrong *and where*: the
//! config field, the file, the contract call, the validator. Messages are one line, lower case.

use std::path::PathBuf;

/// Everything the agent can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A configuration value is missing, malformed or inconsistent.
    #[error("config: {field}: {message}")]
    Config { field: String, message: String },

    /// A file could not be read or written.
    #[error("{}: cannot {action}: {source}", path.display())]
    Io {
        path: PathBuf,
        action: &'static str,
        #[source]
        source: std::io::Error,
    },

    /// A file that must be created new already exists.
    #[error("{}: already exists; refusing to overwrite", path.display())]
    Exists { path: PathBuf },

    /// A file's content is not what it must be.
    #[error("{}: {message}", path.display())]
    Parse { path: PathBuf, message: String },

    /// The PKCS#11 layer failed (the message names the PKCS#11 function and token).
    #[error("hsm: {context}: {source}")]
    Hsm {
        /// What the agent was doing (boxed: the HSM error is the large part of this variant).
        context: Box<str>,
        #[source]
        source: kc_hsm::Error,
    },

    /// The signer's self-check or a signature computation failed.
    #[error("signer `{label}`: {message}")]
    Signer { label: String, message: String },

    /// A JSON-RPC call failed (after retries where retrying makes sense).
    #[error("rpc: {call}: {message}")]
    Rpc { call: String, message: String },

    /// The chain is not the one the configuration names.
    #[error("wrong chain: config says chain id {expected}, the rpc endpoint serves {actual}")]
    WrongChain { expected: u64, actual: u64 },

    /// The bundle is for another chain than the one the node serves (its network, or the chain
    /// its operators' keys were read on).
    #[error(
        "bundle {}: manifest {field} is {bundle}, but the node serves chain {node_chain_id}, which needs {expected}",
        path.display()
    )]
    BundleChain {
        path: PathBuf,
        field: &'static str,
        bundle: String,
        node_chain_id: u64,
        expected: String,
    },

    /// An operator asked for does not exist on the SSV network contract, or was removed.
    #[error("operator {id}: {message}")]
    Operator { id: u64, message: String },

    /// The bundle failed verification or a chain-side check.
    #[error("bundle {}: {message}", path.display())]
    Bundle { path: PathBuf, message: String },

    /// The state database failed.
    #[error("state store {}: {action}: {source}", path.display())]
    Store {
        path: PathBuf,
        action: String,
        #[source]
        source: rusqlite::Error,
    },

    /// Staking was refused before anything was sent (the reason names the check).
    #[error("refused: {reason}")]
    Refused { reason: String },

    /// A transaction was sent but failed or did not confirm.
    #[error("transaction {tx}: {message}")]
    Transaction { tx: String, message: String },

    /// The Beacon API failed or answered something unexpected.
    #[error("beacon api {url}: {message}")]
    Beacon { url: String, message: String },

    /// The SSV network contract is not v2.0.0 or later (ETH-paid clusters): the agent cannot
    /// stake or fund clusters on it.
    #[error("ssv network {address} is not v2 (ETH-paid clusters): {found}; the agent speaks SSV network v2.0.0 only")]
    SsvNetworkVersion {
        address: alloy::primitives::Address,
        found: String,
    },

    /// The pool's cluster of these operators is a legacy SSV-paid cluster: it takes no new
    /// validators until governance migrates it to ETH (`PoolManager.migrateClusters`).
    #[error("cluster {operator_ids:?} is a legacy SSV-paid cluster: governance must migrate it to ETH (PoolManager.migrateClusters; see `signer-agent clusters migration-plan` and the runbook) before the pool stakes into it; staking for this cluster stops")]
    LegacyCluster { operator_ids: Vec<u64> },

    /// The metrics / health server failed.
    #[error("metrics server {addr}: {message}")]
    Metrics { addr: String, message: String },
}

impl Error {
    /// The process exit code for this error (documented in `--help`):
    /// 2 configuration, 3 hsm or signer, 4 rpc / chain, 5 refusal or bundle, 6 state store,
    /// 1 anything else.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Config { .. } => 2,
            Error::Hsm { .. } | Error::Signer { .. } => 3,
            Error::Rpc { .. }
            | Error::WrongChain { .. }
            | Error::Transaction { .. }
            | Error::Beacon { .. }
            | Error::SsvNetworkVersion { .. } => 4,
            Error::Refused { .. }
            | Error::Bundle { .. }
            | Error::BundleChain { .. }
            | Error::Operator { .. }
            | Error::LegacyCluster { .. } => 5,
            Error::Store { .. } => 6,
            Error::Io { .. }
            | Error::Exists { .. }
            | Error::Parse { .. }
            | Error::Metrics { .. } => 1,
        }
    }

    pub(crate) fn config(field: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Config {
            field: field.into(),
            message: message.into(),
        }
    }

    pub(crate) fn rpc(call: impl Into<String>, e: impl std::fmt::Display) -> Self {
        Error::Rpc {
            call: call.into(),
            message: e.to_string(),
        }
    }

    pub(crate) fn refused(reason: impl Into<String>) -> Self {
        Error::Refused {
            reason: reason.into(),
        }
    }

    pub(crate) fn io(
        path: impl Into<PathBuf>,
        action: &'static str,
        source: std::io::Error,
    ) -> Self {
        Error::Io {
            path: path.into(),
            action,
            source,
        }
    }
}

/// Result with the agent's error.
pub type Result<T, E = Error> = std::result::Result<T, E>;
