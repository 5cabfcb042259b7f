//! EC signing keys held in the token: the ceremony's P-256 identity key and the agent's
//! secp256k1 transaction key. Both sign with `CKM_ECDSA` over a caller-given 32-byte digest;
//! the token returns raw `r ‖ s` (64 bytes).

use std::fmt;

use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use sha2::{Digest as _, Sha256};
use sha3::Keccak256;

use crate::attest::{KeyAttestation, KeyRef, KeyRole};
use crate::error::{p11, Error, Result};
use crate::module::HsmSession;
use crate::secp256k1::{recoverable_signature, RecoverableSignature};

/// DER of the named-curve OID for P-256 (`1.2.840.10045.3.1.7`).
pub const P256_EC_PARAMS: &[u8] = &[0x06, 0x08, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x03, 0x01, 0x07];
/// DER of the named-curve OID for secp256k1 (`1.3.132.0.10`); PKCS#11 has no named constant.
pub const SECP256K1_EC_PARAMS: &[u8] = &[0x06, 0x05, 0x2B, 0x81, 0x04, 0x00, 0x0A];

/// The curves this crate uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Curve {
    /// NIST P-256 / secp256r1 (identity key).
    P256,
    /// secp256k1 (Ethereum transaction key).
    Secp256k1,
}

impl Curve {
    /// `CKA_EC_PARAMS` for the curve.
    pub fn ec_params(self) -> &'static [u8] {
        match self {
            Curve::P256 => P256_EC_PARAMS,
            Curve::Secp256k1 => SECP256K1_EC_PARAMS,
        }
    }

    /// SEC 2 name.
    pub fn name(self) -> &'static str {
        match self {
            Curve::P256 => "secp256r1",
            Curve::Secp256k1 => "secp256k1",
        }
    }

    /// The curve whose `CKA_EC_PARAMS` these are.
    pub fn from_ec_params(p: &[u8]) -> Option<Curve> {
        [Curve::P256, Curve::Secp256k1]
            .into_iter()
            .find(|c| c.ec_params() == p)
    }
}

/// Reads a `CKA_EC_POINT` value as a 65-byte SEC1 uncompressed point. Accepts the standard DER
/// OCTET STRING wrapping (`04 41 04‖X‖Y`, also with long-form length `04 81 41 …`) and the raw
/// point some tokens return. The point is not checked against a curve here.
pub fn sec1_from_ec_point(value: &[u8]) -> Result<[u8; 65], String> {
    let inner = match value {
        [0x04, 0x41, rest @ ..] if rest.len() == 65 => rest,
        [0x04, 0x81, 0x41, rest @ ..] if rest.len() == 65 => rest,
        raw if raw.len() == 65 => raw,
        other => {
            return Err(format!(
            "CKA_EC_POINT is {} bytes ({}…), neither a DER-wrapped nor a raw uncompressed point",
            other.len(),
            hex::encode(&other[..other.len().min(4)])
        ))
        }
    };
    if inner[0] != 0x04 {
        return Err(format!(
            "CKA_EC_POINT is not an uncompressed point (first byte 0x{:02x})",
            inner[0]
        ));
    }
    let mut out = [0u8; 65];
    out.copy_from_slice(inner);
    Ok(out)
}

/// The EC key pair templates (public, private); `on_token` false makes the session objects the
/// preflight trial uses, everything else identical.
pub(crate) fn ec_templates(
    session: &HsmSession,
    label: &str,
    id: &[u8],
    curve: Curve,
    on_token: bool,
) -> (Vec<Attribute>, Vec<Attribute>) {
    let public = vec![
        Attribute::Token(on_token),
        Attribute::Private(false),
        Attribute::KeyType(KeyType::EC),
        Attribute::EcParams(curve.ec_params().to_vec()),
        Attribute::Verify(true),
        Attribute::Encrypt(false),
        Attribute::Wrap(false),
        Attribute::Derive(false),
        Attribute::Label(label.as_bytes().to_vec()),
        Attribute::Id(id.to_vec()),
    ];
    let private = session.private_key_template(KeyType::EC, on_token, true, false, label, id);
    (public, private)
}

/// `C_GenerateKeyPair(CKM_EC_KEY_PAIR_GEN)` from [`ec_templates`]; returns (public, private).
pub(crate) fn generate_ec(
    session: &HsmSession,
    label: &str,
    id: &[u8],
    curve: Curve,
    on_token: bool,
) -> Result<(ObjectHandle, ObjectHandle)> {
    let (public, private) = ec_templates(session, label, id, curve, on_token);
    session
        .session()
        .generate_key_pair(&Mechanism::EccKeyPairGen, &public, &private)
        .map_err(|e| {
            p11(
                e,
                format!(
                    "{}, C_GenerateKeyPair (CKM_EC_KEY_PAIR_GEN), curve {}",
                    session.ctx_label(label),
                    curve.name()
                ),
            )
        })
}

/// The P-256 identity public key labelled `label`, read **without logging in** (a public key
/// object is not private): what `ceremony recover` pins the `--from` bundle to before the PIN
/// is used. After login, [`IdentityKey::open`] proves the private key belongs to it.
pub fn identity_public_key(token: &crate::Token, label: &str) -> Result<[u8; 65]> {
    let (session, handle) =
        token
            .find_public_key(label, KeyType::EC)?
            .ok_or_else(|| Error::KeyNotFound {
                token: token.label().to_string(),
                label: label.to_string(),
                class: "CKO_PUBLIC_KEY".into(),
            })?;
    let (params, point) = read_ec_public(&session, handle, label)?;
    check_public(label, Curve::P256, params, point)
}

type EcPublicAttrs = (Option<Vec<u8>>, Option<Vec<u8>>);

fn read_ec_public(
    session: &cryptoki::session::Session,
    handle: ObjectHandle,
    label: &str,
) -> Result<EcPublicAttrs> {
    let attrs = session
        .get_attributes(handle, &[AttributeType::EcParams, AttributeType::EcPoint])
        .map_err(|e| p11(e, format!("label `{label}`, C_GetAttributeValue")))?;
    let mut params = None;
    let mut point = None;
    for a in attrs {
        match a {
            Attribute::EcParams(p) => params = Some(p),
            Attribute::EcPoint(p) => point = Some(p),
            _ => {}
        }
    }
    Ok((params, point))
}

fn check_public(
    label: &str,
    curve: Curve,
    params: Option<Vec<u8>>,
    point: Option<Vec<u8>>,
) -> Result<[u8; 65]> {
    let invalid = |reason: String| Error::PublicKeyInvalid {
        label: label.to_string(),
        reason,
    };
    if params.as_deref() != Some(curve.ec_params()) {
        return Err(invalid(format!(
            "CKA_EC_PARAMS of the public key is {}, expected {} ({})",
            params.map(hex::encode).unwrap_or_else(|| "absent".into()),
            hex::encode(curve.ec_params()),
            curve.name()
        )));
    }
    let point = point.ok_or_else(|| invalid("CKA_EC_POINT absent".to_string()))?;
    sec1_from_ec_point(&point).map_err(invalid)
}

/// The part both key kinds share: handles, label, token, public key, attestation.
#[derive(Clone)]
struct EcKey {
    private: KeyRef,
    label: String,
    token: String,
    public_sec1: [u8; 65],
}

impl EcKey {
    fn provision(session: &HsmSession, label: &str, curve: Curve) -> Result<()> {
        session.ensure_label_free(label)?;
        let id = session.random_array::<16>()?;
        generate_ec(session, label, &id[..], curve, true)?;
        Ok(())
    }

    fn open(
        session: &HsmSession,
        label: &str,
        role: KeyRole,
        curve: Curve,
        on_token: bool,
    ) -> Result<EcKey> {
        let private = KeyRef::open_as(session, label, role, on_token)?;
        let public = session.find_one(ObjectClass::PUBLIC_KEY, label)?;
        let (params, point) = read_ec_public(session.session(), public, label)?;
        let public_sec1 = check_public(label, curve, params, point)?;
        Ok(EcKey {
            private,
            label: label.to_string(),
            token: session.token_label().to_string(),
            public_sec1,
        })
    }

    fn sign_raw(&self, session: &HsmSession, digest: &[u8; 32]) -> Result<[u8; 64]> {
        let sig = self
            .private
            .call(session, |handle| {
                session.session().sign(&Mechanism::Ecdsa, handle, digest)
            })?
            .map_err(|e| {
                p11(
                    e,
                    format!("{}, mechanism CKM_ECDSA", session.ctx_label(&self.label)),
                )
            })?;
        sig.as_slice()
            .try_into()
            .map_err(|_| Error::UnexpectedLength {
                function: "C_Sign".to_string(),
                label: self.label.clone(),
                got: sig.len(),
                expected: 64,
            })
    }

    fn debug(&self, name: &str, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct(name)
            .field("label", &self.label)
            .field("token", &self.token)
            .field("public_key", &hex::encode(self.public_sec1))
            .finish()
    }
}

/// The ceremony's identity key: P-256, non-extractable, sign only. It signs the bundle
/// manifest and the transcript head; auditors and the agent pin its public key.
#[derive(Clone)]
pub struct IdentityKey {
    key: EcKey,
    verifying_key: p256::ecdsa::VerifyingKey,
}

impl fmt::Debug for IdentityKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.key.debug("IdentityKey", f)
    }
}

impl IdentityKey {
    /// Generates a P-256 key pair labelled `label` (refusing an existing label), then opens
    /// (attests and self-tests) it.
    ///
    /// Private key: `CKA_TOKEN`, `CKA_PRIVATE`, `CKA_SENSITIVE`, not `CKA_EXTRACTABLE`,
    /// `CKA_SIGN` only. Public key: `CKA_VERIFY` only. Both share `CKA_LABEL` and a random
    /// 16-byte `CKA_ID`.
    pub fn provision(session: &HsmSession, label: &str) -> Result<IdentityKey> {
        EcKey::provision(session, label, Curve::P256)?;
        IdentityKey::open(session, label)
    }

    /// Finds the key pair labelled `label`, attests the private key for identity use, reads
    /// the public key, and signs a random digest to check the two belong together.
    pub fn open(session: &HsmSession, label: &str) -> Result<IdentityKey> {
        IdentityKey::open_as(session, label, true)
    }

    pub(crate) fn open_as(
        session: &HsmSession,
        label: &str,
        on_token: bool,
    ) -> Result<IdentityKey> {
        let key = EcKey::open(session, label, KeyRole::Identity, Curve::P256, on_token)?;
        let verifying_key =
            p256::ecdsa::VerifyingKey::from_sec1_bytes(&key.public_sec1).map_err(|e| {
                Error::PublicKeyInvalid {
                    label: label.to_string(),
                    reason: format!("not a P-256 point: {e}"),
                }
            })?;
        let me = IdentityKey { key, verifying_key };
        let digest = session.random_array::<32>()?;
        me.sign_digest(session, &digest)?;
        Ok(me)
    }

    /// The key label.
    pub fn label(&self) -> &str {
        &self.key.label
    }

    /// SEC1 uncompressed public key (`04 ‖ X ‖ Y`, 65 bytes).
    pub fn public_key_sec1(&self) -> [u8; 65] {
        self.key.public_sec1
    }

    /// The public key as a `p256` verifying key.
    pub fn verifying_key(&self) -> &p256::ecdsa::VerifyingKey {
        &self.verifying_key
    }

    /// The attributes checked when the key was opened.
    pub fn attestation(&self) -> &KeyAttestation {
        self.key.private.attestation()
    }

    /// ECDSA over SHA-256 of `message`: raw `r ‖ s`, normalized to low-s, checked against the
    /// public key before it is returned.
    pub fn sign_sha256(&self, session: &HsmSession, message: &[u8]) -> Result<[u8; 64]> {
        let digest: [u8; 32] = Sha256::digest(message).into();
        self.sign_digest(session, &digest)
    }

    /// ECDSA (`CKM_ECDSA`) over a 32-byte digest the caller computed: raw `r ‖ s`, low-s,
    /// verified against the public key before it is returned.
    pub fn sign_digest(&self, session: &HsmSession, digest: &[u8; 32]) -> Result<[u8; 64]> {
        use p256::ecdsa::signature::hazmat::PrehashVerifier;
        let raw = self.key.sign_raw(session, digest)?;
        let refuse = || Error::SignatureSelfCheck {
            label: self.key.label.clone(),
        };
        let sig = p256::ecdsa::Signature::from_slice(&raw).map_err(|_| refuse())?;
        let sig = sig.normalize_s().unwrap_or(sig);
        self.verifying_key
            .verify_prehash(digest, &sig)
            .map_err(|_| refuse())?;
        Ok(sig.to_bytes().into())
    }
}

/// The agent's transaction key: secp256k1, non-extractable, sign only.
#[derive(Clone)]
pub struct TransactionKey {
    key: EcKey,
    verifying_key: k256::ecdsa::VerifyingKey,
    address: [u8; 20],
}

impl fmt::Debug for TransactionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TransactionKey")
            .field("label", &self.key.label)
            .field("token", &self.key.token)
            .field("address", &format!("0x{}", hex::encode(self.address)))
            .finish()
    }
}

impl TransactionKey {
    /// Generates a secp256k1 key pair (`CKA_EC_PARAMS` = `06 05 2B 81 04 00 0A`) labelled
    /// `label` (refusing an existing label), then opens (attests and self-tests) it.
    pub fn provision(session: &HsmSession, label: &str) -> Result<TransactionKey> {
        EcKey::provision(session, label, Curve::Secp256k1)?;
        TransactionKey::open(session, label)
    }

    /// Finds the key pair labelled `label`, attests the private key for transaction use, reads
    /// and caches the public key and address, and signs a random digest to check that the
    /// signature recovers to that address.
    pub fn open(session: &HsmSession, label: &str) -> Result<TransactionKey> {
        TransactionKey::open_as(session, label, true)
    }

    pub(crate) fn open_as(
        session: &HsmSession,
        label: &str,
        on_token: bool,
    ) -> Result<TransactionKey> {
        let key = EcKey::open(
            session,
            label,
            KeyRole::Transaction,
            Curve::Secp256k1,
            on_token,
        )?;
        let verifying_key =
            k256::ecdsa::VerifyingKey::from_sec1_bytes(&key.public_sec1).map_err(|e| {
                Error::PublicKeyInvalid {
                    label: label.to_string(),
                    reason: format!("not a secp256k1 point: {e}"),
                }
            })?;
        let address = eth_address(&key.public_sec1);
        let me = TransactionKey {
            key,
            verifying_key,
            address,
        };
        let digest = session.random_array::<32>()?;
        me.sign_prehash_recoverable(session, &digest)?;
        Ok(me)
    }

    /// The key label.
    pub fn label(&self) -> &str {
        &self.key.label
    }

    /// SEC1 uncompressed public key (65 bytes).
    pub fn public_key_sec1(&self) -> [u8; 65] {
        self.key.public_sec1
    }

    /// The public key as a `k256` verifying key.
    pub fn verifying_key(&self) -> &k256::ecdsa::VerifyingKey {
        &self.verifying_key
    }

    /// The Ethereum address: last 20 bytes of keccak256 of the 64-byte public key.
    pub fn address(&self) -> [u8; 20] {
        self.address
    }

    /// The attributes checked when the key was opened.
    pub fn attestation(&self) -> &KeyAttestation {
        self.key.private.attestation()
    }

    /// `C_Sign(CKM_ECDSA)` over the caller's 32-byte prehash (keccak256 for Ethereum): raw
    /// `r ‖ s` exactly as the token returned it (s may be high).
    pub fn sign_prehash(&self, session: &HsmSession, prehash: &[u8; 32]) -> Result<[u8; 64]> {
        self.key.sign_raw(session, prehash)
    }

    /// Signs the prehash, normalizes to low-s, and finds the recovery id by trial recovery
    /// against the cached public key (as alloy's AWS KMS signer does).
    pub fn sign_prehash_recoverable(
        &self,
        session: &HsmSession,
        prehash: &[u8; 32],
    ) -> Result<RecoverableSignature> {
        let raw = self.key.sign_raw(session, prehash)?;
        recoverable_signature(&self.key.label, &self.verifying_key, prehash, &raw)
    }
}

/// Ethereum address of a SEC1 uncompressed secp256k1 public key: the last 20 bytes of
/// keccak256(X ‖ Y).
pub fn eth_address(public_sec1: &[u8; 65]) -> [u8; 20] {
    let hash = Keccak256::digest(&public_sec1[1..]);
    let mut out = [0u8; 20];
    out.copy_from_slice(&hash[12..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ec_point_der_wrapped_and_raw_are_both_accepted() {
        let mut raw = [7u8; 65];
        raw[0] = 0x04;
        let mut der = vec![0x04, 0x41];
        der.extend_from_slice(&raw);
        assert_eq!(sec1_from_ec_point(&raw).unwrap(), raw);
        assert_eq!(sec1_from_ec_point(&der).unwrap(), raw);
        let mut long = vec![0x04, 0x81, 0x41];
        long.extend_from_slice(&raw);
        assert_eq!(sec1_from_ec_point(&long).unwrap(), raw);
    }

    #[test]
    fn ec_point_compressed_or_truncated_is_refused() {
        assert!(sec1_from_ec_point(&[0x04, 0x21, 0x02]).is_err());
        let mut compressed_in_65 = [1u8; 65];
        compressed_in_65[0] = 0x02;
        assert!(sec1_from_ec_point(&compressed_in_65).is_err());
    }

    #[test]
    fn curves_roundtrip_through_ec_params() {
        assert_eq!(
            Curve::from_ec_params(SECP256K1_EC_PARAMS),
            Some(Curve::Secp256k1)
        );
        assert_eq!(Curve::from_ec_params(P256_EC_PARAMS), Some(Curve::P256));
        assert_eq!(Curve::from_ec_params(&[0x06, 0x01, 0x00]), None);
    }

    #[test]
    fn eth_address_of_a_known_key() {
        // secret key 1 → G; its address is well known.
        let sk = k256::ecdsa::SigningKey::from_slice(&{
            let mut b = [0u8; 32];
            b[31] = 1;
            b
        })
        .unwrap();
        let pk = sk.verifying_key().to_encoded_point(false);
        let pk: [u8; 65] = pk.as_bytes().try_into().unwrap();
        assert_eq!(
            hex::encode(eth_address(&pk)),
            "7e5f4552091a69125d5dfcb7b8c2659029395bdf"
        );
    }
}
