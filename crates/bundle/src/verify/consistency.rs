//! The bundle's parts against each other: operators against the manifest, the operators'
//! chain, the plan against the manifest, the seal backend, and no validator twice.

use kc_ssv::OperatorKey;
use kc_validator::deposit;

use crate::manifest::{files, Manifest, ManifestHead, ValidatorEntry};
use crate::operators::OperatorsFile;
use crate::plan::Plan;
use crate::seal::SealedMaster;

use super::Checker;

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
    started: Option<Option<serde_json::Value>>,
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

pub(super) fn check_plan_vs_manifest(
    plan: &Plan,
    m: &ManifestHead,
    list: impl Iterator<Item = ValidatorEntry>,
    c: &mut Checker,
) {
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
    for (i, (v, index)) in list.zip(plan.indices()).enumerate() {
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
