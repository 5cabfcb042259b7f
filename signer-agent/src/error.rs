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

    /// The state database failed (SQLite, or PostgreSQL: `path` is then the URL as
    /// `redact::url` shows it, without credentials).
    #[error("state store {}: {action}: {source}", path.display())]
    Store {
        path: PathBuf,
        action: String,
        #[source]
        source: crate::store::DbError,
    },

    /// The state store's schema is newer than this agent: it does not write into a schema it
    /// does not know (upgrade the agent, or restore the store the agent made).
    #[error("state store {store}: schema version {found} is newer than this agent's ({supported}): refusing to use it; run the agent that wrote it")]
    StoreTooNew {
        /// The SQLite file, or the PostgreSQL URL as `redact::url` shows it.
        store: String,
        found: i64,
        supported: i64,
    },

    /// A state store row is not what it must be (an unknown status, a blob of the wrong
    /// length): the agent refuses it rather than guess.
    #[error("state store {}: {table} row {key}: {problem}", path.display())]
    StoreRow {
        path: PathBuf,
        table: &'static str,
        key: String,
        #[source]
        problem: crate::store::RowError,
    },

    /// The PostgreSQL state store failed (the URL as `redact::url` shows it: no credential).
    #[error("state store {url}: {action}: {source}")]
    Postgres {
        url: String,
        action: String,
        #[source]
        source: tokio_postgres::Error,
    },

    /// This instance's lease is no longer current (another instance took over, or it expired):
    /// the write that would precede a signature was refused by its fencing token, and the
    /// instance signs nothing more until it holds the lease again.
    #[error("state store {url}: the lease of fencing token {token} is no longer held by this instance: write refused, nothing more is signed")]
    Fenced { url: String, token: i64 },

    /// Nothing was sent: a check refused (the variant names the rule and carries its data).
    /// (Boxed: the refusal is the large part of this error.)
    #[error("refused: {0}")]
    Refused(Box<crate::refusal::Refusal>),

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

    /// An endpoint URL is plain `http://` to a host that is not loopback: its credentials and
    /// answers would cross the network in clear text.
    #[error("config: {field}: {url} is plain http:// to a host that is not loopback: use https://, or set tls.allow_insecure_http = true")]
    InsecureEndpoint { field: String, url: String },

    /// The TLS handshake with an endpoint failed (the URL is shown without credentials).
    #[error("tls: {endpoint}: {failure}")]
    Tls {
        endpoint: String,
        failure: crate::tls::TlsFailure,
    },

    /// An operator of a batch's cluster cannot take the pool's validators: staking for this
    /// cluster stops (the other bundles go on).
    #[error("operator {operator_id} of cluster {operator_ids:?}: {problem}; staking for this cluster stops")]
    ClusterStopped {
        operator_ids: Vec<u64>,
        operator_id: u64,
        problem: crate::ssv::OperatorProblem,
    },

    /// Someone else used the agent key's nonce: a transaction the agent did not sign (or lost
    /// track of) took the nonce of one of its transactions. The agent stops.
    #[error("nonce {nonce} of the agent's key {address} was used by a transaction the agent did not send (its own transactions for it: {ours}); someone else signs with this key or another agent shares it: stopping")]
    NonceTaken {
        address: alloy::primitives::Address,
        nonce: u64,
        ours: String,
    },

    /// A sent transaction vanished from the mempool without being mined; its validators are
    /// eligible again and the agent plans anew.
    #[error("transaction {tx} (nonce {nonce}) was dropped from the mempool without being mined")]
    TxDropped { tx: String, nonce: u64 },

    /// `doctor` found failing checks.
    #[error("doctor: {failed} check(s) failed: {names}")]
    DoctorFailed { failed: usize, names: String },

    /// The metrics / health server failed.
    #[error("metrics server {addr}: {message}")]
    Metrics { addr: String, message: String },
}

impl Error {
    /// The process exit code for this error (documented in `--help`):
    /// 2 configuration, 3 hsm or signer, 4 rpc / chain, 5 refusal or bundle, 6 state store,
    /// 7 `doctor` found a failing check, 1 anything else.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Config { .. } | Error::InsecureEndpoint { .. } => 2,
            Error::Hsm { .. } | Error::Signer { .. } => 3,
            Error::Rpc { .. }
            | Error::WrongChain { .. }
            | Error::Transaction { .. }
            | Error::Beacon { .. }
            | Error::SsvNetworkVersion { .. }
            | Error::Tls { .. }
            | Error::NonceTaken { .. }
            | Error::TxDropped { .. } => 4,
            Error::Refused(_)
            | Error::Bundle { .. }
            | Error::BundleChain { .. }
            | Error::Operator { .. }
            | Error::LegacyCluster { .. }
            | Error::ClusterStopped { .. } => 5,
            Error::DoctorFailed { .. } => 7,
            Error::Store { .. }
            | Error::StoreTooNew { .. }
            | Error::StoreRow { .. }
            | Error::Postgres { .. }
            | Error::Fenced { .. } => 6,
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

    /// An RPC failure; the message is scrubbed of endpoint credentials.
    pub(crate) fn rpc(call: impl Into<String>, e: impl std::fmt::Display) -> Self {
        Error::Rpc {
            call: call.into(),
            message: crate::redact::scrub(&e.to_string()).into_owned(),
        }
    }

    /// An RPC transport failure: a failed TLS handshake is [`Error::Tls`], anything else
    /// [`Error::Rpc`].
    pub(crate) fn transport(
        call: impl Into<String>,
        e: &alloy::transports::TransportError,
    ) -> Self {
        match crate::tls::transport_tls_failure(e) {
            Some((endpoint, failure)) => Error::Tls { endpoint, failure },
            None => Error::rpc(call, e),
        }
    }

    /// The refusal rule this error is counted under on `/metrics` (`None`: not a refusal). A
    /// stopped cluster or a legacy one is an operator check.
    pub fn refusal_rule(&self) -> Option<&'static str> {
        match self {
            Error::Refused(r) => Some(r.rule()),
            Error::ClusterStopped { .. } | Error::LegacyCluster { .. } => Some("operator_check"),
            _ => None,
        }
    }

    /// Whether this error stops only the bundle being planned (its batch, its cluster, its
    /// nonces), so that the planner goes on with the next pending bundle.
    pub fn stops_bundle(&self) -> bool {
        match self {
            Error::Refused(r) => r.stops_bundle(),
            Error::ClusterStopped { .. } | Error::LegacyCluster { .. } => true,
            _ => false,
        }
    }

    /// A failure to sign a transaction: a policy refusal (recovered from the signer error by
    /// downcast) stays a refusal (exit 5, the daemon waits); anything else is a signer error.
    pub(crate) fn signing(
        from: alloy::primitives::Address,
        e: alloy::network::TransactionBuilderError<alloy::network::Ethereum>,
    ) -> Self {
        if let alloy::network::TransactionBuilderError::Signer(s) = &e {
            if let Some(r) = crate::refusal::Refusal::from_signer(s) {
                return r.into();
            }
            // The lease gate refused: this instance no longer leads (typed, not a signer fault).
            if let alloy::signers::Error::Other(inner) = s {
                if let Some(Error::Fenced { url, token }) = inner.downcast_ref::<Error>() {
                    return Error::Fenced {
                        url: url.clone(),
                        token: *token,
                    };
                }
            }
        }
        Error::Signer {
            label: format!("{from}"),
            message: format!("cannot sign the transaction: {e}"),
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

impl From<crate::refusal::Refusal> for Error {
    fn from(r: crate::refusal::Refusal) -> Self {
        Error::Refused(Box::new(r))
    }
}

/// Result with the agent's error.
pub type Result<T, E = Error> = std::result::Result<T, E>;
