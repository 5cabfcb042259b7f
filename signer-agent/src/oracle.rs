//! `oracle report`: read the pool validators' balances from a standard Beacon API and submit this
//! member's report for the Oracle's current frame.
//!
//! Beacon API used (ethereum/beacon-APIs): `GET /eth/v1/beacon/genesis` and
//! `GET /eth/v1/beacon/states/{state_id}/validators?id=0x…,0x…` (balances in gwei, as strings).
//!
//! The pool's validators are read from the chain (the PoolManager's `ValidatorStaked` events),
//! not from the agent's state store: any oracle member can report, with or without the store,
//! and every member reports over the same set (a quorum needs identical reports).

use alloy::network::{EthereumWallet, TransactionBuilder};
use alloy::primitives::{Address, B256, U256};
use alloy::providers::{DynProvider, Provider};
use alloy::rpc::types::TransactionRequest;
use alloy::sol_types::SolCall;
use serde::{Deserialize, Serialize};

use crate::chain::IOracle;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::refusal::Refusal;

#[derive(Deserialize)]
struct Envelope<T> {
    data: T,
}

#[derive(Deserialize)]
struct Genesis {
    genesis_time: String,
}

#[derive(Deserialize)]
struct BeaconValidator {
    balance: String,
    status: String,
    validator: BeaconValidatorInner,
}

#[derive(Deserialize)]
struct BeaconValidatorInner {
    pubkey: String,
}

/// What the beacon chain says about the pool's validators.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct BeaconReport {
    pub state: String,
    pub genesis_time: u64,
    /// Sum of balances, wei.
    pub balance_wei: String,
    /// Validators of the pool seen on the beacon chain.
    pub validators: u64,
    /// Of those, fully withdrawn (`withdrawal_done`).
    pub exited: u64,
    /// Pool validators the beacon chain does not know yet.
    pub not_seen: u64,
}

/// `GET path` on the Beacon API: (status, body). A failed TLS handshake is [`Error::Tls`].
pub async fn beacon_get(client: &crate::tls::Client, path: &str) -> Result<(u16, String)> {
    let shown = client.endpoint().shown().to_owned();
    let (status, body) = client
        .request(hyper::Method::GET, Some(path), Default::default(), None)
        .await
        .map_err(|e| match e {
            crate::tls::HttpFailure::Tls { endpoint, failure } => Error::Tls { endpoint, failure },
            other => Error::Beacon {
                url: shown.clone(),
                message: other.to_string(),
            },
        })?;
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}

/// Reads the balances of `pubkeys` (0x hex) at `state`.
pub async fn read_beacon(
    client: &crate::tls::Client,
    state: &str,
    pubkeys: &[String],
) -> Result<BeaconReport> {
    let shown = client.endpoint().shown().to_owned();
    let get = |path: String| {
        let client = client.clone();
        let shown = shown.clone();
        async move {
            // The path is the API's (public); the endpoint's URL is shown redacted.
            let url = format!("{shown} {}", path.split('?').next().unwrap_or_default());
            let (status, body) = beacon_get(&client, &path).await?;
            if !(200..300).contains(&status) {
                return Err(Error::Beacon {
                    url,
                    message: format!(
                        "http {status}: {}",
                        crate::redact::scrub(&kc_bundle::printable(
                            &body.chars().take(200).collect::<String>()
                        ))
                    ),
                });
            }
            Ok::<(String, String), Error>((url, body))
        }
    };
    let (url, body) = get("/eth/v1/beacon/genesis".to_string()).await?;
    let genesis_time = parse_genesis(&url, &body)?;
    let mut tally = BeaconTally::default();
    for chunk in pubkeys.chunks(64) {
        let (url, body) = get(format!(
            "/eth/v1/beacon/states/{state}/validators?id={}",
            chunk.join(",")
        ))
        .await?;
        tally.add(&url, chunk, &body)?;
    }
    Ok(tally.report(state, genesis_time, pubkeys.len()))
}

/// Parses the answer of `GET /eth/v1/beacon/genesis` (from `url`): the genesis time.
pub fn parse_genesis(url: &str, body: &str) -> Result<u64> {
    let bad = |message: String| Error::Beacon {
        url: url.to_owned(),
        message,
    };
    let genesis: Envelope<Genesis> = serde_json::from_str(body)
        .map_err(|e| bad(kc_bundle::printable(&format!("unexpected JSON: {e}"))))?;
    genesis
        .data
        .genesis_time
        .parse()
        .map_err(|e| bad(format!("data.genesis_time: {e}")))
}

/// The validators endpoint's answers, added up chunk by chunk.
#[derive(Debug, Default)]
pub struct BeaconTally {
    balance_gwei: u128,
    seen: u64,
    exited: u64,
    answered: std::collections::BTreeSet<String>,
}

impl BeaconTally {
    /// Adds the answer (from `url`) of `GET …/validators?id=` for the public keys `asked`.
    /// Refuses a validator not asked for, one answered twice, and a balance that is not a
    /// decimal amount of gwei (or whose sum no longer fits): one bad answer refuses the report.
    pub fn add(&mut self, url: &str, asked: &[String], body: &str) -> Result<()> {
        let bad = |message: String| Error::Beacon {
            url: url.to_owned(),
            message,
        };
        let resp: Envelope<Vec<BeaconValidator>> = serde_json::from_str(body)
            .map_err(|e| bad(kc_bundle::printable(&format!("unexpected JSON: {e}"))))?;
        for (i, v) in resp.data.into_iter().enumerate() {
            if !asked
                .iter()
                .any(|p| p.eq_ignore_ascii_case(&v.validator.pubkey))
            {
                return Err(bad(format!(
                    "data[{i}].validator.pubkey: answered for a validator not asked for: {:?}",
                    v.validator.pubkey
                )));
            }
            if !self
                .answered
                .insert(v.validator.pubkey.to_ascii_lowercase())
            {
                return Err(bad(format!(
                    "data[{i}].validator.pubkey: answered twice for {:?}",
                    v.validator.pubkey
                )));
            }
            let b: u128 = v
                .balance
                .parse()
                .map_err(|e| bad(format!("data[{i}].balance {:?}: {e}", v.balance)))?;
            self.balance_gwei = self.balance_gwei.checked_add(b).ok_or_else(|| {
                bad(format!(
                    "data[{i}].balance {:?}: the sum of balances overflows",
                    v.balance
                ))
            })?;
            self.seen += 1;
            // The Oracle's exitedValidators counts validators fully withdrawn; an exited
            // validator whose balance is still on the beacon chain is not (its balance counts).
            if v.status == "withdrawal_done" {
                self.exited += 1;
            }
        }
        Ok(())
    }

    /// The report at `state` for `asked` public keys in all.
    pub fn report(self, state: &str, genesis_time: u64, asked: usize) -> BeaconReport {
        BeaconReport {
            state: state.to_string(),
            genesis_time,
            balance_wei: (U256::from(self.balance_gwei) * U256::from(1_000_000_000u64)).to_string(),
            validators: self.seen,
            exited: self.exited,
            not_seen: (asked as u64).saturating_sub(self.seen),
        }
    }
}

/// The public keys (`0x` hex, lower case) of every validator the PoolManager has staked, in
/// staking order, from its `ValidatorStaked` events up to the head.
pub async fn pool_validators(
    events: &crate::logscan::Events,
    c: &crate::config::Contracts,
) -> Result<Vec<String>> {
    let at = events.head().await?;
    let logs = events.fetch(&crate::stake::staked_query(c), at).await?;
    staked_pubkeys(&logs)
}

/// The public keys (`0x` hex, lower case, first occurrence order) of the `ValidatorStaked`
/// events among `logs`.
pub fn staked_pubkeys(logs: &[alloy::rpc::types::Log]) -> Result<Vec<String>> {
    use alloy::sol_types::SolEvent;
    let mut out: Vec<String> = Vec::with_capacity(logs.len());
    let mut seen = std::collections::HashSet::with_capacity(logs.len());
    for l in logs {
        let e = crate::chain::IPoolManager::ValidatorStaked::decode_log_data(l.data())
            .map_err(|e| Error::rpc("decode ValidatorStaked", e))?;
        let pk = format!("0x{}", hex::encode(&e.pubkey));
        // A set, not a search of the list: linear in the number of logs.
        if seen.insert(pk.clone()) {
            out.push(pk);
        }
    }
    Ok(out)
}

/// The outcome of a submitted report.
#[derive(Debug, Clone, Serialize)]
pub struct Submitted {
    pub frame: String,
    pub report: BeaconReport,
    pub tx: String,
    pub block: u64,
}

/// Submits `report` for the Oracle's current frame, signed by `from`; the transactions are
/// recorded in `store` and followed through the mempool ([`crate::replace`]).
pub async fn submit(
    events: &crate::logscan::Events,
    wallet: &EthereumWallet,
    from: Address,
    cfg: &Config,
    store: &mut crate::store::Store,
    report: BeaconReport,
) -> Result<Submitted> {
    let provider = events.provider();
    crate::chain::check_chain(provider, cfg.chain_id).await?;
    let oracle = IOracle::new(cfg.contracts()?.oracle, provider.clone());
    if !oracle
        .isMember(from)
        .call()
        .await
        .map_err(|e| Error::rpc("Oracle.isMember", e))?
    {
        return Err(Refusal::NotOracleMember {
            member: from,
            oracle: cfg.contracts()?.oracle,
        }
        .into());
    }
    // The fees the pool's SSV clusters consumed are booked first, so that the report's rebase
    // reflects them (a permissionless sync, checked by the SSV network).
    let c = cfg.contracts()?;
    if let Some(sync) = crate::ssv::sync_call(events, &c).await? {
        let req = TransactionRequest::default()
            .with_from(from)
            .with_to(c.pool_manager)
            .with_input(sync.abi_encode());
        let gas = provider
            .estimate_gas(req.clone())
            .await
            .map_err(|e| Refusal::WouldRevert {
                what: "the cluster fee sync".into(),
                reason: crate::revert::reason(&e),
            })?;
        let (hash, _) = sign_and_send(
            provider,
            wallet,
            from,
            cfg,
            store,
            crate::replace::Kind::Sync,
            req,
            gas,
        )
        .await?;
        tracing::info!(tx = %hash, clusters = sync.operatorIds.len(), "booked the SSV cluster fees consumed since the last sync");
    }
    let frame = oracle
        .currentFrame()
        .call()
        .await
        .map_err(|e| Error::rpc("Oracle.currentFrame", e))?;
    let balance: U256 = report.balance_wei.parse().map_err(|_| Refusal::BadReport {
        balance: report.balance_wei.clone(),
    })?;
    let call = IOracle::submitReportCall {
        frameId: frame,
        beaconBalance: balance,
        beaconValidators: U256::from(report.validators),
        exitedValidators: U256::from(report.exited),
    };
    let req = TransactionRequest::default()
        .with_from(from)
        .with_to(cfg.contracts()?.oracle)
        .with_input(call.abi_encode());
    let gas = provider
        .estimate_gas(req.clone())
        .await
        .map_err(|e| Refusal::WouldRevert {
            what: "the report".into(),
            reason: crate::revert::reason(&e),
        })?;
    let (hash, block) = sign_and_send(
        provider,
        wallet,
        from,
        cfg,
        store,
        crate::replace::Kind::Report,
        req,
        gas,
    )
    .await?;
    Ok(Submitted {
        frame: frame.to_string(),
        report,
        tx: format!("{hash}"),
        block,
    })
}

/// Signs `req` within the fee caps, records, broadcasts and follows it through the mempool
/// (replaced with higher fees when it is not mined), and requires a successful receipt.
#[allow(clippy::too_many_arguments)]
pub async fn sign_and_send(
    provider: &DynProvider,
    wallet: &EthereumWallet,
    from: Address,
    cfg: &Config,
    store: &mut crate::store::Store,
    kind: crate::replace::Kind,
    req: TransactionRequest,
    gas: u64,
) -> Result<(B256, u64)> {
    let gas_limit = gas + gas / 5;
    if gas_limit > cfg.gas.max_gas_per_tx {
        return Err(Refusal::GasAboveCap {
            what: kind.as_str().to_owned(),
            needed: gas_limit,
            cap: cfg.gas.max_gas_per_tx,
        }
        .into());
    }
    let out = crate::replace::Outgoing {
        kind,
        to: req.to.and_then(|t| t.to().copied()).unwrap_or_default(),
        input: req.input.input().cloned().unwrap_or_default(),
        value: req.value.unwrap_or_default(),
        gas_limit,
        pubkeys: Vec::new(),
    };
    let sender = crate::replace::Sender {
        provider,
        wallet,
        from,
        cfg,
    };
    let mut hook = |_: &mut crate::store::Store, _: &crate::replace::Signed| Ok(());
    let m = sender.send(store, &out, &mut hook).await?;
    match crate::types::mined(&m.receipt) {
        Ok(block) => Ok((m.hash, block)),
        Err(crate::types::Mined::Pending) => unreachable!("the sender returns mined versions"),
        Err(crate::types::Mined::Reverted { block }) => Err(Error::Transaction {
            tx: format!("{}", m.hash),
            message: format!("reverted in block {block}"),
        }),
    }
}
