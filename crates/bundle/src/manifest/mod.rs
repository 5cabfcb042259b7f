//! `manifest.json` and `manifest.sig`: what the bundle holds, signed by the HSM identity key.
//!
//! The manifest lists the SHA-256 of every other file of the bundle, the validators with their
//! roots and nonces, the operators with key fingerprints and provenance, the batch's Merkle root
//! (`docs/merkle-leaf.md`) and the transcript head. `manifest.sig` is the identity key's ECDSA
//! P-256 signature over SHA-256 of the exact bytes of `manifest.json`.

use std::collections::BTreeMap;

use p256::ecdsa::signature::hazmat::PrehashVerifier;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::operators::Provenance;

mod build;
use crate::Error;
pub use build::{Made, MadeMaster, Planned};

/// The manifest format this code writes and reads.
pub const FORMAT: &str = "kc-bundle/1";
/// The signature scheme of `manifest.sig`.
pub const SIGNATURE_ALGORITHM: &str = "ecdsa-p256-sha256";

/// Files of a bundle, as named in the manifest and on disk.
pub mod files {
    pub const PLAN: &str = "plan.toml";
    pub const DEPOSIT_DATA: &str = "deposit_data.json";
    pub const KEYSHARES: &str = "keyshares.json";
    pub const OPERATORS: &str = "operators.json";
    pub const TRANSCRIPT: &str = "transcript.jsonl";
    pub const SEALED_MASTER: &str = "sealed/master.seal";
    pub const MANIFEST: &str = "manifest.json";
    pub const MANIFEST_SIG: &str = "manifest.sig";
    /// Every file the manifest lists by hash, in the order they are written.
    pub const HASHED: [&str; 6] = [
        PLAN,
        OPERATORS,
        DEPOSIT_DATA,
        KEYSHARES,
        TRANSCRIPT,
        SEALED_MASTER,
    ];
}

/// `manifest.json`. `V` is its list of validators: the entries themselves (the default), or,
/// for the verifier, only what it needs of the whole list ([`ListSummary`], see
/// [`ManifestHead`]); the entries are then read again one at a time ([`ValidatorStream`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest<V = Vec<ValidatorEntry>> {
    pub format: String,
    pub ceremony_id: String,
    pub created_at: String,
    pub network: NetworkInfo,
    pub tool: ToolInfo,
    pub identity: IdentityInfo,
    pub master: MasterInfo,
    pub withdrawal: WithdrawalInfo,
    pub owner: OwnerInfo,
    pub operators: OperatorsInfo,
    pub validators: V,
    /// `0x`-prefixed root of the batch tree (`docs/merkle-leaf.md`).
    pub merkle_root: String,
    /// Head of `transcript.jsonl`.
    pub transcript_head: String,
    /// SHA-256 (hex) of every other file, by path relative to the bundle.
    pub files: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkInfo {
    pub name: String,
    /// Genesis fork version, hex without 0x (as in deposit data).
    pub fork_version: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToolInfo {
    pub name: String,
    pub version: String,
    /// Git commit the binary was built from, if known at build time.
    pub git_commit: Option<String>,
    /// SHA-256 of the executable that ran the ceremony.
    pub binary_sha256: String,
    /// SHA-256 of the `Cargo.lock` it was built with.
    pub cargo_lock_sha256: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentityInfo {
    pub algorithm: String,
    /// HSM label of the identity key.
    pub key_label: String,
    /// SEC1 uncompressed public key, hex.
    pub public_key: String,
    /// SHA-256 of the SEC1 uncompressed public key, hex.
    pub fingerprint: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MasterInfo {
    /// "hsm" (new master secret) or "mnemonic" (extended or recovered).
    pub seed_source: String,
    /// SHA-256 of the EIP-2333 master public key: a public name for the master secret.
    pub fingerprint: String,
    /// HSM label of the seal key that sealed it.
    pub seal_key_label: String,
    /// The seal backend of `sealed/master.seal` (`aes-256-gcm` or `rsa-oaep`); bundles made
    /// before there was a choice were all `aes-256-gcm`.
    #[serde(default = "default_seal_algorithm")]
    pub seal_algorithm: String,
    /// `rsa-oaep`: SHA-256 of the seal public key's SPKI DER, which the envelope must name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seal_key_sha256: Option<String>,
}

fn default_seal_algorithm() -> String {
    crate::seal::ALGORITHM.to_owned()
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WithdrawalInfo {
    pub address: String,
    /// "0x01" or "0x02".
    #[serde(rename = "type")]
    pub kind: String,
    /// Withdrawal credentials, hex without 0x (as in deposit data).
    pub credentials: String,
    pub amount_gwei: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OwnerInfo {
    pub address: String,
    pub first_nonce: u64,
    pub last_nonce: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OperatorsInfo {
    pub provenance: Option<Provenance>,
    /// Set when the plan accepted an operators file without provenance.
    pub unpinned_allowed: bool,
    pub list: Vec<OperatorInfo>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OperatorInfo {
    pub id: u64,
    /// SHA-256 of the key's DER, hex (what witnesses compare).
    pub fingerprint: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValidatorEntry {
    /// EIP-2334 index.
    pub index: u32,
    /// BLS public key, hex without 0x.
    pub pubkey: String,
    /// hex without 0x.
    pub deposit_data_root: String,
    pub owner_nonce: u64,
    /// SHA-256 of the sharesData bytes, hex.
    pub shares_data_sha256: String,
    /// Leaf of the batch tree, 0x-prefixed.
    pub merkle_leaf: String,
}

/// SHA-256 as lower-case hex.
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

impl Manifest {
    /// The exact bytes written to `manifest.json` (pretty JSON, trailing newline).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut s = serde_json::to_string_pretty(self).expect("manifest serializes");
        s.push('\n');
        s.into_bytes()
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self, Error> {
        checked(serde_json::from_slice(bytes))
    }

    /// [`Manifest::from_bytes`] from a reader (the whole input is read; only whitespace may
    /// follow the object).
    pub fn from_reader(r: impl std::io::Read) -> Result<Self, Error> {
        checked(serde_json::from_reader(r))
    }
}

impl<V> Manifest<V> {
    /// The manifest with its list replaced by `validators`.
    pub fn head_with<W>(&self, validators: W) -> Manifest<W> {
        let m = self;
        Manifest {
            format: m.format.clone(),
            ceremony_id: m.ceremony_id.clone(),
            created_at: m.created_at.clone(),
            network: m.network.clone(),
            tool: m.tool.clone(),
            identity: m.identity.clone(),
            master: m.master.clone(),
            withdrawal: m.withdrawal.clone(),
            owner: m.owner.clone(),
            operators: m.operators.clone(),
            validators,
            merkle_root: m.merkle_root.clone(),
            transcript_head: m.transcript_head.clone(),
            files: m.files.clone(),
        }
    }
}

/// The verifier's manifest: everything but the validators' list, of which only the count and
/// the repeated keys are kept ([`ListSummary`]). Reading it holds one entry at a time, plus a
/// 20-byte fingerprint per validator while the list is read (for the repeats).
pub type ManifestHead = Manifest<ListSummary>;

impl ManifestHead {
    /// Reads the manifest from `r` as [`Manifest::from_reader`] does (the same checks and the
    /// same errors), keeping only the summary of its list.
    pub fn read_head(r: impl std::io::Read) -> Result<Self, Error> {
        checked(serde_json::from_reader(r))
    }

    /// The manifest with the entries `validators` as its list.
    pub fn with_entries(&self, validators: Vec<ValidatorEntry>) -> Manifest {
        self.head_with(validators)
    }
}

fn checked<V>(parsed: Result<Manifest<V>, serde_json::Error>) -> Result<Manifest<V>, Error> {
    let m: Manifest<V> = parsed.map_err(|e| Error::Manifest {
        field: format!("line {} column {}", e.line(), e.column()),
        message: crate::printable(&e.to_string()),
    })?;
    if m.format != FORMAT {
        return Err(Error::Manifest {
            field: "format".into(),
            message: format!("expected {FORMAT:?}, found {:?}", m.format),
        });
    }
    Ok(m)
}

/// Which key of a validator entry repeats an earlier entry's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum RepeatedKey {
    Pubkey,
    MerkleLeaf,
}

impl RepeatedKey {
    /// The field's name in the manifest.
    pub fn field(self) -> &'static str {
        match self {
            RepeatedKey::Pubkey => "pubkey",
            RepeatedKey::MerkleLeaf => "merkle_leaf",
        }
    }
}

/// A validator entry whose key (compared without regard to case) an earlier entry has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Repeat {
    /// Position of the entry in the list.
    pub position: usize,
    pub key: RepeatedKey,
    /// Position of the nearest earlier entry with the same key.
    pub repeats: usize,
}

/// What the verifier keeps of the manifest's list of validators: their count, the first and
/// last EIP-2334 index, and the entries whose public key or Merkle leaf repeats an earlier one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListSummary {
    pub count: usize,
    pub first_index: Option<u32>,
    pub last_index: Option<u32>,
    /// In list order (the public key before the leaf of one entry).
    pub repeats: Vec<Repeat>,
}

impl ListSummary {
    pub fn len(&self) -> usize {
        self.count
    }
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }
}

impl<'de> Deserialize<'de> for ListSummary {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = ListSummary;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a sequence")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<ListSummary, A::Error> {
                let mut s = ListSummary::default();
                // A fingerprint of each key (SHA-256 of its lower-case text, 16 bytes) and its
                // position; sorted at the end, equal neighbours are the repeats.
                let mut keys: Vec<([u8; 16], u32)> = Vec::new();
                let mut leaves: Vec<([u8; 16], u32)> = Vec::new();
                let fp = |text: &str| -> [u8; 16] {
                    let d = Sha256::digest(text.to_ascii_lowercase().as_bytes());
                    d[..16].try_into().expect("16 of 32 bytes")
                };
                while let Some(v) = seq.next_element::<ValidatorEntry>()? {
                    let at = u32::try_from(s.count)
                        .map_err(|_| serde::de::Error::custom("more than 2^32 validators"))?;
                    keys.push((fp(&v.pubkey), at));
                    leaves.push((fp(&v.merkle_leaf), at));
                    s.first_index.get_or_insert(v.index);
                    s.last_index = Some(v.index);
                    s.count += 1;
                }
                for (list, key) in [
                    (&mut keys, RepeatedKey::Pubkey),
                    (&mut leaves, RepeatedKey::MerkleLeaf),
                ] {
                    list.sort_unstable();
                    for w in list.windows(2) {
                        if w[0].0 == w[1].0 {
                            s.repeats.push(Repeat {
                                position: w[1].1 as usize,
                                key,
                                repeats: w[0].1 as usize,
                            });
                        }
                    }
                }
                s.repeats.sort_unstable();
                Ok(s)
            }
        }
        d.deserialize_seq(Visit)
    }
}

/// The longest member of `manifest.json` other than its list of validators (the operators'
/// list of a large cluster, the files' hashes).
const MAX_MANIFEST_MEMBER: usize = 1 << 20;
/// The longest validator entry of `manifest.json`.
const MAX_VALIDATOR_ENTRY: usize = 4096;

/// The validator entries of `manifest.json`, read one at a time from `r` (the rest of the
/// object skipped): memory does not grow with the list.
pub struct ValidatorStream<R> {
    list: crate::jsonstream::ListInObject<R>,
    buf: Vec<u8>,
}

impl<R: std::io::BufRead> ValidatorStream<R> {
    pub fn new(r: R) -> Self {
        ValidatorStream {
            list: crate::jsonstream::ListInObject::named(
                r,
                "validators",
                MAX_VALIDATOR_ENTRY,
                MAX_MANIFEST_MEMBER,
            ),
            buf: Vec::new(),
        }
    }

    /// The next entry, `Ok(None)` after the last (then the whole object was read), or why the
    /// list cannot be read.
    pub fn next_entry(&mut self) -> Result<Option<ValidatorEntry>, String> {
        match self.list.next_into(&mut self.buf) {
            Ok(true) => serde_json::from_slice(&self.buf)
                .map(Some)
                .map_err(|e| format!("validators[{}]: {e}", self.list.count() - 1)),
            Ok(false) => Ok(None),
            Err(e) => Err(e.to_string()),
        }
    }

    pub fn into_inner(self) -> R {
        self.list.into_inner()
    }
}

/// Writes `manifest.json` exactly as [`Manifest::to_bytes`] would for `head` with `validators`
/// replaced by `entries`, taken one at a time: a ceremony of any size writes its manifest without
/// holding the validators' list (`head.validators` is ignored). An error of `entries` stops the
/// writing and is returned.
pub fn write_streamed<W, I>(head: &Manifest, entries: I, out: W) -> std::io::Result<()>
where
    W: std::io::Write,
    I: Iterator<Item = std::io::Result<ValidatorEntry>>,
{
    // The same fields in the same order as `Manifest` (a test compares the bytes), with the list
    // serialized from the iterator.
    #[derive(Serialize)]
    struct Streamed<'a, L: Serialize> {
        format: &'a str,
        ceremony_id: &'a str,
        created_at: &'a str,
        network: &'a NetworkInfo,
        tool: &'a ToolInfo,
        identity: &'a IdentityInfo,
        master: &'a MasterInfo,
        withdrawal: &'a WithdrawalInfo,
        owner: &'a OwnerInfo,
        operators: &'a OperatorsInfo,
        validators: L,
        merkle_root: &'a str,
        transcript_head: &'a str,
        files: &'a BTreeMap<String, String>,
    }
    struct List<I> {
        entries: std::cell::RefCell<Option<I>>,
        failed: std::cell::RefCell<Option<std::io::Error>>,
    }
    impl<I: Iterator<Item = std::io::Result<ValidatorEntry>>> Serialize for List<I> {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            use serde::ser::{Error as _, SerializeSeq};
            let entries = self.entries.borrow_mut().take();
            let mut seq = s.serialize_seq(None)?;
            for entry in entries.into_iter().flatten() {
                match entry {
                    Ok(e) => seq.serialize_element(&e)?,
                    Err(e) => {
                        let message = e.to_string();
                        *self.failed.borrow_mut() = Some(e);
                        return Err(S::Error::custom(message));
                    }
                }
            }
            seq.end()
        }
    }
    let list = List {
        entries: std::cell::RefCell::new(Some(entries)),
        failed: std::cell::RefCell::new(None),
    };
    let m = head;
    let streamed = Streamed {
        format: &m.format,
        ceremony_id: &m.ceremony_id,
        created_at: &m.created_at,
        network: &m.network,
        tool: &m.tool,
        identity: &m.identity,
        master: &m.master,
        withdrawal: &m.withdrawal,
        owner: &m.owner,
        operators: &m.operators,
        validators: &list,
        merkle_root: &m.merkle_root,
        transcript_head: &m.transcript_head,
        files: &m.files,
    };
    let mut out = out;
    if let Err(e) = serde_json::to_writer_pretty(&mut out, &streamed) {
        return Err(list.failed.into_inner().unwrap_or_else(|| e.into()));
    }
    out.write_all(b"\n")?;
    out.flush()
}

/// `manifest.sig`: the signature file's content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestSignature {
    pub algorithm: String,
    /// SEC1 uncompressed public key of the signer, hex.
    pub public_key: String,
    /// SHA-256 of `manifest.json`, hex.
    pub manifest_sha256: String,
    /// Raw `r ‖ s` (64 bytes), hex.
    pub signature: String,
}

impl ManifestSignature {
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut s = serde_json::to_string_pretty(self).expect("signature serializes");
        s.push('\n');
        s.into_bytes()
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self, Error> {
        serde_json::from_slice(bytes).map_err(|e| Error::Signature {
            message: crate::printable(&format!("manifest.sig: {e}")),
        })
    }

    /// Checks the signature over `manifest_bytes` with the public key it names.
    pub fn verify(&self, manifest_bytes: &[u8]) -> Result<(), Error> {
        self.verify_digest(&Sha256::digest(manifest_bytes).into())
    }

    /// [`ManifestSignature::verify`] given the SHA-256 of `manifest.json` (computed as it was
    /// read, so that the file need not be held).
    pub fn verify_digest(&self, digest: &[u8; 32]) -> Result<(), Error> {
        let fail = |message: String| Error::Signature { message };
        if self.algorithm != SIGNATURE_ALGORITHM {
            return Err(fail(format!(
                "algorithm {:?} is not {SIGNATURE_ALGORITHM:?}",
                self.algorithm
            )));
        }
        if hex::encode(digest) != self.manifest_sha256 {
            return Err(fail("manifest_sha256 does not match manifest.json".into()));
        }
        let pk = hex::decode(&self.public_key)
            .map_err(|e| fail(format!("public_key: not hex ({e})")))?;
        let vk = p256::ecdsa::VerifyingKey::from_sec1_bytes(&pk)
            .map_err(|_| fail("public_key: not a P-256 point".into()))?;
        let sig =
            hex::decode(&self.signature).map_err(|e| fail(format!("signature: not hex ({e})")))?;
        let sig = p256::ecdsa::Signature::from_slice(&sig)
            .map_err(|_| fail("signature: not a 64-byte r‖s P-256 signature".into()))?;
        // HSMs return either s; the ceremony writes the low one (kc-hsm normalises). Requiring it
        // leaves manifest.sig exactly one valid form.
        if sig.normalize_s().is_some() {
            return Err(fail(
                "signature: s is high; manifest signatures are written with low s".into(),
            ));
        }
        vk.verify_prehash(digest, &sig)
            .map_err(|_| fail("signature does not verify".into()))
    }
}

/// The fingerprint of a SEC1 public key as the manifest shows it.
pub fn key_fingerprint(sec1: &[u8]) -> String {
    sha256_hex(sec1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::ecdsa::signature::hazmat::PrehashSigner;
    use p256::ecdsa::SigningKey;

    fn sample(n: u32) -> Manifest {
        let text = include_str!("../../../../fuzz/seeds/bundle/manifest.json");
        let mut m = Manifest::from_bytes(text.as_bytes()).expect("example manifest");
        let first = m.validators[0].clone();
        m.validators = (0..n)
            .map(|i| ValidatorEntry {
                index: first.index + i,
                owner_nonce: first.owner_nonce + u64::from(i),
                ..first.clone()
            })
            .collect();
        m
    }

    #[test]
    fn a_streamed_manifest_is_byte_for_byte_the_manifest() {
        for n in [0, 1, 3] {
            let m = sample(n);
            let mut out = Vec::new();
            write_streamed(&m, m.validators.iter().cloned().map(Ok), &mut out).unwrap();
            assert_eq!(
                String::from_utf8(out).unwrap(),
                String::from_utf8(m.to_bytes()).unwrap()
            );
        }
    }

    #[test]
    fn an_error_of_the_entries_stops_the_streamed_manifest() {
        let m = sample(2);
        let entries = m
            .validators
            .iter()
            .cloned()
            .map(Ok)
            .chain(std::iter::once(Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "list cut short",
            ))));
        let err = write_streamed(&m, entries, Vec::new()).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::UnexpectedEof);
        assert!(err.to_string().contains("list cut short"), "{err}");
    }

    #[test]
    fn only_the_low_s_form_of_a_manifest_signature_verifies() {
        let sk = SigningKey::from_bytes(&[7u8; 32].into()).unwrap();
        let msg = b"{\"format\": \"kc-bundle/1\"}\n";
        let digest = Sha256::digest(msg);
        let sig: p256::ecdsa::Signature = sk.sign_prehash(&digest).unwrap();
        let low = sig.normalize_s().unwrap_or(sig);
        let (r, s) = low.split_scalars();
        let high = p256::ecdsa::Signature::from_scalars(r, -s).unwrap();
        let pk = hex::encode(sk.verifying_key().to_encoded_point(false).as_bytes());
        let file = |sig: &p256::ecdsa::Signature| ManifestSignature {
            algorithm: SIGNATURE_ALGORITHM.into(),
            public_key: pk.clone(),
            manifest_sha256: hex::encode(digest),
            signature: hex::encode(sig.to_bytes()),
        };
        assert!(file(&low).verify(msg).is_ok());
        let err = file(&high).verify(msg).unwrap_err().to_string();
        assert!(err.contains("s is high"), "{err}");
        assert!(file(&low).verify(b"another manifest").is_err());
    }
}
