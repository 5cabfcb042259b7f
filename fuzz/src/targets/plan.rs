//! `plan.toml` as the verifier reads it from a bundle (operators from the bundle, once pinned
//! and once bare): what parses satisfies every documented bound and round-trips through TOML to
//! the same plan; every error is a `Plan` error naming `plan.toml` and a field path.

use std::path::Path;
use std::sync::OnceLock;

use kc_bundle::manifest::files;
use kc_bundle::operators::OperatorsFile;
use kc_bundle::plan::{Plan, MAX_VALIDATORS};
use kc_bundle::Error;
use kc_validator::deposit::{MAX_COMPOUNDING_DEPOSIT_GWEI, MIN_DEPOSIT_GWEI};

fn operators() -> &'static [OperatorsFile; 2] {
    static O: OnceLock<[OperatorsFile; 2]> = OnceLock::new();
    O.get_or_init(|| {
        let f = crate::fixture::original().get(files::OPERATORS);
        let pinned = OperatorsFile::parse(std::str::from_utf8(f).unwrap()).expect("seed");
        let bare = OperatorsFile {
            provenance: None,
            operators: pinned.operators.clone(),
        };
        [pinned, bare]
    })
}

pub fn run(data: &[u8]) {
    let text = crate::props::text(data);
    // Both operator shapes on inputs of plan size; one on large ones (time bound tests).
    let variants = if data.len() <= 1 << 16 { 2 } else { 1 };
    for ops in &operators()[..variants] {
        match Plan::parse_in_bundle(&text, Path::new(files::PLAN), ops.clone()) {
            Ok(p) => check_plan(&p),
            Err(Error::Plan {
                file,
                field,
                message,
            }) => {
                assert_eq!(file, Path::new(files::PLAN));
                assert!(
                    !field.trim().is_empty(),
                    "plan: an error without a field: {message}"
                );
                crate::props::one_line("plan", &message);
            }
            Err(other) => panic!("plan: unexpected error variant {other:?}"),
        }
    }
}

fn check_plan(p: &Plan) {
    assert!((1..=MAX_VALIDATORS).contains(&p.count()));
    assert!(u64::from(p.start_index()) + u64::from(p.count()) <= 1 << 32);
    let _ = p.indices().count();
    assert!(p.nonce_of(p.count() - 1) <= kc_ssv::keyshares::MAX_OWNER_NONCE);
    assert!(p.amount_gwei() >= MIN_DEPOSIT_GWEI);
    assert!(p.amount_gwei() <= MAX_COMPOUNDING_DEPOSIT_GWEI);
    assert_ne!(p.withdrawal_address.0, [0; 20]);
    assert_ne!(p.owner.0, [0; 20]);
    assert_ne!(p.file.hsm.seal_key_label, p.file.hsm.identity_key_label);
    assert!(p.operators.provenance.is_some() || p.file.ssv.allow_unpinned_operators);
    // The same plan written back as TOML parses to the same typed plan.
    let written = toml::to_string(&p.file).expect("a plan serializes");
    let again = Plan::parse_in_bundle(&written, Path::new(files::PLAN), p.operators.clone())
        .unwrap_or_else(|e| panic!("plan: the written form of a valid plan fails: {e}\n{written}"));
    assert_eq!(again.file, p.file, "plan: not the same after a round trip");
    assert_eq!(again.network, p.network);
}
