//! The seal key: a non-extractable AES-256 key that seals the master secret with AES-GCM.
//!
//! Sealed format: `iv (12 bytes) ‖ ciphertext (len(plaintext) bytes) ‖ tag (16 bytes)`.
//! The IV comes from the token's RNG (`C_GenerateRandom`) for every seal (or from the token
//! itself, if it overwrites the caller's IV as AWS CloudHSM does), the tag is 128 bits,
//! and the associated data is the caller's (the ceremony binds the ceremony id and the plan
//! hash). Unsealing needs the same key and the same associated data.

use std::fmt;

use cryptoki::error::RvError;
use cryptoki::mechanism::aead::GcmParams;
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, KeyType, ObjectClass};
use zeroize::Zeroizing;

use crate::attest::{KeyAttestation, KeyRef, KeyRole};
use crate::error::{p11, Error, Result};
use crate::module::HsmSession;

/// GCM IV length in bytes.
pub const SEAL_IV_LEN: usize = 12;
/// GCM tag length in bytes.
pub const SEAL_TAG_LEN: usize = 16;
/// Bytes a sealed blob adds to its plaintext.
pub const SEAL_OVERHEAD: usize = SEAL_IV_LEN + SEAL_TAG_LEN;

/// The seal key's template: `on_token` false makes the session object the preflight trial uses.
pub(crate) fn aes_template(
    session: &HsmSession,
    label: &str,
    id: &[u8],
    on_token: bool,
) -> Vec<Attribute> {
    let mut t = vec![
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(KeyType::AES),
        Attribute::ValueLen(32.into()),
        Attribute::Token(on_token),
        Attribute::Private(true),
        Attribute::Sensitive(true),
        Attribute::Extractable(false),
        Attribute::Encrypt(true),
        Attribute::Decrypt(true),
        Attribute::Wrap(false),
        Attribute::Unwrap(false),
        Attribute::Sign(false),
        Attribute::Verify(false),
        Attribute::Derive(false),
        Attribute::Modifiable(false),
    ];
    t.extend(session.not_copyable());
    t.push(Attribute::Label(label.as_bytes().to_vec()));
    t.push(Attribute::Id(id.to_vec()));
    t
}

/// `C_GenerateKey(CKM_AES_KEY_GEN)` from [`aes_template`].
pub(crate) fn generate_aes(
    session: &HsmSession,
    label: &str,
    id: &[u8],
    on_token: bool,
) -> Result<cryptoki::object::ObjectHandle> {
    session
        .session()
        .generate_key(
            &Mechanism::AesKeyGen,
            &aes_template(session, label, id, on_token),
        )
        .map_err(|e| {
            p11(
                e,
                format!("{}, mechanism CKM_AES_KEY_GEN", session.ctx_label(label)),
            )
        })
}

/// Maps a failed `C_Decrypt` of sealed data. A return value that only an authentication
/// failure gives is [`Error::UnsealFailed`]; `CKR_GENERAL_ERROR` and `CKR_FUNCTION_FAILED` mean
/// that only on SoftHSM (which reports a GCM tag mismatch as `CKR_GENERAL_ERROR`), and on any
/// other token [`Error::UnsealAuthOrDevice`].
pub(crate) fn decrypt_error(
    session: &HsmSession,
    label: &str,
    function: &str,
    err: cryptoki::error::Error,
) -> Error {
    let softhsm = || session.token().is_softhsm();
    match err {
        cryptoki::error::Error::Pkcs11(rv, f) => match unseal_verdict(rv, softhsm) {
            UnsealVerdict::Tampered => Error::UnsealFailed {
                label: label.to_string(),
                function: function.to_string(),
                rv: crate::error::rv_name(&rv),
            },
            UnsealVerdict::AuthOrDevice => Error::UnsealAuthOrDevice {
                label: label.to_string(),
                token: session.token_label().to_string(),
                function: function.to_string(),
                rv: crate::error::rv_name(&rv),
            },
            UnsealVerdict::Other => p11(
                cryptoki::error::Error::Pkcs11(rv, f),
                format!("{}, {function}", session.ctx_label(label)),
            ),
        },
        e => p11(e, format!("{}, {function}", session.ctx_label(label))),
    }
}

/// What a failed decryption of sealed data means.
#[derive(Debug, PartialEq, Eq)]
enum UnsealVerdict {
    /// The data, its associated data or the key is not the one sealed with.
    Tampered,
    /// Cannot be told from a device error.
    AuthOrDevice,
    /// Some other failure (reported as the PKCS#11 error it is).
    Other,
}

fn unseal_verdict(rv: RvError, softhsm: impl Fn() -> bool) -> UnsealVerdict {
    match rv {
        RvError::EncryptedDataInvalid | RvError::EncryptedDataLenRange => UnsealVerdict::Tampered,
        // SoftHSM 2.6.1 reports a GCM tag mismatch as CKR_GENERAL_ERROR.
        RvError::GeneralError | RvError::FunctionFailed if softhsm() => UnsealVerdict::Tampered,
        RvError::GeneralError | RvError::FunctionFailed => UnsealVerdict::AuthOrDevice,
        _ => UnsealVerdict::Other,
    }
}

/// An attested seal key on a token. Holds a handle and the attestation, no key material.
#[derive(Clone)]
pub struct SealKey {
    key: KeyRef,
}

impl fmt::Debug for SealKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SealKey")
            .field("label", &self.key.label())
            .field("token", &self.key.token())
            .finish()
    }
}

impl SealKey {
    /// Generates the seal key on the token, refusing if any object already has `label`.
    ///
    /// Template: AES, `CKA_VALUE_LEN` 32, `CKA_TOKEN`, `CKA_PRIVATE`, `CKA_SENSITIVE`,
    /// not `CKA_EXTRACTABLE`, `CKA_ENCRYPT` and `CKA_DECRYPT` only (wrap, unwrap, sign, verify and
    /// derive explicitly false), not `CKA_MODIFIABLE` and not `CKA_COPYABLE`; `CKA_ID` 16 random
    /// bytes. The new key is then attested like any other (see [`SealKey::open`]).
    pub fn provision(session: &HsmSession, label: &str) -> Result<SealKey> {
        session.ensure_label_free(label)?;
        let id = session.random_array::<16>()?;
        generate_aes(session, label, &id[..], true)?;
        SealKey::open(session, label)
    }

    /// Finds the secret key labelled `label` and attests it for sealing before returning it.
    pub fn open(session: &HsmSession, label: &str) -> Result<SealKey> {
        SealKey::open_as(session, label, true)
    }

    pub(crate) fn open_as(session: &HsmSession, label: &str, on_token: bool) -> Result<SealKey> {
        Ok(SealKey {
            key: KeyRef::open_as(session, label, KeyRole::Seal, on_token)?,
        })
    }

    /// The key label.
    pub fn label(&self) -> &str {
        self.key.label()
    }

    /// The attributes checked when the key was opened.
    pub fn attestation(&self) -> &KeyAttestation {
        self.key.attestation()
    }

    /// AES-256-GCM under the seal key; returns `iv ‖ ciphertext ‖ tag`.
    pub fn seal(&self, session: &HsmSession, plaintext: &[u8], aad: &[u8]) -> Result<Vec<u8>> {
        self.seal_detail(session, plaintext, aad)
            .map(|(blob, _)| blob)
    }

    /// [`SealKey::seal`], also saying whether the token replaced the IV it was given.
    pub(crate) fn seal_detail(
        &self,
        session: &HsmSession,
        plaintext: &[u8],
        aad: &[u8],
    ) -> Result<(Vec<u8>, bool)> {
        let label = self.key.label();
        let ctx = || format!("{}, mechanism CKM_AES_GCM", session.ctx_label(label));
        let mut iv = session.random_array::<SEAL_IV_LEN>()?;
        let given = *iv;
        // `GcmParams` points at `iv`: a token that insists on its own IV (AWS CloudHSM ignores the
        // caller's and writes the one it generated into `pIv`) leaves that IV in `iv`, so the
        // output always carries the IV actually used.
        let ct = self
            .key
            .call(session, |handle| {
                let params = GcmParams::new(iv.as_mut_slice(), aad, 128.into())?;
                session
                    .session()
                    .encrypt(&Mechanism::AesGcm(params), handle, plaintext)
            })?
            .map_err(|e| p11(e, ctx()))?;
        if ct.len() != plaintext.len() + SEAL_TAG_LEN {
            return Err(Error::UnexpectedLength {
                function: "C_Encrypt".to_string(),
                label: label.to_string(),
                got: ct.len(),
                expected: plaintext.len() + SEAL_TAG_LEN,
            });
        }
        let mut out = Vec::with_capacity(SEAL_IV_LEN + ct.len());
        out.extend_from_slice(iv.as_slice());
        out.extend_from_slice(&ct);
        Ok((out, given != *iv))
    }

    /// Reverses [`SealKey::seal`]. An authentication failure (wrong key, wrong associated data,
    /// tampered bytes) is [`Error::UnsealFailed`], or [`Error::UnsealAuthOrDevice`] where the
    /// token's return value does not tell it from a device error (see [`decrypt_error`]).
    pub fn unseal(
        &self,
        session: &HsmSession,
        sealed: &[u8],
        aad: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>> {
        if sealed.len() < SEAL_OVERHEAD {
            return Err(Error::SealedTooShort {
                len: sealed.len(),
                min: SEAL_OVERHEAD,
            });
        }
        let label = self.key.label();
        let (iv_bytes, body) = sealed.split_at(SEAL_IV_LEN);
        let mut iv = [0u8; SEAL_IV_LEN];
        let result = self.key.call(session, |handle| {
            iv.copy_from_slice(iv_bytes);
            let params = GcmParams::new(&mut iv, aad, 128.into())?;
            session
                .session()
                .decrypt(&Mechanism::AesGcm(params), handle, body)
        })?;
        result
            .map(Zeroizing::new)
            .map_err(|e| decrypt_error(session, label, "C_Decrypt (CKM_AES_GCM)", e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn general_error_means_tampered_only_on_softhsm() {
        for rv in [RvError::GeneralError, RvError::FunctionFailed] {
            assert_eq!(unseal_verdict(rv, || true), UnsealVerdict::Tampered);
            assert_eq!(unseal_verdict(rv, || false), UnsealVerdict::AuthOrDevice);
        }
        for softhsm in [true, false] {
            assert_eq!(
                unseal_verdict(RvError::EncryptedDataInvalid, || softhsm),
                UnsealVerdict::Tampered
            );
            assert_eq!(
                unseal_verdict(RvError::KeyHandleInvalid, || softhsm),
                UnsealVerdict::Other
            );
        }
    }
}
