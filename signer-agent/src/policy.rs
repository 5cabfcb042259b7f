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
use std::sync::{Arc, Mutex};

use alloy::consensus::SignableTransaction;
use alloy::network::{TransactionBuilder, TxSigner};
use alloy::primitives::{keccak256, Address, ChainId, Signature, TxKind, U256};
use alloy::providers::{DynProvider, Provider};
use alloy::rpc::types::TransactionRequest;
use alloy::sol_types::{SolCall, SolEvent};
use async_trait::async_trait;
use serde::Serialize;

use crate::chain::{IDepositContract, IPoolManager};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::store::{LedgerEntry, Store};

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
    /// The caps of the maintenance functions (`crate::maintenance::policy`).
    pub maintenance: crate::maintenance::policy::MaintenanceCaps,
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
            for (name, sel) in crate::maintenance::policy::selectors() {
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
        p.maintenance = crate::maintenance::policy::MaintenanceCaps::from_file(f);
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

    /// Whether `(to, input)` is a `PoolManager.stake` call.
    fn is_stake(&self, to: Address, input: &[u8]) -> bool {
        Some(to) == self.pool_manager
            && input.get(..4) == Some(&IPoolManager::stakeCall::SELECTOR[..])
    }

    /// The ETH for SSV cluster fees that a PoolManager call makes the pool send (`stake`,
    /// `depositClusterETH`, `reactivateCluster`, `reshareValidators`); zero for anything else.
    pub fn ssv_fee_of(&self, to: Address, input: &[u8]) -> std::result::Result<U256, Refused> {
        if Some(to) != self.pool_manager {
            return Ok(U256::ZERO);
        }
        let bad = |e: alloy::sol_types::Error| {
            (
                "stake_calldata",
                format!("undecodable PoolManager calldata: {e}"),
            )
        };
        match input.get(..4) {
            Some(s) if s == IPoolManager::stakeCall::SELECTOR => {
                Ok(IPoolManager::stakeCall::abi_decode(input)
                    .map_err(bad)?
                    .clusterFee)
            }
            Some(s) if s == IPoolManager::depositClusterETHCall::SELECTOR => {
                Ok(IPoolManager::depositClusterETHCall::abi_decode(input)
                    .map_err(bad)?
                    .amount)
            }
            Some(s) if s == IPoolManager::reactivateClusterCall::SELECTOR => {
                Ok(IPoolManager::reactivateClusterCall::abi_decode(input)
                    .map_err(bad)?
                    .amount)
            }
            Some(s) if s == IPoolManager::reshareValidatorsCall::SELECTOR => {
                Ok(IPoolManager::reshareValidatorsCall::abi_decode(input)
                    .map_err(bad)?
                    .clusterFee)
            }
            _ => Ok(U256::ZERO),
        }
    }

    /// Checks the static rules of one transaction; `Err((rule, reason))` names the broken rule.
    pub fn check(
        &self,
        chain_id: Option<ChainId>,
        kind: TxKind,
        value: U256,
        input: &[u8],
        max_fee_per_gas: u128,
        max_priority_fee_per_gas: Option<u128>,
    ) -> std::result::Result<(), (&'static str, String)> {
        match chain_id {
            Some(id) if id == self.chain_id => {}
            Some(id) => {
                return Err((
                    "chain_id",
                    format!("chain id {id}, the policy allows only {}", self.chain_id),
                ))
            }
            None => {
                return Err((
                    "chain_id",
                    format!(
                        "no chain id (replayable on any chain); the policy allows only {}",
                        self.chain_id
                    ),
                ))
            }
        }
        let to = match kind {
            TxKind::Create => {
                return Err((
                    "contract_creation",
                    "contract creation is never allowed".into(),
                ))
            }
            TxKind::Call(to) => to,
        };
        if input.is_empty() {
            return Err((
                "eth_transfer",
                format!("a plain ETH transfer to {to} is never allowed"),
            ));
        }
        let Some(selectors) = self.targets.get(&to) else {
            return Err(("target", format!("{to} is not an allowed target")));
        };
        let selector: [u8; 4] = match input.get(..4).and_then(|s| s.try_into().ok()) {
            Some(s) => s,
            None => {
                return Err((
                    "selector",
                    format!("calldata to {to} is shorter than a selector"),
                ))
            }
        };
        if !selectors.contains(&selector) {
            let allowed: Vec<&str> = selectors
                .iter()
                .filter_map(|s| self.names.get(&(to, *s)).map(String::as_str))
                .collect();
            return Err((
                "selector",
                format!(
                    "selector 0x{} is not allowed on {to} (allowed: {})",
                    hex::encode(selector),
                    allowed.join(", ")
                ),
            ));
        }
        if value > self.max_value_wei {
            return Err((
                "value_cap",
                format!(
                    "value {value} wei exceeds the cap of {} wei",
                    self.max_value_wei
                ),
            ));
        }
        if max_fee_per_gas > self.max_fee_per_gas_wei {
            return Err((
                "fee_cap",
                format!(
                    "max fee per gas {max_fee_per_gas} wei exceeds the cap of {} wei",
                    self.max_fee_per_gas_wei
                ),
            ));
        }
        if let Some(p) = max_priority_fee_per_gas {
            if p > self.max_priority_fee_per_gas_wei {
                return Err((
                    "priority_fee_cap",
                    format!(
                        "max priority fee per gas {p} wei exceeds the cap of {} wei",
                        self.max_priority_fee_per_gas_wei
                    ),
                ));
            }
        }
        Ok(())
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

/// Refusals by rule (shared with the metrics).
pub type Refusals = Arc<Mutex<BTreeMap<&'static str, u64>>>;

/// A signer that signs only what [`Policy`] allows; anything else is refused before the inner
/// signer (the HSM) is asked.
#[derive(Clone)]
pub struct PolicySigner<S> {
    inner: S,
    policy: Arc<Policy>,
    refusals: Refusals,
    /// The state store (validators, bundle facts, the daily ledger); one signature at a time.
    ledger: Option<Arc<tokio::sync::Mutex<Store>>>,
    /// The node the transactions are simulated on.
    simulator: Option<DynProvider>,
}

impl<S> std::fmt::Debug for PolicySigner<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PolicySigner")
            .field("chain_id", &self.policy.chain_id)
            .field("targets", &self.policy.targets.len())
            .finish()
    }
}

impl<S> PolicySigner<S> {
    pub fn new(inner: S, policy: Policy) -> Self {
        PolicySigner {
            inner,
            policy: Arc::new(policy),
            refusals: Arc::default(),
            ledger: None,
            simulator: None,
        }
    }
    /// Checks `stake` calldata and the daily caps against this store, and records every
    /// signature in its ledger.
    pub fn with_store(mut self, store: Store) -> Self {
        self.ledger = Some(Arc::new(tokio::sync::Mutex::new(store)));
        self
    }
    /// Simulates every transaction on this node before signing.
    pub fn with_simulator(mut self, provider: DynProvider) -> Self {
        self.simulator = Some(provider);
        self
    }
    /// The refusal counters, by rule.
    pub fn refusals(&self) -> Refusals {
        self.refusals.clone()
    }
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    fn refuse(&self, rule: &'static str, reason: String) -> alloy::signers::Error {
        *self
            .refusals
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(rule)
            .or_default() += 1;
        tracing::error!(rule, %reason, "policy refused a transaction; nothing signed");
        alloy::signers::Error::other(PolicyRefusal { rule, reason })
    }
}

/// A policy refusal, as the error the signer returns.
#[derive(Debug, thiserror::Error)]
#[error("policy refused ({rule}): {reason}")]
pub struct PolicyRefusal {
    pub rule: &'static str,
    pub reason: String,
}

type Refused = (&'static str, String);

/// The `stake` rules: returns the number of validators the call stakes.
fn check_stake(
    policy: &Policy,
    store: Option<&Store>,
    input: &[u8],
) -> std::result::Result<u64, Refused> {
    let call = IPoolManager::stakeCall::abi_decode(input).map_err(|e| {
        (
            "stake_calldata",
            format!("undecodable PoolManager.stake calldata: {e}"),
        )
    })?;
    let Some(store) = store else {
        return Err((
            "unknown_validator",
            "no state store to check the stake's validators against".into(),
        ));
    };
    let pm = policy.pool_manager.unwrap_or_default();
    let root = format!("{}", call.batchRoot);
    let facts = store
        .bundle_facts(&root)
        .map_err(|e| ("withdrawal_address", format!("state store: {e}")))?;
    let Some(facts) = facts else {
        return Err((
            "withdrawal_address",
            format!(
                "foreign withdrawal address: batch {root} is not a bundle the agent imported, so its withdrawal address is unknown"
            ),
        ));
    };
    let wa: Option<Address> = facts.withdrawal_address.trim().parse().ok();
    if wa != Some(pm) {
        return Err((
            "withdrawal_address",
            format!(
                "foreign withdrawal address: batch {root} withdraws to {}, not the PoolManager {pm}",
                facts.withdrawal_address
            ),
        ));
    }
    if call.validators.is_empty() {
        return Err(("stake_calldata", "a stake of no validator".into()));
    }
    for v in &call.validators {
        let pk = format!("0x{}", hex::encode(&v.pubkey));
        match store
            .validator_bundle(&pk)
            .map_err(|e| ("unknown_validator", format!("state store: {e}")))?
        {
            Some(b) if b.eq_ignore_ascii_case(&root) => {}
            Some(b) => {
                return Err((
                    "unknown_validator",
                    format!("validator {pk} was imported from batch {b}, not {root}"),
                ))
            }
            None => {
                return Err((
                    "unknown_validator",
                    format!("validator {pk} was not imported from a verified, trusted bundle"),
                ))
            }
        }
    }
    // Defence in depth behind `stake::front_run_deposits`: a key the agent marked refused
    // (someone else deposited for it first) is never signed for, whatever the code above built.
    for v in &call.validators {
        let pk = format!("0x{}", hex::encode(&v.pubkey));
        let status = store
            .validator_status(&pk)
            .map_err(|e| ("front_run", format!("state store: {e}")))?;
        if status == Some(crate::store::Status::Refused) {
            return Err((
                "front_run",
                format!(
                    "validator {pk} is refused in the state store (front-run: another deposit exists for its key); staking it would send the pool's 32 ETH to that validator"
                ),
            ));
        }
    }
    Ok(call.validators.len() as u64)
}

/// Today (UTC) as the ledger records it, `YYYY-MM-DD`.
pub fn today() -> String {
    time::OffsetDateTime::now_utc().date().to_string()
}

/// Revert reason of an RPC error, decoded when it is a PoolManager or Oracle error.
fn revert_reason(e: &alloy::transports::TransportError) -> String {
    if let Some(payload) = e.as_error_resp() {
        if let Some(d) = payload.as_decoded_interface_error::<IPoolManager::IPoolManagerErrors>() {
            return format!("reverted: {d:?}");
        }
        if let Some(d) =
            payload.as_decoded_interface_error::<crate::chain::IOracle::IOracleErrors>()
        {
            return format!("reverted: {d:?}");
        }
    }
    e.to_string()
}

/// Collects the `DepositEvent`s of `deposit_contract` from a callTracer frame (frames that
/// reverted emit nothing).
fn deposit_events(
    frame: &serde_json::Value,
    dc: Address,
    out: &mut Vec<IDepositContract::DepositEvent>,
) {
    if frame.get("error").is_some() {
        return;
    }
    if let Some(logs) = frame.get("logs").and_then(|l| l.as_array()) {
        for log in logs {
            let addr: Option<Address> = log
                .get("address")
                .and_then(|a| a.as_str())
                .and_then(|a| a.parse().ok());
            if addr != Some(dc) {
                continue;
            }
            let topics: Vec<alloy::primitives::B256> = log
                .get("topics")
                .and_then(|t| t.as_array())
                .map(|t| {
                    t.iter()
                        .filter_map(|x| x.as_str().and_then(|x| x.parse().ok()))
                        .collect()
                })
                .unwrap_or_default();
            let data: alloy::primitives::Bytes = log
                .get("data")
                .and_then(|d| d.as_str())
                .and_then(|d| d.parse().ok())
                .unwrap_or_default();
            let ld = alloy::primitives::LogData::new_unchecked(topics, data);
            if let Ok(e) = IDepositContract::DepositEvent::decode_log_data(&ld) {
                out.push(e);
            }
        }
    }
    if let Some(calls) = frame.get("calls").and_then(|c| c.as_array()) {
        for c in calls {
            deposit_events(c, dc, out);
        }
    }
}

fn le_count(b: &[u8]) -> Option<u64> {
    let a: [u8; 8] = b.get(..8)?.try_into().ok()?;
    (b.len() == 8).then(|| u64::from_le_bytes(a))
}

impl<S> PolicySigner<S> {
    /// `eth_call` + `eth_estimateGas` (and for stake, `debug_traceCall`) of the transaction.
    async fn simulate(
        &self,
        from: Address,
        to: Address,
        value: U256,
        input: &[u8],
        gas_limit: u64,
        stake_pubkeys: Option<Vec<alloy::primitives::Bytes>>,
    ) -> std::result::Result<(), Refused> {
        let Some(p) = &self.simulator else {
            return Err((
                "simulation_unavailable",
                "no node to simulate the transaction on".into(),
            ));
        };
        let req = TransactionRequest::default()
            .with_from(from)
            .with_to(to)
            .with_value(value)
            .with_input(input.to_vec());
        // Every read names the latest block: a node asked without one may answer from its pending
        // block (anvil does), where a version of this very transaction already ran.
        let latest = alloy::eips::BlockId::latest();
        p.call(req.clone().with_gas_limit(gas_limit))
            .block(latest)
            .await
            .map_err(|e| {
                (
                    "simulation_revert",
                    format!("eth_call against the latest block: {}", revert_reason(&e)),
                )
            })?;
        let est = p
            .estimate_gas(req.clone())
            .block(latest)
            .await
            .map_err(|e| {
                (
                    "simulation_revert",
                    format!("eth_estimateGas: {}", revert_reason(&e)),
                )
            })?;
        if est > gas_limit {
            return Err((
                "simulation_gas",
                format!("the transaction needs {est} gas, its limit is {gas_limit}"),
            ));
        }
        let Some(pubkeys) = stake_pubkeys else {
            return Ok(());
        };
        let Some(dc) = self.policy.deposit_contract else {
            return Err((
                "simulation_unavailable",
                "no deposit contract configured".into(),
            ));
        };
        let before = IDepositContract::new(dc, p.clone())
            .get_deposit_count()
            .call()
            .block(latest)
            .await
            .map_err(|e| ("simulation_unavailable", format!("get_deposit_count: {e}")))?;
        let before = le_count(&before).ok_or((
            "simulation_deposit_count",
            format!("get_deposit_count returned {before}, not 8 little-endian bytes"),
        ))?;
        let trace: serde_json::Value = p
            .raw_request(
                "debug_traceCall".into(),
                (
                    req.with_gas_limit(gas_limit),
                    "latest",
                    serde_json::json!({"tracer": "callTracer", "tracerConfig": {"withLog": true}}),
                ),
            )
            .await
            .map_err(|e| {
                (
                    "simulation_unavailable",
                    format!("debug_traceCall failed ({e}): the stake's deposit count cannot be checked, so it is not signed"),
                )
            })?;
        if let Some(err) = trace.get("error") {
            return Err((
                "simulation_revert",
                format!("debug_traceCall: reverted: {err}"),
            ));
        }
        let mut events = Vec::new();
        deposit_events(&trace, dc, &mut events);
        let k = pubkeys.len() as u64;
        let seen: Vec<&[u8]> = events.iter().map(|e| e.pubkey.as_ref()).collect();
        let want: Vec<&[u8]> = pubkeys.iter().map(|p| p.as_ref()).collect();
        let last = events.last().and_then(|e| le_count(&e.index));
        if seen != want || last.map(|i| i + 1) != Some(before + k) {
            return Err((
                "simulation_deposit_count",
                format!(
                    "the deposit count would go from {before} to {} with {} deposits, expected {} (one per validator in the calldata, in order)",
                    last.map(|i| (i + 1).to_string()).unwrap_or_else(|| before.to_string()),
                    events.len(),
                    before + k
                ),
            ));
        }
        Ok(())
    }
}

#[async_trait]
impl<S> TxSigner<Signature> for PolicySigner<S>
where
    S: TxSigner<Signature> + Send + Sync,
{
    fn address(&self) -> Address {
        self.inner.address()
    }

    async fn sign_transaction(
        &self,
        tx: &mut dyn SignableTransaction<Signature>,
    ) -> alloy::signers::Result<Signature> {
        let p = &self.policy;
        let (kind, value, input) = (tx.kind(), tx.value(), tx.input().clone());
        if let Err((rule, reason)) = p.check(
            tx.chain_id(),
            kind,
            value,
            &input,
            tx.max_fee_per_gas(),
            tx.max_priority_fee_per_gas(),
        ) {
            return Err(self.refuse(rule, reason));
        }
        let to = kind.to().copied().unwrap_or_default();
        // One signature at a time: the daily caps are read and the ledger written under the lock.
        let guard = match &self.ledger {
            Some(l) => Some(l.lock().await),
            None => None,
        };
        let stake = p.is_stake(to, &input);
        let validators = if stake {
            match check_stake(p, guard.as_deref(), &input) {
                Ok(k) => k,
                Err((rule, reason)) => return Err(self.refuse(rule, reason)),
            }
        } else {
            0
        };
        let ssv_fee = match p.ssv_fee_of(to, &input) {
            Ok(f) => f,
            Err((rule, reason)) => return Err(self.refuse(rule, reason)),
        };
        let day = today();
        // The maintenance functions' rules and caps (exits, removals, top-ups, reshares).
        let maint = match crate::maintenance::policy::check(
            p,
            guard.as_deref(),
            to,
            &input,
            &day,
            tx.nonce(),
        ) {
            Ok(m) => m,
            Err((rule, reason)) => return Err(self.refuse(rule, reason)),
        };
        let validators = validators + maint.as_ref().map_or(0, |m| m.staking_validators);
        if ssv_fee > p.max_ssv_fee_per_tx_wei {
            return Err(self.refuse(
                "ssv_fee_cap",
                format!(
                    "{ssv_fee} wei for SSV cluster fees exceeds the cap of {} wei per transaction",
                    p.max_ssv_fee_per_tx_wei
                ),
            ));
        }
        if validators > 0 || value > U256::ZERO || ssv_fee > U256::ZERO {
            let Some(store) = guard.as_deref() else {
                return Err(self.refuse(
                    if stake {
                        "validator_cap"
                    } else if ssv_fee > U256::ZERO {
                        "ssv_fee_day_cap"
                    } else {
                        "value_day_cap"
                    },
                    "no state store: the daily caps cannot be checked".into(),
                ));
            };
            // Earlier versions of this nonce (a replacement) are replaced, not added to.
            let (v_day, n_day, fee_day) = match store.signed_on_except(&day, tx.nonce()) {
                Ok(x) => x,
                Err(e) => return Err(self.refuse("value_day_cap", format!("state store: {e}"))),
            };
            if v_day.saturating_add(value) > p.max_value_per_day_wei {
                return Err(self.refuse(
                    "value_day_cap",
                    format!(
                        "value {value} wei on top of {v_day} wei signed today ({day}) exceeds the daily cap of {} wei",
                        p.max_value_per_day_wei
                    ),
                ));
            }
            if n_day.saturating_add(validators) > p.max_validators_per_day {
                return Err(self.refuse(
                    "validator_cap",
                    format!(
                        "{validators} validators on top of {n_day} staked today ({day}) exceed the daily cap of {}",
                        p.max_validators_per_day
                    ),
                ));
            }
            if fee_day.saturating_add(ssv_fee) > p.max_ssv_fee_per_day_wei {
                return Err(self.refuse(
                    "ssv_fee_day_cap",
                    format!(
                        "{ssv_fee} wei for SSV cluster fees on top of {fee_day} wei signed today ({day}) exceeds the daily cap of {} wei",
                        p.max_ssv_fee_per_day_wei
                    ),
                ));
            }
        }
        if p.simulate {
            let pubkeys = if stake {
                IPoolManager::stakeCall::abi_decode(&input)
                    .ok()
                    .map(|c| c.validators.into_iter().map(|v| v.pubkey).collect())
            } else {
                None
            };
            if let Err((rule, reason)) = self
                .simulate(
                    self.inner.address(),
                    to,
                    value,
                    &input,
                    tx.gas_limit(),
                    pubkeys,
                )
                .await
            {
                return Err(self.refuse(rule, reason));
            }
        }
        let sighash = tx.signature_hash();
        let sig = self.inner.sign_transaction(tx).await?;
        if let Some(store) = guard.as_deref() {
            let entry = LedgerEntry {
                day: day.clone(),
                sighash: format!("{sighash}"),
                target: format!("{to}"),
                selector: format!("0x{}", hex::encode(input.get(..4).unwrap_or_default())),
                value_wei: value.to_string(),
                validators,
                ssv_fee_wei: ssv_fee.to_string(),
                nonce: Some(tx.nonce()),
            };
            if let Err(e) = store.record_signed(&entry) {
                tracing::error!(error = %e, "cannot record the signature in the policy ledger; signature dropped");
                return Err(alloy::signers::Error::other(e));
            }
            if let Some(m) = &maint {
                if let Err(e) = crate::maintenance::store::record_signed(
                    store,
                    &day,
                    &entry.sighash,
                    m.action,
                    m.count,
                    m.amount,
                    tx.nonce(),
                ) {
                    tracing::error!(error = %e, "cannot record the signature in the maintenance ledger; signature dropped");
                    return Err(alloy::signers::Error::other(e));
                }
            }
        }
        tracing::info!(%to, validators, %sighash, "policy allowed and the key signed a transaction");
        Ok(sig)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bundle::{BundleValidator, VerifiedBundle};
    use crate::signer::{HsmSigner, PrehashBackend};
    use alloy::consensus::TxEip1559;
    use alloy::primitives::{address, Bytes};
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A software key that counts how often it was asked to sign.
    struct Counting {
        key: k256::ecdsa::SigningKey,
        signs: Arc<AtomicUsize>,
    }

    impl PrehashBackend for Counting {
        fn describe(&self) -> String {
            "test/counting".into()
        }
        fn public_key(&self) -> Result<k256::ecdsa::VerifyingKey> {
            Ok(*self.key.verifying_key())
        }
        fn sign_prehash(&self, digest: &[u8; 32]) -> Result<[u8; 64]> {
            use k256::ecdsa::signature::hazmat::PrehashSigner;
            self.signs.fetch_add(1, Ordering::SeqCst);
            let s: k256::ecdsa::Signature = self.key.sign_prehash(digest).unwrap();
            Ok(s.to_bytes().into())
        }
    }

    const POOL: Address = address!("0x1000000000000000000000000000000000000001");
    const ORACLE: Address = address!("0x2000000000000000000000000000000000000002");
    const OTHER: Address = address!("0x3000000000000000000000000000000000000003");
    const ROOT: [u8; 32] = [9; 32];
    const FOREIGN_ROOT: [u8; 32] = [8; 32];

    fn bundle(root: [u8; 32], withdrawal: Address, first: u8, n: u8) -> VerifiedBundle {
        VerifiedBundle {
            dir: "/b".into(),
            ceremony_id: "c".into(),
            network: "custom".into(),
            fork_version: "00000000".into(),
            merkle_root: root,
            operator_ids: vec![1, 2, 3, 4],
            withdrawal_type: 1,
            withdrawal_address: withdrawal.to_checksum(None),
            owner_address: withdrawal.to_checksum(None),
            identity: vec![4; 65],
            operators: vec![(1, "aa".into())],
            validators: (first..first + n)
                .map(|i| BundleValidator {
                    index: i as u32,
                    position: (i - first) as usize,
                    pubkey: vec![i; 48],
                    signature: vec![0; 96],
                    deposit_data_root: [0; 32],
                    shares_data: vec![1, 2],
                    owner_nonce: i as u64,
                    leaf: [i; 32],
                    proof: vec![],
                })
                .collect(),
        }
    }

    fn policy() -> Policy {
        let mut p = Policy {
            chain_id: 31337,
            targets: BTreeMap::new(),
            names: BTreeMap::new(),
            max_value_wei: U256::ZERO,
            max_value_per_day_wei: U256::ZERO,
            max_fee_per_gas_wei: 100_000_000_000,
            max_priority_fee_per_gas_wei: 3_000_000_000,
            max_validators_per_day: 4,
            max_ssv_fee_per_tx_wei: U256::from(10u64),
            max_ssv_fee_per_day_wei: U256::from(15u64),
            pool_manager: Some(POOL),
            deposit_contract: None,
            simulate: false,
            maintenance: Default::default(),
        };
        p.allow(POOL, IPoolManager::stakeCall::SELECTOR, "PoolManager.stake");
        p.allow(
            ORACLE,
            crate::chain::IOracle::submitReportCall::SELECTOR,
            "Oracle.submitReport",
        );
        p
    }

    /// A fresh state store with two imported bundles: ROOT (validators 0..6, withdrawing to
    /// the PoolManager) and FOREIGN_ROOT (validators 50..52, withdrawing elsewhere).
    fn state() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let mut st = Store::open(dir.path()).unwrap();
        st.import(&bundle(ROOT, POOL, 0, 6)).unwrap();
        st.import(&bundle(FOREIGN_ROOT, OTHER, 50, 2)).unwrap();
        dir
    }

    fn signer_over(
        dir: &std::path::Path,
        p: Policy,
    ) -> (PolicySigner<HsmSigner>, Arc<AtomicUsize>) {
        let signs = Arc::new(AtomicUsize::new(0));
        let backend = Counting {
            key: k256::ecdsa::SigningKey::from_slice(&[7; 32]).unwrap(),
            signs: signs.clone(),
        };
        let signer = HsmSigner::open(Arc::new(backend)).unwrap();
        signs.store(0, Ordering::SeqCst); // the self-check signed once
        (
            PolicySigner::new(signer, p).with_store(Store::open(dir).unwrap()),
            signs,
        )
    }

    fn setup() -> (PolicySigner<HsmSigner>, Arc<AtomicUsize>, tempfile::TempDir) {
        let dir = state();
        let (s, n) = signer_over(dir.path(), policy());
        (s, n, dir)
    }

    fn stake_input(root: [u8; 32], pubkeys: &[u8]) -> Bytes {
        IPoolManager::stakeCall {
            batchRoot: root.into(),
            operatorIds: vec![1, 2, 3, 4],
            validators: pubkeys
                .iter()
                .map(|i| IPoolManager::ValidatorData {
                    pubkey: vec![*i; 48].into(),
                    signature: vec![0; 96].into(),
                    depositDataRoot: Default::default(),
                    sharesData: vec![1, 2].into(),
                    proof: vec![],
                })
                .collect(),
            expectedDepositRoot: Default::default(),
            clusterFee: U256::ZERO,
            cluster: Default::default(),
        }
        .abi_encode()
        .into()
    }

    fn tx() -> TxEip1559 {
        TxEip1559 {
            chain_id: 31337,
            nonce: 0,
            gas_limit: 1_000_000,
            max_fee_per_gas: 2_000_000_000,
            max_priority_fee_per_gas: 1_000_000_000,
            to: TxKind::Call(POOL),
            value: U256::ZERO,
            access_list: Default::default(),
            input: stake_input(ROOT, &[0]),
        }
    }

    fn report_tx() -> TxEip1559 {
        let mut t = tx();
        t.to = TxKind::Call(ORACLE);
        let mut input = crate::chain::IOracle::submitReportCall::SELECTOR.to_vec();
        input.extend([0u8; 128]);
        t.input = input.into();
        t
    }

    fn sign(s: &PolicySigner<HsmSigner>, mut t: TxEip1559) -> std::result::Result<(), String> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(s.sign_transaction(&mut t))
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    /// Each rule: refused with its name, the key not asked, the counter moved.
    fn refused_by(s: &PolicySigner<HsmSigner>, signs: &AtomicUsize, t: TxEip1559, rule: &str) {
        let before = s.refusals().lock().unwrap().get(rule).copied().unwrap_or(0);
        let asked = signs.load(Ordering::SeqCst);
        let e = sign(s, t).unwrap_err();
        assert!(e.contains(&format!("policy refused ({rule})")), "{e}");
        assert_eq!(
            signs.load(Ordering::SeqCst),
            asked,
            "the key was asked to sign"
        );
        assert_eq!(
            s.refusals().lock().unwrap().get(rule),
            Some(&(before + 1)),
            "{rule}"
        );
    }

    fn refused(t: TxEip1559, rule: &str) {
        let (s, signs, _dir) = setup();
        refused_by(&s, &signs, t, rule);
    }

    #[test]
    fn allowed_transactions_are_signed_and_recorded() {
        let (s, signs, dir) = setup();
        sign(&s, tx()).unwrap();
        sign(&s, report_tx()).unwrap();
        assert_eq!(signs.load(Ordering::SeqCst), 2);
        assert!(s.refusals().lock().unwrap().is_empty());
        let st = Store::open(dir.path()).unwrap();
        assert_eq!(st.signed_on(&today()).unwrap(), (U256::ZERO, 1));
    }

    #[test]
    fn wrong_chain_is_refused() {
        let mut t = tx();
        t.chain_id = 1;
        refused(t, "chain_id");
    }

    #[test]
    fn unlisted_target_is_refused() {
        let mut t = tx();
        t.to = TxKind::Call(OTHER);
        refused(t, "target");
    }

    #[test]
    fn unlisted_selector_is_refused() {
        let mut t = tx();
        // PoolManager.redeem would move the pool's ETH: not on the list.
        t.input = selector_of("redeem(uint256,address)").to_vec().into();
        refused(t, "selector");
        let mut t = tx();
        t.input = vec![0xa9].into();
        refused(t, "selector");
    }

    #[test]
    fn eth_transfer_is_refused() {
        let mut t = tx();
        t.to = TxKind::Call(OTHER);
        t.input = Bytes::new();
        t.value = U256::from(10u64.pow(18));
        refused(t, "eth_transfer");
    }

    #[test]
    fn contract_creation_is_refused() {
        let mut t = tx();
        t.to = TxKind::Create;
        refused(t, "contract_creation");
    }

    #[test]
    fn value_above_the_cap_is_refused() {
        let mut t = tx();
        t.value = U256::from(1u64);
        refused(t, "value_cap");
    }

    #[test]
    fn fees_above_the_caps_are_refused() {
        let mut t = tx();
        t.max_fee_per_gas = 100_000_000_001;
        refused(t, "fee_cap");
        let mut t = tx();
        t.max_priority_fee_per_gas = 3_000_000_001;
        refused(t, "priority_fee_cap");
    }

    #[test]
    fn value_over_the_day_is_refused_even_after_a_restart() {
        let dir = state();
        let mut p = policy();
        p.max_value_wei = U256::from(10u64.pow(18));
        p.max_value_per_day_wei = U256::from(15 * 10u64.pow(17));
        let mut t = report_tx();
        t.value = U256::from(10u64.pow(18));
        let (s, signs) = signer_over(dir.path(), p.clone());
        sign(&s, t.clone()).unwrap();
        // A replacement of it (same nonce) replaces its value, it does not add to it.
        t.max_fee_per_gas += t.max_fee_per_gas / 5;
        sign(&s, t.clone()).unwrap();
        // The next nonce adds to it.
        t.nonce = 1;
        refused_by(&s, &signs, t.clone(), "value_day_cap");
        // A restart reads the day's total from the ledger.
        drop(s);
        let (s, signs) = signer_over(dir.path(), p);
        refused_by(&s, &signs, t, "value_day_cap");
        assert_eq!(signs.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn validators_over_the_day_are_refused_even_after_a_restart() {
        let dir = state();
        let (s, signs) = signer_over(dir.path(), policy());
        let mut t = tx();
        t.input = stake_input(ROOT, &[0, 1, 2]);
        sign(&s, t.clone()).unwrap();
        // Replacing it (the same nonce, higher fees) counts its validators once.
        t.max_fee_per_gas += t.max_fee_per_gas / 5;
        sign(&s, t).unwrap();
        let mut t = tx();
        t.nonce = 1;
        t.input = stake_input(ROOT, &[3, 4]);
        refused_by(&s, &signs, t.clone(), "validator_cap");
        drop(s);
        let (s, signs) = signer_over(dir.path(), policy());
        refused_by(&s, &signs, t, "validator_cap");
        // One more still fits the cap of 4.
        let mut t = tx();
        t.nonce = 1;
        t.input = stake_input(ROOT, &[3]);
        sign(&s, t).unwrap();
        assert_eq!(signs.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn unknown_validator_is_refused() {
        let mut t = tx();
        t.input = stake_input(ROOT, &[0, 77]);
        refused(t, "unknown_validator");
        // A validator of another bundle, under this bundle's root.
        let mut t = tx();
        t.input = stake_input(ROOT, &[50]);
        refused(t, "unknown_validator");
    }

    #[test]
    fn refused_front_run_validator_is_refused() {
        let (s, signs, dir) = setup();
        let mut st = Store::open(dir.path()).unwrap();
        let pk = format!("0x{}", hex::encode([2u8; 48]));
        st.set_status(
            std::slice::from_ref(&pk),
            crate::store::Status::Refused,
            None,
            None,
            Some("front_run: test"),
        )
        .unwrap();
        let mut t = tx();
        t.input = stake_input(ROOT, &[1, 2]);
        refused_by(&s, &signs, t, "front_run");
        // The others still sign.
        let mut t = tx();
        t.input = stake_input(ROOT, &[1]);
        sign(&s, t).unwrap();
        assert_eq!(signs.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn foreign_withdrawal_address_is_refused() {
        let mut t = tx();
        t.input = stake_input(FOREIGN_ROOT, &[50]);
        refused(t.clone(), "withdrawal_address");
        let (s, _, _d) = setup();
        let e = sign(&s, t).unwrap_err();
        assert!(e.contains("foreign withdrawal address"), "{e}");
        // A root the agent never imported.
        let mut t = tx();
        t.input = stake_input([1; 32], &[0]);
        refused(t, "withdrawal_address");
    }

    #[test]
    fn undecodable_stake_is_refused() {
        let mut t = tx();
        let mut input = IPoolManager::stakeCall::SELECTOR.to_vec();
        input.extend([0u8; 64]);
        t.input = input.into();
        refused(t, "stake_calldata");
    }

    #[test]
    fn without_a_node_to_simulate_on_nothing_is_signed() {
        let dir = state();
        let mut p = policy();
        p.simulate = true;
        let (s, signs) = signer_over(dir.path(), p);
        refused_by(&s, &signs, report_tx(), "simulation_unavailable");
    }

    #[test]
    fn describe_lists_every_allowed_function() {
        let (s, _, _d) = setup();
        let d = s.policy().describe();
        assert!(d.contains("PoolManager.stake"), "{d}");
        assert!(d.contains("Oracle.submitReport"), "{d}");
        assert!(d.contains("chain id            31337"), "{d}");
    }

    // ---- maintenance functions (crate::maintenance::policy) ----

    fn maint_policy() -> Policy {
        let mut p = policy();
        p.max_ssv_fee_per_tx_wei = U256::from(10u64.pow(18));
        p.max_ssv_fee_per_day_wei = U256::from(10u64.pow(19));
        p.maintenance.max_topup_per_tx_wei = U256::from(100u64);
        p.maintenance.max_topup_per_day_wei = U256::from(150u64);
        p.maintenance.max_exits_per_day = 2;
        p.maintenance.max_removals_per_day = 2;
        for (name, sel) in crate::maintenance::policy::selectors() {
            p.allow(POOL, sel, name);
        }
        p.allow(
            POOL,
            IPoolManager::depositClusterETHCall::SELECTOR,
            "PoolManager.depositClusterETH",
        );
        p
    }

    fn call_tx(input: Vec<u8>) -> TxEip1559 {
        let mut t = tx();
        t.input = input.into();
        t
    }

    /// `t` signed with key nonce `nonce`.
    fn at_nonce(mut t: TxEip1559, nonce: u64) -> TxEip1559 {
        t.nonce = nonce;
        t
    }

    fn top_up(amount: u64) -> TxEip1559 {
        call_tx(
            IPoolManager::depositClusterETHCall {
                operatorIds: vec![1, 2, 3, 4],
                amount: U256::from(amount),
                cluster: Default::default(),
            }
            .abi_encode(),
        )
    }

    fn exits_of(keys: &[u8]) -> TxEip1559 {
        call_tx(
            IPoolManager::requestValidatorExitsCall {
                pubkeys: keys.iter().map(|k| vec![*k; 48].into()).collect(),
                operatorIds: vec![1, 2, 3, 4],
            }
            .abi_encode(),
        )
    }

    fn removal_of(keys: &[u8]) -> TxEip1559 {
        call_tx(
            IPoolManager::removeValidatorsCall {
                pubkeys: keys.iter().map(|k| vec![*k; 48].into()).collect(),
                operatorIds: vec![1, 2, 3, 4],
                cluster: Default::default(),
            }
            .abi_encode(),
        )
    }

    fn confirm(dir: &std::path::Path, keys: &[u8]) {
        let mut st = Store::open(dir).unwrap();
        let pks: Vec<String> = keys
            .iter()
            .map(|k| format!("0x{}", hex::encode([*k; 48])))
            .collect();
        st.set_status(
            &pks,
            crate::store::Status::Confirmed,
            Some("0x1"),
            Some(1),
            None,
        )
        .unwrap();
    }

    #[test]
    fn top_ups_above_the_caps_are_refused_even_after_a_restart() {
        let dir = state();
        let (s, signs) = signer_over(dir.path(), maint_policy());
        refused_by(&s, &signs, at_nonce(top_up(101), 1), "topup_cap");
        sign(&s, at_nonce(top_up(100), 1)).unwrap();
        // A replacement of nonce 1 (higher fees) counts once: it does not add to the day.
        sign(&s, at_nonce(top_up(100), 1)).unwrap();
        refused_by(&s, &signs, at_nonce(top_up(51), 2), "topup_day_cap");
        drop(s);
        let (s, signs) = signer_over(dir.path(), maint_policy());
        refused_by(&s, &signs, at_nonce(top_up(51), 2), "topup_day_cap");
        sign(&s, at_nonce(top_up(50), 2)).unwrap();
        assert_eq!(signs.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn exits_only_of_staked_validators_and_within_the_day() {
        let (s, signs, dir) = setup();
        let s = PolicySigner::new(s.inner.clone(), maint_policy())
            .with_store(Store::open(dir.path()).unwrap());
        // imported but not staked, and never imported
        refused_by(&s, &signs, exits_of(&[0]), "exit_unknown_validator");
        refused_by(&s, &signs, exits_of(&[77]), "exit_unknown_validator");
        confirm(dir.path(), &[0, 1, 2]);
        sign(&s, at_nonce(exits_of(&[0, 1]), 1)).unwrap();
        // Its replacement (the same nonce) counts once.
        sign(&s, at_nonce(exits_of(&[0, 1]), 1)).unwrap();
        refused_by(&s, &signs, at_nonce(exits_of(&[2]), 2), "exit_day_cap");
        assert_eq!(signs.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn removals_only_of_withdrawn_validators() {
        let (s, signs, dir) = setup();
        let s = PolicySigner::new(s.inner.clone(), maint_policy())
            .with_store(Store::open(dir.path()).unwrap());
        confirm(dir.path(), &[0, 1]);
        refused_by(&s, &signs, removal_of(&[0]), "remove_not_withdrawn");
        let st = Store::open(dir.path()).unwrap();
        let pk = |k: u8| format!("0x{}", hex::encode([k; 48]));
        use crate::maintenance::store::{set_exit_state, ExitState};
        set_exit_state(
            &st,
            &[pk(0)],
            &[1, 2, 3, 4],
            ExitState::Exited,
            None,
            None,
            "t",
        )
        .unwrap();
        refused_by(&s, &signs, removal_of(&[0]), "remove_not_withdrawn");
        set_exit_state(
            &st,
            &[pk(0), pk(1)],
            &[1, 2, 3, 4],
            ExitState::Withdrawn,
            None,
            None,
            "t",
        )
        .unwrap();
        sign(&s, at_nonce(removal_of(&[0, 1]), 1)).unwrap();
        refused_by(&s, &signs, at_nonce(removal_of(&[0]), 2), "remove_day_cap");
        assert_eq!(signs.load(Ordering::SeqCst), 1);
    }
}
