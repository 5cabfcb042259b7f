//! Tamper sweep: a single flipped byte anywhere in a bundle makes verification fail. Small
//! files are swept at every byte, in process (`kc_bundle::verify::verify_bundle`, the library
//! `ceremony verify` runs); the large ones at 200+ positions spread over the file. Also: an
//! extra file or directory, a missing file, the `INCOMPLETE` marker, and re-encodings of
//! `manifest.sig` that keep its values.

use std::path::{Path, PathBuf};
use std::time::Instant;

use kc_bundle::verify::{verify_bundle, VerifyOptions};

use crate::common::*;

/// A one-validator bundle copied into a scratch directory the test may change.
fn scratch_bundle() -> (Workspace, PathBuf) {
    let ws = &mut Workspace::new(4);
    let mut plan = ws.plan();
    plan.validators = 1;
    let dir = ws.run_ok(&plan, "bundle");
    let scratch = ws.path().join("scratch");
    copy_dir(&dir, &scratch);
    assert!(verify_bundle(&scratch, &VerifyOptions::default()).ok());
    let ws = std::mem::replace(ws, Workspace::without_token(4));
    (ws, scratch)
}

fn fails(dir: &Path) -> bool {
    !verify_bundle(dir, &VerifyOptions::default()).ok()
}

/// Flips `mask` into each position of `file`, verifies, restores. Returns how many it tried.
fn sweep(dir: &Path, file: &str, positions: &[usize], masks: &[u8]) -> usize {
    let path = dir.join(file);
    let original = std::fs::read(&path).unwrap();
    let mut tried = 0;
    for &pos in positions {
        for &mask in masks {
            let mut bytes = original.clone();
            bytes[pos] ^= mask;
            std::fs::write(&path, &bytes).unwrap();
            assert!(
                fails(dir),
                "{file}: byte {pos} ^ {mask:#04x} ({:?} -> {:?}) still verifies",
                original[pos] as char,
                bytes[pos] as char
            );
            tried += 1;
        }
    }
    std::fs::write(&path, &original).unwrap();
    assert!(!fails(dir), "restored");
    tried
}

fn every_byte(dir: &Path, file: &str) -> Vec<usize> {
    (0..std::fs::read(dir.join(file)).unwrap().len()).collect()
}

/// `count` positions spread evenly over the file, plus its first and last bytes.
fn spread(dir: &Path, file: &str, count: usize) -> Vec<usize> {
    let len = std::fs::read(dir.join(file)).unwrap().len();
    let mut v: Vec<usize> = (0..count).map(|i| i * len / count).collect();
    v.push(len - 1);
    v.dedup();
    v
}

macro_rules! every_byte_test {
    ($name:ident, $file:expr) => {
        #[test]
        fn $name() {
            let (_ws, dir) = scratch_bundle();
            let t = Instant::now();
            let n = sweep(&dir, $file, &every_byte(&dir, $file), &[0x01]);
            eprintln!("{}: {n} flips in {:?}", $file, t.elapsed());
        }
    };
}

every_byte_test!(every_byte_of_manifest_json, "manifest.json");
every_byte_test!(every_byte_of_manifest_sig, "manifest.sig");
every_byte_test!(every_byte_of_plan_toml, "plan.toml");
every_byte_test!(every_byte_of_operators_json, "operators.json");
every_byte_test!(every_byte_of_master_seal, "sealed/master.seal");

#[test]
fn spread_over_the_large_files() {
    let (_ws, dir) = scratch_bundle();
    for file in ["deposit_data.json", "keyshares.json", "transcript.jsonl"] {
        let t = Instant::now();
        let n = sweep(&dir, file, &spread(&dir, file, 200), &[0x01, 0x80]);
        assert!(n >= 400);
        eprintln!("{file}: {n} flips in {:?}", t.elapsed());
    }
}

/// Re-encodings of manifest.sig that keep every value (hex case, JSON whitespace) must fail
/// too: the file is accepted only in the exact form the ceremony writes.
#[test]
fn manifest_sig_reencoded_fails() {
    let (_ws, dir) = scratch_bundle();
    let path = dir.join("manifest.sig");
    let original = std::fs::read_to_string(&path).unwrap();
    let v: serde_json::Value = serde_json::from_str(&original).unwrap();
    let sig = v["signature"].as_str().unwrap();
    let variants = [
        original.replace(sig, &sig.to_uppercase()),
        original.replace("\n  \"", "\n\t\""),
        original.replace("\": \"", "\":\""),
        original.trim_end().to_owned(),
        serde_json::to_string(&v).unwrap(),
        format!("{original}\n"),
    ];
    for (i, text) in variants.iter().enumerate() {
        assert_ne!(text, &original, "variant {i} changes the file");
        std::fs::write(&path, text).unwrap();
        let report = verify_bundle(&dir, &VerifyOptions::default());
        assert!(
            !report.ok(),
            "variant {i} of manifest.sig still verifies:\n{text}"
        );
    }
    std::fs::write(&path, &original).unwrap();
    assert!(!fails(&dir));
}

#[test]
fn extra_missing_and_marker_files_fail() {
    let (ws, dir) = scratch_bundle();
    let files: Vec<String> = all_files(&dir).into_iter().map(|(n, _)| n).collect();
    assert_eq!(files.len(), 8, "{files:?}");
    // Each file missing.
    for f in &files {
        let p = dir.join(f);
        let bytes = std::fs::read(&p).unwrap();
        std::fs::remove_file(&p).unwrap();
        assert!(fails(&dir), "verifies without {f}");
        std::fs::write(&p, bytes).unwrap();
    }
    assert!(!fails(&dir));
    // Extra files, at the top and in sealed/.
    for extra in ["notes.txt", "sealed/master.seal.bak", ".hidden"] {
        std::fs::write(dir.join(extra), b"x").unwrap();
        assert!(fails(&dir), "verifies with {extra}");
        std::fs::remove_file(dir.join(extra)).unwrap();
    }
    // An extra (empty) directory.
    std::fs::create_dir(dir.join("extra")).unwrap();
    assert!(fails(&dir), "verifies with an extra directory");
    std::fs::remove_dir(dir.join("extra")).unwrap();
    // The marker of an unfinished bundle.
    std::fs::write(dir.join("INCOMPLETE"), b"").unwrap();
    assert!(fails(&dir), "verifies with INCOMPLETE");
    let run = ws.verify(&dir, &[]);
    run.expect_code(6);
    assert!(run.stdout.contains("INCOMPLETE"), "{}", run.stdout);
    std::fs::remove_file(dir.join("INCOMPLETE")).unwrap();
    // A swapped file from another bundle (valid on its own) fails.
    assert!(!fails(&dir));
}

/// Through the binary: one flipped byte per file gives exit 6 and names the file.
#[test]
fn binary_reports_each_tampered_file() {
    let (ws, dir) = scratch_bundle();
    for (file, bytes) in all_files(&dir) {
        let mut b = bytes.clone();
        let pos = b.len() / 2;
        b[pos] ^= 0x01;
        std::fs::write(dir.join(&file), &b).unwrap();
        let run = ws.verify(&dir, &[]);
        run.expect_code(6);
        assert!(run.stdout.contains("FAIL"), "{}", run.stdout);
        std::fs::write(dir.join(&file), &bytes).unwrap();
    }
    ws.verify(&dir, &[]).ok();
}
