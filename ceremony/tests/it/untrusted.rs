//! What an attacker's crafted bundles found, each now refused as it should be.
//! `ceremony verify` reads every file through one bounded reader, does cheap checks before any
//! cryptography, says when the identity is not pinned, and the operators' provenance must name
//! the plan's network's chain.

use std::path::Path;

use serde_json::Value;

use crate::common::*;

/// The failed checks of a `--json` report, one `name file field: detail` line each.
fn failures(report: &Value) -> Vec<String> {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["ok"] == false)
        .map(|c| {
            format!(
                "{} {} {}: {}",
                c["name"].as_str().unwrap(),
                c["file"].as_str().unwrap(),
                c["field"].as_str().unwrap(),
                c["detail"].as_str().unwrap()
            )
        })
        .collect()
}

fn json_report(ws: &Workspace, dir: &Path) -> Value {
    let run = ws.verify(dir, &["--json"]);
    run.expect_code(6);
    serde_json::from_str(&run.stdout).unwrap()
}

/// The deposit data entries of a bundle, each as its exact JSON text.
fn deposit_entries(dir: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(dir.join("deposit_data.json")).unwrap();
    let list: Vec<Value> = serde_json::from_str(&text).unwrap();
    let inner = &text[1..text.len() - 1];
    let parts: Vec<String> = inner.split("}, {").map(str::to_owned).collect();
    assert_eq!(parts.len(), list.len());
    let n = parts.len();
    parts
        .into_iter()
        .enumerate()
        .map(|(i, p)| {
            let p = if i > 0 { format!("{{{p}") } else { p };
            if i + 1 < n {
                format!("{p}}}")
            } else {
                p
            }
        })
        .collect()
}

fn write_deposits(dir: &Path, entries: &[String]) {
    std::fs::write(
        dir.join("deposit_data.json"),
        format!("[{}]", entries.join(", ")),
    )
    .unwrap();
}

/// `verify` without `--identity`: the summary line and `--json` say that the identity is NOT
/// pinned, and the exit code is 7 unless `--allow-unpinned-identity` is given.
#[test]
fn verify_without_identity_says_so_and_has_its_own_exit_code() {
    let ws = &mut Workspace::new(4);
    let plan = ws.plan();
    let dir = ws.run_ok(&plan, "bundle");

    let run = ws.verify_unpinned(&dir, &[]);
    run.expect_code(7);
    let last = run.stdout.lines().last().unwrap();
    assert!(last.contains("identity NOT pinned"), "{}", run.stdout);
    assert!(!run.stdout.contains("FAIL"), "{}", run.stdout);

    let json = ws.verify_unpinned(&dir, &["--json"]);
    json.expect_code(7);
    let report: Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(report["identity_pinned"], false, "{report}");

    let allowed = ws.verify_unpinned(&dir, &["--allow-unpinned-identity"]);
    allowed.ok();
    assert!(
        allowed
            .stdout
            .lines()
            .last()
            .unwrap()
            .contains("identity NOT pinned"),
        "{}",
        allowed.stdout
    );
    let allowed_json = ws.verify_unpinned(&dir, &["--allow-unpinned-identity", "--json"]);
    allowed_json.ok();
    let report: Value = serde_json::from_str(&allowed_json.stdout).unwrap();
    assert_eq!(report["identity_pinned"], false);

    let identity = ws.identity.clone().unwrap();
    let pinned = ws.verify_unpinned(&dir, &["--identity", &identity, "--json"]);
    pinned.ok();
    let report: Value = serde_json::from_str(&pinned.stdout).unwrap();
    assert_eq!(report["identity_pinned"], true);
    let pinned = ws.verify_unpinned(&dir, &["--identity", &identity]);
    assert!(
        pinned
            .stdout
            .lines()
            .last()
            .unwrap()
            .contains("pinned identity"),
        "{}",
        pinned.stdout
    );

    // A failed bundle stays a failure (6) with or without the pin.
    std::fs::write(dir.join("notes.txt"), b"x").unwrap();
    ws.verify_unpinned(&dir, &[]).expect_code(6);
    ws.verify_unpinned(&dir, &["--allow-unpinned-identity"])
        .expect_code(6);
}

/// A `deposit_data.json` of 2,000 copies of the honest entries is refused by its size before it
/// is read: no entry is parsed and no signature checked (it used to be BLS-verified entry by
/// entry after its hash and count had already failed).
#[test]
fn oversized_deposit_data_is_refused_by_its_size_without_bls_work() {
    let ws = &mut Workspace::new(4);
    let mut plan = ws.plan();
    plan.validators = 4;
    let dir = ws.run_ok(&plan, "bundle");
    let entries = deposit_entries(&dir);
    let many: Vec<String> = (0..2000).flat_map(|_| entries.clone()).collect();
    write_deposits(&dir, &many);

    let report = json_report(ws, &dir);
    let f = failures(&report);
    assert!(
        f.iter()
            .any(|l| l.contains("deposit_data.json") && l.contains("bytes, more than")),
        "{f:#?}"
    );
    // Nothing of the file was parsed, and none of its signatures was checked.
    let checks = report["checks"].as_array().unwrap();
    assert!(
        !checks
            .iter()
            .any(|c| c["name"].as_str().unwrap().starts_with("deposit_data.")),
        "{checks:#?}"
    );
}

/// An entry beyond the manifest's count is refused before any cryptography: its public key,
/// which is not a point on the curve, is never decoded.
#[test]
fn entries_beyond_the_manifest_count_are_refused_before_any_cryptography() {
    let ws = &mut Workspace::new(4);
    let mut plan = ws.plan();
    plan.validators = 2;
    let dir = ws.run_ok(&plan, "bundle");
    let mut entries = deposit_entries(&dir);
    let extra = entries[0].clone();
    let pk = &extra[extra.find("\"pubkey\": \"").unwrap() + 11..][..96];
    // Not a point (its x-coordinate is above the field modulus): decoding would say so.
    let bad = format!("b{}", "f".repeat(95));
    entries.push(extra.replace(pk, &bad));
    write_deposits(&dir, &entries);

    let report = json_report(ws, &dir);
    let f = failures(&report);
    assert!(
        f.iter()
            .any(|l| l.contains("deposit_data.json") && l.contains("[2]") && l.contains("beyond")),
        "{f:#?}"
    );
    for l in &f {
        let l = l.to_lowercase();
        assert!(
            !l.contains("curve") && !l.contains("subgroup") && !l.contains("encoding"),
            "an entry beyond the count was decoded: {f:#?}"
        );
    }
}

/// A deposit file whose hash is wrong (one signature changed, still valid hex) gets no
/// signature check: its bytes are not the ones the manifest signed.
#[test]
fn a_deposit_file_with_a_wrong_hash_gets_no_signature_check() {
    let ws = &mut Workspace::new(4);
    let plan = ws.plan();
    let dir = ws.run_ok(&plan, "bundle");
    let mut entries = deposit_entries(&dir);
    let at = entries[1].find("\"signature\": \"").unwrap() + 14 + 100;
    let mut b = entries[1].clone().into_bytes();
    b[at] = if b[at] == b'a' { b'b' } else { b'a' };
    entries[1] = String::from_utf8(b).unwrap();
    write_deposits(&dir, &entries);

    let report = json_report(ws, &dir);
    let f = failures(&report);
    assert!(
        f.iter()
            .any(|l| l.starts_with("files.hashes") && l.contains("deposit_data.json")),
        "{f:#?}"
    );
    let sigs: Vec<&String> = f
        .iter()
        .filter(|l| l.starts_with("deposit_data.signatures"))
        .collect();
    assert!(
        !sigs.is_empty() && sigs.iter().all(|l| l.contains("not checked")),
        "{f:#?}"
    );
}

/// A FIFO at `manifest.sig` and a symlink to `/dev/zero` at `keyshares.json`: refused at once.
#[test]
fn fifo_and_device_links_in_a_bundle_are_refused_at_once() {
    let ws = &mut Workspace::new(4);
    let plan = ws.plan();
    let dir = ws.run_ok(&plan, "bundle");
    std::fs::remove_file(dir.join("manifest.sig")).unwrap();
    let made = std::process::Command::new("mkfifo")
        .arg(dir.join("manifest.sig"))
        .status()
        .unwrap();
    assert!(made.success());
    std::fs::remove_file(dir.join("keyshares.json")).unwrap();
    std::os::unix::fs::symlink("/dev/zero", dir.join("keyshares.json")).unwrap();
    let report = json_report(ws, &dir);
    let f = failures(&report);
    assert!(
        f.iter()
            .any(|l| l.contains("manifest.sig") && l.contains("FIFO")),
        "{f:#?}"
    );
    assert!(
        f.iter()
            .any(|l| l.contains("keyshares.json") && l.contains("symlink")),
        "{f:#?}"
    );
}

/// A pinned operators file whose provenance names another chain than the plan's network is
/// refused by `run` (exit 2, naming the field and both chains), and nothing is written.
#[test]
fn provenance_of_another_chain_is_refused_by_run() {
    let ws = &mut Workspace::new(4);
    for (network, chain, want) in [
        ("hoodi", 1u64, 560048u64),
        ("mainnet", 560048, 1),
        ("sepolia", 17000, 11155111),
    ] {
        let mut provenance = ws.provenance();
        provenance["chain_id"] = chain.into();
        let value =
            serde_json::json!({"provenance": provenance, "operators": ws.operator_entries()});
        ws.write_json("other-chain.json", &value);
        let mut plan = ws.plan();
        plan.network = network.into();
        plan.operators_file = "other-chain.json".into();
        let run = ws.run(&plan, "bundle");
        run.expect_code(2);
        let e = run.error_lines();
        assert!(e.contains("ssv.operators_file"), "{e}");
        assert!(
            e.contains(&format!("chain {chain}")) && e.contains(&want.to_string()),
            "{e}"
        );
        ws.assert_nothing_written("bundle");
    }
}

/// A custom network is exempt (its chain is not known), and the exemption is recorded in the
/// transcript and reported by `verify`.
#[test]
fn a_custom_network_is_exempt_and_the_exemption_is_recorded() {
    let ws = &mut Workspace::new(4);
    let mut provenance = ws.provenance();
    provenance["chain_id"] = 31337.into();
    let value = serde_json::json!({"provenance": provenance, "operators": ws.operator_entries()});
    ws.write_json("devnet.json", &value);
    let mut plan = ws.plan();
    plan.network = "custom".into();
    plan.fork_version = Some("0x10000038".into());
    plan.operators_file = "devnet.json".into();
    let dir = ws.run_ok(&plan, "bundle");

    let t = std::fs::read_to_string(dir.join("transcript.jsonl")).unwrap();
    let started: Value = serde_json::from_str(t.lines().next().unwrap()).unwrap();
    assert_eq!(
        started["details"]["operators_chain"],
        serde_json::json!({"check": "custom-network-exempt", "chain_id": 31337}),
        "{started}"
    );
    let run = ws.verify(&dir, &["--json"]);
    run.ok();
    let report: Value = serde_json::from_str(&run.stdout).unwrap();
    let check = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "operators.chain")
        .expect("an operators.chain check");
    let detail = check["detail"].as_str().unwrap();
    assert!(
        detail.contains("custom") && detail.contains("31337"),
        "{detail}"
    );

    // A named network's check is recorded too.
    let mut plan = ws.plan();
    plan.network = "hoodi".into();
    let dir = ws.run_ok(&plan, "hoodi");
    let t = std::fs::read_to_string(dir.join("transcript.jsonl")).unwrap();
    let started: Value = serde_json::from_str(t.lines().next().unwrap()).unwrap();
    assert_eq!(
        started["details"]["operators_chain"],
        serde_json::json!({"check": "matches-network", "chain_id": 560048}),
    );
}
