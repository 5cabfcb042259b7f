//! Operator-key provenance: a pinned operators file's provenance is carried into the
//! signed manifest and printed by `verify`; a tampered provenance fails; an unpinned list needs
//! `allow_unpinned_operators = true`, which the manifest records.

use crate::common::*;

#[test]
fn pinned_provenance_is_carried_printed_and_checked() {
    let ws = &mut Workspace::new(4);
    let provenance = ws.provenance();
    let value = serde_json::json!({"provenance": provenance, "operators": ws.operator_entries()});
    ws.write_json("export.json", &value);
    let mut plan = ws.plan();
    plan.operators_file = "export.json".into();
    let dir = ws.run_ok(&plan, "bundle");

    let m = read_json(&dir.join("manifest.json"));
    assert_eq!(m["operators"]["provenance"], provenance);
    assert_eq!(m["operators"]["unpinned_allowed"], false);
    let ops = read_json(&dir.join("operators.json"));
    assert_eq!(ops["provenance"], provenance);
    let t = std::fs::read_to_string(dir.join("transcript.jsonl")).unwrap();
    assert!(
        t.contains(&common_sha(&dir)),
        "the transcript names operators.json"
    );

    let v = ws.verify(&dir, &[]);
    v.ok();
    for s in [
        provenance["block_hash"].as_str().unwrap().to_owned(),
        provenance["block_number"].to_string(),
        provenance["ssv_network"].as_str().unwrap().to_owned(),
    ] {
        assert!(v.stdout.contains(&s), "verify prints {s}: {}", v.stdout);
    }

    // Tamper with the provenance in the bundle's operators.json.
    let copy = ws.path().join("tampered");
    copy_dir(&dir, &copy);
    let mut ops = read_json(&copy.join("operators.json"));
    ops["provenance"]["block_number"] = (provenance["block_number"].as_u64().unwrap() + 1).into();
    std::fs::write(
        copy.join("operators.json"),
        serde_json::to_string_pretty(&ops).unwrap() + "\n",
    )
    .unwrap();
    let run = ws.verify(&copy, &["--json"]);
    run.expect_code(6);
    let report: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let failed: Vec<&serde_json::Value> = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["ok"] == false)
        .collect();
    assert!(
        failed
            .iter()
            .any(|c| c["name"] == "operators.keys" && c["field"] == "provenance"),
        "the provenance check itself fails: {failed:#?}"
    );
    assert!(
        failed
            .iter()
            .any(|c| c["name"] == "files.hashes" && c["field"] == "operators.json"),
        "{failed:#?}"
    );
}

fn common_sha(dir: &std::path::Path) -> String {
    sha256_hex(&std::fs::read(dir.join("operators.json")).unwrap())
}

#[test]
fn unpinned_operators_need_the_flag_which_is_recorded() {
    let ws = &mut Workspace::new(4);
    ws.write_operators("bare.json", false);
    let mut plan = ws.plan();
    plan.operators_file = "bare.json".into();
    let run = ws.run(&plan, "bundle");
    run.expect_code(2);
    assert!(
        run.error_lines().contains("ssv.operators_file"),
        "{}",
        run.stderr
    );
    assert!(run.error_lines().contains("allow_unpinned_operators"));
    ws.assert_nothing_written("bundle");

    plan.allow_unpinned_operators = Some(true);
    let dir = ws.run_ok(&plan, "bundle");
    let m = read_json(&dir.join("manifest.json"));
    assert_eq!(m["operators"]["unpinned_allowed"], true);
    assert!(m["operators"]["provenance"].is_null());
    let v = ws.verify(&dir, &[]);
    v.ok();
    assert!(v.stdout.contains("UNPINNED"), "{}", v.stdout);
}
