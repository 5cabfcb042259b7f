//! libFuzzer target `agent_receipt` (see `kc_fuzz::targets::agent_receipt`).
#![no_main]
kc_fuzz::libfuzzer_target!(agent_receipt);
