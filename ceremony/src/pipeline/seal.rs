//! The master secret: made (HSM and OS randomness through HKDF, or a mnemonic) or unsealed
//! from a verified `--from` bundle, and sealed into the bundle through the token's seal backend
//! and opened again to check.

use kc_bundle::fsio::Staging;
use kc_bundle::manifest::{files, sha256_hex};
use kc_bundle::plan::{Plan, SeedSource};
use kc_bundle::seal::{self as seal_env, SealedMaster};
use kc_bundle::transcript::steps::MasterSealed;
use kc_bundle::transcript::Step;
use kc_hsm::{HsmSession, OaepHash, RsaSealed, SealBackend, Sealed, Sealer};
use kc_validator::mnemonic::Mnemonic;
use zeroize::Zeroizing;

use super::from::{read_bundle_file, Recovered};
use super::{hkdf32, mixed_entropy};
use crate::Error;

/// The sealed master secret as written, and its transcript step.
pub(super) struct SealedFile {
    pub(super) bytes: Vec<u8>,
    pub(super) step: Step,
}

/// Seals the master secret, writes the envelope, reads it back and opens it again in the HSM:
/// it must give the same secret (which is wiped when this returns).
pub(super) fn seal_master(
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
    let step = Step::of(
        "ceremony",
        &MasterSealed {
            key_label: sealer.label().to_owned(),
            algorithm: sealer.backend().name().to_owned(),
            key_sha256: sealer.key_sha256().map(str::to_owned),
            oaep_hash: envelope.oaep_hash,
            reopened: true,
        },
    )
    .output(files::SEALED_MASTER, sha256_hex(&sealed));
    Ok(SealedFile {
        bytes: sealed,
        step,
    })
}

/// Reads a staged file of a fixed ceiling (the sealed master) back through the bundle's
/// bounded reader.
fn read_back(staging: &Staging, name: &str) -> Result<Vec<u8>, Error> {
    let path = staging.path().join(name);
    let cap = kc_bundle::bounded::caps::for_file(name, 0, 0);
    read_bundle_file(&path, &cap)
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
pub(super) fn master_entropy(
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
pub(super) fn read_mnemonic(plan: &Plan) -> Result<Zeroizing<Vec<u8>>, Error> {
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
