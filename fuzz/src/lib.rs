//! `kc-fuzz`: fuzz targets for every parser of untrusted input (issue 20, `docs/fuzzing.md`).
//!
//! One module per target under [`targets`]; each exposes `run(&[u8])`, which feeds the input to
//! the real parser (or to whole-bundle verification) and **asserts properties**, not only the
//! absence of a panic: what parses round-trips to the same facts, a mutated bundle never
//! verifies unless it verifies to the same facts, every error names its file and field, and no
//! input allocates more than a bound proportional to its size ([`alloc`]).
//!
//! The same `run` functions are driven two ways:
//! - coverage-guided by libFuzzer (`fuzz_targets/*.rs`, feature `libfuzzer`, `make fuzz`:
//!   `scripts/fuzz.sh` builds them with SanitizerCoverage on the stable toolchain);
//! - by the corpus test (`tests/corpus.rs`, part of `make test`): every committed seed under
//!   `corpus/<target>/`, then seeded random mutations of them for a short, fixed budget.
//!
//! Features: `libfuzzer` links libFuzzer (only `make fuzz` builds it).
//!
//! What it must never do: write outside a temporary directory, touch an HSM or the network.

pub mod alloc;
pub mod fixture;
pub mod mutate;
pub mod props;
pub mod targets;

use std::sync::Mutex;

/// One fuzz target.
#[derive(Debug, Clone, Copy)]
pub struct Target {
    /// The name of its libFuzzer binary and of its corpus directory.
    pub name: &'static str,
    /// What it feeds.
    pub what: &'static str,
    /// Checks one input; panics when a property is violated.
    pub run: fn(&[u8]),
    /// Allocation bound: at most `alloc_per_byte` × input length + `alloc_base` bytes live at
    /// once while the input is checked.
    pub alloc_per_byte: usize,
    pub alloc_base: usize,
}

const MIB: usize = 1 << 20;

macro_rules! target {
    ($name:ident, $what:expr) => {
        target!($name, $what, 64, 16 * MIB)
    };
    ($name:ident, $what:expr, $per_byte:expr, $base:expr) => {
        Target {
            name: stringify!($name),
            what: $what,
            run: targets::$name::run,
            alloc_per_byte: $per_byte,
            alloc_base: $base,
        }
    };
}

/// Every target, in the order `make fuzz` runs them.
pub const TARGETS: &[Target] = &[
    target!(plan, "plan.toml (strict TOML, field paths)"),
    target!(operators, "operators.json with provenance, pinned and bare"),
    target!(
        operator_key,
        "an SSV operator public key (base64 PEM, PKCS#1 or SPKI)"
    ),
    target!(manifest, "manifest.json"),
    target!(manifest_sig, "manifest.sig over a real manifest"),
    target!(transcript, "transcript.jsonl (hash chain)"),
    target!(deposit_data, "deposit_data.json (ethstaker-deposit layout)"),
    target!(keyshares, "keyshares.json (SSV SDK format) and its entries"),
    target!(
        shares_data,
        "sharesData bytes for 4, 7, 10 and 13 operators"
    ),
    target!(seal, "sealed/master.seal envelope"),
    target!(
        bundle,
        "whole-bundle verification of a mutated real bundle",
        64,
        96 * MIB
    ),
    target!(agent_config, "signer-agent config TOML, resolved"),
    target!(agent_beacon, "Beacon API answers (genesis, validators)"),
    target!(agent_logs, "eth_getLogs answers the agent decodes"),
    target!(agent_receipt, "eth_getTransactionReceipt answers"),
];

/// The target called `name`.
pub fn target(name: &str) -> Option<&'static Target> {
    TARGETS.iter().find(|t| t.name == name)
}

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Runs `t` on `data` and checks the allocation bound. Inputs are checked one at a time in a
/// process so that the peak measured is this input's.
pub fn check(t: &Target, data: &[u8]) {
    let _guard = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let before = alloc::live();
    alloc::reset_peak();
    (t.run)(data);
    let used = alloc::peak().saturating_sub(before);
    let bound = t.alloc_per_byte * data.len() + t.alloc_base;
    assert!(
        used <= bound,
        "{}: {used} bytes allocated at once for a {}-byte input, bound {bound} ({} per byte + {})",
        t.name,
        data.len(),
        t.alloc_per_byte,
        t.alloc_base
    );
}

/// The body of every libFuzzer binary.
#[macro_export]
macro_rules! libfuzzer_target {
    ($name:ident) => {
        libfuzzer_sys::fuzz_target!(|data: &[u8]| {
            static T: std::sync::OnceLock<&'static $crate::Target> = std::sync::OnceLock::new();
            let t = T.get_or_init(|| $crate::target(stringify!($name)).expect("registered"));
            $crate::check(t, data);
        });
    };
}
