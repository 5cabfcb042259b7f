//! BLS: sign/verify, encodings, batch verification.

use kc_validator::bls::{batch_verify, PublicKey, SecretKey, Signature};

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
