//! Recovery drill: `ceremony recover --recreate` unseals an earlier bundle's master secret with
//! the HSM and re-creates identical deposit data; without `--recreate` the earlier bundle is a
//! ledger entry, so overlapping indices or nonces are refused and a disjoint extension works.

use std::path::Path;

use crate::common::*;

fn recover(ws: &Workspace, from: &Path, plan: &PlanSpec, name: &str, recreate: bool) -> Run {
    ws.recover(from, plan, name, recreate)
}

#[test]
fn recovery_drill() {
    let ws = &mut Workspace::new(4);
    let mut p1 = ws.plan();
    p1.validators = 3;
    p1.network = "sepolia".into();
    ws.pin_operators_to("sepolia");
    let b1 = ws.run_ok(&p1, "b1");
    let m1 = read_json(&b1.join("manifest.json"));
    let identity = ws.identity.clone().unwrap();

    // Re-create: the same plan under another id gives byte-identical deposit data.
    let mut p2 = p1.clone();
    p2.id = format!("{}-drill", p1.id);
    recover(ws, &b1, &p2, "b2", true).ok();
    let b2 = ws.path().join("b2");
    ws.verify(&b2, &["--identity", &identity]).ok();
    assert_eq!(
        std::fs::read(b1.join("deposit_data.json")).unwrap(),
        std::fs::read(b2.join("deposit_data.json")).unwrap(),
        "the drill re-creates the deposit data byte for byte"
    );
    let m2 = read_json(&b2.join("manifest.json"));
    assert_eq!(m2["master"]["fingerprint"], m1["master"]["fingerprint"]);
    assert_eq!(
        m2["master"]["seed_source"],
        format!("recovered:{}", p1.id).as_str()
    );
    for (a, b) in m1["validators"]
        .as_array()
        .unwrap()
        .iter()
        .zip(m2["validators"].as_array().unwrap())
    {
        assert_eq!(a["pubkey"], b["pubkey"]);
        assert_eq!(a["deposit_data_root"], b["deposit_data_root"]);
        assert_eq!(a["index"], b["index"]);
    }

    // Extend without --recreate: overlapping indices (disjoint nonces) are refused ...
    let mut p3 = p1.clone();
    p3.id = format!("{}-ext", p1.id);
    p3.start_index = p1.start_index + 2;
    p3.owner_nonce = p1.owner_nonce + 3;
    let run = recover(ws, &b1, &p3, "b3", false);
    run.expect_code(5);
    let err = run.error_lines();
    assert!(err.contains("ceremony.start_index"), "{err}");
    assert!(
        err.contains(&format!("indices {0}..={0}", p1.start_index + 2)),
        "{err}"
    );
    assert!(err.contains(&p1.id), "names the earlier ceremony: {err}");
    ws.assert_nothing_written("b3");

    // ... so are overlapping nonces of the same owner ...
    p3.start_index = p1.start_index + 3;
    p3.owner_nonce = p1.owner_nonce + 2;
    let run = recover(ws, &b1, &p3, "b3", false);
    run.expect_code(5);
    assert!(
        run.error_lines().contains("ssv.owner_nonce"),
        "{}",
        run.stderr
    );
    ws.assert_nothing_written("b3");

    // ... and a disjoint extension succeeds, from the same master.
    p3.owner_nonce = p1.owner_nonce + 3;
    recover(ws, &b1, &p3, "b3", false).ok();
    let b3 = ws.path().join("b3");
    ws.verify(&b3, &["--identity", &identity]).ok();
    let m3 = read_json(&b3.join("manifest.json"));
    assert_eq!(m3["master"]["fingerprint"], m1["master"]["fingerprint"]);
    assert_eq!(m3["validators"][0]["index"], p1.start_index + 3);
    let old: Vec<&str> = m1["validators"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["pubkey"].as_str().unwrap())
        .collect();
    for v in m3["validators"].as_array().unwrap() {
        assert!(!old.contains(&v["pubkey"].as_str().unwrap()));
    }
}

#[test]
fn recover_refuses_a_tampered_sealed_master() {
    let ws = &mut Workspace::new(4);
    let p1 = ws.plan();
    let b1 = ws.run_ok(&p1, "b1");
    let copy = ws.path().join("b1-copy");
    copy_dir(&b1, &copy);
    let seal = copy.join("sealed/master.seal");
    let mut v = read_json(&seal);
    let blob = v["blob"].as_str().unwrap().to_owned();
    let flipped = format!(
        "{}{}",
        &blob[..blob.len() - 1],
        if blob.ends_with('0') { "1" } else { "0" }
    );
    v["blob"] = flipped.into();
    std::fs::write(&seal, serde_json::to_string_pretty(&v).unwrap() + "\n").unwrap();
    let mut p2 = p1.clone();
    p2.id = format!("{}-drill", p1.id);
    let run = recover(ws, &copy, &p2, "b2", true);
    // Refused by the verification of --from, before the PIN is used.
    run.expect_code(6);
    let err = run.error_lines();
    assert!(
        err.contains("--from") && err.contains("sealed/master.seal"),
        "{err}"
    );
    ws.assert_nothing_written("b2");
}

/// Each refusal comes from verifying --from pinned to the token's identity key, before login:
/// with a wrong PIN the error is still the verification's (exit 6), never C_Login's.
#[test]
fn recover_verifies_from_before_login_or_unseal() {
    let ws = &mut Workspace::new(4);
    let p1 = ws.plan();
    let b1 = ws.run_ok(&p1, "b1");
    let wrong_pin = ws.path().join("wrong-pin");
    std::fs::write(&wrong_pin, "not-the-pin-0000\n").unwrap();
    let mut p2 = p1.clone();
    p2.id = format!("{}-drill", p1.id);

    let tamper = |name: &str, edit: &dyn Fn(&Path)| {
        let copy = ws.path().join(name);
        copy_dir(&b1, &copy);
        edit(&copy);
        copy
    };
    // a forged manifest (one changed field, signature left as it was)
    let forged = tamper("forged", &|d| {
        let p = d.join("manifest.json");
        let mut m = read_json(&p);
        m["created_at"] = "2030-01-01T00:00:00Z".into();
        std::fs::write(&p, serde_json::to_string_pretty(&m).unwrap() + "\n").unwrap();
    });
    // one flipped byte of the sealed master secret
    let flipped = tamper("flipped", &|d| {
        let p = d.join("sealed/master.seal");
        let mut b = std::fs::read(&p).unwrap();
        let i = b.len() - 10;
        b[i] = if b[i] == b'0' { b'1' } else { b'0' };
        std::fs::write(&p, b).unwrap();
    });
    // the sealed master secret of another ceremony on another token
    let other = &mut Workspace::new(4);
    let po = other.plan();
    let bo = other.run_ok(&po, "other");
    let swapped = tamper("swapped", &|d| {
        std::fs::copy(bo.join("sealed/master.seal"), d.join("sealed/master.seal")).unwrap();
    });
    // a whole bundle signed by another identity
    let foreign = bo.clone();

    for (from, what) in [
        (&forged, "manifest"),
        (&flipped, "sealed/master.seal"),
        (&swapped, "sealed/master.seal"),
        (&foreign, "manifest.sig"),
    ] {
        for pin in [&ws.pin_file, &wrong_pin] {
            let run = ws.recover_with_pin(from, &p2, "b2", true, pin);
            run.expect_code(6);
            let err = run.error_lines();
            assert!(err.contains("--from"), "{err}");
            assert!(err.contains("refusing to log in or unseal"), "{err}");
            assert!(err.contains(what), "{what}: {err}");
            assert!(!err.contains("C_Login"), "{err}");
            ws.assert_nothing_written("b2");
        }
    }
    // The untouched bundle recovers (and with the wrong PIN, stops at C_Login).
    ws.recover_with_pin(&b1, &p2, "b2", true, &wrong_pin)
        .expect_code(4);
    ws.recover(&b1, &p2, "b2", true).ok();
}
