//! The operators file carried into the ceremony room: which SSV operators, their RSA public keys
//! as published on chain, and where they were read (provenance).
//!
//! Written by `signer-agent operators export`, read by the ceremony. Two shapes are accepted:
//! the pinned one, `{"provenance": {...}, "operators": [{"id", "public_key"}, ...]}`, and a bare
//! list `[{"id", "public_key"}, ...]` (unpinned: the plan must say `allow_unpinned_operators`).

use std::collections::BTreeSet;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::Error;

/// One operator as published on the SSV network contract.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OperatorEntry {
    pub id: u64,
    /// The operator's public key as on chain: base64 of a PEM text.
    pub public_key: String,
}

/// Where the keys were read: enough to re-read them from the chain and compare.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Provenance {
    pub chain_id: u64,
    /// The SSV network contract the keys were read from (0x-prefixed, checksummed).
    pub ssv_network: String,
    pub block_number: u64,
    /// 0x-prefixed block hash.
    pub block_hash: String,
    /// When the export ran (RFC 3339, UTC).
    pub exported_at: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct PinnedFile {
    provenance: Provenance,
    operators: Vec<OperatorEntry>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum AnyShape {
    Pinned(PinnedFile),
    Bare(Vec<OperatorEntry>),
}

/// A checked operators file: a valid cluster size, unique non-zero ids, every key an RSA-2048
/// key, sorted by id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperatorsFile {
    pub provenance: Option<Provenance>,
    pub operators: Vec<OperatorEntry>,
}

impl OperatorsFile {
    pub fn load(path: &Path) -> Result<Self, Error> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::Io {
            path: path.to_owned(),
            action: "read the operators file",
            source: e,
        })?;
        Self::parse(&text).map_err(|message| Error::Operators {
            path: path.to_owned(),
            message,
        })
    }

    /// Parses and checks the text; the error message names the operator or field at fault.
    pub fn parse(text: &str) -> Result<Self, String> {
        Self::parse_unescaped(text).map_err(|m| crate::printable(&m))
    }

    fn parse_unescaped(text: &str) -> Result<Self, String> {
        let shape: AnyShape = serde_json::from_str(text).map_err(|_| {
            // Re-parse as each shape to give the more useful message.
            match serde_json::from_str::<PinnedFile>(text) {
                Err(e) if text.trim_start().starts_with('{') => {
                    format!("not a pinned operators file: {e}")
                }
                _ => match serde_json::from_str::<Vec<OperatorEntry>>(text) {
                    Err(e) => format!("not an operators list: {e}"),
                    Ok(_) => "unreadable operators file".to_owned(),
                },
            }
        })?;
        let (provenance, mut operators) = match shape {
            AnyShape::Pinned(p) => (Some(p.provenance), p.operators),
            AnyShape::Bare(list) => (None, list),
        };
        kc_ssv::shamir::check_cluster_size("operators", operators.len())
            .map_err(|e| e.to_string())?;
        let mut seen = BTreeSet::new();
        for (i, op) in operators.iter().enumerate() {
            if op.id == 0 {
                return Err(format!("operators[{i}].id: operator ids start at 1"));
            }
            if !seen.insert(op.id) {
                return Err(format!(
                    "operators[{i}].id: operator {} is listed twice",
                    op.id
                ));
            }
            kc_ssv::OperatorKey::parse(op.id, &op.public_key)
                .map_err(|e| format!("operators[{i}].public_key (operator {}): {e}", op.id))?;
        }
        if let Some(p) = &provenance {
            check_provenance(p)?;
        }
        operators.sort_by_key(|o| o.id);
        Ok(Self {
            provenance,
            operators,
        })
    }

    /// The operator ids, ascending.
    pub fn ids(&self) -> Vec<u64> {
        self.operators.iter().map(|o| o.id).collect()
    }

    /// The operators' keys as a cluster (its size and distinct keys checked by
    /// [`kc_ssv::Cluster`]).
    pub fn cluster(&self) -> kc_ssv::Result<kc_ssv::Cluster> {
        kc_ssv::Cluster::parse(self.operators.iter().map(|o| (o.id, o.public_key.as_str())))
    }

    /// The pinned JSON text (or the bare list when there is no provenance).
    pub fn to_json(&self) -> String {
        let text = match &self.provenance {
            Some(p) => serde_json::to_string_pretty(&PinnedFile {
                provenance: p.clone(),
                operators: self.operators.clone(),
            }),
            None => serde_json::to_string_pretty(&self.operators),
        };
        text.expect("operators serialize") + "\n"
    }
}

fn check_provenance(p: &Provenance) -> Result<(), String> {
    let hex_field = |name: &str, v: &str, len: usize| -> Result<(), String> {
        let h = v
            .strip_prefix("0x")
            .ok_or_else(|| format!("provenance.{name}: expected 0x-prefixed hex"))?;
        match hex::decode(h) {
            Ok(b) if b.len() == len => Ok(()),
            Ok(b) => Err(format!(
                "provenance.{name}: expected {len} bytes, found {}",
                b.len()
            )),
            Err(e) => Err(format!("provenance.{name}: not hex ({e})")),
        }
    };
    hex_field("ssv_network", &p.ssv_network, 20)?;
    hex_field("block_hash", &p.block_hash, 32)?;
    if p.chain_id == 0 {
        return Err("provenance.chain_id: must not be 0".to_owned());
    }
    Ok(())
}
