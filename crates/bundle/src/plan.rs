//! The ceremony plan: one strict TOML file, the one reviewed input (DESIGN.md, "The ceremony plan").
//!
//! Parsing is strict (unknown keys are errors) and every error names the field path, e.g.
//! `plan.toml: deposit.withdrawal_type: withdrawal type: expected "0x01" or "0x02", found "0x03"`
//! (the deposit rules themselves are `kc_validator::deposit`'s). Paths inside
//! the plan are relative to the plan file.

use std::path::{Path, PathBuf};

use kc_validator::address::Address;
use kc_validator::deposit::{self, Network, WithdrawalType};
use serde::{Deserialize, Serialize};

use crate::operators::{OperatorsFile, Provenance};
use crate::Error;

/// Most validators one ceremony creates.
pub const MAX_VALIDATORS: u32 = 100_000;

/// The plan as written in the file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanFile {
    pub ceremony: CeremonySection,
    pub deposit: DepositSection,
    pub ssv: SsvSection,
    pub hsm: HsmSection,
    pub seed: SeedSection,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CeremonySection {
    pub id: String,
    pub network: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fork_version: Option<String>,
    pub validators: u32,
    pub start_index: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DepositSection {
    pub withdrawal_address: String,
    pub withdrawal_type: String,
    pub amount_gwei: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SsvSection {
    pub owner_address: String,
    pub owner_nonce: u64,
    pub operators_file: PathBuf,
    #[serde(default)]
    pub allow_unpinned_operators: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HsmSection {
    pub module: PathBuf,
    pub token_label: String,
    /// The token's serial number (`C_GetTokenInfo.serialNumber`): when given, the token must
    /// carry both the label and this serial number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_serial: Option<String>,
    #[serde(default = "default_seal_label")]
    pub seal_key_label: String,
    #[serde(default = "default_identity_label")]
    pub identity_key_label: String,
}

fn default_seal_label() -> String {
    "kc-seal".to_owned()
}
fn default_identity_label() -> String {
    "kc-identity".to_owned()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SeedSource {
    Hsm,
    Mnemonic,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedSection {
    pub source: SeedSource,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mnemonic_file: Option<PathBuf>,
}

/// A plan that parsed and passed every check, with its values in typed form.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The file's bytes exactly as read (copied into the bundle as `plan.toml`).
    pub text: String,
    /// Where it was read from.
    pub path: PathBuf,
    pub file: PlanFile,
    pub network: Network,
    pub withdrawal_address: Address,
    pub withdrawal_type: WithdrawalType,
    pub owner: Address,
    pub operators: OperatorsFile,
    /// `[hsm] module`, resolved against the plan's directory.
    pub hsm_module: PathBuf,
    /// `[seed] mnemonic_file`, resolved, when the source is a mnemonic.
    pub mnemonic_file: Option<PathBuf>,
}

impl Plan {
    pub fn id(&self) -> &str {
        &self.file.ceremony.id
    }
    pub fn count(&self) -> u32 {
        self.file.ceremony.validators
    }
    pub fn start_index(&self) -> u32 {
        self.file.ceremony.start_index
    }
    pub fn first_nonce(&self) -> u64 {
        self.file.ssv.owner_nonce
    }
    pub fn amount_gwei(&self) -> u64 {
        self.file.deposit.amount_gwei
    }
    /// EIP-2334 index of the batch's last validator. Cannot overflow: a checked plan has at
    /// least one validator and `start_index + validators <= 2^32`.
    pub fn last_index(&self) -> u32 {
        self.start_index() + (self.count() - 1)
    }
    /// EIP-2334 indices of the batch, in order (inclusive: the batch may end at index 2^32-1).
    pub fn indices(&self) -> std::ops::RangeInclusive<u32> {
        self.start_index()..=self.last_index()
    }
    /// The SSV owner nonce of the `i`-th validator of the batch.
    pub fn nonce_of(&self, i: u32) -> u64 {
        self.first_nonce() + u64::from(i)
    }

    /// Reads, parses and checks a plan file. The operators file is read and checked too.
    pub fn load(path: &Path) -> Result<Self, Error> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::Io {
            path: path.to_owned(),
            action: "read the plan",
            source: e,
        })?;
        Self::parse(&text, path)
    }

    /// Parses and checks plan text as if read from `path` (which anchors relative paths); the
    /// files it names are read and checked.
    pub fn parse(text: &str, path: &Path) -> Result<Self, Error> {
        Self::parse_with(text, path, None)
    }

    /// Parses and checks the plan stored in a bundle: the operators come from the bundle's
    /// `operators.json`, and files on the ceremony machine (HSM module, mnemonic) are not looked at.
    pub fn parse_in_bundle(
        text: &str,
        path: &Path,
        operators: OperatorsFile,
    ) -> Result<Self, Error> {
        Self::parse_with(text, path, Some(operators))
    }

    fn parse_with(text: &str, path: &Path, bundled: Option<OperatorsFile>) -> Result<Self, Error> {
        let on_disk = bundled.is_none();
        let err = |field: &str, message: String| Error::Plan {
            file: path.to_owned(),
            field: field.to_owned(),
            message,
        };
        let de = toml::Deserializer::new(text);
        let file: PlanFile = serde_path_to_error::deserialize(de).map_err(|e| {
            let path = crate::printable(&e.path().to_string());
            let inner = e.into_inner();
            let (field, message) = toml_error_field(text, &path, &inner);
            err(&field, message)
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        let c = &file.ceremony;

        // [ceremony]
        check_id(&c.id).map_err(|m| err("ceremony.id", m))?;
        let network = match (c.network.as_str(), &c.fork_version) {
            ("mainnet", None) => Network::Mainnet,
            ("sepolia", None) => Network::Sepolia,
            ("hoodi", None) => Network::Hoodi,
            ("custom", Some(v)) => {
                let fork_version =
                    parse_fork_version(v).map_err(|m| err("ceremony.fork_version", m))?;
                // A named network's fork version under `custom` would sign deposits valid on
                // that network while every file says "custom"; the deposit code refuses it only
                // after the HSM was used, so the plan refuses it here.
                let known = Network::from_fork_version(fork_version);
                if !matches!(known, Network::Custom { .. }) {
                    return Err(err(
                        "ceremony.fork_version",
                        format!(
                            "{v} is {}'s genesis fork version; use network = \"{}\"",
                            known.name(),
                            known.name()
                        ),
                    ));
                }
                Network::Custom { fork_version }
            }
            ("custom", None) => {
                return Err(err(
                    "ceremony.fork_version",
                    "required when network = \"custom\"".into(),
                ))
            }
            ("mainnet" | "sepolia" | "hoodi", Some(_)) => {
                return Err(err(
                    "ceremony.fork_version",
                    format!(
                        "only allowed with network = \"custom\" ({} has a fixed fork version)",
                        c.network
                    ),
                ))
            }
            (other, _) => {
                return Err(err(
                    "ceremony.network",
                    format!("expected mainnet, sepolia, hoodi or custom, found {other:?}"),
                ))
            }
        };
        if c.validators == 0 || c.validators > MAX_VALIDATORS {
            return Err(err(
                "ceremony.validators",
                format!("must be 1 to {MAX_VALIDATORS}, found {}", c.validators),
            ));
        }
        if u64::from(c.start_index) + u64::from(c.validators) > u64::from(u32::MAX) + 1 {
            return Err(err(
                "ceremony.start_index",
                format!(
                    "start_index {} + validators {} passes the last EIP-2334 index 2^32-1",
                    c.start_index, c.validators
                ),
            ));
        }

        // [deposit]
        let d = &file.deposit;
        let withdrawal_address = parse_address(&d.withdrawal_address)
            .map_err(|m| err("deposit.withdrawal_address", m))?;
        let withdrawal_type: WithdrawalType = d
            .withdrawal_type
            .parse()
            .map_err(|e: kc_validator::Error| err("deposit.withdrawal_type", e.to_string()))?;
        deposit::check_amount(withdrawal_type, d.amount_gwei)
            .map_err(|e| err("deposit.amount_gwei", e.to_string()))?;

        // [ssv]
        let s = &file.ssv;
        let owner = parse_address(&s.owner_address).map_err(|m| err("ssv.owner_address", m))?;
        let Some(last_nonce) = s.owner_nonce.checked_add(u64::from(c.validators) - 1) else {
            return Err(err(
                "ssv.owner_nonce",
                format!("{} + {} validators overflows", s.owner_nonce, c.validators),
            ));
        };
        if last_nonce > kc_ssv::keyshares::MAX_OWNER_NONCE {
            return Err(err(
                "ssv.owner_nonce",
                format!(
                    "nonces {}..={last_nonce} pass {}, the largest owner nonce an SSV node accepts (it keeps nonces as uint16)",
                    s.owner_nonce,
                    kc_ssv::keyshares::MAX_OWNER_NONCE
                ),
            ));
        }
        let operators_path = base.join(&s.operators_file);
        let operators = match bundled {
            Some(ops) => ops,
            None => OperatorsFile::load(&operators_path)
                .map_err(|e| err("ssv.operators_file", e.to_string()))?,
        };
        if on_disk {
            operators_chain(&network, operators.provenance.as_ref()).map_err(|m| {
                err(
                    "ssv.operators_file",
                    format!("{}: {m}", operators_path.display()),
                )
            })?;
        }
        if operators.provenance.is_none() && !s.allow_unpinned_operators {
            return Err(err(
                "ssv.operators_file",
                format!(
                    "{} has no provenance (chain id, contract, block); export it with `signer-agent operators export`, or set allow_unpinned_operators = true in [ssv]",
                    operators_path.display()
                ),
            ));
        }

        // [hsm]
        let h = &file.hsm;
        check_label(&h.token_label).map_err(|m| err("hsm.token_label", m))?;
        if let Some(serial) = &h.token_serial {
            // CK_TOKEN_INFO.serialNumber is 16 bytes of blank-padded text.
            if serial.trim().is_empty() || serial.len() > 16 || serial.trim() != serial {
                return Err(err(
                    "hsm.token_serial",
                    format!("{serial:?} is not a token serial number (1 to 16 characters, no surrounding blanks)"),
                ));
            }
        }
        check_label(&h.seal_key_label).map_err(|m| err("hsm.seal_key_label", m))?;
        check_label(&h.identity_key_label).map_err(|m| err("hsm.identity_key_label", m))?;
        if h.seal_key_label == h.identity_key_label {
            return Err(err(
                "hsm.identity_key_label",
                "must differ from seal_key_label".into(),
            ));
        }
        let hsm_module = base.join(&h.module);
        if on_disk && !hsm_module.is_file() {
            return Err(err(
                "hsm.module",
                format!("{} is not a file", hsm_module.display()),
            ));
        }

        // [seed]
        let mnemonic_file = match (file.seed.source, &file.seed.mnemonic_file) {
            (SeedSource::Hsm, None) => None,
            (SeedSource::Hsm, Some(_)) => {
                return Err(err(
                    "seed.mnemonic_file",
                    "only allowed with source = \"mnemonic\"".into(),
                ))
            }
            (SeedSource::Mnemonic, None) => {
                return Err(err(
                    "seed.mnemonic_file",
                    "required when source = \"mnemonic\"".into(),
                ))
            }
            (SeedSource::Mnemonic, Some(p)) => {
                let p = base.join(p);
                if on_disk && !p.is_file() {
                    return Err(err(
                        "seed.mnemonic_file",
                        format!("{} is not a file", p.display()),
                    ));
                }
                Some(p)
            }
        };

        Ok(Self {
            text: text.to_owned(),
            path: path.to_owned(),
            file,
            network,
            withdrawal_address,
            withdrawal_type,
            owner,
            operators,
            hsm_module,
            mnemonic_file,
        })
    }
}

/// How the operators' provenance relates to the plan's network: the keys must have
/// been read on the network's own chain. Recorded in the transcript (`ceremony.started`,
/// `operators_chain`) and reported by verification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "check", rename_all = "kebab-case")]
pub enum OperatorsChain {
    /// The provenance names the chain of the plan's (named) network.
    MatchesNetwork { chain_id: u64 },
    /// A custom network: its chain id is not known from its fork version, so the provenance's
    /// chain is accepted as it is. The exemption is recorded.
    CustomNetworkExempt { chain_id: u64 },
    /// No provenance at all (the plan allowed unpinned operators).
    Unpinned,
}

impl std::fmt::Display for OperatorsChain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OperatorsChain::MatchesNetwork { chain_id } => {
                write!(f, "operator keys read on chain {chain_id}, the network's chain")
            }
            OperatorsChain::CustomNetworkExempt { chain_id } => write!(
                f,
                "custom network: operator keys read on chain {chain_id}, not checked against                  the network (its chain is not known; exemption recorded)"
            ),
            OperatorsChain::Unpinned => f.write_str("no provenance (unpinned operators)"),
        }
    }
}

/// The relation of `provenance` to `network`, or why they disagree (the provenance names
/// another chain than the named network's).
pub fn operators_chain(
    network: &Network,
    provenance: Option<&Provenance>,
) -> Result<OperatorsChain, String> {
    let Some(p) = provenance else {
        return Ok(OperatorsChain::Unpinned);
    };
    match network.chain_id() {
        None => Ok(OperatorsChain::CustomNetworkExempt {
            chain_id: p.chain_id,
        }),
        Some(want) if want == p.chain_id => Ok(OperatorsChain::MatchesNetwork { chain_id: want }),
        Some(want) => Err(format!(
            "provenance names chain {}, but network {:?} is chain {want}: the operators' keys \
             must be read on the network the validators are for",
            p.chain_id,
            network.name()
        )),
    }
}

/// The network name a bundle for the execution chain `chain_id` must carry: the named network
/// of that chain, or `custom` for any other chain (devnets).
pub fn network_name_for_chain(chain_id: u64) -> &'static str {
    Network::from_chain_id(chain_id).map_or("custom", |n| n.name())
}

impl Plan {
    /// [`operators_chain`] of this plan's network and operators.
    pub fn operators_chain(&self) -> Result<OperatorsChain, String> {
        operators_chain(&self.network, self.operators.provenance.as_ref())
    }
}

/// The field path and message of a TOML or type error. serde names the path of a wrong value,
/// but a missing field is reported at its table (`ssv: missing field `owner_nonce``), and a
/// syntax error (including an integer TOML cannot hold) has no path at all, only a byte span: the
/// missing field is appended to the path, and a syntax error is named by the key on its line,
/// under the table header above it (else by its line number).
fn toml_error_field(text: &str, path: &str, e: &toml::de::Error) -> (String, String) {
    // One line: the toml crate puts a newline between a syntax error and its reason.
    let message = crate::printable(
        &e.message()
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join(": "),
    );
    let table = if path == "." { "" } else { path };
    let join = |key: &str| {
        if table.is_empty() {
            key.to_owned()
        } else {
            format!("{table}.{key}")
        }
    };
    if let Some(missing) = message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.strip_suffix('`'))
    {
        return (join(missing), message.clone());
    }
    if !table.is_empty() {
        return (table.to_owned(), message);
    }
    let Some(span) = e.span() else {
        return ("(top level)".to_owned(), message);
    };
    let start = span.start.min(text.len());
    let line_no = text[..start].matches('\n').count() + 1;
    let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
    let line = text[line_start..].lines().next().unwrap_or("");
    let column = start - line_start + 1;
    let located = format!("{message} (line {line_no}, column {column})");
    let key = line
        .split_once('=')
        .map(|(k, _)| k.trim())
        .filter(|k| !k.is_empty() && !k.starts_with('#') && !k.starts_with('['));
    let header = text[..line_start]
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.starts_with('[') && l.ends_with(']'))
        .map(|l| l.trim_matches(|c| c == '[' || c == ']').trim());
    let field = match (header, key) {
        (Some(h), Some(k)) => format!("{h}.{k}"),
        (None, Some(k)) => k.to_owned(),
        (_, None) => format!("line {line_no}"),
    };
    (field, located)
}

fn check_id(id: &str) -> Result<(), String> {
    if id.is_empty() || id.len() > 64 {
        return Err(format!("must be 1 to 64 characters, found {}", id.len()));
    }
    if let Some(c) = id
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
    {
        return Err(format!(
            "may hold only letters, digits, '-', '_' and '.', found {c:?}"
        ));
    }
    if id.starts_with('.') {
        return Err("must not start with '.'".into());
    }
    Ok(())
}

fn check_label(label: &str) -> Result<(), String> {
    if label.is_empty() || label.len() > 32 {
        return Err(format!(
            "must be 1 to 32 bytes (PKCS#11 labels), found {}",
            label.len()
        ));
    }
    if label.chars().any(|c| c.is_control()) {
        return Err("must not contain control characters".into());
    }
    Ok(())
}

fn parse_fork_version(v: &str) -> Result<[u8; 4], String> {
    let hex_part = v
        .strip_prefix("0x")
        .ok_or_else(|| format!("expected \"0x\" and 8 hex digits, found {v:?}"))?;
    let bytes = hex::decode(hex_part).map_err(|e| format!("not hex ({e}): {v:?}"))?;
    bytes
        .try_into()
        .map_err(|b: Vec<u8>| format!("expected 4 bytes, found {}", b.len()))
}

fn parse_address(s: &str) -> Result<Address, String> {
    let a: Address = s.parse().map_err(|e: kc_validator::Error| e.to_string())?;
    if a.0 == [0u8; 20] {
        return Err("the zero address is not allowed".into());
    }
    Ok(a)
}
