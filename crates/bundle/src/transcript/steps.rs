//! The transcript's step payloads as types: what each step's `details` holds. The ceremony writes
//! them ([`Step::of`]), the verifier and the audit report read them back ([`Entry::payload`]);
//! neither side spells a field name.
//!
//! A payload is turned into the entry's `details` through `serde_json::Value`, whose objects are
//! sorted by key: the bytes of a line (and so its hash) do not depend on the order of a type's
//! fields, only on their names and values, which are those the ceremony has always written —
//! transcripts written before these types existed parse and verify
//! (`a_transcript_written_before_the_typed_steps_parses_and_reserialises_exactly`). Fields the
//! ceremony writes as `null` are `Option`s without `skip_serializing_if`; fields a step kind
//! leaves out are skipped when `None`.
//!
//! What another crate defines and this one only records (the token's and the keys' attestation
//! by `kc-hsm`, the HSM preflight trial, the ledger of earlier bundles) is kept as the JSON that
//! crate serialises: shown whole by the report, never decided on, except the one field the
//! verifier reads (a seal key's `key_type`, [`KeyRecord::key_type`]).

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Entry, Step};
use crate::manifest::{ToolInfo, ValidatorEntry};
use crate::plan::OperatorsChain;

/// A step's `details`, typed, with the dotted name of the step that carries it.
pub trait Payload: Serialize + DeserializeOwned {
    /// The step name (`ceremony.started`, `validator.created`, ...).
    const STEP: &'static str;
}

/// Why an entry's details are not the payload asked for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayloadError {
    /// The entry is another step.
    #[error("step {found}, expected {expected}")]
    OtherStep {
        expected: &'static str,
        found: String,
    },
    /// The details do not have the payload's shape.
    #[error("{step}: details: {message}")]
    Shape { step: &'static str, message: String },
}

impl Step {
    /// The step that records `payload`, done by `actor`.
    pub fn of<P: Payload>(actor: impl Into<String>, payload: &P) -> Step {
        Step::new(P::STEP, actor)
            .details(serde_json::to_value(payload).expect("step payloads serialize"))
    }
}

impl Entry {
    /// This entry's details as `P`, if the entry is `P`'s step and its details have `P`'s
    /// shape (unknown extra fields are tolerated: the hash chain, not the type, fixes the bytes).
    pub fn payload<P: Payload>(&self) -> Result<P, PayloadError> {
        if self.step != P::STEP {
            return Err(PayloadError::OtherStep {
                expected: P::STEP,
                found: self.step.clone(),
            });
        }
        P::deserialize(&self.details).map_err(|e| PayloadError::Shape {
            step: P::STEP,
            message: e.to_string(),
        })
    }
}

/// The ceremony's process hardening (`ceremony::hygiene`), as recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Process {
    pub core_dumps_disabled: bool,
    pub not_dumpable: bool,
    pub memory_locked: bool,
}

/// `ceremony.started` of a staking ceremony: what it starts from (the plan and operators file
/// are the step's inputs, by hash).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CeremonyStarted {
    pub ceremony_id: String,
    /// The plan's network name.
    pub network: String,
    pub validators: u32,
    pub start_index: u32,
    /// The owner address, EIP-55.
    pub owner: String,
    pub first_nonce: u64,
    /// How the operators' provenance relates to the network (absent in bundles made before it
    /// was recorded: the verifier then reports it missing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operators_chain: Option<OperatorsChain>,
    pub tool: ToolInfo,
    pub process: Process,
}
impl Payload for CeremonyStarted {
    const STEP: &'static str = "ceremony.started";
}

/// `ceremony.started` of a reshare ceremony.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReshareStarted {
    /// Always [`crate::reshare::KIND`].
    pub kind: String,
    pub ceremony_id: String,
    pub validators: usize,
    pub owner: String,
    pub first_nonce: u64,
    pub new_operator_ids: Vec<u64>,
    pub tool: ToolInfo,
    pub process: Process,
}
impl Payload for ReshareStarted {
    const STEP: &'static str = "ceremony.started";
}

/// `people.recorded`: who was in the room.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeopleRecorded {
    pub administrator: Option<String>,
    pub witnesses: Vec<String>,
}
impl Payload for PeopleRecorded {
    const STEP: &'static str = "people.recorded";
}

/// `hsm.token`: the token's attestation (`kc_hsm::TokenAttestation`). The fields the report
/// shows are typed; anything else the token reported is kept in `other`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HsmToken {
    pub label: String,
    pub manufacturer: String,
    pub model: String,
    pub serial: String,
    pub firmware_version: String,
    pub hardware_version: String,
    /// The PKCS#11 module (`C_GetInfo`), field by field.
    pub library: BTreeMap<String, Value>,
    /// The mechanisms used, each checked.
    pub mechanisms: Vec<Mechanism>,
    #[serde(flatten)]
    pub other: BTreeMap<String, Value>,
}
impl Payload for HsmToken {
    const STEP: &'static str = "hsm.token";
}

/// One mechanism of [`HsmToken`] (`kc_hsm::PreflightItem`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Mechanism {
    pub name: String,
    pub purpose: String,
    pub supported: bool,
    #[serde(flatten)]
    pub other: BTreeMap<String, Value>,
}

/// `hsm.preflight_trial`: the trial of the token's mechanisms on session objects, as `kc-hsm`
/// reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PreflightTrial(pub Value);
impl Payload for PreflightTrial {
    const STEP: &'static str = "hsm.preflight_trial";
}

/// One key's attestation (`kc_hsm::KeyAttestation`), attribute by attribute.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct KeyRecord(pub BTreeMap<String, Value>);

impl KeyRecord {
    /// `CKA_KEY_TYPE` as the token reported it (`CKK_AES`, `CKK_RSA`, `CKK_EC`).
    pub fn key_type(&self) -> Option<&str> {
        self.0.get("key_type").and_then(Value::as_str)
    }
}

/// `hsm.keys`: the keys the ceremony uses, attested. A reshare records only its identity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HsmKeys {
    pub identity: KeyRecord,
    /// The identity public key, SEC1 hex: the one the manifest names.
    pub identity_public_key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seal: Option<KeyRecord>,
    /// The seal backend (`kc_hsm::SealInfo`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seal_backend: Option<BTreeMap<String, Value>>,
}
impl Payload for HsmKeys {
    const STEP: &'static str = "hsm.keys";
}

/// `source.verified` (reshare): the bundle whose validators move, verified.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceVerified {
    pub ceremony_id: String,
    pub manifest_sha256: String,
    pub merkle_root: String,
    pub operator_ids: Vec<u64>,
}
impl Payload for SourceVerified {
    const STEP: &'static str = "source.verified";
}

/// `ledger.checked`: the earlier bundles whose indices and nonces were checked, as the
/// ceremony's ledger summarises them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct LedgerChecked(pub Value);
impl Payload for LedgerChecked {
    const STEP: &'static str = "ledger.checked";
}

/// `master.ready`: where the master secret came from, and its public fingerprint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MasterReady {
    /// `hsm`, `mnemonic` or `recovered:<ceremony id>`.
    pub source: String,
    pub fingerprint: String,
}
impl Payload for MasterReady {
    const STEP: &'static str = "master.ready";
}

/// `master.paper_backup_shown`: that the mnemonic was shown, of how many words, to whom (never
/// a word of it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaperBackupShown {
    pub words: usize,
    pub witnesses: Vec<String>,
}
impl Payload for PaperBackupShown {
    const STEP: &'static str = "master.paper_backup_shown";
}

/// The output name of a validator step: the SHA-256 of its `sharesData`.
pub const SHARES_DATA_OUTPUT: &str = "sharesData";

/// `validator.created`: one validator as the manifest lists it (its `sharesData` hash is the
/// step's output [`SHARES_DATA_OUTPUT`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValidatorCreated {
    pub index: u32,
    pub pubkey: String,
    pub deposit_data_root: String,
    pub owner_nonce: u64,
    pub merkle_leaf: String,
}
impl Payload for ValidatorCreated {
    const STEP: &'static str = "validator.created";
}

impl ValidatorCreated {
    /// The step of the manifest's entry `v`: what the ceremony writes, and what the verifier
    /// expects beside that entry.
    pub fn of(v: &ValidatorEntry) -> Self {
        ValidatorCreated {
            index: v.index,
            pubkey: v.pubkey.clone(),
            deposit_data_root: v.deposit_data_root.clone(),
            owner_nonce: v.owner_nonce,
            merkle_leaf: v.merkle_leaf.clone(),
        }
    }

    /// The transcript step for the manifest's entry `v`.
    pub fn step(v: &ValidatorEntry) -> Step {
        Step::of("ceremony", &Self::of(v)).output(SHARES_DATA_OUTPUT, v.shares_data_sha256.clone())
    }

    /// Whether `e` is the step [`ValidatorCreated::step`] makes for `v`.
    pub fn matches(e: &Entry, v: &ValidatorEntry) -> bool {
        e.payload::<Self>().is_ok_and(|d| d == Self::of(v))
            && e.outputs.get(SHARES_DATA_OUTPUT) == Some(&v.shares_data_sha256)
    }
}

/// `validator.reshared`: one validator's new shares as the reshare manifest lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValidatorReshared {
    pub index: u32,
    pub pubkey: String,
    pub owner_nonce: u64,
    pub merkle_leaf: String,
}
impl Payload for ValidatorReshared {
    const STEP: &'static str = "validator.reshared";
}

impl ValidatorReshared {
    /// The step of the reshare manifest's entry `v`.
    pub fn of(v: &crate::reshare::ReshareValidator) -> Self {
        ValidatorReshared {
            index: v.index,
            pubkey: v.pubkey.clone(),
            owner_nonce: v.owner_nonce,
            merkle_leaf: v.merkle_leaf.clone(),
        }
    }

    /// The transcript step for the reshare manifest's entry `v`.
    pub fn step(v: &crate::reshare::ReshareValidator) -> Step {
        Step::of("ceremony", &Self::of(v)).output(SHARES_DATA_OUTPUT, v.shares_data_sha256.clone())
    }

    /// Whether `e` is the step [`ValidatorReshared::step`] makes for `v`.
    pub fn matches(e: &Entry, v: &crate::reshare::ReshareValidator) -> bool {
        e.payload::<Self>().is_ok_and(|d| d == Self::of(v))
            && e.outputs.get(SHARES_DATA_OUTPUT) == Some(&v.shares_data_sha256)
    }
}

/// `files.written`: no details; its outputs are the written files' SHA-256 by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FilesWritten;
impl Payload for FilesWritten {
    const STEP: &'static str = "files.written";
}

impl FilesWritten {
    /// The step recording `files` (name → SHA-256 hex).
    pub fn step<'a>(files: impl IntoIterator<Item = (&'a str, String)>) -> Step {
        files
            .into_iter()
            .fold(Step::of("ceremony", &FilesWritten), |s, (name, sha)| {
                s.output(name, sha)
            })
    }
}

/// `master.sealed`: the sealed master secret (the step's output), reopened in the HSM.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MasterSealed {
    pub key_label: String,
    /// The seal backend's name (`aes-256-gcm`, `rsa-oaep`).
    pub algorithm: String,
    /// `rsa-oaep`: SHA-256 of the seal public key.
    pub key_sha256: Option<String>,
    /// `rsa-oaep`: the OAEP hash.
    pub oaep_hash: Option<String>,
    pub reopened: bool,
}
impl Payload for MasterSealed {
    const STEP: &'static str = "master.sealed";
}

/// `bundle.staged`: the batch as staged, before the manifest is written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BundleStaged {
    pub validators: usize,
    pub merkle_root: String,
}
impl Payload for BundleStaged {
    const STEP: &'static str = "bundle.staged";
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transcript::Transcript;

    /// Re-serialises `e`'s details through `P`: they must be the same JSON.
    fn same<P: Payload>(e: &Entry) {
        let p: P = e
            .payload()
            .unwrap_or_else(|err| panic!("seq {}: {err}", e.seq));
        assert_eq!(
            serde_json::to_value(&p).unwrap(),
            e.details,
            "seq {} ({}) does not re-serialise to the same details",
            e.seq,
            e.step
        );
        // And the step made from the payload is the same line.
        let mut step = Step::of(e.actor.clone(), &p);
        step.inputs = e.inputs.clone();
        step.outputs = e.outputs.clone();
        let mut t = Transcript::new();
        let made = t.append_at(step, e.time.clone()).clone();
        assert_eq!(made.details, e.details);
        assert_eq!(made.step, e.step);
    }

    /// Every step of a transcript the ceremony wrote before its steps were typed (the demo
    /// bundle the fuzzers start from, committed then) parses as its type and serialises back to
    /// exactly the details it holds, so the typed writer makes the same lines and the same
    /// hash chain.
    #[test]
    fn a_transcript_written_before_the_typed_steps_parses_and_reserialises_exactly() {
        let text = include_str!("../../../../fuzz/seeds/bundle/transcript.jsonl");
        let t = Transcript::parse_and_verify(text).unwrap();
        let mut seen = std::collections::BTreeSet::new();
        for e in t.entries() {
            match e.step.as_str() {
                CeremonyStarted::STEP => same::<CeremonyStarted>(e),
                PeopleRecorded::STEP => same::<PeopleRecorded>(e),
                HsmToken::STEP => same::<HsmToken>(e),
                PreflightTrial::STEP => same::<PreflightTrial>(e),
                HsmKeys::STEP => same::<HsmKeys>(e),
                MasterReady::STEP => same::<MasterReady>(e),
                LedgerChecked::STEP => same::<LedgerChecked>(e),
                ValidatorCreated::STEP => same::<ValidatorCreated>(e),
                FilesWritten::STEP => same::<FilesWritten>(e),
                MasterSealed::STEP => same::<MasterSealed>(e),
                BundleStaged::STEP => same::<BundleStaged>(e),
                other => panic!("a step this test does not know: {other}"),
            }
            seen.insert(e.step.clone());
        }
        // The demo bundle has every step of a staking ceremony but a paper backup and the
        // ledger of earlier bundles.
        assert_eq!(seen.len(), 10, "{seen:?}");
        // The typed reading is what the verifier compares: every validator step matches the
        // manifest's entry of the same position.
        let m = crate::manifest::Manifest::from_bytes(include_bytes!(
            "../../../../fuzz/seeds/bundle/manifest.json"
        ))
        .unwrap();
        let created: Vec<&Entry> = t
            .entries()
            .iter()
            .filter(|e| e.step == ValidatorCreated::STEP)
            .collect();
        assert_eq!(created.len(), m.validators.len());
        for (e, v) in created.iter().zip(&m.validators) {
            assert!(ValidatorCreated::matches(e, v));
        }
        assert!(!ValidatorCreated::matches(created[0], &m.validators[1]));
    }

    /// A payload asked of another step, or details of the wrong shape, are errors naming the
    /// step.
    #[test]
    fn another_step_or_a_wrong_shape_is_an_error() {
        let mut t = Transcript::new();
        let e = t
            .append_at(
                Step::of(
                    "ceremony",
                    &MasterReady {
                        source: "hsm".into(),
                        fingerprint: "ab".into(),
                    },
                ),
                "2026-12-02T00:00:00Z".into(),
            )
            .clone();
        assert!(matches!(
            e.payload::<BundleStaged>(),
            Err(PayloadError::OtherStep {
                expected: "bundle.staged",
                ..
            })
        ));
        let mut bad = e.clone();
        bad.details = serde_json::json!({"source": 1});
        assert!(matches!(
            bad.payload::<MasterReady>(),
            Err(PayloadError::Shape {
                step: "master.ready",
                ..
            })
        ));
    }
}
