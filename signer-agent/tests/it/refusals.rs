//! Refusals (real ceremony bundles, altered where the case needs it): each with a clear
//! reason, and nothing sent.

use crate::e2e::{ok, World};
use crate::fixture;

fn err(o: &std::process::Output) -> String {
    assert!(
        !o.status.success(),
        "expected a refusal; stdout: {}",
        String::from_utf8_lossy(&o.stdout)
    );
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn refusals_name_the_reason_and_send_nothing() {
    let w = World::new(3, "");
    let bundle = w.bundle.to_str().unwrap().to_string();

    // Root not approved: import refuses (verify checks the chain).
    let e = err(&w.agent(&["import", &bundle], &[]));
    assert!(e.contains("root not approved"), "{e}");
    w.approve(&w.bundle);

    // Untrusted identity: the same bundle re-signed by another key.
    let other = w.dir.path().join("untrusted");
    copy_dir(&w.bundle, &other);
    let m = kc_bundle::manifest::Manifest::from_bytes(
        &std::fs::read(other.join("manifest.json")).unwrap(),
    )
    .unwrap();
    let stranger = fixture::identity(9);
    let mut m2 = m.clone();
    let pk = stranger
        .verifying_key()
        .to_encoded_point(false)
        .as_bytes()
        .to_vec();
    m2.identity.public_key = hex::encode(&pk);
    fixture::write_manifest(&other, &m2, &stranger);
    let e = err(&w.agent(&["import", other.to_str().unwrap()], &[]));
    assert!(e.contains("untrusted identity"), "{e}");

    // Tampered bundle: one byte of keyshares.json changed.
    let tampered = w.dir.path().join("tampered");
    copy_dir(&w.bundle, &tampered);
    let ks = std::fs::read_to_string(tampered.join("keyshares.json")).unwrap();
    let i = ks.find("\"sharesData\": \"0x").unwrap() + 20;
    let mut b = ks.into_bytes();
    b[i] = if b[i] == b'a' { b'b' } else { b'a' };
    std::fs::write(tampered.join("keyshares.json"), b).unwrap();
    let e = err(&w.agent(&["import", tampered.to_str().unwrap()], &[]));
    assert!(e.contains("verification failed"), "{e}");
    assert!(
        e.contains("manifest.json: keyshares.json: SHA-256 is"),
        "the failure names the file and field: {e}"
    );

    // Wrong chain.
    let e = err(&w.agent(&["--chain-id", "1", "import", &bundle], &[]));
    assert!(
        e.contains("wrong chain") || e.contains("is for chain 31337"),
        "{e}"
    );

    ok(&w.agent(&["import", &bundle], &[]));

    // Not enough ETH: nothing sent, run --once ends waiting.
    w.user_deposit(20);
    let out = ok(&w.agent(&["plan"], &[]));
    assert!(out.contains("not enough ETH"), "{out}");
    ok(&w.agent(&["run", "--once"], &[]));
    assert_eq!(w.deposit_events().len(), 0);

    // Gas above cap: a max fee of 0 gwei is below anything anvil asks.
    w.user_deposit(100);
    let o = w.agent(&["--max-fee-per-gas-gwei", "0", "run", "--once"], &[]);
    let e = err(&o);
    assert!(e.contains("gas above cap"), "{e}");
    assert_eq!(o.status.code(), Some(5));
    assert_eq!(w.deposit_events().len(), 0);

    // It stakes the good bundle.
    ok(&w.agent(&["run", "--once"], &[]));
    assert_eq!(w.deposit_events().len(), 3);

    // Nonce mismatch: a second bundle whose owner nonces start at 5 while the chain's is 3.
    let late = w.ceremony_bundle("late", 2, 10, 5);
    w.approve(&late);
    ok(&w.agent(&["import", late.to_str().unwrap()], &[]));
    w.user_deposit(64);
    let o = w.agent(&["run", "--once"], &[]);
    let e = err(&o);
    assert!(e.contains("nonce mismatch"), "{e}");
    assert_eq!(o.status.code(), Some(5));
    assert_eq!(w.deposit_events().len(), 3);
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_file() {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}
