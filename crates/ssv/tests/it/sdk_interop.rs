//! Interoperability with the SSV SDK (`@ssv-labs/ssv-sdk`, pinned in tools/ssv-sdk), both ways.
//! Fails (never skips) when node or the SDK is missing: run `make tools`.

use std::process::Command;

use kc_ssv::{build_keyshares, reconstruct, Cluster, KeySharesFile, OperatorKey, ShareSecret};
use kc_validator::Address;
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::{Pkcs1v15Encrypt, RsaPrivateKey};
use serde_json::json;

use crate::common::{
    cluster, interop_dir, random_nonce, random_owner, random_validator, rng, run, sdk_dir,
};

#[test]
fn the_sdk_reads_and_accepts_our_keyshares_for_every_cluster_size() {
    let sdk = sdk_dir();
    let mut rng = rng();
    for ids in [
        vec![4242u64, 17, 1001, 203],
        vec![7, 17, 99, 203, 350, 512, 1001],
        vec![17, 99, 203, 350, 512, 1001, 2024, 3000, 4242, 5555],
        crate::common::FIXTURE_IDS.to_vec(),
    ] {
        let c = cluster(&ids);
        let owner = random_owner(&mut rng);
        let nonce = random_nonce(&mut rng);
        let validators: Vec<_> = (0..3).map(|_| random_validator(&mut rng)).collect();
        let file = build_keyshares(
            &validators,
            &c,
            &owner,
            nonce,
            std::time::SystemTime::now(),
            &mut rng,
        )
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keyshares.json");
        file.write_new(&path).unwrap();
        let expect = dir.path().join("expect.json");
        let operators: Vec<_> = c
            .operators()
            .iter()
            .map(|o| json!({"id": o.id(), "publicKey": o.encoded()}))
            .collect();
        std::fs::write(
            &expect,
            json!({"count": 3, "owner": owner.to_checksum(), "operators": operators}).to_string(),
        )
        .unwrap();
        let out = run(Command::new("node")
            .arg(interop_dir().join("validate_keyshares.js"))
            .arg(&sdk)
            .arg(&path)
            .arg(&expect));
        let out: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(out["ok"], true);
        assert_eq!(out["items"], 3);
        assert_eq!(out["sdkVersion"], "0.1.0");
    }
}

#[test]
fn we_read_verify_decrypt_and_reconstruct_what_the_sdk_builds() {
    let sdk = sdk_dir();
    let mut rng = rng();
    for ids in [
        vec![4242u64, 17, 1001, 203],
        vec![9000, 17, 1001, 203, 55, 4242, 600],
    ] {
        let owner = random_owner(&mut rng);
        let nonce = random_nonce(&mut rng);
        let validators: Vec<_> = (0..2).map(|_| random_validator(&mut rng)).collect();
        let dir = tempfile::tempdir().unwrap();
        let spec = dir.path().join("spec.json");
        let secrets: Vec<String> = validators
            .iter()
            .map(|v| format!("0x{}", hex::encode(*v.to_bytes())))
            .collect();
        // The SDK is given the ids unsorted and the owner in lower case.
        std::fs::write(
            &spec,
            json!({"validators": secrets, "operatorIds": ids, "owner": owner.to_lower_hex(), "nonce": nonce}).to_string(),
        )
        .unwrap();
        run(Command::new("node")
            .arg(interop_dir().join("build_shares.js"))
            .arg(&sdk)
            .arg(&spec)
            .arg(dir.path()));

        let ops: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(dir.path().join("operators.json")).unwrap(),
        )
        .unwrap();
        let ops = ops.as_array().unwrap();
        let cluster = Cluster::new(
            ops.iter()
                .map(|o| {
                    OperatorKey::parse(
                        o["id"].as_u64().unwrap(),
                        o["operatorKey"].as_str().unwrap(),
                    )
                    .unwrap()
                })
                .collect(),
        )
        .unwrap();
        let file = KeySharesFile::read(&dir.path().join("keyshares.json")).unwrap();
        assert_eq!(file.version, "v1.1.0");
        let verified = file.verify_batch(&cluster, &owner, nonce).unwrap();
        assert_eq!(verified.len(), 2);
        for (v, sk) in verified.iter().zip(&validators) {
            assert_eq!(v.validator_public_key, sk.public_key());
            assert_eq!(v.owner, owner);
            let mut shares = Vec::new();
            for ((op, ct), spk) in cluster
                .operators()
                .iter()
                .zip(&v.shares_data.encrypted_shares)
                .zip(&v.shares_data.share_public_keys)
            {
                let pem = ops.iter().find(|o| o["id"] == op.id()).unwrap()["privateKeyPem"]
                    .as_str()
                    .unwrap();
                let key = RsaPrivateKey::from_pkcs1_pem(pem).unwrap();
                let plaintext = key.decrypt(Pkcs1v15Encrypt, &ct.0).unwrap();
                // What the SDK encrypts: "0x" + 64 lower-case hex digits.
                assert_eq!(plaintext.len(), 66);
                assert!(plaintext[2..]
                    .iter()
                    .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(c)));
                let share = ShareSecret::from_plaintext(op.id(), &plaintext).unwrap();
                assert_eq!(share.public_key(), *spk);
                shares.push(share);
            }
            let t = cluster.threshold();
            let some: Vec<&ShareSecret> = shares.iter().skip(shares.len() - t).collect();
            assert_eq!(*reconstruct(&some).unwrap(), *sk.to_bytes());
        }
        // The owner as the SDK wrote it (lower case) parses to the same address.
        let parsed: Address = file.shares[0].data.owner_address.parse().unwrap();
        assert_eq!(parsed, owner);
    }
}
