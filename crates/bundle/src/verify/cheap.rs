//! Cheap checks of one entry of `deposit_data.json` or `keyshares.json` (text and hashing
//! only, no point decoded), and its Merkle leaf from the bytes as written.

use kc_ssv::{KeySharesItem, SharesData};
use kc_validator::deposit::RawDeposit;

use crate::manifest::{sha256_hex, ValidatorEntry};
use crate::merkle::{self, LeafInput};

use super::crypto::Fails;
use super::entries::Reference;

/// A lower-case hex field of `len` bytes, or why not.
pub(super) fn hex_shape(value: &str, len: usize) -> Result<(), String> {
    if value.len() != 2 * len {
        return Err(format!("{} hex digits, expected {}", value.len(), 2 * len));
    }
    if let Some(c) = value.chars().find(|c| !matches!(c, '0'..='9' | 'a'..='f')) {
        return Err(format!("{c:?} is not a lower-case hex digit"));
    }
    Ok(())
}

/// Cheap checks of one deposit entry: hex shapes, every field against the plan and the
/// manifest, and both roots recomputed from the bytes (hashing only).
pub(super) fn cheap_deposit(
    i: usize,
    d: &RawDeposit,
    v: &ValidatorEntry,
    r: &Reference<'_>,
    fails: &mut Fails,
) {
    let f = |name: &str| format!("[{i}].{name}");
    let before = fails.len();
    for (name, value, len) in [
        ("pubkey", &d.pubkey, 48),
        ("withdrawal_credentials", &d.withdrawal_credentials, 32),
        ("signature", &d.signature, 96),
        ("deposit_message_root", &d.deposit_message_root, 32),
        ("deposit_data_root", &d.deposit_data_root, 32),
        ("fork_version", &d.fork_version, 4),
    ] {
        if let Err(e) = hex_shape(value, len) {
            fails.push(f(name), e);
        }
    }
    if d.pubkey != v.pubkey {
        fails.push(
            f("pubkey"),
            format!("{}, manifest says {}", d.pubkey, v.pubkey),
        );
    }
    if d.withdrawal_credentials != r.wc {
        fails.push(
            f("withdrawal_credentials"),
            format!("{}, the plan gives {}", d.withdrawal_credentials, r.wc),
        );
    }
    if d.amount != r.plan.amount_gwei() {
        fails.push(
            f("amount"),
            format!("{}, the plan gives {}", d.amount, r.plan.amount_gwei()),
        );
    }
    if d.fork_version != r.fork {
        fails.push(
            f("fork_version"),
            format!("{}, the plan's network has {}", d.fork_version, r.fork),
        );
    }
    if d.network_name != r.network {
        fails.push(
            f("network_name"),
            format!(
                "{:?}, the plan's network is {:?}",
                d.network_name, r.network
            ),
        );
    }
    if d.deposit_data_root != v.deposit_data_root {
        fails.push(
            f("deposit_data_root"),
            format!(
                "{}, manifest says {}",
                d.deposit_data_root, v.deposit_data_root
            ),
        );
    }
    if fails.len() == before {
        if let Err(e) = d.check_roots() {
            fails.push(format!("[{i}]"), e.to_string());
        }
    }
}

/// Cheap checks of one keyshares entry: every field against the plan and the manifest, and
/// sharesData's length and SHA-256. Returns the decoded sharesData (bytes split, no points).
pub(super) fn cheap_keyshare(
    i: usize,
    item: &KeySharesItem,
    v: &ValidatorEntry,
    r: &Reference<'_>,
    fails: &mut Fails,
) -> Option<SharesData> {
    let f = |name: &str| format!("shares[{i}].{name}");
    let pk_hex = format!("0x{}", v.pubkey);
    if item.data.public_key != pk_hex {
        fails.push(
            f("data.publicKey"),
            format!("{}, manifest says {pk_hex}", item.data.public_key),
        );
    }
    if item.payload.public_key != pk_hex {
        fails.push(
            f("payload.publicKey"),
            format!("{}, manifest says {pk_hex}", item.payload.public_key),
        );
    }
    if item.data.owner_address != r.owner {
        fails.push(
            f("data.ownerAddress"),
            format!(
                "{}, the plan's owner is {}",
                item.data.owner_address, r.owner
            ),
        );
    }
    if item.data.owner_nonce != v.owner_nonce {
        fails.push(
            f("data.ownerNonce"),
            format!("{}, manifest says {}", item.data.owner_nonce, v.owner_nonce),
        );
    }
    if item.payload.operator_ids != r.ids {
        fails.push(
            f("payload.operatorIds"),
            format!(
                "{:?}, the cluster is {:?}",
                item.payload.operator_ids, r.ids
            ),
        );
    }
    let listed = item
        .data
        .operators
        .iter()
        .map(|o| (o.id, o.operator_key.as_str()));
    if !listed.eq(r.keys.iter().copied()) {
        fails.push(
            f("data.operators"),
            "operator ids or keys differ from operators.json".into(),
        );
    }
    match SharesData::from_hex(&item.payload.shares_data, r.ids.len(), &pk_hex) {
        Ok(sd) => {
            let digest = sha256_hex(&sd.to_bytes());
            if digest != v.shares_data_sha256 {
                fails.push(
                    f("payload.sharesData"),
                    format!("SHA-256 {digest}, manifest says {}", v.shares_data_sha256),
                );
            }
            Some(sd)
        }
        Err(e) => {
            fails.push(f("payload.sharesData"), e.to_string());
            None
        }
    }
}

/// The Merkle leaf of one validator from the bytes as written (hex decoded, nothing else).
pub(super) fn raw_leaf(d: &RawDeposit, shares_data: &[u8], ids: &[u64]) -> Option<merkle::Hash> {
    let pubkey = hex::decode(&d.pubkey).ok()?;
    let signature = hex::decode(&d.signature).ok()?;
    let root: [u8; 32] = hex::decode(&d.deposit_data_root).ok()?.try_into().ok()?;
    if pubkey.len() != 48 || signature.len() != 96 || shares_data.is_empty() {
        return None;
    }
    Some(merkle::leaf_hash(&LeafInput {
        pubkey: &pubkey,
        signature: &signature,
        deposit_data_root: &root,
        operator_ids: ids,
        shares_data,
    }))
}
