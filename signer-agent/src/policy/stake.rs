//! The `PoolManager.stake` rules: the calldata against the state store.

use alloy::primitives::Address;
use alloy::sol_types::SolCall;

use super::{Policy, Refused, Rule};
use crate::chain::IPoolManager;
use crate::store::Store;

/// The `stake` rules: returns the number of validators the call stakes.
pub(super) fn check_stake(
    policy: &Policy,
    store: Option<&Store>,
    input: &[u8],
) -> std::result::Result<u64, Refused> {
    let call = IPoolManager::stakeCall::abi_decode(input).map_err(|e| {
        (
            Rule::StakeCalldata,
            format!("undecodable PoolManager.stake calldata: {e}"),
        )
    })?;
    let Some(store) = store else {
        return Err((
            Rule::UnknownValidator,
            "no state store to check the stake's validators against".into(),
        ));
    };
    let pm = policy.pool_manager.unwrap_or_default();
    let root = format!("{}", call.batchRoot);
    let facts = store
        .bundle_facts(&root)
        .map_err(|e| (Rule::WithdrawalAddress, format!("state store: {e}")))?;
    let Some(facts) = facts else {
        return Err((
            Rule::WithdrawalAddress,
            format!(
                "foreign withdrawal address: batch {root} is not a bundle the agent imported, so its withdrawal address is unknown"
            ),
        ));
    };
    let wa: Option<Address> = facts.withdrawal_address.trim().parse().ok();
    if wa != Some(pm) {
        return Err((
            Rule::WithdrawalAddress,
            format!(
                "foreign withdrawal address: batch {root} withdraws to {}, not the PoolManager {pm}",
                facts.withdrawal_address
            ),
        ));
    }
    if call.validators.is_empty() {
        return Err((Rule::StakeCalldata, "a stake of no validator".into()));
    }
    for v in &call.validators {
        let pk = format!("0x{}", hex::encode(&v.pubkey));
        match store
            .validator_bundle(&pk)
            .map_err(|e| (Rule::UnknownValidator, format!("state store: {e}")))?
        {
            Some(b) if b.eq_ignore_ascii_case(&root) => {}
            Some(b) => {
                return Err((
                    Rule::UnknownValidator,
                    format!("validator {pk} was imported from batch {b}, not {root}"),
                ))
            }
            None => {
                return Err((
                    Rule::UnknownValidator,
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
            .map_err(|e| (Rule::FrontRun, format!("state store: {e}")))?;
        if status == Some(crate::store::Status::Refused) {
            return Err((
                Rule::FrontRun,
                format!(
                    "validator {pk} is refused in the state store (front-run: another deposit exists for its key); staking it would send the pool's 32 ETH to that validator"
                ),
            ));
        }
    }
    Ok(call.validators.len() as u64)
}
