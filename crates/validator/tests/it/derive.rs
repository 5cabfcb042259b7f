//! EIP-2333 vectors and EIP-2334 paths.

use kc_validator::derive::{self, child_sk, master_sk, parse_path};
use kc_validator::Error;

use crate::common::{decimal_to_be32, vector};

#[test]
fn eip2333_every_vector() {
    let v = vector("eip2333.json");
    let cases = v["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 4);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let seed = hex::decode(case["seed"].as_str().unwrap()).unwrap();
        let master = master_sk(&seed).unwrap();
        assert_eq!(
            *master.to_bytes(),
            decimal_to_be32(case["master_sk"].as_str().unwrap()),
            "{name}: master"
        );
        let index = u32::try_from(case["child_index"].as_u64().unwrap()).unwrap();
        let child = child_sk(&master, index);
        assert_eq!(
            *child.to_bytes(),
            decimal_to_be32(case["child_sk"].as_str().unwrap()),
            "{name}: child"
        );
    }
}

#[test]
fn paths() {
    assert_eq!(parse_path("m").unwrap(), Vec::<u32>::new());
    assert_eq!(
        parse_path("m/12381/3600/7/0/0").unwrap(),
        vec![12381, 3600, 7, 0, 0]
    );
    assert_eq!(parse_path("m/4294967295").unwrap(), vec![u32::MAX]);
    assert_eq!(derive::signing_key_path(5), "m/12381/3600/5/0/0");
    assert_eq!(derive::withdrawal_key_path(5), "m/12381/3600/5/0");
    for bad in [
        "",
        "n/1",
        "m/",
        "m//1",
        "m/1/x",
        "m/4294967296",
        "m/01",
        "m/-1",
        "m/1 ",
        "/m/1",
    ] {
        assert!(
            matches!(parse_path(bad), Err(Error::InvalidPath { .. })),
            "{bad:?} should be rejected"
        );
    }
}

#[test]
fn path_helpers_agree_with_derive_path() {
    let seed = [7u8; 64];
    for i in [0u32, 1, 9] {
        let a = derive::signing_key(&seed, i).unwrap();
        let b = derive::derive_path(&seed, &derive::signing_key_path(i)).unwrap();
        assert_eq!(*a.to_bytes(), *b.to_bytes());
        let w = derive::withdrawal_key(&seed, i).unwrap();
        let w2 = derive::derive_path(&seed, &derive::withdrawal_key_path(i)).unwrap();
        assert_eq!(*w.to_bytes(), *w2.to_bytes());
    }
    let batch = derive::signing_keys(&seed, 3, 2).unwrap();
    assert_eq!(
        *batch[1].to_bytes(),
        *derive::signing_key(&seed, 4).unwrap().to_bytes()
    );
}

/// The prefix `m/12381/3600` derived once gives the same keys as the full path, for any index
/// (the first and the last EIP-2334 index included) and any seed.
#[test]
fn coin_key_prefix_gives_the_full_path_keys() {
    for seed in [[7u8; 64], [0xa5; 64]] {
        let coin = derive::CoinKey::from_seed(&seed).unwrap();
        for i in [0u32, 1, 4242, u32::MAX] {
            let full = derive::derive_path(&seed, &derive::signing_key_path(i)).unwrap();
            assert_eq!(*coin.signing_key(i).to_bytes(), *full.to_bytes(), "{i}");
            let w = derive::derive_path(&seed, &derive::withdrawal_key_path(i)).unwrap();
            assert_eq!(*coin.withdrawal_key(i).to_bytes(), *w.to_bytes(), "{i}");
        }
    }
    assert!(derive::CoinKey::from_seed(&[1u8; 31]).is_err());
}

#[test]
fn short_seed_is_rejected() {
    assert_eq!(
        master_sk(&[1u8; 31]).err().unwrap(),
        Error::SeedTooShort { got: 31 }
    );
    assert!(derive::derive_path(&[1u8; 16], "m/0").is_err());
}
