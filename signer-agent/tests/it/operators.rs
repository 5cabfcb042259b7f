//! `operators export` against anvil and the deployed SSV stand-in.

use alloy::providers::{Provider, ProviderBuilder};

use crate::common::{deploy, Anvil, IRegister, ANVIL_ADDR0, OPERATOR_OWNER_KEY};
use crate::fixture;

fn export(
    dir: &std::path::Path,
    config: &std::path::Path,
    ids: &str,
    out: &str,
) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_signer-agent"))
        .arg("--config")
        .arg(config)
        .args(["operators", "export", "--ids", ids, "--out"])
        .arg(dir.join(out))
        .output()
        .unwrap()
}

#[test]
fn export_writes_keys_with_provenance_and_refuses_missing_or_removed_operators() {
    let anvil = Anvil::start();
    let dir = tempfile::tempdir().unwrap();
    let keys = fixture::operator_keys(5);
    let dep = deploy(&anvil, ANVIL_ADDR0, &[ANVIL_ADDR0], &keys, dir.path());
    let ids = dep.operator_ids();
    assert_eq!(ids.len(), 5);
    let config = dir.path().join("agent.toml");
    std::fs::write(
        &config,
        format!(
            "rpc_url = \"{}\"\nchain_id = 31337\ndeployment = \"devnet.json\"\n",
            anvil.url()
        ),
    )
    .unwrap();

    // Ids out of order: the file is sorted by id.
    let list = format!("{},{},{},{}", ids[3], ids[1], ids[0], ids[2]);
    let o = export(dir.path(), &config, &list, "operators.json");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = std::fs::read_to_string(dir.path().join("operators.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let p = &v["provenance"];
    assert_eq!(p["chain_id"], 31337);
    let ssv = dep.addr("ssv_network");
    assert_eq!(p["ssv_network"].as_str().unwrap(), ssv.to_checksum(None));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let provider = ProviderBuilder::new()
        .connect_http(anvil.url().parse().unwrap())
        .erased();
    let block = rt
        .block_on(async {
            provider
                .get_block_by_number(p["block_number"].as_u64().unwrap().into())
                .await
        })
        .unwrap()
        .unwrap();
    assert_eq!(
        p["block_hash"].as_str().unwrap(),
        format!("{:#x}", block.header.hash)
    );
    let at = p["exported_at"].as_str().unwrap();
    assert!(
        time::OffsetDateTime::parse(at, &time::format_description::well_known::Rfc3339).is_ok(),
        "{at}"
    );
    assert!(at.ends_with('Z'), "{at}");
    let ops = v["operators"].as_array().unwrap();
    let got: Vec<u64> = ops.iter().map(|o| o["id"].as_u64().unwrap()).collect();
    assert_eq!(got, ids[..4].to_vec());
    for (o, k) in ops.iter().zip(&keys) {
        assert_eq!(o["public_key"].as_str().unwrap(), k);
    }
    // The ceremony reads it.
    let parsed = kc_bundle::operators::OperatorsFile::parse(&text).unwrap();
    assert!(parsed.provenance.is_some());

    // Never overwrites.
    let o = export(dir.path(), &config, &list, "operators.json");
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("already exists"));

    // An id that does not exist.
    let o = export(
        dir.path(),
        &config,
        &format!("{},{},{},999", ids[0], ids[1], ids[2]),
        "x.json",
    );
    assert_eq!(
        o.status.code(),
        Some(5),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(String::from_utf8_lossy(&o.stderr).contains("operator 999: does not exist"));
    assert!(!dir.path().join("x.json").exists());

    // A removed operator.
    rt.block_on(async {
        let k: alloy::signers::local::PrivateKeySigner = OPERATOR_OWNER_KEY.parse().unwrap();
        let p = ProviderBuilder::new()
            .wallet(alloy::network::EthereumWallet::from(k))
            .connect_http(anvil.url().parse().unwrap())
            .erased();
        let r = IRegister::new(ssv, p)
            .removeOperator(ids[4])
            .send()
            .await
            .unwrap()
            .get_receipt()
            .await
            .unwrap();
        assert!(r.status());
    });
    let o = export(
        dir.path(),
        &config,
        &format!("{},{},{},{}", ids[0], ids[1], ids[2], ids[4]),
        "y.json",
    );
    assert_eq!(o.status.code(), Some(5));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(&format!("operator {}: was removed", ids[4])),
        "{err}"
    );
}
