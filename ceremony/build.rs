//! Embeds what the build attestation needs: the git commit and the SHA-256 of `Cargo.lock`.
//! Both are fixed for a given checkout, so two clean builds of one commit stay identical.

use std::process::Command;

fn main() {
    // The manifest directory of this build, read when the script runs: `env!` would bake in
    // the directory the script was compiled in, and a target directory reused from another
    // checkout would then hash that checkout's Cargo.lock.
    let manifest_dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let root = std::path::Path::new(&manifest_dir).join("..");
    let lock = root.join("Cargo.lock");
    println!("cargo:rerun-if-changed={}", lock.display());
    println!("cargo:rerun-if-env-changed=KC_GIT_COMMIT");
    let lock_sha = std::fs::read(&lock)
        .map(|b| sha256_hex(&b))
        .unwrap_or_default();
    println!("cargo:rustc-env=KC_CARGO_LOCK_SHA256={lock_sha}");
    let commit = std::env::var("KC_GIT_COMMIT")
        .ok()
        .filter(|c| !c.is_empty())
        .or_else(|| {
            let out = Command::new("git")
                .arg("-C")
                .arg(&root)
                .args(["rev-parse", "HEAD"])
                .output()
                .ok()?;
            out.status
                .success()
                .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
        });
    let head = root.join(".git/HEAD");
    if head.exists() {
        println!("cargo:rerun-if-changed={}", head.display());
    }
    println!(
        "cargo:rustc-env=KC_GIT_COMMIT={}",
        commit.unwrap_or_default()
    );
}

fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(data))
}
