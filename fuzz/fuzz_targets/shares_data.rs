//! libFuzzer target `shares_data` (see `kc_fuzz::targets::shares_data`).
#![no_main]
kc_fuzz::libfuzzer_target!(shares_data);
