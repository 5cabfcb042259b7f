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

mod from;
mod generate;
mod seal;
mod sign;
mod streams;

use std::path::PathBuf;

use hkdf::Hkdf;
use kc_bundle::fsio::Staging;
use kc_bundle::manifest::{files, sha256_hex, Made, MadeMaster, Manifest, OperatorsInfo};
use kc_bundle::merkle;
use kc_bundle::plan::{Plan, SeedSource};
use kc_bundle::transcript::steps::{
    self, BundleStaged, CeremonyStarted, FilesWritten, HsmKeys, HsmToken, LedgerChecked,
    PaperBackupShown, PeopleRecorded, PreflightTrial,
};
use kc_bundle::transcript::{Step, Transcript};
use kc_bundle::verify::{self, Report};
use kc_hsm::{HsmSession, IdentityKey, Module, SealBackend, Sealer, SecretString, TrialRole};
use kc_ssv::Cluster;
use kc_validator::deposit;
use kc_validator::derive::CoinKey;
use kc_validator::mnemonic::{Mnemonic, Seed};
use rand_chacha::rand_core::RngCore;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::buildinfo::ToolIdentity;
use crate::hygiene::Hygiene;
use crate::ledger;
use crate::Error;

pub(crate) use from::{read_bundle_file, verify_from, Recovered};
use generate::Generation;
pub(crate) use seal::unseal_recovered;
use seal::{master_entropy, read_mnemonic, seal_master};
use sign::{sign_manifest, verify_staged};
pub(crate) use sign::{tool_info, write_signed_manifest};
use streams::{write_error, write_inputs, write_manifest, Streams};

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

impl People {
    /// The `people.recorded` step by `admin`, when anyone was named.
    pub(crate) fn step(&self, admin: &str) -> Option<Step> {
        (self.administrator.is_some() || !self.witnesses.is_empty()).then(|| {
            Step::of(
                admin,
                &PeopleRecorded {
                    administrator: self.administrator.clone(),
                    witnesses: self.witnesses.clone(),
                },
            )
        })
    }
}

impl From<Hygiene> for steps::Process {
    fn from(h: Hygiene) -> Self {
        steps::Process {
            core_dumps_disabled: h.core_dumps_disabled,
            not_dumpable: h.not_dumpable,
            memory_locked: h.memory_locked,
        }
    }
}

/// What `kc-hsm` reports (an attestation, a trial) as the transcript payload type that records
/// it. The two are one shape; a mismatch is a defect of this binary, refused before anything
/// is written.
pub(crate) fn recorded<P: serde::de::DeserializeOwned>(
    report: &impl serde::Serialize,
) -> Result<P, Error> {
    serde_json::to_value(report)
        .and_then(serde_json::from_value)
        .map_err(|e| {
            Error::SelfCheck(format!(
                "an HSM report does not fit its transcript step: {e}"
            ))
        })
}

/// The transcript's HSM steps (both bundle kinds): the token, the preflight trial, the keys.
pub(crate) fn hsm_steps(
    token: &kc_hsm::TokenAttestation,
    trial: &impl serde::Serialize,
    keys: &HsmKeys,
) -> Result<[Step; 3], Error> {
    Ok([
        Step::of("ceremony", &recorded::<HsmToken>(token)?),
        Step::of("ceremony", &recorded::<PreflightTrial>(trial)?),
        Step::of("ceremony", keys),
    ])
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
    let Hsm {
        session,
        sealer,
        identity,
        recovered,
    } = open_hsm(plan, cfg, &mut transcript)?;

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
    let cluster = plan.operators.cluster()?;
    let (staging, out) =
        write_validators(plan, cfg, progress, &session, seed, &cluster, transcript)?;

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
    transcript.append(FilesWritten::step(
        [
            files::PLAN,
            files::OPERATORS,
            files::DEPOSIT_DATA,
            files::KEYSHARES,
        ]
        .map(|name| (name, file_hashes[name].clone())),
    ));

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
    transcript.append(Step::of(
        "ceremony",
        &BundleStaged {
            validators: listed,
            merkle_root: merkle_root.clone(),
        },
    ));
    let transcript_head = transcript.out.head().to_owned();
    let transcript_sha = transcript.finish()?;
    file_hashes.insert(files::TRANSCRIPT.to_owned(), transcript_sha);
    file_hashes.insert(files::SEALED_MASTER.to_owned(), sha256_hex(&sealed.bytes));
    let m = Manifest::build(
        plan,
        Made {
            created_at: kc_bundle::transcript::now_rfc3339(),
            tool: tool_info(&cfg.tool),
            identity_public_key: identity.public_key_sec1().to_vec(),
            master: MadeMaster {
                seed_source: source_name,
                fingerprint: master_fingerprint,
                seal_algorithm: sealer.backend().name().to_owned(),
                seal_key_sha256: sealer.key_sha256().map(str::to_owned),
            },
            operators: OperatorsInfo::of(&plan.operators, &cluster),
            merkle_root,
            transcript_head,
            files: file_hashes,
        },
    );
    let (list_path, listed) = list.close()?;
    let manifest_sha = write_manifest(&staging, &m, &list_path, listed)?;
    std::fs::remove_file(&list_path).map_err(write_error(&list_path))?;
    let bundle_digest = sign_manifest(&staging, &session, &identity, manifest_sha)?;

    stage(progress, "verify")?;
    let proven = verify::Proven {
        deposit_data_sha256: deposit_sha,
        keyshares_sha256: keyshares_sha,
    };
    let (dir, report) = verify_and_commit(staging, &identity, cfg, proven, progress)?;
    Ok(Outcome {
        dir,
        bundle_digest,
        manifest: m,
        validators: listed,
        report,
    })
}

/// Makes every validator of the plan, a chunk at a time: generated on all cores, checked in
/// batches (every deposit and ownership signature, every share interpolation) before anything
/// of them is written, then streamed into a new staging directory (the transcript goes on
/// there). Memory does not grow with the batch; the seed is wiped when this returns.
fn write_validators(
    plan: &Plan,
    cfg: &RunConfig,
    progress: &dyn Progress,
    session: &HsmSession,
    seed: Seed,
    cluster: &Cluster,
    transcript: Transcript,
) -> Result<(Staging, Streams), Error> {
    let shares_ikm = mixed_entropy(session)?;
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
        cluster,
        ids: cluster.ids(),
        wc,
    };
    gen.write_all(&mut out)?;
    Ok((staging, out))
}

/// Reads everything back and verifies it as an auditor would, pinned to our identity and
/// binary, then renames the staging directory into place. The signatures and interpolations
/// were verified in memory before the two large files were written: they are not redone on the
/// same bytes (`proven`, same SHA-256); everything else is.
fn verify_and_commit(
    staging: Staging,
    identity: &IdentityKey,
    cfg: &RunConfig,
    proven: verify::Proven,
    progress: &dyn Progress,
) -> Result<(PathBuf, Report), Error> {
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
    Ok((staging.commit()?, report))
}

/// The HSM as the ceremony uses it: logged in, its seal and identity keys open and attested.
struct Hsm {
    session: HsmSession,
    sealer: Sealer,
    identity: IdentityKey,
    /// `recover`: the `--from` bundle, verified pinned to the token's identity before login.
    recovered: Option<Recovered>,
}

/// Opens the plan's token, verifies a `--from` bundle first (recovery), runs the preflight and
/// the trial, logs in and opens the keys; records the HSM steps in the transcript.
fn open_hsm(plan: &Plan, cfg: &RunConfig, transcript: &mut Transcript) -> Result<Hsm, Error> {
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
    let keys = HsmKeys {
        identity: recorded(&identity.attestation())?,
        identity_public_key: hex::encode(identity.public_key_sec1()),
        seal: Some(recorded(&sealer.attestation())?),
        seal_backend: Some(recorded(&sealer.info())?),
    };
    for step in hsm_steps(&token_attestation, &trial, &keys)? {
        transcript.append(step);
    }
    Ok(Hsm {
        session,
        sealer,
        identity,
        recovered,
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
    transcript.append(Step::of(
        "ceremony",
        &steps::MasterReady {
            source: source_name.clone(),
            fingerprint: fingerprint.clone(),
        },
    ));
    if let Some(words) = paper_backup {
        let admin = cfg.people.administrator.as_deref().unwrap_or("ceremony");
        transcript.append(Step::of(
            admin,
            &PaperBackupShown {
                words,
                witnesses: cfg.people.witnesses.clone(),
            },
        ));
    }
    if !previous.is_empty() {
        transcript.append(Step::of(
            "ceremony",
            &LedgerChecked(ledger::summary(previous)),
        ));
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
        Step::of(
            admin,
            &CeremonyStarted {
                ceremony_id: plan.id().to_owned(),
                network: plan.network.name().to_owned(),
                validators: plan.count(),
                start_index: plan.start_index(),
                owner: plan.owner.to_checksum(),
                first_nonce: plan.first_nonce(),
                operators_chain: Some(operators_chain),
                tool: tool_info(&cfg.tool),
                process: cfg.hygiene.into(),
            },
        )
        .input(files::PLAN, hex::encode(plan_sha))
        .input(files::OPERATORS, sha256_hex(operators_json.as_bytes())),
    );
    if let Some(step) = cfg.people.step(admin) {
        transcript.append(step);
    }
    Ok(transcript)
}
