use std::path::PathBuf;

/// Everything that can go wrong reading, writing or checking plans and bundles. Each variant
/// names the file and field (or line) at fault.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{}: {field}: {message}", file.display())]
    Plan {
        file: PathBuf,
        field: String,
        message: String,
    },

    #[error("{}: {message}", path.display())]
    Operators { path: PathBuf, message: String },

    #[error("transcript.jsonl: line {line}: {message}")]
    Transcript { line: usize, message: String },

    #[error("manifest.json: {field}: {message}")]
    Manifest { field: String, message: String },

    #[error("{message}")]
    Signature { message: String },

    #[error("sealed/master.seal: {message}")]
    Seal { message: String },

    #[error("{}: cannot {action}: {source}", path.display())]
    Io {
        path: PathBuf,
        action: &'static str,
        #[source]
        source: std::io::Error,
    },

    /// A bundle file that the bounded reader refused (not a regular file, too large, ...).
    #[error("{}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: crate::bounded::ReadError,
    },

    #[error("{}: already exists; a bundle is never overwritten", path.display())]
    Exists { path: PathBuf },
}
