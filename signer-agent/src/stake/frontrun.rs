//! Deposit front-running (SECURITY.md finding 4): the deposit contract's `DepositEvent`s for the
//! pool's keys that the pool did not make, scanned incrementally with a reorg-safe cursor.

use alloy::primitives::{keccak256, Address};
use alloy::rpc::types::Filter;
use alloy::sol_types::SolEvent;

use crate::chain::IDepositContract;
use crate::error::{Error, Result};
use crate::store::{Status, Store, ValidatorRow};
use crate::types::FrontRunDeposit;

pub use crate::logscan::rescan_depth;

/// Every `DepositEvent` of `deposit_contract` in blocks `from..=to` whose pubkey is one of
/// `pubkeys` (`0x` hex, lowercase). `DepositEvent` has no indexed field, so every event in the
/// range is read (through the chunked [`crate::logscan::Scanner`]) and decoded, chunk by chunk;
/// only the matches are kept.
pub async fn front_run_deposits(
    scanner: &crate::logscan::Scanner,
    deposit_contract: Address,
    from: u64,
    to: u64,
    pubkeys: &[&str],
) -> Result<Vec<FrontRunDeposit>> {
    let mut found = Vec::new();
    let filter = Filter::new()
        .address(deposit_contract)
        .event_signature(IDepositContract::DepositEvent::SIGNATURE_HASH);
    scanner
        .scan("DepositEvent", &filter, from, to, |_, _, logs| {
            found.extend(front_run_in(&logs, pubkeys)?);
            Ok(())
        })
        .await?;
    Ok(found)
}

/// The `DepositEvent`s among `logs` whose pubkey is one of `pubkeys` (`0x` hex, any case). An
/// undecodable event from the deposit contract is an error, not a proof of absence.
pub fn front_run_in(
    logs: &[alloy::rpc::types::Log],
    pubkeys: &[&str],
) -> Result<Vec<FrontRunDeposit>> {
    let mut found = Vec::new();
    for log in logs {
        let ev = IDepositContract::DepositEvent::decode_log_data(log.data())
            .map_err(|e| Error::rpc("decode DepositEvent", e))?;
        let pk = format!("0x{}", hex::encode(&ev.pubkey));
        if pubkeys.iter().any(|p| p.eq_ignore_ascii_case(&pk)) {
            found.push(FrontRunDeposit {
                pubkey: pk,
                tx: log.transaction_hash.map(|h| format!("{h}")),
                block: log.block_number,
                withdrawal_credentials: format!("0x{}", hex::encode(&ev.withdrawal_credentials)),
            });
        }
    }
    Ok(found)
}

/// Digest of every imported validator pubkey: the cursor is valid only for the keys it scanned
/// for, and an import (which only ever adds keys) changes it.
pub fn keys_digest(all: &[ValidatorRow]) -> String {
    let mut keys: Vec<String> = all.iter().map(|v| v.pubkey.to_ascii_lowercase()).collect();
    keys.sort();
    format!("{}", keccak256(keys.join(",").as_bytes()))
}

/// The first block the next scan must read, up to head `at`: from the deploy block when there
/// is no usable cursor (none, another deposit contract or deploy block, new keys imported, or a
/// head that went back below the rescan window), else the last `depth` blocks under the cursor
/// and everything after it.
pub fn scan_start(
    cursor: Option<&crate::store::DepositScan>,
    deposit_contract: &str,
    first_block: u64,
    digest: &str,
    at: u64,
    depth: u64,
) -> u64 {
    let Some(c) = cursor else {
        return first_block;
    };
    if !c.deposit_contract.eq_ignore_ascii_case(deposit_contract)
        || c.first_block != first_block
        || c.keys_digest != digest
    {
        return first_block;
    }
    let from = c
        .last_block
        .saturating_add(1)
        .saturating_sub(depth)
        .max(first_block);
    if at < from {
        // The head is below the window the cursor vouches for: a deep reorg, or another node.
        return first_block;
    }
    from
}

/// Brings the front-running scan up to block `at`: reads the `DepositEvent`s after the stored
/// cursor (re-reading the last [`rescan_depth`] blocks against reorgs), records those for the
/// pool's not-yet-staked keys and advances the cursor, in one store transaction. Returns the
/// range read.
pub async fn scan_deposits(
    scanner: &crate::logscan::Scanner,
    store: &Store,
    deposit_contract: Address,
    first_block: u64,
    at: u64,
    confirmations: u64,
) -> Result<(u64, u64)> {
    let all = store.validators()?;
    let digest = keys_digest(&all);
    let dc = format!("{deposit_contract:#x}");
    let cursor = store.deposit_scan()?;
    let from = scan_start(
        cursor.as_ref(),
        &dc,
        first_block,
        &digest,
        at,
        rescan_depth(confirmations),
    );
    if cursor.is_some() && from == first_block {
        tracing::info!(
            from,
            at,
            "front-running scan: cursor not usable; scanning from the deploy block"
        );
    }
    // Keys the pool has not deposited for (a `sent` key blocks planning, so none is in flight).
    let keys: Vec<&str> = all
        .iter()
        .filter(|v| matches!(v.status, Status::Imported | Status::Reverted))
        .map(|v| v.pubkey.as_str())
        .collect();
    let found = front_run_deposits(scanner, deposit_contract, from, at, &keys).await?;
    store.record_deposit_scan(
        &crate::store::DepositScan {
            deposit_contract: dc,
            first_block,
            keys_digest: digest,
            scanned_from: from,
            last_block: at,
        },
        &found,
    )?;
    tracing::debug!(from, to = at, found = found.len(), "front-running scan");
    Ok((from, at))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::DepositScan;

    fn cursor(last: u64) -> DepositScan {
        DepositScan {
            deposit_contract: "0xaa".into(),
            first_block: 10,
            keys_digest: "0xd".into(),
            scanned_from: 10,
            last_block: last,
        }
    }

    #[test]
    fn the_scan_starts_at_the_cursor_minus_the_reorg_window() {
        let depth = rescan_depth(2);
        assert_eq!(depth, 66);
        // No cursor: from the deploy block.
        assert_eq!(scan_start(None, "0xaa", 10, "0xd", 1000, depth), 10);
        // A cursor: the last 66 blocks again, and whatever is new.
        let c = cursor(1000);
        assert_eq!(scan_start(Some(&c), "0xAA", 10, "0xd", 1010, depth), 935);
        // Close to the deploy block: never below it.
        assert_eq!(
            scan_start(Some(&cursor(40)), "0xaa", 10, "0xd", 50, depth),
            10
        );
        // A head back inside the window (a reorg): from the window, up to the new head.
        assert_eq!(scan_start(Some(&c), "0xaa", 10, "0xd", 990, depth), 935);
        // A head below the window: start over.
        assert_eq!(scan_start(Some(&c), "0xaa", 10, "0xd", 900, depth), 10);
        // New keys imported, another contract, another deploy block: start over.
        assert_eq!(scan_start(Some(&c), "0xaa", 10, "0xe", 1010, depth), 10);
        assert_eq!(scan_start(Some(&c), "0xbb", 10, "0xd", 1010, depth), 10);
        assert_eq!(scan_start(Some(&c), "0xaa", 11, "0xd", 1010, depth), 11);
    }
}
