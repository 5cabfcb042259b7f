//! Sending a maintenance transaction crash-safely through [`crate::replace::Sender`], and
//! settling what a crash left unsettled.
//!
//! Order: estimate (a call that would revert is refused, nothing signed) → the sender signs it
//! (through the policy) with capped fees and the next nonce and records it → this module's hook
//! records the maintenance row `sent` with its hash, nonce and subjects → broadcast → followed
//! through the mempool (not mined after `gas.replace_after_blocks` blocks: replaced with bumped
//! fees within the caps, the row following the newest version) → receipt → the effect on the
//! store (exit states, migrations) → `confirmed`. A version dropped from the mempool settles the
//! row `dropped` (the duty decides again on the chain's state, reusing the nonce); a nonce used
//! from outside stops the agent ([`Error::NonceTaken`]). After a crash at any point,
//! [`reconcile`] follows each `sent` row's nonce to its end the same way. A subject with a
//! `sent` row gets no new transaction.

use alloy::network::TransactionBuilder;
use alloy::primitives::{Bytes, B256, U256};
use alloy::providers::Provider;
use alloy::rpc::types::TransactionRequest;

use super::Ctx;
use crate::error::{Error, Result};
use crate::fault::crash_point;
use crate::refusal::Refusal;
use crate::replace::{Kind, Mined, Outgoing, Sender, Signed};
use crate::store::maintenance::{self, Action, ExitState, TxState};
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

/// Sends `input` to the PoolManager as `action` on `subjects`, crash-safely (module docs).
pub async fn send(
    ctx: &Ctx<'_>,
    st: &mut Store,
    action: Action,
    subjects: Vec<String>,
    input: Vec<u8>,
    note: &str,
) -> Result<Sent> {
    let pm = ctx.cfg.contracts()?.pool_manager;
    let req = TransactionRequest::default()
        .with_from(ctx.from)
        .with_to(pm)
        .with_input(input.clone());
    let gas = ctx
        .provider
        .estimate_gas(req)
        .await
        .map_err(|e| Refusal::WouldRevert {
            what: action.as_str().to_owned(),
            reason: crate::revert::reason(&e),
        })?;
    let gas_limit = gas + gas / 5;
    if gas_limit > ctx.cfg.gas.max_gas_per_tx {
        return Err(Refusal::GasAboveCap {
            what: action.as_str().to_owned(),
            needed: gas_limit,
            cap: ctx.cfg.gas.max_gas_per_tx,
        }
        .into());
    }
    let out = Outgoing {
        kind: Kind::Maintenance,
        to: pm,
        input: Bytes::from(input),
        value: U256::ZERO,
        gas_limit,
        pubkeys: Vec::new(),
    };
    let mut hook = record_version(action, &subjects, note);
    let outcome = sender(ctx).send(st, &out, &mut hook).await;
    finish(ctx, st, action, &subjects, outcome).await
}

fn sender<'a>(ctx: &'a Ctx<'_>) -> Sender<'a> {
    Sender {
        provider: ctx.provider,
        wallet: ctx.wallet,
        from: ctx.from,
        cfg: ctx.cfg,
    }
}

/// The hook that records each signed version before it is broadcast: the first as the `sent`
/// row of `action` on `subjects`, a replacement as that row's newest hash.
fn record_version<'a>(
    action: Action,
    subjects: &'a [String],
    note: &'a str,
) -> impl FnMut(&mut Store, &Signed) -> Result<()> + 'a {
    move |st, s| {
        let hash = format!("{}", s.hash);
        match s.replaces {
            None => {
                crash_point("maint-before-record");
                maintenance::record_sent(st, &hash, action, subjects, s.nonce, note)
            }
            Some(old) => maintenance::follow_version(
                st,
                s.nonce,
                &hash,
                &format!(
                    "replaces {old} (max fee {} wei, priority {} wei)",
                    s.max_fee, s.max_priority_fee
                ),
            ),
        }
    }
}

/// Records the outcome of a followed maintenance transaction (module docs).
async fn finish(
    ctx: &Ctx<'_>,
    st: &Store,
    action: Action,
    subjects: &[String],
    outcome: Result<Mined>,
) -> Result<Sent> {
    let m = match outcome {
        Ok(m) => m,
        Err(e @ (Error::TxDropped { .. } | Error::NonceTaken { .. })) => {
            if let Some(nonce) = outcome_nonce(&e) {
                maintenance::settle_nonce(st, nonce, TxState::Dropped, &e.to_string())?;
            }
            return Err(e);
        }
        Err(e) => return Err(e),
    };
    crash_point("maint-after-receipt");
    let hash_s = format!("{}", m.hash);
    // The mined version may be an earlier one than the row's newest.
    maintenance::follow_version(st, m.nonce, &hash_s, &format!("mined: nonce {}", m.nonce))?;
    let block = match crate::types::mined(&m.receipt) {
        Ok(block) => block,
        Err(crate::types::Mined::Pending) => unreachable!("the sender returns mined versions only"),
        Err(crate::types::Mined::Reverted { block }) => {
            maintenance::settle(st, &hash_s, TxState::Reverted, Some(block), None)?;
            return Err(Error::Transaction {
                tx: hash_s,
                message: format!("{} reverted in block {block}", action.as_str()),
            });
        }
    };
    apply(st, action, subjects, &hash_s, block)?;
    let note = (m.versions > 1).then(|| format!("mined after {} replacements", m.versions - 1));
    maintenance::settle(
        st,
        &hash_s,
        TxState::Confirmed,
        Some(block),
        note.as_deref(),
    )?;
    ctx.metrics.gauge(
        &format!(
            "signer_agent_maintenance_last_gas{{action=\"{}\"}}",
            action.as_str()
        ),
        m.receipt.gas_used as f64,
    );
    Ok(Sent {
        hash: m.hash,
        block,
        gas_used: m.receipt.gas_used,
    })
}

fn outcome_nonce(e: &Error) -> Option<u64> {
    match e {
        Error::TxDropped { nonce, .. } | Error::NonceTaken { nonce, .. } => Some(*nonce),
        _ => None,
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
            maintenance::set_exit_state(
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
            maintenance::set_exit_state(
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

/// Follows every `sent` maintenance transaction (left by a crash or a stop) to its end through
/// the sender, as [`send`] would have (module docs). A dropped one is settled `dropped` and its
/// duty decides again; a nonce used from outside stops the agent.
pub async fn reconcile(ctx: &Ctx<'_>, st: &mut Store) -> Result<usize> {
    let mut n = 0;
    for t in maintenance::transactions(st, true)? {
        let Some(nonce) = t.nonce else {
            maintenance::settle(
                st,
                &t.hash,
                TxState::Dropped,
                None,
                Some("no nonce recorded"),
            )?;
            n += 1;
            continue;
        };
        if crate::replace::versions(st, ctx.from, nonce)?.is_empty() {
            // Every version is recorded before the row (the sender's order): nothing to follow.
            maintenance::settle(
                st,
                &t.hash,
                TxState::Dropped,
                None,
                Some("no signed version recorded"),
            )?;
            n += 1;
            continue;
        }
        let mut hook = record_version(t.action, &t.subjects, "");
        let outcome = sender(ctx).follow(st, nonce, &mut hook).await;
        match finish(ctx, st, t.action, &t.subjects, outcome).await {
            Ok(s) => {
                tracing::info!(tx = %s.hash, action = t.action.as_str(), block = s.block, "maintenance transaction sent before the restart: mined");
            }
            Err(Error::TxDropped { tx, nonce }) => {
                tracing::warn!(%tx, nonce, action = t.action.as_str(), "maintenance transaction sent before the restart was dropped: decided again");
            }
            Err(Error::Transaction { tx, message }) => {
                tracing::error!(%tx, %message, action = t.action.as_str(), "maintenance transaction sent before the restart");
            }
            Err(e) => return Err(e),
        }
        n += 1;
    }
    if n > 0 {
        tracing::info!(
            settled = n,
            "settled maintenance transactions from the chain"
        );
    }
    Ok(n)
}
