//! Configuration: one strict TOML file, overridden by environment variables, overridden by flags
//! (flag > env > file). Unknown keys are errors, and every error names the field.
//!
//! ```toml
//! rpc_url = "https://rpc.example/v3/{api_key}"   # http:// only to loopback (see [tls])
//! network = "hoodi"                        # mainnet | hoodi: built-in public contracts; or "custom"
//! chain_id = 560048                        # optional with a network; must match it
//! deployment = "deployments/pool.json"     # the pool's contracts and first block
//! state_dir = "state"
//! # state_url = "postgres://agent@db.internal:5432/agent"  # shared by two agents (see `state`)
//! # state_password_file = "pg.pw"          # or SIGNER_AGENT_STATE_PASSWORD
//! # lease_timeout_secs = 30                # the standby takes over after this long
//! # instance = "agent-a"                   # default: the host name
//! confirmations = 2
//! metrics_addr = "127.0.0.1:9464"
//! beacon_url = "http://127.0.0.1:5052"
//! trusted_identities = ["04…"]              # SEC1 P-256 public keys of trusted ceremonies (hex)
//!
//! [contracts]                              # optional: override addresses of the deploy file
//! pool_manager = "0x…"
//!
//! [signer]
//! module = "/usr/lib/softhsm/libsofthsm2.so"
//! token_label = "agent"
//! # token_serial = "0123456789abcdef"     # where several tokens share the label
//! key_label = "agent-tx"
//! pin_file = "pin.txt"                     # or SIGNER_AGENT_PIN
//! # dev_private_key_file = "key.hex"       # DEVELOPMENT ONLY: a local key instead of the HSM
//!
//! [rpc]                                    # the RPC endpoint's API key, if it needs one
//! api_key_file = "rpc.key"                 # or api_key_env = "RPC_API_KEY"
//! # api_key_header = "x-api-key"           # send it as a header instead of {api_key} in the URL
//! max_log_range = 10000                    # eth_getLogs blocks per request to start with
//!
//! [beacon]                                 # the same for beacon_url (api_key_*)
//!
//! [tls]
//! roots = "system"                         # "system" | "bundled" (webpki-roots) | "none"
//! ca_file = "ca.pem"                       # extra trust anchors
//! allow_insecure_http = false              # http:// to a non-loopback host
//!
//! [gas]
//! max_fee_per_gas_gwei = 200
//! max_priority_fee_per_gas_gwei = 3
//! max_gas_per_tx = 25000000
//! replace_after_blocks = 3                 # not mined after this many blocks: replace it
//! replacement_bump_percent = 12            # fee bump of a replacement (at least 10)
//!
//! [run]
//! poll_interval_secs = 12
//! max_validators_per_tx = 20
//! fee_margin_blocks = 50400                # SSV runway beyond the liquidation threshold
//!
//! [policy]
//! max_ssv_fee_per_tx_gwei = 250000000      # ETH for SSV cluster fees per transaction
//! max_ssv_fee_per_day_gwei = 1000000000    # … per UTC day
//! max_topup_per_tx_gwei = 250000000        # one cluster top-up / reactivation (maintenance)
//! max_exits_per_day = 16                   # validators exited per UTC day (maintenance)
//!
//! [maintenance]                            # present = run also does the maintenance duties
//! min_runway_days = 30
//! target_runway_days = 60
//! alert_runway_days = 14
//! exit_order = "oldest"                    # or "largest_cluster"
//! ```
//!
//! Relative paths in the file are relative to the file.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use alloy::primitives::Address;
use secrecy::SecretString;
use serde::Deserialize;

use crate::error::{Error, Result};

pub mod maintenance;
pub mod state;

/// The most confirmations the agent waits for: a block number plus it never overflows.
pub const MAX_CONFIRMATIONS: u64 = 10_000;

/// Environment variable that carries the HSM user PIN (when no PIN file is given).
pub const PIN_ENV: &str = "SIGNER_AGENT_PIN";

/// The file as written (every field optional: flags and env may supply it).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub rpc_url: Option<String>,
    /// A built-in network profile (`mainnet`, `hoodi`) or `custom`.
    pub network: Option<String>,
    pub chain_id: Option<u64>,
    pub deployment: Option<PathBuf>,
    pub state_dir: Option<PathBuf>,
    /// `postgres://user@host:port/db`: the state store two agents share (see [`state`]).
    pub state_url: Option<String>,
    /// The PostgreSQL password (first line), else `SIGNER_AGENT_STATE_PASSWORD`.
    pub state_password_file: Option<PathBuf>,
    /// Reach a PostgreSQL server off this host without TLS (default false: refused).
    pub state_allow_plaintext: Option<bool>,
    /// How long the leadership lease lasts without renewal (default 30).
    pub lease_timeout_secs: Option<u64>,
    /// This agent's name in the lease (default: the host name).
    pub instance: Option<String>,
    pub confirmations: Option<u64>,
    pub metrics_addr: Option<String>,
    pub beacon_url: Option<String>,
    #[serde(default)]
    pub trusted_identities: Vec<String>,
    #[serde(default)]
    pub contracts: ContractsFile,
    #[serde(default)]
    pub signer: SignerFile,
    #[serde(default)]
    pub gas: GasFile,
    #[serde(default)]
    pub run: RunFile,
    #[serde(default)]
    pub policy: PolicyFile,
    #[serde(default)]
    pub rpc: RpcFile,
    #[serde(default)]
    pub beacon: crate::tls::CredentialsFile,
    #[serde(default)]
    pub tls: TlsFile,
    /// `[maintenance]`: present = the maintenance duties run (`crate::maintenance`).
    pub maintenance: Option<maintenance::MaintenanceFile>,
}

/// `[rpc]`: the RPC endpoint's credentials and log range.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RpcFile {
    pub api_key_file: Option<PathBuf>,
    pub api_key_env: Option<String>,
    pub api_key_header: Option<String>,
    /// Blocks per `eth_getLogs` request to start with (the scanner shrinks it on the provider's
    /// range or result-limit errors and grows it back); default 10,000.
    pub max_log_range: Option<u64>,
}

/// `[tls]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsFile {
    pub roots: Option<crate::tls::Roots>,
    pub ca_file: Option<PathBuf>,
    pub allow_insecure_http: Option<bool>,
}

/// `[policy]`: what the transaction key may sign. Every key is optional; the
/// defaults are the configured chain, the deployment's three functions, no ETH value, the
/// `[gas]` caps and 100 validators a day.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyFile {
    /// The only chain id the key signs for (default: `chain_id`; must equal it).
    pub chain_id: Option<u64>,
    /// Allowed targets; when given, replaces the default list entirely.
    pub allow: Option<Vec<AllowFile>>,
    /// Maximum value per transaction, in gwei (default 0: nothing the pool needs pays ETH).
    pub max_value_per_tx_gwei: Option<u64>,
    /// Maximum value over one UTC day, in gwei (default 0).
    pub max_value_per_day_gwei: Option<u64>,
    /// Maximum fee per gas, in gwei (default: `gas.max_fee_per_gas_gwei`).
    pub max_fee_per_gas_gwei: Option<u64>,
    /// Maximum priority fee per gas, in gwei (default: `gas.max_priority_fee_per_gas_gwei`).
    pub max_priority_fee_per_gas_gwei: Option<u64>,
    /// Maximum validators staked over one UTC day (default 100).
    pub max_validators_per_day: Option<u64>,
    /// Maximum ETH for SSV cluster fees the pool sends in one transaction (the `clusterFee` of
    /// `stake`, the amount of `depositClusterETH`/`reactivateCluster`), in gwei (default 0.25 ETH).
    pub max_ssv_fee_per_tx_gwei: Option<u64>,
    /// Maximum ETH for SSV cluster fees over one UTC day, in gwei (default 1 ETH).
    pub max_ssv_fee_per_day_gwei: Option<u64>,
    /// Maximum ETH of one cluster top-up or reactivation, in gwei (default 0.25 ETH).
    pub max_topup_per_tx_gwei: Option<u64>,
    /// Maximum ETH of top-ups and reactivations over one UTC day, in gwei (default 1 ETH).
    pub max_topup_per_day_gwei: Option<u64>,
    /// Maximum validators exited (`requestValidatorExits`) over one UTC day (default 16).
    pub max_exits_per_day: Option<u64>,
    /// Maximum validators removed from SSV (`removeValidators`) over one UTC day (default 100).
    pub max_removals_per_day: Option<u64>,
}

/// `[[policy.allow]]`: one allowed contract and its allowed functions.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AllowFile {
    /// `0x` address, or one of the deployment's names: `pool_manager`, `oracle`, `ssv_network`.
    pub target: String,
    /// Function signatures (`stake(bytes32,...)`) or 4-byte selectors (`0x12345678`).
    pub functions: Vec<String>,
}

/// `[contracts]`: addresses that override the deploy file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContractsFile {
    pub pool_manager: Option<String>,
    pub pool_eth: Option<String>,
    pub oracle: Option<String>,
    pub deposit_contract: Option<String>,
    pub ssv_network: Option<String>,
    pub ssv_network_views: Option<String>,
    pub ssv_token: Option<String>,
    /// The pool's first block (overrides the deploy file's `block`).
    pub deploy_block: Option<u64>,
    /// The SSV network's first block (overrides the deploy file's `ssv_network_block`).
    pub ssv_network_block: Option<u64>,
}

/// `[signer]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignerFile {
    pub module: Option<PathBuf>,
    pub token_label: Option<String>,
    /// The token's serial number (`C_GetTokenInfo.serialNumber`), where tokens share a label.
    pub token_serial: Option<String>,
    pub key_label: Option<String>,
    pub pin_file: Option<PathBuf>,
    /// DEVELOPMENT ONLY: hex secp256k1 private key in a file, used instead of the HSM.
    pub dev_private_key_file: Option<PathBuf>,
}

/// `[gas]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GasFile {
    pub max_fee_per_gas_gwei: Option<u64>,
    pub max_priority_fee_per_gas_gwei: Option<u64>,
    pub max_gas_per_tx: Option<u64>,
    /// Blocks a sent transaction may stay unmined before it is replaced (default 3).
    pub replace_after_blocks: Option<u64>,
    /// Fee bump of a replacement, percent (default 12, at least 10: nodes refuse less).
    pub replacement_bump_percent: Option<u64>,
}

/// `[run]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunFile {
    pub poll_interval_secs: Option<u64>,
    pub max_validators_per_tx: Option<usize>,
    /// Blocks of SSV fees beyond the network's liquidation threshold that a registration (or
    /// top-up) funds a cluster for (default 50,400 ≈ 7 days).
    pub fee_margin_blocks: Option<u64>,
}

/// Values given as flags or environment variables (clap resolves flag > env); each overrides
/// the file.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub rpc_url: Option<String>,
    pub network: Option<String>,
    pub chain_id: Option<u64>,
    pub deployment: Option<PathBuf>,
    pub state_dir: Option<PathBuf>,
    pub state_url: Option<String>,
    pub instance: Option<String>,
    pub confirmations: Option<u64>,
    pub metrics_addr: Option<String>,
    pub beacon_url: Option<String>,
    pub pkcs11_module: Option<PathBuf>,
    pub token_label: Option<String>,
    pub token_serial: Option<String>,
    pub key_label: Option<String>,
    pub pin_file: Option<PathBuf>,
    pub dev_private_key_file: Option<PathBuf>,
    pub max_fee_per_gas_gwei: Option<u64>,
}

/// The contract addresses the agent talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Contracts {
    pub pool_manager: Address,
    pub pool_eth: Address,
    pub oracle: Address,
    pub deposit_contract: Address,
    pub ssv_network: Address,
    /// SSVNetworkViews: every SSV view is read here (the deploy file's `ssv_network_views`, the
    /// network profile's, else the SSVNetwork address).
    pub ssv_network_views: Address,
    pub ssv_token: Option<Address>,
    /// The pool's first block (the deploy file's `block`; never 0 on a public chain): the
    /// event scans of the pool's own events and of the deposit contract start here.
    pub deploy_block: u64,
    /// The SSV network's first block (profile, deploy file's `ssv_network_block`, else
    /// `deploy_block`): the scans of operator events start here.
    pub ssv_network_block: u64,
}

/// How the agent signs transactions.
pub enum SignerConfig {
    /// A secp256k1 key in a PKCS#11 token.
    Pkcs11 {
        module: PathBuf,
        token_label: String,
        /// The token's serial number, where tokens share a label.
        token_serial: Option<String>,
        key_label: String,
        pin: SecretString,
    },
    /// DEVELOPMENT ONLY: a local private key read from a file.
    DevPrivateKey { path: PathBuf },
}

impl fmt::Debug for SignerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SignerConfig::Pkcs11 {
                module,
                token_label,
                token_serial,
                key_label,
                ..
            } => f
                .debug_struct("Pkcs11")
                .field("module", module)
                .field("token_label", token_label)
                .field("token_serial", token_serial)
                .field("key_label", key_label)
                .finish_non_exhaustive(),
            SignerConfig::DevPrivateKey { path } => {
                f.debug_struct("DevPrivateKey").field("path", path).finish()
            }
        }
    }
}

/// Gas limits the agent will never exceed.
#[derive(Debug, Clone, Copy)]
pub struct GasCaps {
    pub max_fee_per_gas_wei: u128,
    pub max_priority_fee_per_gas_wei: u128,
    pub max_gas_per_tx: u64,
    /// `gas.replace_after_blocks`.
    pub replace_after_blocks: u64,
    /// `gas.replacement_bump_percent`.
    pub replacement_bump_percent: u64,
}

/// Nodes (geth's txpool `pricebump`) refuse a replacement that bumps both fees by less.
pub const MIN_REPLACEMENT_BUMP_PERCENT: u64 = 10;

/// The resolved configuration.
#[derive(Debug)]
pub struct Config {
    /// The execution node (credential inside; shown redacted).
    pub rpc: crate::tls::Endpoint,
    /// The Beacon API.
    pub beacon: Option<crate::tls::Endpoint>,
    pub tls: crate::tls::TlsSettings,
    /// The built-in profile of the network (`network`, or the chain id's).
    pub network: Option<&'static crate::profiles::Profile>,
    /// `rpc.max_log_range`.
    pub max_log_range: u64,
    pub chain_id: u64,
    contracts: std::result::Result<Contracts, (String, String)>,
    state_dir: Option<PathBuf>,
    /// `state_url` and the lease, when the state is shared on PostgreSQL.
    /// (A `state_url` the configuration refuses is reported by [`Config::state_location`],
    /// by the commands that need the store, as a bad deploy file is by `contracts()`.)
    postgres: std::result::Result<Option<state::PgSettings>, (String, String)>,
    pub confirmations: u64,
    pub metrics_addr: SocketAddr,
    /// SEC1 P-256 public keys (uncompressed, 65 bytes) of trusted ceremonies.
    pub trusted_identities: Vec<Vec<u8>>,
    signer: SignerSource,
    pub gas: GasCaps,
    pub poll_interval_secs: u64,
    pub max_validators_per_tx: usize,
    /// `run.fee_margin_blocks`.
    pub fee_margin_blocks: u64,
    /// `[policy]` as written (resolved against the contracts by `Policy::from_config`).
    pub policy: PolicyFile,
    /// The RPC endpoint's HTTP(S) client, built once.
    rpc_client: std::sync::OnceLock<crate::tls::Client>,
    /// `[maintenance]`, when configured.
    pub maintenance: Option<maintenance::MaintenanceConfig>,
}

const GWEI: u128 = 1_000_000_000;

/// Default `run.fee_margin_blocks`: about 7 days of 12-second blocks.
pub const DEFAULT_FEE_MARGIN_BLOCKS: u64 = 50_400;

/// Where the signer comes from; resolved (and the PIN read) only when a command signs.
#[derive(Debug)]
struct SignerSource {
    base: Option<PathBuf>,
    file: SignerFile,
    ov: Overrides,
}

impl FileConfig {
    /// Reads and strictly parses a config file; the error names the field.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::io(path, "read the config file", e))?;
        Self::parse(&text).map_err(|(field, message)| Error::Config {
            field: format!("{}: {field}", path.display()),
            message,
        })
    }

    /// Parses TOML text; on error returns (field path, message). The message is one line; a
    /// syntax error (no field path) says its line and column.
    pub fn parse(text: &str) -> std::result::Result<Self, (String, String)> {
        let de = toml::Deserializer::new(text);
        serde_path_to_error::deserialize(de).map_err(|e| {
            let path = kc_bundle::printable(&e.path().to_string());
            let inner = e.into_inner();
            let mut message = kc_bundle::printable(
                &inner
                    .message()
                    .lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .collect::<Vec<_>>()
                    .join(": "),
            );
            let field = if path == "." {
                if let Some(span) = inner.span() {
                    let start = span.start.min(text.len());
                    let line = text[..start].matches('\n').count() + 1;
                    let column = start - text[..start].rfind('\n').map_or(0, |i| i + 1) + 1;
                    message = format!("{message} (line {line}, column {column})");
                }
                "(top level)".to_string()
            } else {
                path
            };
            (field, message)
        })
    }
}

fn resolve(base: Option<&Path>, p: PathBuf) -> PathBuf {
    match base {
        Some(dir) if p.is_relative() => dir.join(p),
        _ => p,
    }
}

/// The directory relative paths of the file are resolved against (the file's).
fn base_dir(config_path: Option<&Path>) -> Option<&Path> {
    config_path.and_then(|p| p.parent()).map(|p| {
        if p.as_os_str().is_empty() {
            Path::new(".")
        } else {
            p
        }
    })
}

/// The chain id and the built-in profile that applies: `network` names one (or `custom`), and
/// `chain_id` must agree with it; a public chain's profile applies unless `network = "custom"`.
fn resolve_network(
    ov: &Overrides,
    file: &FileConfig,
) -> Result<(u64, Option<&'static crate::profiles::Profile>)> {
    let network_name = ov.network.clone().or(file.network.clone());
    let named = match network_name.as_deref().map(str::trim) {
        None => None,
        Some(n) if n.eq_ignore_ascii_case("custom") => None,
        Some(n) => Some(crate::profiles::by_name(n).ok_or_else(|| {
            Error::config(
                "network",
                format!(
                    "{n:?} is not a built-in network ({}); use \"custom\" and give every address",
                    crate::profiles::ALL.map(|p| p.name).join(", ")
                ),
            )
        })?),
    };
    let chain_id = match (ov.chain_id.or(file.chain_id), named) {
        (Some(c), Some(p)) if c != p.chain_id => {
            return Err(Error::config(
                "chain_id",
                format!("{c} is not {}'s chain id {}", p.name, p.chain_id),
            ))
        }
        (Some(c), _) => c,
        (None, Some(p)) => p.chain_id,
        (None, None) => {
            return Err(Error::config(
                "chain_id",
                "required (file, SIGNER_AGENT_CHAIN_ID or --chain-id), or a network",
            ))
        }
    };
    let network = match network_name.as_deref().map(str::trim) {
        Some(n) if n.eq_ignore_ascii_case("custom") => None,
        _ => named.or_else(|| crate::profiles::by_chain_id(chain_id)),
    };
    Ok((chain_id, network))
}

/// The execution node's endpoint (`rpc_url`, `[rpc]`) and its first log range.
fn resolve_rpc(
    rpc_url: &str,
    file: &RpcFile,
    base: Option<&Path>,
    tls: &crate::tls::TlsSettings,
) -> Result<(crate::tls::Endpoint, u64)> {
    let creds = crate::tls::CredentialsFile {
        api_key_file: file.api_key_file.clone(),
        api_key_env: file.api_key_env.clone(),
        api_key_header: file.api_key_header.clone(),
    };
    let rpc = crate::tls::Endpoint::resolve("rpc_url", "rpc", rpc_url, &creds, base, tls)?;
    let max_log_range = file.max_log_range.unwrap_or(10_000);
    if max_log_range == 0 {
        return Err(Error::config("rpc.max_log_range", "must be at least 1"));
    }
    Ok((rpc, max_log_range))
}

/// `confirmations` (default 2, at most [`MAX_CONFIRMATIONS`]).
fn resolve_confirmations(ov: &Overrides, file: &FileConfig) -> Result<u64> {
    let confirmations = ov.confirmations.or(file.confirmations).unwrap_or(2);
    if confirmations > MAX_CONFIRMATIONS {
        return Err(Error::config(
            "confirmations",
            format!(
                "{confirmations} blocks; at most {MAX_CONFIRMATIONS} (about 33 hours of 12 s blocks)"
            ),
        ));
    }
    Ok(confirmations)
}

/// `metrics_addr` (default `127.0.0.1:9464`).
fn resolve_metrics_addr(ov: &Overrides, file: &FileConfig) -> Result<SocketAddr> {
    let s = ov
        .metrics_addr
        .clone()
        .or(file.metrics_addr.clone())
        .unwrap_or_else(|| "127.0.0.1:9464".to_string());
    s.parse()
        .map_err(|e| Error::config("metrics_addr", format!("{s:?}: {e}")))
}

/// `[gas]` (and the `--max-fee-per-gas-gwei` override): the caps and the replacement rules.
fn resolve_gas(ov: &Overrides, file: &GasFile) -> Result<GasCaps> {
    let max_fee = u128::from(
        ov.max_fee_per_gas_gwei
            .or(file.max_fee_per_gas_gwei)
            .unwrap_or(200),
    ) * GWEI;
    let priority = match file.max_priority_fee_per_gas_gwei {
        Some(p) if u128::from(p) * GWEI > max_fee => {
            return Err(Error::config(
                "gas.max_priority_fee_per_gas_gwei",
                "must not exceed the max fee per gas cap",
            ))
        }
        Some(p) => u128::from(p) * GWEI,
        None => (3 * GWEI).min(max_fee),
    };
    let replacement_bump_percent = file.replacement_bump_percent.unwrap_or(12);
    if replacement_bump_percent < MIN_REPLACEMENT_BUMP_PERCENT {
        return Err(Error::config(
            "gas.replacement_bump_percent",
            format!("{replacement_bump_percent}: nodes refuse a replacement bumped by less than {MIN_REPLACEMENT_BUMP_PERCENT}%"),
        ));
    }
    let replace_after_blocks = file.replace_after_blocks.unwrap_or(3);
    if replace_after_blocks == 0 {
        return Err(Error::config(
            "gas.replace_after_blocks",
            "must be at least 1",
        ));
    }
    Ok(GasCaps {
        max_fee_per_gas_wei: max_fee,
        max_priority_fee_per_gas_wei: priority,
        max_gas_per_tx: file.max_gas_per_tx.unwrap_or(25_000_000),
        replace_after_blocks,
        replacement_bump_percent,
    })
}

/// The checks of `[policy]` that need no contract (the rest: `Policy::from_config`).
fn check_policy(policy: &PolicyFile, chain_id: u64) -> Result<()> {
    if let Some(p) = policy.chain_id {
        if p != chain_id {
            return Err(Error::config(
                "policy.chain_id",
                format!("{p} differs from chain_id {chain_id}: the agent runs on one chain"),
            ));
        }
    }
    if let (Some(p), Some(f)) = (
        policy.max_priority_fee_per_gas_gwei,
        policy.max_fee_per_gas_gwei,
    ) {
        if p > f {
            return Err(Error::config(
                "policy.max_priority_fee_per_gas_gwei",
                "must not exceed policy.max_fee_per_gas_gwei",
            ));
        }
    }
    if let Some(allow) = &policy.allow {
        for (i, a) in allow.iter().enumerate() {
            if a.functions.is_empty() {
                return Err(Error::config(
                    format!("policy.allow[{i}].functions"),
                    "lists no function: remove the entry instead",
                ));
            }
        }
    }
    Ok(())
}

/// The state store's keys: flags and environment over the file.
fn state_keys(ov: &Overrides, file: &FileConfig) -> state::StateKeys {
    state::StateKeys {
        state_url: ov.state_url.clone().or(file.state_url.clone()),
        state_password_file: file.state_password_file.clone(),
        state_allow_plaintext: file.state_allow_plaintext,
        lease_timeout_secs: file.lease_timeout_secs,
        instance: ov.instance.clone().or(file.instance.clone()),
    }
}

/// Parses a `0x` address; the error names the field.
pub fn parse_address(field: &str, s: &str) -> Result<Address> {
    s.trim()
        .parse::<Address>()
        .map_err(|e| Error::config(field, format!("{s:?} is not an address: {e}")))
}

impl Config {
    /// Resolves file + overrides into a configuration. `config_path` may be absent when every
    /// required value comes from flags or env.
    pub fn resolve(config_path: Option<&Path>, ov: &Overrides) -> Result<Config> {
        let file = match config_path {
            Some(p) => FileConfig::load(p)?,
            None => FileConfig::default(),
        };
        let base = base_dir(config_path);
        let rpc_url = ov.rpc_url.clone().or(file.rpc_url.clone()).ok_or_else(|| {
            Error::config(
                "rpc_url",
                "required (file, SIGNER_AGENT_RPC_URL or --rpc-url)",
            )
        })?;
        let (chain_id, network) = resolve_network(ov, &file)?;
        let tls = crate::tls::TlsSettings {
            roots: file.tls.roots.unwrap_or(crate::tls::Roots::System),
            ca_file: file.tls.ca_file.clone().map(|p| resolve(base, p)),
            allow_insecure_http: file.tls.allow_insecure_http.unwrap_or(false),
        };
        let (rpc, max_log_range) = resolve_rpc(&rpc_url, &file.rpc, base, &tls)?;
        let state_dir = ov
            .state_dir
            .clone()
            .or_else(|| file.state_dir.clone().map(|p| resolve(base, p)));
        let deployment = ov
            .deployment
            .clone()
            .or_else(|| file.deployment.clone().map(|p| resolve(base, p)));
        let contracts =
            match resolve_contracts(deployment.as_deref(), &file.contracts, chain_id, network) {
                Ok(c) => Ok(c),
                Err(Error::Config { field, message }) => Err((field, message)),
                Err(other) => return Err(other),
            };
        let confirmations = resolve_confirmations(ov, &file)?;
        let metrics_addr = resolve_metrics_addr(ov, &file)?;
        let beacon = match ov.beacon_url.clone().or(file.beacon_url.clone()) {
            Some(u) => Some(crate::tls::Endpoint::resolve(
                "beacon_url",
                "beacon",
                &u,
                &file.beacon,
                base,
                &tls,
            )?),
            None => None,
        };
        let mut trusted_identities = Vec::new();
        for (i, k) in file.trusted_identities.iter().enumerate() {
            trusted_identities.push(parse_identity_key(&format!("trusted_identities[{i}]"), k)?);
        }
        let gas = resolve_gas(ov, &file.gas)?;
        let max_validators_per_tx = file.run.max_validators_per_tx.unwrap_or(20);
        if max_validators_per_tx == 0 {
            return Err(Error::config(
                "run.max_validators_per_tx",
                "must be at least 1",
            ));
        }
        check_policy(&file.policy, chain_id)?;
        let maintenance = file
            .maintenance
            .as_ref()
            .map(maintenance::MaintenanceConfig::resolve)
            .transpose()?;
        let postgres = match state::resolve(&state_keys(ov, &file), base, &tls) {
            Ok(p) => Ok(p),
            Err(Error::Config { field, message }) => Err((field, message)),
            Err(other) => return Err(other),
        };
        Ok(Config {
            maintenance,
            rpc,
            beacon,
            tls,
            network,
            max_log_range,
            chain_id,
            contracts,
            state_dir,
            postgres,
            confirmations,
            metrics_addr,
            trusted_identities,
            signer: SignerSource {
                base: base.map(Path::to_path_buf),
                file: file.signer,
                ov: ov.clone(),
            },
            gas,
            poll_interval_secs: file.run.poll_interval_secs.unwrap_or(12).max(1),
            max_validators_per_tx,
            fee_margin_blocks: file
                .run
                .fee_margin_blocks
                .unwrap_or(DEFAULT_FEE_MARGIN_BLOCKS),
            policy: file.policy,
            rpc_client: std::sync::OnceLock::new(),
        })
    }

    /// Only the signer part (for `key init`, which needs no chain).
    pub fn resolve_signer_only(config_path: Option<&Path>, ov: &Overrides) -> Result<SignerConfig> {
        let file = match config_path {
            Some(p) => FileConfig::load(p)?,
            None => FileConfig::default(),
        };
        resolve_signer(base_dir(config_path), ov, &file.signer)
    }

    /// The RPC endpoint's client (TLS roots loaded once).
    pub fn rpc_client(&self) -> Result<crate::tls::Client> {
        if let Some(c) = self.rpc_client.get() {
            return Ok(c.clone());
        }
        let c = crate::tls::Client::new(&self.rpc, &self.tls)?;
        Ok(self.rpc_client.get_or_init(|| c).clone())
    }

    /// The Beacon API's client; the error names `beacon_url` when it is not configured.
    pub fn beacon_client(&self, why: &str) -> Result<crate::tls::Client> {
        let ep = self
            .beacon
            .as_ref()
            .ok_or_else(|| Error::config("beacon_url", format!("required for {why}")))?;
        crate::tls::Client::new(ep, &self.tls)
    }

    /// The contract addresses; the error names the one missing.
    pub fn contracts(&self) -> Result<Contracts> {
        self.contracts
            .clone()
            .map_err(|(field, message)| Error::Config { field, message })
    }

    /// The state directory.
    pub fn state_dir(&self) -> Result<&Path> {
        self.state_dir.as_deref().ok_or_else(|| {
            Error::config(
                "state_dir",
                "required (file, SIGNER_AGENT_STATE_DIR or --state-dir)",
            )
        })
    }

    /// The PostgreSQL state store and this agent's place in its lease (`None`: SQLite only, this
    /// agent always leads).
    pub fn postgres(&self) -> Option<&state::PgSettings> {
        self.postgres.as_ref().ok().and_then(Option::as_ref)
    }

    /// Where the state store lives: PostgreSQL at `state_url` when set (its password from
    /// `state_password_file` or the environment), else SQLite in `state_dir`.
    pub fn state_location(&self) -> Result<crate::store::StoreLocation> {
        let pg = self
            .postgres
            .as_ref()
            .map_err(|(field, message)| Error::Config {
                field: field.clone(),
                message: message.clone(),
            })?;
        match pg {
            // A server on this host, reached plainly: the store's own rule.
            Some(s) if state::local_plain(s) => Ok(crate::store::StoreLocation::Postgres {
                url: s.url().to_owned(),
                password: s.password().cloned(),
            }),
            Some(s) => Ok(crate::store::StoreLocation::PostgresOver {
                url: s.url().to_owned(),
                password: s.password().cloned(),
                transport: s.transport.clone(),
            }),
            None => Ok(crate::store::StoreLocation::Sqlite(
                self.state_dir()?.to_owned(),
            )),
        }
    }

    /// Whether a state store is configured (`state_url` or `state_dir`).
    pub fn has_state_store(&self) -> bool {
        !matches!(self.postgres, Ok(None)) || self.state_dir.is_some()
    }

    /// The signer configuration (reads the PIN file or env now).
    pub fn signer(&self) -> Result<SignerConfig> {
        let s = &self.signer;
        resolve_signer(s.base.as_deref(), &s.ov, &s.file)
    }
}

/// Parses a hex SEC1 P-256 public key (compressed or uncompressed, optional 0x) and returns it
/// uncompressed, as the manifest shows it.
pub fn parse_identity_key(field: &str, s: &str) -> Result<Vec<u8>> {
    let h = s.trim().trim_start_matches("0x");
    let bytes = hex::decode(h).map_err(|e| Error::config(field, format!("not hex: {e}")))?;
    let vk = p256::ecdsa::VerifyingKey::from_sec1_bytes(&bytes)
        .map_err(|_| Error::config(field, "not a SEC1 P-256 public key"))?;
    Ok(vk.to_encoded_point(false).as_bytes().to_vec())
}

fn resolve_signer(base: Option<&Path>, ov: &Overrides, file: &SignerFile) -> Result<SignerConfig> {
    if let Some(path) = ov
        .dev_private_key_file
        .clone()
        .or_else(|| file.dev_private_key_file.clone().map(|p| resolve(base, p)))
    {
        return Ok(SignerConfig::DevPrivateKey { path });
    }
    let module = ov
        .pkcs11_module
        .clone()
        .or_else(|| file.module.clone().map(|p| resolve(base, p)))
        .unwrap_or_else(kc_hsm::Module::path_from_env);
    let token_label = ov
        .token_label
        .clone()
        .or_else(|| file.token_label.clone())
        .ok_or_else(|| {
            Error::config(
                "signer.token_label",
                "required (file, SIGNER_AGENT_TOKEN_LABEL or --token-label)",
            )
        })?;
    let token_serial = ov
        .token_serial
        .clone()
        .or_else(|| file.token_serial.clone());
    if token_serial.as_deref().is_some_and(|s| s.trim().is_empty()) {
        return Err(Error::config(
            "signer.token_serial",
            "empty; leave it out to select the token by its label alone",
        ));
    }
    let key_label = ov
        .key_label
        .clone()
        .or_else(|| file.key_label.clone())
        .unwrap_or_else(|| "agent-tx".to_string());
    let pin_file = ov
        .pin_file
        .clone()
        .or_else(|| file.pin_file.clone().map(|p| resolve(base, p)));
    let pin = read_pin(pin_file.as_deref())?;
    Ok(SignerConfig::Pkcs11 {
        module,
        token_label,
        token_serial,
        key_label,
        pin,
    })
}

/// The PIN from a file (its first line) or from `SIGNER_AGENT_PIN`, under `kc_hsm::pin`'s rule
/// (only the line ending is removed; a PIN with surrounding whitespace is refused).
pub fn read_pin(pin_file: Option<&Path>) -> Result<SecretString> {
    kc_hsm::pin::read(pin_file, PIN_ENV).map_err(|e| match e {
        kc_hsm::Error::PinFileUnreadable { path, source } => {
            Error::io(path, "read the PIN file", source)
        }
        kc_hsm::Error::PinMissing { .. } => Error::config(
            "signer.pin_file",
            format!("no PIN: give signer.pin_file, --pin-file or {PIN_ENV}"),
        ),
        other => Error::config("signer.pin_file", other.to_string()),
    })
}

/// Reads the deploy file the contracts' deploy script writes: a JSON object whose members name
/// the contracts (any case, `_`/`-` ignored: `PoolManager`, `pool_manager`, `poolManager` …),
/// possibly nested one level (e.g. under `"contracts"`); `chainId` is checked when present.
pub fn read_deployment(path: &Path) -> Result<BTreeMap<String, String>> {
    let text =
        std::fs::read_to_string(path).map_err(|e| Error::io(path, "read the deploy file", e))?;
    let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| Error::Parse {
        path: path.to_owned(),
        message: format!("not JSON: {e}"),
    })?;
    let mut out = BTreeMap::new();
    collect(&v, &mut out, 0);
    Ok(out)
}

fn norm(k: &str) -> String {
    k.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

fn collect(v: &serde_json::Value, out: &mut BTreeMap<String, String>, depth: usize) {
    if let serde_json::Value::Object(m) = v {
        for (k, v) in m {
            match v {
                serde_json::Value::String(s) => {
                    out.entry(norm(k)).or_insert_with(|| s.clone());
                }
                serde_json::Value::Number(n) => {
                    out.entry(norm(k)).or_insert_with(|| n.to_string());
                }
                serde_json::Value::Object(_) if depth < 2 => collect(v, out, depth + 1),
                _ => {}
            }
        }
    }
}

fn resolve_contracts(
    deployment: Option<&Path>,
    file: &ContractsFile,
    chain_id: u64,
    network: Option<&'static crate::profiles::Profile>,
) -> Result<Contracts> {
    let dep = match deployment {
        Some(p) => read_deployment(p)?,
        None => BTreeMap::new(),
    };
    let dep_name = deployment
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "(no deploy file)".into());
    if let Some(c) = dep.get("chainid") {
        if c.parse::<u64>().ok() != Some(chain_id) {
            return Err(Error::config(
                "deployment",
                format!("{dep_name} is for chain {c}, the config says chain id {chain_id}"),
            ));
        }
    }
    let pick = |field: &str, over: &Option<String>, names: &[&str]| -> Result<Option<Address>> {
        if let Some(s) = over {
            return parse_address(&format!("contracts.{field}"), s).map(Some);
        }
        for n in names {
            if let Some(s) = dep.get(*n) {
                return parse_address(&format!("{dep_name}: {n}"), s).map(Some);
            }
        }
        Ok(None)
    };
    let need = |field: &str, a: Option<Address>| -> Result<Address> {
        a.ok_or_else(|| {
            Error::config(
                format!("contracts.{field}"),
                format!("not in the config nor in the deploy file {dep_name}"),
            )
        })
    };
    // A public contract of the network: the profile's, and the deploy file or [contracts] may
    // only repeat it.
    let public = |field: &str,
                  over: &Option<String>,
                  names: &[&str],
                  of: fn(&crate::profiles::Profile) -> Address|
     -> Result<Option<Address>> {
        let given = pick(field, over, names)?;
        match (network, given) {
            (Some(p), Some(a)) if a != of(p) => Err(Error::config(
                format!("contracts.{field}"),
                format!(
                    "{a} differs from {}'s {field} {} (built-in profile); set network = \"custom\" to use other contracts",
                    p.name,
                    of(p)
                ),
            )),
            (Some(p), _) => Ok(Some(of(p))),
            (None, g) => Ok(g),
        }
    };
    let block = |field: &str, over: Option<u64>, key: &str| -> Result<Option<u64>> {
        if over.is_some() {
            return Ok(over);
        }
        match dep.get(key) {
            Some(b) => b.parse().map(Some).map_err(|_| {
                Error::config(
                    format!("contracts.{field}"),
                    format!("{dep_name}: {key} {b:?} is not a number"),
                )
            }),
            None => Ok(None),
        }
    };
    let ssv_network = need(
        "ssv_network",
        public(
            "ssv_network",
            &file.ssv_network,
            &["ssvnetwork", "ssvnetworkdevnet", "ssv"],
            |p| p.ssv_network,
        )?,
    )?;
    let deploy_block = block("deploy_block", file.deploy_block, "block")?.unwrap_or(0);
    if deploy_block == 0 && crate::profiles::is_public_chain(chain_id) {
        return Err(Error::config(
            "contracts.deploy_block",
            format!("chain {chain_id} is a public chain: give the pool's first block (the deploy file's \"block\" or contracts.deploy_block); event scans never start at block 0 there"),
        ));
    }
    let ssv_network_block = match block("ssv_network_block", file.ssv_network_block, "ssvnetworkblock")? {
        Some(b) => b,
        None => match network {
            Some(p) => p.ssv_network_block,
            None if crate::profiles::is_public_chain(chain_id) => {
                return Err(Error::config(
                    "contracts.ssv_network_block",
                    format!("chain {chain_id} has no built-in profile here: give the SSV network's first block (deploy file \"ssv_network_block\")"),
                ))
            }
            None => deploy_block,
        },
    };
    Ok(Contracts {
        pool_manager: need(
            "pool_manager",
            pick("pool_manager", &file.pool_manager, &["poolmanager"])?,
        )?,
        pool_eth: need(
            "pool_eth",
            pick("pool_eth", &file.pool_eth, &["pooleth", "pooltoken"])?,
        )?,
        oracle: need("oracle", pick("oracle", &file.oracle, &["oracle"])?)?,
        deposit_contract: need(
            "deposit_contract",
            public(
                "deposit_contract",
                &file.deposit_contract,
                &["depositcontract", "deposit"],
                |p| p.deposit_contract,
            )?,
        )?,
        ssv_network,
        ssv_network_views: public(
            "ssv_network_views",
            &file.ssv_network_views,
            &["ssvnetworkviews"],
            |p| p.ssv_network_views,
        )?
        .unwrap_or(ssv_network),
        ssv_token: public("ssv_token", &file.ssv_token, &["ssvtoken", "token"], |p| {
            p.ssv_token
        })?,
        deploy_block,
        ssv_network_block,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_url_puts_the_store_on_postgres_and_is_shown_without_its_password() {
        let dir = tempfile::tempdir().unwrap();
        let write = |top: &str| {
            let p = dir.path().join("agent.toml");
            std::fs::write(
                &p,
                format!("rpc_url = \"http://127.0.0.1:1\"\nchain_id = 31337\n{top}"),
            )
            .unwrap();
            Config::resolve(Some(&p), &Overrides::default())
        };
        let c = write("state_dir = \"st\"\n").unwrap();
        assert!(c.has_state_store());
        assert!(matches!(
            c.state_location().unwrap(),
            crate::store::StoreLocation::Sqlite(d) if d == dir.path().join("st")
        ));
        let c = write("state_dir = \"st\"\nstate_url = \"postgres://agent@127.0.0.1:5432/pool\"\n")
            .unwrap();
        match c.state_location().unwrap() {
            // A plain server on this host: the store connects as it would without a config.
            crate::store::StoreLocation::Postgres { url, password } => {
                assert_eq!(url, "postgres://agent@127.0.0.1:5432/pool");
                assert!(password.is_none());
            }
            other => panic!("expected PostgreSQL, got {other:?}"),
        }
        // A state_url the configuration refuses is reported where the store is opened.
        let err = write("state_url = \"mysql://agent:s3cret-pw@127.0.0.1/pool\"\n")
            .unwrap()
            .state_location()
            .unwrap_err();
        assert!(
            matches!(&err, Error::Config { field, .. } if field == "state_url"),
            "{err}"
        );
        assert!(!err.to_string().contains("s3cret-pw"), "{err}");
        assert!(!write("").unwrap().has_state_store());
    }

    #[test]
    fn unknown_key_is_refused_with_its_name() {
        let err = FileConfig::parse("rpc_url = \"x\"\nbogus = 1\n").unwrap_err();
        assert!(err.1.contains("bogus"), "{err:?}");
        let err = FileConfig::parse("[gas]\nmax_fee = 1\n").unwrap_err();
        assert!(err.1.contains("max_fee"), "{err:?}");
    }

    #[test]
    fn flag_overrides_file() {
        let dir = tempfile::tempdir().unwrap();
        let dep = dir.path().join("dep.json");
        let a = "0x00000000000000000000000000000000000000aa";
        std::fs::write(
            &dep,
            format!(
                r#"{{"chainId": 31337, "contracts": {{"PoolManager": "{a}", "PoolETH": "{a}", "Oracle": "{a}",
                "DepositContract": "{a}", "SSVNetwork": "{a}"}}}}"#
            ),
        )
        .unwrap();
        let cfg = dir.path().join("agent.toml");
        std::fs::write(
            &cfg,
            "rpc_url = \"http://127.0.0.1:1\"\nchain_id = 31337\ndeployment = \"dep.json\"\nstate_dir = \"st\"\n\
             [signer]\ndev_private_key_file = \"k\"\n",
        )
        .unwrap();
        let c = Config::resolve(Some(&cfg), &Overrides::default()).unwrap();
        assert_eq!(c.rpc.shown(), "http://127.0.0.1:1");
        assert_eq!(c.state_dir().unwrap(), dir.path().join("st"));
        assert!(matches!(
            c.signer().unwrap(),
            SignerConfig::DevPrivateKey { .. }
        ));
        assert_eq!(
            c.contracts().unwrap().oracle,
            parse_address("a", a).unwrap()
        );
        let ov = Overrides {
            rpc_url: Some("http://127.0.0.1:2".into()),
            ..Default::default()
        };
        let c = Config::resolve(Some(&cfg), &ov).unwrap();
        assert_eq!(c.rpc.shown(), "http://127.0.0.1:2");
        let ov = Overrides {
            chain_id: Some(1),
            ..Default::default()
        };
        let e = Config::resolve(Some(&cfg), &ov)
            .unwrap()
            .contracts()
            .unwrap_err();
        assert!(e.to_string().contains("chain 31337"), "{e}");
    }

    #[test]
    fn policy_section_is_strict_and_errors_name_the_field() {
        let err = FileConfig::parse("[policy]\nmax_validators = 3\n").unwrap_err();
        assert!(err.1.contains("max_validators"), "{err:?}");
        let err =
            FileConfig::parse("[[policy.allow]]\ntarget = \"oracle\"\nfunctions = []\nnote = 1\n")
                .unwrap_err();
        assert!(err.1.contains("note"), "{err:?}");
        let dir = tempfile::tempdir().unwrap();
        let dep = dir.path().join("dep.json");
        let a = "0x00000000000000000000000000000000000000aa";
        std::fs::write(
            &dep,
            format!(
                r#"{{"chainId": 31337, "PoolManager": "{a}", "PoolETH": "{a}", "Oracle": "{a}",
                "DepositContract": "{a}", "SSVNetwork": "{a}"}}"#
            ),
        )
        .unwrap();
        let write = |policy: &str| {
            let cfg = dir.path().join("agent.toml");
            std::fs::write(
                &cfg,
                format!(
                    "rpc_url = \"http://127.0.0.1:3\"\nchain_id = 31337\ndeployment = \"dep.json\"\n{policy}"
                ),
            )
            .unwrap();
            Config::resolve(Some(&cfg), &Overrides::default())
        };
        let e = write("[policy]\nchain_id = 1\n").unwrap_err();
        assert!(e.to_string().contains("policy.chain_id"), "{e}");
        let e = write("[[policy.allow]]\ntarget = \"oracle\"\nfunctions = []\n").unwrap_err();
        assert!(e.to_string().contains("policy.allow[0].functions"), "{e}");
        let c =
            write("[[policy.allow]]\ntarget = \"0xnope\"\nfunctions = [\"0x12345678\"]\n").unwrap();
        let e = crate::policy::Policy::from_config(&c).unwrap_err();
        assert!(e.to_string().contains("policy.allow[0].target"), "{e}");
        let c = write("[[policy.allow]]\ntarget = \"oracle\"\nfunctions = [\"0x1234\", \"x\"]\n")
            .unwrap();
        let e = crate::policy::Policy::from_config(&c).unwrap_err();
        assert!(
            e.to_string().contains("policy.allow[0].functions[0]"),
            "{e}"
        );
        // Defaults: the deployment's five functions (stake, the three cluster functions, the
        // oracle report), no value, 100 validators a day, 0.25 / 1 ETH for SSV fees.
        let c = write("").unwrap();
        let p = crate::policy::Policy::from_config(&c).unwrap();
        assert_eq!(p.names.len(), 5);
        assert_eq!(p.max_value_wei, alloy::primitives::U256::ZERO);
        assert_eq!(p.max_validators_per_day, 100);
        assert_eq!(
            p.max_ssv_fee_per_tx_wei,
            alloy::primitives::U256::from(crate::policy::DEFAULT_MAX_SSV_FEE_PER_TX_WEI)
        );
        let c =
            write("[policy]\nmax_ssv_fee_per_tx_gwei = 5\nmax_ssv_fee_per_day_gwei = 6\n").unwrap();
        let p = crate::policy::Policy::from_config(&c).unwrap();
        assert_eq!(
            p.max_ssv_fee_per_tx_wei,
            alloy::primitives::U256::from(5_000_000_000u64)
        );
        assert_eq!(
            p.max_ssv_fee_per_day_wei,
            alloy::primitives::U256::from(6_000_000_000u64)
        );
        let e = write("[policy]\nmax_ssv_fees = 5\n").unwrap_err();
        assert!(e.to_string().contains("max_ssv_fees"), "{e}");
        let c = write("[policy]\nmax_validators_per_day = 7\nmax_fee_per_gas_gwei = 9\n").unwrap();
        let d = crate::policy::Policy::from_config(&c).unwrap().describe();
        assert!(
            d.contains("7 staked per day") && d.contains("9000000000 wei"),
            "{d}"
        );
    }

    #[test]
    fn identity_keys_are_checked() {
        assert!(parse_identity_key("k", "04abcd").is_err());
        let sk = p256::ecdsa::SigningKey::from_slice(&[7u8; 32]).unwrap();
        let pk = sk.verifying_key().to_encoded_point(true);
        let full = parse_identity_key("k", &hex::encode(pk.as_bytes())).unwrap();
        assert_eq!(full.len(), 65);
    }
}
