//! libFuzzer target `operator_key` (see `kc_fuzz::targets::operator_key`).
#![no_main]
kc_fuzz::libfuzzer_target!(operator_key);
