//! Deposit data: creation, verification, and the `deposit_data-*.json` list format.
//!
//! The file format is the one the Ethereum staking launchpad reads and ethstaker-deposit 1.3.1
//! writes (`utils/export_data.py`: `json.dump(data, f, default=lambda x: x.hex())`): a JSON list of
//! objects with, in order, `pubkey`, `withdrawal_credentials`, `amount` (gwei, integer),
//! `signature`, `deposit_message_root`, `deposit_data_root`, `fork_version`, `network_name`,
//! `deposit_cli_version`; hex without `0x`; Python's default separators (`", "`, `": "`), no
//! indentation, no trailing newline.
//!
//! Amount rules: at least 1 ETH; at most 32 ETH with `0x01` credentials; at most 2048 ETH with
//! `0x02` (compounding, EIP-7251) credentials.

use std::fmt;
use std::str::FromStr;

use crate::bls::{batch_verify, PublicKey, SecretKey, Signature};
use crate::hexutil::decode_fixed;
use crate::{pyjson, ssz, Address, Error};

/// One ether in gwei.
pub const ETH_GWEI: u64 = 1_000_000_000;
/// One gwei in wei (execution-layer amounts are in wei, deposit amounts in gwei).
pub const GWEI_WEI: u128 = 1_000_000_000;
/// The minimum deposit (1 ETH).
pub const MIN_DEPOSIT_GWEI: u64 = ETH_GWEI;
/// 32 ETH: the balance a validator needs to be activated (`MIN_ACTIVATION_BALANCE`), hence
/// what the pool's `PoolManager.stake` deposits for each validator.
pub const MIN_ACTIVATION_BALANCE_GWEI: u64 = 32 * ETH_GWEI;
/// The largest deposit with `0x01` credentials (32 ETH, the pre-Electra maximum effective balance).
pub const MAX_ETH1_DEPOSIT_GWEI: u64 = MIN_ACTIVATION_BALANCE_GWEI;
/// The largest deposit with `0x02` credentials (2048 ETH, `MAX_EFFECTIVE_BALANCE_ELECTRA`, and
/// ethstaker-deposit's `MAX_DEPOSIT_AMOUNT`).
pub const MAX_COMPOUNDING_DEPOSIT_GWEI: u64 = 2048 * ETH_GWEI;
/// The `deposit_cli_version` we write: the ethstaker-deposit release whose output we match.
pub const DEPOSIT_CLI_VERSION: &str = "1.3.1";

/// `gwei` in wei.
pub const fn gwei_to_wei(gwei: u64) -> u128 {
    gwei as u128 * GWEI_WEI
}

/// The network a deposit is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Network {
    /// Ethereum mainnet.
    Mainnet,
    /// Sepolia testnet.
    Sepolia,
    /// Hoodi testnet.
    Hoodi,
    /// Any other chain, by its genesis fork version (its `network_name` is `"custom"`; exits need
    /// an explicit [`crate::exit::ExitDomain`]).
    Custom {
        /// the chain's `GENESIS_FORK_VERSION`
        fork_version: [u8; 4],
    },
}

const KNOWN: [Network; 3] = [Network::Mainnet, Network::Sepolia, Network::Hoodi];

impl Network {
    /// The `network_name` written into deposit data: `mainnet`, `sepolia`, `hoodi` or `custom`.
    pub fn name(&self) -> &'static str {
        match self {
            Network::Mainnet => "mainnet",
            Network::Sepolia => "sepolia",
            Network::Hoodi => "hoodi",
            Network::Custom { .. } => "custom",
        }
    }

    /// `GENESIS_FORK_VERSION` (ethstaker-deposit 1.3.1 `settings.py`).
    pub fn genesis_fork_version(&self) -> [u8; 4] {
        match self {
            Network::Mainnet => [0x00, 0x00, 0x00, 0x00],
            Network::Sepolia => [0x90, 0x00, 0x00, 0x69],
            Network::Hoodi => [0x10, 0x00, 0x09, 0x10],
            Network::Custom { fork_version } => *fork_version,
        }
    }

    /// The Capella fork version that signs voluntary exits (EIP-7044); `None` for a custom chain.
    pub fn exit_fork_version(&self) -> Option<[u8; 4]> {
        match self {
            Network::Mainnet => Some([0x03, 0x00, 0x00, 0x00]),
            Network::Sepolia => Some([0x90, 0x00, 0x00, 0x72]),
            Network::Hoodi => Some([0x40, 0x00, 0x09, 0x10]),
            Network::Custom { .. } => None,
        }
    }

    /// `genesis_validators_root` (ethstaker-deposit 1.3.1 `settings.py`); `None` for a custom chain.
    pub fn genesis_validators_root(&self) -> Option<[u8; 32]> {
        let hex = match self {
            Network::Mainnet => "4b363db94e286120d76eb905340fdd4e54bfe9f06bf33ff6cf5ad27f511bfe95",
            Network::Sepolia => "d8ea171f3c94aea21ebc42a1ed61052acf3f9209c00e4efbaaddac09ed9b8078",
            Network::Hoodi => "212f13fc4df078b6cb7db228f1c8307566dcecf900867401a92023d7ba99cb5f",
            Network::Custom { .. } => return None,
        };
        decode_fixed("genesis validators root", hex).ok()
    }

    /// The named network with this genesis fork version, or `Custom`.
    pub fn from_fork_version(fork_version: [u8; 4]) -> Network {
        KNOWN
            .into_iter()
            .find(|n| n.genesis_fork_version() == fork_version)
            .unwrap_or(Network::Custom { fork_version })
    }

    /// Builds a network from a plan's `network` name (`mainnet`, `sepolia`, `hoodi` or `custom`)
    /// and, for `custom` only, its `fork_version` (`0x` + 8 hex digits).
    pub fn from_plan(name: &str, fork_version: Option<&str>) -> Result<Network, Error> {
        match (name, fork_version) {
            ("custom", Some(v)) => {
                let fork_version: [u8; 4] = crate::hexutil::decode_fixed_0x("fork_version", v)?;
                Ok(Network::Custom { fork_version })
            }
            ("custom", None) => Err(Error::Network {
                what: "network \"custom\"".into(),
                reason: "needs a fork_version".into(),
            }),
            (n, None) => n.parse(),
            (n, Some(_)) => Err(Error::Network {
                what: format!("network {n:?}"),
                reason: "fork_version is only allowed with network = \"custom\"".into(),
            }),
        }
    }

    /// The execution-layer chain id of a named network (EIP-155: mainnet 1, sepolia 11155111,
    /// hoodi 560048); `None` for a custom chain, whose id is not known from its fork version.
    pub fn chain_id(&self) -> Option<u64> {
        match self {
            Network::Mainnet => Some(1),
            Network::Sepolia => Some(11_155_111),
            Network::Hoodi => Some(560_048),
            Network::Custom { .. } => None,
        }
    }

    /// The named network of an execution-layer chain id, if it is one of ours.
    pub fn from_chain_id(chain_id: u64) -> Option<Network> {
        KNOWN.into_iter().find(|n| n.chain_id() == Some(chain_id))
    }

    /// The deposit signing domain.
    pub fn deposit_domain(&self) -> [u8; 32] {
        ssz::deposit_domain(&self.genesis_fork_version())
    }
}

impl fmt::Display for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Network::Custom { fork_version } => write!(f, "custom({})", hex::encode(fork_version)),
            n => f.write_str(n.name()),
        }
    }
}

impl FromStr for Network {
    type Err = Error;
    /// `mainnet`, `sepolia` or `hoodi` (a custom chain needs its fork version: build it directly).
    fn from_str(s: &str) -> Result<Self, Error> {
        KNOWN
            .into_iter()
            .find(|n| n.name() == s)
            .ok_or_else(|| Error::Network {
                what: format!("network {s:?}"),
                reason: "expected mainnet, sepolia or hoodi".into(),
            })
    }
}

/// The withdrawal credential type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WithdrawalType {
    /// `0x01`: execution address; balance above 32 ETH is swept.
    Eth1,
    /// `0x02`: compounding (EIP-7251); balances up to 2048 ETH.
    Compounding,
}

impl WithdrawalType {
    /// The credential's first byte.
    pub fn prefix(&self) -> u8 {
        match self {
            WithdrawalType::Eth1 => 0x01,
            WithdrawalType::Compounding => 0x02,
        }
    }

    /// `"0x01"` or `"0x02"`.
    pub fn as_str(&self) -> &'static str {
        match self {
            WithdrawalType::Eth1 => "0x01",
            WithdrawalType::Compounding => "0x02",
        }
    }

    /// The type of a credential prefix byte.
    pub fn from_prefix(b: u8) -> Option<Self> {
        match b {
            0x01 => Some(WithdrawalType::Eth1),
            0x02 => Some(WithdrawalType::Compounding),
            _ => None,
        }
    }

    /// The largest deposit this credential type may make.
    pub fn max_deposit_gwei(&self) -> u64 {
        match self {
            WithdrawalType::Eth1 => MAX_ETH1_DEPOSIT_GWEI,
            WithdrawalType::Compounding => MAX_COMPOUNDING_DEPOSIT_GWEI,
        }
    }
}

impl FromStr for WithdrawalType {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        match s {
            "0x01" => Ok(WithdrawalType::Eth1),
            "0x02" => Ok(WithdrawalType::Compounding),
            _ => Err(Error::InvalidWithdrawalCredentials {
                what: "withdrawal type".into(),
                reason: format!("expected \"0x01\" or \"0x02\", found {s:?}"),
            }),
        }
    }
}

/// `prefix ‖ 11 zero bytes ‖ address`.
pub fn withdrawal_credentials(t: WithdrawalType, addr: &Address) -> [u8; 32] {
    let mut wc = [0u8; 32];
    wc[0] = t.prefix();
    wc[12..].copy_from_slice(&addr.0);
    wc
}

/// Splits credentials into their type and address; rejects other prefixes and non-zero padding.
pub fn parse_withdrawal_credentials(wc: &[u8; 32]) -> Result<(WithdrawalType, Address), Error> {
    let t =
        WithdrawalType::from_prefix(wc[0]).ok_or_else(|| Error::InvalidWithdrawalCredentials {
            what: "withdrawal_credentials".into(),
            reason: format!("prefix 0x{:02x} is not 0x01 or 0x02", wc[0]),
        })?;
    if wc[1..12].iter().any(|&b| b != 0) {
        return Err(Error::InvalidWithdrawalCredentials {
            what: "withdrawal_credentials".into(),
            reason: "bytes 1..12 must be zero".into(),
        });
    }
    let mut a = [0u8; 20];
    a.copy_from_slice(&wc[12..]);
    Ok((t, Address(a)))
}

/// Checks `amount_gwei` against the minimum (1 ETH) and the credential type's maximum (32 ETH
/// for `0x01`, 2048 ETH for `0x02`), both inclusive.
pub fn check_amount(t: WithdrawalType, amount_gwei: u64) -> Result<(), Error> {
    if amount_gwei < MIN_DEPOSIT_GWEI {
        return Err(Error::AmountBelowMinimum {
            what: "deposit amount".into(),
            amount_gwei,
            min_gwei: MIN_DEPOSIT_GWEI,
        });
    }
    if amount_gwei > t.max_deposit_gwei() {
        return Err(Error::AmountNotAllowed {
            what: "deposit amount".into(),
            amount_gwei,
            withdrawal_type: t.as_str(),
            max_gwei: t.max_deposit_gwei(),
        });
    }
    Ok(())
}

/// One signed deposit, with every field of the JSON file, typed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DepositData {
    /// the validator's public key
    pub pubkey: PublicKey,
    /// `0x01`/`0x02` ‖ zeros ‖ address
    pub withdrawal_credentials: [u8; 32],
    /// the amount in gwei
    pub amount: u64,
    /// the signature over the deposit message's signing root
    pub signature: Signature,
    /// `hash_tree_root(DepositMessage)`
    pub deposit_message_root: [u8; 32],
    /// `hash_tree_root(DepositData)` (what the deposit contract checks)
    pub deposit_data_root: [u8; 32],
    /// the genesis fork version the signature's domain uses
    pub fork_version: [u8; 4],
    /// `mainnet`, `sepolia`, `hoodi` or another chain's name
    pub network_name: String,
    /// the tool version field (`1.3.1` when we write it)
    pub deposit_cli_version: String,
}

impl DepositData {
    /// Signs a deposit of `amount_gwei` to `wc` for `network` with `sk`.
    pub fn create(
        sk: &SecretKey,
        wc: [u8; 32],
        amount_gwei: u64,
        network: &Network,
    ) -> Result<Self, Error> {
        let (t, _) = parse_withdrawal_credentials(&wc)?;
        check_amount(t, amount_gwei)?;
        if let Network::Custom { fork_version } = network {
            let known = Network::from_fork_version(*fork_version);
            if !matches!(known, Network::Custom { .. }) {
                return Err(Error::Network {
                    what: format!("custom fork version {}", hex::encode(fork_version)),
                    reason: format!(
                        "is {}'s genesis fork version; use that network",
                        known.name()
                    ),
                });
            }
        }
        let pubkey = sk.public_key();
        let pk = pubkey.to_bytes();
        let deposit_message_root = ssz::deposit_message_root(&pk, &wc, amount_gwei);
        let signing_root = ssz::signing_root(&deposit_message_root, &network.deposit_domain());
        let signature = sk.sign(&signing_root);
        let deposit_data_root =
            ssz::deposit_data_root(&pk, &wc, amount_gwei, &signature.to_bytes());
        Ok(DepositData {
            pubkey,
            withdrawal_credentials: wc,
            amount: amount_gwei,
            signature,
            deposit_message_root,
            deposit_data_root,
            fork_version: network.genesis_fork_version(),
            network_name: network.name().to_string(),
            deposit_cli_version: DEPOSIT_CLI_VERSION.to_string(),
        })
    }

    /// The network its fork version designates.
    pub fn network(&self) -> Network {
        Network::from_fork_version(self.fork_version)
    }

    /// The withdrawal type and address of its credentials.
    pub fn withdrawal(&self) -> Result<(WithdrawalType, Address), Error> {
        parse_withdrawal_credentials(&self.withdrawal_credentials)
    }

    /// The signing root the signature covers.
    pub fn signing_root(&self) -> [u8; 32] {
        ssz::signing_root(
            &self.deposit_message_root,
            &ssz::deposit_domain(&self.fork_version),
        )
    }

    /// Everything except the signature: credentials, amount, network name vs fork version, and
    /// both roots recomputed.
    pub fn verify_structure(&self) -> Result<(), Error> {
        let (t, _) = self.withdrawal()?;
        check_amount(t, self.amount)?;
        let by_version = Network::from_fork_version(self.fork_version);
        let by_name = self.network_name.parse::<Network>().ok();
        let consistent = match (by_name, by_version) {
            (Some(n), v) => n == v,
            (None, Network::Custom { .. }) => true,
            (None, _) => false,
        };
        if !consistent {
            return Err(Error::Network {
                what: "fork_version".into(),
                reason: format!(
                    "{} does not belong to network_name {:?}",
                    hex::encode(self.fork_version),
                    self.network_name
                ),
            });
        }
        let pk = self.pubkey.to_bytes();
        let dmr = ssz::deposit_message_root(&pk, &self.withdrawal_credentials, self.amount);
        if dmr != self.deposit_message_root {
            return Err(Error::RootMismatch {
                what: "deposit_message_root".into(),
                stored: hex::encode(self.deposit_message_root),
                computed: hex::encode(dmr),
            });
        }
        let ddr = ssz::deposit_data_root(
            &pk,
            &self.withdrawal_credentials,
            self.amount,
            &self.signature.to_bytes(),
        );
        if ddr != self.deposit_data_root {
            return Err(Error::RootMismatch {
                what: "deposit_data_root".into(),
                stored: hex::encode(self.deposit_data_root),
                computed: hex::encode(ddr),
            });
        }
        Ok(())
    }

    /// Checks credentials, amount, network name against fork version, both roots, and the
    /// signature.
    pub fn verify(&self) -> Result<(), Error> {
        self.verify_structure()?;
        if !self.pubkey.verify(&self.signing_root(), &self.signature) {
            return Err(Error::BadSignature {
                what: "deposit signature".into(),
            });
        }
        Ok(())
    }

    /// [`DepositData::verify`], and that it is for `network`.
    pub fn verify_for(&self, network: &Network) -> Result<(), Error> {
        if self.fork_version != network.genesis_fork_version() {
            return Err(Error::Network {
                what: "fork_version".into(),
                reason: format!(
                    "{} is not {network}'s genesis fork version {}",
                    hex::encode(self.fork_version),
                    hex::encode(network.genesis_fork_version())
                ),
            });
        }
        self.verify()
    }

    fn write_json(&self, out: &mut String) {
        write_entry(
            out,
            [
                &self.pubkey.to_hex(),
                &hex::encode(self.withdrawal_credentials),
            ],
            self.amount,
            [
                &self.signature.to_hex(),
                &hex::encode(self.deposit_message_root),
                &hex::encode(self.deposit_data_root),
                &hex::encode(self.fork_version),
                &self.network_name,
                &self.deposit_cli_version,
            ],
        );
    }
}

/// One entry in ethstaker-deposit's layout: `pubkey`, `withdrawal_credentials`, then `amount`,
/// then the rest, each string as given.
fn write_entry(out: &mut String, head: [&str; 2], amount: u64, tail: [&str; 6]) {
    use std::fmt::Write;
    out.push('{');
    pyjson::push_key(out, "pubkey", true);
    pyjson::push_str(out, head[0]);
    pyjson::push_key(out, "withdrawal_credentials", false);
    pyjson::push_str(out, head[1]);
    pyjson::push_key(out, "amount", false);
    let _ = write!(out, "{amount}");
    for (key, value) in [
        "signature",
        "deposit_message_root",
        "deposit_data_root",
        "fork_version",
        "network_name",
        "deposit_cli_version",
    ]
    .into_iter()
    .zip(tail)
    {
        pyjson::push_key(out, key, false);
        pyjson::push_str(out, value);
    }
    out.push('}');
}

/// The deposit data file, byte-identical with ethstaker-deposit 1.3.1's `deposit_data-*.json`.
pub fn to_json(list: &[DepositData]) -> String {
    json_list(list, DepositData::write_json)
}

/// `[e0, e1, ...]` with Python's separators.
fn json_list<T>(list: &[T], write: impl Fn(&T, &mut String)) -> String {
    let mut out = String::with_capacity(list.len() * 700 + 2);
    out.push('[');
    for (i, d) in list.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        write(d, &mut out);
    }
    out.push(']');
    out
}

/// Writes a deposit data file one entry at a time, byte for byte as [`to_json`] writes the
/// whole list (the ceremony streams its entries instead of holding them all).
pub struct DepositJsonWriter<W: std::io::Write> {
    out: W,
    count: usize,
    buf: String,
}

impl<W: std::io::Write> DepositJsonWriter<W> {
    /// Starts the list.
    pub fn new(mut out: W) -> std::io::Result<Self> {
        out.write_all(b"[")?;
        Ok(Self {
            out,
            count: 0,
            buf: String::with_capacity(800),
        })
    }

    /// Appends one entry.
    pub fn push(&mut self, d: &DepositData) -> std::io::Result<()> {
        self.buf.clear();
        if self.count > 0 {
            self.buf.push_str(", ");
        }
        d.write_json(&mut self.buf);
        self.out.write_all(self.buf.as_bytes())?;
        self.count += 1;
        Ok(())
    }

    /// Closes the list; returns the writer.
    pub fn finish(mut self) -> std::io::Result<W> {
        self.out.write_all(b"]")?;
        Ok(self.out)
    }
}

/// One entry of a deposit data file as written: its strings and amount, nothing decoded. Cheap
/// to read and compare; [`RawDeposit::decode`] does the cryptography (points on the curve and in
/// their subgroups), so that a verifier decodes only entries that passed its cheap checks.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDeposit {
    pub pubkey: String,
    pub withdrawal_credentials: String,
    pub amount: u64,
    pub signature: String,
    pub deposit_message_root: String,
    pub deposit_data_root: String,
    pub fork_version: String,
    pub network_name: String,
    pub deposit_cli_version: String,
}

impl RawDeposit {
    /// Decodes hex fields and points (curve and subgroup checks).
    pub fn decode(&self) -> Result<DepositData, Error> {
        let pk: [u8; 48] = decode_fixed("pubkey", &self.pubkey)?;
        let sig: [u8; 96] = decode_fixed("signature", &self.signature)?;
        Ok(DepositData {
            pubkey: PublicKey::from_bytes(&pk).map_err(|e| e.in_field("pubkey"))?,
            withdrawal_credentials: decode_fixed(
                "withdrawal_credentials",
                &self.withdrawal_credentials,
            )?,
            amount: self.amount,
            signature: Signature::from_bytes(&sig).map_err(|e| e.in_field("signature"))?,
            deposit_message_root: decode_fixed("deposit_message_root", &self.deposit_message_root)?,
            deposit_data_root: decode_fixed("deposit_data_root", &self.deposit_data_root)?,
            fork_version: decode_fixed("fork_version", &self.fork_version)?,
            network_name: self.network_name.clone(),
            deposit_cli_version: self.deposit_cli_version.clone(),
        })
    }

    /// Recomputes `deposit_message_root` and `deposit_data_root` from the bytes as written
    /// (hashing only: no point is decoded) and compares them with the stored ones.
    pub fn check_roots(&self) -> Result<(), Error> {
        let pk: [u8; 48] = decode_fixed("pubkey", &self.pubkey)?;
        let wc: [u8; 32] = decode_fixed("withdrawal_credentials", &self.withdrawal_credentials)?;
        let sig: [u8; 96] = decode_fixed("signature", &self.signature)?;
        let dmr: [u8; 32] = decode_fixed("deposit_message_root", &self.deposit_message_root)?;
        let ddr: [u8; 32] = decode_fixed("deposit_data_root", &self.deposit_data_root)?;
        for (what, stored, computed) in [
            (
                "deposit_message_root",
                dmr,
                ssz::deposit_message_root(&pk, &wc, self.amount),
            ),
            (
                "deposit_data_root",
                ddr,
                ssz::deposit_data_root(&pk, &wc, self.amount, &sig),
            ),
        ] {
            if stored != computed {
                return Err(Error::RootMismatch {
                    what: what.into(),
                    stored: hex::encode(stored),
                    computed: hex::encode(computed),
                });
            }
        }
        Ok(())
    }

    /// Appends the entry in ethstaker-deposit's exact layout, every string as it is (so that
    /// comparing with the file's text also compares hex case).
    pub fn write_json(&self, out: &mut String) {
        write_entry(
            out,
            [&self.pubkey, &self.withdrawal_credentials],
            self.amount,
            [
                &self.signature,
                &self.deposit_message_root,
                &self.deposit_data_root,
                &self.fork_version,
                &self.network_name,
                &self.deposit_cli_version,
            ],
        );
    }
}

/// Parses a deposit data file into its raw entries (no hex or point decoding).
pub fn parse_raw_json(s: &str) -> Result<Vec<RawDeposit>, Error> {
    serde_json::from_str(s).map_err(|e| Error::Json {
        what: "deposit data".into(),
        reason: crate::text::printable(&e.to_string()),
    })
}

/// The file text of raw entries, in ethstaker-deposit's exact layout.
pub fn raw_to_json(list: &[RawDeposit]) -> String {
    json_list(list, RawDeposit::write_json)
}

fn entry(index: usize) -> impl Fn(Error) -> Error {
    move |e| Error::Entry {
        what: "deposit_data",
        index,
        inner: Box::new(e),
    }
}

/// Parses a deposit data file without checking signatures or roots (field shapes, hex, points
/// and lengths are checked).
pub fn parse_json(s: &str) -> Result<Vec<DepositData>, Error> {
    parse_raw_json(s)?
        .iter()
        .enumerate()
        .map(|(i, r)| r.decode().map_err(entry(i)))
        .collect()
}

/// Parses a deposit data file and verifies every entry ([`DepositData::verify`]).
pub fn from_json(s: &str) -> Result<Vec<DepositData>, Error> {
    let list = parse_json(s)?;
    verify_all(&list)?;
    Ok(list)
}

/// Verifies every entry: structure and roots one by one, then all signatures in one batch (and,
/// if the batch fails, one by one to name the bad entry).
pub fn verify_all(list: &[DepositData]) -> Result<(), Error> {
    for (i, d) in list.iter().enumerate() {
        d.verify_structure().map_err(entry(i))?;
    }
    if list.is_empty() {
        return Ok(());
    }
    let roots: Vec<[u8; 32]> = list.iter().map(DepositData::signing_root).collect();
    let items: Vec<(&[u8], &PublicKey, &Signature)> = list
        .iter()
        .zip(&roots)
        .map(|(d, r)| (r.as_slice(), &d.pubkey, &d.signature))
        .collect();
    if batch_verify(&items) {
        return Ok(());
    }
    for (i, d) in list.iter().enumerate() {
        d.verify().map_err(entry(i))?;
    }
    // unreachable in practice: the batch failed but every entry verified alone
    Err(Error::BadSignature {
        what: "deposit data batch".into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_are_allowed_from_1_eth_to_the_types_maximum_inclusive() {
        use WithdrawalType::{Compounding, Eth1};
        for t in [Eth1, Compounding] {
            assert!(check_amount(t, 1_000_000_000).is_ok(), "{t:?} at 1 ETH");
            assert!(matches!(
                check_amount(t, 999_999_999),
                Err(Error::AmountBelowMinimum {
                    amount_gwei: 999_999_999,
                    min_gwei: 1_000_000_000,
                    ..
                })
            ));
            assert!(matches!(
                check_amount(t, 0),
                Err(Error::AmountBelowMinimum { .. })
            ));
        }
        for (t, max) in [(Eth1, 32_000_000_000), (Compounding, 2_048_000_000_000)] {
            assert!(check_amount(t, max).is_ok(), "{t:?} at its maximum");
            assert!(
                matches!(
                    check_amount(t, max + 1),
                    Err(Error::AmountNotAllowed { withdrawal_type, max_gwei, .. })
                        if withdrawal_type == t.as_str() && max_gwei == max
                ),
                "{t:?} above its maximum"
            );
        }
        assert!(check_amount(Compounding, 32_000_000_001).is_ok());
        let e = check_amount(Eth1, 33_000_000_000).unwrap_err().to_string();
        assert!(
            e.contains("33000000000") && e.contains("above") && e.contains("0x01"),
            "{e}"
        );
        let e = check_amount(Eth1, 5).unwrap_err().to_string();
        assert!(e.contains("below"), "{e}");
    }

    #[test]
    fn withdrawal_types_are_0x01_and_0x02_and_an_unknown_one_is_named() {
        for t in [WithdrawalType::Eth1, WithdrawalType::Compounding] {
            assert_eq!(t.as_str().parse::<WithdrawalType>().unwrap(), t);
            assert_eq!(WithdrawalType::from_prefix(t.prefix()), Some(t));
            assert_eq!(format!("0x{:02x}", t.prefix()), t.as_str());
        }
        for bad in ["0x00", "0x03", "1", "0X01", " 0x01", ""] {
            let e = bad.parse::<WithdrawalType>().unwrap_err();
            assert!(
                matches!(e, Error::InvalidWithdrawalCredentials { .. }),
                "{e:?}"
            );
            let text = e.to_string();
            assert!(text.contains(&format!("{bad:?}")), "{text}");
            assert!(text.contains("\"0x01\" or \"0x02\""), "{text}");
        }
        assert_eq!(WithdrawalType::from_prefix(0x00), None);
        assert_eq!(WithdrawalType::from_prefix(0x03), None);
    }

    #[test]
    fn credentials_are_the_prefix_eleven_zeros_and_the_address() {
        let addr = Address([0xab; 20]);
        for t in [WithdrawalType::Eth1, WithdrawalType::Compounding] {
            let wc = withdrawal_credentials(t, &addr);
            assert_eq!(wc[0], t.prefix());
            assert_eq!(wc[1..12], [0u8; 11]);
            assert_eq!(parse_withdrawal_credentials(&wc).unwrap(), (t, addr));
        }
    }

    #[test]
    fn thirty_two_eth_is_the_activation_balance_and_the_0x01_maximum() {
        assert_eq!(MIN_ACTIVATION_BALANCE_GWEI, 32_000_000_000);
        assert_eq!(MAX_ETH1_DEPOSIT_GWEI, MIN_ACTIVATION_BALANCE_GWEI);
        assert_eq!(MAX_COMPOUNDING_DEPOSIT_GWEI, 2_048_000_000_000);
        assert_eq!(
            gwei_to_wei(MIN_ACTIVATION_BALANCE_GWEI),
            32_000_000_000_000_000_000
        );
        assert_eq!(gwei_to_wei(u64::MAX), u128::from(u64::MAX) * 1_000_000_000);
    }
}
