use std::path::PathBuf;

/// Everything that can stop a ceremony. Each variant says where: the file and field, the
/// validator index, or the HSM function.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Bundle(#[from] kc_bundle::Error),

    #[error("hsm: {0}")]
    Hsm(#[from] kc_hsm::Error),

    #[error("{0}")]
    Key(#[from] kc_validator::Error),

    #[error("ssv: {0}")]
    Ssv(#[from] kc_ssv::Error),

    #[error("validator {index}: {source}")]
    Validator {
        index: u32,
        source: kc_validator::Error,
    },

    #[error("validator {index}: key shares: {source}")]
    Shares { index: u32, source: kc_ssv::Error },

    #[error("{}: {source}", path.display())]
    Mnemonic {
        path: PathBuf,
        source: kc_validator::Error,
    },

    #[error("{message}")]
    Ledger { message: String },

    #[error("self-check failed, nothing was written: {0}")]
    SelfCheck(String),

    #[error("the staged bundle did not verify, nothing was written: {failures}")]
    Verify { failures: String },

    /// `recover --from`: the bundle did not verify pinned to the token's identity key; nothing
    /// was unsealed (the PIN was not used).
    #[error("--from {}: does not verify pinned to the token's identity key; refusing to log in or unseal: {failures}", path.display())]
    FromBundle { path: PathBuf, failures: String },

    #[error("{0}")]
    Hygiene(#[from] crate::hygiene::HygieneError),

    #[error("{what}: {detail}")]
    Input { what: String, detail: String },

    #[error("cancelled; nothing was written")]
    Cancelled,
}

impl Error {
    /// The process exit code for this error (documented in `ceremony --help`).
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Bundle(kc_bundle::Error::Plan { .. } | kc_bundle::Error::Operators { .. })
            | Error::Input { .. } => 2,
            Error::Bundle(kc_bundle::Error::Exists { .. }) => 3,
            Error::Hsm(_) => 4,
            Error::Ledger { .. } => 5,
            Error::Verify { .. } | Error::SelfCheck(_) | Error::FromBundle { .. } => 6,
            Error::Cancelled => 130,
            _ => 1,
        }
    }
}
