//! `scripts/lib.sh` fails loudly: what the demo, deploy and bench scripts rely on stops the
//! script with one line that names what failed, instead of carrying on.

use std::process::Command;

use kc_system_tests::repo_root;
use kc_test_utils::run::Run;

/// Runs `body` in bash with `scripts/lib.sh` sourced, as the scripts do (`set -euo pipefail`),
/// from a script named `probe.sh`.
fn with_lib(body: &str) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("probe.sh");
    std::fs::write(
        &script,
        format!(
            "set -euo pipefail\n. '{}/scripts/lib.sh'\n{body}\necho reached-the-end\n",
            repo_root().display()
        ),
    )
    .unwrap();
    Run::from(
        Command::new("bash")
            .arg(&script)
            .current_dir(dir.path())
            .output()
            .unwrap(),
    )
}

#[track_caller]
fn dies_with(run: &Run, message: &str) {
    assert_eq!(run.code(), Some(1), "{run:?}");
    assert!(!run.stdout.contains("reached-the-end"), "{run:?}");
    let last = run.stderr.lines().last().unwrap_or("");
    assert!(
        last.starts_with("probe.sh: ") && last.contains(message),
        "expected 'probe.sh: …{message}…', got {:?}",
        run.stderr
    );
}

#[test]
fn wait_for_fails_after_its_timeout_and_when_the_awaited_process_dies() {
    let start = std::time::Instant::now();
    dies_with(
        &with_lib("wait_for 1 'the thing' false"),
        "the thing: not ready after 1 s",
    );
    assert!(start.elapsed().as_secs() < 10);
    dies_with(
        &with_lib(
            "echo 'last words' > log; sleep 0.1 & pid=$!\n\
             wait_for --pid \"$pid\" --log log 30 'the server' false",
        ),
        "the server: the process",
    );
    let run = with_lib("sleep 0.1 & pid=$!; wait_for --pid $pid 30 'the server' false");
    assert!(run.stderr.contains("exited before it was ready"), "{run:?}");
    // Ready at once: the script goes on.
    let run = with_lib("wait_for 5 'the thing' true");
    run.ok();
    assert!(run.stdout.contains("reached-the-end"));
}

#[test]
fn json_field_reads_nested_keys_and_fails_in_one_line() {
    let run = with_lib(
        "printf '{\"a\": {\"b\": [\"x\", {\"c\": 42}]}}' > f.json\n\
         json_field f.json a b 1 c",
    );
    run.ok();
    assert!(run.stdout.starts_with("42\n"), "{run:?}");
    let run = with_lib("printf '{\"a\": 1}' > f.json; json_field f.json missing");
    dies_with(&run, "json_field: f.json is not JSON or has no missing");
    assert_eq!(run.stderr.lines().count(), 1, "no traceback: {run:?}");
    dies_with(
        &with_lib("printf 'not json' > f.json; json_field f.json a"),
        "f.json is not JSON",
    );
}

#[test]
fn softhsm_env_stops_the_script_when_the_set_up_fails() {
    // A module that does not exist: the set-up fails, and so does the script.
    let run = with_lib(
        "export KC_HSM_DIR=\"$PWD/hsm\" KC_HSM_LABEL=probe KC_HSM_USER_PIN=1234 \
         KC_HSM_SO_PIN=5678 KC_PKCS11_MODULE=/nonexistent/libsofthsm2.so\n\
         softhsm_env",
    );
    dies_with(&run, "softhsm-setup.sh failed");
}

#[test]
fn free_port_gives_a_port_nothing_listens_on_and_require_names_the_missing_tool() {
    let run = with_lib("free_port");
    run.ok();
    let port: u16 = run.stdout.lines().next().unwrap().parse().unwrap();
    std::net::TcpListener::bind(("127.0.0.1", port)).expect("the port is free");
    dies_with(
        &with_lib("require bash kc-no-such-tool"),
        "kc-no-such-tool not found: run make tools",
    );
}
