//! `kc-system-tests`: the tests across the parts of the product (`tests/it`): a plan through the
//! real `ceremony` and `signer-agent` executables to the chain and an oracle rebase, and the
//! repository's own promises (every test ARCHITECTURE.md names exists, only `kc-hsm` depends on
//! cryptoki, `scripts/lib.sh` fails loudly). This library finds the executables under test
//! and reads ARCHITECTURE.md's invariants table ([`invariants`]).

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

/// The output of `cargo tree ARGS --offline --prefix … --format {p}` in the workspace (offline:
/// the build that made these tests downloaded every package it can list). Panics on failure.
pub fn cargo_tree(args: &[&str], prefix: &str) -> String {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .current_dir(repo_root())
        .arg("tree")
        .args(args)
        .args(["--offline", "--prefix", prefix, "--format", "{p}"])
        .output()
        .expect("run cargo tree");
    assert!(
        out.status.success(),
        "cargo tree {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The source directories (`src`, `Cargo.toml`, `build.rs`) of the workspace packages in
/// `package`'s normal and build dependency tree (from `cargo tree`, offline).
fn local_sources(package: &str) -> Vec<PathBuf> {
    let tree = cargo_tree(&["-p", package, "-e", "normal,build"], "none");
    let root = repo_root();
    let mut dirs: Vec<PathBuf> = tree
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

/// The repository's files that git tracks or would track (ignored ones left out), relative to
/// the root.
pub fn repo_files() -> Vec<String> {
    let out = Command::new("git")
        .current_dir(repo_root())
        .args([
            "ls-files",
            "--cached",
            "--others",
            "--exclude-standard",
            "-z",
        ])
        .output()
        .expect("run git ls-files");
    assert!(
        out.status.success(),
        "git ls-files: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .split('\0')
        .filter(|p| !p.is_empty() && repo_root().join(p).is_file())
        .map(str::to_owned)
        .collect()
}

/// What ARCHITECTURE.md's invariants table names as the checks of an invariant.
pub mod invariants {
    /// A reference in the "checked by" column of one row.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub enum Reference {
        /// A file (a test file, a test's data): `ceremony/tests/it/canary.rs`, or a suffix of
        /// one's path, `backends.rs`.
        File(String),
        /// A test function (Rust `#[test]`, a Solidity `test…`/`invariant…` function);
        /// `abort_at_*` names every test with that prefix (at least one).
        Test(String),
        /// A test function in a given file: `fuzz/tests/corpus.rs::bundle`.
        TestIn { file: String, test: String },
    }

    /// One row of the table: the invariant and what it names.
    #[derive(Debug)]
    pub struct Row {
        pub invariant: String,
        pub references: Vec<Reference>,
    }

    /// The rows of the table under the `## Invariants` heading of `markdown`.
    pub fn rows(markdown: &str) -> Vec<Row> {
        let section = markdown
            .split("\n## ")
            .find(|s| s.starts_with("Invariants"))
            .expect("ARCHITECTURE.md has an `## Invariants` section");
        section
            .lines()
            .filter(|l| l.starts_with('|') && !l.starts_with("|---"))
            .skip(1) // the header
            .map(|line| {
                let cells: Vec<&str> = line.split('|').collect();
                assert!(cells.len() >= 4, "not a two-column row: {line}");
                Row {
                    invariant: cells[1].trim().to_owned(),
                    references: code_spans(cells[2]).filter_map(reference).collect(),
                }
            })
            .collect()
    }

    fn code_spans(text: &str) -> impl Iterator<Item = &str> {
        text.split('`').skip(1).step_by(2)
    }

    fn is_path(s: &str) -> bool {
        s.contains('/')
            || [".rs", ".sol", ".js", ".txt", ".md", ".json", ".sh"]
                .iter()
                .any(|e| s.ends_with(e))
    }

    /// A test name is an identifier with an underscore, not a constant (`RENAME_NOREPLACE`);
    /// other code spans (`cargo tree`, `pipeline::run`, `Zeroizing`) are prose.
    fn is_test_name(s: &str) -> bool {
        let name = s.strip_suffix('*').unwrap_or(s);
        name.contains('_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
            && name.chars().any(|c| c.is_ascii_lowercase())
    }

    fn reference(span: &str) -> Option<Reference> {
        if let Some((file, test)) = span.split_once("::") {
            if is_path(file) && is_test_name(test) {
                return Some(Reference::TestIn {
                    file: file.to_owned(),
                    test: test.to_owned(),
                });
            }
            return None;
        }
        if span.contains(' ') {
            None
        } else if is_path(span) {
            Some(Reference::File(span.to_owned()))
        } else if is_test_name(span) {
            Some(Reference::Test(span.to_owned()))
        } else {
            None
        }
    }

    /// The test functions defined in a source file: Rust functions under a `#[test]`-like
    /// attribute or listed in a `*_tests!` macro call, Solidity `test…`/`invariant…` functions.
    pub fn tests_in(path: &str, source: &str) -> Vec<String> {
        let mut found = Vec::new();
        if path.ends_with(".sol") {
            for part in source.split("function ").skip(1) {
                let name: String = part
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if name.starts_with("test") || name.starts_with("invariant") {
                    found.push(name);
                }
            }
        } else if path.ends_with(".rs") {
            let mut under_test_attribute = false;
            let mut in_test_macro = false;
            // A file whose macro makes tests (`interrupt!(abort_at_plan, "plan", false);`): the
            // first argument of each call of it is a test's name.
            let test_macro = source
                .split("macro_rules! ")
                .skip(1)
                .find(|body| body.contains("#[test]"))
                .map(|body| format!("{}!(", body.split_whitespace().next().unwrap_or("")));
            for line in source.lines().map(str::trim) {
                if let Some(call) = test_macro.as_deref().and_then(|m| line.strip_prefix(m)) {
                    let name: String = call
                        .chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                        .collect();
                    if !name.is_empty() {
                        found.push(name);
                    }
                    continue;
                }
                if line.starts_with("#[") && line.contains("test") {
                    under_test_attribute = true;
                    continue;
                }
                if in_test_macro {
                    if line.starts_with('}') || line.starts_with(')') {
                        in_test_macro = false;
                    } else {
                        let name = line.trim_end_matches(',');
                        if is_identifier(name) {
                            found.push(name.to_owned());
                        }
                    }
                    continue;
                }
                if line.contains("_tests! {") || line.contains("_tests!(") {
                    in_test_macro = true;
                    continue;
                }
                if under_test_attribute {
                    if let Some(rest) = line
                        .strip_prefix("fn ")
                        .or_else(|| line.strip_prefix("async fn "))
                        .or_else(|| line.strip_prefix("pub fn "))
                    {
                        let name: String = rest
                            .chars()
                            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                            .collect();
                        found.push(name);
                        under_test_attribute = false;
                    } else if !line.starts_with("#[") && !line.starts_with("//") {
                        under_test_attribute = false;
                    }
                }
            }
        }
        found
    }

    fn is_identifier(s: &str) -> bool {
        !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    }

    /// What is wrong with the table, one line per problem: a row that names no test file or
    /// test, a file that does not exist, a test that no file defines. `files` are the
    /// repository's files with their contents (only `.rs` and `.sol` are read for tests).
    pub fn problems(markdown: &str, files: &[(String, String)]) -> Vec<String> {
        let tests: Vec<(&str, Vec<String>)> = files
            .iter()
            .map(|(path, source)| (path.as_str(), tests_in(path, source)))
            .collect();
        // A file, or a directory (`crates/hsm`) that holds one.
        let file_exists = |name: &str| {
            let name = name.trim_end_matches('/');
            files.iter().any(|(p, _)| {
                p == name || p.ends_with(&format!("/{name}")) || p.starts_with(&format!("{name}/"))
            })
        };
        let defined = |test: &str, in_file: Option<&str>| {
            tests
                .iter()
                .filter(|(p, _)| in_file.is_none_or(|f| *p == f || p.ends_with(&format!("/{f}"))))
                .flat_map(|(_, names)| names)
                .any(|n| match test.strip_suffix('*') {
                    Some(prefix) => n.starts_with(prefix),
                    None => n == test,
                })
        };
        // A snake_case span that is no test but a field or function of the code (`token_serial`)
        // is prose; a test's name that is gone from the code is still reported.
        let named_in_code = |name: &str| {
            !name.ends_with('*')
                && files.iter().any(|(_, source)| {
                    source.match_indices(name).any(|(i, _)| {
                        let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
                        !source[..i].ends_with(word) && !source[i + name.len()..].starts_with(word)
                    })
                })
        };
        let mut problems = Vec::new();
        for row in rows(markdown) {
            let short: String = row.invariant.chars().take(60).collect();
            if row.references.is_empty() {
                problems.push(format!("\"{short}…\" names no test"));
            }
            for r in &row.references {
                match r {
                    Reference::File(f) if !file_exists(f) => {
                        problems.push(format!("\"{short}…\": file {f} does not exist"))
                    }
                    Reference::Test(t) if !defined(t, None) && !named_in_code(t) => {
                        problems.push(format!("\"{short}…\": no test {t}"))
                    }
                    Reference::TestIn { file, test } if !defined(test, Some(file)) => {
                        problems.push(format!("\"{short}…\": no test {test} in {file}"))
                    }
                    _ => {}
                }
            }
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::invariants::{problems, rows, tests_in, Reference};

    const TABLE: &str = "# A\n\n## Invariants\n| invariant | checked by |\n|---|---|\n\
        | One | `a/tests/it/x.rs` `real_test`, `abort_at_*`; `cargo tree`; `RENAME_NOREPLACE` |\n\
        | Two | `x.rs::other_test`, contracts `test_solidity_thing`; the `token_serial` field |\n\
        | Three | by construction: `pipeline::run`, `Zeroizing` |\n\
        \n## Next\n| not | `a_test_here` |\n";

    fn files() -> Vec<(String, String)> {
        vec![
            (
                "a/tests/it/x.rs".into(),
                "#[test]\n#[ignore = \"slow\"]\nfn real_test() {}\n#[test]\nfn abort_at_seal() {}\n\
                 fn helper_not_a_test() {}\nsome_tests! {\n    other_test,\n}\n\
                 macro_rules! stage {\n    ($n:ident) => { #[test] fn $n() {} };\n}\nstage!(abort_at_write);\n"
                    .into(),
            ),
            (
                "contracts/test/A.t.sol".into(),
                "function test_solidity_thing() public {}\nfunction setUp() public {}\n\
                 string token_serial;"
                    .into(),
            ),
        ]
    }

    #[test]
    fn the_table_is_read_with_its_references_and_nothing_after_it() {
        let rows = rows(TABLE);
        assert_eq!(rows.len(), 3);
        assert_eq!(
            rows[0].references,
            vec![
                Reference::File("a/tests/it/x.rs".into()),
                Reference::Test("real_test".into()),
                Reference::Test("abort_at_*".into()),
            ]
        );
        assert!(rows[2].references.is_empty());
    }

    #[test]
    fn tests_are_found_by_attribute_macro_list_and_solidity_prefix() {
        let (p, s) = &files()[0];
        assert_eq!(
            tests_in(p, s),
            vec!["real_test", "abort_at_seal", "other_test", "abort_at_write"]
        );
        let (p, s) = &files()[1];
        assert_eq!(tests_in(p, s), vec!["test_solidity_thing"]);
    }

    #[test]
    fn a_missing_test_a_missing_file_and_a_row_without_a_test_are_each_reported() {
        assert_eq!(problems(TABLE, &files()), vec!["\"Three…\" names no test"]);
        let broken = TABLE
            .replace("real_test", "renamed_test")
            .replace("x.rs::other_test", "x.rs::helper_not_a_test")
            .replace("a/tests/it/x.rs", "a/tests/it/gone.rs")
            .replace("`token_serial`", "`token_serial_number`");
        assert_eq!(
            problems(&broken, &files()),
            vec![
                "\"One…\": file a/tests/it/gone.rs does not exist",
                "\"One…\": no test renamed_test",
                "\"Two…\": no test helper_not_a_test in x.rs",
                "\"Two…\": no test token_serial_number",
                "\"Three…\" names no test",
            ]
        );
    }
}
