//! Built-in network profiles: the public contracts of a network, so that a configuration names
//! `network = "hoodi"` and only the pool's own contracts (PoolManager, PoolETH, Oracle).
//!
//! Sources (checked by `tests/it/profiles.rs` against the installed SSV SDK and the committed
//! consensus configs):
//! - SSVNetwork ("setter"), SSVNetworkViews ("getter") and the SSV token: `@ssv-labs/ssv-sdk`
//!   0.1.0, `dist/globals-*.js` `contracts[chainId]`;
//! - the SSV network's first block: the SSV node's `RegistrySyncOffset` (ssvlabs/ssv
//!   `networkconfig/mainnet.go` 17,507,487; `networkconfig/hoodi.go` 1,065);
//! - the deposit contract and its chain: `DEPOSIT_CONTRACT_ADDRESS`/`DEPOSIT_CHAIN_ID` of
//!   ethereum/consensus-specs `configs/mainnet.yaml` and eth-clients/hoodi `metadata/config.yaml`;
//! - the genesis fork version: the same configs (`GENESIS_FORK_VERSION`), as ethstaker-deposit
//!   signs deposits for it.

use alloy::primitives::{address, Address};

/// The public contracts and constants of one network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Profile {
    /// `mainnet`, `hoodi` (the bundle manifest's network name).
    pub name: &'static str,
    pub chain_id: u64,
    pub deposit_contract: Address,
    /// SSVNetwork (the SDK's "setter").
    pub ssv_network: Address,
    /// SSVNetworkViews (the SDK's "getter").
    pub ssv_network_views: Address,
    pub ssv_token: Address,
    /// The SSV network's first block: no SSV event is older.
    pub ssv_network_block: u64,
    /// `GENESIS_FORK_VERSION`: deposits are signed for it.
    pub genesis_fork_version: [u8; 4],
}

/// Ethereum mainnet.
pub const MAINNET: Profile = Profile {
    name: "mainnet",
    chain_id: 1,
    deposit_contract: address!("00000000219ab540356cBB839Cbe05303d7705Fa"),
    ssv_network: address!("DD9BC35aE942eF0cFa76930954a156B3fF30a4E1"),
    ssv_network_views: address!("afE830B6Ee262ba11cce5F32fDCd760FFE6a66e4"),
    ssv_token: address!("9D65fF81a3c488d585bBfb0Bfe3c7707c7917f54"),
    ssv_network_block: 17_507_487,
    genesis_fork_version: [0x00, 0x00, 0x00, 0x00],
};

/// The Hoodi testnet.
pub const HOODI: Profile = Profile {
    name: "hoodi",
    chain_id: 560_048,
    deposit_contract: address!("00000000219ab540356cBB839Cbe05303d7705Fa"),
    ssv_network: address!("58410Bef803ECd7E63B23664C586A6DB72DAf59c"),
    ssv_network_views: address!("5AdDb3f1529C5ec70D77400499eE4bbF328368fe"),
    ssv_token: address!("9F5d4Ec84fC4785788aB44F9de973cF34F7A038e"),
    ssv_network_block: 1_065,
    genesis_fork_version: [0x10, 0x00, 0x09, 0x10],
};

/// Every built-in profile.
pub const ALL: [&Profile; 2] = [&MAINNET, &HOODI];

/// The profile called `name` (case-insensitive).
pub fn by_name(name: &str) -> Option<&'static Profile> {
    ALL.iter()
        .copied()
        .find(|p| p.name.eq_ignore_ascii_case(name.trim()))
}

/// The profile of `chain_id`.
pub fn by_chain_id(chain_id: u64) -> Option<&'static Profile> {
    ALL.iter().copied().find(|p| p.chain_id == chain_id)
}

/// Chains with a long public history (mainnet, and the public testnets Sepolia, Holesky,
/// Hoodi): an event scan there must never start at block 0.
pub fn is_public_chain(chain_id: u64) -> bool {
    matches!(chain_id, 1 | 11_155_111 | 17_000 | 560_048)
}

impl Profile {
    /// The genesis fork version as the manifest writes it (8 hex digits, no `0x`).
    pub fn fork_version_hex(&self) -> String {
        hex::encode(self.genesis_fork_version)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_are_found_by_name_and_chain() {
        assert_eq!(by_name("Hoodi"), Some(&HOODI));
        assert_eq!(by_name("mainnet"), Some(&MAINNET));
        assert_eq!(by_name("sepolia"), None);
        assert_eq!(by_chain_id(560_048), Some(&HOODI));
        assert_eq!(by_chain_id(31_337), None);
        assert!(is_public_chain(1) && is_public_chain(560_048) && !is_public_chain(31_337));
        assert_eq!(HOODI.fork_version_hex(), "10000910");
    }
}
