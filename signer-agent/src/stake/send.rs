//! Sending a planned stake: signed, recorded as `sent` before it is broadcast, followed through
//! the mempool ([`crate::replace`]), confirmed, and its outcome recorded.

use std::time::Duration;

use alloy::network::EthereumWallet;
use alloy::primitives::{Address, Bytes, B256, U256};
use alloy::providers::{DynProvider, Provider};
use alloy::sol_types::SolCall;

use super::StakePlan;
use crate::config::{Config, GasCaps};
use crate::error::{Error, Result};
use crate::fault::crash_point;
use crate::refusal::Refusal;
use crate::store::{Status, Store, ValidatorRow};
use crate::types::{mined, Mined};

/// Signs the plan's transaction, records it and its validators as `sent` (with its hash)
/// *before* broadcasting, broadcasts, follows it through the mempool ([`crate::replace`]:
/// replaced with higher fees when it is not mined, each version recorded before it is sent),
/// waits for the confirmations, and records the outcome.
pub async fn send(
    provider: &DynProvider,
    wallet: &EthereumWallet,
    from: Address,
    cfg: &Config,
    store: &mut Store,
    plan: &StakePlan,
) -> Result<(B256, u64, u64)> {
    let call = plan.call.as_ref().ok_or(Refusal::NotSendable {
        missing: "the plan has no call (dry run)",
    })?;
    let gas = plan.gas_estimate.ok_or(Refusal::NotSendable {
        missing: "no gas estimate",
    })?;
    let gas_limit = gas + gas / 5;
    check_gas(&cfg.gas, gas_limit)?;
    let out = crate::replace::Outgoing {
        kind: crate::replace::Kind::Stake,
        to: cfg.contracts()?.pool_manager,
        input: Bytes::from(call.abi_encode()),
        value: U256::ZERO,
        gas_limit,
        pubkeys: plan.pubkeys.clone(),
    };
    let sender = crate::replace::Sender {
        provider,
        wallet,
        from,
        cfg,
    };
    let mut hook = mark_sent(&plan.pubkeys);
    let mined = sender.send(store, &out, &mut hook).await;
    settle(provider, cfg, store, &plan.pubkeys, mined).await
}

/// The hook that records each signed version of a stake: its validators `sent` with its hash.
fn mark_sent(
    pubkeys: &[String],
) -> impl FnMut(&mut Store, &crate::replace::Signed) -> Result<()> + '_ {
    move |store, s| {
        crash_point("before-record");
        let note = match s.replaces {
            None => format!("nonce {}", s.nonce),
            Some(old) => format!(
                "nonce {}, replaces {old} (max fee {} wei, priority {} wei)",
                s.nonce, s.max_fee, s.max_priority_fee
            ),
        };
        store.set_status(
            pubkeys,
            Status::Sent,
            Some(&format!("{}", s.hash)),
            None,
            Some(&note),
        )
    }
}

/// Records the outcome of a followed stake: confirmed after the confirmations, reverted, or —
/// dropped or its nonce taken — eligible again (the chain decides: [`reconcile`] runs next).
async fn settle(
    provider: &DynProvider,
    cfg: &Config,
    store: &mut Store,
    pubkeys: &[String],
    outcome: Result<crate::replace::Mined>,
) -> Result<(B256, u64, u64)> {
    let m = match outcome {
        Ok(m) => m,
        Err(e @ Error::TxDropped { .. }) => {
            store.set_status(
                pubkeys,
                Status::Reverted,
                None,
                None,
                Some("dropped from the mempool without being mined; planned again"),
            )?;
            return Err(e);
        }
        Err(e @ Error::NonceTaken { .. }) => {
            // None of its versions can be mined any more; whether the other transaction staked
            // them is the chain's to say (the next reconcile asks `isStaked`).
            store.set_status(
                pubkeys,
                Status::Reverted,
                None,
                None,
                Some(&format!("not staked by the agent: {e}")),
            )?;
            return Err(e);
        }
        Err(e) => return Err(e),
    };
    crash_point("after-receipt");
    let hash_s = format!("{}", m.hash);
    let block = match mined(&m.receipt) {
        Ok(block) => block,
        Err(Mined::Pending) => unreachable!("the sender returns mined versions only"),
        Err(Mined::Reverted { block }) => {
            store.set_status(
                pubkeys,
                Status::Reverted,
                Some(&hash_s),
                Some(block),
                Some("transaction reverted"),
            )?;
            return Err(Error::Transaction {
                tx: hash_s,
                message: format!("reverted in block {block}"),
            });
        }
    };
    wait_confirmations(provider, block, cfg).await?;
    let note = (m.versions > 1).then(|| format!("mined after {} replacements", m.versions - 1));
    store.set_status(
        pubkeys,
        Status::Confirmed,
        Some(&hash_s),
        Some(block),
        note.as_deref(),
    )?;
    crash_point("after-confirm");
    Ok((m.hash, block, m.receipt.gas_used))
}

/// Follows a stake that is still in the mempool after a restart (validators `sent`, reconcile
/// left them there): waits, replaces it when it is not mined, and records the outcome.
/// `Ok(None)` when nothing is in flight.
pub async fn resume(
    provider: &DynProvider,
    wallet: &EthereumWallet,
    from: Address,
    cfg: &Config,
    store: &mut Store,
) -> Result<Option<(B256, u64, u64)>> {
    let sent: Vec<ValidatorRow> = store
        .validators()?
        .into_iter()
        .filter(|v| v.status == Status::Sent)
        .collect();
    let Some(first) = sent.first() else {
        return Ok(None);
    };
    let Some(row) = first
        .tx_hash
        .as_deref()
        .map(|h| crate::replace::by_hash(store, h))
        .transpose()?
        .flatten()
    else {
        return Ok(None);
    };
    let pubkeys: Vec<String> = sent
        .iter()
        .filter(|v| v.tx_hash == first.tx_hash)
        .map(|v| v.pubkey.clone())
        .collect();
    let sender = crate::replace::Sender {
        provider,
        wallet,
        from,
        cfg,
    };
    let mut hook = mark_sent(&pubkeys);
    let mined = sender.follow(store, row.nonce, &mut hook).await;
    settle(provider, cfg, store, &pubkeys, mined)
        .await
        .map(Some)
}

fn check_gas(caps: &GasCaps, gas_limit: u64) -> Result<()> {
    if gas_limit > caps.max_gas_per_tx {
        return Err(Refusal::GasAboveCap {
            what: "stake".into(),
            needed: gas_limit,
            cap: caps.max_gas_per_tx,
        }
        .into());
    }
    Ok(())
}

async fn wait_confirmations(provider: &DynProvider, block: u64, cfg: &Config) -> Result<()> {
    let need = block + cfg.confirmations.max(1) - 1;
    let mut delay = Duration::from_millis(200);
    loop {
        let head = provider
            .get_block_number()
            .await
            .map_err(|e| Error::rpc("eth_blockNumber", e))?;
        if head >= need {
            return Ok(());
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(cfg.poll_interval_secs.max(1)));
    }
}
