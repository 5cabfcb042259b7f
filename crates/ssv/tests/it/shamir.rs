//! Shamir split, reconstruction and the public consistency check.

use blstrs::{G1Projective, Scalar};
use ff::Field;
use group::{Curve, Group};
use kc_ssv::shamir::{check_operator_ids, threshold, MAX_OPERATOR_ID};
use kc_ssv::{
    reconstruct, split_secret, verify_share_public_keys, Error, SharePublicKey, ShareSecret,
};
use proptest::prelude::*;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;

fn random_secret(rng: &mut ChaCha20Rng) -> [u8; 32] {
    Scalar::random(rng).to_bytes_be()
}

fn public_key_of(secret: &[u8; 32]) -> [u8; 48] {
    let s: Scalar = Option::from(Scalar::from_bytes_be(secret)).unwrap();
    (G1Projective::generator() * s).to_affine().to_compressed()
}

fn shuffled(len: usize, rng: &mut ChaCha20Rng) -> Vec<usize> {
    use rand_chacha::rand_core::RngCore;
    let mut idx: Vec<usize> = (0..len).collect();
    for i in (1..len).rev() {
        idx.swap(i, (rng.next_u64() % (i as u64 + 1)) as usize);
    }
    idx
}

/// n in {4,7,10,13} and n sorted distinct ids, some small, some up to 2^53-1.
fn cluster_ids() -> impl Strategy<Value = Vec<u64>> {
    (
        0..4usize,
        prop_oneof![Just(64u64), Just(100_000u64), Just(MAX_OPERATOR_ID)],
    )
        .prop_flat_map(|(k, max)| {
            let n = [4, 7, 10, 13][k];
            prop::collection::btree_set(1..=max, n).prop_map(|s| s.into_iter().collect())
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn any_t_shares_reconstruct_and_fewer_do_not(ids in cluster_ids(), seed in any::<u64>()) {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let secret = random_secret(&mut rng);
        let split = split_secret(&secret, &ids, &mut rng).unwrap();
        let t = threshold(ids.len()).unwrap();
        prop_assert_eq!(split.threshold(), t);
        prop_assert_eq!(split.operator_ids(), ids.clone());
        let order = shuffled(ids.len(), &mut rng);
        let shares: Vec<&ShareSecret> = order.iter().map(|&i| &split.shares()[i]).collect();
        // Exactly t, in random order, and every size from t to n.
        for k in t..=ids.len() {
            prop_assert_eq!(*reconstruct(&shares[..k]).unwrap(), secret);
        }
        // Fewer than t interpolate to something else.
        for k in 1..t {
            prop_assert_ne!(*reconstruct(&shares[..k]).unwrap(), secret);
        }
        // Share public keys are share * G1, and the set is consistent.
        for (s, pk) in split.shares().iter().zip(split.public_keys()) {
            prop_assert_eq!(s.public_key(), *pk);
        }
        verify_share_public_keys(&public_key_of(&secret), &ids, split.public_keys()).unwrap();
    }

    #[test]
    fn consistency_check_rejects_any_single_altered_share(
        ids in cluster_ids(), seed in any::<u64>(), which in any::<prop::sample::Index>(),
        tweak in 0..3u8,
    ) {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let secret = random_secret(&mut rng);
        let split = split_secret(&secret, &ids, &mut rng).unwrap();
        let mut pks = split.public_keys().to_vec();
        let i = which.index(ids.len());
        let original = G1Projective::from(Option::<blstrs::G1Affine>::from(
            blstrs::G1Affine::from_compressed(&pks[i].0)).unwrap());
        let altered = match tweak {
            0 => original + G1Projective::generator(),           // off by one
            1 => G1Projective::generator() * Scalar::random(&mut rng), // unrelated key
            _ => -original,                                       // negated
        };
        pks[i] = SharePublicKey(altered.to_affine().to_compressed());
        let err = verify_share_public_keys(&public_key_of(&secret), &ids, &pks).unwrap_err();
        match err {
            Error::InconsistentShare { operator_id, .. } => prop_assert_eq!(operator_id, ids[i]),
            other => prop_assert!(false, "expected InconsistentShare, got {other}"),
        }
    }

    #[test]
    fn consistency_check_rejects_any_reordering(ids in cluster_ids(), seed in any::<u64>()) {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let secret = random_secret(&mut rng);
        let split = split_secret(&secret, &ids, &mut rng).unwrap();
        let mut order = shuffled(ids.len(), &mut rng);
        if order.iter().enumerate().all(|(i, &j)| i == j) {
            order.swap(0, 1);
        }
        let pks: Vec<SharePublicKey> = order.iter().map(|&j| split.public_keys()[j]).collect();
        prop_assert!(verify_share_public_keys(&public_key_of(&secret), &ids, &pks).is_err());
        // Reordering ids with their keys is also refused: the format is sorted by id.
        let mut ids_rev = ids.clone();
        ids_rev.reverse();
        let mut pks_rev = split.public_keys().to_vec();
        pks_rev.reverse();
        let refused = matches!(verify_share_public_keys(&public_key_of(&secret), &ids_rev, &pks_rev),
            Err(Error::OperatorsNotSorted { .. }));
        prop_assert!(refused, "unsorted ids not refused");
    }
}

#[test]
fn consistency_check_rejects_another_validator_key() {
    let mut rng = crate::common::rng();
    let ids = [17, 203, 1001, 4242, 5555, 8191, 65537];
    let secret = random_secret(&mut rng);
    let split = split_secret(&secret, &ids, &mut rng).unwrap();
    let other = public_key_of(&random_secret(&mut rng));
    let err = verify_share_public_keys(&other, &ids, split.public_keys()).unwrap_err();
    assert!(matches!(err, Error::SharesDoNotInterpolate { .. }), "{err}");
    assert!(err.to_string().contains("belong to another key"), "{err}");
}

#[test]
fn consistency_check_rejects_bad_points_and_counts() {
    let mut rng = crate::common::rng();
    let ids = [17, 203, 1001, 4242];
    let secret = random_secret(&mut rng);
    let pk = public_key_of(&secret);
    let split = split_secret(&secret, &ids, &mut rng).unwrap();
    let mut pks = split.public_keys().to_vec();
    pks[2].0[5] ^= 0x40; // not a point (or not in the subgroup)
    let err = verify_share_public_keys(&pk, &ids, &pks).unwrap_err();
    assert!(err.to_string().contains("operator 1001"), "{err}");
    // The identity is refused as a share key.
    let mut pks = split.public_keys().to_vec();
    pks[0] = SharePublicKey(G1Projective::identity().to_affine().to_compressed());
    assert!(matches!(
        verify_share_public_keys(&pk, &ids, &pks),
        Err(Error::InvalidPublicKey { .. })
    ));
    // Key count and id count must agree.
    let err = verify_share_public_keys(&pk, &ids, &split.public_keys()[..3]).unwrap_err();
    assert!(matches!(err, Error::FieldMismatch { .. }), "{err}");
}

#[test]
fn operator_ids_are_checked() {
    assert_eq!(check_operator_ids("t", &[1, 2, 3, 4]).unwrap(), 3);
    assert_eq!(
        check_operator_ids("t", &[5, 9, 11, 12, 40, 41, 99]).unwrap(),
        5
    );
    assert_eq!(
        check_operator_ids("t", &(1..=10).collect::<Vec<_>>()).unwrap(),
        7
    );
    assert_eq!(
        check_operator_ids("t", &(1..=13).collect::<Vec<_>>()).unwrap(),
        9
    );
    for n in [0, 1, 3, 5, 6, 8, 12, 14] {
        let ids: Vec<u64> = (1..=n).collect();
        assert!(
            matches!(check_operator_ids("t", &ids), Err(Error::WrongOperatorCount { count, .. }) if count == n as usize)
        );
    }
    let e = check_operator_ids("split", &[17, 203, 203, 4242]).unwrap_err();
    assert!(
        matches!(e, Error::DuplicateOperatorId { id: 203, .. }),
        "{e}"
    );
    assert_eq!(
        e.to_string(),
        "split: operator id 203 appears more than once"
    );
    assert!(matches!(
        check_operator_ids("t", &[0, 17, 203, 4242]),
        Err(Error::InvalidOperatorId { id: 0, .. })
    ));
    assert!(matches!(
        check_operator_ids("t", &[17, 203, 4242, 1 << 53]),
        Err(Error::InvalidOperatorId { .. })
    ));
    assert!(matches!(
        check_operator_ids("t", &[203, 17, 1001, 4242]),
        Err(Error::OperatorsNotSorted {
            previous: 203,
            id: 17,
            ..
        })
    ));
}

#[test]
fn split_uses_the_operator_id_as_x_coordinate() {
    // With t = 3, the share at x is a0 + a1 x + a2 x^2: check against an independent evaluation
    // by reconstructing the polynomial through three shares and evaluating at the fourth id.
    let mut rng = crate::common::rng();
    let ids = [17u64, 203, 1001, 4242];
    let secret = random_secret(&mut rng);
    let split = split_secret(&secret, &ids, &mut rng).unwrap();
    let y: Vec<Scalar> = split
        .shares()
        .iter()
        .map(|s| Option::from(Scalar::from_bytes_be(&s.to_be_bytes())).unwrap())
        .collect();
    let x: Vec<Scalar> = ids.iter().map(|&i| Scalar::from(i)).collect();
    let lagrange = |at: Scalar| -> Scalar {
        (0..3)
            .map(|i| {
                let mut l = Scalar::ONE;
                for m in 0..3 {
                    if m != i {
                        l *= (at - x[m]) * (x[i] - x[m]).invert().unwrap();
                    }
                }
                l * y[i]
            })
            .sum()
    };
    assert_eq!(lagrange(x[3]), y[3]);
    assert_eq!(lagrange(Scalar::ZERO).to_bytes_be(), secret);
}

#[test]
fn share_plaintext_is_0x_and_64_lower_case_hex_digits() {
    let mut rng = crate::common::rng();
    let secret = random_secret(&mut rng);
    let split = split_secret(&secret, &[17, 203, 1001, 4242], &mut rng).unwrap();
    for s in split.shares() {
        let p = s.plaintext();
        assert_eq!(p.len(), 66);
        assert_eq!(&p[..2], b"0x");
        assert!(p[2..]
            .iter()
            .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(c)));
        assert_eq!(hex::decode(&p[2..]).unwrap(), s.to_be_bytes().to_vec());
        let back = ShareSecret::from_plaintext(s.operator_id(), &p).unwrap();
        assert_eq!(back.public_key(), s.public_key());
    }
    // A small share still has 64 digits (leading zeros kept).
    let small = ShareSecret::from_plaintext(7, format!("0x{:064x}", 5).as_bytes()).unwrap();
    assert_eq!(
        small.plaintext().as_slice(),
        format!("0x{:064x}", 5).as_bytes()
    );
    for (bad, why) in [
        (format!("{:066x}", 5), "0x"),
        (format!("0x{:063x}", 5), "66"),
        (format!("0x{}", "g".repeat(64)), "hex"),
        (format!("0x{}", "f".repeat(64)), "order"),
    ] {
        let e = ShareSecret::from_plaintext(7, bad.as_bytes())
            .err()
            .unwrap();
        assert!(e.to_string().contains("operator 7"), "{e}");
        assert!(e.to_string().contains(why), "{e} / {why}");
        assert!(
            !e.to_string().contains(&bad),
            "error leaks the plaintext: {e}"
        );
    }
}

#[test]
fn reconstruction_refuses_duplicates_and_nothing() {
    let mut rng = crate::common::rng();
    let split = split_secret(&random_secret(&mut rng), &[17, 203, 1001, 4242], &mut rng).unwrap();
    let s = split.shares();
    assert!(matches!(
        reconstruct(&[]),
        Err(Error::Reconstruction { .. })
    ));
    let e = reconstruct(&[&s[0], &s[1], &s[0]]).err().unwrap();
    assert!(e.to_string().contains("operator id 17 given twice"), "{e}");
}

#[test]
fn many_validators_are_checked_in_one_batch_and_the_bad_one_is_named() {
    use kc_ssv::{verify_many_share_public_keys, ShareSet};
    let mut rng = crate::common::rng();
    let clusters: [&[u64]; 4] = [
        &[17, 203, 1001, 4242],
        &[7, 17, 99, 203, 350, 512, 1001],
        &[3, 5, 8, 13],
        &[17, 203, 1001, 4242],
    ];
    let secrets: Vec<[u8; 32]> = clusters.iter().map(|_| random_secret(&mut rng)).collect();
    let pks: Vec<[u8; 48]> = secrets.iter().map(public_key_of).collect();
    let mut share_pks: Vec<Vec<SharePublicKey>> = secrets
        .iter()
        .zip(clusters)
        .map(|(s, ids)| {
            split_secret(s, ids, &mut rng)
                .unwrap()
                .public_keys()
                .to_vec()
        })
        .collect();
    let sets = |share_pks: &[Vec<SharePublicKey>]| -> Vec<(usize, Vec<SharePublicKey>)> {
        share_pks.iter().cloned().enumerate().collect()
    };
    let check = |share_pks: &[Vec<SharePublicKey>]| {
        let owned = sets(share_pks);
        let v: Vec<ShareSet<'_>> = owned
            .iter()
            .map(|(i, spk)| ShareSet {
                validator_public_key: &pks[*i],
                operator_ids: clusters[*i],
                share_public_keys: spk,
            })
            .collect();
        verify_many_share_public_keys(&v)
    };
    check(&share_pks).unwrap();
    check(&[]).unwrap();
    // Validator 2's share for operator 8 is replaced by validator 0's share for operator 203.
    share_pks[2][2] = share_pks[0][1];
    let e = check(&share_pks).unwrap_err();
    assert!(
        matches!(e, Error::InconsistentShare { operator_id: 8, .. }),
        "{e}"
    );
    assert!(e.to_string().contains(&hex::encode(pks[2])), "{e}");
    // Two validators' share lists exchanged (same operator ids): both are wrong; the first is named.
    share_pks[2] = split_secret(&secrets[2], clusters[2], &mut rng)
        .unwrap()
        .public_keys()
        .to_vec();
    share_pks.swap(0, 3);
    let e = check(&share_pks).unwrap_err();
    assert!(e.to_string().contains(&hex::encode(pks[0])), "{e}");
}

/// With the validator keys already validated (as the verifier has them from the deposit data),
/// the batched check gives the same verdicts, and refuses a key that is not the set's.
#[test]
fn batched_check_with_validated_keys_agrees_and_ties_each_key_to_its_set() {
    let mut rng = crate::common::rng();
    let ids = [17u64, 203, 1001, 4242];
    let secrets: Vec<[u8; 32]> = (0..3).map(|_| random_secret(&mut rng)).collect();
    let keys: Vec<kc_validator::PublicKey> = secrets
        .iter()
        .map(|s| kc_validator::SecretKey::from_bytes(s).unwrap().public_key())
        .collect();
    let bytes: Vec<[u8; 48]> = keys.iter().map(|k| k.to_bytes()).collect();
    let splits: Vec<_> = secrets
        .iter()
        .map(|s| split_secret(s, &ids, &mut rng).unwrap())
        .collect();
    let mut shares: Vec<Vec<SharePublicKey>> =
        splits.iter().map(|s| s.public_keys().to_vec()).collect();
    fn sets<'a>(
        shares: &'a [Vec<SharePublicKey>],
        bytes: &'a [[u8; 48]],
        ids: &'a [u64],
    ) -> Vec<kc_ssv::ShareSet<'a>> {
        shares
            .iter()
            .zip(bytes)
            .map(|(s, b)| kc_ssv::ShareSet {
                validator_public_key: b,
                operator_ids: ids,
                share_public_keys: s,
            })
            .collect()
    }
    kc_ssv::verify_many_with_validated_keys(&sets(&shares, &bytes, &ids), &keys).unwrap();
    // The keys in another order: each key is tied to its set.
    let swapped = vec![keys[1], keys[0], keys[2]];
    assert!(
        kc_ssv::verify_many_with_validated_keys(&sets(&shares, &bytes, &ids), &swapped).is_err()
    );
    // A share of another validator.
    shares[2][1] = shares[0][1];
    let e =
        kc_ssv::verify_many_with_validated_keys(&sets(&shares, &bytes, &ids), &keys).unwrap_err();
    assert!(e.to_string().contains(&keys[2].to_hex()), "{e}");
}
