//! "The ceremony binary links no networking crate" (DESIGN.md, promises): checked over the
//! normal dependency tree of the `ceremony` package, offline.

use std::process::Command;

/// Crates that are networking, and families of them (`name` or `name-*`). `mio` is checked
/// separately: see [`mio_comes_only_from_the_terminal_backend`].
const BANNED: &[&str] = &[
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

/// KNOWN EXCEPTION, reported to the lead: the TUI's terminal backend (crossterm's `events`)
/// pulls in `mio`, with its `net` feature (via signal-hook-mio). mio is an event loop whose `net`
/// feature compiles TCP/UDP socket types in; nothing in the ceremony opens a socket, but the
/// promise "links no networking crate" is only met once the TUI uses a backend without mio. Until
/// that decision, this test pins the exception: mio may enter only through crossterm, never
/// through anything else.
#[test]
fn mio_comes_only_from_the_terminal_backend() {
    let Some(tree) = cargo_tree(&["-i", "mio"]) else {
        return; // mio is gone: the promise holds without exception.
    };
    const ALLOWED: &[&str] = &[
        "mio",
        "crossterm",
        "signal-hook-mio",
        "ratatui-crossterm",
        "ratatui",
        "ceremony",
    ];
    let dependents: std::collections::BTreeSet<&str> = tree
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    let other: Vec<&&str> = dependents.iter().filter(|d| !ALLOWED.contains(d)).collect();
    assert!(
        other.is_empty(),
        "mio reaches the ceremony through {other:?}, not only the terminal backend"
    );
}
