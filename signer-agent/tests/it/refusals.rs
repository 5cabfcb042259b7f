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

/// `verify` (and `import`) check the bundle's network and its operators' provenance
/// against the chain the node serves, before anything else on chain: a bundle for hoodi, or one
/// whose operator keys were read on another chain, is refused on the devnet (exit 5), naming
/// the manifest field and both chains.
#[test]
fn a_bundle_for_another_chain_is_refused() {
    let w = World::new(1, "");
    let pool = w.dep.addr("pool_manager").to_checksum(None);
    let export: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&w.operators_file).unwrap()).unwrap();
    let with_chain = |name: &str, chain: u64| {
        let mut e = export.clone();
        e["provenance"]["chain_id"] = chain.into();
        let path = w.dir.path().join(name);
        std::fs::write(&path, serde_json::to_string_pretty(&e).unwrap()).unwrap();
        path
    };

    // A hoodi bundle (its operators exported from a hoodi node) on the devnet.
    let hoodi_ops = with_chain("hoodi-operators.json", 560_048);
    let hoodi = w.ceremony.run_for_network(
        w.dir.path(),
        "hoodi",
        &pool,
        &hoodi_ops,
        1,
        "network = \"hoodi\"",
    );
    for cmd in ["verify", "import"] {
        let o = w.agent(&[cmd, hoodi.to_str().unwrap()], &[]);
        assert_eq!(o.status.code(), Some(5), "{cmd}");
        let e = err(&o);
        assert!(
            e.contains("network.name is hoodi")
                && e.contains("chain 31337")
                && e.contains("custom"),
            "{cmd}: {e}"
        );
    }

    // A devnet (custom) bundle whose operator keys were read on another chain.
    let other_ops = with_chain("other-operators.json", 7);
    let other =
        w.ceremony
            .run_for_network(w.dir.path(), "other", &pool, &other_ops, 1, fixture::DEVNET);
    let e = err(&w.agent(&["verify", other.to_str().unwrap()], &[]));
    assert!(
        e.contains("operators.provenance.chain_id is 7") && e.contains("chain 31337"),
        "{e}"
    );
    // The honest devnet bundle passes these checks (and stops at the approval).
    let e = err(&w.agent(&["verify", w.bundle.to_str().unwrap()], &[]));
    assert!(e.contains("root not approved"), "{e}");
}
