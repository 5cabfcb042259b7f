//! Whole-bundle verification: everything that can be checked without a secret.
//!
//! Used by `ceremony verify` (auditors), by the ceremony itself on the staged bundle before it
//! reports success, and by `signer-agent verify`/`import`. It never stops at the first problem:
//! every check becomes a [`Check`] in the [`Report`], failed ones naming their file and field.
//!
//! A bundle comes from elsewhere, so the order is cheap first: every file is read
//! through the bounded reader ([`crate::bounded`]: regular files only, size capped by what the
//! manifest declares) and hashed; fields are compared as text; only then, and only for a file
//! whose hash, entry count and layout are right and only for entries that passed their cheap
//! checks, is there cryptography: point decoding (curve and subgroup checks), the share
//! interpolation, and the BLS signatures (deposits and SSV ownership) in batches — one by one
//! only when a batch fails, to name each bad entry. Entries beyond the manifest's count are
//! refused without being decoded.
//!
//! Memory does not grow with the batch: the transcript is checked line by line, and
//! `deposit_data.json` and `keyshares.json` are read as streams, one chunk of validators at a
//! time, whose cryptography runs on all cores ([`entries`]).

mod entries;

use std::collections::{BTreeMap, BTreeSet};
use std::io::BufReader;
use std::path::{Path, PathBuf};

use kc_ssv::{KeySharesFile, OperatorKey};
use kc_validator::deposit::{self, DepositData};
use serde::Serialize;

use crate::bounded::{self, caps};
use crate::manifest::{self, files, sha256_hex, Manifest, ManifestSignature};
use crate::merkle;
use crate::operators::OperatorsFile;
use crate::plan::Plan;
use crate::seal::SealedMaster;
#[cfg(test)]
use crate::transcript::Transcript;
use crate::transcript::{self, Entry};
use entries::{Crypto, FirstPass};

/// What the caller pins.
#[derive(Debug, Clone, Default)]
pub struct VerifyOptions {
    /// The trusted identity public key (SEC1, uncompressed or compressed).
    pub identity: Option<Vec<u8>>,
    /// The expected SHA-256 (hex) of the ceremony executable.
    pub expect_binary: Option<String>,
    /// The ceremony's own check of its staging directory, which still holds the `INCOMPLETE`
    /// marker. Never set by auditors: a bundle with the marker fails.
    pub staged: bool,
    /// The ceremony's own check of its staging directory: what it verified in memory before
    /// writing. Never set by auditors.
    pub proven: Option<Proven>,
}

/// What the ceremony verified in memory, in batches, before it wrote the two large files: every
/// deposit signature, every ownership signature and every share interpolation. Its read-back
/// verification does not redo that cryptography for a file whose SHA-256 is the one given here
/// (the same bytes); everything else is checked as for any bundle.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Proven {
    /// SHA-256 (hex) of the `deposit_data.json` whose signatures were verified.
    pub deposit_data_sha256: String,
    /// SHA-256 (hex) of the `keyshares.json` whose ownership signatures and share
    /// interpolations were verified.
    pub keyshares_sha256: String,
}

/// One check and its result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    /// What was checked, e.g. `deposit_data.signatures`.
    pub name: String,
    /// The file it concerns.
    pub file: String,
    /// The field (path) inside the file, or empty for the whole file.
    pub field: String,
    pub ok: bool,
    pub detail: String,
}

/// All checks of one bundle.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub bundle: PathBuf,
    pub ceremony_id: Option<String>,
    pub validators: usize,
    /// Whether the manifest was verified against a pinned identity key (`--identity`). A bundle
    /// that verifies without a pin only shows that *someone's* key signed it.
    pub identity_pinned: bool,
    /// SHA-256 of the public key that signed the manifest, when it could be read.
    pub signed_by: Option<String>,
    pub checks: Vec<Check>,
}

impl Report {
    pub fn ok(&self) -> bool {
        !self.checks.is_empty() && self.checks.iter().all(|c| c.ok)
    }
    pub fn failures(&self) -> impl Iterator<Item = &Check> {
        self.checks.iter().filter(|c| !c.ok)
    }
}

/// The parsed content of a bundle that passed verification, for the online agent.
#[derive(Debug, Clone)]
pub struct VerifiedBundle {
    pub dir: PathBuf,
    pub manifest: Manifest,
    pub plan: Plan,
    pub deposits: Vec<DepositData>,
    pub keyshares: KeySharesFile,
    /// sharesData bytes per validator, in manifest order.
    pub shares_data: Vec<Vec<u8>>,
    /// Merkle leaves in manifest order.
    pub leaves: Vec<merkle::Hash>,
}

impl VerifiedBundle {
    /// The Merkle proof of validator `i` (manifest order).
    pub fn proof(&self, i: usize) -> Vec<merkle::Hash> {
        merkle::proof(&self.leaves, i).unwrap_or_default()
    }
    pub fn operator_ids(&self) -> Vec<u64> {
        self.plan.operators.ids()
    }
}

pub(crate) struct Checker {
    pub(crate) checks: Vec<Check>,
    /// Set when the manifest signature verified under the pinned identity.
    pub(crate) identity_pinned: bool,
    pub(crate) signed_by: Option<String>,
}

impl Checker {
    pub(crate) fn new() -> Self {
        Checker {
            checks: Vec::new(),
            identity_pinned: false,
            signed_by: None,
        }
    }
    // File names, fields and details may quote the bundle (a file's name, an entry's value):
    // escaped (kc_bundle::printable), so that nothing from the bundle adds lines to the report.
    pub(crate) fn pass(&mut self, name: &str, file: &str, detail: impl Into<String>) {
        self.checks.push(Check {
            name: name.into(),
            file: crate::printable(file),
            field: String::new(),
            ok: true,
            detail: crate::printable(&detail.into()),
        });
    }
    pub(crate) fn fail(
        &mut self,
        name: &str,
        file: &str,
        field: impl Into<String>,
        detail: impl Into<String>,
    ) {
        self.checks.push(Check {
            name: name.into(),
            file: crate::printable(file),
            field: crate::printable(&field.into()),
            ok: false,
            detail: crate::printable(&detail.into()),
        });
    }
    /// Records `failures` for `name`, or one passing check with `summary` when there are none.
    pub(crate) fn group(
        &mut self,
        name: &str,
        file: &str,
        failures: Vec<(String, String)>,
        summary: impl Into<String>,
    ) {
        if failures.is_empty() {
            self.pass(name, file, summary);
        } else {
            for (field, detail) in failures {
                self.fail(name, file, field, detail);
            }
        }
    }
    fn failed_since(&self, mark: usize) -> bool {
        self.checks[mark..].iter().any(|c| !c.ok)
    }
}

/// A small file of the bundle as read (its hash was compared with the manifest's).
struct FileRead {
    text: String,
}

pub(crate) fn read_all_files(dir: &Path) -> std::io::Result<BTreeSet<String>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeSet<String>) -> std::io::Result<()> {
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            let path = entry.path();
            let ty = entry.file_type()?;
            let rel = path
                .strip_prefix(root)
                .unwrap_or(&path)
                .to_string_lossy()
                .replace('\\', "/");
            if ty.is_dir() {
                // Directories are listed too (`name/`): an empty one is not part of a bundle.
                out.insert(format!("{rel}/"));
                walk(root, &path, out)?;
            } else {
                out.insert(rel);
            }
        }
        Ok(())
    }
    let mut out = BTreeSet::new();
    walk(dir, dir, &mut out)?;
    Ok(out)
}

/// The manifest's file list (`listed`, name → SHA-256) against the files a bundle of kind
/// `what` has (`expected`): each missing and each extra name is a failure.
fn listing_failures(
    listed: &BTreeMap<String, String>,
    expected: &BTreeSet<&str>,
    what: &str,
    fails: &mut Vec<(String, String)>,
) {
    let names: BTreeSet<&str> = listed.keys().map(String::as_str).collect();
    for missing in expected.difference(&names) {
        fails.push((
            format!("files.{missing}"),
            "not listed in the manifest".to_owned(),
        ));
    }
    for extra in names.difference(expected) {
        fails.push((
            format!("files.{extra}"),
            format!("listed but not part of {what}"),
        ));
    }
}

/// Anything in `dir` besides the `expected` files, the directories in `dirs`, the manifest, its
/// signature and (staged) the INCOMPLETE marker is a failure.
fn stray_failures(
    dir: &Path,
    expected: &BTreeSet<&str>,
    dirs: &[&str],
    what: &str,
    opts: &VerifyOptions,
    fails: &mut Vec<(String, String)>,
) {
    match read_all_files(dir) {
        Ok(present) => {
            for f in present {
                let marker_ok = opts.staged && f == crate::fsio::INCOMPLETE_MARKER;
                if !expected.contains(f.as_str())
                    && !dirs.contains(&f.as_str())
                    && f != files::MANIFEST
                    && f != files::MANIFEST_SIG
                    && !marker_ok
                {
                    fails.push((f.clone(), format!("file is not part of {what}")));
                }
            }
        }
        Err(e) => fails.push((
            String::new(),
            format!("cannot list the bundle directory: {e}"),
        )),
    }
}

/// The files of a reshare bundle (`crate::reshare`): exactly `hashed` are listed in the
/// manifest (`listed`: name → SHA-256 hex), each is a regular file no larger than its cap (read
/// through [`bounded`]) with that hash, and nothing else is in the directory besides the
/// manifest, its signature, the directories in `dirs` and (staged) the INCOMPLETE marker. One
/// `files.hashes` check; returns the contents read. `what` names the bundle kind in failures.
pub(crate) fn check_files(
    dir: &Path,
    listed: &BTreeMap<String, String>,
    hashed: &[(&'static str, bounded::Cap)],
    dirs: &[&str],
    what: &str,
    opts: &VerifyOptions,
    c: &mut Checker,
) -> BTreeMap<&'static str, Vec<u8>> {
    let mut contents: BTreeMap<&'static str, Vec<u8>> = BTreeMap::new();
    let expected: BTreeSet<&str> = hashed.iter().map(|(n, _)| *n).collect();
    let mut fails = Vec::new();
    listing_failures(listed, &expected, what, &mut fails);
    for (name, cap) in hashed {
        match bounded::read(&dir.join(name), cap) {
            Ok((bytes, got)) => {
                match listed.get(*name) {
                    Some(want) if *want == got => {}
                    Some(want) => fails.push((
                        (*name).to_owned(),
                        format!("SHA-256 is {got}, manifest says {want}"),
                    )),
                    None => {}
                }
                contents.insert(name, bytes);
            }
            Err(e) => fails.push(((*name).to_owned(), e.to_string())),
        }
    }
    stray_failures(dir, &expected, dirs, what, opts, &mut fails);
    c.group(
        "files.hashes",
        files::MANIFEST,
        fails,
        format!("{} files present and hashed as listed", hashed.len()),
    );
    contents
}

/// `--expect-binary`: the manifest's `tool.binary_sha256` is the binary the auditor expects
/// (both bundle kinds record the tool that made them).
pub(crate) fn check_binary(want: Option<&str>, tool: &crate::manifest::ToolInfo, c: &mut Checker) {
    let Some(want) = want else { return };
    if want.eq_ignore_ascii_case(&tool.binary_sha256) {
        c.pass(
            "tool.binary",
            files::MANIFEST,
            format!("binary SHA-256 {want}"),
        );
    } else {
        c.fail(
            "tool.binary",
            files::MANIFEST,
            "tool.binary_sha256",
            format!("{}, expected {want}", tool.binary_sha256),
        );
    }
}

/// The transcript's hash chain (a reshare bundle's transcript, read whole), ending in the
/// manifest's `transcript_head` (`head`): the `transcript.chain` or `transcript.head` check; the
/// parsed transcript when both hold.
pub(crate) fn check_chain(
    text: Option<String>,
    head: &str,
    c: &mut Checker,
) -> Option<crate::transcript::Transcript> {
    match crate::transcript::Transcript::parse_and_verify(&text?) {
        Ok(tr) if tr.head() == head => {
            c.pass(
                "transcript.chain",
                files::TRANSCRIPT,
                format!("{} entries, head {}", tr.entries().len(), tr.head()),
            );
            Some(tr)
        }
        Ok(tr) => {
            c.fail(
                "transcript.head",
                files::MANIFEST,
                "transcript_head",
                format!("manifest says {head}, transcript ends in {}", tr.head()),
            );
            None
        }
        Err(e) => {
            c.fail("transcript.chain", files::TRANSCRIPT, "", e.to_string());
            None
        }
    }
}

/// Verifies the bundle in `dir`. Never panics on bad input: every problem is a failed check.
/// Memory does not grow with the number of validators (beyond the manifest's own list).
/// A reshare bundle (`crate::reshare`) verifies as its kind.
pub fn verify_bundle(dir: &Path, opts: &VerifyOptions) -> Report {
    if crate::reshare::kind_of_dir(dir) == crate::reshare::BundleKind::Reshare {
        return crate::reshare::verify(dir, opts).0;
    }
    verify_and_load(dir, opts, false).0
}

/// Verifies the bundle and, when every check passed, returns its parsed content (which holds
/// every validator's entries: for the agent, not for batches of unbounded size).
pub fn load_verified(dir: &Path, opts: &VerifyOptions) -> Result<VerifiedBundle, Report> {
    match verify_and_load(dir, opts, true) {
        (report, Some(Loaded::Bundle(bundle))) if report.ok() => Ok(*bundle),
        (report, _) => Err(report),
    }
}

/// Verifies the bundle (as [`verify_bundle`]: memory does not grow with the batch) and, when
/// every check passed, returns the manifest that was verified.
pub fn verified_manifest(dir: &Path, opts: &VerifyOptions) -> Result<Manifest, Report> {
    match verify_and_load(dir, opts, false) {
        (report, Some(Loaded::Manifest(m))) if report.ok() => Ok(*m),
        (report, _) => Err(report),
    }
}

fn verify_and_load(dir: &Path, opts: &VerifyOptions, collect: bool) -> (Report, Option<Loaded>) {
    let mut c = Checker::new();
    let mut facts = (None, 0);
    let loaded = if crate::reshare::kind_of_dir(dir) == crate::reshare::BundleKind::Reshare {
        // A reshare bundle verifies on its own (`crate::reshare`); it is never a staking batch.
        c.fail(
            "bundle.kind",
            files::MANIFEST,
            "kind",
            "a reshare bundle (new shares for staked validators), not a staking batch",
        );
        None
    } else {
        run_checks(dir, opts, collect, &mut c, &mut facts)
    };
    let (ceremony_id, validators) = facts;
    let report = Report {
        bundle: dir.to_owned(),
        ceremony_id,
        validators,
        identity_pinned: c.identity_pinned,
        signed_by: c.signed_by,
        checks: c.checks,
    };
    (report, loaded)
}

fn run_checks(
    dir: &Path,
    opts: &VerifyOptions,
    collect: bool,
    c: &mut Checker,
    facts: &mut (Option<String>, usize),
) -> Option<Loaded> {
    // 1. The manifest and its signature. Parsed as it is read, and hashed on the way (the
    // signature covers its SHA-256): its text is not held.
    // A file that cannot be read names itself as the field, as for the other files.
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
    let parsed = Manifest::from_reader(BufReader::with_capacity(1 << 16, &mut file));
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
    let manifest = match parsed {
        Ok(m) => {
            c.pass(
                "manifest.parse",
                files::MANIFEST,
                format!("format {}", m.format),
            );
            m
        }
        Err(e) => {
            c.fail("manifest.parse", files::MANIFEST, "", e.to_string());
            return None;
        }
    };
    *facts = (
        Some(manifest.ceremony_id.clone()),
        manifest.validators.len(),
    );
    check_signature(dir, &manifest, &manifest_sha256, opts, c);

    // 2. File hashes, and nothing else in the directory. Every file is read through the bounded
    // reader, with a ceiling derived from the manifest's counts: the small ones whole, the
    // transcript line by line (checked on the way), the two large ones as streams (a first
    // pass that hashes and counts their entries).
    let mut read: BTreeMap<&str, FileRead> = BTreeMap::new();
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
                read.insert(name, FileRead { text });
            }
            Err(e) => fails.push((name.to_owned(), e.to_string())),
        }
    }
    let transcript = match check_transcript_file(dir, &manifest, &cap(files::TRANSCRIPT)) {
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
    let deposits = big(
        files::DEPOSIT_DATA,
        entries::first_pass_deposits(&dir.join(files::DEPOSIT_DATA), &cap(files::DEPOSIT_DATA)),
    );
    let keyshares = big(
        files::KEYSHARES,
        entries::first_pass_keyshares(
            &dir.join(files::KEYSHARES),
            &cap(files::KEYSHARES),
            operators,
        ),
    );
    stray_failures(dir, &expected, &["sealed/"], "a bundle", opts, &mut fails);
    c.group(
        "files.hashes",
        files::MANIFEST,
        fails,
        format!("{} files present and hashed as listed", files::HASHED.len()),
    );

    let text = |name: &str| read.get(name).map(|f| f.text.as_str());

    // 3. Transcript (checked while it was read).
    let mut started = None;
    if let Some(t) = transcript {
        match t.outcome {
            Ok((head, count)) if head == manifest.transcript_head => {
                c.pass(
                    "transcript.chain",
                    files::TRANSCRIPT,
                    format!("{count} entries, head {head}"),
                );
                let check = t.check;
                started = Some(check.started_details());
                check.record(c);
            }
            Ok((head, _)) => c.fail(
                "transcript.head",
                files::MANIFEST,
                "transcript_head",
                format!(
                    "manifest says {}, transcript ends in {head}",
                    manifest.transcript_head
                ),
            ),
            Err(e) => c.fail("transcript.chain", files::TRANSCRIPT, "", e.to_string()),
        }
    }

    // 4. Operators and plan.
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
    check_plan_vs_manifest(&plan, &manifest, c);
    check_unique_validators(&manifest, c);

    // 5. to 7. Deposit data and key shares: counts and layout from their first pass, then the
    // second pass in lockstep: cheap checks, and cryptography only where allowed.
    let mark = c.checks.len();
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
    let outcome = entries::check_entries(
        deposits,
        keyshares,
        &entries::Expected {
            plan: &plan,
            manifest: &manifest,
        },
        collect,
        c,
    );

    // 8. Merkle leaves and root (hashes of the bytes as written; no decoding needed).
    let mut fails = Vec::new();
    let mut leaves: Vec<merkle::Hash> = Vec::with_capacity(manifest.validators.len());
    for (i, (v, leaf)) in manifest.validators.iter().zip(&outcome.leaves).enumerate() {
        let Some(leaf) = leaf else {
            if both_read {
                fails.push((
                    format!("validators[{i}].merkle_leaf"),
                    "cannot be computed: the deposit or sharesData of this validator is \
                     missing or malformed"
                        .to_owned(),
                ));
            }
            continue;
        };
        let got = format!("0x{}", hex::encode(leaf));
        if got != v.merkle_leaf {
            fails.push((
                format!("validators[{i}].merkle_leaf"),
                format!("manifest says {}, computed {got}", v.merkle_leaf),
            ));
        }
        leaves.push(*leaf);
    }
    if leaves.len() == manifest.validators.len() {
        match merkle::root(&leaves) {
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
        format!("root {} over {} leaves", manifest.merkle_root, leaves.len()),
    );

    let contents: BTreeMap<&str, &[u8]> =
        read.iter().map(|(k, f)| (*k, f.text.as_bytes())).collect();
    // 9. Seal envelope.
    if let Some(bytes) = contents.get(files::SEALED_MASTER) {
        match SealedMaster::from_bytes(bytes) {
            Ok(s) => {
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
                check_seal_backend(&s, &manifest, &mut fails);
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
            Err(e) => c.fail("seal.envelope", files::SEALED_MASTER, "", e.to_string()),
        }
    }

    // 10. The binary that ran.
    check_binary(opts.expect_binary.as_deref(), &manifest.tool, c);

    if c.failed_since(0) || c.failed_since(mark) {
        return None;
    }
    if !collect {
        return Some(Loaded::Manifest(Box::new(manifest)));
    }
    let collected = outcome.collected?;
    Some(Loaded::Bundle(Box::new(VerifiedBundle {
        dir: dir.to_owned(),
        manifest,
        plan,
        deposits: collected.deposits,
        keyshares: collected.keyshares,
        shares_data: collected.shares_data,
        leaves,
    })))
}

/// What a verification that passed hands back.
enum Loaded {
    /// The verified manifest only (the large files were streamed, not kept).
    Manifest(Box<Manifest>),
    /// Everything, for the agent.
    Bundle(Box<VerifiedBundle>),
}

/// The entry count, syntax and (deposit data) separators of a large file from its first pass;
/// `true` when they are right (then it may get cryptography). Records `<file>.parse` failures.
fn large_file_shape(fp: &FirstPass, name: &str, validators: usize, c: &mut Checker) -> bool {
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
fn crypto_mode(trusted: bool, proven: Option<&str>, hash: &str) -> Crypto {
    match (trusted, proven) {
        (false, _) => Crypto::Skip,
        (true, Some(p)) if p == hash => Crypto::Proven,
        (true, _) => Crypto::Check,
    }
}

/// `transcript.jsonl` read line by line: its chain checked, its content compared with the
/// manifest on the way (only the few non-validator entries are kept).
struct TranscriptRead<'m> {
    sha256: String,
    outcome: Result<(String, usize), crate::Error>,
    check: TranscriptCheck<'m>,
}

/// The longest transcript line read (the ceremony's longest, `hsm.token` or `ceremony.started`
/// with many witnesses, is a few KiB).
const MAX_TRANSCRIPT_LINE: usize = 1 << 20;

fn check_transcript_file<'m>(
    dir: &Path,
    m: &'m Manifest,
    cap: &bounded::Cap,
) -> Result<TranscriptRead<'m>, bounded::ReadError> {
    let file = bounded::open(&dir.join(files::TRANSCRIPT), cap)?;
    let mut reader = BufReader::with_capacity(1 << 16, file);
    let mut check = TranscriptCheck::new(m);
    let outcome = transcript::stream_verify(&mut reader, MAX_TRANSCRIPT_LINE, |e| {
        check.entry(e);
        Ok(())
    });
    let mut file = reader.into_inner();
    let sha256 = file.hash_rest()?;
    Ok(TranscriptRead {
        sha256,
        outcome,
        check,
    })
}

fn check_signature(
    dir: &Path,
    manifest: &Manifest,
    manifest_sha256: &[u8; 32],
    opts: &VerifyOptions,
    c: &mut Checker,
) {
    check_signature_of(dir, &manifest.identity, manifest_sha256, opts, c)
}

/// `manifest.sig` over the manifest whose SHA-256 is `manifest_sha256`, by the manifest's
/// `identity`, pinned when asked (both bundle kinds).
pub(crate) fn check_signature_of(
    dir: &Path,
    identity: &manifest::IdentityInfo,
    manifest_sha256: &[u8; 32],
    opts: &VerifyOptions,
    c: &mut Checker,
) {
    let sig = match bounded::read(&dir.join(files::MANIFEST_SIG), &caps::manifest_sig()) {
        Ok((b, _)) => match ManifestSignature::from_bytes(&b) {
            Ok(s) => {
                // No hash covers manifest.sig: only the exact form the ceremony writes is
                // accepted, so that no byte of it can change unnoticed (hex case, whitespace).
                let lower = |v: &str| !v.bytes().any(|b| b.is_ascii_uppercase());
                if s.to_bytes() != b
                    || !lower(&s.public_key)
                    || !lower(&s.signature)
                    || !lower(&s.manifest_sha256)
                {
                    c.fail(
                        "manifest.signature",
                        files::MANIFEST_SIG,
                        files::MANIFEST_SIG,
                        "not in the exact form the ceremony writes (pretty JSON, lower-case hex, \
                         trailing newline)",
                    );
                }
                s
            }
            Err(e) => return c.fail("manifest.signature", files::MANIFEST_SIG, "", e.to_string()),
        },
        // The whole file could not be read: the field is the file, as for the others.
        Err(e) => {
            return c.fail(
                "manifest.signature",
                files::MANIFEST_SIG,
                files::MANIFEST_SIG,
                e.to_string(),
            )
        }
    };
    let signer = hex::decode(&sig.public_key)
        .ok()
        .map(|k| manifest::key_fingerprint(&k));
    match sig.verify_digest(manifest_sha256) {
        Ok(()) => c.pass(
            "manifest.signature",
            files::MANIFEST_SIG,
            format!(
                "{} by {}",
                sig.algorithm,
                manifest::key_fingerprint(&hex::decode(&sig.public_key).unwrap_or_default())
            ),
        ),
        Err(e) => c.fail(
            "manifest.signature",
            files::MANIFEST_SIG,
            "signature",
            e.to_string(),
        ),
    }
    if sig.public_key != identity.public_key {
        c.fail(
            "identity.manifest",
            files::MANIFEST_SIG,
            "public_key",
            "differs from manifest identity.public_key",
        );
    }
    let fp = hex::decode(&identity.public_key)
        .map(|k| manifest::key_fingerprint(&k))
        .unwrap_or_default();
    if fp != identity.fingerprint {
        c.fail(
            "identity.manifest",
            files::MANIFEST,
            "identity.fingerprint",
            "is not the SHA-256 of identity.public_key",
        );
    }
    c.signed_by = signer;
    if let Some(pinned) = &opts.identity {
        match same_p256_key(pinned, &sig.public_key) {
            Ok(true) => {
                c.identity_pinned = true;
                c.pass(
                    "identity.pinned",
                    files::MANIFEST_SIG,
                    format!("signed by the pinned identity {}", fp),
                )
            }
            Ok(false) => c.fail(
                "identity.pinned",
                files::MANIFEST_SIG,
                "public_key",
                format!("signed by {fp}, which is not the pinned identity"),
            ),
            Err(e) => c.fail("identity.pinned", files::MANIFEST_SIG, "public_key", e),
        }
    }
}

fn same_p256_key(pinned: &[u8], hex_key: &str) -> Result<bool, String> {
    let a = p256::PublicKey::from_sec1_bytes(pinned)
        .map_err(|_| "the pinned identity is not a P-256 public key".to_owned())?;
    let b = hex::decode(hex_key)
        .ok()
        .and_then(|k| p256::PublicKey::from_sec1_bytes(&k).ok());
    Ok(b.is_some_and(|b| a == b))
}

fn check_operators(manifest: &Manifest, ops: &OperatorsFile, c: &mut Checker) {
    let mut fails = Vec::new();
    if ops.provenance != manifest.operators.provenance {
        fails.push((
            "provenance".into(),
            "operators.json provenance differs from the manifest's".into(),
        ));
    }
    if ops.operators.len() != manifest.operators.list.len() {
        fails.push((
            "operators".into(),
            format!(
                "{} operators, manifest lists {}",
                ops.operators.len(),
                manifest.operators.list.len()
            ),
        ));
    }
    for (i, (o, m)) in ops
        .operators
        .iter()
        .zip(&manifest.operators.list)
        .enumerate()
    {
        if o.id != m.id {
            fails.push((
                format!("operators[{i}].id"),
                format!("{}, manifest says {}", o.id, m.id),
            ));
        }
        match OperatorKey::parse(o.id, &o.public_key) {
            Ok(k) if k.fingerprint_hex() == m.fingerprint => {}
            Ok(k) => fails.push((
                format!("operators[{i}].public_key"),
                format!(
                    "fingerprint {}, manifest says {}",
                    k.fingerprint_hex(),
                    m.fingerprint
                ),
            )),
            Err(e) => fails.push((format!("operators[{i}].public_key"), e.to_string())),
        }
    }
    let summary = match &ops.provenance {
        Some(p) => format!(
            "{} operators, keys read on chain {} from {} at block {} ({})",
            ops.operators.len(),
            p.chain_id,
            p.ssv_network,
            p.block_number,
            p.block_hash
        ),
        None => format!(
            "{} operators, UNPINNED (no provenance; allowed by the plan)",
            ops.operators.len()
        ),
    };
    c.group("operators.keys", files::OPERATORS, fails, summary);
}

/// The operators' provenance names the chain of the plan's network (a custom network is
/// exempt), and the transcript recorded the same relation when the ceremony ran.
fn check_operators_chain(plan: &Plan, started: Option<Option<serde_json::Value>>, c: &mut Checker) {
    let relation = match plan.operators_chain() {
        Ok(r) => r,
        Err(e) => {
            return c.fail(
                "operators.chain",
                files::OPERATORS,
                "provenance.chain_id",
                e,
            )
        }
    };
    let recorded = started.map(|d| d.and_then(|d| d.get("operators_chain").cloned()));
    match recorded {
        Some(Some(r)) if r == serde_json::json!(relation) => {}
        Some(r) => {
            return c.fail(
                "operators.chain",
                files::TRANSCRIPT,
                "ceremony.started.operators_chain",
                format!(
                    "recorded {}, the bundle's network and provenance give {}",
                    r.map_or_else(|| "nothing".to_owned(), |v| v.to_string()),
                    serde_json::json!(relation)
                ),
            )
        }
        // No readable transcript: its own check failed already.
        None => {}
    }
    c.pass("operators.chain", files::OPERATORS, relation.to_string());
}

fn check_plan_vs_manifest(plan: &Plan, m: &Manifest, c: &mut Checker) {
    let mut fails: Vec<(String, String)> = Vec::new();
    let mut eq = |field: &str, got: String, want: String| {
        if got != want {
            fails.push((
                field.to_owned(),
                format!("manifest says {got}, plan says {want}"),
            ));
        }
    };
    eq("ceremony_id", m.ceremony_id.clone(), plan.id().to_owned());
    eq(
        "network.name",
        m.network.name.clone(),
        plan.network.name().to_owned(),
    );
    eq(
        "network.fork_version",
        m.network.fork_version.clone(),
        hex::encode(plan.network.genesis_fork_version()),
    );
    eq(
        "withdrawal.address",
        m.withdrawal.address.clone(),
        plan.withdrawal_address.to_checksum(),
    );
    eq(
        "withdrawal.type",
        m.withdrawal.kind.clone(),
        plan.file.deposit.withdrawal_type.clone(),
    );
    let wc = deposit::withdrawal_credentials(plan.withdrawal_type, &plan.withdrawal_address);
    eq(
        "withdrawal.credentials",
        m.withdrawal.credentials.clone(),
        hex::encode(wc),
    );
    eq(
        "withdrawal.amount_gwei",
        m.withdrawal.amount_gwei.to_string(),
        plan.amount_gwei().to_string(),
    );
    eq(
        "owner.address",
        m.owner.address.clone(),
        plan.owner.to_checksum(),
    );
    eq(
        "owner.first_nonce",
        m.owner.first_nonce.to_string(),
        plan.first_nonce().to_string(),
    );
    eq(
        "owner.last_nonce",
        m.owner.last_nonce.to_string(),
        plan.nonce_of(plan.count() - 1).to_string(),
    );
    eq(
        "operators.unpinned_allowed",
        m.operators.unpinned_allowed.to_string(),
        (plan.operators.provenance.is_none()).to_string(),
    );
    eq(
        "master.seal_key_label",
        m.master.seal_key_label.clone(),
        plan.file.hsm.seal_key_label.clone(),
    );
    eq(
        "identity.key_label",
        m.identity.key_label.clone(),
        plan.file.hsm.identity_key_label.clone(),
    );
    eq(
        "validators (count)",
        m.validators.len().to_string(),
        plan.count().to_string(),
    );
    for (i, (v, index)) in m.validators.iter().zip(plan.indices()).enumerate() {
        eq(
            &format!("validators[{i}].index"),
            v.index.to_string(),
            index.to_string(),
        );
        eq(
            &format!("validators[{i}].owner_nonce"),
            v.owner_nonce.to_string(),
            plan.nonce_of(i as u32).to_string(),
        );
    }
    c.group(
        "plan.manifest",
        files::MANIFEST,
        fails,
        "manifest agrees with the plan",
    );
}

/// The envelope's seal backend is the one the signed manifest names, and an `rsa-oaep` envelope
/// names the seal public key the manifest names.
fn check_seal_backend(s: &SealedMaster, m: &Manifest, fails: &mut Vec<(String, String)>) {
    if !crate::seal::ALGORITHMS.contains(&m.master.seal_algorithm.as_str()) {
        fails.push((
            "master.seal_algorithm".into(),
            format!(
                "{:?} is not one of {:?}",
                m.master.seal_algorithm,
                crate::seal::ALGORITHMS
            ),
        ));
    }
    if s.algorithm != m.master.seal_algorithm {
        fails.push((
            "algorithm".into(),
            format!(
                "{:?}, manifest says {:?}",
                s.algorithm, m.master.seal_algorithm
            ),
        ));
    }
    let rsa = m.master.seal_algorithm == crate::seal::ALGORITHM_RSA_OAEP;
    if rsa && m.master.seal_key_sha256.is_none() {
        fails.push((
            "master.seal_key_sha256".into(),
            "missing: an rsa-oaep manifest names the seal public key".into(),
        ));
    }
    if !rsa && m.master.seal_key_sha256.is_some() {
        fails.push((
            "master.seal_key_sha256".into(),
            "only an rsa-oaep manifest names a seal public key".into(),
        ));
    }
    if s.key_sha256 != m.master.seal_key_sha256 {
        fails.push((
            "key_sha256".into(),
            format!(
                "{:?}, manifest says {:?}",
                s.key_sha256, m.master.seal_key_sha256
            ),
        ));
    }
}

/// No validator may appear twice: a repeated public key (or leaf) would be deposited twice and
/// registered on SSV twice, while every per-entry check still passes.
fn check_unique_validators(m: &Manifest, c: &mut Checker) {
    let mut fails = Vec::new();
    // Keys compared case-insensitively, borrowed from the manifest when already lower case.
    fn lower(s: &str) -> std::borrow::Cow<'_, str> {
        if s.bytes().any(|b| b.is_ascii_uppercase()) {
            s.to_ascii_lowercase().into()
        } else {
            s.into()
        }
    }
    let mut pubkeys: std::collections::HashMap<std::borrow::Cow<'_, str>, usize> =
        std::collections::HashMap::with_capacity(m.validators.len());
    let mut leaves: std::collections::HashMap<std::borrow::Cow<'_, str>, usize> =
        std::collections::HashMap::with_capacity(m.validators.len());
    for (i, v) in m.validators.iter().enumerate() {
        if let Some(first) = pubkeys.insert(lower(&v.pubkey), i) {
            fails.push((
                format!("validators[{i}].pubkey"),
                format!("repeats validators[{first}].pubkey"),
            ));
        }
        if let Some(first) = leaves.insert(lower(&v.merkle_leaf), i) {
            fails.push((
                format!("validators[{i}].merkle_leaf"),
                format!("repeats validators[{first}].merkle_leaf"),
            ));
        }
    }
    c.group(
        "validators.unique",
        files::MANIFEST,
        fails,
        format!("{} distinct validators", m.validators.len()),
    );
}

/// The transcript's public facts agree with the signed manifest: the plan and files it recorded,
/// the master fingerprint, the identity key, and every `validator.created` entry (in order) with
/// the manifest's validator of the same position. Fed one entry at a time: only the entries
/// that are not `validator.created` are kept.
struct TranscriptCheck<'m> {
    m: &'m Manifest,
    created: usize,
    created_fails: Vec<(String, String)>,
    kept: Vec<Entry>,
}

impl<'m> TranscriptCheck<'m> {
    fn new(m: &'m Manifest) -> Self {
        TranscriptCheck {
            m,
            created: 0,
            created_fails: Vec::new(),
            kept: Vec::new(),
        }
    }

    fn entry(&mut self, e: Entry) {
        use serde_json::Value;
        if e.step != "validator.created" {
            self.kept.push(e);
            return;
        }
        let i = self.created;
        self.created += 1;
        let Some(v) = self.m.validators.get(i) else {
            return;
        };
        let d = &e.details;
        let same = d.get("index").and_then(Value::as_u64) == Some(u64::from(v.index))
            && d.get("pubkey").and_then(Value::as_str) == Some(v.pubkey.as_str())
            && d.get("deposit_data_root").and_then(Value::as_str)
                == Some(v.deposit_data_root.as_str())
            && d.get("owner_nonce").and_then(Value::as_u64) == Some(v.owner_nonce)
            && d.get("merkle_leaf").and_then(Value::as_str) == Some(v.merkle_leaf.as_str())
            && e.outputs.get("sharesData") == Some(&v.shares_data_sha256);
        if !same && self.created_fails.len() < 100 {
            self.created_fails.push((
                format!("validator.created[{i}] (seq {})", e.seq),
                format!(
                    "does not match manifest validators[{i}] (index {}, pubkey {})",
                    v.index, v.pubkey
                ),
            ));
        }
    }

    /// The details of the `ceremony.started` entry (what `operators_chain` recorded).
    fn started_details(&self) -> Option<serde_json::Value> {
        self.kept
            .iter()
            .find(|e| e.step == "ceremony.started")
            .map(|e| e.details.clone())
    }

    fn record(self, c: &mut Checker) {
        let m = self.m;
        let mut fails = check_transcript_facts(&self.kept, m);
        if self.created != m.validators.len() {
            fails.push((
                "validator.created".into(),
                format!(
                    "{} entries, manifest lists {} validators",
                    self.created,
                    m.validators.len()
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
fn check_transcript_vs_manifest(tr: &Transcript, m: &Manifest, c: &mut Checker) {
    let mut check = TranscriptCheck::new(m);
    for e in tr.entries() {
        check.entry(e.clone());
    }
    check.record(c);
}

/// The steps other than `validator.created` against the manifest.
fn check_transcript_facts(entries: &[Entry], m: &Manifest) -> Vec<(String, String)> {
    use serde_json::Value;
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
    if let Some(e) = one("ceremony.started", &mut fails) {
        digest(e.step.as_str(), &e.inputs, files::PLAN, &mut fails);
        digest(e.step.as_str(), &e.inputs, files::OPERATORS, &mut fails);
        if e.details.get("ceremony_id").and_then(Value::as_str) != Some(m.ceremony_id.as_str()) {
            fails.push((
                "ceremony.started.ceremony_id".into(),
                format!(
                    "{}, manifest says {}",
                    e.details["ceremony_id"], m.ceremony_id
                ),
            ));
        }
    }
    if let Some(e) = one("hsm.keys", &mut fails) {
        if e.details.get("identity_public_key").and_then(Value::as_str)
            != Some(m.identity.public_key.as_str())
        {
            fails.push((
                "hsm.keys.identity_public_key".into(),
                "differs from manifest identity.public_key".into(),
            ));
        }
        // The attested seal key is of the manifest's backend: an AES key seals aes-256-gcm,
        // an RSA key rsa-oaep.
        let want = if m.master.seal_algorithm == crate::seal::ALGORITHM_RSA_OAEP {
            "CKK_RSA"
        } else {
            "CKK_AES"
        };
        let got = e.details["seal"]["key_type"].as_str();
        if got != Some(want) {
            fails.push((
                "hsm.keys.seal.key_type".into(),
                format!(
                    "{}, a {} seal key is {want}",
                    e.details["seal"]["key_type"], m.master.seal_algorithm
                ),
            ));
        }
    }
    if let Some(e) = one("master.ready", &mut fails) {
        if e.details.get("fingerprint").and_then(Value::as_str)
            != Some(m.master.fingerprint.as_str())
        {
            fails.push((
                "master.ready.fingerprint".into(),
                format!(
                    "{}, manifest master.fingerprint is {}",
                    e.details["fingerprint"], m.master.fingerprint
                ),
            ));
        }
    }
    if let Some(e) = one("files.written", &mut fails) {
        for name in [
            files::PLAN,
            files::OPERATORS,
            files::DEPOSIT_DATA,
            files::KEYSHARES,
        ] {
            digest(e.step.as_str(), &e.outputs, name, &mut fails);
        }
    }
    if let Some(e) = one("master.sealed", &mut fails) {
        digest(
            e.step.as_str(),
            &e.outputs,
            files::SEALED_MASTER,
            &mut fails,
        );
        if e.details.get("algorithm").and_then(Value::as_str)
            != Some(m.master.seal_algorithm.as_str())
        {
            fails.push((
                "master.sealed.algorithm".into(),
                format!(
                    "{}, manifest master.seal_algorithm is {}",
                    e.details["algorithm"], m.master.seal_algorithm
                ),
            ));
        }
    }
    fails
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::*;
    use crate::transcript::Step;
    use serde_json::json;

    fn validator(i: u32) -> ValidatorEntry {
        ValidatorEntry {
            index: i,
            pubkey: format!("{:02x}", i + 1).repeat(48),
            deposit_data_root: format!("{:02x}", i + 100).repeat(32),
            owner_nonce: u64::from(i) + 5,
            shares_data_sha256: format!("{:02x}", i + 50).repeat(32),
            merkle_leaf: format!("0x{}", format!("{:02x}", i + 200).repeat(32)),
        }
    }

    fn sample_manifest(n: u32) -> Manifest {
        let files: BTreeMap<String, String> = files::HASHED
            .iter()
            .enumerate()
            .map(|(i, f)| ((*f).to_owned(), format!("{i:02x}").repeat(32)))
            .collect();
        Manifest {
            format: FORMAT.into(),
            ceremony_id: "c-1".into(),
            created_at: "2026-11-25T10:00:00Z".into(),
            network: NetworkInfo {
                name: "hoodi".into(),
                fork_version: "10000910".into(),
            },
            tool: ToolInfo {
                name: "ceremony".into(),
                version: "0".into(),
                git_commit: None,
                binary_sha256: "aa".repeat(32),
                cargo_lock_sha256: "bb".repeat(32),
            },
            identity: IdentityInfo {
                algorithm: SIGNATURE_ALGORITHM.into(),
                key_label: "kc-identity".into(),
                public_key: "04".to_owned() + &"cc".repeat(64),
                fingerprint: "dd".repeat(32),
            },
            master: MasterInfo {
                seed_source: "hsm".into(),
                fingerprint: "ee".repeat(32),
                seal_key_label: "kc-seal".into(),
                seal_algorithm: "aes-256-gcm".into(),
                seal_key_sha256: None,
            },
            withdrawal: WithdrawalInfo {
                address: "0x".to_owned() + &"11".repeat(20),
                kind: "0x01".into(),
                credentials: "01".repeat(32),
                amount_gwei: 32_000_000_000,
            },
            owner: OwnerInfo {
                address: "0x".to_owned() + &"22".repeat(20),
                first_nonce: 5,
                last_nonce: 5 + u64::from(n) - 1,
            },
            operators: OperatorsInfo {
                provenance: None,
                unpinned_allowed: true,
                list: vec![],
            },
            validators: (0..n).map(validator).collect(),
            merkle_root: "0x".to_owned() + &"ff".repeat(32),
            transcript_head: String::new(),
            files,
        }
    }

    /// The transcript the pipeline writes for `m` (same steps, same fields).
    fn transcript_for(m: &Manifest) -> Transcript {
        let f = |n: &str| m.files[n].clone();
        let mut t = Transcript::new();
        t.append(
            Step::new("ceremony.started", "ceremony")
                .input(files::PLAN, f(files::PLAN))
                .input(files::OPERATORS, f(files::OPERATORS))
                .details(json!({"ceremony_id": m.ceremony_id})),
        );
        t.append(Step::new("hsm.keys", "ceremony").details(json!({
            "identity_public_key": m.identity.public_key,
            "seal": {"key_type": "CKK_AES"},
        })));
        t.append(
            Step::new("master.ready", "ceremony")
                .details(json!({"source": "hsm", "fingerprint": m.master.fingerprint})),
        );
        for v in &m.validators {
            t.append(
                Step::new("validator.created", "ceremony")
                    .output("sharesData", v.shares_data_sha256.clone())
                    .details(json!({
                        "index": v.index,
                        "pubkey": v.pubkey,
                        "deposit_data_root": v.deposit_data_root,
                        "owner_nonce": v.owner_nonce,
                        "merkle_leaf": v.merkle_leaf,
                    })),
            );
        }
        let mut w = Step::new("files.written", "ceremony");
        for n in [
            files::PLAN,
            files::OPERATORS,
            files::DEPOSIT_DATA,
            files::KEYSHARES,
        ] {
            w = w.output(n, f(n));
        }
        t.append(w);
        t.append(
            Step::new("master.sealed", "ceremony")
                .output(files::SEALED_MASTER, f(files::SEALED_MASTER))
                .details(json!({"algorithm": m.master.seal_algorithm})),
        );
        t
    }

    fn failures(c: &Checker) -> Vec<String> {
        c.checks
            .iter()
            .filter(|c| !c.ok)
            .map(|c| format!("{} {}: {}", c.name, c.field, c.detail))
            .collect()
    }

    #[test]
    fn a_validator_listed_twice_fails() {
        let mut c = Checker::new();
        check_unique_validators(&sample_manifest(3), &mut c);
        assert!(failures(&c).is_empty(), "{:?}", failures(&c));

        let mut m = sample_manifest(3);
        m.validators[2].pubkey = m.validators[0].pubkey.clone();
        m.validators[2].merkle_leaf = m.validators[0].merkle_leaf.to_uppercase();
        let mut c = Checker::new();
        check_unique_validators(&m, &mut c);
        let f = failures(&c);
        assert!(
            f.iter().any(|f| f.contains("validators[2].pubkey")),
            "{f:?}"
        );
        assert!(
            f.iter().any(|f| f.contains("validators[2].merkle_leaf")),
            "{f:?}"
        );
    }

    #[test]
    fn transcript_that_agrees_with_the_manifest_passes() {
        let m = sample_manifest(3);
        let mut c = Checker::new();
        check_transcript_vs_manifest(&transcript_for(&m), &m, &mut c);
        assert!(failures(&c).is_empty(), "{:?}", failures(&c));
    }

    #[test]
    fn transcript_validators_must_match_the_manifest_in_order() {
        let m = sample_manifest(3);
        let t = transcript_for(&m);
        // The manifest's validators swapped: the transcript recorded another order.
        let mut swapped = m.clone();
        swapped.validators.swap(0, 1);
        let mut c = Checker::new();
        check_transcript_vs_manifest(&t, &swapped, &mut c);
        let f = failures(&c);
        assert!(
            f.iter().any(|f| f.contains("validator.created[0]")),
            "{f:?}"
        );
        // A validator whose pubkey the transcript never recorded.
        let mut other = m.clone();
        other.validators[2].pubkey = "77".repeat(48);
        let mut c = Checker::new();
        check_transcript_vs_manifest(&t, &other, &mut c);
        let f = failures(&c);
        assert!(
            f.iter().any(|f| f.contains("validator.created[2]")),
            "{f:?}"
        );
        // One validator fewer in the manifest than the transcript created.
        let mut fewer = m.clone();
        fewer.validators.pop();
        let mut c = Checker::new();
        check_transcript_vs_manifest(&t, &fewer, &mut c);
        assert!(!failures(&c).is_empty());
    }

    #[test]
    fn transcript_files_master_and_identity_must_match_the_manifest() {
        let m = sample_manifest(2);
        let t = transcript_for(&m);
        for edit in [
            (|m: &mut Manifest| {
                m.files.insert(files::DEPOSIT_DATA.into(), "99".repeat(32));
            }) as fn(&mut Manifest),
            |m| {
                m.files.insert(files::PLAN.into(), "99".repeat(32));
            },
            |m| {
                m.files.insert(files::SEALED_MASTER.into(), "99".repeat(32));
            },
            |m| m.master.fingerprint = "98".repeat(32),
            |m| m.identity.public_key = "04".to_owned() + &"97".repeat(64),
            |m| m.ceremony_id = "c-2".into(),
        ] {
            let mut changed = m.clone();
            edit(&mut changed);
            let mut c = Checker::new();
            check_transcript_vs_manifest(&t, &changed, &mut c);
            assert!(!failures(&c).is_empty(), "{changed:?}");
        }
    }

    /// Peak resident memory of this process (KiB), from `/proc/self/status`.
    fn peak_rss_kib() -> u64 {
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap()
    }

    /// A 1 GiB `keyshares.json` (sparse: no disk used) for a one-validator manifest
    /// is refused by its size, without reading it (it used to be read whole and copied again).
    #[test]
    fn a_huge_keyshares_file_is_refused_without_being_read() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("bundle");
        std::fs::create_dir_all(dir.join("sealed")).unwrap();
        std::fs::write(dir.join(files::MANIFEST), sample_manifest(1).to_bytes()).unwrap();
        let f = std::fs::File::create(dir.join(files::KEYSHARES)).unwrap();
        f.set_len(1 << 30).unwrap();
        drop(f);
        let before = peak_rss_kib();
        let report = verify_bundle(&dir, &VerifyOptions::default());
        let grew = peak_rss_kib().saturating_sub(before);
        assert!(
            grew < 32 * 1024,
            "verification raised peak memory by {grew} KiB"
        );
        let f: Vec<String> = report
            .failures()
            .map(|c| format!("{} {}: {}", c.file, c.field, c.detail))
            .collect();
        assert!(
            f.iter()
                .any(|l| l.contains(files::KEYSHARES) && l.contains("1073741824 bytes, more than")),
            "{f:?}"
        );
    }

    #[test]
    fn symlinked_bundle_files_are_refused_without_being_read() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("bundle");
        std::fs::create_dir_all(dir.join("sealed")).unwrap();
        std::fs::write(dir.join(files::MANIFEST), sample_manifest(1).to_bytes()).unwrap();
        let outside = tmp.path().join("outside.toml");
        std::fs::write(&outside, b"secret = 1\n").unwrap();
        std::os::unix::fs::symlink(&outside, dir.join(files::PLAN)).unwrap();
        // A device would make a plain read never end.
        std::os::unix::fs::symlink("/dev/zero", dir.join(files::DEPOSIT_DATA)).unwrap();
        let report = verify_bundle(&dir, &VerifyOptions::default());
        let f: Vec<String> = report
            .failures()
            .map(|c| format!("{} {}: {}", c.file, c.field, c.detail))
            .collect();
        for name in [files::PLAN, files::DEPOSIT_DATA] {
            assert!(
                f.iter()
                    .any(|l| l.contains(name) && l.contains("not a regular file")),
                "{name}: {f:?}"
            );
        }
    }

    #[test]
    fn the_envelope_backend_and_key_must_be_the_manifests() {
        let m = sample_manifest(1);
        let key = "ab".repeat(32);
        let aes = SealedMaster::new("kc-seal", "c-1", &[7; 32], &[1; 60]);
        let rsa = SealedMaster::rsa_oaep("kc-seal", "c-1", &[7; 32], "sha256", &key, &[1; 444]);
        let run = |s: &SealedMaster, m: &Manifest| {
            let mut f = Vec::new();
            check_seal_backend(s, m, &mut f);
            f.into_iter().map(|(field, _)| field).collect::<Vec<_>>()
        };
        assert!(run(&aes, &m).is_empty());
        // an rsa-oaep envelope under an aes-256-gcm manifest
        assert_eq!(run(&rsa, &m), vec!["algorithm", "key_sha256"]);
        let mut mr = m.clone();
        mr.master.seal_algorithm = "rsa-oaep".into();
        mr.master.seal_key_sha256 = Some(key.clone());
        assert!(run(&rsa, &mr).is_empty());
        // the manifest names another key
        mr.master.seal_key_sha256 = Some("cd".repeat(32));
        assert_eq!(run(&rsa, &mr), vec!["key_sha256"]);
        // an rsa-oaep manifest without a key, and an unknown backend
        mr.master.seal_key_sha256 = None;
        assert_eq!(run(&rsa, &mr), vec!["master.seal_key_sha256", "key_sha256"]);
        mr.master.seal_algorithm = "chacha".into();
        assert!(run(&rsa, &mr).contains(&"master.seal_algorithm".to_string()));
    }
}
