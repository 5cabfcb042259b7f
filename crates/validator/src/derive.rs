//! EIP-2333 key derivation and EIP-2334 paths.
//!
//! - `HKDF_mod_r(IKM)`: salt starts as `"BLS-SIG-KEYGEN-SALT-"`; repeat `salt = SHA256(salt)`,
//!   `OKM = HKDF-SHA256(salt, IKM ‖ 0x00, info = I2OSP(48, 2), L = 48)`, `SK = OS2IP(OKM) mod r`
//!   until `SK != 0`.
//! - `parent_SK_to_lamport_PK`: two Lamport secret keys of 255 × 32 bytes from
//!   `HKDF-SHA256(salt = I2OSP(index, 4), IKM = I2OSP(parent, 32) or its bitwise NOT)`; the
//!   compressed Lamport public key is `SHA256(SHA256(chunk_0) ‖ … ‖ SHA256(chunk_509))`.
//! - `derive_child_SK = HKDF_mod_r(compressed_lamport_PK)`, `derive_master_SK = HKDF_mod_r(seed)`.
//!
//! EIP-2334: the signing key of validator `i` is `m/12381/3600/i/0/0`, its withdrawal key
//! `m/12381/3600/i/0`.

use crypto_bigint::{Encoding, NonZero, U384};
use hkdf::Hkdf;
use sha2::{Digest, Sha256};
use zeroize::{Zeroize, Zeroizing};

use crate::bls::SecretKey;
use crate::Error;

/// The BLS12-381 group order r, as a 384-bit integer.
const R: U384 = U384::from_be_hex(
    "00000000000000000000000000000000\
     73eda753299d7d483339d80809a1d80553bda402fffe5bfeffffffff00000001",
);

/// EIP-2334 purpose.
pub const PURPOSE: u32 = 12381;
/// EIP-2334 coin type for Ethereum validators.
pub const COIN_TYPE: u32 = 3600;

/// `HKDF_mod_r` with empty `key_info`.
fn hkdf_mod_r(ikm: &[u8]) -> SecretKey {
    let mut salt: [u8; 32] = Sha256::digest(b"BLS-SIG-KEYGEN-SALT-").into();
    let mut ikm0 = Zeroizing::new(Vec::with_capacity(ikm.len() + 1));
    ikm0.extend_from_slice(ikm);
    ikm0.push(0);
    let modulus = NonZero::new(R).expect("r is not zero");
    loop {
        let hk = Hkdf::<Sha256>::new(Some(&salt), &ikm0);
        let mut okm = Zeroizing::new([0u8; 48]);
        hk.expand(&[0, 48], okm.as_mut())
            .expect("48 bytes is a valid hkdf-sha256 output length");
        let mut n = U384::from_be_slice(okm.as_ref());
        let mut sk = n.rem(&modulus);
        n.zeroize();
        let mut wide = Zeroizing::new(sk.to_be_bytes());
        sk.zeroize();
        // sk < r < 2^255, so the top 16 bytes are zero.
        let scalar = &wide[16..48];
        if scalar.iter().any(|&b| b != 0) {
            let key = SecretKey::from_bytes(scalar).expect("0 < sk < r by construction");
            wide.zeroize();
            return key;
        }
        salt = Sha256::digest(salt).into();
    }
}

/// `IKM_to_lamport_SK`: 255 chunks of 32 bytes.
fn ikm_to_lamport_sk(ikm: &[u8; 32], salt: &[u8; 4]) -> Zeroizing<Vec<u8>> {
    let hk = Hkdf::<Sha256>::new(Some(salt), ikm);
    let mut okm = Zeroizing::new(vec![0u8; 255 * 32]);
    hk.expand(&[], okm.as_mut_slice())
        .expect("8160 bytes is the maximum hkdf-sha256 output length");
    okm
}

/// `parent_SK_to_lamport_PK`, compressed.
fn parent_sk_to_lamport_pk(parent: &SecretKey, index: u32) -> [u8; 32] {
    let salt = index.to_be_bytes();
    let ikm = parent.to_bytes();
    let mut not_ikm = Zeroizing::new([0u8; 32]);
    for (n, b) in not_ikm.iter_mut().zip(ikm.iter()) {
        *n = !*b;
    }
    let lamport0 = ikm_to_lamport_sk(&ikm, &salt);
    let lamport1 = ikm_to_lamport_sk(&not_ikm, &salt);
    let mut pk = Sha256::new();
    for chunk in lamport0.chunks_exact(32).chain(lamport1.chunks_exact(32)) {
        pk.update(Sha256::digest(chunk));
    }
    pk.finalize().into()
}

/// `derive_master_SK(seed)`; the seed must be at least 32 bytes.
pub fn master_sk(seed: &[u8]) -> Result<SecretKey, Error> {
    if seed.len() < 32 {
        return Err(Error::SeedTooShort { got: seed.len() });
    }
    Ok(hkdf_mod_r(seed))
}

/// `derive_child_SK(parent, index)`.
pub fn child_sk(parent: &SecretKey, index: u32) -> SecretKey {
    let lamport_pk = parent_sk_to_lamport_pk(parent, index);
    hkdf_mod_r(&lamport_pk)
}

/// Parses an EIP-2334 path `m/<u32>/<u32>/...` into its indices (after `m`).
pub fn parse_path(path: &str) -> Result<Vec<u32>, Error> {
    let bad = |reason: String| Error::InvalidPath {
        path: path.to_string(),
        reason,
    };
    let mut parts = path.split('/');
    if parts.next() != Some("m") {
        return Err(bad("must start with \"m\"".into()));
    }
    let mut out = Vec::new();
    for (i, part) in parts.enumerate() {
        let pos = i + 1;
        if part.is_empty() {
            return Err(bad(format!("component {pos} is empty")));
        }
        if !part.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad(format!("component {pos} is not a decimal number")));
        }
        if part.len() > 1 && part.starts_with('0') {
            return Err(bad(format!("component {pos} has a leading zero")));
        }
        let v: u32 = part
            .parse()
            .map_err(|_| bad(format!("component {pos} does not fit in 32 bits")))?;
        out.push(v);
    }
    Ok(out)
}

/// Derives the key at `path` (e.g. `m/12381/3600/0/0/0`) from `seed`.
pub fn derive_path(seed: &[u8], path: &str) -> Result<SecretKey, Error> {
    let indices = parse_path(path)?;
    let mut sk = master_sk(seed)?;
    for i in indices {
        sk = child_sk(&sk, i);
    }
    Ok(sk)
}

/// The EIP-2334 signing key path of validator `index`: `m/12381/3600/{index}/0/0`.
pub fn signing_key_path(index: u32) -> String {
    format!("m/{PURPOSE}/{COIN_TYPE}/{index}/0/0")
}

/// The EIP-2334 withdrawal key path of validator `index`: `m/12381/3600/{index}/0`.
pub fn withdrawal_key_path(index: u32) -> String {
    format!("m/{PURPOSE}/{COIN_TYPE}/{index}/0")
}

/// The signing key of validator `index` (`m/12381/3600/index/0/0`).
pub fn signing_key(seed: &[u8], index: u32) -> Result<SecretKey, Error> {
    let account = account_key(seed, index)?;
    let withdrawal = child_sk(&account, 0);
    Ok(child_sk(&withdrawal, 0))
}

/// The withdrawal key of validator `index` (`m/12381/3600/index/0`).
pub fn withdrawal_key(seed: &[u8], index: u32) -> Result<SecretKey, Error> {
    let account = account_key(seed, index)?;
    Ok(child_sk(&account, 0))
}

/// `m/12381/3600/index`.
fn account_key(seed: &[u8], index: u32) -> Result<SecretKey, Error> {
    let m = master_sk(seed)?;
    let purpose = child_sk(&m, PURPOSE);
    let coin = child_sk(&purpose, COIN_TYPE);
    Ok(child_sk(&coin, index))
}

/// The key at the EIP-2334 prefix `m/12381/3600` that every validator key of a seed shares:
/// derived once (three derivations: master, purpose, coin type), then each validator needs only
/// its remaining levels (`i/0/0`: three derivations instead of six). A secret key: it is
/// zeroized when dropped (blst wipes its own type) and has no `Debug`, `Display` or `Clone`.
pub struct CoinKey(SecretKey);

impl CoinKey {
    /// `m/12381/3600` of `seed` (at least 32 bytes).
    pub fn from_seed(seed: &[u8]) -> Result<Self, Error> {
        let m = master_sk(seed)?;
        let purpose = child_sk(&m, PURPOSE);
        Ok(CoinKey(child_sk(&purpose, COIN_TYPE)))
    }

    /// The signing key of validator `index`: `m/12381/3600/index/0/0`.
    pub fn signing_key(&self, index: u32) -> SecretKey {
        child_sk(&self.withdrawal_key(index), 0)
    }

    /// The withdrawal key of validator `index`: `m/12381/3600/index/0`.
    pub fn withdrawal_key(&self, index: u32) -> SecretKey {
        child_sk(&child_sk(&self.0, index), 0)
    }
}

/// Derives the signing keys of validators `start .. start + count`, reusing the common prefix
/// `m/12381/3600` ([`CoinKey`]).
pub fn signing_keys(seed: &[u8], start: u32, count: u32) -> Result<Vec<SecretKey>, Error> {
    let coin = CoinKey::from_seed(seed)?;
    let end = start.checked_add(count).ok_or_else(|| Error::InvalidPath {
        path: format!("m/{PURPOSE}/{COIN_TYPE}/{start}+{count}"),
        reason: "validator index overflows 32 bits".into(),
    })?;
    Ok((start..end).map(|i| coin.signing_key(i)).collect())
}
