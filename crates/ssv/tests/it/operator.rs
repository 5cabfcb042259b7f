//! Operator keys: encodings, RSA-2048, fingerprints, clusters, share encryption.

use base64::Engine as _;
use kc_ssv::operator::network_encoding;
use kc_ssv::{split_secret, Cluster, Error, OperatorKey};
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::{Pkcs1v15Encrypt, RsaPrivateKey};
use sha2::{Digest, Sha256};

use crate::common::{cluster, fixture_operator, fixture_other, rng};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// The DER inside base64(PEM), decoded independently of the crate.
fn der_of_network_key(encoded: &str) -> Vec<u8> {
    let pem = String::from_utf8(B64.decode(encoded).unwrap()).unwrap();
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    B64.decode(body).unwrap()
}

#[test]
fn parses_the_network_encoding_and_fingerprints_the_spki_der() {
    let (id, encoded, _) = fixture_operator(4242);
    let op = OperatorKey::parse(id, &encoded).unwrap();
    assert_eq!(op.id(), 4242);
    assert_eq!(op.encoded(), encoded);
    let der = der_of_network_key(&encoded);
    assert_eq!(op.spki_der(), der.as_slice(), "network bodies are SPKI");
    assert_eq!(op.fingerprint_hex(), hex::encode(Sha256::digest(&der)));
    assert_eq!(op.fingerprint_hex().len(), 64);
    assert!(format!("{op:?}").contains(&op.fingerprint_hex()));
    // Surrounding whitespace and line breaks inside the base64 are tolerated.
    let wrapped: String = encoded
        .as_bytes()
        .chunks(76)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect::<Vec<_>>()
        .join("\n");
    assert_eq!(
        OperatorKey::parse(id, &format!("  {wrapped}\n"))
            .unwrap()
            .fingerprint(),
        op.fingerprint()
    );
}

#[test]
fn one_key_in_every_accepted_form_has_one_fingerprint() {
    let pkcs1_pem = fixture_other("pkcs1_pem"); // label RSA PUBLIC KEY, PKCS#1 body
    let spki_pem = fixture_other("spki_pem"); // label PUBLIC KEY, SPKI body
    let network = fixture_other("network_of_same"); // base64(label RSA PUBLIC KEY, SPKI body)
    let forms = [
        network.clone(),
        B64.encode(&pkcs1_pem),
        B64.encode(&spki_pem),
        pkcs1_pem.clone(),
        spki_pem.clone(),
        // SPKI body under the PUBLIC KEY label inside base64; PKCS#1 body under PUBLIC KEY.
        B64.encode(spki_pem.replace("PUBLIC KEY", "RSA PUBLIC KEY")),
        B64.encode(pkcs1_pem.replace("RSA PUBLIC KEY", "PUBLIC KEY")),
        B64.encode(pkcs1_pem.replace('\n', "\r\n")),
    ];
    let fps: Vec<String> = forms
        .iter()
        .map(|f| OperatorKey::parse(17, f).unwrap().fingerprint_hex())
        .collect();
    assert!(fps.iter().all(|f| *f == fps[0]), "{fps:?}");
    assert_eq!(
        fps[0],
        hex::encode(Sha256::digest(der_of_network_key(&network)))
    );
}

#[test]
fn only_rsa_2048_is_accepted_and_the_error_names_the_size() {
    for bits in [1024usize, 3072, 4096] {
        let e = OperatorKey::parse(203, &fixture_other(&format!("rsa{bits}"))).unwrap_err();
        assert!(
            matches!(e, Error::OperatorKeySize { id: 203, bits: b } if b == bits),
            "{e}"
        );
        assert_eq!(
            e.to_string(),
            format!("operator 203: RSA key is {bits} bits, the SSV network uses RSA-2048")
        );
    }
}

#[test]
fn bad_encodings_are_named() {
    let spki_pem = fixture_other("spki_pem");
    let cases = [
        ("not base64 at all!".to_owned(), "not base64"),
        (B64.encode([0xff, 0xfe, 0x00]), "PEM text"),
        (B64.encode("hello"), "BEGIN"),
        (
            B64.encode(spki_pem.replace("PUBLIC KEY", "CERTIFICATE")),
            "label",
        ),
        (
            B64.encode(spki_pem.replace("-----END PUBLIC KEY-----", "")),
            "END",
        ),
        (
            B64.encode(spki_pem.replacen("MII", "MIJ", 1)),
            "neither an SPKI nor a PKCS#1",
        ),
        (B64.encode(spki_pem.replacen('M', "*", 1)), "not base64"),
        // A valid key padded with whitespace to more than an RSA-2048 key takes: rejected
        // (it would be copied into every keyshares.json entry).
        (
            {
                let b = B64.encode(&spki_pem);
                format!("{}{}{}", &b[..100], " \n".repeat(1200), &b[100..])
            },
            "more than the 2048",
        ),
    ];
    for (input, want) in cases {
        let e = OperatorKey::parse(1001, &input).unwrap_err();
        assert!(
            matches!(e, Error::OperatorKeyEncoding { id: 1001, .. }),
            "{e}"
        );
        assert!(
            e.to_string()
                .starts_with("operator 1001: bad public key encoding"),
            "{e}"
        );
        assert!(e.to_string().contains(want), "{e} / {want}");
    }
    assert!(matches!(
        OperatorKey::parse(0, &fixture_other("spki_pem")),
        Err(Error::InvalidOperatorId { id: 0, .. })
    ));
}

#[test]
fn clusters_sort_and_refuse_duplicates_and_wrong_sizes() {
    let parse = |id: u64| OperatorKey::parse(id, &fixture_operator(id).1).unwrap();
    let c = Cluster::new(vec![parse(4242), parse(17), parse(1001), parse(203)]).unwrap();
    assert_eq!(c.ids(), vec![17, 203, 1001, 4242]);
    assert_eq!((c.len(), c.threshold()), (4, 3));
    assert_eq!(cluster(&[7, 17, 99, 203, 350, 512, 1001]).threshold(), 5);
    let e = Cluster::new(vec![
        parse(17),
        parse(203),
        parse(1001),
        parse(4242),
        parse(5555),
    ])
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "cluster: 5 operators, a cluster needs 4, 7, 10 or 13 (3f+1)"
    );
    let e = Cluster::new(vec![parse(17), parse(203), parse(203), parse(4242)]).unwrap_err();
    assert!(
        matches!(e, Error::DuplicateOperatorId { id: 203, .. }),
        "{e}"
    );
    let same = OperatorKey::parse(9999, &fixture_operator(203).1).unwrap();
    let e = Cluster::new(vec![parse(17), parse(203), same, parse(4242)]).unwrap_err();
    assert!(
        matches!(
            e,
            Error::DuplicateOperatorKey {
                first: 203,
                second: 9999
            }
        ),
        "{e}"
    );
}

#[test]
fn shares_encrypt_to_256_bytes_and_decrypt_to_the_plaintext() {
    let mut rng = rng();
    let ids = [17u64, 203, 1001, 4242];
    let c = cluster(&ids);
    let secret = crate::common::random_validator(&mut rng).to_bytes();
    let split = split_secret(&secret, &ids, &mut rng).unwrap();
    for (op, share) in c.operators().iter().zip(split.shares()) {
        let ct = op.encrypt_share(share, &mut rng).unwrap();
        assert_eq!(ct.0.len(), 256);
        assert!(op.ciphertext_in_range(&ct));
        let again = op.encrypt_share(share, &mut rng).unwrap();
        assert_ne!(ct, again, "PKCS#1 v1.5 padding is randomised");
        let sk = RsaPrivateKey::from_pkcs1_pem(&fixture_operator(op.id()).2).unwrap();
        let pt = sk.decrypt(Pkcs1v15Encrypt, &ct.0).unwrap();
        assert_eq!(pt, share.plaintext().to_vec());
    }
    // A share is only encrypted to its own operator.
    let e = c.operators()[0]
        .encrypt_share(&split.shares()[1], &mut rng)
        .unwrap_err();
    assert!(matches!(e, Error::Encryption { id: 17, .. }), "{e}");
}

#[test]
fn network_encoding_round_trips() {
    let sk = RsaPrivateKey::from_pkcs1_pem(&fixture_operator(99).2).unwrap();
    let op = OperatorKey::from_rsa(99, &sk.to_public_key()).unwrap();
    assert_eq!(
        op.encoded(),
        fixture_operator(99).1,
        "same bytes as the node's ExtractPublicKey layout"
    );
    assert_eq!(network_encoding(&sk.to_public_key()).unwrap(), op.encoded());
}
