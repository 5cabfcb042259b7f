//! The batch leaf encoding agrees with Solidity's `abi.encode` as Foundry's `cast` computes it
//! (the PoolManager's `leafOf` uses the same expression; docs/merkle-leaf.md).

use std::path::PathBuf;
use std::process::Command;

use kc_bundle::merkle::{abi_encode_leaf, leaf_hash, LeafInput};

fn cast() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let dir = std::env::var("KC_CONTRACTS_DIR")
        .map(PathBuf::from)
        .unwrap_or(root.join("contracts"));
    let bin = dir.join("node_modules/@foundry-rs/cast-linux-amd64/bin/cast");
    assert!(
        bin.is_file(),
        "cast missing at {} (run `make tools`)",
        bin.display()
    );
    bin
}

fn run(args: &[&str]) -> String {
    let out = Command::new(cast()).args(args).output().expect("cast runs");
    assert!(
        out.status.success(),
        "cast {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

#[test]
fn leaf_encoding_matches_cast_abi_encode() {
    for (n, shares_len, ids) in [
        (1u8, 96 + 4 * (48 + 256), vec![7u64, 9, 1001, 4242]),
        (2, 33, vec![1, 2, 3, 4, 5, 6, 70]),
        (3, 0, vec![u64::MAX - 3, 12, 13, 14]),
    ] {
        let pubkey: Vec<u8> = (0..48).map(|i| i as u8 ^ n).collect();
        let signature: Vec<u8> = (0..96).map(|i| (i as u8).wrapping_mul(3) ^ n).collect();
        let ddr = [n; 32];
        let shares: Vec<u8> = (0..shares_len).map(|i| (i % 251) as u8).collect();
        let input = LeafInput {
            pubkey: &pubkey,
            signature: &signature,
            deposit_data_root: &ddr,
            operator_ids: &ids,
            shares_data: &shares,
        };
        let ids_s = format!(
            "[{}]",
            ids.iter().map(u64::to_string).collect::<Vec<_>>().join(",")
        );
        let expected = run(&[
            "abi-encode",
            "f(bytes,bytes,bytes32,uint64[],bytes)",
            &format!("0x{}", hex::encode(&pubkey)),
            &format!("0x{}", hex::encode(&signature)),
            &format!("0x{}", hex::encode(ddr)),
            &ids_s,
            &format!("0x{}", hex::encode(&shares)),
        ]);
        let ours = abi_encode_leaf(&input);
        assert_eq!(format!("0x{}", hex::encode(&ours)), expected, "case {n}");
        let inner = run(&["keccak", &expected]);
        let outer = run(&["keccak", &inner]);
        assert_eq!(
            format!("0x{}", hex::encode(leaf_hash(&input))),
            outer,
            "case {n}"
        );
    }
}
