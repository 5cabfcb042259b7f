//! "The ceremony binary links no networking crate" (DESIGN.md, promises): checked over the
//! normal dependency tree of the `ceremony` package, offline.

use std::process::Command;

/// Crates that are networking, and families of them (`name` or `name-*`). `mio` (an event loop
/// whose `net` feature compiles sockets in) is banned too: the TUI uses ratatui's termion
/// backend precisely so that it stays out.
const BANNED: &[&str] = &[
    "mio",
    "reqwest",
    "hyper",
    "tokio",
    "h2",
    "h3",
    "rustls",
    "native-tls",
    "openssl",
    "alloy",
    "ureq",
    "curl",
    "socket2",
    "quinn",
    "tungstenite",
    "async-std",
];

#[test]
fn ceremony_links_no_networking_crate() {
    let stdout = cargo_tree(&[]).expect("cargo tree");
    let names: std::collections::BTreeSet<&str> = stdout
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert!(
        names.contains("ceremony") && names.contains("kc-hsm"),
        "{names:?}"
    );
    let found: Vec<&str> = names
        .iter()
        .copied()
        .filter(|n| {
            BANNED
                .iter()
                .any(|b| n == b || n.starts_with(&format!("{b}-")))
        })
        .collect();
    assert!(
        found.is_empty(),
        "the ceremony's dependency tree holds networking crates: {found:?}"
    );
    // Test-only crates stay out of the default tree.
    for test_only in ["tempfile", "insta", "proptest", "criterion"] {
        assert!(!names.contains(test_only), "{test_only} in the normal tree");
    }
}

/// `cargo tree -p ceremony -e normal --prefix none --offline --format {p} [extra]`; `None` when
/// cargo says the package in `-i` is not in the tree.
fn cargo_tree(extra: &[&str]) -> Option<String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args([
            "tree",
            "-p",
            "ceremony",
            "-e",
            "normal",
            "--prefix",
            "none",
            "--offline",
            "--format",
            "{p}",
        ])
        .args(extra)
        .output()
        .expect("run cargo tree");
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() && stderr.contains("did not match any packages") {
        return None;
    }
    assert!(out.status.success(), "cargo tree failed: {stderr}");
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}
