//! `ceremony reshare`: 3 of 5 validators of a bundle to 4 new operators (ids never seen before);
//! the reshare bundle verifies (`ceremony verify`, HTML report of kind reshare), its shares
//! decrypt with the new operators' keys and reconstruct the same validator keys, it holds no
//! deposit data; reused owner nonces, a validator not in the source bundle and a tampered source
//! bundle are refused before anything is written.

use std::path::Path;

use kc_ssv::shamir::{reconstruct, ShareSecret};
use kc_ssv::SharesData;
use kc_validator::SecretKey;
use rsa::Pkcs1v15Encrypt;
use serde_json::json;

use crate::common::*;

/// Writes a reshare plan for `pubkeys` (hex) to the operators file `ops`, first nonce `nonce`,
/// on the workspace's token and module.
pub(crate) fn reshare_plan(
    ws: &Workspace,
    name: &str,
    id: &str,
    pubkeys: &[String],
    ops: &str,
    nonce: u64,
) -> std::path::PathBuf {
    let list = pubkeys
        .iter()
        .map(|p| format!("\"0x{p}\""))
        .collect::<Vec<_>>()
        .join(", ");
    let text = format!(
        "[reshare]\nid = \"{id}\"\nvalidators = [{list}]\n\n[ssv]\nowner_nonce = {nonce}\noperators_file = \"{ops}\"\n\n[hsm]\nmodule = \"{}\"\ntoken_label = \"{}\"\n",
        ws.module.display(),
        ws.token
    );
    let path = ws.path().join(format!("{name}.toml"));
    std::fs::write(&path, text).unwrap();
    path
}

pub(crate) fn reshare(
    ws: &Workspace,
    from: &Path,
    plan: &Path,
    out: &str,
    previous: &[&Path],
) -> Run {
    reshare_env(ws, from, plan, out, previous, &[])
}

fn reshare_env(
    ws: &Workspace,
    from: &Path,
    plan: &Path,
    out: &str,
    previous: &[&Path],
    env: &[(&str, &str)],
) -> Run {
    let mut c = ws.cmd();
    for (k, v) in env {
        c.env(k, v);
    }
    c.arg("reshare")
        .arg("--from")
        .arg(from)
        .arg("--plan")
        .arg(plan)
        .arg("--out")
        .arg(ws.path().join(out))
        .arg("--pin-file")
        .arg(&ws.pin_file)
        .arg("--allow-unlocked-memory");
    for p in previous {
        c.arg("--previous").arg(p);
    }
    let o = c.output().unwrap();
    Run {
        status: o.status,
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

/// Writes `new-operators.json`: four operators with other keys and ids the pool never used
/// (not in `old_ids`), ascending; returns them with their private keys.
pub(crate) fn new_operators(ws: &mut Workspace, old_ids: &[u64]) -> Vec<(u64, rsa::RsaPrivateKey)> {
    let keys = pooled_keys(8).split_off(4);
    let mut ids = random_ids(&mut ws.rng, 8);
    ids.retain(|i| !old_ids.contains(i));
    ids.truncate(4);
    let mut new_ops: Vec<(u64, rsa::RsaPrivateKey)> = ids.into_iter().zip(keys).collect();
    new_ops.sort_by_key(|o| o.0);
    ws.write_json(
        "new-operators.json",
        &json!({
            "provenance": {"chain_id": 560048, "ssv_network": "0x58410Bef803ECd7E63B23664C586A6DB72DAf59c",
                "block_number": 123999, "block_hash": format!("0x{}", "cd".repeat(32)), "exported_at": "2026-12-01T10:00:00Z"},
            "operators": new_ops.iter().map(|(id, k)| json!({"id": id, "public_key": encode_key(k)})).collect::<Vec<_>>(),
        }),
    );
    new_ops
}

#[test]
fn three_of_five_validators_to_four_new_operators_verify_and_reconstruct_the_same_keys() {
    let ws = &mut Workspace::new(4);
    let mut p = ws.plan();
    p.validators = 5;
    let b1 = ws.run_ok(&p, "b1");
    let m1 = read_json(&b1.join("manifest.json"));
    let old_ids: Vec<u64> = ws.operators.iter().map(|o| o.id).collect();

    let new_ops = new_operators(ws, &old_ids);
    let pubkeys: Vec<String> = [0usize, 2, 4]
        .iter()
        .map(|i| m1["validators"][*i]["pubkey"].as_str().unwrap().to_owned())
        .collect();
    let next_nonce = m1["owner"]["last_nonce"].as_u64().unwrap() + 1;

    // Reused nonces (those of the source bundle) are refused, nothing written.
    let bad = reshare_plan(
        ws,
        "bad",
        "rs-bad",
        &pubkeys,
        "new-operators.json",
        next_nonce - 2,
    );
    let r = reshare(ws, &b1, &bad, "r-bad", &[]);
    r.expect_code(5);
    assert!(r.stderr.contains("ssv.owner_nonce"), "{}", r.stderr);
    assert!(!ws.path().join("r-bad").exists());
    // A validator that is not in the source bundle.
    let mut strangers = pubkeys.clone();
    strangers[1] = "ab".repeat(48);
    let bad = reshare_plan(
        ws,
        "bad2",
        "rs-bad2",
        &strangers,
        "new-operators.json",
        next_nonce,
    );
    reshare(ws, &b1, &bad, "r-bad2", &[]).expect_code(2);
    assert!(!ws.path().join("r-bad2").exists());

    let plan = reshare_plan(ws, "rs", "rs-1", &pubkeys, "new-operators.json", next_nonce);
    // Interrupted at the manifest (SIGABRT, no cleanup): the bundle never appears, the staging
    // directory keeps its INCOMPLETE marker and does not verify.
    let r = reshare_env(
        ws,
        &b1,
        &plan,
        "r1",
        &[],
        &[(ceremony::pipeline::ABORT_ENV, "manifest")],
    );
    assert!(
        !r.status.success() && r.stderr.contains("aborting at stage manifest"),
        "{}",
        r.stderr
    );
    assert!(!ws.path().join("r1").exists());
    let staged: Vec<std::path::PathBuf> = std::fs::read_dir(ws.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with(".r1.incomplete-")
        })
        .collect();
    assert_eq!(staged.len(), 1, "{staged:?}");
    assert!(staged[0].join("INCOMPLETE").is_file());
    ws.verify(&staged[0], &[]).expect_code(6);
    let out = reshare(ws, &b1, &plan, "r1", &[]);
    out.ok();
    let r1 = ws.path().join("r1");
    let identity = ws.identity.clone().unwrap();
    let report = ws.path().join("r1.html");
    let v = ws.verify(
        &r1,
        &[
            "--identity",
            &identity,
            "--report",
            report.to_str().unwrap(),
        ],
    );
    v.ok();
    let page = std::fs::read_to_string(&report).unwrap();
    assert!(page.contains("Reshare audit report: rs-1") && page.contains("Validators moved"));
    assert!(!r1.join("deposit_data.json").exists());
    assert!(!r1.join("sealed").exists());
    let m = read_json(&r1.join("manifest.json"));
    assert_eq!(m["kind"], "reshare");
    assert_eq!(m["source"]["merkle_root"], m1["merkle_root"]);
    assert_eq!(m["owner"]["first_nonce"], next_nonce);
    let want_ids: Vec<u64> = new_ops.iter().map(|o| o.0).collect();

    // The shares decrypt with the new operators' keys; any 3 of 4 reconstruct the same key.
    let ks = read_json(&r1.join("keyshares.json"));
    let items = ks["shares"].as_array().unwrap();
    assert_eq!(items.len(), 3);
    for (item, pk) in items.iter().zip(&pubkeys) {
        assert_eq!(item["data"]["publicKey"], format!("0x{pk}"));
        let ids: Vec<u64> = item["payload"]["operatorIds"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_u64().unwrap())
            .collect();
        assert_eq!(ids, want_ids);
        let sd = SharesData::from_hex(
            item["payload"]["sharesData"].as_str().unwrap(),
            4,
            &format!("0x{pk}"),
        )
        .unwrap();
        let shares: Vec<ShareSecret> = new_ops
            .iter()
            .enumerate()
            .map(|(j, (id, key))| {
                let plain = key
                    .decrypt(Pkcs1v15Encrypt, &sd.encrypted_shares[j].0)
                    .expect("decrypts with the new operator's key");
                ShareSecret::from_plaintext(*id, &plain).unwrap()
            })
            .collect();
        for skip in 0..4 {
            let three: Vec<&ShareSecret> = shares
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != skip)
                .map(|(_, s)| s)
                .collect();
            let secret = reconstruct(&three).unwrap();
            let key = SecretKey::from_bytes(&secret[..]).unwrap();
            assert_eq!(hex::encode(key.public_key().to_bytes()), *pk);
        }
    }

    // The reshare bundle is a ledger entry: its nonces cannot be used again.
    let again = reshare_plan(
        ws,
        "rs2",
        "rs-2",
        &pubkeys[..1],
        "new-operators.json",
        next_nonce + 2,
    );
    let r = reshare(ws, &b1, &again, "r2", &[&r1]);
    r.expect_code(5);
    assert!(!ws.path().join("r2").exists());
    // A tampered source bundle is refused before anything is unsealed.
    let tampered = ws.path().join("b1-copy");
    copy_dir(&b1, &tampered);
    let dd = tampered.join("deposit_data.json");
    let mut bytes = std::fs::read(&dd).unwrap();
    bytes[10] ^= 1;
    std::fs::write(&dd, bytes).unwrap();
    let plan3 = reshare_plan(
        ws,
        "rs3",
        "rs-3",
        &pubkeys,
        "new-operators.json",
        next_nonce + 10,
    );
    // The same check and refusal as `recover` (exit 6), before the PIN is used.
    let r = reshare(ws, &tampered, &plan3, "r3", &[]);
    r.expect_code(6);
    assert!(
        r.stderr.contains("refusing to log in or unseal"),
        "{}",
        r.stderr
    );
    assert!(!ws.path().join("r3").exists());
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}
