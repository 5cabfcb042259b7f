//! Simulation before signing: `eth_call`, `eth_estimateGas` and, for `stake`, the deposit
//! count from a `debug_traceCall`.

use alloy::network::TransactionBuilder;
use alloy::primitives::{Address, U256};
use alloy::providers::Provider;
use alloy::rpc::types::TransactionRequest;
use alloy::sol_types::SolEvent;

use super::{PolicySigner, Refused, Rule};
use crate::chain::IDepositContract;

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
    pub(super) async fn simulate(
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
                Rule::SimulationUnavailable,
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
                    Rule::SimulationRevert,
                    format!(
                        "eth_call against the latest block: {}",
                        crate::revert::reason(&e)
                    ),
                )
            })?;
        let est = p
            .estimate_gas(req.clone())
            .block(latest)
            .await
            .map_err(|e| {
                (
                    Rule::SimulationRevert,
                    format!("eth_estimateGas: {}", crate::revert::reason(&e)),
                )
            })?;
        if est > gas_limit {
            return Err((
                Rule::SimulationGas,
                format!("the transaction needs {est} gas, its limit is {gas_limit}"),
            ));
        }
        let Some(pubkeys) = stake_pubkeys else {
            return Ok(());
        };
        let Some(dc) = self.policy.deposit_contract else {
            return Err((
                Rule::SimulationUnavailable,
                "no deposit contract configured".into(),
            ));
        };
        let before = IDepositContract::new(dc, p.clone())
            .get_deposit_count()
            .call()
            .block(latest)
            .await
            .map_err(|e| {
                (
                    Rule::SimulationUnavailable,
                    format!("get_deposit_count: {e}"),
                )
            })?;
        let before = le_count(&before).ok_or((
            Rule::SimulationDepositCount,
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
                    Rule::SimulationUnavailable,
                    format!("debug_traceCall failed ({e}): the stake's deposit count cannot be checked, so it is not signed"),
                )
            })?;
        if let Some(err) = trace.get("error") {
            return Err((
                Rule::SimulationRevert,
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
                Rule::SimulationDepositCount,
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
