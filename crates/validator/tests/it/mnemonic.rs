//! BIP-39 mnemonics and seeds.

use kc_validator::{Error, Mnemonic};

use crate::common::vector;

#[test]
fn eip2333_case0_mnemonic_to_seed() {
    let v = vector("eip2333.json");
    let case = &v["cases"][0];
    let m = Mnemonic::parse(case["mnemonic"].as_str().unwrap()).unwrap();
    let seed = m.to_seed(case["passphrase"].as_str().unwrap());
    assert_eq!(hex::encode(seed.as_bytes()), case["seed"].as_str().unwrap());
}

#[test]
fn entropy_roundtrip_and_phrase() {
    let m = Mnemonic::from_entropy(&[0u8; 32]).unwrap();
    assert_eq!(m.word_count(), 24);
    assert_eq!(m.phrase().as_str(), format!("{}art", "abandon ".repeat(23)));
    assert_eq!(m.to_entropy().as_slice(), &[0u8; 32]);
    // whitespace and case are normalized
    let again = Mnemonic::parse(&format!("  {}ART\n", "Abandon\t".repeat(23))).unwrap();
    assert_eq!(again.to_entropy().as_slice(), &[0u8; 32]);
    let g = Mnemonic::generate_24().unwrap();
    assert_eq!(
        Mnemonic::parse(&g.phrase()).unwrap().to_entropy(),
        g.to_entropy()
    );
}

#[test]
fn bip39_trezor_vector_24_words() {
    // BIP-39 reference vectors (trezor/python-mnemonic vectors.json), passphrase "TREZOR"
    let m = Mnemonic::from_entropy(
        &hex::decode("8080808080808080808080808080808080808080808080808080808080808080").unwrap(),
    )
    .unwrap();
    assert_eq!(
        m.phrase().as_str(),
        "letter advice cage absurd amount doctor acoustic avoid letter advice cage absurd amount doctor acoustic avoid letter advice cage absurd amount doctor acoustic bless"
    );
    assert_eq!(
        hex::encode(m.to_seed("TREZOR").as_bytes()),
        "c0c519bd0e91a2ed54357d9d1ebef6f5af218a153624cf4f2da911a0ed8f7a09e2ef61af0aca007096df430022f7a2b6fb91661a9589097069720d015e4e982f"
    );
}

#[test]
fn passphrase_is_nfkd_normalized() {
    let m = Mnemonic::from_entropy(&[1u8; 16]).unwrap();
    // "é" precomposed vs decomposed give the same seed
    assert_eq!(
        m.to_seed("caf\u{e9}").as_bytes(),
        m.to_seed("cafe\u{301}").as_bytes()
    );
    assert_ne!(m.to_seed("").as_bytes(), m.to_seed("x").as_bytes());
}

#[test]
fn errors_name_the_position_not_the_word() {
    let phrase = format!("{}artt", "abandon ".repeat(23));
    let e = Mnemonic::parse(&phrase).err().unwrap();
    assert_eq!(
        e,
        Error::UnknownMnemonicWord {
            position: 24,
            count: 24
        }
    );
    assert!(!e.to_string().contains("artt"));
}
