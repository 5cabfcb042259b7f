//! The key-index and owner-nonce ledger: `--previous DIR` refuses, naming the clash,
//! owner nonces of the same owner and EIP-2334 indices of the same master used by an earlier
//! bundle, and refuses an earlier bundle that does not verify.

use crate::common::*;

fn previous(b: &std::path::Path) -> Vec<String> {
    vec!["--previous".into(), b.display().to_string()]
}

fn run_prev(ws: &Workspace, plan: &PlanSpec, name: &str, prev: &[&std::path::Path]) -> Run {
    let args: Vec<String> = prev.iter().flat_map(|p| previous(p)).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    ws.run_with(plan, name, &args, &[])
}

#[test]
fn overlapping_nonces_of_the_same_owner_are_refused() {
    let ws = &mut Workspace::new(4);
    let mut p1 = ws.plan();
    p1.validators = 3;
    let b1 = ws.run_ok(&p1, "b1");
    let mut p2 = ws.plan();
    p2.owner_address = p1.owner_address.clone();
    p2.owner_nonce = p1.owner_nonce + 2;
    let run = run_prev(ws, &p2, "b2", &[&b1]);
    run.expect_code(5);
    let err = run.error_lines();
    assert!(err.contains("ssv.owner_nonce"), "{err}");
    assert!(
        err.contains(&format!("nonces {0}..={0}", p1.owner_nonce + 2)),
        "{err}"
    );
    assert!(
        err.contains(&p1.id) && err.contains(&p1.owner_address),
        "{err}"
    );
    ws.assert_nothing_written("b2");

    // The owner compared case-insensitively: the lower-case form is the same owner.
    p2.owner_address = p1.owner_address.to_lowercase();
    run_prev(ws, &p2, "b2", &[&b1]).expect_code(5);
    ws.assert_nothing_written("b2");
}

#[test]
fn disjoint_follow_up_succeeds_and_is_recorded() {
    let ws = &mut Workspace::new(4);
    let p1 = ws.plan();
    let b1 = ws.run_ok(&p1, "b1");
    // Same owner, next nonces; a fresh master (source hsm) may reuse the indices.
    let mut p2 = ws.plan();
    p2.owner_address = p1.owner_address.clone();
    p2.owner_nonce = p1.owner_nonce + u64::from(p1.validators);
    p2.start_index = p1.start_index;
    // Another owner may use the same nonces.
    let mut p3 = ws.plan();
    p3.owner_nonce = p1.owner_nonce;
    run_prev(ws, &p2, "b2", &[&b1]).ok();
    let b2 = ws.path().join("b2");
    run_prev(ws, &p3, "b3", &[&b1, &b2]).ok();
    for b in ["b2", "b3"] {
        let dir = ws.path().join(b);
        ws.verify(&dir, &[]).ok();
        let t = std::fs::read_to_string(dir.join("transcript.jsonl")).unwrap();
        assert!(t.contains("\"step\":\"ledger.checked\""), "{b}");
        assert!(t.contains(&p1.id), "{b} records the earlier bundle");
    }
}

#[test]
fn overlapping_indices_of_the_same_master_are_refused() {
    let ws = &mut Workspace::new(4);
    std::fs::write(ws.path().join("words.txt"), test_mnemonic()).unwrap();
    let mnemonic_plan = |ws: &mut Workspace| {
        let mut p = ws.plan();
        p.seed_source = "mnemonic".into();
        p.mnemonic_file = Some("words.txt".into());
        p
    };
    let mut p1 = mnemonic_plan(ws);
    p1.validators = 3;
    let b1 = ws.run_ok(&p1, "b1");
    // Another owner (nonces cannot clash), indices overlapping at the end of the batch.
    let mut p2 = mnemonic_plan(ws);
    p2.start_index = p1.start_index + 2;
    let run = run_prev(ws, &p2, "b2", &[&b1]);
    run.expect_code(5);
    let err = run.error_lines();
    assert!(err.contains("ceremony.start_index"), "{err}");
    assert!(
        err.contains(&format!("indices {0}..={0}", p1.start_index + 2)),
        "{err}"
    );
    ws.assert_nothing_written("b2");
    // Disjoint indices from the same master succeed; the master is the same.
    p2.start_index = p1.start_index + 3;
    run_prev(ws, &p2, "b2", &[&b1]).ok();
    let f1 = read_json(&b1.join("manifest.json"))["master"]["fingerprint"].clone();
    let f2 = read_json(&ws.path().join("b2/manifest.json"))["master"]["fingerprint"].clone();
    assert_eq!(f1, f2);
    // A fresh HSM master may reuse the indices.
    let mut p3 = ws.plan();
    p3.start_index = p1.start_index;
    run_prev(ws, &p3, "b3", &[&b1]).ok();
}

/// Regression: a batch ending at index 2^32-1 (its end overflowed u32 in the ledger).
#[test]
fn overlap_at_the_top_of_the_index_space() {
    let ws = &mut Workspace::new(4);
    std::fs::write(ws.path().join("words.txt"), test_mnemonic()).unwrap();
    let mut p1 = ws.plan();
    p1.seed_source = "mnemonic".into();
    p1.mnemonic_file = Some("words.txt".into());
    p1.start_index = u32::MAX - 1;
    let b1 = ws.run_ok(&p1, "b1");
    ws.verify(&b1, &[]).ok();
    let mut p2 = p1.clone();
    p2.id = format!("{}-2", p1.id);
    p2.owner_address = random_address(&mut ws.rng);
    p2.start_index = u32::MAX;
    p2.validators = 1;
    let run = run_prev(ws, &p2, "b2", &[&b1]);
    run.expect_code(5);
    assert!(
        run.error_lines()
            .contains(&format!("indices {0}..={0}", u32::MAX)),
        "{}",
        run.stderr
    );
}

#[test]
fn tampered_or_missing_previous_bundle_is_refused() {
    let ws = &mut Workspace::new(4);
    let p1 = ws.plan();
    let b1 = ws.run_ok(&p1, "b1");
    let t = ws.path().join("b1-tampered");
    copy_dir(&b1, &t);
    let ks = t.join("keyshares.json");
    let mut bytes = std::fs::read(&ks).unwrap();
    let pos = bytes.len() / 3;
    bytes[pos] ^= 0x01;
    std::fs::write(&ks, bytes).unwrap();
    let p2 = ws.plan();
    let run = run_prev(ws, &p2, "b2", &[&t]);
    run.expect_code(5);
    let err = run.error_lines();
    assert!(err.contains("does not verify"), "{err}");
    assert!(err.contains("b1-tampered"), "{err}");
    ws.assert_nothing_written("b2");

    let missing = ws.path().join("no-such-bundle");
    let run = run_prev(ws, &p2, "b2", &[&b1, &missing]);
    run.expect_code(5);
    assert!(
        run.error_lines().contains("no-such-bundle"),
        "{}",
        run.stderr
    );
    ws.assert_nothing_written("b2");
}

#[test]
fn reused_ceremony_id_is_refused() {
    let ws = &mut Workspace::new(4);
    let p1 = ws.plan();
    let b1 = ws.run_ok(&p1, "b1");
    let mut p2 = ws.plan();
    p2.id = p1.id.clone();
    let run = run_prev(ws, &p2, "b2", &[&b1]);
    run.expect_code(5);
    assert!(run.error_lines().contains("ceremony.id"), "{}", run.stderr);
    ws.assert_nothing_written("b2");
}
