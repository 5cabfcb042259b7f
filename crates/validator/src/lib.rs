//! Validator key material: BIP-39, EIP-2333/2334 derivation, BLS (blst), deposit data, exits, EIP-2335 keystores.
