//! The real bundle the bundle-level targets start from, and its re-keyed twin.
//!
//! `seeds/bundle/` is a bundle made by `make demo` (`scripts/fuzz-seeds.sh` regenerates it):
//! a SoftHSM ceremony of 4 validators for the 4 devnet operators, pinned operators with
//! provenance. It is embedded, so every target binary is self-contained.
//!
//! The re-keyed twin is the same bundle re-signed by an identity key the fuzzer holds
//! ([`Rekeyed`]): it lets a target play the attacker who holds the identity key (an unpinned
//! verification, or a stolen key) and fixes up the bookkeeping after changing one file (the file
//! hashes in the transcript and the manifest, the transcript chain, the signature), so that only
//! the semantic cross-checks between files can refuse it.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use kc_bundle::manifest::{files, sha256_hex, Manifest, ManifestSignature, SIGNATURE_ALGORITHM};
use kc_bundle::transcript::Entry;
use p256::ecdsa::signature::hazmat::PrehashSigner;
use p256::ecdsa::SigningKey;
use sha2::{Digest, Sha256};

/// Every file of a bundle, in a fixed order (the six hashed ones, then the manifest and its
/// signature).
pub const FILES: [&str; 8] = [
    files::PLAN,
    files::OPERATORS,
    files::DEPOSIT_DATA,
    files::KEYSHARES,
    files::TRANSCRIPT,
    files::SEALED_MASTER,
    files::MANIFEST,
    files::MANIFEST_SIG,
];

const EMBEDDED: [&[u8]; 8] = [
    include_bytes!("../seeds/bundle/plan.toml"),
    include_bytes!("../seeds/bundle/operators.json"),
    include_bytes!("../seeds/bundle/deposit_data.json"),
    include_bytes!("../seeds/bundle/keyshares.json"),
    include_bytes!("../seeds/bundle/transcript.jsonl"),
    include_bytes!("../seeds/bundle/sealed/master.seal"),
    include_bytes!("../seeds/bundle/manifest.json"),
    include_bytes!("../seeds/bundle/manifest.sig"),
];

/// A bundle's files in memory, in [`FILES`] order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Files(pub Vec<Vec<u8>>);

impl Files {
    pub fn get(&self, name: &str) -> &[u8] {
        &self.0[index(name)]
    }
    pub fn set(&mut self, name: &str, bytes: Vec<u8>) {
        self.0[index(name)] = bytes;
    }
    /// Writes the files into `dir` (created, emptied first).
    pub fn write(&self, dir: &Path) {
        let _ = std::fs::remove_dir_all(dir);
        std::fs::create_dir_all(dir.join("sealed")).expect("create the bundle directory");
        for (name, bytes) in FILES.iter().zip(&self.0) {
            std::fs::write(dir.join(name), bytes).expect("write a bundle file");
        }
    }
}

/// The position of `name` in [`FILES`].
pub fn index(name: &str) -> usize {
    FILES
        .iter()
        .position(|f| *f == name)
        .expect("a bundle file")
}

/// The real bundle.
pub fn original() -> &'static Files {
    static F: OnceLock<Files> = OnceLock::new();
    F.get_or_init(|| Files(EMBEDDED.iter().map(|b| b.to_vec()).collect()))
}

/// The identity public key of the real bundle (what an auditor pins).
pub fn original_identity() -> Vec<u8> {
    let m = Manifest::from_bytes(original().get(files::MANIFEST)).expect("the seed manifest");
    hex::decode(m.identity.public_key).expect("hex")
}

/// The real bundle re-signed by a key the fuzzer holds.
pub struct Rekeyed {
    pub files: Files,
    pub key: SigningKey,
}

impl Rekeyed {
    /// The SEC1 uncompressed public key to pin.
    pub fn identity(&self) -> Vec<u8> {
        self.key
            .verifying_key()
            .to_encoded_point(false)
            .as_bytes()
            .to_vec()
    }

    /// After `files[changed]` was replaced: the bookkeeping an identity holder would redo so
    /// that the bundle is consistent again. File digests recorded in the transcript and the
    /// manifest are updated, the transcript is re-chained, and the manifest re-signed. A
    /// changed transcript is re-chained as it stands (if its lines parse as entries); a changed
    /// manifest is signed as it stands; a changed signature is left alone.
    pub fn fix_up(&self, files: &mut Files, changed: &str) {
        if changed == files::MANIFEST_SIG {
            return;
        }
        if changed != files::MANIFEST {
            let digest = sha256_hex(files.get(changed));
            let transcript = if changed == files::TRANSCRIPT {
                parse_entries(files.get(files::TRANSCRIPT))
            } else {
                parse_entries(files.get(files::TRANSCRIPT)).map(|mut entries| {
                    for e in &mut entries {
                        for map in [&mut e.inputs, &mut e.outputs] {
                            if let Some(d) = map.get_mut(changed) {
                                d.clone_from(&digest);
                            }
                        }
                    }
                    entries
                })
            };
            if let Some(entries) = transcript {
                files.set(files::TRANSCRIPT, chain(entries));
            }
            if let Ok(mut m) = Manifest::from_bytes(files.get(files::MANIFEST)) {
                m.files.insert(changed.to_owned(), digest);
                m.files.insert(
                    files::TRANSCRIPT.to_owned(),
                    sha256_hex(files.get(files::TRANSCRIPT)),
                );
                if let Some(head) = head(files.get(files::TRANSCRIPT)) {
                    m.transcript_head = head;
                }
                files.set(files::MANIFEST, m.to_bytes());
            }
        }
        let sig = sign(&self.key, files.get(files::MANIFEST));
        files.set(files::MANIFEST_SIG, sig);
    }
}

/// The real bundle under the fuzzer's identity key: identity in the manifest and in the
/// transcript's `hsm.keys` step, transcript re-chained, manifest re-signed.
pub fn rekeyed() -> &'static Rekeyed {
    static R: OnceLock<Rekeyed> = OnceLock::new();
    R.get_or_init(|| {
        let key = SigningKey::from_bytes(&[0x42; 32].into()).expect("a P-256 scalar");
        let pk = key.verifying_key().to_encoded_point(false);
        let pk_hex = hex::encode(pk.as_bytes());
        let mut files = original().clone();
        let mut entries = parse_entries(files.get(files::TRANSCRIPT)).expect("seed transcript");
        for e in &mut entries {
            if e.step == "hsm.keys" {
                e.details["identity_public_key"] = serde_json::Value::String(pk_hex.clone());
            }
        }
        files.set(files::TRANSCRIPT, chain(entries));
        let mut m = Manifest::from_bytes(files.get(files::MANIFEST)).expect("seed manifest");
        m.identity.public_key.clone_from(&pk_hex);
        m.identity.fingerprint = sha256_hex(pk.as_bytes());
        m.transcript_head = head(files.get(files::TRANSCRIPT)).expect("a head");
        m.files.insert(
            files::TRANSCRIPT.to_owned(),
            sha256_hex(files.get(files::TRANSCRIPT)),
        );
        files.set(files::MANIFEST, m.to_bytes());
        files.set(files::MANIFEST_SIG, sign(&key, files.get(files::MANIFEST)));
        Rekeyed { files, key }
    })
}

fn parse_entries(text: &[u8]) -> Option<Vec<Entry>> {
    let text = std::str::from_utf8(text).ok()?;
    text.split_terminator('\n')
        .map(|l| serde_json::from_str::<Entry>(l).ok())
        .collect()
}

/// Re-numbers and re-chains `entries` and returns the JSON Lines text.
fn chain(mut entries: Vec<Entry>) -> Vec<u8> {
    let mut prev = kc_bundle::transcript::GENESIS.to_owned();
    let mut out = String::new();
    for (i, e) in entries.iter_mut().enumerate() {
        e.seq = i as u64;
        e.prev.clone_from(&prev);
        e.hash = e.compute_hash();
        prev.clone_from(&e.hash);
        out.push_str(&serde_json::to_string(e).expect("entries serialize"));
        out.push('\n');
    }
    out.into_bytes()
}

fn head(text: &[u8]) -> Option<String> {
    parse_entries(text)?.last().map(|e| e.hash.clone())
}

/// `manifest.sig` for `manifest` under `key`, in the exact form the ceremony writes (low s).
pub fn sign(key: &SigningKey, manifest: &[u8]) -> Vec<u8> {
    let digest = Sha256::digest(manifest);
    let sig: p256::ecdsa::Signature = key.sign_prehash(&digest).expect("P-256 signs");
    let sig = sig.normalize_s().unwrap_or(sig);
    ManifestSignature {
        algorithm: SIGNATURE_ALGORITHM.into(),
        public_key: hex::encode(key.verifying_key().to_encoded_point(false).as_bytes()),
        manifest_sha256: hex::encode(digest),
        signature: hex::encode(sig.to_bytes()),
    }
    .to_bytes()
}

/// A scratch directory for this process (under `KC_FUZZ_TMP`, else the system's temporary
/// directory); [`cleanup`] removes it.
pub fn scratch() -> &'static Path {
    static D: OnceLock<PathBuf> = OnceLock::new();
    D.get_or_init(|| {
        let base = std::env::var_os("KC_FUZZ_TMP")
            .map(PathBuf::from)
            .unwrap_or_else(std::env::temp_dir);
        let d = base.join(format!("kc-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(&d).expect("create the scratch directory");
        d
    })
}

/// Removes this process's scratch directory.
pub fn cleanup() {
    let _ = std::fs::remove_dir_all(scratch());
}
