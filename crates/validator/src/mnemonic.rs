//! BIP-39 mnemonics (English word list) and seeds.
//!
//! seed = PBKDF2-HMAC-SHA512(password = NFKD(mnemonic), salt = NFKD("mnemonic" ‖ passphrase),
//! 2048 iterations, 64 bytes) — the same as ethstaker-deposit's `get_seed`.
//! Both types wipe themselves on drop and have no `Debug`, `Display` or `Clone`.

use sha2::Sha512;
use unicode_normalization::UnicodeNormalization;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::Error;

/// A checked English BIP-39 mnemonic.
pub struct Mnemonic(bip39::Mnemonic);

fn map_bip39(e: bip39::Error, count: usize) -> Error {
    match e {
        bip39::Error::BadWordCount(got) => Error::MnemonicWordCount { got },
        bip39::Error::UnknownWord(i) => Error::UnknownMnemonicWord {
            position: i + 1,
            count,
        },
        bip39::Error::BadEntropyBitCount(bits) => Error::EntropyLength { got: bits / 8 },
        bip39::Error::InvalidChecksum => Error::MnemonicChecksum { words: count },
        // English only: ambiguity cannot arise, but never panic on a library's new variant.
        _ => Error::MnemonicChecksum { words: count },
    }
}

impl Mnemonic {
    /// Parses a phrase: words separated by any whitespace, case-insensitive (ASCII), NFKD
    /// normalized; checks every word against the English list and the checksum.
    pub fn parse(phrase: &str) -> Result<Self, Error> {
        let nfkd: Zeroizing<String> = Zeroizing::new(phrase.nfkd().collect());
        let normalized: Zeroizing<String> = Zeroizing::new(nfkd.to_lowercase());
        let count = normalized.split_whitespace().count();
        let joined: Zeroizing<String> = Zeroizing::new(
            normalized
                .split_whitespace()
                .collect::<Vec<&str>>()
                .join(" "),
        );
        bip39::Mnemonic::parse_in_normalized(bip39::Language::English, &joined)
            .map(Mnemonic)
            .map_err(|e| map_bip39(e, count))
    }

    /// Builds the mnemonic of 16, 20, 24, 28 or 32 bytes of entropy.
    pub fn from_entropy(entropy: &[u8]) -> Result<Self, Error> {
        if !matches!(entropy.len(), 16 | 20 | 24 | 28 | 32) {
            return Err(Error::EntropyLength { got: entropy.len() });
        }
        bip39::Mnemonic::from_entropy(entropy)
            .map(Mnemonic)
            .map_err(|e| map_bip39(e, 0))
    }

    /// A fresh 24-word mnemonic from the OS random generator.
    ///
    /// The ceremony mixes HSM randomness into its entropy and uses [`Mnemonic::from_entropy`];
    /// this is for tests and tools.
    pub fn generate_24() -> Result<Self, Error> {
        let mut e = Zeroizing::new([0u8; 32]);
        getrandom::getrandom(e.as_mut()).map_err(|err| Error::Random {
            reason: err.to_string(),
        })?;
        Self::from_entropy(e.as_ref())
    }

    /// The phrase: words separated by single spaces.
    pub fn phrase(&self) -> Zeroizing<String> {
        let mut s = Zeroizing::new(String::with_capacity(24 * 9));
        for (i, w) in self.0.words().enumerate() {
            if i > 0 {
                s.push(' ');
            }
            s.push_str(w);
        }
        s
    }

    /// The number of words.
    pub fn word_count(&self) -> usize {
        self.0.word_count()
    }

    /// The entropy the mnemonic encodes.
    pub fn to_entropy(&self) -> Zeroizing<Vec<u8>> {
        let (mut arr, len) = self.0.to_entropy_array();
        let out = Zeroizing::new(arr[..len].to_vec());
        arr.zeroize();
        out
    }

    /// The BIP-39 seed with `passphrase` (NFKD normalized; empty for none).
    pub fn to_seed(&self, passphrase: &str) -> Seed {
        let phrase = self.phrase();
        let mut salt = Zeroizing::new(String::from("mnemonic"));
        salt.extend(passphrase.nfkd());
        let mut seed = Seed([0u8; 64]);
        pbkdf2::pbkdf2_hmac::<Sha512>(phrase.as_bytes(), salt.as_bytes(), 2048, &mut seed.0);
        seed
    }
}

/// A 64-byte BIP-39 seed (the EIP-2333 `seed`). Wiped on drop.
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct Seed([u8; 64]);

impl Seed {
    /// Wraps 64 seed bytes.
    pub fn from_bytes(b: [u8; 64]) -> Self {
        Seed(b)
    }

    /// The 64 bytes.
    pub fn as_bytes(&self) -> &[u8; 64] {
        &self.0
    }
}
