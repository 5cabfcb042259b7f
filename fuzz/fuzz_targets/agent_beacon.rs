//! libFuzzer target `agent_beacon` (see `kc_fuzz::targets::agent_beacon`).
#![no_main]
kc_fuzz::libfuzzer_target!(agent_beacon);
