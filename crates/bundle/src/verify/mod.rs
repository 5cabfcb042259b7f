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
//! `deposit_data.json` and `keyshares.json` are read as streams, a task's worth of validators
//! at a time, whose cryptography runs on all cores while the next is read, without a barrier
//! ([`entries`], [`ordered`]). The manifest's own list of
//! validators is a third stream: parsed once for its count and its repeated keys (a 20-byte
//! fingerprint per validator while it is read, nothing kept after), then read again entry by
//! entry beside the transcript, the plan and the two large files, its bytes hashed again each
//! time and compared with those the signature covers. The Merkle root is computed as the leaves
//! come ([`merkle::RootBuilder`]).

mod bundle;
mod cheap;
mod consistency;
mod crypto;
mod entries;
mod files;
mod list;
mod ordered;
mod signature;
#[cfg(test)]
mod tests;
mod transcript;

use std::path::{Path, PathBuf};

use kc_ssv::KeySharesFile;
use kc_validator::deposit::DepositData;
use serde::Serialize;

use crate::manifest::{self, Manifest};
use crate::merkle;
use crate::plan::Plan;
use bundle::run_checks;
use entries::Keep;
pub(crate) use files::{check_binary, check_chain, check_files};
pub(crate) use signature::check_signature_of;

/// Validators whose entries verification holds at once (the pending tasks' and those being
/// read): memory in flight stops growing with the batch beyond this many.
pub const VERIFY_IN_FLIGHT: usize = entries::SHAPE.held();

/// What the caller pins.
#[derive(Debug, Clone, Default)]
pub struct VerifyOptions {
    /// The trusted identity public keys (SEC1, uncompressed or compressed): the manifest must
    /// be signed by one of them (`identity.pinned`). None given: the signature is checked, but
    /// only shows that *someone's* key signed ([`Report::identity_pinned`] stays false).
    pub trusted_identities: Vec<Vec<u8>>,
    /// The deposit amount (gwei) the caller expects of every deposit (`deposit.amount`; the
    /// agent stakes exactly 32 ETH). None: any amount the plan allows.
    pub deposit_amount_gwei: Option<u64>,
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

/// One line: `file: field: detail (check)`, the field left out when the check concerns no
/// particular field. The one form every caller (ceremony, agent) prints a failed check in.
impl std::fmt::Display for Check {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: ", self.file)?;
        if !self.field.is_empty() {
            write!(f, "{}: ", self.field)?;
        }
        write!(f, "{} ({})", self.detail, self.name)
    }
}

impl Report {
    pub fn ok(&self) -> bool {
        !self.checks.is_empty() && self.checks.iter().all(|c| c.ok)
    }
    pub fn failures(&self) -> impl Iterator<Item = &Check> {
        self.checks.iter().filter(|c| !c.ok)
    }
    /// The first `limit` failed checks (all with `None`), each as its [`Check`] `Display`,
    /// joined by `; `.
    pub fn failures_line(&self, limit: Option<usize>) -> String {
        let list: Vec<String> = self
            .failures()
            .take(limit.unwrap_or(usize::MAX))
            .map(ToString::to_string)
            .collect();
        list.join("; ")
    }
}

/// The parsed content of a bundle that passed verification, for the online agent.
#[derive(Debug, Clone)]
pub struct VerifiedBundle {
    pub dir: PathBuf,
    /// The trusted identity key (as [`VerifyOptions::trusted_identities`] gave it) that signed
    /// the manifest; `None` when no key was trusted (then anyone's key may have signed).
    pub identity: Option<Vec<u8>>,
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

/// The fields where a manifest and its plan disagree, each as `manifest says X, plan says Y`
/// (both bundle kinds' plan checks).
#[derive(Default)]
pub(crate) struct PlanMismatches(pub(crate) Vec<(String, String)>);

impl PlanMismatches {
    /// Records `field` when the manifest's value `got` is not the plan's `want` (compared as
    /// shown).
    pub(crate) fn eq(
        &mut self,
        field: &str,
        got: impl std::fmt::Display,
        want: impl std::fmt::Display,
    ) {
        let (got, want) = (got.to_string(), want.to_string());
        if got != want {
            self.0.push((
                field.to_owned(),
                format!("manifest says {got}, plan says {want}"),
            ));
        }
    }
}

/// What a verification read, as it checked it: for the audit report, which shows it instead of
/// reading the bundle again. Filled as far as the bundle could be read (a bundle too broken to
/// parse leaves parts empty; the report still shows every failed check).
#[derive(Debug, Clone, Default)]
pub struct Audited {
    /// A staking bundle's manifest, with its list of validators as read beside the plan.
    pub manifest: Option<Manifest>,
    /// A reshare bundle's manifest.
    pub reshare: Option<crate::reshare::ReshareManifest>,
    /// The transcript's entries in order, as their chain was checked (up to a break, if any).
    pub transcript: Vec<crate::transcript::Entry>,
}

pub(crate) struct Checker {
    pub(crate) checks: Vec<Check>,
    /// What was read, kept only for [`audit_bundle`].
    pub(crate) audit: Option<Audited>,
    /// Set when the manifest signature verified under the pinned identity.
    pub(crate) identity_pinned: bool,
    /// The trusted key (as the caller gave it) that signed the manifest.
    pub(crate) pinned_key: Option<Vec<u8>>,
    pub(crate) signed_by: Option<String>,
}

impl Checker {
    pub(crate) fn new() -> Self {
        Checker {
            checks: Vec::new(),
            audit: None,
            identity_pinned: false,
            pinned_key: None,
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

/// Verifies the bundle in `dir`. Never panics on bad input: every problem is a failed check.
/// Memory does not grow with the number of validators (beyond the manifest's own list).
/// A reshare bundle (`crate::reshare`) verifies as its kind.
pub fn verify_bundle(dir: &Path, opts: &VerifyOptions) -> Report {
    if crate::reshare::kind_of_dir(dir) == crate::reshare::BundleKind::Reshare {
        return crate::reshare::verify(dir, opts).0;
    }
    verify_and_load(dir, opts, Keep::Nothing).0
}

/// Verifies the bundle and, when every check passed, returns its parsed content (which holds
/// every validator's entries: for the agent, not for batches of unbounded size).
pub fn load_verified(dir: &Path, opts: &VerifyOptions) -> Result<VerifiedBundle, Report> {
    match verify_and_load(dir, opts, Keep::Bundle) {
        (report, Some(Loaded::Bundle(bundle))) if report.ok() => Ok(*bundle),
        (report, _) => Err(report),
    }
}

/// Verifies the bundle (as [`verify_bundle`]: memory does not grow with the batch, beyond the
/// manifest's list that is returned) and, when every check passed, returns the manifest that was
/// verified.
pub fn verified_manifest(dir: &Path, opts: &VerifyOptions) -> Result<Manifest, Report> {
    match verify_and_load(dir, opts, Keep::List) {
        (report, Some(Loaded::Manifest(m))) if report.ok() => Ok(*m),
        (report, _) => Err(report),
    }
}

/// Verifies the bundle (either kind) as [`verify_bundle`] does and hands back what it read and
/// checked ([`Audited`]): the audit report shows that, never a second reading of the files.
/// The manifest's list and the transcript are held whole (the report lists them all).
pub fn audit_bundle(dir: &Path, opts: &VerifyOptions) -> (Report, Audited) {
    let mut c = Checker::new();
    c.audit = Some(Audited::default());
    let report = if crate::reshare::kind_of_dir(dir) == crate::reshare::BundleKind::Reshare {
        crate::reshare::verify_with(dir, opts, &mut c).0
    } else {
        verify_and_load_with(dir, opts, Keep::Nothing, &mut c).0
    };
    (report, c.audit.unwrap_or_default())
}

fn verify_and_load(dir: &Path, opts: &VerifyOptions, keep: Keep) -> (Report, Option<Loaded>) {
    verify_and_load_with(dir, opts, keep, &mut Checker::new())
}

fn verify_and_load_with(
    dir: &Path,
    opts: &VerifyOptions,
    keep: Keep,
    c: &mut Checker,
) -> (Report, Option<Loaded>) {
    let mut facts = (None, 0);
    let loaded = if crate::reshare::kind_of_dir(dir) == crate::reshare::BundleKind::Reshare {
        // A reshare bundle verifies on its own (`crate::reshare`); it is never a staking batch.
        c.fail(
            "bundle.kind",
            manifest::files::MANIFEST,
            "kind",
            "a reshare bundle (new shares for staked validators), not a staking batch",
        );
        None
    } else {
        run_checks(dir, opts, keep, c, &mut facts)
    };
    let (ceremony_id, validators) = facts;
    let report = Report {
        bundle: dir.to_owned(),
        ceremony_id,
        validators,
        identity_pinned: c.identity_pinned,
        signed_by: c.signed_by.take(),
        checks: std::mem::take(&mut c.checks),
    };
    (report, loaded)
}

/// What a verification that passed hands back.
enum Loaded {
    /// The verified manifest only (the large files were streamed, not kept).
    Manifest(Box<Manifest>),
    /// Everything, for the agent.
    Bundle(Box<VerifiedBundle>),
}
