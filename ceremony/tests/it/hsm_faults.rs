//! HSM faults and refused outputs: each a clean stop (its documented exit code, a message that
//! says what and where) with nothing written.

use kc_hsm::{MechanismUse, Requirement};

use crate::common::*;

#[test]
fn wrong_pin_is_refused() {
    let ws = &mut Workspace::new(4);
    let plan = ws.plan();
    std::fs::write(&ws.pin_file, "not-the-pin\n").unwrap();
    let run = ws.run(&plan, "bundle");
    run.expect_code(4);
    let err = run.error_lines();
    assert!(err.contains("C_Login"), "names the PKCS#11 function: {err}");
    assert!(err.contains("PIN"), "{err}");
    assert!(!err.contains("not-the-pin"), "never echoes the PIN: {err}");
    ws.assert_nothing_written("bundle");
}

/// The PIN rule (`kc_hsm::pin`): a PIN file whose first line ends in a space is bad input,
/// refused naming the file before any login (no wrong-PIN attempt spent on the token); a CRLF
/// line ending is only a line ending.
#[test]
fn pin_with_trailing_space_is_bad_input_and_crlf_is_a_line_ending() {
    let ws = &mut Workspace::new(4);
    let plan = ws.plan();
    std::fs::write(&ws.pin_file, format!("{USER_PIN} \n")).unwrap();
    let run = ws.run(&plan, "bundle");
    run.expect_code(2);
    let err = run.error_lines();
    assert!(err.contains("whitespace"), "{err}");
    assert!(err.contains(&ws.pin_file.display().to_string()), "{err}");
    assert!(!err.contains("C_Login"), "refused before login: {err}");
    assert!(!err.contains(USER_PIN), "never echoes the PIN: {err}");
    ws.assert_nothing_written("bundle");
    std::fs::write(&ws.pin_file, format!("{USER_PIN}\r\n")).unwrap();
    ws.run_ok(&plan, "bundle");
}

#[test]
fn unknown_token_label_lists_the_tokens_present() {
    let ws = &mut Workspace::new(4);
    let mut plan = ws.plan();
    plan.token_label = "no-such-token".into();
    let run = ws.run(&plan, "bundle");
    run.expect_code(4);
    let err = run.error_lines();
    assert!(err.contains("no-such-token"), "{err}");
    assert!(err.contains(&ws.token), "lists the existing label: {err}");
    ws.assert_nothing_written("bundle");
}

#[test]
fn keys_missing_before_hsm_init() {
    let ws = &mut Workspace::bare(4);
    let plan = ws.plan();
    let run = ws.run(&plan, "bundle");
    run.expect_code(4);
    assert!(run.error_lines().contains("kc-seal"), "{}", run.stderr);
    ws.assert_nothing_written("bundle");
}

#[test]
fn keys_with_other_labels_are_missing() {
    let ws = &mut Workspace::new(4);
    let mut plan = ws.plan();
    plan.identity_key_label = Some("another-identity".into());
    let run = ws.run(&plan, "bundle");
    run.expect_code(4);
    assert!(
        run.error_lines().contains("another-identity"),
        "{}",
        run.stderr
    );
    ws.assert_nothing_written("bundle");
}

#[test]
fn hsm_init_refuses_existing_labels_before_generating_anything() {
    let ws = &mut Workspace::new(4);
    let first = ws.identity.clone().unwrap();
    let pin = ws.pin_file.to_str().unwrap().to_owned();
    let token = ws.token.clone();
    // Both labels taken.
    let again = ws.ceremony(&["hsm", "init", "--token", &token, "--pin-file", &pin]);
    again.expect_code(4);
    assert!(again.error_lines().contains("kc-seal"), "{}", again.stderr);
    assert!(again.stdout.is_empty(), "{}", again.stdout);
    // Only the identity label taken: refused before the (free) seal label is generated ...
    let half = ws.ceremony(&[
        "hsm",
        "init",
        "--token",
        &token,
        "--pin-file",
        &pin,
        "--seal-label",
        "seal-two",
    ]);
    half.expect_code(4);
    assert!(
        half.error_lines().contains("kc-identity"),
        "{}",
        half.stderr
    );
    // ... which is proved by provisioning it now.
    let fresh = ws.ceremony(&[
        "hsm",
        "init",
        "--token",
        &token,
        "--pin-file",
        &pin,
        "--seal-label",
        "seal-two",
        "--identity-label",
        "identity-two",
    ]);
    fresh.ok();
    assert!(!fresh.stdout.contains(&first), "a new identity key");
    // The first keys still work.
    let plan = ws.plan();
    ws.run_ok(&plan, "bundle");
    ws.verify(&ws.path().join("bundle"), &["--identity", &first])
        .ok();
}

#[test]
fn hsm_init_wrong_pin_and_unknown_token() {
    let ws = &mut Workspace::bare(4);
    let token = ws.token.clone();
    let bad_pin = ws.path().join("bad-pin");
    std::fs::write(&bad_pin, "0000\n").unwrap();
    let run = ws.ceremony(&[
        "hsm",
        "init",
        "--token",
        &token,
        "--pin-file",
        bad_pin.to_str().unwrap(),
    ]);
    run.expect_code(4);
    assert!(run.error_lines().contains("C_Login"), "{}", run.stderr);
    let pin = ws.pin_file.to_str().unwrap().to_owned();
    let run = ws.ceremony(&["hsm", "init", "--token", "nope", "--pin-file", &pin]);
    run.expect_code(4);
    assert!(run.error_lines().contains(&token), "{}", run.stderr);
    // Nothing was provisioned by either: a real init still succeeds.
    ws.hsm_init();
}

#[test]
fn missing_or_empty_pin_is_bad_input() {
    let ws = &mut Workspace::new(4);
    let plan = ws.plan();
    let plan_path = ws.write_plan(&plan, "bundle.plan");
    let out = ws.path().join("bundle");
    let no_pin = ws
        .cmd()
        .arg("run")
        .arg("--plan")
        .arg(&plan_path)
        .arg("--out")
        .arg(&out)
        .arg("--allow-unlocked-memory")
        .output()
        .unwrap();
    assert_eq!(no_pin.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&no_pin.stderr).contains("--pin-file"));
    std::fs::write(&ws.pin_file, "").unwrap();
    let run = ws.run(&plan, "bundle");
    run.expect_code(2);
    assert!(run.error_lines().contains("empty"), "{}", run.stderr);
    ws.assert_nothing_written("bundle");
}

#[test]
fn module_that_is_not_pkcs11_is_refused() {
    let ws = &mut Workspace::new(4);
    let mut plan = ws.plan();
    plan.module = ws.path().join("operators.json").display().to_string();
    let run = ws.run(&plan, "bundle");
    run.expect_code(4);
    assert!(
        run.error_lines().contains("operators.json"),
        "{}",
        run.stderr
    );
    ws.assert_nothing_written("bundle");
}

#[test]
fn existing_output_directory_is_left_untouched() {
    let ws = &mut Workspace::new(4);
    let plan = ws.plan();
    let out = ws.path().join("bundle");
    std::fs::create_dir(&out).unwrap();
    std::fs::write(out.join("keep.txt"), b"precious").unwrap();
    let run = ws.run(&plan, "bundle");
    run.expect_code(3);
    assert!(
        run.error_lines().contains("already exists"),
        "{}",
        run.stderr
    );
    assert_eq!(std::fs::read(out.join("keep.txt")).unwrap(), b"precious");
    assert_eq!(std::fs::read_dir(&out).unwrap().count(), 1);
    assert!(staging_dirs(ws.path(), "bundle").is_empty());

    // An empty directory is refused too (a plain rename would replace it).
    let empty = ws.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    ws.run(&plan, "empty").expect_code(3);
    assert_eq!(std::fs::read_dir(&empty).unwrap().count(), 0);
    // And a finished bundle is never overwritten by a second run.
    let plan2 = ws.plan();
    let b = ws.run_ok(&plan2, "b");
    let before = all_files(&b);
    ws.run(&plan2, "b").expect_code(3);
    assert_eq!(all_files(&b), before);
}

/// A missing mechanism cannot be provoked through SoftHSM and the binary (SoftHSM offers them
/// all), so the preflight is tested at the library level with requirements SoftHSM cannot meet:
/// every missing one is named, with its reason.
#[test]
fn preflight_names_every_missing_mechanism() {
    let token = kc_hsm::testing::SoftHsmToken::new("preflight", USER_PIN);
    // The ceremony's own requirements pass.
    token
        .token()
        .preflight(kc_hsm::CEREMONY_REQUIREMENTS)
        .expect("SoftHSM offers what the ceremony needs");
    const VENDOR: Requirement = Requirement::mechanism(
        0x8000_4b43,
        "CKM_VENDOR_KC_TEST",
        &[MechanismUse::Sign],
        "a mechanism no token has",
    );
    const ECDSA_KEYGEN: Requirement = Requirement::mechanism(
        0x1041,
        "CKM_ECDSA",
        &[MechanismUse::Sign, MechanismUse::Generate],
        "ECDSA cannot generate keys",
    );
    let mut reqs = kc_hsm::CEREMONY_REQUIREMENTS.to_vec();
    reqs.push(VENDOR);
    reqs.push(ECDSA_KEYGEN);
    let err = token.token().preflight(&reqs).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("CKM_VENDOR_KC_TEST"), "{msg}");
    assert!(msg.contains("C_GetMechanismList"), "{msg}");
    assert!(msg.contains("CKM_ECDSA"), "{msg}");
    assert!(msg.contains("CKF_GENERATE"), "{msg}");
    assert!(msg.contains("preflight"), "names the token: {msg}");
    let report = token.token().check_requirements(&reqs).unwrap();
    assert_eq!(report.missing().len(), 2, "{report}");
}
