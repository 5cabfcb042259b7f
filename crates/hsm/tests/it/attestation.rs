//! Key attestation refusals: keys built here with raw PKCS#11 calls, the way a
//! careless or malicious set-up would, must be refused by name.

use kc_hsm::cryptoki::mechanism::Mechanism;
use kc_hsm::cryptoki::object::{Attribute, KeyType, ObjectClass};
use kc_hsm::testing::{SoftHsmToken, TEST_USER_PIN};
use kc_hsm::{Error, HsmSession, IdentityKey, Refusal, SealKey, TransactionKey, P256_EC_PARAMS};

/// The refusals, or a panic if the error is something else.
fn refusals(err: Error, label: &str) -> Vec<Refusal> {
    let msg = err.to_string();
    match err {
        Error::AttestationRefused {
            label: l, refusals, ..
        } => {
            assert_eq!(l, label);
            assert!(msg.starts_with(&format!("key `{label}` refused")), "{msg}");
            for r in &refusals {
                assert!(msg.contains(&r.attribute), "{msg}");
            }
            refusals
        }
        other => panic!("expected AttestationRefused, got {other}"),
    }
}

fn names(r: &[Refusal]) -> Vec<&str> {
    r.iter().map(|r| r.attribute.as_str()).collect()
}

/// A good seal-key template, with `extra` overriding or adding attributes.
fn aes_template(label: &str, extra: &[Attribute]) -> Vec<Attribute> {
    let mut t = vec![
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(KeyType::AES),
        Attribute::Token(true),
        Attribute::Private(true),
        Attribute::Sensitive(true),
        Attribute::Extractable(false),
        Attribute::Encrypt(true),
        Attribute::Decrypt(true),
        Attribute::Wrap(false),
        Attribute::Unwrap(false),
        // SoftHSM's defaults grant these; attestation catches that (see seal_key_with_token_defaults_is_refused)
        Attribute::Sign(false),
        Attribute::Verify(false),
        Attribute::Derive(false),
        Attribute::Label(label.as_bytes().to_vec()),
    ];
    for e in extra {
        t.retain(|a| a.attribute_type() != e.attribute_type());
        t.push(e.clone());
    }
    t
}

fn gen_aes(s: &HsmSession, label: &str, extra: &[Attribute]) {
    let mut t = aes_template(label, extra);
    if !t.iter().any(|a| matches!(a, Attribute::ValueLen(_))) {
        t.push(Attribute::ValueLen(32.into()));
    }
    s.raw().generate_key(&Mechanism::AesKeyGen, &t).unwrap();
}

fn gen_ec(s: &HsmSession, label: &str, params: &[u8], extra_private: &[Attribute]) {
    let public = vec![
        Attribute::Token(true),
        Attribute::EcParams(params.to_vec()),
        Attribute::Verify(true),
        Attribute::Label(label.as_bytes().to_vec()),
    ];
    let mut private = vec![
        Attribute::Token(true),
        Attribute::Private(true),
        Attribute::Sensitive(true),
        Attribute::Extractable(false),
        Attribute::Sign(true),
        Attribute::Derive(false),
        Attribute::Decrypt(false),
        // SoftHSM's defaults grant these; attestation catches that (see ec_key_with_token_defaults_is_refused)
        Attribute::SignRecover(false),
        Attribute::Unwrap(false),
        Attribute::Label(label.as_bytes().to_vec()),
    ];
    for e in extra_private {
        private.retain(|a| a.attribute_type() != e.attribute_type());
        private.push(e.clone());
    }
    s.raw()
        .generate_key_pair(&Mechanism::EccKeyPairGen, &public, &private)
        .unwrap();
}

#[test]
fn extractable_seal_key_is_refused() {
    let t = SoftHsmToken::new("ceremony", TEST_USER_PIN);
    let s = t.login();
    gen_aes(&s, "seal", &[Attribute::Extractable(true)]);
    let r = refusals(SealKey::open(&s, "seal").unwrap_err(), "seal");
    assert_eq!(names(&r), ["CKA_EXTRACTABLE", "CKA_NEVER_EXTRACTABLE"]);
    assert_eq!(r[0].found, "true");
    assert_eq!(r[0].expected, "false");
}

#[test]
fn non_sensitive_seal_key_is_refused() {
    let t = SoftHsmToken::new("ceremony", TEST_USER_PIN);
    let s = t.login();
    gen_aes(&s, "seal", &[Attribute::Sensitive(false)]);
    let r = refusals(SealKey::open(&s, "seal").unwrap_err(), "seal");
    assert_eq!(names(&r), ["CKA_SENSITIVE", "CKA_ALWAYS_SENSITIVE"]);
}

#[test]
fn seal_key_made_sensitive_after_creation_is_refused() {
    let t = SoftHsmToken::new("ceremony", TEST_USER_PIN);
    let s = t.login();
    gen_aes(&s, "seal", &[Attribute::Sensitive(false)]);
    let h = s
        .raw()
        .find_objects(&[Attribute::Label(b"seal".to_vec())])
        .unwrap()[0];
    s.raw()
        .update_attributes(h, &[Attribute::Sensitive(true)])
        .unwrap();
    let r = refusals(SealKey::open(&s, "seal").unwrap_err(), "seal");
    assert_eq!(names(&r), ["CKA_ALWAYS_SENSITIVE"]);
}

#[test]
fn imported_seal_key_is_refused_as_not_local() {
    let t = SoftHsmToken::new("ceremony", TEST_USER_PIN);
    let s = t.login();
    let mut tmpl = aes_template("seal", &[]);
    tmpl.push(Attribute::Value(vec![0x11; 32]));
    s.raw().create_object(&tmpl).unwrap();
    let r = refusals(SealKey::open(&s, "seal").unwrap_err(), "seal");
    let n = names(&r);
    assert!(n.contains(&"CKA_LOCAL"), "{n:?}");
    let local = r.iter().find(|r| r.attribute == "CKA_LOCAL").unwrap();
    assert_eq!(
        (local.found.as_str(), local.expected.as_str()),
        ("false", "true")
    );
}

#[test]
fn seal_key_that_can_also_wrap_is_refused() {
    let t = SoftHsmToken::new("ceremony", TEST_USER_PIN);
    let s = t.login();
    gen_aes(
        &s,
        "seal",
        &[Attribute::Wrap(true), Attribute::Unwrap(true)],
    );
    let r = refusals(SealKey::open(&s, "seal").unwrap_err(), "seal");
    assert_eq!(names(&r), ["CKA_WRAP", "CKA_UNWRAP"]);
    assert_eq!(r[0].to_string(), "CKA_WRAP is true (must be false)",);
}

#[test]
fn seal_key_that_cannot_decrypt_is_refused() {
    let t = SoftHsmToken::new("ceremony", TEST_USER_PIN);
    let s = t.login();
    gen_aes(&s, "seal", &[Attribute::Decrypt(false)]);
    let r = refusals(SealKey::open(&s, "seal").unwrap_err(), "seal");
    assert_eq!(names(&r), ["CKA_DECRYPT"]);
    assert_eq!(r[0].expected, "true");
}

#[test]
fn aes_128_seal_key_is_refused() {
    let t = SoftHsmToken::new("ceremony", TEST_USER_PIN);
    let s = t.login();
    gen_aes(&s, "seal", &[Attribute::ValueLen(16.into())]);
    let r = refusals(SealKey::open(&s, "seal").unwrap_err(), "seal");
    assert_eq!(names(&r), ["CKA_VALUE_LEN"]);
    assert_eq!(r[0].found, "16");
}

#[test]
fn public_seal_key_object_is_refused() {
    // CKA_PRIVATE false: usable by a session that never logged in
    let t = SoftHsmToken::new("ceremony", TEST_USER_PIN);
    let s = t.login();
    gen_aes(&s, "seal", &[Attribute::Private(false)]);
    let r = refusals(SealKey::open(&s, "seal").unwrap_err(), "seal");
    assert_eq!(names(&r), ["CKA_PRIVATE"]);
}

#[test]
fn identity_key_that_can_also_derive_is_refused() {
    let t = SoftHsmToken::new("ceremony", TEST_USER_PIN);
    let s = t.login();
    gen_ec(&s, "identity", P256_EC_PARAMS, &[Attribute::Derive(true)]);
    let r = refusals(IdentityKey::open(&s, "identity").unwrap_err(), "identity");
    assert_eq!(names(&r), ["CKA_DERIVE"]);
}

#[test]
fn identity_key_that_can_also_decrypt_is_refused() {
    let t = SoftHsmToken::new("ceremony", TEST_USER_PIN);
    let s = t.login();
    gen_ec(&s, "identity", P256_EC_PARAMS, &[Attribute::Decrypt(true)]);
    let r = refusals(IdentityKey::open(&s, "identity").unwrap_err(), "identity");
    assert_eq!(names(&r), ["CKA_DECRYPT"]);
}

#[test]
fn extractable_identity_key_is_refused() {
    let t = SoftHsmToken::new("ceremony", TEST_USER_PIN);
    let s = t.login();
    gen_ec(
        &s,
        "identity",
        P256_EC_PARAMS,
        &[Attribute::Extractable(true)],
    );
    let r = refusals(IdentityKey::open(&s, "identity").unwrap_err(), "identity");
    assert_eq!(names(&r), ["CKA_EXTRACTABLE", "CKA_NEVER_EXTRACTABLE"]);
}

#[test]
fn imported_transaction_key_is_refused_as_not_local() {
    let t = SoftHsmToken::new("agent", TEST_USER_PIN);
    let s = t.login();
    let sk = k256::ecdsa::SigningKey::from_slice(&[0x42; 32]).unwrap();
    s.raw()
        .create_object(&[
            Attribute::Class(ObjectClass::PRIVATE_KEY),
            Attribute::KeyType(KeyType::EC),
            Attribute::Token(true),
            Attribute::Private(true),
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
            Attribute::Sign(true),
            Attribute::EcParams(kc_hsm::SECP256K1_EC_PARAMS.to_vec()),
            Attribute::Value(sk.to_bytes().to_vec()),
            Attribute::Label(b"tx".to_vec()),
        ])
        .unwrap();
    let r = refusals(TransactionKey::open(&s, "tx").unwrap_err(), "tx");
    let n = names(&r);
    assert!(n.contains(&"CKA_LOCAL"), "{n:?}");
}

#[test]
fn transaction_key_with_sign_recover_is_refused() {
    let t = SoftHsmToken::new("agent", TEST_USER_PIN);
    let s = t.login();
    gen_ec(
        &s,
        "tx",
        kc_hsm::SECP256K1_EC_PARAMS,
        &[Attribute::SignRecover(true)],
    );
    let err = TransactionKey::open(&s, "tx").unwrap_err();
    let r = refusals(err, "tx");
    assert_eq!(names(&r), ["CKA_SIGN_RECOVER"]);
}

#[test]
fn a_private_key_without_its_public_key_is_refused() {
    let t = SoftHsmToken::new("ceremony", TEST_USER_PIN);
    let s = t.login();
    gen_ec(&s, "identity", P256_EC_PARAMS, &[]);
    let pubs = s
        .raw()
        .find_objects(&[
            Attribute::Class(ObjectClass::PUBLIC_KEY),
            Attribute::Label(b"identity".to_vec()),
        ])
        .unwrap();
    s.raw().destroy_object(pubs[0]).unwrap();
    let err = IdentityKey::open(&s, "identity").unwrap_err();
    assert_eq!(
        err.to_string(),
        "no CKO_PUBLIC_KEY labelled `identity` on token `ceremony`"
    );
}

#[test]
fn a_public_key_that_does_not_match_the_private_key_is_caught_by_the_self_test() {
    let t = SoftHsmToken::new("ceremony", TEST_USER_PIN);
    let s = t.login();
    gen_ec(&s, "identity", P256_EC_PARAMS, &[]);
    gen_ec(&s, "other", P256_EC_PARAMS, &[]);
    // swap the labels of the two public keys
    let find = |label: &[u8]| {
        s.raw()
            .find_objects(&[
                Attribute::Class(ObjectClass::PUBLIC_KEY),
                Attribute::Label(label.to_vec()),
            ])
            .unwrap()[0]
    };
    let (pi, po) = (find(b"identity"), find(b"other"));
    s.raw()
        .update_attributes(pi, &[Attribute::Label(b"tmp".to_vec())])
        .unwrap();
    s.raw()
        .update_attributes(po, &[Attribute::Label(b"identity".to_vec())])
        .unwrap();
    let err = IdentityKey::open(&s, "identity").unwrap_err();
    assert!(
        matches!(err, Error::SignatureSelfCheck { ref label } if label == "identity"),
        "{err}"
    );
}

#[test]
fn seal_key_with_token_defaults_is_refused() {
    // Only the usual flags set: SoftHSM then also allows CKA_SIGN and CKA_VERIFY (AES MACs).
    let t = SoftHsmToken::new("ceremony", TEST_USER_PIN);
    let s = t.login();
    s.raw()
        .generate_key(
            &Mechanism::AesKeyGen,
            &[
                Attribute::Token(true),
                Attribute::Private(true),
                Attribute::Sensitive(true),
                Attribute::Extractable(false),
                Attribute::Encrypt(true),
                Attribute::Decrypt(true),
                Attribute::ValueLen(32.into()),
                Attribute::Label(b"seal".to_vec()),
            ],
        )
        .unwrap();
    let r = refusals(SealKey::open(&s, "seal").unwrap_err(), "seal");
    let n = names(&r);
    assert!(
        n.contains(&"CKA_SIGN") && n.contains(&"CKA_VERIFY"),
        "{n:?}"
    );
}

#[test]
fn ec_key_with_token_defaults_is_refused() {
    // Only the usual flags set: SoftHSM then also allows CKA_SIGN_RECOVER and CKA_UNWRAP.
    let t = SoftHsmToken::new("ceremony", TEST_USER_PIN);
    let s = t.login();
    s.raw()
        .generate_key_pair(
            &Mechanism::EccKeyPairGen,
            &[
                Attribute::Token(true),
                Attribute::EcParams(P256_EC_PARAMS.to_vec()),
                Attribute::Verify(true),
                Attribute::Label(b"identity".to_vec()),
            ],
            &[
                Attribute::Token(true),
                Attribute::Private(true),
                Attribute::Sensitive(true),
                Attribute::Extractable(false),
                Attribute::Sign(true),
                Attribute::Label(b"identity".to_vec()),
            ],
        )
        .unwrap();
    let r = refusals(IdentityKey::open(&s, "identity").unwrap_err(), "identity");
    let n = names(&r);
    assert!(
        n.contains(&"CKA_SIGN_RECOVER") || n.contains(&"CKA_UNWRAP") || n.contains(&"CKA_DERIVE"),
        "{n:?}"
    );
}
