//! Provisioning, sealing, signing.

use kc_hsm::testing::{SoftHsmToken, TEST_USER_PIN};
use kc_hsm::{Error, IdentityKey, KeyRole, SealKey, TransactionKey, SEAL_OVERHEAD};
use sha3::{Digest as _, Keccak256};

const AAD: &[u8] = b"pool-2026-11-batch-01\x00plan-sha256";

#[test]
fn seal_key_is_provisioned_attested_and_reopened() {
    let t = SoftHsmToken::new("ceremony", TEST_USER_PIN);
    let s = t.login();
    let key = SealKey::provision(&s, "seal").unwrap();
    let att = key.attestation();
    assert_eq!(att.label, "seal");
    assert_eq!(att.role, KeyRole::Seal);
    assert_eq!(att.class, "CKO_SECRET_KEY");
    assert_eq!(att.key_type, "CKK_AES");
    assert_eq!(att.value_len, Some(32));
    assert_eq!(att.usage, vec!["CKA_ENCRYPT", "CKA_DECRYPT"]);
    assert!(att.sensitive && att.always_sensitive && att.never_extractable && att.local);
    assert!(!att.extractable);
    assert_eq!(att.id.len(), 32, "16-byte id, hex");
    assert_eq!(att.modifiable, Some(false));

    let json = serde_json::to_value(att).unwrap();
    assert_eq!(json["role"], "seal");
    assert_eq!(json["extractable"], false);

    let again = SealKey::open(&s, "seal").unwrap();
    assert_eq!(again.attestation(), att);
    let dbg = format!("{again:?}");
    assert!(dbg.contains("seal") && dbg.contains("ceremony"), "{dbg}");
}

#[test]
fn provisioning_refuses_an_existing_label_naming_label_and_class() {
    let t = SoftHsmToken::new("ceremony", TEST_USER_PIN);
    let s = t.login();
    SealKey::provision(&s, "seal").unwrap();
    IdentityKey::provision(&s, "identity").unwrap();

    let err = SealKey::provision(&s, "seal").unwrap_err();
    assert!(
        matches!(&err, Error::LabelExists { label, class, .. }
            if label == "seal" && class == "CKO_SECRET_KEY"),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        "label `seal` already exists on token `ceremony` as CKO_SECRET_KEY; refusing to provision over it"
    );

    // any class counts: an identity label cannot be reused for a transaction key or a seal key
    let err = TransactionKey::provision(&s, "identity").unwrap_err();
    assert!(
        matches!(&err, Error::LabelExists { label, .. } if label == "identity"),
        "{err}"
    );
    let msg = SealKey::provision(&s, "identity").unwrap_err().to_string();
    assert!(msg.contains("`identity`") && msg.contains("CKO_"), "{msg}");
}

#[test]
fn opening_a_missing_key_names_label_and_class() {
    let t = SoftHsmToken::new("ceremony", TEST_USER_PIN);
    let s = t.login();
    let err = SealKey::open(&s, "seal").unwrap_err();
    assert_eq!(
        err.to_string(),
        "no CKO_SECRET_KEY labelled `seal` on token `ceremony`"
    );
    let err = IdentityKey::open(&s, "identity").unwrap_err();
    assert!(err.to_string().contains("CKO_PRIVATE_KEY"), "{err}");
}

#[test]
fn seal_unseal_roundtrip() {
    let t = SoftHsmToken::new("ceremony", TEST_USER_PIN);
    let s = t.login();
    let key = SealKey::provision(&s, "seal").unwrap();
    let secret = [0x5au8; 32];
    let sealed = key.seal(&s, &secret, AAD).unwrap();
    assert_eq!(sealed.len(), secret.len() + SEAL_OVERHEAD);
    assert!(!sealed.windows(8).any(|w| w == &secret[..8]));
    let opened = key.unseal(&s, &sealed, AAD).unwrap();
    assert_eq!(&opened[..], &secret[..]);

    // a fresh IV every time
    let sealed2 = key.seal(&s, &secret, AAD).unwrap();
    assert_ne!(sealed[..12], sealed2[..12]);
    assert_ne!(sealed, sealed2);

    // empty plaintext and empty AAD work too
    let e = key.seal(&s, b"", b"").unwrap();
    assert_eq!(e.len(), SEAL_OVERHEAD);
    assert!(key.unseal(&s, &e, b"").unwrap().is_empty());

    // a reopened handle (new session) unseals what the first sealed
    drop(s);
    let s = t.login();
    let key = SealKey::open(&s, "seal").unwrap();
    assert_eq!(&key.unseal(&s, &sealed, AAD).unwrap()[..], &secret[..]);
}

#[test]
fn unseal_with_wrong_aad_fails() {
    let t = SoftHsmToken::new("ceremony", TEST_USER_PIN);
    let s = t.login();
    let key = SealKey::provision(&s, "seal").unwrap();
    let sealed = key.seal(&s, b"master secret bytes", AAD).unwrap();
    let err = key.unseal(&s, &sealed, b"another ceremony").unwrap_err();
    assert!(
        matches!(err, Error::UnsealFailed { ref label, .. } if label == "seal"),
        "{err}"
    );
    let msg = err.to_string();
    assert!(msg.contains("C_Decrypt") && msg.contains("CKR_"), "{msg}");
}

#[test]
fn unseal_of_tampered_data_fails() {
    let t = SoftHsmToken::new("ceremony", TEST_USER_PIN);
    let s = t.login();
    let key = SealKey::provision(&s, "seal").unwrap();
    let sealed = key.seal(&s, b"master secret bytes", AAD).unwrap();
    // flip one bit in the IV, the ciphertext and the tag in turn
    for pos in [0, 12, sealed.len() - 1] {
        let mut bad = sealed.clone();
        bad[pos] ^= 0x01;
        let err = key.unseal(&s, &bad, AAD).unwrap_err();
        assert!(
            matches!(err, Error::UnsealFailed { .. }),
            "byte {pos}: {err}"
        );
    }
    // truncated
    let err = key
        .unseal(&s, &sealed[..SEAL_OVERHEAD - 1], AAD)
        .unwrap_err();
    assert!(matches!(err, Error::SealedTooShort { .. }), "{err}");
    let err = key
        .unseal(&s, &sealed[..sealed.len() - 1], AAD)
        .unwrap_err();
    assert!(matches!(err, Error::UnsealFailed { .. }), "{err}");
}

#[test]
fn unseal_with_another_seal_key_fails() {
    let t = SoftHsmToken::new("ceremony", TEST_USER_PIN);
    let s = t.login();
    let a = SealKey::provision(&s, "seal-a").unwrap();
    let b = SealKey::provision(&s, "seal-b").unwrap();
    let sealed = a.seal(&s, b"secret", AAD).unwrap();
    assert!(matches!(
        b.unseal(&s, &sealed, AAD).unwrap_err(),
        Error::UnsealFailed { .. }
    ));
}

#[test]
fn identity_signature_verifies_with_p256() {
    use p256::ecdsa::signature::Verifier as _;
    let t = SoftHsmToken::new("ceremony", TEST_USER_PIN);
    let s = t.login();
    let key = IdentityKey::provision(&s, "identity").unwrap();
    let att = key.attestation();
    assert_eq!(att.role, KeyRole::Identity);
    assert_eq!(att.class, "CKO_PRIVATE_KEY");
    assert_eq!(att.key_type, "CKK_EC");
    assert_eq!(att.curve.as_deref(), Some("secp256r1"));
    assert_eq!(att.usage, vec!["CKA_SIGN"]);

    let pk = key.public_key_sec1();
    assert_eq!(pk[0], 0x04);
    let vk = p256::ecdsa::VerifyingKey::from_sec1_bytes(&pk).unwrap();

    let manifest = br#"{"ceremony":"pool-2026-11-batch-01"}"#;
    let sig = key.sign_sha256(&s, manifest).unwrap();
    let sig = p256::ecdsa::Signature::from_slice(&sig).unwrap();
    vk.verify(manifest, &sig).unwrap();
    assert!(vk.verify(b"another manifest", &sig).is_err());
    assert!(sig.normalize_s().is_none(), "low-s");

    // the same public key after reopening
    let again = IdentityKey::open(&s, "identity").unwrap();
    assert_eq!(again.public_key_sec1(), pk);
    let dbg = format!("{again:?}");
    assert!(
        dbg.contains("identity") && dbg.contains(&hex::encode(pk)),
        "{dbg}"
    );
}

#[test]
fn transaction_signature_verifies_with_k256_and_recovers_the_address() {
    use k256::ecdsa::signature::hazmat::PrehashVerifier as _;
    let t = SoftHsmToken::new("agent", TEST_USER_PIN);
    let s = t.login();
    let key = TransactionKey::provision(&s, "tx").unwrap();
    let att = key.attestation();
    assert_eq!(att.role, KeyRole::Transaction);
    assert_eq!(att.curve.as_deref(), Some("secp256k1"));
    assert_eq!(att.usage, vec!["CKA_SIGN"]);

    let pk = key.public_key_sec1();
    let vk = k256::ecdsa::VerifyingKey::from_sec1_bytes(&pk).unwrap();
    let expected_address: [u8; 20] = Keccak256::digest(&pk[1..])[12..].try_into().unwrap();
    assert_eq!(key.address(), expected_address);
    assert_eq!(kc_hsm::eth_address(&pk), expected_address);

    for i in 0..8u8 {
        let prehash: [u8; 32] = Keccak256::digest([b"transaction ", &[i][..]].concat()).into();

        // the raw HSM signature verifies (after low-s normalisation, which k256 demands)
        let raw = key.sign_prehash(&s, &prehash).unwrap();
        let raw = k256::ecdsa::Signature::from_slice(&raw).unwrap();
        let low = raw.normalize_s().unwrap_or(raw);
        vk.verify_prehash(&prehash, &low).unwrap();

        let rs = key.sign_prehash_recoverable(&s, &prehash).unwrap();
        assert!(rs.signature.normalize_s().is_none(), "low-s");
        vk.verify_prehash(&prehash, &rs.signature).unwrap();
        let recovered = k256::ecdsa::VerifyingKey::recover_from_prehash(
            &prehash,
            &rs.signature,
            rs.recovery_id,
        )
        .unwrap();
        let rec_pk = recovered.to_encoded_point(false);
        let rec_addr: [u8; 20] = Keccak256::digest(&rec_pk.as_bytes()[1..])[12..]
            .try_into()
            .unwrap();
        assert_eq!(rec_addr, expected_address);
        let rsv = rs.to_rsv();
        assert!(rsv[64] <= 1);
        assert_eq!(&rsv[..64], &rs.signature.to_bytes()[..]);
    }

    let again = TransactionKey::open(&s, "tx").unwrap();
    assert_eq!(again.address(), expected_address);
    let dbg = format!("{again:?}");
    assert!(dbg.contains(&hex::encode(expected_address)), "{dbg}");
}

#[test]
fn a_key_is_bound_to_its_token() {
    let c = SoftHsmToken::new("ceremony", TEST_USER_PIN);
    let a = SoftHsmToken::new("agent", TEST_USER_PIN);
    let sc = c.login();
    let sa = a.login();
    let key = SealKey::provision(&sc, "seal").unwrap();
    let err = key.seal(&sa, b"x", b"").unwrap_err();
    assert!(matches!(err, Error::WrongToken { .. }), "{err}");
}

#[test]
fn a_key_of_one_role_is_refused_for_another() {
    let t = SoftHsmToken::new("ceremony", TEST_USER_PIN);
    let s = t.login();
    IdentityKey::provision(&s, "identity").unwrap();
    TransactionKey::provision(&s, "tx").unwrap();
    // P-256 key opened as a transaction key: wrong curve
    let err = TransactionKey::open(&s, "identity").unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, Error::AttestationRefused { .. }), "{msg}");
    assert!(
        msg.contains("CKA_EC_PARAMS") && msg.contains("secp256r1"),
        "{msg}"
    );
    // secp256k1 key opened as the identity key
    let msg = IdentityKey::open(&s, "tx").unwrap_err().to_string();
    assert!(
        msg.contains("CKA_EC_PARAMS") && msg.contains("secp256k1"),
        "{msg}"
    );
}

#[test]
fn handles_are_shareable_and_sessions_are_sendable() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}
    send_sync::<kc_hsm::Module>();
    send_sync::<kc_hsm::Token>();
    send_sync::<SealKey>();
    send_sync::<IdentityKey>();
    send_sync::<TransactionKey>();
    send::<kc_hsm::HsmSession>();
}

#[test]
fn one_session_per_thread_on_a_shared_module() {
    let t = SoftHsmToken::new("agent", TEST_USER_PIN);
    let key = {
        let s = t.login();
        TransactionKey::provision(&s, "tx").unwrap()
    };
    std::thread::scope(|scope| {
        for i in 0..2u8 {
            let key = key.clone();
            let token = t.token().clone();
            let pin = t.pin();
            scope.spawn(move || {
                let s = token.login(&pin).unwrap();
                for j in 0..5u8 {
                    let prehash: [u8; 32] = Keccak256::digest([i, j]).into();
                    key.sign_prehash_recoverable(&s, &prehash).unwrap();
                }
            });
        }
    });
}

#[test]
fn a_key_outlives_the_login_that_opened_it() {
    // Closing the last session ends the login, and SoftHSM then invalidates private-object
    // handles: the key is found again, re-attested, and used.
    let t = SoftHsmToken::new("ceremony", TEST_USER_PIN);
    let (seal, identity, sealed) = {
        let s = t.login();
        let seal = SealKey::provision(&s, "seal").unwrap();
        let sealed = seal.seal(&s, b"secret", AAD).unwrap();
        (
            seal,
            IdentityKey::provision(&s, "identity").unwrap(),
            sealed,
        )
    };
    let s = t.login();
    assert_eq!(&seal.unseal(&s, &sealed, AAD).unwrap()[..], b"secret");
    seal.seal(&s, b"again", AAD).unwrap();
    identity.sign_sha256(&s, b"manifest").unwrap();
}

#[test]
fn a_key_replaced_under_the_same_label_is_refused() {
    let t = SoftHsmToken::new("ceremony", TEST_USER_PIN);
    let s = t.login();
    let old = SealKey::provision(&s, "seal").unwrap();
    let handle = s
        .raw()
        .find_objects(&[kc_hsm::cryptoki::object::Attribute::Label(b"seal".to_vec())])
        .unwrap()[0];
    s.raw().destroy_object(handle).unwrap();
    let new = SealKey::provision(&s, "seal").unwrap();
    assert_ne!(old.attestation().id, new.attestation().id);
    let err = old.seal(&s, b"secret", AAD).unwrap_err();
    assert!(
        matches!(err, Error::KeyChanged { ref label } if label == "seal"),
        "{err}"
    );
}
