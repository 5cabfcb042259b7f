//! Transactions that survive a real mempool. Every transaction the agent sends (stake, oracle
//! report, cluster fee sync, the maintenance calls) goes through [`Sender`]:
//!
//! 1. it is signed (through the policy signer) with the node's fee estimate within the caps, and
//!    recorded in the state store's `transactions` table — nonce, calldata, fees — *before* it
//!    is broadcast (the caller's hook records what the transaction is for, e.g. `sent`
//!    validators, in the same step);
//! 2. it is followed until mined: not mined after `gas.replace_after_blocks` blocks, it is
//!    replaced — the same nonce, calldata and gas limit, both fees bumped by
//!    `gas.replacement_bump_percent` (at least the 10 % nodes require) or to the node's current
//!    estimate if higher, never above the fee caps (when the caps leave no room for a valid
//!    bump it keeps waiting); each replacement is recorded before it is broadcast;
//! 3. whichever of its versions is mined is the outcome. When none of them is mined and the
//!    node no longer knows any of them while the nonce is still unused, the transaction was
//!    dropped ([`Error::TxDropped`]: the caller makes its work eligible again and plans anew,
//!    reusing that nonce). When the account's nonce moved past it without any of its versions
//!    being mined, someone else used the key's nonce ([`Error::NonceTaken`]: the agent stops).
//!
//! Crash safety: every version of a nonce is in the store before it can reach the network, so
//! after a restart [`Sender::follow`] resumes the nonce and every hash that could be mined is
//! known; the PoolManager refuses a key staked before, and one nonce mines once.

use std::time::Duration;

use alloy::eips::eip2718::Encodable2718;
use alloy::network::{EthereumWallet, NetworkTransactionBuilder, TransactionBuilder};
use alloy::primitives::{Address, Bytes, B256, U256};
use alloy::providers::{DynProvider, Provider};
use alloy::rpc::types::{TransactionReceipt, TransactionRequest};

use crate::config::{Config, GasCaps, MIN_REPLACEMENT_BUMP_PERCENT};
use crate::error::{Error, Result};
use crate::store::db::{args, DbResult, Row as DbRow};
use crate::store::Store;

/// What a transaction is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Stake,
    Report,
    Sync,
    /// A maintenance call (top-up, reactivation, exits, removal, funding, reshare).
    Maintenance,
}

impl Kind {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Kind::Stake => "stake",
            Kind::Report => "report",
            Kind::Sync => "sync",
            Kind::Maintenance => "maintenance",
        }
    }

    fn parse(s: &str) -> Kind {
        match s {
            "stake" => Kind::Stake,
            "report" => Kind::Report,
            "maintenance" => Kind::Maintenance,
            _ => Kind::Sync,
        }
    }

    /// The fault-injection point `name` for this kind (maintenance points are `maint-…`).
    fn point(self, name: &str) -> String {
        match self {
            Kind::Maintenance => format!("maint-{name}"),
            _ => name.to_owned(),
        }
    }
}

/// A transaction to send.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub kind: Kind,
    pub to: Address,
    pub input: Bytes,
    pub value: U256,
    pub gas_limit: u64,
    /// The validators a stake carries (`0x` hex).
    pub pubkeys: Vec<String>,
}

/// One signed version of a nonce, as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signed {
    pub hash: B256,
    pub nonce: u64,
    pub max_fee: u128,
    pub max_priority_fee: u128,
    /// The version it replaces.
    pub replaces: Option<B256>,
}

/// The mined version of a nonce.
#[derive(Debug, Clone)]
pub struct Mined {
    pub hash: B256,
    pub nonce: u64,
    pub receipt: TransactionReceipt,
    /// Versions signed for the nonce (1 = never replaced).
    pub versions: usize,
}

/// A recorded transaction row.
#[derive(Debug, Clone)]
pub struct Row {
    pub hash: B256,
    pub nonce: u64,
    pub kind: String,
    pub to: Address,
    pub input: Bytes,
    pub value: U256,
    pub gas_limit: u64,
    pub max_fee: u128,
    pub max_priority_fee: u128,
    pub pubkeys: Vec<String>,
    pub state: String,
}

fn row(r: &DbRow) -> DbResult<Row> {
    let s = |i: usize| r.get::<String>(i);
    Ok(Row {
        hash: s(0)?.parse().unwrap_or_default(),
        nonce: r.get(1)?,
        kind: s(2)?,
        to: s(3)?.parse().unwrap_or_default(),
        input: Bytes::from(r.get::<Vec<u8>>(4)?),
        value: s(5)?.parse().unwrap_or_default(),
        gas_limit: r.get(6)?,
        max_fee: s(7)?.parse().unwrap_or_default(),
        max_priority_fee: s(8)?.parse().unwrap_or_default(),
        pubkeys: serde_json::from_str(&s(9)?).unwrap_or_default(),
        state: s(10)?,
    })
}

const COLUMNS: &str =
    "hash, nonce, kind, target, input, value, gas_limit, max_fee, max_priority_fee, pubkeys, state";

/// The recorded transaction `hash`.
pub fn by_hash(store: &Store, hash: &str) -> Result<Option<Row>> {
    store
        .db()
        .query_opt(
            &format!("SELECT {COLUMNS} FROM transactions WHERE hash = ?1"),
            args![hash.to_ascii_lowercase()],
        )
        .and_then(|r| r.map(|r| row(&r)).transpose())
        .map_err(|e| store.error("read a transaction", e))
}

/// Every version recorded for `sender`'s `nonce`, oldest first.
pub fn versions(store: &Store, sender: Address, nonce: u64) -> Result<Vec<Row>> {
    store
        .db()
        .query(
            &format!(
                "SELECT {COLUMNS} FROM transactions WHERE sender = ?1 AND nonce = ?2 ORDER BY seq"
            ),
            args![format!("{sender:#x}"), nonce],
        )
        .and_then(|rows| rows.iter().map(row).collect())
        .map_err(|e| store.error("read transactions", e))
}

fn set_state(store: &Store, sender: Address, nonce: u64, state: &str) -> Result<()> {
    store
        .db()
        .execute(
            "UPDATE transactions SET state = ?3 WHERE sender = ?1 AND nonce = ?2",
            args![format!("{sender:#x}"), nonce, state],
        )
        .map(|_| ())
        .map_err(|e| store.error("update a transaction", e))
}

/// The lowest nonce of `sender` whose transactions were all dropped and that the chain has not
/// used yet (`latest`: the account's mined transaction count): the next transaction reuses it.
pub fn dropped_nonce(store: &Store, sender: Address, latest: u64) -> Result<Option<u64>> {
    store
        .db()
        .query_one(
            "SELECT MIN(nonce) FROM transactions WHERE sender = ?1 AND nonce >= ?2 AND state = 'dropped'",
            args![format!("{sender:#x}"), latest],
        )
        .and_then(|r| r.get::<Option<u64>>(0))
        .map_err(|e| store.error("read dropped transactions", e))
}

/// Fees of a replacement of a version signed at (`max_fee`, `priority`): each bumped by
/// `bump_percent` (rounded up), or the node's estimate when higher, within the caps. `None`
/// when the caps leave no room for the minimum bump nodes accept.
pub fn bumped_fees(
    max_fee: u128,
    priority: u128,
    estimate: (u128, u128),
    caps: &GasCaps,
) -> Option<(u128, u128)> {
    let up = |v: u128, pct: u64| (v * (100 + u128::from(pct))).div_ceil(100);
    let prio = up(priority, caps.replacement_bump_percent)
        .max(estimate.1)
        .min(caps.max_priority_fee_per_gas_wei);
    let max = up(max_fee, caps.replacement_bump_percent)
        .max(estimate.0)
        .max(prio)
        .min(caps.max_fee_per_gas_wei);
    let ok = max >= up(max_fee, MIN_REPLACEMENT_BUMP_PERCENT)
        && prio >= up(priority, MIN_REPLACEMENT_BUMP_PERCENT)
        && prio <= max;
    ok.then_some((max, prio))
}

/// Signs, records (in the state store given to each call), broadcasts and follows
/// transactions of one key.
pub struct Sender<'a> {
    pub provider: &'a DynProvider,
    pub wallet: &'a EthereumWallet,
    pub from: Address,
    pub cfg: &'a Config,
}

/// Called with each version of a nonce after it is recorded and before it is broadcast.
pub type OnSigned<'h> = dyn FnMut(&mut Store, &Signed) -> Result<()> + 'h;

/// Polls on which a nonce must show used, with none of its versions mined, before it counts as
/// taken from outside.
const TAKEN_POLLS: u32 = 3;

/// How often a sent transaction is looked at.
fn poll(cfg: &Config) -> Duration {
    Duration::from_millis((cfg.poll_interval_secs * 1000 / 4).clamp(200, 3_000))
}

impl Sender<'_> {
    async fn latest_nonce(&self) -> Result<u64> {
        self.provider
            .get_transaction_count(self.from)
            .latest()
            .await
            .map_err(|e| Error::rpc("eth_getTransactionCount(latest)", e))
    }

    async fn head(&self) -> Result<u64> {
        self.provider
            .get_block_number()
            .await
            .map_err(|e| Error::rpc("eth_blockNumber", e))
    }

    /// Signs `req` (nonce and fees set) and records it; returns the raw transaction.
    async fn sign_and_record(
        &self,
        store: &Store,
        out: &Outgoing,
        req: TransactionRequest,
        replaces: Option<B256>,
    ) -> Result<(Signed, Vec<u8>)> {
        let nonce = req.nonce.unwrap_or_default();
        let max_fee = req.max_fee_per_gas.unwrap_or_default();
        let prio = req.max_priority_fee_per_gas.unwrap_or_default();
        let envelope = req
            .build(self.wallet)
            .await
            .map_err(|e| Error::signing(self.from, e))?;
        let hash = *envelope.tx_hash();
        store.fenced("record a transaction", |tx| {
            tx.execute(
                "INSERT INTO transactions (hash, sender, nonce, kind, target, input, value, gas_limit, max_fee,
                 max_priority_fee, replaces, pubkeys, signed_at, state)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, 'signed')",
                args![
                    format!("{hash:#x}"),
                    format!("{:#x}", self.from),
                    nonce,
                    out.kind.as_str(),
                    format!("{:#x}", out.to),
                    out.input.to_vec(),
                    out.value.to_string(),
                    out.gas_limit,
                    max_fee.to_string(),
                    prio.to_string(),
                    replaces.map(|h| format!("{h:#x}")),
                    serde_json::to_string(&out.pubkeys).unwrap_or_default(),
                    crate::store::now(),
                ],
            )
            .map(|_| ())
            .map_err(|e| store.error("record a transaction", e))
        })?;
        Ok((
            Signed {
                hash,
                nonce,
                max_fee,
                max_priority_fee: prio,
                replaces,
            },
            envelope.encoded_2718(),
        ))
    }

    fn request(&self, out: &Outgoing) -> TransactionRequest {
        TransactionRequest::default()
            .with_from(self.from)
            .with_to(out.to)
            .with_input(out.input.clone())
            .with_value(out.value)
            .with_chain_id(self.cfg.chain_id)
            .with_gas_limit(out.gas_limit)
    }

    /// Signs `out` with the node's fees (within the caps) and the account's next nonce (or a
    /// dropped one the chain has not used), records it, calls `on_signed` (the caller records
    /// what it is for), broadcasts it and follows it until one version is mined.
    pub async fn send(
        &self,
        store: &mut Store,
        out: &Outgoing,
        on_signed: &mut OnSigned<'_>,
    ) -> Result<Mined> {
        let req = crate::chain::with_capped_fees_and_nonce(
            self.provider,
            self.cfg,
            self.from,
            self.request(out),
            out.gas_limit,
        )
        .await?;
        let latest = self.latest_nonce().await?;
        let req = match dropped_nonce(store, self.from, latest)? {
            // Reuse the nonce of a dropped transaction so that it and this one exclude each
            // other, should the dropped one come back.
            Some(n) if Some(n) < req.nonce => req.with_nonce(n),
            _ => req,
        };
        let (signed, raw) = self.sign_and_record(store, out, req, None).await?;
        on_signed(store, &signed)?;
        crate::fault::crash_point(&out.kind.point("before-send"));
        let sent_at = self.head().await?;
        if let Err(e) = self.provider.send_raw_transaction(&raw).await {
            set_state(store, self.from, signed.nonce, "failed")?;
            return Err(Error::Transaction {
                tx: format!("{}", signed.hash),
                message: format!("broadcast failed: {}", crate::redact::scrub(&e.to_string())),
            });
        }
        set_state(store, self.from, signed.nonce, "broadcast")?;
        tracing::info!(tx = %signed.hash, nonce = signed.nonce, kind = out.kind.as_str(), "transaction sent");
        crate::fault::crash_point(&out.kind.point("after-send"));
        self.follow_from(store, signed.nonce, sent_at, on_signed)
            .await
    }

    /// Resumes following `nonce` (after a restart): waits, replaces, settles.
    pub async fn follow(
        &self,
        store: &mut Store,
        nonce: u64,
        on_signed: &mut OnSigned<'_>,
    ) -> Result<Mined> {
        let head = self.head().await?;
        if let Some(last) = versions(store, self.from, nonce)?.last() {
            tracing::info!(tx = %last.hash, nonce, "following a transaction sent before the restart");
        }
        self.follow_from(store, nonce, head, on_signed).await
    }

    async fn follow_from(
        &self,
        store: &mut Store,
        nonce: u64,
        mut last_sent: u64,
        on_signed: &mut OnSigned<'_>,
    ) -> Result<Mined> {
        let mut unknown_polls = 0u32;
        let mut taken_polls = 0u32;
        let mut warned_caps = false;
        loop {
            let all = versions(store, self.from, nonce)?;
            if all.is_empty() {
                return Err(Error::Transaction {
                    tx: "-".into(),
                    message: format!("no recorded transaction with nonce {nonce}"),
                });
            }
            if let Some(m) = self.mined_version(&all).await? {
                set_state(
                    store,
                    self.from,
                    nonce,
                    if m.receipt.status() {
                        "mined"
                    } else {
                        "reverted"
                    },
                )?;
                return Ok(m);
            }
            let latest = self.latest_nonce().await?;
            if latest > nonce {
                // Used: by one of ours mined just now, or by someone else.
                if let Some(m) = self.mined_version(&all).await? {
                    set_state(store, self.from, nonce, "mined")?;
                    return Ok(m);
                }
                // A node may count the nonce as used before it serves the receipt of the block
                // that used it (anvil under load did): taken only when seen on several polls.
                taken_polls += 1;
                if taken_polls < TAKEN_POLLS {
                    tokio::time::sleep(poll(self.cfg)).await;
                    continue;
                }
                set_state(store, self.from, nonce, "taken")?;
                return Err(Error::NonceTaken {
                    address: self.from,
                    nonce,
                    ours: all
                        .iter()
                        .map(|r| format!("{}", r.hash))
                        .collect::<Vec<_>>()
                        .join(", "),
                });
            }
            let mut known = false;
            for r in &all {
                if self
                    .provider
                    .get_transaction_by_hash(r.hash)
                    .await
                    .map_err(|e| Error::rpc("eth_getTransactionByHash", e))?
                    .is_some()
                {
                    known = true;
                    break;
                }
            }
            if known {
                unknown_polls = 0;
            } else {
                unknown_polls += 1;
                if unknown_polls >= 2 {
                    set_state(store, self.from, nonce, "dropped")?;
                    let last = all
                        .last()
                        .map(|r| format!("{}", r.hash))
                        .unwrap_or_default();
                    tracing::warn!(tx = %last, nonce, "transaction dropped from the mempool without being mined");
                    return Err(Error::TxDropped { tx: last, nonce });
                }
            }
            let head = self.head().await?;
            if known && head >= last_sent + self.cfg.gas.replace_after_blocks {
                let newest = all.last().cloned().expect("not empty");
                match self.replace(store, &newest).await? {
                    Some(raw_signed) => {
                        let (signed, raw) = raw_signed;
                        on_signed(store, &signed)?;
                        crate::fault::crash_point("before-replace-send");
                        match self.provider.send_raw_transaction(&raw).await {
                            Ok(_) => {
                                set_state(store, self.from, nonce, "broadcast")?;
                                tracing::info!(
                                    tx = %signed.hash,
                                    replaces = %newest.hash,
                                    nonce,
                                    max_fee_per_gas = signed.max_fee,
                                    max_priority_fee_per_gas = signed.max_priority_fee,
                                    after_blocks = head - last_sent,
                                    "not mined: replaced with higher fees"
                                );
                            }
                            // The node refused it (e.g. underpriced, or the nonce was just
                            // used): the older versions still stand; look again.
                            Err(e) => {
                                tracing::warn!(tx = %signed.hash, nonce, error = %crate::redact::scrub(&e.to_string()), "replacement refused by the node")
                            }
                        }
                        last_sent = head;
                    }
                    None => {
                        if !warned_caps {
                            tracing::warn!(tx = %newest.hash, nonce, max_fee_per_gas = newest.max_fee, max_priority_fee_per_gas = newest.max_priority_fee, "not mined, and the fee caps leave no room for a replacement: waiting");
                            warned_caps = true;
                        }
                        last_sent = head;
                    }
                }
            }
            tokio::time::sleep(poll(self.cfg)).await;
        }
    }

    /// The first version of `all` with a receipt.
    async fn mined_version(&self, all: &[Row]) -> Result<Option<Mined>> {
        for r in all {
            if let Some(receipt) = self
                .provider
                .get_transaction_receipt(r.hash)
                .await
                .map_err(|e| Error::rpc("eth_getTransactionReceipt", e))?
            {
                // A receipt that names no block is not a mined transaction.
                if crate::types::mined(&receipt) == Err(crate::types::Mined::Pending) {
                    continue;
                }
                return Ok(Some(Mined {
                    hash: r.hash,
                    nonce: r.nonce,
                    receipt,
                    versions: all.len(),
                }));
            }
        }
        Ok(None)
    }

    /// Signs and records a replacement of `newest`, or `None` when the caps leave no room.
    async fn replace(&self, store: &Store, newest: &Row) -> Result<Option<(Signed, Vec<u8>)>> {
        let est = self
            .provider
            .estimate_eip1559_fees()
            .await
            .map_err(|e| Error::rpc("eth_feeHistory", e))?;
        let Some((max_fee, prio)) = bumped_fees(
            newest.max_fee,
            newest.max_priority_fee,
            (est.max_fee_per_gas, est.max_priority_fee_per_gas),
            &self.cfg.gas,
        ) else {
            return Ok(None);
        };
        let out = Outgoing {
            kind: Kind::parse(&newest.kind),
            to: newest.to,
            input: newest.input.clone(),
            value: newest.value,
            gas_limit: newest.gas_limit,
            pubkeys: newest.pubkeys.clone(),
        };
        let req = self
            .request(&out)
            .with_nonce(newest.nonce)
            .with_max_fee_per_gas(max_fee)
            .with_max_priority_fee_per_gas(prio);
        self.sign_and_record(store, &out, req, Some(newest.hash))
            .await
            .map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caps(max: u128, prio: u128) -> GasCaps {
        GasCaps {
            max_fee_per_gas_wei: max,
            max_priority_fee_per_gas_wei: prio,
            max_gas_per_tx: 1,
            replace_after_blocks: 3,
            replacement_bump_percent: 12,
        }
    }

    #[test]
    fn replacements_bump_both_fees_within_the_caps() {
        let g = 1_000_000_000u128;
        // Bumped by 12 %, rounded up.
        assert_eq!(
            bumped_fees(10 * g, g, (0, 0), &caps(200 * g, 3 * g)),
            Some((11_200_000_000, 1_120_000_000))
        );
        // The node's estimate when it is higher.
        assert_eq!(
            bumped_fees(10 * g, g, (50 * g, 2 * g), &caps(200 * g, 3 * g)),
            Some((50 * g, 2 * g))
        );
        // Capped, still a valid bump (≥ 10 %).
        assert_eq!(
            bumped_fees(10 * g, g, (500 * g, 9 * g), &caps(11 * g, 11 * g / 10)),
            Some((11 * g, 11 * g / 10))
        );
        // The caps leave no room for 10 %: no replacement.
        assert_eq!(
            bumped_fees(10 * g, g, (0, 0), &caps(10_900_000_000, 3 * g)),
            None
        );
        assert_eq!(
            bumped_fees(10 * g, 3 * g, (0, 0), &caps(200 * g, 3 * g)),
            None
        );
        // A zero priority fee stays a valid bump at zero.
        assert_eq!(bumped_fees(10, 0, (0, 0), &caps(100, 0)), Some((12, 0)));
    }
}
