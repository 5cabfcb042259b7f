//! The crate's one error type.
//!
//! Every variant names what was being read (`what`: a field, a file entry, a key) and, where it
//! helps, where (an index or a position). Messages are one line, lower case, without a trailing
//! period. No variant ever carries secret material: a bad mnemonic word is reported by its
//! position only, never by its text.

/// Everything that can go wrong in `kc-validator`.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// A byte string had the wrong length.
    #[error("{what}: expected {expected} bytes, got {got}")]
    InvalidLength {
        /// what was being decoded
        what: String,
        /// the required length in bytes
        expected: usize,
        /// the length found
        got: usize,
    },

    /// A string that must be hex was not.
    #[error("{what}: not valid hex ({reason})")]
    InvalidHex {
        /// what was being decoded
        what: String,
        /// why (odd length, the bad character and its position)
        reason: String,
    },

    /// A field that must have (or must not have) a `0x` prefix.
    #[error("{what}: {reason}")]
    HexPrefix {
        /// what was being decoded
        what: String,
        /// "expected a 0x prefix" or "unexpected 0x prefix"
        reason: &'static str,
    },

    /// A G1 or G2 point whose encoding is malformed (flag bits, x not a field element).
    #[error("{what}: invalid point encoding")]
    BadPointEncoding {
        /// "public key" or "signature", with context
        what: String,
    },

    /// The point is not on the curve.
    #[error("{what}: point is not on the curve")]
    PointNotOnCurve {
        /// "public key" or "signature", with context
        what: String,
    },

    /// The point is on the curve but not in the prime-order subgroup.
    #[error("{what}: point is not in the prime-order subgroup")]
    PointNotInSubgroup {
        /// "public key" or "signature", with context
        what: String,
    },

    /// The public key is the point at infinity (the identity), which signs anything.
    #[error("{what}: public key is the point at infinity")]
    InfinityPublicKey {
        /// context
        what: String,
    },

    /// A secret key that is zero or not below the group order r.
    #[error("{what}: secret key is zero or not below the group order")]
    InvalidSecretKey {
        /// context
        what: String,
    },

    /// A mnemonic word that is not in the English BIP-39 word list (1-based position).
    #[error("mnemonic: word {position} of {count} is not in the english bip-39 word list")]
    UnknownMnemonicWord {
        /// 1-based position of the word
        position: usize,
        /// number of words in the phrase
        count: usize,
    },

    /// A mnemonic with a word count other than 12, 15, 18, 21 or 24.
    #[error("mnemonic: {got} words, expected 12, 15, 18, 21 or 24")]
    MnemonicWordCount {
        /// the number of words found
        got: usize,
    },

    /// A mnemonic whose last word does not carry the right checksum bits.
    #[error("mnemonic: checksum does not match ({words} words)")]
    MnemonicChecksum {
        /// the number of words
        words: usize,
    },

    /// BIP-39 entropy of an unsupported length.
    #[error("mnemonic entropy: {got} bytes, expected 16, 20, 24, 28 or 32")]
    EntropyLength {
        /// the length found, in bytes
        got: usize,
    },

    /// An EIP-2333 seed shorter than 32 bytes.
    #[error("seed: {got} bytes, eip-2333 requires at least 32")]
    SeedTooShort {
        /// the length found, in bytes
        got: usize,
    },

    /// A derivation path that is not `m/<u32>/<u32>/...`.
    #[error("derivation path {path:?}: {reason}")]
    InvalidPath {
        /// the path as given
        path: String,
        /// what is wrong, with the component position
        reason: String,
    },

    /// A mixed-case address whose EIP-55 checksum is wrong.
    #[error("{what}: eip-55 checksum does not match (expected {expected})")]
    AddressChecksum {
        /// context, with the address as given
        what: String,
        /// the correctly checksummed form
        expected: String,
    },

    /// An address that is not `0x` + 40 hex characters.
    #[error("{what}: {reason}")]
    InvalidAddress {
        /// context, with the input
        what: String,
        /// what is wrong
        reason: String,
    },

    /// A deposit amount below the 1 ETH minimum.
    #[error("{what}: amount {amount_gwei} gwei is below the minimum of {min_gwei} gwei")]
    AmountBelowMinimum {
        /// context
        what: String,
        /// the amount given
        amount_gwei: u64,
        /// the minimum
        min_gwei: u64,
    },

    /// A deposit amount above what the withdrawal credential type allows.
    #[error("{what}: amount {amount_gwei} gwei is above the maximum of {max_gwei} gwei for withdrawal type {withdrawal_type}")]
    AmountNotAllowed {
        /// context
        what: String,
        /// the amount given
        amount_gwei: u64,
        /// "0x01" or "0x02"
        withdrawal_type: &'static str,
        /// the maximum for that type
        max_gwei: u64,
    },

    /// Withdrawal credentials that are not `0x01`/`0x02` ‖ 11 zero bytes ‖ address.
    #[error("{what}: {reason}")]
    InvalidWithdrawalCredentials {
        /// context
        what: String,
        /// what is wrong
        reason: String,
    },

    /// A network name or fork version that is not known or does not match.
    #[error("{what}: {reason}")]
    Network {
        /// context
        what: String,
        /// what is wrong
        reason: String,
    },

    /// A root in a file that does not match the root recomputed from its fields.
    #[error("{what}: stored {stored}, computed {computed}")]
    RootMismatch {
        /// which root, with context
        what: String,
        /// the root in the input (hex)
        stored: String,
        /// the root recomputed (hex)
        computed: String,
    },

    /// A BLS signature that does not verify.
    #[error("{what}: signature does not verify")]
    BadSignature {
        /// context
        what: String,
    },

    /// JSON that does not parse or has the wrong shape.
    #[error("{what}: {reason}")]
    Json {
        /// which document
        what: String,
        /// the parser's message
        reason: String,
    },

    /// A field of a parsed document with an unsupported value.
    #[error("{what}: {reason}")]
    InvalidField {
        /// which field
        what: String,
        /// what is wrong
        reason: String,
    },

    /// A keystore whose checksum does not match: wrong password or a damaged file.
    #[error("{what}: checksum does not match (wrong password or damaged keystore)")]
    KeystoreChecksum {
        /// context
        what: String,
    },

    /// Keystore KDF or cipher parameters that are unsupported or out of range.
    #[error("{what}: {reason}")]
    KeystoreParams {
        /// which parameter
        what: String,
        /// what is wrong
        reason: String,
    },

    /// A keystore whose stored public key does not match the decrypted secret.
    #[error("{what}: public key does not match the decrypted secret key")]
    KeystorePubkeyMismatch {
        /// context
        what: String,
    },

    /// The operating system's random number generator failed.
    #[error("random number generator failed: {reason}")]
    Random {
        /// the OS error
        reason: String,
    },

    /// An error inside entry `index` of a list (deposit data file).
    #[error("{what}[{index}]: {inner}")]
    Entry {
        /// which list
        what: &'static str,
        /// 0-based index in the list
        index: usize,
        /// the error for that entry
        inner: Box<Error>,
    },
}

impl Error {
    /// The same error, naming `field` (the field of the file that was read) as what was read.
    pub fn in_field(mut self, field: &str) -> Error {
        match &mut self {
            Error::InvalidLength { what, .. }
            | Error::InvalidHex { what, .. }
            | Error::HexPrefix { what, .. }
            | Error::BadPointEncoding { what }
            | Error::PointNotOnCurve { what }
            | Error::PointNotInSubgroup { what }
            | Error::InfinityPublicKey { what }
            | Error::InvalidSecretKey { what } => field.clone_into(what),
            _ => {}
        }
        self
    }

    /// The innermost error: unwraps [`Error::Entry`] layers.
    pub fn root(&self) -> &Error {
        match self {
            Error::Entry { inner, .. } => inner.root(),
            other => other,
        }
    }
}
