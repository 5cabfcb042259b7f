//! `operators export`: the chosen SSV operators' public keys, read from the SSV network contract
//! at one block, written with provenance for the ceremony room
//! (`kc_bundle::operators::OperatorsFile`, the pinned shape).

use std::path::Path;

use alloy::eips::BlockId;
use alloy::primitives::Address;
use alloy::providers::Provider;
use kc_bundle::operators::{OperatorEntry, OperatorsFile, Provenance};

use crate::chain::{checksum, ISSVNetwork};
use crate::error::{Error, Result};
pub use crate::ssv::{operator_key_from_log, public_key_text};

/// Reads the operators `ids` at the latest block and returns the pinned file (sorted by id):
/// state from SSVNetworkViews, public keys from SSVNetwork's `OperatorAdded` events (read
/// through the chunked scanner from the SSV network's first block). Refuses ids that do not
/// exist or were removed; a private operator is exported with a warning (the PoolManager must
/// be on its whitelist before the pool stakes into its cluster).
pub async fn export(
    events: &crate::logscan::Events,
    contracts: &crate::config::Contracts,
    chain_id: u64,
    ids: &[u64],
) -> Result<OperatorsFile> {
    let provider = events.provider();
    let ssv_network = contracts.ssv_network;
    crate::chain::check_chain(provider, chain_id).await?;
    let block = provider
        .get_block_by_number(alloy::eips::BlockNumberOrTag::Latest)
        .await
        .map_err(|e| Error::rpc("eth_getBlockByNumber(latest)", e))?
        .ok_or_else(|| Error::rpc("eth_getBlockByNumber(latest)", "no block"))?;
    let number = block.header.number;
    let hash = block.header.hash;
    let at = BlockId::number(number);
    let ssv = ISSVNetwork::new(contracts.ssv_network_views, provider.clone());

    let mut sorted: Vec<u64> = ids.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    if sorted.len() != ids.len() {
        return Err(Error::config("--ids", "an operator id is listed twice"));
    }
    let mut operators = Vec::with_capacity(sorted.len());
    for id in sorted {
        let op = ssv
            .getOperatorById(id)
            .block(at)
            .call()
            .await
            .map_err(|e| Error::rpc(format!("getOperatorById({id})"), e))?;
        if op.owner == Address::ZERO {
            return Err(Error::Operator {
                id,
                message: format!(
                    "does not exist on the SSV network contract {}",
                    checksum(&ssv_network)
                ),
            });
        }
        if !op.active {
            return Err(Error::Operator {
                id,
                message: "was removed from the SSV network".into(),
            });
        }
        if op.isPrivate {
            tracing::warn!(
                operator = id,
                "operator is private: its owner must whitelist the PoolManager (setOperatorsWhitelists) before the pool stakes into its cluster"
            );
        }
        let public_key = crate::ssv::operator_public_key(events, contracts, id, number)
            .await?
            .map_err(|p| Error::Operator {
                id,
                message: p.to_string(),
            })?;
        operators.push(OperatorEntry { id, public_key });
    }
    let exported_at = time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap_or_else(|_| time::OffsetDateTime::now_utc())
        .format(&time::format_description::well_known::Rfc3339)
        .map_err(|e| Error::config("exported_at", e.to_string()))?;
    let file = OperatorsFile {
        provenance: Some(Provenance {
            chain_id,
            ssv_network: checksum(&ssv_network),
            block_number: number,
            block_hash: format!("{hash:#x}"),
            exported_at,
        }),
        operators,
    };
    // Check it as the ceremony will read it (cluster size, key format).
    OperatorsFile::parse(&file.to_json()).map_err(|m| Error::config("--ids", m))
}

/// Writes the file, never overwriting (create_new and fsync, as every bundle file).
pub fn write_new(path: &Path, file: &OperatorsFile) -> Result<()> {
    kc_bundle::fsio::write_new(path, file.to_json().as_bytes()).map_err(|e| match e {
        kc_bundle::Error::Exists { path } => Error::Exists { path },
        kc_bundle::Error::Io {
            path,
            action,
            source,
        } => Error::io(path, action, source),
        other => Error::io(
            path,
            "write the operators file",
            std::io::Error::other(other.to_string()),
        ),
    })
}
