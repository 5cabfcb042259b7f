//! Test helpers (feature `test-utils`): a fresh, private SoftHSM token for the current process.
//!
//! PKCS#11 allows one `C_Initialize` per process and SoftHSM reads `SOFTHSM2_CONF` only then,
//! so [`SoftHsmToken::new`] writes a config into a new temporary directory, points
//! `SOFTHSM2_CONF` at it, and only then loads the module. Run HSM tests with
//! `cargo nextest` (one process per test). Several tokens in one process are fine: later calls
//! add tokens to the same private directory, as long as the first guard is still alive.
//!
//! If the SoftHSM module is missing these helpers panic with a message to run `make tools`:
//! HSM tests never skip silently.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};

use cryptoki::session::UserType;
use secrecy::SecretString;
use tempfile::TempDir;

use crate::module::{HsmSession, Module, Token, MODULE_ENV};

/// Demo/test-only user PIN. Never use outside tests and demos.
pub const TEST_USER_PIN: &str = "demo-user-pin-1234";
/// Demo/test-only SO PIN. Never use outside tests and demos.
pub const TEST_SO_PIN: &str = "demo-so-pin-5678";

struct Shared {
    dir: Weak<TempDir>,
    module: Module,
}

static SHARED: Mutex<Option<Shared>> = Mutex::new(None);

/// A freshly initialized SoftHSM token in a private directory. Keep it alive for the test:
/// dropping the last one removes the directory.
pub struct SoftHsmToken {
    dir: Arc<TempDir>,
    token: Token,
    pin: SecretString,
}

impl std::fmt::Debug for SoftHsmToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SoftHsmToken")
            .field("label", &self.token.label())
            .field("dir", &self.dir.path())
            .finish()
    }
}

/// The module the tests use: `KC_PKCS11_MODULE`, else SoftHSM's Debian path. Panics (with what
/// to do) if it does not exist.
pub fn module_path() -> PathBuf {
    let path = Module::path_from_env();
    assert!(
        path.exists(),
        "PKCS#11 module {} not found: run `make tools` (installs softhsm2), or set {MODULE_ENV} \
         to a SoftHSM module. HSM tests are not skipped.",
        path.display()
    );
    path
}

impl SoftHsmToken {
    /// Creates (on first call in the process) a private SoftHSM directory and config, loads
    /// the module, and initializes a new token `label` with the user `pin` (SO PIN:
    /// [`TEST_SO_PIN`]). Panics on any failure: this is a test fixture.
    pub fn new(label: &str, pin: &str) -> SoftHsmToken {
        SoftHsmToken::emulating(label, pin, Emulation::None)
    }

    /// As [`SoftHsmToken::new`], with SoftHSM restricted (`slots.mechanisms`) to the mechanism
    /// set of another device. Must be the first token of the process (the restriction applies
    /// to every token of the process's SoftHSM configuration).
    pub fn emulating(label: &str, pin: &str, emulation: Emulation) -> SoftHsmToken {
        let (dir, module) = shared_dir(emulation);
        init_token(&module, label, pin);
        let token = module
            .find_token(label)
            .unwrap_or_else(|e| panic!("token `{label}` not found after initializing it: {e}"));
        SoftHsmToken {
            dir,
            token,
            pin: SecretString::from(pin.to_string()),
        }
    }

    /// The token.
    pub fn token(&self) -> &Token {
        &self.token
    }

    /// Logs in with the token's PIN (panics on failure).
    pub fn login(&self) -> HsmSession {
        self.token
            .login(&self.pin)
            .unwrap_or_else(|e| panic!("login to test token failed: {e}"))
    }

    /// The user PIN (test-only).
    pub fn pin(&self) -> SecretString {
        self.pin.clone()
    }

    /// The token label.
    pub fn label(&self) -> &str {
        self.token.label()
    }

    /// The PKCS#11 module path.
    pub fn module_path(&self) -> &Path {
        self.token.module().path()
    }

    /// The private directory (config and token files).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The `softhsm2.conf` that `SOFTHSM2_CONF` points at.
    pub fn conf_path(&self) -> PathBuf {
        self.dir.path().join("softhsm2.conf")
    }
}

/// A device whose mechanism set SoftHSM is restricted to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Emulation {
    /// SoftHSM as it is.
    None,
    /// `hsm-config/emulate/yubihsm2.mechanisms`.
    YubiHsm2,
    /// `hsm-config/emulate/nitrokey-hsm2.mechanisms`.
    NitrokeyHsm2,
}

impl Emulation {
    /// The `slots.mechanisms` allow-list (comma-separated `CKM_…` names), from the file in
    /// `hsm-config/emulate/` that `softhsm-setup.sh` also reads.
    pub fn mechanisms(self) -> Option<String> {
        let text = match self {
            Emulation::None => return None,
            Emulation::YubiHsm2 => {
                include_str!("../../../hsm-config/emulate/yubihsm2.mechanisms")
            }
            Emulation::NitrokeyHsm2 => {
                include_str!("../../../hsm-config/emulate/nitrokey-hsm2.mechanisms")
            }
        };
        Some(
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .collect::<Vec<_>>()
                .join(","),
        )
    }
}

fn shared_dir(emulation: Emulation) -> (Arc<TempDir>, Module) {
    let path = module_path();
    let mut shared = SHARED.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(s) = shared.as_ref() {
        assert!(
            emulation == Emulation::None,
            "an emulating SoftHsmToken must be the first token of the process"
        );
        let dir = s.dir.upgrade().unwrap_or_else(|| {
            panic!(
                "the SoftHSM directory of this process was dropped while the module stays \
                 loaded; keep the first SoftHsmToken alive for the whole test, and run HSM \
                 tests with `cargo nextest` (one process per test), not `cargo test`"
            )
        });
        return (dir, s.module.clone());
    }
    assert!(
        Module::loaded().is_none(),
        "SoftHsmToken::new must run before anything else loads the PKCS#11 module in this \
         process (SOFTHSM2_CONF is read by C_Initialize)"
    );
    let dir = tempfile::Builder::new()
        .prefix("kc-softhsm-")
        .tempdir()
        .unwrap_or_else(|e| panic!("cannot create a temporary directory: {e}"));
    let tokens = dir.path().join("tokens");
    std::fs::create_dir(&tokens).unwrap_or_else(|e| panic!("cannot create {tokens:?}: {e}"));
    let conf = dir.path().join("softhsm2.conf");
    std::fs::write(
        &conf,
        format!(
            "# written by kc_hsm::testing for one test process\n\
             directories.tokendir = {}\n\
             objectstore.backend = file\n\
             log.level = ERROR\n\
             slots.removable = false\n{}",
            tokens.display(),
            emulation
                .mechanisms()
                .map(|m| format!("slots.mechanisms = {m}\n"))
                .unwrap_or_default()
        ),
    )
    .unwrap_or_else(|e| panic!("cannot write {conf:?}: {e}"));
    // Safe here: nextest runs each test in its own process, and this happens before the module
    // (the only reader of SOFTHSM2_CONF) is loaded.
    std::env::set_var("SOFTHSM2_CONF", &conf);
    let module = Module::open(&path)
        .unwrap_or_else(|e| panic!("cannot load PKCS#11 module {}: {e}", path.display()));
    let dir = Arc::new(dir);
    *shared = Some(Shared {
        dir: Arc::downgrade(&dir),
        module: module.clone(),
    });
    (dir, module)
}

fn init_token(module: &Module, label: &str, pin: &str) {
    let ctx = module.ctx();
    let slots = ctx
        .get_slots_with_token()
        .unwrap_or_else(|e| panic!("C_GetSlotList: {e}"));
    let free = slots
        .into_iter()
        .find(|s| {
            ctx.get_token_info(*s)
                .map(|i| !i.token_initialized())
                .unwrap_or(false)
        })
        .unwrap_or_else(|| panic!("SoftHSM offers no free slot for token `{label}`"));
    let so_pin = SecretString::from(TEST_SO_PIN.to_string());
    ctx.init_token(free, &so_pin, label)
        .unwrap_or_else(|e| panic!("C_InitToken `{label}`: {e}"));
    let token = module
        .find_token(label)
        .unwrap_or_else(|e| panic!("token `{label}` missing after C_InitToken: {e}"));
    let session = ctx
        .open_rw_session(token.slot())
        .unwrap_or_else(|e| panic!("C_OpenSession on `{label}`: {e}"));
    session
        .login(UserType::So, Some(&so_pin))
        .unwrap_or_else(|e| panic!("SO C_Login on `{label}`: {e}"));
    session
        .init_pin(&SecretString::from(pin.to_string()))
        .unwrap_or_else(|e| panic!("C_InitPIN on `{label}`: {e}"));
    session
        .logout()
        .unwrap_or_else(|e| panic!("C_Logout on `{label}`: {e}"));
}
