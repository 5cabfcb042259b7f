//! RSA-2048 PKCS#1 v1.5 encryption (RFC 8017 §7.2.1, `RSAES-PKCS1-V1_5-ENCRYPT`) with a fast
//! public operation: the modulus's Montgomery parameters are computed once per key, and
//! `m^e mod n` is a left-to-right square-and-multiply over the bits of the (small, public)
//! exponent, e.g. 16 squarings and 1 multiplication for e = 65537, on `crypto-bigint`'s
//! constant-time Montgomery arithmetic. The general-purpose `rsa` crate spends most of its time
//! in `num-bigint-dig`; this is several times faster for the same bytes.
//!
//! The padding randomness comes from the caller's CSPRNG (`CryptoRngCore`), as before. The
//! message is secret (it holds a key share): the arithmetic is constant-time in it, and every
//! buffer that holds it is wiped.

use crypto_bigint::modular::runtime_mod::{DynResidue, DynResidueParams};
use crypto_bigint::{Encoding, U2048};
use rand_core::CryptoRngCore;
use zeroize::{Zeroize, Zeroizing};

/// The modulus length in bytes.
pub const K: usize = 256;

/// An RSA-2048 public key ready for fast encryption.
#[derive(Clone, Copy)]
pub struct PublicOp {
    params: DynResidueParams<{ U2048::LIMBS }>,
    modulus: U2048,
    e: u64,
}

impl std::fmt::Debug for PublicOp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PublicOp").field("e", &self.e).finish()
    }
}

impl PublicOp {
    /// From the big-endian modulus (exactly 2048 bits, odd) and the public exponent (odd,
    /// at least 3). `None` otherwise.
    pub fn new(modulus_be: &[u8], e: u64) -> Option<Self> {
        if modulus_be.len() != K || modulus_be[0] & 0x80 == 0 || modulus_be[K - 1] & 1 == 0 {
            return None;
        }
        if e < 3 || e & 1 == 0 {
            return None;
        }
        let modulus = U2048::from_be_slice(modulus_be);
        Some(PublicOp {
            params: DynResidueParams::new(&modulus),
            modulus,
            e,
        })
    }

    /// Whether `c` (big-endian, 256 bytes) is below the modulus.
    pub fn below_modulus(&self, c: &[u8; K]) -> bool {
        U2048::from_be_slice(c) < self.modulus
    }

    /// `m^e mod n`, for a message representative `m < n` (big-endian).
    fn raw(&self, m: &[u8; K]) -> [u8; K] {
        let mut int = U2048::from_be_slice(m);
        let mut base = DynResidue::new(&int, self.params);
        int.zeroize();
        let mut acc = base;
        let bits = 64 - self.e.leading_zeros();
        for i in (0..bits - 1).rev() {
            acc = acc.square();
            if (self.e >> i) & 1 == 1 {
                acc = acc.mul(&base);
            }
        }
        base.zeroize();
        let out = acc.retrieve().to_be_bytes();
        acc.zeroize();
        out
    }

    /// `RSAES-PKCS1-V1_5-ENCRYPT(pk, message)`: `0x00 0x02 PS 0x00 message` with PS non-zero
    /// random bytes from `rng` (at least 8), raised to e mod n. The message is at most 245 bytes.
    pub fn encrypt_pkcs1v15(
        &self,
        rng: &mut impl CryptoRngCore,
        message: &[u8],
    ) -> Option<[u8; K]> {
        let ps_len = K.checked_sub(message.len() + 3).filter(|l| *l >= 8)?;
        let mut em = Zeroizing::new([0u8; K]);
        em[1] = 2;
        let ps = &mut em[2..2 + ps_len];
        rng.fill_bytes(ps);
        for b in ps.iter_mut() {
            while *b == 0 {
                let mut one = [0u8; 1];
                rng.fill_bytes(&mut one);
                *b = one[0];
            }
        }
        em[K - message.len()..].copy_from_slice(message);
        Some(self.raw(&em))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_core::{RngCore, SeedableRng};
    use rsa::traits::{PrivateKeyParts, PublicKeyParts};
    use rsa::{BigUint, Pkcs1v15Encrypt, RsaPrivateKey};

    fn key(seed: u64) -> RsaPrivateKey {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(seed);
        RsaPrivateKey::new(&mut rng, 2048).unwrap()
    }

    fn op(k: &RsaPrivateKey) -> PublicOp {
        let e = k
            .e()
            .to_bytes_be()
            .iter()
            .fold(0u64, |a, b| (a << 8) | u64::from(*b));
        PublicOp::new(&k.n().to_bytes_be(), e).unwrap()
    }

    /// The public operation is modular exponentiation, for random messages below n (checked
    /// against num-bigint's modpow), for e = 65537 and for other odd exponents.
    #[test]
    fn raw_operation_is_m_to_the_e_mod_n() {
        let k = key(1);
        let n = k.n().clone();
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(2);
        for e in [65537u64, 3, 17, (1 << 32) + 15] {
            let p = PublicOp::new(&n.to_bytes_be(), e).unwrap();
            for _ in 0..8 {
                let mut m = [0u8; K];
                rng.fill_bytes(&mut m);
                m[0] &= 0x7f; // below n (whose top bit is set), mostly
                let want = BigUint::from_bytes_be(&m).modpow(&BigUint::from(e), &n);
                let mut want_be = [0u8; K];
                let w = want.to_bytes_be();
                want_be[K - w.len()..].copy_from_slice(&w);
                if BigUint::from_bytes_be(&m) < n {
                    assert_eq!(p.raw(&m), want_be, "e = {e}");
                }
            }
        }
    }

    /// What it encrypts, the `rsa` crate's private key decrypts (PKCS#1 v1.5) to the message.
    #[test]
    fn pkcs1v15_ciphertexts_decrypt_with_the_private_key() {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(3);
        for seed in [4, 5] {
            let k = key(seed);
            let p = op(&k);
            for len in [0usize, 1, 66, 245] {
                let mut msg = vec![0u8; len];
                rng.fill_bytes(&mut msg);
                let c = p.encrypt_pkcs1v15(&mut rng, &msg).unwrap();
                assert!(p.below_modulus(&c));
                assert_eq!(k.decrypt(Pkcs1v15Encrypt, &c).unwrap(), msg, "{len}");
            }
            assert!(p.encrypt_pkcs1v15(&mut rng, &[0u8; 246]).is_none());
        }
    }

    /// The padding takes its randomness from the given generator: two encryptions differ, the
    /// same generator state gives the same ciphertext, and no padding byte is zero.
    #[test]
    fn padding_is_random_from_the_generator_and_non_zero() {
        let k = key(6);
        let p = op(&k);
        let msg = b"0x1111111111111111111111111111111111111111111111111111111111111111";
        let mut a = rand_chacha::ChaCha20Rng::seed_from_u64(7);
        let mut b = rand_chacha::ChaCha20Rng::seed_from_u64(7);
        let c1 = p.encrypt_pkcs1v15(&mut a, msg).unwrap();
        let c2 = p.encrypt_pkcs1v15(&mut a, msg).unwrap();
        assert_ne!(c1, c2);
        assert_eq!(p.encrypt_pkcs1v15(&mut b, msg).unwrap(), c1);
        // Raw decryption with the private exponent shows the padding.
        let em = BigUint::from_bytes_be(&c1)
            .modpow(k.d(), k.n())
            .to_bytes_be();
        // to_bytes_be drops the leading zero byte: em = 02 ‖ PS ‖ 00 ‖ msg.
        assert_eq!(em[0], 2);
        let ps = &em[1..em.len() - msg.len() - 1];
        assert!(ps.len() >= 8 && ps.iter().all(|b| *b != 0));
        assert_eq!(em[em.len() - msg.len() - 1], 0);
    }

    #[test]
    fn keys_that_are_not_rsa_2048_with_an_odd_exponent_are_refused() {
        let k = key(8);
        let n = k.n().to_bytes_be();
        assert!(PublicOp::new(&n, 65537).is_some());
        assert!(PublicOp::new(&n[1..], 65537).is_none());
        assert!(PublicOp::new(&n, 65536).is_none());
        assert!(PublicOp::new(&n, 1).is_none());
        let mut even = n.clone();
        even[K - 1] &= 0xfe;
        assert!(PublicOp::new(&even, 65537).is_none());
    }
}
