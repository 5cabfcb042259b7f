//! The staging directory's files written as streams while validators are made: deposit data,
//! key shares, the transcript and the manifest's list of validators (a scratch file), each
//! hashed as written; and `manifest.json` written from that list at the end.

use std::io::Write;
use std::path::{Path, PathBuf};

use kc_bundle::fsio::{HashingFile, Staging};
use kc_bundle::manifest::{self, files, sha256_hex, Manifest};
use kc_bundle::merkle::{self, LeafInput};
use kc_bundle::plan::Plan;
use kc_bundle::transcript::steps::ValidatorCreated;
use kc_bundle::transcript::{Step, Transcript, TranscriptWriter};
use kc_ssv::KeySharesWriter;
use kc_validator::deposit::DepositJsonWriter;

use super::generate::{Generation, Made};
use crate::Error;

/// The error of a failed write to `path` in the staging directory.
pub(super) fn write_error(path: &Path) -> impl Fn(std::io::Error) -> Error {
    let path = path.to_owned();
    move |source| {
        kc_bundle::Error::Io {
            path: path.clone(),
            action: "write",
            source,
        }
        .into()
    }
}

/// A file of the staging directory written as a stream, with its path for errors.
pub(super) struct Stream<W> {
    pub(super) out: W,
    path: PathBuf,
}

impl<W> Stream<W> {
    fn fail(&self) -> impl Fn(std::io::Error) -> Error {
        write_error(&self.path)
    }
}

/// A streamed writer of the staging directory that ends its file (closing its JSON, writing
/// its last line) and hands back the hashing file underneath.
pub(super) trait EndFile {
    fn end(self) -> std::io::Result<HashingFile>;
}

impl EndFile for DepositJsonWriter<HashingFile> {
    fn end(self) -> std::io::Result<HashingFile> {
        self.finish()
    }
}

impl EndFile for KeySharesWriter<HashingFile> {
    fn end(self) -> std::io::Result<HashingFile> {
        self.finish()
    }
}

impl EndFile for TranscriptWriter<HashingFile> {
    fn end(self) -> std::io::Result<HashingFile> {
        self.finish()
    }
}

impl<W: EndFile> Stream<W> {
    /// Ends the file, syncs it and returns its SHA-256.
    pub(super) fn finish(self) -> Result<String, Error> {
        let fail = self.fail();
        Ok(self.out.end().map_err(fail)?.finish()?)
    }
}

impl Stream<TranscriptWriter<HashingFile>> {
    pub(super) fn append(&mut self, step: Step) {
        self.out.append(step);
    }
}

/// The manifest's list of validators, written to a scratch file in the staging directory as the
/// validators are written and copied into `manifest.json` at the end: memory holds only the
/// Merkle leaves (32 bytes a validator, the root needs them all).
pub(super) struct Listing {
    out: Stream<std::io::BufWriter<std::fs::File>>,
    pub(super) listed: usize,
    pub(super) leaves: Vec<merkle::Hash>,
}

impl Listing {
    /// Flushes and closes the scratch file: its path and how many entries it holds.
    pub(super) fn close(self) -> Result<(PathBuf, usize), Error> {
        let Stream { out, path } = self.out;
        drop(
            out.into_inner()
                .map_err(|e| write_error(&path)(e.into_error()))?,
        );
        Ok((path, self.listed))
    }
}

/// The staging directory's streamed files while validators are written.
pub(super) struct Streams {
    pub(super) deposit: Stream<DepositJsonWriter<HashingFile>>,
    pub(super) keyshares: Stream<KeySharesWriter<HashingFile>>,
    pub(super) transcript: Stream<TranscriptWriter<HashingFile>>,
    pub(super) list: Listing,
}

impl Streams {
    pub(super) fn open(
        staging: &Staging,
        transcript: Transcript,
        total: usize,
    ) -> Result<Self, Error> {
        let file = staging.create_file(files::DEPOSIT_DATA)?;
        let path = file.path().to_owned();
        let deposit = Stream {
            out: DepositJsonWriter::new(file).map_err(write_error(&path))?,
            path,
        };
        let file = staging.create_file(files::KEYSHARES)?;
        let path = file.path().to_owned();
        let keyshares = Stream {
            out: KeySharesWriter::new(file, std::time::SystemTime::now())
                .map_err(write_error(&path))?,
            path,
        };
        let file = staging.create_file(files::TRANSCRIPT)?;
        let path = file.path().to_owned();
        let transcript = Stream {
            out: transcript.into_writer(file).map_err(write_error(&path))?,
            path,
        };
        let path = staging.path().join(VALIDATORS_SCRATCH);
        let list = Listing {
            out: Stream {
                out: std::fs::File::create_new(&path)
                    .map(|f| std::io::BufWriter::with_capacity(1 << 16, f))
                    .map_err(write_error(&path))?,
                path,
            },
            listed: 0,
            leaves: Vec::with_capacity(total),
        };
        Ok(Self {
            deposit,
            keyshares,
            transcript,
            list,
        })
    }

    /// Writes checked validators: deposit data, key shares, transcript, manifest entries, leaves.
    pub(super) fn write(&mut self, made: Vec<Made>, g: &Generation<'_>) -> Result<(), Error> {
        for v in made {
            self.deposit
                .out
                .push(&v.deposit)
                .map_err(self.deposit.fail())?;
            let item = kc_ssv::keyshares_item(
                &v.deposit.pubkey,
                g.cluster,
                &g.plan.owner,
                v.nonce,
                &v.built.shares_data,
            );
            self.keyshares
                .out
                .push(&item)
                .map_err(self.keyshares.fail())?;
            let shares_data = v.built.shares_data.to_bytes();
            let leaf = merkle::leaf_hash(&LeafInput {
                pubkey: &v.deposit.pubkey.to_bytes(),
                signature: &v.deposit.signature.to_bytes(),
                deposit_data_root: &v.deposit.deposit_data_root,
                operator_ids: &g.ids,
                shares_data: &shares_data,
            });
            let entry = manifest::ValidatorEntry {
                index: v.index,
                pubkey: v.deposit.pubkey.to_hex(),
                deposit_data_root: hex::encode(v.deposit.deposit_data_root),
                owner_nonce: v.nonce,
                shares_data_sha256: sha256_hex(&shares_data),
                merkle_leaf: format!("0x{}", hex::encode(leaf)),
            };
            self.transcript.append(ValidatorCreated::step(&entry));
            let list = &mut self.list;
            serde_json::to_writer(&mut list.out.out, &entry)
                .map_err(std::io::Error::from)
                .and_then(|()| list.out.out.write_all(b"\n"))
                .map_err(list.out.fail())?;
            list.listed += 1;
            list.leaves.push(leaf);
        }
        Ok(())
    }
}

/// Writes the plan and the operators file as read; their SHA-256 by file name.
pub(super) fn write_inputs(
    staging: &Staging,
    plan: &Plan,
    operators_json: &str,
) -> Result<std::collections::BTreeMap<String, String>, Error> {
    let mut hashes = std::collections::BTreeMap::new();
    for (name, bytes) in [
        (files::PLAN, plan.text.as_bytes()),
        (files::OPERATORS, operators_json.as_bytes()),
    ] {
        staging.write(name, bytes)?;
        hashes.insert(name.to_owned(), sha256_hex(bytes));
    }
    Ok(hashes)
}

/// The scratch file, in the staging directory, that holds the manifest's list of validators
/// (one JSON object a line) until `manifest.json` is written; removed before verification.
const VALIDATORS_SCRATCH: &str = "validators.list.partial";

/// Writes `manifest.json`: `head` with the `count` validators of the scratch list at `list`,
/// read back one line at a time. Returns its SHA-256 (hex), computed as it was written.
pub(super) fn write_manifest(
    staging: &Staging,
    head: &Manifest,
    list: &Path,
    count: usize,
) -> Result<String, Error> {
    use std::io::BufRead;
    let read_err = |source: std::io::Error| -> Error {
        kc_bundle::Error::Io {
            path: list.to_owned(),
            action: "read",
            source,
        }
        .into()
    };
    let lines =
        std::io::BufReader::with_capacity(1 << 16, std::fs::File::open(list).map_err(read_err)?)
            .lines();
    let mut seen = 0usize;
    let entries = lines.map(|line| {
        seen += 1;
        line.and_then(|l| serde_json::from_str(&l).map_err(std::io::Error::from))
    });
    let mut out = staging.create_file(files::MANIFEST)?;
    let path = out.path().to_owned();
    manifest::write_streamed(head, entries, &mut out).map_err(|source| kc_bundle::Error::Io {
        path: path.clone(),
        action: "write",
        source,
    })?;
    if seen != count {
        return Err(Error::SelfCheck(format!(
            "the scratch list of validators holds {seen} entries, {count} were made"
        )));
    }
    Ok(out.finish()?)
}
