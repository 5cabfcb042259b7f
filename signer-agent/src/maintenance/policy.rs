//! The transaction policy's rules for the maintenance functions of the PoolManager, called by
//! [`crate::policy::PolicySigner`] before the key is asked (each refusal names its rule, is
//! counted and logged like the others):
//!
//! - `depositClusterETH`, `reactivateCluster`: `topup_cap` (per transaction), `topup_day_cap`
//!   (per UTC day, both together), on top of the SSV fee caps every ETH sent to SSV passes;
//! - `requestValidatorExits`: `exit_unknown_validator` (a key the state store does not hold as
//!   staked), `exit_day_cap` (validators exited per UTC day);
//! - `removeValidators`: `remove_not_withdrawn` (a key that is not `withdrawn` in the exit
//!   lifecycle: removing a live validator stops its duties), `remove_day_cap`;
//! - `fundWithdrawals`: allow-listed, no cap (anyone may call it; it moves no ETH out);
//! - `reshareValidators`: `reshare_unknown` (a root or key not imported from a verified, trusted
//!   reshare bundle), and its validators count against `max_validators_per_day` with staking.
//!
//! The caps live in `[policy]`: `max_topup_per_tx_gwei`, `max_topup_per_day_gwei`,
//! `max_exits_per_day`, `max_removals_per_day`.

use alloy::primitives::{Address, U256};
use alloy::sol_types::SolCall;
use serde::Serialize;

use super::store::{self as mstore, Action, ExitState};
use crate::chain::IPoolManager;
use crate::policy::Policy;
use crate::store::{Status, Store};

const GWEI: u128 = 1_000_000_000;

/// The maintenance caps of `[policy]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MaintenanceCaps {
    pub max_topup_per_tx_wei: U256,
    pub max_topup_per_day_wei: U256,
    pub max_exits_per_day: u64,
    pub max_removals_per_day: u64,
}

/// Default: 0.25 ETH per top-up, 1 ETH of top-ups a day.
pub const DEFAULT_MAX_TOPUP_PER_TX_WEI: u128 = 250_000_000_000_000_000;
pub const DEFAULT_MAX_TOPUP_PER_DAY_WEI: u128 = 1_000_000_000_000_000_000;
pub const DEFAULT_MAX_EXITS_PER_DAY: u64 = 16;
pub const DEFAULT_MAX_REMOVALS_PER_DAY: u64 = 100;

impl Default for MaintenanceCaps {
    fn default() -> Self {
        MaintenanceCaps {
            max_topup_per_tx_wei: U256::from(DEFAULT_MAX_TOPUP_PER_TX_WEI),
            max_topup_per_day_wei: U256::from(DEFAULT_MAX_TOPUP_PER_DAY_WEI),
            max_exits_per_day: DEFAULT_MAX_EXITS_PER_DAY,
            max_removals_per_day: DEFAULT_MAX_REMOVALS_PER_DAY,
        }
    }
}

impl MaintenanceCaps {
    /// The defaults overridden by `[policy]`.
    pub fn from_file(f: &crate::config::PolicyFile) -> MaintenanceCaps {
        let mut c = MaintenanceCaps::default();
        if let Some(v) = f.max_topup_per_tx_gwei {
            c.max_topup_per_tx_wei = U256::from(u128::from(v) * GWEI);
        }
        if let Some(v) = f.max_topup_per_day_gwei {
            c.max_topup_per_day_wei = U256::from(u128::from(v) * GWEI);
        }
        if let Some(v) = f.max_exits_per_day {
            c.max_exits_per_day = v;
        }
        if let Some(v) = f.max_removals_per_day {
            c.max_removals_per_day = v;
        }
        c
    }

    /// Lines for `policy show`.
    pub fn describe(&self) -> String {
        format!(
            "max top-ups         {} wei per transaction, {} wei per day (UTC): depositClusterETH + reactivateCluster\n\
             max exits           {} validators per day (UTC): requestValidatorExits, keys staked by the pool only\n\
             max removals        {} validators per day (UTC): removeValidators, withdrawn validators only\n\
             reshare             keys and roots of verified, trusted reshare bundles; counted with staking per day\n",
            self.max_topup_per_tx_wei,
            self.max_topup_per_day_wei,
            self.max_exits_per_day,
            self.max_removals_per_day
        )
    }
}

/// The PoolManager functions of the maintenance phase (name, selector), allow-listed by default
/// when `[maintenance]` is configured (`depositClusterETH` and `reactivateCluster` are in the
/// default list already, since SSV v2).
pub fn selectors() -> [(&'static str, [u8; 4]); 4] {
    [
        (
            "PoolManager.requestValidatorExits",
            IPoolManager::requestValidatorExitsCall::SELECTOR,
        ),
        (
            "PoolManager.removeValidators",
            IPoolManager::removeValidatorsCall::SELECTOR,
        ),
        (
            "PoolManager.fundWithdrawals",
            IPoolManager::fundWithdrawalsCall::SELECTOR,
        ),
        (
            "PoolManager.reshareValidators",
            IPoolManager::reshareValidatorsCall::SELECTOR,
        ),
    ]
}

/// A maintenance transaction the rules let through: what the ledger records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    pub action: Action,
    /// Validators (exits, removals, reshares) or 0.
    pub count: u64,
    /// ETH for top-ups / reactivations.
    pub amount: U256,
    /// Validators that count against the staking cap (`max_validators_per_day`): reshares.
    pub staking_validators: u64,
}

type Refused = (&'static str, String);

/// What the ledger holds for `actions` on `day`, the earlier versions of `nonce` (the one being
/// signed replaces them) left out.
fn day_counts(
    store: &Store,
    day: &str,
    actions: &[Action],
    nonce: u64,
    rule: &'static str,
) -> Result<(u64, U256), Refused> {
    mstore::signed_on(store, day, actions, Some(nonce))
        .map_err(|e| (rule, format!("state store: {e}")))
}

/// Checks a PoolManager maintenance call signed with key nonce `nonce`; `Ok(None)` for anything
/// else.
pub fn check(
    p: &Policy,
    store: Option<&Store>,
    to: Address,
    input: &[u8],
    day: &str,
    nonce: u64,
) -> Result<Option<Checked>, Refused> {
    if Some(to) != p.pool_manager || input.len() < 4 {
        return Ok(None);
    }
    let bad = |e: alloy::sol_types::Error| {
        (
            "maintenance_calldata",
            format!("undecodable PoolManager calldata: {e}"),
        )
    };
    let caps = &p.maintenance;
    let sel = &input[..4];
    let top_up = |amount: U256, action: Action| -> Result<Option<Checked>, Refused> {
        if amount > caps.max_topup_per_tx_wei {
            return Err((
                "topup_cap",
                format!(
                    "{amount} wei to an SSV cluster exceeds the top-up cap of {} wei per transaction",
                    caps.max_topup_per_tx_wei
                ),
            ));
        }
        let store = store.ok_or((
            "topup_day_cap",
            "no state store: the daily top-up cap cannot be checked".to_owned(),
        ))?;
        let (_, today) = day_counts(
            store,
            day,
            &[Action::TopUp, Action::Reactivate],
            nonce,
            "topup_day_cap",
        )?;
        if today.saturating_add(amount) > caps.max_topup_per_day_wei {
            return Err((
                "topup_day_cap",
                format!(
                    "{amount} wei on top of {today} wei of top-ups today ({day}) exceeds the daily cap of {} wei",
                    caps.max_topup_per_day_wei
                ),
            ));
        }
        Ok(Some(Checked {
            action,
            count: 0,
            amount,
            staking_validators: 0,
        }))
    };
    if sel == IPoolManager::depositClusterETHCall::SELECTOR {
        let c = IPoolManager::depositClusterETHCall::abi_decode(input).map_err(bad)?;
        return top_up(c.amount, Action::TopUp);
    }
    if sel == IPoolManager::reactivateClusterCall::SELECTOR {
        let c = IPoolManager::reactivateClusterCall::abi_decode(input).map_err(bad)?;
        return top_up(c.amount, Action::Reactivate);
    }
    if sel == IPoolManager::fundWithdrawalsCall::SELECTOR {
        IPoolManager::fundWithdrawalsCall::abi_decode(input).map_err(bad)?;
        return Ok(Some(Checked {
            action: Action::Fund,
            count: 0,
            amount: U256::ZERO,
            staking_validators: 0,
        }));
    }
    if sel == IPoolManager::requestValidatorExitsCall::SELECTOR {
        let c = IPoolManager::requestValidatorExitsCall::abi_decode(input).map_err(bad)?;
        let store = store.ok_or((
            "exit_unknown_validator",
            "no state store to check the exits against".to_owned(),
        ))?;
        for pk in &c.pubkeys {
            let pk = format!("0x{}", hex::encode(pk));
            let status = store
                .validator_status(&pk)
                .map_err(|e| ("exit_unknown_validator", format!("state store: {e}")))?;
            if status != Some(Status::Confirmed) {
                return Err((
                    "exit_unknown_validator",
                    format!("validator {pk} is not one the pool staked (state store: {status:?})"),
                ));
            }
        }
        let n = c.pubkeys.len() as u64;
        let (today, _) = day_counts(store, day, &[Action::Exit], nonce, "exit_day_cap")?;
        if today.saturating_add(n) > caps.max_exits_per_day {
            return Err((
                "exit_day_cap",
                format!(
                    "{n} exits on top of {today} today ({day}) exceed the daily cap of {}",
                    caps.max_exits_per_day
                ),
            ));
        }
        return Ok(Some(Checked {
            action: Action::Exit,
            count: n,
            amount: U256::ZERO,
            staking_validators: 0,
        }));
    }
    if sel == IPoolManager::reshareValidatorsCall::SELECTOR {
        let c = IPoolManager::reshareValidatorsCall::abi_decode(input).map_err(bad)?;
        let store = store.ok_or((
            "reshare_unknown",
            "no state store to check the reshare against".to_owned(),
        ))?;
        let root = format!("{}", c.reshareRoot);
        let cluster = super::reshare::bundle_cluster(store, &root)
            .map_err(|e| ("reshare_unknown", format!("state store: {e}")))?;
        if cluster.as_deref() != Some(&c.toOperatorIds[..]) {
            return Err((
                "reshare_unknown",
                format!(
                    "reshare root {root} to cluster {:?} is not a verified, trusted reshare bundle the agent imported",
                    c.toOperatorIds
                ),
            ));
        }
        let known = super::reshare::rows(store)
            .map_err(|e| ("reshare_unknown", format!("state store: {e}")))?;
        for v in &c.validators {
            let pk = format!("0x{}", hex::encode(&v.pubkey));
            let hit = known.iter().find(|r| {
                r.bundle_id.eq_ignore_ascii_case(&root) && r.pubkey.eq_ignore_ascii_case(&pk)
            });
            if hit.is_none_or(|r| r.shares_data != v.sharesData.as_ref()) {
                return Err((
                    "reshare_unknown",
                    format!("validator {pk} with these shares is not in reshare bundle {root}"),
                ));
            }
        }
        let n = c.validators.len() as u64;
        return Ok(Some(Checked {
            action: Action::Reshare,
            count: n,
            amount: c.clusterFee,
            staking_validators: n,
        }));
    }
    if sel == IPoolManager::removeValidatorsCall::SELECTOR {
        let c = IPoolManager::removeValidatorsCall::abi_decode(input).map_err(bad)?;
        let store = store.ok_or((
            "remove_not_withdrawn",
            "no state store to check the removals against".to_owned(),
        ))?;
        let exits = mstore::exits(store)
            .map_err(|e| ("remove_not_withdrawn", format!("state store: {e}")))?;
        for pk in &c.pubkeys {
            let pk = format!("0x{}", hex::encode(pk));
            let state = exits
                .iter()
                .find(|e| e.pubkey.eq_ignore_ascii_case(&pk))
                .map(|e| e.state);
            if state != Some(ExitState::Withdrawn) {
                return Err((
                    "remove_not_withdrawn",
                    format!(
                        "validator {pk} is not withdrawn (exit lifecycle: {state:?}): removing it from SSV would stop a live validator"
                    ),
                ));
            }
        }
        let n = c.pubkeys.len() as u64;
        let (today, _) = day_counts(store, day, &[Action::Remove], nonce, "remove_day_cap")?;
        if today.saturating_add(n) > caps.max_removals_per_day {
            return Err((
                "remove_day_cap",
                format!(
                    "{n} removals on top of {today} today ({day}) exceed the daily cap of {}",
                    caps.max_removals_per_day
                ),
            ));
        }
        return Ok(Some(Checked {
            action: Action::Remove,
            count: n,
            amount: U256::ZERO,
            staking_validators: 0,
        }));
    }
    Ok(None)
}
