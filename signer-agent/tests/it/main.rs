//! Integration tests of the signer-agent (one binary; nextest runs each test in its own process,
//! which PKCS#11 needs).

mod common;

mod bench;
mod daemon;
mod doctor;
mod e2e;
mod fixture;
mod frontrun;
mod logrange;
mod maintenance;
mod mempool;
mod operators;
mod oracle;
mod policy;
mod privacy;
mod profiles;
mod proxy;
mod refusals;
mod reshare;
mod signer;
mod ssv_v2;
mod tls;
mod two_agents;
