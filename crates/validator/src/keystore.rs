//! EIP-2335 BLS keystores (version 4), for break-glass export and import.
//!
//! - password: NFKD-normalized, then the control codes U+0000–U+001F and U+007F–U+009F removed,
//!   then UTF-8 ([`process_password`]);
//! - KDF: `scrypt` (`dklen`, `n`, `r`, `p`, `salt`) or `pbkdf2` (`dklen`, `c`, `prf` =
//!   `hmac-sha256`, `salt`); `dklen` must be 32;
//! - checksum: `SHA256(DK[16..32] ‖ cipher.message)`;
//! - cipher: AES-128-CTR with key `DK[0..16]` and the 16-byte `iv`.
//!
//! The JSON written has the field order of ethstaker-deposit's keystores (`crypto`, `description`,
//! `pubkey`, `path`, `uuid`, `version`); byte-identity with its files is not a goal (salts, IVs and
//! UUIDs are random anyway).

use aes::cipher::{KeyIvInit, StreamCipher};
use serde::Serialize;
use sha2::{Digest, Sha256};
use unicode_normalization::UnicodeNormalization;
use zeroize::Zeroizing;

use crate::bls::SecretKey;
use crate::hexutil::{decode, decode_fixed};
use crate::Error;

type Aes128Ctr = ctr::Ctr128BE<aes::Aes128>;

/// Upper bounds that keep a hostile keystore from exhausting memory or time.
const MAX_SCRYPT_LOG_N: u8 = 20;
const MAX_SCRYPT_R: u32 = 32;
const MAX_SCRYPT_P: u32 = 16;
const MAX_PBKDF2_C: u32 = 1 << 24;

/// The key derivation function and its cost parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kdf {
    /// scrypt; `n` must be a power of two.
    Scrypt {
        /// CPU/memory cost
        n: u32,
        /// block size
        r: u32,
        /// parallelism
        p: u32,
    },
    /// PBKDF2-HMAC-SHA256.
    Pbkdf2 {
        /// iteration count
        c: u32,
    },
}

impl Kdf {
    /// scrypt with ethstaker-deposit's parameters (n = 2^18, r = 8, p = 1).
    pub const SCRYPT_DEFAULT: Kdf = Kdf::Scrypt {
        n: 1 << 18,
        r: 8,
        p: 1,
    };
    /// PBKDF2 with ethstaker-deposit's parameters (c = 2^18).
    pub const PBKDF2_DEFAULT: Kdf = Kdf::Pbkdf2 { c: 1 << 18 };

    fn derive(&self, password: &[u8], salt: &[u8]) -> Result<Zeroizing<[u8; 32]>, Error> {
        let mut dk = Zeroizing::new([0u8; 32]);
        match *self {
            Kdf::Scrypt { n, r, p } => {
                if n < 2 || !n.is_power_of_two() {
                    return Err(params_err(
                        "crypto.kdf.params.n",
                        "must be a power of two >= 2",
                    ));
                }
                let log_n = n.trailing_zeros() as u8;
                if log_n > MAX_SCRYPT_LOG_N
                    || r == 0
                    || r > MAX_SCRYPT_R
                    || p == 0
                    || p > MAX_SCRYPT_P
                {
                    return Err(params_err(
                        "crypto.kdf.params",
                        "scrypt cost out of range (n <= 2^20, 1 <= r <= 32, 1 <= p <= 16)",
                    ));
                }
                let params = scrypt::Params::new(log_n, r, p, 32)
                    .map_err(|e| params_err("crypto.kdf.params", &e.to_string()))?;
                scrypt::scrypt(password, salt, &params, dk.as_mut())
                    .map_err(|e| params_err("crypto.kdf.params.dklen", &e.to_string()))?;
            }
            Kdf::Pbkdf2 { c } => {
                if c == 0 || c > MAX_PBKDF2_C {
                    return Err(params_err(
                        "crypto.kdf.params.c",
                        "must be between 1 and 2^24",
                    ));
                }
                pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, c, dk.as_mut());
            }
        }
        Ok(dk)
    }
}

fn params_err(what: &str, reason: &str) -> Error {
    Error::KeystoreParams {
        what: what.into(),
        reason: reason.into(),
    }
}

/// EIP-2335 password processing: NFKD, control codes removed, UTF-8.
pub fn process_password(password: &str) -> Zeroizing<Vec<u8>> {
    let s: Zeroizing<String> = Zeroizing::new(
        password
            .nfkd()
            .filter(|c| !matches!(*c as u32, 0x00..=0x1f | 0x7f..=0x9f))
            .collect(),
    );
    Zeroizing::new(s.as_bytes().to_vec())
}

/// A decrypted keystore secret. Wiped on drop; no `Debug`/`Display`.
pub struct KeystorePlaintext(Zeroizing<Vec<u8>>);

impl KeystorePlaintext {
    /// The secret bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The secret as a BLS secret key (32 bytes, `0 < sk < r`).
    pub fn to_secret_key(&self) -> Result<SecretKey, Error> {
        SecretKey::from_bytes(&self.0)
    }
}

/// A parsed or freshly written EIP-2335 keystore. All its fields are public data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Keystore {
    /// KDF and its parameters
    pub kdf: Kdf,
    /// the 32-byte KDF salt
    pub salt: Vec<u8>,
    /// `SHA256(DK[16..32] ‖ ciphertext)`
    pub checksum: [u8; 32],
    /// AES-128-CTR IV
    pub iv: [u8; 16],
    /// the encrypted secret
    pub ciphertext: Vec<u8>,
    /// free text
    pub description: String,
    /// the public key, hex without `0x` (may be empty in foreign keystores)
    pub pubkey: String,
    /// the EIP-2334 path (may be empty)
    pub path: String,
    /// a UUID
    pub uuid: String,
}

/// Fixed inputs for a deterministic encryption (tests, vectors); normally random.
pub struct EncryptParams<'a> {
    /// KDF salt (32 bytes recommended)
    pub salt: &'a [u8],
    /// AES-CTR IV
    pub iv: [u8; 16],
    /// keystore UUID
    pub uuid: &'a str,
    /// description text
    pub description: &'a str,
}

fn random<const N: usize>() -> Result<[u8; N], Error> {
    let mut b = [0u8; N];
    getrandom::getrandom(&mut b).map_err(|e| Error::Random {
        reason: e.to_string(),
    })?;
    Ok(b)
}

impl Keystore {
    /// Encrypts `sk` under `password` with a random salt, IV and UUID.
    pub fn encrypt(sk: &SecretKey, password: &str, path: &str, kdf: Kdf) -> Result<Self, Error> {
        let salt: [u8; 32] = random()?;
        let iv: [u8; 16] = random()?;
        let uuid = uuid::Uuid::from_bytes(random()?);
        // set version 4 / RFC 4122 variant bits, as uuid4() does
        let uuid = uuid::Builder::from_random_bytes(*uuid.as_bytes())
            .into_uuid()
            .to_string();
        let ks = Self::encrypt_with(
            &*sk.to_bytes(),
            password,
            path,
            kdf,
            &EncryptParams {
                salt: &salt,
                iv,
                uuid: &uuid,
                description: "",
            },
        )?;
        Ok(ks)
    }

    /// Encrypts arbitrary secret bytes with fixed salt, IV and UUID. `pubkey` is filled when the
    /// secret is a valid BLS secret key.
    pub fn encrypt_with(
        secret: &[u8],
        password: &str,
        path: &str,
        kdf: Kdf,
        p: &EncryptParams<'_>,
    ) -> Result<Self, Error> {
        let pw = process_password(password);
        let dk = kdf.derive(&pw, p.salt)?;
        let mut ciphertext = secret.to_vec();
        let mut cipher = Aes128Ctr::new(dk[..16].into(), (&p.iv).into());
        cipher.apply_keystream(&mut ciphertext);
        let checksum = checksum(&dk, &ciphertext);
        let pubkey = SecretKey::from_bytes(secret)
            .map(|sk| sk.public_key().to_hex())
            .unwrap_or_default();
        Ok(Keystore {
            kdf,
            salt: p.salt.to_vec(),
            checksum,
            iv: p.iv,
            ciphertext,
            description: p.description.to_string(),
            pubkey,
            path: path.to_string(),
            uuid: p.uuid.to_string(),
        })
    }

    /// Decrypts the secret. A wrong password is [`Error::KeystoreChecksum`].
    pub fn decrypt(&self, password: &str) -> Result<KeystorePlaintext, Error> {
        let pw = process_password(password);
        let dk = self.kdf.derive(&pw, &self.salt)?;
        if checksum(&dk, &self.ciphertext) != self.checksum {
            return Err(Error::KeystoreChecksum {
                what: format!("keystore {}", self.uuid),
            });
        }
        let mut plain = Zeroizing::new(self.ciphertext.clone());
        let mut cipher = Aes128Ctr::new(dk[..16].into(), (&self.iv).into());
        cipher.apply_keystream(&mut plain);
        Ok(KeystorePlaintext(plain))
    }

    /// Decrypts a BLS secret key and checks it against `pubkey` when the keystore has one.
    pub fn decrypt_secret_key(&self, password: &str) -> Result<SecretKey, Error> {
        let sk = self.decrypt(password)?.to_secret_key()?;
        if !self.pubkey.is_empty() && sk.public_key().to_hex() != self.pubkey.to_ascii_lowercase() {
            return Err(Error::KeystorePubkeyMismatch {
                what: format!("keystore {}", self.uuid),
            });
        }
        Ok(sk)
    }

    /// The keystore as JSON.
    pub fn to_json(&self) -> String {
        #[derive(Serialize)]
        struct Module<P: Serialize> {
            function: &'static str,
            params: P,
            message: String,
        }
        #[derive(Serialize)]
        struct ScryptP {
            dklen: u32,
            n: u32,
            r: u32,
            p: u32,
            salt: String,
        }
        #[derive(Serialize)]
        struct Pbkdf2P {
            dklen: u32,
            c: u32,
            prf: &'static str,
            salt: String,
        }
        #[derive(Serialize)]
        struct Empty {}
        #[derive(Serialize)]
        struct Iv {
            iv: String,
        }
        #[derive(Serialize)]
        #[serde(untagged)]
        enum KdfM {
            S(Module<ScryptP>),
            P(Module<Pbkdf2P>),
        }
        #[derive(Serialize)]
        struct Crypto {
            kdf: KdfM,
            checksum: Module<Empty>,
            cipher: Module<Iv>,
        }
        #[derive(Serialize)]
        struct Out<'a> {
            crypto: Crypto,
            description: &'a str,
            pubkey: &'a str,
            path: &'a str,
            uuid: &'a str,
            version: u32,
        }
        let salt = hex::encode(&self.salt);
        let kdf = match self.kdf {
            Kdf::Scrypt { n, r, p } => KdfM::S(Module {
                function: "scrypt",
                params: ScryptP {
                    dklen: 32,
                    n,
                    r,
                    p,
                    salt,
                },
                message: String::new(),
            }),
            Kdf::Pbkdf2 { c } => KdfM::P(Module {
                function: "pbkdf2",
                params: Pbkdf2P {
                    dklen: 32,
                    c,
                    prf: "hmac-sha256",
                    salt,
                },
                message: String::new(),
            }),
        };
        let out = Out {
            crypto: Crypto {
                kdf,
                checksum: Module {
                    function: "sha256",
                    params: Empty {},
                    message: hex::encode(self.checksum),
                },
                cipher: Module {
                    function: "aes-128-ctr",
                    params: Iv {
                        iv: hex::encode(self.iv),
                    },
                    message: hex::encode(&self.ciphertext),
                },
            },
            description: &self.description,
            pubkey: &self.pubkey,
            path: &self.path,
            uuid: &self.uuid,
            version: 4,
        };
        serde_json::to_string_pretty(&out).unwrap_or_default()
    }

    /// Parses a version-4 keystore.
    pub fn from_json(s: &str) -> Result<Self, Error> {
        use serde_json::Value;
        let json_err = |what: &str, reason: String| Error::Json {
            what: what.into(),
            reason,
        };
        let v: Value = serde_json::from_str(s).map_err(|e| json_err("keystore", e.to_string()))?;
        let get = |v: &Value, path: &str| -> Result<Value, Error> {
            let mut cur = v;
            for k in path.split('.') {
                cur = cur
                    .get(k)
                    .ok_or_else(|| json_err(path, "missing field".into()))?;
            }
            Ok(cur.clone())
        };
        let get_str = |path: &str| -> Result<String, Error> {
            get(&v, path)?
                .as_str()
                .map(str::to_string)
                .ok_or_else(|| json_err(path, "expected a string".into()))
        };
        let get_u32 = |path: &str| -> Result<u32, Error> {
            get(&v, path)?
                .as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(|| json_err(path, "expected an integer below 2^32".into()))
        };
        let opt_str = |key: &str| -> Result<String, Error> {
            match v.get(key) {
                None => Ok(String::new()),
                Some(Value::String(s)) => Ok(s.clone()),
                Some(_) => Err(json_err(key, "expected a string".into())),
            }
        };

        let version = get_u32("version")?;
        if version != 4 {
            return Err(Error::InvalidField {
                what: "version".into(),
                reason: format!("{version} is not supported, expected 4"),
            });
        }
        let function = get_str("crypto.kdf.function")?;
        let kdf = match function.as_str() {
            "scrypt" => Kdf::Scrypt {
                n: get_u32("crypto.kdf.params.n")?,
                r: get_u32("crypto.kdf.params.r")?,
                p: get_u32("crypto.kdf.params.p")?,
            },
            "pbkdf2" => {
                let prf = get_str("crypto.kdf.params.prf")?;
                if prf != "hmac-sha256" {
                    return Err(params_err(
                        "crypto.kdf.params.prf",
                        &format!("{prf:?} is not supported, expected \"hmac-sha256\""),
                    ));
                }
                Kdf::Pbkdf2 {
                    c: get_u32("crypto.kdf.params.c")?,
                }
            }
            other => {
                return Err(params_err(
                    "crypto.kdf.function",
                    &format!("{other:?} is not supported, expected \"scrypt\" or \"pbkdf2\""),
                ))
            }
        };
        let dklen = get_u32("crypto.kdf.params.dklen")?;
        if dklen != 32 {
            return Err(params_err(
                "crypto.kdf.params.dklen",
                &format!("{dklen} is not supported, expected 32"),
            ));
        }
        let checksum_fn = get_str("crypto.checksum.function")?;
        if checksum_fn != "sha256" {
            return Err(params_err(
                "crypto.checksum.function",
                &format!("{checksum_fn:?} is not supported, expected \"sha256\""),
            ));
        }
        let cipher_fn = get_str("crypto.cipher.function")?;
        if cipher_fn != "aes-128-ctr" {
            return Err(params_err(
                "crypto.cipher.function",
                &format!("{cipher_fn:?} is not supported, expected \"aes-128-ctr\""),
            ));
        }
        let salt = decode(
            "crypto.kdf.params.salt",
            &get_str("crypto.kdf.params.salt")?,
        )?;
        if salt.is_empty() {
            return Err(params_err("crypto.kdf.params.salt", "must not be empty"));
        }
        Ok(Keystore {
            kdf,
            salt,
            checksum: decode_fixed(
                "crypto.checksum.message",
                &get_str("crypto.checksum.message")?,
            )?,
            iv: decode_fixed(
                "crypto.cipher.params.iv",
                &get_str("crypto.cipher.params.iv")?,
            )?,
            ciphertext: decode("crypto.cipher.message", &get_str("crypto.cipher.message")?)?,
            description: opt_str("description")?,
            pubkey: opt_str("pubkey")?,
            path: get_str("path")?,
            uuid: get_str("uuid")?,
        })
    }
}

fn checksum(dk: &[u8; 32], ciphertext: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(&dk[16..32]);
    h.update(ciphertext);
    h.finalize().into()
}
