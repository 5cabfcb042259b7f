//! The air-gapped key ceremony: plan in, signed and verified bundle out (DESIGN.md).
//!
//! The binary (`src/main.rs`) is a thin command line over this library; the terminal UI drives
//! the same [`pipeline`]. This crate links no networking crate (checked by a test over
//! `cargo tree`), never prints, logs or writes a secret, and never overwrites an output.

pub mod buildinfo;
mod error;
pub mod hygiene;
pub mod ledger;
pub mod pipeline;
pub mod report;
pub mod reshare;
pub mod tui;

pub use error::Error;
