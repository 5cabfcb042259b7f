use std::collections::BTreeMap;

use serde_json::json;

use crate::manifest::*;
use crate::seal::SealedMaster;
use crate::transcript::{Step, Transcript};

use super::consistency::{check_seal_backend, check_unique_validators};
use super::transcript::check_transcript_vs_manifest;
use super::{verify_bundle, Checker, VerifyOptions};

fn validator(i: u32) -> ValidatorEntry {
    ValidatorEntry {
        index: i,
        pubkey: format!("{:02x}", i + 1).repeat(48),
        deposit_data_root: format!("{:02x}", i + 100).repeat(32),
        owner_nonce: u64::from(i) + 5,
        shares_data_sha256: format!("{:02x}", i + 50).repeat(32),
        merkle_leaf: format!("0x{}", format!("{:02x}", i + 200).repeat(32)),
    }
}

fn sample_manifest(n: u32) -> Manifest {
    let files: BTreeMap<String, String> = files::HASHED
        .iter()
        .enumerate()
        .map(|(i, f)| ((*f).to_owned(), format!("{i:02x}").repeat(32)))
        .collect();
    Manifest {
        format: FORMAT.into(),
        ceremony_id: "c-1".into(),
        created_at: "2026-11-25T10:00:00Z".into(),
        network: NetworkInfo {
            name: "hoodi".into(),
            fork_version: "10000910".into(),
        },
        tool: ToolInfo {
            name: "ceremony".into(),
            version: "0".into(),
            git_commit: None,
            binary_sha256: "aa".repeat(32),
            cargo_lock_sha256: "bb".repeat(32),
        },
        identity: IdentityInfo {
            algorithm: SIGNATURE_ALGORITHM.into(),
            key_label: "kc-identity".into(),
            public_key: "04".to_owned() + &"cc".repeat(64),
            fingerprint: "dd".repeat(32),
        },
        master: MasterInfo {
            seed_source: "hsm".into(),
            fingerprint: "ee".repeat(32),
            seal_key_label: "kc-seal".into(),
            seal_algorithm: "aes-256-gcm".into(),
            seal_key_sha256: None,
        },
        withdrawal: WithdrawalInfo {
            address: "0x".to_owned() + &"11".repeat(20),
            kind: "0x01".into(),
            credentials: "01".repeat(32),
            amount_gwei: 32_000_000_000,
        },
        owner: OwnerInfo {
            address: "0x".to_owned() + &"22".repeat(20),
            first_nonce: 5,
            last_nonce: 5 + u64::from(n) - 1,
        },
        operators: OperatorsInfo {
            provenance: None,
            unpinned_allowed: true,
            list: vec![],
        },
        validators: (0..n).map(validator).collect(),
        merkle_root: "0x".to_owned() + &"ff".repeat(32),
        transcript_head: String::new(),
        files,
    }
}

/// The transcript the pipeline writes for `m` (same steps, same payload types).
fn transcript_for(m: &Manifest) -> Transcript {
    use crate::transcript::steps::*;
    let f = |n: &str| m.files[n].clone();
    let mut t = Transcript::new();
    t.append(
        Step::of(
            "ceremony",
            &CeremonyStarted {
                ceremony_id: m.ceremony_id.clone(),
                network: m.network.name.clone(),
                validators: m.validators.len() as u32,
                start_index: m.validators.first().map_or(0, |v| v.index),
                owner: m.owner.address.clone(),
                first_nonce: m.owner.first_nonce,
                operators_chain: None,
                tool: m.tool.clone(),
                process: Process {
                    core_dumps_disabled: true,
                    not_dumpable: true,
                    memory_locked: true,
                },
            },
        )
        .input(files::PLAN, f(files::PLAN))
        .input(files::OPERATORS, f(files::OPERATORS)),
    );
    let key = |key_type: &str| KeyRecord([("key_type".to_owned(), json!(key_type))].into());
    t.append(Step::of(
        "ceremony",
        &HsmKeys {
            identity: key("CKK_EC"),
            identity_public_key: m.identity.public_key.clone(),
            seal: Some(key("CKK_AES")),
            seal_backend: None,
        },
    ));
    t.append(Step::of(
        "ceremony",
        &MasterReady {
            source: "hsm".into(),
            fingerprint: m.master.fingerprint.clone(),
        },
    ));
    for v in &m.validators {
        t.append(ValidatorCreated::step(v));
    }
    t.append(FilesWritten::step(
        [
            files::PLAN,
            files::OPERATORS,
            files::DEPOSIT_DATA,
            files::KEYSHARES,
        ]
        .map(|n| (n, f(n))),
    ));
    t.append(
        Step::of(
            "ceremony",
            &MasterSealed {
                key_label: m.master.seal_key_label.clone(),
                algorithm: m.master.seal_algorithm.clone(),
                key_sha256: None,
                oaep_hash: None,
                reopened: true,
            },
        )
        .output(files::SEALED_MASTER, f(files::SEALED_MASTER)),
    );
    t
}

fn failures(c: &Checker) -> Vec<String> {
    c.checks
        .iter()
        .filter(|c| !c.ok)
        .map(|c| format!("{} {}: {}", c.name, c.field, c.detail))
        .collect()
}

#[test]
fn a_validator_listed_twice_fails() {
    let head = |m: &Manifest| ManifestHead::read_head(m.to_bytes().as_slice()).unwrap();
    let mut c = Checker::new();
    check_unique_validators(&head(&sample_manifest(3)), &mut c);
    assert!(failures(&c).is_empty(), "{:?}", failures(&c));

    let mut m = sample_manifest(3);
    m.validators[2].pubkey = m.validators[0].pubkey.clone();
    m.validators[2].merkle_leaf = m.validators[0].merkle_leaf.to_uppercase();
    let mut c = Checker::new();
    check_unique_validators(&head(&m), &mut c);
    let f = failures(&c);
    assert!(
        f.iter().any(|f| f.contains("validators[2].pubkey")),
        "{f:?}"
    );
    assert!(
        f.iter().any(|f| f.contains("validators[2].merkle_leaf")),
        "{f:?}"
    );
}

#[test]
fn transcript_that_agrees_with_the_manifest_passes() {
    let m = sample_manifest(3);
    let mut c = Checker::new();
    check_transcript_vs_manifest(&transcript_for(&m), &m, &mut c);
    assert!(failures(&c).is_empty(), "{:?}", failures(&c));
}

#[test]
fn transcript_validators_must_match_the_manifest_in_order() {
    let m = sample_manifest(3);
    let t = transcript_for(&m);
    // The manifest's validators swapped: the transcript recorded another order.
    let mut swapped = m.clone();
    swapped.validators.swap(0, 1);
    let mut c = Checker::new();
    check_transcript_vs_manifest(&t, &swapped, &mut c);
    let f = failures(&c);
    assert!(
        f.iter().any(|f| f.contains("validator.created[0]")),
        "{f:?}"
    );
    // A validator whose pubkey the transcript never recorded.
    let mut other = m.clone();
    other.validators[2].pubkey = "77".repeat(48);
    let mut c = Checker::new();
    check_transcript_vs_manifest(&t, &other, &mut c);
    let f = failures(&c);
    assert!(
        f.iter().any(|f| f.contains("validator.created[2]")),
        "{f:?}"
    );
    // One validator fewer in the manifest than the transcript created.
    let mut fewer = m.clone();
    fewer.validators.pop();
    let mut c = Checker::new();
    check_transcript_vs_manifest(&t, &fewer, &mut c);
    assert!(!failures(&c).is_empty());
}

#[test]
fn transcript_files_master_and_identity_must_match_the_manifest() {
    let m = sample_manifest(2);
    let t = transcript_for(&m);
    for edit in [
        (|m: &mut Manifest| {
            m.files.insert(files::DEPOSIT_DATA.into(), "99".repeat(32));
        }) as fn(&mut Manifest),
        |m| {
            m.files.insert(files::PLAN.into(), "99".repeat(32));
        },
        |m| {
            m.files.insert(files::SEALED_MASTER.into(), "99".repeat(32));
        },
        |m| m.master.fingerprint = "98".repeat(32),
        |m| m.identity.public_key = "04".to_owned() + &"97".repeat(64),
        |m| m.ceremony_id = "c-2".into(),
    ] {
        let mut changed = m.clone();
        edit(&mut changed);
        let mut c = Checker::new();
        check_transcript_vs_manifest(&t, &changed, &mut c);
        assert!(!failures(&c).is_empty(), "{changed:?}");
    }
}

/// Peak resident memory of this process (KiB), from `/proc/self/status`.
fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// A 1 GiB `keyshares.json` (sparse: no disk used) for a one-validator manifest
/// is refused by its size, without reading it (it used to be read whole and copied again).
#[test]
fn a_huge_keyshares_file_is_refused_without_being_read() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("bundle");
    std::fs::create_dir_all(dir.join("sealed")).unwrap();
    std::fs::write(dir.join(files::MANIFEST), sample_manifest(1).to_bytes()).unwrap();
    let f = std::fs::File::create(dir.join(files::KEYSHARES)).unwrap();
    f.set_len(1 << 30).unwrap();
    drop(f);
    let before = peak_rss_kib();
    let report = verify_bundle(&dir, &VerifyOptions::default());
    let grew = peak_rss_kib().saturating_sub(before);
    assert!(
        grew < 32 * 1024,
        "verification raised peak memory by {grew} KiB"
    );
    let f: Vec<String> = report
        .failures()
        .map(|c| format!("{} {}: {}", c.file, c.field, c.detail))
        .collect();
    assert!(
        f.iter()
            .any(|l| l.contains(files::KEYSHARES) && l.contains("1073741824 bytes, more than")),
        "{f:?}"
    );
}

#[test]
fn symlinked_bundle_files_are_refused_without_being_read() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("bundle");
    std::fs::create_dir_all(dir.join("sealed")).unwrap();
    std::fs::write(dir.join(files::MANIFEST), sample_manifest(1).to_bytes()).unwrap();
    let outside = tmp.path().join("outside.toml");
    std::fs::write(&outside, b"secret = 1\n").unwrap();
    std::os::unix::fs::symlink(&outside, dir.join(files::PLAN)).unwrap();
    // A device would make a plain read never end.
    std::os::unix::fs::symlink("/dev/zero", dir.join(files::DEPOSIT_DATA)).unwrap();
    let report = verify_bundle(&dir, &VerifyOptions::default());
    let f: Vec<String> = report
        .failures()
        .map(|c| format!("{} {}: {}", c.file, c.field, c.detail))
        .collect();
    for name in [files::PLAN, files::DEPOSIT_DATA] {
        assert!(
            f.iter()
                .any(|l| l.contains(name) && l.contains("not a regular file")),
            "{name}: {f:?}"
        );
    }
}

#[test]
fn the_envelope_backend_and_key_must_be_the_manifests() {
    let m = sample_manifest(1);
    let key = "ab".repeat(32);
    let aes = SealedMaster::new("kc-seal", "c-1", &[7; 32], &[1; 60]);
    let rsa = SealedMaster::rsa_oaep("kc-seal", "c-1", &[7; 32], "sha256", &key, &[1; 444]);
    let run = |s: &SealedMaster, m: &Manifest| {
        let mut f = Vec::new();
        check_seal_backend(s, m, &mut f);
        f.into_iter().map(|(field, _)| field).collect::<Vec<_>>()
    };
    assert!(run(&aes, &m).is_empty());
    // an rsa-oaep envelope under an aes-256-gcm manifest
    assert_eq!(run(&rsa, &m), vec!["algorithm", "key_sha256"]);
    let mut mr = m.clone();
    mr.master.seal_algorithm = "rsa-oaep".into();
    mr.master.seal_key_sha256 = Some(key.clone());
    assert!(run(&rsa, &mr).is_empty());
    // the manifest names another key
    mr.master.seal_key_sha256 = Some("cd".repeat(32));
    assert_eq!(run(&rsa, &mr), vec!["key_sha256"]);
    // an rsa-oaep manifest without a key, and an unknown backend
    mr.master.seal_key_sha256 = None;
    assert_eq!(run(&rsa, &mr), vec!["master.seal_key_sha256", "key_sha256"]);
    mr.master.seal_algorithm = "chacha".into();
    assert!(run(&rsa, &mr).contains(&"master.seal_algorithm".to_string()));
}

/// The demo bundle the fuzzers start from (`fuzz/seeds/bundle`, made by `make demo` before the
/// transcript's steps were typed).
fn seed_bundle() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/seeds/bundle")
}

/// A P-256 public key (SEC1) that signed nothing here.
fn stranger(byte: u8) -> Vec<u8> {
    p256::SecretKey::from_slice(&[byte; 32])
        .unwrap()
        .public_key()
        .to_sec1_bytes()
        .to_vec()
}

fn failed(r: &super::Report, name: &str) -> Vec<String> {
    r.failures()
        .filter(|c| c.name == name)
        .map(ToString::to_string)
        .collect()
}

/// A bundle written before the typed steps verifies whole, and the verifier decides what a
/// caller used to check again: which of the trusted identities signed (handed back with the
/// verified bundle), and the deposit amount the caller expects.
#[test]
fn the_verifier_pins_one_of_the_trusted_identities_and_the_expected_amount() {
    let dir = seed_bundle();
    let m = Manifest::from_bytes(&std::fs::read(dir.join(files::MANIFEST)).unwrap()).unwrap();
    let signer = hex::decode(&m.identity.public_key).unwrap();
    let opts = |trusted: Vec<Vec<u8>>, amount: Option<u64>| VerifyOptions {
        trusted_identities: trusted,
        deposit_amount_gwei: amount,
        ..VerifyOptions::default()
    };

    // Unpinned: it verifies, but nobody is trusted.
    let r = verify_bundle(&dir, &VerifyOptions::default());
    assert!(r.ok(), "{}", r.failures_line(None));
    assert!(!r.identity_pinned);

    // The signer among other trusted keys: pinned, and the verified bundle names it.
    let b = super::load_verified(
        &dir,
        &opts(vec![stranger(1), signer.clone()], Some(32_000_000_000)),
    )
    .unwrap_or_else(|r| panic!("{}", r.failures_line(None)));
    assert_eq!(b.identity.as_deref(), Some(signer.as_slice()));
    assert_eq!(b.manifest.validators.len(), 4);
    let r = verify_bundle(&dir, &opts(vec![signer.clone()], Some(32_000_000_000)));
    assert!(r.ok() && r.identity_pinned, "{}", r.failures_line(None));
    assert!(r.checks.iter().any(|c| c.name == "deposit.amount" && c.ok));

    // Signed by none of the trusted keys: refused, naming how many there were.
    let r = verify_bundle(&dir, &opts(vec![stranger(1)], None));
    assert!(!r.identity_pinned);
    let f = failed(&r, "identity.pinned");
    assert!(
        f.len() == 1 && f[0].contains("not the pinned identity"),
        "{f:?}"
    );
    let r = verify_bundle(&dir, &opts(vec![stranger(1), stranger(2)], None));
    let f = failed(&r, "identity.pinned");
    assert!(
        f.len() == 1 && f[0].contains("one of the 2 trusted identities"),
        "{f:?}"
    );
    assert!(super::load_verified(&dir, &opts(vec![stranger(1)], None)).is_err());

    // Another deposit amount expected: refused, naming the manifest's field.
    let r = verify_bundle(&dir, &opts(vec![signer], Some(1_000_000_000)));
    let f = failed(&r, "deposit.amount");
    assert!(
        f.len() == 1 && f[0].contains("withdrawal.amount_gwei: 32000000000 gwei"),
        "{f:?}"
    );
}

/// What the audit report is drawn from is what verification read: the manifest with its whole
/// list, and every transcript entry in order.
#[test]
fn an_audit_hands_back_what_verification_read() {
    let dir = seed_bundle();
    let (r, audited) = super::audit_bundle(&dir, &VerifyOptions::default());
    assert!(r.ok(), "{}", r.failures_line(None));
    let m = Manifest::from_bytes(&std::fs::read(dir.join(files::MANIFEST)).unwrap()).unwrap();
    assert_eq!(audited.manifest.as_ref(), Some(&m));
    assert!(audited.reshare.is_none());
    let text = std::fs::read_to_string(dir.join(files::TRANSCRIPT)).unwrap();
    assert_eq!(
        audited.transcript,
        Transcript::parse_and_verify(&text).unwrap().entries()
    );
}

/// Deposits and ownership signatures of `n` validators as the verification decodes them.
fn signed_run(n: u32) -> (Vec<super::crypto::Deposit>, Vec<super::crypto::Ownership>) {
    use kc_validator::deposit::{withdrawal_credentials, DepositData, Network, WithdrawalType};
    let owner = kc_validator::Address([0x22; 20]);
    let wc = withdrawal_credentials(WithdrawalType::Eth1, &kc_validator::Address([0x11; 20]));
    let keys = kc_validator::derive::signing_keys(&[7u8; 64], 0, n).unwrap();
    let mut deposits = Vec::new();
    let mut ownership = Vec::new();
    for (i, k) in keys.iter().enumerate() {
        let d = DepositData::create(k, wc, 32_000_000_000, &Network::Hoodi).unwrap();
        let root = d.signing_root();
        let digest = kc_ssv::ownership::ownership_digest(&owner, 5 + i as u64);
        ownership.push((i, digest, d.pubkey, k.sign(&digest)));
        deposits.push((i, d, root));
    }
    (deposits, ownership)
}

fn named(fails: super::crypto::Fails) -> Vec<String> {
    fails.into_list().into_iter().map(|(f, _)| f).collect()
}

/// The deposit and ownership signatures of one validator are checked with one Miller loop:
/// a valid deposit signature must not carry an ownership signature taken from another
/// validator, and the report names that validator (and only it).
#[test]
fn verify_ownership_signature_of_another_validator_fails_naming_the_validator() {
    let (deposits, mut ownership) = signed_run(6);
    let mut out = super::crypto::CryptoOut::default();
    super::crypto::check_signatures(&deposits, &ownership, &mut out);
    assert_eq!(out.deposit_fails.len() + out.ownership_fails.len(), 0);

    ownership[3].3 = ownership[4].3;
    let mut out = super::crypto::CryptoOut::default();
    super::crypto::check_signatures(&deposits, &ownership, &mut out);
    assert_eq!(named(out.deposit_fails), Vec::<String>::new());
    assert_eq!(
        named(out.ownership_fails),
        vec!["shares[3].payload.sharesData".to_owned()]
    );
}

/// A validator whose deposit and ownership signatures were swapped with each other: each is
/// wrong but their sum is right, so only per-signature weights see it. Both are named.
#[test]
fn verify_deposit_and_ownership_signatures_swapped_fail_and_both_are_named() {
    let (mut deposits, mut ownership) = signed_run(5);
    let (dep, own) = (deposits[2].1.signature, ownership[2].3);
    deposits[2].1.signature = own;
    ownership[2].3 = dep;
    let mut out = super::crypto::CryptoOut::default();
    super::crypto::check_signatures(&deposits, &ownership, &mut out);
    assert_eq!(named(out.deposit_fails), vec!["[2]".to_owned()]);
    assert_eq!(
        named(out.ownership_fails),
        vec!["shares[2].payload.sharesData".to_owned()]
    );
    // Only the ownership signatures checked (the deposits proven elsewhere): the same.
    let mut out = super::crypto::CryptoOut::default();
    super::crypto::check_signatures(&[], &ownership, &mut out);
    assert_eq!(
        named(out.ownership_fails),
        vec!["shares[2].payload.sharesData".to_owned()]
    );
}
