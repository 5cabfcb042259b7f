//! The ceremony bundle: plan, manifest, transcript, Merkle root, sealing, whole-bundle verification.
