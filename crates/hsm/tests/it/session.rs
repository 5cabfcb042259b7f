//! Module, tokens, login, random, preflight.

use kc_hsm::testing::{SoftHsmToken, TEST_USER_PIN};
use kc_hsm::{
    Error, MechanismUse, Module, Requirement, SecretString, AGENT_REQUIREMENTS,
    CEREMONY_REQUIREMENTS,
};

#[test]
fn token_is_found_by_label_and_reports_its_info() {
    let t = SoftHsmToken::new("ceremony", TEST_USER_PIN);
    let module = Module::open(t.module_path()).unwrap();
    let token = module.find_token("ceremony").unwrap();
    let info = token.info().unwrap();
    assert_eq!(info.label, "ceremony");
    assert_eq!(info.manufacturer, "SoftHSM project");
    assert!(info.model.starts_with("SoftHSM"), "{info:?}");
    assert!(!info.serial.is_empty());
    assert!(info.rng);
    let lib = module.info().unwrap();
    assert_eq!(lib.manufacturer, "SoftHSM");
}

#[test]
fn second_open_of_the_same_module_shares_the_context() {
    let t = SoftHsmToken::new("ceremony", TEST_USER_PIN);
    let a = Module::open(t.module_path()).unwrap();
    let b = Module::from_env().unwrap();
    assert_eq!(a.path(), b.path());
    let err = Module::open("/nonexistent/other.so").unwrap_err();
    assert!(matches!(err, Error::ModuleAlreadyLoaded { .. }), "{err}");
}

#[test]
fn tokens_in_one_process_are_told_apart_by_label() {
    let c = SoftHsmToken::new("ceremony", TEST_USER_PIN);
    let a = SoftHsmToken::new("agent", "another-pin-99");
    let module = Module::open(c.module_path()).unwrap();
    let labels = module.token_labels().unwrap();
    assert!(labels.contains(&"ceremony".to_string()), "{labels:?}");
    assert!(labels.contains(&"agent".to_string()), "{labels:?}");
    // each token has its own PIN
    a.token().login(&a.pin()).unwrap();
    let err = c
        .token()
        .login(&SecretString::from("another-pin-99".to_string()))
        .unwrap_err();
    assert!(matches!(err, Error::PinIncorrect { .. }), "{err}");
}

#[test]
fn unknown_token_label_lists_the_labels_that_exist() {
    let t = SoftHsmToken::new("ceremony", TEST_USER_PIN);
    let err = t.token().module().find_token("no-such-token").unwrap_err();
    match &err {
        Error::TokenNotFound {
            label,
            available,
            serial,
            unreadable,
        } => {
            assert_eq!(label, "no-such-token");
            assert_eq!(serial, &None);
            assert_eq!(available.len(), 1);
            assert!(
                available[0].starts_with("ceremony (serial "),
                "{available:?}"
            );
            assert!(unreadable.is_empty());
        }
        other => panic!("unexpected error {other}"),
    }
    assert!(
        err.to_string()
            .starts_with("no token labelled `no-such-token`; tokens present: `ceremony (serial "),
        "{err}"
    );
}

#[test]
fn a_token_is_selected_by_label_and_serial_number() {
    let a = SoftHsmToken::new("twin", TEST_USER_PIN);
    let b = SoftHsmToken::new("other", TEST_USER_PIN);
    let module = a.token().module().clone();
    let serial = a.token().info().unwrap().serial;
    let other_serial = b.token().info().unwrap().serial;
    assert_ne!(serial, other_serial);
    let t = module.select_token("twin", Some(&serial)).unwrap();
    assert_eq!(t.info().unwrap().serial, serial);
    // the right serial under the wrong label, and the wrong serial, are both refused by name
    let err = module
        .select_token("twin", Some(&other_serial))
        .unwrap_err();
    assert!(
        matches!(&err, Error::TokenNotFound { serial: Some(s), .. } if *s == other_serial),
        "{err}"
    );
    assert!(
        err.to_string()
            .contains(&format!("with serial number `{other_serial}`")),
        "{err}"
    );
    assert!(
        err.to_string().contains(&format!("twin (serial {serial})")),
        "{err}"
    );
}

#[test]
fn wrong_pin_is_its_own_error_and_does_not_echo_the_pin() {
    let t = SoftHsmToken::new("ceremony", TEST_USER_PIN);
    let wrong = "wrong-pin-0000";
    let err = t
        .token()
        .login(&SecretString::from(wrong.to_string()))
        .unwrap_err();
    assert!(matches!(err, Error::PinIncorrect { ref token } if token == "ceremony"));
    let msg = err.to_string();
    assert!(msg.contains("CKR_PIN_INCORRECT"), "{msg}");
    assert!(msg.contains("C_Login"), "{msg}");
    assert!(!msg.contains(wrong), "{msg}");
    assert!(!format!("{err:?}").contains(wrong));
    assert_eq!(err.ckr(), Some("CKR_PIN_INCORRECT"));
}

#[test]
fn a_second_login_in_the_same_process_is_fine() {
    let t = SoftHsmToken::new("ceremony", TEST_USER_PIN);
    let s1 = t.login();
    let s2 = t.login(); // C_Login → CKR_USER_ALREADY_LOGGED_IN, taken as success
    drop(s1);
    // dropping a session must not log the other one out
    s2.generate_random(8).unwrap();
    let _key = kc_hsm::SealKey::provision(&s2, "seal").unwrap();
    let dbg = format!("{s2:?}");
    assert!(!dbg.contains(TEST_USER_PIN), "{dbg}");
}

#[test]
fn random_bytes_come_from_the_token() {
    let t = SoftHsmToken::new("ceremony", TEST_USER_PIN);
    let s = t.login();
    let a = s.generate_random(32).unwrap();
    let b = s.generate_random(32).unwrap();
    assert_eq!(a.len(), 32);
    assert_ne!(*a, *b);
    assert_ne!(*a, vec![0u8; 32]);
    let c = s.random_array::<12>().unwrap();
    assert_ne!(*c, [0u8; 12]);
}

#[test]
fn preflight_passes_for_the_ceremony_and_the_agent_on_softhsm() {
    let t = SoftHsmToken::new("ceremony", TEST_USER_PIN);
    let report = t.token().preflight(CEREMONY_REQUIREMENTS).unwrap();
    assert_eq!(report.items.len(), 5);
    assert!(report.all_supported());
    let shown = report.to_string();
    for name in [
        "C_GenerateRandom",
        "CKM_AES_KEY_GEN",
        "CKM_AES_GCM",
        "CKM_EC_KEY_PAIR_GEN",
        "CKM_ECDSA",
    ] {
        assert!(shown.contains(&format!("✓ {name}")), "{shown}");
    }
    t.token().preflight(AGENT_REQUIREMENTS).unwrap();
}

// Mechanisms SoftHSM 2.6.1 does not offer.
const CKM_SHA3_256: u64 = 0x2b0;
const CKM_CHACHA20_POLY1305: u64 = 0x4021;

#[test]
fn preflight_names_every_missing_mechanism() {
    let t = SoftHsmToken::new("ceremony", TEST_USER_PIN);
    let mut reqs = CEREMONY_REQUIREMENTS.to_vec();
    reqs.push(Requirement::mechanism(
        CKM_SHA3_256,
        "CKM_SHA3_256",
        &[],
        "hash with SHA3",
    ));
    reqs.push(Requirement::mechanism(
        CKM_CHACHA20_POLY1305,
        "CKM_CHACHA20_POLY1305",
        &[MechanismUse::Encrypt],
        "seal with ChaCha20-Poly1305",
    ));
    // Present, but not allowed to sign: a flag check, not a list check.
    reqs.push(Requirement::mechanism(
        0x1087, // CKM_AES_GCM
        "CKM_AES_GCM",
        &[MechanismUse::Sign],
        "sign with GCM (nonsense)",
    ));

    let report = t.token().check_requirements(&reqs).unwrap();
    assert!(!report.all_supported());
    let shown = report.to_string();
    assert!(shown.contains("✗ CKM_SHA3_256"), "{shown}");
    assert!(shown.contains("✗ CKM_CHACHA20_POLY1305"), "{shown}");
    assert!(shown.contains("✓ CKM_ECDSA"), "{shown}");

    let err = t.token().preflight(&reqs).unwrap_err();
    let Error::MissingMechanisms { token, missing } = &err else {
        panic!("unexpected error {err}");
    };
    assert_eq!(token, "ceremony");
    assert_eq!(missing.len(), 3, "{missing:?}");
    let msg = err.to_string();
    assert!(
        msg.contains("CKM_SHA3_256 (not in C_GetMechanismList)"),
        "{msg}"
    );
    assert!(msg.contains("CKM_CHACHA20_POLY1305"), "{msg}");
    assert!(msg.contains("CKM_AES_GCM (lacks CKF_SIGN)"), "{msg}");
}

#[test]
fn token_attestation_records_identity_and_mechanisms() {
    let t = SoftHsmToken::new("ceremony", TEST_USER_PIN);
    let att = t.token().attest(CEREMONY_REQUIREMENTS).unwrap();
    assert_eq!(att.label, "ceremony");
    assert_eq!(att.manufacturer, "SoftHSM project");
    assert_eq!(att.mechanisms.len(), 5);
    let json = serde_json::to_value(&att).unwrap();
    assert_eq!(json["library"]["manufacturer"], "SoftHSM");
    assert!(json["firmware_version"].is_string());
    assert_eq!(json["mechanisms"][2]["name"], "CKM_AES_GCM");
    assert_eq!(json["mechanisms"][2]["supported"], true);
}

#[test]
#[should_panic(expected = "run `make tools`")]
fn a_missing_softhsm_fails_the_test_with_what_to_do() {
    std::env::set_var(kc_hsm::MODULE_ENV, "/nonexistent/libsofthsm2.so");
    let _ = SoftHsmToken::new("ceremony", TEST_USER_PIN);
}

#[test]
fn a_missing_module_is_named() {
    let err = Module::open("/nonexistent/libpkcs11.so").unwrap_err();
    assert!(matches!(err, Error::ModuleNotFound { .. }), "{err}");
    assert_eq!(
        err.to_string(),
        "pkcs11 module /nonexistent/libpkcs11.so not found"
    );
    let err = Module::open("/etc/hostname").unwrap_err();
    assert!(matches!(err, Error::ModuleLoad { .. }), "{err}");
}
