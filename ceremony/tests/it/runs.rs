//! Full headless runs for every cluster size, checked with `ceremony verify` (plain, pinned to
//! the identity printed by `hsm init`, and as JSON); build attestation; process hygiene.

use std::path::Path;

use crate::common::*;

/// Runs `plan` and checks the bundle through `ceremony verify` in every mode.
fn run_and_verify(ws: &Workspace, plan: &PlanSpec, name: &str) -> std::path::PathBuf {
    let run = ws.run(plan, name);
    run.ok();
    assert!(run.stdout.contains(&format!("ceremony      {}", plan.id)));
    let dir = ws.path().join(name);

    let plain = ws.verify(&dir, &[]);
    plain.ok();
    assert!(plain.stdout.contains("verified"), "{}", plain.stdout);
    assert!(!plain.stdout.contains("FAIL"), "{}", plain.stdout);

    let identity = ws.identity.clone().expect("hsm init ran");
    ws.verify(&dir, &["--identity", &identity]).ok();
    ws.verify(&dir, &["--identity", &format!("0x{identity}")])
        .ok();

    let json = ws.verify(&dir, &["--json", "--identity", &identity]);
    json.ok();
    let report: serde_json::Value = serde_json::from_str(&json.stdout).expect("--json parses");
    let checks = report["checks"].as_array().expect("checks");
    assert!(checks.len() >= 10, "{checks:?}");
    for c in checks {
        assert_eq!(c["ok"], true, "failed check {c}");
    }
    for name in [
        "manifest.signature",
        "identity.pinned",
        "files.hashes",
        "transcript.chain",
        "plan.parse",
        "deposit_data.plan",
        "deposit_data.signatures",
        "keyshares.fields",
        "keyshares.consistency",
        "keyshares.ownership",
        "merkle.root",
        "seal.envelope",
    ] {
        assert!(
            checks.iter().any(|c| c["name"] == name),
            "check {name} missing from {checks:?}"
        );
    }
    assert_eq!(report["ceremony_id"], plan.id.as_str());
    assert_eq!(report["validators"], plan.validators);
    check_bundle_content(ws, plan, &dir);
    dir
}

/// What the plan asked for is what the bundle holds.
fn check_bundle_content(ws: &Workspace, plan: &PlanSpec, dir: &Path) {
    let m = read_json(&dir.join("manifest.json"));
    assert_eq!(m["ceremony_id"], plan.id.as_str());
    assert_eq!(m["network"]["name"], plan.network.as_str());
    assert_eq!(
        m["identity"]["public_key"],
        ws.identity.clone().unwrap().as_str()
    );
    assert_eq!(m["withdrawal"]["address"], plan.withdrawal_address.as_str());
    assert_eq!(m["withdrawal"]["type"], plan.withdrawal_type.as_str());
    assert_eq!(m["withdrawal"]["amount_gwei"], plan.amount_gwei);
    assert_eq!(m["owner"]["address"], plan.owner_address.as_str());
    assert_eq!(m["owner"]["first_nonce"], plan.owner_nonce);
    assert_eq!(
        m["owner"]["last_nonce"],
        plan.owner_nonce + u64::from(plan.validators) - 1
    );
    let mut ids: Vec<u64> = ws.operators.iter().map(|o| o.id).collect();
    ids.sort();
    let listed: Vec<u64> = m["operators"]["list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_u64().unwrap())
        .collect();
    assert_eq!(listed, ids);
    let validators = m["validators"].as_array().unwrap();
    assert_eq!(validators.len(), plan.validators as usize);
    for (i, v) in validators.iter().enumerate() {
        assert_eq!(v["index"], plan.start_index + i as u32);
        assert_eq!(v["owner_nonce"], plan.owner_nonce + i as u64);
    }

    let deposits = read_json(&dir.join("deposit_data.json"));
    let deposits = deposits.as_array().unwrap();
    assert_eq!(deposits.len(), plan.validators as usize);
    let prefix = plan.withdrawal_type.trim_start_matches("0x");
    let addr = plan
        .withdrawal_address
        .trim_start_matches("0x")
        .to_lowercase();
    for (d, v) in deposits.iter().zip(validators) {
        assert_eq!(d["pubkey"], v["pubkey"]);
        assert_eq!(d["amount"], plan.amount_gwei);
        assert_eq!(
            d["withdrawal_credentials"],
            format!("{prefix}{}{addr}", "00".repeat(11)).as_str()
        );
        assert_eq!(d["network_name"], plan.network.as_str());
        if let Some(fv) = &plan.fork_version {
            assert_eq!(d["fork_version"], fv.trim_start_matches("0x"));
        }
    }

    let ks = read_json(&dir.join("keyshares.json"));
    let shares = ks["shares"].as_array().unwrap();
    assert_eq!(shares.len(), plan.validators as usize);
    for (i, s) in shares.iter().enumerate() {
        assert_eq!(s["data"]["ownerNonce"], plan.owner_nonce + i as u64);
        assert_eq!(s["data"]["ownerAddress"], plan.owner_address.as_str());
        let op_ids: Vec<u64> = s["payload"]["operatorIds"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_u64().unwrap())
            .collect();
        assert_eq!(op_ids, ids);
    }
    assert!(!dir.join("INCOMPLETE").exists());
    assert!(staging_dirs(
        dir.parent().unwrap(),
        dir.file_name().unwrap().to_str().unwrap()
    )
    .is_empty());
}

#[test]
fn four_operators_hoodi_0x01() {
    let ws = &mut Workspace::fresh(4);
    let mut plan = ws.plan();
    plan.validators = 3;
    plan.network = "hoodi".into();
    let dir = run_and_verify(ws, &plan, "bundle");

    // A wrong pinned identity fails with exit 6 and names the check.
    // The P-256 generator (the public key of the private key 1): a valid key, but not ours.
    let other = "046b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c2964fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5";
    let wrong = ws.verify(&dir, &["--identity", other]);
    wrong.expect_code(6);
    assert!(wrong.stdout.contains("identity.pinned"), "{}", wrong.stdout);
    let bad_hex = ws.verify(&dir, &["--identity", "zz"]);
    assert_ne!(bad_hex.code(), Some(0));
}

#[test]
fn seven_operators_sepolia_0x02_compounding() {
    let ws = &mut Workspace::new(7);
    let mut plan = ws.plan();
    plan.network = "sepolia".into();
    ws.pin_operators_to("sepolia");
    plan.withdrawal_type = "0x02".into();
    plan.amount_gwei = 2_048_000_000_000;
    plan.validators = 2;
    run_and_verify(ws, &plan, "bundle");
}

#[test]
fn ten_operators_mainnet_minimum_deposit() {
    let ws = &mut Workspace::new(10);
    let mut plan = ws.plan();
    plan.network = "mainnet".into();
    ws.pin_operators_to("mainnet");
    plan.withdrawal_type = "0x02".into();
    plan.amount_gwei = 1_000_000_000;
    plan.validators = 2;
    plan.start_index = u32::MAX - 1; // the last two EIP-2334 indices
    run_and_verify(ws, &plan, "bundle");
}

#[test]
fn thirteen_operators_custom_fork_version() {
    let ws = &mut Workspace::new(13);
    let mut plan = ws.plan();
    plan.network = "custom".into();
    plan.fork_version = Some(format!("0x{}", random_hex(&mut ws.rng, 4)));
    plan.validators = 1;
    plan.owner_nonce = 0;
    plan.start_index = 0;
    plan.operators_file = "bare.json".into();
    ws.write_operators("bare.json", false);
    plan.allow_unpinned_operators = Some(true);
    let dir = run_and_verify(ws, &plan, "bundle");
    let m = read_json(&dir.join("manifest.json"));
    assert_eq!(
        m["network"]["fork_version"],
        plan.fork_version
            .as_deref()
            .unwrap()
            .trim_start_matches("0x")
    );
    assert_eq!(m["operators"]["unpinned_allowed"], true);
    assert!(m["operators"]["provenance"].is_null());
}

/// Build attestation: the manifest names the SHA-256 of the executable that ran, and
/// `verify --expect-binary` checks it (exit 6 on a mismatch).
#[test]
fn build_attestation_binary_hash() {
    let ws = &mut Workspace::new(4);
    let plan = ws.plan();
    let dir = ws.run_ok(&plan, "bundle");
    let m = read_json(&dir.join("manifest.json"));
    let exe = std::fs::read(BIN).unwrap();
    let want = sha256_hex(&exe);
    assert_eq!(m["tool"]["binary_sha256"], want.as_str());
    assert_eq!(m["tool"]["name"], "ceremony");
    assert_eq!(m["tool"]["version"], env!("CARGO_PKG_VERSION"));
    let lock = std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.lock")).unwrap();
    assert_eq!(m["tool"]["cargo_lock_sha256"], sha256_hex(&lock).as_str());
    // The transcript records the same tool identity.
    let first = std::fs::read_to_string(dir.join("transcript.jsonl")).unwrap();
    let first: serde_json::Value = serde_json::from_str(first.lines().next().unwrap()).unwrap();
    assert_eq!(first["details"]["tool"]["binary_sha256"], want.as_str());

    ws.verify(&dir, &["--expect-binary", &want]).ok();
    ws.verify(&dir, &["--expect-binary", &want.to_uppercase()])
        .ok();
    let other = sha256_hex(b"some other ceremony binary");
    let run = ws.verify(&dir, &["--expect-binary", &other]);
    run.expect_code(6);
    assert!(
        run.stdout.contains("tool.binary_sha256"),
        "names the field: {}",
        run.stdout
    );
    let json = ws.verify(&dir, &["--expect-binary", &other, "--json"]);
    json.expect_code(6);
    let report: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    let failed: Vec<&serde_json::Value> = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["ok"] == false)
        .collect();
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0]["name"], "tool.binary");
}

/// `hsm init --json`: one JSON object with what the text shows, which scripts read instead of
/// scraping the text; its identity key is the one the bundles then carry, and an `rsa-oaep` seal
/// key's SPKI hash is the one the manifest records.
#[test]
fn hsm_init_json_names_the_keys_the_bundles_then_carry() {
    for (backend, extra) in [
        ("aes-256-gcm", &[][..]),
        ("rsa-oaep", &["--seal-backend", "rsa-oaep"][..]),
    ] {
        let ws = &mut Workspace::bare(4);
        let pin = ws.pin_file.to_str().unwrap().to_owned();
        let token = ws.token.clone();
        let mut args = vec![
            "hsm",
            "init",
            "--token",
            &token,
            "--pin-file",
            &pin,
            "--json",
        ];
        args.extend_from_slice(extra);
        let run = ws.ceremony(&args);
        run.ok();
        let out: serde_json::Value = serde_json::from_str(&run.stdout)
            .unwrap_or_else(|e| panic!("hsm init --json is one JSON value: {e}\n{}", run.stdout));
        assert_eq!(out["token"], token.as_str());
        assert_eq!(out["seal_backend"], backend);
        assert_eq!(out["seal_key"]["label"], "kc-seal");
        assert_eq!(out["identity_key"]["label"], "kc-identity");
        assert_eq!(out["identity_key"]["algorithm"], "P-256");
        let identity = out["identity_key"]["public_key"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_eq!(identity.len(), 130, "SEC1 uncompressed P-256 key in hex");
        ws.identity = Some(identity.clone());

        let plan = ws.plan();
        let dir = ws.run_ok(&plan, "bundle");
        ws.verify(&dir, &["--identity", &identity]).ok();
        let m = read_json(&dir.join("manifest.json"));
        assert_eq!(m["identity"]["public_key"], identity.as_str());
        assert_eq!(
            m["identity"]["fingerprint"],
            out["identity_key"]["fingerprint"]
        );
        assert_eq!(m["master"]["seal_algorithm"], backend);
        if backend == "rsa-oaep" {
            assert_eq!(out["seal_key"]["algorithm"], "RSA-3072");
            assert_eq!(
                m["master"]["seal_key_sha256"],
                out["seal_key"]["key_sha256"]
            );
            assert!(
                out["seal_key"]["data_key"]
                    .as_str()
                    .unwrap()
                    .starts_with("OAEP-"),
                "{out}"
            );
        } else {
            assert_eq!(out["seal_key"]["algorithm"], "AES-256");
            assert!(out["seal_key"].get("key_sha256").is_none(), "{out}");
        }
    }
}

/// Process hygiene: the transcript records core dumps off and a non-dumpable process; the
/// running process really has RLIMIT_CORE = 0 (read from /proc while it waits for its PIN on a
/// FIFO, after hardening and before any secret exists).
#[test]
fn process_hygiene_is_real_and_recorded() {
    let ws = &mut Workspace::new(4);
    let plan = ws.plan();
    let plan_path = ws.write_plan(&plan, "bundle.plan");
    let fifo = ws.path().join("pin.fifo");
    let st = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(st.success(), "mkfifo");
    let child = ws
        .cmd()
        .arg("run")
        .arg("--plan")
        .arg(&plan_path)
        .arg("--out")
        .arg(ws.path().join("bundle"))
        .arg("--pin-file")
        .arg(&fifo)
        .arg("--allow-unlocked-memory")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let limits_path = format!("/proc/{pid}/limits");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let core_line = loop {
        let limits = std::fs::read_to_string(&limits_path).unwrap_or_default();
        let line = limits
            .lines()
            .find(|l| l.starts_with("Max core file size"))
            .map(str::to_owned);
        if let Some(l) = line {
            let fields: Vec<&str> = l.split_whitespace().collect();
            // "Max core file size  0  0  bytes"
            if fields.get(4) == Some(&"0") && fields.get(5) == Some(&"0") {
                break l;
            }
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the ceremony never set RLIMIT_CORE to 0: {limits_path}"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    };
    assert!(core_line.contains(" 0"), "{core_line}");
    // The process is blocked opening the FIFO for its PIN: give it the PIN.
    std::fs::write(&fifo, format!("{USER_PIN}\n")).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dir = ws.path().join("bundle");
    let transcript = std::fs::read_to_string(dir.join("transcript.jsonl")).unwrap();
    let first: serde_json::Value =
        serde_json::from_str(transcript.lines().next().unwrap()).unwrap();
    assert_eq!(first["step"], "ceremony.started");
    let process = &first["details"]["process"];
    assert_eq!(process["core_dumps_disabled"], true, "{process}");
    assert_eq!(process["not_dumpable"], true, "{process}");
    assert!(process["memory_locked"].is_boolean(), "{process}");
}

/// The ceremony's read-back verification does not redo the cryptography it proved in
/// memory before writing, and only for the same bytes. Given the files' hashes as proven, the
/// signature and interpolation checks say they were not redone; without it they are done
/// (batched); a file changed after it was proven gets no cryptography and fails.
#[test]
fn proven_cryptography_is_not_redone_and_holds_only_for_the_same_bytes() {
    use kc_bundle::verify::{verify_bundle, Proven, VerifyOptions};
    let ws = &mut Workspace::new(4);
    let plan = ws.plan();
    let dir = ws.run_ok(&plan, "bundle");
    let m = read_json(&dir.join("manifest.json"));
    let proven = Proven {
        deposit_data_sha256: m["files"]["deposit_data.json"].as_str().unwrap().into(),
        keyshares_sha256: m["files"]["keyshares.json"].as_str().unwrap().into(),
    };
    let identity = hex::decode(ws.identity.as_deref().unwrap()).unwrap();
    let detail = |r: &kc_bundle::verify::Report, name: &str| {
        r.checks
            .iter()
            .find(|c| c.name == name)
            .map(|c| (c.ok, c.detail.clone()))
            .unwrap()
    };
    let opts = |proven: Option<Proven>| VerifyOptions {
        trusted_identities: vec![identity.clone()],
        proven,
        ..VerifyOptions::default()
    };
    let r = verify_bundle(&dir, &opts(Some(proven.clone())));
    assert!(r.ok(), "{:?}", r.failures().collect::<Vec<_>>());
    for name in [
        "deposit_data.signatures",
        "keyshares.ownership",
        "keyshares.consistency",
    ] {
        let (ok, d) = detail(&r, name);
        assert!(ok && d.contains("not redone"), "{name}: {d}");
    }
    let r = verify_bundle(&dir, &opts(None));
    assert!(r.ok());
    assert!(detail(&r, "deposit_data.signatures")
        .1
        .contains("(batched)"));
    assert!(detail(&r, "keyshares.ownership").1.contains("(batched)"));

    // One hex digit of a sharesData changed after it was proven.
    let ks = std::fs::read_to_string(dir.join("keyshares.json")).unwrap();
    let at = ks.find("\"sharesData\": \"0x").unwrap() + 30;
    let mut b = ks.into_bytes();
    b[at] = if b[at] == b'a' { b'b' } else { b'a' };
    std::fs::write(dir.join("keyshares.json"), b).unwrap();
    let r = verify_bundle(&dir, &opts(Some(proven)));
    assert!(!r.ok());
    let (ok, d) = detail(&r, "keyshares.ownership");
    assert!(!ok && d.contains("not checked"), "{d}");
}
