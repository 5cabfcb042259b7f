//! SSV operator public keys: parsing the network's encoding, the RSA-2048 requirement,
//! fingerprints, clusters, and share encryption (RSA PKCS#1 v1.5).
//!
//! On chain and in the SDK an operator key is base64 of a PEM text. The PEM label is
//! `RSA PUBLIC KEY` (the node writes it so) but the body is an SPKI (SubjectPublicKeyInfo) DER,
//! not a PKCS#1 `RSAPublicKey`; we accept both bodies under either `RSA PUBLIC KEY` or
//! `PUBLIC KEY`, and a bare PEM text as the SDK does.
//!
//! Fingerprint: SHA-256 of the key's canonical SPKI DER (re-encoded from (n, e), so the same key
//! has the same fingerprint whichever body or label it came in), shown as lower-case hex.

use base64::Engine as _;
use rand_core::CryptoRngCore;
use rsa::pkcs1::DecodeRsaPublicKey;
use rsa::pkcs8::{DecodePublicKey, EncodePublicKey};
use rsa::traits::PublicKeyParts;
use rsa::RsaPublicKey;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::pkcs1::PublicOp;
use crate::shamir::{check_operator_ids, threshold, ShareSecret, MAX_OPERATOR_ID};

/// RSA modulus size the SSV network uses.
pub const RSA_BITS: usize = 2048;
/// Length of one encrypted share (the RSA-2048 modulus size in bytes).
pub const ENCRYPTED_SHARE_LEN: usize = RSA_BITS / 8;
/// The longest encoded operator key accepted (characters, after trimming): an RSA-2048 key as
/// the network publishes it is about 600, a bare PEM about 450. Bounds what a key costs to
/// carry in every keyshares.json entry.
pub const MAX_ENCODED_KEY_LEN: usize = 2048;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// One encrypted share: an RSA-2048 PKCS#1 v1.5 ciphertext, 256 bytes, big-endian.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct EncryptedShare(pub [u8; ENCRYPTED_SHARE_LEN]);

impl std::fmt::Debug for EncryptedShare {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "EncryptedShare(0x{}…)", hex::encode(&self.0[..8]))
    }
}

/// An SSV operator: its id and its RSA-2048 public key.
#[derive(Clone)]
pub struct OperatorKey {
    id: u64,
    encoded: String,
    key: RsaPublicKey,
    /// The same key, set up once for fast encryption.
    op: PublicOp,
    spki_der: Vec<u8>,
}

impl std::fmt::Debug for OperatorKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OperatorKey")
            .field("id", &self.id)
            .field("fingerprint", &self.fingerprint_hex())
            .finish()
    }
}

impl PartialEq for OperatorKey {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id && self.spki_der == other.spki_der
    }
}
impl Eq for OperatorKey {}

impl OperatorKey {
    /// Parses an operator key as published on chain (base64 of a PEM text), or a bare PEM
    /// text. The key must be RSA-2048.
    pub fn parse(id: u64, encoded: &str) -> Result<Self> {
        if id == 0 || id > MAX_OPERATOR_ID {
            return Err(Error::InvalidOperatorId {
                context: "operator key".into(),
                id,
            });
        }
        let bad = |reason: String| Error::OperatorKeyEncoding { id, reason };
        let encoded = encoded.trim();
        if encoded.len() > MAX_ENCODED_KEY_LEN {
            return Err(bad(format!(
                "{} characters, more than the {MAX_ENCODED_KEY_LEN} an RSA-2048 key takes",
                encoded.len()
            )));
        }
        let pem_text = if encoded.starts_with("-----BEGIN") {
            encoded.to_owned()
        } else {
            let compact: String = encoded
                .chars()
                .filter(|c| !c.is_ascii_whitespace())
                .collect();
            let bytes = B64
                .decode(compact.as_bytes())
                .map_err(|e| bad(format!("not base64: {e}")))?;
            String::from_utf8(bytes)
                .map_err(|_| bad("base64 does not decode to PEM text".into()))?
        };
        let (label, der) = parse_pem(&pem_text).map_err(bad)?;
        if label != "RSA PUBLIC KEY" && label != "PUBLIC KEY" {
            return Err(bad(format!(
                "PEM label {label:?}, expected \"RSA PUBLIC KEY\" or \"PUBLIC KEY\""
            )));
        }
        let key = RsaPublicKey::from_public_key_der(&der)
            .or_else(|_| RsaPublicKey::from_pkcs1_der(&der))
            .map_err(|_| bad("PEM body is neither an SPKI nor a PKCS#1 RSA public key".into()))?;
        let bits = key.n().bits();
        if bits != RSA_BITS {
            return Err(Error::OperatorKeySize { id, bits });
        }
        let e_be = key.e().to_bytes_be();
        if e_be.len() > 8 {
            return Err(bad("public exponent does not fit in 64 bits".into()));
        }
        let e = e_be.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
        let op = PublicOp::new(&key.n().to_bytes_be(), e)
            .ok_or_else(|| bad(format!("public exponent {e} is not an odd number above 1")))?;
        let spki_der = key
            .to_public_key_der()
            .map_err(|e| bad(format!("cannot re-encode as SPKI: {e}")))?
            .into_vec();
        Ok(Self {
            id,
            encoded: encoded.to_owned(),
            key,
            op,
            spki_der,
        })
    }

    /// Builds an operator from an RSA public key (tests, tools); its encoding is the network's.
    pub fn from_rsa(id: u64, key: &RsaPublicKey) -> Result<Self> {
        Self::parse(
            id,
            &network_encoding(key).map_err(|reason| Error::OperatorKeyEncoding { id, reason })?,
        )
    }

    /// The operator id.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The key exactly as given (trimmed); this is what keyshares.json carries as `operatorKey`.
    pub fn encoded(&self) -> &str {
        &self.encoded
    }

    /// The canonical SPKI DER of the key.
    pub fn spki_der(&self) -> &[u8] {
        &self.spki_der
    }

    /// SHA-256 of the canonical SPKI DER.
    pub fn fingerprint(&self) -> [u8; 32] {
        Sha256::digest(&self.spki_der).into()
    }

    /// The fingerprint as lower-case hex (64 digits).
    pub fn fingerprint_hex(&self) -> String {
        hex::encode(self.fingerprint())
    }

    /// The RSA public key.
    pub fn rsa(&self) -> &RsaPublicKey {
        &self.key
    }

    /// Encrypts a share to this operator: RSA PKCS#1 v1.5 over the plaintext the SSV node
    /// expects (`"0x"` + 64 lower-case hex digits, see [`ShareSecret::plaintext`]).
    pub fn encrypt_share(
        &self,
        share: &ShareSecret,
        rng: &mut impl CryptoRngCore,
    ) -> Result<EncryptedShare> {
        if share.operator_id() != self.id {
            return Err(Error::Encryption {
                id: self.id,
                reason: format!("share belongs to operator {}", share.operator_id()),
            });
        }
        let plaintext = share.plaintext();
        let ct = self
            .op
            .encrypt_pkcs1v15(rng, &plaintext)
            .ok_or_else(|| Error::Encryption {
                id: self.id,
                reason: format!("a {}-byte message does not fit", plaintext.len()),
            })?;
        Ok(EncryptedShare(ct))
    }

    /// Whether a ciphertext is a possible RSA output for this key (as an integer below n).
    pub fn ciphertext_in_range(&self, ct: &EncryptedShare) -> bool {
        self.op.below_modulus(&ct.0)
    }
}

/// The network's encoding of an RSA public key, as the SSV node writes it: base64 of a PEM with
/// label `RSA PUBLIC KEY` around an SPKI body (64-character lines, trailing newline).
pub fn network_encoding(key: &RsaPublicKey) -> std::result::Result<String, String> {
    let der = key.to_public_key_der().map_err(|e| e.to_string())?;
    let body = B64.encode(der.as_bytes());
    let mut pem = String::from("-----BEGIN RSA PUBLIC KEY-----\n");
    for chunk in body.as_bytes().chunks(64) {
        pem.push_str(std::str::from_utf8(chunk).map_err(|e| e.to_string())?);
        pem.push('\n');
    }
    pem.push_str("-----END RSA PUBLIC KEY-----\n");
    Ok(B64.encode(pem.as_bytes()))
}

/// Minimal PEM reader: one block, `-----BEGIN L-----` … `-----END L-----`, base64 body.
fn parse_pem(text: &str) -> std::result::Result<(String, Vec<u8>), String> {
    let text = text.trim();
    let first_line_end = text.find('\n').unwrap_or(text.len());
    let begin = text[..first_line_end].trim();
    let label = begin
        .strip_prefix("-----BEGIN ")
        .and_then(|s| s.strip_suffix("-----"))
        .ok_or("PEM does not start with a -----BEGIN ...----- line")?;
    let end_marker = format!("-----END {label}-----");
    let end_at = text
        .rfind(&end_marker)
        .ok_or_else(|| format!("PEM has no {end_marker:?} line"))?;
    if !text[end_at + end_marker.len()..].trim().is_empty() {
        return Err("text after the PEM END line".into());
    }
    let body: String = text[first_line_end..end_at]
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    if body.contains(':') {
        return Err("PEM headers are not supported".into());
    }
    let der = B64
        .decode(body.as_bytes())
        .map_err(|e| format!("PEM body is not base64: {e}"))?;
    Ok((label.to_owned(), der))
}

/// A cluster: 4, 7, 10 or 13 operators with distinct ids and distinct keys, sorted by id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cluster {
    operators: Vec<OperatorKey>,
}

impl Cluster {
    /// Builds a cluster; sorts the operators by id.
    pub fn new(mut operators: Vec<OperatorKey>) -> Result<Self> {
        operators.sort_by_key(OperatorKey::id);
        let ids: Vec<u64> = operators.iter().map(OperatorKey::id).collect();
        check_operator_ids("cluster", &ids)?;
        for (i, a) in operators.iter().enumerate() {
            if let Some(b) = operators[i + 1..].iter().find(|b| b.spki_der == a.spki_der) {
                return Err(Error::DuplicateOperatorKey {
                    first: a.id,
                    second: b.id,
                });
            }
        }
        Ok(Self { operators })
    }

    /// Parses `(id, encoded key)` pairs and builds a cluster.
    pub fn parse<'a>(operators: impl IntoIterator<Item = (u64, &'a str)>) -> Result<Self> {
        let ops = operators
            .into_iter()
            .map(|(id, key)| OperatorKey::parse(id, key))
            .collect::<Result<Vec<_>>>()?;
        Self::new(ops)
    }

    /// The operators, sorted by id.
    pub fn operators(&self) -> &[OperatorKey] {
        &self.operators
    }

    /// The operator ids, sorted.
    pub fn ids(&self) -> Vec<u64> {
        self.operators.iter().map(OperatorKey::id).collect()
    }

    /// n.
    pub fn len(&self) -> usize {
        self.operators.len()
    }

    /// Never true (a cluster has at least 4 operators).
    pub fn is_empty(&self) -> bool {
        self.operators.is_empty()
    }

    /// t = n - f.
    pub fn threshold(&self) -> usize {
        threshold(self.operators.len()).unwrap_or(usize::MAX)
    }

    /// The operator with this id.
    pub fn get(&self, id: u64) -> Option<&OperatorKey> {
        self.operators.iter().find(|o| o.id == id)
    }
}
