//! The `rsa-oaep` seal backend, for tokens without AES-GCM (YubiHSM 2, Nitrokey HSM 2).
//!
//! The token holds a non-extractable, decrypt-only RSA-3072 private key it generated. To seal,
//! the host draws a fresh 32-byte data key (token random XOR OS random), encrypts it to the
//! key's public half with RSAES-OAEP (SHA-256, MGF1-SHA-256, empty label), and seals the
//! plaintext under the data key with AES-256-GCM on the host, the caller's associated data
//! (ceremony id and plan hash) bound in the tag. Blob: `encrypted data key (384 bytes) ‖
//! iv (12) ‖ ciphertext ‖ tag (16)`.
//!
//! To unseal, the token decrypts the data key: with `CKM_RSA_PKCS_OAEP` where it offers OAEP
//! with the envelope's hash, else with raw RSA (`CKM_RSA_X_509`), the OAEP decoding then done on
//! the host. Which one works is found by trial when the key is opened (a data key encrypted on
//! the host, decrypted by the token). SoftHSM 2.6.1 offers OAEP only with SHA-1: there the raw
//! path is used, and where raw RSA is not offered either (SoftHSM restricted to YubiHSM 2's
//! mechanisms), the envelope is made with OAEP-SHA-1 instead, and says so (`oaep_hash`).
//!
//! Anyone holding the public key can make an envelope, so an envelope proves nothing by
//! itself: callers verify the signed bundle that lists it before unsealing. An envelope names
//! the SHA-256 of the public key it was made for (SPKI DER); one made for another key is refused
//! before anything is decrypted ([`Error::SealedToAnotherKey`]).

use std::fmt;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use cryptoki::mechanism::rsa::{PkcsMgfType, PkcsOaepParams, PkcsOaepSource};
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use rsa::pkcs8::EncodePublicKey;
use rsa::traits::PublicKeyParts;
use rsa::{BigUint, Oaep, RsaPublicKey};
use serde::Serialize;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::attest::{KeyAttestation, KeyRef, KeyRole};
use crate::error::{p11, Error, Result};
use crate::module::HsmSession;
use crate::seal::decrypt_error;

/// RSA modulus size of the seal key.
pub const RSA_SEAL_BITS: usize = 3072;
/// Bytes of an encrypted data key.
pub const RSA_SEAL_MODULUS_LEN: usize = RSA_SEAL_BITS / 8;
const DATA_KEY_LEN: usize = 32;
const IV_LEN: usize = 12;
const TAG_LEN: usize = 16;
/// Bytes an `rsa-oaep` blob adds to its plaintext.
pub const RSA_SEAL_OVERHEAD: usize = RSA_SEAL_MODULUS_LEN + IV_LEN + TAG_LEN;

/// The OAEP hash (and MGF1 hash) an envelope's data key was encrypted with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OaepHash {
    /// SHA-256 (the default).
    Sha256,
    /// SHA-1, only where the token decrypts OAEP with SHA-1 alone and no raw RSA.
    Sha1,
}

impl OaepHash {
    /// `sha256` or `sha1`, as in the envelope.
    pub fn name(self) -> &'static str {
        match self {
            OaepHash::Sha256 => "sha256",
            OaepHash::Sha1 => "sha1",
        }
    }

    /// The hash named `s` in an envelope.
    pub fn parse(s: &str) -> Option<OaepHash> {
        [OaepHash::Sha256, OaepHash::Sha1]
            .into_iter()
            .find(|h| h.name() == s)
    }

    fn len(self) -> usize {
        match self {
            OaepHash::Sha256 => 32,
            OaepHash::Sha1 => 20,
        }
    }

    fn digest(self, data: &[u8]) -> Vec<u8> {
        match self {
            OaepHash::Sha256 => Sha256::digest(data).to_vec(),
            OaepHash::Sha1 => sha1::Sha1::digest(data).to_vec(),
        }
    }

    fn padding(self) -> Oaep {
        match self {
            OaepHash::Sha256 => Oaep::new::<Sha256>(),
            OaepHash::Sha1 => Oaep::new::<sha1::Sha1>(),
        }
    }

    fn mechanism(self) -> (MechanismType, PkcsMgfType) {
        match self {
            OaepHash::Sha256 => (MechanismType::SHA256, PkcsMgfType::MGF1_SHA256),
            OaepHash::Sha1 => (MechanismType::SHA1, PkcsMgfType::MGF1_SHA1),
        }
    }
}

impl fmt::Display for OaepHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How the token decrypts a data key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RsaDecryptPath {
    /// `CKM_RSA_PKCS_OAEP` in the token.
    TokenOaep,
    /// `CKM_RSA_X_509` (raw RSA) in the token, OAEP decoding on the host.
    TokenRawHostOaep,
}

impl RsaDecryptPath {
    /// The mechanism, as shown to people.
    pub fn describe(self) -> &'static str {
        match self {
            RsaDecryptPath::TokenOaep => "CKM_RSA_PKCS_OAEP",
            RsaDecryptPath::TokenRawHostOaep => "CKM_RSA_X_509 + OAEP decoding on the host",
        }
    }
}

/// One way the token was found, by trial, to decrypt a data key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RsaDecryptMode {
    /// The OAEP hash.
    pub hash: OaepHash,
    /// Where the decryption and decoding happen.
    pub path: RsaDecryptPath,
}

/// The order modes are tried (and the first that works seals): OAEP-SHA-256 in the token, then
/// raw RSA with OAEP-SHA-256 decoded on the host, then OAEP-SHA-1 in the token.
const MODES: [RsaDecryptMode; 4] = [
    RsaDecryptMode {
        hash: OaepHash::Sha256,
        path: RsaDecryptPath::TokenOaep,
    },
    RsaDecryptMode {
        hash: OaepHash::Sha256,
        path: RsaDecryptPath::TokenRawHostOaep,
    },
    RsaDecryptMode {
        hash: OaepHash::Sha1,
        path: RsaDecryptPath::TokenOaep,
    },
    RsaDecryptMode {
        hash: OaepHash::Sha1,
        path: RsaDecryptPath::TokenRawHostOaep,
    },
];

/// An `rsa-oaep` sealed blob with what it needs besides the key: its OAEP hash and the
/// fingerprint of the public key it was made for.
#[derive(Clone, PartialEq, Eq)]
pub struct RsaSealed {
    /// The OAEP hash of the data key.
    pub hash: OaepHash,
    /// SHA-256 (hex) of the seal public key's SPKI DER.
    pub key_sha256: String,
    /// `encrypted data key ‖ iv ‖ ciphertext ‖ tag`.
    pub blob: Vec<u8>,
}

/// The RSA seal key pair's templates (public, private); `on_token` false makes the session
/// objects of the preflight trial.
pub(crate) fn rsa_templates(
    session: &HsmSession,
    label: &str,
    id: &[u8],
    on_token: bool,
) -> (Vec<Attribute>, Vec<Attribute>) {
    let public = vec![
        Attribute::Token(on_token),
        Attribute::Private(false),
        Attribute::KeyType(KeyType::RSA),
        Attribute::ModulusBits((RSA_SEAL_BITS as u64).into()),
        Attribute::PublicExponent(vec![0x01, 0x00, 0x01]),
        Attribute::Encrypt(true),
        Attribute::Verify(false),
        Attribute::Wrap(false),
        Attribute::Label(label.as_bytes().to_vec()),
        Attribute::Id(id.to_vec()),
    ];
    let private = session.private_key_template(KeyType::RSA, on_token, false, true, label, id);
    (public, private)
}

/// `C_GenerateKeyPair(CKM_RSA_PKCS_KEY_PAIR_GEN)` from [`rsa_templates`]; (public, private).
pub(crate) fn generate_rsa(
    session: &HsmSession,
    label: &str,
    id: &[u8],
    on_token: bool,
) -> Result<(ObjectHandle, ObjectHandle)> {
    let (public, private) = rsa_templates(session, label, id, on_token);
    session
        .session()
        .generate_key_pair(&Mechanism::RsaPkcsKeyPairGen, &public, &private)
        .map_err(|e| {
            p11(
                e,
                format!(
                    "{}, C_GenerateKeyPair (CKM_RSA_PKCS_KEY_PAIR_GEN), {RSA_SEAL_BITS} bits",
                    session.ctx_label(label)
                ),
            )
        })
}

/// Reads an RSA public key object (`CKA_MODULUS`, `CKA_PUBLIC_EXPONENT`); refuses any size but
/// [`RSA_SEAL_BITS`].
pub(crate) fn read_rsa_public(
    session: &cryptoki::session::Session,
    handle: ObjectHandle,
    label: &str,
) -> Result<RsaPublicKey> {
    let attrs = session
        .get_attributes(
            handle,
            &[AttributeType::Modulus, AttributeType::PublicExponent],
        )
        .map_err(|e| {
            p11(
                e,
                format!("label `{label}`, C_GetAttributeValue (RSA public key)"),
            )
        })?;
    let mut n = None;
    let mut e = None;
    for a in attrs {
        match a {
            Attribute::Modulus(v) => n = Some(v),
            Attribute::PublicExponent(v) => e = Some(v),
            _ => {}
        }
    }
    let invalid = |reason: String| Error::PublicKeyInvalid {
        label: label.to_string(),
        reason,
    };
    let n = n.ok_or_else(|| invalid("CKA_MODULUS absent".into()))?;
    let e = e.ok_or_else(|| invalid("CKA_PUBLIC_EXPONENT absent".into()))?;
    let key = RsaPublicKey::new(BigUint::from_bytes_be(&n), BigUint::from_bytes_be(&e))
        .map_err(|err| invalid(format!("not an RSA public key: {err}")))?;
    if key.size() != RSA_SEAL_MODULUS_LEN {
        return Err(invalid(format!(
            "modulus is {} bits, expected {RSA_SEAL_BITS}",
            key.n().bits()
        )));
    }
    Ok(key)
}

/// SHA-256 (hex) of the SPKI DER of an RSA public key: how envelopes and manifests name it.
pub fn rsa_key_sha256(key: &RsaPublicKey) -> String {
    let der = key
        .to_public_key_der()
        .expect("an RSA public key encodes as SPKI");
    hex::encode(Sha256::digest(der.as_bytes()))
}

/// The SHA-256 of the RSA seal public key labelled `label`, read without logging in (public
/// key objects are not private): what a caller compares an envelope with before the PIN is
/// used. `None` when the token has no RSA public key with that label.
pub fn rsa_seal_key_sha256_public(token: &crate::Token, label: &str) -> Result<Option<String>> {
    match token.find_public_key(label, KeyType::RSA)? {
        None => Ok(None),
        Some((session, handle)) => Ok(Some(rsa_key_sha256(&read_rsa_public(
            &session, handle, label,
        )?))),
    }
}

/// An attested RSA seal key, its public key, and the decrypt modes the token was found to do.
#[derive(Clone)]
pub struct RsaSealKey {
    key: KeyRef,
    public: RsaPublicKey,
    key_sha256: String,
    modes: Vec<RsaDecryptMode>,
}

impl fmt::Debug for RsaSealKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RsaSealKey")
            .field("label", &self.key.label())
            .field("token", &self.key.token())
            .field("key_sha256", &self.key_sha256)
            .finish()
    }
}

impl RsaSealKey {
    /// Generates the RSA-3072 seal key pair on the token (refusing a label in use), then opens
    /// it (attestation and decrypt trial).
    ///
    /// Private key: `CKA_TOKEN`, `CKA_PRIVATE`, `CKA_SENSITIVE`, not `CKA_EXTRACTABLE`,
    /// `CKA_DECRYPT` only (sign, sign-recover, unwrap, derive false), not `CKA_MODIFIABLE` (nor
    /// `CKA_COPYABLE` where the token knows it). Public key: `CKA_ENCRYPT` only. Both share the
    /// label and a random 16-byte `CKA_ID`.
    pub fn provision(session: &HsmSession, label: &str) -> Result<RsaSealKey> {
        session.ensure_label_free(label)?;
        let id = session.random_array::<16>()?;
        generate_rsa(session, label, &id[..], true)?;
        RsaSealKey::open(session, label)
    }

    /// Finds the private key labelled `label`, attests it for `rsa-oaep` sealing, reads the
    /// public key, and finds by trial how the token decrypts a data key (each mode: a random
    /// data key encrypted on the host, decrypted by the token). Fails, naming every mode tried,
    /// if none works.
    pub fn open(session: &HsmSession, label: &str) -> Result<RsaSealKey> {
        RsaSealKey::open_as(session, label, true)
    }

    pub(crate) fn open_as(session: &HsmSession, label: &str, on_token: bool) -> Result<RsaSealKey> {
        let key = KeyRef::open_as(session, label, KeyRole::RsaSeal, on_token)?;
        let public_handle = session.find_one(ObjectClass::PUBLIC_KEY, label)?;
        let public = read_rsa_public(session.session(), public_handle, label)?;
        let key_sha256 = rsa_key_sha256(&public);
        let mut me = RsaSealKey {
            key,
            public,
            key_sha256,
            modes: Vec::new(),
        };
        let mut failures = Vec::new();
        for mode in MODES {
            match me.trial_mode(session, mode) {
                Ok(()) => me.modes.push(mode),
                Err(e) => failures.push(format!(
                    "OAEP-{} via {}: {e}",
                    mode.hash,
                    mode.path.describe()
                )),
            }
        }
        if me.modes.is_empty() {
            return Err(Error::TrialFailed {
                token: session.token_label().to_string(),
                function: "C_Decrypt".into(),
                capability: format!("RSA-OAEP decryption of a data key with key `{label}`"),
                detail: failures.join("; "),
            });
        }
        Ok(me)
    }

    fn trial_mode(&self, session: &HsmSession, mode: RsaDecryptMode) -> Result<()> {
        let probe = session.random_array::<DATA_KEY_LEN>()?;
        let ek = self
            .public
            .encrypt(&mut rand_core::OsRng, mode.hash.padding(), &probe[..])
            .map_err(|e| Error::TrialFailed {
                token: session.token_label().to_string(),
                function: "host RSA-OAEP encryption".into(),
                capability: "a data key".into(),
                detail: e.to_string(),
            })?;
        let got = self.decrypt_with(session, mode, &ek)?;
        if got[..] != probe[..] {
            return Err(Error::TrialFailed {
                token: session.token_label().to_string(),
                function: "C_Decrypt".into(),
                capability: format!("OAEP-{} via {}", mode.hash, mode.path.describe()),
                detail: "returned another data key than was encrypted".into(),
            });
        }
        Ok(())
    }

    /// The key label.
    pub fn label(&self) -> &str {
        self.key.label()
    }

    /// The attributes checked when the key was opened.
    pub fn attestation(&self) -> &KeyAttestation {
        self.key.attestation()
    }

    /// SHA-256 (hex) of the public key's SPKI DER.
    pub fn key_sha256(&self) -> &str {
        &self.key_sha256
    }

    /// The public key.
    pub fn public_key(&self) -> &RsaPublicKey {
        &self.public
    }

    /// The decrypt modes the token was found to do, in order of preference.
    pub fn modes(&self) -> &[RsaDecryptMode] {
        &self.modes
    }

    /// Seals `plaintext` (see the module documentation), with the first mode the token can
    /// decrypt.
    pub fn seal(&self, session: &HsmSession, plaintext: &[u8], aad: &[u8]) -> Result<RsaSealed> {
        let hash = self.modes[0].hash;
        let token_part = session.random_array::<DATA_KEY_LEN>()?;
        let mut data_key = Zeroizing::new([0u8; DATA_KEY_LEN]);
        rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut data_key[..]);
        for (k, t) in data_key.iter_mut().zip(token_part.iter()) {
            *k ^= t;
        }
        let iv = session.random_array::<IV_LEN>()?;
        let ek = self
            .public
            .encrypt(&mut rand_core::OsRng, hash.padding(), &data_key[..])
            .map_err(|e| Error::SealedMalformed {
                backend: "rsa-oaep".into(),
                reason: format!("host RSA-OAEP encryption failed: {e}"),
            })?;
        let cipher = aes_gcm::Aes256Gcm::new_from_slice(&data_key[..]).expect("32-byte key");
        let ct = cipher
            .encrypt(
                &aes_gcm::Nonce::from(*iv),
                Payload {
                    msg: plaintext,
                    aad,
                },
            )
            .map_err(|_| Error::SealedMalformed {
                backend: "rsa-oaep".into(),
                reason: "host AES-256-GCM encryption failed".into(),
            })?;
        let mut blob = Vec::with_capacity(ek.len() + IV_LEN + ct.len());
        blob.extend_from_slice(&ek);
        blob.extend_from_slice(&iv[..]);
        blob.extend_from_slice(&ct);
        Ok(RsaSealed {
            hash,
            key_sha256: self.key_sha256.clone(),
            blob,
        })
    }

    /// Refuses an envelope made for another key ([`Error::SealedToAnotherKey`]); nothing is
    /// decrypted.
    pub fn check_envelope_key(&self, session: &HsmSession, sealed: &RsaSealed) -> Result<()> {
        if sealed.key_sha256.eq_ignore_ascii_case(&self.key_sha256) {
            Ok(())
        } else {
            Err(Error::SealedToAnotherKey {
                label: self.key.label().to_string(),
                token: session.token_label().to_string(),
                envelope: sealed.key_sha256.clone(),
                found: self.key_sha256.clone(),
            })
        }
    }

    /// Reverses [`RsaSealKey::seal`]: checks the envelope names this key, decrypts the data key
    /// in the token, then opens the AES-256-GCM part on the host with `aad`.
    pub fn unseal(
        &self,
        session: &HsmSession,
        sealed: &RsaSealed,
        aad: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>> {
        self.check_envelope_key(session, sealed)?;
        let label = self.key.label();
        if sealed.blob.len() < RSA_SEAL_OVERHEAD {
            return Err(Error::SealedMalformed {
                backend: "rsa-oaep".into(),
                reason: format!(
                    "{} bytes, shorter than the {RSA_SEAL_OVERHEAD}-byte minimum ({RSA_SEAL_MODULUS_LEN}-byte encrypted key, 12-byte iv, 16-byte tag)",
                    sealed.blob.len()
                ),
            });
        }
        let (ek, rest) = sealed.blob.split_at(RSA_SEAL_MODULUS_LEN);
        let (iv, ct) = rest.split_at(IV_LEN);
        let mode = self
            .modes
            .iter()
            .find(|m| m.hash == sealed.hash)
            .copied()
            .ok_or_else(|| Error::TrialFailed {
                token: session.token_label().to_string(),
                function: "C_Decrypt".into(),
                capability: format!("RSA-OAEP with {} (the envelope's hash)", sealed.hash),
                detail: format!(
                    "the token decrypts only {}",
                    self.modes
                        .iter()
                        .map(|m| format!("OAEP-{} via {}", m.hash, m.path.describe()))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            })?;
        let data_key = self.decrypt_with(session, mode, ek)?;
        if data_key.len() != DATA_KEY_LEN {
            return Err(Error::UnsealFailed {
                label: label.to_string(),
                function: "C_Decrypt".into(),
                rv: format!(
                    "a {}-byte data key, expected {DATA_KEY_LEN}",
                    data_key.len()
                ),
            });
        }
        let cipher = aes_gcm::Aes256Gcm::new_from_slice(&data_key[..]).expect("32-byte key");
        cipher
            .decrypt(
                &aes_gcm::Nonce::from(<[u8; IV_LEN]>::try_from(iv).expect("12 bytes")),
                Payload { msg: ct, aad },
            )
            .map(Zeroizing::new)
            .map_err(|_| Error::UnsealFailed {
                label: label.to_string(),
                function: "host AES-256-GCM".into(),
                rv: "tag mismatch".into(),
            })
    }

    /// Decrypts an encrypted data key with `mode`.
    fn decrypt_with(
        &self,
        session: &HsmSession,
        mode: RsaDecryptMode,
        ek: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>> {
        let label = self.key.label();
        match mode.path {
            RsaDecryptPath::TokenOaep => {
                let (hash, mgf) = mode.hash.mechanism();
                let result = self.key.call(session, |handle| {
                    let params = PkcsOaepParams::new(hash, mgf, PkcsOaepSource::empty());
                    session
                        .session()
                        .decrypt(&Mechanism::RsaPkcsOaep(params), handle, ek)
                })?;
                result.map(Zeroizing::new).map_err(|e| {
                    decrypt_error(
                        session,
                        label,
                        &format!("C_Decrypt (CKM_RSA_PKCS_OAEP, {})", mode.hash),
                        e,
                    )
                })
            }
            RsaDecryptPath::TokenRawHostOaep => {
                let result = self.key.call(session, |handle| {
                    session.session().decrypt(&Mechanism::RsaX509, handle, ek)
                })?;
                let em =
                    Zeroizing::new(result.map_err(|e| {
                        decrypt_error(session, label, "C_Decrypt (CKM_RSA_X_509)", e)
                    })?);
                oaep_decode(mode.hash, &em, RSA_SEAL_MODULUS_LEN).ok_or_else(|| {
                    Error::UnsealFailed {
                        label: label.to_string(),
                        function: "host OAEP decoding".into(),
                        rv: format!("not an OAEP-{} block", mode.hash),
                    }
                })
            }
        }
    }
}

/// MGF1 (PKCS #1 v2.2, B.2.1) with `hash`.
fn mgf1(hash: OaepHash, seed: &[u8], len: usize) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(Vec::with_capacity(len + hash.len()));
    let mut counter: u32 = 0;
    while out.len() < len {
        let mut input = Zeroizing::new(seed.to_vec());
        input.extend_from_slice(&counter.to_be_bytes());
        out.extend_from_slice(&hash.digest(&input));
        counter += 1;
    }
    out.truncate(len);
    out
}

/// EME-OAEP decoding (PKCS #1 v2.2, 7.1.2 step 3) of the `k`-byte encoded message a raw RSA
/// decryption returned (left-padded with zeros if the token stripped them), empty label. The
/// checks are made without early exit; one `None` for every kind of failure.
pub(crate) fn oaep_decode(hash: OaepHash, em: &[u8], k: usize) -> Option<Zeroizing<Vec<u8>>> {
    let h = hash.len();
    if em.len() > k || k < 2 * h + 2 {
        return None;
    }
    let mut full = Zeroizing::new(vec![0u8; k - em.len()]);
    full.extend_from_slice(em);
    let y = full[0];
    let (masked_seed, masked_db) = full[1..].split_at(h);
    let seed_mask = mgf1(hash, masked_db, h);
    let seed: Zeroizing<Vec<u8>> = Zeroizing::new(
        masked_seed
            .iter()
            .zip(seed_mask.iter())
            .map(|(a, b)| a ^ b)
            .collect(),
    );
    let db_mask = mgf1(hash, &seed, k - h - 1);
    let db: Zeroizing<Vec<u8>> = Zeroizing::new(
        masked_db
            .iter()
            .zip(db_mask.iter())
            .map(|(a, b)| a ^ b)
            .collect(),
    );
    let l_hash = hash.digest(b"");
    let mut bad = y;
    for (a, b) in db[..h].iter().zip(&l_hash) {
        bad |= a ^ b;
    }
    // PS (zeros), then 0x01, then the message: find the first non-zero byte without branching
    // on secret data until the end.
    let mut index = 0usize;
    let mut looking = 1u8;
    let mut bad_sep = 0u8;
    for (i, &b) in db[h..].iter().enumerate() {
        let is_zero = u8::from(b == 0);
        let found_here = looking & (1 - is_zero);
        index |= usize::from(found_here) * i;
        bad_sep |= found_here & u8::from(b != 1);
        looking &= is_zero;
    }
    bad |= bad_sep | looking;
    if bad != 0 {
        return None;
    }
    Some(Zeroizing::new(db[h + index + 1..].to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rsa::traits::PrivateKeyParts;

    fn raw_decrypt(sk: &rsa::RsaPrivateKey, c: &[u8]) -> Vec<u8> {
        let c = BigUint::from_bytes_be(c);
        c.modpow(sk.d(), sk.n()).to_bytes_be()
    }

    #[test]
    fn host_oaep_decoding_reads_what_rsa_oaep_encrypts_with_either_hash() {
        let mut rng = rand_core::OsRng;
        let sk = rsa::RsaPrivateKey::new(&mut rng, 1024).unwrap();
        let pk = sk.to_public_key();
        for hash in [OaepHash::Sha256, OaepHash::Sha1] {
            let msg = [0x42u8; 32];
            let c = pk.encrypt(&mut rng, hash.padding(), &msg).unwrap();
            let em = raw_decrypt(&sk, &c);
            assert!(em.len() < 128, "the leading zero byte is stripped");
            let out = oaep_decode(hash, &em, 128).unwrap();
            assert_eq!(&out[..], &msg[..]);
            // the other hash does not decode it
            let other = if hash == OaepHash::Sha256 {
                OaepHash::Sha1
            } else {
                OaepHash::Sha256
            };
            assert!(oaep_decode(other, &em, 128).is_none());
            // any flipped bit of the ciphertext fails decoding
            for pos in [0usize, 5, 64, 127] {
                let mut bad = c.clone();
                bad[pos] ^= 0x10;
                let em = raw_decrypt(&sk, &bad);
                assert!(oaep_decode(hash, &em, 128).is_none(), "{hash} byte {pos}");
            }
        }
        // too long, or too short a modulus for the hash
        assert!(oaep_decode(OaepHash::Sha256, &[0u8; 129], 128).is_none());
        assert!(oaep_decode(OaepHash::Sha256, &[0u8; 60], 60).is_none());
    }

    #[test]
    fn oaep_hash_names_roundtrip() {
        for h in [OaepHash::Sha256, OaepHash::Sha1] {
            assert_eq!(OaepHash::parse(h.name()), Some(h));
        }
        assert_eq!(OaepHash::parse("md5"), None);
    }
}
