//! `signer-agent doctor`: before going live, every check in one run, each reported as ok, warn
//! or fail with its reason, under a stable name (`--json` for scripts):
//!
//! | name | what |
//! |---|---|
//! | `rpc_endpoint` | the execution node answers, over verified TLS (or plain HTTP to loopback) |
//! | `chain_id` | it serves the configured chain |
//! | `contracts` | every contract address is configured (deploy file, profile, `[contracts]`) |
//! | `contract:<name>` | each contract has code and answers its interface |
//! | `ssv_network_version` | the SSV network is v2 (ETH-paid clusters) |
//! | `state_store` | the state directory opens |
//! | `policy` | the transaction policy resolves |
//! | `hsm` | the token passes the agent preflight (mechanisms, secp256k1 trial) and the transaction key opens: key attributes, signing self-test |
//! | `role:operator` | the key holds `OPERATOR_ROLE` on the PoolManager |
//! | `role:oracle_member` | the key is an Oracle member (a warning otherwise) |
//! | `gas_funds` | the key holds ETH for the gas of a stake at today's fees |
//! | `cluster_fees` | the next stake's ETH for SSV cluster fees: within governance's and the policy's caps, and covered by the pool's buffer next to its deposit |
//! | `trusted_identities` | ceremony identities are trusted (else every bundle is refused) |
//! | `operator:<id>` | each operator of every imported bundle exists, is not removed, has whitelisted the PoolManager if private, and carries the key the bundle pinned |
//! | `beacon` | the Beacon node answers and is synced |
//!
//! Any `fail` makes the command exit non-zero ([`crate::Error::DoctorFailed`], exit 7).

use alloy::primitives::{Address, U256};
use alloy::providers::{DynProvider, Provider};
use serde::Serialize;

use crate::chain::{IDepositContract, IOracle, IPoolManager, IERC20};
use crate::config::{Config, Contracts};
use crate::error::Error;
use crate::store::{Status, Store};

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Ok,
    Warn,
    Fail,
}

/// One check.
#[derive(Debug, Clone, Serialize)]
pub struct Item {
    pub name: String,
    pub level: Level,
    pub detail: String,
}

/// Every check, in order.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    pub items: Vec<Item>,
}

impl Report {
    fn push(&mut self, name: impl Into<String>, level: Level, detail: impl Into<String>) {
        let detail = crate::redact::scrub(&detail.into()).into_owned();
        self.items.push(Item {
            name: name.into(),
            level,
            detail,
        });
    }
    fn ok(&mut self, name: impl Into<String>, detail: impl Into<String>) {
        self.push(name, Level::Ok, detail)
    }
    fn warn(&mut self, name: impl Into<String>, detail: impl Into<String>) {
        self.push(name, Level::Warn, detail)
    }
    fn fail(&mut self, name: impl Into<String>, detail: impl Into<String>) {
        self.push(name, Level::Fail, detail)
    }

    /// The failed checks.
    pub fn failures(&self) -> impl Iterator<Item = &Item> {
        self.items.iter().filter(|i| i.level == Level::Fail)
    }

    /// The item called `name`.
    pub fn item(&self, name: &str) -> Option<&Item> {
        self.items.iter().find(|i| i.name == name)
    }

    /// `Err(DoctorFailed)` when any check failed.
    pub fn result(&self) -> crate::Result<()> {
        let names: Vec<&str> = self.failures().map(|i| i.name.as_str()).collect();
        if names.is_empty() {
            Ok(())
        } else {
            Err(Error::DoctorFailed {
                failed: names.len(),
                names: names.join(", "),
            })
        }
    }

    /// The report as text, one line per check.
    pub fn text(&self) -> String {
        let mut out = String::new();
        for i in &self.items {
            let tag = match i.level {
                Level::Ok => "ok  ",
                Level::Warn => "WARN",
                Level::Fail => "FAIL",
            };
            out.push_str(&format!("{tag} {:<24} {}\n", i.name, i.detail));
        }
        let (w, f) = (
            self.items.iter().filter(|i| i.level == Level::Warn).count(),
            self.failures().count(),
        );
        out.push_str(&format!(
            "{} checks: {} ok, {w} warnings, {f} failures\n",
            self.items.len(),
            self.items.len() - w - f
        ));
        out
    }
}

/// Gas the `gas_funds` check wants the key to afford at today's fee: a stake of a few
/// validators (a bulk registration of 10 costs ≈ 863,000 on the SSV network alone).
pub const STAKE_GAS_BUDGET: u64 = 1_500_000;

/// Runs every check.
pub async fn run(cfg: &Config) -> Report {
    let mut r = Report::default();
    let provider = match crate::chain::read_provider(cfg) {
        Ok(p) => p,
        Err(e) => {
            r.fail("rpc_endpoint", e.to_string());
            return r;
        }
    };
    if !endpoint(&mut r, cfg, &provider).await {
        return r;
    }
    let Some(c) = resolved_contracts(&mut r, cfg) else {
        return r;
    };
    contracts(&mut r, &provider, &c).await;
    match crate::ssv::check_v2(&provider, &c).await {
        Ok(n) => r.ok(
            "ssv_network_version",
            format!("{} (views at {})", n.version, n.views),
        ),
        Err(e) => r.fail("ssv_network_version", e.to_string()),
    }
    let store = state_store(&mut r, cfg);
    lease(&mut r, cfg).await;
    let policy = policy(&mut r, cfg);
    if let Some(a) = key(&mut r, cfg).await {
        roles(&mut r, &provider, &c, a).await;
        gas_funds(&mut r, &provider, cfg, a).await;
    }
    trusted_identities(&mut r, cfg);
    if let Some(store) = &store {
        match crate::logscan::Events::for_config(cfg, &provider) {
            Ok(events) => {
                cluster_fees(&mut r, &events, cfg, &c, store, policy.as_ref()).await;
                operators(&mut r, &events, &c, store).await;
            }
            Err(e) => r.fail("cluster_fees", e.to_string()),
        }
    }
    beacon(&mut r, cfg).await;
    r
}

/// `rpc_endpoint` (how it is reached) and `chain_id`; `false` when the checks cannot go on.
async fn endpoint(r: &mut Report, cfg: &Config, provider: &DynProvider) -> bool {
    let how = if cfg.rpc.is_https() {
        "over TLS (certificate verified)"
    } else if cfg.rpc.is_loopback() {
        "plain HTTP to loopback"
    } else {
        "plain HTTP to a non-loopback host (tls.allow_insecure_http)"
    };
    match provider.get_chain_id().await {
        Ok(id) => {
            let detail = format!("{} answers, {how}", cfg.rpc.shown());
            if cfg.rpc.is_https() || cfg.rpc.is_loopback() {
                r.ok("rpc_endpoint", detail);
            } else {
                r.warn("rpc_endpoint", detail);
            }
            if id != cfg.chain_id {
                r.fail(
                    "chain_id",
                    Error::WrongChain {
                        expected: cfg.chain_id,
                        actual: id,
                    }
                    .to_string(),
                );
                return false;
            }
            r.ok(
                "chain_id",
                format!(
                    "{id}{}",
                    cfg.network
                        .map(|p| format!(" ({}, built-in profile)", p.name))
                        .unwrap_or_default()
                ),
            );
            true
        }
        Err(e) => {
            r.fail(
                "rpc_endpoint",
                Error::transport("eth_chainId", &e).to_string(),
            );
            false
        }
    }
}

/// `contracts`: the addresses resolved (the first blocks of the scans shown).
fn resolved_contracts(r: &mut Report, cfg: &Config) -> Option<Contracts> {
    match cfg.contracts() {
        Ok(c) => {
            r.ok(
                "contracts",
                format!(
                    "pool from block {}, SSV network events from block {}",
                    c.deploy_block, c.ssv_network_block
                ),
            );
            Some(c)
        }
        Err(e) => {
            r.fail("contracts", e.to_string());
            None
        }
    }
}

/// `state_store`: the store opens (SQLite or PostgreSQL) and its schema is one this agent
/// knows.
fn state_store(r: &mut Report, cfg: &Config) -> Option<Store> {
    match cfg.state_location() {
        Ok(loc) => match Store::open_location(&loc) {
            Ok(s) => {
                r.ok("state_store", format!("{}", s.path().display()));
                Some(s)
            }
            Err(e) => {
                r.fail("state_store", e.to_string());
                None
            }
        },
        Err(_) => {
            r.warn("state_store", "no state_dir: import, plan and run need one");
            None
        }
    }
}

/// `lease` (a shared PostgreSQL store): the lease holder, its token and expiry, and the
/// instances connected (a free lease is fine before the agents start: the first takes it); a
/// store that cannot be reached fails.
async fn lease(r: &mut Report, cfg: &Config) {
    let Some(s) = cfg.postgres() else {
        return;
    };
    match crate::leader::Overview::read(s).await {
        Ok(o) => r.ok("lease", o.lines().join("; ")),
        Err(e) => r.fail("lease", e.to_string()),
    }
}

/// `policy`: the transaction policy resolves against the contracts.
fn policy(r: &mut Report, cfg: &Config) -> Option<crate::policy::Policy> {
    match crate::policy::Policy::from_config(cfg) {
        Ok(p) => {
            r.ok(
                "policy",
                format!(
                    "{} allowed functions, {} validators a day",
                    p.names.len(),
                    p.max_validators_per_day
                ),
            );
            Some(p)
        }
        Err(e) => {
            r.fail("policy", e.to_string());
            None
        }
    }
}

/// `hsm`: the key opens, passes its preflight and self-test; its address.
async fn key(r: &mut Report, cfg: &Config) -> Option<Address> {
    match crate::wallet::open_signer(cfg).await {
        Ok((_, a)) => {
            match cfg.signer() {
                Ok(crate::config::SignerConfig::DevPrivateKey { .. }) => r.warn(
                    "hsm",
                    format!("DEVELOPMENT key from a file, not an HSM (address {a})"),
                ),
                _ => r.ok(
                    "hsm",
                    format!("agent preflight passed (mechanisms, secp256k1 trial); key opened, attested and self-tested in its token (address {a})"),
                ),
            }
            Some(a)
        }
        Err(e) => {
            r.fail("hsm", e.to_string());
            None
        }
    }
}

/// `trusted_identities`: at least one ceremony identity is trusted.
fn trusted_identities(r: &mut Report, cfg: &Config) {
    if cfg.trusted_identities.is_empty() {
        r.fail(
            "trusted_identities",
            "none: every bundle is refused (set trusted_identities to the ceremony HSM identity keys)",
        );
    } else {
        r.ok(
            "trusted_identities",
            format!(
                "{} trusted ceremony identities",
                cfg.trusted_identities.len()
            ),
        );
    }
}

/// `contract:<name>`: code at the address and an answer from one of its views.
async fn contracts(r: &mut Report, provider: &DynProvider, c: &Contracts) {
    let mut list = vec![
        ("pool_manager", c.pool_manager),
        ("pool_eth", c.pool_eth),
        ("oracle", c.oracle),
        ("deposit_contract", c.deposit_contract),
        ("ssv_network", c.ssv_network),
        ("ssv_network_views", c.ssv_network_views),
    ];
    if let Some(t) = c.ssv_token {
        list.push(("ssv_token", t));
    }
    for (name, addr) in list {
        let item = format!("contract:{name}");
        match provider.get_code_at(addr).await {
            Ok(code) if code.is_empty() => {
                r.fail(
                    item,
                    format!("no code at {addr}: not a contract on this chain"),
                );
                continue;
            }
            Ok(_) => {}
            Err(e) => {
                r.fail(
                    item,
                    Error::rpc(format!("eth_getCode({addr})"), e).to_string(),
                );
                continue;
            }
        }
        let p = provider.clone();
        let answer: Result<String, String> = match name {
            "pool_manager" => IPoolManager::new(addr, p)
                .bufferedEther()
                .call()
                .await
                .map(|b| format!("bufferedEther() = {}", crate::stake::eth(b)))
                .map_err(|e| format!("bufferedEther(): {e}")),
            "pool_eth" | "ssv_token" => IERC20::new(addr, p)
                .totalSupply()
                .call()
                .await
                .map(|s| format!("totalSupply() = {s}"))
                .map_err(|e| format!("totalSupply(): {e}")),
            "oracle" => IOracle::new(addr, p)
                .quorum()
                .call()
                .await
                .map(|q| format!("quorum() = {q}"))
                .map_err(|e| format!("quorum(): {e}")),
            "deposit_contract" => IDepositContract::new(addr, p)
                .get_deposit_root()
                .call()
                .await
                .map(|d| format!("get_deposit_root() = {d}"))
                .map_err(|e| format!("get_deposit_root(): {e}")),
            _ => crate::chain::ISSVNetwork::new(addr, p)
                .getVersion()
                .call()
                .await
                .map(|v| format!("getVersion() = {v}"))
                .map_err(|e| format!("getVersion(): {e}")),
        };
        match answer {
            Ok(a) => r.ok(item, format!("{addr}: {a}")),
            Err(e) => r.fail(
                item,
                format!(
                    "{addr} has code but does not answer its interface: {}",
                    crate::redact::scrub(&e)
                ),
            ),
        }
    }
}

async fn roles(r: &mut Report, provider: &DynProvider, c: &Contracts, agent: Address) {
    let pm = IPoolManager::new(c.pool_manager, provider.clone());
    let role = async {
        let id = pm.OPERATOR_ROLE().call().await?;
        pm.hasRole(id, agent).call().await
    };
    match role.await {
        Ok(true) => r.ok("role:operator", format!("{agent} holds OPERATOR_ROLE on the PoolManager")),
        Ok(false) => r.fail(
            "role:operator",
            format!("{agent} lacks OPERATOR_ROLE on the PoolManager {}: it cannot stake (governance grants it)", c.pool_manager),
        ),
        Err(e) => r.fail("role:operator", Error::rpc("PoolManager.hasRole", e).to_string()),
    }
    match IOracle::new(c.oracle, provider.clone())
        .isMember(agent)
        .call()
        .await
    {
        Ok(true) => r.ok("role:oracle_member", format!("{agent} is an Oracle member")),
        Ok(false) => r.warn(
            "role:oracle_member",
            format!("{agent} is not an Oracle member: `oracle report` with this key is refused"),
        ),
        Err(e) => r.fail(
            "role:oracle_member",
            Error::rpc("Oracle.isMember", e).to_string(),
        ),
    }
}

async fn gas_funds(r: &mut Report, provider: &DynProvider, cfg: &Config, agent: Address) {
    let balance = match provider.get_balance(agent).await {
        Ok(b) => b,
        Err(e) => return r.fail("gas_funds", Error::rpc("eth_getBalance", e).to_string()),
    };
    let fee = match provider.estimate_eip1559_fees().await {
        Ok(f) => f.max_fee_per_gas.min(cfg.gas.max_fee_per_gas_wei),
        Err(e) => return r.fail("gas_funds", Error::rpc("eth_feeHistory", e).to_string()),
    };
    let need = U256::from(fee) * U256::from(STAKE_GAS_BUDGET);
    let detail = format!(
        "{} holds {}; a stake ({STAKE_GAS_BUDGET} gas at {fee} wei) needs {}",
        agent,
        crate::stake::eth(balance),
        crate::stake::eth(need)
    );
    if balance < need {
        r.fail("gas_funds", format!("not enough ETH for gas: {detail}"));
    } else if balance < need * U256::from(10u64) {
        r.warn(
            "gas_funds",
            format!("ETH for fewer than 10 stakes: {detail}"),
        );
    } else {
        r.ok("gas_funds", detail);
    }
}

/// The next stake's ETH for the SSV cluster's fees (SSV network v2: paid in ETH from the
/// pool's buffer): within governance's cap and the policy's, and covered next to the deposit.
async fn cluster_fees(
    r: &mut Report,
    events: &crate::logscan::Events,
    cfg: &Config,
    c: &Contracts,
    store: &Store,
    policy: Option<&crate::policy::Policy>,
) {
    let name = "cluster_fees";
    let pending = match store.validators() {
        Ok(v) => v,
        Err(e) => return r.fail(name, e.to_string()),
    };
    let next = pending
        .iter()
        .find(|v| matches!(v.status, Status::Imported | Status::Reverted));
    let Some(next) = next else {
        return r.ok(name, "no validator waiting to be staked");
    };
    let ids = match store.bundles() {
        Ok(b) => match b.into_iter().find(|b| b.id == next.bundle_id) {
            Some(b) => b.operator_ids,
            None => return r.fail(name, format!("bundle {} not in the store", next.bundle_id)),
        },
        Err(e) => return r.fail(name, e.to_string()),
    };
    let provider = events.provider();
    let result: crate::Result<()> = async {
        let at = events.head().await?;
        let snapshot = crate::ssv::cluster_snapshot(events, c, c.pool_manager, &ids, at).await?;
        let fee = crate::stake::cluster_fee(
            provider,
            c.ssv_network_views,
            c.pool_manager,
            &ids,
            &snapshot,
            1,
            cfg.fee_margin_blocks,
        )
        .await?;
        let pm = IPoolManager::new(c.pool_manager, provider.clone());
        let cap = pm
            .clusterFeeCapPerValidator()
            .call()
            .await
            .map_err(|e| Error::rpc("PoolManager.clusterFeeCapPerValidator", e))?
            * U256::from(u64::from(snapshot.validatorCount) + 1);
        let buffered = pm
            .bufferedEther()
            .call()
            .await
            .map_err(|e| Error::rpc("PoolManager.bufferedEther", e))?;
        let withdrawals = pm
            .pendingWithdrawalEther()
            .call()
            .await
            .map_err(|e| Error::rpc("PoolManager.pendingWithdrawalEther", e))?;
        let available = buffered.saturating_sub(withdrawals);
        let deposit = U256::from(crate::stake::DEPOSIT_WEI);
        let eth = crate::stake::eth;
        let what = format!(
            "the next validator (cluster {ids:?}) needs {} for SSV fees next to its 32 ETH deposit; the buffer has {} available",
            eth(fee),
            eth(available)
        );
        if fee > cap {
            r.fail(name, format!("{what}; governance's cap (PoolManager.clusterFeeCapPerValidator) allows {}: the stake would revert (ClusterFeeAboveCap)", eth(cap)));
        } else if policy.is_some_and(|p| fee > p.max_ssv_fee_per_tx_wei) {
            r.fail(name, format!("{what}; the policy's policy.max_ssv_fee_per_tx_gwei allows {}", eth(policy.map(|p| p.max_ssv_fee_per_tx_wei).unwrap_or_default())));
        } else if available >= deposit && available < deposit + fee {
            r.fail(name, format!("no funds for fees: {what}: the deposit is covered, the cluster's fees are not"));
        } else if available < deposit {
            r.warn(name, format!("waiting for users' ETH: {what}"));
        } else {
            r.ok(name, what);
        }
        Ok(())
    }
    .await;
    if let Err(e) = result {
        r.fail(name, e.to_string());
    }
}

/// `operator:<id>` for every operator of every imported bundle.
async fn operators(r: &mut Report, events: &crate::logscan::Events, c: &Contracts, store: &Store) {
    let bundles = match store.bundles() {
        Ok(b) => b,
        Err(e) => return r.fail("operators", e.to_string()),
    };
    if bundles.is_empty() {
        return r.ok("operators", "no bundle imported yet");
    }
    let at = match events.head().await {
        Ok(a) => a,
        Err(e) => return r.fail("operators", e.to_string()),
    };
    let mut seen = std::collections::BTreeSet::new();
    for b in &bundles {
        let facts = store.bundle_facts(&b.id).ok().flatten();
        let states = match crate::ssv::operator_states(
            events.provider(),
            c.ssv_network_views,
            &b.operator_ids,
            c.pool_manager,
        )
        .await
        {
            Ok(s) => s,
            Err(e) => {
                r.fail("operators", e.to_string());
                continue;
            }
        };
        for st in states {
            if !seen.insert(st.id) {
                continue;
            }
            let name = format!("operator:{}", st.id);
            if let Some(p) = st.problem(c.pool_manager) {
                r.fail(
                    name,
                    format!("operator {} {p} (bundle {})", st.id, b.ceremony_id),
                );
                continue;
            }
            let pinned = facts
                .as_ref()
                .and_then(|f| f.operators.iter().find(|(i, _)| *i == st.id))
                .map(|(_, fp)| fp.as_str());
            match crate::ssv::operator_key_problem(events, c, st.id, pinned, at).await {
                Ok(Some(p)) => r.fail(
                    name,
                    format!("operator {} {p} (bundle {})", st.id, b.ceremony_id),
                ),
                Ok(None) => r.ok(
                    name,
                    format!(
                        "active, {}, key as pinned by bundle {}",
                        if st.private {
                            "private with the PoolManager whitelisted"
                        } else {
                            "public"
                        },
                        b.ceremony_id
                    ),
                ),
                Err(e) => r.fail(name, e.to_string()),
            }
        }
    }
}

/// `beacon`: `GET /eth/v1/node/syncing`.
async fn beacon(r: &mut Report, cfg: &Config) {
    let Some(ep) = &cfg.beacon else {
        return r.warn("beacon", "beacon_url not set: `oracle report` cannot run");
    };
    let client = match crate::tls::Client::new(ep, &cfg.tls) {
        Ok(c) => c,
        Err(e) => return r.fail("beacon", e.to_string()),
    };
    match crate::oracle::beacon_get(&client, "/eth/v1/node/syncing").await {
        Ok((200, body)) => {
            let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
            let d = &v["data"];
            match d["is_syncing"].as_bool() {
                Some(false) => r.ok(
                    "beacon",
                    format!(
                        "{} synced (head slot {})",
                        ep.shown(),
                        d["head_slot"].as_str().unwrap_or("?")
                    ),
                ),
                Some(true) => r.fail(
                    "beacon",
                    format!(
                        "{} is syncing ({} slots behind): balances read now are stale",
                        ep.shown(),
                        d["sync_distance"].as_str().unwrap_or("?")
                    ),
                ),
                None => r.fail(
                    "beacon",
                    format!(
                        "{}: /eth/v1/node/syncing answered without data.is_syncing",
                        ep.shown()
                    ),
                ),
            }
        }
        Ok((status, _)) => r.fail(
            "beacon",
            format!("{}: /eth/v1/node/syncing: http {status}", ep.shown()),
        ),
        Err(e) => r.fail("beacon", e.to_string()),
    }
}
