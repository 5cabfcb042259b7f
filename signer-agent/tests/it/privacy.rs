//! Before planning, each operator of the batch's cluster must exist, not be
//! removed, and — if private — have whitelisted the PoolManager (the cluster owner). A private
//! operator that has not stops the cluster with that reason, as a typed error
//! (`ClusterStopped { problem: NotWhitelisted }`), and nothing is sent; once the operator's
//! owner calls `setOperatorsWhitelists([id], [PoolManager])` the validators are staked.

use signer_agent::ssv::OperatorProblem;
use signer_agent::store::Store;
use signer_agent::Error;

use crate::common::OPERATOR_OWNER_KEY;
use crate::e2e::{assert_chain_matches_bundle, ok, World};

alloy::sol! {
    #[sol(rpc)]
    interface IOperatorPrivacy {
        function setOperatorsPrivateUnchecked(uint64[] calldata operatorIds) external;
        function setOperatorsWhitelists(uint64[] calldata operatorIds, address[] calldata whitelistAddresses) external;
    }
}

/// Sends `input` to the SSV network from the operators' owner (anvil account 2).
fn owner_sends(w: &World, input: Vec<u8>) {
    use alloy::network::TransactionBuilder;
    use alloy::providers::Provider;
    w.rt().block_on(async {
        let p = w.wallet_provider(OPERATOR_OWNER_KEY);
        let tx = alloy::rpc::types::TransactionRequest::default()
            .with_to(w.dep.addr("ssv_network"))
            .with_input(input);
        let r = p
            .send_transaction(tx)
            .await
            .unwrap()
            .get_receipt()
            .await
            .unwrap();
        assert!(r.status());
    });
}

fn stop_reason(w: &World) -> Error {
    let cfg = w.cfg();
    let store = Store::open_location(&cfg.state_location().unwrap()).unwrap();
    w.rt()
        .block_on(signer_agent::stake::prepare(
            &w.events(),
            &cfg,
            &store,
            Some(w.agent),
        ))
        .unwrap_err()
}

#[test]
fn a_private_operator_stops_its_cluster_until_it_whitelists_the_pool_manager() {
    use alloy::sol_types::SolCall;
    let w = World::new(2, "");
    w.approve(&w.bundle);
    ok(&w.agent(&["import", w.bundle.to_str().unwrap()], &[]));
    w.user_deposit(64);
    let ids: Vec<u64> = w.ops.iter().map(|o| o.0).collect();
    let private = ids[2];
    let pool = w.dep.addr("pool_manager");
    owner_sends(
        &w,
        IOperatorPrivacy::setOperatorsPrivateUncheckedCall {
            operatorIds: vec![private],
        }
        .abi_encode(),
    );

    // The planner stops the cluster, naming the operator and why (a type, not a message).
    match stop_reason(&w) {
        Error::ClusterStopped {
            operator_ids,
            operator_id,
            problem: OperatorProblem::NotWhitelisted { id, pool: p },
        } => {
            assert_eq!(operator_ids, ids);
            assert_eq!((operator_id, id, p), (private, private, pool));
        }
        other => panic!("expected ClusterStopped(NotWhitelisted), got {other:?}"),
    }
    let o = w.agent(&["run", "--once"], &[]);
    assert_eq!(
        o.status.code(),
        Some(5),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(&format!("operator {private} of cluster"))
            && err.contains("is private and has not whitelisted the PoolManager")
            && err.contains("staking for this cluster stops"),
        "{err}"
    );
    assert!(w.deposit_events().is_empty(), "nothing was sent");

    // Whitelisting someone else does not help.
    owner_sends(
        &w,
        IOperatorPrivacy::setOperatorsWhitelistsCall {
            operatorIds: vec![private],
            whitelistAddresses: vec![w.user()],
        }
        .abi_encode(),
    );
    assert!(matches!(
        stop_reason(&w),
        Error::ClusterStopped {
            problem: OperatorProblem::NotWhitelisted { .. },
            ..
        }
    ));

    // The operator whitelists the PoolManager: the validators are staked.
    owner_sends(
        &w,
        IOperatorPrivacy::setOperatorsWhitelistsCall {
            operatorIds: vec![private],
            whitelistAddresses: vec![pool],
        }
        .abi_encode(),
    );
    ok(&w.agent(&["run", "--once"], &[]));
    assert_chain_matches_bundle(&w, &w.bundle, 2);
}
