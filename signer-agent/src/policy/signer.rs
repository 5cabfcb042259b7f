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
use super::{today, Policy, Refused};
use crate::chain::IPoolManager;
use crate::refusal::{PolicyRefusal, Rule};
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
    /// With a shared store: the leadership lease this instance must hold when the key signs.
    gate: Option<crate::leader::Gate>,
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
            gate: None,
        }
    }
    /// Signs only while this instance holds the leadership lease (checked on the store just
    /// before the key signs): a deposed leader's signature is refused ([`crate::Error::Fenced`]).
    pub fn with_gate(mut self, gate: Option<crate::leader::Gate>) -> Self {
        self.gate = gate;
        self
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

    fn refuse(&self, rule: Rule, reason: String) -> alloy::signers::Error {
        *self
            .refusals
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(rule.as_str())
            .or_default() += 1;
        tracing::error!(rule = rule.as_str(), %reason, "policy refused a transaction; nothing signed");
        alloy::signers::Error::other(PolicyRefusal { rule, reason })
    }
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
        let t = Tx {
            to: tx.kind().to().copied(),
            value: tx.value(),
            input: tx.input().clone(),
            nonce: tx.nonce(),
            gas_limit: tx.gas_limit(),
        };
        if let Err((rule, reason)) = self.policy.check(
            tx.chain_id(),
            tx.kind(),
            t.value,
            &t.input,
            tx.max_fee_per_gas(),
            tx.max_priority_fee_per_gas(),
        ) {
            return Err(self.refuse(rule, reason));
        }
        // One signature at a time: the daily caps are read and the ledger written under the lock.
        let guard = match &self.ledger {
            Some(l) => Some(l.lock().await),
            None => None,
        };
        let allowed = match self.check_content(&t, guard.as_deref()) {
            Ok(a) => a,
            Err((rule, reason)) => return Err(self.refuse(rule, reason)),
        };
        if self.policy.simulate {
            if let Err((rule, reason)) = self.simulate_tx(&t, allowed.stake).await {
                return Err(self.refuse(rule, reason));
            }
        }
        let sighash = tx.signature_hash();
        // The last check before the key: another instance may have taken over meanwhile.
        if let Some(gate) = &self.gate {
            if let Err(e) = gate.check().await {
                tracing::error!(error = %e, "not the lease holder: nothing signed");
                return Err(alloy::signers::Error::other(e));
            }
        }
        let sig = self.inner.sign_transaction(tx).await?;
        if let Some(store) = guard.as_deref() {
            record(store, &t, &allowed, &format!("{sighash}"))?;
        }
        let to = t.to.unwrap_or_default();
        let validators = allowed.validators;
        tracing::info!(%to, validators, %sighash, "policy allowed and the key signed a transaction");
        Ok(sig)
    }
}

/// The fields of the transaction being signed that the rules read.
struct Tx {
    /// `None` for a contract creation (refused by the static rules before anything else).
    to: Option<Address>,
    value: U256,
    input: alloy::primitives::Bytes,
    nonce: u64,
    gas_limit: u64,
}

/// What the rules let through: what the ledgers record.
struct Allowed {
    /// A `PoolManager.stake` (simulated with its deposit count).
    stake: bool,
    day: String,
    validators: u64,
    ssv_fee: U256,
    maint: Option<crate::policy::maintenance::Checked>,
}

impl<S> PolicySigner<S>
where
    S: TxSigner<Signature> + Send + Sync,
{
    /// The rules on the call's content, after the static ones: `stake` against the store, the
    /// maintenance functions, the SSV fee caps, the daily caps.
    fn check_content(&self, t: &Tx, store: Option<&Store>) -> Result<Allowed, Refused> {
        let p = &self.policy;
        let to = t.to.unwrap_or_default();
        let stake = p.is_stake(to, &t.input);
        let staked = if stake {
            check_stake(p, store, &t.input)?
        } else {
            0
        };
        let ssv_fee = p.ssv_fee_of(to, &t.input)?;
        let day = today();
        // The maintenance functions' rules and caps (exits, removals, top-ups, reshares).
        let maint = crate::policy::maintenance::check(p, store, to, &t.input, &day, t.nonce)?;
        let validators = staked + maint.as_ref().map_or(0, |m| m.staking_validators);
        if ssv_fee > p.max_ssv_fee_per_tx_wei {
            return Err((
                Rule::SsvFeeCap,
                format!(
                    "{ssv_fee} wei for SSV cluster fees exceeds the cap of {} wei per transaction",
                    p.max_ssv_fee_per_tx_wei
                ),
            ));
        }
        let allowed = Allowed {
            stake,
            day,
            validators,
            ssv_fee,
            maint,
        };
        if validators > 0 || t.value > U256::ZERO || ssv_fee > U256::ZERO {
            self.check_day_caps(store, t, stake, &allowed)?;
        }
        Ok(allowed)
    }

    /// The simulation (`eth_call`, `eth_estimateGas`; for a stake, its deposit count).
    async fn simulate_tx(&self, t: &Tx, stake: bool) -> Result<(), Refused> {
        let pubkeys = if stake {
            IPoolManager::stakeCall::abi_decode(&t.input)
                .ok()
                .map(|c| c.validators.into_iter().map(|v| v.pubkey).collect())
        } else {
            None
        };
        self.simulate(
            self.inner.address(),
            t.to.unwrap_or_default(),
            t.value,
            &t.input,
            t.gas_limit,
            pubkeys,
        )
        .await
    }

    /// The day's (UTC) signed value, validators and SSV fees, from the ledger, stay within the
    /// caps. Earlier versions of this nonce (a replacement) are replaced, not added to.
    fn check_day_caps(
        &self,
        store: Option<&Store>,
        t: &Tx,
        stake: bool,
        a: &Allowed,
    ) -> Result<(), Refused> {
        let p = &self.policy;
        let (day, value, validators, ssv_fee) = (&a.day, t.value, a.validators, a.ssv_fee);
        let Some(store) = store else {
            let rule = if stake {
                Rule::ValidatorCap
            } else if ssv_fee > U256::ZERO {
                Rule::SsvFeeDayCap
            } else {
                Rule::ValueDayCap
            };
            return Err((
                rule,
                "no state store: the daily caps cannot be checked".into(),
            ));
        };
        let (v_day, n_day, fee_day) = store
            .signed_on_except(day, t.nonce)
            .map_err(|e| (Rule::ValueDayCap, format!("state store: {e}")))?;
        if v_day.saturating_add(value) > p.max_value_per_day_wei {
            return Err((
                Rule::ValueDayCap,
                format!(
                    "value {value} wei on top of {v_day} wei signed today ({day}) exceeds the daily cap of {} wei",
                    p.max_value_per_day_wei
                ),
            ));
        }
        if n_day.saturating_add(validators) > p.max_validators_per_day {
            return Err((
                Rule::ValidatorCap,
                format!(
                    "{validators} validators on top of {n_day} staked today ({day}) exceed the daily cap of {}",
                    p.max_validators_per_day
                ),
            ));
        }
        if fee_day.saturating_add(ssv_fee) > p.max_ssv_fee_per_day_wei {
            return Err((
                Rule::SsvFeeDayCap,
                format!(
                    "{ssv_fee} wei for SSV cluster fees on top of {fee_day} wei signed today ({day}) exceeds the daily cap of {} wei",
                    p.max_ssv_fee_per_day_wei
                ),
            ));
        }
        Ok(())
    }
}

/// Appends a signature to the policy ledger (and the maintenance ledger): a write that fails
/// drops the signature.
fn record(store: &Store, t: &Tx, a: &Allowed, sighash: &str) -> alloy::signers::Result<()> {
    let entry = LedgerEntry {
        day: a.day.clone(),
        sighash: sighash.to_owned(),
        target: format!("{}", t.to.unwrap_or_default()),
        selector: format!("0x{}", hex::encode(t.input.get(..4).unwrap_or_default())),
        value_wei: t.value.to_string(),
        validators: a.validators,
        ssv_fee_wei: a.ssv_fee.to_string(),
        nonce: Some(t.nonce),
    };
    if let Err(e) = store.record_signed(&entry) {
        tracing::error!(error = %e, "cannot record the signature in the policy ledger; signature dropped");
        return Err(alloy::signers::Error::other(e));
    }
    if let Some(m) = &a.maint {
        if let Err(e) = crate::store::maintenance::record_signed(
            store,
            &a.day,
            &entry.sighash,
            m.action,
            m.count,
            m.amount,
            t.nonce,
        ) {
            tracing::error!(error = %e, "cannot record the signature in the maintenance ledger; signature dropped");
            return Err(alloy::signers::Error::other(e));
        }
    }
    Ok(())
}
