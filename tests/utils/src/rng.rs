//! The tests' random stream: one ChaCha20 stream whose seed is printed; `KC_TEST_SEED=<hex>`
//! replays a failing test.

use kc_validator::address::Address;
pub use rand_chacha::rand_core::RngCore;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;

/// The test's random stream (seed printed, or taken from `KC_TEST_SEED`).
pub fn test_rng() -> ChaCha20Rng {
    let seed: [u8; 32] = match std::env::var("KC_TEST_SEED") {
        Ok(h) => hex::decode(h.trim())
            .expect("KC_TEST_SEED is hex")
            .try_into()
            .expect("KC_TEST_SEED is 32 bytes"),
        Err(_) => {
            let mut s = [0u8; 32];
            rand_core::OsRng.fill_bytes(&mut s);
            s
        }
    };
    eprintln!("test seed (KC_TEST_SEED): {}", hex::encode(seed));
    ChaCha20Rng::from_seed(seed)
}

pub fn random_hex(rng: &mut impl RngCore, bytes: usize) -> String {
    let mut b = vec![0u8; bytes];
    rng.fill_bytes(&mut b);
    hex::encode(b)
}

/// A random, EIP-55 checksummed address (never zero).
pub fn random_address(rng: &mut impl RngCore) -> String {
    let mut b = [0u8; 20];
    rng.fill_bytes(&mut b);
    b[0] |= 0x10;
    Address(b).to_checksum()
}

/// `n` distinct operator ids in 1..100000.
pub fn random_ids(rng: &mut impl RngCore, n: usize) -> Vec<u64> {
    let mut ids = std::collections::BTreeSet::new();
    while ids.len() < n {
        ids.insert(1 + rng.next_u64() % 99_999);
    }
    // Shuffle-ish: the file lists them in an arbitrary order, the ceremony sorts.
    let mut v: Vec<u64> = ids.into_iter().collect();
    v.rotate_left(n / 2);
    v
}
