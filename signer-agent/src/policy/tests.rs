//! Unit tests of the policy, with a counting software key and a temporary state store.

use std::collections::BTreeMap;
use std::sync::Arc;

use alloy::network::TxSigner;
use alloy::primitives::{TxKind, U256};
use alloy::sol_types::SolCall;

use super::*;
use crate::bundle::{BundleValidator, VerifiedBundle};
use crate::signer::{HsmSigner, PrehashBackend};
use alloy::consensus::TxEip1559;
use alloy::primitives::{address, Bytes};
use std::sync::atomic::{AtomicUsize, Ordering};

/// A software key that counts how often it was asked to sign.
struct Counting {
    key: k256::ecdsa::SigningKey,
    signs: Arc<AtomicUsize>,
}

impl PrehashBackend for Counting {
    fn describe(&self) -> String {
        "test/counting".into()
    }
    fn public_key(&self) -> Result<k256::ecdsa::VerifyingKey> {
        Ok(*self.key.verifying_key())
    }
    fn sign_prehash(&self, digest: &[u8; 32]) -> Result<[u8; 64]> {
        use k256::ecdsa::signature::hazmat::PrehashSigner;
        self.signs.fetch_add(1, Ordering::SeqCst);
        let s: k256::ecdsa::Signature = self.key.sign_prehash(digest).unwrap();
        Ok(s.to_bytes().into())
    }
}

const POOL: Address = address!("0x1000000000000000000000000000000000000001");
const ORACLE: Address = address!("0x2000000000000000000000000000000000000002");
const OTHER: Address = address!("0x3000000000000000000000000000000000000003");
const ROOT: [u8; 32] = [9; 32];
const FOREIGN_ROOT: [u8; 32] = [8; 32];

fn bundle(root: [u8; 32], withdrawal: Address, first: u8, n: u8) -> VerifiedBundle {
    VerifiedBundle {
        dir: "/b".into(),
        ceremony_id: "c".into(),
        network: "custom".into(),
        fork_version: "00000000".into(),
        merkle_root: root,
        operator_ids: vec![1, 2, 3, 4],
        withdrawal_type: 1,
        withdrawal_address: withdrawal.to_checksum(None),
        owner_address: withdrawal.to_checksum(None),
        identity: vec![4; 65],
        operators: vec![(1, "aa".into())],
        validators: (first..first + n)
            .map(|i| BundleValidator {
                index: i as u32,
                position: (i - first) as usize,
                pubkey: vec![i; 48],
                signature: vec![0; 96],
                deposit_data_root: [0; 32],
                shares_data: vec![1, 2],
                owner_nonce: i as u64,
                leaf: [i; 32],
                proof: vec![],
            })
            .collect(),
    }
}

fn policy() -> Policy {
    let mut p = Policy {
        chain_id: 31337,
        targets: BTreeMap::new(),
        names: BTreeMap::new(),
        max_value_wei: U256::ZERO,
        max_value_per_day_wei: U256::ZERO,
        max_fee_per_gas_wei: 100_000_000_000,
        max_priority_fee_per_gas_wei: 3_000_000_000,
        max_validators_per_day: 4,
        max_ssv_fee_per_tx_wei: U256::from(10u64),
        max_ssv_fee_per_day_wei: U256::from(15u64),
        pool_manager: Some(POOL),
        deposit_contract: None,
        simulate: false,
        maintenance: Default::default(),
    };
    p.allow(POOL, IPoolManager::stakeCall::SELECTOR, "PoolManager.stake");
    p.allow(
        ORACLE,
        crate::chain::IOracle::submitReportCall::SELECTOR,
        "Oracle.submitReport",
    );
    p
}

/// A fresh state store with two imported bundles: ROOT (validators 0..6, withdrawing to
/// the PoolManager) and FOREIGN_ROOT (validators 50..52, withdrawing elsewhere).
fn state() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let mut st = crate::store::testing::open(dir.path());
    st.import(&bundle(ROOT, POOL, 0, 6)).unwrap();
    st.import(&bundle(FOREIGN_ROOT, OTHER, 50, 2)).unwrap();
    dir
}

fn signer_over(dir: &std::path::Path, p: Policy) -> (PolicySigner<HsmSigner>, Arc<AtomicUsize>) {
    let signs = Arc::new(AtomicUsize::new(0));
    let backend = Counting {
        key: k256::ecdsa::SigningKey::from_slice(&[7; 32]).unwrap(),
        signs: signs.clone(),
    };
    let signer = HsmSigner::open(Arc::new(backend)).unwrap();
    signs.store(0, Ordering::SeqCst); // the self-check signed once
    (
        PolicySigner::new(signer, p).with_store(crate::store::testing::open(dir)),
        signs,
    )
}

fn setup() -> (PolicySigner<HsmSigner>, Arc<AtomicUsize>, tempfile::TempDir) {
    let dir = state();
    let (s, n) = signer_over(dir.path(), policy());
    (s, n, dir)
}

fn stake_input(root: [u8; 32], pubkeys: &[u8]) -> Bytes {
    IPoolManager::stakeCall {
        batchRoot: root.into(),
        operatorIds: vec![1, 2, 3, 4],
        validators: pubkeys
            .iter()
            .map(|i| IPoolManager::ValidatorData {
                pubkey: vec![*i; 48].into(),
                signature: vec![0; 96].into(),
                depositDataRoot: Default::default(),
                sharesData: vec![1, 2].into(),
                proof: vec![],
            })
            .collect(),
        expectedDepositRoot: Default::default(),
        clusterFee: U256::ZERO,
        cluster: Default::default(),
    }
    .abi_encode()
    .into()
}

fn tx() -> TxEip1559 {
    TxEip1559 {
        chain_id: 31337,
        nonce: 0,
        gas_limit: 1_000_000,
        max_fee_per_gas: 2_000_000_000,
        max_priority_fee_per_gas: 1_000_000_000,
        to: TxKind::Call(POOL),
        value: U256::ZERO,
        access_list: Default::default(),
        input: stake_input(ROOT, &[0]),
    }
}

fn report_tx() -> TxEip1559 {
    let mut t = tx();
    t.to = TxKind::Call(ORACLE);
    let mut input = crate::chain::IOracle::submitReportCall::SELECTOR.to_vec();
    input.extend([0u8; 128]);
    t.input = input.into();
    t
}

fn sign(s: &PolicySigner<HsmSigner>, mut t: TxEip1559) -> std::result::Result<(), String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(s.sign_transaction(&mut t))
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// Each rule: refused with its name, the key not asked, the counter moved.
fn refused_by(s: &PolicySigner<HsmSigner>, signs: &AtomicUsize, t: TxEip1559, rule: &str) {
    let before = s.refusals().lock().unwrap().get(rule).copied().unwrap_or(0);
    let asked = signs.load(Ordering::SeqCst);
    let e = sign(s, t).unwrap_err();
    assert!(e.contains(&format!("policy refused ({rule})")), "{e}");
    assert_eq!(
        signs.load(Ordering::SeqCst),
        asked,
        "the key was asked to sign"
    );
    assert_eq!(
        s.refusals().lock().unwrap().get(rule),
        Some(&(before + 1)),
        "{rule}"
    );
}

fn refused(t: TxEip1559, rule: &str) {
    let (s, signs, _dir) = setup();
    refused_by(&s, &signs, t, rule);
}

#[test]
fn allowed_transactions_are_signed_and_recorded() {
    let (s, signs, dir) = setup();
    sign(&s, tx()).unwrap();
    sign(&s, report_tx()).unwrap();
    assert_eq!(signs.load(Ordering::SeqCst), 2);
    assert!(s.refusals().lock().unwrap().is_empty());
    let st = crate::store::testing::open(dir.path());
    assert_eq!(st.signed_on(&today()).unwrap(), (U256::ZERO, 1));
}

#[test]
fn the_signer_error_carries_the_refusal_as_a_type() {
    let (s, signs, _dir) = setup();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    for (mut t, rule) in [
        (
            TxEip1559 {
                chain_id: 1,
                ..tx()
            },
            Rule::ChainId,
        ),
        (
            TxEip1559 {
                input: stake_input(ROOT, &[0, 77]),
                ..tx()
            },
            Rule::UnknownValidator,
        ),
    ] {
        let e = rt.block_on(s.sign_transaction(&mut t)).unwrap_err();
        match crate::refusal::Refusal::from_signer(&e) {
            Some(crate::refusal::Refusal::Policy(p)) => assert_eq!(p.rule, rule),
            other => panic!("expected a policy refusal under {rule}, got {other:?}"),
        }
    }
    assert_eq!(signs.load(Ordering::SeqCst), 0);
}

#[test]
fn wrong_chain_is_refused() {
    let mut t = tx();
    t.chain_id = 1;
    refused(t, "chain_id");
}

#[test]
fn unlisted_target_is_refused() {
    let mut t = tx();
    t.to = TxKind::Call(OTHER);
    refused(t, "target");
}

#[test]
fn unlisted_selector_is_refused() {
    let mut t = tx();
    // PoolManager.redeem would move the pool's ETH: not on the list.
    t.input = selector_of("redeem(uint256,address)").to_vec().into();
    refused(t, "selector");
    let mut t = tx();
    t.input = vec![0xa9].into();
    refused(t, "selector");
}

#[test]
fn eth_transfer_is_refused() {
    let mut t = tx();
    t.to = TxKind::Call(OTHER);
    t.input = Bytes::new();
    t.value = U256::from(10u64.pow(18));
    refused(t, "eth_transfer");
}

#[test]
fn contract_creation_is_refused() {
    let mut t = tx();
    t.to = TxKind::Create;
    refused(t, "contract_creation");
}

#[test]
fn value_above_the_cap_is_refused() {
    let mut t = tx();
    t.value = U256::from(1u64);
    refused(t, "value_cap");
}

#[test]
fn fees_above_the_caps_are_refused() {
    let mut t = tx();
    t.max_fee_per_gas = 100_000_000_001;
    refused(t, "fee_cap");
    let mut t = tx();
    t.max_priority_fee_per_gas = 3_000_000_001;
    refused(t, "priority_fee_cap");
}

#[test]
fn value_over_the_day_is_refused_even_after_a_restart() {
    let dir = state();
    let mut p = policy();
    p.max_value_wei = U256::from(10u64.pow(18));
    p.max_value_per_day_wei = U256::from(15 * 10u64.pow(17));
    let mut t = report_tx();
    t.value = U256::from(10u64.pow(18));
    let (s, signs) = signer_over(dir.path(), p.clone());
    sign(&s, t.clone()).unwrap();
    // A replacement of it (same nonce) replaces its value, it does not add to it.
    t.max_fee_per_gas += t.max_fee_per_gas / 5;
    sign(&s, t.clone()).unwrap();
    // The next nonce adds to it.
    t.nonce = 1;
    refused_by(&s, &signs, t.clone(), "value_day_cap");
    // A restart reads the day's total from the ledger.
    drop(s);
    let (s, signs) = signer_over(dir.path(), p);
    refused_by(&s, &signs, t, "value_day_cap");
    assert_eq!(signs.load(Ordering::SeqCst), 0);
}

#[test]
fn validators_over_the_day_are_refused_even_after_a_restart() {
    let dir = state();
    let (s, signs) = signer_over(dir.path(), policy());
    let mut t = tx();
    t.input = stake_input(ROOT, &[0, 1, 2]);
    sign(&s, t.clone()).unwrap();
    // Replacing it (the same nonce, higher fees) counts its validators once.
    t.max_fee_per_gas += t.max_fee_per_gas / 5;
    sign(&s, t).unwrap();
    let mut t = tx();
    t.nonce = 1;
    t.input = stake_input(ROOT, &[3, 4]);
    refused_by(&s, &signs, t.clone(), "validator_cap");
    drop(s);
    let (s, signs) = signer_over(dir.path(), policy());
    refused_by(&s, &signs, t, "validator_cap");
    // One more still fits the cap of 4.
    let mut t = tx();
    t.nonce = 1;
    t.input = stake_input(ROOT, &[3]);
    sign(&s, t).unwrap();
    assert_eq!(signs.load(Ordering::SeqCst), 1);
}

#[test]
fn unknown_validator_is_refused() {
    let mut t = tx();
    t.input = stake_input(ROOT, &[0, 77]);
    refused(t, "unknown_validator");
    // A validator of another bundle, under this bundle's root.
    let mut t = tx();
    t.input = stake_input(ROOT, &[50]);
    refused(t, "unknown_validator");
}

#[test]
fn refused_front_run_validator_is_refused() {
    let (s, signs, dir) = setup();
    let mut st = crate::store::testing::open(dir.path());
    let pk = format!("0x{}", hex::encode([2u8; 48]));
    st.set_status(
        std::slice::from_ref(&pk),
        crate::store::Status::Refused,
        None,
        None,
        Some("front_run: test"),
    )
    .unwrap();
    let mut t = tx();
    t.input = stake_input(ROOT, &[1, 2]);
    refused_by(&s, &signs, t, "front_run");
    // The others still sign.
    let mut t = tx();
    t.input = stake_input(ROOT, &[1]);
    sign(&s, t).unwrap();
    assert_eq!(signs.load(Ordering::SeqCst), 1);
}

#[test]
fn foreign_withdrawal_address_is_refused() {
    let mut t = tx();
    t.input = stake_input(FOREIGN_ROOT, &[50]);
    refused(t.clone(), "withdrawal_address");
    let (s, _, _d) = setup();
    let e = sign(&s, t).unwrap_err();
    assert!(e.contains("foreign withdrawal address"), "{e}");
    // A root the agent never imported.
    let mut t = tx();
    t.input = stake_input([1; 32], &[0]);
    refused(t, "withdrawal_address");
}

#[test]
fn undecodable_stake_is_refused() {
    let mut t = tx();
    let mut input = IPoolManager::stakeCall::SELECTOR.to_vec();
    input.extend([0u8; 64]);
    t.input = input.into();
    refused(t, "stake_calldata");
}

#[test]
fn without_a_node_to_simulate_on_nothing_is_signed() {
    let dir = state();
    let mut p = policy();
    p.simulate = true;
    let (s, signs) = signer_over(dir.path(), p);
    refused_by(&s, &signs, report_tx(), "simulation_unavailable");
}

#[test]
fn describe_lists_every_allowed_function() {
    let (s, _, _d) = setup();
    let d = s.policy().describe();
    assert!(d.contains("PoolManager.stake"), "{d}");
    assert!(d.contains("Oracle.submitReport"), "{d}");
    assert!(d.contains("chain id            31337"), "{d}");
}

// ---- maintenance functions (crate::policy::maintenance) ----

fn maint_policy() -> Policy {
    let mut p = policy();
    p.max_ssv_fee_per_tx_wei = U256::from(10u64.pow(18));
    p.max_ssv_fee_per_day_wei = U256::from(10u64.pow(19));
    p.maintenance.max_topup_per_tx_wei = U256::from(100u64);
    p.maintenance.max_topup_per_day_wei = U256::from(150u64);
    p.maintenance.max_exits_per_day = 2;
    p.maintenance.max_removals_per_day = 2;
    for (name, sel) in crate::policy::maintenance::selectors() {
        p.allow(POOL, sel, name);
    }
    p.allow(
        POOL,
        IPoolManager::depositClusterETHCall::SELECTOR,
        "PoolManager.depositClusterETH",
    );
    p
}

fn call_tx(input: Vec<u8>) -> TxEip1559 {
    let mut t = tx();
    t.input = input.into();
    t
}

/// `t` signed with key nonce `nonce`.
fn at_nonce(mut t: TxEip1559, nonce: u64) -> TxEip1559 {
    t.nonce = nonce;
    t
}

fn top_up(amount: u64) -> TxEip1559 {
    call_tx(
        IPoolManager::depositClusterETHCall {
            operatorIds: vec![1, 2, 3, 4],
            amount: U256::from(amount),
            cluster: Default::default(),
        }
        .abi_encode(),
    )
}

fn exits_of(keys: &[u8]) -> TxEip1559 {
    call_tx(
        IPoolManager::requestValidatorExitsCall {
            pubkeys: keys.iter().map(|k| vec![*k; 48].into()).collect(),
            operatorIds: vec![1, 2, 3, 4],
        }
        .abi_encode(),
    )
}

fn removal_of(keys: &[u8]) -> TxEip1559 {
    call_tx(
        IPoolManager::removeValidatorsCall {
            pubkeys: keys.iter().map(|k| vec![*k; 48].into()).collect(),
            operatorIds: vec![1, 2, 3, 4],
            cluster: Default::default(),
        }
        .abi_encode(),
    )
}

fn confirm(dir: &std::path::Path, keys: &[u8]) {
    let mut st = crate::store::testing::open(dir);
    let pks: Vec<String> = keys
        .iter()
        .map(|k| format!("0x{}", hex::encode([*k; 48])))
        .collect();
    st.set_status(
        &pks,
        crate::store::Status::Confirmed,
        Some("0x1"),
        Some(1),
        None,
    )
    .unwrap();
}

#[test]
fn top_ups_above_the_caps_are_refused_even_after_a_restart() {
    let dir = state();
    let (s, signs) = signer_over(dir.path(), maint_policy());
    refused_by(&s, &signs, at_nonce(top_up(101), 1), "topup_cap");
    sign(&s, at_nonce(top_up(100), 1)).unwrap();
    // A replacement of nonce 1 (higher fees) counts once: it does not add to the day.
    sign(&s, at_nonce(top_up(100), 1)).unwrap();
    refused_by(&s, &signs, at_nonce(top_up(51), 2), "topup_day_cap");
    drop(s);
    let (s, signs) = signer_over(dir.path(), maint_policy());
    refused_by(&s, &signs, at_nonce(top_up(51), 2), "topup_day_cap");
    sign(&s, at_nonce(top_up(50), 2)).unwrap();
    assert_eq!(signs.load(Ordering::SeqCst), 1);
}

#[test]
fn exits_only_of_staked_validators_and_within_the_day() {
    let (s, signs, dir) = setup();
    let s = PolicySigner::new(s.inner.clone(), maint_policy())
        .with_store(crate::store::testing::open(dir.path()));
    // imported but not staked, and never imported
    refused_by(&s, &signs, exits_of(&[0]), "exit_unknown_validator");
    refused_by(&s, &signs, exits_of(&[77]), "exit_unknown_validator");
    confirm(dir.path(), &[0, 1, 2]);
    sign(&s, at_nonce(exits_of(&[0, 1]), 1)).unwrap();
    // Its replacement (the same nonce) counts once.
    sign(&s, at_nonce(exits_of(&[0, 1]), 1)).unwrap();
    refused_by(&s, &signs, at_nonce(exits_of(&[2]), 2), "exit_day_cap");
    assert_eq!(signs.load(Ordering::SeqCst), 2);
}

#[test]
fn removals_only_of_withdrawn_validators() {
    let (s, signs, dir) = setup();
    let s = PolicySigner::new(s.inner.clone(), maint_policy())
        .with_store(crate::store::testing::open(dir.path()));
    confirm(dir.path(), &[0, 1]);
    refused_by(&s, &signs, removal_of(&[0]), "remove_not_withdrawn");
    let st = crate::store::testing::open(dir.path());
    let pk = |k: u8| format!("0x{}", hex::encode([k; 48]));
    use crate::store::maintenance::{set_exit_state, ExitState};
    set_exit_state(
        &st,
        &[pk(0)],
        &[1, 2, 3, 4],
        ExitState::Exited,
        None,
        None,
        "t",
    )
    .unwrap();
    refused_by(&s, &signs, removal_of(&[0]), "remove_not_withdrawn");
    set_exit_state(
        &st,
        &[pk(0), pk(1)],
        &[1, 2, 3, 4],
        ExitState::Withdrawn,
        None,
        None,
        "t",
    )
    .unwrap();
    sign(&s, at_nonce(removal_of(&[0, 1]), 1)).unwrap();
    refused_by(&s, &signs, at_nonce(removal_of(&[0]), 2), "remove_day_cap");
    assert_eq!(signs.load(Ordering::SeqCst), 1);
}
