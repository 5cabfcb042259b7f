//! `keyshares.json` in the SSV SDK's format, one entry per validator, and building and verifying
//! entries.
//!
//! Format (SDK `KeyShares.toJson` / `KeySharesItem`, `@ssv-labs/ssv-sdk` 0.1.0):
//! ```json
//! { "version": "v1.1.0", "createdAt": "2026-01-01T00:00:00.000Z",
//!   "shares": [ { "data": { "ownerNonce": 0, "ownerAddress": "0x…", "publicKey": "0x…",
//!                           "operators": [ { "id": 17, "operatorKey": "LS0t…" } ] },
//!                 "payload": { "sharesData": "0x…", "publicKey": "0x…", "operatorIds": [17] } } ] }
//! ```
//! Ids and the nonce are JSON numbers (the SDK validates them with `IsInt`/`IsNumber` and
//! `Number.isInteger`); public keys are `0x` + 96 hex digits (`Length(98, 98)`); operators are
//! sorted by id; `operatorKey` is the key exactly as published on chain.

use std::io::Write as _;
use std::path::Path;
use std::str::FromStr as _;
use std::time::{SystemTime, UNIX_EPOCH};

use kc_validator::{Address, PublicKey, SecretKey, Signature};
use rand_core::CryptoRngCore;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::operator::{Cluster, OperatorKey};
use crate::ownership::{sign_ownership, verify_ownership};
use crate::shamir::{
    check_operator_ids, split_secret, verify_many_share_public_keys, verify_share_public_keys,
    ShareSet,
};
use crate::shares_data::{decode_0x_hex, SharesData};

/// The version this crate writes.
pub const KEYSHARES_VERSION: &str = "v1.1.0";
/// Versions the SDK's `KeyShares.fromJson` reads.
pub const READABLE_VERSIONS: [&str; 2] = ["v1.1.0", "v1.2.0"];
/// The largest owner nonce an SSV node can expect: it keeps the nonce as a Go `uint16`
/// (ssvlabs/ssv `registry/storage`, `type Nonce uint16`).
pub const MAX_OWNER_NONCE: u64 = u16::MAX as u64;

/// A keyshares.json file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeySharesFile {
    /// Format version, `"v1.1.0"` when written here.
    pub version: String,
    /// ISO-8601 UTC time with milliseconds, as JavaScript's `Date.toISOString`.
    pub created_at: String,
    /// One item per validator (the SDK writes `null` for none; read as empty).
    #[serde(deserialize_with = "null_as_empty")]
    pub shares: Vec<KeySharesItem>,
}

/// One validator's entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeySharesItem {
    /// Metadata used to check the payload.
    pub data: KeySharesData,
    /// What `registerValidator` takes.
    pub payload: KeySharesPayload,
}

/// `data` of an entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeySharesData {
    /// The owner's SSV nonce this entry was signed for.
    pub owner_nonce: u64,
    /// The owner (EIP-55).
    pub owner_address: String,
    /// The validator public key, `0x` + 96 hex digits.
    pub public_key: String,
    /// The cluster's operators, sorted by id.
    pub operators: Vec<KeySharesOperator>,
}

/// One operator in `data.operators`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeySharesOperator {
    /// Operator id.
    pub id: u64,
    /// The operator's key as published on chain (base64 of a PEM).
    pub operator_key: String,
}

/// `payload` of an entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeySharesPayload {
    /// `0x` hex of [`SharesData`].
    pub shares_data: String,
    /// The validator public key, `0x` + 96 hex digits.
    pub public_key: String,
    /// Operator ids, sorted.
    pub operator_ids: Vec<u64>,
}

/// What [`verify_item`] established about an entry.
#[derive(Clone, Debug)]
pub struct VerifiedItem {
    /// The validator public key.
    pub validator_public_key: PublicKey,
    /// The owner.
    pub owner: Address,
    /// The owner nonce.
    pub owner_nonce: u64,
    /// The operators, parsed (RSA-2048), sorted by id.
    pub cluster: Cluster,
    /// The decoded sharesData.
    pub shares_data: SharesData,
}

fn null_as_empty<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<Vec<KeySharesItem>, D::Error> {
    Ok(Option::<Vec<KeySharesItem>>::deserialize(d)?.unwrap_or_default())
}

fn check_nonce_range(first: u64, count: usize) -> Result<()> {
    let last = (count as u64)
        .checked_sub(1)
        .and_then(|c| first.checked_add(c));
    match last {
        Some(last) if last <= MAX_OWNER_NONCE => Ok(()),
        None if count == 0 && first <= MAX_OWNER_NONCE => Ok(()),
        _ => Err(Error::NonceOverflow {
            first,
            count,
            max: MAX_OWNER_NONCE,
        }),
    }
}

/// One validator's key shares as the ceremony builds them, before its checks, which it runs for
/// many validators at once ([`check_built_consistency`] for the share interpolation; the
/// ownership signature goes into its batched BLS check). Holds no secret.
pub struct BuiltShares {
    /// Ownership signature ‖ share public keys ‖ encrypted shares.
    pub shares_data: SharesData,
    /// The ownership signature (the first 96 bytes of `shares_data`).
    pub ownership: Signature,
    /// The share public keys as computed (the compressed ones are in `shares_data`).
    points: Vec<blstrs::G1Affine>,
}

/// Splits `validator` among the cluster's operators, encrypts each share to its operator and
/// signs ownership for `(owner, nonce)`, without checking the result: the caller checks many
/// validators at once. `validator_pk` must be `validator`'s public key (the check of the
/// ownership signature under it catches a mismatch). Share secrets are wiped when this returns.
pub fn build_shares_unchecked(
    validator: &SecretKey,
    cluster: &Cluster,
    owner: &Address,
    owner_nonce: u64,
    rng: &mut impl CryptoRngCore,
) -> Result<BuiltShares> {
    check_nonce_range(owner_nonce, 1)?;
    let split = split_secret(&validator.to_bytes(), &cluster.ids(), rng)?;
    let encrypted_shares = cluster
        .operators()
        .iter()
        .zip(split.shares())
        .map(|(op, share)| op.encrypt_share(share, rng))
        .collect::<Result<Vec<_>>>()?;
    let ownership = sign_ownership(validator, owner, owner_nonce);
    let points = split.points().to_vec();
    let shares_data = SharesData {
        signature: ownership.to_bytes(),
        share_public_keys: split.public_keys().to_vec(),
        encrypted_shares,
    };
    drop(split);
    Ok(BuiltShares {
        shares_data,
        ownership,
        points,
    })
}

/// Checks, for many built validators at once, that the share public keys of each interpolate to
/// its public key: one multi-scalar multiplication over all of them, with the points as they
/// were computed (no decoding). `items[i]` is a validator's public key and its built shares,
/// for the operator ids `ids`.
pub fn check_built_consistency(items: &[(&PublicKey, &BuiltShares)], ids: &[u64]) -> Result<()> {
    let keys: Vec<[u8; 48]> = items.iter().map(|(pk, _)| pk.to_bytes()).collect();
    let mut points = Vec::with_capacity(items.len());
    for (pk, _) in items {
        // The point as blst computed it (uncompressed: no square root to take).
        let p: Option<blstrs::G1Affine> =
            blstrs::G1Affine::from_uncompressed_unchecked(&pk.to_uncompressed()).into();
        points.push(p.ok_or_else(|| Error::InvalidPublicKey {
            validator: format!("0x{}", pk.to_hex()),
            field: "validator public key".into(),
        })?);
    }
    let sets: Vec<ShareSet<'_>> = items
        .iter()
        .zip(&keys)
        .map(|((_, b), key)| ShareSet {
            validator_public_key: key,
            operator_ids: ids,
            share_public_keys: &b.shares_data.share_public_keys,
        })
        .collect();
    let share_points: Vec<&[blstrs::G1Affine]> =
        items.iter().map(|(_, b)| b.points.as_slice()).collect();
    crate::shamir::verify_many_computed(&sets, &points, &share_points)
}

/// The `keyshares.json` entry of one validator: its public key, owner and nonce, the cluster's
/// operators (ids and keys exactly as published), and `sharesData`.
pub fn keyshares_item(
    validator_pk: &PublicKey,
    cluster: &Cluster,
    owner: &Address,
    owner_nonce: u64,
    shares_data: &SharesData,
) -> KeySharesItem {
    let pk_hex = format!("0x{}", validator_pk.to_hex());
    KeySharesItem {
        data: KeySharesData {
            owner_nonce,
            owner_address: owner.to_checksum(),
            public_key: pk_hex.clone(),
            operators: cluster
                .operators()
                .iter()
                .map(|o| KeySharesOperator {
                    id: o.id(),
                    operator_key: o.encoded().to_owned(),
                })
                .collect(),
        },
        payload: KeySharesPayload {
            shares_data: shares_data.to_hex(),
            public_key: pk_hex,
            operator_ids: cluster.ids(),
        },
    }
}

/// Builds one validator's entry: Shamir split over the cluster's operator ids, each share
/// encrypted to its operator, ownership signature for `(owner, nonce)`, sharesData. The entry is
/// verified ([`verify_item_for_cluster`]) before it is returned. Share secrets are wiped when
/// this returns.
pub fn build_item(
    validator: &SecretKey,
    cluster: &Cluster,
    owner: &Address,
    owner_nonce: u64,
    rng: &mut impl CryptoRngCore,
) -> Result<KeySharesItem> {
    build_item_verified(validator, cluster, owner, owner_nonce, rng).map(|(item, _)| item)
}

/// [`build_item`], also returning what its self-verification established (decoded sharesData,
/// parsed operators), so that callers need not verify twice.
pub fn build_item_verified(
    validator: &SecretKey,
    cluster: &Cluster,
    owner: &Address,
    owner_nonce: u64,
    rng: &mut impl CryptoRngCore,
) -> Result<(KeySharesItem, VerifiedItem)> {
    let built = build_shares_unchecked(validator, cluster, owner, owner_nonce, rng)?;
    let item = keyshares_item(
        &validator.public_key(),
        cluster,
        owner,
        owner_nonce,
        &built.shares_data,
    );
    let verified = verify_item_for_cluster(&item, cluster)?;
    Ok((item, verified))
}

/// Builds the entries of many validators for one owner, with consecutive nonces from
/// `first_nonce`, into a new file stamped `created_at`.
pub fn build_keyshares<'a>(
    validators: impl IntoIterator<Item = &'a SecretKey>,
    cluster: &Cluster,
    owner: &Address,
    first_nonce: u64,
    created_at: SystemTime,
    rng: &mut impl CryptoRngCore,
) -> Result<KeySharesFile> {
    let validators: Vec<&SecretKey> = validators.into_iter().collect();
    check_nonce_range(first_nonce, validators.len())?;
    let mut file = KeySharesFile::new(created_at);
    for (i, v) in validators.into_iter().enumerate() {
        file.shares
            .push(build_item(v, cluster, owner, first_nonce + i as u64, rng)?);
    }
    Ok(file)
}

/// Verifies one entry on its own: field agreement, operators (valid cluster, RSA-2048 keys),
/// sharesData length, ownership signature, the consistency of the share public keys with the
/// validator key, and that each ciphertext is below its operator's modulus.
pub fn verify_item(item: &KeySharesItem) -> Result<VerifiedItem> {
    verify_item_inner(item, true)
}

/// [`verify_item`], with the share consistency check left to the caller when `consistency` is
/// false (files check all validators in one batch).
fn verify_item_inner(item: &KeySharesItem, consistency: bool) -> Result<VerifiedItem> {
    let validator = item.data.public_key.clone();
    let ctx = format!("validator {validator}");
    let pk_bytes = decode_0x_hex(&item.data.public_key, &validator, "data.publicKey")?;
    let validator_public_key =
        PublicKey::from_bytes(&pk_bytes).map_err(|_| Error::InvalidPublicKey {
            validator: validator.clone(),
            field: "data.publicKey".into(),
        })?;
    let payload_pk = decode_0x_hex(&item.payload.public_key, &validator, "payload.publicKey")?;
    if payload_pk != pk_bytes {
        return Err(Error::FieldMismatch {
            context: ctx,
            field: "payload.publicKey",
            detail: format!("{} differs from data.publicKey", item.payload.public_key),
        });
    }
    let ids: Vec<u64> = item.data.operators.iter().map(|o| o.id).collect();
    check_operator_ids(&format!("{ctx} data.operators"), &ids)?;
    if item.payload.operator_ids != ids {
        return Err(Error::FieldMismatch {
            context: ctx,
            field: "payload.operatorIds",
            detail: format!(
                "{:?} differs from data.operators {:?}",
                item.payload.operator_ids, ids
            ),
        });
    }
    let cluster = Cluster::new(
        item.data
            .operators
            .iter()
            .map(|o| OperatorKey::parse(o.id, &o.operator_key))
            .collect::<Result<Vec<_>>>()?,
    )?;
    let owner = Address::from_str(&item.data.owner_address).map_err(|e| Error::OwnerAddress {
        context: ctx.clone(),
        value: item.data.owner_address.clone(),
        reason: e.to_string(),
    })?;
    check_nonce_range(item.data.owner_nonce, 1)?;
    let shares_data = SharesData::from_hex(&item.payload.shares_data, ids.len(), &validator)?;
    let signature =
        Signature::from_bytes(&shares_data.signature).map_err(|_| Error::InvalidSignature {
            validator: validator.clone(),
        })?;
    if !verify_ownership(
        &validator_public_key,
        &owner,
        item.data.owner_nonce,
        &signature,
    ) {
        return Err(Error::SignatureMismatch {
            validator,
            owner: owner.to_checksum(),
            nonce: item.data.owner_nonce,
        });
    }
    if consistency {
        verify_share_public_keys(
            &validator_public_key.to_bytes(),
            &ids,
            &shares_data.share_public_keys,
        )?;
    }
    for (op, ct) in cluster
        .operators()
        .iter()
        .zip(&shares_data.encrypted_shares)
    {
        if !op.ciphertext_in_range(ct) {
            return Err(Error::CiphertextOutOfRange {
                validator,
                operator_id: op.id(),
            });
        }
    }
    Ok(VerifiedItem {
        validator_public_key,
        owner,
        owner_nonce: item.data.owner_nonce,
        cluster,
        shares_data,
    })
}

/// [`verify_item`], and the entry's operators are exactly `expected` (ids and keys).
pub fn verify_item_for_cluster(item: &KeySharesItem, expected: &Cluster) -> Result<VerifiedItem> {
    let verified = verify_item(item)?;
    check_cluster(item, verified, expected)
}

fn check_cluster(
    item: &KeySharesItem,
    verified: VerifiedItem,
    expected: &Cluster,
) -> Result<VerifiedItem> {
    let ctx = format!("validator {}", item.data.public_key);
    if verified.cluster.ids() != expected.ids() {
        return Err(Error::FieldMismatch {
            context: ctx,
            field: "data.operators",
            detail: format!(
                "ids {:?}, expected {:?}",
                verified.cluster.ids(),
                expected.ids()
            ),
        });
    }
    for (got, want) in verified
        .cluster
        .operators()
        .iter()
        .zip(expected.operators())
    {
        if got.spki_der() != want.spki_der() {
            return Err(Error::FieldMismatch {
                context: ctx,
                field: "data.operators",
                detail: format!(
                    "operator {} key fingerprint {}, expected {}",
                    got.id(),
                    got.fingerprint_hex(),
                    want.fingerprint_hex()
                ),
            });
        }
    }
    Ok(verified)
}

impl KeySharesFile {
    /// An empty file with version [`KEYSHARES_VERSION`].
    pub fn new(created_at: SystemTime) -> Self {
        Self {
            version: KEYSHARES_VERSION.into(),
            created_at: iso8601_millis(created_at),
            shares: vec![],
        }
    }

    /// Pretty JSON (two-space indent, as the SDK's `JSON.stringify(…, null, 2)`), newline-terminated.
    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).unwrap_or_default();
        s.push('\n');
        s
    }

    /// Parses JSON; checks the version is one the SDK reads. Entries are not verified here.
    pub fn from_json(json: &str) -> Result<Self> {
        let file: Self = serde_json::from_str(json)
            .map_err(|e| Error::Json(kc_validator::text::printable(&e.to_string())))?;
        if !READABLE_VERSIONS.contains(&file.version.as_str()) {
            return Err(Error::Version {
                found: file.version,
            });
        }
        Ok(file)
    }

    /// Writes to a new file (never overwrites), fsynced.
    pub fn write_new(&self, path: &Path) -> Result<()> {
        let io = |source| Error::Io {
            path: path.to_owned(),
            source,
        };
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
            .map_err(io)?;
        f.write_all(self.to_json().as_bytes()).map_err(io)?;
        f.sync_all().map_err(io)
    }

    /// Reads and parses a file.
    pub fn read(path: &Path) -> Result<Self> {
        let s = std::fs::read_to_string(path).map_err(|source| Error::Io {
            path: path.to_owned(),
            source,
        })?;
        Self::from_json(&s)
    }

    /// Verifies every entry ([`verify_item`], or [`verify_item_for_cluster`] when `expected`
    /// is given) and that no validator appears twice. The share consistency checks of all
    /// entries run as one batch ([`verify_many_share_public_keys`]).
    pub fn verify(&self, expected: Option<&Cluster>) -> Result<Vec<VerifiedItem>> {
        if !READABLE_VERSIONS.contains(&self.version.as_str()) {
            return Err(Error::Version {
                found: self.version.clone(),
            });
        }
        let mut seen = std::collections::HashSet::new();
        let mut out = Vec::with_capacity(self.shares.len());
        for item in &self.shares {
            let v = verify_item_inner(item, false)?;
            let v = match expected {
                Some(c) => check_cluster(item, v, c)?,
                None => v,
            };
            if !seen.insert(v.validator_public_key.to_bytes()) {
                return Err(Error::DuplicateValidator {
                    validator: item.data.public_key.clone(),
                });
            }
            out.push(v);
        }
        let keys: Vec<[u8; 48]> = out
            .iter()
            .map(|v| v.validator_public_key.to_bytes())
            .collect();
        let ids: Vec<Vec<u64>> = out.iter().map(|v| v.cluster.ids()).collect();
        let sets: Vec<ShareSet<'_>> = out
            .iter()
            .zip(&keys)
            .zip(&ids)
            .map(|((v, key), ids)| ShareSet {
                validator_public_key: key,
                operator_ids: ids,
                share_public_keys: &v.shares_data.share_public_keys,
            })
            .collect();
        verify_many_share_public_keys(&sets)?;
        Ok(out)
    }

    /// [`KeySharesFile::verify`] against `expected`, and every entry is for `owner` with nonces
    /// `first_nonce, first_nonce + 1, …` in file order (what one ceremony writes).
    pub fn verify_batch(
        &self,
        expected: &Cluster,
        owner: &Address,
        first_nonce: u64,
    ) -> Result<Vec<VerifiedItem>> {
        let verified = self.verify(Some(expected))?;
        for (i, v) in verified.iter().enumerate() {
            let ctx = format!("validator 0x{}", v.validator_public_key.to_hex());
            if v.owner != *owner {
                return Err(Error::FieldMismatch {
                    context: ctx,
                    field: "data.ownerAddress",
                    detail: format!(
                        "{}, expected {}",
                        v.owner.to_checksum(),
                        owner.to_checksum()
                    ),
                });
            }
            let want = first_nonce.checked_add(i as u64);
            if want != Some(v.owner_nonce) {
                return Err(Error::FieldMismatch {
                    context: ctx,
                    field: "data.ownerNonce",
                    detail: format!(
                        "{}, expected {} (entry {i})",
                        v.owner_nonce,
                        first_nonce as u128 + i as u128
                    ),
                });
            }
        }
        Ok(verified)
    }
}

/// Writes a `keyshares.json` one entry at a time, byte for byte as [`KeySharesFile::to_json`]
/// writes the whole file (the ceremony streams its entries instead of holding them all).
pub struct KeySharesWriter<W: std::io::Write> {
    out: W,
    count: usize,
    buf: Vec<u8>,
}

impl<W: std::io::Write> KeySharesWriter<W> {
    /// Starts a file (version [`KEYSHARES_VERSION`]) stamped `created_at`.
    pub fn new(mut out: W, created_at: SystemTime) -> std::io::Result<Self> {
        let header = format!(
            "{{\n  \"version\": {},\n  \"createdAt\": {},\n  \"shares\": [",
            serde_json::Value::from(KEYSHARES_VERSION),
            serde_json::Value::from(iso8601_millis(created_at)),
        );
        out.write_all(header.as_bytes())?;
        Ok(Self {
            out,
            count: 0,
            buf: Vec::with_capacity(8192),
        })
    }

    /// Appends one entry.
    pub fn push(&mut self, item: &KeySharesItem) -> std::io::Result<()> {
        self.buf.clear();
        serde_json::to_writer_pretty(&mut self.buf, item)?;
        self.out
            .write_all(if self.count == 0 { b"\n" } else { b",\n" })?;
        // The entry sits two levels deep: four spaces before each of its lines (JSON strings
        // hold no raw newline).
        for (i, line) in self.buf.split(|b| *b == b'\n').enumerate() {
            if i > 0 {
                self.out.write_all(b"\n")?;
            }
            self.out.write_all(b"    ")?;
            self.out.write_all(line)?;
        }
        self.count += 1;
        Ok(())
    }

    /// Closes the list and the object; returns the writer.
    pub fn finish(mut self) -> std::io::Result<W> {
        let tail: &[u8] = if self.count == 0 {
            b"]\n}\n"
        } else {
            b"\n  ]\n}\n"
        };
        self.out.write_all(tail)?;
        Ok(self.out)
    }
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ` (UTC), like JavaScript's `Date.prototype.toISOString`.
pub fn iso8601_millis(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil from days (H. Hinnant's algorithm), days since 1970-01-01.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        d.subsec_millis()
    )
}
