//! The command line (clap derive, `env` fallbacks: flag > env > file) and what each command
//! does: each command is a function that resolves the configuration and calls the library
//! ([`crate::daemon`] for `run`, [`crate::verify`] for the chain checks of a bundle).
//!
//! Exit codes: 0 success; 1 i/o; 2 configuration; 3 hsm or signer; 4 rpc / chain / transaction;
//! 5 refusal (bundle, operator, policy checks); 6 state store; 7 `doctor` found a failing check.

use std::path::{Path, PathBuf};

use alloy::primitives::Address;
use clap::{Args, Parser, Subcommand};

use crate::config::{Config, Overrides, SignerConfig};
use crate::error::{Error, Result};
use crate::logscan::Events;
use crate::policy::Policy;
use crate::signer::pkcs11;
use crate::stake::Prepared;
use crate::store::{Status, Store};
use crate::wallet::open_signer;

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
    /// PostgreSQL state store shared by two agents (`postgres://user@host/db`, no password).
    #[arg(long, env = "SIGNER_AGENT_STATE_URL", global = true)]
    pub state_url: Option<String>,
    /// This agent's name in the leadership lease (default: the host name).
    #[arg(long, env = "SIGNER_AGENT_INSTANCE", global = true)]
    pub instance: Option<String>,
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
            state_url: self.state_url.clone(),
            instance: self.instance.clone(),
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

fn print_json<T: serde::Serialize>(v: &T) {
    println!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
}

/// Runs a parsed command line.
pub async fn run(cli: Cli) -> Result<()> {
    let ov = cli.global.overrides();
    let cfg_path = cli.global.config.as_deref();
    if let Command::Key(KeyCommand::Init) = cli.command {
        return key_init(cfg_path, &ov).await;
    }
    let cfg = &Config::resolve(cfg_path, &ov)?;
    match cli.command {
        Command::Key(KeyCommand::Init) => {
            unreachable!("handled above: it needs no full configuration")
        }
        Command::Key(KeyCommand::Show) => {
            let (_, address) = open_signer(cfg).await?;
            println!("{}", address.to_checksum(None));
            Ok(())
        }
        Command::Operators(OperatorsCommand::Export { ids, out }) => export(cfg, &ids, &out).await,
        Command::Verify { bundle, json } => verify(cfg, &bundle, json).await,
        Command::Import { bundle } => import(cfg, &bundle).await,
        Command::Plan { json } => plan(cfg, json).await,
        Command::Run { once } => crate::daemon::run(cfg, once).await,
        Command::Doctor { json } => {
            let report = crate::doctor::run(cfg).await;
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
            oracle_report(cfg, &state, dry_run).await
        }
        Command::Policy(PolicyCommand::Show) => {
            print!("{}", Policy::from_config(cfg)?.describe());
            Ok(())
        }
        Command::Clusters(cmd) => clusters(cfg, cmd).await,
        Command::Exits(ExitsCommand::Plan { json }) => {
            crate::maintenance::cli::exits_plan(cfg, json).await
        }
        Command::Status { json } => status(cfg, json).await,
    }
}

/// `operators export`.
async fn export(cfg: &Config, ids: &[u64], out: &Path) -> Result<()> {
    let provider = crate::chain::read_provider(cfg)?;
    let events = Events::for_config(cfg, &provider)?;
    let file = crate::operators::export(&events, &cfg.contracts()?, cfg.chain_id, ids).await?;
    crate::operators::write_new(out, &file)?;
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

/// `verify BUNDLE`.
async fn verify(cfg: &Config, bundle: &Path, json: bool) -> Result<()> {
    let provider = crate::chain::read_provider(cfg)?;
    let events = Events::for_config(cfg, &provider)?;
    let v = crate::verify::bundle_on_chain(cfg, &events, bundle).await?;
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

/// `import BUNDLE`: a reshare bundle, or a staking bundle (verified, checked against the state
/// store and the chain, then recorded).
async fn import(cfg: &Config, bundle: &Path) -> Result<()> {
    let provider = crate::chain::read_provider(cfg)?;
    let events = Events::for_config(cfg, &provider)?;
    if kc_bundle::reshare::kind_of_dir(bundle) == kc_bundle::reshare::BundleKind::Reshare {
        let added = crate::maintenance::reshare::import(cfg, &events, bundle).await?;
        println!(
            "imported {added} validators to move from reshare bundle {} (`run` migrates them; needs [maintenance])",
            bundle.display()
        );
        return Ok(());
    }
    // The node serves the configured chain; the bundle is verified once, for that chain, and
    // the chain's view below takes the same verified bundle.
    crate::chain::check_chain(&provider, cfg.chain_id).await?;
    let verified =
        crate::bundle::load_verified_on_chain(bundle, &cfg.trusted_identities, cfg.chain_id)?;
    let mut store = Store::open_location(&cfg.state_location()?)?;
    // The state store's refusals before the chain's view (a re-issued key already staked, sent
    // or front-run, or with other deposit data): they name the keys.
    store.check_import(&verified)?;
    let summary = crate::verify::verified_on_chain(cfg, &events, bundle, &verified).await?;
    let added = store.import(&verified)?;
    println!(
        "imported {added} new validators from {} (ceremony {}, root {})",
        bundle.display(),
        summary.ceremony_id,
        summary.merkle_root
    );
    Ok(())
}

/// `plan`: what `run` would send now.
async fn plan(cfg: &Config, json: bool) -> Result<()> {
    let provider = crate::chain::read_provider(cfg)?;
    let events = Events::for_config(cfg, &provider)?;
    let store = Store::open_location(&cfg.state_location()?)?;
    let from = match cfg.signer() {
        Ok(SignerConfig::DevPrivateKey { .. }) | Ok(SignerConfig::Pkcs11 { .. }) => {
            Some(open_signer(cfg).await?.1)
        }
        Err(_) => None,
    };
    let p = crate::stake::prepare(&events, cfg, &store, from).await?;
    if json {
        print_json(&p);
    } else {
        print_plan(&p);
    }
    Ok(())
}

/// `oracle report`.
async fn oracle_report(cfg: &Config, state: &str, dry_run: bool) -> Result<()> {
    let beacon = cfg.beacon_client("`oracle report`")?;
    // The pool's validators as the chain knows them (any member can report).
    let provider = crate::chain::read_provider(cfg)?;
    crate::chain::check_chain(&provider, cfg.chain_id).await?;
    let events = Events::for_config(cfg, &provider)?;
    let pubkeys = crate::oracle::pool_validators(&events, &cfg.contracts()?).await?;
    let report = crate::oracle::read_beacon(&beacon, state, &pubkeys).await?;
    if dry_run {
        print_json(&report);
        return Ok(());
    }
    let (wallet, from) = open_signer(cfg).await?;
    let mut store = if cfg.has_state_store() {
        Store::open_location(&cfg.state_location()?)?
    } else {
        // A member without a state store: the transactions are followed in memory.
        Store::in_memory()?
    };
    let s = crate::oracle::submit(&events, &wallet, from, cfg, &mut store, report).await?;
    print_json(&s);
    Ok(())
}

/// `clusters status` and `clusters migration-plan`.
async fn clusters(cfg: &Config, cmd: ClustersCommand) -> Result<()> {
    let provider = crate::chain::read_provider(cfg)?;
    crate::chain::check_chain(&provider, cfg.chain_id).await?;
    let c = cfg.contracts()?;
    let net = crate::ssv::check_v2(&provider, &c).await?;
    let events = Events::for_config(cfg, &provider)?;
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
            let plan = crate::ssv::migration_plan(&events, &c, cfg.fee_margin_blocks).await?;
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

/// `status`.
async fn status(cfg: &Config, json: bool) -> Result<()> {
    let store = Store::open_location(&cfg.state_location()?)?;
    let validators = store.validators()?;
    // A shared store: the lease and both instances.
    let lease = match cfg.postgres() {
        Some(s) => Some(crate::leader::Overview::read(s).await?),
        None => None,
    };
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
            "lease": lease,
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
        for line in lease.iter().flat_map(|l| l.lines()) {
            println!("{line}");
        }
    }
    Ok(())
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
