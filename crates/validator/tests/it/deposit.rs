//! Deposit data: the FACTS example, JSON format, verification and amount rules.

use kc_validator::deposit::{self, withdrawal_credentials, DepositData, Network, WithdrawalType};
use kc_validator::{derive, Address, Error, Mnemonic};

fn fixture(name: &str) -> String {
    let p = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/vectors")
        .join(name);
    std::fs::read_to_string(p).unwrap()
}

fn abandon_art_seed() -> kc_validator::Seed {
    Mnemonic::parse(&format!("{}art", "abandon ".repeat(23)))
        .unwrap()
        .to_seed("")
}

fn dead() -> Address {
    "0x000000000000000000000000000000000000dEaD"
        .parse()
        .unwrap()
}

#[test]
fn facts_example_byte_exact() {
    let seed = abandon_art_seed();
    let wc = withdrawal_credentials(WithdrawalType::Eth1, &dead());
    let list: Vec<DepositData> = (0..2)
        .map(|i| {
            let sk = derive::signing_key(seed.as_bytes(), i).unwrap();
            DepositData::create(&sk, wc, 32_000_000_000, &Network::Hoodi).unwrap()
        })
        .collect();
    assert!(list[0].pubkey.to_hex().starts_with("b384f767"));
    assert!(list[0].pubkey.to_hex().ends_with("aab94c87"));
    assert_eq!(
        hex::encode(list[0].deposit_data_root),
        "50cdad86a42f0a639aec3a615ae000886e1dc9a34300f9c1d8fa074b386c7724"
    );
    let expected = fixture("deposit_data-abandon-art-hoodi.json");
    assert_eq!(deposit::to_json(&list), expected);
    // and back
    let parsed = deposit::from_json(&expected).unwrap();
    assert_eq!(parsed, list);
    for d in &parsed {
        d.verify_for(&Network::Hoodi).unwrap();
        assert_eq!(d.withdrawal().unwrap(), (WithdrawalType::Eth1, dead()));
    }
    assert!(matches!(
        parsed[0].verify_for(&Network::Mainnet),
        Err(Error::Network { .. })
    ));
}

#[test]
fn networks() {
    assert_eq!(Network::Mainnet.genesis_fork_version(), [0, 0, 0, 0]);
    assert_eq!(Network::Sepolia.genesis_fork_version(), [0x90, 0, 0, 0x69]);
    assert_eq!(Network::Hoodi.genesis_fork_version(), [0x10, 0, 0x09, 0x10]);
    assert_eq!(
        Network::Hoodi.exit_fork_version(),
        Some([0x40, 0, 0x09, 0x10])
    );
    let c = Network::Custom {
        fork_version: [1, 2, 3, 4],
    };
    assert_eq!(c.name(), "custom");
    assert_eq!(c.exit_fork_version(), None);
    assert_eq!(c.genesis_validators_root(), None);
    assert_eq!(
        Network::from_fork_version([0x90, 0, 0, 0x69]),
        Network::Sepolia
    );
    assert_eq!("hoodi".parse::<Network>().unwrap(), Network::Hoodi);
    assert!(matches!(
        "holesky".parse::<Network>(),
        Err(Error::Network { .. })
    ));
    assert_eq!(
        hex::encode(Network::Mainnet.genesis_validators_root().unwrap()),
        "4b363db94e286120d76eb905340fdd4e54bfe9f06bf33ff6cf5ad27f511bfe95"
    );
}

#[test]
fn amount_rules() {
    let sk = derive::signing_key(abandon_art_seed().as_bytes(), 0).unwrap();
    let eth1 = withdrawal_credentials(WithdrawalType::Eth1, &dead());
    let comp = withdrawal_credentials(WithdrawalType::Compounding, &dead());
    assert_eq!(comp[0], 2);
    let n = Network::Mainnet;
    assert!(DepositData::create(&sk, eth1, 1_000_000_000, &n).is_ok());
    assert!(DepositData::create(&sk, eth1, 32_000_000_000, &n).is_ok());
    assert!(matches!(
        DepositData::create(&sk, eth1, 999_999_999, &n),
        Err(Error::AmountBelowMinimum {
            amount_gwei: 999_999_999,
            ..
        })
    ));
    assert!(matches!(
        DepositData::create(&sk, eth1, 32_000_000_001, &n),
        Err(Error::AmountNotAllowed {
            withdrawal_type: "0x01",
            ..
        })
    ));
    assert!(DepositData::create(&sk, comp, 2_048_000_000_000, &n).is_ok());
    assert!(matches!(
        DepositData::create(&sk, comp, 2_048_000_000_001, &n),
        Err(Error::AmountNotAllowed {
            withdrawal_type: "0x02",
            ..
        })
    ));
    assert!(matches!(
        DepositData::create(&sk, comp, 0, &n),
        Err(Error::AmountBelowMinimum { .. })
    ));
}

#[test]
fn custom_network_roundtrip() {
    let sk = derive::signing_key(abandon_art_seed().as_bytes(), 3).unwrap();
    let wc = withdrawal_credentials(WithdrawalType::Compounding, &dead());
    let net = Network::Custom {
        fork_version: [0x12, 0x34, 0x56, 0x78],
    };
    let d = DepositData::create(&sk, wc, 64_000_000_000, &net).unwrap();
    assert_eq!(d.network_name, "custom");
    let j = deposit::to_json(std::slice::from_ref(&d));
    assert_eq!(deposit::from_json(&j).unwrap(), vec![d]);
    // a custom network may not reuse a named network's fork version
    assert!(matches!(
        DepositData::create(
            &sk,
            wc,
            32_000_000_000,
            &Network::Custom {
                fork_version: [0; 4]
            }
        ),
        Err(Error::Network { .. })
    ));
}

#[test]
fn empty_list() {
    assert_eq!(deposit::to_json(&[]), "[]");
    assert!(deposit::from_json("[]").unwrap().is_empty());
}

#[test]
fn tampering_is_detected_with_the_entry_index() {
    let good = fixture("deposit_data-abandon-art-hoodi.json");
    let list = deposit::parse_json(&good).unwrap();

    // change the amount: message root no longer matches
    let mut l = list.clone();
    l[1].amount = 31_000_000_000;
    let e = deposit::from_json(&deposit::to_json(&l)).unwrap_err();
    assert!(matches!(e, Error::Entry { index: 1, .. }), "{e}");
    assert!(matches!(e.root(), Error::RootMismatch { .. }), "{e}");

    // recompute the roots but keep the old signature: the signature fails
    let mut l = list.clone();
    let (pk, wc) = (l[1].pubkey.to_bytes(), l[1].withdrawal_credentials);
    l[1].amount = 31_000_000_000;
    l[1].deposit_message_root = kc_validator::ssz::deposit_message_root(&pk, &wc, l[1].amount);
    l[1].deposit_data_root =
        kc_validator::ssz::deposit_data_root(&pk, &wc, l[1].amount, &l[1].signature.to_bytes());
    let e = deposit::from_json(&deposit::to_json(&l)).unwrap_err();
    assert!(matches!(e, Error::Entry { index: 1, .. }), "{e}");
    assert!(matches!(e.root(), Error::BadSignature { .. }), "{e}");

    // swap the signatures of two entries
    let mut l = list.clone();
    let s0 = l[0].signature;
    l[0].signature = l[1].signature;
    l[1].signature = s0;
    assert!(deposit::verify_all(&l).is_err());

    // network name that does not match the fork version
    let mut l = list;
    l[0].network_name = "mainnet".into();
    let e = deposit::verify_all(&l).unwrap_err();
    assert!(matches!(e.root(), Error::Network { .. }), "{e}");
}

#[test]
fn network_from_plan() {
    assert_eq!(Network::from_plan("hoodi", None).unwrap(), Network::Hoodi);
    assert_eq!(
        Network::from_plan("custom", Some("0x12345678")).unwrap(),
        Network::Custom {
            fork_version: [0x12, 0x34, 0x56, 0x78]
        }
    );
    assert!(matches!(
        Network::from_plan("custom", None),
        Err(Error::Network { .. })
    ));
    assert!(matches!(
        Network::from_plan("mainnet", Some("0x00000000")),
        Err(Error::Network { .. })
    ));
    assert!(matches!(
        Network::from_plan("custom", Some("12345678")),
        Err(Error::HexPrefix { .. })
    ));
    assert!(matches!(
        Network::from_plan("custom", Some("0x123456")),
        Err(Error::InvalidLength { .. })
    ));
}

/// The streaming writer writes the reference file byte for byte (and `[]` for no entry); the
/// raw entries read back re-serialize to the same bytes and their roots check from the bytes
/// alone; a changed amount is caught by the raw root check.
#[test]
fn streaming_writer_and_raw_entries_match_the_reference_file() {
    let expected = fixture("deposit_data-abandon-art-hoodi.json");
    let list = deposit::parse_json(&expected).unwrap();
    let mut w = deposit::DepositJsonWriter::new(Vec::new()).unwrap();
    for d in &list {
        w.push(d).unwrap();
    }
    assert_eq!(String::from_utf8(w.finish().unwrap()).unwrap(), expected);
    let empty = deposit::DepositJsonWriter::new(Vec::new()).unwrap();
    assert_eq!(empty.finish().unwrap(), b"[]");

    let raw = deposit::parse_raw_json(&expected).unwrap();
    assert_eq!(deposit::raw_to_json(&raw), expected);
    for (r, d) in raw.iter().zip(&list) {
        r.check_roots().unwrap();
        assert_eq!(&r.decode().unwrap(), d);
    }
    let mut r = raw[1].clone();
    r.amount = 31_000_000_000;
    assert!(matches!(r.check_roots(), Err(Error::RootMismatch { .. })));
}

#[test]
fn chain_ids_of_the_named_networks() {
    for (n, id) in [
        (Network::Mainnet, 1),
        (Network::Sepolia, 11_155_111),
        (Network::Hoodi, 560_048),
    ] {
        assert_eq!(n.chain_id(), Some(id));
        assert_eq!(Network::from_chain_id(id), Some(n));
    }
    let custom = Network::Custom {
        fork_version: [0x10, 0, 0, 0x38],
    };
    assert_eq!(custom.chain_id(), None);
    assert_eq!(Network::from_chain_id(31337), None);
}
