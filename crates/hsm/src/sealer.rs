//! Seal backends behind one interface: [`Sealer`] seals and unseals the master secret with
//! whichever backend the token's seal key belongs to.
//!
//! - `aes-256-gcm` ([`SealKey`]): AES-256-GCM in the token, where it has `CKM_AES_GCM`.
//! - `rsa-oaep` ([`RsaSealKey`]): an RSA-3072 decrypt-only key in the token, AES-256-GCM on
//!   the host under a data key encrypted to it (tokens without AES-GCM: YubiHSM 2, Nitrokey
//!   HSM 2).
//!
//! The backend is chosen at provisioning ([`SealBackend::choose`]: AES-GCM where the token
//! passes its preflight, else RSA-OAEP, or forced), and found again from the key's class when
//! the key is opened.

use std::fmt;

use cryptoki::object::{Attribute, KeyType, ObjectClass};
use serde::Serialize;
use zeroize::Zeroizing;

use crate::attest::KeyAttestation;
use crate::ec::IdentityKey;
use crate::error::{Error, Result};
use crate::module::HsmSession;
use crate::preflight::{Requirement, CEREMONY_REQUIREMENTS, CEREMONY_RSA_REQUIREMENTS};
use crate::rsa_seal::{RsaDecryptMode, RsaSealKey, RsaSealed};
use crate::seal::SealKey;

/// A seal backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum SealBackend {
    /// AES-256-GCM in the token.
    #[serde(rename = "aes-256-gcm")]
    AesGcm,
    /// RSA-OAEP envelope: RSA-3072 in the token, AES-256-GCM on the host.
    #[serde(rename = "rsa-oaep")]
    RsaOaep,
}

impl SealBackend {
    /// Every backend, in order of preference.
    pub const ALL: [SealBackend; 2] = [SealBackend::AesGcm, SealBackend::RsaOaep];

    /// `aes-256-gcm` or `rsa-oaep`: the name in plans, flags, envelopes and manifests.
    pub fn name(self) -> &'static str {
        match self {
            SealBackend::AesGcm => "aes-256-gcm",
            SealBackend::RsaOaep => "rsa-oaep",
        }
    }

    /// The backend named `s`.
    pub fn parse(s: &str) -> Option<SealBackend> {
        SealBackend::ALL.into_iter().find(|b| b.name() == s)
    }

    /// What the ceremony needs from a token with this backend.
    pub fn requirements(self) -> &'static [Requirement] {
        match self {
            SealBackend::AesGcm => CEREMONY_REQUIREMENTS,
            SealBackend::RsaOaep => CEREMONY_RSA_REQUIREMENTS,
        }
    }
}

impl fmt::Display for SealBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A sealed secret, as a backend made it.
#[derive(Clone, PartialEq, Eq)]
pub enum Sealed {
    /// `iv ‖ ciphertext ‖ tag` from the token.
    AesGcm(Vec<u8>),
    /// An RSA-OAEP envelope.
    RsaOaep(RsaSealed),
}

impl Sealed {
    /// The backend that made it.
    pub fn backend(&self) -> SealBackend {
        match self {
            Sealed::AesGcm(_) => SealBackend::AesGcm,
            Sealed::RsaOaep(_) => SealBackend::RsaOaep,
        }
    }

    /// The sealed bytes.
    pub fn blob(&self) -> &[u8] {
        match self {
            Sealed::AesGcm(b) => b,
            Sealed::RsaOaep(r) => &r.blob,
        }
    }
}

/// What the transcript records about the seal key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SealInfo {
    /// The backend.
    pub backend: SealBackend,
    /// The key label.
    pub key_label: String,
    /// `rsa-oaep`: SHA-256 of the public key's SPKI DER.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_sha256: Option<String>,
    /// `rsa-oaep`: how the token was found to decrypt a data key, in order of preference.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub decrypt_modes: Vec<RsaDecryptMode>,
}

/// The token's seal key, whichever the backend.
#[derive(Clone, Debug)]
pub enum Sealer {
    /// `aes-256-gcm`.
    AesGcm(SealKey),
    /// `rsa-oaep`.
    RsaOaep(RsaSealKey),
}

impl Sealer {
    /// Generates the seal key of `backend` labelled `label` (refusing a label in use).
    pub fn provision(session: &HsmSession, backend: SealBackend, label: &str) -> Result<Sealer> {
        Ok(match backend {
            SealBackend::AesGcm => Sealer::AesGcm(SealKey::provision(session, label)?),
            SealBackend::RsaOaep => Sealer::RsaOaep(RsaSealKey::provision(session, label)?),
        })
    }

    /// Opens (attests) the seal key labelled `label`: an AES secret key is the `aes-256-gcm`
    /// backend, an RSA private key the `rsa-oaep` backend.
    pub fn open(session: &HsmSession, label: &str) -> Result<Sealer> {
        let of = |class: ObjectClass, kt: KeyType| {
            session.find(
                &[
                    Attribute::Class(class),
                    Attribute::KeyType(kt),
                    Attribute::Label(label.as_bytes().to_vec()),
                ],
                label,
            )
        };
        if !of(ObjectClass::SECRET_KEY, KeyType::AES)?.is_empty() {
            return Ok(Sealer::AesGcm(SealKey::open(session, label)?));
        }
        if !of(ObjectClass::PRIVATE_KEY, KeyType::RSA)?.is_empty() {
            return Ok(Sealer::RsaOaep(RsaSealKey::open(session, label)?));
        }
        Err(Error::SealKeyNotFound {
            token: session.token_label().to_string(),
            label: label.to_string(),
        })
    }

    /// The backend.
    pub fn backend(&self) -> SealBackend {
        match self {
            Sealer::AesGcm(_) => SealBackend::AesGcm,
            Sealer::RsaOaep(_) => SealBackend::RsaOaep,
        }
    }

    /// The key label.
    pub fn label(&self) -> &str {
        match self {
            Sealer::AesGcm(k) => k.label(),
            Sealer::RsaOaep(k) => k.label(),
        }
    }

    /// The attestation of the (private or secret) key.
    pub fn attestation(&self) -> &KeyAttestation {
        match self {
            Sealer::AesGcm(k) => k.attestation(),
            Sealer::RsaOaep(k) => k.attestation(),
        }
    }

    /// `rsa-oaep`: SHA-256 of the public key's SPKI DER.
    pub fn key_sha256(&self) -> Option<&str> {
        match self {
            Sealer::AesGcm(_) => None,
            Sealer::RsaOaep(k) => Some(k.key_sha256()),
        }
    }

    /// What the transcript records.
    pub fn info(&self) -> SealInfo {
        SealInfo {
            backend: self.backend(),
            key_label: self.label().to_string(),
            key_sha256: self.key_sha256().map(str::to_string),
            decrypt_modes: match self {
                Sealer::AesGcm(_) => Vec::new(),
                Sealer::RsaOaep(k) => k.modes().to_vec(),
            },
        }
    }

    /// Seals `plaintext` bound to `aad`.
    pub fn seal(&self, session: &HsmSession, plaintext: &[u8], aad: &[u8]) -> Result<Sealed> {
        Ok(match self {
            Sealer::AesGcm(k) => Sealed::AesGcm(k.seal(session, plaintext, aad)?),
            Sealer::RsaOaep(k) => Sealed::RsaOaep(k.seal(session, plaintext, aad)?),
        })
    }

    /// Checks, without decrypting anything, that `sealed` was made by this key's backend (and,
    /// for `rsa-oaep`, for this very key).
    pub fn check_envelope(&self, session: &HsmSession, sealed: &Sealed) -> Result<()> {
        match (self, sealed) {
            (Sealer::AesGcm(_), Sealed::AesGcm(_)) => Ok(()),
            (Sealer::RsaOaep(k), Sealed::RsaOaep(r)) => k.check_envelope_key(session, r),
            _ => Err(Error::SealedMalformed {
                backend: sealed.backend().to_string(),
                reason: format!(
                    "seal key `{}` on token `{}` is a {} key",
                    self.label(),
                    session.token_label(),
                    self.backend()
                ),
            }),
        }
    }

    /// Reverses [`Sealer::seal`]; refuses an envelope of another backend or key first.
    pub fn unseal(
        &self,
        session: &HsmSession,
        sealed: &Sealed,
        aad: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>> {
        self.check_envelope(session, sealed)?;
        match (self, sealed) {
            (Sealer::AesGcm(k), Sealed::AesGcm(b)) => k.unseal(session, b, aad),
            (Sealer::RsaOaep(k), Sealed::RsaOaep(r)) => k.unseal(session, r, aad),
            _ => unreachable!("checked by check_envelope"),
        }
    }
}

/// The seal backend a token will use, with the reports that decided it.
#[derive(Debug, Clone)]
pub struct BackendChoice {
    /// The backend.
    pub backend: SealBackend,
    /// Its mechanism preflight (all met).
    pub preflight: crate::preflight::PreflightReport,
    /// Its trial (passed, or not checked where the token refuses session objects).
    pub trial: crate::trial::TrialReport,
}

/// Chooses the seal backend for the token of `session`: `forced`, or the first of
/// [`SealBackend::ALL`] whose mechanism preflight and trial pass (AES-GCM where the token has
/// it, else RSA-OAEP). Fails naming, for each backend, what the token lacks
/// ([`Error::NoSealBackend`]), or with the forced backend's own error.
pub fn choose_seal_backend(
    session: &HsmSession,
    forced: Option<SealBackend>,
) -> Result<BackendChoice> {
    let try_one = |backend: SealBackend| -> Result<BackendChoice> {
        let preflight = session.token().preflight(backend.requirements())?;
        let trial = session.trial(crate::trial::TrialRole::Ceremony(backend))?;
        Ok(BackendChoice {
            backend,
            preflight,
            trial,
        })
    };
    if let Some(b) = forced {
        return try_one(b);
    }
    let mut reasons = Vec::new();
    for b in SealBackend::ALL {
        match try_one(b) {
            Ok(c) => return Ok(c),
            Err(e @ (Error::MissingMechanisms { .. } | Error::TrialFailed { .. })) => {
                reasons.push(format!("{b}: {e}"))
            }
            Err(e) => return Err(e),
        }
    }
    Err(Error::NoSealBackend {
        token: session.token_label().to_string(),
        reasons,
    })
}

/// Provisions the ceremony's two keys, all or nothing: the seal key of `backend` and the P-256
/// identity key. Both labels are checked free before anything is generated; if anything fails
/// after the first key was made, every object made under the two labels is destroyed again,
/// so a rerun never stops at "label exists".
pub fn provision_ceremony_keys(
    session: &HsmSession,
    backend: SealBackend,
    seal_label: &str,
    identity_label: &str,
) -> Result<(Sealer, IdentityKey)> {
    session.ensure_label_free(seal_label)?;
    session.ensure_label_free(identity_label)?;
    let made = (|| {
        let seal = Sealer::provision(session, backend, seal_label)?;
        let identity = IdentityKey::provision(session, identity_label)?;
        Ok((seal, identity))
    })();
    if made.is_err() {
        // Only objects made just now carry these labels (both were free above).
        for label in [seal_label, identity_label] {
            session.destroy_labelled(label)?;
        }
    }
    made
}
