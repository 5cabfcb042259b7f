//! The built-in network profiles against their sources — the SSV SDK's chain
//! config (`contracts[chainId]`: setter = SSVNetwork, getter = SSVNetworkViews, token, and its
//! chain ids) read from the installed `@ssv-labs/ssv-sdk` by node, and the consensus configs'
//! deposit contract, deposit chain id and genesis fork version (committed excerpts under
//! `tests/data/consensus`, sources named in their headers).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

use alloy::primitives::Address;
use signer_agent::profiles::{self, Profile};

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The SDK's `contracts` and chain ids by network name, as JSON, from its installed `dist`
/// bundle (its file name carries a content hash). Fails, never skips, without node or the SDK.
fn sdk_chain_config() -> serde_json::Value {
    let dir = std::env::var_os("KC_SSV_SDK_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("tools/ssv-sdk"));
    let dist = dir.join("node_modules/@ssv-labs/ssv-sdk/dist");
    let globals: Vec<PathBuf> = std::fs::read_dir(&dist)
        .unwrap_or_else(|e| {
            panic!(
                "SSV SDK not installed at {} ({e}): run make tools (scripts/install-node.sh)",
                dist.display()
            )
        })
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let n = p.file_name().unwrap().to_string_lossy();
            n.starts_with("globals-") && n.ends_with(".js")
        })
        .collect();
    assert_eq!(globals.len(), 1, "one globals-*.js in {}", dist.display());
    let script = format!(
        "const g = require({:?});\n\
         const ids = Object.fromEntries(Object.entries(g.chains).map(([k, c]) => [k, c.id]));\n\
         console.log(JSON.stringify({{ contracts: g.contracts, chains: ids }}));",
        globals[0].display().to_string()
    );
    let out = Command::new("node")
        .args(["-e", &script])
        .output()
        .expect("node is not on PATH: run make tools (scripts/install-apt.sh installs nodejs)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn consensus_config(name: &str) -> BTreeMap<String, String> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/consensus")
        .join(format!("{name}.yaml"));
    std::fs::read_to_string(&path)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let (k, v) = l.split_once(':').unwrap();
            (k.trim().to_owned(), v.trim().trim_matches('\'').to_owned())
        })
        .collect()
}

fn addr(v: &serde_json::Value) -> Address {
    v.as_str().unwrap().parse().unwrap()
}

#[test]
fn profiles_match_the_ssv_sdk_and_the_consensus_configs() {
    let sdk = sdk_chain_config();
    let profiles: [&Profile; 2] = [&profiles::MAINNET, &profiles::HOODI];
    for p in profiles {
        // The SDK names the chain as the profile does and gives it the same id.
        assert_eq!(
            sdk["chains"][p.name].as_u64(),
            Some(p.chain_id),
            "{}: the SDK's chain id",
            p.name
        );
        let c = &sdk["contracts"][p.chain_id.to_string()];
        assert!(
            c.is_object(),
            "{}: no SDK contracts for {}",
            p.name,
            p.chain_id
        );
        assert_eq!(p.ssv_network, addr(&c["setter"]), "{}: SSVNetwork", p.name);
        assert_eq!(
            p.ssv_network_views,
            addr(&c["getter"]),
            "{}: SSVNetworkViews",
            p.name
        );
        assert_eq!(p.ssv_token, addr(&c["token"]), "{}: SSV token", p.name);

        let spec = consensus_config(p.name);
        assert_eq!(spec["CONFIG_NAME"], p.name);
        assert_eq!(
            spec["DEPOSIT_CHAIN_ID"].parse::<u64>().unwrap(),
            p.chain_id,
            "{}: deposit chain id",
            p.name
        );
        assert_eq!(
            p.deposit_contract,
            spec["DEPOSIT_CONTRACT_ADDRESS"].parse::<Address>().unwrap(),
            "{}: deposit contract",
            p.name
        );
        assert_eq!(
            format!("0x{}", hex::encode(p.genesis_fork_version)),
            spec["GENESIS_FORK_VERSION"],
            "{}: genesis fork version",
            p.name
        );
        // Lookups by name and by chain find it.
        assert_eq!(profiles::by_name(p.name), Some(p));
        assert_eq!(profiles::by_chain_id(p.chain_id), Some(p));
    }
    // Every profile is checked above.
    assert_eq!(profiles::ALL.len(), profiles.len());
}
