//! `operators export`: the chosen SSV operators' public keys, read from the SSV network contract
//! at one block, written with provenance for the ceremony room
//! (`kc_bundle::operators::OperatorsFile`, the pinned shape).

use std::path::Path;

use alloy::eips::BlockId;
use alloy::primitives::{Address, Bytes};
use alloy::providers::{DynProvider, Provider};
use alloy::rpc::types::Filter;
use alloy::sol_types::{SolEvent, SolValue};
use kc_bundle::operators::{OperatorEntry, OperatorsFile, Provenance};

use crate::chain::{checksum, ISSVNetwork};
use crate::error::{Error, Result};

/// Reads the operators `ids` at the latest block and returns the pinned file (sorted by id).
/// Refuses ids that do not exist or were removed.
pub async fn export(
    provider: &DynProvider,
    chain_id: u64,
    ssv_network: Address,
    ids: &[u64],
) -> Result<OperatorsFile> {
    crate::chain::check_chain(provider, chain_id).await?;
    let block = provider
        .get_block_by_number(alloy::eips::BlockNumberOrTag::Latest)
        .await
        .map_err(|e| Error::rpc("eth_getBlockByNumber(latest)", e))?
        .ok_or_else(|| Error::rpc("eth_getBlockByNumber(latest)", "no block"))?;
    let number = block.header.number;
    let hash = block.header.hash;
    let at = BlockId::number(number);
    let ssv = ISSVNetwork::new(ssv_network, provider.clone());

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
        let filter = Filter::new()
            .address(ssv_network)
            .event_signature(ISSVNetwork::OperatorAdded::SIGNATURE_HASH)
            .topic1(alloy::primitives::B256::left_padding_from(
                &id.to_be_bytes(),
            ))
            .from_block(0)
            .to_block(number);
        let logs = provider
            .get_logs(&filter)
            .await
            .map_err(|e| Error::rpc(format!("eth_getLogs(OperatorAdded, id {id})"), e))?;
        let log = logs.last().ok_or_else(|| Error::Operator {
            id,
            message: "exists but no OperatorAdded event carries its public key".into(),
        })?;
        let public_key =
            operator_key_from_log(log).map_err(|message| Error::Operator { id, message })?;
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

/// The public key text an `OperatorAdded` log carries, or why it carries none.
pub fn operator_key_from_log(log: &alloy::rpc::types::Log) -> std::result::Result<String, String> {
    let ev = ISSVNetwork::OperatorAdded::decode_log_data(log.data())
        .map_err(|e| format!("undecodable OperatorAdded event: {e}"))?;
    public_key_text(&ev.publicKey).ok_or_else(|| "its on-chain public key is not text".to_owned())
}

/// The operator key as the SDK shows it: mainnet stores `abi.encode(string)` in the event's
/// `bytes publicKey`; a plain UTF-8 body is accepted too.
pub fn public_key_text(raw: &Bytes) -> Option<String> {
    if let Ok(s) = String::abi_decode(raw) {
        if !s.is_empty() {
            return Some(s);
        }
    }
    std::str::from_utf8(raw)
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
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
