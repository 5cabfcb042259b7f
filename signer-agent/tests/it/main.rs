//! Integration tests of the signer-agent (one binary; nextest runs each test in its own process,
//! which PKCS#11 needs).

mod common;

mod bench;
mod daemon;
mod e2e;
mod fixture;
mod frontrun;
mod operators;
mod oracle;
mod policy;
mod refusals;
mod signer;
mod ssv_v2;
