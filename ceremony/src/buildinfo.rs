//! Which binary is running: version, git commit, SHA-256 of the executable and of `Cargo.lock`.
//! Recorded in the transcript and the manifest; `ceremony verify --expect-binary` checks it.

use serde::Serialize;

/// The identity of the running ceremony binary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ToolIdentity {
    pub name: String,
    pub version: String,
    pub git_commit: Option<String>,
    pub binary_sha256: String,
    pub cargo_lock_sha256: String,
}

impl ToolIdentity {
    /// Hashes the running executable (`/proc/self/exe`).
    pub fn current() -> std::io::Result<Self> {
        let exe =
            std::fs::read("/proc/self/exe").or_else(|_| std::fs::read(std::env::current_exe()?))?;
        let commit = env!("KC_GIT_COMMIT");
        Ok(Self {
            name: "ceremony".to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            git_commit: (!commit.is_empty()).then(|| commit.to_owned()),
            binary_sha256: kc_bundle::manifest::sha256_hex(&exe),
            cargo_lock_sha256: env!("KC_CARGO_LOCK_SHA256").to_owned(),
        })
    }
}
