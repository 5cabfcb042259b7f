//! The two files that grow with the batch, `deposit_data.json` and `keyshares.json`, read as
//! streams so that memory does not grow with the number of validators.
//!
//! Two passes over the same open file ([`crate::bounded::BoundedFile`], rewound in between):
//! the first only finds where each entry ends and hashes every byte (cheap: no entry is parsed),
//! so that the hash, the entry count and the separators are known before anything else; the
//! second parses the entries of both files in lockstep, one chunk of validators at a time, does
//! the cheap checks of each entry on the way, and then the cryptography of the chunk on all
//! cores: point decoding, the ownership and deposit signatures in one batched pairing check per
//! sub-chunk, the share interpolation in one multi-scalar check per sub-chunk. The second pass
//! hashes again: what was parsed is what was hashed, or the file changed and fails.

use std::io::BufReader;
use std::path::Path;

use kc_ssv::{Cluster, KeySharesFile, KeySharesItem, SharesData};
use kc_validator::bls::{batch_verify, PublicKey, Signature};
use kc_validator::deposit::{self, DepositData, RawDeposit};
use rayon::prelude::*;

use super::Checker;
use crate::bounded::{self, caps, BoundedFile, Cap, ReadError};
use crate::jsonstream::{DepositEntries, KeySharesEntries, ScanError};
use crate::manifest::{files, sha256_hex, Manifest};
use crate::merkle::{self, LeafInput};
use crate::plan::Plan;

/// Validators parsed and checked per round (bounds memory).
const CHUNK: usize = 512;
/// Validators per batched pairing check and per multi-scalar check (one task each).
const SUB: usize = 64;
/// At most this many failures of one check are listed; the rest are counted.
const MAX_LISTED: usize = 100;

/// Failures of one check, listed up to [`MAX_LISTED`].
#[derive(Default)]
pub(super) struct Fails {
    list: Vec<(String, String)>,
    omitted: usize,
}

impl Fails {
    pub(super) fn push(&mut self, field: String, detail: String) {
        if self.list.len() < MAX_LISTED {
            self.list.push((field, detail));
        } else {
            self.omitted += 1;
        }
    }
    fn len(&self) -> usize {
        self.list.len() + self.omitted
    }
    fn extend(&mut self, other: Fails) {
        for (f, d) in other.list {
            self.push(f, d);
        }
        self.omitted += other.omitted;
    }
    pub(super) fn into_list(mut self) -> Vec<(String, String)> {
        if self.omitted > 0 {
            self.list.push((
                String::new(),
                format!("and {} more failures of this check", self.omitted),
            ));
        }
        self.list
    }
}

/// One of the two big files after its first pass.
pub(super) struct FirstPass {
    /// The open file, rewound for the second pass.
    file: BoundedFile,
    /// SHA-256 (hex) of the whole file.
    pub(super) hash: String,
    /// Entries found.
    pub(super) entries: usize,
    /// Why the entries could not all be found.
    pub(super) scan_error: Option<ScanError>,
    /// deposit_data.json: the separators are exactly ethstaker-deposit's.
    pub(super) exact: bool,
    /// keyshares.json: `version` and `createdAt`.
    pub(super) header: (Option<String>, Option<String>),
}

fn first_pass(
    path: &Path,
    cap: &Cap,
    scan: impl FnOnce(
        BufReader<BoundedFile>,
    ) -> (
        BufReader<BoundedFile>,
        usize,
        Option<ScanError>,
        bool,
        Header,
    ),
) -> Result<FirstPass, ReadError> {
    let file = bounded::open(path, cap)?;
    let (reader, entries, scan_error, exact, header) =
        scan(BufReader::with_capacity(1 << 16, file));
    let mut file = reader.into_inner();
    let hash = file.hash_rest()?;
    file.rewind()?;
    Ok(FirstPass {
        file,
        hash,
        entries,
        scan_error,
        exact,
        header,
    })
}

type Header = (Option<String>, Option<String>);

/// First pass over `deposit_data.json`: hash, entry count, separators.
pub(super) fn first_pass_deposits(path: &Path, cap: &Cap) -> Result<FirstPass, ReadError> {
    first_pass(path, cap, |r| {
        let mut d = DepositEntries::new(r, caps::DEPOSIT_ENTRY);
        let mut buf = Vec::new();
        let err = loop {
            match d.next_into(&mut buf) {
                Ok(true) => {}
                Ok(false) => break None,
                Err(e) => break Some(e),
            }
        };
        let (n, exact) = (d.count(), d.separators_exact());
        (d.into_inner(), n, err, exact, (None, None))
    })
}

/// First pass over `keyshares.json`: hash, entry count, version and creation time.
pub(super) fn first_pass_keyshares(
    path: &Path,
    cap: &Cap,
    operators: usize,
) -> Result<FirstPass, ReadError> {
    first_pass(path, cap, |r| {
        let mut k = KeySharesEntries::new(r, caps::keyshares_entry(operators));
        let mut buf = Vec::new();
        let err = loop {
            match k.next_into(&mut buf) {
                Ok(true) => {}
                Ok(false) => break None,
                Err(e) => break Some(e),
            }
        };
        let n = k.count();
        let (v, c) = k.header();
        let header = (v.map(str::to_owned), c.map(str::to_owned));
        (k.into_inner(), n, err, true, header)
    })
}

/// What may be done with a big file's entries beyond the cheap checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Crypto {
    /// Decode points and verify signatures and interpolations.
    Check,
    /// The caller verified them in memory on these very bytes (same SHA-256): not again.
    Proven,
    /// The file does not match the manifest (hash, count or layout): no cryptography at all.
    Skip,
}

/// What the entries must agree with.
pub(super) struct Expected<'a> {
    pub(super) plan: &'a Plan,
    pub(super) manifest: &'a Manifest,
}

/// The result of the second pass.
pub(super) struct Outcome {
    /// Per manifest validator, its Merkle leaf from the bytes as written (when computable).
    pub(super) leaves: Vec<Option<merkle::Hash>>,
    /// With `collect`, when every entry of both files was read: their content.
    pub(super) collected: Option<Collected>,
}

/// The content of both files, for the agent.
pub(super) struct Collected {
    pub(super) deposits: Vec<DepositData>,
    pub(super) keyshares: KeySharesFile,
    pub(super) shares_data: Vec<Vec<u8>>,
}

/// One validator's entries, read and cheap-checked, on their way to the cryptography.
struct Entry {
    i: usize,
    raw: Option<RawDeposit>,
    deposit_ok: bool,
    item: Option<KeySharesItem>,
    shares: Option<SharesData>,
    shares_ok: bool,
}

/// Per-file facts the cheap checks compare with, computed once.
struct Reference<'a> {
    m: &'a Manifest,
    plan: &'a Plan,
    wc: String,
    fork: String,
    network: &'static str,
    owner: String,
    ids: Vec<u64>,
    keys: Vec<(u64, &'a str)>,
}

/// The cryptography's results for a run of entries.
#[derive(Default)]
struct CryptoOut {
    deposit_fails: Fails,
    decode_fails: Fails,
    consistency_fails: Fails,
    ownership_fails: Fails,
    deposits_checked: usize,
    shares_checked: usize,
    deposits: Vec<(usize, DepositData)>,
}

impl CryptoOut {
    fn merge(&mut self, o: CryptoOut) {
        self.deposit_fails.extend(o.deposit_fails);
        self.decode_fails.extend(o.decode_fails);
        self.consistency_fails.extend(o.consistency_fails);
        self.ownership_fails.extend(o.ownership_fails);
        self.deposits_checked += o.deposits_checked;
        self.shares_checked += o.shares_checked;
        self.deposits.extend(o.deposits);
    }
}

/// Second pass over both files in lockstep; records the checks `deposit_data.plan`,
/// `deposit_data.signatures`, `keyshares.fields`, `keyshares.decode`, `keyshares.consistency`
/// and `keyshares.ownership`.
pub(super) fn check_entries(
    deposits: Option<(FirstPass, Crypto)>,
    keyshares: Option<(FirstPass, Crypto)>,
    exp: &Expected<'_>,
    collect: bool,
    c: &mut Checker,
) -> Outcome {
    let m = exp.manifest;
    let plan = exp.plan;
    let count = m.validators.len();
    let n = plan.operators.operators.len();
    let r = Reference {
        m,
        plan,
        wc: hex::encode(deposit::withdrawal_credentials(
            plan.withdrawal_type,
            &plan.withdrawal_address,
        )),
        fork: hex::encode(plan.network.genesis_fork_version()),
        network: plan.network.name(),
        owner: plan.owner.to_checksum(),
        ids: plan.operators.ids(),
        keys: plan
            .operators
            .operators
            .iter()
            .map(|o| (o.id, o.public_key.as_str()))
            .collect(),
    };
    let cluster = Cluster::parse(r.keys.iter().copied()).ok();

    let (dep_read, ks_read) = (deposits.is_some(), keyshares.is_some());
    let dep_mode = deposits.as_ref().map_or(Crypto::Skip, |(_, m)| *m);
    let ks_mode = keyshares.as_ref().map_or(Crypto::Skip, |(_, m)| *m);
    let mut dep_first_hash = None;
    let dep_stream = deposits.map(|(fp, _)| {
        dep_first_hash = Some(fp.hash);
        DepositEntries::new(
            BufReader::with_capacity(1 << 16, fp.file),
            caps::DEPOSIT_ENTRY,
        )
    });
    let mut ks_first = None;
    let ks_stream = keyshares.map(|(fp, _)| {
        ks_first = Some((fp.hash, fp.header));
        KeySharesEntries::new(
            BufReader::with_capacity(1 << 16, fp.file),
            caps::keyshares_entry(n),
        )
    });

    let mut rd = Reader {
        r: &r,
        collect,
        dep_stream,
        ks_stream,
        dep_fails: Fails::default(),
        ks_fails: Fails::default(),
        leaves: Vec::with_capacity(count),
        shares_bytes: Vec::new(),
        dep_buf: Vec::new(),
        ks_buf: Vec::new(),
        text: String::new(),
    };
    let mut out = CryptoOut::default();
    let mut items = Vec::new();
    // Reading and the cheap checks of the next chunk (one core) overlap the cryptography of the
    // current one (all cores).
    let mut chunk = rd.chunk(0, CHUNK.min(count));
    let mut start = 0;
    while start < count {
        let end = (start + CHUNK).min(count);
        let next_end = (end + CHUNK).min(count);
        let current = std::mem::take(&mut chunk);
        let (results, next) = rayon::join(
            || -> Vec<CryptoOut> {
                current
                    .par_chunks(SUB)
                    .map(|sub| crypto(sub, dep_mode, ks_mode, &r, cluster.as_ref(), collect))
                    .collect()
            },
            || rd.chunk(end, next_end),
        );
        for o in results {
            out.merge(o);
        }
        if collect {
            items.extend(current.into_iter().map(|e| e.item));
        }
        chunk = next;
        start = end;
    }
    let Reader {
        dep_stream,
        ks_stream,
        mut dep_fails,
        mut ks_fails,
        leaves,
        shares_bytes,
        ..
    } = rd;

    // The rest of each file (closing brackets, the keyshares members after the list), and the
    // second pass's hash: it must be the first's.
    let dep_complete = finish_deposits(dep_stream, dep_first_hash.as_deref(), &mut dep_fails);
    let (ks_complete, header) = finish_keyshares(ks_stream, ks_first, &mut ks_fails);

    // A file that could not be read at all has its failure in files.hashes, and no check here.
    if dep_read {
        c.group(
            "deposit_data.plan",
            files::DEPOSIT_DATA,
            dep_fails.into_list(),
            format!(
                "{count} deposits for {} with credentials {}",
                r.network, r.wc
            ),
        );
    }
    if ks_read {
        c.group(
            "keyshares.fields",
            files::KEYSHARES,
            ks_fails.into_list(),
            format!(
                "{count} entries for owner {}, nonces {}..={}",
                r.owner, m.owner.first_nonce, m.owner.last_nonce
            ),
        );
    }
    record_crypto(
        &mut out,
        dep_read.then_some(dep_mode),
        ks_read.then_some(ks_mode),
        n,
        c,
    );

    let collected = (collect
        && dep_complete
        && ks_complete
        && out.deposits.len() == count
        && items.iter().all(Option::is_some))
    .then(|| Collected {
        deposits: std::mem::take(&mut out.deposits)
            .into_iter()
            .map(|(_, d)| d)
            .collect(),
        keyshares: KeySharesFile {
            version: header.0.unwrap_or_default(),
            created_at: header.1.unwrap_or_default(),
            shares: items.into_iter().flatten().collect(),
        },
        shares_data: shares_bytes,
    });
    Outcome { leaves, collected }
}

/// The second pass's reading side: both streams in lockstep, the cheap checks of each entry,
/// the Merkle leaves.
struct Reader<'a> {
    r: &'a Reference<'a>,
    collect: bool,
    dep_stream: Option<DepositEntries<BufReader<BoundedFile>>>,
    ks_stream: Option<KeySharesEntries<BufReader<BoundedFile>>>,
    dep_fails: Fails,
    ks_fails: Fails,
    leaves: Vec<Option<merkle::Hash>>,
    shares_bytes: Vec<Vec<u8>>,
    dep_buf: Vec<u8>,
    ks_buf: Vec<u8>,
    text: String,
}

impl Reader<'_> {
    /// Reads and cheap-checks the entries `start..end` of both files.
    fn chunk(&mut self, start: usize, end: usize) -> Vec<Entry> {
        let mut chunk = Vec::with_capacity(end.saturating_sub(start));
        for i in start..end {
            let (raw, deposit_ok) = self.deposit(i);
            let (item, shares, bytes, shares_ok) = self.keyshare(i);
            self.leaves.push(
                raw.as_ref()
                    .filter(|_| !bytes.is_empty())
                    .and_then(|d| raw_leaf(d, &bytes, &self.r.ids)),
            );
            if self.collect {
                self.shares_bytes.push(bytes);
            }
            chunk.push(Entry {
                i,
                raw,
                deposit_ok,
                item,
                shares,
                shares_ok,
            });
        }
        chunk
    }

    /// Deposit entry `i`, and whether it passed its cheap checks.
    fn deposit(&mut self, i: usize) -> (Option<RawDeposit>, bool) {
        let Some(s) = self.dep_stream.as_mut() else {
            return (None, false);
        };
        match s.next_into(&mut self.dep_buf) {
            Ok(true) => match serde_json::from_slice::<RawDeposit>(&self.dep_buf) {
                Ok(d) => {
                    self.text.clear();
                    d.write_json(&mut self.text);
                    let before = self.dep_fails.len();
                    if self.text.as_bytes() != self.dep_buf.as_slice() {
                        self.dep_fails.push(
                            format!("[{i}]"),
                            "not in the exact ethstaker-deposit 1.3.1 layout".into(),
                        );
                    }
                    cheap_deposit(i, &d, self.r, &mut self.dep_fails);
                    let ok = self.dep_fails.len() == before;
                    (Some(d), ok)
                }
                Err(e) => {
                    self.dep_fails
                        .push(format!("[{i}]"), format!("not a deposit: {e}"));
                    (None, false)
                }
            },
            // The end, or a syntax error the first pass reported.
            Ok(false) | Err(_) => {
                self.dep_stream = None;
                (None, false)
            }
        }
    }

    /// Key shares entry `i`, its decoded sharesData and bytes, and whether it passed its cheap
    /// checks.
    fn keyshare(&mut self, i: usize) -> (Option<KeySharesItem>, Option<SharesData>, Vec<u8>, bool) {
        let Some(s) = self.ks_stream.as_mut() else {
            return (None, None, Vec::new(), false);
        };
        match s.next_into(&mut self.ks_buf) {
            Ok(true) => match serde_json::from_slice::<KeySharesItem>(&self.ks_buf) {
                Ok(it) => {
                    let before = self.ks_fails.len();
                    let sd = cheap_keyshare(i, &it, self.r, &mut self.ks_fails);
                    let ok = self.ks_fails.len() == before;
                    let bytes = sd.as_ref().map(SharesData::to_bytes).unwrap_or_default();
                    // The entry itself (its operators' keys, its hex) is kept only to be
                    // handed back; the checks need only the decoded sharesData.
                    (self.collect.then_some(it), sd, bytes, ok)
                }
                Err(e) => {
                    self.ks_fails.push(
                        format!("shares[{i}]"),
                        format!("not a keyshares entry: {e}"),
                    );
                    (None, None, Vec::new(), false)
                }
            },
            Ok(false) | Err(_) => {
                self.ks_stream = None;
                (None, None, Vec::new(), false)
            }
        }
    }
}

/// Reads what follows the last entry and compares the second pass's hash with the first's.
/// `true` when the file was read to its end and unchanged.
fn finish_deposits(
    stream: Option<DepositEntries<BufReader<BoundedFile>>>,
    first: Option<&str>,
    fails: &mut Fails,
) -> bool {
    let Some(mut s) = stream else { return false };
    let mut buf = Vec::new();
    match s.next_into(&mut buf) {
        Ok(false) => {}
        // More entries than the manifest's count, or a syntax error: the first pass said so.
        _ => return false,
    }
    let file = s.into_inner().into_inner();
    same_bytes(&file, first, files::DEPOSIT_DATA, fails)
}

fn finish_keyshares(
    stream: Option<KeySharesEntries<BufReader<BoundedFile>>>,
    first: Option<(String, Header)>,
    fails: &mut Fails,
) -> (bool, Header) {
    let Some((hash, header)) = first else {
        return (false, (None, None));
    };
    let Some(mut s) = stream else {
        return (false, header);
    };
    let mut buf = Vec::new();
    if !matches!(s.next_into(&mut buf), Ok(false)) {
        return (false, header);
    }
    let file = s.into_inner().into_inner();
    (
        same_bytes(&file, Some(&hash), files::KEYSHARES, fails),
        header,
    )
}

fn same_bytes(file: &BoundedFile, first: Option<&str>, name: &str, fails: &mut Fails) -> bool {
    let again = file.sha256_hex();
    if first != Some(again.as_str()) {
        fails.push(
            name.to_owned(),
            format!(
                "{name} changed while it was being verified (SHA-256 {} then {again})",
                first.unwrap_or("?")
            ),
        );
        return false;
    }
    true
}

/// A lower-case hex field of `len` bytes, or why not.
fn hex_shape(value: &str, len: usize) -> Result<(), String> {
    if value.len() != 2 * len {
        return Err(format!("{} hex digits, expected {}", value.len(), 2 * len));
    }
    if let Some(c) = value.chars().find(|c| !matches!(c, '0'..='9' | 'a'..='f')) {
        return Err(format!("{c:?} is not a lower-case hex digit"));
    }
    Ok(())
}

/// Cheap checks of one deposit entry: hex shapes, every field against the plan and the
/// manifest, and both roots recomputed from the bytes (hashing only).
fn cheap_deposit(i: usize, d: &RawDeposit, r: &Reference<'_>, fails: &mut Fails) {
    let f = |name: &str| format!("[{i}].{name}");
    let v = &r.m.validators[i];
    let before = fails.len();
    for (name, value, len) in [
        ("pubkey", &d.pubkey, 48),
        ("withdrawal_credentials", &d.withdrawal_credentials, 32),
        ("signature", &d.signature, 96),
        ("deposit_message_root", &d.deposit_message_root, 32),
        ("deposit_data_root", &d.deposit_data_root, 32),
        ("fork_version", &d.fork_version, 4),
    ] {
        if let Err(e) = hex_shape(value, len) {
            fails.push(f(name), e);
        }
    }
    if d.pubkey != v.pubkey {
        fails.push(
            f("pubkey"),
            format!("{}, manifest says {}", d.pubkey, v.pubkey),
        );
    }
    if d.withdrawal_credentials != r.wc {
        fails.push(
            f("withdrawal_credentials"),
            format!("{}, the plan gives {}", d.withdrawal_credentials, r.wc),
        );
    }
    if d.amount != r.plan.amount_gwei() {
        fails.push(
            f("amount"),
            format!("{}, the plan gives {}", d.amount, r.plan.amount_gwei()),
        );
    }
    if d.fork_version != r.fork {
        fails.push(
            f("fork_version"),
            format!("{}, the plan's network has {}", d.fork_version, r.fork),
        );
    }
    if d.network_name != r.network {
        fails.push(
            f("network_name"),
            format!(
                "{:?}, the plan's network is {:?}",
                d.network_name, r.network
            ),
        );
    }
    if d.deposit_data_root != v.deposit_data_root {
        fails.push(
            f("deposit_data_root"),
            format!(
                "{}, manifest says {}",
                d.deposit_data_root, v.deposit_data_root
            ),
        );
    }
    if fails.len() == before {
        if let Err(e) = d.check_roots() {
            fails.push(format!("[{i}]"), e.to_string());
        }
    }
}

/// Cheap checks of one keyshares entry: every field against the plan and the manifest, and
/// sharesData's length and SHA-256. Returns the decoded sharesData (bytes split, no points).
fn cheap_keyshare(
    i: usize,
    item: &KeySharesItem,
    r: &Reference<'_>,
    fails: &mut Fails,
) -> Option<SharesData> {
    let f = |name: &str| format!("shares[{i}].{name}");
    let v = &r.m.validators[i];
    let pk_hex = format!("0x{}", v.pubkey);
    if item.data.public_key != pk_hex {
        fails.push(
            f("data.publicKey"),
            format!("{}, manifest says {pk_hex}", item.data.public_key),
        );
    }
    if item.payload.public_key != pk_hex {
        fails.push(
            f("payload.publicKey"),
            format!("{}, manifest says {pk_hex}", item.payload.public_key),
        );
    }
    if item.data.owner_address != r.owner {
        fails.push(
            f("data.ownerAddress"),
            format!(
                "{}, the plan's owner is {}",
                item.data.owner_address, r.owner
            ),
        );
    }
    if item.data.owner_nonce != v.owner_nonce {
        fails.push(
            f("data.ownerNonce"),
            format!("{}, manifest says {}", item.data.owner_nonce, v.owner_nonce),
        );
    }
    if item.payload.operator_ids != r.ids {
        fails.push(
            f("payload.operatorIds"),
            format!(
                "{:?}, the cluster is {:?}",
                item.payload.operator_ids, r.ids
            ),
        );
    }
    let listed = item
        .data
        .operators
        .iter()
        .map(|o| (o.id, o.operator_key.as_str()));
    if !listed.eq(r.keys.iter().copied()) {
        fails.push(
            f("data.operators"),
            "operator ids or keys differ from operators.json".into(),
        );
    }
    match SharesData::from_hex(&item.payload.shares_data, r.ids.len(), &pk_hex) {
        Ok(sd) => {
            let digest = sha256_hex(&sd.to_bytes());
            if digest != v.shares_data_sha256 {
                fails.push(
                    f("payload.sharesData"),
                    format!("SHA-256 {digest}, manifest says {}", v.shares_data_sha256),
                );
            }
            Some(sd)
        }
        Err(e) => {
            fails.push(f("payload.sharesData"), e.to_string());
            None
        }
    }
}

/// The Merkle leaf of one validator from the bytes as written (hex decoded, nothing else).
pub(super) fn raw_leaf(d: &RawDeposit, shares_data: &[u8], ids: &[u64]) -> Option<merkle::Hash> {
    let pubkey = hex::decode(&d.pubkey).ok()?;
    let signature = hex::decode(&d.signature).ok()?;
    let root: [u8; 32] = hex::decode(&d.deposit_data_root).ok()?.try_into().ok()?;
    if pubkey.len() != 48 || signature.len() != 96 || shares_data.is_empty() {
        return None;
    }
    Some(merkle::leaf_hash(&LeafInput {
        pubkey: &pubkey,
        signature: &signature,
        deposit_data_root: &root,
        operator_ids: ids,
        shares_data,
    }))
}

/// The cryptography of a run of entries (one task): only entries that passed their cheap
/// checks, only for files that may have it.
fn crypto(
    sub: &[Entry],
    dep_mode: Crypto,
    ks_mode: Crypto,
    r: &Reference<'_>,
    cluster: Option<&Cluster>,
    collect: bool,
) -> CryptoOut {
    let mut out = CryptoOut::default();
    let mut keys: Vec<(usize, PublicKey)> = Vec::with_capacity(sub.len());
    // Deposits: the points (curve and subgroup), and the signing roots.
    let mut deposits: Vec<(usize, DepositData, [u8; 32])> = Vec::with_capacity(sub.len());
    if dep_mode == Crypto::Check || (collect && dep_mode != Crypto::Skip) {
        for e in sub {
            let (Some(raw), true) = (&e.raw, e.deposit_ok) else {
                continue;
            };
            match raw.decode() {
                Ok(d) => {
                    let root = d.signing_root();
                    keys.push((e.i, d.pubkey));
                    deposits.push((e.i, d, root));
                }
                Err(err) => out
                    .deposit_fails
                    .push(format!("[{}]", e.i), err.to_string()),
            }
        }
    }
    // Key shares: the validator key (taken from its deposit when that decoded: the same key,
    // by the cheap checks), the ownership signature, the ciphertexts against the cluster's
    // moduli, and the share interpolation.
    let mut ownership: Vec<(usize, [u8; 32], PublicKey, Signature)> = Vec::new();
    let mut sets: Vec<(usize, PublicKey, &SharesData)> = Vec::new();
    if ks_mode == Crypto::Check {
        for e in sub {
            let (Some(sd), true) = (&e.shares, e.shares_ok) else {
                continue;
            };
            let v = &r.m.validators[e.i];
            let field = format!("shares[{}].payload.sharesData", e.i);
            let pk = match keys.iter().find(|(i, _)| *i == e.i) {
                Some((_, pk)) => *pk,
                None => match hex::decode(&v.pubkey)
                    .ok()
                    .and_then(|b| PublicKey::from_bytes(&b).ok())
                {
                    Some(pk) => pk,
                    None => {
                        out.decode_fails.push(
                            format!("shares[{}].data.publicKey", e.i),
                            "not a valid BLS public key".into(),
                        );
                        continue;
                    }
                },
            };
            match Signature::from_bytes(&sd.signature) {
                Ok(sig) => {
                    let digest = kc_ssv::ownership::ownership_digest(&r.plan.owner, v.owner_nonce);
                    ownership.push((e.i, digest, pk, sig));
                }
                Err(err) => out
                    .decode_fails
                    .push(field.clone(), format!("ownership signature: {err}")),
            }
            if let Some(cluster) = cluster {
                for (op, ct) in cluster.operators().iter().zip(&sd.encrypted_shares) {
                    if !op.ciphertext_in_range(ct) {
                        out.decode_fails.push(
                            field.clone(),
                            format!(
                                "encrypted share of operator {} is not an RSA ciphertext for its key",
                                op.id()
                            ),
                        );
                    }
                }
            }
            sets.push((e.i, pk, sd));
        }
        // The validator keys were validated when decoded (from the deposit, or above): not again.
        let bytes: Vec<[u8; 48]> = sets.iter().map(|(_, pk, _)| pk.to_bytes()).collect();
        let batch: Vec<kc_ssv::ShareSet<'_>> = sets
            .iter()
            .zip(&bytes)
            .map(|((_, _, sd), pk)| kc_ssv::ShareSet {
                validator_public_key: pk,
                operator_ids: &r.ids,
                share_public_keys: &sd.share_public_keys,
            })
            .collect();
        let keys: Vec<PublicKey> = sets.iter().map(|(_, pk, _)| *pk).collect();
        if kc_ssv::verify_many_with_validated_keys(&batch, &keys).is_err() {
            for ((i, _, sd), pk) in sets.iter().zip(&bytes) {
                if let Err(err) =
                    kc_ssv::verify_share_public_keys(pk, &r.ids, &sd.share_public_keys)
                {
                    out.consistency_fails
                        .push(format!("shares[{i}].payload.sharesData"), err.to_string());
                }
            }
        }
        out.shares_checked = sets.len();
    }
    // Every signature of the run in one batched pairing check; one by one only if it fails.
    if dep_mode == Crypto::Check || ks_mode == Crypto::Check {
        let mut items: Vec<(&[u8], &PublicKey, &Signature)> = Vec::new();
        if dep_mode == Crypto::Check {
            items.extend(
                deposits
                    .iter()
                    .map(|(_, d, root)| (root.as_slice(), &d.pubkey, &d.signature)),
            );
        }
        items.extend(
            ownership
                .iter()
                .map(|(_, digest, pk, sig)| (digest.as_slice(), pk, sig)),
        );
        if !items.is_empty() && !batch_verify(&items) {
            if dep_mode == Crypto::Check {
                for (i, d, root) in &deposits {
                    if !d.pubkey.verify(root, &d.signature) {
                        out.deposit_fails
                            .push(format!("[{i}]"), "deposit signature does not verify".into());
                    }
                }
            }
            for (i, digest, pk, sig) in &ownership {
                if !pk.verify(digest, sig) {
                    out.ownership_fails.push(
                        format!("shares[{i}].payload.sharesData"),
                        "ownership signature does not verify for the owner and nonce".into(),
                    );
                }
            }
        }
    }
    out.deposits_checked = deposits.len();
    if collect {
        out.deposits = deposits.into_iter().map(|(i, d, _)| (i, d)).collect();
    }
    out
}

/// Why a file got no cryptographic check.
pub(super) fn not_checked(file: &str) -> String {
    format!(
        "not checked: {file} does not match the manifest (hash, entry count or layout), so no \
         point was decoded and no signature verified"
    )
}

fn proven(file: &str) -> String {
    format!(
        "verified in memory before {file} was written (batched) and the file is byte for byte \
         what was verified (same SHA-256): not redone"
    )
}

/// Records the cryptographic checks of both files.
fn record_crypto(
    out: &mut CryptoOut,
    dep: Option<Crypto>,
    ks: Option<Crypto>,
    n: usize,
    c: &mut Checker,
) {
    let t = kc_ssv::shamir::threshold(n).unwrap_or(0);
    let Some(dep) = dep else {
        return record_shares(out, ks, n, t, c);
    };
    match dep {
        Crypto::Check => c.group(
            "deposit_data.signatures",
            files::DEPOSIT_DATA,
            std::mem::take(&mut out.deposit_fails).into_list(),
            format!(
                "{} deposit signatures and roots valid (batched)",
                out.deposits_checked
            ),
        ),
        Crypto::Proven => c.pass(
            "deposit_data.signatures",
            files::DEPOSIT_DATA,
            format!("roots valid; signatures {}", proven(files::DEPOSIT_DATA)),
        ),
        Crypto::Skip => c.fail(
            "deposit_data.signatures",
            files::DEPOSIT_DATA,
            "",
            not_checked(files::DEPOSIT_DATA),
        ),
    }
    record_shares(out, ks, n, t, c);
}

fn record_shares(out: &mut CryptoOut, ks: Option<Crypto>, n: usize, t: usize, c: &mut Checker) {
    let Some(ks) = ks else { return };
    match ks {
        Crypto::Check => {
            c.group(
                "keyshares.decode",
                files::KEYSHARES,
                std::mem::take(&mut out.decode_fails).into_list(),
                format!(
                    "{} validator keys, ownership signatures and encrypted shares decoded",
                    out.shares_checked
                ),
            );
            c.group(
                "keyshares.consistency",
                files::KEYSHARES,
                std::mem::take(&mut out.consistency_fails).into_list(),
                format!(
                    "share public keys of every validator interpolate to its public key (threshold {t} of {n})"
                ),
            );
            c.group(
                "keyshares.ownership",
                files::KEYSHARES,
                std::mem::take(&mut out.ownership_fails).into_list(),
                format!(
                    "{} ownership signatures valid (batched)",
                    out.shares_checked
                ),
            );
        }
        Crypto::Proven => {
            c.pass(
                "keyshares.consistency",
                files::KEYSHARES,
                format!(
                    "share interpolation (threshold {t} of {n}) {}",
                    proven(files::KEYSHARES)
                ),
            );
            c.pass(
                "keyshares.ownership",
                files::KEYSHARES,
                format!("ownership signatures {}", proven(files::KEYSHARES)),
            );
        }
        Crypto::Skip => {
            for name in ["keyshares.consistency", "keyshares.ownership"] {
                c.fail(name, files::KEYSHARES, "", not_checked(files::KEYSHARES));
            }
        }
    }
}
