//! `sealed/master.seal`: the master secret under the HSM seal key (AES-256-GCM).
//!
//! The file is JSON: `{"format", "algorithm", "key_label", "ceremony_id", "plan_sha256",
//! "blob"}` where `blob` is hex of `iv (12) ‖ ciphertext ‖ tag (16)` as the HSM returns it. The
//! associated data binds the seal to its ceremony and plan: [`associated_data`]. Only the HSM
//! holding the seal key can open it; this module only builds and checks the envelope.

use serde::{Deserialize, Serialize};

use crate::Error;

pub const FORMAT: &str = "kc-seal/1";
pub const ALGORITHM: &str = "aes-256-gcm";
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
    /// hex of iv ‖ ciphertext ‖ tag.
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
    pub fn new(key_label: &str, ceremony_id: &str, plan_sha256: &[u8; 32], blob: &[u8]) -> Self {
        Self {
            format: FORMAT.into(),
            algorithm: ALGORITHM.into(),
            key_label: key_label.into(),
            ceremony_id: ceremony_id.into(),
            plan_sha256: hex::encode(plan_sha256),
            blob: hex::encode(blob),
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
        if s.algorithm != ALGORITHM {
            return bad(format!(
                "algorithm: expected {ALGORITHM:?}, found {:?}",
                s.algorithm
            ));
        }
        match hex::decode(&s.plan_sha256) {
            Ok(b) if b.len() == 32 => {}
            _ => return bad("plan_sha256: expected 32 bytes of hex".into()),
        }
        match hex::decode(&s.blob) {
            Ok(b) if b.len() >= OVERHEAD && SECRET_LENS.contains(&(b.len() - OVERHEAD)) => {}
            Ok(b) => {
                return bad(format!(
                    "blob: {} bytes is not iv, 16 to 32 bytes of entropy, and tag",
                    b.len()
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
