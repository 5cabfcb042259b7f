//! libFuzzer target `deposit_data` (see `kc_fuzz::targets::deposit_data`).
#![no_main]
kc_fuzz::libfuzzer_target!(deposit_data);
