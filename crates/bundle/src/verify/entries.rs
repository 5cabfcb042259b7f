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

use kc_ssv::{KeySharesFile, KeySharesItem, SharesData};
use kc_validator::deposit::{self, DepositData, RawDeposit};

use crate::bounded::{self, caps, BoundedFile, Cap, ReadError};
use crate::jsonstream::{DepositEntries, KeySharesEntries, ScanError};
use crate::manifest::{files, ManifestHead, ValidatorEntry};
use crate::merkle;
use crate::plan::Plan;

use super::cheap::{cheap_deposit, cheap_keyshare, raw_leaf};
use super::crypto::{crypto, record_crypto, CryptoOut, Fails, SUB};
use super::list::ListReader;
use super::ordered;
use super::Checker;

/// How the validators flow through verification: tasks of [`SUB`] (a quarter of that in the
/// last 128, so that the cores finish together), at most 7 pending while the next is read, so
/// that at most 256 validators' entries are held at once.
pub(super) const SHAPE: ordered::Shape = ordered::Shape {
    task: SUB,
    in_flight: 7,
    tail: 128,
};

/// One of the two big files after its first pass.
pub(super) struct FirstPass {
    /// The open file, rewound for the second pass.
    pub(super) file: BoundedFile,
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

pub(super) fn first_pass(
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

pub(super) type Header = (Option<String>, Option<String>);

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
    pub(super) manifest: &'a ManifestHead,
}

/// What the second pass keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Keep {
    /// Nothing that grows with the batch.
    Nothing,
    /// The manifest's list of validators.
    List,
    /// Everything, for the agent.
    Bundle,
}

/// The result of the second pass.
pub(super) struct Outcome {
    /// `merkle_leaf` failures: a leaf that differs from the manifest's, or cannot be computed.
    pub(super) leaf_fails: Vec<(String, String)>,
    /// The root of the leaves computed from the bytes as written, and how many there were
    /// (the root covers the batch only when every validator's leaf was computed).
    pub(super) root: merkle::RootBuilder,
    /// With [`Keep::Bundle`]: the leaves in manifest order.
    pub(super) leaves: Vec<merkle::Hash>,
    /// With [`Keep::List`] or [`Keep::Bundle`]: the manifest's entries as read.
    pub(super) validators: Vec<ValidatorEntry>,
    /// With [`Keep::Bundle`], when every entry of both files was read: their content.
    pub(super) collected: Option<Collected>,
}

/// The content of both files, for the agent.
pub(super) struct Collected {
    pub(super) deposits: Vec<DepositData>,
    pub(super) keyshares: KeySharesFile,
    pub(super) shares_data: Vec<Vec<u8>>,
}

/// One validator's entries, read and cheap-checked, on their way to the cryptography.
pub(super) struct Entry {
    pub(super) i: usize,
    /// The manifest's entry of this validator.
    pub(super) v: Option<ValidatorEntry>,
    pub(super) raw: Option<RawDeposit>,
    pub(super) deposit_ok: bool,
    pub(super) item: Option<KeySharesItem>,
    pub(super) shares: Option<SharesData>,
    pub(super) shares_ok: bool,
}

/// Per-file facts the cheap checks compare with, computed once.
pub(super) struct Reference<'a> {
    pub(super) plan: &'a Plan,
    pub(super) wc: String,
    pub(super) fork: String,
    pub(super) network: &'static str,
    pub(super) owner: String,
    pub(super) ids: Vec<u64>,
    pub(super) keys: Vec<(u64, &'a str)>,
}

/// Second pass over both files in lockstep; records the checks `deposit_data.plan`,
/// `deposit_data.signatures`, `keyshares.fields`, `keyshares.decode`, `keyshares.consistency`
/// and `keyshares.ownership`.
pub(super) fn check_entries(
    deposits: Option<(FirstPass, Crypto)>,
    keyshares: Option<(FirstPass, Crypto)>,
    list: &mut ListReader,
    exp: &Expected<'_>,
    keep: Keep,
    c: &mut Checker,
) -> Outcome {
    let collect = keep == Keep::Bundle;
    let m = exp.manifest;
    let plan = exp.plan;
    let count = m.validators.len();
    let n = plan.operators.operators.len();
    let r = Reference {
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
    let cluster = plan.operators.cluster().ok();

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

    let both_read = dep_read && ks_read;
    let mut rd = Reader {
        r: &r,
        collect,
        keep_list: keep != Keep::Nothing,
        both_read,
        list,
        leaf_fails: Vec::new(),
        root: merkle::RootBuilder::default(),
        validators: Vec::new(),
        dep_stream,
        ks_stream,
        dep_fails: Fails::default(),
        ks_fails: Fails::default(),
        leaves: Vec::new(),
        shares_bytes: Vec::new(),
        dep_buf: Vec::new(),
        ks_buf: Vec::new(),
        text: String::new(),
    };
    // Reading and the cheap checks (this thread) overlap the cryptography (tasks of SUB
    // validators on every core), with no barrier; results merged in order.
    let mut out = CryptoOut::default();
    let mut items = Vec::new();
    let (r, cluster) = (&r, cluster.as_ref());
    ordered::run(
        count,
        SHAPE,
        |start, end| rd.chunk(start, end),
        |sub: Vec<Entry>| {
            let o = crypto(&sub, dep_mode, ks_mode, r, cluster, collect);
            let kept: Vec<Option<KeySharesItem>> = if collect {
                sub.into_iter().map(|e| e.item).collect()
            } else {
                Vec::new()
            };
            (o, kept)
        },
        |(o, kept)| {
            out.merge(o);
            items.extend(kept);
        },
    );
    let Reader {
        dep_stream,
        ks_stream,
        mut dep_fails,
        mut ks_fails,
        leaves,
        shares_bytes,
        leaf_fails,
        root,
        validators,
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
    Outcome {
        leaf_fails,
        root,
        leaves,
        validators,
        collected,
    }
}

/// The second pass's reading side: both streams in lockstep, the cheap checks of each entry,
/// the Merkle leaves.
pub(super) struct Reader<'a> {
    pub(super) r: &'a Reference<'a>,
    pub(super) collect: bool,
    pub(super) keep_list: bool,
    /// Both files were opened: a leaf that cannot be computed is a failure.
    pub(super) both_read: bool,
    pub(super) list: &'a mut ListReader,
    pub(super) leaf_fails: Vec<(String, String)>,
    pub(super) root: merkle::RootBuilder,
    pub(super) validators: Vec<ValidatorEntry>,
    pub(super) dep_stream: Option<DepositEntries<BufReader<BoundedFile>>>,
    pub(super) ks_stream: Option<KeySharesEntries<BufReader<BoundedFile>>>,
    pub(super) dep_fails: Fails,
    pub(super) ks_fails: Fails,
    pub(super) leaves: Vec<merkle::Hash>,
    pub(super) shares_bytes: Vec<Vec<u8>>,
    pub(super) dep_buf: Vec<u8>,
    pub(super) ks_buf: Vec<u8>,
    pub(super) text: String,
}

impl Reader<'_> {
    /// Reads and cheap-checks the entries `start..end` of both files.
    fn chunk(&mut self, start: usize, end: usize) -> Vec<Entry> {
        let mut chunk = Vec::with_capacity(end.saturating_sub(start));
        for i in start..end {
            // The manifest was hashed and verified whole: a missing entry means it changed,
            // which its rereading reports.
            let v = self.list.next();
            let (raw, deposit_ok) = self.deposit(i, v.as_ref());
            let (item, shares, bytes, shares_ok) = self.keyshare(i, v.as_ref());
            let leaf = raw
                .as_ref()
                .filter(|_| !bytes.is_empty())
                .and_then(|d| raw_leaf(d, &bytes, &self.r.ids));
            self.leaf(i, leaf, v.as_ref());
            if self.collect {
                self.shares_bytes.push(bytes);
            }
            if let (true, Some(v)) = (self.keep_list, &v) {
                self.validators.push(v.clone());
            }
            chunk.push(Entry {
                i,
                v,
                raw,
                deposit_ok,
                item,
                shares,
                shares_ok,
            });
        }
        chunk
    }

    /// The leaf of validator `i` computed from the bytes as written, against the manifest's.
    fn leaf(&mut self, i: usize, leaf: Option<merkle::Hash>, v: Option<&ValidatorEntry>) {
        let Some(leaf) = leaf else {
            if self.both_read {
                self.leaf_fails.push((
                    format!("validators[{i}].merkle_leaf"),
                    "cannot be computed: the deposit or sharesData of this validator is \
                     missing or malformed"
                        .to_owned(),
                ));
            }
            return;
        };
        if let Some(v) = v {
            let got = format!("0x{}", hex::encode(leaf));
            if got != v.merkle_leaf {
                self.leaf_fails.push((
                    format!("validators[{i}].merkle_leaf"),
                    format!("manifest says {}, computed {got}", v.merkle_leaf),
                ));
            }
        }
        self.root.push(&leaf);
        if self.collect {
            self.leaves.push(leaf);
        }
    }

    /// Deposit entry `i`, and whether it passed its cheap checks.
    fn deposit(&mut self, i: usize, v: Option<&ValidatorEntry>) -> (Option<RawDeposit>, bool) {
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
                    if let Some(v) = v {
                        cheap_deposit(i, &d, v, self.r, &mut self.dep_fails);
                    }
                    let ok = v.is_some() && self.dep_fails.len() == before;
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
    fn keyshare(
        &mut self,
        i: usize,
        v: Option<&ValidatorEntry>,
    ) -> (Option<KeySharesItem>, Option<SharesData>, Vec<u8>, bool) {
        let Some(s) = self.ks_stream.as_mut() else {
            return (None, None, Vec::new(), false);
        };
        match s.next_into(&mut self.ks_buf) {
            Ok(true) => match serde_json::from_slice::<KeySharesItem>(&self.ks_buf) {
                Ok(it) => {
                    let before = self.ks_fails.len();
                    let sd = v.and_then(|v| cheap_keyshare(i, &it, v, self.r, &mut self.ks_fails));
                    let ok = v.is_some() && self.ks_fails.len() == before;
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
pub(super) fn finish_deposits(
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

pub(super) fn finish_keyshares(
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

pub(super) fn same_bytes(
    file: &BoundedFile,
    first: Option<&str>,
    name: &str,
    fails: &mut Fails,
) -> bool {
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
