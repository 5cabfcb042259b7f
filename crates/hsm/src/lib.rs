//! The only crate that touches PKCS#11 (cryptoki): tokens, sessions, seal and identity keys, transaction keys.
