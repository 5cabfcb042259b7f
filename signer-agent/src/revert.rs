//! The one revert decoder: revert data decoded by its selector into a typed value, against the
//! ABIs of the contracts the agent calls. The errors come from `sol!` bindings generated from
//! `contracts/abi/*.json` (kept equal to the build by `contracts/export-abi.js --check`), so
//! every custom error of the PoolManager and the Oracle decodes, as do `Error(string)` and
//! `Panic(uint256)`.

use alloy::primitives::Bytes;
use alloy::sol_types::{ContractError, SolInterface};

/// Bindings generated from the contracts' JSON ABIs (used for their errors).
pub mod abi {
    alloy::sol!(
        #![sol(all_derives)]
        PoolManager,
        "../contracts/abi/PoolManager.json"
    );
    alloy::sol!(
        #![sol(all_derives)]
        Oracle,
        "../contracts/abi/Oracle.json"
    );
}

/// A decoded revert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Revert {
    /// A PoolManager custom error (or `Error(string)` / `Panic(uint256)`).
    PoolManager(ContractError<abi::PoolManager::PoolManagerErrors>),
    /// An Oracle custom error.
    Oracle(ContractError<abi::Oracle::OracleErrors>),
    /// Revert data no known ABI decodes (shown as hex).
    Unknown(Bytes),
}

impl Revert {
    /// Decodes revert data: the PoolManager's errors first, then the Oracle's.
    pub fn decode(data: &[u8]) -> Revert {
        if let Ok(e) = ContractError::<abi::PoolManager::PoolManagerErrors>::abi_decode(data) {
            return Revert::PoolManager(e);
        }
        if let Ok(e) = ContractError::<abi::Oracle::OracleErrors>::abi_decode(data) {
            return Revert::Oracle(e);
        }
        Revert::Unknown(Bytes::copy_from_slice(data))
    }

    /// The revert of an RPC error (`eth_call`, `eth_estimateGas`), when the node returned
    /// revert data.
    pub fn of_transport(e: &alloy::transports::TransportError) -> Option<Revert> {
        let data = e.as_error_resp()?.as_revert_data()?;
        Some(Revert::decode(&data))
    }

    /// The error's name: the custom error's (`BatchNotApproved`), `Error` or `Panic`.
    pub fn name(&self) -> Option<&'static str> {
        fn of<T: SolInterface>(
            e: &ContractError<T>,
            by: fn([u8; 4]) -> Option<&'static str>,
        ) -> &'static str {
            match e {
                ContractError::CustomError(c) => by(c.selector()).unwrap_or("?"),
                ContractError::Revert(_) => "Error",
                ContractError::Panic(_) => "Panic",
            }
        }
        match self {
            Revert::PoolManager(e) => {
                Some(of(e, abi::PoolManager::PoolManagerErrors::name_by_selector))
            }
            Revert::Oracle(e) => Some(of(e, abi::Oracle::OracleErrors::name_by_selector)),
            Revert::Unknown(_) => None,
        }
    }
}

impl std::fmt::Display for Revert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Revert::PoolManager(ContractError::CustomError(e)) => write!(f, "PoolManager.{e:?}"),
            Revert::Oracle(ContractError::CustomError(e)) => write!(f, "Oracle.{e:?}"),
            Revert::PoolManager(ContractError::Revert(r))
            | Revert::Oracle(ContractError::Revert(r)) => {
                write!(f, "Error({:?})", r.reason)
            }
            Revert::PoolManager(ContractError::Panic(p))
            | Revert::Oracle(ContractError::Panic(p)) => {
                write!(f, "Panic({p})")
            }
            Revert::Unknown(data) => write!(f, "unknown revert data {data}"),
        }
    }
}

/// The reason an RPC call failed, for messages: `reverted: <decoded error>` when the node
/// returned revert data, else the RPC error.
pub fn reason(e: &alloy::transports::TransportError) -> String {
    match Revert::of_transport(e) {
        Some(r) => format!("reverted: {r}"),
        None => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Revert data for `name(types)` with every argument zero (dynamic ones empty).
    fn zero_payload(name: &str, types: &[String]) -> Vec<u8> {
        let sig = format!("{name}({})", types.join(","));
        let mut out = alloy::primitives::keccak256(sig.as_bytes())[..4].to_vec();
        let dynamic = |t: &str| t == "bytes" || t == "string" || t.ends_with("[]");
        let head = 32 * types.len();
        let mut tail = Vec::new();
        for t in types {
            if dynamic(t) {
                out.extend(alloy::primitives::U256::from(head + tail.len()).to_be_bytes::<32>());
                tail.extend([0u8; 32]);
            } else {
                out.extend([0u8; 32]);
            }
        }
        out.extend(tail);
        out
    }

    fn abi_errors(file: &str) -> Vec<(String, Vec<String>)> {
        let path = format!("{}/../contracts/abi/{file}", env!("CARGO_MANIFEST_DIR"));
        let abi: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        abi.as_array()
            .unwrap()
            .iter()
            .filter(|i| i["type"] == "error")
            .map(|e| {
                let types = e["inputs"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|i| i["type"].as_str().unwrap().to_owned())
                    .collect();
                (e["name"].as_str().unwrap().to_owned(), types)
            })
            .collect()
    }

    #[test]
    fn every_error_of_the_pool_manager_and_the_oracle_abi_decodes_to_its_name() {
        for (file, contract) in [
            ("PoolManager.json", "PoolManager"),
            ("Oracle.json", "Oracle"),
        ] {
            let errors = abi_errors(file);
            assert!(errors.len() > 10, "{file}: {} errors", errors.len());
            for (name, types) in errors {
                let r = Revert::decode(&zero_payload(&name, &types));
                assert_eq!(
                    r.name(),
                    Some(name.as_str()),
                    "{file}: {name}({types:?}) -> {r:?}"
                );
                let shown = r.to_string();
                // Errors both contracts declare (OpenZeppelin's) decode as the PoolManager's.
                assert!(
                    shown.starts_with(&format!("{contract}.{name}("))
                        || shown.starts_with(&format!("PoolManager.{name}(")),
                    "{shown}"
                );
            }
        }
    }

    #[test]
    fn a_require_message_a_panic_and_unknown_data_are_told_apart() {
        use alloy::sol_types::SolError;
        let msg = alloy::sol_types::Revert::from("not enough").abi_encode();
        let r = Revert::decode(&msg);
        assert_eq!(r.name(), Some("Error"));
        assert_eq!(r.to_string(), "Error(\"not enough\")");
        let panic = alloy::sol_types::Panic::from(0x11u64).abi_encode();
        assert_eq!(Revert::decode(&panic).name(), Some("Panic"));
        let unknown = Revert::decode(&[0xde, 0xad, 0xbe, 0xef]);
        assert_eq!(unknown.name(), None);
        assert_eq!(unknown.to_string(), "unknown revert data 0xdeadbeef");
    }

    #[test]
    fn a_batch_not_approved_revert_shows_its_root() {
        use alloy::sol_types::SolError;
        let root = alloy::primitives::B256::repeat_byte(0xab);
        let data = abi::PoolManager::BatchNotApproved { root }.abi_encode();
        let r = Revert::decode(&data);
        assert_eq!(r.name(), Some("BatchNotApproved"));
        assert!(r.to_string().contains(&format!("{root}")), "{r}");
    }
}
