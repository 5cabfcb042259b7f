//! Planning and sending `PoolManager.stake`, and reconciling the store with the chain.
//!
//! Crash safety: a transaction is signed, its hash recorded as `sent`, and only then broadcast;
//! after a restart, [`reconcile`] settles every unconfirmed validator from the chain (the chain is
//! the truth): staked on chain → `confirmed`; its transaction reverted, or never mined while the
//! account has nothing pending → `reverted` (eligible again). The PoolManager itself refuses a
//! key staked before, so a duplicate send cannot deposit twice.
//!
//! One job per module: [`plan`] works out the next transaction (every check that would make it
//! fail), [`frontrun`] scans the deposit contract for deposits someone else made for the pool's
//! keys, [`ssv`] rechecks the cluster's operators and works out its fees, [`send`] signs, sends,
//! follows and settles a stake, [`reconcile`] settles the store from the chain.

use serde::Serialize;

use crate::chain::IPoolManager;
use crate::refusal::WaitReason;

pub mod frontrun;
pub mod plan;
pub mod reconcile;
pub mod send;
pub mod ssv;

pub use crate::fault::crash_point;
pub use crate::types::{mined, FrontRunDeposit, Mined};
pub use crate::units::{decimal, eth, DEPOSIT_WEI};
pub use frontrun::{
    front_run_deposits, front_run_in, keys_digest, rescan_depth, scan_deposits, scan_start,
};
pub use plan::{check_batch_approved, prepare};
pub use reconcile::{reconcile, staked_query};
pub use send::{resume, send};
pub use ssv::{check_operators, cluster_fee};

/// What one `stake` transaction would carry.
#[derive(Debug, Clone, Serialize)]
pub struct StakePlan {
    pub bundle_id: String,
    pub operator_ids: Vec<u64>,
    pub validators: Vec<PlannedValidator>,
    pub expected_deposit_root: String,
    pub owner_nonce: u64,
    /// 32 ETH per validator plus `cluster_fee_wei`.
    pub eth_needed_wei: String,
    /// 32 ETH per validator, to the deposit contract.
    pub deposits_wei: String,
    /// ETH for SSV fees sent with the registration (the `clusterFee` of `stake`).
    pub cluster_fee_wei: String,
    /// The SSV network's version (`getVersion()`).
    pub ssv_network_version: String,
    pub buffered_available_wei: String,
    pub gas_estimate: Option<u64>,
    pub max_fee_per_gas_wei: String,
    #[serde(skip)]
    pub(crate) call: Option<IPoolManager::stakeCall>,
    #[serde(skip)]
    pub(crate) pubkeys: Vec<String>,
}

impl StakePlan {
    /// The `stake` call the plan would send (absent in a dry run without a signer).
    pub fn call(&self) -> Option<&IPoolManager::stakeCall> {
        self.call.as_ref()
    }
}

/// One validator in a plan.
#[derive(Debug, Clone, Serialize)]
pub struct PlannedValidator {
    pub pubkey: String,
    pub index: u32,
    pub owner_nonce: u64,
}

/// What [`prepare`] found.
// One value per loop iteration; boxing the plan would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Prepared {
    /// Ready to send.
    Ready(StakePlan),
    /// Nothing can be sent now; the reason says why (not an error: the daemon waits).
    Waiting {
        #[serde(serialize_with = "crate::refusal::as_text")]
        reason: WaitReason,
    },
    /// Every imported validator is staked.
    Done,
    /// Keys of the next transaction that someone else already deposited for (front-running):
    /// nothing is sent; the caller marks them refused and plans again without them.
    FrontRun { deposits: Vec<FrontRunDeposit> },
}
