//! EIP-2335 keystores: every vector, both KDFs, and round trips.

use kc_validator::keystore::{process_password, EncryptParams, Kdf, Keystore};
use kc_validator::{Error, SecretKey};

use crate::common::vector;

#[test]
fn password_processing_vector() {
    let v = vector("eip2335.json");
    let pw = process_password(v["password_unicode"].as_str().unwrap());
    assert_eq!(
        hex::encode(pw.as_slice()),
        v["password_processed_hex"].as_str().unwrap()
    );
    // control codes (C0, DEL, C1) are stripped
    assert_eq!(
        process_password("a\u{0}b\u{1f}c\u{7f}d\u{80}e\u{9f}f").as_slice(),
        b"abcdef"
    );
}

fn check_vector(kind: &str) {
    let v = vector("eip2335.json");
    let password = v["password_unicode"].as_str().unwrap();
    let secret = hex::decode(v["secret"].as_str().unwrap()).unwrap();
    let ks_json = serde_json::to_string(&v["keystores"][kind]).unwrap();
    let ks = Keystore::from_json(&ks_json).unwrap();

    // decrypt
    let plain = ks.decrypt(password).unwrap();
    assert_eq!(plain.as_bytes(), secret.as_slice(), "{kind}");
    let sk = plain.to_secret_key().unwrap();
    assert_eq!(
        sk.public_key().to_hex(),
        v["keystores"][kind]["pubkey"].as_str().unwrap()
    );

    // re-encrypt with the vector's salt and iv: same checksum and ciphertext
    let again = Keystore::encrypt_with(
        &secret,
        password,
        &ks.path,
        ks.kdf,
        &EncryptParams {
            salt: &ks.salt,
            iv: ks.iv,
            uuid: &ks.uuid,
            description: &ks.description,
        },
    )
    .unwrap();
    assert_eq!(again, ks, "{kind}");
    // our JSON parses back to the same keystore
    assert_eq!(Keystore::from_json(&again.to_json()).unwrap(), ks);

    // wrong password
    assert!(matches!(
        ks.decrypt("testpassword"),
        Err(Error::KeystoreChecksum { .. })
    ));
}

#[test]
fn eip2335_scrypt_vector() {
    check_vector("scrypt");
}

#[test]
fn eip2335_pbkdf2_vector() {
    check_vector("pbkdf2");
}

#[test]
fn roundtrip_cheap_params() {
    let mut b = [0u8; 32];
    b[31] = 42;
    let sk = SecretKey::from_bytes(&b).unwrap();
    for kdf in [
        Kdf::Scrypt {
            n: 1 << 4,
            r: 8,
            p: 1,
        },
        Kdf::Pbkdf2 { c: 16 },
    ] {
        let ks = Keystore::encrypt(&sk, "pass\u{301}word", "m/12381/3600/0/0/0", kdf).unwrap();
        let json = ks.to_json();
        assert!(!json.contains(&hex::encode(*sk.to_bytes())));
        let back = Keystore::from_json(&json).unwrap();
        assert_eq!(back.uuid.len(), 36);
        assert_eq!(&back.uuid[14..15], "4");
        let sk2 = back.decrypt_secret_key("pass\u{301}word").unwrap();
        assert_eq!(*sk2.to_bytes(), *sk.to_bytes());
        assert_eq!(back.pubkey, sk.public_key().to_hex());
    }
}

#[test]
fn pubkey_mismatch_is_detected() {
    let mut b = [0u8; 32];
    b[31] = 7;
    let sk = SecretKey::from_bytes(&b).unwrap();
    let mut ks = Keystore::encrypt(&sk, "pw", "", Kdf::Pbkdf2 { c: 2 }).unwrap();
    b[31] = 8;
    ks.pubkey = SecretKey::from_bytes(&b).unwrap().public_key().to_hex();
    assert!(matches!(
        ks.decrypt_secret_key("pw"),
        Err(Error::KeystorePubkeyMismatch { .. })
    ));
}
