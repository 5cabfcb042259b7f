//! Reshare bundles: new SSV key shares for validators a pool already staked, to move them to a
//! new cluster of operators (replacing an operator). Written by `ceremony reshare`, checked by
//! `ceremony verify` and by the agent's `import`.
//!
//! A reshare bundle holds `reshare.toml` (the reshare plan as run), `operators.json` (the new
//! operators, with provenance), `keyshares.json` (the SSV SDK format: new shares of the same
//! validator keys, ownership signatures for the new owner nonces), `transcript.jsonl`,
//! `manifest.json` (`"kind": "reshare"`) and `manifest.sig`. No deposit data (the validators are
//! deposited already) and no sealed master (the source bundle has it).
//!
//! Reshare leaf (`docs/merkle-leaf.md`): `keccak256(keccak256(abi.encode(bytes pubkey, uint64[]
//! operatorIds, bytes32 keccak256(sharesData))))`, the tree as for staking batches; governance
//! approves the root with the new cluster (`PoolManager.approveReshare`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use kc_ssv::{KeySharesFile, OperatorKey, SharesData};
use kc_validator::address::Address;
use kc_validator::bls::{batch_verify, PublicKey, Signature};
use serde::{Deserialize, Serialize};
use sha3::{Digest, Keccak256};

use crate::manifest::{
    self, sha256_hex, IdentityInfo, NetworkInfo, OperatorsInfo, OwnerInfo, ToolInfo,
};
use crate::merkle::{self, Hash};
use crate::operators::OperatorsFile;
use crate::transcript::steps::{
    FilesWritten, HsmKeys, MasterReady, ReshareStarted, SourceVerified, ValidatorReshared,
};
use crate::transcript::{Entry, Payload, Transcript};
use crate::verify::{Checker, PlanMismatches, Report, VerifyOptions};
use crate::Error;

/// The `kind` of a reshare manifest.
pub const KIND: &str = "reshare";

/// Files of a reshare bundle.
pub mod files {
    pub const PLAN: &str = "reshare.toml";
    pub use crate::manifest::files::{KEYSHARES, MANIFEST, MANIFEST_SIG, OPERATORS, TRANSCRIPT};
    /// Every file the manifest lists by hash.
    pub const HASHED: [&str; 4] = [PLAN, OPERATORS, KEYSHARES, TRANSCRIPT];

    /// Each file of [`HASHED`] with its size ceiling in a bundle of `validators` validators
    /// moving to a cluster of `cluster` operators (the bounded reader's caps).
    pub fn with_caps(
        validators: usize,
        cluster: usize,
    ) -> [(&'static str, crate::bounded::Cap); 4] {
        use crate::bounded::caps;
        [
            (PLAN, caps::plan()),
            (OPERATORS, caps::operators()),
            (KEYSHARES, caps::keyshares(validators, cluster)),
            (TRANSCRIPT, caps::transcript(validators)),
        ]
    }
}

/// What kind of bundle a directory holds (from its manifest's `kind`; absent = staking).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BundleKind {
    /// A ceremony batch: new validators with deposit data (`ceremony run`).
    Staking,
    /// New shares for validators already staked (`ceremony reshare`).
    Reshare,
}

/// The kind named by `manifest.json` bytes (`Staking` when it names none or does not parse: the
/// staking verification then reports why).
pub fn kind_of(manifest_bytes: &[u8]) -> BundleKind {
    kind_from(serde_json::from_slice::<KindOnly>(manifest_bytes))
}

/// The manifest's `kind` alone: the other members are skipped as they are read, so that telling
/// the kind of a bundle holds nothing of its list of validators.
#[derive(Deserialize)]
struct KindOnly {
    kind: Option<serde_json::Value>,
}

fn kind_from(parsed: Result<KindOnly, serde_json::Error>) -> BundleKind {
    match parsed {
        Ok(k) if k.kind.as_ref().and_then(|k| k.as_str()) == Some(KIND) => BundleKind::Reshare,
        _ => BundleKind::Staking,
    }
}

/// The kind of the bundle in `dir`. Reads `manifest.json` only when it is a regular file (as
/// verification does): a symlink, e.g. to `/dev/zero`, is `Staking` here and refused by the
/// staking verification, never read. The file is read as a stream: memory does not grow with
/// its size.
pub fn kind_of_dir(dir: &Path) -> BundleKind {
    match crate::bounded::open(
        &dir.join(files::MANIFEST),
        &crate::bounded::caps::manifest(),
    ) {
        Ok(f) => kind_from(serde_json::from_reader(std::io::BufReader::with_capacity(
            1 << 16,
            f,
        ))),
        Err(_) => BundleKind::Staking,
    }
}

// ------------------------------------------------------------------------------------ plan

/// `reshare.toml` as written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResharePlanFile {
    pub reshare: ReshareSection,
    pub ssv: ReshareSsvSection,
    pub hsm: crate::plan::HsmSection,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReshareSection {
    /// Unique id of this reshare ceremony.
    pub id: String,
    /// Public keys (hex, 48 bytes) of the source bundle's validators to move, in order.
    pub validators: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReshareSsvSection {
    /// The owner's SSV nonce for the first validator (the nonce its registration on the new
    /// cluster will use); +1 per validator.
    pub owner_nonce: u64,
    /// The new operators (4, 7, 10 or 13), as `signer-agent operators export` writes them.
    pub operators_file: PathBuf,
    #[serde(default)]
    pub allow_unpinned_operators: bool,
}

/// A checked reshare plan.
#[derive(Debug, Clone)]
pub struct ResharePlan {
    pub text: String,
    pub path: PathBuf,
    pub file: ResharePlanFile,
    pub pubkeys: Vec<[u8; 48]>,
    pub operators: OperatorsFile,
}

impl ResharePlan {
    pub fn id(&self) -> &str {
        &self.file.reshare.id
    }
    pub fn first_nonce(&self) -> u64 {
        self.file.ssv.owner_nonce
    }
    pub fn nonce_of(&self, i: usize) -> u64 {
        self.first_nonce() + i as u64
    }
    pub fn last_nonce(&self) -> u64 {
        self.nonce_of(self.pubkeys.len().saturating_sub(1))
    }

    /// Reads and checks a reshare plan (and its operators file).
    pub fn load(path: &Path) -> Result<Self, Error> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::Io {
            path: path.to_owned(),
            action: "read the reshare plan",
            source: e,
        })?;
        Self::parse_with(&text, path, None)
    }

    /// The plan stored in a bundle, with the bundle's `operators.json`.
    pub fn parse_in_bundle(text: &str, operators: OperatorsFile) -> Result<Self, Error> {
        Self::parse_with(text, Path::new(files::PLAN), Some(operators))
    }

    fn parse_with(text: &str, path: &Path, bundled: Option<OperatorsFile>) -> Result<Self, Error> {
        let err = |field: &str, message: String| Error::Plan {
            file: path.to_owned(),
            field: field.to_owned(),
            message,
        };
        let de = toml::Deserializer::new(text);
        let file: ResharePlanFile = serde_path_to_error::deserialize(de).map_err(|e| {
            let field = e.path().to_string();
            err(
                if field == "." { "(top level)" } else { &field },
                e.into_inner().message().to_owned(),
            )
        })?;
        let id = &file.reshare.id;
        if id.is_empty()
            || id.len() > 64
            || !id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        {
            return Err(err(
                "reshare.id",
                format!("{id:?}: 1 to 64 characters of A-Z a-z 0-9 - _ ."),
            ));
        }
        if file.reshare.validators.is_empty() {
            return Err(err("reshare.validators", "names no validator".into()));
        }
        let mut pubkeys = Vec::new();
        let mut seen = BTreeSet::new();
        for (i, v) in file.reshare.validators.iter().enumerate() {
            let field = format!("reshare.validators[{i}]");
            let bytes = hex::decode(v.trim().trim_start_matches("0x"))
                .map_err(|e| err(&field, format!("{v:?}: not hex: {e}")))?;
            let pk: [u8; 48] = bytes
                .try_into()
                .map_err(|_| err(&field, format!("{v:?}: a validator public key is 48 bytes")))?;
            if !seen.insert(pk) {
                return Err(err(&field, format!("{v:?} is listed twice")));
            }
            pubkeys.push(pk);
        }
        let on_disk = bundled.is_none();
        let operators = match bundled {
            Some(o) => o,
            None => {
                let p = path
                    .parent()
                    .unwrap_or(Path::new("."))
                    .join(&file.ssv.operators_file);
                OperatorsFile::load(&p).map_err(|e| err("ssv.operators_file", e.to_string()))?
            }
        };
        if operators.provenance.is_none() && !file.ssv.allow_unpinned_operators {
            return Err(err(
                "ssv.operators_file",
                "has no provenance (chain id, contract, block); export it with `signer-agent operators export`, or set allow_unpinned_operators = true in [ssv]".into(),
            ));
        }
        if operators.cluster().is_err() {
            return Err(err(
                "ssv.operators_file",
                format!(
                    "is not a valid cluster ({} operators with RSA keys, ids ascending)",
                    kc_ssv::shamir::cluster_sizes_text()
                ),
            ));
        }
        if on_disk && !file.hsm.module.exists() {
            return Err(err(
                "hsm.module",
                format!("{} does not exist", file.hsm.module.display()),
            ));
        }
        Ok(ResharePlan {
            text: text.to_owned(),
            path: path.to_owned(),
            file,
            pubkeys,
            operators,
        })
    }
}

// ------------------------------------------------------------------------------------ manifest

/// The source bundle a reshare was made from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceInfo {
    pub ceremony_id: String,
    /// SHA-256 of the source's `manifest.json`.
    pub manifest_sha256: String,
    /// The source batch's Merkle root.
    pub merkle_root: String,
    /// The master secret the validator keys derive from (the source manifest's fingerprint).
    pub master_fingerprint: String,
    /// The source batch's cluster.
    pub operator_ids: Vec<u64>,
}

/// One validator of a reshare bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReshareValidator {
    /// EIP-2334 index in the source master.
    pub index: u32,
    /// BLS public key, hex without 0x.
    pub pubkey: String,
    /// The owner nonce the new ownership signature is for.
    pub owner_nonce: u64,
    /// SHA-256 of the new sharesData bytes, hex.
    pub shares_data_sha256: String,
    /// The reshare leaf, 0x-prefixed.
    pub merkle_leaf: String,
}

/// `manifest.json` of a reshare bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReshareManifest {
    pub format: String,
    /// Always [`KIND`].
    pub kind: String,
    pub ceremony_id: String,
    pub created_at: String,
    pub network: NetworkInfo,
    pub tool: ToolInfo,
    pub identity: IdentityInfo,
    pub source: SourceInfo,
    pub owner: OwnerInfo,
    /// The new cluster.
    pub operators: OperatorsInfo,
    pub validators: Vec<ReshareValidator>,
    /// Root of the reshare leaves, 0x-prefixed.
    pub merkle_root: String,
    pub transcript_head: String,
    pub files: BTreeMap<String, String>,
}

impl ReshareManifest {
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut s = serde_json::to_string_pretty(self).expect("manifest serializes");
        s.push('\n');
        s.into_bytes()
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self, Error> {
        let m: ReshareManifest = serde_json::from_slice(bytes).map_err(|e| Error::Manifest {
            field: format!("line {} column {}", e.line(), e.column()),
            message: e.to_string(),
        })?;
        if m.format != manifest::FORMAT || m.kind != KIND {
            return Err(Error::Manifest {
                field: "format / kind".into(),
                message: format!(
                    "expected {:?} / {KIND:?}, found {:?} / {:?}",
                    manifest::FORMAT,
                    m.format,
                    m.kind
                ),
            });
        }
        Ok(m)
    }
}

fn keccak(data: &[u8]) -> Hash {
    Keccak256::digest(data).into()
}

fn word(v: u64) -> [u8; 32] {
    let mut w = [0u8; 32];
    w[24..].copy_from_slice(&v.to_be_bytes());
    w
}

/// `abi.encode(bytes pubkey, uint64[] operatorIds, bytes32 sharesHash)`.
pub fn abi_encode_leaf(pubkey: &[u8], operator_ids: &[u64], shares_hash: &Hash) -> Vec<u8> {
    let off_pk = 3 * 32;
    let off_ids = off_pk + 32 + pubkey.len().div_ceil(32) * 32;
    let mut out = Vec::new();
    out.extend_from_slice(&word(off_pk as u64));
    out.extend_from_slice(&word(off_ids as u64));
    out.extend_from_slice(shares_hash);
    out.extend_from_slice(&word(pubkey.len() as u64));
    out.extend_from_slice(pubkey);
    out.extend(std::iter::repeat_n(0u8, (32 - pubkey.len() % 32) % 32));
    out.extend_from_slice(&word(operator_ids.len() as u64));
    for id in operator_ids {
        out.extend_from_slice(&word(*id));
    }
    out
}

/// The reshare leaf of one validator (module docs).
pub fn leaf_hash(pubkey: &[u8], operator_ids: &[u64], shares_data: &[u8]) -> Hash {
    keccak(&keccak(&abi_encode_leaf(
        pubkey,
        operator_ids,
        &keccak(shares_data),
    )))
}

// ------------------------------------------------------------------------------------ verify

/// A reshare bundle that passed verification.
#[derive(Debug, Clone)]
pub struct VerifiedReshare {
    pub dir: PathBuf,
    pub manifest: ReshareManifest,
    pub plan: ResharePlan,
    pub keyshares: KeySharesFile,
    /// New sharesData per validator, in manifest order.
    pub shares_data: Vec<Vec<u8>>,
    pub leaves: Vec<Hash>,
}

impl VerifiedReshare {
    pub fn operator_ids(&self) -> Vec<u64> {
        self.plan.operators.ids()
    }
    pub fn proof(&self, i: usize) -> Vec<Hash> {
        merkle::proof(&self.leaves, i).unwrap_or_default()
    }
}

/// Verifies a reshare bundle; every problem is a failed check of the report.
pub fn verify(dir: &Path, opts: &VerifyOptions) -> (Report, Option<VerifiedReshare>) {
    verify_with(dir, opts, &mut Checker::new())
}

/// [`verify`] recording into `c` (which may keep what it reads for the audit report).
pub(crate) fn verify_with(
    dir: &Path,
    opts: &VerifyOptions,
    c: &mut Checker,
) -> (Report, Option<VerifiedReshare>) {
    let loaded = run_checks(dir, opts, c);
    let report = Report {
        bundle: dir.to_owned(),
        ceremony_id: loaded.as_ref().map(|b| b.manifest.ceremony_id.clone()),
        validators: loaded
            .as_ref()
            .map(|b| b.manifest.validators.len())
            .unwrap_or(0),
        identity_pinned: c.identity_pinned,
        signed_by: c.signed_by.take(),
        checks: std::mem::take(&mut c.checks),
    };
    let ok = report.ok();
    (report, loaded.filter(|_| ok))
}

/// Verifies and loads a reshare bundle.
pub fn load_verified(dir: &Path, opts: &VerifyOptions) -> Result<VerifiedReshare, Report> {
    match verify(dir, opts) {
        (_, Some(b)) => Ok(b),
        (r, None) => Err(r),
    }
}

fn run_checks(dir: &Path, opts: &VerifyOptions, c: &mut Checker) -> Option<VerifiedReshare> {
    // Read through the one bounded reader, as every file of the bundle; a file that cannot be
    // read names itself as the field.
    let (bytes, sha) = match crate::bounded::read(
        &dir.join(files::MANIFEST),
        &crate::bounded::caps::manifest(),
    ) {
        Ok(read) => read,
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
    let m = match ReshareManifest::from_bytes(&bytes) {
        Ok(m) => {
            c.pass(
                "manifest.parse",
                files::MANIFEST,
                format!("format {}, kind {}", m.format, m.kind),
            );
            m
        }
        Err(e) => {
            c.fail("manifest.parse", files::MANIFEST, "", e.to_string());
            return None;
        }
    };
    if let Some(a) = &mut c.audit {
        a.reshare = Some(m.clone());
    }
    let mut digest = [0u8; 32];
    hex::decode_to_slice(&sha, &mut digest).unwrap_or_default();
    crate::verify::check_signature_of(dir, &m.identity, &digest, opts, c);

    // Files: exactly the listed ones, hashed as listed, each within a ceiling derived from the
    // manifest's counts.
    let hashed = files::with_caps(m.validators.len(), m.operators.list.len());
    let contents =
        crate::verify::check_files(dir, &m.files, &hashed, &[], "a reshare bundle", opts, c);
    let text = |name: &str| {
        contents
            .get(name)
            .map(|b| String::from_utf8_lossy(b).into_owned())
    };

    // Transcript.
    if let Some(tr) = crate::verify::check_chain(text(files::TRANSCRIPT), &m.transcript_head, c) {
        check_transcript(&tr, &m, c);
        if let Some(a) = &mut c.audit {
            a.transcript = tr.entries().to_vec();
        }
    }

    // Operators and plan.
    let operators = match text(files::OPERATORS).map(|t| OperatorsFile::parse(&t)) {
        Some(Ok(o)) => o,
        Some(Err(e)) => {
            c.fail("operators.parse", files::OPERATORS, "", e);
            return None;
        }
        None => return None,
    };
    check_operators(&m, &operators, c);
    let plan = match ResharePlan::parse_in_bundle(&text(files::PLAN)?, operators) {
        Ok(p) => {
            c.pass("plan.parse", files::PLAN, format!("reshare {}", p.id()));
            p
        }
        Err(e) => {
            c.fail("plan.parse", files::PLAN, "", e.to_string());
            return None;
        }
    };
    check_plan(&plan, &m, c);

    // Key shares, ownership signatures, interpolation.
    let (keyshares, shares_data) = check_keyshares(&text(files::KEYSHARES)?, &plan, &m, c)?;

    // Reshare leaves and root.
    let ids = plan.operators.ids();
    let mut fails = Vec::new();
    let mut leaves = Vec::new();
    for (i, (v, sd)) in m.validators.iter().zip(&shares_data).enumerate() {
        let pk = hex::decode(&v.pubkey).unwrap_or_default();
        let leaf = leaf_hash(&pk, &ids, sd);
        let got = format!("0x{}", hex::encode(leaf));
        if got != v.merkle_leaf {
            fails.push((
                format!("validators[{i}].merkle_leaf"),
                format!("manifest says {}, computed {got}", v.merkle_leaf),
            ));
        }
        leaves.push(leaf);
    }
    match merkle::root(&leaves) {
        Some(r) if format!("0x{}", hex::encode(r)) == m.merkle_root => {}
        Some(r) => fails.push((
            "merkle_root".into(),
            format!(
                "manifest says {}, computed 0x{}",
                m.merkle_root,
                hex::encode(r)
            ),
        )),
        None => fails.push(("merkle_root".into(), "no validators".into())),
    }
    c.group(
        "merkle.root",
        files::MANIFEST,
        fails,
        format!(
            "reshare root {} over {} leaves",
            m.merkle_root,
            leaves.len()
        ),
    );
    crate::verify::check_binary(opts.expect_binary.as_deref(), &m.tool, c);
    if c.checks.iter().any(|x| !x.ok) {
        return None;
    }
    Some(VerifiedReshare {
        dir: dir.to_owned(),
        manifest: m,
        plan,
        keyshares,
        shares_data,
        leaves,
    })
}

fn check_operators(m: &ReshareManifest, ops: &OperatorsFile, c: &mut Checker) {
    let mut fails = Vec::new();
    if ops.provenance != m.operators.provenance {
        fails.push(("provenance".into(), "differs from the manifest's".into()));
    }
    if ops.operators.len() != m.operators.list.len() {
        fails.push((
            "operators".into(),
            "count differs from the manifest's".into(),
        ));
    }
    for (i, (o, mo)) in ops.operators.iter().zip(&m.operators.list).enumerate() {
        match OperatorKey::parse(o.id, &o.public_key) {
            Ok(k) if o.id == mo.id && k.fingerprint_hex() == mo.fingerprint => {}
            Ok(k) => fails.push((
                format!("operators[{i}]"),
                format!(
                    "id {} fingerprint {}, manifest says id {} fingerprint {}",
                    o.id,
                    k.fingerprint_hex(),
                    mo.id,
                    mo.fingerprint
                ),
            )),
            Err(e) => fails.push((format!("operators[{i}].public_key"), e.to_string())),
        }
    }
    c.group(
        "operators.keys",
        files::OPERATORS,
        fails,
        format!("{} new operators {:?}", ops.operators.len(), ops.ids()),
    );
}

fn check_plan(plan: &ResharePlan, m: &ReshareManifest, c: &mut Checker) {
    let mut f = PlanMismatches::default();
    f.eq("ceremony_id", &m.ceremony_id, plan.id());
    f.eq("owner.first_nonce", m.owner.first_nonce, plan.first_nonce());
    f.eq("owner.last_nonce", m.owner.last_nonce, plan.last_nonce());
    f.eq("validators (count)", m.validators.len(), plan.pubkeys.len());
    f.eq(
        "identity.key_label",
        &m.identity.key_label,
        &plan.file.hsm.identity_key_label,
    );
    f.eq(
        "operators.unpinned_allowed",
        m.operators.unpinned_allowed,
        plan.operators.provenance.is_none(),
    );
    for (i, (v, pk)) in m.validators.iter().zip(&plan.pubkeys).enumerate() {
        f.eq(
            &format!("validators[{i}].pubkey"),
            &v.pubkey,
            hex::encode(pk),
        );
        f.eq(
            &format!("validators[{i}].owner_nonce"),
            v.owner_nonce,
            plan.nonce_of(i),
        );
    }
    let mut fails = f.0;
    let ids = plan.operators.ids();
    if ids == m.source.operator_ids {
        fails.push((
            "source.operator_ids".into(),
            "the new cluster is the source's cluster: nothing would move".into(),
        ));
    }
    c.group(
        "plan.manifest",
        files::MANIFEST,
        fails,
        "manifest agrees with the reshare plan",
    );
}

fn check_transcript(tr: &Transcript, m: &ReshareManifest, c: &mut Checker) {
    let mut fails: Vec<(String, String)> = Vec::new();
    let entries = tr.entries();
    // The one entry of `P`'s step, read as `P`.
    fn one<P: Payload>(entries: &[Entry], fails: &mut Vec<(String, String)>) -> Option<(Entry, P)> {
        let found: Vec<_> = entries.iter().filter(|e| e.step == P::STEP).collect();
        if found.len() != 1 {
            fails.push((
                P::STEP.to_owned(),
                format!("{} entries, expected exactly one", found.len()),
            ));
        }
        let e = found.into_iter().next()?;
        match e.payload::<P>() {
            Ok(p) => Some((e.clone(), p)),
            Err(err) => {
                fails.push((format!("{}.details", P::STEP), err.to_string()));
                None
            }
        }
    }
    let file_hash = |n: &str| m.files.get(n).cloned().unwrap_or_default();
    if let Some((e, d)) = one::<ReshareStarted>(entries, &mut fails) {
        for n in [files::PLAN, files::OPERATORS] {
            if e.inputs.get(n).cloned().unwrap_or_default() != file_hash(n) {
                fails.push((
                    format!("ceremony.started.{n}"),
                    "differs from the manifest".into(),
                ));
            }
        }
        if d.kind != KIND || d.ceremony_id != m.ceremony_id {
            fails.push((
                "ceremony.started".into(),
                "kind or ceremony id differ".into(),
            ));
        }
    }
    if let Some((_, d)) = one::<SourceVerified>(entries, &mut fails) {
        if d.manifest_sha256 != m.source.manifest_sha256 {
            fails.push(("source.verified".into(), "another source manifest".into()));
        }
    }
    if let Some((_, d)) = one::<HsmKeys>(entries, &mut fails) {
        if d.identity_public_key != m.identity.public_key {
            fails.push((
                "hsm.keys.identity_public_key".into(),
                "differs from the manifest".into(),
            ));
        }
    }
    if let Some((_, d)) = one::<MasterReady>(entries, &mut fails) {
        if d.fingerprint != m.source.master_fingerprint {
            fails.push((
                "master.ready.fingerprint".into(),
                "not the source's master".into(),
            ));
        }
    }
    if let Some((e, FilesWritten)) = one::<FilesWritten>(entries, &mut fails) {
        for n in [files::PLAN, files::OPERATORS, files::KEYSHARES] {
            if e.outputs.get(n).cloned().unwrap_or_default() != file_hash(n) {
                fails.push((
                    format!("files.written.{n}"),
                    "differs from the manifest".into(),
                ));
            }
        }
    }
    let made: Vec<_> = entries
        .iter()
        .filter(|e| e.step == ValidatorReshared::STEP)
        .collect();
    if made.len() != m.validators.len() {
        fails.push((
            "validator.reshared".into(),
            format!(
                "{} entries, manifest lists {}",
                made.len(),
                m.validators.len()
            ),
        ));
    }
    for (i, (e, v)) in made.iter().zip(&m.validators).enumerate() {
        if !ValidatorReshared::matches(e, v) {
            fails.push((
                format!("validator.reshared[{i}]"),
                "does not match the manifest".into(),
            ));
        }
    }
    c.group(
        "transcript.manifest",
        files::TRANSCRIPT,
        fails,
        "transcript agrees with the manifest",
    );
}

fn check_keyshares(
    text: &str,
    plan: &ResharePlan,
    m: &ReshareManifest,
    c: &mut Checker,
) -> Option<(KeySharesFile, Vec<Vec<u8>>)> {
    let file = match KeySharesFile::from_json(text) {
        Ok(f) => f,
        Err(e) => {
            c.fail("keyshares.parse", files::KEYSHARES, "", e.to_string());
            return None;
        }
    };
    let owner = match m.owner.address.parse::<Address>() {
        Ok(a) => a,
        Err(e) => {
            c.fail(
                "keyshares.fields",
                files::MANIFEST,
                "owner.address",
                e.to_string(),
            );
            return None;
        }
    };
    let ids = plan.operators.ids();
    let keys: Vec<(u64, &str)> = plan
        .operators
        .operators
        .iter()
        .map(|o| (o.id, o.public_key.as_str()))
        .collect();
    let cluster = plan.operators.cluster().ok();
    let mut fails = Vec::new();
    let mut consistency = Vec::new();
    let mut shares = Vec::new();
    let mut ownership: Vec<([u8; 32], PublicKey, Signature)> = Vec::new();
    if file.shares.len() != m.validators.len() {
        fails.push((
            "shares".into(),
            "count differs from the manifest's validators".into(),
        ));
    }
    for (i, (item, v)) in file.shares.iter().zip(&m.validators).enumerate() {
        let f = |n: &str| format!("shares[{i}].{n}");
        let pk_hex = format!("0x{}", v.pubkey);
        if item.data.public_key != pk_hex || item.payload.public_key != pk_hex {
            fails.push((f("publicKey"), format!("manifest says {pk_hex}")));
        }
        if item.data.owner_address != m.owner.address {
            fails.push((
                f("data.ownerAddress"),
                format!("manifest says {}", m.owner.address),
            ));
        }
        if item.data.owner_nonce != v.owner_nonce {
            fails.push((
                f("data.ownerNonce"),
                format!("manifest says {}", v.owner_nonce),
            ));
        }
        if item.payload.operator_ids != ids {
            fails.push((
                f("payload.operatorIds"),
                format!("the new cluster is {ids:?}"),
            ));
        }
        let listed: Vec<(u64, &str)> = item
            .data
            .operators
            .iter()
            .map(|o| (o.id, o.operator_key.as_str()))
            .collect();
        if listed != keys {
            fails.push((f("data.operators"), "differ from operators.json".into()));
        }
        let sd = match SharesData::from_hex(&item.payload.shares_data, ids.len(), &pk_hex) {
            Ok(sd) => sd,
            Err(e) => {
                fails.push((f("payload.sharesData"), e.to_string()));
                shares.push(Vec::new());
                continue;
            }
        };
        let bytes = sd.to_bytes();
        if sha256_hex(&bytes) != v.shares_data_sha256 {
            fails.push((
                f("payload.sharesData"),
                "SHA-256 differs from the manifest".into(),
            ));
        }
        let pk = hex::decode(&v.pubkey)
            .ok()
            .and_then(|b| PublicKey::from_bytes(&b).ok());
        match (pk, Signature::from_bytes(&sd.signature)) {
            (Some(pk), Ok(sig)) => {
                let pk48: [u8; 48] = pk.to_bytes();
                if let Err(e) = kc_ssv::verify_share_public_keys(&pk48, &ids, &sd.share_public_keys)
                {
                    consistency.push((f("payload.sharesData"), e.to_string()));
                }
                ownership.push((
                    kc_ssv::ownership::ownership_digest(&owner, v.owner_nonce),
                    pk,
                    sig,
                ));
            }
            _ => fails.push((
                f("payload.sharesData"),
                "bad public key or signature".into(),
            )),
        }
        if let Some(cl) = &cluster {
            for (op, ct) in cl.operators().iter().zip(&sd.encrypted_shares) {
                if !op.ciphertext_in_range(ct) {
                    fails.push((
                        f("payload.sharesData"),
                        format!(
                            "encrypted share of operator {} is not a ciphertext for its key",
                            op.id()
                        ),
                    ));
                }
            }
        }
        shares.push(bytes);
    }
    c.group(
        "keyshares.fields",
        files::KEYSHARES,
        fails,
        format!(
            "{} entries for owner {}, nonces {}..={}",
            file.shares.len(),
            m.owner.address,
            m.owner.first_nonce,
            m.owner.last_nonce
        ),
    );
    c.group(
        "keyshares.consistency",
        files::KEYSHARES,
        consistency,
        "share public keys of every validator interpolate to its public key",
    );
    let items: Vec<(&[u8], &PublicKey, &Signature)> = ownership
        .iter()
        .map(|(d, pk, s)| (d.as_slice(), pk, s))
        .collect();
    if !items.is_empty() && batch_verify(&items) {
        c.pass(
            "keyshares.ownership",
            files::KEYSHARES,
            format!("{} ownership signatures valid (batched)", items.len()),
        );
    } else {
        let bad: Vec<(String, String)> = ownership
            .iter()
            .enumerate()
            .filter(|(_, (d, pk, s))| !pk.verify(d, s))
            .map(|(i, _)| {
                (
                    format!("shares[{i}]"),
                    "ownership signature does not verify".into(),
                )
            })
            .collect();
        c.group(
            "keyshares.ownership",
            files::KEYSHARES,
            bad,
            "ownership signatures valid",
        );
    }
    Some((file, shares))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kind_is_read_from_a_regular_manifest_only() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(kind_of_dir(dir.path()), BundleKind::Staking);
        let real = dir.path().join("real.json");
        std::fs::write(&real, br#"{"kind":"reshare"}"#).unwrap();
        std::os::unix::fs::symlink(&real, dir.path().join(files::MANIFEST)).unwrap();
        // A symlink is never followed (it could name /dev/zero); staking verification refuses it.
        assert_eq!(kind_of_dir(dir.path()), BundleKind::Staking);
        std::fs::remove_file(dir.path().join(files::MANIFEST)).unwrap();
        std::fs::rename(&real, dir.path().join(files::MANIFEST)).unwrap();
        assert_eq!(kind_of_dir(dir.path()), BundleKind::Reshare);
    }

    #[test]
    fn leaf_encoding_is_abi_encode() {
        // abi.encode(bytes, uint64[], bytes32): head of three words, then the tails.
        let pk = [7u8; 48];
        let enc = abi_encode_leaf(&pk, &[5, 6, 7, 8], &[9u8; 32]);
        assert_eq!(enc.len(), 3 * 32 + 32 + 64 + 32 + 4 * 32);
        assert_eq!(enc[31], 96);
        assert_eq!(enc[63], 96 + 32 + 64);
        assert_eq!(&enc[64..96], &[9u8; 32]);
        assert_eq!(enc[96 + 31], 48);
        assert_eq!(&enc[128..176], &pk);
        assert_eq!(enc[192 + 31], 4);
        assert_eq!(enc[224 + 31], 5);
        assert_eq!(enc[320 + 31], 8);
    }

    #[test]
    fn kind_is_read_from_the_manifest() {
        assert_eq!(kind_of(br#"{"kind": "reshare"}"#), BundleKind::Reshare);
        assert_eq!(
            kind_of(br#"{"format": "kc-bundle/1"}"#),
            BundleKind::Staking
        );
        assert_eq!(kind_of(b"not json"), BundleKind::Staking);
    }
}
