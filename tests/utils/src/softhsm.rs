//! PKCS#11 tokens for tests, set up through the repository's own scripts
//! (`hsm-config/softhsm-setup.sh`, `hsm-config/kryoptic-setup.sh`), so that the tests also test
//! them.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::tools::{repo_root, require_tool};

/// Test-only user PIN of the tokens these helpers set up.
pub const USER_PIN: &str = "it-user-pin-4821";
/// Test-only SO PIN of the tokens these helpers set up.
pub const SO_PIN: &str = "it-so-pin-9357";

/// The PKCS#11 module the tests use.
pub fn module_path() -> PathBuf {
    let path = PathBuf::from(
        std::env::var("KC_PKCS11_MODULE")
            .unwrap_or_else(|_| "/usr/lib/softhsm/libsofthsm2.so".into()),
    );
    assert!(
        path.is_file(),
        "PKCS#11 module {} not found: run make tools (installs softhsm2); HSM tests are not skipped",
        path.display()
    );
    path
}

/// The kryoptic module built by `scripts/install-kryoptic.sh` (`KC_KRYOPTIC_MODULE` overrides).
pub fn kryoptic_module() -> PathBuf {
    let path = std::env::var_os("KC_KRYOPTIC_MODULE")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".tools/kryoptic/libkryoptic_pkcs11.so"));
    assert!(
        path.is_file(),
        "kryoptic module {} not found: run make tools (scripts/install-kryoptic.sh); these tests are not skipped",
        path.display()
    );
    path
}

/// Initializes a kryoptic token through `hsm-config/kryoptic-setup.sh`; returns the
/// `KRYOPTIC_CONF` path.
pub fn setup_kryoptic(dir: &Path, label: &str) -> PathBuf {
    let out = Command::new(repo_root().join("hsm-config/kryoptic-setup.sh"))
        .arg(dir)
        .env("KC_HSM_LABEL", label)
        .env("KC_HSM_USER_PIN", USER_PIN)
        .env("KC_HSM_SO_PIN", SO_PIN)
        .env("KC_KRYOPTIC_MODULE", kryoptic_module())
        .output()
        .expect("run hsm-config/kryoptic-setup.sh");
    assert!(
        out.status.success(),
        "kryoptic-setup.sh failed (run make tools): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let conf = stdout
        .lines()
        .find_map(|l| l.strip_prefix("export KRYOPTIC_CONF="))
        .expect("kryoptic-setup.sh prints KRYOPTIC_CONF");
    PathBuf::from(conf.trim_matches('\'').trim_matches('"'))
}

/// Initializes a token through `hsm-config/softhsm-setup.sh` (restricted to a device's
/// mechanism set with `emulate`); returns the `SOFTHSM2_CONF` path.
pub fn setup_token(dir: &Path, label: &str, emulate: Option<&str>) -> PathBuf {
    module_path();
    require_tool("softhsm2-util");
    let mut cmd = Command::new(repo_root().join("hsm-config/softhsm-setup.sh"));
    if let Some(device) = emulate {
        cmd.env("KC_HSM_EMULATE", device);
    } else {
        cmd.env_remove("KC_HSM_EMULATE");
    }
    let out = cmd
        .env("KC_HSM_DIR", dir)
        .env("KC_HSM_LABEL", label)
        .env("KC_HSM_USER_PIN", USER_PIN)
        .env("KC_HSM_SO_PIN", SO_PIN)
        .env("KC_PKCS11_MODULE", module_path())
        .output()
        .expect("run hsm-config/softhsm-setup.sh");
    assert!(
        out.status.success(),
        "softhsm-setup.sh failed (run make tools): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let conf = stdout
        .lines()
        .find_map(|l| l.strip_prefix("export SOFTHSM2_CONF="))
        .expect("softhsm-setup.sh prints SOFTHSM2_CONF");
    PathBuf::from(conf.trim_matches('\'').trim_matches('"'))
}
