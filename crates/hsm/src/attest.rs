//! Key attestation (issue #9): before an HSM key is used, read its attributes and refuse it
//! unless it was generated inside the token, can never leave it, and can do exactly what its
//! role needs.

use std::fmt;

use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use serde::Serialize;

use crate::error::{p11, Error, Refusal, Result};
use crate::module::{HsmSession, LibraryInfo, Token};
use crate::preflight::{PreflightItem, Requirement};

/// What a key is for; decides its class, type and exact usage flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyRole {
    /// AES-256 seal key (`aes-256-gcm` backend): `CKA_ENCRYPT` and `CKA_DECRYPT` only.
    Seal,
    /// RSA-3072 seal private key (`rsa-oaep` backend): `CKA_DECRYPT` only.
    RsaSeal,
    /// P-256 identity private key: `CKA_SIGN` only.
    Identity,
    /// secp256k1 transaction private key: `CKA_SIGN` only.
    Transaction,
}

impl fmt::Display for KeyRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            KeyRole::Seal => "seal",
            KeyRole::RsaSeal => "seal (rsa-oaep)",
            KeyRole::Identity => "identity",
            KeyRole::Transaction => "transaction",
        })
    }
}

/// The usage attributes defined for private keys (PKCS#11 2.40 §4.9): the others
/// (`CKA_ENCRYPT`, `CKA_VERIFY`, …) belong to public and secret keys, and some tokens report
/// them true on private keys (a TPM EC key reports `CKA_ENCRYPT`/`CKA_VERIFY`), which says
/// nothing about what the private key can do.
const PRIVATE_KEY_USAGE: &[&str] = &[
    "CKA_SIGN",
    "CKA_SIGN_RECOVER",
    "CKA_DECRYPT",
    "CKA_UNWRAP",
    "CKA_DERIVE",
];

/// The usage attributes checked, in report order.
const USAGE: &[(AttributeType, &str)] = &[
    (AttributeType::Encrypt, "CKA_ENCRYPT"),
    (AttributeType::Decrypt, "CKA_DECRYPT"),
    (AttributeType::Sign, "CKA_SIGN"),
    (AttributeType::Verify, "CKA_VERIFY"),
    (AttributeType::SignRecover, "CKA_SIGN_RECOVER"),
    (AttributeType::VerifyRecover, "CKA_VERIFY_RECOVER"),
    (AttributeType::Wrap, "CKA_WRAP"),
    (AttributeType::Unwrap, "CKA_UNWRAP"),
    (AttributeType::Derive, "CKA_DERIVE"),
];

impl KeyRole {
    /// The usage attributes that must be true; every other one in [`KeyRole::checked_usage`]
    /// must be false or absent.
    pub fn required_usage(self) -> &'static [&'static str] {
        match self {
            KeyRole::Seal => &["CKA_ENCRYPT", "CKA_DECRYPT"],
            KeyRole::RsaSeal => &["CKA_DECRYPT"],
            KeyRole::Identity | KeyRole::Transaction => &["CKA_SIGN"],
        }
    }

    /// The usage attributes checked for this role's key class: all of them for a secret key,
    /// only those defined for private keys (sign, sign-recover, decrypt, unwrap, derive) for a
    /// private key.
    pub fn checked_usage_of(self) -> Vec<&'static str> {
        USAGE
            .iter()
            .map(|(_, n)| *n)
            .filter(|n| self.class() != ObjectClass::PRIVATE_KEY || PRIVATE_KEY_USAGE.contains(n))
            .collect()
    }

    /// Every usage attribute read from a key.
    pub fn checked_usage() -> Vec<&'static str> {
        USAGE.iter().map(|(_, n)| *n).collect()
    }

    pub(crate) fn class(self) -> ObjectClass {
        match self {
            KeyRole::Seal => ObjectClass::SECRET_KEY,
            KeyRole::RsaSeal | KeyRole::Identity | KeyRole::Transaction => ObjectClass::PRIVATE_KEY,
        }
    }

    pub(crate) fn key_type(self) -> KeyType {
        match self {
            KeyRole::Seal => KeyType::AES,
            KeyRole::RsaSeal => KeyType::RSA,
            KeyRole::Identity | KeyRole::Transaction => KeyType::EC,
        }
    }

    fn curve(self) -> Option<crate::ec::Curve> {
        match self {
            KeyRole::Seal | KeyRole::RsaSeal => None,
            KeyRole::Identity => Some(crate::ec::Curve::P256),
            KeyRole::Transaction => Some(crate::ec::Curve::Secp256k1),
        }
    }
}

/// A key's security attributes as the token reported them, for the ceremony transcript.
///
/// Only produced for keys that passed: `sensitive`, `always_sensitive`, `never_extractable`,
/// `local`, `token` and `private` true, `extractable` false, and `usage` exactly the role's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyAttestation {
    /// `CKA_LABEL`.
    pub label: String,
    /// `CKA_ID`, hex.
    pub id: String,
    /// The role the key was attested for.
    pub role: KeyRole,
    /// `CKA_CLASS`, e.g. `CKO_SECRET_KEY`.
    pub class: String,
    /// `CKA_KEY_TYPE`, e.g. `CKK_AES`.
    pub key_type: String,
    /// EC keys: the curve named by `CKA_EC_PARAMS` (`secp256r1`, `secp256k1`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub curve: Option<String>,
    /// AES keys: `CKA_VALUE_LEN` in bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value_len: Option<u64>,
    /// `CKA_TOKEN`.
    pub token: bool,
    /// `CKA_PRIVATE`.
    pub private: bool,
    /// `CKA_SENSITIVE`.
    pub sensitive: bool,
    /// `CKA_ALWAYS_SENSITIVE`.
    pub always_sensitive: bool,
    /// `CKA_EXTRACTABLE`.
    pub extractable: bool,
    /// `CKA_NEVER_EXTRACTABLE`.
    pub never_extractable: bool,
    /// `CKA_LOCAL` (generated on the token, not imported).
    pub local: bool,
    /// `CKA_MODIFIABLE`, if the token reports it (recorded, not required).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub modifiable: Option<bool>,
    /// `CKA_COPYABLE`, if the token reports it (recorded, not required).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub copyable: Option<bool>,
    /// `CKA_KEY_GEN_MECHANISM`, if the token reports a known one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_gen_mechanism: Option<String>,
    /// The usage attributes that are true, e.g. `["CKA_ENCRYPT", "CKA_DECRYPT"]`.
    pub usage: Vec<String>,
}

/// What the ceremony records about the token: who made it, which one it is, and the
/// mechanisms it was checked for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenAttestation {
    /// The module (`C_GetInfo`).
    pub library: LibraryInfo,
    /// Token label.
    pub label: String,
    /// Token manufacturer.
    pub manufacturer: String,
    /// Token model.
    pub model: String,
    /// Token serial number.
    pub serial: String,
    /// Firmware version.
    pub firmware_version: String,
    /// Hardware version.
    pub hardware_version: String,
    /// The mechanisms (and `C_GenerateRandom`) used, each checked.
    pub mechanisms: Vec<PreflightItem>,
}

impl Token {
    /// Token attestation: module and token identity plus the preflight of `requirements`.
    /// Fails like [`Token::preflight`] if any requirement is missing.
    pub fn attest(&self, requirements: &[Requirement]) -> Result<TokenAttestation> {
        let report = self.preflight(requirements)?;
        let info = self.info()?;
        Ok(TokenAttestation {
            library: self.module().info()?,
            label: info.label,
            manufacturer: info.manufacturer,
            model: info.model,
            serial: info.serial,
            firmware_version: info.firmware_version,
            hardware_version: info.hardware_version,
            mechanisms: report.items,
        })
    }
}

/// Reads `handle`'s attributes and checks them against `role`, for a token object (`on_token`) or for the session object the preflight trial
/// makes from the same template (`CKA_TOKEN` false, everything else identical).
pub(crate) fn attest_object(
    session: &HsmSession,
    handle: ObjectHandle,
    label: &str,
    role: KeyRole,
    on_token: bool,
) -> Result<KeyAttestation> {
    let mut types = vec![
        AttributeType::Class,
        AttributeType::KeyType,
        AttributeType::Id,
        AttributeType::Label,
        AttributeType::Token,
        AttributeType::Private,
        AttributeType::Sensitive,
        AttributeType::AlwaysSensitive,
        AttributeType::Extractable,
        AttributeType::NeverExtractable,
        AttributeType::Local,
        AttributeType::Modifiable,
        AttributeType::Copyable,
    ];
    types.extend(USAGE.iter().map(|(t, _)| *t));
    match role {
        KeyRole::Seal => types.push(AttributeType::ValueLen),
        KeyRole::RsaSeal => {}
        KeyRole::Identity | KeyRole::Transaction => types.push(AttributeType::EcParams),
    }
    let ctx = || format!("{}, attesting", session.ctx_label(label));
    let attrs = session
        .session()
        .get_attributes(handle, &types)
        .map_err(|e| p11(e, ctx()))?;
    // Asked on its own: tokens may report a vendor or "unavailable" value that cryptoki cannot
    // convert, and that must not fail the whole read. Recorded only.
    let key_gen_mechanism = session
        .session()
        .get_attributes(handle, &[AttributeType::KeyGenMechanism])
        .ok()
        .and_then(|v| {
            v.into_iter().find_map(|a| match a {
                Attribute::KeyGenMechanism(m) => Some(m.to_string()),
                _ => None,
            })
        });

    let mut a = Attrs::default();
    for attr in attrs {
        match attr {
            Attribute::Class(c) => a.class = Some(c),
            Attribute::KeyType(k) => a.key_type = Some(k),
            Attribute::Id(v) => a.id = Some(v),
            Attribute::Label(v) => a.label = Some(String::from_utf8_lossy(&v).into_owned()),
            Attribute::Token(b) => a.token = Some(b),
            Attribute::Private(b) => a.private = Some(b),
            Attribute::Sensitive(b) => a.sensitive = Some(b),
            Attribute::AlwaysSensitive(b) => a.always_sensitive = Some(b),
            Attribute::Extractable(b) => a.extractable = Some(b),
            Attribute::NeverExtractable(b) => a.never_extractable = Some(b),
            Attribute::Local(b) => a.local = Some(b),
            Attribute::Modifiable(b) => a.modifiable = Some(b),
            Attribute::Copyable(b) => a.copyable = Some(b),
            Attribute::ValueLen(n) => a.value_len = Some(u64::from(n)),
            Attribute::EcParams(p) => a.ec_params = Some(p),
            Attribute::Encrypt(b) => a.set_usage("CKA_ENCRYPT", b),
            Attribute::Decrypt(b) => a.set_usage("CKA_DECRYPT", b),
            Attribute::Sign(b) => a.set_usage("CKA_SIGN", b),
            Attribute::Verify(b) => a.set_usage("CKA_VERIFY", b),
            Attribute::SignRecover(b) => a.set_usage("CKA_SIGN_RECOVER", b),
            Attribute::VerifyRecover(b) => a.set_usage("CKA_VERIFY_RECOVER", b),
            Attribute::Wrap(b) => a.set_usage("CKA_WRAP", b),
            Attribute::Unwrap(b) => a.set_usage("CKA_UNWRAP", b),
            Attribute::Derive(b) => a.set_usage("CKA_DERIVE", b),
            _ => {}
        }
    }

    let mut refusals = Vec::new();
    let mut refuse = |attribute: &str, expected: String, found: String| {
        refusals.push(Refusal {
            attribute: attribute.to_string(),
            expected,
            found,
        })
    };
    let show = |v: Option<String>| v.unwrap_or_else(|| "absent".to_string());

    if a.class != Some(role.class()) {
        refuse(
            "CKA_CLASS",
            role.class().to_string(),
            show(a.class.map(|c| c.to_string())),
        );
    }
    if a.key_type != Some(role.key_type()) {
        refuse(
            "CKA_KEY_TYPE",
            role.key_type().to_string(),
            show(a.key_type.map(|k| k.to_string())),
        );
    }
    let flags: [(&str, Option<bool>, bool); 7] = [
        ("CKA_TOKEN", a.token, on_token),
        ("CKA_PRIVATE", a.private, true),
        ("CKA_SENSITIVE", a.sensitive, true),
        ("CKA_ALWAYS_SENSITIVE", a.always_sensitive, true),
        ("CKA_EXTRACTABLE", a.extractable, false),
        ("CKA_NEVER_EXTRACTABLE", a.never_extractable, true),
        ("CKA_LOCAL", a.local, true),
    ];
    for (name, found, expected) in flags {
        if found != Some(expected) {
            refuse(
                name,
                expected.to_string(),
                show(found.map(|b| b.to_string())),
            );
        }
    }
    for name in role.checked_usage_of() {
        let name = &name;
        let required = role.required_usage().contains(name);
        let found = a.usage.iter().find(|(n, _)| n == name).map(|(_, b)| *b);
        let ok = if required {
            found == Some(true)
        } else {
            found != Some(true)
        };
        if !ok {
            refuse(
                name,
                required.to_string(),
                show(found.map(|b| b.to_string())),
            );
        }
    }
    let mut curve_name = None;
    match role.curve() {
        None if role == KeyRole::RsaSeal => {}
        None => {
            if a.value_len != Some(32) {
                refuse(
                    "CKA_VALUE_LEN",
                    "32".to_string(),
                    show(a.value_len.map(|n| n.to_string())),
                );
            }
        }
        Some(curve) => match a.ec_params.as_deref() {
            Some(p) if p == curve.ec_params() => curve_name = Some(curve.name().to_string()),
            other => refuse(
                "CKA_EC_PARAMS",
                format!("{} ({})", hex::encode(curve.ec_params()), curve.name()),
                show(other.map(|p| {
                    let name = crate::ec::Curve::from_ec_params(p)
                        .map(|c| c.name())
                        .unwrap_or("unknown curve");
                    format!("{} ({name})", hex::encode(p))
                })),
            ),
        },
    }

    if !refusals.is_empty() {
        return Err(Error::AttestationRefused {
            label: label.to_string(),
            role: role.to_string(),
            refusals,
        });
    }
    Ok(KeyAttestation {
        label: a.label.unwrap_or_else(|| label.to_string()),
        id: hex::encode(a.id.unwrap_or_default()),
        role,
        class: role.class().to_string(),
        key_type: role.key_type().to_string(),
        curve: curve_name,
        value_len: a.value_len,
        token: on_token,
        private: true,
        sensitive: true,
        always_sensitive: true,
        extractable: false,
        never_extractable: true,
        local: true,
        modifiable: a.modifiable,
        copyable: a.copyable,
        key_gen_mechanism,
        usage: {
            let checked = role.checked_usage_of();
            a.usage
                .iter()
                .filter(|(n, b)| *b && checked.contains(n))
                .map(|(n, _)| n.to_string())
                .collect()
        },
    })
}

#[derive(Default)]
struct Attrs {
    class: Option<ObjectClass>,
    key_type: Option<KeyType>,
    id: Option<Vec<u8>>,
    label: Option<String>,
    token: Option<bool>,
    private: Option<bool>,
    sensitive: Option<bool>,
    always_sensitive: Option<bool>,
    extractable: Option<bool>,
    never_extractable: Option<bool>,
    local: Option<bool>,
    modifiable: Option<bool>,
    copyable: Option<bool>,
    value_len: Option<u64>,
    ec_params: Option<Vec<u8>>,
    usage: Vec<(&'static str, bool)>,
}

impl Attrs {
    fn set_usage(&mut self, name: &'static str, value: bool) {
        self.usage.push((name, value));
    }
}

/// A handle to an attested key that survives the end of a login.
///
/// PKCS#11 object handles are valid across the sessions of one application, but tokens may
/// renumber private objects when the login ends (SoftHSM does when the last session closes).
/// When an operation fails with `CKR_OBJECT_HANDLE_INVALID` or `CKR_KEY_HANDLE_INVALID`, the key
/// is found again by class and label, attested again, and used only if the new attestation
/// equals the first one (same `CKA_ID`, same attributes); then the operation is retried once.
pub(crate) struct KeyRef {
    handle: std::sync::Mutex<ObjectHandle>,
    label: String,
    token: String,
    role: KeyRole,
    on_token: bool,
    attestation: KeyAttestation,
}

impl Clone for KeyRef {
    fn clone(&self) -> Self {
        KeyRef {
            handle: std::sync::Mutex::new(self.current()),
            label: self.label.clone(),
            token: self.token.clone(),
            role: self.role,
            on_token: self.on_token,
            attestation: self.attestation.clone(),
        }
    }
}

impl KeyRef {
    /// Finds the key of `role` labelled `label` and attests it: a token object (`on_token`) or
    /// a preflight trial's session object.
    pub(crate) fn open_as(
        session: &HsmSession,
        label: &str,
        role: KeyRole,
        on_token: bool,
    ) -> Result<KeyRef> {
        let handle = session.find_one(role.class(), label)?;
        let attestation = attest_object(session, handle, label, role, on_token)?;
        Ok(KeyRef {
            handle: std::sync::Mutex::new(handle),
            label: label.to_string(),
            token: session.token_label().to_string(),
            role,
            on_token,
            attestation,
        })
    }

    pub(crate) fn label(&self) -> &str {
        &self.label
    }

    pub(crate) fn token(&self) -> &str {
        &self.token
    }

    pub(crate) fn attestation(&self) -> &KeyAttestation {
        &self.attestation
    }

    fn current(&self) -> ObjectHandle {
        *self.handle.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `op` with the key's handle on `session` (after checking the session is on the key's
    /// token), re-resolving the handle once if the token says it is no longer valid. The inner
    /// result is cryptoki's, for the caller to map.
    pub(crate) fn call<T>(
        &self,
        session: &HsmSession,
        mut op: impl FnMut(ObjectHandle) -> cryptoki::error::Result<T>,
    ) -> Result<cryptoki::error::Result<T>> {
        use cryptoki::error::RvError;
        session.check_token(&self.label, &self.token)?;
        match op(self.current()) {
            Err(cryptoki::error::Error::Pkcs11(
                RvError::ObjectHandleInvalid | RvError::KeyHandleInvalid,
                _,
            )) => {
                let handle = session.find_one(self.role.class(), &self.label)?;
                let again = attest_object(session, handle, &self.label, self.role, self.on_token)?;
                if again != self.attestation {
                    return Err(Error::KeyChanged {
                        label: self.label.clone(),
                    });
                }
                *self.handle.lock().unwrap_or_else(|p| p.into_inner()) = handle;
                Ok(op(handle))
            }
            other => Ok(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_keys_are_checked_only_for_private_key_usage() {
        for role in [KeyRole::Identity, KeyRole::Transaction, KeyRole::RsaSeal] {
            assert_eq!(
                role.checked_usage_of(),
                vec![
                    "CKA_DECRYPT",
                    "CKA_SIGN",
                    "CKA_SIGN_RECOVER",
                    "CKA_UNWRAP",
                    "CKA_DERIVE"
                ],
                "{role}"
            );
        }
        // a secret key: every usage attribute
        assert_eq!(KeyRole::Seal.checked_usage_of(), KeyRole::checked_usage());
    }
}
