//! Settling the state store from the chain (the chain is the truth).

use alloy::primitives::{keccak256, Address, Bytes, B256};
use alloy::providers::{DynProvider, Provider};
use alloy::sol_types::SolEvent;

use crate::chain::IPoolManager;
use crate::config::Contracts;
use crate::error::{Error, Result};
use crate::fault::crash_point;
use crate::store::{Status, Store};
use crate::types::{mined, Mined};

/// The PoolManager's `ValidatorStaked` events (every stake of the pool), from its first block.
pub fn staked_query(c: &Contracts) -> crate::logscan::Query {
    crate::logscan::Query::new("ValidatorStaked", c.pool_manager, c.deploy_block)
        .events(&[IPoolManager::ValidatorStaked::SIGNATURE_HASH])
}

/// Settles every unconfirmed validator from the chain (the chain is the truth): staked on chain
/// → `confirmed`; a `sent` one whose transaction (any version of its nonce) reverted →
/// `reverted`; one whose transaction is gone from the mempool with its nonce unused →
/// `reverted` (dropped); one whose nonce was used by a transaction the agent did not sign →
/// `reverted`, then [`Error::NonceTaken`]; one still in the mempool stays `sent` (the daemon
/// follows it: [`resume`]). Returns how many changed.
pub async fn reconcile(
    events: &crate::logscan::Events,
    contracts: &Contracts,
    store: &mut Store,
    from: Option<Address>,
) -> Result<usize> {
    let provider = events.provider();
    let pm = IPoolManager::new(contracts.pool_manager, provider.clone());
    let mut changed = 0;
    let mut staked_logs: Option<Vec<alloy::rpc::types::Log>> = None;
    let mut taken: Option<Error> = None;
    for v in store.validators()? {
        if v.status == Status::Confirmed {
            continue;
        }
        let pk: Bytes = super::plan::pubkey_bytes(&v.pubkey)?;
        let staked = pm
            .isStaked(pk.clone())
            .call()
            .await
            .map_err(|e| Error::rpc("PoolManager.isStaked", e))?;
        if staked {
            if staked_logs.is_none() {
                let at = events.head().await?;
                staked_logs = Some(events.fetch(&staked_query(contracts), at).await?);
            }
            let topic = keccak256(&pk);
            let (tx, block) = match staked_logs
                .as_deref()
                .unwrap_or_default()
                .iter()
                .rev()
                .find(|l| l.topics().get(2) == Some(&topic))
            {
                Some(l) => (l.transaction_hash.map(|h| format!("{h}")), l.block_number),
                None => (None, None),
            };
            store.set_status(
                std::slice::from_ref(&v.pubkey),
                Status::Confirmed,
                tx.as_deref(),
                block,
                Some("reconciled: staked on chain"),
            )?;
            changed += 1;
            crash_point("during-reconcile");
            continue;
        }
        if v.status != Status::Sent {
            continue;
        }
        let recorded = match v.tx_hash.as_deref() {
            Some(h) => crate::replace::by_hash(store, h)?,
            None => None,
        };
        let outcome = match (recorded, from) {
            (Some(row), Some(sender)) => sent_outcome(provider, store, sender, row.nonce).await?,
            // Recorded by an agent from before the transactions table: its one hash.
            _ => legacy_outcome(provider, v.tx_hash.as_deref(), from).await?,
        };
        let note = match outcome {
            SentOutcome::InFlight => continue,
            SentOutcome::MinedNotStaked => {
                // Cannot happen with this PoolManager; leave it for an operator to look at.
                tracing::error!(pubkey = %v.pubkey, "transaction succeeded but the validator is not staked");
                continue;
            }
            SentOutcome::Reverted => "reconciled: transaction reverted".to_string(),
            SentOutcome::Dropped => "reconciled: transaction never mined (dropped)".to_string(),
            SentOutcome::Taken { nonce, ours } => {
                let e = Error::NonceTaken {
                    address: from.unwrap_or_default(),
                    nonce,
                    ours,
                };
                let note = format!("reconciled: {e}");
                taken.get_or_insert(e);
                note
            }
        };
        store.set_status(
            std::slice::from_ref(&v.pubkey),
            Status::Reverted,
            None,
            None,
            Some(&note),
        )?;
        changed += 1;
    }
    match taken {
        Some(e) => Err(e),
        None => Ok(changed),
    }
}

/// What became of a `sent` transaction that did not stake its validators.
enum SentOutcome {
    InFlight,
    Reverted,
    MinedNotStaked,
    Dropped,
    Taken { nonce: u64, ours: String },
}

async fn sent_outcome(
    provider: &DynProvider,
    store: &Store,
    sender: Address,
    nonce: u64,
) -> Result<SentOutcome> {
    let all = crate::replace::versions(store, sender, nonce)?;
    for r in &all {
        if let Some(rc) = provider
            .get_transaction_receipt(r.hash)
            .await
            .map_err(|e| Error::rpc("eth_getTransactionReceipt", e))?
        {
            match mined(&rc) {
                Ok(_) => return Ok(SentOutcome::MinedNotStaked),
                Err(Mined::Reverted { .. }) => return Ok(SentOutcome::Reverted),
                Err(Mined::Pending) => {}
            }
        }
    }
    let latest = provider
        .get_transaction_count(sender)
        .latest()
        .await
        .map_err(|e| Error::rpc("eth_getTransactionCount", e))?;
    if latest > nonce {
        return Ok(SentOutcome::Taken {
            nonce,
            ours: all
                .iter()
                .map(|r| format!("{}", r.hash))
                .collect::<Vec<_>>()
                .join(", "),
        });
    }
    for r in &all {
        if provider
            .get_transaction_by_hash(r.hash)
            .await
            .map_err(|e| Error::rpc("eth_getTransactionByHash", e))?
            .is_some()
        {
            return Ok(SentOutcome::InFlight);
        }
    }
    Ok(SentOutcome::Dropped)
}

async fn legacy_outcome(
    provider: &DynProvider,
    hash: Option<&str>,
    from: Option<Address>,
) -> Result<SentOutcome> {
    let hash: Option<B256> = hash.and_then(|h| h.parse().ok());
    if let Some(h) = hash {
        if let Some(r) = provider
            .get_transaction_receipt(h)
            .await
            .map_err(|e| Error::rpc("eth_getTransactionReceipt", e))?
        {
            match mined(&r) {
                Ok(_) => return Ok(SentOutcome::MinedNotStaked),
                Err(Mined::Reverted { .. }) => return Ok(SentOutcome::Reverted),
                Err(Mined::Pending) => {}
            }
        }
    }
    // Never mined. If the account has nothing pending, it never will be.
    let Some(a) = from else {
        return Ok(SentOutcome::InFlight);
    };
    let latest = provider
        .get_transaction_count(a)
        .latest()
        .await
        .map_err(|e| Error::rpc("eth_getTransactionCount", e))?;
    let pending = provider
        .get_transaction_count(a)
        .pending()
        .await
        .map_err(|e| Error::rpc("eth_getTransactionCount", e))?;
    Ok(if latest == pending {
        SentOutcome::Dropped
    } else {
        SentOutcome::InFlight
    })
}
