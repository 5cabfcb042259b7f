//! The fuzz targets in the normal test suite (`make test`): each target checks every committed
//! seed of `corpus/<target>/`, then seeded random mutations of them for a short budget
//! (`KC_FUZZ_SECONDS`, default 2 s per target; `KC_FUZZ_SEED` picks the mutation stream).
//! A failing input is written to `target/fuzz-failures/` and named in the panic message, to be
//! replayed with `scripts/fuzz.sh --replay TARGET FILE`.

use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use kc_fuzz::mutate::{mutate, Rng};
use kc_fuzz::Target;

/// No single input may take longer than this (debug build, loaded CI machine).
const PER_INPUT: Duration = Duration::from_secs(20);

fn corpus_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("corpus")
        .join(name)
}

fn seeds(name: &str) -> Vec<(String, Vec<u8>)> {
    let dir = corpus_dir(name);
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| {
            let p = e.unwrap().path();
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&p).unwrap())
        })
        .collect();
    out.sort();
    assert!(!out.is_empty(), "{}: no seeds", dir.display());
    out
}

fn check_one(t: &Target, what: &str, data: &[u8]) {
    let start = Instant::now();
    let result = std::panic::catch_unwind(AssertUnwindSafe(|| kc_fuzz::check(t, data)));
    let took = start.elapsed();
    let failure = match result {
        Err(p) => Some(
            p.downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_default(),
        ),
        Ok(()) if took > PER_INPUT => Some(format!("took {took:?}, more than {PER_INPUT:?}")),
        Ok(()) => None,
    };
    if let Some(message) = failure {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/fuzz-failures");
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join(format!(
            "{}-{}",
            t.name,
            hex::encode(&sha2_digest(data)[..8])
        ));
        std::fs::write(&file, data).unwrap();
        kc_fuzz::fixture::cleanup();
        panic!(
            "{}: {what} ({} bytes) fails: {message}\ninput saved as {}",
            t.name,
            data.len(),
            file.display()
        );
    }
}

fn sha2_digest(data: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(data).into()
}

fn run_target(name: &str) {
    let t = kc_fuzz::target(name).expect("a registered target");
    let seeds = seeds(name);
    for (file, data) in &seeds {
        check_one(t, &format!("seed {file}"), data);
    }
    let budget = std::env::var("KC_FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .map_or(Duration::from_secs(2), Duration::from_secs_f64);
    let seed = std::env::var("KC_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    let mut rng = Rng::new(seed ^ name.len() as u64);
    let start = Instant::now();
    let mut runs = 0u64;
    while start.elapsed() < budget {
        let (a, input) = &seeds[rng.below(seeds.len())];
        let (_, other) = &seeds[rng.below(seeds.len())];
        let m = mutate(&mut rng, input, other);
        check_one(t, &format!("mutation {runs} of seed {a}"), &m);
        runs += 1;
    }
    kc_fuzz::fixture::cleanup();
    eprintln!(
        "{name}: {} seeds, {runs} mutations in {:.1?}",
        seeds.len(),
        start.elapsed()
    );
}

#[test]
fn every_target_has_a_test_and_seeds() {
    let src = include_str!("corpus.rs");
    let listed = &src[src.rfind("corpus_tests!(").unwrap()..];
    for t in kc_fuzz::TARGETS {
        assert!(
            listed.contains(&format!("    {},", t.name)),
            "{}: no test in tests/corpus.rs",
            t.name
        );
        assert!(
            corpus_dir(t.name).is_dir(),
            "{}: no corpus directory",
            t.name
        );
        assert!(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("fuzz_targets")
                .join(format!("{}.rs", t.name))
                .is_file(),
            "{}: no libFuzzer binary",
            t.name
        );
    }
}

macro_rules! corpus_tests {
    ($($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                run_target(stringify!($name));
            }
        )*
    };
}

corpus_tests!(
    plan,
    operators,
    operator_key,
    manifest,
    manifest_sig,
    transcript,
    deposit_data,
    keyshares,
    shares_data,
    seal,
    bundle,
    agent_config,
    agent_beacon,
    agent_logs,
    agent_receipt,
);
