//! Seal backends, the preflight trial and the backend choice, on SoftHSM as it is and on
//! SoftHSM restricted (`slots.mechanisms`) to the mechanism sets of a YubiHSM 2 and a Nitrokey
//! HSM 2 (`hsm-config/emulate/`).

use kc_hsm::testing::{Emulation, SoftHsmToken, TEST_USER_PIN};
use kc_hsm::{
    choose_seal_backend, provision_ceremony_keys, Error, KeyRole, OaepHash, RsaDecryptMode,
    RsaDecryptPath, RsaSealKey, SealBackend, Sealed, Sealer, TrialRole, AGENT_REQUIREMENTS,
    CEREMONY_REQUIREMENTS, CEREMONY_RSA_REQUIREMENTS,
};

const AAD: &[u8] = b"kc-seal/1\x00pool-2026-11-batch-01\x00plan-sha256-bytes";

fn mode(hash: OaepHash, path: RsaDecryptPath) -> RsaDecryptMode {
    RsaDecryptMode { hash, path }
}

#[test]
fn rsa_oaep_on_softhsm_decrypts_raw_rsa_and_decodes_oaep_sha256_on_the_host() {
    let t = SoftHsmToken::new("ceremony", TEST_USER_PIN);
    let s = t.login();
    let key = RsaSealKey::provision(&s, "seal").unwrap();
    let att = key.attestation();
    assert_eq!(att.role, KeyRole::RsaSeal);
    assert_eq!(att.key_type, "CKK_RSA");
    assert_eq!(att.usage, vec!["CKA_DECRYPT"]);
    assert!(att.sensitive && att.never_extractable && att.local && !att.extractable);
    assert_eq!(kc_hsm::RSA_SEAL_MODULUS_LEN, 384);
    // SoftHSM 2.6.1 does OAEP with SHA-1 only: SHA-256 goes through raw RSA.
    assert_eq!(
        key.modes()[0],
        mode(OaepHash::Sha256, RsaDecryptPath::TokenRawHostOaep)
    );
    assert!(!key
        .modes()
        .contains(&mode(OaepHash::Sha256, RsaDecryptPath::TokenOaep)));

    let secret = [0x5au8; 32];
    let sealed = key.seal(&s, &secret, AAD).unwrap();
    assert_eq!(sealed.hash, OaepHash::Sha256);
    assert_eq!(sealed.blob.len(), 384 + 12 + 32 + 16);
    assert_eq!(sealed.key_sha256, key.key_sha256());
    assert_eq!(&key.unseal(&s, &sealed, AAD).unwrap()[..], &secret[..]);
    // fresh data key and IV every time
    let again = key.seal(&s, &secret, AAD).unwrap();
    assert_ne!(again.blob, sealed.blob);

    // another session, key reopened
    drop(s);
    let s = t.login();
    let key = RsaSealKey::open(&s, "seal").unwrap();
    assert_eq!(&key.unseal(&s, &sealed, AAD).unwrap()[..], &secret[..]);

    // wrong associated data: the host tag check
    let err = key.unseal(&s, &sealed, b"another ceremony").unwrap_err();
    assert!(
        matches!(&err, Error::UnsealFailed { function, .. } if function == "host AES-256-GCM"),
        "{err}"
    );
    // one flipped byte in the encrypted data key, the iv, the ciphertext and the tag
    for (pos, place) in [
        (10, "host OAEP decoding"),
        (384, "host AES-256-GCM"),
        (400, "host AES-256-GCM"),
        (sealed.blob.len() - 1, "host AES-256-GCM"),
    ] {
        let mut bad = sealed.clone();
        bad.blob[pos] ^= 0x01;
        let err = key.unseal(&s, &bad, AAD).unwrap_err();
        assert!(
            matches!(&err, Error::UnsealFailed { function, .. } if function == place),
            "byte {pos}: {err}"
        );
    }
    let mut short = sealed.clone();
    short.blob.truncate(100);
    assert!(matches!(
        key.unseal(&s, &short, AAD).unwrap_err(),
        Error::SealedMalformed { .. }
    ));
}

#[test]
fn an_envelope_made_for_another_key_is_refused_before_decryption() {
    let t = SoftHsmToken::new("ceremony", TEST_USER_PIN);
    let s = t.login();
    let ours = RsaSealKey::provision(&s, "seal").unwrap();
    let theirs = RsaSealKey::provision(&s, "seal-elsewhere").unwrap();
    let sealed = theirs
        .seal(&s, b"0123456789abcdef0123456789abcdef", AAD)
        .unwrap();
    let err = ours.unseal(&s, &sealed, AAD).unwrap_err();
    match &err {
        Error::SealedToAnotherKey {
            label,
            token,
            envelope,
            found,
        } => {
            assert_eq!(label, "seal");
            assert_eq!(token, "ceremony");
            assert_eq!(envelope, theirs.key_sha256());
            assert_eq!(found, ours.key_sha256());
        }
        other => panic!("unexpected {other}"),
    }
    // An envelope that claims our key but was encrypted to another fails decoding.
    let mut forged = sealed.clone();
    forged.key_sha256 = ours.key_sha256().to_string();
    assert!(matches!(
        ours.unseal(&s, &forged, AAD).unwrap_err(),
        Error::UnsealFailed { .. }
    ));
    // Through the one interface: an AES-GCM blob is not an envelope for an RSA key.
    let sealer = Sealer::open(&s, "seal").unwrap();
    assert_eq!(sealer.backend(), SealBackend::RsaOaep);
    let err = sealer
        .unseal(&s, &Sealed::AesGcm(vec![0u8; 60]), AAD)
        .unwrap_err();
    assert!(matches!(err, Error::SealedMalformed { .. }), "{err}");
}

#[test]
fn sealer_opens_either_backend_by_the_key_class() {
    let t = SoftHsmToken::new("ceremony", TEST_USER_PIN);
    let s = t.login();
    for (label, backend) in [("aes", SealBackend::AesGcm), ("rsa", SealBackend::RsaOaep)] {
        Sealer::provision(&s, backend, label).unwrap();
        let sealer = Sealer::open(&s, label).unwrap();
        assert_eq!(sealer.backend(), backend);
        let sealed = sealer.seal(&s, &[7u8; 32], AAD).unwrap();
        assert_eq!(sealed.backend(), backend);
        assert_eq!(&sealer.unseal(&s, &sealed, AAD).unwrap()[..], &[7u8; 32]);
        let info = sealer.info();
        assert_eq!(info.backend, backend);
        assert_eq!(info.key_sha256.is_some(), backend == SealBackend::RsaOaep);
    }
    let err = Sealer::open(&s, "nothing").unwrap_err();
    assert!(
        matches!(&err, Error::SealKeyNotFound { label, .. } if label == "nothing"),
        "{err}"
    );
}

fn object_count(s: &kc_hsm::HsmSession) -> usize {
    s.raw().find_objects(&[]).unwrap().len()
}

#[test]
fn the_trial_passes_on_softhsm_for_every_role_and_leaves_nothing_behind() {
    let t = SoftHsmToken::new("ceremony", TEST_USER_PIN);
    let s = t.login();
    let before = object_count(&s);
    for role in [
        TrialRole::Ceremony(SealBackend::AesGcm),
        TrialRole::Ceremony(SealBackend::RsaOaep),
        TrialRole::Agent,
    ] {
        let report = s.trial(role).unwrap();
        assert!(report.not_checked.is_none());
        assert!(!report.passed.is_empty(), "{role:?}");
        let text = report.to_string();
        assert!(text.contains("✓ trial"), "{text}");
        if role == TrialRole::Agent {
            assert!(text.contains("secp256k1"), "{text}");
        } else {
            assert!(text.contains("P-256"), "{text}");
        }
    }
    assert_eq!(object_count(&s), before, "session objects destroyed");
    // and no token object was made
    drop(s);
    let s = t.login();
    assert_eq!(object_count(&s), before);
}

#[test]
fn softhsm_chooses_aes_gcm_and_can_be_forced_to_rsa_oaep() {
    let t = SoftHsmToken::new("ceremony", TEST_USER_PIN);
    let s = t.login();
    let c = choose_seal_backend(&s, None).unwrap();
    assert_eq!(c.backend, SealBackend::AesGcm);
    let c = choose_seal_backend(&s, Some(SealBackend::RsaOaep)).unwrap();
    assert_eq!(c.backend, SealBackend::RsaOaep);
    assert_eq!(
        c.trial.rsa_modes[0],
        mode(OaepHash::Sha256, RsaDecryptPath::TokenRawHostOaep)
    );
}

#[test]
fn yubihsm2_emulation_has_no_gcm_and_seals_with_oaep_in_the_token() {
    let t = SoftHsmToken::emulating("yubihsm", TEST_USER_PIN, Emulation::YubiHsm2);
    let err = t.token().preflight(CEREMONY_REQUIREMENTS).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("token `yubihsm`"), "{msg}");
    assert!(
        msg.contains("CKM_AES_GCM (not in C_GetMechanismList)"),
        "{msg}"
    );
    t.token().preflight(CEREMONY_RSA_REQUIREMENTS).unwrap();
    t.token().preflight(AGENT_REQUIREMENTS).unwrap();
    let s = t.login();
    // forced AES-GCM: the mechanism preflight names what is missing
    let err = choose_seal_backend(&s, Some(SealBackend::AesGcm)).unwrap_err();
    assert!(matches!(err, Error::MissingMechanisms { .. }), "{err}");
    let c = choose_seal_backend(&s, None).unwrap();
    assert_eq!(c.backend, SealBackend::RsaOaep);
    // SoftHSM's OAEP is SHA-1 only and the YubiHSM 2 set has no raw RSA.
    assert_eq!(
        c.trial.rsa_modes,
        vec![mode(OaepHash::Sha1, RsaDecryptPath::TokenOaep)]
    );
    s.trial(TrialRole::Agent).unwrap();
    let (seal, identity) =
        provision_ceremony_keys(&s, SealBackend::RsaOaep, "kc-seal", "kc-identity").unwrap();
    let sealed = seal.seal(&s, &[1u8; 32], AAD).unwrap();
    let Sealed::RsaOaep(r) = &sealed else {
        panic!("rsa-oaep")
    };
    assert_eq!(r.hash, OaepHash::Sha1);
    assert_eq!(&seal.unseal(&s, &sealed, AAD).unwrap()[..], &[1u8; 32]);
    identity.sign_sha256(&s, b"manifest").unwrap();
}

#[test]
fn nitrokey_hsm2_emulation_has_no_aes_and_decrypts_raw_rsa() {
    let t = SoftHsmToken::emulating("nitrokey", TEST_USER_PIN, Emulation::NitrokeyHsm2);
    let s = t.login();
    let c = choose_seal_backend(&s, None).unwrap();
    assert_eq!(c.backend, SealBackend::RsaOaep);
    assert_eq!(
        c.trial.rsa_modes,
        vec![
            mode(OaepHash::Sha256, RsaDecryptPath::TokenRawHostOaep),
            mode(OaepHash::Sha1, RsaDecryptPath::TokenRawHostOaep)
        ]
    );
    // AES-GCM cannot be forced: the refusal names the token, the function and the mechanisms
    let err = choose_seal_backend(&s, Some(SealBackend::AesGcm)).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("token `nitrokey`"), "{msg}");
    assert!(
        msg.contains("CKM_AES_KEY_GEN (not in C_GetMechanismList)"),
        "{msg}"
    );
    assert!(
        msg.contains("CKM_AES_GCM (not in C_GetMechanismList)"),
        "{msg}"
    );
    // The trial of AES-GCM on its own says which function failed. (SoftHSM's allow-list does
    // not stop C_GenerateKey, so the AES key is made; the GCM operation is refused.)
    let err = s
        .trial(TrialRole::Ceremony(SealBackend::AesGcm))
        .unwrap_err();
    match &err {
        Error::TrialFailed {
            token,
            function,
            capability,
            ..
        } => {
            assert_eq!(token, "nitrokey");
            assert_eq!(function, "C_EncryptInit");
            assert!(capability.contains("CKM_AES_GCM"), "{capability}");
        }
        other => panic!("unexpected {other}"),
    }
    s.trial(TrialRole::Agent).unwrap();
}

#[test]
fn ceremony_keys_are_provisioned_all_or_nothing() {
    let t = SoftHsmToken::new("ceremony", TEST_USER_PIN);
    let s = t.login();
    let before = object_count(&s);
    // The identity key fails after the seal key was made (same label): nothing stays.
    for backend in SealBackend::ALL {
        let err = provision_ceremony_keys(&s, backend, "same", "same").unwrap_err();
        assert!(matches!(err, Error::LabelExists { .. }), "{err}");
        assert_eq!(
            object_count(&s),
            before,
            "{backend}: the seal key was removed"
        );
        assert!(s.label_in_use("same").unwrap().is_none());
    }
    // so a rerun with proper labels succeeds
    let (seal, identity) =
        provision_ceremony_keys(&s, SealBackend::AesGcm, "kc-seal", "kc-identity").unwrap();
    assert_eq!(seal.label(), "kc-seal");
    assert_eq!(identity.label(), "kc-identity");
    // existing labels are refused before anything is generated
    let after = object_count(&s);
    let err =
        provision_ceremony_keys(&s, SealBackend::RsaOaep, "new-seal", "kc-identity").unwrap_err();
    assert!(matches!(err, Error::LabelExists { .. }), "{err}");
    assert_eq!(object_count(&s), after);
}
