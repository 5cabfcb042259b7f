//! SSZ hash tree roots of the few fixed-size containers a validator key needs (consensus specs,
//! phase 0): `DepositMessage`, `DepositData`, `SigningData`, `ForkData`, `VoluntaryExit`, and
//! `compute_domain` / `compute_signing_root`.
//!
//! Every field here is a basic type or a fixed byte vector, so each root is a small Merkle tree of
//! 32-byte chunks: `uint64` is 8 little-endian bytes right-padded to 32; `Bytes4` right-padded;
//! `Bytes48` is two chunks, `Bytes96` three (padded to four); a container is the Merkle root of its
//! field roots, padded with zero chunks to a power of two.

use sha2::{Digest, Sha256};

/// `DOMAIN_DEPOSIT`.
pub const DOMAIN_DEPOSIT: [u8; 4] = [0x03, 0, 0, 0];
/// `DOMAIN_VOLUNTARY_EXIT`.
pub const DOMAIN_VOLUNTARY_EXIT: [u8; 4] = [0x04, 0, 0, 0];

const ZERO: [u8; 32] = [0u8; 32];

fn h(a: &[u8; 32], b: &[u8; 32]) -> [u8; 32] {
    let mut s = Sha256::new();
    s.update(a);
    s.update(b);
    s.finalize().into()
}

fn uint64(v: u64) -> [u8; 32] {
    let mut c = [0u8; 32];
    c[..8].copy_from_slice(&v.to_le_bytes());
    c
}

fn chunk(b: &[u8]) -> [u8; 32] {
    let mut c = [0u8; 32];
    c[..b.len()].copy_from_slice(b);
    c
}

/// `hash_tree_root(Bytes48)`.
pub fn bytes48_root(b: &[u8; 48]) -> [u8; 32] {
    h(&chunk(&b[..32]), &chunk(&b[32..]))
}

/// `hash_tree_root(Bytes96)`.
pub fn bytes96_root(b: &[u8; 96]) -> [u8; 32] {
    h(
        &h(&chunk(&b[..32]), &chunk(&b[32..64])),
        &h(&chunk(&b[64..]), &ZERO),
    )
}

/// `hash_tree_root(DepositMessage{pubkey, withdrawal_credentials, amount})`.
pub fn deposit_message_root(
    pubkey: &[u8; 48],
    withdrawal_credentials: &[u8; 32],
    amount_gwei: u64,
) -> [u8; 32] {
    h(
        &h(&bytes48_root(pubkey), withdrawal_credentials),
        &h(&uint64(amount_gwei), &ZERO),
    )
}

/// `hash_tree_root(DepositData{pubkey, withdrawal_credentials, amount, signature})`.
pub fn deposit_data_root(
    pubkey: &[u8; 48],
    withdrawal_credentials: &[u8; 32],
    amount_gwei: u64,
    signature: &[u8; 96],
) -> [u8; 32] {
    h(
        &h(&bytes48_root(pubkey), withdrawal_credentials),
        &h(&uint64(amount_gwei), &bytes96_root(signature)),
    )
}

/// `hash_tree_root(ForkData{current_version, genesis_validators_root})`.
pub fn fork_data_root(current_version: &[u8; 4], genesis_validators_root: &[u8; 32]) -> [u8; 32] {
    h(&chunk(current_version), genesis_validators_root)
}

/// `compute_domain(domain_type, fork_version, genesis_validators_root)`:
/// `domain_type ‖ fork_data_root[..28]`.
pub fn compute_domain(
    domain_type: &[u8; 4],
    fork_version: &[u8; 4],
    genesis_validators_root: &[u8; 32],
) -> [u8; 32] {
    let root = fork_data_root(fork_version, genesis_validators_root);
    let mut d = [0u8; 32];
    d[..4].copy_from_slice(domain_type);
    d[4..].copy_from_slice(&root[..28]);
    d
}

/// The deposit domain: `compute_domain(DOMAIN_DEPOSIT, genesis_fork_version, 0x00…00)`.
pub fn deposit_domain(genesis_fork_version: &[u8; 4]) -> [u8; 32] {
    compute_domain(&DOMAIN_DEPOSIT, genesis_fork_version, &ZERO)
}

/// `hash_tree_root(SigningData{object_root, domain})`.
pub fn signing_root(object_root: &[u8; 32], domain: &[u8; 32]) -> [u8; 32] {
    h(object_root, domain)
}

/// `hash_tree_root(VoluntaryExit{epoch, validator_index})`.
pub fn voluntary_exit_root(epoch: u64, validator_index: u64) -> [u8; 32] {
    h(&uint64(epoch), &uint64(validator_index))
}
