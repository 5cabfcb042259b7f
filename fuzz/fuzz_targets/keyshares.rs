//! libFuzzer target `keyshares` (see `kc_fuzz::targets::keyshares`).
#![no_main]
kc_fuzz::libfuzzer_target!(keyshares);
