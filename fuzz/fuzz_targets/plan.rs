//! libFuzzer target `plan` (see `kc_fuzz::targets::plan`).
#![no_main]
kc_fuzz::libfuzzer_target!(plan);
