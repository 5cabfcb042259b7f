//! The repository's own promises: every test ARCHITECTURE.md names exists, PKCS#11 stays in
//! `kc-hsm`, the agent does not link the ceremony, comments give reasons (not tracker numbers).

use kc_system_tests::{cargo_tree, invariants, repo_files, repo_root};

/// Every invariant in ARCHITECTURE.md names at least one test, and every test file and test
/// function it names exists (a renamed or deleted test fails here).
#[test]
fn every_invariant_names_tests_that_exist() {
    let root = repo_root();
    let markdown = std::fs::read_to_string(root.join("ARCHITECTURE.md")).unwrap();
    let files: Vec<(String, String)> = repo_files()
        .into_iter()
        .map(|p| {
            let source = if p.ends_with(".rs") || p.ends_with(".sol") {
                std::fs::read_to_string(root.join(&p)).unwrap_or_default()
            } else {
                String::new()
            };
            (p, source)
        })
        .collect();
    let rows = invariants::rows(&markdown);
    assert!(rows.len() >= 20, "only {} invariants read", rows.len());
    let problems = invariants::problems(&markdown, &files);
    assert!(
        problems.is_empty(),
        "ARCHITECTURE.md invariants:\n{}",
        problems.join("\n")
    );
}

/// The direct dependents of `package` among everything the workspace builds for this platform
/// (normal, build and dev dependencies, every target), from `cargo tree --invert`; offline, as
/// the build that made this test downloaded all of them.
fn dependents(package: &str) -> Vec<String> {
    let tree = cargo_tree(
        &[
            "--workspace",
            "-e",
            "normal,build,dev",
            "--invert",
            package,
            "--depth",
            "1",
        ],
        "depth",
    );
    let mut names: Vec<String> = tree
        .lines()
        .filter_map(|l| l.strip_prefix('1'))
        .map(|l| l.split_whitespace().next().unwrap().to_owned())
        .collect();
    names.sort();
    names.dedup();
    names
}

/// Only `kc-hsm` depends on cryptoki (and only cryptoki on its `-sys` bindings): every other
/// crate reaches the HSM through `kc-hsm`'s attested, preflighted API.
#[test]
fn only_kc_hsm_depends_on_cryptoki() {
    assert_eq!(dependents("cryptoki"), ["kc-hsm"]);
    assert_eq!(dependents("cryptoki-sys"), ["cryptoki"]);
}

/// The agent never holds a BLS secret: the ceremony library (which derives and splits them) is
/// only a dev-dependency of the agent, for tests that make real bundles.
#[test]
fn the_agent_links_the_ceremony_only_in_its_tests() {
    let tree = cargo_tree(&["-p", "signer-agent", "-e", "normal,build"], "none");
    assert!(tree.lines().any(|l| l.starts_with("kc-bundle ")), "{tree}");
    let linked: Vec<&str> = tree
        .lines()
        .filter(|l| l.starts_with("ceremony ") || l.starts_with("kc-test-utils "))
        .collect();
    assert!(linked.is_empty(), "signer-agent links {linked:?}");
    assert!(dependents("ceremony").contains(&"signer-agent".to_owned()));
}

/// Comments and messages give the reason, not a tracker number ("issue #9", "issue 20 item 0"):
/// the tracker is not part of the source and its numbers say nothing to the next reader.
#[test]
fn no_source_cites_a_tracker_number() {
    let root = repo_root();
    let mut found = Vec::new();
    for path in repo_files() {
        let code = [".rs", ".sh", ".sol", ".js", ".py", ".toml"]
            .iter()
            .any(|e| path.ends_with(e))
            || path.ends_with("Makefile");
        // This file quotes tracker numbers as the check's examples.
        if !code || path.starts_with("fuzz/corpus/") || path.ends_with("tests/it/repo.rs") {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(root.join(&path)) else {
            continue;
        };
        for (n, line) in text.lines().enumerate() {
            if cites_tracker(line) {
                found.push(format!("{path}:{}: {}", n + 1, line.trim()));
            }
        }
    }
    assert!(found.is_empty(), "tracker numbers:\n{}", found.join("\n"));
}

/// "issue 9", "issue #9", "issues #9 and", "(#12)", "item 3 of issue".
fn cites_tracker(line: &str) -> bool {
    let lower = line.to_ascii_lowercase();
    let after_word = |word: &str| {
        lower.match_indices(word).any(|(i, _)| {
            let before_ok = i == 0 || !lower.as_bytes()[i - 1].is_ascii_alphanumeric();
            let rest = lower[i + word.len()..].trim_start_matches(['s', ' ']);
            let rest = rest.strip_prefix('#').unwrap_or(rest);
            before_ok && rest.starts_with(|c: char| c.is_ascii_digit())
        })
    };
    let paren_hash = lower
        .match_indices("(#")
        .any(|(i, _)| lower[i + 2..].starts_with(|c: char| c.is_ascii_digit()));
    after_word("issue") || paren_hash
}

#[test]
fn the_tracker_number_check_knows_one_when_it_sees_one() {
    for yes in [
        "//! Key attestation (issue #9): before",
        "/// report. Owned by issue 20 item 0 (verify.rs",
        "# see issues #3",
        "// fixed in (#14)",
    ] {
        assert!(cites_tracker(yes), "{yes}");
    }
    for no in [
        "#[derive(Debug)]",
        "// the tissue 3 layers",
        "let x = a[#0];",
        "// issue a new key",
        "CKM_#1",
    ] {
        assert!(!cites_tracker(no), "{no}");
    }
}

/// The agent's top-level modules as a graph: `module -> modules it names as crate::…`, from
/// the non-test source (comments and `#[cfg(test)] mod … {}` blocks left out). `error` is left
/// out: the crate's one error type carries context from the modules that raise it.
fn agent_module_graph() -> std::collections::BTreeMap<String, std::collections::BTreeSet<String>> {
    let root = repo_root();
    let mut graph = std::collections::BTreeMap::<String, std::collections::BTreeSet<String>>::new();
    for path in repo_files() {
        let Some(rel) = path.strip_prefix("signer-agent/src/") else {
            continue;
        };
        if !rel.ends_with(".rs") || rel.ends_with("tests.rs") || rel.ends_with("testing.rs") {
            continue;
        }
        let module = rel
            .split('/')
            .next()
            .unwrap()
            .trim_end_matches(".rs")
            .to_owned();
        if module == "error" || module == "main" {
            continue;
        }
        let text = std::fs::read_to_string(root.join(&path)).unwrap();
        let code = text
            .split("#[cfg(test)]\nmod tests {")
            .next()
            .unwrap()
            .split("#[cfg(test)]\npub(crate) mod ")
            .next()
            .unwrap();
        for line in code.lines().filter(|l| !l.trim_start().starts_with("//")) {
            for (i, _) in line.match_indices("crate::") {
                let name: String = line[i + 7..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() && name != module && name != "error" {
                    graph.entry(module.clone()).or_default().insert(name);
                }
            }
        }
    }
    graph
}

/// A circle among `graph`'s nodes, if any (as the path that closes it).
fn find_circle(
    graph: &std::collections::BTreeMap<String, std::collections::BTreeSet<String>>,
) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &std::collections::BTreeMap<String, std::collections::BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut std::collections::BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|p| p == node) {
            let mut circle = path[at..].to_vec();
            circle.push(node.to_owned());
            return Some(circle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(c) = visit(next, graph, path, done) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = std::collections::BTreeSet::new();
    graph
        .keys()
        .find_map(|n| visit(n, graph, &mut Vec::new(), &mut done))
}

/// The agent's modules import each other in one direction only (e.g. `maintenance` uses the
/// policy and the store, which never import the maintenance phase): a reader can take a module
/// with what it depends on, and a change does not travel around a circle.
#[test]
fn the_agents_modules_import_no_circle() {
    let graph = agent_module_graph();
    assert!(
        graph
            .get("maintenance")
            .is_some_and(|d| d.contains("policy")),
        "the graph was not read: {graph:?}"
    );
    assert_eq!(
        find_circle(&graph),
        None,
        "an import circle among the agent's modules"
    );
    // The check itself finds one when there is one.
    let mut with_circle = graph.clone();
    with_circle
        .entry("store".into())
        .or_default()
        .insert("maintenance".into());
    assert!(find_circle(&with_circle).is_some());
}
