//! Interruption: `CEREMONY_TEST_ABORT_AT=<stage>` aborts the process (SIGABRT: no unwinding, no
//! cleanup) when the pipeline reaches that stage. The bundle directory never appears; a staging
//! directory, when one exists, holds the `INCOMPLETE` marker and does not verify; a new run to
//! the same destination then succeeds.

use std::os::unix::process::ExitStatusExt;

use crate::common::*;

fn abort_at(stage: &str, staging_expected: bool) {
    let ws = &mut Workspace::new(4);
    let plan = ws.plan();
    let run = ws.run_with(&plan, "bundle", &[], &[("CEREMONY_TEST_ABORT_AT", stage)]);
    assert_eq!(
        run.status.signal(),
        Some(6),
        "aborted by SIGABRT at {stage}: {run:?}"
    );
    assert!(
        run.stderr.contains(&format!("aborting at stage {stage}")),
        "{}",
        run.stderr
    );
    assert!(run.stdout.is_empty(), "no success summary: {}", run.stdout);
    assert!(
        !ws.path().join("bundle").exists(),
        "DIR appeared at {stage}"
    );

    let staging = staging_dirs(ws.path(), "bundle");
    if staging_expected {
        assert_eq!(staging.len(), 1, "{staging:?}");
    } else {
        assert!(staging.is_empty(), "{staging:?}");
    }
    for dir in &staging {
        let name = dir.file_name().unwrap().to_str().unwrap();
        assert!(name.starts_with(".bundle.incomplete-"), "{name}");
        assert!(
            dir.join("INCOMPLETE").is_file(),
            "{} has no INCOMPLETE marker",
            dir.display()
        );
        // An auditor's verify refuses it (the marker alone is enough).
        let v = ws.verify(dir, &[]);
        v.expect_code(6);
    }

    // The leftover does not block a new run to the same destination.
    let dir = ws.run_ok(&plan, "bundle");
    ws.verify(&dir, &["--identity", ws.identity.as_deref().unwrap()])
        .ok();
    assert!(!dir.join("INCOMPLETE").exists());
    for d in staging {
        assert!(d.join("INCOMPLETE").is_file(), "leftover untouched");
    }
}

macro_rules! interrupt {
    ($name:ident, $stage:expr, $staging:expr) => {
        #[test]
        fn $name() {
            abort_at($stage, $staging);
        }
    };
}

interrupt!(abort_at_plan, "plan", false);
interrupt!(abort_at_ledger, "ledger", false);
interrupt!(abort_at_hsm, "hsm", false);
interrupt!(abort_at_master, "master", false);
interrupt!(abort_at_validators, "validators", false);
// The staging directory exists from the validators on (they are streamed to it as they are
// made and checked): an abort at `write` leaves it, with its marker.
interrupt!(abort_at_write, "write", true);
interrupt!(abort_at_seal, "seal", true);
interrupt!(abort_at_manifest, "manifest", true);
interrupt!(abort_at_verify, "verify", true);
interrupt!(abort_at_commit, "commit", true);

/// A staging directory whose marker was removed by hand still cannot pass for a bundle at
/// `manifest`: its files are incomplete.
#[test]
fn staging_without_marker_at_manifest_does_not_verify() {
    let ws = &mut Workspace::new(4);
    let plan = ws.plan();
    let run = ws.run_with(
        &plan,
        "bundle",
        &[],
        &[("CEREMONY_TEST_ABORT_AT", "manifest")],
    );
    assert_eq!(run.status.signal(), Some(6));
    let staging = staging_dirs(ws.path(), "bundle").pop().unwrap();
    std::fs::remove_file(staging.join("INCOMPLETE")).unwrap();
    ws.verify(&staging, &[]).expect_code(6);
}
