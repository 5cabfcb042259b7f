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

use super::Policy;
use crate::chain::IPoolManager;
use crate::store::maintenance::{self as mstore, Action, ExitState};
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

use super::{Refused, Rule};

/// What the ledger holds for `actions` on `day`, the earlier versions of `nonce` (the one being
/// signed replaces them) left out.
fn day_counts(
    store: &Store,
    day: &str,
    actions: &[Action],
    nonce: u64,
    rule: Rule,
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
            Rule::MaintenanceCalldata,
            format!("undecodable PoolManager calldata: {e}"),
        )
    };
    let ledger = Ledger { store, day, nonce };
    let caps = &p.maintenance;
    let sel = &input[..4];
    let checked = if sel == IPoolManager::depositClusterETHCall::SELECTOR {
        let c = IPoolManager::depositClusterETHCall::abi_decode(input).map_err(bad)?;
        top_up(caps, &ledger, c.amount, Action::TopUp)?
    } else if sel == IPoolManager::reactivateClusterCall::SELECTOR {
        let c = IPoolManager::reactivateClusterCall::abi_decode(input).map_err(bad)?;
        top_up(caps, &ledger, c.amount, Action::Reactivate)?
    } else if sel == IPoolManager::fundWithdrawalsCall::SELECTOR {
        IPoolManager::fundWithdrawalsCall::abi_decode(input).map_err(bad)?;
        Checked {
            action: Action::Fund,
            count: 0,
            amount: U256::ZERO,
            staking_validators: 0,
        }
    } else if sel == IPoolManager::requestValidatorExitsCall::SELECTOR {
        let c = IPoolManager::requestValidatorExitsCall::abi_decode(input).map_err(bad)?;
        exits(caps, &ledger, &c)?
    } else if sel == IPoolManager::reshareValidatorsCall::SELECTOR {
        let c = IPoolManager::reshareValidatorsCall::abi_decode(input).map_err(bad)?;
        reshare(&ledger, &c)?
    } else if sel == IPoolManager::removeValidatorsCall::SELECTOR {
        let c = IPoolManager::removeValidatorsCall::abi_decode(input).map_err(bad)?;
        removals(caps, &ledger, &c)?
    } else {
        return Ok(None);
    };
    Ok(Some(checked))
}

/// Where the day's counts are read: the store (if any), the UTC day, the nonce being signed.
#[derive(Clone, Copy)]
struct Ledger<'a> {
    store: Option<&'a Store>,
    day: &'a str,
    nonce: u64,
}

/// `depositClusterETH` / `reactivateCluster`: `topup_cap`, `topup_day_cap`.
fn top_up(
    caps: &MaintenanceCaps,
    ledger: &Ledger<'_>,
    amount: U256,
    action: Action,
) -> Result<Checked, Refused> {
    let Ledger { store, day, nonce } = *ledger;
    if amount > caps.max_topup_per_tx_wei {
        return Err((
            Rule::TopupCap,
            format!(
                "{amount} wei to an SSV cluster exceeds the top-up cap of {} wei per transaction",
                caps.max_topup_per_tx_wei
            ),
        ));
    }
    let store = store.ok_or((
        Rule::TopupDayCap,
        "no state store: the daily top-up cap cannot be checked".to_owned(),
    ))?;
    let (_, today) = day_counts(
        store,
        day,
        &[Action::TopUp, Action::Reactivate],
        nonce,
        Rule::TopupDayCap,
    )?;
    if today.saturating_add(amount) > caps.max_topup_per_day_wei {
        return Err((
            Rule::TopupDayCap,
            format!(
                "{amount} wei on top of {today} wei of top-ups today ({day}) exceeds the daily cap of {} wei",
                caps.max_topup_per_day_wei
            ),
        ));
    }
    Ok(Checked {
        action,
        count: 0,
        amount,
        staking_validators: 0,
    })
}

/// `requestValidatorExits`: `exit_unknown_validator`, `exit_day_cap`.
fn exits(
    caps: &MaintenanceCaps,
    ledger: &Ledger<'_>,
    c: &IPoolManager::requestValidatorExitsCall,
) -> Result<Checked, Refused> {
    let Ledger { store, day, nonce } = *ledger;
    let store = store.ok_or((
        Rule::ExitUnknownValidator,
        "no state store to check the exits against".to_owned(),
    ))?;
    for pk in &c.pubkeys {
        let pk = format!("0x{}", hex::encode(pk));
        let status = store
            .validator_status(&pk)
            .map_err(|e| (Rule::ExitUnknownValidator, format!("state store: {e}")))?;
        if status != Some(Status::Confirmed) {
            return Err((
                Rule::ExitUnknownValidator,
                format!("validator {pk} is not one the pool staked (state store: {status:?})"),
            ));
        }
    }
    let n = c.pubkeys.len() as u64;
    let (today, _) = day_counts(store, day, &[Action::Exit], nonce, Rule::ExitDayCap)?;
    if today.saturating_add(n) > caps.max_exits_per_day {
        return Err((
            Rule::ExitDayCap,
            format!(
                "{n} exits on top of {today} today ({day}) exceed the daily cap of {}",
                caps.max_exits_per_day
            ),
        ));
    }
    Ok(Checked {
        action: Action::Exit,
        count: n,
        amount: U256::ZERO,
        staking_validators: 0,
    })
}

/// `reshareValidators`: `reshare_unknown`.
fn reshare(
    ledger: &Ledger<'_>,
    c: &IPoolManager::reshareValidatorsCall,
) -> Result<Checked, Refused> {
    let store = ledger.store;
    let store = store.ok_or((
        Rule::ReshareUnknown,
        "no state store to check the reshare against".to_owned(),
    ))?;
    let root = format!("{}", c.reshareRoot);
    let cluster = crate::store::reshare::bundle_cluster(store, &root)
        .map_err(|e| (Rule::ReshareUnknown, format!("state store: {e}")))?;
    if cluster.as_deref() != Some(&c.toOperatorIds[..]) {
        return Err((
            Rule::ReshareUnknown,
            format!(
                "reshare root {root} to cluster {:?} is not a verified, trusted reshare bundle the agent imported",
                c.toOperatorIds
            ),
        ));
    }
    let known = crate::store::reshare::rows(store)
        .map_err(|e| (Rule::ReshareUnknown, format!("state store: {e}")))?;
    for v in &c.validators {
        let pk = format!("0x{}", hex::encode(&v.pubkey));
        let hit = known.iter().find(|r| {
            r.bundle_id.eq_ignore_ascii_case(&root) && r.pubkey.eq_ignore_ascii_case(&pk)
        });
        if hit.is_none_or(|r| r.shares_data != v.sharesData.as_ref()) {
            return Err((
                Rule::ReshareUnknown,
                format!("validator {pk} with these shares is not in reshare bundle {root}"),
            ));
        }
    }
    let n = c.validators.len() as u64;
    Ok(Checked {
        action: Action::Reshare,
        count: n,
        amount: c.clusterFee,
        staking_validators: n,
    })
}

/// `removeValidators`: `remove_not_withdrawn`, `remove_day_cap`.
fn removals(
    caps: &MaintenanceCaps,
    ledger: &Ledger<'_>,
    c: &IPoolManager::removeValidatorsCall,
) -> Result<Checked, Refused> {
    let Ledger { store, day, nonce } = *ledger;
    let store = store.ok_or((
        Rule::RemoveNotWithdrawn,
        "no state store to check the removals against".to_owned(),
    ))?;
    let exits = mstore::exits(store)
        .map_err(|e| (Rule::RemoveNotWithdrawn, format!("state store: {e}")))?;
    for pk in &c.pubkeys {
        let pk = format!("0x{}", hex::encode(pk));
        let state = exits
            .iter()
            .find(|e| e.pubkey.eq_ignore_ascii_case(&pk))
            .map(|e| e.state);
        if state != Some(ExitState::Withdrawn) {
            return Err((
                Rule::RemoveNotWithdrawn,
                format!(
                    "validator {pk} is not withdrawn (exit lifecycle: {state:?}): removing it from SSV would stop a live validator"
                ),
            ));
        }
    }
    let n = c.pubkeys.len() as u64;
    let (today, _) = day_counts(store, day, &[Action::Remove], nonce, Rule::RemoveDayCap)?;
    if today.saturating_add(n) > caps.max_removals_per_day {
        return Err((
            Rule::RemoveDayCap,
            format!(
                "{n} removals on top of {today} today ({day}) exceed the daily cap of {}",
                caps.max_removals_per_day
            ),
        ));
    }
    Ok(Checked {
        action: Action::Remove,
        count: n,
        amount: U256::ZERO,
        staking_validators: 0,
    })
}
