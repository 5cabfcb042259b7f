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

use std::path::{Path, PathBuf};

use hkdf::Hkdf;
use kc_bundle::fsio::Staging;
use kc_bundle::manifest::{self, files, sha256_hex, Manifest, ManifestSignature};
use kc_bundle::merkle::{self, LeafInput};
use kc_bundle::plan::{Plan, SeedSource};
use kc_bundle::seal::{self as seal_env, SealedMaster};
use kc_bundle::transcript::{Step, Transcript};
use kc_bundle::verify::{self, Report, VerifyOptions};
use kc_hsm::{HsmSession, IdentityKey, Module, SealKey, SecretString, CEREMONY_REQUIREMENTS};
use kc_ssv::{Cluster, KeySharesFile, KeySharesItem};
use kc_validator::deposit::{self, DepositData};
use kc_validator::mnemonic::{Mnemonic, Seed};
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
    pub manifest: Manifest,
    /// SHA-256 of `manifest.json`: the bundle digest witnesses record.
    pub bundle_digest: String,
    /// The verification of the staged bundle (all passed).
    pub report: Report,
}

/// Test hook: `CEREMONY_TEST_ABORT_AT=<stage>` aborts the process (no unwinding, no cleanup) when
/// the pipeline reaches that stage, to prove that an interrupted ceremony leaves nothing that
/// looks complete. Harmless in production: aborting early is always safe.
pub const ABORT_ENV: &str = "CEREMONY_TEST_ABORT_AT";

fn stage(progress: &dyn Progress, name: &str) -> Result<(), Error> {
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

/// One validator, ready to write.
struct Created {
    index: u32,
    nonce: u64,
    deposit: DepositData,
    item: KeySharesItem,
    shares_data: Vec<u8>,
    leaf: merkle::Hash,
}

/// Fresh 32 bytes from the HSM and 32 from the OS, as one input keying material.
fn mixed_entropy(session: &HsmSession) -> Result<Zeroizing<[u8; 64]>, Error> {
    let hsm = session.random_array::<32>()?;
    let mut ikm = Zeroizing::new([0u8; 64]);
    ikm[..32].copy_from_slice(&hsm[..]);
    rand_core::OsRng.fill_bytes(&mut ikm[32..]);
    Ok(ikm)
}

/// HKDF-SHA256 over HSM ‖ OS randomness: a weakness in either source alone does not weaken the
/// output.
fn hkdf32(ikm: &[u8], salt: &[u8], info: &[u8]) -> Zeroizing<[u8; 32]> {
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
    let plan_sha = Sha256::digest(plan.text.as_bytes());
    let plan_sha: [u8; 32] = plan_sha.into();
    let mut transcript = Transcript::new();
    let admin = cfg
        .people
        .administrator
        .clone()
        .unwrap_or_else(|| "ceremony".to_owned());
    let operators_json = plan.operators.to_json();
    transcript.append(
        Step::new("ceremony.started", &admin)
            .input(files::PLAN, hex::encode(plan_sha))
            .input(files::OPERATORS, sha256_hex(operators_json.as_bytes()))
            .details(json!({
                "ceremony_id": plan.id(),
                "network": plan.network.name(),
                "validators": plan.count(),
                "start_index": plan.start_index(),
                "owner": plan.owner.to_checksum(),
                "first_nonce": plan.first_nonce(),
                "operators_chain": plan.operators_chain().map_err(|message| kc_bundle::Error::Plan {
                    file: plan.path.clone(),
                    field: "ssv.operators_file".into(),
                    message,
                })?,
                "tool": cfg.tool,
                "process": cfg.hygiene,
            })),
    );
    if cfg.people.administrator.is_some() || !cfg.people.witnesses.is_empty() {
        transcript.append(Step::new("people.recorded", &admin).details(json!({
            "administrator": cfg.people.administrator,
            "witnesses": cfg.people.witnesses,
        })));
    }

    // Earlier bundles: no index or nonce may be used twice (checked again once the master's
    // fingerprint is known).
    stage(progress, "ledger")?;
    let previous = ledger::load_previous(&cfg.previous)?;
    ledger::check_nonces(plan, &previous)?;

    // HSM.
    stage(progress, "hsm")?;
    let module = Module::open(&plan.hsm_module)?;
    let token = module.find_token(&plan.file.hsm.token_label)?;
    let token_attestation = token.attest(CEREMONY_REQUIREMENTS)?;
    let session = token.login(&cfg.pin)?;
    let seal_key = SealKey::open(&session, &plan.file.hsm.seal_key_label)?;
    let identity = IdentityKey::open(&session, &plan.file.hsm.identity_key_label)?;
    transcript.append(Step::new("hsm.token", "ceremony").details(json!(token_attestation)));
    transcript.append(Step::new("hsm.keys", "ceremony").details(json!({
        "seal": seal_key.attestation(),
        "identity": identity.attestation(),
        "identity_public_key": hex::encode(identity.public_key_sec1()),
    })));

    // Master secret.
    stage(progress, "master")?;
    let (entropy, source_name) = master_entropy(plan, cfg, &session)?;
    let mnemonic = Mnemonic::from_entropy(&entropy)?;
    let paper_backup = progress.wants_paper_backup().then(|| {
        progress.show_paper_backup(mnemonic.phrase());
        mnemonic.word_count()
    });
    let seed: Seed = mnemonic.to_seed("");
    drop(mnemonic);
    let master_pk = kc_validator::derive::master_sk(seed.as_bytes())?.public_key();
    let master_fingerprint = sha256_hex(&master_pk.to_bytes());
    ledger::check_indices(plan, &master_fingerprint, &previous)?;
    transcript.append(Step::new("master.ready", "ceremony").details(json!({
        "source": source_name,
        "fingerprint": master_fingerprint,
    })));
    if let Some(words) = paper_backup {
        transcript.append(
            Step::new("master.paper_backup_shown", &admin).details(json!({
                "words": words,
                "witnesses": cfg.people.witnesses,
            })),
        );
    }
    if !previous.is_empty() {
        transcript.append(
            Step::new("ledger.checked", "ceremony").details(json!(ledger::summary(&previous))),
        );
    }

    // Validators, in parallel.
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
    let ids = cluster.ids();
    let total = plan.count() as usize;
    let done = std::sync::atomic::AtomicUsize::new(0);
    let created: Vec<Created> = (0..plan.count())
        .into_par_iter()
        .map(|i| {
            if progress.cancelled() {
                return Err(Error::Cancelled);
            }
            let index = plan.start_index() + i;
            let nonce = plan.nonce_of(i);
            let mut rng_seed = hkdf32(&shares_prk[..], b"validator", &index.to_be_bytes());
            let mut rng = ChaCha20Rng::from_seed(*rng_seed);
            zeroize::Zeroize::zeroize(&mut *rng_seed);
            let sk = kc_validator::derive::signing_key(seed.as_bytes(), index)
                .map_err(|source| Error::Validator { index, source })?;
            let deposit = DepositData::create(&sk, wc, plan.amount_gwei(), &plan.network)
                .map_err(|source| Error::Validator { index, source })?;
            deposit
                .verify_for(&plan.network)
                .map_err(|source| Error::Validator { index, source })?;
            // Built and self-checked once (split, encryption, ownership signature, consistency);
            // the decoded sharesData comes with it.
            let (item, verified) =
                kc_ssv::build_item_verified(&sk, &cluster, &plan.owner, nonce, &mut rng)
                    .map_err(|source| Error::Shares { index, source })?;
            drop(sk);
            let shares_data = verified.shares_data.to_bytes();
            let leaf = merkle::leaf_hash(&LeafInput {
                pubkey: &deposit.pubkey.to_bytes(),
                signature: &deposit.signature.to_bytes(),
                deposit_data_root: &deposit.deposit_data_root,
                operator_ids: &ids,
                shares_data: &shares_data,
            });
            let n = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
            progress.validators(n, total);
            Ok(Created {
                index,
                nonce,
                deposit,
                item,
                shares_data,
                leaf,
            })
        })
        .collect::<Result<_, Error>>()?;
    drop(seed);
    drop(shares_prk);
    for c in &created {
        transcript.append(
            Step::new("validator.created", "ceremony")
                .output("sharesData", sha256_hex(&c.shares_data))
                .details(json!({
                    "index": c.index,
                    "pubkey": c.deposit.pubkey.to_hex(),
                    "deposit_data_root": hex::encode(c.deposit.deposit_data_root),
                    "owner_nonce": c.nonce,
                    "merkle_leaf": format!("0x{}", hex::encode(c.leaf)),
                })),
        );
    }

    // Write.
    stage(progress, "write")?;
    let staging = Staging::create(&cfg.out)?;
    let deposits: Vec<DepositData> = created.iter().map(|c| c.deposit.clone()).collect();
    let deposit_json = deposit::to_json(&deposits);
    let mut keyshares = KeySharesFile::new(std::time::SystemTime::now());
    keyshares.shares = created.iter().map(|c| c.item.clone()).collect();
    let keyshares_json = keyshares.to_json();
    let outputs: [(&str, &[u8]); 4] = [
        (files::PLAN, plan.text.as_bytes()),
        (files::OPERATORS, operators_json.as_bytes()),
        (files::DEPOSIT_DATA, deposit_json.as_bytes()),
        (files::KEYSHARES, keyshares_json.as_bytes()),
    ];
    let mut step = Step::new("files.written", "ceremony");
    for (name, bytes) in outputs {
        staging.write(name, bytes)?;
        step = step.output(name, sha256_hex(bytes));
    }
    transcript.append(step);

    // Seal the master secret, then open it again in the HSM to check the sealed file.
    stage(progress, "seal")?;
    let aad = seal_env::associated_data(plan.id(), &plan_sha);
    let blob = seal_key.seal(&session, &entropy, &aad)?;
    let sealed = SealedMaster::new(seal_key.label(), plan.id(), &plan_sha, &blob).to_bytes();
    staging.write(files::SEALED_MASTER, &sealed)?;
    let reread = read_back(&staging, files::SEALED_MASTER)?;
    let envelope = SealedMaster::from_bytes(&reread)?;
    let opened = seal_key.unseal(&session, &envelope.blob_bytes(), &aad)?;
    if opened[..] != entropy[..] {
        return Err(Error::SelfCheck(
            "the sealed master secret does not open to the master secret".into(),
        ));
    }
    drop(opened);
    drop(entropy);
    transcript.append(
        Step::new("master.sealed", "ceremony")
            .output(files::SEALED_MASTER, sha256_hex(&sealed))
            .details(json!({"key_label": seal_key.label(), "algorithm": seal_env::ALGORITHM, "reopened": true})),
    );

    // Transcript, manifest, signature.
    stage(progress, "manifest")?;
    let leaves: Vec<merkle::Hash> = created.iter().map(|c| c.leaf).collect();
    let merkle_root = format!(
        "0x{}",
        hex::encode(merkle::root(&leaves).expect("at least one validator"))
    );
    transcript.append(Step::new("bundle.staged", "ceremony").details(json!({
        "validators": created.len(),
        "merkle_root": merkle_root,
    })));
    staging.write(files::TRANSCRIPT, transcript.to_jsonl().as_bytes())?;
    let mut file_hashes = std::collections::BTreeMap::new();
    for name in files::HASHED {
        let cap = kc_bundle::bounded::caps::for_file(name, created.len(), cluster.len());
        let bytes = read_bundle_file(&staging.path().join(name), &cap)?;
        file_hashes.insert(name.to_owned(), sha256_hex(&bytes));
    }
    let identity_pk = identity.public_key_sec1();
    let m = Manifest {
        format: manifest::FORMAT.to_owned(),
        ceremony_id: plan.id().to_owned(),
        created_at: kc_bundle::transcript::now_rfc3339(),
        network: manifest::NetworkInfo {
            name: plan.network.name().to_owned(),
            fork_version: hex::encode(plan.network.genesis_fork_version()),
        },
        tool: manifest::ToolInfo {
            name: cfg.tool.name.clone(),
            version: cfg.tool.version.clone(),
            git_commit: cfg.tool.git_commit.clone(),
            binary_sha256: cfg.tool.binary_sha256.clone(),
            cargo_lock_sha256: cfg.tool.cargo_lock_sha256.clone(),
        },
        identity: manifest::IdentityInfo {
            algorithm: manifest::SIGNATURE_ALGORITHM.to_owned(),
            key_label: identity.label().to_owned(),
            public_key: hex::encode(identity_pk),
            fingerprint: manifest::key_fingerprint(&identity_pk),
        },
        master: manifest::MasterInfo {
            seed_source: source_name,
            fingerprint: master_fingerprint,
            seal_key_label: seal_key.label().to_owned(),
        },
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
        operators: manifest::OperatorsInfo {
            provenance: plan.operators.provenance.clone(),
            unpinned_allowed: plan.operators.provenance.is_none(),
            list: cluster
                .operators()
                .iter()
                .map(|o| manifest::OperatorInfo {
                    id: o.id(),
                    fingerprint: o.fingerprint_hex(),
                })
                .collect(),
        },
        validators: created
            .iter()
            .map(|c| manifest::ValidatorEntry {
                index: c.index,
                pubkey: c.deposit.pubkey.to_hex(),
                deposit_data_root: hex::encode(c.deposit.deposit_data_root),
                owner_nonce: c.nonce,
                shares_data_sha256: sha256_hex(&c.shares_data),
                merkle_leaf: format!("0x{}", hex::encode(c.leaf)),
            })
            .collect(),
        merkle_root,
        transcript_head: transcript.head().to_owned(),
        files: file_hashes,
    };
    let manifest_bytes = m.to_bytes();
    staging.write(files::MANIFEST, &manifest_bytes)?;
    let signature = identity.sign_sha256(&session, &manifest_bytes)?;
    let sig = ManifestSignature {
        algorithm: manifest::SIGNATURE_ALGORITHM.to_owned(),
        public_key: hex::encode(identity_pk),
        manifest_sha256: sha256_hex(&manifest_bytes),
        signature: hex::encode(signature),
    };
    staging.write(files::MANIFEST_SIG, &sig.to_bytes())?;

    // Read everything back and verify it as an auditor would, pinned to our identity.
    stage(progress, "verify")?;
    let report = verify_staged(staging.path(), &identity_pk, &cfg.tool.binary_sha256);
    if !report.ok() {
        let failures: Vec<String> = report
            .failures()
            .map(|f| format!("{} {}: {}", f.file, f.field, f.detail))
            .collect();
        return Err(Error::Verify {
            failures: failures.join("; "),
        });
    }
    stage(progress, "commit")?;
    let dir = staging.commit()?;
    Ok(Outcome {
        dir,
        bundle_digest: sha256_hex(&manifest_bytes),
        manifest: m,
        report,
    })
}

/// Verifies the staging directory as an auditor would, pinned to this ceremony's identity and
/// binary (the `INCOMPLETE` marker is the one file tolerated).
fn verify_staged(dir: &Path, identity: &[u8], binary: &str) -> Report {
    let opts = VerifyOptions {
        identity: Some(identity.to_vec()),
        expect_binary: Some(binary.to_owned()),
        staged: true,
    };
    verify::verify_bundle(dir, &opts)
}

/// Reads a staged file of a fixed ceiling (the sealed master) back through the bundle's
/// bounded reader.
fn read_back(staging: &Staging, name: &str) -> Result<Vec<u8>, Error> {
    let path = staging.path().join(name);
    let cap = kc_bundle::bounded::caps::for_file(name, 0, 0);
    read_bundle_file(&path, &cap)
}

/// Reads a bundle file through the bounded reader (the one verification uses).
fn read_bundle_file(path: &Path, cap: &kc_bundle::bounded::Cap) -> Result<Vec<u8>, Error> {
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

/// The master secret (BIP-39 entropy) and a name for its source.
fn master_entropy(
    plan: &Plan,
    cfg: &RunConfig,
    session: &HsmSession,
) -> Result<(Zeroizing<Vec<u8>>, String), Error> {
    match &cfg.master {
        MasterSource::Recover { bundle } => {
            let sealed_path = bundle.join(files::SEALED_MASTER);
            let bytes = read_bundle_file(&sealed_path, &kc_bundle::bounded::caps::sealed_master())?;
            let envelope = SealedMaster::from_bytes(&bytes)?;
            let seal_key = SealKey::open(session, &envelope.key_label)?;
            let aad = seal_env::associated_data(&envelope.ceremony_id, &envelope.plan_digest());
            let entropy = seal_key.unseal(session, &envelope.blob_bytes(), &aad)?;
            Ok((entropy, format!("recovered:{}", envelope.ceremony_id)))
        }
        MasterSource::Plan => match plan.file.seed.source {
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
        },
    }
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
