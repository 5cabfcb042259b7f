//! `sealed/master.seal`: the master secret under the HSM seal key, with one of two backends.
//!
//! The file is JSON: `{"format", "algorithm", "key_label", "ceremony_id", "plan_sha256",
//! "blob"}`, and for `rsa-oaep` also `"oaep_hash"` and `"key_sha256"`.
//! - `aes-256-gcm`: `blob` is hex of `iv (12) ‖ ciphertext ‖ tag (16)` as the HSM returns it.
//! - `rsa-oaep`: `blob` is hex of `encrypted data key (384) ‖ iv (12) ‖ ciphertext ‖ tag (16)`:
//!   the data key encrypted to the token's RSA-3072 seal key with OAEP (`oaep_hash`, MGF1 with
//!   the same hash), the secret sealed under it with AES-256-GCM; `key_sha256` is the SHA-256
//!   of that public key's SPKI DER.
//!
//! The associated data binds the seal to its ceremony and plan: [`associated_data`]. Only the
//! HSM holding the seal key can open it; this module only builds and checks the envelope.

use serde::{Deserialize, Serialize};

use crate::Error;

pub const FORMAT: &str = "kc-seal/1";
/// The `aes-256-gcm` backend (token AES-GCM).
pub const ALGORITHM: &str = "aes-256-gcm";
/// The `rsa-oaep` backend (token RSA-3072 decryption, host AES-256-GCM).
pub const ALGORITHM_RSA_OAEP: &str = "rsa-oaep";
/// Every seal algorithm a bundle may name.
pub const ALGORITHMS: [&str; 2] = [ALGORITHM, ALGORITHM_RSA_OAEP];
/// OAEP hashes an `rsa-oaep` envelope may name.
pub const OAEP_HASHES: [&str; 2] = ["sha256", "sha1"];
/// Bytes of the encrypted data key of an `rsa-oaep` envelope (RSA-3072).
pub const RSA_KEY_LEN: usize = 384;
/// Lengths a sealed master secret (BIP-39 entropy, 128 to 256 bits) may have.
pub const SECRET_LENS: [usize; 5] = [16, 20, 24, 28, 32];
/// iv ‖ ciphertext ‖ tag around the secret.
pub const OVERHEAD: usize = 12 + 16;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SealedMaster {
    pub format: String,
    pub algorithm: String,
    pub key_label: String,
    pub ceremony_id: String,
    /// SHA-256 of the plan, hex.
    pub plan_sha256: String,
    /// `rsa-oaep`: the OAEP hash of the data key (`sha256`, or `sha1` where the token offers
    /// nothing else).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oaep_hash: Option<String>,
    /// `rsa-oaep`: SHA-256 (hex) of the seal public key's SPKI DER.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_sha256: Option<String>,
    /// hex of the sealed bytes (see the module documentation).
    pub blob: String,
}

/// AES-GCM associated data: `"kc-seal/1" 0x00 ceremony_id 0x00 plan_sha256 (32 raw bytes)`.
pub fn associated_data(ceremony_id: &str, plan_sha256: &[u8; 32]) -> Vec<u8> {
    let mut aad = Vec::with_capacity(FORMAT.len() + ceremony_id.len() + 34);
    aad.extend_from_slice(FORMAT.as_bytes());
    aad.push(0);
    aad.extend_from_slice(ceremony_id.as_bytes());
    aad.push(0);
    aad.extend_from_slice(plan_sha256);
    aad
}

impl SealedMaster {
    /// An `aes-256-gcm` envelope.
    pub fn new(key_label: &str, ceremony_id: &str, plan_sha256: &[u8; 32], blob: &[u8]) -> Self {
        Self {
            format: FORMAT.into(),
            algorithm: ALGORITHM.into(),
            key_label: key_label.into(),
            ceremony_id: ceremony_id.into(),
            plan_sha256: hex::encode(plan_sha256),
            oaep_hash: None,
            key_sha256: None,
            blob: hex::encode(blob),
        }
    }

    /// An `rsa-oaep` envelope.
    pub fn rsa_oaep(
        key_label: &str,
        ceremony_id: &str,
        plan_sha256: &[u8; 32],
        oaep_hash: &str,
        key_sha256: &str,
        blob: &[u8],
    ) -> Self {
        Self {
            algorithm: ALGORITHM_RSA_OAEP.into(),
            oaep_hash: Some(oaep_hash.into()),
            key_sha256: Some(key_sha256.into()),
            ..Self::new(key_label, ceremony_id, plan_sha256, blob)
        }
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut s = serde_json::to_string_pretty(self).expect("seal serializes");
        s.push('\n');
        s.into_bytes()
    }

    /// Parses the envelope and checks its shape (not its content: that needs the HSM).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, Error> {
        let s: SealedMaster = serde_json::from_slice(bytes).map_err(|e| Error::Seal {
            message: crate::printable(&e.to_string()),
        })?;
        let bad = |message: String| Err(Error::Seal { message });
        if s.format != FORMAT {
            return bad(format!("format: expected {FORMAT:?}, found {:?}", s.format));
        }
        let key_len = match s.algorithm.as_str() {
            ALGORITHM => {
                if s.oaep_hash.is_some() || s.key_sha256.is_some() {
                    return bad("oaep_hash, key_sha256: only in an rsa-oaep envelope".into());
                }
                0
            }
            ALGORITHM_RSA_OAEP => {
                match s.oaep_hash.as_deref() {
                    Some(h) if OAEP_HASHES.contains(&h) => {}
                    other => {
                        return bad(format!(
                            "oaep_hash: expected one of {OAEP_HASHES:?}, found {other:?}"
                        ))
                    }
                }
                match s.key_sha256.as_deref().map(hex::decode) {
                    Some(Ok(b)) if b.len() == 32 => {}
                    _ => return bad("key_sha256: expected 32 bytes of hex".into()),
                }
                RSA_KEY_LEN
            }
            other => {
                return bad(format!(
                    "algorithm: expected one of {ALGORITHMS:?}, found {other:?}"
                ))
            }
        };
        match hex::decode(&s.plan_sha256) {
            Ok(b) if b.len() == 32 => {}
            _ => return bad("plan_sha256: expected 32 bytes of hex".into()),
        }
        match hex::decode(&s.blob) {
            Ok(b)
                if b.len() >= key_len + OVERHEAD
                    && SECRET_LENS.contains(&(b.len() - key_len - OVERHEAD)) => {}
            Ok(b) => {
                return bad(format!(
                    "blob: {} bytes is not {}iv, 16 to 32 bytes of entropy, and tag",
                    b.len(),
                    if key_len > 0 {
                        format!("a {key_len}-byte encrypted data key, ")
                    } else {
                        String::new()
                    }
                ))
            }
            Err(e) => return bad(format!("blob: not hex ({e})")),
        }
        Ok(s)
    }

    pub fn blob_bytes(&self) -> Vec<u8> {
        hex::decode(&self.blob).expect("checked at parse")
    }

    pub fn plan_digest(&self) -> [u8; 32] {
        hex::decode(&self.plan_sha256)
            .expect("checked at parse")
            .try_into()
            .expect("32 bytes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rsa(hash: &str, key: &str, blob_len: usize) -> Vec<u8> {
        let mut s =
            SealedMaster::rsa_oaep("kc-seal", "c-1", &[7; 32], hash, key, &vec![1; blob_len]);
        s.key_sha256 = Some(key.into());
        s.to_bytes()
    }

    #[test]
    fn both_backends_parse_and_each_keeps_its_own_fields() {
        let aes = SealedMaster::new("kc-seal", "c-1", &[7; 32], &[1; 60]);
        assert_eq!(SealedMaster::from_bytes(&aes.to_bytes()).unwrap(), aes);
        assert!(!String::from_utf8(aes.to_bytes())
            .unwrap()
            .contains("oaep_hash"));
        let key = "ab".repeat(32);
        for hash in OAEP_HASHES {
            let bytes = rsa(hash, &key, RSA_KEY_LEN + OVERHEAD + 32);
            let s = SealedMaster::from_bytes(&bytes).unwrap();
            assert_eq!(s.algorithm, ALGORITHM_RSA_OAEP);
            assert_eq!(s.oaep_hash.as_deref(), Some(hash));
        }
    }

    #[test]
    fn malformed_envelopes_name_the_field() {
        let key = "ab".repeat(32);
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (rsa("md5", &key, RSA_KEY_LEN + OVERHEAD + 32), "oaep_hash"),
            (
                rsa("sha256", "abcd", RSA_KEY_LEN + OVERHEAD + 32),
                "key_sha256",
            ),
            (rsa("sha256", &key, OVERHEAD + 32), "encrypted data key"),
            (
                {
                    let mut s = SealedMaster::new("kc-seal", "c-1", &[7; 32], &[1; 60]);
                    s.oaep_hash = Some("sha256".into());
                    s.to_bytes()
                },
                "only in an rsa-oaep envelope",
            ),
            (
                {
                    let mut s = SealedMaster::new("kc-seal", "c-1", &[7; 32], &[1; 60]);
                    s.algorithm = "chacha".into();
                    s.to_bytes()
                },
                "algorithm",
            ),
        ];
        for (bytes, what) in cases {
            let err = SealedMaster::from_bytes(&bytes).unwrap_err().to_string();
            assert!(err.contains(what), "{what}: {err}");
        }
    }
}
