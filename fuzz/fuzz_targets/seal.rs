//! libFuzzer target `seal` (see `kc_fuzz::targets::seal`).
#![no_main]
kc_fuzz::libfuzzer_target!(seal);
