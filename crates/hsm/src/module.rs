//! The process-wide PKCS#11 module, tokens found by label, and logged-in RAII sessions.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::RvError;
use cryptoki::object::{Attribute, AttributeType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use secrecy::SecretString;
use serde::Serialize;
use zeroize::Zeroizing;

use crate::error::{p11, Error, Result};

/// Where Debian's `softhsm2` package installs the SoftHSM module.
pub const SOFTHSM_MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";

/// Environment variable naming the PKCS#11 module (the Makefile exports it).
pub const MODULE_ENV: &str = "KC_PKCS11_MODULE";

/// The one module of this process. PKCS#11 allows one `C_Initialize` per process (a second one
/// fails with `CKR_CRYPTOKI_ALREADY_INITIALIZED`, and with SoftHSM parallel initialisations
/// can crash), so the first [`Module::open`] loads and initializes it and every later call gets
/// a clone of the same context. It is never finalized: it lives until the process exits.
static MODULE: Mutex<Option<Module>> = Mutex::new(None);

/// A loaded and initialized PKCS#11 module (cheap to clone, `Send + Sync`).
#[derive(Clone)]
pub struct Module {
    ctx: Pkcs11,
    path: PathBuf,
    /// `cryptokiVersion` from `C_GetInfo` (major, minor), read once at load.
    cryptoki_version: (u8, u8),
}

impl fmt::Debug for Module {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Module").field("path", &self.path).finish()
    }
}

/// What `C_GetInfo` says about the module.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LibraryInfo {
    /// Module path as loaded.
    pub path: String,
    /// `manufacturerID`.
    pub manufacturer: String,
    /// `libraryDescription`.
    pub description: String,
    /// `libraryVersion`, `major.minor`.
    pub library_version: String,
    /// The Cryptoki (PKCS#11) version the module implements.
    pub cryptoki_version: String,
}

/// What `C_GetTokenInfo` says about a token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenInfo {
    /// Token label.
    pub label: String,
    /// `manufacturerID`.
    pub manufacturer: String,
    /// `model`.
    pub model: String,
    /// `serialNumber`.
    pub serial: String,
    /// Firmware version, `major.minor`.
    pub firmware_version: String,
    /// Hardware version, `major.minor`.
    pub hardware_version: String,
    /// The token has its own random number generator (`CKF_RNG`).
    pub rng: bool,
}

impl Module {
    /// Loads and initializes the module at `path`, once per process; later calls with the same
    /// path return the same context, and a different path is refused
    /// ([`Error::ModuleAlreadyLoaded`]).
    pub fn open(path: impl AsRef<Path>) -> Result<Module> {
        let requested = path.as_ref().to_path_buf();
        let mut slot = MODULE
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(m) = slot.as_ref() {
            if same_file(&m.path, &requested) {
                return Ok(m.clone());
            }
            return Err(Error::ModuleAlreadyLoaded {
                loaded: m.path.clone(),
                requested,
            });
        }
        if !requested.exists() {
            return Err(Error::ModuleNotFound { path: requested });
        }
        let ctx = Pkcs11::new(&requested).map_err(|e| Error::ModuleLoad {
            path: requested.clone(),
            reason: e.to_string(),
        })?;
        match ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
            Ok(()) => {}
            // Only possible if something else in this process initialized the same library
            // through another context; the library is usable, so carry on.
            Err(cryptoki::error::Error::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
            Err(e) => return Err(p11(e, format!("module {}", requested.display()))),
        }
        let cryptoki_version = ctx
            .get_library_info()
            .map(|i| {
                let v = i.cryptoki_version();
                (v.major(), v.minor())
            })
            .map_err(|e| p11(e, format!("module {}", requested.display())))?;
        let m = Module {
            ctx,
            path: requested,
            cryptoki_version,
        };
        *slot = Some(m.clone());
        Ok(m)
    }

    /// Opens the module named by `KC_PKCS11_MODULE`, or SoftHSM's default path.
    pub fn from_env() -> Result<Module> {
        Module::open(Module::path_from_env())
    }

    /// The module path `from_env` would use.
    pub fn path_from_env() -> PathBuf {
        std::env::var_os(MODULE_ENV)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(SOFTHSM_MODULE))
    }

    /// The module already loaded in this process, if any.
    pub fn loaded() -> Option<Module> {
        MODULE
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// The module's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `C_GetInfo`.
    pub fn info(&self) -> Result<LibraryInfo> {
        let i = self
            .ctx
            .get_library_info()
            .map_err(|e| p11(e, format!("module {}", self.path.display())))?;
        Ok(LibraryInfo {
            path: self.path.display().to_string(),
            manufacturer: i.manufacturer_id().trim().to_string(),
            description: i.library_description().trim().to_string(),
            library_version: i.library_version().to_string(),
            cryptoki_version: i.cryptoki_version().to_string(),
        })
    }

    /// Labels of every initialized token that could be read, in slot order.
    pub fn token_labels(&self) -> Result<Vec<String>> {
        Ok(self
            .scan_slots()?
            .readable
            .into_iter()
            .map(|(_, info)| info.label)
            .collect())
    }

    /// The PKCS#11 version the module implements (`C_GetInfo`), as (major, minor).
    pub fn cryptoki_version(&self) -> (u8, u8) {
        self.cryptoki_version
    }

    /// Whether templates may carry `CKA_COPYABLE`: it was added in PKCS#11 2.40, and tokens of an
    /// earlier version reject it (`CKR_ATTRIBUTE_TYPE_INVALID`).
    pub fn knows_copyable(&self) -> bool {
        knows_copyable(self.cryptoki_version)
    }

    /// Every slot with a token: the initialized ones whose `C_GetTokenInfo` succeeded, and the
    /// ones where it failed (a slot whose token info a module fills wrongly, such as a
    /// non-standard `utcTime`, must not hide the other tokens).
    fn scan_slots(&self) -> Result<SlotScan> {
        let slots = self
            .ctx
            .get_slots_with_token()
            .map_err(|e| p11(e, "C_GetSlotList, listing slots with a token"))?;
        let mut scan = SlotScan::default();
        for slot in slots {
            match self.ctx.get_token_info(slot) {
                Ok(i) if i.token_initialized() => scan.readable.push((slot, token_info(&i))),
                Ok(_) => {}
                Err(e) => scan.unreadable.push(unreadable_slot(slot, &e)),
            }
        }
        Ok(scan)
    }

    /// Finds the token by its label. Slot numbers are never used to pick a token: SoftHSM
    /// renumbers slots as tokens are created.
    pub fn find_token(&self, label: &str) -> Result<Token> {
        self.select_token(label, None)
    }

    /// Finds the token labelled `label`; with `serial`, the token must also carry that serial
    /// number (`C_GetTokenInfo.serialNumber`), which tells apart tokens with the same label.
    /// Slots whose `C_GetTokenInfo` fails are skipped, and named if no token matches.
    pub fn select_token(&self, label: &str, serial: Option<&str>) -> Result<Token> {
        let scan = self.scan_slots()?;
        let matches: Vec<&(Slot, TokenInfo)> = scan
            .readable
            .iter()
            .filter(|(_, i)| i.label == label && serial.is_none_or(|s| i.serial == s))
            .collect();
        match matches.as_slice() {
            [(slot, _)] => Ok(Token {
                module: self.clone(),
                slot: *slot,
                label: label.to_string(),
            }),
            [] => Err(Error::TokenNotFound {
                label: label.to_string(),
                serial: serial.map(str::to_string),
                available: scan
                    .readable
                    .iter()
                    .map(|(_, i)| format!("{} (serial {})", i.label, i.serial))
                    .collect(),
                unreadable: scan.unreadable,
            }),
            many => Err(Error::DuplicateToken {
                label: label.to_string(),
                count: many.len(),
            }),
        }
    }

    pub(crate) fn ctx(&self) -> &Pkcs11 {
        &self.ctx
    }
}

/// `CKA_COPYABLE` exists from PKCS#11 2.40 on.
fn knows_copyable(version: (u8, u8)) -> bool {
    version >= (2, 40)
}

#[derive(Default)]
struct SlotScan {
    readable: Vec<(Slot, TokenInfo)>,
    /// `slot N: C_GetTokenInfo failed: …` for every slot whose token could not be read.
    unreadable: Vec<String>,
}

fn unreadable_slot(slot: Slot, e: &cryptoki::error::Error) -> String {
    // cryptoki fails the whole call when a field does not parse (opencryptoki 3.8 fills
    // `utcTime` with a clock time, not `YYYYMMDDhhmmss00`): say which function and what.
    let what = match e {
        cryptoki::error::Error::Pkcs11(rv, _) => crate::error::rv_name(rv),
        other => format!("a field did not parse ({other})"),
    };
    format!("slot {}: C_GetTokenInfo failed: {what}", slot.id())
}

fn token_info(i: &cryptoki::slot::TokenInfo) -> TokenInfo {
    TokenInfo {
        label: i.label().trim().to_string(),
        manufacturer: i.manufacturer_id().trim().to_string(),
        model: i.model().trim().to_string(),
        serial: i.serial_number().trim().to_string(),
        firmware_version: i.firmware_version().to_string(),
        hardware_version: i.hardware_version().to_string(),
        rng: i.rng(),
    }
}

fn same_file(a: &Path, b: &Path) -> bool {
    a == b
        || matches!(
            (a.canonicalize(), b.canonicalize()),
            (Ok(x), Ok(y)) if x == y
        )
}

/// A token, found by label.
#[derive(Clone)]
pub struct Token {
    module: Module,
    slot: Slot,
    label: String,
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Token")
            .field("label", &self.label)
            .field("module", &self.module.path)
            .finish()
    }
}

impl Token {
    /// The token label.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// The module the token is reached through.
    pub fn module(&self) -> &Module {
        &self.module
    }

    pub(crate) fn slot(&self) -> Slot {
        self.slot
    }

    /// `C_GetTokenInfo`: manufacturer, model, serial, versions.
    pub fn info(&self) -> Result<TokenInfo> {
        let i = self
            .module
            .ctx
            .get_token_info(self.slot)
            .map_err(|e| p11(e, format!("token `{}`, C_GetTokenInfo", self.label)))?;
        Ok(token_info(&i))
    }

    /// Sessions the token reports open (`C_GetTokenInfo.ulSessionCount`), if it reports them.
    pub fn session_count(&self) -> Result<Option<u64>> {
        self.module
            .ctx
            .get_token_info(self.slot)
            .map(|i| i.session_count())
            .map_err(|e| p11(e, format!("token `{}`, C_GetTokenInfo", self.label)))
    }

    /// Whether this token's module is SoftHSM (`C_GetInfo.manufacturerID`). Used only to read
    /// its return values precisely (it reports a GCM tag mismatch as `CKR_GENERAL_ERROR`).
    pub fn is_softhsm(&self) -> bool {
        self.module
            .ctx
            .get_library_info()
            .map(|i| i.manufacturer_id().contains("SoftHSM"))
            .unwrap_or(false)
    }

    /// The public key object of `key_type` labelled `label`, read in a session without login
    /// (public key objects are not private): `None` if there is none, an error if several.
    pub(crate) fn find_public_key(
        &self,
        label: &str,
        key_type: cryptoki::object::KeyType,
    ) -> Result<Option<(Session, ObjectHandle)>> {
        let session = self.public_session()?;
        let found = session
            .find_objects(&[
                Attribute::Class(ObjectClass::PUBLIC_KEY),
                Attribute::KeyType(key_type),
                Attribute::Label(label.as_bytes().to_vec()),
            ])
            .map_err(|e| p11(e, format!("token `{}`, label `{label}`", self.label)))?;
        match found.as_slice() {
            [] => Ok(None),
            [one] => Ok(Some((session, *one))),
            many => Err(Error::AmbiguousLabel {
                token: self.label.clone(),
                label: label.to_string(),
                class: "CKO_PUBLIC_KEY".into(),
                count: many.len(),
            }),
        }
    }

    /// Opens a read-only session without logging in, for public objects only.
    pub(crate) fn public_session(&self) -> Result<Session> {
        self.module.ctx.open_ro_session(self.slot).map_err(|e| {
            p11(
                e,
                format!("token `{}`, C_OpenSession (read-only)", self.label),
            )
        })
    }

    /// Opens a read-write session and logs the user in (`C_Login` as `CKU_USER`).
    ///
    /// `CKR_USER_ALREADY_LOGGED_IN` counts as success: PKCS#11 logins are per application and
    /// token, so another session of this process may have logged in already. The session is
    /// closed when the returned value is dropped; it does not log out, because `C_Logout` would
    /// end the login of every other session of this process on the token.
    pub fn login(&self, pin: &SecretString) -> Result<HsmSession> {
        let session = self
            .module
            .ctx
            .open_rw_session(self.slot)
            .map_err(|e| p11(e, format!("token `{}`", self.label)))?;
        match session.login(UserType::User, Some(pin)) {
            Ok(()) => {}
            Err(cryptoki::error::Error::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => {}
            Err(cryptoki::error::Error::Pkcs11(RvError::PinIncorrect, _)) => {
                return Err(Error::PinIncorrect {
                    token: self.label.clone(),
                })
            }
            Err(cryptoki::error::Error::Pkcs11(RvError::PinLocked, _)) => {
                return Err(Error::PinLocked {
                    token: self.label.clone(),
                })
            }
            Err(e) => return Err(p11(e, format!("token `{}`, user login", self.label))),
        }
        Ok(HsmSession {
            session,
            token: self.clone(),
        })
    }
}

/// A logged-in read-write session on one token. RAII: `C_CloseSession` on drop.
///
/// `Send` but not `Sync` (one session per thread; wrap it in a `Mutex` to share it).
pub struct HsmSession {
    session: Session,
    token: Token,
}

impl fmt::Debug for HsmSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HsmSession")
            .field("token", &self.token.label)
            .finish()
    }
}

impl HsmSession {
    /// The token this session is on.
    pub fn token(&self) -> &Token {
        &self.token
    }

    /// The token label.
    pub fn token_label(&self) -> &str {
        &self.token.label
    }

    /// `C_GenerateRandom`: `len` bytes from the token's RNG (zeroized on drop, since callers
    /// use them as secret material).
    pub fn generate_random(&self, len: usize) -> Result<Zeroizing<Vec<u8>>> {
        let mut buf = Zeroizing::new(vec![0u8; len]);
        self.session.generate_random_slice(&mut buf).map_err(|e| {
            p11(
                e,
                format!("token `{}`, {len} random bytes", self.token.label),
            )
        })?;
        Ok(buf)
    }

    /// `C_GenerateRandom` into a fixed-size array (zeroized on drop).
    pub fn random_array<const N: usize>(&self) -> Result<Zeroizing<[u8; N]>> {
        let mut buf = Zeroizing::new([0u8; N]);
        self.session
            .generate_random_slice(buf.as_mut_slice())
            .map_err(|e| p11(e, format!("token `{}`, {N} random bytes", self.token.label)))?;
        Ok(buf)
    }

    /// The class of the first object that carries `label`, if any (any class, private objects
    /// included since the session is logged in).
    pub fn label_in_use(&self, label: &str) -> Result<Option<String>> {
        let found = self.find(&[Attribute::Label(label.as_bytes().to_vec())], label)?;
        let Some(first) = found.first() else {
            return Ok(None);
        };
        let attrs = self
            .session
            .get_attributes(*first, &[AttributeType::Class])
            .map_err(|e| p11(e, self.ctx_label(label)))?;
        let class = attrs
            .iter()
            .find_map(|a| match a {
                Attribute::Class(c) => Some(c.to_string()),
                _ => None,
            })
            .unwrap_or_else(|| "an object of unknown class".to_string());
        Ok(Some(class))
    }

    /// Refuses if any object already carries `label` (error names label and class).
    pub fn ensure_label_free(&self, label: &str) -> Result<()> {
        match self.label_in_use(label)? {
            None => Ok(()),
            Some(class) => Err(Error::LabelExists {
                token: self.token.label.clone(),
                label: label.to_string(),
                class,
            }),
        }
    }

    pub(crate) fn find(&self, template: &[Attribute], label: &str) -> Result<Vec<ObjectHandle>> {
        self.session
            .find_objects(template)
            .map_err(|e| p11(e, self.ctx_label(label)))
    }

    /// Exactly one object of `class` labelled `label`.
    pub(crate) fn find_one(&self, class: ObjectClass, label: &str) -> Result<ObjectHandle> {
        let found = self.find(
            &[
                Attribute::Class(class),
                Attribute::Label(label.as_bytes().to_vec()),
            ],
            label,
        )?;
        match found.as_slice() {
            [one] => Ok(*one),
            [] => Err(Error::KeyNotFound {
                token: self.token.label.clone(),
                label: label.to_string(),
                class: class.to_string(),
            }),
            many => Err(Error::AmbiguousLabel {
                token: self.token.label.clone(),
                label: label.to_string(),
                class: class.to_string(),
                count: many.len(),
            }),
        }
    }

    /// A private key template: on the token (or a trial's session object), private, sensitive,
    /// never extractable, not modifiable (nor copyable where the token knows the attribute),
    /// and of the private-key usage attributes only `sign` or `decrypt` as asked.
    pub(crate) fn private_key_template(
        &self,
        key_type: cryptoki::object::KeyType,
        on_token: bool,
        sign: bool,
        decrypt: bool,
        label: &str,
        id: &[u8],
    ) -> Vec<Attribute> {
        let mut t = vec![
            Attribute::Token(on_token),
            Attribute::Private(true),
            Attribute::KeyType(key_type),
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
            Attribute::Sign(sign),
            Attribute::SignRecover(false),
            Attribute::Decrypt(decrypt),
            Attribute::Unwrap(false),
            Attribute::Derive(false),
            Attribute::Modifiable(false),
        ];
        t.extend(self.not_copyable());
        t.push(Attribute::Label(label.as_bytes().to_vec()));
        t.push(Attribute::Id(id.to_vec()));
        t
    }

    /// `CKA_COPYABLE = false` where the module's PKCS#11 version (2.40 and later) knows the
    /// attribute; nothing on older ones, which reject it with `CKR_ATTRIBUTE_TYPE_INVALID`.
    pub(crate) fn not_copyable(&self) -> Option<Attribute> {
        self.token
            .module
            .knows_copyable()
            .then_some(Attribute::Copyable(false))
    }

    /// `C_DestroyObject` on every object labelled `label`; returns how many there were.
    pub(crate) fn destroy_labelled(&self, label: &str) -> Result<usize> {
        let found = self.find(&[Attribute::Label(label.as_bytes().to_vec())], label)?;
        for handle in &found {
            self.destroy(*handle, label)?;
        }
        Ok(found.len())
    }

    /// `C_DestroyObject`.
    pub(crate) fn destroy(&self, handle: ObjectHandle, label: &str) -> Result<()> {
        self.session
            .destroy_object(handle)
            .map_err(|e| p11(e, format!("{}, C_DestroyObject", self.ctx_label(label))))
    }

    pub(crate) fn ctx_label(&self, label: &str) -> String {
        format!("token `{}`, label `{label}`", self.token.label)
    }

    pub(crate) fn session(&self) -> &Session {
        &self.session
    }

    pub(crate) fn check_token(&self, key_label: &str, key_token: &str) -> Result<()> {
        if key_token == self.token.label {
            Ok(())
        } else {
            Err(Error::WrongToken {
                label: key_label.to_string(),
                key_token: key_token.to_string(),
                session_token: self.token.label.clone(),
            })
        }
    }

    /// The raw cryptoki session, for tests that must build objects this crate refuses to build
    /// (extractable keys, imported keys, keys with extra usage flags).
    #[cfg(feature = "test-utils")]
    pub fn raw(&self) -> &Session {
        &self.session
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copyable_is_left_out_below_pkcs11_2_40() {
        assert!(!knows_copyable((2, 20)));
        assert!(!knows_copyable((2, 30)));
        assert!(knows_copyable((2, 40)));
        assert!(knows_copyable((3, 0)));
    }

    #[test]
    fn an_unreadable_slot_names_the_slot_the_function_and_what_failed() {
        let slot = Slot::try_from(7u64).unwrap();
        let parse = unreadable_slot(slot, &cryptoki::error::Error::InvalidValue);
        assert!(
            parse.starts_with("slot 7: C_GetTokenInfo failed: a field did not parse ("),
            "{parse}"
        );
        let rv = unreadable_slot(
            slot,
            &cryptoki::error::Error::Pkcs11(
                RvError::DeviceError,
                cryptoki::context::Function::GetTokenInfo,
            ),
        );
        assert_eq!(rv, "slot 7: C_GetTokenInfo failed: CKR_DEVICE_ERROR");
        let err = Error::TokenNotFound {
            label: "ceremony".into(),
            serial: None,
            available: vec![],
            unreadable: vec![parse, rv],
        };
        let msg = err.to_string();
        assert!(
            msg.starts_with("no token labelled `ceremony`; tokens present: none; slots skipped: slot 7: C_GetTokenInfo failed"),
            "{msg}"
        );
    }
}
