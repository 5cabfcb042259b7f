//! libFuzzer target `manifest_sig` (see `kc_fuzz::targets::manifest_sig`).
#![no_main]
kc_fuzz::libfuzzer_target!(manifest_sig);
