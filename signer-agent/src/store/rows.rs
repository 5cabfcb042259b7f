//! What the store's rows hold, and the conversions from stored values that fail closed: an
//! unknown status, a blob of the wrong length or unreadable JSON is a [`RowError`], never a
//! default.

/// A validator's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Verified and waiting for ETH.
    Imported,
    /// In a transaction that is not yet confirmed.
    Sent,
    /// Deposited and registered, with the configured confirmations.
    Confirmed,
    /// Its transaction reverted or vanished; eligible again.
    Reverted,
    /// Never to be staked: someone else deposited for its key first (front-running); the
    /// history entry names the deposit.
    Refused,
}

impl Status {
    /// Every status, in the order of the schema's CHECK constraint.
    pub const ALL: [Status; 5] = [
        Status::Imported,
        Status::Sent,
        Status::Confirmed,
        Status::Reverted,
        Status::Refused,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Imported => "imported",
            Status::Sent => "sent",
            Status::Confirmed => "confirmed",
            Status::Reverted => "reverted",
            Status::Refused => "refused",
        }
    }
}

impl TryFrom<&str> for Status {
    type Error = RowError;

    fn try_from(s: &str) -> Result<Status, RowError> {
        Status::ALL
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| RowError::unknown("status", s))
    }
}

/// Why a stored row cannot be read: the store refuses it rather than guess.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RowError {
    /// A column that holds one of a fixed set of values holds something else.
    #[error("{column} is {value:?}, which this agent does not know")]
    UnknownValue { column: &'static str, value: String },
    /// A fixed-length blob has another length.
    #[error("{column} is {found} bytes long, it must be {expected}")]
    BlobLength {
        column: &'static str,
        expected: usize,
        found: usize,
    },
    /// A JSON column does not parse as what it must hold.
    #[error("{column} is not the JSON it must be: {message}")]
    Json {
        column: &'static str,
        message: String,
    },
}

impl RowError {
    pub(crate) fn unknown(column: &'static str, value: &str) -> RowError {
        RowError::UnknownValue {
            column,
            value: value.to_owned(),
        }
    }
}

/// A 32-byte blob (a hash, a Merkle leaf).
pub(crate) fn blob32(column: &'static str, v: &[u8]) -> Result<[u8; 32], RowError> {
    v.try_into().map_err(|_| RowError::BlobLength {
        column,
        expected: 32,
        found: v.len(),
    })
}

/// A JSON column.
pub(crate) fn json<T: serde::de::DeserializeOwned>(
    column: &'static str,
    s: &str,
) -> Result<T, RowError> {
    serde_json::from_str(s).map_err(|e| RowError::Json {
        column,
        message: e.to_string(),
    })
}

/// A validator row.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ValidatorRow {
    /// `0x` hex.
    pub pubkey: String,
    /// The bundle's Merkle root, `0x` hex.
    pub bundle_id: String,
    pub index: u32,
    pub position: usize,
    pub owner_nonce: u64,
    pub status: Status,
    pub tx_hash: Option<String>,
    pub block_number: Option<u64>,
    #[serde(skip)]
    pub signature: Vec<u8>,
    #[serde(skip)]
    pub deposit_data_root: [u8; 32],
    #[serde(skip)]
    pub shares_data: Vec<u8>,
    #[serde(skip)]
    pub leaf: [u8; 32],
}

/// A bundle row.
#[derive(Debug, Clone, serde::Serialize)]
pub struct BundleRow {
    pub id: String,
    pub ceremony_id: String,
    pub path: String,
    pub operator_ids: Vec<u64>,
    pub withdrawal_type: u8,
    pub imported_at: String,
}

/// What a bundle's manifest says that the policy checks a `stake` against.
#[derive(Debug, Clone, serde::Serialize)]
pub struct BundleFacts {
    pub withdrawal_address: String,
    pub owner_address: String,
    /// (operator id, fingerprint hex) as pinned in the manifest.
    pub operators: Vec<(u64, String)>,
}

/// One transaction the policy let the key sign.
#[derive(Debug, Clone)]
pub struct LedgerEntry {
    /// `YYYY-MM-DD`, UTC.
    pub day: String,
    /// The transaction's signing hash (the hash the key signed).
    pub sighash: String,
    pub target: String,
    pub selector: String,
    pub value_wei: String,
    pub validators: u64,
    /// ETH (wei) the transaction makes the PoolManager send to SSV clusters.
    pub ssv_fee_wei: String,
    /// The transaction's nonce: versions of one nonce (a replacement with higher fees) can be
    /// mined only once, so the daily caps count a nonce once (its largest version).
    pub nonce: Option<u64>,
}

/// The front-running scan's cursor (`stake::scan_deposits`): the deposit contract's
/// `DepositEvent`s from `first_block` up to `last_block` were read for every validator imported
/// when `keys_digest` was taken; the last scan read `scanned_from..=last_block`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DepositScan {
    /// `0x` hex, lowercase.
    pub deposit_contract: String,
    pub first_block: u64,
    /// Digest of every imported validator pubkey: a new import invalidates the cursor.
    pub keys_digest: String,
    pub scanned_from: u64,
    pub last_block: u64,
}

/// One history entry.
#[derive(Debug, Clone, serde::Serialize)]
pub struct HistoryRow {
    pub seq: i64,
    pub pubkey: String,
    pub status: String,
    pub tx_hash: Option<String>,
    pub block_number: Option<u64>,
    pub at: String,
    pub note: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_status_is_an_error_not_imported() {
        for s in Status::ALL {
            assert_eq!(Status::try_from(s.as_str()), Ok(s));
        }
        assert_eq!(
            Status::try_from("Imported"),
            Err(RowError::unknown("status", "Imported"))
        );
        assert!(Status::try_from("").is_err());
    }

    #[test]
    fn a_blob_of_the_wrong_length_is_an_error_not_zeros() {
        assert_eq!(blob32("leaf", &[7; 32]), Ok([7; 32]));
        for n in [0, 31, 33] {
            assert_eq!(
                blob32("leaf", &vec![7; n]),
                Err(RowError::BlobLength {
                    column: "leaf",
                    expected: 32,
                    found: n
                })
            );
        }
        assert!(json::<Vec<u64>>("operator_ids", "[1,2,").is_err());
    }
}
