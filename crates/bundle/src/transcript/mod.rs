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

pub mod steps;
pub use steps::Payload;

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
        let entry = Entry::chained(
            self.entries.len() as u64,
            self.head().to_owned(),
            time,
            step,
        );
        self.entries.push(entry);
        self.entries.last().expect("just pushed")
    }

    /// Writes the entries so far to `out` and goes on there one line per step, keeping only
    /// the head in memory (a transcript of many validators need not be held whole).
    pub fn into_writer<W: std::io::Write>(
        self,
        mut out: W,
    ) -> std::io::Result<TranscriptWriter<W>> {
        for e in &self.entries {
            write_line(&mut out, e)?;
        }
        Ok(TranscriptWriter {
            out,
            seq: self.entries.len() as u64,
            head: self.head().to_owned(),
            error: None,
        })
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
        stream_verify(text.as_bytes(), text.len(), |e| {
            entries.push(e);
            Ok(())
        })?;
        Ok(Self { entries })
    }
}

impl Entry {
    /// The entry `step` at position `seq` after `prev`, with its hash.
    fn chained(seq: u64, prev: String, time: String, step: Step) -> Entry {
        let mut entry = Entry {
            seq,
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
        entry
    }
}

fn write_line(out: &mut impl std::io::Write, e: &Entry) -> std::io::Result<()> {
    serde_json::to_writer(&mut *out, e)?;
    out.write_all(b"\n")
}

/// A transcript written one line per step as it goes ([`Transcript::into_writer`]). A write
/// error is kept and returned by [`TranscriptWriter::finish`] (nothing is written after it).
#[derive(Debug)]
pub struct TranscriptWriter<W: std::io::Write> {
    out: W,
    seq: u64,
    head: String,
    error: Option<std::io::Error>,
}

impl<W: std::io::Write> TranscriptWriter<W> {
    /// Appends a step at the current time and returns the new head.
    pub fn append(&mut self, step: Step) -> &str {
        self.append_at(step, now_rfc3339())
    }

    /// Appends a step with a given time and returns the new head.
    pub fn append_at(&mut self, step: Step, time: String) -> &str {
        let entry = Entry::chained(self.seq, std::mem::take(&mut self.head), time, step);
        if self.error.is_none() {
            if let Err(e) = write_line(&mut self.out, &entry) {
                self.error = Some(e);
            }
        }
        self.seq += 1;
        self.head = entry.hash;
        &self.head
    }

    /// The hash of the last entry.
    pub fn head(&self) -> &str {
        &self.head
    }

    /// The writer after the last line, or the first write error.
    pub fn finish(self) -> std::io::Result<W> {
        match self.error {
            Some(e) => Err(e),
            None => Ok(self.out),
        }
    }
}

/// Checks a transcript read from `input` line by line, with at most `max_line` bytes per line,
/// handing each checked entry to `each` (which may refuse it); returns the head and the number
/// of entries. Memory does not grow with the number of lines. Errors name the line.
pub fn stream_verify(
    mut input: impl std::io::BufRead,
    max_line: usize,
    mut each: impl FnMut(Entry) -> Result<(), Error>,
) -> Result<(String, usize), Error> {
    use std::io::{BufRead as _, Read as _};
    let mut prev = GENESIS.to_owned();
    let mut line = Vec::new();
    let mut i = 0usize;
    loop {
        line.clear();
        let n = (&mut input)
            .take(max_line as u64 + 1)
            .read_until(b'\n', &mut line)
            .map_err(|e| Error::Transcript {
                line: i + 1,
                message: crate::printable(&format!("cannot read: {e}")),
            })?;
        if n == 0 {
            break;
        }
        let line_no = i + 1;
        // Messages quote the entry's own fields: escaped (kc_bundle::printable).
        let bad = |message: String| Error::Transcript {
            line: line_no,
            message: crate::printable(&message),
        };
        if line.last() != Some(&b'\n') {
            if line.len() > max_line {
                return Err(bad(format!("longer than {max_line} bytes")));
            }
            return Err(bad("the last line does not end with a newline".to_owned()));
        }
        let text = std::str::from_utf8(&line[..line.len() - 1])
            .map_err(|e| bad(format!("not UTF-8: {e}")))?;
        let entry: Entry =
            serde_json::from_str(text).map_err(|e| bad(format!("not a transcript entry: {e}")))?;
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
        if serde_json::to_string(&entry).ok().as_deref() != Some(text) {
            return Err(bad("line is not in canonical form".to_owned()));
        }
        prev.clone_from(&entry.hash);
        each(entry)?;
        i += 1;
    }
    if i == 0 {
        return Err(Error::Transcript {
            line: 0,
            message: "transcript is empty".to_owned(),
        });
    }
    Ok((prev, i))
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
    fn a_written_transcript_is_the_same_text_and_head() {
        let t = sample();
        let mut first = Transcript::new();
        first.append_at(
            Step::new("plan.loaded", "ceremony").input("plan.toml", "ab".repeat(32)),
            "2026-11-25T10:00:00Z".into(),
        );
        let mut w = first.into_writer(Vec::new()).unwrap();
        w.append_at(
            Step::new("witness.recorded", "Alice").details(serde_json::json!({"role": "witness"})),
            "2026-11-25T10:00:01Z".into(),
        );
        w.append_at(
            Step::new("bundle.written", "ceremony").output("x", "cd".repeat(32)),
            "2026-11-25T10:00:02Z".into(),
        );
        assert_eq!(w.head(), t.head());
        assert_eq!(
            String::from_utf8(w.finish().unwrap()).unwrap(),
            t.to_jsonl()
        );
        // Streamed back, line by line.
        let text = t.to_jsonl();
        let mut steps = Vec::new();
        let (head, n) = stream_verify(text.as_bytes(), 4096, |e| {
            steps.push(e.step);
            Ok(())
        })
        .unwrap();
        assert_eq!((head.as_str(), n), (t.head(), 3));
        assert_eq!(steps, ["plan.loaded", "witness.recorded", "bundle.written"]);
        // A line longer than allowed is refused, naming it.
        assert!(matches!(
            stream_verify(text.as_bytes(), 100, |_| Ok(())),
            Err(Error::Transcript { line: 1, .. })
        ));
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

    #[test]
    fn an_unterminated_last_line_is_refused_at_its_own_line() {
        let text = sample().to_jsonl();
        // The whole third entry, without its newline: refused at line 3, not at line 2.
        let cut = &text[..text.len() - 1];
        match Transcript::parse_and_verify(cut) {
            Err(Error::Transcript { line: 3, message }) => {
                assert!(message.contains("newline"), "{message}")
            }
            other => panic!("{other:?}"),
        }
        // One byte with no newline at all is line 1 (fuzz target `transcript`: errors name a
        // line within the text).
        assert!(matches!(
            Transcript::parse_and_verify("x"),
            Err(Error::Transcript { line: 1, .. })
        ));
    }
}
