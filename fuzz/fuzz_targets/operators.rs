//! libFuzzer target `operators` (see `kc_fuzz::targets::operators`).
#![no_main]
kc_fuzz::libfuzzer_target!(operators);
