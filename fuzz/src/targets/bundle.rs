//! Whole-bundle verification (`kc_bundle::verify`) of the real bundle with one file mutated.
//!
//! Input: one control byte, then content. Control bits 0–2 pick the file ([`FILES`]); bits 4–5
//! the operation (replace the file with the content, remove it, add an extra file holding the
//! content, or replace it with a symlink to another bundle file); bit 3 the attacker:
//! - clear: the bundle is verified pinned to its real identity, as an auditor does. Then it
//!   verifies **if and only if** it is byte for byte the real bundle.
//! - set: the attacker holds the identity key ([`fixture::Rekeyed`]): after the change, the
//!   bookkeeping is redone (digests in the transcript and the manifest, the chain, the
//!   signature), so only the cross-checks between files stand in the way. Then a bundle that
//!   verifies must commit to exactly the same facts (validators, deposits, sharesData, leaves
//!   and root, network, withdrawal, owner and nonces, operators and provenance) as the unchanged
//!   one, and the unchanged one must verify.
//!
//! Always: every failed check names its file, and a field or a location in its detail.

use kc_bundle::verify::{load_verified, Report, VerifiedBundle, VerifyOptions};

use crate::fixture::{self, Files, FILES};

/// What a verified bundle commits to (what the agent stakes and the auditor signs off).
#[derive(Debug, PartialEq)]
struct Facts {
    ceremony_id: String,
    network: (String, String),
    identity: String,
    master: String,
    withdrawal: (String, String, String, u64),
    owner: (String, u64, u64),
    operators: String,
    validators: String,
    merkle_root: String,
    deposits: String,
    shares_data: Vec<Vec<u8>>,
    leaves: Vec<[u8; 32]>,
    plan: String,
}

fn facts(b: &VerifiedBundle) -> Facts {
    let m = &b.manifest;
    let p = &b.plan;
    Facts {
        ceremony_id: m.ceremony_id.clone(),
        network: (m.network.name.clone(), m.network.fork_version.clone()),
        identity: m.identity.public_key.clone(),
        master: m.master.fingerprint.clone(),
        withdrawal: (
            m.withdrawal.address.clone(),
            m.withdrawal.kind.clone(),
            m.withdrawal.credentials.clone(),
            m.withdrawal.amount_gwei,
        ),
        owner: (
            m.owner.address.clone(),
            m.owner.first_nonce,
            m.owner.last_nonce,
        ),
        operators: format!("{:?}", m.operators),
        validators: format!("{:?}", m.validators),
        merkle_root: m.merkle_root.clone(),
        deposits: kc_validator::deposit::to_json(&b.deposits),
        shares_data: b.shares_data.clone(),
        leaves: b.leaves.clone(),
        plan: format!(
            "{} {:?} {} {:?} {} {} {} {} {:?} {:?}",
            p.id(),
            p.network,
            p.withdrawal_address.to_checksum(),
            p.withdrawal_type,
            p.amount_gwei(),
            p.owner.to_checksum(),
            p.first_nonce(),
            p.count(),
            p.indices(),
            p.operators,
        ),
    }
}

enum Op {
    Replace,
    Remove,
    Extra,
    Symlink,
}

pub fn run(data: &[u8]) {
    let Some((&control, content)) = data.split_first() else {
        return;
    };
    let name = FILES[usize::from(control & 7)];
    let attacker_holds_key = control & 8 != 0;
    let op = match (control >> 4) & 3 {
        0 => Op::Replace,
        1 => Op::Remove,
        2 => Op::Extra,
        _ => Op::Symlink,
    };
    let rekeyed = fixture::rekeyed();
    let base: &Files = if attacker_holds_key {
        &rekeyed.files
    } else {
        fixture::original()
    };
    let mut files = base.clone();
    if let Op::Replace = op {
        files.set(name, content.to_vec());
        if attacker_holds_key {
            rekeyed.fix_up(&mut files, name);
        }
    }
    let dir = fixture::scratch().join("bundle");
    files.write(&dir);
    match op {
        Op::Replace => {}
        Op::Remove => std::fs::remove_file(dir.join(name)).expect("remove"),
        Op::Extra => {
            let extra = if content.len() % 2 == 0 {
                "extra.json"
            } else {
                "sealed/extra.seal"
            };
            std::fs::write(dir.join(extra), content).expect("write");
        }
        Op::Symlink => {
            let other = FILES[(usize::from(control & 7) + 1) % FILES.len()];
            std::fs::remove_file(dir.join(name)).expect("remove");
            std::os::unix::fs::symlink(dir.join(other), dir.join(name)).expect("symlink");
        }
    }
    let identity = if attacker_holds_key {
        rekeyed.identity()
    } else {
        fixture::original_identity()
    };
    let opts = VerifyOptions {
        trusted_identities: vec![identity],
        ..VerifyOptions::default()
    };
    let unchanged = matches!(op, Op::Replace) && files == *base;
    let loaded = match load_verified(&dir, &opts) {
        Ok(b) => b,
        Err(report) => {
            check_errors(&report);
            assert!(
                !unchanged,
                "bundle: the unchanged bundle fails: {:?}",
                report.failures().collect::<Vec<_>>()
            );
            return;
        }
    };
    if attacker_holds_key {
        assert_eq!(
            &facts(&loaded),
            base_facts(),
            "bundle: a re-signed change of {name} verifies to other facts"
        );
    } else {
        assert!(
            unchanged,
            "bundle: a changed bundle ({name}) verifies against the pinned identity"
        );
    }
}

fn base_facts() -> &'static Facts {
    static F: std::sync::OnceLock<Facts> = std::sync::OnceLock::new();
    F.get_or_init(|| {
        let dir = fixture::scratch().join("rekeyed");
        let r = fixture::rekeyed();
        r.files.write(&dir);
        let opts = VerifyOptions {
            trusted_identities: vec![r.identity()],
            ..VerifyOptions::default()
        };
        let loaded = load_verified(&dir, &opts)
            .unwrap_or_else(|r| panic!("{:?}", r.failures().collect::<Vec<_>>()));
        facts(&loaded)
    })
}

/// Every failed check names a bundle file (or the stray path) and says where: a field, or a
/// detail that names one.
fn check_errors(report: &Report) {
    for c in report.failures() {
        assert!(
            !c.file.is_empty(),
            "bundle: a failed check names no file: {c:?}"
        );
        assert!(
            !c.field.is_empty() || c.detail.contains(':') || c.detail.contains("line "),
            "bundle: a failed check names no field: {c:?}"
        );
        // Names taken from the bundle (file names, manifest keys) must not carry control
        // characters into the report either (fuzz/tests/regressions.rs
        // a_bundle_file_name_cannot_add_lines_to_the_report).
        crate::props::one_line("bundle", &c.detail);
        for s in [&c.file, &c.field, &c.detail] {
            assert!(
                !s.chars().any(char::is_control),
                "bundle: a control character in the report: {c:?}"
            );
        }
    }
}
