//! The token matrix: the whole ceremony (hsm init, run, verify, recover to extend, and the
//! `--recreate` drill with byte-identical deposit data) on the tokens an air-gapped room has,
//! emulated in CI: SoftHSM restricted to the mechanism sets of a YubiHSM 2 and a Nitrokey HSM 2
//! (no AES-GCM: the `rsa-oaep` seal backend), SoftHSM forced to `rsa-oaep`, and kryoptic, a
//! second PKCS#11 implementation.

use crate::common::*;

/// Runs the whole ceremony on `ws` and checks the seal backend `hsm init` chose.
fn whole_ceremony(ws: &mut Workspace, init_args: &[&str], backend: &str) {
    let init = ws.hsm_init_with(init_args);
    assert!(
        init.stdout
            .contains(&format!("seal backend         {backend}")),
        "{}",
        init.stdout
    );
    assert!(init.stderr.contains("✓ trial"), "{}", init.stderr);
    let identity = ws.identity.clone().unwrap();

    // run and verify
    let mut p1 = ws.plan();
    p1.validators = 3;
    let b1 = ws.run_ok(&p1, "b1");
    let v = ws.verify(&b1, &["--identity", &identity]);
    v.ok();
    assert!(
        v.stdout.contains(&format!("{backend} envelope")),
        "{}",
        v.stdout
    );
    let m1 = read_json(&b1.join("manifest.json"));
    assert_eq!(m1["master"]["seal_algorithm"], backend);
    assert_eq!(
        m1["master"]["seal_key_sha256"].is_string(),
        backend == "rsa-oaep"
    );
    let seal = read_json(&b1.join("sealed/master.seal"));
    assert_eq!(seal["algorithm"], backend);
    assert_eq!(seal["key_sha256"], m1["master"]["seal_key_sha256"]);
    let transcript = std::fs::read_to_string(b1.join("transcript.jsonl")).unwrap();
    assert!(
        transcript.contains("hsm.preflight_trial"),
        "the trial is recorded"
    );

    // recover to extend the batch (disjoint indices and nonces)
    let mut p2 = p1.clone();
    p2.id = format!("{}-ext", p1.id);
    p2.start_index = p1.start_index + 3;
    p2.owner_nonce = p1.owner_nonce + 3;
    ws.recover(&b1, &p2, "b2", false).ok();
    let b2 = ws.path().join("b2");
    ws.verify(&b2, &["--identity", &identity]).ok();
    let m2 = read_json(&b2.join("manifest.json"));
    assert_eq!(m2["master"]["fingerprint"], m1["master"]["fingerprint"]);

    // the recovery drill re-creates the deposit data byte for byte
    let mut p3 = p1.clone();
    p3.id = format!("{}-drill", p1.id);
    ws.recover(&b1, &p3, "b3", true).ok();
    let b3 = ws.path().join("b3");
    ws.verify(&b3, &["--identity", &identity]).ok();
    assert_eq!(
        std::fs::read(b1.join("deposit_data.json")).unwrap(),
        std::fs::read(b3.join("deposit_data.json")).unwrap(),
        "the drill re-creates the deposit data byte for byte"
    );
}

#[test]
fn yubihsm2_emulation_runs_the_whole_ceremony_with_rsa_oaep() {
    let ws = &mut Workspace::on(TokenKind::Emulating("yubihsm2"), 4);
    whole_ceremony(ws, &[], "rsa-oaep");
}

#[test]
fn nitrokey_hsm2_emulation_runs_the_whole_ceremony_with_rsa_oaep() {
    let ws = &mut Workspace::on(TokenKind::Emulating("nitrokey-hsm2"), 4);
    whole_ceremony(ws, &[], "rsa-oaep");
}

#[test]
fn softhsm_forced_to_rsa_oaep_runs_the_whole_ceremony() {
    let ws = &mut Workspace::on(TokenKind::SoftHsm, 4);
    whole_ceremony(ws, &["--seal-backend", "rsa-oaep"], "rsa-oaep");
}

#[test]
fn kryoptic_runs_the_whole_ceremony() {
    let ws = &mut Workspace::on(TokenKind::Kryoptic, 4);
    whole_ceremony(ws, &[], "aes-256-gcm");
}

#[test]
fn kryoptic_forced_to_rsa_oaep_runs_the_whole_ceremony() {
    let ws = &mut Workspace::on(TokenKind::Kryoptic, 4);
    whole_ceremony(ws, &["--seal-backend", "rsa-oaep"], "rsa-oaep");
}

/// Forcing a backend the token lacks stops at the preflight, names the token, the function
/// and the missing mechanisms, and makes nothing (a later `hsm init` succeeds).
#[test]
fn forcing_aes_gcm_on_a_token_without_it_is_refused_and_nothing_is_made() {
    let ws = &mut Workspace::on(TokenKind::Emulating("nitrokey-hsm2"), 4);
    let pin = ws.pin_file.to_str().unwrap().to_owned();
    let token = ws.token.clone();
    let run = ws.ceremony(&[
        "hsm",
        "init",
        "--token",
        &token,
        "--pin-file",
        &pin,
        "--seal-backend",
        "aes-256-gcm",
    ]);
    run.expect_code(4);
    let err = run.error_lines();
    assert!(err.contains(&format!("token `{token}`")), "{err}");
    assert!(
        err.contains("CKM_AES_GCM (not in C_GetMechanismList)"),
        "{err}"
    );
    assert!(run.stdout.is_empty(), "{}", run.stdout);
    assert_eq!(
        err.lines().count(),
        1,
        "the error is printed once: {}",
        run.stderr
    );
    ws.hsm_init().ok();
}
