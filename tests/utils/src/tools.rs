//! Where the repository is, and tools that must be installed (`make tools`): a missing tool
//! fails the test naming what to run; nothing is skipped.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The repository's root directory.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("the repository root")
}

/// Panics unless `name` is on `PATH` ("run make tools").
pub fn require_tool(name: &str) {
    let ok = Command::new("sh")
        .args(["-c", &format!("command -v {name}")])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        ok,
        "{name} not found: run make tools; these tests are not skipped"
    );
}
