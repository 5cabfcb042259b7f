//! The policy signer: every transaction passes its rules before the inner signer (the HSM) is
//! asked, and every signature is recorded in the ledger before it is returned.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use alloy::consensus::SignableTransaction;
use alloy::network::TxSigner;
use alloy::primitives::{Address, Signature, U256};
use alloy::providers::DynProvider;
use alloy::sol_types::SolCall;
use async_trait::async_trait;

use super::stake::check_stake;
use super::{today, Policy};
use crate::chain::IPoolManager;
use crate::store::{LedgerEntry, Store};

/// Refusals by rule (shared with the metrics).
pub type Refusals = Arc<Mutex<BTreeMap<&'static str, u64>>>;

/// A signer that signs only what [`Policy`] allows; anything else is refused before the inner
/// signer (the HSM) is asked.
#[derive(Clone)]
pub struct PolicySigner<S> {
    pub(super) inner: S,
    pub(super) policy: Arc<Policy>,
    refusals: Refusals,
    /// The state store (validators, bundle facts, the daily ledger); one signature at a time.
    ledger: Option<Arc<tokio::sync::Mutex<Store>>>,
    /// The node the transactions are simulated on.
    pub(super) simulator: Option<DynProvider>,
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
            ledger: None,
            simulator: None,
        }
    }
    /// Checks `stake` calldata and the daily caps against this store, and records every
    /// signature in its ledger.
    pub fn with_store(mut self, store: Store) -> Self {
        self.ledger = Some(Arc::new(tokio::sync::Mutex::new(store)));
        self
    }
    /// Simulates every transaction on this node before signing.
    pub fn with_simulator(mut self, provider: DynProvider) -> Self {
        self.simulator = Some(provider);
        self
    }
    /// The refusal counters, by rule.
    pub fn refusals(&self) -> Refusals {
        self.refusals.clone()
    }
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    fn refuse(&self, rule: &'static str, reason: String) -> alloy::signers::Error {
        *self
            .refusals
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(rule)
            .or_default() += 1;
        tracing::error!(rule, %reason, "policy refused a transaction; nothing signed");
        alloy::signers::Error::other(PolicyRefusal { rule, reason })
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
        let p = &self.policy;
        let (kind, value, input) = (tx.kind(), tx.value(), tx.input().clone());
        if let Err((rule, reason)) = p.check(
            tx.chain_id(),
            kind,
            value,
            &input,
            tx.max_fee_per_gas(),
            tx.max_priority_fee_per_gas(),
        ) {
            return Err(self.refuse(rule, reason));
        }
        let to = kind.to().copied().unwrap_or_default();
        // One signature at a time: the daily caps are read and the ledger written under the lock.
        let guard = match &self.ledger {
            Some(l) => Some(l.lock().await),
            None => None,
        };
        let stake = p.is_stake(to, &input);
        let validators = if stake {
            match check_stake(p, guard.as_deref(), &input) {
                Ok(k) => k,
                Err((rule, reason)) => return Err(self.refuse(rule, reason)),
            }
        } else {
            0
        };
        let ssv_fee = match p.ssv_fee_of(to, &input) {
            Ok(f) => f,
            Err((rule, reason)) => return Err(self.refuse(rule, reason)),
        };
        let day = today();
        // The maintenance functions' rules and caps (exits, removals, top-ups, reshares).
        let maint = match crate::maintenance::policy::check(
            p,
            guard.as_deref(),
            to,
            &input,
            &day,
            tx.nonce(),
        ) {
            Ok(m) => m,
            Err((rule, reason)) => return Err(self.refuse(rule, reason)),
        };
        let validators = validators + maint.as_ref().map_or(0, |m| m.staking_validators);
        if ssv_fee > p.max_ssv_fee_per_tx_wei {
            return Err(self.refuse(
                "ssv_fee_cap",
                format!(
                    "{ssv_fee} wei for SSV cluster fees exceeds the cap of {} wei per transaction",
                    p.max_ssv_fee_per_tx_wei
                ),
            ));
        }
        if validators > 0 || value > U256::ZERO || ssv_fee > U256::ZERO {
            let Some(store) = guard.as_deref() else {
                return Err(self.refuse(
                    if stake {
                        "validator_cap"
                    } else if ssv_fee > U256::ZERO {
                        "ssv_fee_day_cap"
                    } else {
                        "value_day_cap"
                    },
                    "no state store: the daily caps cannot be checked".into(),
                ));
            };
            // Earlier versions of this nonce (a replacement) are replaced, not added to.
            let (v_day, n_day, fee_day) = match store.signed_on_except(&day, tx.nonce()) {
                Ok(x) => x,
                Err(e) => return Err(self.refuse("value_day_cap", format!("state store: {e}"))),
            };
            if v_day.saturating_add(value) > p.max_value_per_day_wei {
                return Err(self.refuse(
                    "value_day_cap",
                    format!(
                        "value {value} wei on top of {v_day} wei signed today ({day}) exceeds the daily cap of {} wei",
                        p.max_value_per_day_wei
                    ),
                ));
            }
            if n_day.saturating_add(validators) > p.max_validators_per_day {
                return Err(self.refuse(
                    "validator_cap",
                    format!(
                        "{validators} validators on top of {n_day} staked today ({day}) exceed the daily cap of {}",
                        p.max_validators_per_day
                    ),
                ));
            }
            if fee_day.saturating_add(ssv_fee) > p.max_ssv_fee_per_day_wei {
                return Err(self.refuse(
                    "ssv_fee_day_cap",
                    format!(
                        "{ssv_fee} wei for SSV cluster fees on top of {fee_day} wei signed today ({day}) exceeds the daily cap of {} wei",
                        p.max_ssv_fee_per_day_wei
                    ),
                ));
            }
        }
        if p.simulate {
            let pubkeys = if stake {
                IPoolManager::stakeCall::abi_decode(&input)
                    .ok()
                    .map(|c| c.validators.into_iter().map(|v| v.pubkey).collect())
            } else {
                None
            };
            if let Err((rule, reason)) = self
                .simulate(
                    self.inner.address(),
                    to,
                    value,
                    &input,
                    tx.gas_limit(),
                    pubkeys,
                )
                .await
            {
                return Err(self.refuse(rule, reason));
            }
        }
        let sighash = tx.signature_hash();
        let sig = self.inner.sign_transaction(tx).await?;
        if let Some(store) = guard.as_deref() {
            let entry = LedgerEntry {
                day: day.clone(),
                sighash: format!("{sighash}"),
                target: format!("{to}"),
                selector: format!("0x{}", hex::encode(input.get(..4).unwrap_or_default())),
                value_wei: value.to_string(),
                validators,
                ssv_fee_wei: ssv_fee.to_string(),
                nonce: Some(tx.nonce()),
            };
            if let Err(e) = store.record_signed(&entry) {
                tracing::error!(error = %e, "cannot record the signature in the policy ledger; signature dropped");
                return Err(alloy::signers::Error::other(e));
            }
            if let Some(m) = &maint {
                if let Err(e) = crate::maintenance::store::record_signed(
                    store,
                    &day,
                    &entry.sighash,
                    m.action,
                    m.count,
                    m.amount,
                    tx.nonce(),
                ) {
                    tracing::error!(error = %e, "cannot record the signature in the maintenance ledger; signature dropped");
                    return Err(alloy::signers::Error::other(e));
                }
            }
        }
        tracing::info!(%to, validators, %sighash, "policy allowed and the key signed a transaction");
        Ok(sig)
    }
}
