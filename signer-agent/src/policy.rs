//! The transaction policy (issue #10): a signer wrapper that refuses, before the key is ever
//! asked to sign, any transaction the pool did not approve. It sits below all agent logic
//! (every transaction the agent builds passes through [`PolicySigner::sign_transaction`]), so
//! a bug or a compromise above it cannot make the HSM key sign something else.
//!
//! Rules enforced here (each refusal names its rule, is logged and counted):
//! - `chain_id`: the transaction is for the configured chain only;
//! - `contract_creation`: no contract creation;
//! - `eth_transfer`: no plain ETH transfer (empty calldata);
//! - `target`: the destination is one of the allowed contracts;
//! - `selector`: the function selector is one allowed for that contract;
//! - `value_cap`: the value is at most the cap (0 by default: nothing the pool needs pays ETH);
//! - `fee_cap` / `priority_fee_cap`: the max fee and priority fee per gas are within the caps.
//!
//! Not yet here (issue #10, next steps): daily value and validator caps, the stake calldata
//! checks (known validators, withdrawal address), simulation before signing.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use alloy::consensus::SignableTransaction;
use alloy::network::TxSigner;
use alloy::primitives::{keccak256, Address, ChainId, Signature, TxKind, U256};
use alloy::sol_types::SolCall;
use async_trait::async_trait;
use serde::Serialize;

use crate::config::Config;
use crate::error::Result;

/// What the key may sign.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Policy {
    pub chain_id: ChainId,
    /// Allowed targets and, for each, the allowed 4-byte selectors.
    pub targets: BTreeMap<Address, BTreeSet<[u8; 4]>>,
    /// Names of the allowed functions (for `policy show` and refusal messages).
    pub names: BTreeMap<(Address, [u8; 4]), String>,
    pub max_value_wei: U256,
    pub max_fee_per_gas_wei: u128,
    pub max_priority_fee_per_gas_wei: u128,
}

/// `deposit(address,uint64[],uint256,(uint32,uint64,uint64,bool,uint256))` of the SSV network.
pub const SSV_DEPOSIT_SIGNATURE: &str =
    "deposit(address,uint64[],uint256,(uint32,uint64,uint64,bool,uint256))";

fn selector_of(signature: &str) -> [u8; 4] {
    let h = keccak256(signature.as_bytes());
    [h[0], h[1], h[2], h[3]]
}

impl Policy {
    /// The default policy for a configuration: its chain; the PoolManager's `stake`, the
    /// Oracle's `submitReport` and the SSV network's cluster `deposit`; no ETH value; the gas
    /// caps of `[gas]`.
    pub fn default_for(cfg: &Config) -> Result<Policy> {
        let c = cfg.contracts()?;
        let mut p = Policy {
            chain_id: cfg.chain_id,
            targets: BTreeMap::new(),
            names: BTreeMap::new(),
            max_value_wei: U256::ZERO,
            max_fee_per_gas_wei: cfg.gas.max_fee_per_gas_wei,
            max_priority_fee_per_gas_wei: cfg.gas.max_priority_fee_per_gas_wei,
        };
        p.allow(
            c.pool_manager,
            crate::chain::IPoolManager::stakeCall::SELECTOR,
            "PoolManager.stake",
        );
        p.allow(
            c.oracle,
            crate::chain::IOracle::submitReportCall::SELECTOR,
            "Oracle.submitReport",
        );
        p.allow(
            c.ssv_network,
            selector_of(SSV_DEPOSIT_SIGNATURE),
            "SSVNetwork.deposit",
        );
        Ok(p)
    }

    /// Allows `selector` on `target`.
    pub fn allow(&mut self, target: Address, selector: [u8; 4], name: &str) {
        self.targets.entry(target).or_default().insert(selector);
        self.names.insert((target, selector), name.to_owned());
    }

    /// Checks one transaction; `Err((rule, reason))` names the broken rule.
    pub fn check(
        &self,
        chain_id: Option<ChainId>,
        kind: TxKind,
        value: U256,
        input: &[u8],
        max_fee_per_gas: u128,
        max_priority_fee_per_gas: Option<u128>,
    ) -> std::result::Result<(), (&'static str, String)> {
        match chain_id {
            Some(id) if id == self.chain_id => {}
            Some(id) => {
                return Err((
                    "chain_id",
                    format!("chain id {id}, the policy allows only {}", self.chain_id),
                ))
            }
            None => {
                return Err((
                    "chain_id",
                    format!(
                        "no chain id (replayable on any chain); the policy allows only {}",
                        self.chain_id
                    ),
                ))
            }
        }
        let to = match kind {
            TxKind::Create => {
                return Err((
                    "contract_creation",
                    "contract creation is never allowed".into(),
                ))
            }
            TxKind::Call(to) => to,
        };
        if input.is_empty() {
            return Err((
                "eth_transfer",
                format!("a plain ETH transfer to {to} is never allowed"),
            ));
        }
        let Some(selectors) = self.targets.get(&to) else {
            return Err(("target", format!("{to} is not an allowed target")));
        };
        let selector: [u8; 4] = match input.get(..4).and_then(|s| s.try_into().ok()) {
            Some(s) => s,
            None => {
                return Err((
                    "selector",
                    format!("calldata to {to} is shorter than a selector"),
                ))
            }
        };
        if !selectors.contains(&selector) {
            let allowed: Vec<&str> = selectors
                .iter()
                .filter_map(|s| self.names.get(&(to, *s)).map(String::as_str))
                .collect();
            return Err((
                "selector",
                format!(
                    "selector 0x{} is not allowed on {to} (allowed: {})",
                    hex::encode(selector),
                    allowed.join(", ")
                ),
            ));
        }
        if value > self.max_value_wei {
            return Err((
                "value_cap",
                format!(
                    "value {value} wei exceeds the cap of {} wei",
                    self.max_value_wei
                ),
            ));
        }
        if max_fee_per_gas > self.max_fee_per_gas_wei {
            return Err((
                "fee_cap",
                format!(
                    "max fee per gas {max_fee_per_gas} wei exceeds the cap of {} wei",
                    self.max_fee_per_gas_wei
                ),
            ));
        }
        if let Some(p) = max_priority_fee_per_gas {
            if p > self.max_priority_fee_per_gas_wei {
                return Err((
                    "priority_fee_cap",
                    format!(
                        "max priority fee per gas {p} wei exceeds the cap of {} wei",
                        self.max_priority_fee_per_gas_wei
                    ),
                ));
            }
        }
        Ok(())
    }

    /// The policy as text (`policy show`).
    pub fn describe(&self) -> String {
        let mut out = format!("chain id            {}\n", self.chain_id);
        for (target, selectors) in &self.targets {
            for s in selectors {
                let name = self
                    .names
                    .get(&(*target, *s))
                    .map(String::as_str)
                    .unwrap_or("?");
                out.push_str(&format!(
                    "allow               {target} 0x{} {name}\n",
                    hex::encode(s)
                ));
            }
        }
        out.push_str(&format!(
            "max value           {} wei per transaction\nmax fee per gas     {} wei\nmax priority fee    {} wei\nnever               plain ETH transfers, contract creation, any other target or function\n",
            self.max_value_wei, self.max_fee_per_gas_wei, self.max_priority_fee_per_gas_wei
        ));
        out
    }
}

/// Refusals by rule (shared with the metrics).
pub type Refusals = Arc<Mutex<BTreeMap<&'static str, u64>>>;

/// A signer that signs only what [`Policy`] allows; anything else is refused before the inner
/// signer (the HSM) is asked.
#[derive(Clone)]
pub struct PolicySigner<S> {
    inner: S,
    policy: Arc<Policy>,
    refusals: Refusals,
}

impl<S> std::fmt::Debug for PolicySigner<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PolicySigner")
            .field("chain_id", &self.policy.chain_id)
            .field("targets", &self.policy.targets.len())
            .finish()
    }
}

impl<S> PolicySigner<S> {
    pub fn new(inner: S, policy: Policy) -> Self {
        PolicySigner {
            inner,
            policy: Arc::new(policy),
            refusals: Arc::default(),
        }
    }
    /// The refusal counters, by rule.
    pub fn refusals(&self) -> Refusals {
        self.refusals.clone()
    }
    pub fn policy(&self) -> &Policy {
        &self.policy
    }
}

/// A policy refusal, as the error the signer returns.
#[derive(Debug, thiserror::Error)]
#[error("policy refused ({rule}): {reason}")]
pub struct PolicyRefusal {
    pub rule: &'static str,
    pub reason: String,
}

#[async_trait]
impl<S> TxSigner<Signature> for PolicySigner<S>
where
    S: TxSigner<Signature> + Send + Sync,
{
    fn address(&self) -> Address {
        self.inner.address()
    }

    async fn sign_transaction(
        &self,
        tx: &mut dyn SignableTransaction<Signature>,
    ) -> alloy::signers::Result<Signature> {
        if let Err((rule, reason)) = self.policy.check(
            tx.chain_id(),
            tx.kind(),
            tx.value(),
            tx.input(),
            tx.max_fee_per_gas(),
            tx.max_priority_fee_per_gas(),
        ) {
            *self
                .refusals
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .entry(rule)
                .or_default() += 1;
            tracing::error!(rule, %reason, "policy refused a transaction; nothing signed");
            return Err(alloy::signers::Error::other(PolicyRefusal { rule, reason }));
        }
        self.inner.sign_transaction(tx).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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

    fn setup() -> (PolicySigner<HsmSigner>, Arc<AtomicUsize>) {
        let signs = Arc::new(AtomicUsize::new(0));
        let backend = Counting {
            key: k256::ecdsa::SigningKey::from_slice(&[7; 32]).unwrap(),
            signs: signs.clone(),
        };
        let signer = HsmSigner::open(Arc::new(backend)).unwrap();
        signs.store(0, Ordering::SeqCst); // the self-check signed once
        let mut p = Policy {
            chain_id: 31337,
            targets: BTreeMap::new(),
            names: BTreeMap::new(),
            max_value_wei: U256::ZERO,
            max_fee_per_gas_wei: 100_000_000_000,
            max_priority_fee_per_gas_wei: 3_000_000_000,
        };
        p.allow(
            POOL,
            crate::chain::IPoolManager::stakeCall::SELECTOR,
            "PoolManager.stake",
        );
        p.allow(
            ORACLE,
            crate::chain::IOracle::submitReportCall::SELECTOR,
            "Oracle.submitReport",
        );
        (PolicySigner::new(signer, p), signs)
    }

    fn stake_input() -> Bytes {
        let mut v = crate::chain::IPoolManager::stakeCall::SELECTOR.to_vec();
        v.extend([0u8; 64]);
        v.into()
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
            input: stake_input(),
        }
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
    fn refused(t: TxEip1559, rule: &str) {
        let (s, signs) = setup();
        let e = sign(&s, t).unwrap_err();
        assert!(e.contains(&format!("policy refused ({rule})")), "{e}");
        assert_eq!(signs.load(Ordering::SeqCst), 0, "the key was asked to sign");
        assert_eq!(s.refusals().lock().unwrap().get(rule), Some(&1), "{rule}");
    }

    #[test]
    fn allowed_transactions_are_signed() {
        let (s, signs) = setup();
        sign(&s, tx()).unwrap();
        let mut t = tx();
        t.to = TxKind::Call(ORACLE);
        let mut input = crate::chain::IOracle::submitReportCall::SELECTOR.to_vec();
        input.extend([0u8; 128]);
        t.input = input.into();
        sign(&s, t).unwrap();
        assert_eq!(signs.load(Ordering::SeqCst), 2);
        assert!(s.refusals().lock().unwrap().is_empty());
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
    fn describe_lists_every_allowed_function() {
        let (s, _) = setup();
        let d = s.policy().describe();
        assert!(d.contains("PoolManager.stake"), "{d}");
        assert!(d.contains("Oracle.submitReport"), "{d}");
        assert!(d.contains("chain id            31337"), "{d}");
    }
}
