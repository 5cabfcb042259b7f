//! BLS: sign/verify, encodings, batch verification.

use kc_validator::bls::{
    batch_verify, batch_verify_by_key, PublicKey, SecretKey, Signature, SignedBy,
};

fn sk(n: u8) -> SecretKey {
    let mut b = [0u8; 32];
    b[31] = n;
    b[0] = 0x10;
    SecretKey::from_bytes(&b).unwrap()
}

#[test]
fn sign_verify_roundtrip() {
    let k = sk(1);
    let pk = k.public_key();
    let sig = k.sign(b"hello");
    assert!(pk.verify(b"hello", &sig));
    assert!(!pk.verify(b"hellO", &sig));
    assert!(!sk(2).public_key().verify(b"hello", &sig));
    assert_eq!(PublicKey::from_bytes(&pk.to_bytes()).unwrap(), pk);
    assert_eq!(Signature::from_bytes(&sig.to_bytes()).unwrap(), sig);
    assert_eq!(PublicKey::from_hex(&pk.to_hex()).unwrap(), pk);
    assert_eq!(format!("{pk:?}"), format!("PublicKey({})", pk.to_hex()));
    assert_eq!(
        *SecretKey::from_bytes(&*k.to_bytes()).unwrap().to_bytes(),
        *k.to_bytes()
    );
}

#[test]
fn known_public_key() {
    // secret key 1 → the G1 generator, compressed
    let mut b = [0u8; 32];
    b[31] = 1;
    let pk = SecretKey::from_bytes(&b).unwrap().public_key();
    assert_eq!(
        pk.to_hex(),
        "97f1d3a73197d7942695638c4fa9ac0fc3688c4f9774b905a14e3a3f171bac586c55e83ff97a1aeffb3af00adb22c6bb"
    );
}

#[test]
fn batch_verify_many() {
    let keys: Vec<SecretKey> = (1..=20).map(sk).collect();
    let msgs: Vec<Vec<u8>> = (0..20u8).map(|i| vec![i; 32]).collect();
    let pks: Vec<PublicKey> = keys.iter().map(|k| k.public_key()).collect();
    let mut sigs: Vec<Signature> = keys.iter().zip(&msgs).map(|(k, m)| k.sign(m)).collect();
    let items: Vec<(&[u8], &PublicKey, &Signature)> = msgs
        .iter()
        .zip(&pks)
        .zip(&sigs)
        .map(|((m, p), s)| (m.as_slice(), p, s))
        .collect();
    assert!(batch_verify(&items));
    assert!(batch_verify(&items[..1]));
    assert!(!batch_verify(&[]));
    // one wrong signature (valid point, wrong message) fails the whole batch
    sigs[7] = keys[7].sign(b"other");
    let items: Vec<(&[u8], &PublicKey, &Signature)> = msgs
        .iter()
        .zip(&pks)
        .zip(&sigs)
        .map(|((m, p), s)| (m.as_slice(), p, s))
        .collect();
    assert!(!batch_verify(&items));
    // swapped signatures fail too
    let mut sigs2: Vec<Signature> = keys.iter().zip(&msgs).map(|(k, m)| k.sign(m)).collect();
    sigs2.swap(0, 1);
    let items: Vec<(&[u8], &PublicKey, &Signature)> = msgs
        .iter()
        .zip(&pks)
        .zip(&sigs2)
        .map(|((m, p), s)| (m.as_slice(), p, s))
        .collect();
    assert!(!batch_verify(&items));
}

/// Two messages and their signatures by one key.
type TwoSigned = (Vec<u8>, Signature, Vec<u8>, Signature);

/// A validator's two signatures (deposit, ownership) by one key, for `batch_verify_by_key`.
fn two_signed(k: &SecretKey, i: u8) -> TwoSigned {
    let (m0, m1) = (vec![i; 32], vec![i ^ 0xff; 32]);
    let (s0, s1) = (k.sign(&m0), k.sign(&m1));
    (m0, s0, m1, s1)
}

/// Keys from the seeds in `seeds`, their public keys, and each key's two signed messages.
#[allow(clippy::type_complexity)]
fn keys_signing_twice(
    seeds: std::ops::RangeInclusive<u8>,
) -> (
    Vec<SecretKey>,
    Vec<PublicKey>,
    Vec<(Vec<u8>, Signature, Vec<u8>, Signature)>,
) {
    let keys: Vec<SecretKey> = seeds.map(sk).collect();
    let pks = keys.iter().map(SecretKey::public_key).collect();
    let signed = keys
        .iter()
        .enumerate()
        .map(|(i, k)| two_signed(k, i as u8))
        .collect();
    (keys, pks, signed)
}

#[test]
fn batch_verify_by_key_passes_valid_groups_and_fails_any_wrong_signature() {
    let (keys, pks, signed) = keys_signing_twice(1..=12);
    let groups_of = |signed: &[TwoSigned]| -> Vec<Vec<(Vec<u8>, Signature)>> {
        signed
            .iter()
            .map(|(m0, s0, m1, s1)| vec![(m0.clone(), *s0), (m1.clone(), *s1)])
            .collect()
    };
    let check = |groups: &[Vec<(Vec<u8>, Signature)>], pks: &[PublicKey]| {
        let items: Vec<Vec<(&[u8], &Signature)>> = groups
            .iter()
            .map(|g| g.iter().map(|(m, s)| (m.as_slice(), s)).collect())
            .collect();
        let by_key: Vec<SignedBy<'_>> = pks
            .iter()
            .zip(&items)
            .map(|(pk, s)| (pk, s.as_slice()))
            .collect();
        batch_verify_by_key(&by_key)
    };
    let good = groups_of(&signed);
    assert!(check(&good, &pks));
    // Groups of one signature, and a single signature.
    let singles: Vec<Vec<(Vec<u8>, Signature)>> = good.iter().map(|g| g[..1].to_vec()).collect();
    assert!(check(&singles, &pks));
    assert!(check(&good[..1], &pks[..1]));
    assert!(check(&singles[..1], &pks[..1]));
    // Nothing to check is not a success.
    assert!(!batch_verify_by_key(&[]));
    assert!(!check(&[vec![]], &pks[..1]));

    // Validator 4's ownership signature replaced by validator 5's (a valid signature, by
    // another key, of another message); its deposit signature is untouched.
    let mut bad = good.clone();
    bad[4][1].1 = good[5][1].1;
    assert!(!check(&bad, &pks));
    // A deposit signature over another message.
    let mut bad = good.clone();
    bad[7][0].1 = keys[7].sign(b"another deposit");
    assert!(!check(&bad, &pks));
    // The keys swapped between two validators.
    let mut swapped = pks.clone();
    swapped.swap(2, 3);
    assert!(!check(&good, &swapped));
}

/// A validator's deposit and ownership signatures swapped with each other: both are wrong, but
/// their sum is the sum of the right ones, so a check of e(pk, H(m0) + H(m1)) against
/// e(G1, s0 + s1) would pass. The per-signature weights must catch it, alone and in a batch.
#[test]
fn batch_verify_by_key_catches_two_wrong_signatures_that_cancel_in_a_plain_sum() {
    let (_, pks, signed) = keys_signing_twice(20..=27);
    for victim in [0, 5] {
        let items: Vec<[(&[u8], &Signature); 2]> = signed
            .iter()
            .enumerate()
            .map(|(i, (m0, s0, m1, s1))| {
                if i == victim {
                    [(m0.as_slice(), s1), (m1.as_slice(), s0)]
                } else {
                    [(m0.as_slice(), s0), (m1.as_slice(), s1)]
                }
            })
            .collect();
        let groups: Vec<SignedBy<'_>> =
            pks.iter().zip(&items).map(|(pk, s)| (pk, &s[..])).collect();
        assert!(!pks[victim].verify(&signed[victim].0, &signed[victim].3));
        assert!(!batch_verify_by_key(&groups), "victim {victim}");
        assert!(
            !batch_verify_by_key(&groups[victim..=victim]),
            "victim {victim} alone"
        );
    }
}
