//! libFuzzer target `bundle` (see `kc_fuzz::targets::bundle`).
#![no_main]
kc_fuzz::libfuzzer_target!(bundle);
