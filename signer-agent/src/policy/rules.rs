//! The static rules: what one transaction may be, from its fields and calldata alone.

use alloy::primitives::{Address, ChainId, TxKind, U256};
use alloy::sol_types::SolCall;

use super::{Policy, Refused, Rule};
use crate::chain::IPoolManager;

impl Policy {
    /// Whether `(to, input)` is a `PoolManager.stake` call.
    pub(super) fn is_stake(&self, to: Address, input: &[u8]) -> bool {
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
                Rule::StakeCalldata,
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
    ) -> std::result::Result<(), Refused> {
        match chain_id {
            Some(id) if id == self.chain_id => {}
            Some(id) => {
                return Err((
                    Rule::ChainId,
                    format!("chain id {id}, the policy allows only {}", self.chain_id),
                ))
            }
            None => {
                return Err((
                    Rule::ChainId,
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
                    Rule::ContractCreation,
                    "contract creation is never allowed".into(),
                ))
            }
            TxKind::Call(to) => to,
        };
        if input.is_empty() {
            return Err((
                Rule::EthTransfer,
                format!("a plain ETH transfer to {to} is never allowed"),
            ));
        }
        let Some(selectors) = self.targets.get(&to) else {
            return Err((Rule::Target, format!("{to} is not an allowed target")));
        };
        let selector: [u8; 4] = match input.get(..4).and_then(|s| s.try_into().ok()) {
            Some(s) => s,
            None => {
                return Err((
                    Rule::Selector,
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
                Rule::Selector,
                format!(
                    "selector 0x{} is not allowed on {to} (allowed: {})",
                    hex::encode(selector),
                    allowed.join(", ")
                ),
            ));
        }
        if value > self.max_value_wei {
            return Err((
                Rule::ValueCap,
                format!(
                    "value {value} wei exceeds the cap of {} wei",
                    self.max_value_wei
                ),
            ));
        }
        if max_fee_per_gas > self.max_fee_per_gas_wei {
            return Err((
                Rule::FeeCap,
                format!(
                    "max fee per gas {max_fee_per_gas} wei exceeds the cap of {} wei",
                    self.max_fee_per_gas_wei
                ),
            ));
        }
        if let Some(p) = max_priority_fee_per_gas {
            if p > self.max_priority_fee_per_gas_wei {
                return Err((
                    Rule::PriorityFeeCap,
                    format!(
                        "max priority fee per gas {p} wei exceeds the cap of {} wei",
                        self.max_priority_fee_per_gas_wei
                    ),
                ));
            }
        }
        Ok(())
    }
}
