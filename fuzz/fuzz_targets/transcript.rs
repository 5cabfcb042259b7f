//! libFuzzer target `transcript` (see `kc_fuzz::targets::transcript`).
#![no_main]
kc_fuzz::libfuzzer_target!(transcript);
