//! EIP-55 addresses.

use kc_validator::{Address, Error};

#[test]
fn eip55_examples() {
    // the examples in EIP-55
    for s in [
        "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
        "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
        "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB",
        "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb",
    ] {
        let a: Address = s.parse().unwrap();
        assert_eq!(a.to_checksum(), s);
        assert_eq!(a.to_string(), s);
        let lower: Address = s.to_lowercase().parse().unwrap();
        assert_eq!(lower, a);
        let upper: Address = format!("0x{}", s[2..].to_uppercase()).parse().unwrap();
        assert_eq!(upper, a);
    }
}

#[test]
fn bad_checksum_is_named() {
    let e = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD"
        .parse::<Address>()
        .unwrap_err();
    assert!(matches!(e, Error::AddressChecksum { .. }), "{e}");
    assert!(e
        .to_string()
        .contains("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"));
}

#[test]
fn malformed() {
    assert!(matches!(
        "5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed".parse::<Address>(),
        Err(Error::InvalidAddress { .. })
    ));
    assert!(matches!(
        "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeA".parse::<Address>(),
        Err(Error::InvalidAddress { .. })
    ));
    assert!(matches!(
        "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeg".parse::<Address>(),
        Err(Error::InvalidHex { .. })
    ));
}

#[test]
fn serde_roundtrip() {
    let a: Address = "0x000000000000000000000000000000000000dead"
        .parse()
        .unwrap();
    let j = serde_json::to_string(&a).unwrap();
    assert_eq!(j, "\"0x000000000000000000000000000000000000dEaD\"");
    assert_eq!(serde_json::from_str::<Address>(&j).unwrap(), a);
}
