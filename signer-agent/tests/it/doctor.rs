//! `signer-agent doctor` — all ok on the demo deployment (HSM key with its roles,
//! funded, a trusted bundle imported, its operators as pinned, the pool funded, a synced Beacon
//! node); each failure reported by name (wrong chain, no code at an address, no role, no ETH for
//! gas, no ETH for the cluster's fees next to the deposit, a removed operator), exit code 7.

use std::collections::BTreeMap;
use std::path::Path;

use alloy::primitives::{Address, U256};
use alloy::providers::Provider;

use crate::common::{ANVIL_KEY0, OPERATOR_OWNER_KEY};
use crate::e2e::World;

alloy::sol! {
    #[sol(rpc)]
    interface IRoles {
        function OPERATOR_ROLE() external view returns (bytes32);
        function grantRole(bytes32 role, address account) external;
        function revokeRole(bytes32 role, address account) external;
    }
    #[sol(rpc)]
    interface IOperatorRemoval {
        function removeOperator(uint64 operatorId) external;
    }
}

/// `doctor --json` with `config` (and extra flags): exit code and {name: (level, detail)}.
fn doctor(
    w: &World,
    config: &Path,
    flags: &[&str],
) -> (Option<i32>, BTreeMap<String, (String, String)>) {
    let mut args = flags.to_vec();
    args.extend(["doctor", "--json"]);
    let o = w.agent_with(config, &args);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "doctor printed no JSON ({e}): {}\n{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    });
    let items = v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["name"].as_str().unwrap().to_string(),
                (
                    i["level"].as_str().unwrap().to_string(),
                    i["detail"].as_str().unwrap().to_string(),
                ),
            )
        })
        .collect();
    assert_eq!(v["ok"].as_bool(), Some(o.status.success()), "{v}");
    (o.status.code(), items)
}

/// Exactly the checks `names` fail (and the exit code says so).
fn fails(
    (code, items): &(Option<i32>, BTreeMap<String, (String, String)>),
    names: &[&str],
) -> Vec<String> {
    assert_eq!(*code, Some(7), "{items:#?}");
    let failed: Vec<&str> = items
        .iter()
        .filter(|(_, (l, _))| l == "fail")
        .map(|(n, _)| n.as_str())
        .collect();
    assert_eq!(failed, names, "{items:#?}");
    names.iter().map(|n| items[*n].1.clone()).collect()
}

/// Waits for the receipt of a sent transaction by polling it (alloy's `get_receipt` registers with
/// a block heartbeat, which failed now and then here with `FailedToRegister` under load), and
/// asserts it succeeded.
async fn mined(pending: alloy::providers::PendingTransactionBuilder<alloy::network::Ethereum>) {
    let p = pending.provider().clone();
    let h = *pending.tx_hash();
    loop {
        if let Some(r) = p.get_transaction_receipt(h).await.unwrap() {
            assert!(r.status(), "{h} reverted");
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

fn roles(
    w: &World,
) -> (
    IRoles::IRolesInstance<alloy::providers::DynProvider>,
    alloy::primitives::B256,
) {
    let r = IRoles::new(w.dep.addr("pool_manager"), w.wallet_provider(ANVIL_KEY0));
    let role = w
        .rt()
        .block_on(async { r.OPERATOR_ROLE().call().await })
        .unwrap();
    (r, role)
}

#[test]
fn doctor_is_all_ok_on_the_demo_deployment_and_names_each_failure() {
    let w = World::new(2, "");
    w.approve(&w.bundle);
    crate::e2e::ok(&w.agent(&["import", w.bundle.to_str().unwrap()], &[]));
    let beacon = kc_test_utils::beacon::BeaconFixture::start(Default::default());
    let cfg = w.config_with(
        "doctor.toml",
        &format!("beacon_url = \"{}\"\n", beacon.url),
        "",
    );

    // The pool holds 32 ETH and nothing for the cluster's fees: the deposit is covered, the
    // fees are not.
    w.user_deposit_wei(U256::from(32u128 * 10u128.pow(18)));
    let d = fails(&doctor(&w, &cfg, &[]), &["cluster_fees"]);
    assert!(d[0].contains("no funds for fees"), "{d:?}");

    // Funded (2 × 32 ETH and 0.05 ETH for fees): every check is ok.
    w.user_deposit(32);
    let (code, items) = doctor(&w, &cfg, &[]);
    assert_eq!(code, Some(0), "{items:#?}");
    for (name, (level, detail)) in &items {
        if name == "lease" && kc_test_utils::postgres::store_is_postgres() {
            // On a shared store before any agent ran: no holder yet, which is fine (the
            // agents have not started), and said.
            assert_eq!(level, "ok", "{name}: {detail}");
            assert!(detail.contains("never held"), "{name}: {detail}");
            continue;
        }
        assert_eq!(level, "ok", "{name}: {detail}");
    }
    for name in [
        "rpc_endpoint",
        "chain_id",
        "contracts",
        "contract:pool_manager",
        "contract:pool_eth",
        "contract:oracle",
        "contract:deposit_contract",
        "contract:ssv_network",
        "contract:ssv_network_views",
        "contract:ssv_token",
        "ssv_network_version",
        "state_store",
        "policy",
        "hsm",
        "role:operator",
        "role:oracle_member",
        "gas_funds",
        "cluster_fees",
        "trusted_identities",
        "beacon",
    ] {
        assert!(items.contains_key(name), "no {name}: {items:#?}");
    }
    for (id, _) in &w.ops {
        assert_eq!(items[&format!("operator:{id}")].0, "ok");
    }
    // The store is on the backend this run selects (`KC_TEST_STORE`): the suite's PostgreSQL
    // pass really runs the agent on PostgreSQL.
    let store = &items["state_store"].1;
    if kc_test_utils::postgres::store_is_postgres() {
        assert!(store.starts_with("postgres://127.0.0.1:"), "{store}");
    } else {
        assert!(store.ends_with("state.sqlite"), "{store}");
    }
    // The text form says the same.
    let o = w.agent_with(&cfg, &["doctor"]);
    assert!(o.status.success());
    assert!(String::from_utf8_lossy(&o.stdout).contains("0 failures"));

    // Wrong chain: the rest is not checked against a chain that is not the pool's.
    let d = fails(&doctor(&w, &cfg, &["--chain-id", "5"]), &["chain_id"]);
    assert!(
        d[0].contains("config says chain id 5, the rpc endpoint serves 31337"),
        "{d:?}"
    );

    // No code at an address.
    let dead: Address = "0x000000000000000000000000000000000000dEaD"
        .parse()
        .unwrap();
    let no_code = w.config_with(
        "no-code.toml",
        &format!("beacon_url = \"{}\"\n", beacon.url),
        &format!("[contracts]\noracle = \"{dead}\"\n"),
    );
    let d = fails(
        &doctor(&w, &no_code, &[]),
        &["contract:oracle", "role:oracle_member"],
    );
    assert!(d[0].contains("no code at"), "{d:?}");

    // No role.
    let (r, role) = roles(&w);
    w.rt().block_on(async {
        r.revokeRole(role, w.agent)
            .send()
            .await
            .map(mined)
            .unwrap()
            .await;
    });
    let d = fails(&doctor(&w, &cfg, &[]), &["role:operator"]);
    assert!(d[0].contains("lacks OPERATOR_ROLE"), "{d:?}");
    w.rt().block_on(async {
        r.grantRole(role, w.agent)
            .send()
            .await
            .map(mined)
            .unwrap()
            .await;
    });

    // No ETH for gas.
    let p = w.provider();
    let balance = w
        .rt()
        .block_on(async { p.get_balance(w.agent).await })
        .unwrap();
    w.rt().block_on(async {
        let _: () = p
            .raw_request("anvil_setBalance".into(), (w.agent, U256::ZERO))
            .await
            .unwrap();
    });
    let d = fails(&doctor(&w, &cfg, &[]), &["gas_funds"]);
    assert!(d[0].contains("not enough ETH for gas"), "{d:?}");
    w.rt().block_on(async {
        let _: () = p
            .raw_request("anvil_setBalance".into(), (w.agent, balance))
            .await
            .unwrap();
    });

    // A removed operator.
    let removed = w.ops[1].0;
    w.rt().block_on(async {
        IOperatorRemoval::new(
            w.dep.addr("ssv_network"),
            w.wallet_provider(OPERATOR_OWNER_KEY),
        )
        .removeOperator(removed)
        .send()
        .await
        .map(mined)
        .unwrap()
        .await;
    });
    let name = format!("operator:{removed}");
    let (code, items) = doctor(&w, &cfg, &[]);
    let failed: Vec<&String> = items
        .iter()
        .filter(|(_, (l, _))| l == "fail")
        .map(|(n, _)| n)
        .collect();
    // The next stake's cluster fee needs every operator: it fails with it.
    assert_eq!(failed, vec!["cluster_fees", &name], "{items:#?}");
    assert_eq!(code, Some(7));
    assert!(items[&name].1.contains("was removed"), "{items:#?}");
}
