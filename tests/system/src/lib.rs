//! `kc-system-tests`: the tests across the parts of the product (`tests/it`): a plan through the
//! real `ceremony` and `signer-agent` executables to the chain and an oracle rebase, and the
//! repository's own promises (every test ARCHITECTURE.md names exists, only `kc-hsm` depends on
//! cryptoki, the scripts fail loudly). This library finds the executables under test.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;

/// The repository's root directory.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("the repository root")
}

/// The workspace executable `name` of package `package`, as the build that built these tests
/// left it next to them (`target/<profile>/`; `cargo nextest run --workspace` and `make test`
/// build every workspace executable). Panics, saying what to build, if it is missing or older
/// than any source file of the workspace crates it links: a system test never runs a stale
/// executable.
pub fn workspace_binary(package: &str, name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test executable");
    let mut dir = exe.parent().expect("its directory").to_path_buf();
    if dir.ends_with("deps") {
        dir.pop();
    }
    let bin = dir.join(name);
    let built = std::fs::metadata(&bin)
        .and_then(|m| m.modified())
        .unwrap_or_else(|_| {
            panic!(
                "{} not found: build it with `cargo build -p {package}` (or run the workspace's \
                 tests, `make test`)",
                bin.display()
            )
        });
    for src in local_sources(package) {
        let changed = newest_change(&src);
        assert!(
            changed <= built,
            "{} is older than {}: rebuild it with `cargo build -p {package}`",
            bin.display(),
            src.display()
        );
    }
    bin
}

/// The source directories (`src`, `Cargo.toml`, `build.rs`) of the workspace packages in
/// `package`'s normal and build dependency tree (from `cargo tree`, offline).
fn local_sources(package: &str) -> Vec<PathBuf> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .current_dir(repo_root())
        .args([
            "tree",
            "-p",
            package,
            "-e",
            "normal,build",
            "--prefix",
            "none",
            "--offline",
            "--format",
            "{p}",
        ])
        .output()
        .expect("run cargo tree");
    assert!(
        out.status.success(),
        "cargo tree -p {package}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let root = repo_root();
    let mut dirs: Vec<PathBuf> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| Some(PathBuf::from(l.split_once(" (")?.1.split(')').next()?)))
        .filter(|p| p.starts_with(&root))
        .flat_map(|p| [p.join("src"), p.join("Cargo.toml"), p.join("build.rs")])
        .filter(|p| p.exists())
        .collect();
    dirs.sort();
    dirs.dedup();
    assert!(!dirs.is_empty(), "no workspace sources for {package}");
    dirs
}

/// The latest modification time of the file `path` or of any file below the directory `path`.
fn newest_change(path: &Path) -> SystemTime {
    if path.is_dir() {
        std::fs::read_dir(path)
            .unwrap()
            .map(|e| newest_change(&e.unwrap().path()))
            .max()
            .unwrap_or(SystemTime::UNIX_EPOCH)
    } else {
        std::fs::metadata(path)
            .and_then(|m| m.modified())
            .unwrap_or(SystemTime::UNIX_EPOCH)
    }
}
