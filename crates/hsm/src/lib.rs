//! `kc-hsm`: the only crate that touches PKCS#11 (through `cryptoki` 0.12). The air-gapped
//! ceremony and the online signer-agent reach their HSM only through it.
//!
//! # What it does
//! - [`Module`]: loads a PKCS#11 module and calls `C_Initialize` **once per process** (a
//!   process-wide context; later opens share it). [`Module::find_token`] finds a token **by
//!   label**, never by slot index. [`Token::login`] opens an RAII [`HsmSession`] with a
//!   [`secrecy::SecretString`] PIN.
//! - Preflight ([`Token::preflight`]): checks every mechanism a role needs
//!   ([`CEREMONY_REQUIREMENTS`], [`AGENT_REQUIREMENTS`]), reports each with ✓/✗, and fails naming
//!   every missing one before anything is generated.
//! - Provisioning, refusing labels that exist: the AES-256 [`SealKey`], the P-256
//!   [`IdentityKey`] and the secp256k1 [`TransactionKey`], all sensitive and non-extractable.
//! - Use: AES-GCM seal/unseal (format `iv(12) ‖ ciphertext ‖ tag(16)`, IV from the token's
//!   RNG), ECDSA signatures as raw `r ‖ s`, low-s + recovery id for secp256k1
//!   ([`recoverable_signature`], also for signers that hold the raw `r ‖ s` of another key
//!   store), and random bytes.
//! - [`pin`]: reading the user PIN from a file (its first line) or an environment variable, one
//!   rule for the ceremony and the agent.
//! - Key attestation: every `open` reads the key's attributes and refuses it unless
//!   `CKA_TOKEN`, `CKA_PRIVATE`, `CKA_SENSITIVE`, `CKA_ALWAYS_SENSITIVE`,
//!   `CKA_NEVER_EXTRACTABLE`, `CKA_LOCAL` are true, `CKA_EXTRACTABLE` is false, and the usage
//!   flags are exactly the role's; it returns a [`KeyAttestation`] for the transcript.
//!   [`Token::attest`] gives the [`TokenAttestation`].
//!
//! # PKCS#11 facts it relies on (proven with SoftHSM 2.6.1)
//! - One `C_Initialize` per process; a second fails with `CKR_CRYPTOKI_ALREADY_INITIALIZED`.
//!   Tests therefore run one process per test (`cargo nextest`). The context is never finalized.
//! - `C_Logout` ends the login of every session of the application on that token, so sessions
//!   never log out on drop, and `CKR_USER_ALREADY_LOGGED_IN` counts as a successful login.
//! - SoftHSM renumbers slots when tokens are created: tokens are found by label.
//! - `CKA_EC_POINT` is usually a DER OCTET STRING (`04 41 04‖X‖Y`), sometimes the raw point;
//!   both are accepted. secp256k1 has no named constant: `CKA_EC_PARAMS` = `06 05 2B 81 04 00 0A`.
//! - `CKM_ECDSA` signs a caller-given digest and returns raw `r ‖ s`; signatures are randomized.
//! - Closing the last session of a login ends it, and SoftHSM then renumbers private objects:
//!   key handles ([`SealKey`], [`IdentityKey`], [`TransactionKey`]) re-find their key by label on
//!   `CKR_OBJECT_HANDLE_INVALID`, re-attest it, and refuse it ([`Error::KeyChanged`]) unless the
//!   attestation (including the random `CKA_ID` set at provisioning) is unchanged.
//! - Some tokens choose the GCM IV themselves and write it back into `CK_GCM_PARAMS.pIv` (AWS
//!   CloudHSM); the seal output always carries the IV that buffer holds after `C_Encrypt`.
//! - `get_attributes` silently omits attributes a token will not reveal or does not know;
//!   attestation treats an omitted security attribute as a refusal and an omitted usage flag
//!   as "not allowed".
//! - `CKA_SENSITIVE` cannot be cleared and `CKA_EXTRACTABLE` cannot be set once false; keys are
//!   also created with `CKA_MODIFIABLE` and `CKA_COPYABLE` false.
//!
//! # What it must never do
//! - Export a secret: no template ever asks for an extractable or non-sensitive key, and no
//!   function reads `CKA_VALUE`.
//! - Log, print, `Debug` or put into an error a PIN or key material. Handles have hand-written
//!   `Debug` impls that show labels (and public keys) only; random bytes and unsealed plaintext
//!   are returned in zeroize-on-drop buffers.
//! - Pick a token by slot number, or initialize the module twice.
//!
//! # Features
//! - `test-utils`: [`testing::SoftHsmToken`], a fresh private SoftHSM token per test process,
//!   and `HsmSession::raw` for tests that build deliberately bad keys. Never in release builds.
//!
//! No `unsafe` code.

mod attest;
mod ec;
mod error;
mod module;
pub mod pin;
mod preflight;
mod rsa_seal;
mod seal;
mod sealer;
mod secp256k1;
mod trial;

#[cfg(feature = "test-utils")]
pub mod testing;

/// The raw PKCS#11 wrapper, for tests only (feature `test-utils`).
#[cfg(feature = "test-utils")]
pub use cryptoki;

pub use attest::{KeyAttestation, KeyRole, TokenAttestation};
pub use ec::{
    eth_address, identity_public_key, sec1_from_ec_point, Curve, IdentityKey, TransactionKey,
    P256_EC_PARAMS, SECP256K1_EC_PARAMS,
};
pub use error::{Error, Refusal, Result};
pub use module::{HsmSession, LibraryInfo, Module, Token, TokenInfo, MODULE_ENV, SOFTHSM_MODULE};
pub use pin::{PinProblem, PinSource};
pub use preflight::{
    Capability, MechanismUse, PreflightItem, PreflightReport, Requirement, AES_GCM, AES_KEY_GEN,
    AGENT_REQUIREMENTS, CEREMONY_REQUIREMENTS, CEREMONY_RSA_REQUIREMENTS, ECDSA, EC_KEY_PAIR_GEN,
    RANDOM, RSA_DECRYPT, RSA_KEY_PAIR_GEN,
};
pub use rsa_seal::{
    rsa_key_sha256, rsa_seal_key_sha256_public, OaepHash, RsaDecryptMode, RsaDecryptPath,
    RsaSealKey, RsaSealed, RSA_SEAL_BITS, RSA_SEAL_MODULUS_LEN, RSA_SEAL_OVERHEAD,
};
pub use seal::{SealKey, SEAL_IV_LEN, SEAL_OVERHEAD, SEAL_TAG_LEN};
pub use sealer::{
    choose_seal_backend, provision_ceremony_keys, BackendChoice, SealBackend, SealInfo, Sealed,
    Sealer,
};
pub use secp256k1::{recoverable_signature, RecoverableSignature};
pub use trial::{TrialLine, TrialReport, TrialRole};

/// Re-exported so callers can name PIN types without their own `secrecy` dependency.
pub use secrecy::SecretString;
