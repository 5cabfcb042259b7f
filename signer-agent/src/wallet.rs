//! The transaction signer the commands use: the HSM key (or, development only, a local key)
//! behind the transaction policy, so that a transaction the policy refuses is never signed.

use std::sync::Arc;

use alloy::network::EthereumWallet;
use alloy::primitives::Address;
use alloy::signers::local::PrivateKeySigner;

use crate::config::{Config, SignerConfig};
use crate::error::{Error, Result};
use crate::policy::{Policy, PolicySigner, Refusals};
use crate::signer::{pkcs11, HsmSigner};
use crate::store::{Fence, Store};

/// The transaction policy every signature passes through: the configuration's `[policy]`
/// over the defaults, or — when the contracts are not configured — one that allows nothing.
fn policy_for(cfg: &Config) -> Result<Policy> {
    match cfg.contracts() {
        Ok(_) => Policy::from_config(cfg),
        Err(e) => {
            tracing::warn!(error = %e, "no contracts configured: the policy allows no transaction");
            Ok(Policy::deny_all(cfg))
        }
    }
}

/// Wraps `inner` in the policy, with the state store (when configured) for the stake checks
/// and daily caps, and the RPC endpoint for simulation.
/// `fence`: the daemon's store's fence (the ledger writes before a signature are fenced by
/// the same token).
fn with_policy<S>(cfg: &Config, inner: S, fence: Option<&Fence>) -> Result<PolicySigner<S>> {
    let mut s = PolicySigner::new(inner, policy_for(cfg)?)
        .with_simulator(crate::chain::read_provider(cfg)?);
    if cfg.has_state_store() {
        let mut store = Store::open_location(&cfg.state_location()?)?;
        if let Some(f) = fence {
            store.attach_fence(f);
        }
        s = s.with_store(store);
    }
    Ok(s)
}

/// The transaction signer (the HSM key, or — development only — a local key) behind the
/// transaction policy: a transaction the policy refuses is never signed.
pub async fn open_signer(cfg: &Config) -> Result<(EthereumWallet, Address)> {
    open_signer_counted(cfg).await.map(|(w, a, _)| (w, a))
}

/// [`open_signer`], with the policy's refusal counters (for `/metrics`). With a shared
/// (PostgreSQL) store, the key signs only while this configuration's instance holds the lease.
pub async fn open_signer_counted(cfg: &Config) -> Result<(EthereumWallet, Address, Refusals)> {
    let gate = cfg.postgres().map(crate::leader::Gate::for_instance);
    open_signer_gated(cfg, gate, None).await
}

/// [`open_signer_counted`] behind `gate` (the daemon's own lease), its ledger writes fenced by
/// `fence` (the daemon's store's).
pub async fn open_signer_gated(
    cfg: &Config,
    gate: Option<crate::leader::Gate>,
    fence: Option<&Fence>,
) -> Result<(EthereumWallet, Address, Refusals)> {
    match cfg.signer()? {
        SignerConfig::Pkcs11 {
            module,
            token_label,
            token_serial,
            key_label,
            pin,
        } => {
            let token = pkcs11::TokenSelector::new(token_label, token_serial);
            let backend = tokio::task::spawn_blocking(move || {
                pkcs11::Pkcs11Backend::open(&module, token, &key_label, pin)
            })
            .await
            .map_err(|e| Error::Signer {
                label: "pkcs11".into(),
                message: format!("open thread failed: {e}"),
            })??;
            let mut signer = HsmSigner::open_async(Arc::new(backend)).await?;
            alloy::signers::Signer::set_chain_id(&mut signer, Some(cfg.chain_id));
            let address = alloy::signers::Signer::address(&signer);
            tracing::info!(signer = ?signer, "transaction key opened");
            let s = with_policy(cfg, signer, fence)?.with_gate(gate);
            let r = s.refusals();
            Ok((EthereumWallet::from(s), address, r))
        }
        SignerConfig::DevPrivateKey { path } => {
            tracing::warn!(path = %path.display(), "DEVELOPMENT ONLY: signing with a local private key, not the HSM");
            let text = zeroize::Zeroizing::new(
                std::fs::read_to_string(&path)
                    .map_err(|e| Error::io(&path, "read the dev private key", e))?,
            );
            let key: PrivateKeySigner = text.trim().parse().map_err(|_| {
                Error::config(
                    "signer.dev_private_key_file",
                    format!("{} is not a hex secp256k1 key", path.display()),
                )
            })?;
            let key = alloy::signers::Signer::with_chain_id(key, Some(cfg.chain_id));
            let address = alloy::signers::Signer::address(&key);
            let s = with_policy(cfg, key, fence)?.with_gate(gate);
            let r = s.refusals();
            Ok((EthereumWallet::from(s), address, r))
        }
    }
}
