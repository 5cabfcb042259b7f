//! Whole-bundle verification: everything that can be checked without a secret.
//!
//! Used by `ceremony verify` (auditors), by the ceremony itself on the staged bundle before it
//! reports success, and by `signer-agent verify`/`import`. It never stops at the first problem:
//! every check becomes a [`Check`] in the [`Report`], failed ones naming their file and field.
//! BLS signatures (deposits and SSV ownership) are verified in one batch; when the batch fails,
//! one by one to name each bad entry.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use kc_ssv::{KeySharesFile, OperatorKey, SharesData};
use kc_validator::bls::{batch_verify, PublicKey, Signature};
use kc_validator::deposit::{self, DepositData};
use serde::Serialize;

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
}

impl Checker {
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

/// Reads a bundle file that must be a regular file: a symlink (e.g. to `/dev/zero` or to a file
/// outside the bundle) or a device is refused before anything is read.
fn read_regular(path: &Path) -> std::io::Result<Vec<u8>> {
    let meta = std::fs::symlink_metadata(path)?;
    if !meta.file_type().is_file() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "not a regular file (symlink, directory or device)",
        ));
    }
    std::fs::read(path)
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
    let mut c = Checker { checks: Vec::new() };
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
        checks: c.checks,
    };
    (report, loaded)
}

fn run_checks(dir: &Path, opts: &VerifyOptions, c: &mut Checker) -> Option<VerifiedBundle> {
    // 1. The manifest and its signature.
    let manifest_bytes = match read_regular(&dir.join(files::MANIFEST)) {
        Ok(b) => b,
        Err(e) => {
            c.fail(
                "manifest.read",
                files::MANIFEST,
                "",
                format!("cannot read: {e}"),
            );
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

    // 2. File hashes, and nothing else in the directory.
    let mut contents: BTreeMap<&str, Vec<u8>> = BTreeMap::new();
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
    for name in files::HASHED {
        match read_regular(&dir.join(name)) {
            Ok(bytes) => {
                let got = sha256_hex(&bytes);
                match manifest.files.get(name) {
                    Some(want) if *want == got => {}
                    Some(want) => fails.push((
                        name.to_owned(),
                        format!("SHA-256 is {got}, manifest says {want}"),
                    )),
                    None => {}
                }
                contents.insert(name, bytes);
            }
            Err(e) => fails.push((name.to_owned(), format!("cannot read: {e}"))),
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

    let text = |name: &str| {
        contents
            .get(name)
            .map(|b| String::from_utf8_lossy(b).into_owned())
    };

    // 3. Transcript.
    if let Some(t) = text(files::TRANSCRIPT) {
        match Transcript::parse_and_verify(&t) {
            Ok(tr) if tr.head() == manifest.transcript_head => {
                c.pass(
                    "transcript.chain",
                    files::TRANSCRIPT,
                    format!("{} entries, head {}", tr.entries().len(), tr.head()),
                );
                check_transcript_vs_manifest(&tr, &manifest, c);
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
    let operators = match text(files::OPERATORS).map(|t| OperatorsFile::parse(&t)) {
        Some(Ok(o)) => o,
        Some(Err(e)) => {
            c.fail("operators.parse", files::OPERATORS, "", e);
            return None;
        }
        None => return None,
    };
    check_operators(&manifest, &operators, c);
    let plan_text = text(files::PLAN)?;
    let plan = match Plan::parse_in_bundle(&plan_text, Path::new(files::PLAN), operators) {
        Ok(p) => {
            c.pass("plan.parse", files::PLAN, format!("ceremony {}", p.id()));
            p
        }
        Err(e) => {
            c.fail("plan.parse", files::PLAN, "", e.to_string());
            return None;
        }
    };
    check_plan_vs_manifest(&plan, &manifest, c);
    check_unique_validators(&manifest, c);

    // 5. Deposit data.
    let mark = c.checks.len();
    let deposits = check_deposits(&text(files::DEPOSIT_DATA)?, &plan, &manifest, c)?;

    // 6. Key shares.
    let (keyshares, shares_data, ownership) =
        check_keyshares(&text(files::KEYSHARES)?, &plan, &manifest, c)?;

    // 7. All BLS signatures in one batch.
    check_bls_batch(&deposits, &ownership, c);

    // 8. Merkle leaves and root.
    let ids = plan.operators.ids();
    let leaves: Vec<merkle::Hash> = deposits
        .iter()
        .zip(&shares_data)
        .map(|(d, sd)| {
            merkle::leaf_hash(&LeafInput {
                pubkey: &d.pubkey.to_bytes(),
                signature: &d.signature.to_bytes(),
                deposit_data_root: &d.deposit_data_root,
                operator_ids: &ids,
                shares_data: sd,
            })
        })
        .collect();
    let mut fails = Vec::new();
    for (i, (leaf, v)) in leaves.iter().zip(&manifest.validators).enumerate() {
        let got = format!("0x{}", hex::encode(leaf));
        if got != v.merkle_leaf {
            fails.push((
                format!("validators[{i}].merkle_leaf"),
                format!("manifest says {}, computed {got}", v.merkle_leaf),
            ));
        }
    }
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
    c.group(
        "merkle.root",
        files::MANIFEST,
        fails,
        format!("root {} over {} leaves", manifest.merkle_root, leaves.len()),
    );

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
    Some(VerifiedBundle {
        dir: dir.to_owned(),
        manifest,
        plan,
        deposits,
        keyshares,
        shares_data,
        leaves,
    })
}

fn check_signature(
    dir: &Path,
    manifest: &Manifest,
    manifest_bytes: &[u8],
    opts: &VerifyOptions,
    c: &mut Checker,
) {
    let sig = match read_regular(&dir.join(files::MANIFEST_SIG)) {
        Ok(b) => match ManifestSignature::from_bytes(&b) {
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
        Err(e) => {
            return c.fail(
                "manifest.signature",
                files::MANIFEST_SIG,
                "",
                format!("cannot read: {e}"),
            )
        }
    };
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
    if let Some(pinned) = &opts.identity {
        match same_p256_key(pinned, &sig.public_key) {
            Ok(true) => c.pass(
                "identity.pinned",
                files::MANIFEST_SIG,
                format!("signed by the pinned identity {}", fp),
            ),
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

fn check_deposits(
    text: &str,
    plan: &Plan,
    m: &Manifest,
    c: &mut Checker,
) -> Option<Vec<DepositData>> {
    let list = match deposit::parse_json(text) {
        Ok(l) => l,
        Err(e) => {
            c.fail("deposit_data.parse", files::DEPOSIT_DATA, "", e.to_string());
            return None;
        }
    };
    let mut fails: Vec<(String, String)> = Vec::new();
    if deposit::to_json(&list) != text {
        fails.push((
            String::new(),
            "not in the exact ethstaker-deposit 1.3.1 layout".into(),
        ));
    }
    if list.len() != m.validators.len() {
        fails.push((
            String::new(),
            format!(
                "{} entries, manifest lists {} validators",
                list.len(),
                m.validators.len()
            ),
        ));
    }
    let wc = deposit::withdrawal_credentials(plan.withdrawal_type, &plan.withdrawal_address);
    let fork = plan.network.genesis_fork_version();
    for (i, (d, v)) in list.iter().zip(&m.validators).enumerate() {
        let f = |name: &str| format!("[{i}].{name}");
        if d.pubkey.to_hex() != v.pubkey {
            fails.push((
                f("pubkey"),
                format!("{}, manifest says {}", d.pubkey.to_hex(), v.pubkey),
            ));
        }
        if d.withdrawal_credentials != wc {
            fails.push((
                f("withdrawal_credentials"),
                format!(
                    "{}, the plan gives {}",
                    hex::encode(d.withdrawal_credentials),
                    hex::encode(wc)
                ),
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
                format!(
                    "{}, the plan's network has {}",
                    hex::encode(d.fork_version),
                    hex::encode(fork)
                ),
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
        if hex::encode(d.deposit_data_root) != v.deposit_data_root {
            fails.push((
                f("deposit_data_root"),
                format!(
                    "{}, manifest says {}",
                    hex::encode(d.deposit_data_root),
                    v.deposit_data_root
                ),
            ));
        }
    }
    c.group(
        "deposit_data.plan",
        files::DEPOSIT_DATA,
        fails,
        format!(
            "{} deposits for {} with credentials {}",
            list.len(),
            plan.network.name(),
            hex::encode(wc)
        ),
    );
    Some(list)
}

/// (digest, public key, signature) of an SSV ownership signature.
type Ownership = ([u8; 32], PublicKey, Signature);

fn check_keyshares(
    text: &str,
    plan: &Plan,
    m: &Manifest,
    c: &mut Checker,
) -> Option<(KeySharesFile, Vec<Vec<u8>>, Vec<Ownership>)> {
    let file = match KeySharesFile::from_json(text) {
        Ok(f) => f,
        Err(e) => {
            c.fail("keyshares.parse", files::KEYSHARES, "", e.to_string());
            return None;
        }
    };
    let ids = plan.operators.ids();
    let n = ids.len();
    let owner = plan.owner.to_checksum();
    let mut fails: Vec<(String, String)> = Vec::new();
    let mut consistency_fails: Vec<(String, String)> = Vec::new();
    let mut shares_data = Vec::with_capacity(file.shares.len());
    let mut ownership = Vec::with_capacity(file.shares.len());
    if file.shares.len() != m.validators.len() {
        fails.push((
            "shares".into(),
            format!(
                "{} entries, manifest lists {} validators",
                file.shares.len(),
                m.validators.len()
            ),
        ));
    }
    let keys: Vec<(u64, &str)> = plan
        .operators
        .operators
        .iter()
        .map(|o| (o.id, o.public_key.as_str()))
        .collect();
    for (i, (item, v)) in file.shares.iter().zip(&m.validators).enumerate() {
        let f = |name: &str| format!("shares[{i}].{name}");
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
        let sd = match SharesData::from_hex(&item.payload.shares_data, n, &pk_hex) {
            Ok(sd) => sd,
            Err(e) => {
                fails.push((f("payload.sharesData"), e.to_string()));
                shares_data.push(Vec::new());
                continue;
            }
        };
        let bytes = sd.to_bytes();
        let digest = sha256_hex(&bytes);
        if digest != v.shares_data_sha256 {
            fails.push((
                f("payload.sharesData"),
                format!("SHA-256 {digest}, manifest says {}", v.shares_data_sha256),
            ));
        }
        // Every entry pushes its sharesData (also on failure) so that the list stays aligned
        // with the deposits for the Merkle leaves.
        let Ok(pk_bytes) = hex::decode(&v.pubkey) else {
            fails.push((f("data.publicKey"), "manifest pubkey is not hex".into()));
            shares_data.push(bytes);
            continue;
        };
        let Ok(pk) = PublicKey::from_bytes(&pk_bytes) else {
            fails.push((f("data.publicKey"), "not a valid BLS public key".into()));
            shares_data.push(bytes);
            continue;
        };
        match Signature::from_bytes(&sd.signature) {
            Ok(sig) => {
                let digest = kc_ssv::ownership::ownership_digest(&plan.owner, v.owner_nonce);
                ownership.push((digest, pk, sig));
            }
            Err(e) => fails.push((f("payload.sharesData"), format!("ownership signature: {e}"))),
        }
        let pk48: [u8; 48] = pk.to_bytes();
        if let Err(e) = kc_ssv::verify_share_public_keys(&pk48, &ids, &sd.share_public_keys) {
            consistency_fails.push((f("payload.sharesData"), e.to_string()));
        }
        if let Ok(cluster) = kc_ssv::Cluster::parse(keys.iter().copied()) {
            for (op, ct) in cluster.operators().iter().zip(&sd.encrypted_shares) {
                if !op.ciphertext_in_range(ct) {
                    fails.push((
                        f("payload.sharesData"),
                        format!(
                            "encrypted share of operator {} is not an RSA ciphertext for its key",
                            op.id()
                        ),
                    ));
                }
            }
        }
        shares_data.push(bytes);
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
    c.group(
        "keyshares.consistency",
        files::KEYSHARES,
        consistency_fails,
        format!("share public keys of every validator interpolate to its public key (threshold {} of {n})", kc_ssv::shamir::threshold(n).unwrap_or(0)),
    );
    Some((file, shares_data, ownership))
}

fn check_bls_batch(deposits: &[DepositData], ownership: &[Ownership], c: &mut Checker) {
    let roots: Vec<[u8; 32]> = deposits.iter().map(DepositData::signing_root).collect();
    let mut items: Vec<(&[u8], &PublicKey, &Signature)> = deposits
        .iter()
        .zip(&roots)
        .map(|(d, r)| (r.as_slice(), &d.pubkey, &d.signature))
        .collect();
    items.extend(ownership.iter().map(|(d, pk, sig)| (d.as_slice(), pk, sig)));
    if !items.is_empty() && batch_verify(&items) {
        // Signatures passed as a batch; roots and structure are checked entry by entry (cheap).
        let fails: Vec<(String, String)> = deposits
            .iter()
            .enumerate()
            .filter_map(|(i, d)| {
                d.verify_structure()
                    .err()
                    .map(|e| (format!("[{i}]"), e.to_string()))
            })
            .collect();
        c.group(
            "deposit_data.signatures",
            files::DEPOSIT_DATA,
            fails,
            format!(
                "{} deposit signatures and roots valid (batched)",
                deposits.len()
            ),
        );
        c.pass(
            "keyshares.ownership",
            files::KEYSHARES,
            format!("{} ownership signatures valid (batched)", ownership.len()),
        );
        return;
    }
    let mut fails = Vec::new();
    for (i, d) in deposits.iter().enumerate() {
        if let Err(e) = d.verify() {
            fails.push((format!("[{i}]"), e.to_string()));
        }
    }
    c.group(
        "deposit_data.signatures",
        files::DEPOSIT_DATA,
        fails,
        format!("{} deposit signatures valid", deposits.len()),
    );
    let mut fails = Vec::new();
    for (i, (digest, pk, sig)) in ownership.iter().enumerate() {
        if !pk.verify(digest, sig) {
            fails.push((
                format!("shares[{i}].payload.sharesData"),
                "ownership signature does not verify for the owner and nonce".to_owned(),
            ));
        }
    }
    c.group(
        "keyshares.ownership",
        files::KEYSHARES,
        fails,
        format!("{} ownership signatures valid", ownership.len()),
    );
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
        let mut c = Checker { checks: Vec::new() };
        check_unique_validators(&sample_manifest(3), &mut c);
        assert!(failures(&c).is_empty(), "{:?}", failures(&c));

        let mut m = sample_manifest(3);
        m.validators[2].pubkey = m.validators[0].pubkey.clone();
        m.validators[2].merkle_leaf = m.validators[0].merkle_leaf.to_uppercase();
        let mut c = Checker { checks: Vec::new() };
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
        let mut c = Checker { checks: Vec::new() };
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
        let mut c = Checker { checks: Vec::new() };
        check_transcript_vs_manifest(&t, &swapped, &mut c);
        let f = failures(&c);
        assert!(
            f.iter().any(|f| f.contains("validator.created[0]")),
            "{f:?}"
        );
        // A validator whose pubkey the transcript never recorded.
        let mut other = m.clone();
        other.validators[2].pubkey = "77".repeat(48);
        let mut c = Checker { checks: Vec::new() };
        check_transcript_vs_manifest(&t, &other, &mut c);
        let f = failures(&c);
        assert!(
            f.iter().any(|f| f.contains("validator.created[2]")),
            "{f:?}"
        );
        // One validator fewer in the manifest than the transcript created.
        let mut fewer = m.clone();
        fewer.validators.pop();
        let mut c = Checker { checks: Vec::new() };
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
            let mut c = Checker { checks: Vec::new() };
            check_transcript_vs_manifest(&t, &changed, &mut c);
            assert!(!failures(&c).is_empty(), "{changed:?}");
        }
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
