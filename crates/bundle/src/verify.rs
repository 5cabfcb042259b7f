//! Whole-bundle verification: everything that can be checked without a secret.
//!
//! Used by `ceremony verify` (auditors), by the ceremony itself on the staged bundle before it
//! reports success, and by `signer-agent verify`/`import`. It never stops at the first problem:
//! every check becomes a [`Check`] in the [`Report`], failed ones naming their file and field.
//!
//! A bundle comes from elsewhere, so the order is cheap first (issue #20): every file is read
//! once through the bounded reader ([`crate::bounded`]: regular files only, size capped by what
//! the manifest declares) and hashed; fields are compared as text; only then, and only for a
//! file whose hash, entry count and layout are right and only for entries that passed their
//! cheap checks, is there cryptography: point decoding (curve and subgroup checks), the share
//! interpolation, and the BLS signatures (deposits and SSV ownership) in one batch — one by one
//! only when the batch fails, to name each bad entry. Entries beyond the manifest's count are
//! refused without being decoded.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use kc_ssv::{KeySharesFile, OperatorKey, SharesData};
use kc_validator::bls::{batch_verify, PublicKey, Signature};
use kc_validator::deposit::{self, DepositData, RawDeposit};
use serde::Serialize;

use crate::bounded::{self, caps};
use crate::manifest::{self, files, sha256_hex, Manifest, ManifestSignature};
use crate::merkle::{self, LeafInput};
use crate::operators::OperatorsFile;
use crate::plan::Plan;
use crate::seal::SealedMaster;
use crate::transcript::Transcript;

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

struct Checker {
    checks: Vec<Check>,
    /// Set when the manifest signature verified under the pinned identity.
    identity_pinned: bool,
    signed_by: Option<String>,
}

impl Checker {
    fn new() -> Self {
        Checker {
            checks: Vec::new(),
            identity_pinned: false,
            signed_by: None,
        }
    }
    fn pass(&mut self, name: &str, file: &str, detail: impl Into<String>) {
        self.checks.push(Check {
            name: name.into(),
            file: file.into(),
            field: String::new(),
            ok: true,
            detail: detail.into(),
        });
    }
    fn fail(
        &mut self,
        name: &str,
        file: &str,
        field: impl Into<String>,
        detail: impl Into<String>,
    ) {
        self.checks.push(Check {
            name: name.into(),
            file: file.into(),
            field: field.into(),
            ok: false,
            detail: detail.into(),
        });
    }
    /// Records `failures` for `name`, or one passing check with `summary` when there are none.
    fn group(
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

/// A file of the bundle as read: its text, and whether its SHA-256 is the one the manifest
/// lists (only then may it get expensive checks).
struct FileRead {
    text: String,
    hash_ok: bool,
}

fn read_all_files(dir: &Path) -> std::io::Result<BTreeSet<String>> {
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

/// Verifies the bundle in `dir`. Never panics on bad input: every problem is a failed check.
pub fn verify_bundle(dir: &Path, opts: &VerifyOptions) -> Report {
    verify_and_load(dir, opts).0
}

/// Verifies the bundle and, when every check passed, returns its parsed content.
pub fn load_verified(dir: &Path, opts: &VerifyOptions) -> Result<VerifiedBundle, Report> {
    match verify_and_load(dir, opts) {
        (report, Some(bundle)) if report.ok() => Ok(bundle),
        (report, _) => Err(report),
    }
}

fn verify_and_load(dir: &Path, opts: &VerifyOptions) -> (Report, Option<VerifiedBundle>) {
    let mut c = Checker::new();
    let loaded = run_checks(dir, opts, &mut c);
    let (ceremony_id, validators) = match &loaded {
        Some(b) => (
            Some(b.manifest.ceremony_id.clone()),
            b.manifest.validators.len(),
        ),
        None => (None, 0),
    };
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

fn run_checks(dir: &Path, opts: &VerifyOptions, c: &mut Checker) -> Option<VerifiedBundle> {
    // 1. The manifest and its signature.
    let manifest_bytes = match bounded::read(&dir.join(files::MANIFEST), &caps::manifest()) {
        Ok((b, _)) => b,
        Err(e) => {
            c.fail("manifest.read", files::MANIFEST, "", e.to_string());
            return None;
        }
    };
    let manifest = match Manifest::from_bytes(&manifest_bytes) {
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
    check_signature(dir, &manifest, &manifest_bytes, opts, c);
    drop(manifest_bytes);

    // 2. File hashes, and nothing else in the directory. Each file is read once, through the
    // bounded reader, with a ceiling derived from the manifest's counts.
    let mut read: BTreeMap<&str, FileRead> = BTreeMap::new();
    let listed: BTreeSet<&str> = manifest.files.keys().map(String::as_str).collect();
    let expected: BTreeSet<&str> = files::HASHED.into_iter().collect();
    let mut fails = Vec::new();
    for missing in expected.difference(&listed) {
        fails.push((
            format!("files.{missing}"),
            "not listed in the manifest".to_owned(),
        ));
    }
    for extra in listed.difference(&expected) {
        fails.push((
            format!("files.{extra}"),
            "listed but not part of a bundle".to_owned(),
        ));
    }
    let (validators, operators) = (manifest.validators.len(), manifest.operators.list.len());
    for name in files::HASHED {
        let cap = caps::for_file(name, validators, operators);
        match bounded::read_text(&dir.join(name), &cap) {
            Ok((text, got)) => {
                let hash_ok = match manifest.files.get(name) {
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
                read.insert(name, FileRead { text, hash_ok });
            }
            Err(e) => fails.push((name.to_owned(), e.to_string())),
        }
    }
    match read_all_files(dir) {
        Ok(present) => {
            for f in present {
                let marker_ok = opts.staged && f == crate::fsio::INCOMPLETE_MARKER;
                let dir_ok = f == "sealed/";
                if !expected.contains(f.as_str())
                    && !dir_ok
                    && f != files::MANIFEST
                    && f != files::MANIFEST_SIG
                    && !marker_ok
                {
                    fails.push((f.clone(), "file is not part of a bundle".to_owned()));
                }
            }
        }
        Err(e) => fails.push((
            String::new(),
            format!("cannot list the bundle directory: {e}"),
        )),
    }
    c.group(
        "files.hashes",
        files::MANIFEST,
        fails,
        format!("{} files present and hashed as listed", files::HASHED.len()),
    );

    let text = |name: &str| read.get(name).map(|f| f.text.as_str());
    let hash_ok = |name: &str| read.get(name).is_some_and(|f| f.hash_ok);

    // 3. Transcript.
    let mut transcript = None;
    if let Some(t) = text(files::TRANSCRIPT) {
        match Transcript::parse_and_verify(t) {
            Ok(tr) if tr.head() == manifest.transcript_head => {
                c.pass(
                    "transcript.chain",
                    files::TRANSCRIPT,
                    format!("{} entries, head {}", tr.entries().len(), tr.head()),
                );
                check_transcript_vs_manifest(&tr, &manifest, c);
                transcript = Some(tr);
            }
            Ok(tr) => c.fail(
                "transcript.head",
                files::MANIFEST,
                "transcript_head",
                format!(
                    "manifest says {}, transcript ends in {}",
                    manifest.transcript_head,
                    tr.head()
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
    check_operators_chain(&plan, transcript.as_ref(), c);
    drop(transcript);
    check_plan_vs_manifest(&plan, &manifest, c);
    check_unique_validators(&manifest, c);

    // 5. and 6. Deposit data and key shares: cheap checks (text, hashes, counts).
    let mark = c.checks.len();
    let deposits = check_deposits(
        text(files::DEPOSIT_DATA)?,
        hash_ok(files::DEPOSIT_DATA),
        &plan,
        &manifest,
        c,
    )?;
    let shares = check_keyshares(
        text(files::KEYSHARES)?,
        hash_ok(files::KEYSHARES),
        &plan,
        &manifest,
        c,
    )?;

    // 7. Cryptography, on what passed.
    let decoded = check_crypto(&deposits, &shares, &plan, &manifest, c);

    // 8. Merkle leaves and root (hashes of the bytes as written; no decoding needed).
    let ids = plan.operators.ids();
    let mut fails = Vec::new();
    let mut leaves: Vec<merkle::Hash> = Vec::with_capacity(manifest.validators.len());
    for (i, v) in manifest.validators.iter().enumerate() {
        let leaf = deposits
            .raw
            .get(i)
            .zip(shares.shares_data.get(i))
            .and_then(|(d, sd)| raw_leaf(d, sd, &ids));
        let Some(leaf) = leaf else {
            fails.push((
                format!("validators[{i}].merkle_leaf"),
                "cannot be computed: the deposit or sharesData of this validator is missing or \
                 malformed"
                    .to_owned(),
            ));
            continue;
        };
        let got = format!("0x{}", hex::encode(leaf));
        if got != v.merkle_leaf {
            fails.push((
                format!("validators[{i}].merkle_leaf"),
                format!("manifest says {}, computed {got}", v.merkle_leaf),
            ));
        }
        leaves.push(leaf);
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
                c.group(
                    "seal.envelope",
                    files::SEALED_MASTER,
                    fails,
                    "AES-256-GCM envelope bound to this ceremony and plan",
                );
            }
            Err(e) => c.fail("seal.envelope", files::SEALED_MASTER, "", e.to_string()),
        }
    }

    // 10. The binary that ran.
    if let Some(want) = &opts.expect_binary {
        if want.eq_ignore_ascii_case(&manifest.tool.binary_sha256) {
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
                format!("{}, expected {want}", manifest.tool.binary_sha256),
            );
        }
    }

    if c.failed_since(0) || c.failed_since(mark) {
        return None;
    }
    let deposits = decoded?;
    Some(VerifiedBundle {
        dir: dir.to_owned(),
        manifest,
        plan,
        deposits,
        keyshares: shares.file,
        shares_data: shares.shares_data,
        leaves,
    })
}

/// The Merkle leaf of one validator from the bytes as written (hex decoded, nothing else).
fn raw_leaf(d: &RawDeposit, shares_data: &[u8], ids: &[u64]) -> Option<merkle::Hash> {
    let pubkey = hex::decode(&d.pubkey).ok()?;
    let signature = hex::decode(&d.signature).ok()?;
    let root: [u8; 32] = hex::decode(&d.deposit_data_root).ok()?.try_into().ok()?;
    if pubkey.len() != 48 || signature.len() != 96 || shares_data.is_empty() {
        return None;
    }
    Some(merkle::leaf_hash(&LeafInput {
        pubkey: &pubkey,
        signature: &signature,
        deposit_data_root: &root,
        operator_ids: ids,
        shares_data,
    }))
}

fn check_signature(
    dir: &Path,
    manifest: &Manifest,
    manifest_bytes: &[u8],
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
                        "",
                        "not in the exact form the ceremony writes (pretty JSON, lower-case hex, \
                         trailing newline)",
                    );
                }
                s
            }
            Err(e) => return c.fail("manifest.signature", files::MANIFEST_SIG, "", e.to_string()),
        },
        Err(e) => return c.fail("manifest.signature", files::MANIFEST_SIG, "", e.to_string()),
    };
    let signer = hex::decode(&sig.public_key)
        .ok()
        .map(|k| manifest::key_fingerprint(&k));
    match sig.verify(manifest_bytes) {
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
    if sig.public_key != manifest.identity.public_key {
        c.fail(
            "identity.manifest",
            files::MANIFEST_SIG,
            "public_key",
            "differs from manifest identity.public_key",
        );
    }
    let fp = hex::decode(&manifest.identity.public_key)
        .map(|k| manifest::key_fingerprint(&k))
        .unwrap_or_default();
    if fp != manifest.identity.fingerprint {
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
fn check_operators_chain(plan: &Plan, transcript: Option<&Transcript>, c: &mut Checker) {
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
    let recorded = transcript
        .and_then(|t| t.entries().iter().find(|e| e.step == "ceremony.started"))
        .map(|e| e.details.get("operators_chain").cloned());
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

/// No validator may appear twice: a repeated public key (or leaf) would be deposited twice and
/// registered on SSV twice, while every per-entry check still passes.
fn check_unique_validators(m: &Manifest, c: &mut Checker) {
    let mut fails = Vec::new();
    let mut pubkeys: BTreeMap<String, usize> = BTreeMap::new();
    let mut leaves: BTreeMap<String, usize> = BTreeMap::new();
    for (i, v) in m.validators.iter().enumerate() {
        if let Some(first) = pubkeys.insert(v.pubkey.to_ascii_lowercase(), i) {
            fails.push((
                format!("validators[{i}].pubkey"),
                format!("repeats validators[{first}].pubkey"),
            ));
        }
        if let Some(first) = leaves.insert(v.merkle_leaf.to_ascii_lowercase(), i) {
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
/// the manifest's validator of the same position.
fn check_transcript_vs_manifest(tr: &Transcript, m: &Manifest, c: &mut Checker) {
    use serde_json::Value;
    let mut fails: Vec<(String, String)> = Vec::new();
    let entries = tr.entries();
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
    }
    let created: Vec<_> = entries
        .iter()
        .filter(|e| e.step == "validator.created")
        .collect();
    if created.len() != m.validators.len() {
        fails.push((
            "validator.created".into(),
            format!(
                "{} entries, manifest lists {} validators",
                created.len(),
                m.validators.len()
            ),
        ));
    }
    for (i, (e, v)) in created.iter().zip(&m.validators).enumerate() {
        let d = &e.details;
        let same = d.get("index").and_then(Value::as_u64) == Some(u64::from(v.index))
            && d.get("pubkey").and_then(Value::as_str) == Some(v.pubkey.as_str())
            && d.get("deposit_data_root").and_then(Value::as_str)
                == Some(v.deposit_data_root.as_str())
            && d.get("owner_nonce").and_then(Value::as_u64) == Some(v.owner_nonce)
            && d.get("merkle_leaf").and_then(Value::as_str) == Some(v.merkle_leaf.as_str())
            && e.outputs.get("sharesData") == Some(&v.shares_data_sha256);
        if !same {
            fails.push((
                format!("validator.created[{i}] (seq {})", e.seq),
                format!(
                    "does not match manifest validators[{i}] (index {}, pubkey {})",
                    v.index, v.pubkey
                ),
            ));
        }
    }
    c.group(
        "transcript.manifest",
        files::TRANSCRIPT,
        fails,
        format!(
            "transcript agrees with the manifest ({} validators, files, master, identity)",
            created.len()
        ),
    );
}

/// `deposit_data.json` after its cheap checks.
struct DepositsRead {
    /// The entries up to the manifest's count, undecoded.
    raw: Vec<RawDeposit>,
    /// Per entry: its cheap checks passed.
    passed: Vec<bool>,
    /// The file may get cryptography: its hash is the manifest's, and its entry count and
    /// layout are right.
    trusted: bool,
}

/// `keyshares.json` after its cheap checks.
struct SharesRead {
    /// The file, with the entries up to the manifest's count.
    file: KeySharesFile,
    /// Per entry: the decoded sharesData (its SHA-256 checked), `None` if it is malformed.
    decoded: Vec<Option<SharesData>>,
    /// Per entry: the sharesData bytes (empty if malformed), aligned with the manifest.
    shares_data: Vec<Vec<u8>>,
    passed: Vec<bool>,
    trusted: bool,
}

/// Why a file got no cryptographic check.
fn not_checked(file: &str) -> String {
    format!(
        "not checked: {file} does not match the manifest (hash, entry count or layout), so no \
         point was decoded and no signature verified"
    )
}

/// A lower-case hex field of `len` bytes, or why not.
fn hex_shape(value: &str, len: usize) -> Result<(), String> {
    if value.len() != 2 * len {
        return Err(format!("{} hex digits, expected {}", value.len(), 2 * len));
    }
    if let Some(c) = value.chars().find(|c| !matches!(c, '0'..='9' | 'a'..='f')) {
        return Err(format!("{c:?} is not a lower-case hex digit"));
    }
    Ok(())
}

/// Whether `text` is exactly `raw` in ethstaker-deposit's layout, compared entry by entry (no
/// second copy of the file).
fn deposit_layout_matches(text: &str, raw: &[RawDeposit]) -> bool {
    let mut rest = text;
    let mut take = |want: &str| match rest.strip_prefix(want) {
        Some(r) => {
            rest = r;
            true
        }
        None => false,
    };
    if !take("[") {
        return false;
    }
    let mut buf = String::with_capacity(800);
    for (i, d) in raw.iter().enumerate() {
        if i > 0 && !take(", ") {
            return false;
        }
        buf.clear();
        d.write_json(&mut buf);
        if !take(&buf) {
            return false;
        }
    }
    take("]") && rest.is_empty()
}

/// Cheap checks of `deposit_data.json`: entry count, layout, every field as text against the
/// plan and the manifest. Nothing is decoded; entries beyond the manifest's count are refused
/// and dropped unread.
fn check_deposits(
    text: &str,
    hash_ok: bool,
    plan: &Plan,
    m: &Manifest,
    c: &mut Checker,
) -> Option<DepositsRead> {
    let mut raw = match deposit::parse_raw_json(text) {
        Ok(l) => l,
        Err(e) => {
            c.fail("deposit_data.parse", files::DEPOSIT_DATA, "", e.to_string());
            return None;
        }
    };
    let count = m.validators.len();
    let mut fails: Vec<(String, String)> = Vec::new();
    let layout_ok = deposit_layout_matches(text, &raw);
    if !layout_ok {
        fails.push((
            String::new(),
            "not in the exact ethstaker-deposit 1.3.1 layout".into(),
        ));
    }
    let count_ok = raw.len() == count;
    if raw.len() > count {
        fails.push((
            format!("[{count}]"),
            format!(
                "{} entries beyond the manifest's {count} validators: refused, not decoded",
                raw.len() - count
            ),
        ));
        raw.truncate(count);
    } else if raw.len() < count {
        fails.push((
            String::new(),
            format!("{} entries, manifest lists {count} validators", raw.len()),
        ));
    }
    let wc = hex::encode(deposit::withdrawal_credentials(
        plan.withdrawal_type,
        &plan.withdrawal_address,
    ));
    let fork = hex::encode(plan.network.genesis_fork_version());
    let mut passed = Vec::with_capacity(raw.len());
    for (i, (d, v)) in raw.iter().zip(&m.validators).enumerate() {
        let f = |name: &str| format!("[{i}].{name}");
        let before = fails.len();
        for (name, value, len) in [
            ("pubkey", &d.pubkey, 48),
            ("withdrawal_credentials", &d.withdrawal_credentials, 32),
            ("signature", &d.signature, 96),
            ("deposit_message_root", &d.deposit_message_root, 32),
            ("deposit_data_root", &d.deposit_data_root, 32),
            ("fork_version", &d.fork_version, 4),
        ] {
            if let Err(e) = hex_shape(value, len) {
                fails.push((f(name), e));
            }
        }
        if d.pubkey != v.pubkey {
            fails.push((
                f("pubkey"),
                format!("{}, manifest says {}", d.pubkey, v.pubkey),
            ));
        }
        if d.withdrawal_credentials != wc {
            fails.push((
                f("withdrawal_credentials"),
                format!("{}, the plan gives {wc}", d.withdrawal_credentials),
            ));
        }
        if d.amount != plan.amount_gwei() {
            fails.push((
                f("amount"),
                format!("{}, the plan gives {}", d.amount, plan.amount_gwei()),
            ));
        }
        if d.fork_version != fork {
            fails.push((
                f("fork_version"),
                format!("{}, the plan's network has {fork}", d.fork_version),
            ));
        }
        if d.network_name != plan.network.name() {
            fails.push((
                f("network_name"),
                format!(
                    "{:?}, the plan's network is {:?}",
                    d.network_name,
                    plan.network.name()
                ),
            ));
        }
        if d.deposit_data_root != v.deposit_data_root {
            fails.push((
                f("deposit_data_root"),
                format!(
                    "{}, manifest says {}",
                    d.deposit_data_root, v.deposit_data_root
                ),
            ));
        }
        passed.push(fails.len() == before);
    }
    c.group(
        "deposit_data.plan",
        files::DEPOSIT_DATA,
        fails,
        format!(
            "{} deposits for {} with credentials {wc}",
            raw.len(),
            plan.network.name(),
        ),
    );
    Some(DepositsRead {
        raw,
        passed,
        trusted: hash_ok && count_ok && layout_ok,
    })
}

/// Cheap checks of `keyshares.json`: entry count, every field as text against the plan and the
/// manifest, sharesData's length and SHA-256. Nothing is decoded as a point; entries beyond the
/// manifest's count are refused and dropped unread.
fn check_keyshares(
    text: &str,
    hash_ok: bool,
    plan: &Plan,
    m: &Manifest,
    c: &mut Checker,
) -> Option<SharesRead> {
    let mut file = match KeySharesFile::from_json(text) {
        Ok(f) => f,
        Err(e) => {
            c.fail("keyshares.parse", files::KEYSHARES, "", e.to_string());
            return None;
        }
    };
    let ids = plan.operators.ids();
    let n = ids.len();
    let owner = plan.owner.to_checksum();
    let count = m.validators.len();
    let mut fails: Vec<(String, String)> = Vec::new();
    let count_ok = file.shares.len() == count;
    if file.shares.len() > count {
        fails.push((
            format!("shares[{count}]"),
            format!(
                "{} entries beyond the manifest's {count} validators: refused, not decoded",
                file.shares.len() - count
            ),
        ));
        file.shares.truncate(count);
    } else if file.shares.len() < count {
        fails.push((
            "shares".into(),
            format!(
                "{} entries, manifest lists {count} validators",
                file.shares.len()
            ),
        ));
    }
    let keys: Vec<(u64, &str)> = plan
        .operators
        .operators
        .iter()
        .map(|o| (o.id, o.public_key.as_str()))
        .collect();
    let mut decoded = Vec::with_capacity(file.shares.len());
    let mut shares_data = Vec::with_capacity(file.shares.len());
    let mut passed = Vec::with_capacity(file.shares.len());
    for (i, (item, v)) in file.shares.iter().zip(&m.validators).enumerate() {
        let f = |name: &str| format!("shares[{i}].{name}");
        let before = fails.len();
        let pk_hex = format!("0x{}", v.pubkey);
        if item.data.public_key != pk_hex {
            fails.push((
                f("data.publicKey"),
                format!("{}, manifest says {pk_hex}", item.data.public_key),
            ));
        }
        if item.payload.public_key != pk_hex {
            fails.push((
                f("payload.publicKey"),
                format!("{}, manifest says {pk_hex}", item.payload.public_key),
            ));
        }
        if item.data.owner_address != owner {
            fails.push((
                f("data.ownerAddress"),
                format!("{}, the plan's owner is {owner}", item.data.owner_address),
            ));
        }
        if item.data.owner_nonce != v.owner_nonce {
            fails.push((
                f("data.ownerNonce"),
                format!("{}, manifest says {}", item.data.owner_nonce, v.owner_nonce),
            ));
        }
        if item.payload.operator_ids != ids {
            fails.push((
                f("payload.operatorIds"),
                format!("{:?}, the cluster is {ids:?}", item.payload.operator_ids),
            ));
        }
        let listed: Vec<(u64, &str)> = item
            .data
            .operators
            .iter()
            .map(|o| (o.id, o.operator_key.as_str()))
            .collect();
        if listed != keys {
            fails.push((
                f("data.operators"),
                "operator ids or keys differ from operators.json".into(),
            ));
        }
        // Every entry pushes its sharesData (empty when malformed) so that the list stays
        // aligned with the deposits for the Merkle leaves.
        match SharesData::from_hex(&item.payload.shares_data, n, &pk_hex) {
            Ok(sd) => {
                let bytes = sd.to_bytes();
                let digest = sha256_hex(&bytes);
                if digest != v.shares_data_sha256 {
                    fails.push((
                        f("payload.sharesData"),
                        format!("SHA-256 {digest}, manifest says {}", v.shares_data_sha256),
                    ));
                }
                decoded.push(Some(sd));
                shares_data.push(bytes);
            }
            Err(e) => {
                fails.push((f("payload.sharesData"), e.to_string()));
                decoded.push(None);
                shares_data.push(Vec::new());
            }
        }
        passed.push(fails.len() == before);
    }
    c.group(
        "keyshares.fields",
        files::KEYSHARES,
        fails,
        format!(
            "{} entries for owner {owner}, nonces {}..={}",
            file.shares.len(),
            m.owner.first_nonce,
            m.owner.last_nonce
        ),
    );
    Some(SharesRead {
        file,
        decoded,
        shares_data,
        passed,
        trusted: hash_ok && count_ok,
    })
}

/// (index, signing digest, public key, signature) of an SSV ownership signature.
type Ownership = (usize, [u8; 32], PublicKey, Signature);

/// The cryptography, only on files that passed their cheap checks as a whole (hash, count,
/// layout) and only on entries that passed theirs: point decoding, deposit roots, ciphertext
/// ranges, the share interpolation (one multi-scalar check for all validators), and every BLS
/// signature in one batch. Returns the decoded deposits when every one of them decoded.
fn check_crypto(
    d: &DepositsRead,
    s: &SharesRead,
    plan: &Plan,
    m: &Manifest,
    c: &mut Checker,
) -> Option<Vec<DepositData>> {
    // Deposits: decode and recompute both roots.
    let mut deposits: Vec<(usize, DepositData)> = Vec::new();
    let mut fails = Vec::new();
    if d.trusted {
        for (i, (raw, ok)) in d.raw.iter().zip(&d.passed).enumerate() {
            if !ok {
                continue;
            }
            match raw
                .decode()
                .and_then(|dd| dd.verify_structure().map(|()| dd))
            {
                Ok(dd) => deposits.push((i, dd)),
                Err(e) => fails.push((format!("[{i}]"), e.to_string())),
            }
        }
    }

    // Key shares: the validator key, the ownership signature, the ciphertexts against the
    // cluster's moduli (the keys were compared with operators.json as text), and the share
    // interpolation.
    let ids = plan.operators.ids();
    let cluster = kc_ssv::Cluster::parse(
        plan.operators
            .operators
            .iter()
            .map(|o| (o.id, o.public_key.as_str())),
    )
    .ok();
    let mut ownership: Vec<Ownership> = Vec::new();
    let mut share_fails = Vec::new();
    let mut consistency_fails = Vec::new();
    let mut sets: Vec<(usize, [u8; 48], &SharesData)> = Vec::new();
    if s.trusted {
        for (i, ((sd, ok), v)) in s
            .decoded
            .iter()
            .zip(&s.passed)
            .zip(&m.validators)
            .enumerate()
        {
            let (Some(sd), true) = (sd, ok) else { continue };
            let f = format!("shares[{i}].payload.sharesData");
            let pk = match hex::decode(&v.pubkey)
                .ok()
                .and_then(|b| PublicKey::from_bytes(&b).ok())
            {
                Some(pk) => pk,
                None => {
                    share_fails.push((
                        format!("shares[{i}].data.publicKey"),
                        "not a valid BLS public key".into(),
                    ));
                    continue;
                }
            };
            match Signature::from_bytes(&sd.signature) {
                Ok(sig) => {
                    let digest = kc_ssv::ownership::ownership_digest(&plan.owner, v.owner_nonce);
                    ownership.push((i, digest, pk, sig));
                }
                Err(e) => share_fails.push((f.clone(), format!("ownership signature: {e}"))),
            }
            if let Some(cluster) = &cluster {
                for (op, ct) in cluster.operators().iter().zip(&sd.encrypted_shares) {
                    if !op.ciphertext_in_range(ct) {
                        share_fails.push((
                            f.clone(),
                            format!(
                                "encrypted share of operator {} is not an RSA ciphertext for its key",
                                op.id()
                            ),
                        ));
                    }
                }
            }
            sets.push((i, pk.to_bytes(), sd));
        }
        let batch: Vec<kc_ssv::ShareSet<'_>> = sets
            .iter()
            .map(|(_, pk, sd)| kc_ssv::ShareSet {
                validator_public_key: pk,
                operator_ids: &ids,
                share_public_keys: &sd.share_public_keys,
            })
            .collect();
        if kc_ssv::verify_many_share_public_keys(&batch).is_err() {
            // Name every culprit.
            for (i, pk, sd) in &sets {
                if let Err(e) = kc_ssv::verify_share_public_keys(pk, &ids, &sd.share_public_keys) {
                    consistency_fails
                        .push((format!("shares[{i}].payload.sharesData"), e.to_string()));
                }
            }
        }
    }
    c.group(
        "keyshares.decode",
        files::KEYSHARES,
        share_fails,
        format!(
            "{} validator keys, ownership signatures and encrypted shares decoded",
            sets.len()
        ),
    );
    if s.trusted {
        c.group(
            "keyshares.consistency",
            files::KEYSHARES,
            consistency_fails,
            format!(
                "share public keys of every validator interpolate to its public key (threshold {} of {})",
                kc_ssv::shamir::threshold(ids.len()).unwrap_or(0),
                ids.len()
            ),
        );
    } else {
        c.fail(
            "keyshares.consistency",
            files::KEYSHARES,
            "",
            not_checked(files::KEYSHARES),
        );
    }
    check_bls_batch(d.trusted, &deposits, fails, s.trusted, &ownership, c);
    let all = deposits.len() == d.raw.len() && d.raw.len() == m.validators.len();
    all.then(|| deposits.into_iter().map(|(_, dd)| dd).collect())
}

/// Every deposit and ownership signature that got this far, in one batch; one by one only if
/// the batch fails. A file that was not trusted gets a failed "not checked" instead.
fn check_bls_batch(
    deposits_trusted: bool,
    deposits: &[(usize, DepositData)],
    mut deposit_fails: Vec<(String, String)>,
    shares_trusted: bool,
    ownership: &[Ownership],
    c: &mut Checker,
) {
    let roots: Vec<[u8; 32]> = deposits.iter().map(|(_, d)| d.signing_root()).collect();
    let mut items: Vec<(&[u8], &PublicKey, &Signature)> = deposits
        .iter()
        .zip(&roots)
        .map(|((_, d), r)| (r.as_slice(), &d.pubkey, &d.signature))
        .collect();
    items.extend(
        ownership
            .iter()
            .map(|(_, digest, pk, sig)| (digest.as_slice(), pk, sig)),
    );
    let batch_ok = !items.is_empty() && batch_verify(&items);
    let mut ownership_fails = Vec::new();
    if !batch_ok {
        for (i, d) in deposits {
            if !d.pubkey.verify(&d.signing_root(), &d.signature) {
                deposit_fails.push((format!("[{i}]"), "deposit signature does not verify".into()));
            }
        }
        for (i, digest, pk, sig) in ownership {
            if !pk.verify(digest, sig) {
                ownership_fails.push((
                    format!("shares[{i}].payload.sharesData"),
                    "ownership signature does not verify for the owner and nonce".to_owned(),
                ));
            }
        }
    }
    let how = if batch_ok { " (batched)" } else { "" };
    if deposits_trusted {
        c.group(
            "deposit_data.signatures",
            files::DEPOSIT_DATA,
            deposit_fails,
            format!("{} deposit signatures and roots valid{how}", deposits.len()),
        );
    } else {
        c.fail(
            "deposit_data.signatures",
            files::DEPOSIT_DATA,
            "",
            not_checked(files::DEPOSIT_DATA),
        );
    }
    if shares_trusted {
        c.group(
            "keyshares.ownership",
            files::KEYSHARES,
            ownership_fails,
            format!("{} ownership signatures valid{how}", ownership.len()),
        );
    } else {
        c.fail(
            "keyshares.ownership",
            files::KEYSHARES,
            "",
            not_checked(files::KEYSHARES),
        );
    }
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
        t.append(
            Step::new("hsm.keys", "ceremony")
                .details(json!({"identity_public_key": m.identity.public_key})),
        );
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
                .output(files::SEALED_MASTER, f(files::SEALED_MASTER)),
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

    /// Issue #20: a 1 GiB `keyshares.json` (sparse: no disk used) for a one-validator manifest
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
}
