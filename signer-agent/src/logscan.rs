//! The one chunked log scanner: every event query of the agent goes through [`Scanner::scan`]
//! (and, for the queries whose results it keeps, [`Events::fetch`] on top of it).
//!
//! Hosted providers cap `eth_getLogs` by block span or by result count and answer with an error
//! instead of results. The scanner asks in chunks of at most `rpc.max_log_range` blocks; on an
//! answer that says "too much" (any JSON-RPC error response, an HTTP 4xx/5xx other than
//! 401/403/404/429, a body that does not parse, a timeout) it halves the chunk and asks again,
//! and it grows the chunk back after successes — up to the largest span that worked when a
//! larger one has failed lately, and probing above it again after [`REGROW_AFTER`] successes.
//! A single block that still fails is an error (nothing to shrink). HTTP 429 waits and retries.
//! Decisions are made on the error's kind and status, never on its text.
//!
//! [`Events`] keeps the logs of a [`Query`] in the state store with a cursor (the last block
//! read and its hash), so that a restart reads only the blocks after it: each fetch reads again
//! the last `depth` blocks under the cursor (reorg-safe overlap, `confirmations + 64`), starts
//! over when the cursor's block hash changed or the head went below the overlap, and never reads
//! below the query's first block (the deployment's, never 0 on a public chain).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use alloy::eips::BlockNumberOrTag;
use alloy::primitives::{keccak256, Address, Bytes, LogData, B256};
use alloy::providers::{DynProvider, Provider};
use alloy::rpc::types::{Filter, Log};
use alloy::transports::{RpcError, TransportError, TransportErrorKind};
use rusqlite::{params, OptionalExtension};

use crate::error::{Error, Result};

/// Blocks below a cursor that every scan reads again: a reorg shallower than this cannot hide an
/// event (a deposit, a validator added) from the scan.
pub fn rescan_depth(confirmations: u64) -> u64 {
    confirmations.saturating_add(64)
}

/// Successes after which a span that failed before is tried again.
pub const REGROW_AFTER: u32 = 64;
/// Waits on HTTP 429 before giving up.
const RATE_LIMIT_RETRIES: u32 = 6;

/// What to do after a failed `eth_getLogs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The provider refused the span or the result size: ask for fewer blocks.
    TooMuch,
    /// Rate limited: wait, then ask again.
    RateLimited,
    /// Anything else: an error.
    Fatal,
}

/// Classifies an `eth_getLogs` failure by its kind and HTTP status.
pub fn classify(e: &TransportError) -> Failure {
    match e {
        RpcError::ErrorResp(_) | RpcError::DeserError { .. } | RpcError::NullResp => {
            Failure::TooMuch
        }
        RpcError::Transport(TransportErrorKind::HttpError(h)) => match h.status {
            429 => Failure::RateLimited,
            401 | 403 | 404 => Failure::Fatal,
            400..=599 => Failure::TooMuch,
            _ => Failure::Fatal,
        },
        RpcError::Transport(TransportErrorKind::Custom(b)) => {
            match b.downcast_ref::<crate::tls::HttpFailure>() {
                Some(crate::tls::HttpFailure::Timeout(_)) => Failure::TooMuch,
                _ => Failure::Fatal,
            }
        }
        _ => Failure::Fatal,
    }
}

/// The chunk size, learned from the provider's answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window {
    /// Blocks of the next request.
    pub span: u64,
    /// The configured maximum.
    pub max: u64,
    /// The largest span that worked since the last failure.
    pub good: u64,
    /// The smallest span that failed lately.
    pub bad: Option<u64>,
    successes: u32,
    /// A probe above `bad` is out: the `bad` to restore if it fails.
    probe: Option<u64>,
}

impl Window {
    pub fn new(max: u64) -> Window {
        let max = max.max(1);
        Window {
            span: max,
            max,
            good: 0,
            bad: None,
            successes: 0,
            probe: None,
        }
    }

    /// After a request of `span` blocks worked.
    pub fn succeeded(&mut self, span: u64) {
        self.good = self.good.max(span);
        self.successes += 1;
        if self.probe.take().is_some() {
            // The probe above the old limit worked: the limit is gone.
            self.bad = None;
        }
        if let Some(b) = self.bad {
            if self.successes >= REGROW_AFTER {
                // Try once above the limit (it may have been a dense range, or it was lifted).
                self.successes = 0;
                self.probe = Some(b);
                self.span = b.max(self.good.saturating_mul(2)).clamp(1, self.max);
                return;
            }
        }
        self.span = match self.bad {
            // Close enough to the limit: stay at what works.
            Some(b) if b <= self.good + (self.good / 8).max(1) => self.good,
            Some(b) => self.good + (b - self.good) / 2,
            None => self.span.saturating_mul(2),
        }
        .clamp(1, self.max);
    }

    /// After a request of `span` blocks was refused as too much; false when there is nothing
    /// left to shrink (one block).
    pub fn refused(&mut self, span: u64) -> bool {
        if span <= 1 {
            return false;
        }
        self.successes = 0;
        if let Some(old) = self.probe.take() {
            // The probe failed: back to what works, the limit as it was.
            self.bad = Some(old.min(span));
            self.span = self.good.clamp(1, span - 1);
            return true;
        }
        self.bad = Some(self.bad.map_or(span, |b| b.min(span)));
        if self.good >= span {
            // Refused below what worked before (a dense range): what worked is not safe.
            self.good = span / 2;
        }
        self.span = if self.good > 0 && self.good < span {
            self.good
        } else {
            span / 2
        }
        .max(1);
        true
    }
}

/// Counters of the scanner (for numbers in tests and benchmarks).
#[derive(Debug, Default)]
pub struct Stats {
    pub requests: AtomicU64,
    pub refused: AtomicU64,
    pub blocks: AtomicU64,
    pub logs: AtomicU64,
}

/// The chunked `eth_getLogs` reader. Clones share the learned window and the counters.
#[derive(Debug, Clone)]
pub struct Scanner {
    provider: DynProvider,
    window: Arc<Mutex<Window>>,
    stats: Arc<Stats>,
}

impl Scanner {
    pub fn new(provider: DynProvider, max_range: u64) -> Scanner {
        Scanner {
            provider,
            window: Arc::new(Mutex::new(Window::new(max_range))),
            stats: Arc::default(),
        }
    }

    pub fn provider(&self) -> &DynProvider {
        &self.provider
    }

    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// The current window.
    pub fn window(&self) -> Window {
        self.window
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn span(&self) -> u64 {
        self.window.lock().unwrap_or_else(|p| p.into_inner()).span
    }

    /// Reads every log matching `filter` (its address and topics; its block range is ignored)
    /// in blocks `from..=to`, chunk by chunk in chain order, handing each chunk's logs (removed
    /// ones dropped) to `each` with the chunk's range. `what` names the query in errors.
    pub async fn scan<F>(
        &self,
        what: &str,
        filter: &Filter,
        from: u64,
        to: u64,
        mut each: F,
    ) -> Result<()>
    where
        F: FnMut(u64, u64, Vec<Log>) -> Result<()>,
    {
        let mut start = from;
        while start <= to {
            let end = to.min(start.saturating_add(self.span() - 1));
            // None: refused as too much; the window shrank, ask again from `start`.
            if let Some(logs) = self.chunk(what, filter, start, end).await? {
                each(start, end, logs)?;
                if end == u64::MAX {
                    break;
                }
                start = end + 1;
            }
        }
        Ok(())
    }

    async fn chunk(
        &self,
        what: &str,
        filter: &Filter,
        start: u64,
        end: u64,
    ) -> Result<Option<Vec<Log>>> {
        let f = filter.clone().from_block(start).to_block(end);
        let n = end - start + 1;
        let mut waits = 0;
        loop {
            self.stats.requests.fetch_add(1, Ordering::Relaxed);
            let e = match self.provider.get_logs(&f).await {
                Ok(logs) => {
                    self.window
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .succeeded(n);
                    self.stats.blocks.fetch_add(n, Ordering::Relaxed);
                    self.stats
                        .logs
                        .fetch_add(logs.len() as u64, Ordering::Relaxed);
                    return Ok(Some(logs.into_iter().filter(|l| !l.removed).collect()));
                }
                Err(e) => e,
            };
            let call = || format!("eth_getLogs({what}, blocks {start}..={end})");
            match classify(&e) {
                Failure::TooMuch => {
                    self.stats.refused.fetch_add(1, Ordering::Relaxed);
                    let shrunk = self
                        .window
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .refused(n);
                    if !shrunk {
                        return Err(Error::rpc(call(), e));
                    }
                    tracing::debug!(
                        what,
                        start,
                        end,
                        next_span = self.span(),
                        error = %crate::redact::scrub(&e.to_string()),
                        "eth_getLogs refused; asking for fewer blocks"
                    );
                    return Ok(None);
                }
                Failure::RateLimited if waits < RATE_LIMIT_RETRIES => {
                    waits += 1;
                    tokio::time::sleep(Duration::from_millis(250 << waits)).await;
                }
                _ => return Err(Error::transport(call(), &e)),
            }
        }
    }

    /// Every log of `filter` in `from..=to`.
    pub async fn logs(&self, what: &str, filter: &Filter, from: u64, to: u64) -> Result<Vec<Log>> {
        let mut out = Vec::new();
        self.scan(what, filter, from, to, |_, _, mut l| {
            out.append(&mut l);
            Ok(())
        })
        .await?;
        Ok(out)
    }
}

/// One event query: an address, the topics at each position (empty: any), the first block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    /// Names the query in errors and logs (`ValidatorStaked`, `OperatorAdded(17)` …).
    pub name: String,
    pub address: Address,
    /// topic0 (event signatures) … topic3; an empty position matches anything.
    pub topics: [Vec<B256>; 4],
    /// No log of this query is older (the deployment's first block).
    pub first_block: u64,
}

impl Query {
    pub fn new(name: impl Into<String>, address: Address, first_block: u64) -> Query {
        Query {
            name: name.into(),
            address,
            topics: Default::default(),
            first_block,
        }
    }

    /// Matches any of `sigs` as topic0.
    pub fn events(mut self, sigs: &[B256]) -> Query {
        self.topics[0] = sigs.to_vec();
        self
    }

    /// Matches `value` at topic position `i` (1..=3).
    pub fn topic(mut self, i: usize, value: B256) -> Query {
        self.topics[i] = vec![value];
        self
    }

    /// The filter (without a block range).
    pub fn filter(&self) -> Filter {
        let mut f = Filter::new().address(self.address);
        for (i, t) in self.topics.iter().enumerate() {
            if t.is_empty() {
                continue;
            }
            f = match i {
                0 => f.event_signature(t.clone()),
                1 => f.topic1(t.clone()),
                2 => f.topic2(t.clone()),
                _ => f.topic3(t.clone()),
            };
        }
        f
    }

    /// The cursor's key: the query's address, topics and first block.
    pub fn key(&self) -> String {
        let mut text = format!("{:#x}|{}", self.address, self.first_block);
        for t in &self.topics {
            let mut t: Vec<String> = t.iter().map(|x| format!("{x:#x}")).collect();
            t.sort();
            text.push('|');
            text.push_str(&t.join(","));
        }
        format!("{}", keccak256(text.as_bytes()))
    }
}

const CACHE_SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS event_cursors (
    query TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    first_block INTEGER NOT NULL,
    last_block INTEGER NOT NULL,
    last_hash TEXT NOT NULL,
    at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS event_logs (
    query TEXT NOT NULL,
    block INTEGER NOT NULL,
    log_index INTEGER NOT NULL,
    block_hash TEXT,
    tx_hash TEXT,
    address TEXT NOT NULL,
    topics TEXT NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (query, block, log_index)
);
"#;

/// A query's cursor: its logs from `first_block` to `last_block` are in the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub first_block: u64,
    pub last_block: u64,
    pub last_hash: String,
}

/// The first block the next fetch reads up to head `to`, and whether the cached logs are
/// dropped first: the query's first block without a usable cursor (none, a head below the
/// overlap, a changed block hash at the cursor), else the last `depth` blocks under the cursor
/// and everything after it.
pub fn fetch_start(
    cursor: Option<&Cursor>,
    first_block: u64,
    to: u64,
    depth: u64,
    cursor_hash_now: Option<&str>,
) -> (u64, bool) {
    let Some(c) = cursor else {
        return (first_block, true);
    };
    if c.first_block != first_block {
        return (first_block, true);
    }
    if let Some(h) = cursor_hash_now {
        if !h.eq_ignore_ascii_case(&c.last_hash) {
            return (first_block, true);
        }
    }
    let from = c
        .last_block
        .saturating_add(1)
        .saturating_sub(depth)
        .max(first_block);
    if to + 1 < from {
        return (first_block, true);
    }
    (from, false)
}

/// Event queries whose logs are kept in the state store (or, without one, read in full each
/// time), all read through one [`Scanner`].
#[derive(Debug, Clone)]
pub struct Events {
    scanner: Scanner,
    cache: Option<Arc<Mutex<rusqlite::Connection>>>,
    cache_path: Option<std::path::PathBuf>,
    /// Blocks under the cursor read again by every fetch.
    pub depth: u64,
}

impl Events {
    /// Without a cache: each fetch reads the query's whole range.
    pub fn uncached(scanner: Scanner, depth: u64) -> Events {
        Events {
            scanner,
            cache: None,
            cache_path: None,
            depth,
        }
    }

    /// With the cache in the state directory's database.
    pub fn cached(scanner: Scanner, state_dir: &std::path::Path, depth: u64) -> Result<Events> {
        let path = state_dir.join("state.sqlite");
        std::fs::create_dir_all(state_dir)
            .map_err(|e| Error::io(state_dir, "create the state directory", e))?;
        let err = |action: &str, source: rusqlite::Error| Error::Store {
            path: path.clone(),
            action: action.into(),
            source: source.into(),
        };
        let conn = rusqlite::Connection::open(&path).map_err(|e| err("open", e))?;
        conn.execute_batch(
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA busy_timeout=10000;",
        )
        .map_err(|e| err("set pragmas", e))?;
        conn.execute_batch(CACHE_SCHEMA)
            .map_err(|e| err("create the event cache", e))?;
        Ok(Events {
            scanner,
            cache: Some(Arc::new(Mutex::new(conn))),
            cache_path: Some(path),
            depth,
        })
    }

    pub fn scanner(&self) -> &Scanner {
        &self.scanner
    }

    pub fn provider(&self) -> &DynProvider {
        self.scanner.provider()
    }

    /// The chain's head block number.
    pub async fn head(&self) -> Result<u64> {
        self.provider()
            .get_block_number()
            .await
            .map_err(|e| Error::transport("eth_blockNumber", &e))
    }

    /// [`Events`] for a configuration: cached in the state store when one is configured.
    pub fn for_config(cfg: &crate::config::Config, provider: &DynProvider) -> Result<Events> {
        let scanner = Scanner::new(provider.clone(), cfg.max_log_range);
        let depth = rescan_depth(cfg.confirmations);
        match cfg.state_dir() {
            Ok(dir) => Events::cached(scanner, dir, depth),
            Err(_) => Ok(Events::uncached(scanner, depth)),
        }
    }

    fn store_err(&self, action: &str, source: rusqlite::Error) -> Error {
        Error::Store {
            path: self.cache_path.clone().unwrap_or_default(),
            action: action.into(),
            source: source.into(),
        }
    }

    async fn block_hash(&self, n: u64) -> Result<String> {
        let b = self
            .provider()
            .get_block_by_number(BlockNumberOrTag::Number(n))
            .await
            .map_err(|e| Error::rpc(format!("eth_getBlockByNumber({n})"), e))?
            .ok_or_else(|| Error::rpc(format!("eth_getBlockByNumber({n})"), "no such block"))?;
        Ok(format!("{:#x}", b.header.hash))
    }

    /// Every log of `q` from its first block up to block `to` (the caller's head), in chain
    /// order. With a cache, only the blocks after the cursor (and the overlap) are read.
    pub async fn fetch(&self, q: &Query, to: u64) -> Result<Vec<Log>> {
        let Some(cache) = &self.cache else {
            if to < q.first_block {
                return Ok(Vec::new());
            }
            return self
                .scanner
                .logs(&q.name, &q.filter(), q.first_block, to)
                .await;
        };
        let key = q.key();
        let cursor = {
            let c = cache.lock().unwrap_or_else(|p| p.into_inner());
            c.query_row(
                "SELECT first_block, last_block, last_hash FROM event_cursors WHERE query = ?1",
                params![key],
                |r| {
                    Ok(Cursor {
                        first_block: r.get::<_, i64>(0)? as u64,
                        last_block: r.get::<_, i64>(1)? as u64,
                        last_hash: r.get(2)?,
                    })
                },
            )
            .optional()
            .map_err(|e| self.store_err("read an event cursor", e))?
        };
        let hash_now = match &cursor {
            Some(c) if c.last_block <= to => Some(self.block_hash(c.last_block).await?),
            _ => None,
        };
        let (from, restart) = fetch_start(
            cursor.as_ref(),
            q.first_block,
            to,
            self.depth,
            hash_now.as_deref(),
        );
        if restart && cursor.is_some() {
            tracing::info!(query = %q.name, from, to, "event cursor not usable (reorg, other first block, or head below it): reading the query again from its first block");
        }
        let fresh = if from <= to {
            self.scanner.logs(&q.name, &q.filter(), from, to).await?
        } else {
            Vec::new()
        };
        let to_hash = if to >= q.first_block || cursor.is_some() {
            self.block_hash(to).await?
        } else {
            String::new()
        };
        let mut c = cache.lock().unwrap_or_else(|p| p.into_inner());
        let tx = c
            .transaction()
            .map_err(|e| self.store_err("begin an event cache update", e))?;
        if restart {
            tx.execute("DELETE FROM event_logs WHERE query = ?1", params![key])
                .map_err(|e| self.store_err("clear the event cache", e))?;
        } else {
            tx.execute(
                "DELETE FROM event_logs WHERE query = ?1 AND block >= ?2",
                params![key, from as i64],
            )
            .map_err(|e| self.store_err("clear the overlap of the event cache", e))?;
        }
        for l in &fresh {
            let topics: Vec<String> = l.topics().iter().map(|t| format!("{t:#x}")).collect();
            tx.execute(
                "INSERT OR REPLACE INTO event_logs (query, block, log_index, block_hash, tx_hash, address, topics, data)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    key,
                    l.block_number.unwrap_or_default() as i64,
                    l.log_index.unwrap_or_default() as i64,
                    l.block_hash.map(|h| format!("{h:#x}")),
                    l.transaction_hash.map(|h| format!("{h:#x}")),
                    format!("{:#x}", l.address()),
                    topics.join(","),
                    l.data().data.to_vec(),
                ],
            )
            .map_err(|e| self.store_err("write the event cache", e))?;
        }
        tx.execute(
            "INSERT INTO event_cursors (query, name, first_block, last_block, last_hash, at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT(query) DO UPDATE SET name = ?2, first_block = ?3, last_block = ?4, last_hash = ?5, at = ?6",
            params![
                key,
                q.name,
                q.first_block as i64,
                to as i64,
                to_hash,
                time::OffsetDateTime::now_utc()
                    .format(&time::format_description::well_known::Rfc3339)
                    .unwrap_or_default()
            ],
        )
        .map_err(|e| self.store_err("write an event cursor", e))?;
        let logs = {
            let mut stmt = tx
                .prepare(
                    "SELECT block, log_index, block_hash, tx_hash, address, topics, data FROM event_logs
                     WHERE query = ?1 AND block <= ?2 ORDER BY block, log_index",
                )
                .map_err(|e| self.store_err("read the event cache", e))?;
            let rows = stmt
                .query_map(params![key, to as i64], |r| {
                    Ok((
                        r.get::<_, i64>(0)? as u64,
                        r.get::<_, i64>(1)? as u64,
                        r.get::<_, Option<String>>(2)?,
                        r.get::<_, Option<String>>(3)?,
                        r.get::<_, String>(4)?,
                        r.get::<_, String>(5)?,
                        r.get::<_, Vec<u8>>(6)?,
                    ))
                })
                .map_err(|e| self.store_err("read the event cache", e))?;
            let mut out = Vec::new();
            for row in rows {
                let (block, index, bh, th, addr, topics, data) =
                    row.map_err(|e| self.store_err("read the event cache", e))?;
                let topics: Vec<B256> = topics
                    .split(',')
                    .filter(|t| !t.is_empty())
                    .filter_map(|t| t.parse().ok())
                    .collect();
                out.push(Log {
                    inner: alloy::primitives::Log {
                        address: addr.parse().unwrap_or_default(),
                        data: LogData::new_unchecked(topics, Bytes::from(data)),
                    },
                    block_hash: bh.and_then(|h| h.parse().ok()),
                    block_number: Some(block),
                    block_timestamp: None,
                    transaction_hash: th.and_then(|h| h.parse().ok()),
                    transaction_index: None,
                    log_index: Some(index),
                    removed: false,
                });
            }
            out
        };
        tx.commit()
            .map_err(|e| self.store_err("commit the event cache", e))?;
        tracing::debug!(query = %q.name, from, to, read = fresh.len(), total = logs.len(), "event query");
        Ok(logs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_halves_on_refusal_and_settles_at_what_works() {
        // A provider that refuses spans over 1,000 blocks.
        let mut w = Window::new(10_000);
        let mut refusals = 0;
        let mut spans = Vec::new();
        for _ in 0..200 {
            let s = w.span;
            spans.push(s);
            if s > 1_000 {
                refusals += 1;
                assert!(w.refused(s));
            } else {
                w.succeeded(s);
            }
        }
        // 10,000 → 5,000 → 2,500 → 1,250 → 625, then up towards 1,000 (binary search between
        // what worked and what failed), settling within 1/8 below the limit.
        let settled = spans[10];
        assert!(settled > 1_000 * 7 / 8 && settled <= 1_000, "{spans:?}");
        assert!(refusals <= 9, "{refusals} refusals: {spans:?}");
        // Then only one probe above the limit every REGROW_AFTER successes.
        let probes: Vec<u64> = spans[10..]
            .iter()
            .copied()
            .filter(|s| *s != settled)
            .collect();
        assert_eq!(probes.len(), 190 / (REGROW_AFTER as usize + 1), "{spans:?}");
        assert!(probes.iter().all(|p| *p > 1_000), "{spans:?}");
    }

    #[test]
    fn a_single_block_cannot_shrink_and_the_window_grows_back() {
        let mut w = Window::new(8);
        assert!(w.refused(8));
        assert_eq!(w.span, 4);
        assert!(w.refused(4));
        assert!(w.refused(2));
        assert_eq!(w.span, 1);
        assert!(!w.refused(1));
        // A sparse range again: the probe above the limit works, and it grows to the maximum.
        for _ in 0..(REGROW_AFTER as usize + 10) {
            let s = w.span;
            w.succeeded(s);
        }
        assert_eq!(w.span, 8);
        assert_eq!(w.bad, None);
    }

    #[test]
    fn refused_below_what_worked_forgets_it() {
        // Result limits depend on density: a span that worked can fail later.
        let mut w = Window::new(1_000);
        w.succeeded(1_000);
        assert!(w.refused(1_000));
        assert_eq!(w.span, 500);
        assert_eq!(w.good, 500);
    }

    #[test]
    fn fetch_starts_at_the_cursor_minus_the_overlap() {
        let c = Cursor {
            first_block: 100,
            last_block: 5_000,
            last_hash: "0xaa".into(),
        };
        assert_eq!(fetch_start(None, 100, 6_000, 66, None), (100, true));
        assert_eq!(
            fetch_start(Some(&c), 100, 6_000, 66, Some("0xAA")),
            (4_935, false)
        );
        // Another block hash at the cursor: a reorg below it.
        assert_eq!(
            fetch_start(Some(&c), 100, 6_000, 66, Some("0xbb")),
            (100, true)
        );
        // Another first block.
        assert_eq!(fetch_start(Some(&c), 90, 6_000, 66, None), (90, true));
        // A head inside the overlap; a head below it.
        assert_eq!(fetch_start(Some(&c), 100, 4_990, 66, None), (4_935, false));
        assert_eq!(fetch_start(Some(&c), 100, 4_000, 66, None), (100, true));
        // Never below the first block.
        let near = Cursor {
            last_block: 120,
            ..c
        };
        assert_eq!(
            fetch_start(Some(&near), 100, 200, 66, Some("0xaa")),
            (100, false)
        );
    }

    #[test]
    fn query_keys_ignore_topic_order_and_name() {
        let a = Address::repeat_byte(1);
        let q1 = Query::new("x", a, 5).events(&[B256::repeat_byte(1), B256::repeat_byte(2)]);
        let q2 = Query::new("y", a, 5).events(&[B256::repeat_byte(2), B256::repeat_byte(1)]);
        assert_eq!(q1.key(), q2.key());
        assert_ne!(q1.key(), Query::new("x", a, 6).events(&q1.topics[0]).key());
        assert_ne!(q1.key(), q1.clone().topic(1, B256::repeat_byte(3)).key());
    }
}
