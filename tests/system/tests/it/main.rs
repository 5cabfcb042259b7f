//! System tests (one binary; nextest runs each test in its own process). The executables under
//! test are the workspace's own, built by the same `cargo nextest run --workspace` (see
//! `kc_system_tests::workspace_binary`); anvil, SoftHSM and the other tools come from
//! `make tools` and are never skipped.

mod flow;
mod repo;
mod scripts;
mod secrets;
