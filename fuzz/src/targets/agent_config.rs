//! The agent's configuration file: strict TOML (`FileConfig::parse`), then resolved as the agent
//! does at start-up (`Config::resolve`, reading the deploy file it names) and turned into the
//! signing policy (`Policy::from_config`).
//!
//! Every refusal names a field; an accepted configuration has consistent caps (priority fee ≤
//! max fee, the policy's chain is the config's), at least one validator per transaction, a
//! poll interval ≥ 1 s, and values the agent can compute with (a block number plus the
//! confirmations does not overflow).

use std::path::Path;

use signer_agent::config::{Config, FileConfig, Overrides};
use signer_agent::policy::Policy;
use signer_agent::Error;

/// Block numbers the agent may meet (2^48: far beyond any chain's height).
const HIGHEST_BLOCK: u64 = 1 << 48;

const DEPLOY: &[u8] = include_bytes!("../../seeds/deploy.json");

pub fn run(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let file = match FileConfig::parse(text) {
        Ok(f) => f,
        Err((field, message)) => {
            assert!(!field.is_empty(), "agent_config: an error without a field");
            crate::props::one_line("agent_config", &message);
            return;
        }
    };
    // Only files inside the scratch directory are read (a config naming /dev/zero as its
    // deploy file is the operator's own doing, not untrusted input).
    if let Some(d) = &file.deployment {
        if d.is_absolute() || d.components().any(|c| c.as_os_str() == "..") {
            return;
        }
    }
    let dir = crate::fixture::scratch().join("config");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch");
    std::fs::write(dir.join("deploy.json"), DEPLOY).expect("write");
    let path = dir.join("agent.toml");
    std::fs::write(&path, data).expect("write");
    match Config::resolve(Some(&path), &Overrides::default()) {
        Ok(cfg) => check_config(&cfg),
        Err(e) => check_error(&e, &dir),
    }
}

fn check_config(cfg: &Config) {
    assert!(cfg.gas.max_priority_fee_per_gas_wei <= cfg.gas.max_fee_per_gas_wei);
    assert!(cfg.max_validators_per_tx >= 1);
    assert!(cfg.poll_interval_secs >= 1);
    assert!(
        cfg.confirmations <= signer_agent::config::MAX_CONFIRMATIONS
            && HIGHEST_BLOCK.checked_add(cfg.confirmations).is_some(),
        "agent_config: confirmations = {} is accepted; a block number plus it overflows",
        cfg.confirmations
    );
    for k in &cfg.trusted_identities {
        assert_eq!(
            k.len(),
            65,
            "trusted identities are uncompressed P-256 keys"
        );
    }
    match Policy::from_config(cfg) {
        Ok(p) => {
            let _ = p.describe();
        }
        Err(e) => check_error(&e, Path::new("")),
    }
}

fn check_error(e: &Error, dir: &Path) {
    match e {
        Error::Config { field, message } => {
            assert!(
                !field.is_empty(),
                "agent_config: an error without a field: {message}"
            );
            crate::props::one_line("agent_config", message);
        }
        Error::Parse { path, message } | Error::Bundle { path, message } => {
            assert!(path.starts_with(dir), "{path:?}");
            crate::props::one_line("agent_config", message);
        }
        Error::Io { path, .. } => assert!(path.starts_with(dir), "{path:?}"),
        other => panic!("agent_config: unexpected error variant {other:?}"),
    }
}
