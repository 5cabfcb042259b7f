//! The ceremony holds no per-validator output in memory: a real run (in process, SoftHSM) of
//! 4N validators keeps, after making and writing every validator, and while it writes the
//! manifest, at most a few dozen bytes a validator more than a run of N (the Merkle leaves, 32
//! bytes each). Verifying a bundle (`kc_bundle::verify::verify_bundle`, every signature and
//! interpolation checked) peaks at most a few dozen bytes a validator higher for 4N validators
//! than for N (the fingerprints of the manifest's keys while its list is read; nothing else
//! grows). Measured in live heap bytes by the counting allocator of this crate, not in time: the
//! numbers are the same on any machine and under any load.
//!
//! One test in this binary: the allocator counts the whole process.

use std::path::Path;
use std::sync::Mutex;

use ceremony::buildinfo::ToolIdentity;
use ceremony::hygiene::Hygiene;
use ceremony::pipeline::{self, MasterSource, People, Progress, RunConfig};
use kc_fuzz::alloc;
use kc_hsm::testing::{SoftHsmToken, TEST_USER_PIN};

/// Live bytes when the pipeline reaches a stage, and the peak since the previous stage.
#[derive(Default)]
struct Meter {
    at: Mutex<Vec<(String, usize, usize)>>,
}

impl Progress for Meter {
    fn stage(&self, name: &str) {
        self.at
            .lock()
            .unwrap()
            .push((name.to_owned(), alloc::live(), alloc::peak()));
        alloc::reset_peak();
    }
}

impl Meter {
    /// (live bytes when `name` began, peak live bytes from `name` to the next stage).
    fn stage(&self, name: &str) -> (usize, usize) {
        let at = self.at.lock().unwrap();
        let i = at
            .iter()
            .position(|(n, _, _)| n == name)
            .unwrap_or_else(|| panic!("the pipeline never reached stage {name}"));
        let next = at
            .get(i + 1)
            .unwrap_or_else(|| panic!("no stage after {name}"));
        (at[i].1, next.2)
    }
}

fn operators(dir: &Path) -> std::path::PathBuf {
    let fixture: serde_json::Value = serde_json::from_str(include_str!(
        "../../crates/ssv/tests/fixtures/operators.json"
    ))
    .unwrap();
    let list: Vec<serde_json::Value> = fixture["operators"]
        .as_array()
        .unwrap()
        .iter()
        .take(4)
        .map(|o| serde_json::json!({"id": o["id"], "public_key": o["public_key"]}))
        .collect();
    let path = dir.join("operators.json");
    std::fs::write(&path, serde_json::to_string(&list).unwrap()).unwrap();
    path
}

fn run(token: &SoftHsmToken, dir: &Path, n: u32) -> Meter {
    let ops = operators(dir);
    let text = format!(
        "[ceremony]\nid = \"memory-{n}\"\nnetwork = \"hoodi\"\nvalidators = {n}\nstart_index = 3\n\n\
         [deposit]\nwithdrawal_address = \"0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed\"\n\
         withdrawal_type = \"0x01\"\namount_gwei = 32000000000\n\n\
         [ssv]\nowner_address = \"0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359\"\n\
         owner_nonce = 5\noperators_file = \"{ops}\"\nallow_unpinned_operators = true\n\n\
         [hsm]\nmodule = \"{module}\"\ntoken_label = \"{label}\"\n\n[seed]\nsource = \"hsm\"\n",
        ops = ops.display(),
        module = token.module_path().display(),
        label = token.label(),
    );
    let plan_path = dir.join(format!("plan-{n}.toml"));
    std::fs::write(&plan_path, text).unwrap();
    let plan = kc_bundle::plan::Plan::load(&plan_path).unwrap();
    let cfg = RunConfig {
        out: dir.join(format!("bundle-{n}")),
        pin: token.pin(),
        people: People {
            administrator: Some("Memory Test".into()),
            witnesses: vec![],
        },
        previous: vec![],
        master: MasterSource::Plan,
        hygiene: Hygiene {
            core_dumps_disabled: false,
            not_dumpable: false,
            memory_locked: false,
        },
        tool: ToolIdentity {
            name: "ceremony".into(),
            version: "test".into(),
            git_commit: None,
            binary_sha256: "00".repeat(32),
            cargo_lock_sha256: "00".repeat(32),
        },
    };
    let meter = Meter::default();
    alloc::reset_peak();
    let outcome = pipeline::run(&plan, &cfg, &meter).unwrap_or_else(|e| panic!("run {n}: {e}"));
    assert!(outcome.report.ok());
    assert_eq!(outcome.validators, n as usize);
    meter
}

#[test]
fn run_memory_does_not_grow_with_the_batch() {
    let token = SoftHsmToken::new("memory", TEST_USER_PIN);
    {
        let session = token.login();
        kc_hsm::SealKey::provision(&session, "kc-seal").unwrap();
        kc_hsm::IdentityKey::provision(&session, "kc-identity").unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    // Measured between stages, when no chunk of validators is in flight: what remains is what
    // the run keeps per validator.
    // Both sizes fill the validators verification has in flight (and its last 128, where its
    // tasks are smaller): twice as many, at least.
    let (small, large) = (512u32, 1536u32);
    assert!(small as usize >= 2 * kc_bundle::verify::VERIFY_IN_FLIGHT);
    let a = run(&token, dir.path(), small);
    let b = run(&token, dir.path(), large);
    let extra = (large - small) as usize;
    // The leaves (32 bytes a validator), the root's computation over them (as much again), and
    // slack for numbers that print longer. Holding the manifest's list costs about 1 KiB a
    // validator.
    let bound = extra * 96 + 8 * 1024;
    let grew = |x: usize, y: usize| y.saturating_sub(x);

    // After every validator was made, checked and written: what is still held.
    let (written_a, _) = a.stage("write");
    let (written_b, _) = b.stage("write");
    // Writing the manifest and its signature: the peak.
    let (_, manifest_a) = a.stage("manifest");
    let (_, manifest_b) = b.stage("manifest");
    let (_, verify_a) = a.stage("verify");
    let (_, verify_b) = b.stage("verify");
    eprintln!(
        "live after writing: {written_a} → {written_b} B; peak writing the manifest: \
         {manifest_a} → {manifest_b} B; peak verifying: {verify_a} → {verify_b} B \
         ({small} → {large} validators, bound {bound} B)"
    );
    assert!(
        grew(written_a, written_b) < bound,
        "held after writing grew by {} B for {extra} more validators (bound {bound})",
        grew(written_a, written_b)
    );
    assert!(
        grew(manifest_a, manifest_b) < bound,
        "writing the manifest peaked {} B higher for {extra} more validators (bound {bound})",
        grew(manifest_a, manifest_b)
    );
    // The pipeline's own read-back verification of the staged bundle.
    assert!(
        grew(verify_a, verify_b) < bound,
        "the read-back verification peaked {} B higher for {extra} more validators (bound {bound})",
        grew(verify_a, verify_b)
    );

    // An auditor's verification, with all the cryptography. Both batches fill the chunks that
    // verification has in flight (`VERIFY_IN_FLIGHT` validators), so that what differs is what
    // grows with the batch: the fingerprints of the manifest's keys (2 × 20 bytes a validator
    // while its list is read, up to twice that while their vectors grow). Holding the manifest's
    // list, as verification used to, costs about 1 KiB a validator.
    let verify_bound = extra * 96 + 64 * 1024;
    let peak_a = verify_peak(&dir.path().join(format!("bundle-{small}")), small);
    let peak_b = verify_peak(&dir.path().join(format!("bundle-{large}")), large);
    eprintln!(
        "peak of verify_bundle: {peak_a} → {peak_b} B ({small} → {large} validators, bound \
         {verify_bound} B)"
    );
    assert!(
        grew(peak_a, peak_b) < verify_bound,
        "verify_bundle peaked {} B higher for {extra} more validators (bound {verify_bound})",
        grew(peak_a, peak_b)
    );
}

/// Peak live heap above what was live before, while `verify_bundle` checks the bundle in `dir`.
fn verify_peak(dir: &Path, n: u32) -> usize {
    let before = alloc::live();
    alloc::reset_peak();
    let report =
        kc_bundle::verify::verify_bundle(dir, &kc_bundle::verify::VerifyOptions::default());
    let peak = alloc::peak();
    assert!(report.ok(), "{:?}", report.failures().collect::<Vec<_>>());
    assert_eq!(report.validators, n as usize);
    peak.saturating_sub(before)
}
