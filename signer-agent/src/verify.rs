//! The chain's view of a bundle, on top of its verification: the node serves the configured
//! chain and the bundle is for it, owner and withdrawal address are the PoolManager, the batch
//! root is approved for this cluster and withdrawal type, and the owner nonces follow the SSV
//! network's (used by `verify` and `import`).

use std::path::Path;

use alloy::primitives::Address;

use crate::config::Config;
use crate::error::{Error, Result};

/// What `verify` reports.
#[derive(Debug, serde::Serialize)]
pub struct VerifySummary {
    pub ceremony_id: String,
    /// The bundle's network, checked against the node's chain.
    pub network: String,
    pub chain_id: u64,
    pub validators: usize,
    pub merkle_root: String,
    pub operator_ids: Vec<u64>,
    pub first_owner_nonce: u64,
    pub chain_owner_nonce: u64,
}

/// The bundle checks plus the chain's view: chain id, the bundle's network and operators'
/// provenance on that chain, owner and withdrawal address = PoolManager,
/// owner nonces consistent with the SSV contract, batch root approved for this cluster and type.
pub async fn bundle_on_chain(
    cfg: &Config,
    events: &crate::logscan::Events,
    dir: &Path,
) -> Result<VerifySummary> {
    crate::chain::check_chain(events.provider(), cfg.chain_id).await?;
    // The node serves cfg.chain_id (checked just above): the bundle must be for that chain.
    let b = crate::bundle::load_verified_on_chain(dir, &cfg.trusted_identities, cfg.chain_id)?;
    verified_on_chain(cfg, events, dir, &b).await
}

/// The chain's view of a bundle already verified for `cfg.chain_id`
/// ([`crate::bundle::load_verified_on_chain`]), on a node the caller has checked serves that
/// chain: `import` verifies the bundle once and hands it here.
pub async fn verified_on_chain(
    cfg: &Config,
    events: &crate::logscan::Events,
    dir: &Path,
    b: &crate::bundle::VerifiedBundle,
) -> Result<VerifySummary> {
    let provider = events.provider();
    let fail = |m: String| Error::Bundle {
        path: dir.to_owned(),
        message: m,
    };
    // On a built-in network, the deposits must be signed for its genesis fork: a deposit signed
    // for another network's fork is invalid on this one, and its 32 ETH would be lost.
    if let Some(p) = cfg.network {
        if !b
            .fork_version
            .trim_start_matches("0x")
            .eq_ignore_ascii_case(&p.fork_version_hex())
        {
            return Err(fail(format!(
                "its deposits are signed for fork version {} (network {:?}), the agent runs on {} (fork version {}): the deposits would be invalid here",
                b.fork_version,
                b.network,
                p.name,
                p.fork_version_hex()
            )));
        }
    }
    let c = cfg.contracts()?;
    let owner: Address = crate::config::parse_address("manifest.owner.address", &b.owner_address)?;
    if owner != c.pool_manager {
        return Err(fail(format!(
            "owner {owner} is not the PoolManager {}",
            c.pool_manager
        )));
    }
    let wa: Address =
        crate::config::parse_address("manifest.withdrawal.address", &b.withdrawal_address)?;
    if wa != c.pool_manager {
        return Err(fail(format!(
            "withdrawal address {wa} is not the PoolManager {}",
            c.pool_manager
        )));
    }
    let pm = crate::chain::IPoolManager::new(c.pool_manager, provider.clone());
    let root = alloy::primitives::B256::from(b.merkle_root);
    crate::stake::check_batch_approved(
        provider,
        c.pool_manager,
        root,
        b.withdrawal_type,
        &b.operator_ids,
    )
    .await?;
    let at = events.head().await?;
    let chain_nonce = crate::ssv::owner_nonce(events, &c, c.pool_manager, at).await?;
    let first = b
        .validators
        .first()
        .map(|v| v.owner_nonce)
        .unwrap_or_default();
    // Validators of this bundle already staked account for the nonces below the chain's.
    let mut staked = 0u64;
    for v in &b.validators {
        if pm
            .isStaked(v.pubkey.clone().into())
            .call()
            .await
            .map_err(|e| Error::rpc("PoolManager.isStaked", e))?
        {
            staked += 1;
        }
    }
    if first + staked != chain_nonce && !(staked == 0 && first >= chain_nonce) {
        return Err(crate::refusal::Refusal::BundleNonces {
            first,
            staked,
            chain: chain_nonce,
        }
        .into());
    }
    Ok(VerifySummary {
        ceremony_id: b.ceremony_id.clone(),
        network: b.network.clone(),
        chain_id: cfg.chain_id,
        validators: b.validators.len(),
        merkle_root: format!("{root}"),
        operator_ids: b.operator_ids.clone(),
        first_owner_nonce: first,
        chain_owner_nonce: chain_nonce,
    })
}
