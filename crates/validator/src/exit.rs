//! Presigned voluntary exits.
//!
//! `VoluntaryExit{epoch, validator_index}` signed over
//! `compute_domain(DOMAIN_VOLUNTARY_EXIT, fork_version, genesis_validators_root)` where, since
//! EIP-7044 (Deneb), `fork_version` is always the chain's **Capella** fork version, so a presigned
//! exit stays valid across later forks. Values per network are in [`Network`].
//!
//! JSON as ethstaker-deposit 1.3.1 writes it (`utils/exit_transaction.py`, `json.dump` with
//! Python defaults): `{"message": {"epoch": "<dec>", "validator_index": "<dec>"}, "signature":
//! "0x<hex>"}` — integers as decimal strings, the signature `0x`-prefixed; one object per file
//! (`signed_exit_transaction-<validator_index>-<timestamp>.json`). This is also the body of the
//! beacon API's `POST /eth/v1/beacon/pool/voluntary_exits`.

use crate::bls::{PublicKey, SecretKey, Signature};
use crate::deposit::Network;
use crate::hexutil::decode_fixed_0x;
use crate::{pyjson, ssz, Error};

/// The fork version and genesis validators root that exits on a chain are signed with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ExitDomain {
    /// the chain's Capella fork version (EIP-7044)
    pub fork_version: [u8; 4],
    /// the chain's `genesis_validators_root`
    pub genesis_validators_root: [u8; 32],
}

impl ExitDomain {
    /// The values for a named network; a custom chain has none built in
    /// (build an [`ExitDomain`] from its configuration instead).
    pub fn for_network(network: &Network) -> Result<Self, Error> {
        match (
            network.exit_fork_version(),
            network.genesis_validators_root(),
        ) {
            (Some(fork_version), Some(genesis_validators_root)) => Ok(ExitDomain {
                fork_version,
                genesis_validators_root,
            }),
            _ => Err(Error::Network {
                what: format!("exit domain for {network}"),
                reason:
                    "a custom network needs its capella fork version and genesis validators root"
                        .into(),
            }),
        }
    }

    /// `compute_domain(DOMAIN_VOLUNTARY_EXIT, fork_version, genesis_validators_root)`.
    pub fn domain(&self) -> [u8; 32] {
        ssz::compute_domain(
            &ssz::DOMAIN_VOLUNTARY_EXIT,
            &self.fork_version,
            &self.genesis_validators_root,
        )
    }
}

/// `VoluntaryExit`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct VoluntaryExit {
    /// earliest epoch at which the exit may be processed
    pub epoch: u64,
    /// the validator's index on the beacon chain
    pub validator_index: u64,
}

impl VoluntaryExit {
    /// `hash_tree_root(VoluntaryExit)`.
    pub fn hash_tree_root(&self) -> [u8; 32] {
        ssz::voluntary_exit_root(self.epoch, self.validator_index)
    }

    /// The signing root under `domain`.
    pub fn signing_root(&self, domain: &ExitDomain) -> [u8; 32] {
        ssz::signing_root(&self.hash_tree_root(), &domain.domain())
    }

    /// Signs with the validator's signing key.
    pub fn sign(&self, sk: &SecretKey, domain: &ExitDomain) -> SignedVoluntaryExit {
        SignedVoluntaryExit {
            message: *self,
            signature: sk.sign(&self.signing_root(domain)),
        }
    }
}

/// `SignedVoluntaryExit`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SignedVoluntaryExit {
    /// the exit
    pub message: VoluntaryExit,
    /// the validator's signature
    pub signature: Signature,
}

/// Signs an exit of `validator_index` valid from `epoch`.
pub fn sign_exit(
    sk: &SecretKey,
    validator_index: u64,
    epoch: u64,
    domain: &ExitDomain,
) -> SignedVoluntaryExit {
    VoluntaryExit {
        epoch,
        validator_index,
    }
    .sign(sk, domain)
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMessage {
    epoch: String,
    validator_index: String,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSigned {
    message: RawMessage,
    signature: String,
}

fn parse_u64(what: &str, s: &str) -> Result<u64, Error> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) || (s.len() > 1 && s.starts_with('0'))
    {
        return Err(Error::InvalidField {
            what: what.into(),
            reason: format!("{s:?} is not a decimal integer"),
        });
    }
    s.parse().map_err(|_| Error::InvalidField {
        what: what.into(),
        reason: format!("{s:?} does not fit in 64 bits"),
    })
}

impl SignedVoluntaryExit {
    /// Checks the signature under `pubkey` and `domain`.
    pub fn verify(&self, pubkey: &PublicKey, domain: &ExitDomain) -> Result<(), Error> {
        if pubkey.verify(&self.message.signing_root(domain), &self.signature) {
            Ok(())
        } else {
            Err(Error::BadSignature {
                what: format!(
                    "voluntary exit of validator {}",
                    self.message.validator_index
                ),
            })
        }
    }

    /// The JSON ethstaker-deposit writes, byte for byte.
    pub fn to_json(&self) -> String {
        let mut out = String::with_capacity(260);
        out.push('{');
        pyjson::push_key(&mut out, "message", true);
        out.push('{');
        pyjson::push_key(&mut out, "epoch", true);
        pyjson::push_str(&mut out, &self.message.epoch.to_string());
        pyjson::push_key(&mut out, "validator_index", false);
        pyjson::push_str(&mut out, &self.message.validator_index.to_string());
        out.push('}');
        pyjson::push_key(&mut out, "signature", false);
        pyjson::push_str(&mut out, &format!("0x{}", self.signature.to_hex()));
        out.push('}');
        out
    }

    /// Parses that JSON (any whitespace); checks the signature's encoding, not its validity.
    pub fn from_json(s: &str) -> Result<Self, Error> {
        let raw: RawSigned = serde_json::from_str(s).map_err(|e| Error::Json {
            what: "signed voluntary exit".into(),
            reason: e.to_string(),
        })?;
        let sig: [u8; 96] = decode_fixed_0x("signature", &raw.signature)?;
        Ok(SignedVoluntaryExit {
            message: VoluntaryExit {
                epoch: parse_u64("message.epoch", &raw.message.epoch)?,
                validator_index: parse_u64(
                    "message.validator_index",
                    &raw.message.validator_index,
                )?,
            },
            signature: Signature::from_bytes(&sig)?,
        })
    }

    /// The file name ethstaker-deposit uses, for a given Unix `timestamp`.
    pub fn file_name(&self, timestamp: u64) -> String {
        format!(
            "signed_exit_transaction-{}-{timestamp}.json",
            self.message.validator_index
        )
    }
}
