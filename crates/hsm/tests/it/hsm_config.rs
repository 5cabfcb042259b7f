//! `hsm-config/`: the SoftHSM set-up script and the device profiles.

use std::path::PathBuf;
use std::process::Command;

use kc_hsm::{Module, SealKey, SecretString, CEREMONY_REQUIREMENTS};

fn hsm_config() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../hsm-config")
}

#[test]
fn setup_script_makes_a_token_the_crate_can_use_and_is_idempotent() {
    let module = kc_hsm::testing::module_path();
    let dir = tempfile::tempdir().unwrap();
    let run = || {
        let out = Command::new("bash")
            .arg(hsm_config().join("softhsm-setup.sh"))
            .arg(dir.path().join("hsm"))
            .env("KC_PKCS11_MODULE", &module)
            .env_remove("KC_HSM_USER_PIN")
            .env_remove("KC_HSM_SO_PIN")
            .env_remove("KC_HSM_LABEL")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        (
            String::from_utf8(out.stdout).unwrap(),
            String::from_utf8(out.stderr).unwrap(),
        )
    };
    let (stdout, stderr) = run();
    assert!(stderr.contains("initialized token `ceremony`"), "{stderr}");
    assert!(stderr.contains("DEMO-ONLY"), "{stderr}");
    assert!(!stdout.contains(kc_hsm::testing::TEST_USER_PIN), "{stdout}");
    assert!(!stderr.contains(kc_hsm::testing::TEST_USER_PIN), "{stderr}");
    let (stdout2, stderr2) = run();
    assert_eq!(stdout, stdout2);
    assert!(stderr2.contains("left alone"), "{stderr2}");

    let conf = stdout
        .lines()
        .find_map(|l| l.strip_prefix("export SOFTHSM2_CONF="))
        .unwrap();
    assert!(stdout.contains("export KC_PKCS11_MODULE="), "{stdout}");
    std::env::set_var("SOFTHSM2_CONF", conf);
    let m = Module::open(&module).unwrap();
    assert_eq!(m.token_labels().unwrap(), vec!["ceremony".to_string()]);
    let token = m.find_token("ceremony").unwrap();
    token.preflight(CEREMONY_REQUIREMENTS).unwrap();
    // the script's demo PIN is the test helpers' demo PIN
    let s = token
        .login(&SecretString::from(
            kc_hsm::testing::TEST_USER_PIN.to_string(),
        ))
        .unwrap();
    SealKey::provision(&s, "seal").unwrap();
}

/// The mechanisms of both seal backends, listed one by one.
fn capabilities() -> Vec<&'static str> {
    let mut v: Vec<&str> = CEREMONY_REQUIREMENTS.iter().map(|r| r.name()).collect();
    v.extend([
        "CKM_RSA_PKCS_KEY_PAIR_GEN",
        "CKM_RSA_PKCS_OAEP",
        "CKM_RSA_X_509",
    ]);
    v.sort_unstable();
    v
}

fn profile(name: &str) -> toml::Table {
    let path = hsm_config().join("profiles").join(name);
    toml::from_str(&std::fs::read_to_string(&path).unwrap())
        .unwrap_or_else(|e| panic!("{path:?}: {e}"))
}

#[test]
fn every_profile_names_exactly_the_capabilities_we_need() {
    let wanted = capabilities();
    let mut seen = 0;
    for entry in std::fs::read_dir(hsm_config().join("profiles")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("toml") {
            continue;
        }
        seen += 1;
        let doc = profile(path.file_name().unwrap().to_str().unwrap());
        let mechs = doc["mechanisms"].as_table().unwrap();
        let mut names: Vec<&str> = mechs.keys().map(String::as_str).collect();
        names.sort_unstable();
        assert_eq!(names, wanted, "{path:?}");
        for (name, v) in mechs {
            let s = v["supported"].as_str().unwrap();
            assert!(
                ["yes", "no", "unverified"].contains(&s),
                "{path:?} {name}: {s}"
            );
            assert!(v["verified"].is_bool(), "{path:?} {name}");
        }
        assert!(doc["module"]["linux"].is_str(), "{path:?}");
        assert!(doc["roles"]["ceremony"].is_str(), "{path:?}");
        assert!(doc["roles"]["agent"].is_str(), "{path:?}");
        // The seal backend a profile names is one its mechanisms allow.
        let yes = |m: &str| mechs[m]["supported"].as_str() == Some("yes");
        let backend = doc["seal"]["backend"].as_str().unwrap();
        match kc_hsm::SealBackend::parse(backend) {
            Some(kc_hsm::SealBackend::AesGcm) => assert!(yes("CKM_AES_GCM"), "{path:?}"),
            Some(kc_hsm::SealBackend::RsaOaep) => assert!(
                yes("CKM_RSA_PKCS_KEY_PAIR_GEN")
                    && (yes("CKM_RSA_PKCS_OAEP") || yes("CKM_RSA_X_509")),
                "{path:?}"
            ),
            None => panic!("{path:?}: seal.backend {backend}"),
        }
    }
    assert_eq!(
        seen, 5,
        "SoftHSM, YubiHSM 2, Luna, CloudHSM, Nitrokey HSM 2"
    );
}

/// The CI emulations (`hsm-config/emulate/`) allow exactly what the device profiles say of the
/// mechanisms we use: every "yes" is in the allow-list, every "no" is not.
#[test]
fn emulations_match_the_device_profiles() {
    for (emulation, file) in [
        (kc_hsm::testing::Emulation::YubiHsm2, "yubihsm2.toml"),
        (
            kc_hsm::testing::Emulation::NitrokeyHsm2,
            "nitrokey-hsm2.toml",
        ),
    ] {
        let allowed = emulation.mechanisms().unwrap();
        let allowed: Vec<&str> = allowed.split(',').collect();
        let doc = profile(file);
        for (name, v) in doc["mechanisms"].as_table().unwrap() {
            if !name.starts_with("CKM_") {
                continue;
            }
            match v["supported"].as_str().unwrap() {
                "yes" => assert!(allowed.contains(&name.as_str()), "{file}: {name} missing"),
                "no" => assert!(!allowed.contains(&name.as_str()), "{file}: {name} allowed"),
                _ => {}
            }
        }
    }
}
