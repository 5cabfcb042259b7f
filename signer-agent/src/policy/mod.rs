//! The transaction policy: a signer wrapper that refuses, before the key is ever
//! asked to sign, any transaction the pool did not approve. It sits below all agent logic
//! (every transaction the agent builds passes through [`PolicySigner::sign_transaction`]), so
//! a bug or a compromise above it cannot make the HSM key sign something else.
//!
//! Rules, in the order they are checked (each refusal names its rule, is logged at error level
//! and counted by rule; `/metrics` exports the counters):
//! - `chain_id`: the transaction is for the configured chain only (and carries its chain id);
//! - `contract_creation`: no contract creation;
//! - `eth_transfer`: no plain ETH transfer (empty calldata);
//! - `target`: the destination is one of the allowed contracts;
//! - `selector`: the function selector is one allowed for that contract;
//! - `value_cap`: the value is at most the per-transaction cap (0 by default);
//! - `fee_cap` / `priority_fee_cap`: max fee and priority fee per gas within the caps;
//! - for `PoolManager.stake` (calldata decoded with the `sol!` binding):
//!   `stake_calldata` (undecodable), `withdrawal_address` ("foreign withdrawal address": the
//!   batch root is not a bundle the agent imported, or its manifest's withdrawal address is not
//!   the PoolManager — the PoolManager computes the credentials from its own address, so the
//!   batch must be one made for it), `unknown_validator` (a pubkey not imported from that
//!   verified, trusted bundle), `front_run` (a pubkey whose state-store status is `refused`:
//!   someone else deposited for it first);
//! - `ssv_fee_cap` (`stake`, `depositClusterETH`, `reactivateCluster`): the ETH the call makes
//!   the PoolManager send to the SSV network for cluster fees is within the per-transaction cap;
//! - `value_day_cap`, `validator_cap`, `ssv_fee_day_cap`: the day's (UTC) signed value, staked
//!   validators and ETH for SSV fees, read from the append-only `policy_ledger` of the state
//!   store, stay within the caps;
//! - `simulation_revert`, `simulation_gas`: `eth_call` against the latest block and
//!   `eth_estimateGas` succeed and fit the transaction's gas limit;
//! - `simulation_deposit_count` / `simulation_unavailable` (stake only): `debug_traceCall`
//!   (callTracer with logs) of the transaction shows exactly one `DepositEvent` per validator in
//!   the calldata, for those pubkeys in order, and the deposit contract's count going from
//!   `get_deposit_count()` to that plus the number of validators. A node without
//!   `debug_traceCall` cannot show this: the stake is refused (fail closed).
//!
//! A transaction the key signed is appended to the ledger before the signature is returned;
//! if that write fails the signature is dropped.

use std::collections::{BTreeMap, BTreeSet};

use alloy::primitives::{keccak256, Address, ChainId, U256};
use alloy::sol_types::SolCall;
use serde::Serialize;

use crate::chain::IPoolManager;
use crate::config::Config;
use crate::error::{Error, Result};

pub mod maintenance;
mod rules;
mod signer;
mod simulate;
mod stake;
#[cfg(test)]
mod tests;

pub use crate::refusal::{PolicyRefusal, Rule};
pub use signer::{PolicySigner, Refusals};

/// A refusal by a rule, with its reason.
pub(crate) type Refused = (Rule, String);

const GWEI: u128 = 1_000_000_000;

/// Default cap on validators staked per UTC day.
pub const DEFAULT_MAX_VALIDATORS_PER_DAY: u64 = 100;

/// What the key may sign.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Policy {
    pub chain_id: ChainId,
    /// Allowed targets and, for each, the allowed 4-byte selectors.
    pub targets: BTreeMap<Address, BTreeSet<[u8; 4]>>,
    /// Names of the allowed functions (for `policy show` and refusal messages).
    pub names: BTreeMap<(Address, [u8; 4]), String>,
    pub max_value_wei: U256,
    pub max_value_per_day_wei: U256,
    pub max_fee_per_gas_wei: u128,
    pub max_priority_fee_per_gas_wei: u128,
    pub max_validators_per_day: u64,
    /// ETH for SSV cluster fees per transaction / per UTC day.
    pub max_ssv_fee_per_tx_wei: U256,
    pub max_ssv_fee_per_day_wei: U256,
    /// The PoolManager: its `stake` calldata is checked against the state store.
    pub pool_manager: Option<Address>,
    /// The deposit contract: the stake simulation counts its deposits.
    pub deposit_contract: Option<Address>,
    /// Simulate before signing (always, in the agent; unit tests of the static rules turn it
    /// off).
    pub simulate: bool,
    /// The caps of the maintenance functions (`crate::policy::maintenance`).
    pub maintenance: crate::policy::maintenance::MaintenanceCaps,
}

/// Default cap on ETH for SSV cluster fees per transaction: 0.25 ETH.
pub const DEFAULT_MAX_SSV_FEE_PER_TX_WEI: u128 = 250_000_000_000_000_000;
/// Default cap on ETH for SSV cluster fees per UTC day: 1 ETH.
pub const DEFAULT_MAX_SSV_FEE_PER_DAY_WEI: u128 = 1_000_000_000_000_000_000;

/// The 4-byte selector of a function signature.
pub fn selector_of(signature: &str) -> [u8; 4] {
    let h = keccak256(signature.as_bytes());
    [h[0], h[1], h[2], h[3]]
}

/// Parses `0x12345678` or a signature `name(types)`; the error names the field.
fn parse_function(field: &str, s: &str) -> Result<([u8; 4], String)> {
    let t = s.trim();
    if let Some(h) = t.strip_prefix("0x") {
        let b = hex::decode(h).map_err(|e| Error::config(field, format!("{t:?}: not hex: {e}")))?;
        let sel: [u8; 4] = b
            .try_into()
            .map_err(|_| Error::config(field, format!("{t:?}: a selector is 4 bytes")))?;
        return Ok((sel, t.to_owned()));
    }
    if !(t.contains('(') && t.ends_with(')')) || t.contains(' ') {
        return Err(Error::config(
            field,
            format!("{t:?}: give a 4-byte selector (0x…) or a signature like `stake(bytes32,…)` without spaces"),
        ));
    }
    Ok((selector_of(t), t.to_owned()))
}

impl Policy {
    /// The default policy for a configuration: its chain; the PoolManager's `stake`,
    /// `depositClusterETH`, `reactivateCluster` and `syncClusterBalances`, and the Oracle's
    /// `submitReport`; no ETH value; the gas caps of `[gas]`; 100 validators a day; 0.25 ETH for
    /// SSV fees per transaction and 1 ETH a day.
    pub fn default_for(cfg: &Config) -> Result<Policy> {
        let c = cfg.contracts()?;
        let mut p = Policy {
            chain_id: cfg.chain_id,
            targets: BTreeMap::new(),
            names: BTreeMap::new(),
            max_value_wei: U256::ZERO,
            max_value_per_day_wei: U256::ZERO,
            max_fee_per_gas_wei: cfg.gas.max_fee_per_gas_wei,
            max_priority_fee_per_gas_wei: cfg.gas.max_priority_fee_per_gas_wei,
            max_validators_per_day: DEFAULT_MAX_VALIDATORS_PER_DAY,
            max_ssv_fee_per_tx_wei: U256::from(DEFAULT_MAX_SSV_FEE_PER_TX_WEI),
            max_ssv_fee_per_day_wei: U256::from(DEFAULT_MAX_SSV_FEE_PER_DAY_WEI),
            pool_manager: Some(c.pool_manager),
            deposit_contract: Some(c.deposit_contract),
            simulate: true,
            maintenance: Default::default(),
        };
        if cfg.maintenance.is_some() {
            for (name, sel) in crate::policy::maintenance::selectors() {
                p.allow(c.pool_manager, sel, name);
            }
        }
        p.allow(
            c.pool_manager,
            IPoolManager::stakeCall::SELECTOR,
            "PoolManager.stake",
        );
        p.allow(
            c.oracle,
            crate::chain::IOracle::submitReportCall::SELECTOR,
            "Oracle.submitReport",
        );
        p.allow(
            c.pool_manager,
            IPoolManager::depositClusterETHCall::SELECTOR,
            "PoolManager.depositClusterETH",
        );
        p.allow(
            c.pool_manager,
            IPoolManager::reactivateClusterCall::SELECTOR,
            "PoolManager.reactivateCluster",
        );
        p.allow(
            c.pool_manager,
            IPoolManager::syncClusterBalancesCall::SELECTOR,
            "PoolManager.syncClusterBalances",
        );
        Ok(p)
    }

    /// The policy of the configuration: the defaults, overridden by `[policy]`.
    pub fn from_config(cfg: &Config) -> Result<Policy> {
        let mut p = Policy::default_for(cfg)?;
        let f = &cfg.policy;
        if let Some(allow) = &f.allow {
            let c = cfg.contracts()?;
            let defaults = p.names.clone();
            p.targets.clear();
            p.names.clear();
            for (i, a) in allow.iter().enumerate() {
                let field = format!("policy.allow[{i}].target");
                let target = match a.target.trim() {
                    "pool_manager" => c.pool_manager,
                    "oracle" => c.oracle,
                    "ssv_network" => c.ssv_network,
                    other => crate::config::parse_address(&field, other)?,
                };
                for (j, func) in a.functions.iter().enumerate() {
                    let (sel, text) =
                        parse_function(&format!("policy.allow[{i}].functions[{j}]"), func)?;
                    let name = defaults.get(&(target, sel)).cloned().unwrap_or(text);
                    p.allow(target, sel, &name);
                }
            }
        }
        if let Some(v) = f.max_value_per_tx_gwei {
            p.max_value_wei = U256::from(u128::from(v) * GWEI);
        }
        if let Some(v) = f.max_value_per_day_gwei {
            p.max_value_per_day_wei = U256::from(u128::from(v) * GWEI);
        }
        if let Some(v) = f.max_fee_per_gas_gwei {
            p.max_fee_per_gas_wei = u128::from(v) * GWEI;
        }
        if let Some(v) = f.max_priority_fee_per_gas_gwei {
            p.max_priority_fee_per_gas_wei = u128::from(v) * GWEI;
        }
        if p.max_priority_fee_per_gas_wei > p.max_fee_per_gas_wei {
            return Err(Error::config(
                "policy.max_priority_fee_per_gas_gwei",
                "must not exceed the max fee per gas",
            ));
        }
        if let Some(v) = f.max_validators_per_day {
            p.max_validators_per_day = v;
        }
        if let Some(v) = f.max_ssv_fee_per_tx_gwei {
            p.max_ssv_fee_per_tx_wei = U256::from(u128::from(v) * GWEI);
        }
        if let Some(v) = f.max_ssv_fee_per_day_gwei {
            p.max_ssv_fee_per_day_wei = U256::from(u128::from(v) * GWEI);
        }
        p.maintenance = crate::policy::maintenance::MaintenanceCaps::from_file(f);
        Ok(p)
    }

    /// A policy that allows nothing (no contracts configured).
    pub fn deny_all(cfg: &Config) -> Policy {
        Policy {
            chain_id: cfg.chain_id,
            targets: BTreeMap::new(),
            names: BTreeMap::new(),
            max_value_wei: U256::ZERO,
            max_value_per_day_wei: U256::ZERO,
            max_fee_per_gas_wei: cfg.gas.max_fee_per_gas_wei,
            max_priority_fee_per_gas_wei: cfg.gas.max_priority_fee_per_gas_wei,
            max_validators_per_day: 0,
            max_ssv_fee_per_tx_wei: U256::ZERO,
            max_ssv_fee_per_day_wei: U256::ZERO,
            pool_manager: None,
            deposit_contract: None,
            simulate: true,
            maintenance: Default::default(),
        }
    }

    /// Allows `selector` on `target`.
    pub fn allow(&mut self, target: Address, selector: [u8; 4], name: &str) {
        self.targets.entry(target).or_default().insert(selector);
        self.names.insert((target, selector), name.to_owned());
    }

    /// The policy as text (`policy show`).
    pub fn describe(&self) -> String {
        let mut out = format!("chain id            {}\n", self.chain_id);
        for (target, selectors) in &self.targets {
            for s in selectors {
                let name = self
                    .names
                    .get(&(*target, *s))
                    .map(String::as_str)
                    .unwrap_or("?");
                out.push_str(&format!(
                    "allow               {target} 0x{} {name}\n",
                    hex::encode(s)
                ));
            }
        }
        out.push_str(&format!(
            "max value           {} wei per transaction, {} wei per day (UTC)\n\
             max fee per gas     {} wei\n\
             max priority fee    {} wei\n\
             max validators      {} staked per day (UTC)\n\
             max ssv fees        {} wei per transaction, {} wei per day (UTC), ETH the PoolManager sends to SSV clusters\n\
             stake               every validator imported from a verified, trusted bundle; the batch's withdrawal address is the PoolManager{}\n\
             simulation          {}\n\
             never               plain ETH transfers, contract creation, any other target or function\n",
            self.max_value_wei,
            self.max_value_per_day_wei,
            self.max_fee_per_gas_wei,
            self.max_priority_fee_per_gas_wei,
            self.max_validators_per_day,
            self.max_ssv_fee_per_tx_wei,
            self.max_ssv_fee_per_day_wei,
            self.pool_manager
                .map(|a| format!(" ({a})"))
                .unwrap_or_default(),
            if self.simulate {
                "eth_call + eth_estimateGas before every signature; stake: debug_traceCall, one DepositEvent per validator"
            } else {
                "off"
            },
        ));
        out.push_str(&self.maintenance.describe());
        out
    }
}

/// Today (UTC) as the ledger records it, `YYYY-MM-DD`.
pub fn today() -> String {
    time::OffsetDateTime::now_utc().date().to_string()
}
