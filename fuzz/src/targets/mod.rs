//! One module per fuzz target; each `run(&[u8])` panics when a property is violated.

pub mod agent_beacon;
pub mod agent_config;
pub mod agent_logs;
pub mod agent_receipt;
pub mod bundle;
pub mod deposit_data;
pub mod keyshares;
pub mod manifest;
pub mod manifest_sig;
pub mod operator_key;
pub mod operators;
pub mod plan;
pub mod seal;
pub mod shares_data;
pub mod transcript;
