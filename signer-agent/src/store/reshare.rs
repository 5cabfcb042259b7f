//! The reshare tables (`reshare_bundles`, `reshares`): an imported reshare bundle's new cluster
//! and operators, its validators and whether each was migrated. Read by the maintenance pass
//! (`crate::maintenance::reshare`) and by the transaction policy, which checks a
//! `reshareValidators` call against them.

use serde::Serialize;

use super::db::args;
use super::maintenance::err;
use super::Store;
use crate::error::Result;

/// State of a reshare validator in the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReshareState {
    Imported,
    Migrated,
}

/// One validator of an imported reshare bundle.
#[derive(Debug, Clone, Serialize)]
pub struct ReshareRow {
    pub pubkey: String,
    pub bundle_id: String,
    pub position: usize,
    pub owner_nonce: u64,
    pub state: ReshareState,
    #[serde(skip)]
    pub shares_data: Vec<u8>,
    #[serde(skip)]
    pub leaf: [u8; 32],
}

/// The imported reshare bundle `id` (root, `0x` hex): its new cluster.
pub fn bundle_cluster(st: &Store, id: &str) -> Result<Option<Vec<u64>>> {
    let raw: Option<String> = st
        .db()
        .query_opt(
            "SELECT operator_ids FROM reshare_bundles WHERE id = ?1",
            args![id.to_ascii_lowercase()],
        )
        .and_then(|r| r.map(|r| r.get(0)).transpose())
        .map_err(|e| err(st, "look up a reshare bundle", e))?;
    raw.map(|s| {
        crate::store::rows::json("operator_ids", &s)
            .map_err(|p| st.row_error("reshare_bundles", id, p))
    })
    .transpose()
}

/// The new cluster's operators as the reshare manifest pins them: (id, key fingerprint).
pub fn bundle_operators(st: &Store, id: &str) -> Result<Vec<(u64, String)>> {
    let raw: Option<String> = st
        .db()
        .query_opt(
            "SELECT operators FROM reshare_bundles WHERE id = ?1",
            args![id.to_ascii_lowercase()],
        )
        .and_then(|r| r.map(|r| r.get(0)).transpose())
        .map_err(|e| err(st, "look up a reshare bundle's operators", e))?;
    match raw {
        Some(s) => crate::store::rows::json("operators", &s)
            .map_err(|p| st.row_error("reshare_bundles", id, p)),
        None => Ok(Vec::new()),
    }
}

/// Every reshare validator, by owner nonce.
pub fn rows(st: &Store) -> Result<Vec<ReshareRow>> {
    let rows = st
        .db()
        .query(
            "SELECT pubkey, bundle_id, position, owner_nonce, state, shares_data, leaf FROM reshares ORDER BY owner_nonce, bundle_id, position",
            &[],
        )
        .map_err(|e| err(st, "query reshares", e))?;
    let mut out = Vec::new();
    for r in rows {
        let read = |e| err(st, "read reshares", e);
        let pubkey: String = r.get(0).map_err(read)?;
        let state: String = r.get(4).map_err(read)?;
        let leaf: Vec<u8> = r.get(6).map_err(read)?;
        let bad = |p| st.row_error("reshares", &pubkey, p);
        out.push(ReshareRow {
            bundle_id: r.get(1).map_err(read)?,
            position: r.get(2).map_err(read)?,
            owner_nonce: r.get(3).map_err(read)?,
            state: match state.as_str() {
                "migrated" => ReshareState::Migrated,
                "imported" => ReshareState::Imported,
                other => return Err(bad(crate::store::RowError::unknown("state", other))),
            },
            shares_data: r.get(5).map_err(read)?,
            leaf: crate::store::rows::blob32("leaf", &leaf).map_err(bad)?,
            pubkey,
        });
    }
    Ok(out)
}

/// Marks `pubkeys` of bundle `id` migrated (idempotent) with a history row each.
pub fn mark_migrated(
    st: &Store,
    id: &str,
    pubkeys: &[String],
    hash: &str,
    block: u64,
) -> Result<()> {
    st.transaction("mark reshares migrated", |tx| {
        for pk in pubkeys {
            let n = tx
                .execute(
                    "UPDATE reshares SET state = 'migrated', tx_hash = ?3 WHERE pubkey = ?1 AND bundle_id = ?2 AND state != 'migrated'",
                    args![pk.to_ascii_lowercase(), id, hash],
                )
                .map_err(|e| err(st, "mark a reshare migrated", e))?;
            if n > 0 {
                tx.execute(
                    "INSERT INTO history (pubkey, status, tx_hash, block_number, at, note) VALUES (?1, 'reshared', ?2, ?3, ?4, ?5)",
                    args![
                        pk.to_ascii_lowercase(),
                        hash,
                        block,
                        crate::store::now(),
                        format!("moved to the cluster of reshare bundle {id}")
                    ],
                )
                .map_err(|e| err(st, "append history", e))?;
            }
        }
        Ok(())
    })
}
