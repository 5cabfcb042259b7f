//! Moving validators to new operators: a real `ceremony reshare` bundle (in process, the
//! ceremony's SoftHSM token) for 3 of the pool's 5 staked validators to 4 operators the pool
//! never used; `import` refuses it until governance approved its root, then `run` migrates them
//! in one `reshareValidators` (ValidatorRemoved on the old cluster, ValidatorAdded with exactly
//! the new sharesData on the new one), exactly once across a crash; a reshare of a validator the
//! pool never staked, or with an owner nonce already used, is refused with nothing sent.

use std::path::{Path, PathBuf};

use alloy::primitives::B256;
use alloy::providers::Provider;
use alloy::rpc::types::Filter;
use alloy::sol_types::SolEvent;
use ceremony::buildinfo::ToolIdentity;
use ceremony::hygiene::Hygiene;
use ceremony::pipeline::{People, Silent};
use signer_agent::chain::{IPoolManager, ISSVNetwork};

use crate::common::{register_operators, ANVIL_KEY0};
use crate::e2e::{ok, World};
use crate::fixture;

/// Runs `ceremony reshare` in process: `pubkeys` of `from` to the operators of `ops_file`,
/// owner nonces from `nonce`.
fn reshare(
    w: &World,
    name: &str,
    from: &Path,
    pubkeys: &[String],
    ops_file: &Path,
    nonce: u64,
) -> PathBuf {
    let plan_path = w.dir.path().join(format!("{name}.toml"));
    let list = pubkeys
        .iter()
        .map(|p| format!("\"{p}\""))
        .collect::<Vec<_>>()
        .join(", ");
    std::fs::write(
        &plan_path,
        format!(
            "[reshare]\nid = \"agent-test-{name}\"\nvalidators = [{list}]\n\n[ssv]\nowner_nonce = {nonce}\noperators_file = \"{}\"\n\n[hsm]\nmodule = \"{}\"\ntoken_label = \"ceremony\"\n",
            ops_file.display(),
            w.ceremony.token.module_path().display()
        ),
    )
    .unwrap();
    let plan = kc_bundle::reshare::ResharePlan::load(&plan_path).unwrap();
    let out = w.dir.path().join(name);
    let cfg = ceremony::reshare::ReshareConfig {
        out: out.clone(),
        pin: w.ceremony.token.pin(),
        people: People {
            administrator: Some("Test Administrator".into()),
            witnesses: vec!["Test Witness".into()],
        },
        from: from.to_path_buf(),
        previous: vec![],
        hygiene: Hygiene {
            core_dumps_disabled: false,
            not_dumpable: false,
            memory_locked: false,
        },
        tool: ToolIdentity {
            name: "ceremony".into(),
            version: "test".into(),
            git_commit: None,
            binary_sha256: "00".repeat(32),
            cargo_lock_sha256: "00".repeat(32),
        },
    };
    ceremony::reshare::run(&plan, &cfg, &Silent).unwrap_or_else(|e| panic!("reshare failed: {e}"));
    out
}

fn root_of(bundle: &Path) -> B256 {
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(bundle.join("manifest.json")).unwrap()).unwrap();
    m["merkle_root"].as_str().unwrap().parse().unwrap()
}

fn approve_reshare(w: &World, bundle: &Path, ids: &[u64]) {
    w.rt().block_on(async {
        let r = IPoolManager::new(w.dep.addr("pool_manager"), w.wallet_provider(ANVIL_KEY0))
            .approveReshare(root_of(bundle), ids.to_vec())
            .send()
            .await
            .unwrap()
            .get_receipt()
            .await
            .unwrap();
        assert!(r.status());
    });
}

fn pubkeys(bundle: &Path) -> Vec<String> {
    let dd: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(bundle.join("deposit_data.json")).unwrap())
            .unwrap();
    dd.as_array()
        .unwrap()
        .iter()
        .map(|d| format!("0x{}", d["pubkey"].as_str().unwrap()))
        .collect()
}

fn logs<E: SolEvent>(w: &World) -> Vec<E> {
    w.rt().block_on(async {
        w.provider()
            .get_logs(
                &Filter::new()
                    .address(w.dep.addr("ssv_network"))
                    .event_signature(E::SIGNATURE_HASH)
                    .from_block(0),
            )
            .await
            .unwrap()
            .iter()
            .map(|l| E::decode_log_data(l.data()).unwrap())
            .collect()
    })
}

fn count(w: &World, ids: &[u64]) -> u32 {
    w.cluster_snapshot(ids).validatorCount
}

fn refused(o: &std::process::Output) -> String {
    assert_eq!(o.status.code(), Some(5), "{o:?}");
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn three_of_five_validators_move_to_four_new_operators_and_refusals_send_nothing() {
    let w = World::new(
        5,
        "[maintenance]\nmin_runway_days = 5\ntarget_runway_days = 10\n",
    );
    w.approve(&w.bundle);
    ok(&w.agent(&["import", w.bundle.to_str().unwrap()], &[]));
    w.user_deposit(160);
    ok(&w.agent(&["run", "--once"], &[]));
    assert_eq!(w.deposited_validators(), 5);
    // A second batch of the same master, never staked.
    let b2 = w.ceremony_bundle("b2", 1, 5, 5);
    let old_ids: Vec<u64> = w.ops.iter().map(|o| o.0).collect();
    let keys = pubkeys(&w.bundle);

    // Four operators the pool never used.
    let new_keys = fixture::operator_keys(8).split_off(4);
    let new_ids = register_operators(&w.anvil, w.dep.addr("ssv_network"), &new_keys);
    assert!(new_ids.iter().all(|i| !old_ids.contains(i)));
    let new_ops = w.dir.path().join("new-operators.json");
    let list = new_ids
        .iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(",");
    ok(&w.agent(
        &[
            "operators",
            "export",
            "--ids",
            &list,
            "--out",
            new_ops.to_str().unwrap(),
        ],
        &[],
    ));
    let moving = vec![keys[0].clone(), keys[2].clone(), keys[4].clone()];
    let r1 = reshare(&w, "r1", &w.bundle, &moving, &new_ops, 5);

    // Not approved yet: refused, nothing imported or sent.
    let err = refused(&w.agent(&["import", r1.to_str().unwrap()], &[]));
    assert!(err.contains("not approved"), "{err}");
    ok(&w.agent(&["run", "--once"], &[]));
    assert!(logs::<ISSVNetwork::ValidatorRemoved>(&w).is_empty());
    approve_reshare(&w, &r1, &new_ids);
    let out = ok(&w.agent(&["import", r1.to_str().unwrap()], &[]));
    assert!(out.contains("imported 3 validators"), "{out}");

    // Killed after the broadcast; the restart settles it: one migration.
    let o = w.agent(
        &["run", "--once"],
        &[("SIGNER_AGENT_CRASH_AT", "maint-after-send")],
    );
    assert_eq!(o.status.code(), Some(86), "{o:?}");
    ok(&w.agent(&["run", "--once"], &[]));
    ok(&w.agent(&["run", "--once"], &[]));
    let removed = logs::<ISSVNetwork::ValidatorRemoved>(&w);
    let added: Vec<ISSVNetwork::ValidatorAdded> = logs::<ISSVNetwork::ValidatorAdded>(&w)
        .into_iter()
        .filter(|e| e.operatorIds == new_ids)
        .collect();
    assert_eq!(removed.len(), 3);
    assert_eq!(added.len(), 3);
    let ks: serde_json::Value =
        serde_json::from_slice(&std::fs::read(r1.join("keyshares.json")).unwrap()).unwrap();
    for (i, pk) in moving.iter().enumerate() {
        assert_eq!(removed[i].operatorIds, old_ids);
        assert_eq!(format!("0x{}", hex::encode(&removed[i].publicKey)), *pk);
        assert_eq!(format!("0x{}", hex::encode(&added[i].publicKey)), *pk);
        assert_eq!(
            format!("0x{}", hex::encode(&added[i].shares)),
            ks["shares"][i]["payload"]["sharesData"].as_str().unwrap(),
            "exactly the new sharesData"
        );
    }
    assert_eq!(count(&w, &old_ids), 2);
    assert_eq!(count(&w, &new_ids), 3);
    let st: serde_json::Value =
        serde_json::from_str(&ok(&w.agent(&["status", "--json"], &[]))).unwrap();
    let txs: Vec<&serde_json::Value> = st["maintenance"]["transactions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["action"] == "reshare" && t["state"] == "confirmed")
        .collect();
    assert_eq!(txs.len(), 1, "{st}");
    let receipt = w.rt().block_on(async {
        w.provider()
            .get_transaction_receipt(txs[0]["hash"].as_str().unwrap().parse().unwrap())
            .await
            .unwrap()
            .unwrap()
    });
    eprintln!(
        "gas: reshareValidators, 3 validators 4 → 4 operators: {}",
        receipt.gas_used
    );

    // A validator the pool never staked (b2's), and an owner nonce already used: refused at
    // import (the roots are approved), nothing sent.
    let r2 = reshare(&w, "r2", &b2, &pubkeys(&b2), &new_ops, 8);
    approve_reshare(&w, &r2, &new_ids);
    let err = refused(&w.agent(&["import", r2.to_str().unwrap()], &[]));
    assert!(err.contains("never staked"), "{err}");
    let r3 = reshare(&w, "r3", &w.bundle, &keys[1..2], &new_ops, 6);
    approve_reshare(&w, &r3, &new_ids);
    let err = refused(&w.agent(&["import", r3.to_str().unwrap()], &[]));
    assert!(err.contains("already used"), "{err}");
    ok(&w.agent(&["run", "--once"], &[]));
    assert_eq!(logs::<ISSVNetwork::ValidatorRemoved>(&w).len(), 3);
    assert_eq!(count(&w, &new_ids), 3);

    // A new operator removed after the reshare ceremony: its shares would be lost with it, so
    // nothing is sent (the reshare waits), and nothing moves.
    let r4 = reshare(&w, "r4", &w.bundle, &keys[3..4], &new_ops, 8);
    approve_reshare(&w, &r4, &new_ids);
    ok(&w.agent(&["import", r4.to_str().unwrap()], &[]));
    w.rt().block_on(async {
        let r = crate::common::IRegister::new(
            w.dep.addr("ssv_network"),
            w.wallet_provider(crate::common::OPERATOR_OWNER_KEY),
        )
        .removeOperator(new_ids[0])
        .send()
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();
        assert!(r.status());
    });
    let o = w.agent(&["run", "--once"], &[]);
    ok(&o);
    assert!(
        String::from_utf8_lossy(&o.stderr)
            .contains("an operator of the reshare's new cluster cannot take the shares"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(logs::<ISSVNetwork::ValidatorRemoved>(&w).len(), 3);
    let st: serde_json::Value =
        serde_json::from_str(&ok(&w.agent(&["status", "--json"], &[]))).unwrap();
    let pending: Vec<&serde_json::Value> = st["maintenance"]["reshares"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["state"] == "imported")
        .collect();
    assert_eq!(pending.len(), 1, "{st}");
}
