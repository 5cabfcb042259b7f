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
