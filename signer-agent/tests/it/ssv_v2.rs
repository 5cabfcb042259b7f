//! The agent on the SSV network v2.0.0 stand-in: ETH for cluster fees computed from the views
//! and capped by the policy, the network checked from the contract, and a pool with a legacy
//! SSV-paid cluster (made on the stand-in's legacy mode) that governance migrates before the
//! agent stakes into it.

use alloy::network::TransactionBuilder;
use alloy::primitives::{Address, Bytes, U256};
use alloy::providers::Provider;
use alloy::rpc::types::TransactionRequest;
use signer_agent::chain::{Cluster, IPoolManager, ISSVNetwork};

use crate::common::ANVIL_KEY0;
use crate::e2e::{ok, World};

alloy::sol! {
    struct LegacyCluster {
        uint32 validatorCount;
        uint64 networkFeeIndex;
        uint64 index;
        bool active;
        uint256 balance;
    }
    #[sol(rpc)]
    interface IDevnetSSV {
        function registerValidator(bytes publicKey, uint64[] operatorIds, bytes sharesData, uint256 amount, LegacyCluster cluster) external;
        function upgradeToV2() external;
        function commitRoot(bytes32 merkleRoot, uint64 blockNum) external;
        function updateClusterBalance(uint64 blockNum, address clusterOwner, uint64[] operatorIds, LegacyCluster cluster, uint32 effectiveBalance, bytes32[] merkleProof) external;
    }
    #[sol(rpc)]
    interface IToken {
        function approve(address spender, uint256 amount) external returns (bool);
        function balanceOf(address who) external view returns (uint256);
    }
}

const ETH: u128 = 1_000_000_000_000_000_000;

/// The ETH for fees the agent must send for `k` more validators into the pool's cluster, computed
/// here from the views independently of the agent: (threshold + margin, the agent adding 64 blocks for inclusion) × Σ fees × EB / 32 ETH,
/// at least the minimum collateral, less the cluster's balance (fees in 1e5 wei units).
fn expected_fee(
    w: &World,
    ids: &[u64],
    cluster: &Cluster,
    eb_now: u64,
    k: u64,
    margin: u64,
) -> U256 {
    w.rt().block_on(async {
        let s = ISSVNetwork::new(w.dep.addr("ssv_network"), w.provider());
        let mut rate = s.getNetworkFee().call().await.unwrap();
        for id in ids {
            rate += s.getOperatorFee(*id).call().await.unwrap();
        }
        let blocks = s.getLiquidationThresholdPeriod().call().await.unwrap() + margin;
        let eb = eb_now + 32 * k;
        let need = U256::from(blocks) * rate * U256::from(eb) / U256::from(32u64);
        let need = need.max(s.getMinimumLiquidationCollateral().call().await.unwrap());
        let have = if cluster.validatorCount == 0 {
            U256::ZERO
        } else {
            s.getBalance(w.dep.addr("pool_manager"), ids.to_vec(), cluster.clone())
                .call()
                .await
                .unwrap()
        };
        need.saturating_sub(have)
    })
}

fn pool_cluster(w: &World, ids: &[u64]) -> Cluster {
    w.rt()
        .block_on(signer_agent::ssv::cluster_snapshot(
            &w.provider(),
            w.dep.addr("ssv_network"),
            w.dep.addr("pool_manager"),
            ids,
        ))
        .unwrap()
}

fn ids(w: &World) -> Vec<u64> {
    w.ops.iter().map(|o| o.0).collect()
}

fn cluster_ether(w: &World) -> U256 {
    w.rt().block_on(async {
        IPoolManager::new(w.dep.addr("pool_manager"), w.provider())
            .clusterEther()
            .call()
            .await
            .unwrap()
    })
}

#[test]
fn plan_shows_eth_for_fees_and_the_stake_funds_the_cluster_in_eth() {
    let w = World::new(4, "fee_margin_blocks = 7200");
    w.approve(&w.bundle);
    ok(&w.agent(&["import", w.bundle.to_str().unwrap()], &[]));
    w.user_deposit(129);
    let ids = ids(&w);
    let fee = expected_fee(&w, &ids, &pool_cluster(&w, &ids), 0, 4, 7200 + 64);
    assert!(
        fee > U256::from(940_000_000_000_000u64),
        "EB-weighted above the collateral: {fee}"
    );
    let plan = ok(&w.agent(&["plan"], &[]));
    assert!(plan.contains("would stake 4 validators"), "{plan}");
    assert!(
        plan.contains(&format!("ETH for fees:     {fee} wei")) && plan.contains("v2.0.0"),
        "{plan}"
    );
    assert!(
        plan.contains("deposits:         128000000000000000000 wei"),
        "{plan}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&ok(&w.agent(&["plan", "--json"], &[]))).unwrap();
    assert_eq!(json["cluster_fee_wei"], fee.to_string(), "{json}");
    ok(&w.agent(&["run", "--once"], &[]));
    assert_eq!(w.deposited_validators(), 4);
    let c = pool_cluster(&w, &ids);
    assert_eq!(c.validatorCount, 4);
    assert_eq!(c.balance, fee);
    assert_eq!(cluster_ether(&w), fee);
    let liquidatable = w.rt().block_on(async {
        ISSVNetwork::new(w.dep.addr("ssv_network"), w.provider())
            .isLiquidatable(w.dep.addr("pool_manager"), ids.clone(), c.clone())
            .call()
            .await
            .unwrap()
    });
    assert!(!liquidatable);
    // The cluster's runway in ETH
    let st: serde_json::Value =
        serde_json::from_str(&ok(&w.agent(&["clusters", "status", "--json"], &[]))).unwrap();
    let cl = &st["clusters"][0];
    assert_eq!(cl["kind"], "eth", "{st}");
    assert_eq!(cl["validators"], 4);
    assert_eq!(cl["effective_balance_eth"], 128);
    let runway = cl["runway_blocks"].as_u64().unwrap();
    // funded for the threshold + margin: the runway is that, less the blocks since
    assert!(runway > 50_190 && runway <= 50_190 + 7200 + 64, "{st}");
}

#[test]
fn the_policy_caps_eth_for_fees_per_transaction_and_per_day() {
    // Per transaction: 0.0001 ETH, below the 0.00094 ETH minimum collateral of a new cluster.
    let w = World::new(
        2,
        "max_validators_per_tx = 1\nfee_margin_blocks = 0\n[policy]\nmax_ssv_fee_per_tx_gwei = 100000\n",
    );
    w.approve(&w.bundle);
    ok(&w.agent(&["import", w.bundle.to_str().unwrap()], &[]));
    w.user_deposit(70);
    let o = w.agent(&["run", "--once"], &[]);
    assert_eq!(o.status.code(), Some(5), "{o:?}");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("ssv fees above the policy"), "{err}");
    assert_eq!(w.deposited_validators(), 0);
    assert_eq!(cluster_ether(&w), U256::ZERO);

    // Per day: enough for the first validator (0.00094 ETH), not for the second's fee.
    std::fs::write(
        &w.config,
        std::fs::read_to_string(&w.config).unwrap().replace(
            "max_ssv_fee_per_tx_gwei = 100000",
            "max_ssv_fee_per_tx_gwei = 10000000\nmax_ssv_fee_per_day_gwei = 1000000",
        ),
    )
    .unwrap();
    ok(&w.agent(&["run", "--once"], &[]));
    assert_eq!(w.deposited_validators(), 1);
    assert_eq!(cluster_ether(&w), U256::from(940_000_000_000_000u64));
    // The second validator's fee would pass 0.001 ETH today: the planner waits, nothing sent.
    let plan = ok(&w.agent(&["plan"], &[]));
    assert!(plan.contains("daily SSV fee cap reached"), "{plan}");
    ok(&w.agent(&["run", "--once"], &[]));
    assert_eq!(w.deposited_validators(), 1);
}

#[test]
fn a_v1_network_is_refused_then_a_legacy_cluster_is_migrated_and_staked_into() {
    let w = World::legacy(1, "");
    let ids = ids(&w);
    let pm = w.dep.addr("pool_manager");
    let ssv = w.dep.addr("ssv_network");
    // Before the upgrade the network is v1: the agent says so and sends nothing.
    let o = w.agent(&["clusters", "status"], &[]);
    assert_eq!(o.status.code(), Some(4), "{o:?}");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("is not v2 (ETH-paid clusters)") && err.contains("v1.2.0"),
        "{err}"
    );

    // The pool's legacy cluster: two validators it registered with SSV before the upgrade (as
    // the PoolManager, impersonated; its ETH balance is restored so the books are untouched).
    w.rt().block_on(async {
        let p = w.provider();
        let before = p.get_balance(pm).await.unwrap();
        let _: () = p
            .raw_request("anvil_impersonateAccount".into(), (pm,))
            .await
            .unwrap();
        let _: () = p
            .raw_request("anvil_setBalance".into(), (pm, before + U256::from(ETH)))
            .await
            .unwrap();
        let token = IToken::new(w.dep.addr("ssv_token"), p.clone());
        let tx = TransactionRequest::default()
            .with_from(pm)
            .with_to(w.dep.addr("ssv_token"))
            .with_input(alloy::sol_types::SolCall::abi_encode(
                &IToken::approveCall {
                    spender: ssv,
                    amount: U256::MAX,
                },
            ));
        p.send_transaction(tx)
            .await
            .unwrap()
            .get_receipt()
            .await
            .unwrap();
        let mut cluster = signer_agent::ssv::new_cluster();
        for i in 0u8..2 {
            let call = IDevnetSSV::registerValidatorCall {
                publicKey: Bytes::from(vec![0xA0 + i; 48]),
                operatorIds: ids.clone(),
                sharesData: Bytes::new(),
                amount: U256::from(50u128 * ETH),
                cluster: LegacyCluster {
                    validatorCount: cluster.validatorCount,
                    networkFeeIndex: cluster.networkFeeIndex,
                    index: cluster.index,
                    active: cluster.active,
                    balance: cluster.balance,
                },
            };
            let tx = TransactionRequest::default()
                .with_from(pm)
                .with_to(ssv)
                .with_input(alloy::sol_types::SolCall::abi_encode(&call));
            let r = p
                .send_transaction(tx)
                .await
                .unwrap()
                .get_receipt()
                .await
                .unwrap();
            assert!(r.status());
            cluster = signer_agent::ssv::cluster_snapshot(&p, ssv, pm, &ids)
                .await
                .unwrap();
        }
        assert_eq!(cluster.validatorCount, 2);
        let _: () = p
            .raw_request("anvil_stopImpersonatingAccount".into(), (pm,))
            .await
            .unwrap();
        let _: () = p
            .raw_request("anvil_setBalance".into(), (pm, before))
            .await
            .unwrap();
        assert_eq!(
            token.balanceOf(ssv).call().await.unwrap(),
            U256::from(100u128 * ETH)
        );
        // The DAO upgrades the network to v2.
        let gov = w.wallet_provider(ANVIL_KEY0);
        IDevnetSSV::new(ssv, gov)
            .upgradeToV2()
            .send()
            .await
            .unwrap()
            .get_receipt()
            .await
            .unwrap();
    });

    // A bundle signed for the next owner nonces (2, 3), approved; the pool has the ETH.
    let bundle = w.ceremony_bundle("after-upgrade", 2, 0, 2);
    w.approve(&bundle);
    ok(&w.agent(&["import", bundle.to_str().unwrap()], &[]));
    w.user_deposit(65);
    // The cluster is legacy: the agent refuses to stake into it and says what to do.
    let st: serde_json::Value =
        serde_json::from_str(&ok(&w.agent(&["clusters", "status", "--json"], &[]))).unwrap();
    assert_eq!(st["clusters"][0]["kind"], "legacy", "{st}");
    let o = w.agent(&["run", "--once"], &[]);
    assert_eq!(o.status.code(), Some(5), "{o:?}");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("is a legacy SSV-paid cluster: governance must migrate it"),
        "{err}"
    );
    assert_eq!(w.deposited_validators(), 0);

    // Governance migrates it with the agent's plan.
    let plan: serde_json::Value =
        serde_json::from_str(&ok(&w.agent(&["clusters", "migration-plan", "--json"], &[])))
            .unwrap();
    let item = &plan["clusters"][0];
    assert_eq!(item["validators"], 2, "{plan}");
    assert_eq!(item["effective_balance_eth"], 64, "{plan}");
    let refund: U256 = item["ssv_balance_wei"].as_str().unwrap().parse().unwrap();
    assert!(
        refund > U256::from(99u128 * ETH) && refund < U256::from(100u128 * ETH),
        "{plan}"
    );
    let calldata: Bytes = plan["calldata"].as_str().unwrap().parse().unwrap();
    let total: U256 = plan["total_eth_wei"].as_str().unwrap().parse().unwrap();
    let ssv_before = w.rt().block_on(async {
        IToken::new(w.dep.addr("ssv_token"), w.provider())
            .balanceOf(pm)
            .call()
            .await
            .unwrap()
    });
    w.rt().block_on(async {
        let gov = w.wallet_provider(ANVIL_KEY0);
        let tx = TransactionRequest::default()
            .with_to(pm)
            .with_input(calldata);
        let r = gov
            .send_transaction(tx)
            .await
            .unwrap()
            .get_receipt()
            .await
            .unwrap();
        assert!(r.status(), "migrateClusters reverted");
    });
    let ssv_after = w.rt().block_on(async {
        IToken::new(w.dep.addr("ssv_token"), w.provider())
            .balanceOf(pm)
            .call()
            .await
            .unwrap()
    });
    // the SSV balance at migration (a few blocks of fees below the plan's figure) comes back
    let got = ssv_after - ssv_before;
    assert!(
        got <= refund && got > refund - U256::from(ETH / 1000),
        "the SSV refund stays with the pool: {got} vs {refund}"
    );
    assert_eq!(cluster_ether(&w), total);
    let st: serde_json::Value =
        serde_json::from_str(&ok(&w.agent(&["clusters", "status", "--json"], &[]))).unwrap();
    assert_eq!(st["clusters"][0]["kind"], "eth", "{st}");

    // Then the agent stakes into the migrated cluster, in ETH.
    ok(&w.agent(&["run", "--once"], &[]));
    assert_eq!(w.deposited_validators(), 2);
    let c = pool_cluster(&w, &ids);
    assert_eq!(c.validatorCount, 4);
    assert_eq!(w.validator_added().len(), 4);
    let _ = Address::ZERO;
}

/// 0x02 (compounding) validators: once the network's oracles report a cluster's effective balance
/// above 32 ETH per validator, the fees — and so the ETH the agent sends with the next
/// registration — follow that effective balance, plus 32 ETH per new validator.
#[test]
fn the_fee_follows_the_effective_balance_the_network_charges() {
    // Funded for twice the threshold, so that doubling the effective balance does not make the
    // network liquidate it (it would, at the next EB update, below the threshold).
    let w = World::new(2, "fee_margin_blocks = 60000");
    w.approve(&w.bundle);
    ok(&w.agent(&["import", w.bundle.to_str().unwrap()], &[]));
    w.user_deposit(32); // one validator now, the second later
    ok(&w.agent(&["run", "--once"], &[]));
    assert_eq!(w.deposited_validators(), 1);
    let ids = ids(&w);
    let pm = w.dep.addr("pool_manager");
    let ssv = w.dep.addr("ssv_network");
    // The devnet oracle (the DAO owner) reports 64 ETH for the pool's one-validator cluster.
    w.rt().block_on(async {
        let p = w.provider();
        let c = signer_agent::ssv::cluster_snapshot(&p, ssv, pm, &ids)
            .await
            .unwrap();
        let id = alloy::primitives::keccak256(
            [
                pm.as_slice(),
                &ids.iter()
                    .flat_map(|i| {
                        let mut b = [0u8; 32];
                        b[24..].copy_from_slice(&i.to_be_bytes());
                        b
                    })
                    .collect::<Vec<u8>>(),
            ]
            .concat(),
        );
        let leaf = alloy::primitives::keccak256(alloy::primitives::keccak256(
            alloy::sol_types::SolValue::abi_encode(&(id, 64u32)),
        ));
        let block = p.get_block_number().await.unwrap();
        let dao = IDevnetSSV::new(ssv, w.wallet_provider(ANVIL_KEY0));
        dao.commitRoot(leaf, block)
            .send()
            .await
            .unwrap()
            .get_receipt()
            .await
            .unwrap();
        let r = dao
            .updateClusterBalance(
                block,
                pm,
                ids.clone(),
                LegacyCluster {
                    validatorCount: c.validatorCount,
                    networkFeeIndex: c.networkFeeIndex,
                    index: c.index,
                    active: c.active,
                    balance: c.balance,
                },
                64,
                vec![],
            )
            .send()
            .await
            .unwrap()
            .get_receipt()
            .await
            .unwrap();
        assert!(r.status(), "updateClusterBalance reverted");
    });
    let c = pool_cluster(&w, &ids);
    let eb = w.rt().block_on(async {
        ISSVNetwork::new(ssv, w.provider())
            .getEffectiveBalance(pm, ids.clone(), c.clone())
            .call()
            .await
            .unwrap()
    });
    assert_eq!(eb, 64);
    w.user_deposit(32);
    let json: serde_json::Value =
        serde_json::from_str(&ok(&w.agent(&["plan", "--json"], &[]))).unwrap();
    let fee: U256 = json["cluster_fee_wei"].as_str().unwrap().parse().unwrap();
    // the plan and the views below read the same block
    let want = expected_fee(&w, &ids, &c, 64, 1, 60_064);
    let flat = expected_fee(&w, &ids, &c, 32, 1, 60_064);
    assert!(
        fee >= want && fee < want + U256::from(100_000_000_000u64),
        "{fee} vs {want}"
    );
    assert!(
        fee > flat,
        "the reported effective balance counts: {fee} vs {flat}"
    );
    ok(&w.agent(&["run", "--once"], &[]));
    assert_eq!(w.deposited_validators(), 2);
    let st: serde_json::Value =
        serde_json::from_str(&ok(&w.agent(&["clusters", "status", "--json"], &[]))).unwrap();
    assert_eq!(st["clusters"][0]["effective_balance_eth"], 96, "{st}");
}
