//! `ceremony reshare --from BUNDLE --plan RESHARE.toml`: new SSV key shares for validators of an
//! earlier bundle, split for a new cluster of operators (replacing an operator), written as a
//! signed, verified bundle of kind `reshare` (`kc_bundle::reshare`).
//!
//! Order: strict reshare plan → refuse an existing output → HSM: token, PIN, identity key → the
//! `--from` bundle verified in full, pinned to this HSM's identity, *before* anything is
//! unsealed → the owner nonces checked against the ledger (the `--from` bundle and every
//! `--previous` one, reshares included) → the master secret unsealed through the same path as
//! `recover` (`pipeline::unseal_recovered`) and checked against the source's master fingerprint →
//! per validator: derive the key at its source index, check it is the named public key, split
//! and encrypt to the new operators with a new ownership signature, self-check → stage, sign,
//! verify by reading back, rename into place. No deposit data and no sealed master are written.

use std::path::PathBuf;

use kc_bundle::fsio::Staging;
use kc_bundle::manifest::{self, sha256_hex, IdentityInfo, OperatorsInfo, ValidatorEntry};
use kc_bundle::merkle;
use kc_bundle::reshare::{self as rs, ReshareManifest, ResharePlan, ReshareValidator, SourceInfo};
use kc_bundle::transcript::steps::{
    BundleStaged, FilesWritten, HsmKeys, LedgerChecked, MasterReady, ReshareStarted,
    SourceVerified, ValidatorReshared,
};
use kc_bundle::transcript::{Step, Transcript};
use kc_bundle::verify::{Report, VerifyOptions};
use kc_hsm::{HsmSession, IdentityKey, Module, SealBackend, SecretString, TrialRole};
use kc_ssv::{Cluster, KeySharesFile};
use kc_validator::mnemonic::{Mnemonic, Seed};
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;

use crate::buildinfo::ToolIdentity;
use crate::hygiene::Hygiene;
use crate::ledger;
use crate::pipeline::{self, tool_info, People, Progress, Recovered};
use crate::Error;

/// Everything a reshare needs besides its plan.
pub struct ReshareConfig {
    pub out: PathBuf,
    pub pin: SecretString,
    pub people: People,
    /// The bundle whose validators move (its sealed master is unsealed).
    pub from: PathBuf,
    /// Earlier bundles (staking or reshare) whose owner nonces may not be reused.
    pub previous: Vec<PathBuf>,
    pub hygiene: Hygiene,
    pub tool: ToolIdentity,
}

/// A committed reshare bundle.
#[derive(Debug)]
pub struct Outcome {
    pub dir: PathBuf,
    pub manifest: ReshareManifest,
    pub bundle_digest: String,
    pub report: Report,
}

fn input(what: impl Into<String>, detail: impl Into<String>) -> Error {
    Error::Input {
        what: what.into(),
        detail: detail.into(),
    }
}

/// Runs a reshare ceremony (module docs), stage by stage.
pub fn run(
    plan: &ResharePlan,
    cfg: &ReshareConfig,
    progress: &dyn Progress,
) -> Result<Outcome, Error> {
    pipeline::stage(progress, "plan")?;
    if cfg.out.exists() {
        return Err(kc_bundle::Error::Exists {
            path: cfg.out.clone(),
        }
        .into());
    }
    pipeline::stage(progress, "hsm")?;
    let hsm = open_hsm(plan, cfg)?;
    pipeline::stage(progress, "ledger")?;
    let moving = moving_validators(plan, cfg, &hsm.source.manifest)?;
    let mut transcript = start_transcript(plan, cfg, &hsm, &moving)?;
    pipeline::stage(progress, "master")?;
    let seed = unseal_seed(&hsm, &mut transcript)?;
    pipeline::stage(progress, "validators")?;
    let shares = reshare_validators(plan, &hsm, &moving, seed, progress, &mut transcript)?;
    write_bundle(plan, cfg, &hsm, moving, shares, transcript, progress)
}

/// The HSM as a reshare uses it: logged in, its identity key the one the verified source bundle
/// is signed with.
struct Hsm {
    session: HsmSession,
    identity: IdentityKey,
    /// The `--from` bundle, verified pinned to the token's identity before login.
    source: Recovered,
    token_attestation: kc_hsm::TokenAttestation,
    trial: kc_hsm::TrialReport,
}

/// The source bundle is verified in full, pinned to the identity key the token holds (read
/// without login), before the PIN is used or anything is unsealed — the same check as
/// `recover` (`pipeline::verify_from`).
fn open_hsm(plan: &ResharePlan, cfg: &ReshareConfig) -> Result<Hsm, Error> {
    let module = Module::open(&plan.file.hsm.module)?;
    let token = module.select_token(
        &plan.file.hsm.token_label,
        plan.file.hsm.token_serial.as_deref(),
    )?;
    let source = pipeline::verify_from(&cfg.from, &token, &plan.file.hsm.identity_key_label)?;
    let backend = SealBackend::parse(&source.envelope.algorithm).ok_or_else(|| {
        Error::from(kc_bundle::Error::Seal {
            message: format!(
                "algorithm: {:?} is not a seal backend",
                source.envelope.algorithm
            ),
        })
    })?;
    let token_attestation = token.attest(backend.requirements())?;
    let session = token.login(&cfg.pin)?;
    let trial = session.trial(TrialRole::Ceremony(backend))?;
    let identity = IdentityKey::open(&session, &plan.file.hsm.identity_key_label)?;
    if identity.public_key_sec1() != source.identity {
        return Err(Error::FromBundle {
            path: cfg.from.clone(),
            failures: "the token's identity private key does not belong to the public key the bundle was verified with".into(),
        });
    }
    Ok(Hsm {
        session,
        identity,
        source,
        token_attestation,
        trial,
    })
}

/// The validators that move, as the source manifest lists them, and the ledger's word on their
/// new owner nonces.
struct Moving {
    chosen: Vec<ValidatorEntry>,
    new_ids: Vec<u64>,
    source_ids: Vec<u64>,
    source_sha: String,
    previous: Vec<ledger::Previous>,
}

/// Every validator the plan names is one of the source bundle's, the cluster changes, and the
/// new owner nonces were used by no earlier bundle (the source and every `--previous` one).
fn moving_validators(
    plan: &ResharePlan,
    cfg: &ReshareConfig,
    sm: &kc_bundle::manifest::Manifest,
) -> Result<Moving, Error> {
    let mut chosen = Vec::with_capacity(plan.pubkeys.len());
    for (i, pk) in plan.pubkeys.iter().enumerate() {
        let hexpk = hex::encode(pk);
        let v = sm
            .validators
            .iter()
            .find(|v| v.pubkey == hexpk)
            .ok_or_else(|| {
                input(
                    format!("{}: reshare.validators[{i}]", plan.path.display()),
                    format!(
                        "{hexpk} is not a validator of the source bundle {}",
                        sm.ceremony_id
                    ),
                )
            })?;
        chosen.push(v.clone());
    }
    let new_ids = plan.operators.ids();
    let source_ids: Vec<u64> = sm.operators.list.iter().map(|o| o.id).collect();
    if new_ids == source_ids {
        return Err(input(
            format!("{}: ssv.operators_file", plan.path.display()),
            "the new cluster is the source bundle's cluster: nothing would move",
        ));
    }
    let mut previous_dirs = cfg.previous.clone();
    previous_dirs.push(cfg.from.clone());
    let previous = ledger::load_previous(&previous_dirs)?;
    ledger::check_nonce_range(
        &sm.owner.address,
        (plan.first_nonce(), plan.last_nonce()),
        plan.id(),
        "ssv.owner_nonce",
        &previous,
    )?;
    Ok(Moving {
        chosen,
        new_ids,
        source_ids,
        source_sha: sha256_hex(&sm.to_bytes()),
        previous,
    })
}

/// The transcript's first steps: the reshare, who is in the room, the HSM, the verified source
/// and the ledger.
fn start_transcript(
    plan: &ResharePlan,
    cfg: &ReshareConfig,
    hsm: &Hsm,
    moving: &Moving,
) -> Result<Transcript, Error> {
    let sm = &hsm.source.manifest;
    let admin = cfg
        .people
        .administrator
        .clone()
        .unwrap_or_else(|| "ceremony".to_owned());
    let mut transcript = Transcript::new();
    transcript.append(
        Step::of(
            &admin,
            &ReshareStarted {
                kind: rs::KIND.to_owned(),
                ceremony_id: plan.id().to_owned(),
                validators: plan.pubkeys.len(),
                owner: sm.owner.address.clone(),
                first_nonce: plan.first_nonce(),
                new_operator_ids: moving.new_ids.clone(),
                tool: tool_info(&cfg.tool),
                process: cfg.hygiene.into(),
            },
        )
        .input(rs::files::PLAN, sha256_hex(plan.text.as_bytes()))
        .input(
            rs::files::OPERATORS,
            sha256_hex(plan.operators.to_json().as_bytes()),
        ),
    );
    if let Some(step) = cfg.people.step(&admin) {
        transcript.append(step);
    }
    let keys = HsmKeys {
        identity: pipeline::recorded(&hsm.identity.attestation())?,
        identity_public_key: hex::encode(hsm.identity.public_key_sec1()),
        seal: None,
        seal_backend: None,
    };
    for step in pipeline::hsm_steps(&hsm.token_attestation, &hsm.trial, &keys)? {
        transcript.append(step);
    }
    transcript.append(Step::of(
        "ceremony",
        &SourceVerified {
            ceremony_id: sm.ceremony_id.clone(),
            manifest_sha256: moving.source_sha.clone(),
            merkle_root: sm.merkle_root.clone(),
            operator_ids: moving.source_ids.clone(),
        },
    ));
    if !moving.previous.is_empty() {
        transcript.append(Step::of(
            "ceremony",
            &LedgerChecked(ledger::summary(&moving.previous)),
        ));
    }
    Ok(transcript)
}

/// The master secret, through the same unseal path as `recover`, checked against the source's
/// master fingerprint; its seed.
fn unseal_seed(hsm: &Hsm, transcript: &mut Transcript) -> Result<Seed, Error> {
    let sm = &hsm.source.manifest;
    let (entropy, _) = pipeline::unseal_recovered(&hsm.session, &hsm.source)?;
    let seed = Mnemonic::from_entropy(&entropy)?.to_seed("");
    drop(entropy);
    let master_pk = kc_validator::derive::master_sk(seed.as_bytes())?.public_key();
    let fingerprint = sha256_hex(&master_pk.to_bytes());
    if fingerprint != sm.master.fingerprint {
        return Err(Error::SelfCheck(format!(
            "the unsealed master has fingerprint {fingerprint}, the source bundle's is {}",
            sm.master.fingerprint
        )));
    }
    transcript.append(Step::of(
        "ceremony",
        &MasterReady {
            source: format!("recovered:{}", sm.ceremony_id),
            fingerprint,
        },
    ));
    Ok(seed)
}

/// The new key shares: their keyshares items, manifest entries and leaves, in plan order.
struct Shares {
    cluster: Cluster,
    items: Vec<kc_ssv::KeySharesItem>,
    entries: Vec<ReshareValidator>,
    leaves: Vec<merkle::Hash>,
}

/// Per validator: derive the key at its source index, check it is the named public key, split
/// and encrypt to the new operators with a new ownership signature (checked). The seed is wiped
/// when this returns.
fn reshare_validators(
    plan: &ResharePlan,
    hsm: &Hsm,
    moving: &Moving,
    seed: Seed,
    progress: &dyn Progress,
    transcript: &mut Transcript,
) -> Result<Shares, Error> {
    let cluster = plan.operators.cluster()?;
    let owner: kc_validator::address::Address = hsm
        .source
        .manifest
        .owner
        .address
        .parse()
        .map_err(|e: kc_validator::Error| input("source manifest owner.address", e.to_string()))?;
    let ikm = pipeline::mixed_entropy(&hsm.session)?;
    let prk = pipeline::hkdf32(&ikm[..], b"kc-ceremony reshare v1", plan.id().as_bytes());
    drop(ikm);
    let chosen = &moving.chosen;
    let mut shares = Shares {
        cluster,
        items: Vec::with_capacity(chosen.len()),
        entries: Vec::with_capacity(chosen.len()),
        leaves: Vec::with_capacity(chosen.len()),
    };
    for (i, v) in chosen.iter().enumerate() {
        if progress.cancelled() {
            return Err(Error::Cancelled);
        }
        let nonce = plan.nonce_of(i);
        let sk = kc_validator::derive::signing_key(seed.as_bytes(), v.index).map_err(|source| {
            Error::Validator {
                index: v.index,
                source,
            }
        })?;
        if hex::encode(sk.public_key().to_bytes()) != v.pubkey {
            return Err(Error::SelfCheck(format!(
                "validator {}: the key derived at index {} is not {}",
                v.pubkey, v.index, v.pubkey
            )));
        }
        let mut rng_seed = pipeline::hkdf32(&prk[..], b"validator", &v.index.to_be_bytes());
        let mut rng = ChaCha20Rng::from_seed(*rng_seed);
        zeroize::Zeroize::zeroize(&mut *rng_seed);
        let (item, verified) =
            kc_ssv::build_item_verified(&sk, &shares.cluster, &owner, nonce, &mut rng).map_err(
                |source| Error::Shares {
                    index: v.index,
                    source,
                },
            )?;
        drop(sk);
        let data = verified.shares_data.to_bytes();
        let pk = hex::decode(&v.pubkey).unwrap_or_default();
        let leaf = rs::leaf_hash(&pk, &moving.new_ids, &data);
        let entry = ReshareValidator {
            index: v.index,
            pubkey: v.pubkey.clone(),
            owner_nonce: nonce,
            shares_data_sha256: sha256_hex(&data),
            merkle_leaf: format!("0x{}", hex::encode(leaf)),
        };
        transcript.append(ValidatorReshared::step(&entry));
        progress.validators(i + 1, chosen.len());
        shares.items.push(item);
        shares.entries.push(entry);
        shares.leaves.push(leaf);
    }
    drop(seed);
    drop(prk);
    Ok(shares)
}

/// Writes the bundle into a staging directory, signs its manifest, verifies it by reading it
/// back and renames it into place.
fn write_bundle(
    plan: &ResharePlan,
    cfg: &ReshareConfig,
    hsm: &Hsm,
    moving: Moving,
    shares: Shares,
    mut transcript: Transcript,
    progress: &dyn Progress,
) -> Result<Outcome, Error> {
    pipeline::stage(progress, "write")?;
    let sm = &hsm.source.manifest;
    let staging = Staging::create(&cfg.out)?;
    let mut keyshares = KeySharesFile::new(std::time::SystemTime::now());
    keyshares.shares = shares.items;
    let keyshares_json = keyshares.to_json();
    let operators_json = plan.operators.to_json();
    let outputs: [(&str, &[u8]); 3] = [
        (rs::files::PLAN, plan.text.as_bytes()),
        (rs::files::OPERATORS, operators_json.as_bytes()),
        (rs::files::KEYSHARES, keyshares_json.as_bytes()),
    ];
    for (name, bytes) in outputs {
        staging.write(name, bytes)?;
    }
    transcript.append(FilesWritten::step(
        outputs.map(|(name, bytes)| (name, sha256_hex(bytes))),
    ));
    pipeline::stage(progress, "manifest")?;
    let root = format!(
        "0x{}",
        hex::encode(merkle::root(&shares.leaves).expect("at least one validator"))
    );
    transcript.append(Step::of(
        "ceremony",
        &BundleStaged {
            validators: shares.entries.len(),
            merkle_root: root.clone(),
        },
    ));
    staging.write(rs::files::TRANSCRIPT, transcript.to_jsonl().as_bytes())?;
    let mut file_hashes = std::collections::BTreeMap::new();
    for (name, cap) in rs::files::with_caps(shares.entries.len(), shares.cluster.operators().len())
    {
        let bytes = pipeline::read_bundle_file(&staging.path().join(name), &cap)?;
        file_hashes.insert(name.to_owned(), sha256_hex(&bytes));
    }
    let identity_pk = hsm.identity.public_key_sec1();
    let m = ReshareManifest {
        format: manifest::FORMAT.to_owned(),
        kind: rs::KIND.to_owned(),
        ceremony_id: plan.id().to_owned(),
        created_at: kc_bundle::transcript::now_rfc3339(),
        network: sm.network.clone(),
        tool: tool_info(&cfg.tool),
        identity: IdentityInfo::of(hsm.identity.label(), &identity_pk),
        source: SourceInfo {
            ceremony_id: sm.ceremony_id.clone(),
            manifest_sha256: moving.source_sha,
            merkle_root: sm.merkle_root.clone(),
            master_fingerprint: sm.master.fingerprint.clone(),
            operator_ids: moving.source_ids,
        },
        owner: manifest::OwnerInfo {
            address: sm.owner.address.clone(),
            first_nonce: plan.first_nonce(),
            last_nonce: plan.last_nonce(),
        },
        operators: OperatorsInfo::of(&plan.operators, &shares.cluster),
        validators: shares.entries,
        merkle_root: root,
        transcript_head: transcript.head().to_owned(),
        files: file_hashes,
    };
    let manifest_bytes = m.to_bytes();
    pipeline::write_signed_manifest(&staging, &hsm.session, &hsm.identity, &manifest_bytes)?;
    pipeline::stage(progress, "verify")?;
    let (report, _) = rs::verify(
        staging.path(),
        &VerifyOptions {
            trusted_identities: vec![identity_pk.to_vec()],
            expect_binary: Some(cfg.tool.binary_sha256.clone()),
            staged: true,
            ..VerifyOptions::default()
        },
    );
    if !report.ok() {
        return Err(Error::Verify {
            failures: report.failures_line(None),
        });
    }
    pipeline::stage(progress, "commit")?;
    let dir = staging.commit()?;
    Ok(Outcome {
        dir,
        bundle_digest: sha256_hex(&manifest_bytes),
        manifest: m,
        report,
    })
}
