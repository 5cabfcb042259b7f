//! The leadership lease of agents sharing one PostgreSQL store: one row, `leadership`, with
//! the holder, its fencing token (raised by every takeover) and the lease's expiry on the
//! database's clock (one clock for every instance). Only the holder signs; its writes that
//! precede a signature run in fenced transactions ([`super::Store::set_fence`]), so a deposed
//! leader's late write is refused ([`crate::Error::Fenced`]).
//!
//! On SQLite (one host, one agent) there is no lease: the agent always leads, with token 0.

use std::time::Duration;

use super::db::{args, Db};
use super::{DbCtx, Store};
use crate::error::Result;

/// The fencing check of a write that precedes a signature: the lease row of token `$1`, still
/// valid, locked until the transaction ends (a takeover's UPDATE waits for it).
pub(crate) const FENCE_CHECK: &str = "SELECT 1 FROM leadership WHERE id = 1 AND token = ?1 AND expires_at > clock_timestamp() FOR SHARE";

/// Who holds the lease, as one instance sees it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase", tag = "role")]
pub enum Role {
    /// This instance holds the lease under fencing `token`: it may sign.
    Leader { token: i64 },
    /// Another instance holds it (or held it last): this one reads and serves `/health`.
    Standby { holder: String },
}

/// The lease row as the database has it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LeaseInfo {
    /// The holder's name (empty: never taken).
    pub holder: String,
    /// The current fencing token.
    pub token: i64,
    /// Expiry, Unix milliseconds on the database's clock.
    pub expires_at_ms: i64,
    /// Milliseconds until expiry on the database's clock (negative: expired).
    pub remaining_ms: i64,
}

pub(crate) fn acquire(st: &Store, holder: &str, ttl: Duration) -> Result<Role> {
    if let Db::Sqlite(_) = st.db() {
        return Ok(Role::Leader { token: 0 });
    }
    let ttl_ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
    // One statement, one timestamp: renewal keeps the token, a takeover raises it. A
    // concurrent contender waits for the row and re-checks it, so one of them wins.
    let row = st
        .db()
        .query_opt(
            "UPDATE leadership SET
                token = CASE WHEN holder = ?1 AND expires_at > statement_timestamp()
                    THEN token ELSE token + 1 END,
                holder = ?1,
                expires_at = statement_timestamp() + ?2::float8 * interval '1 millisecond'
             WHERE id = 1 AND (holder = ?1 OR expires_at <= statement_timestamp())
             RETURNING token",
            args![holder, ttl_ms],
        )
        .ctx(st, "take or renew the lease")?;
    if let Some(row) = row {
        return Ok(Role::Leader {
            token: row.get(0).ctx(st, "read the lease")?,
        });
    }
    let holder: String = st
        .db()
        .query_one("SELECT holder FROM leadership WHERE id = 1", &[])
        .and_then(|r| r.get(0))
        .ctx(st, "read the lease")?;
    Ok(Role::Standby { holder })
}

pub(crate) fn release(st: &Store, holder: &str, token: i64) -> Result<()> {
    if let Db::Sqlite(_) = st.db() {
        return Ok(());
    }
    st.db()
        .execute(
            "UPDATE leadership SET expires_at = '-infinity' WHERE id = 1 AND holder = ?1 AND token = ?2",
            args![holder, token],
        )
        .map(|_| ())
        .ctx(st, "release the lease")
}

pub(crate) fn holder(st: &Store) -> Result<Option<LeaseInfo>> {
    if let Db::Sqlite(_) = st.db() {
        return Ok(None);
    }
    let row = st
        .db()
        .query_one(
            "SELECT holder, token,
                CASE WHEN expires_at = '-infinity' THEN 0
                    ELSE (extract(epoch FROM expires_at) * 1000)::bigint END,
                CASE WHEN expires_at = '-infinity' THEN -1
                    ELSE (extract(epoch FROM (expires_at - clock_timestamp())) * 1000)::bigint END
             FROM leadership WHERE id = 1",
            &[],
        )
        .ctx(st, "read the lease")?;
    let info = LeaseInfo {
        holder: row.get(0).ctx(st, "read the lease")?,
        token: row.get(1).ctx(st, "read the lease")?,
        expires_at_ms: row.get(2).ctx(st, "read the lease")?,
        remaining_ms: row.get(3).ctx(st, "read the lease")?,
    };
    Ok((!info.holder.is_empty()).then_some(info))
}
