//! The command line (clap derive, `env` fallbacks: flag > env > file) and what each command does.
//!
//! Exit codes: 0 success; 1 i/o; 2 configuration; 3 hsm or signer; 4 rpc / chain / transaction;
//! 5 refusal (bundle, operator, policy checks); 6 state store; 7 `doctor` found a failing check.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use alloy::network::EthereumWallet;
use alloy::primitives::{Address, U256};
use alloy::providers::DynProvider;
use alloy::signers::local::PrivateKeySigner;
use clap::{Args, Parser, Subcommand};

use crate::config::{Config, Overrides, SignerConfig};
use crate::error::{Error, Result};
use crate::metrics::Metrics;
use crate::policy::{Policy, PolicySigner, Refusals};
use crate::signer::{pkcs11, HsmSigner};
use crate::stake::Prepared;
use crate::store::{Status, Store};

/// The online agent of the key ceremony appliance.
#[derive(Debug, Parser)]
#[command(name = "signer-agent", version, about, long_about = None)]
#[command(
    after_help = "Exit codes: 0 ok, 1 i/o, 2 config, 3 hsm/signer, 4 rpc/chain/tx, 5 refused, 6 state store, 7 doctor found a failure"
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes.
#[derive(Debug, Args)]
pub struct Global {
    /// The TOML configuration file.
    #[arg(long, short = 'c', env = "SIGNER_AGENT_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    /// JSON-RPC endpoint of an execution node (https://, or http:// to loopback).
    #[arg(long, env = "SIGNER_AGENT_RPC_URL", global = true)]
    pub rpc_url: Option<String>,
    /// A built-in network (mainnet, hoodi: its public contracts and chain id) or custom.
    #[arg(long, env = "SIGNER_AGENT_NETWORK", global = true)]
    pub network: Option<String>,
    /// The chain id the agent must be on.
    #[arg(long, env = "SIGNER_AGENT_CHAIN_ID", global = true)]
    pub chain_id: Option<u64>,
    /// The deploy file (JSON of contract addresses) written by the contracts' deploy script.
    #[arg(long, env = "SIGNER_AGENT_DEPLOYMENT", global = true)]
    pub deployment: Option<PathBuf>,
    /// Directory of the state database.
    #[arg(long, env = "SIGNER_AGENT_STATE_DIR", global = true)]
    pub state_dir: Option<PathBuf>,
    /// Blocks to wait after inclusion.
    #[arg(long, env = "SIGNER_AGENT_CONFIRMATIONS", global = true)]
    pub confirmations: Option<u64>,
    /// Loopback address of the metrics and health endpoint.
    #[arg(long, env = "SIGNER_AGENT_METRICS_ADDR", global = true)]
    pub metrics_addr: Option<String>,
    /// Beacon API base URL (for `oracle`).
    #[arg(long, env = "SIGNER_AGENT_BEACON_URL", global = true)]
    pub beacon_url: Option<String>,
    /// PKCS#11 module of the transaction key's token.
    #[arg(long, env = "SIGNER_AGENT_PKCS11_MODULE", global = true)]
    pub pkcs11_module: Option<PathBuf>,
    /// Label of the token holding the transaction key.
    #[arg(long, env = "SIGNER_AGENT_TOKEN_LABEL", global = true)]
    pub token_label: Option<String>,
    /// Serial number of that token, where several tokens share its label.
    #[arg(long, env = "SIGNER_AGENT_TOKEN_SERIAL", global = true)]
    pub token_serial: Option<String>,
    /// Label of the transaction key.
    #[arg(long, env = "SIGNER_AGENT_KEY_LABEL", global = true)]
    pub key_label: Option<String>,
    /// File holding the token's user PIN (else SIGNER_AGENT_PIN).
    #[arg(long, env = "SIGNER_AGENT_PIN_FILE", global = true)]
    pub pin_file: Option<PathBuf>,
    /// DEVELOPMENT ONLY: sign with a local secp256k1 key (hex in a file) instead of the HSM.
    #[arg(long, env = "SIGNER_AGENT_DEV_PRIVATE_KEY_FILE", global = true)]
    pub dev_private_key_file: Option<PathBuf>,
    /// Cap on the max fee per gas, in gwei.
    #[arg(long, env = "SIGNER_AGENT_MAX_FEE_GWEI", global = true)]
    pub max_fee_per_gas_gwei: Option<u64>,
    /// Logs as JSON lines (on stderr).
    #[arg(long, env = "SIGNER_AGENT_LOG_JSON", global = true)]
    pub log_json: bool,
}

impl Global {
    fn overrides(&self) -> Overrides {
        Overrides {
            rpc_url: self.rpc_url.clone(),
            network: self.network.clone(),
            chain_id: self.chain_id,
            deployment: self.deployment.clone(),
            state_dir: self.state_dir.clone(),
            confirmations: self.confirmations,
            metrics_addr: self.metrics_addr.clone(),
            beacon_url: self.beacon_url.clone(),
            pkcs11_module: self.pkcs11_module.clone(),
            token_label: self.token_label.clone(),
            token_serial: self.token_serial.clone(),
            key_label: self.key_label.clone(),
            pin_file: self.pin_file.clone(),
            dev_private_key_file: self.dev_private_key_file.clone(),
            max_fee_per_gas_gwei: self.max_fee_per_gas_gwei,
        }
    }
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// The transaction key.
    #[command(subcommand)]
    Key(KeyCommand),
    /// SSV operators.
    #[command(subcommand)]
    Operators(OperatorsCommand),
    /// Verify a bundle: signatures, hashes, roots, pinned identity, and the chain's view.
    Verify {
        bundle: PathBuf,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Verify a bundle and import its validators into the state store.
    Import { bundle: PathBuf },
    /// Dry run: what `run` would send now, the gas, ETH and SSV it needs.
    Plan {
        #[arg(long)]
        json: bool,
    },
    /// The daemon: reconcile, then stake whenever the pool holds 32 ETH per validator.
    Run {
        /// Stop once nothing more can be staked now (instead of waiting for ETH).
        #[arg(long)]
        once: bool,
    },
    /// Oracle duties.
    #[command(subcommand)]
    Oracle(OracleCommand),
    /// The transaction policy.
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// Validators and their status.
    Status {
        #[arg(long)]
        json: bool,
    },
    /// The pool's SSV clusters (SSV network v2).
    #[command(subcommand)]
    Clusters(ClustersCommand),
    /// Before going live: check endpoints, chain, contracts, roles, funds, identities, the HSM,
    /// the operators of every imported bundle and the Beacon node; ok / warn / fail each.
    Doctor {
        #[arg(long)]
        json: bool,
    },
    /// Validator exits for withdrawals (maintenance).
    #[command(subcommand)]
    Exits(ExitsCommand),
}

/// `exits …`.
#[derive(Debug, Subcommand)]
pub enum ExitsCommand {
    /// What the withdrawal queue needs, the validators `run` would exit, and — for governance —
    /// the `PoolManager.requestTriggerableExits` call (EIP-7002) for validators whose SSV exit
    /// was requested but that the beacon chain does not show exiting (else for the planned ones).
    Plan {
        #[arg(long)]
        json: bool,
    },
}

/// `clusters …`.
#[derive(Debug, Subcommand)]
pub enum ClustersCommand {
    /// Every cluster of the PoolManager: kind (ETH or legacy SSV), validators, effective balance,
    /// balance, burn rate and runway in ETH, the pool's books.
    Status {
        #[arg(long)]
        json: bool,
    },
    /// For governance: the `PoolManager.migrateClusters` call that moves the pool's legacy
    /// SSV-paid clusters to ETH (ETH per cluster, SSV refunded, calldata).
    MigrationPlan {
        #[arg(long)]
        json: bool,
    },
}

/// `key …`.
#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Create the secp256k1 transaction key in the token and print its address.
    Init,
    /// Open the key (self-check included) and print its address.
    Show,
}

/// `operators …`.
#[derive(Debug, Subcommand)]
pub enum OperatorsCommand {
    /// Read operators' public keys from the SSV network contract, with provenance.
    Export {
        /// Operator ids, comma separated.
        #[arg(long, value_delimiter = ',', required = true)]
        ids: Vec<u64>,
        /// Output file (created new, never overwritten).
        #[arg(long)]
        out: PathBuf,
    },
}

/// `policy …`.
#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Print what the transaction key may sign.
    Show,
}

/// `oracle …`.
#[derive(Debug, Subcommand)]
pub enum OracleCommand {
    /// Read the pool validators' balances from the Beacon API and submit this member's report.
    Report {
        /// Beacon state id (`head`, `finalized`, a slot or a root).
        #[arg(long, default_value = "finalized")]
        state: String,
        /// Print the report without submitting it.
        #[arg(long)]
        dry_run: bool,
    },
}

/// Sets up tracing on stderr (JSON lines on request).
pub fn init_tracing(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("SIGNER_AGENT_LOG")
        // cryptoki logs, as an error, every mechanism type of C_GetMechanismList it has no name
        // for (kryoptic lists dozens); the agent preflight reports what the agent needs.
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,cryptoki::mechanism=off"));
    // Colours only on a terminal: logs piped to a file or a collector stay plain text.
    // Every line is scrubbed of endpoint credentials (crate::redact).
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(crate::redact::Stderr);
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

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
fn with_policy<S>(cfg: &Config, inner: S) -> Result<PolicySigner<S>> {
    let mut s = PolicySigner::new(inner, policy_for(cfg)?)
        .with_simulator(crate::chain::read_provider(cfg)?);
    if let Ok(dir) = cfg.state_dir() {
        s = s.with_store(Store::open(dir)?);
    }
    Ok(s)
}

/// The transaction signer (the HSM key, or — development only — a local key) behind the
/// transaction policy: a transaction the policy refuses is never signed.
pub async fn open_signer(cfg: &Config) -> Result<(EthereumWallet, Address)> {
    open_signer_counted(cfg).await.map(|(w, a, _)| (w, a))
}

/// [`open_signer`], with the policy's refusal counters (for `/metrics`).
pub async fn open_signer_counted(cfg: &Config) -> Result<(EthereumWallet, Address, Refusals)> {
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
            let s = with_policy(cfg, signer)?;
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
            let s = with_policy(cfg, key)?;
            let r = s.refusals();
            Ok((EthereumWallet::from(s), address, r))
        }
    }
}

fn print_json<T: serde::Serialize>(v: &T) {
    println!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
}

/// Runs a parsed command line.
pub async fn run(cli: Cli) -> Result<()> {
    let ov = cli.global.overrides();
    let cfg_path = cli.global.config.as_deref();
    match cli.command {
        Command::Key(KeyCommand::Init) => key_init(cfg_path, &ov).await,
        Command::Key(KeyCommand::Show) => {
            let cfg = Config::resolve(cfg_path, &ov)?;
            let (_, address) = open_signer(&cfg).await?;
            println!("{}", address.to_checksum(None));
            Ok(())
        }
        Command::Operators(OperatorsCommand::Export { ids, out }) => {
            let cfg = Config::resolve(cfg_path, &ov)?;
            let provider = crate::chain::read_provider(&cfg)?;
            let events = crate::logscan::Events::for_config(&cfg, &provider)?;
            let file =
                crate::operators::export(&events, &cfg.contracts()?, cfg.chain_id, &ids).await?;
            crate::operators::write_new(&out, &file)?;
            let p = file.provenance.as_ref();
            eprintln!(
                "wrote {} operators to {} (chain {}, block {})",
                file.operators.len(),
                out.display(),
                cfg.chain_id,
                p.map(|p| p.block_number).unwrap_or_default()
            );
            Ok(())
        }
        Command::Verify { bundle, json } => {
            let cfg = Config::resolve(cfg_path, &ov)?;
            let provider = crate::chain::read_provider(&cfg)?;
            let events = crate::logscan::Events::for_config(&cfg, &provider)?;
            let v = verify_with_chain(&cfg, &events, &bundle).await?;
            if json {
                print_json(&v);
            } else {
                println!(
                    "bundle {}: OK — ceremony {} ({} on chain {}), {} validators, root {}, batch approved on chain",
                    bundle.display(),
                    v.ceremony_id,
                    v.network,
                    v.chain_id,
                    v.validators,
                    v.merkle_root
                );
            }
            Ok(())
        }
        Command::Import { bundle } => {
            let cfg = Config::resolve(cfg_path, &ov)?;
            let provider = crate::chain::read_provider(&cfg)?;
            let events = crate::logscan::Events::for_config(&cfg, &provider)?;
            if kc_bundle::reshare::kind_of_dir(&bundle) == kc_bundle::reshare::BundleKind::Reshare {
                let added = crate::maintenance::reshare::import(&cfg, &events, &bundle).await?;
                println!(
                    "imported {added} validators to move from reshare bundle {} (`run` migrates them; needs [maintenance])",
                    bundle.display()
                );
                return Ok(());
            }
            let verified = crate::bundle::load_verified(&bundle, &cfg.trusted_identities)?;
            let mut store = Store::open(cfg.state_dir()?)?;
            // The state store's refusals first (a re-issued key already staked, sent or
            // front-run, or with other deposit data): they name the keys.
            store.check_import(&verified)?;
            let summary = verify_with_chain(&cfg, &events, &bundle).await?;
            let added = store.import(&verified)?;
            println!(
                "imported {added} new validators from {} (ceremony {}, root {})",
                bundle.display(),
                summary.ceremony_id,
                summary.merkle_root
            );
            Ok(())
        }
        Command::Plan { json } => {
            let cfg = Config::resolve(cfg_path, &ov)?;
            let provider = crate::chain::read_provider(&cfg)?;
            let events = crate::logscan::Events::for_config(&cfg, &provider)?;
            let store = Store::open(cfg.state_dir()?)?;
            let from = match cfg.signer() {
                Ok(SignerConfig::DevPrivateKey { .. }) | Ok(SignerConfig::Pkcs11 { .. }) => {
                    Some(open_signer(&cfg).await?.1)
                }
                Err(_) => None,
            };
            let p = crate::stake::prepare(&events, &cfg, &store, from).await?;
            if json {
                print_json(&p);
            } else {
                print_plan(&p);
            }
            Ok(())
        }
        Command::Run { once } => daemon(cfg_path, &ov, once).await,
        Command::Doctor { json } => {
            let cfg = Config::resolve(cfg_path, &ov)?;
            let report = crate::doctor::run(&cfg).await;
            if json {
                print_json(&serde_json::json!({
                    "ok": report.failures().next().is_none(),
                    "items": report.items,
                }));
            } else {
                print!("{}", report.text());
            }
            report.result()
        }
        Command::Oracle(OracleCommand::Report { state, dry_run }) => {
            let cfg = Config::resolve(cfg_path, &ov)?;
            let beacon = cfg.beacon_client("`oracle report`")?;
            // The pool's validators as the chain knows them (any member can report).
            let provider = crate::chain::read_provider(&cfg)?;
            crate::chain::check_chain(&provider, cfg.chain_id).await?;
            let events = crate::logscan::Events::for_config(&cfg, &provider)?;
            let pubkeys = crate::oracle::pool_validators(&events, &cfg.contracts()?).await?;
            let report = crate::oracle::read_beacon(&beacon, &state, &pubkeys).await?;
            if dry_run {
                print_json(&report);
                return Ok(());
            }
            let (wallet, from) = open_signer(&cfg).await?;
            let mut store = match cfg.state_dir() {
                Ok(dir) => Store::open(dir)?,
                // A member without a state directory: the transactions are followed in memory.
                Err(_) => Store::in_memory()?,
            };
            let s = crate::oracle::submit(&events, &wallet, from, &cfg, &mut store, report).await?;
            print_json(&s);
            Ok(())
        }
        Command::Policy(PolicyCommand::Show) => {
            let cfg = Config::resolve(cfg_path, &ov)?;
            print!("{}", Policy::from_config(&cfg)?.describe());
            Ok(())
        }
        Command::Clusters(cmd) => {
            let cfg = Config::resolve(cfg_path, &ov)?;
            let provider = crate::chain::read_provider(&cfg)?;
            crate::chain::check_chain(&provider, cfg.chain_id).await?;
            let c = cfg.contracts()?;
            let net = crate::ssv::check_v2(&provider, &c).await?;
            let events = crate::logscan::Events::for_config(&cfg, &provider)?;
            match cmd {
                ClustersCommand::Status { json } => {
                    let clusters = crate::ssv::pool_clusters(&events, &c).await?;
                    if json {
                        print_json(&serde_json::json!({
                            "ssv_network": net,
                            "clusters": clusters,
                        }));
                    } else {
                        println!("SSV network {} ({})", net.address, net.version);
                        for r in &clusters {
                            let unit = match r.funds.kind {
                                crate::ssv::ClusterKind::Eth => "ETH",
                                crate::ssv::ClusterKind::Legacy => "SSV",
                            };
                            println!(
                                "cluster {:?}: {:?}, {} validators, EB {} ETH, {}, balance {} {unit}, burn {} wei/block, runway {}, pool books {}{}",
                                r.operator_ids,
                                r.funds.kind,
                                r.funds.validators,
                                r.funds.effective_balance_eth,
                                if r.funds.active { "active" } else { "liquidated" },
                                crate::stake::decimal(r.funds.balance_wei),
                                r.funds.burn_wei_per_block,
                                r.funds
                                    .runway_blocks
                                    .map(|b| format!(
                                        "{b} blocks ({:.1} days)",
                                        r.runway_days.unwrap_or_default()
                                    ))
                                    .unwrap_or_else(|| "-".into()),
                                crate::stake::eth(r.pool_books_wei),
                                if r.funds.kind == crate::ssv::ClusterKind::Legacy {
                                    " — legacy: migrate it (clusters migration-plan)"
                                } else if r.funds.liquidatable {
                                    " — LIQUIDATABLE"
                                } else {
                                    ""
                                }
                            );
                        }
                    }
                }
                ClustersCommand::MigrationPlan { json } => {
                    let plan =
                        crate::ssv::migration_plan(&events, &c, cfg.fee_margin_blocks).await?;
                    if json {
                        print_json(&plan);
                    } else if plan.clusters.is_empty() {
                        println!("no legacy SSV cluster: nothing to migrate");
                    } else {
                        for i in &plan.clusters {
                            println!(
                                "cluster {:?}: {} validators, EB {} ETH, {} SSV refunded, {} to send",
                                i.operator_ids,
                                i.validators,
                                i.effective_balance_eth,
                                crate::stake::decimal(i.ssv_balance_wei),
                                crate::stake::eth(i.eth_wei)
                            );
                        }
                        println!(
                            "governance sends PoolManager {}.migrateClusters (from the buffer, {} in all):",
                            plan.pool_manager,
                            crate::stake::eth(plan.total_eth_wei)
                        );
                        println!("{}", plan.calldata);
                    }
                }
            }
            Ok(())
        }
        Command::Exits(ExitsCommand::Plan { json }) => {
            let cfg = Config::resolve(cfg_path, &ov)?;
            crate::maintenance::cli::exits_plan(&cfg, json).await
        }
        Command::Status { json } => {
            let cfg = Config::resolve(cfg_path, &ov)?;
            let store = Store::open(cfg.state_dir()?)?;
            let validators = store.validators()?;
            if json {
                let refusals: Vec<_> = store
                    .history()?
                    .into_iter()
                    .filter(|h| h.status == Status::Refused.as_str())
                    .collect();
                print_json(&serde_json::json!({
                    "bundles": store.bundles()?,
                    "validators": validators,
                    "refusals": refusals,
                    "maintenance": crate::maintenance::cli::status_json(&store)?,
                }));
            } else {
                println!(
                    "{:<6} {:<8} {:<10} {:<14} {:<10} {:<68}",
                    "index", "nonce", "status", "pubkey", "block", "tx"
                );
                for v in &validators {
                    println!(
                        "{:<6} {:<8} {:<10} {:<14} {:<10} {}",
                        v.index,
                        v.owner_nonce,
                        v.status.as_str(),
                        format!("{}…", &v.pubkey[..12.min(v.pubkey.len())]),
                        v.block_number
                            .map(|b| b.to_string())
                            .unwrap_or_else(|| "-".into()),
                        v.tx_hash.clone().unwrap_or_else(|| "-".into())
                    );
                }
                let count = |s: Status| validators.iter().filter(|v| v.status == s).count();
                println!(
                    "{} validators: {} imported, {} sent, {} confirmed, {} reverted, {} refused",
                    validators.len(),
                    count(Status::Imported),
                    count(Status::Sent),
                    count(Status::Confirmed),
                    count(Status::Reverted),
                    count(Status::Refused)
                );
                for h in store.history()? {
                    if h.status == Status::Refused.as_str() {
                        println!("refused {}: {}", h.pubkey, h.note.as_deref().unwrap_or("-"));
                    }
                }
                crate::maintenance::cli::print_status(&store)?;
            }
            Ok(())
        }
    }
}

fn print_plan(p: &Prepared) {
    match p {
        Prepared::Done => println!("nothing to stake: every imported validator is staked"),
        Prepared::Waiting { reason } => println!("nothing to send now: {reason}"),
        Prepared::FrontRun { deposits } => {
            println!("nothing to send now: front-run keys (`run` marks them refused):");
            for d in deposits {
                println!("  refused ({})", d.reason());
            }
        }
        Prepared::Ready(plan) => {
            println!(
                "would stake {} validators of batch {} (cluster {:?}) in one transaction:",
                plan.validators.len(),
                plan.bundle_id,
                plan.operator_ids
            );
            for v in &plan.validators {
                println!(
                    "  index {:<5} owner nonce {:<5} {}",
                    v.index, v.owner_nonce, v.pubkey
                );
            }
            println!(
                "  deposits:         {} wei ({} × 32 ETH to the deposit contract)",
                plan.deposits_wei,
                plan.validators.len()
            );
            println!(
                "  ETH for fees:     {} wei (to the SSV cluster, {})",
                plan.cluster_fee_wei, plan.ssv_network_version
            );
            println!("  ETH needed:       {} wei", plan.eth_needed_wei);
            println!("  ETH available:    {} wei", plan.buffered_available_wei);
            println!(
                "  gas estimate:     {}",
                plan.gas_estimate
                    .map(|g| g.to_string())
                    .unwrap_or_else(|| "(no signer configured)".into())
            );
            println!("  max fee per gas:  {} wei", plan.max_fee_per_gas_wei);
            println!("  deposit root:     {}", plan.expected_deposit_root);
        }
    }
}

/// `key init`.
async fn key_init(cfg_path: Option<&Path>, ov: &Overrides) -> Result<()> {
    let cfg = Config::resolve_signer_only(cfg_path, ov)?;
    match cfg {
        SignerConfig::Pkcs11 {
            module,
            token_label,
            token_serial,
            key_label,
            pin,
        } => {
            let token = pkcs11::TokenSelector::new(token_label, token_serial);
            let address = tokio::task::spawn_blocking(move || {
                pkcs11::generate(&module, token, &key_label, &pin)
            })
            .await
            .map_err(|e| Error::Signer {
                label: "pkcs11".into(),
                message: format!("thread failed: {e}"),
            })??;
            println!("{}", Address::from(address).to_checksum(None));
            Ok(())
        }
        SignerConfig::DevPrivateKey { .. } => Err(Error::config(
            "signer.dev_private_key_file",
            "`key init` creates a key in a PKCS#11 token; remove the development key setting",
        )),
    }
}

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
pub async fn verify_with_chain(
    cfg: &Config,
    events: &crate::logscan::Events,
    dir: &Path,
) -> Result<VerifySummary> {
    let provider = events.provider();
    crate::chain::check_chain(provider, cfg.chain_id).await?;
    // The node serves cfg.chain_id (checked just above): the bundle must be for that chain.
    let b = crate::bundle::load_verified_on_chain(dir, &cfg.trusted_identities, cfg.chain_id)?;
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
        return Err(Error::refused(format!(
            "nonce mismatch: the bundle's owner nonces start at {first} with {staked} already staked, the SSV network's nonce for the PoolManager is {chain_nonce}"
        )));
    }
    Ok(VerifySummary {
        ceremony_id: b.ceremony_id,
        network: b.network,
        chain_id: cfg.chain_id,
        validators: b.validators.len(),
        merkle_root: format!("{root}"),
        operator_ids: b.operator_ids,
        first_owner_nonce: first,
        chain_owner_nonce: chain_nonce,
    })
}

fn refusal_rule(reason: &str) -> &'static str {
    let r = reason.to_ascii_lowercase();
    if r.contains("gas above cap") {
        "gas_cap"
    } else if r.contains("nonce mismatch") {
        "owner_nonce"
    } else if r.contains("root not approved") {
        "root_not_approved"
    } else if r.contains("not enough ssv") {
        "ssv_balance"
    } else if r.contains("staking for this cluster stops") {
        "operator_check"
    } else if r.contains("operator_role") {
        "operator_role"
    } else {
        "other"
    }
}

/// The daemon loop.
async fn daemon(cfg_path: Option<&Path>, ov: &Overrides, once: bool) -> Result<()> {
    let cfg = Config::resolve(cfg_path, ov)?;
    let contracts = cfg.contracts()?;
    let provider = crate::chain::read_provider(&cfg)?;
    let events = crate::logscan::Events::for_config(&cfg, &provider)?;
    let mut store = Store::open(cfg.state_dir()?)?;
    let (wallet, from, refusals) = open_signer_counted(&cfg).await?;
    let metrics = Metrics::new(cfg.poll_interval_secs * 10 + 60);
    metrics.attach_policy(refusals);

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown_signal().await;
        let _ = stop_tx.send(true);
    });
    let mut server_stop = stop_rx.clone();
    let (bound, server) = crate::metrics::serve(cfg.metrics_addr, metrics.clone(), async move {
        let _ = server_stop.wait_for(|s| *s).await;
    })
    .await?;
    tracing::info!(%bound, address = %from, "signer-agent running");

    let mut backoff = Duration::from_secs(1);
    let mut reconciled = false;
    let mut stop = stop_rx.clone();
    let result = loop {
        if *stop.borrow() {
            tracing::info!("stopping on signal");
            break Ok(());
        }
        metrics
            .loop_iterations
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let step: Result<bool> = async {
            if !reconciled {
                crate::chain::check_chain(&provider, cfg.chain_id).await?;
                let n =
                    crate::stake::reconcile(&events, &contracts, &mut store, Some(from)).await?;
                tracing::info!(changed = n, "reconciled the state store with the chain");
                reconciled = true;
                // A stake still in the mempool (sent before a restart): follow it to the end,
                // replacing it when it is not mined.
                match crate::stake::resume(&provider, &wallet, from, &cfg, &mut store).await {
                    Ok(Some((tx, block, gas))) => {
                        tracing::info!(%tx, block, gas, "staked (a transaction sent before the restart)");
                        return Ok(true);
                    }
                    Ok(None) => {}
                    Err(Error::TxDropped { tx, nonce }) => {
                        tracing::warn!(%tx, nonce, "dropped from the mempool: planning again");
                        reconciled = false;
                        return Ok(true);
                    }
                    Err(e) => return Err(e),
                }
            }
            update_gauges(&metrics, &provider, &cfg, &store).await;
            if let Some(maint) = &cfg.maintenance {
                let ctx = crate::maintenance::Ctx {
                    provider: &provider,
                    events: &events,
                    wallet: &wallet,
                    from,
                    cfg: &cfg,
                    maint,
                    metrics: &metrics,
                };
                if crate::maintenance::pass(&ctx, &mut store).await?.sent > 0 {
                    // Read the chain again before anything else.
                    return Ok(true);
                }
            }
            match crate::stake::prepare(&events, &cfg, &store, Some(from)).await? {
                Prepared::Done => {
                    tracing::info!("every imported validator is staked");
                    Ok(false)
                }
                Prepared::Waiting { reason } => {
                    tracing::info!(%reason, "waiting");
                    if reason.contains("reconcile") {
                        // Settle from the chain, then try again.
                        reconciled = false;
                        tokio::time::sleep(Duration::from_millis(500)).await;
                        return Ok(true);
                    }
                    Ok(false)
                }
                Prepared::FrontRun { deposits } => {
                    for d in &deposits {
                        let reason = d.reason();
                        tracing::error!(
                            rule = "front_run",
                            pubkey = %d.pubkey,
                            deposit_tx = d.tx.as_deref().unwrap_or("unknown"),
                            %reason,
                            "deposit front-running: validator refused; nothing signed or sent for it"
                        );
                        metrics.refused("front_run");
                        store.set_status(
                            std::slice::from_ref(&d.pubkey),
                            Status::Refused,
                            None,
                            None,
                            Some(&reason),
                        )?;
                    }
                    // Plan again without them.
                    Ok(true)
                }
                Prepared::Ready(plan) => {
                    let k = plan.validators.len();
                    match crate::stake::send(&provider, &wallet, from, &cfg, &mut store, &plan)
                        .await
                    {
                        Ok((tx, block, gas)) => {
                            metrics
                                .stake_transactions
                                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            metrics
                                .validators_staked
                                .fetch_add(k as u64, std::sync::atomic::Ordering::Relaxed);
                            metrics
                                .gas_used
                                .fetch_add(gas, std::sync::atomic::Ordering::Relaxed);
                            tracing::info!(%tx, block, gas, validators = k, "staked");
                            Ok(true)
                        }
                        Err(Error::TxDropped { tx, nonce }) => {
                            // Its validators are eligible again; plan anew (same nonce).
                            tracing::warn!(%tx, nonce, "dropped from the mempool: planning again");
                            reconciled = false;
                            Ok(true)
                        }
                        Err(e) => {
                            reconciled = false;
                            Err(e)
                        }
                    }
                }
            }
        }
        .await;
        let wait = match step {
            Ok(true) => {
                metrics.success();
                backoff = Duration::from_secs(1);
                continue;
            }
            Ok(false) => {
                metrics.success();
                backoff = Duration::from_secs(1);
                if once {
                    break Ok(());
                }
                Duration::from_secs(cfg.poll_interval_secs)
            }
            Err(Error::Refused { reason }) => {
                // Policy refusals are counted by the policy signer under their own rule.
                if !reason.starts_with("policy refused") {
                    metrics.refused(refusal_rule(&reason));
                }
                let e = Error::Refused { reason };
                metrics.error(&e);
                tracing::error!(error = %e, "refused; nothing sent");
                if once {
                    break Err(e);
                }
                Duration::from_secs(cfg.poll_interval_secs)
            }
            Err(e @ (Error::ClusterStopped { .. } | Error::LegacyCluster { .. })) => {
                // Every pending bundle's cluster is stopped (the reason names the operator).
                metrics.refused("operator_check");
                metrics.error(&e);
                tracing::error!(error = %e, "refused; nothing sent");
                if once {
                    break Err(e);
                }
                Duration::from_secs(cfg.poll_interval_secs)
            }
            Err(e @ (Error::Rpc { .. } | Error::Transaction { .. })) => {
                metrics
                    .rpc_errors
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                metrics.error(&e);
                tracing::warn!(error = %e, backoff_secs = backoff.as_secs(), "rpc error; backing off");
                if once && backoff > Duration::from_secs(8) {
                    break Err(e);
                }
                let w = backoff;
                backoff = (backoff * 2).min(Duration::from_secs(300));
                w
            }
            Err(e) => break Err(e),
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = stop.wait_for(|s| *s) => {}
        }
    };
    drop(stop_rx);
    server.abort();
    // Shutdown: the signer's HSM sessions are closed, not left to the process exit.
    let closed = crate::signer::pkcs11::close_all();
    tracing::info!(sessions = closed, "closed the signer's HSM sessions");
    result
}

async fn update_gauges(m: &Metrics, provider: &DynProvider, cfg: &Config, store: &Store) {
    if let Ok(vs) = store.validators() {
        for s in [
            Status::Imported,
            Status::Sent,
            Status::Confirmed,
            Status::Reverted,
            Status::Refused,
        ] {
            let n = vs.iter().filter(|v| v.status == s).count();
            m.gauge(
                &format!("signer_agent_validators{{status=\"{}\"}}", s.as_str()),
                n as f64,
            );
        }
    }
    if let Ok(c) = cfg.contracts() {
        let pm = crate::chain::IPoolManager::new(c.pool_manager, provider.clone());
        if let Ok(b) = pm.bufferedEther().call().await {
            m.gauge("signer_agent_pool_buffered_ether_wei", u256_f64(b));
        }
    }
}

fn u256_f64(v: U256) -> f64 {
    v.to_string().parse().unwrap_or(f64::NAN)
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
