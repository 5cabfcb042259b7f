//! kc-ssv integration tests, one binary (see reth's `tests/it`).

mod common;
mod keyshares;
mod node_emulation;
mod operator;
mod sdk_interop;
mod shamir;
