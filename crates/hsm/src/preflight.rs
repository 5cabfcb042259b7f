//! Preflight: check that a token offers every mechanism a role needs, before anything is
//! generated, and report each one with ✓/✗.

use std::fmt;

use cryptoki::mechanism::MechanismType;
use serde::Serialize;

use crate::error::{p11, Error, Result};
use crate::module::Token;

/// What a mechanism must be able to do (from `CK_MECHANISM_INFO.flags`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MechanismUse {
    /// `CKF_GENERATE`.
    Generate,
    /// `CKF_GENERATE_KEY_PAIR`.
    GenerateKeyPair,
    /// `CKF_ENCRYPT`.
    Encrypt,
    /// `CKF_DECRYPT`.
    Decrypt,
    /// `CKF_SIGN`.
    Sign,
}

impl MechanismUse {
    fn flag_name(self) -> &'static str {
        match self {
            MechanismUse::Generate => "CKF_GENERATE",
            MechanismUse::GenerateKeyPair => "CKF_GENERATE_KEY_PAIR",
            MechanismUse::Encrypt => "CKF_ENCRYPT",
            MechanismUse::Decrypt => "CKF_DECRYPT",
            MechanismUse::Sign => "CKF_SIGN",
        }
    }

    fn allowed(self, info: &cryptoki::mechanism::MechanismInfo) -> bool {
        match self {
            MechanismUse::Generate => info.generate(),
            MechanismUse::GenerateKeyPair => info.generate_key_pair(),
            MechanismUse::Encrypt => info.encrypt(),
            MechanismUse::Decrypt => info.decrypt(),
            MechanismUse::Sign => info.sign(),
        }
    }
}

/// One capability a role needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Capability {
    /// `C_GenerateRandom` (the token advertises `CKF_RNG`).
    Random,
    /// A mechanism, by its `CKM_…` code and name, and the uses it must allow.
    Mechanism {
        /// The `CK_MECHANISM_TYPE` value.
        code: u64,
        /// Its name, e.g. `CKM_AES_GCM`.
        name: &'static str,
        /// Uses the mechanism must allow.
        uses: &'static [MechanismUse],
    },
    /// Any one of several mechanisms (e.g. RSA decryption with OAEP, or raw RSA), each allowing
    /// `uses`; which one is used is decided by trial.
    AnyMechanism {
        /// `(code, name)` of each acceptable mechanism.
        mechanisms: &'static [(u64, &'static str)],
        /// Name shown in reports, e.g. `CKM_RSA_PKCS_OAEP | CKM_RSA_X_509`.
        name: &'static str,
        /// Uses the mechanism must allow.
        uses: &'static [MechanismUse],
    },
}

/// A capability and why it is needed (shown to the operator).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Requirement {
    /// What is needed.
    pub capability: Capability,
    /// Why, in a few words.
    pub purpose: &'static str,
}

impl Requirement {
    /// A mechanism requirement (any `CKM_…` code; codes cryptoki does not know are fine).
    pub const fn mechanism(
        code: u64,
        name: &'static str,
        uses: &'static [MechanismUse],
        purpose: &'static str,
    ) -> Requirement {
        Requirement {
            capability: Capability::Mechanism { code, name, uses },
            purpose,
        }
    }

    /// The name shown in reports: `C_GenerateRandom` or the `CKM_…` name.
    pub fn name(&self) -> &'static str {
        match self.capability {
            Capability::Random => "C_GenerateRandom",
            Capability::Mechanism { name, .. } | Capability::AnyMechanism { name, .. } => name,
        }
    }
}

// CK_MECHANISM_TYPE values (PKCS#11 2.40 / 3.x).
const CKM_AES_KEY_GEN: u64 = 0x1080;
const CKM_AES_GCM: u64 = 0x1087;
const CKM_EC_KEY_PAIR_GEN: u64 = 0x1040;
const CKM_ECDSA: u64 = 0x1041;
const CKM_RSA_PKCS_KEY_PAIR_GEN: u64 = 0x0000;
const CKM_RSA_X_509: u64 = 0x0003;
const CKM_RSA_PKCS_OAEP: u64 = 0x0009;

/// `C_GenerateRandom`.
pub const RANDOM: Requirement = Requirement {
    capability: Capability::Random,
    purpose: "entropy for the master secret, GCM IVs and key ids",
};
/// `CKM_AES_KEY_GEN`: generate the seal key.
pub const AES_KEY_GEN: Requirement = Requirement::mechanism(
    CKM_AES_KEY_GEN,
    "CKM_AES_KEY_GEN",
    &[MechanismUse::Generate],
    "generate the AES-256 seal key",
);
/// `CKM_AES_GCM`: seal and unseal the master secret.
pub const AES_GCM: Requirement = Requirement::mechanism(
    CKM_AES_GCM,
    "CKM_AES_GCM",
    &[MechanismUse::Encrypt, MechanismUse::Decrypt],
    "seal and unseal the master secret",
);
/// `CKM_EC_KEY_PAIR_GEN`: generate EC key pairs.
pub const EC_KEY_PAIR_GEN: Requirement = Requirement::mechanism(
    CKM_EC_KEY_PAIR_GEN,
    "CKM_EC_KEY_PAIR_GEN",
    &[MechanismUse::GenerateKeyPair],
    "generate the signing key pair",
);
/// `CKM_ECDSA`: sign a caller-hashed digest.
pub const ECDSA: Requirement = Requirement::mechanism(
    CKM_ECDSA,
    "CKM_ECDSA",
    &[MechanismUse::Sign],
    "sign digests with the signing key",
);

/// `CKM_RSA_PKCS_KEY_PAIR_GEN`: generate the `rsa-oaep` seal key pair.
pub const RSA_KEY_PAIR_GEN: Requirement = Requirement::mechanism(
    CKM_RSA_PKCS_KEY_PAIR_GEN,
    "CKM_RSA_PKCS_KEY_PAIR_GEN",
    &[MechanismUse::GenerateKeyPair],
    "generate the RSA-3072 seal key pair",
);
/// RSA decryption of the data key: `CKM_RSA_PKCS_OAEP`, or raw `CKM_RSA_X_509` with the OAEP
/// decoding on the host.
pub const RSA_DECRYPT: Requirement = Requirement {
    capability: Capability::AnyMechanism {
        mechanisms: &[
            (CKM_RSA_PKCS_OAEP, "CKM_RSA_PKCS_OAEP"),
            (CKM_RSA_X_509, "CKM_RSA_X_509"),
        ],
        name: "CKM_RSA_PKCS_OAEP | CKM_RSA_X_509",
        uses: &[MechanismUse::Decrypt],
    },
    purpose: "decrypt the data key of the sealed master secret",
};

/// What the ceremony needs with the `aes-256-gcm` seal backend: random, the AES-256 seal key
/// and the P-256 identity key.
pub const CEREMONY_REQUIREMENTS: &[Requirement] =
    &[RANDOM, AES_KEY_GEN, AES_GCM, EC_KEY_PAIR_GEN, ECDSA];

/// What the ceremony needs with the `rsa-oaep` seal backend: random, the RSA-3072 seal key
/// pair and RSA decryption, and the P-256 identity key.
pub const CEREMONY_RSA_REQUIREMENTS: &[Requirement] = &[
    RANDOM,
    RSA_KEY_PAIR_GEN,
    RSA_DECRYPT,
    EC_KEY_PAIR_GEN,
    ECDSA,
];

/// What the signer-agent needs: random and the secp256k1 transaction key (ECDSA over a
/// keccak256 prehash). Note that no mechanism flag says whether secp256k1 is supported: the
/// agent's start-up self-test (sign a random digest, check it against the cached public key) is
/// what proves it.
pub const AGENT_REQUIREMENTS: &[Requirement] = &[RANDOM, EC_KEY_PAIR_GEN, ECDSA];

/// One line of a preflight report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PreflightItem {
    /// `C_GenerateRandom` or the `CKM_…` name.
    pub name: String,
    /// Why it is needed.
    pub purpose: String,
    /// Whether the token offers it.
    pub supported: bool,
    /// Why not, when it is not supported.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Every requirement, checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PreflightReport {
    /// The token label.
    pub token: String,
    /// One item per requirement, in the order asked.
    pub items: Vec<PreflightItem>,
}

impl PreflightReport {
    /// True when every requirement is met.
    pub fn all_supported(&self) -> bool {
        self.items.iter().all(|i| i.supported)
    }

    /// The unmet requirements, each as `NAME (reason)`.
    pub fn missing(&self) -> Vec<String> {
        self.items
            .iter()
            .filter(|i| !i.supported)
            .map(|i| match &i.reason {
                Some(r) => format!("{} ({r})", i.name),
                None => i.name.clone(),
            })
            .collect()
    }

    /// `Ok(self)` when all are met; otherwise [`Error::MissingMechanisms`] naming every one.
    pub fn into_result(self) -> Result<PreflightReport> {
        if self.all_supported() {
            Ok(self)
        } else {
            Err(Error::MissingMechanisms {
                token: self.token.clone(),
                missing: self.missing(),
            })
        }
    }
}

impl fmt::Display for PreflightReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "token `{}`:", self.token)?;
        for i in &self.items {
            let mark = if i.supported { '✓' } else { '✗' };
            write!(f, "  {mark} {:<22} {}", i.name, i.purpose)?;
            if let Some(r) = &i.reason {
                write!(f, " ({r})")?;
            }
            writeln!(f)?;
        }
        Ok(())
    }
}

impl Token {
    /// Checks every requirement and reports each, supported or not. Errors only when the token
    /// cannot be queried; use [`Token::preflight`] to fail on anything missing.
    pub fn check_requirements(&self, requirements: &[Requirement]) -> Result<PreflightReport> {
        let ctx = self.module().ctx();
        let label = self.label();
        let list = ctx
            .get_mechanism_list(self.slot())
            .map_err(|e| p11(e, format!("token `{label}`")))?;
        let info = self.info()?;
        let mut items = Vec::with_capacity(requirements.len());
        for req in requirements {
            let (supported, reason) = match req.capability {
                Capability::Random => {
                    if info.rng {
                        (true, None)
                    } else {
                        (false, Some("token does not set CKF_RNG".to_string()))
                    }
                }
                Capability::Mechanism { code, name, uses } => {
                    match list.iter().find(|m| ***m == code) {
                        None => (false, Some("not in C_GetMechanismList".to_string())),
                        Some(mech) => check_uses(ctx, self.slot(), *mech, name, uses, label)?,
                    }
                }
                Capability::AnyMechanism {
                    mechanisms, uses, ..
                } => {
                    let mut reasons = Vec::new();
                    let mut found = None;
                    for (code, name) in mechanisms {
                        match list.iter().find(|m| ***m == *code) {
                            None => reasons.push(format!("{name} not in C_GetMechanismList")),
                            Some(mech) => {
                                match check_uses(ctx, self.slot(), *mech, name, uses, label)? {
                                    (true, _) => {
                                        found = Some(*name);
                                        break;
                                    }
                                    (false, r) => {
                                        reasons.push(format!("{name} {}", r.unwrap_or_default()))
                                    }
                                }
                            }
                        }
                    }
                    match found {
                        Some(_) => (true, None),
                        None => (false, Some(reasons.join(", "))),
                    }
                }
            };
            items.push(PreflightItem {
                name: req.name().to_string(),
                purpose: req.purpose.to_string(),
                supported,
                reason,
            });
        }
        Ok(PreflightReport {
            token: label.to_string(),
            items,
        })
    }

    /// Checks every requirement and fails with [`Error::MissingMechanisms`] naming every missing
    /// one (not just the first). Call it before generating anything.
    pub fn preflight(&self, requirements: &[Requirement]) -> Result<PreflightReport> {
        self.check_requirements(requirements)?.into_result()
    }
}

fn check_uses(
    ctx: &cryptoki::context::Pkcs11,
    slot: cryptoki::slot::Slot,
    mech: MechanismType,
    name: &str,
    uses: &[MechanismUse],
    token: &str,
) -> Result<(bool, Option<String>)> {
    let info = ctx
        .get_mechanism_info(slot, mech)
        .map_err(|e| p11(e, format!("token `{token}`, mechanism {name}")))?;
    let lacking: Vec<&str> = uses
        .iter()
        .filter(|u| !u.allowed(&info))
        .map(|u| u.flag_name())
        .collect();
    if lacking.is_empty() {
        Ok((true, None))
    } else {
        Ok((false, Some(format!("lacks {}", lacking.join(", ")))))
    }
}
