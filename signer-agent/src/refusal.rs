//! Why the agent refused to act, as values: every refusal is a variant that carries its data
//! and answers [`Refusal::rule`] (its label in `signer_agent_refusals_total{rule="…"}`, one
//! per rule of `docs/agent-policy.md`) and [`Refusal::stops_bundle`] (whether it stops only the
//! bundle being planned, so the planner goes on with the next one). The transaction policy's
//! rules are a [`Rule`]; its refusal ([`PolicyRefusal`]) travels through the signer as the
//! boxed source of `alloy::signers::Error::Other` and is recovered by downcast
//! ([`Refusal::from_signer`]). No decision of the agent reads a message's text.

use alloy::primitives::{Address, B256, U256};

use crate::units::eth;

/// A rule of the transaction policy (`crate::policy`), named as on `/metrics`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Rule {
    ChainId,
    ContractCreation,
    EthTransfer,
    Target,
    Selector,
    ValueCap,
    FeeCap,
    PriorityFeeCap,
    StakeCalldata,
    WithdrawalAddress,
    UnknownValidator,
    FrontRun,
    SsvFeeCap,
    ValueDayCap,
    SsvFeeDayCap,
    ValidatorCap,
    TopupCap,
    TopupDayCap,
    ExitUnknownValidator,
    ExitDayCap,
    RemoveNotWithdrawn,
    RemoveDayCap,
    ReshareUnknown,
    MaintenanceCalldata,
    SimulationRevert,
    SimulationGas,
    SimulationDepositCount,
    SimulationUnavailable,
}

impl Rule {
    /// Every rule, in the order `docs/agent-policy.md` lists them.
    pub const ALL: [Rule; 28] = [
        Rule::ChainId,
        Rule::ContractCreation,
        Rule::EthTransfer,
        Rule::Target,
        Rule::Selector,
        Rule::ValueCap,
        Rule::FeeCap,
        Rule::PriorityFeeCap,
        Rule::StakeCalldata,
        Rule::WithdrawalAddress,
        Rule::UnknownValidator,
        Rule::FrontRun,
        Rule::SsvFeeCap,
        Rule::ValueDayCap,
        Rule::SsvFeeDayCap,
        Rule::ValidatorCap,
        Rule::TopupCap,
        Rule::TopupDayCap,
        Rule::ExitUnknownValidator,
        Rule::ExitDayCap,
        Rule::RemoveNotWithdrawn,
        Rule::RemoveDayCap,
        Rule::ReshareUnknown,
        Rule::MaintenanceCalldata,
        Rule::SimulationRevert,
        Rule::SimulationGas,
        Rule::SimulationDepositCount,
        Rule::SimulationUnavailable,
    ];

    /// The rule's name: its metrics label and the name in refusal messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Rule::ChainId => "chain_id",
            Rule::ContractCreation => "contract_creation",
            Rule::EthTransfer => "eth_transfer",
            Rule::Target => "target",
            Rule::Selector => "selector",
            Rule::ValueCap => "value_cap",
            Rule::FeeCap => "fee_cap",
            Rule::PriorityFeeCap => "priority_fee_cap",
            Rule::StakeCalldata => "stake_calldata",
            Rule::WithdrawalAddress => "withdrawal_address",
            Rule::UnknownValidator => "unknown_validator",
            Rule::FrontRun => "front_run",
            Rule::SsvFeeCap => "ssv_fee_cap",
            Rule::ValueDayCap => "value_day_cap",
            Rule::SsvFeeDayCap => "ssv_fee_day_cap",
            Rule::ValidatorCap => "validator_cap",
            Rule::TopupCap => "topup_cap",
            Rule::TopupDayCap => "topup_day_cap",
            Rule::ExitUnknownValidator => "exit_unknown_validator",
            Rule::ExitDayCap => "exit_day_cap",
            Rule::RemoveNotWithdrawn => "remove_not_withdrawn",
            Rule::RemoveDayCap => "remove_day_cap",
            Rule::ReshareUnknown => "reshare_unknown",
            Rule::MaintenanceCalldata => "maintenance_calldata",
            Rule::SimulationRevert => "simulation_revert",
            Rule::SimulationGas => "simulation_gas",
            Rule::SimulationDepositCount => "simulation_deposit_count",
            Rule::SimulationUnavailable => "simulation_unavailable",
        }
    }
}

impl std::fmt::Display for Rule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A policy refusal, as the error the policy signer returns (boxed in
/// `alloy::signers::Error::Other`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("policy refused ({rule}): {reason}")]
pub struct PolicyRefusal {
    pub rule: Rule,
    pub reason: String,
}

/// Why a reshare bundle is refused (nothing is imported or sent).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReshareRefusal {
    #[error("reshare bundle owner {owner} is not the PoolManager {pool_manager}")]
    WrongOwner {
        owner: String,
        pool_manager: Address,
    },
    #[error("validator {pubkey} was never staked by the pool (state store: {status}; on chain: {on_chain}): only staked validators move")]
    NeverStaked {
        pubkey: String,
        status: String,
        on_chain: bool,
    },
    #[error("reshare root {root} is not approved on the PoolManager for cluster {operator_ids:?} (governance: approveReshare)")]
    NotApproved { root: B256, operator_ids: Vec<u64> },
    #[error("owner nonce {first} of the reshare bundle was already used: the SSV network's nonce for the PoolManager is {chain}; reshare again with nonces from {chain}")]
    NonceUsed { first: u64, chain: u64 },
    #[error("validator {pubkey} is leaving (exit lifecycle: {state}): it does not move")]
    Exiting { pubkey: String, state: String },
}

/// Why the agent refused to send anything (exit code 5; the daemon waits for the next poll).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The transaction policy refused to sign (the policy signer counted it under its rule).
    #[error(transparent)]
    Policy(PolicyRefusal),

    /// The node's fee estimate is above the max-fee cap.
    #[error("gas above cap: max fee per gas {fee} wei exceeds the cap of {cap} wei")]
    FeeAboveCap { fee: u128, cap: u128 },

    /// A transaction needs a gas limit above `gas.max_gas_per_tx`.
    #[error(
        "gas above cap: the {what} transaction needs a gas limit of {needed}, the cap is {cap}"
    )]
    GasAboveCap { what: String, needed: u64, cap: u64 },

    /// Governance has not approved the batch root.
    #[error("root not approved: batch {root} is not approved on PoolManager {pool_manager}")]
    RootNotApproved { root: B256, pool_manager: Address },

    /// The batch was approved for another withdrawal type than the bundle's.
    #[error("batch {root} was approved for withdrawal type 0x{approved:02x}, the bundle is 0x{bundle:02x}")]
    BatchWithdrawalType {
        root: B256,
        approved: u8,
        bundle: u8,
    },

    /// The batch was approved for another cluster than the bundle's.
    #[error("batch {root} was approved for another cluster than {operator_ids:?}")]
    BatchCluster { root: B256, operator_ids: Vec<u64> },

    /// The agent's key lacks OPERATOR_ROLE on the PoolManager.
    #[error("the agent's address {address} lacks OPERATOR_ROLE on the PoolManager")]
    OperatorRole { address: Address },

    /// The next validator was signed for another owner nonce than the SSV network's.
    #[error("nonce mismatch: the next validator (index {index}, {pubkey}) was signed for owner nonce {signed_for}, the SSV network's nonce for the PoolManager is {chain}{}", front_run_hint(front_run.as_deref(), *chain))]
    OwnerNonce {
        index: u32,
        pubkey: String,
        signed_for: u64,
        chain: u64,
        /// The refused (front-run) validator that holds the chain's nonce, if one does.
        front_run: Option<String>,
    },

    /// A validator of the next transaction breaks the run of consecutive owner nonces.
    #[error("nonce mismatch: validator {pubkey} has owner nonce {has}, expected {expected}")]
    NonceGap {
        pubkey: String,
        has: u64,
        expected: u64,
    },

    /// A bundle's owner nonces do not follow the SSV network's (`verify`, `import`).
    #[error("nonce mismatch: the bundle's owner nonces start at {first} with {staked} already staked, the SSV network's nonce for the PoolManager is {chain}")]
    BundleNonces { first: u64, staked: u64, chain: u64 },

    /// The store has no pinned operator fingerprints for the bundle.
    #[error("bundle {bundle} has no pinned operator fingerprints in the state store (imported by an older agent): import it again")]
    NoPinnedFingerprints { bundle: String },

    /// The pool's cluster is liquidated.
    #[error("cluster {operator_ids:?} is liquidated: it must be reactivated (PoolManager.reactivateCluster) before the pool stakes into it; staking for this cluster stops")]
    ClusterLiquidated { operator_ids: Vec<u64> },

    /// The SSV fees are above governance's cap (`clusterFeeCapPerValidator`).
    #[error("ssv fees above the PoolManager's cap: {} for {validators} validators into cluster {operator_ids:?}, governance allows {} ({} per validator)", eth(*fee), eth(*cap), eth(*per_validator))]
    SsvFeeAboveContractCap {
        fee: U256,
        validators: usize,
        operator_ids: Vec<u64>,
        cap: U256,
        per_validator: U256,
    },

    /// The SSV fees are above the policy's per-transaction cap.
    #[error("ssv fees above the policy: {} for {validators} validators, the policy allows {} per transaction", eth(*fee), eth(*cap))]
    SsvFeeAbovePolicy {
        fee: U256,
        validators: usize,
        cap: U256,
    },

    /// The stored leaves give no proof for a validator.
    #[error("no proof for validator {pubkey} at position {position}")]
    NoProof { pubkey: String, position: usize },

    /// A validator's stored proof does not verify against the batch root.
    #[error("the stored proof of {pubkey} does not verify against {root}")]
    ProofMismatch { pubkey: String, root: B256 },

    /// The state store holds something the planner cannot use (a pubkey that is not hex, a
    /// bundle id that is not a root, a validator whose bundle is missing).
    #[error("{problem}")]
    StoreInconsistent { problem: String },

    /// The node says the transaction would revert.
    #[error("{what} would fail: {reason}")]
    WouldRevert { what: String, reason: String },

    /// A plan without what sending needs (a dry run's plan).
    #[error("{missing}")]
    NotSendable { missing: &'static str },

    /// The agent's key is not a member of the Oracle.
    #[error("{member} is not a member of the Oracle {oracle}")]
    NotOracleMember { member: Address, oracle: Address },

    /// The Beacon API's answer cannot be reported.
    #[error("beacon balance {balance:?} is not a wei amount")]
    BadReport { balance: String },

    /// A reshare bundle is refused.
    #[error(transparent)]
    Reshare(#[from] ReshareRefusal),

    /// The state store refused a bundle's import (every key that refuses it, and why).
    #[error(transparent)]
    Import(#[from] ImportRefusal),
}

// ---- the state store's import refusal (its rule: `crate::store` `decide`) ----

/// Why one key refuses a bundle's import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Blocked {
    /// The bundle was imported before and the key belongs to another bundle now: only a
    /// bundle new to the store takes keys over.
    AlreadyImported,
    /// A stake transaction for it is in flight.
    Sent,
    /// It is staked.
    Confirmed,
    /// It was refused as front-run.
    FrontRun,
    /// The front-running scan recorded a foreign deposit for it.
    ForeignDeposit,
    /// The re-issue's signature or deposit data root differs from the held one.
    DifferentDepositData,
}

/// A key that refuses the import, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockedKey {
    pub pubkey: String,
    pub index: u32,
    /// The bundle the key belongs to now.
    pub other: String,
    pub why: Blocked,
}

impl std::fmt::Display for BlockedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (pk, index, other) = (&self.pubkey, self.index, &self.other);
        write!(f, "validator {pk} (index {index}) ")?;
        match self.why {
            Blocked::AlreadyImported => write!(f, "is already imported from bundle {other} (only a bundle new to the state store can take keys over)"),
            Blocked::Sent => write!(f, "is already sent (a stake transaction is in flight) from bundle {other}"),
            Blocked::Confirmed => write!(f, "is already staked (confirmed) from bundle {other}"),
            Blocked::FrontRun => write!(f, "was refused as front-run in bundle {other} and stays refused"),
            Blocked::ForeignDeposit => write!(f, "has a foreign deposit on chain (front-run) and is never staked by the pool"),
            Blocked::DifferentDepositData => write!(f, "is re-issued with deposit data different from bundle {other}'s (signature or deposit data root): a re-created key must keep byte-identical deposit data"),
        }
    }
}

/// A bundle that cannot be imported: every key that refuses it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bundle {bundle} ({ceremony_id}) cannot be imported: {}", keys.iter().map(|k| k.to_string()).collect::<Vec<_>>().join("; "))]
pub struct ImportRefusal {
    pub bundle: String,
    pub ceremony_id: String,
    pub keys: Vec<BlockedKey>,
}

fn front_run_hint(front_run: Option<&str>, chain: u64) -> String {
    match front_run {
        Some(pk) => format!(
            " (validator {pk} with owner nonce {chain} was refused as front-run: the later validators' shares must be signed again for the SSV network's nonces)"
        ),
        None => String::new(),
    }
}

impl Refusal {
    /// The rule's label in `signer_agent_refusals_total{rule="…"}`.
    pub fn rule(&self) -> &'static str {
        match self {
            Refusal::Policy(p) => p.rule.as_str(),
            Refusal::FeeAboveCap { .. } | Refusal::GasAboveCap { .. } => "gas_cap",
            Refusal::RootNotApproved { .. } => "root_not_approved",
            Refusal::BatchWithdrawalType { .. } => "batch_withdrawal_type",
            Refusal::BatchCluster { .. } => "batch_cluster",
            Refusal::OperatorRole { .. } => "operator_role",
            Refusal::OwnerNonce { .. }
            | Refusal::NonceGap { .. }
            | Refusal::BundleNonces { .. } => "owner_nonce",
            Refusal::NoPinnedFingerprints { .. } => "operator_check",
            Refusal::ClusterLiquidated { .. } => "cluster_liquidated",
            Refusal::SsvFeeAboveContractCap { .. } => "ssv_fee_contract_cap",
            Refusal::SsvFeeAbovePolicy { .. } => "ssv_fee_cap",
            Refusal::NoProof { .. } | Refusal::ProofMismatch { .. } => "merkle_proof",
            Refusal::StoreInconsistent { .. } => "state_store",
            Refusal::WouldRevert { .. } => "estimate_revert",
            Refusal::NotSendable { .. } => "dry_run",
            Refusal::NotOracleMember { .. } => "oracle_member",
            Refusal::BadReport { .. } => "oracle_report",
            Refusal::Reshare(_) => "reshare_import",
            Refusal::Import(_) => "import",
        }
    }

    /// Whether this refusal stops only the bundle being planned (its batch, its cluster, its
    /// nonces), so that the planner goes on with the next pending bundle.
    pub fn stops_bundle(&self) -> bool {
        match self {
            Refusal::RootNotApproved { .. }
            | Refusal::BatchWithdrawalType { .. }
            | Refusal::BatchCluster { .. }
            | Refusal::OwnerNonce { .. }
            | Refusal::NonceGap { .. }
            | Refusal::BundleNonces { .. }
            | Refusal::NoPinnedFingerprints { .. }
            | Refusal::ClusterLiquidated { .. } => true,
            Refusal::Policy(_)
            | Refusal::FeeAboveCap { .. }
            | Refusal::GasAboveCap { .. }
            | Refusal::OperatorRole { .. }
            | Refusal::SsvFeeAboveContractCap { .. }
            | Refusal::SsvFeeAbovePolicy { .. }
            | Refusal::NoProof { .. }
            | Refusal::ProofMismatch { .. }
            | Refusal::StoreInconsistent { .. }
            | Refusal::WouldRevert { .. }
            | Refusal::NotSendable { .. }
            | Refusal::NotOracleMember { .. }
            | Refusal::BadReport { .. }
            | Refusal::Reshare(_)
            | Refusal::Import(_) => false,
        }
    }

    /// Whether the policy signer already counted this refusal under its rule (so the daemon
    /// does not count it again).
    pub fn counted_by_policy(&self) -> bool {
        matches!(self, Refusal::Policy(_))
    }

    /// The policy refusal inside a signer error, recovered by downcast; `None` for any other
    /// signer failure.
    pub fn from_signer(e: &alloy::signers::Error) -> Option<Refusal> {
        match e {
            alloy::signers::Error::Other(inner) => inner
                .downcast_ref::<PolicyRefusal>()
                .map(|p| Refusal::Policy(p.clone())),
            _ => None,
        }
    }
}

/// Serializes a value as its `Display` text (a wait reason in `plan --json`).
pub(crate) fn as_text<T: std::fmt::Display, S: serde::Serializer>(
    v: &T,
    s: S,
) -> Result<S::Ok, S::Error> {
    s.collect_str(v)
}

/// Why there is nothing to send now (not an error: the daemon waits for the next poll).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WaitReason {
    /// A stake transaction of the agent is in flight.
    #[error("a stake transaction is in flight; reconcile first")]
    InFlight,
    /// A validator of the next transaction is staked on chain already: the store is behind.
    #[error("validator {pubkey} is already staked on chain; reconcile first")]
    AlreadyStaked { pubkey: String },
    /// The pool's buffer does not hold 32 ETH.
    #[error("not enough ETH: {} available in the pool, 32 ETH needed per validator", eth(*available))]
    NoDeposit { available: U256 },
    /// The buffer holds 32 ETH but not the cluster's SSV fees with it.
    #[error("not enough ETH: {} available in the pool, {} needed for 1 validator (32 ETH) and its SSV cluster fees ({})", eth(*available), eth(*needed), eth(*fee))]
    NoFees {
        available: U256,
        needed: U256,
        fee: U256,
    },
    /// The policy's daily validator cap is reached.
    #[error("daily validator cap reached: {staked} staked today (UTC), the policy allows {cap}")]
    ValidatorCap { staked: u64, cap: u64 },
    /// The policy's daily SSV fee cap is reached.
    #[error("daily SSV fee cap reached: {} needed, {} left today (UTC) of the policy's {}", eth(*needed), eth(*left), eth(*cap))]
    SsvFeeCap { needed: U256, left: U256, cap: U256 },
}

impl WaitReason {
    /// Whether the store must be settled from the chain before planning again.
    pub fn needs_reconcile(&self) -> bool {
        match self {
            WaitReason::InFlight | WaitReason::AlreadyStaked { .. } => true,
            WaitReason::NoDeposit { .. }
            | WaitReason::NoFees { .. }
            | WaitReason::ValidatorCap { .. }
            | WaitReason::SsvFeeCap { .. } => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;

    const ROOT: B256 = B256::repeat_byte(7);
    const POOL: Address = Address::repeat_byte(1);

    /// One of each refusal, with the label and the bundle stop it must have.
    fn every_refusal() -> Vec<(Refusal, &'static str, bool)> {
        vec![
            (
                Refusal::Policy(PolicyRefusal {
                    rule: Rule::ValidatorCap,
                    reason: "r".into(),
                }),
                "validator_cap",
                false,
            ),
            (Refusal::FeeAboveCap { fee: 2, cap: 1 }, "gas_cap", false),
            (
                Refusal::GasAboveCap {
                    what: "stake".into(),
                    needed: 2,
                    cap: 1,
                },
                "gas_cap",
                false,
            ),
            (
                Refusal::RootNotApproved {
                    root: ROOT,
                    pool_manager: POOL,
                },
                "root_not_approved",
                true,
            ),
            (
                Refusal::BatchWithdrawalType {
                    root: ROOT,
                    approved: 1,
                    bundle: 2,
                },
                "batch_withdrawal_type",
                true,
            ),
            (
                Refusal::BatchCluster {
                    root: ROOT,
                    operator_ids: vec![1, 2, 3, 4],
                },
                "batch_cluster",
                true,
            ),
            (
                Refusal::OperatorRole { address: POOL },
                "operator_role",
                false,
            ),
            (
                Refusal::OwnerNonce {
                    index: 3,
                    pubkey: "0xaa".into(),
                    signed_for: 5,
                    chain: 4,
                    front_run: Some("0xbb".into()),
                },
                "owner_nonce",
                true,
            ),
            (
                Refusal::NonceGap {
                    pubkey: "0xaa".into(),
                    has: 7,
                    expected: 6,
                },
                "owner_nonce",
                true,
            ),
            (
                Refusal::BundleNonces {
                    first: 9,
                    staked: 0,
                    chain: 3,
                },
                "owner_nonce",
                true,
            ),
            (
                Refusal::NoPinnedFingerprints {
                    bundle: "0x07".into(),
                },
                "operator_check",
                true,
            ),
            (
                Refusal::ClusterLiquidated {
                    operator_ids: vec![1, 2, 3, 4],
                },
                "cluster_liquidated",
                true,
            ),
            (
                Refusal::SsvFeeAboveContractCap {
                    fee: U256::from(3),
                    validators: 1,
                    operator_ids: vec![1, 2, 3, 4],
                    cap: U256::from(2),
                    per_validator: U256::from(1),
                },
                "ssv_fee_contract_cap",
                false,
            ),
            (
                Refusal::SsvFeeAbovePolicy {
                    fee: U256::from(3),
                    validators: 1,
                    cap: U256::from(2),
                },
                "ssv_fee_cap",
                false,
            ),
            (
                Refusal::NoProof {
                    pubkey: "0xaa".into(),
                    position: 3,
                },
                "merkle_proof",
                false,
            ),
            (
                Refusal::ProofMismatch {
                    pubkey: "0xaa".into(),
                    root: ROOT,
                },
                "merkle_proof",
                false,
            ),
            (
                Refusal::StoreInconsistent {
                    problem: "bad pubkey 0xzz".into(),
                },
                "state_store",
                false,
            ),
            (
                Refusal::WouldRevert {
                    what: "stake".into(),
                    reason: "reverted".into(),
                },
                "estimate_revert",
                false,
            ),
            (
                Refusal::NotSendable {
                    missing: "no gas estimate",
                },
                "dry_run",
                false,
            ),
            (
                Refusal::NotOracleMember {
                    member: POOL,
                    oracle: POOL,
                },
                "oracle_member",
                false,
            ),
            (
                Refusal::BadReport {
                    balance: "x".into(),
                },
                "oracle_report",
                false,
            ),
            (
                Refusal::Reshare(ReshareRefusal::NonceUsed { first: 1, chain: 2 }),
                "reshare_import",
                false,
            ),
            (
                Refusal::Import(ImportRefusal {
                    bundle: "0x07".into(),
                    ceremony_id: "c".into(),
                    keys: vec![BlockedKey {
                        pubkey: "0xaa".into(),
                        index: 0,
                        other: "0x08".into(),
                        why: Blocked::Confirmed,
                    }],
                }),
                "import",
                false,
            ),
        ]
    }

    #[test]
    fn each_refusal_is_counted_under_its_rule_and_stops_the_bundle_or_not() {
        for (r, rule, stops) in every_refusal() {
            assert_eq!(r.rule(), rule, "{r:?}");
            assert_eq!(r.stops_bundle(), stops, "{r:?}");
            // Through the agent's error, as the daemon and the planner see it.
            let e = Error::from(r.clone());
            assert_eq!(e.refusal_rule(), Some(rule), "{r:?}");
            assert_eq!(e.stops_bundle(), stops, "{r:?}");
            assert_eq!(e.exit_code(), 5, "{r:?}");
        }
        // Only the policy's own refusals are counted by the policy signer.
        assert!(every_refusal()
            .iter()
            .all(|(r, _, _)| r.counted_by_policy() == matches!(r, Refusal::Policy(_))));
        // Not refusals: no rule, no bundle stop.
        let rpc = Error::Rpc {
            call: "eth_call".into(),
            message: "refused: root not approved; staking for this cluster stops".into(),
        };
        assert_eq!(rpc.refusal_rule(), None);
        assert!(!rpc.stops_bundle());
    }

    #[test]
    fn an_approval_for_another_cluster_stops_the_bundle_under_its_own_rule() {
        let e = Error::from(Refusal::BatchCluster {
            root: ROOT,
            operator_ids: vec![5, 6, 7, 8],
        });
        assert!(e.stops_bundle());
        assert_eq!(e.refusal_rule(), Some("batch_cluster"));
        assert!(e.to_string().contains("was approved for another cluster"));
    }

    #[test]
    fn a_removed_operator_counts_as_operator_check_and_stops_the_bundle() {
        for problem in [
            crate::ssv::OperatorProblem::Removed,
            crate::ssv::OperatorProblem::DoesNotExist,
        ] {
            let e = Error::ClusterStopped {
                operator_ids: vec![1, 2, 3, 4],
                operator_id: 2,
                problem,
            };
            assert_eq!(e.refusal_rule(), Some("operator_check"));
            assert!(e.stops_bundle());
        }
        let e = Error::LegacyCluster {
            operator_ids: vec![1, 2, 3, 4],
        };
        assert_eq!(e.refusal_rule(), Some("operator_check"));
        assert!(e.stops_bundle());
    }

    #[test]
    fn every_rule_is_documented_with_its_label() {
        let doc = include_str!("../../docs/agent-policy.md");
        let labels = Rule::ALL
            .iter()
            .map(|r| r.as_str())
            .chain(every_refusal().into_iter().map(|(r, _, _)| r.rule()))
            .chain(["operator_check", "front_run"]);
        for label in labels {
            assert!(
                doc.contains(&format!("| `{label}`")) || doc.contains(&format!(", `{label}`")),
                "rule `{label}` is not in the tables of docs/agent-policy.md"
            );
        }
        // The rules' names are distinct (one counter each).
        let mut names: Vec<&str> = Rule::ALL.iter().map(|r| r.as_str()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), Rule::ALL.len());
    }

    #[test]
    fn a_policy_refusal_is_recovered_from_the_signer_error_by_its_type_not_its_text() {
        let refusal = PolicyRefusal {
            rule: Rule::FrontRun,
            reason: "validator 0xaa is refused".into(),
        };
        let e = alloy::signers::Error::other(refusal.clone());
        assert_eq!(
            Refusal::from_signer(&e),
            Some(Refusal::Policy(refusal.clone()))
        );
        // The same words from anything else are a signer failure, not a refusal.
        let text = alloy::signers::Error::message(refusal.to_string());
        assert_eq!(Refusal::from_signer(&text), None);
        let from = Address::repeat_byte(9);
        let built = Error::signing(
            from,
            alloy::network::TransactionBuilderError::Signer(alloy::signers::Error::other(
                refusal.clone(),
            )),
        );
        assert!(
            matches!(&built, Error::Refused(r) if matches!(&**r, Refusal::Policy(p) if p.rule == Rule::FrontRun))
        );
        assert_eq!(built.exit_code(), 5);
        let other = Error::signing(from, alloy::network::TransactionBuilderError::Signer(text));
        assert!(matches!(other, Error::Signer { .. }), "{other:?}");
    }

    #[test]
    fn only_an_in_flight_or_already_staked_wait_needs_a_reconcile() {
        let cases = [
            (WaitReason::InFlight, true),
            (
                WaitReason::AlreadyStaked {
                    pubkey: "0xaa".into(),
                },
                true,
            ),
            (
                WaitReason::NoDeposit {
                    available: U256::ZERO,
                },
                false,
            ),
            (
                WaitReason::NoFees {
                    available: U256::ZERO,
                    needed: U256::from(1),
                    fee: U256::from(1),
                },
                false,
            ),
            (WaitReason::ValidatorCap { staked: 4, cap: 4 }, false),
            (
                WaitReason::SsvFeeCap {
                    needed: U256::from(2),
                    left: U256::from(1),
                    cap: U256::from(3),
                },
                false,
            ),
        ];
        for (w, reconcile) in cases {
            assert_eq!(w.needs_reconcile(), reconcile, "{w}");
        }
    }
}
