//! Presigned voluntary exits.

use kc_validator::deposit::Network;
use kc_validator::exit::{sign_exit, ExitDomain, SignedVoluntaryExit};
use kc_validator::{derive, Error, Mnemonic};

#[test]
fn matches_reference_fixture() {
    let seed = Mnemonic::parse(&format!("{}art", "abandon ".repeat(23)))
        .unwrap()
        .to_seed("");
    let sk = derive::signing_key(seed.as_bytes(), 0).unwrap();
    let domain = ExitDomain::for_network(&Network::Hoodi).unwrap();
    let signed = sign_exit(&sk, 5, 10, &domain);
    let p = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/vectors/signed_exit_transaction-abandon-art-hoodi.json");
    let expected = std::fs::read_to_string(p).unwrap();
    assert_eq!(signed.to_json(), expected);
    let parsed = SignedVoluntaryExit::from_json(&expected).unwrap();
    assert_eq!(parsed, signed);
    parsed.verify(&sk.public_key(), &domain).unwrap();
    assert_eq!(
        signed.file_name(1700000000),
        "signed_exit_transaction-5-1700000000.json"
    );
    // wrong network's domain
    let mainnet = ExitDomain::for_network(&Network::Mainnet).unwrap();
    assert!(matches!(
        parsed.verify(&sk.public_key(), &mainnet),
        Err(Error::BadSignature { .. })
    ));
    // custom network has no built-in exit domain
    assert!(matches!(
        ExitDomain::for_network(&Network::Custom {
            fork_version: [9; 4]
        }),
        Err(Error::Network { .. })
    ));
}
