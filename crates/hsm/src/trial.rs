//! Preflight by trial: what a mechanism list cannot tell.
//!
//! A token may list a mechanism whose function it does not implement, refuse a curve or a
//! template, replace the GCM IV it is given, or report usage attributes attestation would
//! refuse. So before anything is made on the token, [`HsmSession::trial`] makes **session
//! objects** (`CKA_TOKEN` false) from the exact templates the role will use, attests them, does
//! one seal/unseal round trip and one sign/verify, and destroys them. A token that refuses
//! session objects altogether gets a "not checked by trial" line, not a failure (the mechanism
//! preflight and the attestation of the real keys still run).

use std::fmt;

use cryptoki::object::{Attribute, ObjectClass};
use serde::Serialize;

use crate::ec::{generate_ec, Curve, IdentityKey, TransactionKey};
use crate::error::{Error, Result};
use crate::module::HsmSession;
use crate::rsa_seal::{generate_rsa, RsaDecryptMode, RsaSealKey};
use crate::seal::{generate_aes, SealKey};
use crate::sealer::SealBackend;

/// What the trial is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrialRole {
    /// The ceremony with this seal backend: the seal key and the P-256 identity key.
    Ceremony(SealBackend),
    /// The signer-agent: the secp256k1 transaction key.
    Agent,
}

/// One step of the trial.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TrialLine {
    /// What was tried.
    pub what: String,
    /// What was found.
    pub detail: String,
}

/// The outcome of a trial that did not fail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TrialReport {
    /// The token label.
    pub token: String,
    /// Every step that passed.
    pub passed: Vec<TrialLine>,
    /// Set when the token refuses session objects: why nothing was tried.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_checked: Option<String>,
    /// `rsa-oaep`: how the token decrypts a data key.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rsa_modes: Vec<RsaDecryptMode>,
}

impl fmt::Display for TrialReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(why) = &self.not_checked {
            return writeln!(f, "  - not checked by trial: {why}");
        }
        for l in &self.passed {
            writeln!(f, "  ✓ trial: {} ({})", l.what, l.detail)?;
        }
        Ok(())
    }
}

/// A trial error: names the token, the function and what was tried.
fn failed(session: &HsmSession, capability: &str, e: Error) -> Error {
    let token = session.token_label().to_string();
    let capability = capability.to_string();
    match e {
        Error::Pkcs11 { function, rv, .. } => Error::TrialFailed {
            token,
            function,
            capability,
            detail: format!("failed with {rv}"),
        },
        Error::AttestationRefused { refusals, .. } => Error::TrialFailed {
            token,
            function: "C_GetAttributeValue (key attestation)".into(),
            capability,
            detail: format!(
                "the template's key would be refused: {}",
                refusals
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
        },
        e @ Error::TrialFailed { .. } => e,
        other => Error::TrialFailed {
            token,
            function: "self-check".into(),
            capability,
            detail: other.to_string(),
        },
    }
}

/// The round trip opened what was sealed.
fn same_bytes(
    session: &HsmSession,
    what: &str,
    backend: SealBackend,
    opened: &[u8],
    sealed: &[u8],
) -> Result<()> {
    if opened == sealed {
        return Ok(());
    }
    Err(failed(
        session,
        what,
        Error::SealedMalformed {
            backend: backend.to_string(),
            reason: "unsealed to other bytes than were sealed".into(),
        },
    ))
}

impl HsmSession {
    /// Runs the trial of `role` (see the module documentation) and removes every session object
    /// it made, whether it passed or not. Fails with [`Error::TrialFailed`] naming the token, the
    /// function and what was tried.
    pub fn trial(&self, role: TrialRole) -> Result<TrialReport> {
        let tag = hex::encode(&self.random_array::<6>()?[..]);
        let label = format!("kc-preflight-{tag}");
        let mut report = TrialReport {
            token: self.token_label().to_string(),
            passed: Vec::new(),
            not_checked: None,
            rsa_modes: Vec::new(),
        };
        // Does the token take session objects at all?
        let probe = self.session().create_object(&[
            Attribute::Class(ObjectClass::DATA),
            Attribute::Token(false),
            Attribute::Private(false),
            Attribute::Label(label.as_bytes().to_vec()),
            Attribute::Value(b"kc preflight".to_vec()),
        ]);
        match probe {
            Ok(h) => self.destroy(h, &label)?,
            Err(e) => {
                report.not_checked = Some(format!(
                    "the token refuses session objects (C_CreateObject with CKA_TOKEN false failed: {})",
                    crate::error::p11(e, "")
                        .ckr()
                        .map(str::to_string)
                        .unwrap_or_else(|| "a wrapper error".into())
                ));
                return Ok(report);
            }
        }
        let result = self.trial_steps(role, &label, &mut report);
        let cleanup = self.destroy_labelled(&label);
        result?;
        cleanup?;
        Ok(report)
    }

    fn trial_steps(&self, role: TrialRole, label: &str, report: &mut TrialReport) -> Result<()> {
        let id = self.random_array::<16>()?;
        let secret = self.random_array::<32>()?;
        let aad = b"kc preflight trial";
        let pass = |report: &mut TrialReport, what: &str, detail: String| {
            report.passed.push(TrialLine {
                what: what.to_string(),
                detail,
            })
        };
        match role {
            TrialRole::Ceremony(SealBackend::AesGcm) => {
                let what = "AES-256 seal key (CKM_AES_KEY_GEN, the ceremony's template)";
                generate_aes(self, label, &id[..], false).map_err(|e| failed(self, what, e))?;
                let key =
                    SealKey::open_as(self, label, false).map_err(|e| failed(self, what, e))?;
                pass(report, what, "generated and attested".into());
                let what = "AES-256-GCM seal and unseal (CKM_AES_GCM)";
                let (blob, iv_replaced) = key
                    .seal_detail(self, &secret[..], aad)
                    .map_err(|e| failed(self, what, e))?;
                let opened = key
                    .unseal(self, &blob, aad)
                    .map_err(|e| failed(self, what, e))?;
                same_bytes(self, what, SealBackend::AesGcm, &opened, &secret[..])?;
                pass(
                    report,
                    what,
                    if iv_replaced {
                        "round trip; the token chooses its own IV, which the sealed data carries"
                            .into()
                    } else {
                        "round trip; the token keeps the IV it is given".into()
                    },
                );
                self.destroy_labelled(label)?;
            }
            TrialRole::Ceremony(SealBackend::RsaOaep) => {
                let what =
                    "RSA-3072 seal key pair (CKM_RSA_PKCS_KEY_PAIR_GEN, the ceremony's template)";
                generate_rsa(self, label, &id[..], false).map_err(|e| failed(self, what, e))?;
                let key =
                    RsaSealKey::open_as(self, label, false).map_err(|e| failed(self, what, e))?;
                pass(report, what, "generated and attested".into());
                report.rsa_modes = key.modes().to_vec();
                let what = "RSA-OAEP envelope seal and unseal";
                let sealed = key
                    .seal(self, &secret[..], aad)
                    .map_err(|e| failed(self, what, e))?;
                let opened = key
                    .unseal(self, &sealed, aad)
                    .map_err(|e| failed(self, what, e))?;
                same_bytes(self, what, SealBackend::RsaOaep, &opened, &secret[..])?;
                let m = key.modes()[0];
                pass(
                    report,
                    what,
                    format!(
                        "round trip; data key with OAEP-{} via {}",
                        m.hash,
                        m.path.describe()
                    ),
                );
                self.destroy_labelled(label)?;
            }
            TrialRole::Agent => {}
        }
        let (curve, what) = match role {
            TrialRole::Ceremony(_) => (
                Curve::P256,
                "P-256 identity key pair (CKM_EC_KEY_PAIR_GEN, curve secp256r1) and CKM_ECDSA",
            ),
            TrialRole::Agent => (
                Curve::Secp256k1,
                "secp256k1 transaction key pair (CKM_EC_KEY_PAIR_GEN, curve secp256k1) and CKM_ECDSA",
            ),
        };
        let id = self.random_array::<16>()?;
        generate_ec(self, label, &id[..], curve, false).map_err(|e| failed(self, what, e))?;
        // Opening signs a random digest and checks it against the public key.
        match curve {
            Curve::P256 => {
                IdentityKey::open_as(self, label, false).map_err(|e| failed(self, what, e))?;
            }
            Curve::Secp256k1 => {
                TransactionKey::open_as(self, label, false).map_err(|e| failed(self, what, e))?;
            }
        }
        pass(
            report,
            what,
            "generated, attested, signed and verified".into(),
        );
        Ok(())
    }
}
