//! The one place the maintenance code reads event logs, so that it can move to a chunked,
//! cursor-keeping scanner without touching the duties.

use alloy::providers::{DynProvider, Provider};
use alloy::rpc::types::{Filter, Log};

use crate::error::{Error, Result};

/// Every log matching `filter` (its block range as given; from block 0 when it has none).
/// `what` names the query in errors.
pub async fn get_logs(provider: &DynProvider, filter: Filter, what: &str) -> Result<Vec<Log>> {
    provider
        .get_logs(&filter)
        .await
        .map_err(|e| Error::rpc(format!("eth_getLogs({what})"), e))
}
