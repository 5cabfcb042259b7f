//! libFuzzer target `manifest` (see `kc_fuzz::targets::manifest`).
#![no_main]
kc_fuzz::libfuzzer_target!(manifest);
