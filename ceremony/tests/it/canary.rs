//! Secret canary: a ceremony from a known test mnemonic, then every output (every bundle file,
//! stdout and stderr of `run` and `verify`) is searched for every secret the test can know: the
//! validator secret keys (hex in both cases, base64, decimal, raw bytes), the master seed and
//! the BIP-39 entropy (hex, base64, raw), every run of three consecutive mnemonic words, and the
//! share secrets, which the test recovers by decrypting the encrypted shares with the operator
//! private keys it generated. Zero hits allowed.

use kc_ssv::SharesData;
use kc_validator::{Mnemonic, SecretKey};
use rsa::{BigUint, Pkcs1v15Encrypt};

use crate::common::*;

/// One secret in every form it could leak in.
fn forms(label: &str, bytes: &[u8], out: &mut Vec<(String, Vec<u8>)>) {
    let h = hex::encode(bytes);
    out.push((format!("{label} (hex)"), h.clone().into_bytes()));
    out.push((format!("{label} (HEX)"), h.to_uppercase().into_bytes()));
    out.push((format!("{label} (base64)"), b64(bytes).into_bytes()));
    out.push((
        format!("{label} (decimal)"),
        BigUint::from_bytes_be(bytes).to_string().into_bytes(),
    ));
    out.push((format!("{label} (raw)"), bytes.to_vec()));
}

fn find(hay: &[u8], needle: &[u8]) -> bool {
    needle.len() <= hay.len() && hay.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn no_secret_in_any_output() {
    let ws = &mut Workspace::fresh(4);
    let mut plan = ws.plan();
    plan.validators = 3;
    std::fs::write(ws.path().join("words.txt"), test_mnemonic()).unwrap();
    plan.seed_source = "mnemonic".into();
    plan.mnemonic_file = Some("words.txt".into());
    let run = ws.run_with(
        &plan,
        "bundle",
        &[
            "--administrator",
            "Canary Admin",
            "--witness",
            "Canary Witness",
        ],
        &[],
    );
    run.ok();
    let dir = ws.path().join("bundle");
    let verify = ws.verify(&dir, &[]);
    verify.ok();
    let verify_json = ws.verify(&dir, &["--json"]);
    verify_json.ok();
    let report_path = ws.path().join("audit-report.html");
    let verify_report = ws.verify(&dir, &["--report", report_path.to_str().unwrap()]);
    verify_report.ok();

    // The secrets.
    let mut secrets: Vec<(String, Vec<u8>)> = Vec::new();
    let entropy = test_entropy();
    forms("entropy", &entropy, &mut secrets);
    let mnemonic = Mnemonic::from_entropy(&entropy).unwrap();
    let seed = mnemonic.to_seed("");
    forms("seed", seed.as_bytes(), &mut secrets);
    let phrase = mnemonic.phrase();
    let words: Vec<&str> = phrase.split(' ').collect();
    for (i, w) in words.windows(3).enumerate() {
        secrets.push((format!("words {i}..{}", i + 2), w.join(" ").into_bytes()));
    }
    let m = read_json(&dir.join("manifest.json"));
    for (i, v) in m["validators"].as_array().unwrap().iter().enumerate() {
        let index = plan.start_index + i as u32;
        let sk = kc_validator::derive::signing_key(seed.as_bytes(), index).unwrap();
        assert_eq!(
            v["pubkey"].as_str().unwrap(),
            sk.public_key().to_hex().trim_start_matches("0x"),
            "the canary derives the bundle's keys"
        );
        forms(
            &format!("validator {index} secret key"),
            &sk.to_bytes()[..],
            &mut secrets,
        );
    }

    // Share secrets: decrypt every encrypted share with the operators' private keys.
    let mut ops: Vec<&Operator> = ws.operators.iter().collect();
    ops.sort_by_key(|o| o.id);
    let ks = read_json(&dir.join("keyshares.json"));
    let mut shares_found = 0;
    for item in ks["shares"].as_array().unwrap() {
        let pk = item["data"]["publicKey"].as_str().unwrap();
        let sd = SharesData::from_hex(
            item["payload"]["sharesData"].as_str().unwrap(),
            ops.len(),
            pk,
        )
        .unwrap();
        for (j, op) in ops.iter().enumerate() {
            let plaintext = op
                .key
                .decrypt(Pkcs1v15Encrypt, &sd.encrypted_shares[j].0)
                .expect("the share decrypts with the operator's key");
            let text = std::str::from_utf8(&plaintext).unwrap();
            let share = hex::decode(text.strip_prefix("0x").expect("0x + hex")).unwrap();
            let share_pk = SecretKey::from_bytes(&share)
                .unwrap()
                .public_key()
                .to_bytes();
            assert_eq!(
                share_pk[..],
                sd.share_public_keys[j].0[..],
                "share {j} of {pk}"
            );
            forms(
                &format!("share of operator {} for {pk}", op.id),
                &share,
                &mut secrets,
            );
            secrets.push((format!("share plaintext {} {pk}", op.id), plaintext.clone()));
            shares_found += 1;
        }
    }
    assert_eq!(shares_found, 3 * 4);
    secrets.push(("PIN".into(), USER_PIN.as_bytes().to_vec()));

    // Every output.
    let mut outputs: Vec<(String, Vec<u8>)> = all_files(&dir);
    outputs.push(("audit report".into(), std::fs::read(&report_path).unwrap()));
    for (name, r) in [
        ("run", &run),
        ("verify", &verify),
        ("verify --json", &verify_json),
        ("verify --report", &verify_report),
    ] {
        outputs.push((format!("{name} stdout"), r.stdout.clone().into_bytes()));
        outputs.push((format!("{name} stderr"), r.stderr.clone().into_bytes()));
    }
    assert!(outputs.len() >= 8 + 6);
    let mut hits = Vec::new();
    for (out_name, hay) in &outputs {
        for (secret, needle) in &secrets {
            if find(hay, needle) {
                hits.push(format!("{secret} in {out_name}"));
            }
        }
    }
    assert!(hits.is_empty(), "secrets leaked: {hits:#?}");
    eprintln!(
        "canary: {} secret forms searched in {} outputs, 0 hits",
        secrets.len(),
        outputs.len()
    );
}
