//! The bundle's parts against each other: operators against the manifest, the operators'
//! chain, the plan against the manifest, the seal backend, and no validator twice.

use crate::manifest::{files, Manifest, ManifestHead, Planned, ValidatorEntry};
use crate::operators::OperatorsFile;
use crate::plan::{OperatorsChain, Plan};
use crate::seal::SealedMaster;
use crate::transcript::steps::{CeremonyStarted, PayloadError};
use kc_ssv::OperatorKey;

use super::{Checker, PlanMismatches};

pub(super) fn check_operators(manifest: &ManifestHead, ops: &OperatorsFile, c: &mut Checker) {
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
pub(super) fn check_operators_chain(
    plan: &Plan,
    started: Option<Option<Result<CeremonyStarted, PayloadError>>>,
    c: &mut Checker,
) {
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
    // As the transcript holds it (keys sorted).
    let json = |r: &OperatorsChain| {
        serde_json::to_value(r)
            .expect("a relation serializes")
            .to_string()
    };
    let recorded = match started {
        // No readable transcript: its own check failed already.
        None => None,
        Some(Some(Ok(d))) => Some(d.operators_chain.ok_or_else(|| "nothing".to_owned())),
        Some(Some(Err(e))) => Some(Err(format!("nothing readable ({e})"))),
        Some(None) => Some(Err("nothing".to_owned())),
    };
    match recorded {
        Some(Ok(r)) if r == relation => {}
        Some(r) => {
            return c.fail(
                "operators.chain",
                files::TRANSCRIPT,
                "ceremony.started.operators_chain",
                format!(
                    "recorded {}, the bundle's network and provenance give {}",
                    r.map_or_else(|e| e, |r| json(&r)),
                    json(&relation)
                ),
            )
        }
        None => {}
    }
    c.pass("operators.chain", files::OPERATORS, relation.to_string());
}

/// The manifest against what the plan decides ([`Planned`], from which `Manifest::build`
/// assembles it), field by field, and its list's indices and nonces against the plan's.
pub(super) fn check_plan_vs_manifest(
    plan: &Plan,
    m: &ManifestHead,
    list: impl Iterator<Item = ValidatorEntry>,
    c: &mut Checker,
) {
    let p = Planned::of(plan);
    let mut f = PlanMismatches::default();
    f.eq("ceremony_id", &m.ceremony_id, &p.ceremony_id);
    f.eq("network.name", &m.network.name, &p.network.name);
    f.eq(
        "network.fork_version",
        &m.network.fork_version,
        &p.network.fork_version,
    );
    f.eq(
        "withdrawal.address",
        &m.withdrawal.address,
        &p.withdrawal.address,
    );
    f.eq("withdrawal.type", &m.withdrawal.kind, &p.withdrawal.kind);
    f.eq(
        "withdrawal.credentials",
        &m.withdrawal.credentials,
        &p.withdrawal.credentials,
    );
    f.eq(
        "withdrawal.amount_gwei",
        m.withdrawal.amount_gwei,
        p.withdrawal.amount_gwei,
    );
    f.eq("owner.address", &m.owner.address, &p.owner.address);
    f.eq(
        "owner.first_nonce",
        m.owner.first_nonce,
        p.owner.first_nonce,
    );
    f.eq("owner.last_nonce", m.owner.last_nonce, p.owner.last_nonce);
    f.eq(
        "operators.unpinned_allowed",
        m.operators.unpinned_allowed,
        p.unpinned_allowed,
    );
    f.eq(
        "master.seal_key_label",
        &m.master.seal_key_label,
        &p.seal_key_label,
    );
    f.eq(
        "identity.key_label",
        &m.identity.key_label,
        &p.identity_key_label,
    );
    f.eq("validators (count)", m.validators.len(), p.validators);
    for (i, (v, index)) in list.zip(plan.indices()).enumerate() {
        f.eq(&format!("validators[{i}].index"), v.index, index);
        f.eq(
            &format!("validators[{i}].owner_nonce"),
            v.owner_nonce,
            plan.nonce_of(i as u32),
        );
    }
    c.group(
        "plan.manifest",
        files::MANIFEST,
        f.0,
        "manifest agrees with the plan",
    );
}

/// `deposit.amount`: the plan's deposit amount, which every deposit's amount was compared with,
/// is the amount the caller expects (the agent stakes exactly 32 ETH).
pub(super) fn check_expected_amount(m: &ManifestHead, expected: Option<u64>, c: &mut Checker) {
    let Some(want) = expected else {
        return;
    };
    let got = m.withdrawal.amount_gwei;
    if got == want {
        c.pass(
            "deposit.amount",
            files::MANIFEST,
            format!("every deposit is {got} gwei, as expected"),
        );
    } else {
        c.fail(
            "deposit.amount",
            files::MANIFEST,
            "withdrawal.amount_gwei",
            format!("{got} gwei per deposit; {want} gwei expected"),
        );
    }
}

/// The envelope's seal backend is the one the signed manifest names, and an `rsa-oaep` envelope
/// names the seal public key the manifest names.
pub(super) fn check_seal_backend<V>(
    s: &SealedMaster,
    m: &Manifest<V>,
    fails: &mut Vec<(String, String)>,
) {
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
/// Keys are compared without regard to case, while the manifest is read
/// ([`manifest::ListSummary`]).
pub(super) fn check_unique_validators(m: &ManifestHead, c: &mut Checker) {
    let fails = m
        .validators
        .repeats
        .iter()
        .map(|r| {
            let field = r.key.field();
            (
                format!("validators[{}].{field}", r.position),
                format!("repeats validators[{}].{field}", r.repeats),
            )
        })
        .collect();
    c.group(
        "validators.unique",
        files::MANIFEST,
        fails,
        format!("{} distinct validators", m.validators.len()),
    );
}
