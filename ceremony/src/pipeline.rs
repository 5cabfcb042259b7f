//! The ceremony pipeline: a plan in, a signed and verified bundle out.
//!
//! Order (DESIGN.md, "The flow"): strict plan → refuse an existing output → HSM: token, PIN,
//! preflight, key attestation → master secret (HSM random mixed with OS random through HKDF, or
//! a mnemonic, or the seal of an earlier bundle) → per validator, in parallel: derive, deposit
//! data, ownership signature, Shamir split, encryption to operators, self-check → write into a
//! staging directory → seal the master secret and unseal it again to check → transcript →
//! manifest → sign with the identity key → verify the staged bundle by reading it back → rename
//! into place. Any error, cancel or abort before the rename leaves no directory that looks
//! complete.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use hkdf::Hkdf;
use kc_bundle::fsio::{HashingFile, Staging};
use kc_bundle::manifest::{self, files, sha256_hex, Manifest, ManifestSignature};
use kc_bundle::merkle::{self, LeafInput};
use kc_bundle::plan::{Plan, SeedSource};
use kc_bundle::seal::{self as seal_env, SealedMaster};
use kc_bundle::transcript::{Step, Transcript, TranscriptWriter};
use kc_bundle::verify::{self, Report, VerifyOptions};
use kc_hsm::{
    HsmSession, IdentityKey, Module, OaepHash, RsaSealed, SealBackend, Sealed, Sealer,
    SecretString, Token, TrialRole,
};
use kc_ssv::{Cluster, KeySharesWriter};
use kc_validator::bls::{batch_verify, PublicKey, Signature};
use kc_validator::deposit::{self, DepositData, DepositJsonWriter};
use kc_validator::derive::CoinKey;
use kc_validator::mnemonic::{Mnemonic, Seed};
use kc_validator::Address;
use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use rayon::prelude::*;
use serde_json::json;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::buildinfo::ToolIdentity;
use crate::hygiene::Hygiene;
use crate::ledger;
use crate::Error;

/// Where the master secret comes from.
pub enum MasterSource {
    /// As the plan says (`[seed] source`).
    Plan,
    /// Unsealed from an earlier bundle's `sealed/master.seal` (`ceremony recover`).
    Recover { bundle: PathBuf },
}

/// Who is in the room; recorded in the transcript.
#[derive(Debug, Clone, Default)]
pub struct People {
    pub administrator: Option<String>,
    pub witnesses: Vec<String>,
}

/// Everything a run needs besides the plan.
pub struct RunConfig {
    pub out: PathBuf,
    pub pin: SecretString,
    pub people: People,
    pub previous: Vec<PathBuf>,
    pub master: MasterSource,
    pub hygiene: Hygiene,
    pub tool: ToolIdentity,
}

/// How the pipeline reports progress and asks whether to stop.
pub trait Progress: Sync {
    /// A new stage begins.
    fn stage(&self, _name: &str) {}
    /// `done` of `total` validators are ready.
    fn validators(&self, _done: usize, _total: usize) {}
    /// Whether the user asked to cancel (checked between steps and validators).
    fn cancelled(&self) -> bool {
        false
    }

    // --- Paper backup (the TUI's optional paper-backup screen; off by default) ---------------

    /// Whether this run shows the mnemonic for a paper backup. Off unless the administrator
    /// asked for it and confirmed (the TUI); headless runs never do.
    fn wants_paper_backup(&self) -> bool {
        false
    }
    /// Receives the mnemonic once, only when [`Progress::wants_paper_backup`] is true, and
    /// returns when the phrase has been written down (the pipeline waits). The phrase must not
    /// be logged, stored or kept: it is zeroized when dropped. The transcript records
    /// `master.paper_backup_shown` (no words, only that it was shown and to whom).
    fn show_paper_backup(&self, _phrase: Zeroizing<String>) {}
}

/// No progress reporting.
pub struct Silent;
impl Progress for Silent {}

/// The result of a successful run.
#[derive(Debug)]
pub struct Outcome {
    pub dir: PathBuf,
    /// The manifest as written, except its list of validators, which stays on disk
    /// (`manifest.json` of `dir`): memory does not grow with the batch.
    pub manifest: Manifest,
    /// How many validators the bundle holds.
    pub validators: usize,
    /// SHA-256 of `manifest.json`: the bundle digest witnesses record.
    pub bundle_digest: String,
    /// The verification of the staged bundle (all passed).
    pub report: Report,
}

/// Test hook: `CEREMONY_TEST_ABORT_AT=<stage>` aborts the process (no unwinding, no cleanup) when
/// the pipeline reaches that stage, to prove that an interrupted ceremony leaves nothing that
/// looks complete. Harmless in production: aborting early is always safe.
pub const ABORT_ENV: &str = "CEREMONY_TEST_ABORT_AT";

pub(crate) fn stage(progress: &dyn Progress, name: &str) -> Result<(), Error> {
    if std::env::var(ABORT_ENV).is_ok_and(|v| v == name) {
        eprintln!("ceremony: aborting at stage {name} ({ABORT_ENV})");
        std::process::abort();
    }
    if progress.cancelled() {
        return Err(Error::Cancelled);
    }
    progress.stage(name);
    Ok(())
}

/// Fresh 32 bytes from the HSM and 32 from the OS, as one input keying material.
pub(crate) fn mixed_entropy(session: &HsmSession) -> Result<Zeroizing<[u8; 64]>, Error> {
    let hsm = session.random_array::<32>()?;
    let mut ikm = Zeroizing::new([0u8; 64]);
    ikm[..32].copy_from_slice(&hsm[..]);
    rand_core::OsRng.fill_bytes(&mut ikm[32..]);
    Ok(ikm)
}

/// HKDF-SHA256 over HSM ‖ OS randomness: a weakness in either source alone does not weaken the
/// output.
pub(crate) fn hkdf32(ikm: &[u8], salt: &[u8], info: &[u8]) -> Zeroizing<[u8; 32]> {
    let mut out = Zeroizing::new([0u8; 32]);
    Hkdf::<Sha256>::new(Some(salt), ikm)
        .expand(info, &mut out[..])
        .expect("32 bytes is a valid HKDF length");
    out
}

/// Runs a ceremony for `plan` and returns the committed bundle.
pub fn run(plan: &Plan, cfg: &RunConfig, progress: &dyn Progress) -> Result<Outcome, Error> {
    stage(progress, "plan")?;
    if cfg.out.exists() {
        return Err(kc_bundle::Error::Exists {
            path: cfg.out.clone(),
        }
        .into());
    }
    // A mnemonic is checked before the HSM is touched (and read again when it is needed).
    if matches!(cfg.master, MasterSource::Plan) && plan.file.seed.source == SeedSource::Mnemonic {
        drop(read_mnemonic(plan)?);
    }
    let plan_sha: [u8; 32] = Sha256::digest(plan.text.as_bytes()).into();
    let admin = cfg
        .people
        .administrator
        .clone()
        .unwrap_or_else(|| "ceremony".to_owned());
    let operators_json = plan.operators.to_json();
    let mut transcript = start_transcript(plan, cfg, &plan_sha, &operators_json, &admin)?;

    // Earlier bundles: no index or nonce may be used twice (checked again once the master's
    // fingerprint is known).
    stage(progress, "ledger")?;
    let previous = ledger::load_previous(&cfg.previous)?;
    ledger::check_nonces(plan, &previous)?;

    // HSM.
    stage(progress, "hsm")?;
    let module = Module::open(&plan.hsm_module)?;
    let token = module.select_token(
        &plan.file.hsm.token_label,
        plan.file.hsm.token_serial.as_deref(),
    )?;
    // Recovery: the --from bundle is verified in full, pinned to this token's identity key,
    // before the PIN is used or anything is unsealed (anyone holding a public seal key can make
    // an envelope; only the identity key's signature says it is ours).
    let recovered = match &cfg.master {
        MasterSource::Recover { bundle } => Some(verify_from(
            bundle,
            &token,
            &plan.file.hsm.identity_key_label,
        )?),
        MasterSource::Plan => None,
    };
    // The seal key's backend is told by its public half where it has one (rsa-oaep), so the
    // mechanism preflight runs before login, as for aes-256-gcm.
    let backend =
        if kc_hsm::rsa_seal_key_sha256_public(&token, &plan.file.hsm.seal_key_label)?.is_some() {
            SealBackend::RsaOaep
        } else {
            SealBackend::AesGcm
        };
    let token_attestation = token.attest(backend.requirements())?;
    let session = token.login(&cfg.pin)?;
    let trial = session.trial(TrialRole::Ceremony(backend))?;
    let sealer = Sealer::open(&session, &plan.file.hsm.seal_key_label)?;
    let identity = IdentityKey::open(&session, &plan.file.hsm.identity_key_label)?;
    if let Some(r) = &recovered {
        if identity.public_key_sec1() != r.identity {
            return Err(Error::FromBundle {
                path: r.path.clone(),
                failures: "the token's identity private key does not belong to the public key the bundle was verified with".into(),
            });
        }
    }
    transcript.append(Step::new("hsm.token", "ceremony").details(json!(token_attestation)));
    transcript.append(Step::new("hsm.preflight_trial", "ceremony").details(json!(trial)));
    transcript.append(Step::new("hsm.keys", "ceremony").details(json!({
        "seal": sealer.attestation(),
        "seal_backend": sealer.info(),
        "identity": identity.attestation(),
        "identity_public_key": hex::encode(identity.public_key_sec1()),
    })));

    // Master secret.
    stage(progress, "master")?;
    let MasterReady {
        entropy,
        source_name,
        fingerprint: master_fingerprint,
        seed,
    } = ready_master(
        plan,
        cfg,
        progress,
        recovered.as_ref(),
        &session,
        &previous,
        &mut transcript,
    )?;

    // Validators, a chunk at a time: generated on all cores, checked in batches (every deposit
    // and ownership signature, every share interpolation) before anything of them is written,
    // then streamed to the staging directory. Memory does not grow with the batch.
    stage(progress, "validators")?;
    let cluster = Cluster::parse(
        plan.operators
            .operators
            .iter()
            .map(|o| (o.id, o.public_key.as_str())),
    )?;
    let shares_ikm = mixed_entropy(&session)?;
    let shares_prk = hkdf32(
        &shares_ikm[..],
        b"kc-ceremony shamir v1",
        plan.id().as_bytes(),
    );
    drop(shares_ikm);
    let wc = deposit::withdrawal_credentials(plan.withdrawal_type, &plan.withdrawal_address);
    // The common EIP-2334 prefix m/12381/3600, derived once; the seed is not needed after it.
    let coin = CoinKey::from_seed(seed.as_bytes())?;
    drop(seed);
    let staging = Staging::create(&cfg.out)?;
    let mut out = Streams::open(&staging, transcript, plan.count() as usize)?;
    let gen = Generation {
        plan,
        progress,
        coin: &coin,
        shares_prk: &shares_prk,
        cluster: &cluster,
        ids: cluster.ids(),
        wc,
    };
    gen.write_all(&mut out)?;
    drop(coin);
    drop(shares_prk);

    // Write: the two large files end and are synced; plan and operators as read.
    stage(progress, "write")?;
    let Streams {
        deposit,
        keyshares,
        mut transcript,
        list,
    } = out;
    let deposit_sha = deposit.finish()?;
    let keyshares_sha = keyshares.finish()?;
    let mut file_hashes = write_inputs(&staging, plan, &operators_json)?;
    file_hashes.insert(files::DEPOSIT_DATA.to_owned(), deposit_sha.clone());
    file_hashes.insert(files::KEYSHARES.to_owned(), keyshares_sha.clone());
    let mut step = Step::new("files.written", "ceremony");
    for name in [
        files::PLAN,
        files::OPERATORS,
        files::DEPOSIT_DATA,
        files::KEYSHARES,
    ] {
        step = step.output(name, file_hashes[name].clone());
    }
    transcript.append(step);

    // Seal the master secret, then open it again in the HSM to check the sealed file.
    stage(progress, "seal")?;
    let sealed = seal_master(&staging, &session, &sealer, plan, &plan_sha, entropy)?;
    transcript.append(sealed.step);

    // Transcript, manifest, signature.
    stage(progress, "manifest")?;
    let merkle_root = format!(
        "0x{}",
        hex::encode(merkle::root(&list.leaves).expect("at least one validator"))
    );
    let listed = list.listed;
    transcript.append(Step::new("bundle.staged", "ceremony").details(json!({
        "validators": listed,
        "merkle_root": merkle_root,
    })));
    let transcript_head = transcript.out.head().to_owned();
    let transcript_sha = transcript.finish()?;
    file_hashes.insert(files::TRANSCRIPT.to_owned(), transcript_sha);
    file_hashes.insert(files::SEALED_MASTER.to_owned(), sha256_hex(&sealed.bytes));
    let master = manifest::MasterInfo {
        seed_source: source_name,
        fingerprint: master_fingerprint,
        seal_key_label: sealer.label().to_owned(),
        seal_algorithm: sealer.backend().name().to_owned(),
        seal_key_sha256: sealer.key_sha256().map(str::to_owned),
    };
    let m = Manifest {
        transcript_head,
        files: file_hashes,
        ..manifest_of(plan, cfg, &identity, &cluster, master, wc, merkle_root)
    };
    let (list_path, listed) = list.close()?;
    let manifest_sha = write_manifest(&staging, &m, &list_path, listed)?;
    std::fs::remove_file(&list_path).map_err(write_error(&list_path))?;
    let bundle_digest = sign_manifest(&staging, &session, &identity, manifest_sha)?;

    // Read everything back and verify it as an auditor would, pinned to our identity. The
    // signatures and interpolations were verified in memory before the two large files were
    // written: they are not redone on the same bytes (same SHA-256); everything else is.
    stage(progress, "verify")?;
    let proven = verify::Proven {
        deposit_data_sha256: deposit_sha,
        keyshares_sha256: keyshares_sha,
    };
    let report = verify_staged(
        staging.path(),
        &identity.public_key_sec1(),
        &cfg.tool.binary_sha256,
        proven,
    );
    if !report.ok() {
        return Err(Error::Verify {
            failures: report.failures_line(None),
        });
    }
    stage(progress, "commit")?;
    let dir = staging.commit()?;
    Ok(Outcome {
        dir,
        bundle_digest,
        manifest: m,
        validators: listed,
        report,
    })
}

/// The master secret, ready: its entropy (to seal), its seed (to derive from), its public
/// fingerprint and where it came from.
struct MasterReady {
    entropy: Zeroizing<Vec<u8>>,
    source_name: String,
    fingerprint: String,
    seed: Seed,
}

/// Makes or recovers the master secret, shows the paper backup when asked for, checks the
/// indices against earlier bundles of the same master, and records it in the transcript.
fn ready_master(
    plan: &Plan,
    cfg: &RunConfig,
    progress: &dyn Progress,
    recovered: Option<&Recovered>,
    session: &HsmSession,
    previous: &[ledger::Previous],
    transcript: &mut Transcript,
) -> Result<MasterReady, Error> {
    let (entropy, source_name) = master_entropy(plan, recovered, session)?;
    let mnemonic = Mnemonic::from_entropy(&entropy)?;
    let paper_backup = progress.wants_paper_backup().then(|| {
        progress.show_paper_backup(mnemonic.phrase());
        mnemonic.word_count()
    });
    let seed: Seed = mnemonic.to_seed("");
    drop(mnemonic);
    let master_pk = kc_validator::derive::master_sk(seed.as_bytes())?.public_key();
    let fingerprint = sha256_hex(&master_pk.to_bytes());
    ledger::check_indices(plan, &fingerprint, previous)?;
    transcript.append(Step::new("master.ready", "ceremony").details(json!({
        "source": source_name,
        "fingerprint": fingerprint,
    })));
    if let Some(words) = paper_backup {
        let admin = cfg.people.administrator.as_deref().unwrap_or("ceremony");
        transcript.append(
            Step::new("master.paper_backup_shown", admin).details(json!({
                "words": words,
                "witnesses": cfg.people.witnesses,
            })),
        );
    }
    if !previous.is_empty() {
        transcript.append(
            Step::new("ledger.checked", "ceremony").details(json!(ledger::summary(previous))),
        );
    }
    Ok(MasterReady {
        entropy,
        source_name,
        fingerprint,
        seed,
    })
}

/// The transcript's first steps: what the ceremony starts from (plan and operators by hash,
/// batch, owner, tool, process hygiene) and who is in the room.
fn start_transcript(
    plan: &Plan,
    cfg: &RunConfig,
    plan_sha: &[u8; 32],
    operators_json: &str,
    admin: &str,
) -> Result<Transcript, Error> {
    let operators_chain = plan
        .operators_chain()
        .map_err(|message| kc_bundle::Error::Plan {
            file: plan.path.clone(),
            field: "ssv.operators_file".into(),
            message,
        })?;
    let mut transcript = Transcript::new();
    transcript.append(
        Step::new("ceremony.started", admin)
            .input(files::PLAN, hex::encode(plan_sha))
            .input(files::OPERATORS, sha256_hex(operators_json.as_bytes()))
            .details(json!({
                "ceremony_id": plan.id(),
                "network": plan.network.name(),
                "validators": plan.count(),
                "start_index": plan.start_index(),
                "owner": plan.owner.to_checksum(),
                "first_nonce": plan.first_nonce(),
                "operators_chain": operators_chain,
                "tool": cfg.tool,
                "process": cfg.hygiene,
            })),
    );
    if cfg.people.administrator.is_some() || !cfg.people.witnesses.is_empty() {
        transcript.append(Step::new("people.recorded", admin).details(json!({
            "administrator": cfg.people.administrator,
            "witnesses": cfg.people.witnesses,
        })));
    }
    Ok(transcript)
}

/// The error of a failed write to `path` in the staging directory.
fn write_error(path: &Path) -> impl Fn(std::io::Error) -> Error {
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
struct Stream<W> {
    out: W,
    path: PathBuf,
}

impl<W> Stream<W> {
    fn fail(&self) -> impl Fn(std::io::Error) -> Error {
        write_error(&self.path)
    }
}

impl Stream<DepositJsonWriter<HashingFile>> {
    /// Ends the JSON list, syncs the file and returns its SHA-256.
    fn finish(self) -> Result<String, Error> {
        let fail = self.fail();
        Ok(self.out.finish().map_err(fail)?.finish()?)
    }
}

impl Stream<KeySharesWriter<HashingFile>> {
    /// Ends the key shares file, syncs it and returns its SHA-256.
    fn finish(self) -> Result<String, Error> {
        let fail = self.fail();
        Ok(self.out.finish().map_err(fail)?.finish()?)
    }
}

impl Stream<TranscriptWriter<HashingFile>> {
    fn append(&mut self, step: Step) {
        self.out.append(step);
    }

    /// Ends the transcript, syncs it and returns its SHA-256.
    fn finish(self) -> Result<String, Error> {
        let fail = self.fail();
        Ok(self.out.finish().map_err(fail)?.finish()?)
    }
}

/// The manifest's list of validators, written to a scratch file in the staging directory as the
/// validators are written and copied into `manifest.json` at the end: memory holds only the
/// Merkle leaves (32 bytes a validator, the root needs them all).
struct Listing {
    out: Stream<std::io::BufWriter<std::fs::File>>,
    listed: usize,
    leaves: Vec<merkle::Hash>,
}

impl Listing {
    /// Flushes and closes the scratch file: its path and how many entries it holds.
    fn close(self) -> Result<(PathBuf, usize), Error> {
        let Stream { out, path } = self.out;
        drop(
            out.into_inner()
                .map_err(|e| write_error(&path)(e.into_error()))?,
        );
        Ok((path, self.listed))
    }
}

/// The staging directory's streamed files while validators are written.
struct Streams {
    deposit: Stream<DepositJsonWriter<HashingFile>>,
    keyshares: Stream<KeySharesWriter<HashingFile>>,
    transcript: Stream<TranscriptWriter<HashingFile>>,
    list: Listing,
}

impl Streams {
    fn open(staging: &Staging, transcript: Transcript, total: usize) -> Result<Self, Error> {
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
    fn write(&mut self, made: Vec<Made>, g: &Generation<'_>) -> Result<(), Error> {
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
            self.transcript.append(
                Step::new("validator.created", "ceremony")
                    .output("sharesData", entry.shares_data_sha256.clone())
                    .details(json!({
                        "index": entry.index,
                        "pubkey": entry.pubkey,
                        "deposit_data_root": entry.deposit_data_root,
                        "owner_nonce": entry.owner_nonce,
                        "merkle_leaf": entry.merkle_leaf,
                    })),
            );
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

/// What generating a validator needs, shared by the chunks.
struct Generation<'a> {
    plan: &'a Plan,
    progress: &'a dyn Progress,
    coin: &'a CoinKey,
    shares_prk: &'a Zeroizing<[u8; 32]>,
    cluster: &'a Cluster,
    ids: Vec<u64>,
    wc: [u8; 32],
}

impl Generation<'_> {
    /// Makes and checks validators `first..last` on all cores (nothing of them is written
    /// before the check).
    fn make_chunk(&self, first: u32, last: u32, done: &AtomicUsize) -> Result<Vec<Made>, Error> {
        let total = self.plan.count() as usize;
        let made: Vec<Made> = (first..last)
            .into_par_iter()
            .map(|i| {
                if self.progress.cancelled() {
                    return Err(Error::Cancelled);
                }
                let made = make_validator(
                    self.plan,
                    self.coin,
                    self.shares_prk,
                    self.cluster,
                    self.wc,
                    i,
                )?;
                let n = done.fetch_add(1, Ordering::Relaxed) + 1;
                self.progress.validators(n, total);
                Ok(made)
            })
            .collect::<Result<_, Error>>()?;
        check_made(&made, &self.ids, &self.plan.owner)?;
        Ok(made)
    }

    /// Every validator of the plan, a chunk at a time: writing a checked chunk (one core)
    /// overlaps making and checking the next (all cores).
    fn write_all(&self, out: &mut Streams) -> Result<(), Error> {
        let done = AtomicUsize::new(0);
        let mut pending: Vec<Made> = Vec::new();
        let mut first = 0u32;
        loop {
            let last = self.plan.count().min(first.saturating_add(CHUNK));
            let written = std::mem::take(&mut pending);
            let (made, wrote) = rayon::join(
                || {
                    if first < last {
                        self.make_chunk(first, last, &done)
                    } else {
                        Ok(Vec::new())
                    }
                },
                || out.write(written, self),
            );
            wrote?;
            pending = made?;
            if pending.is_empty() {
                return Ok(());
            }
            first = last;
        }
    }
}

/// Writes the plan and the operators file as read; their SHA-256 by file name.
fn write_inputs(
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

/// The sealed master secret as written, and its transcript step.
struct SealedFile {
    bytes: Vec<u8>,
    step: Step,
}

/// Seals the master secret, writes the envelope, reads it back and opens it again in the HSM:
/// it must give the same secret (which is wiped when this returns).
fn seal_master(
    staging: &Staging,
    session: &HsmSession,
    sealer: &Sealer,
    plan: &Plan,
    plan_sha: &[u8; 32],
    entropy: Zeroizing<Vec<u8>>,
) -> Result<SealedFile, Error> {
    let aad = seal_env::associated_data(plan.id(), plan_sha);
    let sealed = sealer.seal(session, &entropy, &aad)?;
    let sealed = envelope_of(&sealed, sealer.label(), plan.id(), plan_sha).to_bytes();
    staging.write(files::SEALED_MASTER, &sealed)?;
    let reread = read_back(staging, files::SEALED_MASTER)?;
    let envelope = SealedMaster::from_bytes(&reread)?;
    let opened = sealer.unseal(session, &sealed_of(&envelope)?, &aad)?;
    if opened[..] != entropy[..] {
        return Err(Error::SelfCheck(
            "the sealed master secret does not open to the master secret".into(),
        ));
    }
    let step = Step::new("master.sealed", "ceremony")
        .output(files::SEALED_MASTER, sha256_hex(&sealed))
        .details(json!({
            "key_label": sealer.label(),
            "algorithm": sealer.backend().name(),
            "key_sha256": sealer.key_sha256(),
            "oaep_hash": envelope.oaep_hash,
            "reopened": true,
        }));
    Ok(SealedFile {
        bytes: sealed,
        step,
    })
}

/// The manifest of the plan's batch, except its transcript head and file hashes (known last)
/// and its list of validators (streamed from the scratch file).
fn manifest_of(
    plan: &Plan,
    cfg: &RunConfig,
    identity: &IdentityKey,
    cluster: &Cluster,
    master: manifest::MasterInfo,
    wc: [u8; 32],
    merkle_root: String,
) -> Manifest {
    Manifest {
        format: manifest::FORMAT.to_owned(),
        ceremony_id: plan.id().to_owned(),
        created_at: kc_bundle::transcript::now_rfc3339(),
        network: manifest::NetworkInfo {
            name: plan.network.name().to_owned(),
            fork_version: hex::encode(plan.network.genesis_fork_version()),
        },
        tool: tool_info(&cfg.tool),
        identity: identity_info(identity),
        master,
        withdrawal: manifest::WithdrawalInfo {
            address: plan.withdrawal_address.to_checksum(),
            kind: plan.file.deposit.withdrawal_type.clone(),
            credentials: hex::encode(wc),
            amount_gwei: plan.amount_gwei(),
        },
        owner: manifest::OwnerInfo {
            address: plan.owner.to_checksum(),
            first_nonce: plan.first_nonce(),
            last_nonce: plan.nonce_of(plan.count() - 1),
        },
        operators: operators_info(&plan.operators, cluster),
        validators: Vec::new(),
        merkle_root,
        transcript_head: String::new(),
        files: Default::default(),
    }
}

/// The manifest's `operators` section: the cluster's ids and key fingerprints, with the
/// operators file's provenance.
pub(crate) fn operators_info(
    file: &kc_bundle::operators::OperatorsFile,
    cluster: &Cluster,
) -> manifest::OperatorsInfo {
    manifest::OperatorsInfo {
        provenance: file.provenance.clone(),
        unpinned_allowed: file.provenance.is_none(),
        list: cluster
            .operators()
            .iter()
            .map(|o| manifest::OperatorInfo {
                id: o.id(),
                fingerprint: o.fingerprint_hex(),
            })
            .collect(),
    }
}

/// Writes `manifest.json` (`manifest_bytes`) and `manifest.sig`, its signature by the HSM
/// identity key (both bundle kinds use these two file names); returns the manifest's SHA-256
/// (hex), the bundle's digest.
pub(crate) fn write_signed_manifest(
    staging: &Staging,
    session: &HsmSession,
    identity: &IdentityKey,
    manifest_bytes: &[u8],
) -> Result<String, Error> {
    staging.write(files::MANIFEST, manifest_bytes)?;
    sign_manifest(staging, session, identity, sha256_hex(manifest_bytes))
}

/// Writes `manifest.sig`: the HSM identity key's signature over the manifest whose SHA-256
/// (hex) is `manifest_sha` — computed as `manifest.json` was written. Returns that digest, the
/// bundle's digest.
fn sign_manifest(
    staging: &Staging,
    session: &HsmSession,
    identity: &IdentityKey,
    manifest_sha: String,
) -> Result<String, Error> {
    let digest: [u8; 32] = hex::decode(&manifest_sha)
        .ok()
        .and_then(|d| d.try_into().ok())
        .expect("a SHA-256 in hex");
    let signature = identity.sign_digest(session, &digest)?;
    let sig = ManifestSignature {
        algorithm: manifest::SIGNATURE_ALGORITHM.to_owned(),
        public_key: hex::encode(identity.public_key_sec1()),
        manifest_sha256: manifest_sha,
        signature: hex::encode(signature),
    };
    staging.write(files::MANIFEST_SIG, &sig.to_bytes())?;
    Ok(sig.manifest_sha256)
}

/// The manifest's `tool` section for the binary that runs.
pub(crate) fn tool_info(tool: &ToolIdentity) -> manifest::ToolInfo {
    manifest::ToolInfo {
        name: tool.name.clone(),
        version: tool.version.clone(),
        git_commit: tool.git_commit.clone(),
        binary_sha256: tool.binary_sha256.clone(),
        cargo_lock_sha256: tool.cargo_lock_sha256.clone(),
    }
}

/// The manifest's `identity` section for the HSM identity key that signs it.
pub(crate) fn identity_info(identity: &IdentityKey) -> manifest::IdentityInfo {
    let pk = identity.public_key_sec1();
    manifest::IdentityInfo {
        algorithm: manifest::SIGNATURE_ALGORITHM.to_owned(),
        key_label: identity.label().to_owned(),
        public_key: hex::encode(pk),
        fingerprint: manifest::key_fingerprint(&pk),
    }
}

/// The scratch file, in the staging directory, that holds the manifest's list of validators
/// (one JSON object a line) until `manifest.json` is written; removed before verification.
const VALIDATORS_SCRATCH: &str = "validators.list.partial";

/// Writes `manifest.json`: `head` with the `count` validators of the scratch list at `list`,
/// read back one line at a time. Returns its SHA-256 (hex), computed as it was written.
fn write_manifest(
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

/// Verifies the staging directory as an auditor would, pinned to this ceremony's identity and
/// binary (the `INCOMPLETE` marker is the one file tolerated), except the cryptography it
/// `proven` in memory on the same bytes.
fn verify_staged(dir: &Path, identity: &[u8], binary: &str, proven: verify::Proven) -> Report {
    let opts = VerifyOptions {
        identity: Some(identity.to_vec()),
        expect_binary: Some(binary.to_owned()),
        staged: true,
        proven: Some(proven),
    };
    verify::verify_bundle(dir, &opts)
}

/// Validators generated per round: bounds what is held in memory.
const CHUNK: u32 = 512;
/// Validators per batched check (one task each, on all cores).
const CHECK_BATCH: usize = 64;

/// One validator, generated and not yet checked.
struct Made {
    index: u32,
    nonce: u64,
    deposit: DepositData,
    built: kc_ssv::BuiltShares,
}

/// Derives validator `i` of the batch (its remaining path levels below `coin`), signs its
/// deposit and builds its key shares; the secret key is wiped when this returns.
fn make_validator(
    plan: &Plan,
    coin: &CoinKey,
    shares_prk: &[u8; 32],
    cluster: &Cluster,
    wc: [u8; 32],
    i: u32,
) -> Result<Made, Error> {
    let index = plan.start_index() + i;
    let nonce = plan.nonce_of(i);
    let mut rng_seed = hkdf32(&shares_prk[..], b"validator", &index.to_be_bytes());
    let mut rng = ChaCha20Rng::from_seed(*rng_seed);
    zeroize::Zeroize::zeroize(&mut *rng_seed);
    let sk = coin.signing_key(index);
    let deposit = DepositData::create(&sk, wc, plan.amount_gwei(), &plan.network)
        .map_err(|source| Error::Validator { index, source })?;
    let built = kc_ssv::build_shares_unchecked(&sk, cluster, &plan.owner, nonce, &mut rng)
        .map_err(|source| Error::Shares { index, source })?;
    Ok(Made {
        index,
        nonce,
        deposit,
        built,
    })
}

/// Checks every validator of a round before anything of it is written: all deposit and
/// ownership signatures in batched pairing checks (random linear combinations), all share
/// interpolations in multi-scalar checks, in batches of [`CHECK_BATCH`] on all cores. When a
/// batch fails, its validators are checked one by one to name the first bad one.
fn check_made(made: &[Made], ids: &[u64], owner: &Address) -> Result<(), Error> {
    made.par_chunks(CHECK_BATCH).try_for_each(|batch| {
        let roots: Vec<([u8; 32], [u8; 32])> = batch
            .iter()
            .map(|v| {
                (
                    v.deposit.signing_root(),
                    kc_ssv::ownership::ownership_digest(owner, v.nonce),
                )
            })
            .collect();
        let mut items: Vec<(&[u8], &PublicKey, &Signature)> = Vec::with_capacity(2 * batch.len());
        for (v, (root, digest)) in batch.iter().zip(&roots) {
            items.push((root, &v.deposit.pubkey, &v.deposit.signature));
            items.push((digest, &v.deposit.pubkey, &v.built.ownership));
        }
        if !batch_verify(&items) {
            for (v, (root, digest)) in batch.iter().zip(&roots) {
                if !v.deposit.pubkey.verify(root, &v.deposit.signature) {
                    return Err(Error::SelfCheck(format!(
                        "validator {}: the deposit signature does not verify",
                        v.index
                    )));
                }
                if !v.deposit.pubkey.verify(digest, &v.built.ownership) {
                    return Err(Error::SelfCheck(format!(
                        "validator {}: the ownership signature does not verify",
                        v.index
                    )));
                }
            }
            return Err(Error::SelfCheck(
                "a batched signature check failed but every signature verifies alone".into(),
            ));
        }
        let sets: Vec<(&PublicKey, &kc_ssv::BuiltShares)> = batch
            .iter()
            .map(|v| (&v.deposit.pubkey, &v.built))
            .collect();
        kc_ssv::check_built_consistency(&sets, ids).map_err(|e| {
            let index = batch
                .iter()
                .find(|v| e.to_string().contains(&v.deposit.pubkey.to_hex()))
                .map_or(0, |v| v.index);
            Error::Shares { index, source: e }
        })
    })
}

/// Reads a staged file of a fixed ceiling (the sealed master) back through the bundle's
/// bounded reader.
fn read_back(staging: &Staging, name: &str) -> Result<Vec<u8>, Error> {
    let path = staging.path().join(name);
    let cap = kc_bundle::bounded::caps::for_file(name, 0, 0);
    read_bundle_file(&path, &cap)
}

/// Reads a bundle file through the bounded reader (the one verification uses).
pub(crate) fn read_bundle_file(
    path: &Path,
    cap: &kc_bundle::bounded::Cap,
) -> Result<Vec<u8>, Error> {
    kc_bundle::bounded::read(path, cap)
        .map(|(bytes, _)| bytes)
        .map_err(|source| {
            kc_bundle::Error::Read {
                path: path.to_owned(),
                source,
            }
            .into()
        })
}

/// The `--from` bundle of a recovery, verified (pinned to the token's identity key) before login.
pub(crate) struct Recovered {
    pub(crate) path: PathBuf,
    /// The identity public key it was verified with (read from the token without login).
    pub(crate) identity: [u8; 65],
    pub(crate) envelope: SealedMaster,
    /// The verified manifest (`reshare` reads the validators it moves from it).
    pub(crate) manifest: Manifest,
}

/// Verifies the `--from` bundle in full, pinned to the identity public key the token holds under
/// the plan's identity label (read without logging in), and returns its sealed master secret:
/// the very bytes whose hash the verified manifest lists. For `rsa-oaep`, the envelope must also
/// name the token's seal public key. Nothing here uses the PIN or decrypts anything.
pub(crate) fn verify_from(
    bundle: &Path,
    token: &Token,
    identity_label: &str,
) -> Result<Recovered, Error> {
    let fail = |failures: String| Error::FromBundle {
        path: bundle.to_owned(),
        failures,
    };
    let identity = kc_hsm::identity_public_key(token, identity_label)?;
    let opts = VerifyOptions {
        identity: Some(identity.to_vec()),
        expect_binary: None,
        staged: false,
        proven: None,
    };
    // Only the manifest is kept: memory does not grow with the size of the --from bundle.
    let manifest = verify::verified_manifest(bundle, &opts)
        .map_err(|report| fail(report.failures_line(None)))?;
    let sealed_path = bundle.join(files::SEALED_MASTER);
    let bytes = read_bundle_file(&sealed_path, &kc_bundle::bounded::caps::sealed_master())?;
    // Read again after verification: it must still be the file the manifest lists.
    if manifest.files.get(files::SEALED_MASTER) != Some(&sha256_hex(&bytes)) {
        return Err(fail(format!(
            "{} changed after it was verified",
            files::SEALED_MASTER
        )));
    }
    let envelope = SealedMaster::from_bytes(&bytes)?;
    if let Some(want) = &envelope.key_sha256 {
        match kc_hsm::rsa_seal_key_sha256_public(token, &envelope.key_label)? {
            Some(found) if found.eq_ignore_ascii_case(want) => {}
            found => {
                return Err(kc_hsm::Error::SealedToAnotherKey {
                    label: envelope.key_label.clone(),
                    token: token.label().to_owned(),
                    envelope: want.clone(),
                    found: found.unwrap_or_else(|| "no RSA seal public key".into()),
                }
                .into())
            }
        }
    }
    Ok(Recovered {
        path: bundle.to_owned(),
        identity,
        envelope,
        manifest,
    })
}

/// The bundle envelope of what a seal backend made.
fn envelope_of(
    sealed: &Sealed,
    label: &str,
    ceremony_id: &str,
    plan_sha: &[u8; 32],
) -> SealedMaster {
    match sealed {
        Sealed::AesGcm(blob) => SealedMaster::new(label, ceremony_id, plan_sha, blob),
        Sealed::RsaOaep(r) => SealedMaster::rsa_oaep(
            label,
            ceremony_id,
            plan_sha,
            r.hash.name(),
            &r.key_sha256,
            &r.blob,
        ),
    }
}

/// What a seal backend opens, from a parsed (shape-checked) envelope.
fn sealed_of(e: &SealedMaster) -> Result<Sealed, Error> {
    let blob = e.blob_bytes();
    match SealBackend::parse(&e.algorithm) {
        Some(SealBackend::AesGcm) => Ok(Sealed::AesGcm(blob)),
        Some(SealBackend::RsaOaep) => Ok(Sealed::RsaOaep(RsaSealed {
            hash: e
                .oaep_hash
                .as_deref()
                .and_then(OaepHash::parse)
                .ok_or_else(|| kc_bundle::Error::Seal {
                    message: "oaep_hash: not an OAEP hash".into(),
                })?,
            key_sha256: e.key_sha256.clone().unwrap_or_default(),
            blob,
        })),
        None => Err(kc_bundle::Error::Seal {
            message: format!("algorithm: {:?} is not a seal backend", e.algorithm),
        }
        .into()),
    }
}

/// The master secret (BIP-39 entropy) and a name for its source.
fn master_entropy(
    plan: &Plan,
    recovered: Option<&Recovered>,
    session: &HsmSession,
) -> Result<(Zeroizing<Vec<u8>>, String), Error> {
    if let Some(r) = recovered {
        return unseal_recovered(session, r);
    }
    match plan.file.seed.source {
        SeedSource::Hsm => {
            let ikm = mixed_entropy(session)?;
            let entropy = hkdf32(
                &ikm[..],
                b"kc-ceremony master secret v1",
                plan.id().as_bytes(),
            );
            Ok((Zeroizing::new(entropy.to_vec()), "hsm".to_owned()))
        }
        SeedSource::Mnemonic => Ok((read_mnemonic(plan)?, "mnemonic".to_owned())),
    }
}

/// Unseals the master secret of a verified `--from` bundle ([`verify_from`]) in the HSM, through
/// the seal backend its envelope names: the one unseal path of `recover` and `reshare`. Returns
/// the BIP-39 entropy and its source name.
pub(crate) fn unseal_recovered(
    session: &HsmSession,
    r: &Recovered,
) -> Result<(Zeroizing<Vec<u8>>, String), Error> {
    let envelope = &r.envelope;
    let sealer = Sealer::open(session, &envelope.key_label)?;
    let aad = seal_env::associated_data(&envelope.ceremony_id, &envelope.plan_digest());
    let entropy = sealer.unseal(session, &sealed_of(envelope)?, &aad)?;
    Ok((entropy, format!("recovered:{}", envelope.ceremony_id)))
}

/// Reads and checks the plan's mnemonic file and returns its BIP-39 entropy. A file that cannot
/// be read or is not a valid mnemonic is a plan error naming `seed.mnemonic_file` (exit 2); the
/// message never repeats a word.
fn read_mnemonic(plan: &Plan) -> Result<Zeroizing<Vec<u8>>, Error> {
    let path = plan.mnemonic_file.as_ref().expect("checked by the plan");
    let bad = |message: String| kc_bundle::Error::Plan {
        file: plan.path.clone(),
        field: "seed.mnemonic_file".into(),
        message: format!("{}: {message}", path.display()),
    };
    let text = Zeroizing::new(
        std::fs::read_to_string(path).map_err(|e| bad(format!("cannot read the mnemonic: {e}")))?,
    );
    let m = Mnemonic::parse(&text).map_err(|e| bad(e.to_string()))?;
    Ok(m.to_entropy())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A plan of `n` validators on hoodi for the fixture operators (as stored in a bundle: no
    /// file on this machine is looked at).
    fn plan(n: u32) -> (Plan, Cluster) {
        let fixture: serde_json::Value = serde_json::from_str(include_str!(
            "../../crates/ssv/tests/fixtures/operators.json"
        ))
        .unwrap();
        let list: Vec<kc_bundle::operators::OperatorEntry> = fixture["operators"]
            .as_array()
            .unwrap()
            .iter()
            .take(4)
            .map(|o| kc_bundle::operators::OperatorEntry {
                id: o["id"].as_u64().unwrap(),
                public_key: o["public_key"].as_str().unwrap().to_owned(),
            })
            .collect();
        let ops =
            kc_bundle::operators::OperatorsFile::parse(&serde_json::to_string(&list).unwrap())
                .unwrap();
        let text = format!(
            "[ceremony]\nid = \"unit\"\nnetwork = \"hoodi\"\nvalidators = {n}\nstart_index = 40\n\n\
             [deposit]\nwithdrawal_address = \"0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed\"\n\
             withdrawal_type = \"0x01\"\namount_gwei = 32000000000\n\n\
             [ssv]\nowner_address = \"0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359\"\n\
             owner_nonce = 9\noperators_file = \"operators.json\"\nallow_unpinned_operators = true\n\n\
             [hsm]\nmodule = \"/nonexistent.so\"\ntoken_label = \"t\"\n\n[seed]\nsource = \"hsm\"\n"
        );
        let plan = Plan::parse_in_bundle(&text, Path::new("plan.toml"), ops).unwrap();
        let cluster = Cluster::parse(
            plan.operators
                .operators
                .iter()
                .map(|o| (o.id, o.public_key.as_str())),
        )
        .unwrap();
        (plan, cluster)
    }

    fn made(n: u32) -> (Plan, Cluster, Vec<Made>) {
        let (plan, cluster) = plan(n);
        let coin = CoinKey::from_seed(&[0x42; 64]).unwrap();
        let wc = deposit::withdrawal_credentials(plan.withdrawal_type, &plan.withdrawal_address);
        let made = (0..n)
            .map(|i| make_validator(&plan, &coin, &[7; 32], &cluster, wc, i).unwrap())
            .collect();
        (plan, cluster, made)
    }

    /// What generation makes passes its batched check, and is the same as the full path's keys.
    #[test]
    fn generated_validators_pass_the_batched_check() {
        let (plan, cluster, made) = made(5);
        check_made(&made, &cluster.ids(), &plan.owner).unwrap();
        let seed = [0x42; 64];
        for v in &made {
            let sk = kc_validator::derive::signing_key(&seed, v.index).unwrap();
            assert_eq!(v.deposit.pubkey, sk.public_key());
            v.deposit.verify_for(&plan.network).unwrap();
        }
        assert_eq!(made[0].index, 40);
        assert_eq!(made[4].nonce, 13);
    }

    /// The invariant "every artifact is verified before the ceremony reports success" starts
    /// before anything is written: a deposit signature, an ownership signature or a share key
    /// that is not what it must be is refused by the batched check, naming the validator.
    #[test]
    fn a_bad_artifact_is_refused_before_anything_is_written() {
        let (plan, cluster, good) = made(4);
        let ids = cluster.ids();
        let name = |r: Result<(), Error>| r.unwrap_err().to_string();

        // Two deposit signatures swapped.
        let (_, _, mut m) = made(4);
        let s = m[1].deposit.signature;
        m[1].deposit.signature = m[2].deposit.signature;
        m[2].deposit.signature = s;
        let e = name(check_made(&m, &ids, &plan.owner));
        assert!(
            e.contains("validator 41") && e.contains("deposit signature"),
            "{e}"
        );

        // An ownership signature for another nonce.
        let (_, _, mut m) = made(4);
        m[3].built.ownership = m[2].built.ownership;
        let e = name(check_made(&m, &ids, &plan.owner));
        assert!(e.contains("validator 43") && e.contains("ownership"), "{e}");

        // A share public key that is not on the validator's polynomial.
        let (_, _, mut m) = made(4);
        m[2].built.shares_data.share_public_keys[0] =
            good[1].built.shares_data.share_public_keys[0];
        let e = name(check_made(&m, &ids, &plan.owner));
        assert!(e.contains(&m[2].deposit.pubkey.to_hex()), "{e}");
    }
}
