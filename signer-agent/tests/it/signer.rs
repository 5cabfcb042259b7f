//! The PKCS#11 secp256k1 alloy signer against SoftHSM.

use std::sync::Arc;

use alloy::consensus::{SignableTransaction, TxEip1559};
use alloy::network::TxSigner;
use alloy::primitives::{Address, Bytes, TxKind, B256, U256};
use alloy::signers::Signer;
use kc_hsm::testing::{SoftHsmToken, TEST_USER_PIN};
use secrecy::SecretString;
use signer_agent::signer::pkcs11::{self, Pkcs11Backend};
use signer_agent::signer::HsmSigner;
use signer_agent::Error;

fn token_with_key() -> (SoftHsmToken, Address) {
    let tok = SoftHsmToken::new("agent", TEST_USER_PIN);
    let addr = pkcs11::generate(tok.module_path(), "agent", "agent-tx", &tok.pin()).unwrap();
    (tok, Address::from(addr))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hsm_signed_transactions_recover_to_the_key_address() {
    let (tok, addr) = token_with_key();
    let backend = Pkcs11Backend::open(tok.module_path(), "agent", "agent-tx", tok.pin()).unwrap();
    let mut signer = HsmSigner::open_async(Arc::new(backend)).await.unwrap();
    signer.set_chain_id(Some(31337));
    assert_eq!(Signer::address(&signer), addr);
    let dbg = format!("{signer:?}");
    assert!(
        dbg.contains("agent/agent-tx")
            && dbg
                .to_lowercase()
                .contains(&format!("{addr:?}").to_lowercase()),
        "{dbg}"
    );
    assert!(!dbg.contains(TEST_USER_PIN));

    // Many signatures, from several tasks at once (each blocking thread opens its own session).
    let mut handles = Vec::new();
    for i in 0..24u64 {
        let s = signer.clone();
        handles.push(tokio::spawn(async move {
            let mut tx = TxEip1559 {
                chain_id: 31337,
                nonce: i,
                gas_limit: 21_000 + i,
                max_fee_per_gas: 2_000_000_000,
                max_priority_fee_per_gas: 1_000_000_000,
                to: TxKind::Call(Address::repeat_byte(0x11)),
                value: U256::from(i),
                input: Bytes::from(vec![i as u8; 40]),
                access_list: Default::default(),
            };
            let sig = s.sign_transaction(&mut tx).await.unwrap();
            assert!(sig.normalize_s().is_none(), "signature must be low-s");
            // The signed transaction's hash is over the transaction with this signature, and
            // the signature recovers from the signing hash.
            let signing_hash = tx.signature_hash();
            let signed = tx.into_signed(sig);
            assert_eq!(signed.signature(), &sig);
            sig.recover_address_from_prehash(&signing_hash).unwrap()
        }));
    }
    for h in handles {
        assert_eq!(h.await.unwrap(), addr);
    }
    // Messages (EIP-191) too.
    let sig = signer.sign_message(b"hello").await.unwrap();
    assert_eq!(sig.recover_address_from_msg(b"hello").unwrap(), addr);
    let h = B256::repeat_byte(7);
    let sig = signer.sign_hash(&h).await.unwrap();
    assert_eq!(sig.recover_address_from_prehash(&h).unwrap(), addr);
}

#[test]
fn wrong_pin_is_a_clean_error() {
    let (tok, _) = token_with_key();
    let wrong = "not-the-pin-0000";
    let err = Pkcs11Backend::open(
        tok.module_path(),
        "agent",
        "agent-tx",
        SecretString::from(wrong.to_string()),
    )
    .err()
    .expect("a wrong PIN must fail");
    let msg = err.to_string();
    assert!(
        matches!(
            err,
            Error::Hsm {
                source: kc_hsm::Error::PinIncorrect { .. },
                ..
            }
        ),
        "{msg}"
    );
    assert!(msg.contains("wrong PIN"), "{msg}");
    assert!(
        !msg.contains(wrong) && !msg.contains(TEST_USER_PIN),
        "{msg}"
    );
    assert_eq!(err.exit_code(), 3);
}

#[test]
fn key_init_refuses_an_existing_label_and_open_refuses_a_missing_key() {
    let (tok, _) = token_with_key();
    let err = pkcs11::generate(tok.module_path(), "agent", "agent-tx", &tok.pin()).unwrap_err();
    assert!(err.to_string().contains("already exists"), "{err}");
    let err = Pkcs11Backend::open(tok.module_path(), "agent", "no-such-key", tok.pin())
        .err()
        .unwrap();
    assert!(err.to_string().contains("no-such-key"), "{err}");
}

#[test]
fn key_init_and_show_through_the_binary() {
    let tok = SoftHsmToken::new("agent", TEST_USER_PIN);
    let dir = tempfile::tempdir().unwrap();
    let pin_file = dir.path().join("pin");
    std::fs::write(&pin_file, format!("{TEST_USER_PIN}\n")).unwrap();
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_signer-agent"))
            .args(args)
            .env("SOFTHSM2_CONF", tok.conf_path())
            .env("SIGNER_AGENT_PKCS11_MODULE", tok.module_path())
            .env("SIGNER_AGENT_TOKEN_LABEL", "agent")
            .env("SIGNER_AGENT_PIN_FILE", &pin_file)
            .env_remove("SIGNER_AGENT_PIN")
            .output()
            .unwrap()
    };
    let out = run(&["key", "init"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let addr = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert!(addr.starts_with("0x") && addr.len() == 42, "{addr}");
    let out = run(&[
        "--rpc-url",
        "http://127.0.0.1:1",
        "--chain-id",
        "1",
        "key",
        "show",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8(out.stdout).unwrap().trim(), addr);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains(TEST_USER_PIN));
    // Wrong PIN through the binary: exit code 3, one clean line, no PIN.
    std::fs::write(&pin_file, "wrong-pin-999\n").unwrap();
    let out = run(&[
        "--rpc-url",
        "http://127.0.0.1:1",
        "--chain-id",
        "1",
        "key",
        "show",
    ]);
    assert_eq!(out.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("wrong PIN") && !stderr.contains("wrong-pin-999"),
        "{stderr}"
    );
}

/// The agent's key on the tokens an air-gapped room has, emulated: SoftHSM restricted to the
/// YubiHSM 2 and the Nitrokey HSM 2 mechanism sets. The preflight passes and the key signs.
fn key_on(emulation: kc_hsm::testing::Emulation) {
    let tok = SoftHsmToken::emulating("agent", TEST_USER_PIN, emulation);
    let addr = pkcs11::generate(tok.module_path(), "agent", "agent-tx", &tok.pin()).unwrap();
    let backend = Pkcs11Backend::open(tok.module_path(), "agent", "agent-tx", tok.pin()).unwrap();
    let signer = HsmSigner::open(Arc::new(backend)).unwrap();
    assert_eq!(Signer::address(&signer), Address::from(addr));
    let d = [9u8; 32];
    let sig = signer.sign_digest_blocking(&d).unwrap();
    assert_eq!(
        sig.recover_address_from_prehash(&B256::from(d)).unwrap(),
        Address::from(addr)
    );
}

#[test]
fn agent_key_on_a_yubihsm2_emulation() {
    key_on(kc_hsm::testing::Emulation::YubiHsm2);
}

#[test]
fn agent_key_on_a_nitrokey_hsm2_emulation() {
    key_on(kc_hsm::testing::Emulation::NitrokeyHsm2);
}

#[test]
fn signing_sessions_are_bounded_and_closed_on_shutdown() {
    let (tok, addr) = token_with_key();
    let backend =
        Arc::new(Pkcs11Backend::open(tok.module_path(), "agent", "agent-tx", tok.pin()).unwrap());
    let signer = HsmSigner::open(backend.clone()).unwrap();
    std::thread::scope(|scope| {
        for t in 0..16u8 {
            let signer = signer.clone();
            scope.spawn(move || {
                for i in 0..8u8 {
                    let d = [t ^ i.wrapping_mul(31); 32];
                    let sig = signer.sign_digest_blocking(&d).unwrap();
                    assert_eq!(
                        sig.recover_address_from_prehash(&B256::from(d)).unwrap(),
                        addr
                    );
                }
            });
        }
    });
    assert!(backend.peak_sessions() <= pkcs11::MAX_SESSIONS);
    assert!(backend.peak_sessions() >= 2, "signing went on in parallel");
    let open = backend.open_sessions();
    if let Some(n) = tok.token().session_count().unwrap() {
        assert_eq!(n as usize, open, "the token agrees");
    }
    // shutdown
    assert_eq!(pkcs11::close_all(), open);
    assert_eq!(backend.open_sessions(), 0);
    if let Some(n) = tok.token().session_count().unwrap() {
        assert_eq!(n, 0, "every session of the token is closed");
    }
    let err = signer.sign_digest_blocking(&[1u8; 32]).unwrap_err();
    assert!(err.to_string().contains("closed"), "{err}");
}

fn repo_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A kryoptic token (no secp256k1), set up with `hsm-config/kryoptic-setup.sh`; returns its
/// `KRYOPTIC_CONF` and module.
fn kryoptic_token(dir: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let module = std::env::var_os("KC_KRYOPTIC_MODULE")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".tools/kryoptic/libkryoptic_pkcs11.so"));
    assert!(
        module.is_file(),
        "kryoptic module {} not found: run make tools (scripts/install-kryoptic.sh); not skipped",
        module.display()
    );
    let out = std::process::Command::new(repo_root().join("hsm-config/kryoptic-setup.sh"))
        .arg(dir)
        .env("KC_HSM_LABEL", "agent")
        .env("KC_HSM_USER_PIN", TEST_USER_PIN)
        .env("KC_HSM_SO_PIN", kc_hsm::testing::TEST_SO_PIN)
        .env("KC_KRYOPTIC_MODULE", &module)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (dir.join("kryoptic.conf"), module)
}

/// A token without secp256k1 (kryoptic): `key init` stops at the preflight, naming the token,
/// the function and the curve, printed once, and makes nothing.
#[test]
fn key_init_on_a_token_without_secp256k1_stops_at_the_preflight_naming_the_curve() {
    let dir = tempfile::tempdir().unwrap();
    let (conf, module) = kryoptic_token(&dir.path().join("kryoptic"));
    let pin_file = dir.path().join("pin");
    std::fs::write(&pin_file, format!("{TEST_USER_PIN}\n")).unwrap();
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_signer-agent"))
            .args(args)
            .env("KRYOPTIC_CONF", &conf)
            .env("SIGNER_AGENT_PKCS11_MODULE", &module)
            .env("SIGNER_AGENT_TOKEN_LABEL", "agent")
            .env("SIGNER_AGENT_PIN_FILE", &pin_file)
            .env_remove("SIGNER_AGENT_PIN")
            .output()
            .unwrap()
    };
    for args in [
        &["key", "init"][..],
        &[
            "--rpc-url",
            "http://127.0.0.1:1",
            "--chain-id",
            "1",
            "key",
            "show",
        ][..],
    ] {
        let out = run(args);
        assert_eq!(out.status.code(), Some(3), "{args:?}");
        assert!(out.stdout.is_empty());
        let stderr = String::from_utf8_lossy(&out.stderr);
        let line = stderr
            .lines()
            .find(|l| l.starts_with("signer-agent:"))
            .unwrap_or_else(|| panic!("{stderr}"));
        assert!(line.contains("token `agent`"), "{line}");
        assert!(line.contains("preflight trial"), "{line}");
        assert!(line.contains("secp256k1"), "names the curve: {line}");
        assert!(
            line.contains("C_GenerateKeyPair"),
            "names the function: {line}"
        );
        assert_eq!(
            line.matches("failed with CKR_").count(),
            1,
            "the HSM error is printed once: {line}"
        );
    }
    // nothing was made: kryoptic lists no object
    let objects = std::process::Command::new("pkcs11-tool")
        .args(["--module"])
        .arg(&module)
        .args(["--login", "--pin", TEST_USER_PIN, "-O"])
        .env("KRYOPTIC_CONF", &conf)
        .output()
        .unwrap();
    let listed = String::from_utf8_lossy(&objects.stdout);
    assert!(!listed.contains("agent-tx"), "{listed}");
    assert!(!listed.contains("kc-preflight"), "{listed}");
}
