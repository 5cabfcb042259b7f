//! [`Manifest::build`]: the one place a staking manifest is assembled from its plan and what the
//! ceremony made. What the plan decides is [`Planned`]; the verifier's plan check compares a
//! manifest with the same [`Planned`] values, field by field, so the writer and the checker
//! cannot drift apart.

use std::collections::BTreeMap;

use kc_validator::deposit;

use super::{
    IdentityInfo, Manifest, MasterInfo, NetworkInfo, OperatorInfo, OperatorsInfo, OwnerInfo,
    ToolInfo, WithdrawalInfo, FORMAT, SIGNATURE_ALGORITHM,
};
use crate::operators::OperatorsFile;
use crate::plan::Plan;

/// The manifest's fields that follow from the plan alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned {
    pub ceremony_id: String,
    pub network: NetworkInfo,
    pub withdrawal: WithdrawalInfo,
    pub owner: OwnerInfo,
    /// The plan accepted an operators file without provenance.
    pub unpinned_allowed: bool,
    pub seal_key_label: String,
    pub identity_key_label: String,
    /// How many validators.
    pub validators: u32,
}

impl Planned {
    pub fn of(plan: &Plan) -> Self {
        let wc = deposit::withdrawal_credentials(plan.withdrawal_type, &plan.withdrawal_address);
        Planned {
            ceremony_id: plan.id().to_owned(),
            network: NetworkInfo {
                name: plan.network.name().to_owned(),
                fork_version: hex::encode(plan.network.genesis_fork_version()),
            },
            withdrawal: WithdrawalInfo {
                address: plan.withdrawal_address.to_checksum(),
                kind: plan.file.deposit.withdrawal_type.clone(),
                credentials: hex::encode(wc),
                amount_gwei: plan.amount_gwei(),
            },
            owner: OwnerInfo {
                address: plan.owner.to_checksum(),
                first_nonce: plan.first_nonce(),
                last_nonce: plan.nonce_of(plan.count() - 1),
            },
            unpinned_allowed: plan.operators.provenance.is_none(),
            seal_key_label: plan.file.hsm.seal_key_label.clone(),
            identity_key_label: plan.file.hsm.identity_key_label.clone(),
            validators: plan.count(),
        }
    }
}

/// The master secret as the ceremony made and sealed it (its seal key's label is the plan's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MadeMaster {
    /// `hsm`, `mnemonic` or `recovered:<ceremony id>`.
    pub seed_source: String,
    pub fingerprint: String,
    /// The seal backend's name.
    pub seal_algorithm: String,
    /// `rsa-oaep`: SHA-256 of the seal public key.
    pub seal_key_sha256: Option<String>,
}

/// What the ceremony made, known at its end (the manifest's list of validators is streamed
/// into `manifest.json` by [`super::write_streamed`], not held here).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Made {
    pub created_at: String,
    pub tool: ToolInfo,
    /// The identity public key (SEC1) that signs the manifest.
    pub identity_public_key: Vec<u8>,
    pub master: MadeMaster,
    pub operators: OperatorsInfo,
    pub merkle_root: String,
    pub transcript_head: String,
    /// SHA-256 (hex) of every other file.
    pub files: BTreeMap<String, String>,
}

impl Manifest {
    /// The manifest of `plan`'s batch as `made`, without its list of validators.
    pub fn build(plan: &Plan, made: Made) -> Manifest {
        let p = Planned::of(plan);
        Manifest {
            format: FORMAT.to_owned(),
            ceremony_id: p.ceremony_id,
            created_at: made.created_at,
            network: p.network,
            tool: made.tool,
            identity: IdentityInfo::of(&p.identity_key_label, &made.identity_public_key),
            master: MasterInfo {
                seed_source: made.master.seed_source,
                fingerprint: made.master.fingerprint,
                seal_key_label: p.seal_key_label,
                seal_algorithm: made.master.seal_algorithm,
                seal_key_sha256: made.master.seal_key_sha256,
            },
            withdrawal: p.withdrawal,
            owner: p.owner,
            operators: made.operators,
            validators: Vec::new(),
            merkle_root: made.merkle_root,
            transcript_head: made.transcript_head,
            files: made.files,
        }
    }
}

impl IdentityInfo {
    /// The identity key labelled `key_label` whose public key is `public_key` (SEC1).
    pub fn of(key_label: &str, public_key: &[u8]) -> Self {
        IdentityInfo {
            algorithm: SIGNATURE_ALGORITHM.to_owned(),
            key_label: key_label.to_owned(),
            public_key: hex::encode(public_key),
            fingerprint: super::key_fingerprint(public_key),
        }
    }
}

impl OperatorsInfo {
    /// The cluster's ids and key fingerprints, with the operators file's provenance (both
    /// bundle kinds).
    pub fn of(file: &OperatorsFile, cluster: &kc_ssv::Cluster) -> Self {
        OperatorsInfo {
            provenance: file.provenance.clone(),
            unpinned_allowed: file.provenance.is_none(),
            list: cluster
                .operators()
                .iter()
                .map(|o| OperatorInfo {
                    id: o.id(),
                    fingerprint: o.fingerprint_hex(),
                })
                .collect(),
        }
    }
}
