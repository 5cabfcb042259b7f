//! The checks of a staking bundle ([`run_checks`]), step by step: the manifest and its
//! signature, the files' hashes, the transcript, the plan, the two large files (see
//! [`super::entries`]), the Merkle root, the seal envelope and the binary that ran.

use std::collections::{BTreeMap, BTreeSet};
use std::io::BufReader;
use std::path::Path;

use crate::bounded::{self, caps};
use crate::manifest::{files, sha256_hex, ManifestHead};
use crate::operators::OperatorsFile;
use crate::plan::Plan;
use crate::seal::SealedMaster;
use crate::transcript::steps::{CeremonyStarted, PayloadError};

use super::consistency::{
    check_expected_amount, check_operators, check_operators_chain, check_plan_vs_manifest,
    check_seal_backend, check_unique_validators,
};
use super::entries::{self, Crypto, FirstPass, Keep};
use super::files::{check_binary, listing_failures, stray_failures};
use super::list::{list_unchanged, ListReader};
use super::signature::check_signature;
use super::transcript::{check_transcript_file, TranscriptRead};
use super::{Checker, Loaded, VerifiedBundle, VerifyOptions};

/// A small file of the bundle as read (its hash was compared with the manifest's).
pub(super) struct FileRead {
    pub(super) text: String,
}

/// The files of a bundle as read in the first step: the small ones whole, the transcript
/// checked line by line, the two large ones after their first pass.
struct Read<'m> {
    small: BTreeMap<&'static str, FileRead>,
    transcript: Option<TranscriptRead<'m>>,
    /// The first pass, and whether the file's hash is the manifest's.
    deposits: Option<(FirstPass, bool)>,
    keyshares: Option<(FirstPass, bool)>,
}

/// The checks of a staking bundle, in order: cheap first, cryptography last.
pub(super) fn run_checks(
    dir: &Path,
    opts: &VerifyOptions,
    keep: Keep,
    c: &mut Checker,
    facts: &mut (Option<String>, usize),
) -> Option<Loaded> {
    // 1. The manifest and its signature.
    let (manifest, manifest_sha256) = read_manifest(dir, c)?;
    *facts = (
        Some(manifest.ceremony_id.clone()),
        manifest.validators.len(),
    );
    check_signature(dir, &manifest, &manifest_sha256, opts, c);
    if let Some(a) = &mut c.audit {
        a.manifest = Some(manifest.with_entries(Vec::new()));
    }

    // 2. File hashes, and nothing else in the directory.
    let read = read_files(dir, &manifest, &manifest_sha256, opts, c);

    // 3. Transcript (checked while it was read).
    let Read {
        small,
        mut transcript,
        deposits,
        keyshares,
    } = read;
    if let (Some(a), Some(t)) = (&mut c.audit, &mut transcript) {
        a.transcript = t.check.all.take().unwrap_or_default();
    }
    let text = |name: &str| small.get(name).map(|f| f.text.as_str());
    let started = transcript.and_then(|t| record_transcript(t, &manifest, c));

    // 4. Operators and plan, and the manifest's list against the plan.
    let operators = match text(files::OPERATORS).map(OperatorsFile::parse) {
        Some(Ok(o)) => o,
        Some(Err(e)) => {
            c.fail("operators.parse", files::OPERATORS, "", e);
            return None;
        }
        None => return None,
    };
    check_operators(&manifest, &operators, c);
    let plan_text = text(files::PLAN)?;
    let plan = match Plan::parse_in_bundle(plan_text, Path::new(files::PLAN), operators) {
        Ok(p) => {
            c.pass("plan.parse", files::PLAN, format!("ceremony {}", p.id()));
            p
        }
        Err(e) => {
            c.fail("plan.parse", files::PLAN, "", e.to_string());
            return None;
        }
    };
    check_operators_chain(&plan, started, c);
    let mut list = ListReader::open(dir, &manifest_sha256);
    let mut listed = Vec::new();
    let auditing = c.audit.is_some();
    let read = list.by_ref().inspect(|v| {
        if auditing {
            listed.push(v.clone());
        }
    });
    check_plan_vs_manifest(&plan, &manifest, read, c);
    if let Some(m) = c.audit.as_mut().and_then(|a| a.manifest.as_mut()) {
        m.validators = listed;
    }
    list_unchanged(list.finish(), c);
    check_unique_validators(&manifest, c);
    check_expected_amount(&manifest, opts.deposit_amount_gwei, c);

    // 5. to 7. Deposit data and key shares: counts and layout from their first pass, then the
    // second pass in lockstep with the manifest's list: cheap checks, and cryptography only
    // where allowed.
    let mark = c.checks.len();
    let validators = manifest.validators.len();
    let proven = opts.proven.as_ref();
    let deposits = deposits.map(|(fp, hash_ok)| {
        let trusted = large_file_shape(&fp, files::DEPOSIT_DATA, validators, c) && hash_ok;
        let mode = crypto_mode(
            trusted,
            proven.map(|p| p.deposit_data_sha256.as_str()),
            &fp.hash,
        );
        (fp, mode)
    });
    let keyshares = keyshares.map(|(fp, hash_ok)| {
        let trusted = large_file_shape(&fp, files::KEYSHARES, validators, c) && hash_ok;
        let mode = crypto_mode(
            trusted,
            proven.map(|p| p.keyshares_sha256.as_str()),
            &fp.hash,
        );
        (fp, mode)
    });
    let both_read = deposits.is_some() && keyshares.is_some();
    let mut list = ListReader::open(dir, &manifest_sha256);
    let mut outcome = entries::check_entries(
        deposits,
        keyshares,
        &mut list,
        &entries::Expected {
            plan: &plan,
            manifest: &manifest,
        },
        keep,
        c,
    );
    let list_read = list.finish();

    // 8. Merkle leaves (compared as they were read) and root.
    check_merkle(&manifest, &mut outcome, both_read, c);
    list_unchanged(list_read, c);

    // 9. Seal envelope.
    if let Some(text) = text(files::SEALED_MASTER) {
        check_seal(text.as_bytes(), &manifest, plan_text, c);
    }

    // 10. The binary that ran.
    check_binary(opts.expect_binary.as_deref(), &manifest.tool, c);

    if c.failed_since(0) || c.failed_since(mark) {
        return None;
    }
    loaded(dir, keep, &manifest, plan, outcome, c.pinned_key.clone())
}

/// The manifest, parsed as it is read and hashed on the way (the signature covers its SHA-256):
/// its text is not held, nor its list of validators ([`ManifestHead`]). A file that cannot be
/// read names itself as the field, as for the other files.
fn read_manifest(dir: &Path, c: &mut Checker) -> Option<(ManifestHead, [u8; 32])> {
    let mut file = match bounded::open(&dir.join(files::MANIFEST), &caps::manifest()) {
        Ok(f) => f,
        Err(e) => {
            c.fail(
                "manifest.read",
                files::MANIFEST,
                files::MANIFEST,
                e.to_string(),
            );
            return None;
        }
    };
    let parsed = ManifestHead::read_head(BufReader::with_capacity(1 << 16, &mut file));
    let manifest_sha256: [u8; 32] = match file.hash_rest() {
        Ok(h) => hex::decode(h)
            .ok()
            .and_then(|b| b.try_into().ok())
            .unwrap_or_default(),
        Err(e) => {
            c.fail(
                "manifest.read",
                files::MANIFEST,
                files::MANIFEST,
                e.to_string(),
            );
            return None;
        }
    };
    drop(file);
    match parsed {
        Ok(m) => {
            c.pass(
                "manifest.parse",
                files::MANIFEST,
                format!("format {}", m.format),
            );
            Some((m, manifest_sha256))
        }
        Err(e) => {
            c.fail("manifest.parse", files::MANIFEST, "", e.to_string());
            None
        }
    }
}

/// Every file read through the bounded reader, with a ceiling derived from the manifest's
/// counts: the small ones whole, the transcript line by line (checked on the way), the two
/// large ones as streams (a first pass that hashes and counts their entries). Records
/// `files.hashes`: hashes as listed, and nothing else in the directory.
fn read_files<'m>(
    dir: &Path,
    manifest: &'m ManifestHead,
    manifest_sha256: &[u8; 32],
    opts: &VerifyOptions,
    c: &mut Checker,
) -> Read<'m> {
    let mut small: BTreeMap<&'static str, FileRead> = BTreeMap::new();
    let expected: BTreeSet<&str> = files::HASHED.into_iter().collect();
    let mut fails = Vec::new();
    listing_failures(&manifest.files, &expected, "a bundle", &mut fails);
    let (validators, operators) = (manifest.validators.len(), manifest.operators.list.len());
    let cap = |name: &str| caps::for_file(name, validators, operators);
    let hash_check =
        |name: &'static str, got: &str, fails: &mut Vec<(String, String)>| match manifest
            .files
            .get(name)
        {
            Some(want) if *want == got => true,
            Some(want) => {
                fails.push((
                    name.to_owned(),
                    format!("SHA-256 is {got}, manifest says {want}"),
                ));
                false
            }
            None => false,
        };
    for name in [files::PLAN, files::OPERATORS, files::SEALED_MASTER] {
        match bounded::read_text(&dir.join(name), &cap(name)) {
            Ok((text, got)) => {
                hash_check(name, &got, &mut fails);
                small.insert(name, FileRead { text });
            }
            Err(e) => fails.push((name.to_owned(), e.to_string())),
        }
    }
    // The transcript and the first pass of each big file (reading and hashing every byte) are
    // independent: on all cores at once. Their failures are recorded in this fixed order.
    let audit = c.audit.is_some();
    let (transcript, (deposits, keyshares)) = rayon::join(
        || {
            check_transcript_file(
                dir,
                manifest,
                manifest_sha256,
                &cap(files::TRANSCRIPT),
                audit,
            )
        },
        || {
            rayon::join(
                || {
                    entries::first_pass_deposits(
                        &dir.join(files::DEPOSIT_DATA),
                        &cap(files::DEPOSIT_DATA),
                    )
                },
                || {
                    entries::first_pass_keyshares(
                        &dir.join(files::KEYSHARES),
                        &cap(files::KEYSHARES),
                        operators,
                    )
                },
            )
        },
    );
    let transcript = match transcript {
        Ok(t) => {
            hash_check(files::TRANSCRIPT, &t.sha256, &mut fails);
            Some(t)
        }
        Err(e) => {
            fails.push((files::TRANSCRIPT.to_owned(), e.to_string()));
            None
        }
    };
    let mut big = |name: &'static str, fp: Result<FirstPass, bounded::ReadError>| match fp {
        Ok(fp) => {
            let ok = hash_check(name, &fp.hash, &mut fails);
            Some((fp, ok))
        }
        Err(e) => {
            fails.push((name.to_owned(), e.to_string()));
            None
        }
    };
    let deposits = big(files::DEPOSIT_DATA, deposits);
    let keyshares = big(files::KEYSHARES, keyshares);
    stray_failures(dir, &expected, &["sealed/"], "a bundle", opts, &mut fails);
    c.group(
        "files.hashes",
        files::MANIFEST,
        fails,
        format!("{} files present and hashed as listed", files::HASHED.len()),
    );
    Read {
        small,
        transcript,
        deposits,
        keyshares,
    }
}

/// Records the transcript's chain and its agreement with the manifest; returns what
/// `ceremony.started` recorded when the chain ends in the manifest's head.
fn record_transcript(
    t: TranscriptRead<'_>,
    manifest: &ManifestHead,
    c: &mut Checker,
) -> Option<Option<Result<CeremonyStarted, PayloadError>>> {
    match t.outcome {
        Ok((head, count)) if head == manifest.transcript_head => {
            c.pass(
                "transcript.chain",
                files::TRANSCRIPT,
                format!("{count} entries, head {head}"),
            );
            let check = t.check;
            let started = check.started();
            check.record(c);
            list_unchanged(t.list, c);
            Some(started)
        }
        Ok((head, _)) => {
            c.fail(
                "transcript.head",
                files::MANIFEST,
                "transcript_head",
                format!(
                    "manifest says {}, transcript ends in {head}",
                    manifest.transcript_head
                ),
            );
            None
        }
        Err(e) => {
            c.fail("transcript.chain", files::TRANSCRIPT, "", e.to_string());
            None
        }
    }
}

/// `merkle.root`: every leaf computed from the bytes as written is the manifest's (compared
/// during the second pass), and their root is the manifest's.
fn check_merkle(
    manifest: &ManifestHead,
    outcome: &mut entries::Outcome,
    both_read: bool,
    c: &mut Checker,
) {
    let mut fails = std::mem::take(&mut outcome.leaf_fails);
    let computed = outcome.root.count();
    if computed == manifest.validators.len() {
        match outcome.root.root() {
            Some(r) if format!("0x{}", hex::encode(r)) == manifest.merkle_root => {}
            Some(r) => fails.push((
                "merkle_root".into(),
                format!(
                    "manifest says {}, computed 0x{}",
                    manifest.merkle_root,
                    hex::encode(r)
                ),
            )),
            None => fails.push(("merkle_root".into(), "no validators".into())),
        }
    } else if !both_read {
        fails.push((
            "merkle_root".into(),
            "cannot be computed: deposit_data.json or keyshares.json was not read".into(),
        ));
    }
    c.group(
        "merkle.root",
        files::MANIFEST,
        fails,
        format!("root {} over {computed} leaves", manifest.merkle_root),
    );
}

/// `seal.envelope`: the sealed master secret's envelope is bound to this ceremony, its plan and
/// the manifest's seal key and backend.
fn check_seal(bytes: &[u8], manifest: &ManifestHead, plan_text: &str, c: &mut Checker) {
    let s = match SealedMaster::from_bytes(bytes) {
        Ok(s) => s,
        Err(e) => return c.fail("seal.envelope", files::SEALED_MASTER, "", e.to_string()),
    };
    let mut fails = Vec::new();
    if s.ceremony_id != manifest.ceremony_id {
        fails.push((
            "ceremony_id".into(),
            format!(
                "{:?}, manifest says {:?}",
                s.ceremony_id, manifest.ceremony_id
            ),
        ));
    }
    if s.plan_sha256 != sha256_hex(plan_text.as_bytes()) {
        fails.push((
            "plan_sha256".into(),
            "is not the SHA-256 of plan.toml".into(),
        ));
    }
    if s.key_label != manifest.master.seal_key_label {
        fails.push((
            "key_label".into(),
            format!(
                "{:?}, manifest says {:?}",
                s.key_label, manifest.master.seal_key_label
            ),
        ));
    }
    check_seal_backend(&s, manifest, &mut fails);
    c.group(
        "seal.envelope",
        files::SEALED_MASTER,
        fails,
        format!(
            "{} envelope bound to this ceremony and plan",
            manifest.master.seal_algorithm
        ),
    );
}

/// What a verification that passed hands back, as `keep` asks.
fn loaded(
    dir: &Path,
    keep: Keep,
    manifest: &ManifestHead,
    plan: Plan,
    mut outcome: entries::Outcome,
    identity: Option<Vec<u8>>,
) -> Option<Loaded> {
    let validators = std::mem::take(&mut outcome.validators);
    if keep == Keep::Nothing || validators.len() != manifest.validators.len() {
        return None;
    }
    let full = manifest.with_entries(validators);
    match keep {
        Keep::Nothing => None,
        Keep::List => Some(Loaded::Manifest(Box::new(full))),
        Keep::Bundle => {
            let collected = outcome.collected?;
            Some(Loaded::Bundle(Box::new(VerifiedBundle {
                dir: dir.to_owned(),
                identity,
                manifest: full,
                plan,
                deposits: collected.deposits,
                keyshares: collected.keyshares,
                shares_data: collected.shares_data,
                leaves: outcome.leaves,
            })))
        }
    }
}

/// The entry count, syntax and (deposit data) separators of a large file from its first pass;
/// `true` when they are right (then it may get cryptography). Records `<file>.parse` failures.
pub(super) fn large_file_shape(
    fp: &FirstPass,
    name: &str,
    validators: usize,
    c: &mut Checker,
) -> bool {
    let check = if name == files::DEPOSIT_DATA {
        "deposit_data.parse"
    } else {
        "keyshares.parse"
    };
    // Failures of the whole file (not of one entry) name the file as their field.
    let mut fails = Vec::new();
    if let Some(e) = &fp.scan_error {
        fails.push((name.to_owned(), e.to_string()));
    }
    let field = |i: usize| {
        if name == files::DEPOSIT_DATA {
            format!("[{i}]")
        } else {
            format!("shares[{i}]")
        }
    };
    if fp.entries > validators {
        fails.push((
            field(validators),
            format!(
                "{} entries beyond the manifest's {validators} validators: refused, not decoded",
                fp.entries - validators
            ),
        ));
    } else if fp.entries < validators && fp.scan_error.is_none() {
        fails.push((
            name.to_owned(),
            format!(
                "{} entries, manifest lists {validators} validators",
                fp.entries
            ),
        ));
    }
    if name == files::DEPOSIT_DATA && !fp.exact {
        fails.push((
            name.to_owned(),
            "not in the exact ethstaker-deposit 1.3.1 layout (separators)".into(),
        ));
    }
    if name == files::KEYSHARES {
        match fp.header.0.as_deref() {
            Some(v) if kc_ssv::keyshares::READABLE_VERSIONS.contains(&v) => {}
            v => fails.push((
                "version".into(),
                format!(
                    "{v:?}, readable versions are {:?}",
                    kc_ssv::keyshares::READABLE_VERSIONS
                ),
            )),
        }
    }
    let ok = fails.is_empty();
    c.group(
        check,
        name,
        fails,
        format!("{} entries, read as a stream", fp.entries),
    );
    ok
}

/// Whether a large file gets cryptography: not unless it matches the manifest; not again when
/// the caller proved it on these very bytes.
pub(super) fn crypto_mode(trusted: bool, proven: Option<&str>, hash: &str) -> Crypto {
    match (trusted, proven) {
        (false, _) => Crypto::Skip,
        (true, Some(p)) if p == hash => Crypto::Proven,
        (true, _) => Crypto::Check,
    }
}
