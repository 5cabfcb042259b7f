//! Sending a maintenance transaction crash-safely, and settling what a crash left unsettled.
//!
//! Order: estimate (a call that would revert is refused, nothing signed) → fill capped fees and
//! the pending nonce → sign (through the policy) → record `sent` with its hash and subjects →
//! broadcast → receipt → apply its effect on the store (exit states) → `confirmed`. After a
//! crash at any point, [`reconcile`] settles each `sent` row from the chain: mined → effect +
//! `confirmed`; reverted → `reverted`; never mined with nothing pending → `dropped` (the duty
//! decides again from the chain's state). A subject with a `sent` row gets no new transaction.

use std::time::Duration;

use alloy::eips::eip2718::Encodable2718;
use alloy::network::{NetworkTransactionBuilder, TransactionBuilder};
use alloy::primitives::B256;
use alloy::providers::Provider;
use alloy::rpc::types::TransactionRequest;

use super::store::{self, Action, ExitState, TxState};
use super::Ctx;
use crate::error::{Error, Result};
use crate::stake::crash_point;
use crate::store::Store;

/// A confirmed maintenance transaction.
#[derive(Debug, Clone, Copy)]
pub struct Sent {
    pub hash: B256,
    pub block: u64,
    pub gas_used: u64,
}

/// Subject of a cluster.
pub fn cluster_subject(ids: &[u64]) -> String {
    format!("cluster:{}", super::cluster_label(ids))
}

/// Subject of a validator (`0x` hex pubkey).
pub fn validator_subject(pubkey: &str) -> String {
    format!("validator:{}", pubkey.to_ascii_lowercase())
}

fn revert_text(e: &alloy::transports::TransportError) -> String {
    if let Some(p) = e.as_error_resp() {
        if let Some(d) =
            p.as_decoded_interface_error::<crate::chain::IPoolManager::IPoolManagerErrors>()
        {
            return format!("reverted: {d:?}");
        }
    }
    e.to_string()
}

/// Sends `input` to the PoolManager as `action` on `subjects`, crash-safely (module docs).
pub async fn send(
    ctx: &Ctx<'_>,
    st: &Store,
    action: Action,
    subjects: Vec<String>,
    input: Vec<u8>,
    note: &str,
) -> Result<Sent> {
    let pm = ctx.cfg.contracts()?.pool_manager;
    let req = TransactionRequest::default()
        .with_from(ctx.from)
        .with_to(pm)
        .with_input(input);
    let gas = ctx.provider.estimate_gas(req.clone()).await.map_err(|e| {
        Error::refused(format!(
            "{} would fail: {}",
            action.as_str(),
            revert_text(&e)
        ))
    })?;
    let gas_limit = gas + gas / 5;
    if gas_limit > ctx.cfg.gas.max_gas_per_tx {
        return Err(Error::refused(format!(
            "gas above cap: the {} transaction needs a gas limit of {gas_limit}, the cap is {}",
            action.as_str(),
            ctx.cfg.gas.max_gas_per_tx
        )));
    }
    let req =
        crate::chain::with_capped_fees_and_nonce(ctx.provider, ctx.cfg, ctx.from, req, gas_limit)
            .await?;
    let nonce = req.nonce.unwrap_or_default();
    let envelope = req
        .build(ctx.wallet)
        .await
        .map_err(|e| crate::stake::policy_or_signer(ctx.from, e))?;
    let hash = *envelope.tx_hash();
    let hash_s = format!("{hash}");
    crash_point("maint-before-record");
    store::record_sent(st, &hash_s, action, &subjects, nonce, note)?;
    crash_point("maint-before-send");
    if let Err(e) = ctx
        .provider
        .send_raw_transaction(&envelope.encoded_2718())
        .await
    {
        store::settle(
            st,
            &hash_s,
            TxState::Dropped,
            None,
            Some(&format!("broadcast failed: {e}")),
        )?;
        return Err(Error::Transaction {
            tx: hash_s,
            message: format!("broadcast failed: {}", revert_text(&e)),
        });
    }
    tracing::info!(tx = %hash, action = action.as_str(), ?subjects, "maintenance transaction sent");
    crash_point("maint-after-send");
    let receipt = wait_receipt(ctx, hash).await?;
    crash_point("maint-after-receipt");
    let block = receipt.block_number.unwrap_or_default();
    if !receipt.status() {
        store::settle(st, &hash_s, TxState::Reverted, Some(block), None)?;
        return Err(Error::Transaction {
            tx: hash_s,
            message: format!("{} reverted in block {block}", action.as_str()),
        });
    }
    apply(st, action, &subjects, &hash_s, block)?;
    store::settle(st, &hash_s, TxState::Confirmed, Some(block), None)?;
    ctx.metrics.gauge(
        &format!(
            "signer_agent_maintenance_last_gas{{action=\"{}\"}}",
            action.as_str()
        ),
        receipt.gas_used as f64,
    );
    Ok(Sent {
        hash,
        block,
        gas_used: receipt.gas_used,
    })
}

async fn wait_receipt(ctx: &Ctx<'_>, hash: B256) -> Result<alloy::rpc::types::TransactionReceipt> {
    let mut delay = Duration::from_millis(100);
    let max = Duration::from_secs(ctx.cfg.poll_interval_secs.max(1));
    loop {
        match ctx.provider.get_transaction_receipt(hash).await {
            Ok(Some(r)) => return Ok(r),
            Ok(None) => {}
            Err(e) => tracing::warn!(tx = %hash, error = %e, "receipt lookup failed; retrying"),
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(max);
    }
}

/// The store effect of a confirmed transaction (idempotent: states only move forward).
fn apply(st: &Store, action: Action, subjects: &[String], hash: &str, block: u64) -> Result<()> {
    let ids: Vec<u64> = subjects
        .iter()
        .find_map(|s| s.strip_prefix("cluster:"))
        .map(|l| l.split(',').filter_map(|x| x.parse().ok()).collect())
        .unwrap_or_default();
    let pubkeys: Vec<String> = subjects
        .iter()
        .filter_map(|s| s.strip_prefix("validator:"))
        .map(str::to_owned)
        .collect();
    match action {
        Action::Exit => {
            store::set_exit_state(
                st,
                &pubkeys,
                &ids,
                ExitState::Requested,
                Some(hash),
                Some(block),
                "PoolManager.requestValidatorExits confirmed: the cluster's operators exit it",
            )?;
        }
        Action::Remove => {
            store::set_exit_state(
                st,
                &pubkeys,
                &ids,
                ExitState::Removed,
                Some(hash),
                Some(block),
                "PoolManager.removeValidators confirmed: removed from its SSV cluster",
            )?;
        }
        Action::Reshare => {
            if let Some(id) = subjects.iter().find_map(|s| s.strip_prefix("reshare:")) {
                super::reshare::mark_migrated(st, id, &pubkeys, hash, block)?;
            }
        }
        Action::TopUp | Action::Reactivate | Action::Fund => {}
    }
    Ok(())
}

/// Settles every `sent` maintenance transaction from the chain (module docs).
pub async fn reconcile(ctx: &Ctx<'_>, st: &Store) -> Result<usize> {
    let mut n = 0;
    for t in store::transactions(st, true)? {
        let hash: B256 = match t.hash.parse() {
            Ok(h) => h,
            Err(_) => {
                store::settle(st, &t.hash, TxState::Dropped, None, Some("unreadable hash"))?;
                continue;
            }
        };
        let receipt = ctx
            .provider
            .get_transaction_receipt(hash)
            .await
            .map_err(|e| Error::rpc("eth_getTransactionReceipt", e))?;
        match receipt {
            Some(r) if r.status() => {
                let block = r.block_number.unwrap_or_default();
                apply(st, t.action, &t.subjects, &t.hash, block)?;
                store::settle(
                    st,
                    &t.hash,
                    TxState::Confirmed,
                    Some(block),
                    Some("reconciled: mined"),
                )?;
                n += 1;
            }
            Some(r) => {
                store::settle(
                    st,
                    &t.hash,
                    TxState::Reverted,
                    r.block_number,
                    Some("reconciled: reverted"),
                )?;
                n += 1;
            }
            None => {
                let latest = ctx
                    .provider
                    .get_transaction_count(ctx.from)
                    .latest()
                    .await
                    .map_err(|e| Error::rpc("eth_getTransactionCount", e))?;
                let pending = ctx
                    .provider
                    .get_transaction_count(ctx.from)
                    .pending()
                    .await
                    .map_err(|e| Error::rpc("eth_getTransactionCount(pending)", e))?;
                if latest == pending {
                    store::settle(
                        st,
                        &t.hash,
                        TxState::Dropped,
                        None,
                        Some("reconciled: never mined, nothing pending"),
                    )?;
                    n += 1;
                }
            }
        }
    }
    if n > 0 {
        tracing::info!(
            settled = n,
            "settled maintenance transactions from the chain"
        );
    }
    Ok(n)
}
