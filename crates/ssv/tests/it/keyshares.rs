//! keyshares.json and sharesData: building, the exact format, verification, tampering.

use std::time::{Duration, UNIX_EPOCH};

use blstrs::{G1Projective, Scalar};
use group::{Curve, Group};
use kc_ssv::keyshares::{iso8601_millis, MAX_OWNER_NONCE};
use kc_ssv::{
    build_item, build_keyshares, verify_item, verify_item_for_cluster, Error, KeySharesFile,
    KeySharesItem, SharePublicKey, SharesData,
};

use crate::common::{cluster, ids, random_nonce, random_owner, random_validator, rng};

fn created() -> std::time::SystemTime {
    UNIX_EPOCH + Duration::from_millis(1_767_225_600_123)
}

#[test]
fn files_for_every_cluster_size_verify_and_round_trip() {
    let mut rng = rng();
    for n in [4, 7, 10, 13] {
        let c = cluster(&ids(n));
        let owner = random_owner(&mut rng);
        let nonce = random_nonce(&mut rng);
        let validators: Vec<_> = (0..3).map(|_| random_validator(&mut rng)).collect();
        let file = build_keyshares(&validators, &c, &owner, nonce, created(), &mut rng).unwrap();
        assert_eq!(file.version, "v1.1.0");
        assert_eq!(file.shares.len(), 3);
        let verified = file.verify_batch(&c, &owner, nonce).unwrap();
        for (i, (v, sk)) in verified.iter().zip(&validators).enumerate() {
            assert_eq!(v.validator_public_key, sk.public_key());
            assert_eq!(v.owner_nonce, nonce + i as u64);
            assert_eq!(v.shares_data.operator_count(), n);
        }
        let back = KeySharesFile::from_json(&file.to_json()).unwrap();
        assert_eq!(back, file);
        // Wrong expectations are named.
        let e = file.verify_batch(&c, &owner, nonce + 1).unwrap_err();
        assert!(e.to_string().contains("data.ownerNonce"), "{e}");
        let e = file
            .verify_batch(&c, &random_owner(&mut rng), nonce)
            .unwrap_err();
        assert!(e.to_string().contains("data.ownerAddress"), "{e}");
    }
}

#[test]
fn json_has_the_sdk_field_names_and_types() {
    let mut rng = rng();
    let c = cluster(&[4242, 17, 1001, 203, 99, 7, 8191]);
    let owner = random_owner(&mut rng);
    let sk = random_validator(&mut rng);
    let file = build_keyshares([&sk], &c, &owner, 41, created(), &mut rng).unwrap();
    let v: serde_json::Value = serde_json::from_str(&file.to_json()).unwrap();
    assert_eq!(v["version"], "v1.1.0");
    assert_eq!(v["createdAt"], "2026-01-01T00:00:00.123Z");
    let item = &v["shares"][0];
    let keys = |o: &serde_json::Value| o.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    assert_eq!(keys(item), ["data", "payload"]);
    let mut data_keys = keys(&item["data"]);
    data_keys.sort();
    assert_eq!(
        data_keys,
        ["operators", "ownerAddress", "ownerNonce", "publicKey"]
    );
    let mut payload_keys = keys(&item["payload"]);
    payload_keys.sort();
    assert_eq!(payload_keys, ["operatorIds", "publicKey", "sharesData"]);
    assert!(item["data"]["ownerNonce"].is_u64());
    assert_eq!(item["data"]["ownerNonce"], 41);
    assert_eq!(item["data"]["ownerAddress"], owner.to_checksum());
    let pk = format!("0x{}", sk.public_key().to_hex());
    assert_eq!(item["data"]["publicKey"], pk);
    assert_eq!(item["payload"]["publicKey"], pk);
    assert_eq!(pk.len(), 98);
    let ids: Vec<u64> = item["payload"]["operatorIds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i.as_u64().unwrap())
        .collect();
    assert_eq!(ids, [7, 17, 99, 203, 1001, 4242, 8191]);
    for (o, op) in item["data"]["operators"]
        .as_array()
        .unwrap()
        .iter()
        .zip(c.operators())
    {
        assert!(o["id"].is_u64());
        assert_eq!(o["id"], op.id());
        assert_eq!(o["operatorKey"], op.encoded());
    }
    let sd = item["payload"]["sharesData"].as_str().unwrap();
    assert!(
        sd.starts_with("0x")
            && sd[2..]
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    );
    assert_eq!(sd.len(), 2 + 2 * (96 + 7 * 48 + 7 * 256));
    // Two-space indentation, as JSON.stringify(…, null, 2).
    assert!(file
        .to_json()
        .starts_with("{\n  \"version\": \"v1.1.0\",\n  \"createdAt\""));
}

#[test]
fn shares_data_layout_is_signature_then_keys_then_ciphertexts() {
    let mut rng = rng();
    let c = cluster(&ids(4));
    let item = build_item(
        &random_validator(&mut rng),
        &c,
        &random_owner(&mut rng),
        0,
        &mut rng,
    )
    .unwrap();
    let v = verify_item(&item).unwrap();
    let bytes = v.shares_data.to_bytes();
    assert_eq!(bytes.len(), SharesData::expected_len(4));
    assert_eq!(&bytes[..96], &v.shares_data.signature);
    for i in 0..4 {
        assert_eq!(
            &bytes[96 + 48 * i..96 + 48 * (i + 1)],
            &v.shares_data.share_public_keys[i].0
        );
        let at = 96 + 48 * 4 + 256 * i;
        assert_eq!(&bytes[at..at + 256], &v.shares_data.encrypted_shares[i].0);
    }
    assert_eq!(
        SharesData::from_bytes(&bytes, 4, "v").unwrap(),
        v.shares_data
    );
    let e = SharesData::from_bytes(&bytes[..bytes.len() - 1], 4, "0xabc").unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "validator 0xabc: sharesData is {} bytes, expected {}",
            bytes.len() - 1,
            bytes.len()
        )
    );
    assert!(matches!(
        SharesData::from_hex(&hex::encode(&bytes), 4, "v"),
        Err(Error::Hex { .. })
    ));
    assert!(matches!(
        SharesData::from_bytes(&bytes, 7, "v"),
        Err(Error::LengthMismatch { .. })
    ));
}

/// Builds one item and returns it with a function that re-encodes an edited sharesData.
fn one_item() -> (KeySharesItem, kc_ssv::Cluster) {
    let mut rng = rng();
    let c = cluster(&[17, 203, 1001, 4242]);
    let owner = random_owner(&mut rng);
    let nonce = random_nonce(&mut rng);
    (
        build_item(&random_validator(&mut rng), &c, &owner, nonce, &mut rng).unwrap(),
        c,
    )
}

fn edit_shares_data(item: &mut KeySharesItem, f: impl FnOnce(&mut SharesData)) {
    let mut sd = SharesData::from_hex(
        &item.payload.shares_data,
        item.payload.operator_ids.len(),
        "t",
    )
    .unwrap();
    f(&mut sd);
    item.payload.shares_data = sd.to_hex();
}

#[test]
fn tampered_items_are_refused_with_named_errors() {
    let (item, c) = one_item();
    verify_item_for_cluster(&item, &c).unwrap();
    let check = |edit: &dyn Fn(&mut KeySharesItem), want: &dyn Fn(&Error) -> bool| {
        let mut bad = item.clone();
        edit(&mut bad);
        let e = verify_item(&bad).unwrap_err();
        assert!(want(&e), "unexpected error: {e}");
        e
    };
    let e = check(&|i| i.data.owner_nonce += 1, &|e| {
        matches!(e, Error::SignatureMismatch { .. })
    });
    assert!(
        e.to_string()
            .contains(&format!("nonce {}", item.data.owner_nonce + 1)),
        "{e}"
    );
    check(
        &|i| i.data.owner_address = "0x000000000000000000000000000000000000dead".into(),
        &|e| matches!(e, Error::SignatureMismatch { .. }),
    );
    // A wrong mix of cases (all upper case but one letter): not the EIP-55 form. An address
    // with no letter at all has no other case form (about 1 in 13 random owners lack an 'a',
    // which the first version of this case relied on). The letter made lower case is one the
    // EIP-55 form has in upper case: with any other, an address whose EIP-55 form has exactly
    // one lower-case letter would come out right.
    let upper = item.data.owner_address[2..].to_uppercase();
    if let Some(at) = item.data.owner_address[2..].find(|c: char| c.is_ascii_uppercase()) {
        let mixed = format!(
            "0x{}{}{}",
            &upper[..at],
            upper[at..=at].to_lowercase(),
            &upper[at + 1..]
        );
        check(&move |i| i.data.owner_address = mixed.clone(), &|e| {
            matches!(
                e,
                Error::OwnerAddress { .. } | Error::SignatureMismatch { .. }
            )
        });
    }
    check(
        &|i| {
            i.payload.shares_data.pop();
            i.payload.shares_data.pop();
        },
        &|e| matches!(e, Error::LengthMismatch { .. }),
    );
    check(
        &|i| edit_shares_data(i, |sd| sd.share_public_keys.swap(1, 2)),
        &|e| matches!(e, Error::SharesDoNotInterpolate { .. }),
    );
    let e = check(
        &|i| {
            edit_shares_data(i, |sd| {
                sd.share_public_keys[3] = SharePublicKey(
                    (G1Projective::generator() * Scalar::from(5u64))
                        .to_affine()
                        .to_compressed(),
                )
            })
        },
        &|e| {
            matches!(
                e,
                Error::InconsistentShare {
                    operator_id: 4242,
                    ..
                }
            )
        },
    );
    assert!(
        e.to_string().contains(&item.data.public_key),
        "names the validator: {e}"
    );
    check(&|i| edit_shares_data(i, |sd| sd.signature[10] ^= 1), &|e| {
        matches!(
            e,
            Error::InvalidSignature { .. } | Error::SignatureMismatch { .. }
        )
    });
    check(
        &|i| edit_shares_data(i, |sd| sd.encrypted_shares[2].0 = [0xff; 256]),
        &|e| {
            matches!(
                e,
                Error::CiphertextOutOfRange {
                    operator_id: 1001,
                    ..
                }
            )
        },
    );
    check(
        &|i| {
            i.payload.public_key = format!(
                "0x{}",
                hex::encode(G1Projective::generator().to_affine().to_compressed())
            )
        },
        &|e| {
            matches!(
                e,
                Error::FieldMismatch {
                    field: "payload.publicKey",
                    ..
                }
            )
        },
    );
    check(&|i| i.payload.operator_ids[0] = 18, &|e| {
        matches!(
            e,
            Error::FieldMismatch {
                field: "payload.operatorIds",
                ..
            }
        )
    });
    check(&|i| i.data.operators.swap(0, 1), &|e| {
        matches!(e, Error::OperatorsNotSorted { .. })
    });
    check(&|i| i.data.operators.truncate(3), &|e| {
        matches!(e, Error::WrongOperatorCount { count: 3, .. })
    });
    check(
        &|i| i.data.operators[1].operator_key = crate::common::fixture_other("rsa4096"),
        &|e| {
            matches!(
                e,
                Error::OperatorKeySize {
                    id: 203,
                    bits: 4096
                }
            )
        },
    );
    check(&|i| i.data.public_key = "0x1234".into(), &|e| {
        matches!(e, Error::InvalidPublicKey { .. })
    });
    check(&|i| i.data.owner_nonce = MAX_OWNER_NONCE + 1, &|e| {
        matches!(e, Error::NonceOverflow { .. })
    });

    // Against an expected cluster: another operator key is named with both fingerprints.
    let other = cluster(&[17, 203, 1001, 5555]);
    let e = verify_item_for_cluster(&item, &other).unwrap_err();
    assert!(e.to_string().contains("data.operators"), "{e}");
}

#[test]
fn nonces_are_consecutive_and_bounded() {
    let mut rng = rng();
    let c = cluster(&ids(4));
    let owner = random_owner(&mut rng);
    let vs: Vec<_> = (0..2).map(|_| random_validator(&mut rng)).collect();
    let e = build_keyshares(&vs, &c, &owner, MAX_OWNER_NONCE, created(), &mut rng).unwrap_err();
    assert_eq!(
        e.to_string(),
        "owner nonce 65535 + 2 validators exceeds 65535 (the SSV node keeps nonces as uint16)"
    );
    assert!(matches!(
        build_keyshares(&vs, &c, &owner, u64::MAX, created(), &mut rng),
        Err(Error::NonceOverflow { .. })
    ));
    let f = build_keyshares(&vs, &c, &owner, MAX_OWNER_NONCE - 1, created(), &mut rng).unwrap();
    assert_eq!(f.shares[1].data.owner_nonce, MAX_OWNER_NONCE);
}

#[test]
fn files_are_never_overwritten_and_versions_are_checked() {
    let mut rng = rng();
    let c = cluster(&ids(4));
    let owner = random_owner(&mut rng);
    let sk = random_validator(&mut rng);
    let file = build_keyshares([&sk], &c, &owner, 3, created(), &mut rng).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keyshares.json");
    file.write_new(&path).unwrap();
    assert_eq!(KeySharesFile::read(&path).unwrap(), file);
    let e = file.write_new(&path).unwrap_err();
    assert!(
        matches!(&e, Error::Io { source, .. } if source.kind() == std::io::ErrorKind::AlreadyExists),
        "{e}"
    );

    let mut v: serde_json::Value = serde_json::from_str(&file.to_json()).unwrap();
    v["version"] = "v1.2.0".into();
    KeySharesFile::from_json(&v.to_string())
        .unwrap()
        .verify(None)
        .unwrap();
    v["version"] = "v1.0.0".into();
    assert!(matches!(
        KeySharesFile::from_json(&v.to_string()),
        Err(Error::Version { .. })
    ));
    v["version"] = "v1.1.0".into();
    v["shares"][0]["data"]["ownerNonce"] = serde_json::json!(-1);
    assert!(matches!(
        KeySharesFile::from_json(&v.to_string()),
        Err(Error::Json(_))
    ));
    v["shares"][0]["data"]["ownerNonce"] = serde_json::json!("3");
    assert!(matches!(
        KeySharesFile::from_json(&v.to_string()),
        Err(Error::Json(_))
    ));

    let mut twice = file.clone();
    twice.shares.push(file.shares[0].clone());
    assert!(matches!(
        twice.verify(None),
        Err(Error::DuplicateValidator { .. })
    ));
}

#[test]
fn created_at_is_javascript_iso_format() {
    assert_eq!(iso8601_millis(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
    assert_eq!(
        iso8601_millis(UNIX_EPOCH + Duration::from_millis(1_700_000_000_123)),
        "2023-11-14T22:13:20.123Z"
    );
    assert_eq!(
        iso8601_millis(UNIX_EPOCH + Duration::from_secs(951_782_400)),
        "2000-02-29T00:00:00.000Z"
    );
    assert_eq!(
        iso8601_millis(UNIX_EPOCH + Duration::from_secs(4_107_542_399)),
        "2100-02-28T23:59:59.000Z"
    );
}

#[test]
fn the_validator_secret_does_not_appear_in_the_file() {
    let mut rng = rng();
    let c = cluster(&ids(4));
    let sk = random_validator(&mut rng);
    let item = build_item(&sk, &c, &random_owner(&mut rng), 1, &mut rng).unwrap();
    let json = serde_json::to_string(&item).unwrap();
    assert!(!json.contains(&hex::encode(*sk.to_bytes())));
}

#[test]
fn build_item_verified_returns_the_decoded_shares_data_and_its_hash() {
    use sha2::Digest;
    let mut rng = rng();
    let c = cluster(&ids(7));
    let sk = random_validator(&mut rng);
    let (item, v) =
        kc_ssv::build_item_verified(&sk, &c, &random_owner(&mut rng), 9, &mut rng).unwrap();
    assert_eq!(v.shares_data.to_hex(), item.payload.shares_data);
    assert_eq!(v.validator_public_key, sk.public_key());
    assert_eq!(v.cluster, c);
    let raw = hex::decode(&item.payload.shares_data[2..]).unwrap();
    assert_eq!(
        v.shares_data.sha256(),
        <[u8; 32]>::from(sha2::Sha256::digest(raw))
    );
}

#[test]
fn an_sdk_file_without_shares_reads_as_empty() {
    // KeyShares.toJson writes `"shares": null` when it holds none.
    let f = KeySharesFile::from_json(
        r#"{"version":"v1.1.0","createdAt":"2026-01-01T00:00:00.000Z","shares":null}"#,
    )
    .unwrap();
    assert!(f.shares.is_empty());
    assert!(f.verify(None).unwrap().is_empty());
    assert!(matches!(
        KeySharesFile::from_json(r#"{"version":"v1.1.0","createdAt":"x"}"#),
        Err(Error::Json(_))
    ));
}

/// The streaming writer writes, entry by entry, exactly the bytes of `KeySharesFile::to_json`
/// (for no entry, one, and several, and for every cluster size).
#[test]
fn the_streaming_writer_writes_to_json_byte_for_byte() {
    let mut rng = rng();
    for (n, count) in [(4, 0usize), (4, 1), (7, 3), (13, 2)] {
        let c = cluster(&ids(n));
        let owner = random_owner(&mut rng);
        let validators: Vec<_> = (0..count).map(|_| random_validator(&mut rng)).collect();
        let file = build_keyshares(&validators, &c, &owner, 3, created(), &mut rng).unwrap();
        let mut w = kc_ssv::KeySharesWriter::new(Vec::new(), created()).unwrap();
        for item in &file.shares {
            w.push(item).unwrap();
        }
        let bytes = w.finish().unwrap();
        assert_eq!(
            String::from_utf8(bytes).unwrap(),
            file.to_json(),
            "{n} operators, {count} entries"
        );
    }
}

/// What the ceremony builds unchecked passes the batched checks, and its entry is what
/// `build_item` makes (it verifies); a share public key swapped between two validators, or a
/// wrong share key, is caught by the batched interpolation check, naming the validator.
#[test]
fn built_shares_check_in_one_batch_and_a_bad_share_is_named() {
    let mut rng = rng();
    let c = cluster(&[17, 203, 1001, 4242]);
    let owner = random_owner(&mut rng);
    let validators: Vec<_> = (0..5).map(|_| random_validator(&mut rng)).collect();
    let pks: Vec<_> = validators.iter().map(|v| v.public_key()).collect();
    let mut built: Vec<_> = validators
        .iter()
        .enumerate()
        .map(|(i, v)| {
            kc_ssv::build_shares_unchecked(v, &c, &owner, 10 + i as u64, &mut rng).unwrap()
        })
        .collect();
    let items = |b: &[kc_ssv::BuiltShares]| -> Vec<(kc_validator::PublicKey, usize)> {
        (0..b.len()).map(|i| (pks[i], i)).collect()
    };
    let check = |b: &[kc_ssv::BuiltShares]| {
        let list: Vec<_> = items(b).into_iter().map(|(pk, i)| (pk, &b[i])).collect();
        let refs: Vec<(&kc_validator::PublicKey, &kc_ssv::BuiltShares)> =
            list.iter().map(|(pk, b)| (pk, *b)).collect();
        kc_ssv::check_built_consistency(&refs, &c.ids())
    };
    check(&built).unwrap();
    for (i, b) in built.iter().enumerate() {
        let item = kc_ssv::keyshares_item(&pks[i], &c, &owner, 10 + i as u64, &b.shares_data);
        let v = verify_item_for_cluster(&item, &c).unwrap();
        assert_eq!(v.shares_data, b.shares_data);
        assert_eq!(b.ownership.to_bytes(), b.shares_data.signature);
    }
    // The compressed share keys are what is written; the check hashes them, so a changed
    // compressed key (the points left as computed) fails too.
    let k = built[3].shares_data.share_public_keys[1];
    built[3].shares_data.share_public_keys[1] = built[2].shares_data.share_public_keys[1];
    let e = check(&built).unwrap_err().to_string();
    assert!(e.contains(&pks[3].to_hex()), "{e}");
    built[3].shares_data.share_public_keys[1] = k;
    check(&built).unwrap();
}
