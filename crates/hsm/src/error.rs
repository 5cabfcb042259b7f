//! The crate's one error type.
//!
//! Every PKCS#11 failure names the PKCS#11 function (`C_Sign`, `C_FindObjects`, …), its return
//! value (`CKR_…`) and what was involved (token, key label, mechanism). No variant ever carries a
//! PIN or key material.

use std::fmt;
use std::path::PathBuf;

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// One attribute that made a key fail attestation.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Refusal {
    /// The PKCS#11 attribute, e.g. `CKA_EXTRACTABLE`.
    pub attribute: String,
    /// What the key's role requires, e.g. `false`.
    pub expected: String,
    /// What the token reported (`absent` when the token did not return the attribute).
    pub found: String,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} is {} (must be {})",
            self.attribute, self.found, self.expected
        )
    }
}

/// Everything that can go wrong in `kc-hsm`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The PKCS#11 module file does not exist.
    #[error("pkcs11 module {} not found", path.display())]
    ModuleNotFound {
        /// The path that was tried.
        path: PathBuf,
    },

    /// The module exists but could not be loaded (not a PKCS#11 library, missing symbols, …).
    #[error("pkcs11 module {} could not be loaded: {reason}", path.display())]
    ModuleLoad {
        /// The module path.
        path: PathBuf,
        /// The loader's message.
        reason: String,
    },

    /// This process already loaded another PKCS#11 module (one `C_Initialize` per process).
    #[error(
        "pkcs11 module {} is already loaded in this process; refusing to also load {} (one module per process)",
        loaded.display(),
        requested.display()
    )]
    ModuleAlreadyLoaded {
        /// The module loaded first.
        loaded: PathBuf,
        /// The module asked for now.
        requested: PathBuf,
    },

    /// A PKCS#11 function returned an error.
    #[error("{function} failed with {rv} ({context})")]
    Pkcs11 {
        /// The PKCS#11 function, e.g. `C_Sign`.
        function: String,
        /// The return value, e.g. `CKR_KEY_FUNCTION_NOT_PERMITTED`.
        rv: String,
        /// What was involved: token, key label, mechanism.
        context: String,
    },

    /// The cryptoki wrapper failed outside of a PKCS#11 call (conversion, missing symbol, …).
    #[error("pkcs11 wrapper error: {message} ({context})")]
    Wrapper {
        /// cryptoki's message.
        message: String,
        /// What was involved.
        context: String,
    },

    /// No initialized token carries the label (and the serial number, when one was given).
    #[error(
        "no token labelled `{label}`{}; tokens present: {}{}",
        serial.as_ref().map(|s| format!(" with serial number `{s}`")).unwrap_or_default(),
        list_or_none(available),
        if unreadable.is_empty() { String::new() } else { format!("; slots skipped: {}", unreadable.join("; ")) }
    )]
    TokenNotFound {
        /// The label asked for.
        label: String,
        /// The serial number asked for, if any.
        serial: Option<String>,
        /// The initialized tokens that exist, as `label (serial S)`.
        available: Vec<String>,
        /// Slots whose `C_GetTokenInfo` failed, each naming the slot, the function and what
        /// failed (e.g. a field that did not parse).
        unreadable: Vec<String>,
    },

    /// More than one token carries the label.
    #[error(
        "{count} tokens are labelled `{label}` (serial numbers {}); name the token by its serial \
         number too, or give each token a unique label",
        serials.join(", ")
    )]
    DuplicateToken {
        /// The label.
        label: String,
        /// How many tokens carry it.
        count: usize,
        /// Their serial numbers (`C_GetTokenInfo.serialNumber`).
        serials: Vec<String>,
    },

    /// The PIN file could not be read (missing, unreadable, not UTF-8).
    #[error("cannot read the PIN file {}: {source}", path.display())]
    PinFileUnreadable {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },

    /// The PIN read from a file or the environment breaks the PIN rule ([`crate::pin`]).
    #[error("{from} {problem}")]
    PinRefused {
        /// Where it was read.
        from: crate::pin::PinSource,
        /// What is wrong with it.
        problem: crate::pin::PinProblem,
    },

    /// No PIN file was given and the environment variable is unset or empty.
    #[error("no PIN: no PIN file was given and {var} is not set")]
    PinMissing {
        /// The environment variable that was tried.
        var: String,
    },

    /// `C_Login` returned `CKR_PIN_INCORRECT`.
    #[error("C_Login failed with CKR_PIN_INCORRECT on token `{token}`: wrong PIN")]
    PinIncorrect {
        /// The token label.
        token: String,
    },

    /// `C_Login` returned `CKR_PIN_LOCKED`.
    #[error("C_Login failed with CKR_PIN_LOCKED on token `{token}`: the user PIN is locked")]
    PinLocked {
        /// The token label.
        token: String,
    },

    /// Preflight: the token lacks one or more required capabilities (all of them are listed).
    #[error("token `{token}` lacks required mechanisms: {}", missing.join(", "))]
    MissingMechanisms {
        /// The token label.
        token: String,
        /// Every missing mechanism, with the reason (e.g. `CKM_AES_GCM (not in C_GetMechanismList)`).
        missing: Vec<String>,
    },

    /// Provisioning refused: an object with this label already exists.
    #[error("label `{label}` already exists on token `{token}` as {class}; refusing to provision over it")]
    LabelExists {
        /// The token label.
        token: String,
        /// The object label.
        label: String,
        /// The existing object's class, e.g. `CKO_SECRET_KEY`.
        class: String,
    },

    /// No object of the expected class carries the label.
    #[error("no {class} labelled `{label}` on token `{token}`")]
    KeyNotFound {
        /// The token label.
        token: String,
        /// The object label.
        label: String,
        /// The class looked for, e.g. `CKO_PRIVATE_KEY`.
        class: String,
    },

    /// More than one object of the class carries the label.
    #[error("{count} objects of class {class} are labelled `{label}` on token `{token}`; expected exactly one")]
    AmbiguousLabel {
        /// The token label.
        token: String,
        /// The object label.
        label: String,
        /// The class.
        class: String,
        /// How many objects carry it.
        count: usize,
    },

    /// Key attestation refused the key; every failing attribute is listed.
    #[error("key `{label}` refused for {role} use: {}", join_refusals(refusals))]
    AttestationRefused {
        /// The key label.
        label: String,
        /// The role it was to be used for (`seal`, `identity`, `transaction`).
        role: String,
        /// Every attribute that failed.
        refusals: Vec<Refusal>,
    },

    /// A public key read from the token is malformed or not on the expected curve.
    #[error("public key `{label}` is invalid: {reason}")]
    PublicKeyInvalid {
        /// The key label.
        label: String,
        /// What is wrong.
        reason: String,
    },

    /// Unsealing failed in a way that can only mean the sealed data, its associated data or the
    /// key is not the one sealed with: an authentication failure computed on the host, or a
    /// return value that the token is known to give for exactly that (SoftHSM).
    #[error(
        "{function} with key `{label}` failed with {rv}: authentication failed (wrong key, wrong associated data, or tampered data)"
    )]
    UnsealFailed {
        /// The seal key label.
        label: String,
        /// Where it failed: `C_Decrypt (CKM_AES_GCM)`, `host AES-256-GCM`, `host OAEP decoding`.
        function: String,
        /// The return value the token gave, or what the host check found.
        rv: String,
    },

    /// A token other than SoftHSM failed `C_Decrypt` with a return value that does not tell a
    /// failed authentication from a device error (`CKR_GENERAL_ERROR`, `CKR_FUNCTION_FAILED`).
    #[error(
        "{function} with key `{label}` on token `{token}` failed with {rv}: authentication failure or device error"
    )]
    UnsealAuthOrDevice {
        /// The seal key label.
        label: String,
        /// The token label.
        token: String,
        /// The function and mechanism, e.g. `C_Decrypt (CKM_AES_GCM)`.
        function: String,
        /// The return value.
        rv: String,
    },

    /// An `rsa-oaep` envelope was made for another RSA key than the token's seal key: refused
    /// before anything is decrypted.
    #[error(
        "sealed data was made for the RSA key with SHA-256 {envelope}, but seal key `{label}` on token `{token}` is {found}; refusing to decrypt"
    )]
    SealedToAnotherKey {
        /// The seal key label.
        label: String,
        /// The token label.
        token: String,
        /// The key fingerprint the envelope names.
        envelope: String,
        /// The fingerprint of the token's key.
        found: String,
    },

    /// Sealed data whose layout is not the backend's (wrong length of a part).
    #[error("sealed data for {backend} is malformed: {reason}")]
    SealedMalformed {
        /// The seal backend.
        backend: String,
        /// What is wrong.
        reason: String,
    },

    /// Preflight by trial: a function the role needs failed on a session object made from the
    /// exact template, so nothing was made on the token.
    #[error("token `{token}`: preflight trial of {capability} failed: {function} {detail}")]
    TrialFailed {
        /// The token label.
        token: String,
        /// The PKCS#11 function (or host check) that failed, e.g. `C_GenerateKeyPair`.
        function: String,
        /// What was tried, e.g. `secp256k1 key pair (CKM_EC_KEY_PAIR_GEN, curve secp256k1)`.
        capability: String,
        /// The return value or what was found.
        detail: String,
    },

    /// No seal backend can run on the token; says why for each.
    #[error("token `{token}` offers no seal backend: {}", reasons.join("; "))]
    NoSealBackend {
        /// The token label.
        token: String,
        /// Per backend, why not.
        reasons: Vec<String>,
    },

    /// The key labelled as the seal key is neither an AES secret key nor an RSA private key.
    #[error("no seal key labelled `{label}` on token `{token}` (looked for an AES secret key and an RSA private key)")]
    SealKeyNotFound {
        /// The token label.
        token: String,
        /// The label.
        label: String,
    },

    /// Sealed data too short to hold an IV and a tag.
    #[error("sealed data is {len} bytes, shorter than the {min}-byte minimum (12-byte iv and 16-byte tag)")]
    SealedTooShort {
        /// Its length.
        len: usize,
        /// The minimum.
        min: usize,
    },

    /// A token returned output of an unexpected size.
    #[error("{function} with key `{label}` returned {got} bytes, expected {expected}")]
    UnexpectedLength {
        /// The PKCS#11 function.
        function: String,
        /// The key label.
        label: String,
        /// What came back.
        got: usize,
        /// What was expected.
        expected: usize,
    },

    /// The HSM's signature does not verify against the key's public key (read from the token).
    #[error("signature self-check failed for key `{label}`: the C_Sign result does not verify against the public key object with that label")]
    SignatureSelfCheck {
        /// The key label.
        label: String,
    },

    /// The key found again under a label after the token invalidated its handle is not the key
    /// attested before (different `CKA_ID` or attributes).
    #[error("key `{label}` changed on the token since it was attested; refusing to use it")]
    KeyChanged {
        /// The key label.
        label: String,
    },

    /// A key handle was used with a session on another token.
    #[error("key `{label}` belongs to token `{key_token}` but the session is on token `{session_token}`")]
    WrongToken {
        /// The key label.
        label: String,
        /// The key's token.
        key_token: String,
        /// The session's token.
        session_token: String,
    },
}

impl Error {
    /// The `CKR_…` return value, if this error came from a PKCS#11 call.
    pub fn ckr(&self) -> Option<&str> {
        match self {
            Error::Pkcs11 { rv, .. }
            | Error::UnsealFailed { rv, .. }
            | Error::UnsealAuthOrDevice { rv, .. } => Some(rv),
            Error::PinIncorrect { .. } => Some("CKR_PIN_INCORRECT"),
            Error::PinLocked { .. } => Some("CKR_PIN_LOCKED"),
            _ => None,
        }
    }
}

fn list_or_none(items: &[String]) -> String {
    if items.is_empty() {
        "none".to_string()
    } else {
        items
            .iter()
            .map(|s| format!("`{s}`"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

fn join_refusals(refusals: &[Refusal]) -> String {
    refusals
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// `PinIncorrect` → `CKR_PIN_INCORRECT`; the cryptoki variant names are the CKR names in
/// CamelCase (checked in the unit tests below).
pub(crate) fn rv_name(rv: &cryptoki::error::RvError) -> String {
    use cryptoki::error::RvError;
    match rv {
        RvError::VendorDefined(code) => format!("CKR_VENDOR_DEFINED(0x{code:08x})"),
        RvError::UnknownErrorCode(code) => format!("CKR_UNKNOWN(0x{code:08x})"),
        other => {
            let camel = format!("{other:?}");
            let mut out = String::from("CKR");
            for c in camel.chars() {
                if c.is_ascii_uppercase() {
                    out.push('_');
                }
                out.push(c.to_ascii_uppercase());
            }
            out
        }
    }
}

/// `Function::FindObjects` → `C_FindObjects`.
pub(crate) fn function_name(f: &cryptoki::context::Function) -> String {
    format!("C_{f:?}")
}

/// Converts a cryptoki error, adding what was involved.
pub(crate) fn p11(err: cryptoki::error::Error, context: impl Into<String>) -> Error {
    match err {
        cryptoki::error::Error::Pkcs11(rv, function) => Error::Pkcs11 {
            function: function_name(&function),
            rv: rv_name(&rv),
            context: context.into(),
        },
        other => Error::Wrapper {
            message: other.to_string(),
            context: context.into(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cryptoki::context::Function;
    use cryptoki::error::RvError;

    #[test]
    fn rv_names_follow_the_ckr_constants() {
        assert_eq!(rv_name(&RvError::PinIncorrect), "CKR_PIN_INCORRECT");
        assert_eq!(
            rv_name(&RvError::UserAlreadyLoggedIn),
            "CKR_USER_ALREADY_LOGGED_IN"
        );
        assert_eq!(
            rv_name(&RvError::KeyFunctionNotPermitted),
            "CKR_KEY_FUNCTION_NOT_PERMITTED"
        );
        assert_eq!(
            rv_name(&RvError::EncryptedDataInvalid),
            "CKR_ENCRYPTED_DATA_INVALID"
        );
        assert_eq!(
            rv_name(&RvError::CryptokiAlreadyInitialized),
            "CKR_CRYPTOKI_ALREADY_INITIALIZED"
        );
        assert_eq!(rv_name(&RvError::Cancel), "CKR_CANCEL");
    }

    #[test]
    fn function_names_are_c_names() {
        assert_eq!(function_name(&Function::FindObjects), "C_FindObjects");
        assert_eq!(function_name(&Function::Sign), "C_Sign");
        assert_eq!(
            function_name(&Function::GetAttributeValue),
            "C_GetAttributeValue"
        );
    }

    #[test]
    fn pkcs11_error_message_names_function_rv_and_context() {
        let e = p11(
            cryptoki::error::Error::Pkcs11(RvError::KeyHandleInvalid, Function::Sign),
            "key `identity`, mechanism CKM_ECDSA",
        );
        assert_eq!(
            e.to_string(),
            "C_Sign failed with CKR_KEY_HANDLE_INVALID (key `identity`, mechanism CKM_ECDSA)"
        );
        assert_eq!(e.ckr(), Some("CKR_KEY_HANDLE_INVALID"));
    }
}
