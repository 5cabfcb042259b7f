//! `transcript.jsonl` read line by line: its chain, and its public facts against the signed
//! manifest (the plan and files it recorded, the master, the identity, and every
//! `validator.created` entry beside the manifest's list, in order).

use std::collections::BTreeMap;
use std::io::BufReader;
use std::path::Path;

use crate::bounded;
use crate::manifest::{self, files, Manifest, ManifestHead, ValidatorEntry};
use crate::transcript::steps::{
    CeremonyStarted, FilesWritten, HsmKeys, KeyRecord, MasterReady, MasterSealed, PayloadError,
    ValidatorCreated,
};
#[cfg(test)]
use crate::transcript::Transcript;
use crate::transcript::{self, Entry, Payload};

use super::list::ListReader;
use super::Checker;

/// `transcript.jsonl` read line by line: its chain checked, its content compared with the
/// manifest on the way (only the few non-validator entries are kept).
pub(super) struct TranscriptRead<'m> {
    pub(super) sha256: String,
    pub(super) outcome: Result<(String, usize), crate::Error>,
    pub(super) check: TranscriptCheck<'m, manifest::ListSummary>,
    /// The manifest's list as read beside the transcript: unchanged, or why not.
    pub(super) list: Result<(), String>,
}

/// The longest transcript line read (the ceremony's longest, `hsm.token` or `ceremony.started`
/// with many witnesses, is a few KiB).
pub(super) const MAX_TRANSCRIPT_LINE: usize = 1 << 20;

pub(super) fn check_transcript_file<'m>(
    dir: &Path,
    m: &'m ManifestHead,
    manifest_sha256: &[u8; 32],
    cap: &bounded::Cap,
    keep_all: bool,
) -> Result<TranscriptRead<'m>, bounded::ReadError> {
    let file = bounded::open(&dir.join(files::TRANSCRIPT), cap)?;
    let mut reader = BufReader::with_capacity(1 << 16, file);
    let mut list = ListReader::open(dir, manifest_sha256);
    let mut check = TranscriptCheck::new(m, m.validators.len());
    if keep_all {
        check.all = Some(Vec::new());
    }
    let outcome = transcript::stream_verify(&mut reader, MAX_TRANSCRIPT_LINE, |e| {
        check.entry(e, &mut list);
        Ok(())
    });
    let mut file = reader.into_inner();
    let sha256 = file.hash_rest()?;
    Ok(TranscriptRead {
        sha256,
        outcome,
        check,
        list: list.finish(),
    })
}

/// The transcript's public facts agree with the signed manifest: the plan and files it recorded,
/// the master fingerprint, the identity key, and every `validator.created` entry (in order) with
/// the manifest's validator of the same position. Fed one entry at a time: only the entries
/// that are not `validator.created` are kept.
pub(super) struct TranscriptCheck<'m, V> {
    pub(super) m: &'m Manifest<V>,
    /// The manifest's count of validators.
    pub(super) count: usize,
    pub(super) created: usize,
    pub(super) created_fails: Vec<(String, String)>,
    pub(super) kept: Vec<Entry>,
    /// Every entry in order, when asked for (the audit report).
    pub(super) all: Option<Vec<Entry>>,
}

impl<'m, V> TranscriptCheck<'m, V> {
    pub(super) fn new(m: &'m Manifest<V>, count: usize) -> Self {
        TranscriptCheck {
            m,
            count,
            created: 0,
            created_fails: Vec::new(),
            kept: Vec::new(),
            all: None,
        }
    }

    /// The next transcript entry; `list` gives the manifest's validators in order.
    pub(super) fn entry(&mut self, e: Entry, list: &mut impl Iterator<Item = ValidatorEntry>) {
        if let Some(all) = &mut self.all {
            all.push(e.clone());
        }
        if e.step != ValidatorCreated::STEP {
            self.kept.push(e);
            return;
        }
        let i = self.created;
        self.created += 1;
        let Some(v) = list.next() else {
            return;
        };
        if !ValidatorCreated::matches(&e, &v) && self.created_fails.len() < 100 {
            self.created_fails.push((
                format!("validator.created[{i}] (seq {})", e.seq),
                format!(
                    "does not match manifest validators[{i}] (index {}, pubkey {})",
                    v.index, v.pubkey
                ),
            ));
        }
    }

    /// What the `ceremony.started` entry recorded: `None` when there is no such entry, the
    /// payload or why its details do not parse otherwise.
    pub(super) fn started(&self) -> Option<Result<CeremonyStarted, PayloadError>> {
        self.kept
            .iter()
            .find(|e| e.step == CeremonyStarted::STEP)
            .map(Entry::payload)
    }

    pub(super) fn record(self, c: &mut Checker) {
        let m = self.m;
        let mut fails = check_transcript_facts(&self.kept, m);
        if self.created != self.count {
            fails.push((
                "validator.created".into(),
                format!(
                    "{} entries, manifest lists {} validators",
                    self.created, self.count
                ),
            ));
        }
        fails.extend(self.created_fails);
        c.group(
            "transcript.manifest",
            files::TRANSCRIPT,
            fails,
            format!(
                "transcript agrees with the manifest ({} validators, files, master, identity)",
                self.created
            ),
        );
    }
}

/// [`TranscriptCheck`] of a whole transcript in memory.
#[cfg(test)]
pub(super) fn check_transcript_vs_manifest(tr: &Transcript, m: &Manifest, c: &mut Checker) {
    let mut check = TranscriptCheck::new(m, m.validators.len());
    let mut list = m.validators.iter().cloned();
    for e in tr.entries() {
        check.entry(e.clone(), &mut list);
    }
    check.record(c);
}

/// The steps other than `validator.created` against the manifest: each read as its payload
/// type (`transcript::steps`), a step whose details do not parse named with why.
pub(super) fn check_transcript_facts<V>(
    entries: &[Entry],
    m: &Manifest<V>,
) -> Vec<(String, String)> {
    let mut fails: Vec<(String, String)> = Vec::new();
    let one = |step: &str, fails: &mut Vec<(String, String)>| {
        let found: Vec<_> = entries.iter().filter(|e| e.step == step).collect();
        if found.len() != 1 {
            fails.push((
                step.to_owned(),
                format!("{} entries, expected exactly one", found.len()),
            ));
        }
        found.into_iter().next()
    };
    fn parsed<P: Payload>(e: &Entry, fails: &mut Vec<(String, String)>) -> Option<P> {
        e.payload::<P>()
            .map_err(|err| fails.push((format!("{}.details", e.step), err.to_string())))
            .ok()
    }
    let file_hash = |name: &str| m.files.get(name).map(String::as_str).unwrap_or("");
    let digest = |step: &str,
                  map: &BTreeMap<String, String>,
                  name: &str,
                  fails: &mut Vec<(String, String)>| {
        let got = map.get(name).map(String::as_str).unwrap_or("(missing)");
        if got != file_hash(name) {
            fails.push((
                format!("{step}.{name}"),
                format!("{got}, manifest files.{name} is {}", file_hash(name)),
            ));
        }
    };
    if let Some(e) = one(CeremonyStarted::STEP, &mut fails) {
        digest(e.step.as_str(), &e.inputs, files::PLAN, &mut fails);
        digest(e.step.as_str(), &e.inputs, files::OPERATORS, &mut fails);
        if let Some(d) = parsed::<CeremonyStarted>(e, &mut fails) {
            if d.ceremony_id != m.ceremony_id {
                fails.push((
                    "ceremony.started.ceremony_id".into(),
                    format!("{:?}, manifest says {}", d.ceremony_id, m.ceremony_id),
                ));
            }
        }
    }
    if let Some(e) = one(HsmKeys::STEP, &mut fails) {
        if let Some(d) = parsed::<HsmKeys>(e, &mut fails) {
            if d.identity_public_key != m.identity.public_key {
                fails.push((
                    "hsm.keys.identity_public_key".into(),
                    "differs from manifest identity.public_key".into(),
                ));
            }
            // The attested seal key is of the manifest's backend: an AES key seals
            // aes-256-gcm, an RSA key rsa-oaep.
            let want = if m.master.seal_algorithm == crate::seal::ALGORITHM_RSA_OAEP {
                "CKK_RSA"
            } else {
                "CKK_AES"
            };
            let got = d.seal.as_ref().and_then(KeyRecord::key_type);
            if got != Some(want) {
                fails.push((
                    "hsm.keys.seal.key_type".into(),
                    format!(
                        "{}, a {} seal key is {want}",
                        got.map_or_else(|| "null".to_owned(), |t| format!("{t:?}")),
                        m.master.seal_algorithm
                    ),
                ));
            }
        }
    }
    if let Some(e) = one(MasterReady::STEP, &mut fails) {
        if let Some(d) = parsed::<MasterReady>(e, &mut fails) {
            if d.fingerprint != m.master.fingerprint {
                fails.push((
                    "master.ready.fingerprint".into(),
                    format!(
                        "{:?}, manifest master.fingerprint is {}",
                        d.fingerprint, m.master.fingerprint
                    ),
                ));
            }
        }
    }
    if let Some(e) = one(FilesWritten::STEP, &mut fails) {
        for name in [
            files::PLAN,
            files::OPERATORS,
            files::DEPOSIT_DATA,
            files::KEYSHARES,
        ] {
            digest(e.step.as_str(), &e.outputs, name, &mut fails);
        }
    }
    if let Some(e) = one(MasterSealed::STEP, &mut fails) {
        digest(
            e.step.as_str(),
            &e.outputs,
            files::SEALED_MASTER,
            &mut fails,
        );
        if let Some(d) = parsed::<MasterSealed>(e, &mut fails) {
            if d.algorithm != m.master.seal_algorithm {
                fails.push((
                    "master.sealed.algorithm".into(),
                    format!(
                        "{:?}, manifest master.seal_algorithm is {}",
                        d.algorithm, m.master.seal_algorithm
                    ),
                ));
            }
        }
    }
    fails
}
