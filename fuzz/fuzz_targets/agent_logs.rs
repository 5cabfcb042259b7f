//! libFuzzer target `agent_logs` (see `kc_fuzz::targets::agent_logs`).
#![no_main]
kc_fuzz::libfuzzer_target!(agent_logs);
