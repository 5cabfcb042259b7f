//! Malformed input: each case asserts the specific named error.

use kc_validator::bls::{PublicKey, SecretKey, Signature};
use kc_validator::deposit::{self, parse_withdrawal_credentials};
use kc_validator::exit::SignedVoluntaryExit;
use kc_validator::keystore::Keystore;
use kc_validator::{derive, Address, Error, Mnemonic, WithdrawalType};

use crate::common::vector;

fn good_deposit_json() -> String {
    let p = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/vectors/deposit_data-abandon-art-hoodi.json");
    std::fs::read_to_string(p).unwrap()
}

/// The first deposit entry with `field` replaced by the raw JSON `value`.
fn deposit_with(field: &str, value: serde_json::Value) -> String {
    let mut v: serde_json::Value = serde_json::from_str(&good_deposit_json()).unwrap();
    v[0][field] = value;
    serde_json::to_string(&v).unwrap()
}

fn hex_str(n: usize, c: char) -> serde_json::Value {
    serde_json::Value::String(std::iter::repeat_n(c, n).collect())
}

// --- BLS encodings ---------------------------------------------------------------------------

#[test]
fn secret_key_wrong_length() {
    assert!(matches!(
        SecretKey::from_bytes(&[1u8; 31]),
        Err(Error::InvalidLength {
            expected: 32,
            got: 31,
            ..
        })
    ));
}

#[test]
fn secret_key_zero() {
    assert!(matches!(
        SecretKey::from_bytes(&[0u8; 32]),
        Err(Error::InvalidSecretKey { .. })
    ));
}

#[test]
fn secret_key_not_below_r() {
    assert!(matches!(
        SecretKey::from_bytes(&[0xffu8; 32]),
        Err(Error::InvalidSecretKey { .. })
    ));
    let r =
        hex::decode("73eda753299d7d483339d80809a1d80553bda402fffe5bfeffffffff00000001").unwrap();
    assert!(matches!(
        SecretKey::from_bytes(&r),
        Err(Error::InvalidSecretKey { .. })
    ));
}

#[test]
fn public_key_wrong_length() {
    assert!(matches!(
        PublicKey::from_bytes(&[0u8; 47]),
        Err(Error::InvalidLength {
            expected: 48,
            got: 47,
            ..
        })
    ));
    // an uncompressed 96-byte key is refused too
    assert!(matches!(
        PublicKey::from_bytes(&[0u8; 96]),
        Err(Error::InvalidLength { .. })
    ));
}

#[test]
fn public_key_infinity() {
    let mut b = [0u8; 48];
    b[0] = 0xc0; // compressed + infinity
    assert!(matches!(
        PublicKey::from_bytes(&b),
        Err(Error::InfinityPublicKey { .. })
    ));
}

#[test]
fn public_key_not_on_curve() {
    // compressed flag, x = 4: x^3 + 4 = 68 is not a square mod p? search a few x for "not on curve"
    let mut found = false;
    for x in 1u8..=50 {
        let mut b = [0u8; 48];
        b[0] = 0x80;
        b[47] = x;
        if let Err(Error::PointNotOnCurve { .. }) = PublicKey::from_bytes(&b) {
            found = true;
            break;
        }
    }
    assert!(
        found,
        "some small x must give a point that is not on the curve"
    );
}

#[test]
fn public_key_not_in_subgroup() {
    // a point on the curve with small x, outside the order-r subgroup (cofactor is huge, so any
    // small-x point on the curve is almost surely outside it)
    let mut found = false;
    for x in 1u8..=50 {
        let mut b = [0u8; 48];
        b[0] = 0x80;
        b[47] = x;
        if let Err(Error::PointNotInSubgroup { .. }) = PublicKey::from_bytes(&b) {
            found = true;
            break;
        }
    }
    assert!(found);
}

#[test]
fn public_key_bad_encoding() {
    // no compression flag on a 48-byte encoding
    let mut b = [0u8; 48];
    b[47] = 1;
    assert!(matches!(
        PublicKey::from_bytes(&b),
        Err(Error::BadPointEncoding { .. })
    ));
}

#[test]
fn public_key_non_hex() {
    let s: String = "zz".repeat(48);
    assert!(matches!(
        PublicKey::from_hex(&s),
        Err(Error::InvalidHex { .. })
    ));
}

#[test]
fn signature_wrong_length() {
    assert!(matches!(
        Signature::from_bytes(&[0u8; 95]),
        Err(Error::InvalidLength {
            expected: 96,
            got: 95,
            ..
        })
    ));
}

#[test]
fn signature_not_on_curve_or_subgroup() {
    let mut seen_curve = false;
    let mut seen_group = false;
    for x in 1u8..=60 {
        let mut b = [0u8; 96];
        b[0] = 0x80;
        b[95] = x;
        match Signature::from_bytes(&b) {
            Err(Error::PointNotOnCurve { .. }) => seen_curve = true,
            Err(Error::PointNotInSubgroup { .. }) => seen_group = true,
            _ => {}
        }
    }
    assert!(seen_curve && seen_group);
}

// --- mnemonic, seed, path ----------------------------------------------------------------------

#[test]
fn mnemonic_unknown_word() {
    let phrase = format!("abandon abandonn {}art", "abandon ".repeat(21));
    assert_eq!(
        Mnemonic::parse(&phrase).err().unwrap(),
        Error::UnknownMnemonicWord {
            position: 2,
            count: 24
        }
    );
}

#[test]
fn mnemonic_bad_checksum() {
    let phrase = "abandon ".repeat(24);
    assert_eq!(
        Mnemonic::parse(&phrase).err().unwrap(),
        Error::MnemonicChecksum { words: 24 }
    );
}

#[test]
fn mnemonic_word_count() {
    let phrase = "abandon ".repeat(13);
    assert_eq!(
        Mnemonic::parse(&phrase).err().unwrap(),
        Error::MnemonicWordCount { got: 13 }
    );
    assert_eq!(
        Mnemonic::parse("").err().unwrap(),
        Error::MnemonicWordCount { got: 0 }
    );
}

#[test]
fn entropy_length() {
    assert_eq!(
        Mnemonic::from_entropy(&[0u8; 17]).err().unwrap(),
        Error::EntropyLength { got: 17 }
    );
}

#[test]
fn seed_too_short() {
    assert_eq!(
        derive::master_sk(&[0u8; 16]).err().unwrap(),
        Error::SeedTooShort { got: 16 }
    );
}

#[test]
fn path_invalid() {
    assert!(matches!(
        derive::derive_path(&[0u8; 32], "m/12381/x"),
        Err(Error::InvalidPath { .. })
    ));
}

// --- address -----------------------------------------------------------------------------------

#[test]
fn address_bad_checksum() {
    assert!(matches!(
        "0x000000000000000000000000000000000000DeaD".parse::<Address>(),
        Err(Error::AddressChecksum { .. })
    ));
}

#[test]
fn address_without_prefix() {
    assert!(matches!(
        "000000000000000000000000000000000000dEaD".parse::<Address>(),
        Err(Error::InvalidAddress { .. })
    ));
}

// --- deposit data ------------------------------------------------------------------------------

#[test]
fn deposit_pubkey_non_hex() {
    let e = deposit::from_json(&deposit_with("pubkey", hex_str(96, 'g'))).unwrap_err();
    assert!(matches!(e, Error::Entry { index: 0, .. }));
    assert!(matches!(e.root(), Error::InvalidHex { .. }), "{e}");
}

#[test]
fn deposit_pubkey_with_0x() {
    let e = deposit::from_json(&deposit_with("pubkey", "0xb384".into())).unwrap_err();
    assert!(matches!(e.root(), Error::HexPrefix { .. }), "{e}");
}

#[test]
fn deposit_pubkey_short() {
    let e = deposit::from_json(&deposit_with("pubkey", hex_str(94, 'a'))).unwrap_err();
    assert!(
        matches!(
            e.root(),
            Error::InvalidLength {
                expected: 48,
                got: 47,
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn deposit_pubkey_infinity() {
    let mut s = String::from("c0");
    s.push_str(&"00".repeat(47));
    let e = deposit::from_json(&deposit_with("pubkey", s.into())).unwrap_err();
    assert!(matches!(e.root(), Error::InfinityPublicKey { .. }), "{e}");
}

#[test]
fn deposit_signature_short() {
    let e = deposit::from_json(&deposit_with("signature", hex_str(190, 'a'))).unwrap_err();
    assert!(
        matches!(e.root(), Error::InvalidLength { expected: 96, .. }),
        "{e}"
    );
}

#[test]
fn deposit_amount_below_minimum() {
    let e = deposit::from_json(&deposit_with("amount", 100.into())).unwrap_err();
    assert!(
        matches!(
            e.root(),
            Error::AmountBelowMinimum {
                amount_gwei: 100,
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn deposit_amount_not_allowed_for_0x01() {
    let e = deposit::from_json(&deposit_with("amount", 64_000_000_000u64.into())).unwrap_err();
    assert!(
        matches!(
            e.root(),
            Error::AmountNotAllowed {
                withdrawal_type: "0x01",
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn deposit_amount_not_an_integer() {
    let e = deposit::from_json(&deposit_with("amount", "32000000000".into())).unwrap_err();
    assert!(matches!(e, Error::Json { .. }), "{e}");
}

#[test]
fn deposit_withdrawal_prefix_00() {
    let wc = format!("00{}", "00".repeat(31));
    let e = deposit::from_json(&deposit_with("withdrawal_credentials", wc.into())).unwrap_err();
    assert!(
        matches!(e.root(), Error::InvalidWithdrawalCredentials { .. }),
        "{e}"
    );
    let mut raw = [0u8; 32];
    raw[0] = 1;
    raw[5] = 1;
    assert!(matches!(
        parse_withdrawal_credentials(&raw),
        Err(Error::InvalidWithdrawalCredentials { .. })
    ));
}

#[test]
fn deposit_root_mismatch() {
    let e = deposit::from_json(&deposit_with("deposit_data_root", hex_str(64, '0'))).unwrap_err();
    assert!(matches!(e.root(), Error::RootMismatch { .. }), "{e}");
    let e =
        deposit::from_json(&deposit_with("deposit_message_root", hex_str(64, '1'))).unwrap_err();
    assert!(matches!(e.root(), Error::RootMismatch { .. }), "{e}");
}

#[test]
fn deposit_fork_version_changed() {
    // sepolia's fork version under the name hoodi
    let e = deposit::from_json(&deposit_with("fork_version", "90000069".into())).unwrap_err();
    assert!(matches!(e.root(), Error::Network { .. }), "{e}");
    // unknown network name + known fork version
    let e = deposit::from_json(&deposit_with("network_name", "gnosis".into())).unwrap_err();
    assert!(matches!(e.root(), Error::Network { .. }), "{e}");
}

#[test]
fn deposit_signature_of_other_entry() {
    let mut v: serde_json::Value = serde_json::from_str(&good_deposit_json()).unwrap();
    // consistent roots for a foreign fork version: the signature is what fails
    v[0]["fork_version"] = "12345678".into();
    v[0]["network_name"] = "custom".into();
    let e = deposit::from_json(&serde_json::to_string(&v).unwrap()).unwrap_err();
    assert!(matches!(e.root(), Error::BadSignature { .. }), "{e}");
}

#[test]
fn deposit_unknown_field_and_missing_field() {
    let e = deposit::from_json(&deposit_with("extra", 1.into())).unwrap_err();
    assert!(matches!(e, Error::Json { .. }), "{e}");
    let mut v: serde_json::Value = serde_json::from_str(&good_deposit_json()).unwrap();
    v[0].as_object_mut().unwrap().remove("signature");
    let e = deposit::from_json(&serde_json::to_string(&v).unwrap()).unwrap_err();
    assert!(matches!(e, Error::Json { .. }), "{e}");
    assert!(matches!(deposit::from_json("{}"), Err(Error::Json { .. })));
}

#[test]
fn withdrawal_type_parse() {
    assert_eq!(
        "0x02".parse::<WithdrawalType>().unwrap(),
        WithdrawalType::Compounding
    );
    assert!(matches!(
        "0x00".parse::<WithdrawalType>(),
        Err(Error::InvalidWithdrawalCredentials { .. })
    ));
}

// --- exits -------------------------------------------------------------------------------------

#[test]
fn exit_malformed() {
    let sig = format!("0x{}", "a".repeat(192));
    let j = |epoch: &str, idx: &str, sig: &str| {
        format!(
            r#"{{"message": {{"epoch": "{epoch}", "validator_index": "{idx}"}}, "signature": "{sig}"}}"#
        )
    };
    assert!(matches!(
        SignedVoluntaryExit::from_json(&j("x", "1", &sig)),
        Err(Error::InvalidField { .. })
    ));
    assert!(matches!(
        SignedVoluntaryExit::from_json(&j("1", "18446744073709551616", &sig)),
        Err(Error::InvalidField { .. })
    ));
    assert!(matches!(
        SignedVoluntaryExit::from_json(&j("1", "1", &sig[2..])),
        Err(Error::HexPrefix { .. })
    ));
    assert!(matches!(
        SignedVoluntaryExit::from_json(&j("1", "1", "0xabc")),
        Err(Error::InvalidHex { .. })
    ));
    assert!(matches!(
        SignedVoluntaryExit::from_json("[]"),
        Err(Error::Json { .. })
    ));
}

// --- keystores ---------------------------------------------------------------------------------

fn keystore_with(path: &[&str], value: serde_json::Value) -> Result<Keystore, Error> {
    let v = vector("eip2335.json");
    let mut ks = v["keystores"]["pbkdf2"].clone();
    let mut cur = &mut ks;
    for k in &path[..path.len() - 1] {
        cur = &mut cur[*k];
    }
    cur[path[path.len() - 1]] = value;
    Keystore::from_json(&serde_json::to_string(&ks).unwrap())
}

#[test]
fn keystore_unsupported_kdf() {
    assert!(matches!(
        keystore_with(&["crypto", "kdf", "function"], "argon2".into()),
        Err(Error::KeystoreParams { .. })
    ));
}

#[test]
fn keystore_unsupported_cipher_and_prf() {
    assert!(matches!(
        keystore_with(&["crypto", "cipher", "function"], "aes-256-gcm".into()),
        Err(Error::KeystoreParams { .. })
    ));
    assert!(matches!(
        keystore_with(&["crypto", "kdf", "params", "prf"], "hmac-sha512".into()),
        Err(Error::KeystoreParams { .. })
    ));
}

#[test]
fn keystore_bad_version_and_iv() {
    assert!(matches!(
        keystore_with(&["version"], 3.into()),
        Err(Error::InvalidField { .. })
    ));
    assert!(matches!(
        keystore_with(&["crypto", "cipher", "params", "iv"], "00ff".into()),
        Err(Error::InvalidLength {
            expected: 16,
            got: 2,
            ..
        })
    ));
    assert!(matches!(
        keystore_with(&["crypto", "checksum", "message"], "xyz".into()),
        Err(Error::InvalidHex { .. })
    ));
    assert!(matches!(
        keystore_with(&["uuid"], 5.into()),
        Err(Error::Json { .. })
    ));
}

#[test]
fn keystore_cost_out_of_range() {
    let ks = keystore_with(&["crypto", "kdf", "params", "c"], 0.into()).unwrap();
    assert!(matches!(ks.decrypt("x"), Err(Error::KeystoreParams { .. })));
    let v = vector("eip2335.json");
    let mut s = v["keystores"]["scrypt"].clone();
    s["crypto"]["kdf"]["params"]["n"] = 1000.into();
    let ks = Keystore::from_json(&serde_json::to_string(&s).unwrap()).unwrap();
    assert!(matches!(ks.decrypt("x"), Err(Error::KeystoreParams { .. })));
    s["crypto"]["kdf"]["params"]["n"] = (1u64 << 30).into();
    let ks = Keystore::from_json(&serde_json::to_string(&s).unwrap()).unwrap();
    assert!(matches!(ks.decrypt("x"), Err(Error::KeystoreParams { .. })));
}
