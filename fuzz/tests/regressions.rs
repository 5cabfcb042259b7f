//! Regression tests for what the fuzz targets found (docs/fuzzing.md, "Found"), one per bug,
//! each written to fail before its fix. They call the owning crate's API directly; the
//! minimized inputs also sit in `corpus/<target>/regress-*` so the corpus test replays them.

use std::path::Path;

/// plan.toml: a TOML syntax error gave a message over two lines (the toml crate's message holds
/// a newline), breaking the one-line error rule and the field/line layout of the message.
#[test]
fn plan_syntax_errors_are_one_line() {
    let ops = kc_bundle::operators::OperatorsFile::parse(
        std::str::from_utf8(kc_fuzz::fixture::original().get("operators.json")).unwrap(),
    )
    .unwrap();
    for text in [
        "[ceremony]\n[ceremony]\nid = \"x\"\n",
        "[ceremony]\nid = \"unterminated\n",
    ] {
        let e = kc_bundle::plan::Plan::parse_in_bundle(text, Path::new("plan.toml"), ops.clone())
            .unwrap_err();
        let m = e.to_string();
        assert!(!m.contains('\n'), "{m:?}");
        assert!(m.starts_with("plan.toml: "), "{m:?}");
        assert!(m.contains("line 2"), "{m:?}");
    }
}

/// signer-agent config: the same for the agent's TOML file.
#[test]
fn agent_config_syntax_errors_are_one_line() {
    let (field, message) =
        signer_agent::config::FileConfig::parse("deployment =igner\nchain_id = 1\n").unwrap_err();
    assert!(!field.is_empty());
    assert!(!message.contains('\n'), "{message:?}");
    assert!(message.contains("line 1"), "{message:?}");
}

/// deposit_data.json: an entry whose pubkey is not a valid BLS point was reported as
/// `deposit_data[1]: public key: …`, which names no field of the file.
#[test]
fn deposit_data_point_errors_name_the_field() {
    let text = std::str::from_utf8(kc_fuzz::fixture::original().get("deposit_data.json"))
        .unwrap()
        .to_owned();
    let list = kc_validator::deposit::parse_json(&text).unwrap();
    let pk = list[1].pubkey.to_hex();
    let sig = list[1].signature.to_hex();
    // Not on the curve / not in the subgroup: the first byte keeps the compression flag.
    let bad_pk = format!("a{}", "0".repeat(95));
    let bad_sig = format!("a{}", "1".repeat(191));
    for (from, to, field) in [(&pk, &bad_pk, "pubkey"), (&sig, &bad_sig, "signature")] {
        let e = kc_validator::deposit::parse_json(&text.replacen(from.as_str(), to, 1))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with(&format!("deposit_data[1]: {field}: ")), "{e}");
    }
}

/// signer-agent: a receipt without a block number (a node answering for a transaction it has
/// not mined, or a broken one) was taken as a success mined in block 0, so the stake was
/// recorded as confirmed at once (`wait_confirmations(0)` passes).
#[test]
fn a_receipt_without_a_block_is_not_a_mined_transaction() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus/agent_receipt");
    let seed = std::fs::read_dir(&dir)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(seed).unwrap()).unwrap();
    v["status"] = "0x1".into();
    let mined: alloy::rpc::types::TransactionReceipt = serde_json::from_value(v.clone()).unwrap();
    assert!(signer_agent::stake::mined(&mined).is_ok());
    v["blockNumber"] = serde_json::Value::Null;
    v["blockHash"] = serde_json::Value::Null;
    let pending: alloy::rpc::types::TransactionReceipt = serde_json::from_value(v).unwrap();
    assert!(signer_agent::stake::mined(&pending).is_err());
}

/// signer-agent oracle: the sum of the balances a Beacon API answers was added without a
/// check. Two balances whose sum passes 2^128 gwei panicked (debug) or wrapped around to a
/// small balance (release) that the agent would then report to the Oracle.
#[test]
fn beacon_balances_that_overflow_are_refused() {
    let keys: Vec<String> = (0..2u8)
        .map(|i| format!("0x{}", hex::encode([0xa0 + i; 48])))
        .collect();
    let body = serde_json::json!({"data": [
        {"balance": u128::MAX.to_string(), "status": "active_ongoing", "validator": {"pubkey": keys[0]}},
        {"balance": "1", "status": "active_ongoing", "validator": {"pubkey": keys[1]}},
    ]})
    .to_string();
    let mut tally = signer_agent::oracle::BeaconTally::default();
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        tally.add("http://beacon", &keys, &body)
    }));
    let e = r
        .expect("no panic")
        .expect_err("an overflowing sum is refused")
        .to_string();
    assert!(e.contains("data[1].balance"), "{e}");
}

/// signer-agent config: any `confirmations` was accepted; near 2^64 the agent's wait for
/// `block + confirmations - 1` overflows (a panic in debug; in release a wrapped-around target
/// block that is already reached, so a stake counts as confirmed at once).
#[test]
fn absurd_confirmations_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("agent.toml");
    // TOML integers stop at 2^63 - 1; the flag and the environment take any u64.
    let flag = signer_agent::config::Overrides {
        confirmations: Some(u64::MAX),
        ..Default::default()
    };
    std::fs::write(&cfg, "rpc_url = \"http://127.0.0.1:8545\"\nchain_id = 1\n").unwrap();
    let e = signer_agent::config::Config::resolve(Some(&cfg), &flag).unwrap_err();
    assert!(e.to_string().contains("config: confirmations:"), "{e}");
    for (n, ok) in [
        ("64", true),
        ("10000", true),
        ("10001", false),
        ("9223372036854775807", false),
    ] {
        std::fs::write(
            &cfg,
            format!("rpc_url = \"http://127.0.0.1:8545\"\nchain_id = 1\nconfirmations = {n}\n"),
        )
        .unwrap();
        let r = signer_agent::config::Config::resolve(Some(&cfg), &Default::default());
        match r {
            Ok(_) => assert!(ok, "confirmations = {n} accepted"),
            Err(e) => {
                assert!(!ok, "confirmations = {n}: {e}");
                assert!(e.to_string().contains("config: confirmations:"), "{e}");
            }
        }
    }
}

/// Every parser of a bundle file or agent input: a JSON or TOML key is echoed in the "unknown
/// field" error, and the input decides its characters. A key holding a newline or a terminal
/// escape made the error span lines, so a crafted file could print lines of its choosing
/// (such as a fake "verified") into `ceremony verify`'s report or the agent's log. Errors
/// show such characters escaped.
#[test]
fn errors_do_not_echo_control_characters_from_the_input() {
    const KEY: &str = "x\\n\\u001b[32mverified\\u202e";
    let json = format!("{{\"{KEY}\": 1}}");
    let toml = "\"x\\n\\u001b[32mverified\" = 1\n";
    let printable = |what: &str, m: String| {
        assert!(
            !m.chars().any(|c| c.is_control() || c == '\u{202e}'),
            "{what}: {m:?}"
        );
        // Parsers that refuse unknown keys still show the key (escaped).
        assert!(
            what == "keyshares" || what == "beacon" || m.contains("verified"),
            "{what}: the key is still shown: {m:?}"
        );
    };
    let b = json.as_bytes();
    printable(
        "manifest",
        kc_bundle::manifest::Manifest::from_bytes(b)
            .unwrap_err()
            .to_string(),
    );
    printable(
        "manifest.sig",
        kc_bundle::manifest::ManifestSignature::from_bytes(b)
            .unwrap_err()
            .to_string(),
    );
    printable(
        "seal",
        kc_bundle::seal::SealedMaster::from_bytes(b)
            .unwrap_err()
            .to_string(),
    );
    printable(
        "operators",
        kc_bundle::operators::OperatorsFile::parse(&json).unwrap_err(),
    );
    printable(
        "transcript",
        kc_bundle::transcript::Transcript::parse_and_verify(&format!("{json}\n"))
            .unwrap_err()
            .to_string(),
    );
    printable(
        "deposit_data",
        kc_validator::deposit::parse_json(&format!("[{json}]"))
            .unwrap_err()
            .to_string(),
    );
    printable(
        "keyshares",
        kc_ssv::KeySharesFile::from_json(&json)
            .unwrap_err()
            .to_string(),
    );
    let ops = kc_bundle::operators::OperatorsFile::parse(
        std::str::from_utf8(kc_fuzz::fixture::original().get("operators.json")).unwrap(),
    )
    .unwrap();
    printable(
        "plan",
        kc_bundle::plan::Plan::parse_in_bundle(toml, Path::new("plan.toml"), ops)
            .unwrap_err()
            .to_string(),
    );
    let (field, message) = signer_agent::config::FileConfig::parse(toml).unwrap_err();
    printable("agent config", format!("{field}: {message}"));
    let url = "http://beacon";
    printable(
        "beacon",
        signer_agent::oracle::parse_genesis(url, &json)
            .unwrap_err()
            .to_string(),
    );
}

/// `kc_bundle::verify`: names that come from the bundle itself — a file's name in the
/// directory, a key of the manifest's `files` — go unescaped into the report's fields, so a
/// file named "x\n✓ …" prints a line of the attacker's choosing into `ceremony verify`'s text
/// report. Fixed: `Checker` passes every file, field and detail through
/// `kc_bundle::printable`.
#[test]
fn a_bundle_file_name_cannot_add_lines_to_the_report() {
    let dir = tempfile::tempdir().unwrap();
    let b = dir.path().join("b");
    kc_fuzz::fixture::original().write(&b);
    std::fs::write(b.join("x\n\u{1b}[32m✓ manifest.signature ok"), b"").unwrap();
    let report = kc_bundle::verify::verify_bundle(
        &b,
        &kc_bundle::verify::VerifyOptions {
            trusted_identities: vec![kc_fuzz::fixture::original_identity()],
            ..Default::default()
        },
    );
    assert!(!report.ok());
    for c in &report.checks {
        for s in [&c.file, &c.field, &c.detail] {
            assert!(!s.chars().any(char::is_control), "{c:?}");
        }
    }
}

/// operators.json: a list of the wrong length was refused with "3 operators; a cluster has …",
/// which names no field (the bundle target's check: every failed check names a field). The
/// rule and its message are kc-ssv's (`check_cluster_size`), with `operators` as the field.
#[test]
fn a_wrong_cluster_size_names_the_operators_field() {
    let text = std::str::from_utf8(kc_fuzz::fixture::original().get("operators.json")).unwrap();
    let mut v: serde_json::Value = serde_json::from_str(text).unwrap();
    v["operators"].as_array_mut().unwrap().pop();
    let e = kc_bundle::operators::OperatorsFile::parse(&v.to_string()).unwrap_err();
    assert!(e.starts_with("operators: 3 operators"), "{e}");
    let bare = v["operators"].to_string();
    let e = kc_bundle::operators::OperatorsFile::parse(&bare).unwrap_err();
    assert!(e.starts_with("operators: 3 operators"), "{e}");
}

/// transcript.jsonl: the chain errors quote the entry's own `prev` and `hash` ("prev is …,
/// expected …"), which could hold a newline. Found by libFuzzer on `transcript` in 52 s.
#[test]
fn transcript_chain_errors_do_not_echo_control_characters() {
    let text = std::str::from_utf8(kc_fuzz::fixture::original().get("transcript.jsonl")).unwrap();
    let first = text.lines().next().unwrap();
    let mut v: serde_json::Value = serde_json::from_str(first).unwrap();
    v["prev"] = "00\n\u{1b}[2Kok".into();
    let e = kc_bundle::transcript::Transcript::parse_and_verify(&format!("{v}\n"))
        .unwrap_err()
        .to_string();
    assert!(!e.chars().any(char::is_control), "{e:?}");
}

/// `kc_bundle::verify`: failures of a whole file — a manifest that is not a regular file, a
/// `manifest.sig` not in the exact form the ceremony writes, a `deposit_data.json` not in the
/// exact layout — named no field (the `bundle` target's property: every failed check names a
/// field). Found by `fuzz/tests/corpus.rs` with `KC_FUZZ_SECONDS=15`.
#[test]
fn whole_file_failures_name_the_file_as_their_field() {
    let dir = tempfile::tempdir().unwrap();
    let verify = |b: &std::path::Path| {
        kc_bundle::verify::verify_bundle(
            b,
            &kc_bundle::verify::VerifyOptions {
                trusted_identities: vec![kc_fuzz::fixture::original_identity()],
                ..Default::default()
            },
        )
    };
    type Spoil = fn(&std::path::Path);
    let cases: [(&str, Spoil); 3] = [
        ("manifest.json", |b| {
            std::fs::remove_file(b.join("manifest.json")).unwrap();
            std::os::unix::fs::symlink(b.join("plan.toml"), b.join("manifest.json")).unwrap();
        }),
        ("manifest.sig", |b| {
            let s = std::fs::read_to_string(b.join("manifest.sig")).unwrap();
            std::fs::write(b.join("manifest.sig"), s.trim_end()).unwrap();
        }),
        ("deposit_data.json", |b| {
            let s = std::fs::read_to_string(b.join("deposit_data.json")).unwrap();
            std::fs::write(b.join("deposit_data.json"), s.replacen("}, {", "},{", 1)).unwrap();
        }),
    ];
    for (file, spoil) in cases {
        let b = dir.path().join(file);
        kc_fuzz::fixture::original().write(&b);
        spoil(&b);
        let report = verify(&b);
        let failed: Vec<_> = report.failures().collect();
        assert!(failed.iter().any(|c| c.file == file), "{file}: {failed:?}");
        // The `bundle` target's rule: a field, or a detail that names its place.
        for c in failed {
            assert!(
                !c.field.is_empty() || c.detail.contains(':') || c.detail.contains("line "),
                "{file}: {c:?}"
            );
        }
    }
}

/// deposit_data.json: a list re-serialised in another layout (same deposits), re-signed by the
/// identity holder, failed `deposit_data.plan` with no field ("not in the exact … layout").
/// Found by `corpus::bundle` (a seeded mutation).
#[test]
fn a_deposit_data_layout_failure_names_its_field() {
    let r = kc_fuzz::fixture::rekeyed();
    let mut files = r.files.clone();
    let text = std::str::from_utf8(files.get("deposit_data.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(text).unwrap();
    files.set("deposit_data.json", serde_json::to_vec_pretty(&v).unwrap());
    r.fix_up(&mut files, "deposit_data.json");
    let dir = tempfile::tempdir().unwrap();
    files.write(dir.path());
    let report = kc_bundle::verify::verify_bundle(
        dir.path(),
        &kc_bundle::verify::VerifyOptions {
            trusted_identities: vec![r.identity()],
            ..Default::default()
        },
    );
    let fails: Vec<_> = report.failures().collect();
    // The layout failure names its place (the file, each entry), as every failure must.
    assert!(
        fails.iter().any(|c| c.file == "deposit_data.json"
            && !c.field.is_empty()
            && c.detail.contains("layout")),
        "{fails:?}"
    );
    assert!(
        fails
            .iter()
            .all(|c| !c.field.is_empty() || c.detail.contains(':')),
        "{fails:?}"
    );
}
