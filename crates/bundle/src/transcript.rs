//! The ceremony transcript: `transcript.jsonl`, one JSON object per step, hash-chained.
//!
//! Each line is an [`Entry`]. Its `hash` is the SHA-256 of the line's canonical form, which is the
//! compact JSON of the entry with `hash` left out (fields in declaration order, maps sorted).
//! `prev` is the previous entry's hash (64 zeros for the first entry), so changing, dropping,
//! inserting or reordering any line breaks the chain. The head (the last hash) goes into the signed
//! manifest. Entries hold digests and public facts only, never a secret.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::Error;

/// The `prev` of the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One step of the ceremony.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// Position in the transcript, from 0.
    pub seq: u64,
    /// UTC time, RFC 3339.
    pub time: String,
    /// What happened, as a dotted name (`plan.loaded`, `hsm.preflight`, `validator.created`, ...).
    pub step: String,
    /// Who did it: the tool, or a named person (witness, administrator).
    pub actor: String,
    /// Digests of what the step read (name → hex SHA-256).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub inputs: BTreeMap<String, String>,
    /// Digests of what the step produced (name → hex SHA-256).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub outputs: BTreeMap<String, String>,
    /// Public facts of the step (counts, labels, public keys, attestation).
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub details: serde_json::Value,
    /// Hash of the previous entry.
    pub prev: String,
    /// SHA-256 of this entry's canonical form (everything above).
    pub hash: String,
}

#[derive(Serialize)]
struct Canonical<'a> {
    seq: u64,
    time: &'a str,
    step: &'a str,
    actor: &'a str,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    inputs: &'a BTreeMap<String, String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    outputs: &'a BTreeMap<String, String>,
    #[serde(skip_serializing_if = "serde_json::Value::is_null")]
    details: &'a serde_json::Value,
    prev: &'a str,
}

impl Entry {
    /// The hash this entry should carry.
    pub fn compute_hash(&self) -> String {
        let canonical = Canonical {
            seq: self.seq,
            time: &self.time,
            step: &self.step,
            actor: &self.actor,
            inputs: &self.inputs,
            outputs: &self.outputs,
            details: &self.details,
            prev: &self.prev,
        };
        let bytes = serde_json::to_vec(&canonical).expect("transcript entries serialize");
        hex::encode(Sha256::digest(bytes))
    }
}

/// A step to append: what the caller says; the transcript adds seq, time, prev and hash.
#[derive(Debug, Clone, Default)]
pub struct Step {
    pub step: String,
    pub actor: String,
    pub inputs: BTreeMap<String, String>,
    pub outputs: BTreeMap<String, String>,
    pub details: serde_json::Value,
}

impl Step {
    pub fn new(step: impl Into<String>, actor: impl Into<String>) -> Self {
        Self {
            step: step.into(),
            actor: actor.into(),
            ..Self::default()
        }
    }
    pub fn input(mut self, name: impl Into<String>, digest: impl Into<String>) -> Self {
        self.inputs.insert(name.into(), digest.into());
        self
    }
    pub fn output(mut self, name: impl Into<String>, digest: impl Into<String>) -> Self {
        self.outputs.insert(name.into(), digest.into());
        self
    }
    pub fn details(mut self, details: serde_json::Value) -> Self {
        self.details = details;
        self
    }
}

/// A transcript being written: entries in memory, serialized once at the end.
#[derive(Debug, Clone, Default)]
pub struct Transcript {
    entries: Vec<Entry>,
}

/// The current UTC time as RFC 3339 with seconds.
pub fn now_rfc3339() -> String {
    let now = time::OffsetDateTime::now_utc();
    now.replace_nanosecond(0)
        .unwrap_or(now)
        .format(&time::format_description::well_known::Rfc3339)
        .expect("UTC time formats as RFC 3339")
}

impl Transcript {
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a step at the current time and returns the new head.
    pub fn append(&mut self, step: Step) -> &Entry {
        self.append_at(step, now_rfc3339())
    }

    /// Appends a step with a given time (tests and replays).
    pub fn append_at(&mut self, step: Step, time: String) -> &Entry {
        let prev = self.head().to_owned();
        let mut entry = Entry {
            seq: self.entries.len() as u64,
            time,
            step: step.step,
            actor: step.actor,
            inputs: step.inputs,
            outputs: step.outputs,
            details: step.details,
            prev,
            hash: String::new(),
        };
        entry.hash = entry.compute_hash();
        self.entries.push(entry);
        self.entries.last().expect("just pushed")
    }

    /// The hash of the last entry ([`GENESIS`] when empty).
    pub fn head(&self) -> &str {
        self.entries.last().map_or(GENESIS, |e| e.hash.as_str())
    }

    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// The JSON Lines text: one compact object per line, each line ending in `\n`.
    pub fn to_jsonl(&self) -> String {
        let mut out = String::new();
        for e in &self.entries {
            out.push_str(&serde_json::to_string(e).expect("transcript entries serialize"));
            out.push('\n');
        }
        out
    }

    /// Parses and checks a transcript: every line an entry, seq consecutive from 0, every hash
    /// right and every `prev` the previous hash. Errors name the line.
    pub fn parse_and_verify(text: &str) -> Result<Self, Error> {
        let mut entries = Vec::new();
        let mut prev = GENESIS.to_owned();
        for (i, line) in text.split_terminator('\n').enumerate() {
            let line_no = i + 1;
            // Messages quote the entry's own fields: escaped (kc_bundle::printable).
            let bad = |message: String| Error::Transcript {
                line: line_no,
                message: crate::printable(&message),
            };
            let entry: Entry = serde_json::from_str(line)
                .map_err(|e| bad(format!("not a transcript entry: {e}")))?;
            if entry.seq != i as u64 {
                return Err(bad(format!("seq is {}, expected {i}", entry.seq)));
            }
            if entry.prev != prev {
                return Err(bad(format!("prev is {}, expected {prev}", entry.prev)));
            }
            let computed = entry.compute_hash();
            if entry.hash != computed {
                return Err(bad(format!("hash is {}, computed {computed}", entry.hash)));
            }
            if serde_json::to_string(&entry).ok().as_deref() != Some(line) {
                return Err(bad("line is not in canonical form".to_owned()));
            }
            prev = entry.hash.clone();
            entries.push(entry);
        }
        if !text.is_empty() && !text.ends_with('\n') {
            return Err(Error::Transcript {
                line: entries.len(),
                message: "last line does not end with a newline".to_owned(),
            });
        }
        if entries.is_empty() {
            return Err(Error::Transcript {
                line: 0,
                message: "transcript is empty".to_owned(),
            });
        }
        Ok(Self { entries })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Transcript {
        let mut t = Transcript::new();
        t.append_at(
            Step::new("plan.loaded", "ceremony").input("plan.toml", "ab".repeat(32)),
            "2026-11-25T10:00:00Z".into(),
        );
        t.append_at(
            Step::new("witness.recorded", "Alice").details(serde_json::json!({"role": "witness"})),
            "2026-11-25T10:00:01Z".into(),
        );
        t.append_at(
            Step::new("bundle.written", "ceremony").output("x", "cd".repeat(32)),
            "2026-11-25T10:00:02Z".into(),
        );
        t
    }

    #[test]
    fn roundtrip_verifies_and_keeps_head() {
        let t = sample();
        let parsed = Transcript::parse_and_verify(&t.to_jsonl()).unwrap();
        assert_eq!(parsed.head(), t.head());
        assert_eq!(parsed.entries(), t.entries());
        assert_eq!(t.entries()[0].prev, GENESIS);
    }

    #[test]
    fn every_single_byte_change_is_detected() {
        let text = sample().to_jsonl();
        let head = sample().head().to_owned();
        for i in 0..text.len() {
            let mut bytes = text.clone().into_bytes();
            bytes[i] ^= 0x01;
            let Ok(s) = String::from_utf8(bytes) else {
                continue;
            };
            match Transcript::parse_and_verify(&s) {
                Err(_) => {}
                Ok(t) => panic!(
                    "byte {i} changed and still verified (head {} vs {head})",
                    t.head()
                ),
            }
        }
    }

    #[test]
    fn dropped_or_swapped_lines_are_detected() {
        let text = sample().to_jsonl();
        let lines: Vec<&str> = text.lines().collect();
        let dropped = format!("{}\n{}\n", lines[0], lines[2]);
        assert!(matches!(
            Transcript::parse_and_verify(&dropped),
            Err(Error::Transcript { line: 2, .. })
        ));
        let swapped = format!("{}\n{}\n{}\n", lines[1], lines[0], lines[2]);
        assert!(Transcript::parse_and_verify(&swapped).is_err());
        assert!(Transcript::parse_and_verify("").is_err());
    }
}
