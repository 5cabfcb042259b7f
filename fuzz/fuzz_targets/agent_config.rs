//! libFuzzer target `agent_config` (see `kc_fuzz::targets::agent_config`).
#![no_main]
kc_fuzz::libfuzzer_target!(agent_config);
