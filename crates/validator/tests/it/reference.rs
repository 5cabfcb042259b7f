//! Cross-check against the reference implementation, ethstaker-deposit 1.3.1 (PyPI), through its
//! library API (`tests/reference/ethstaker_reference.py`).
//!
//! For random mnemonics made here, every network (mainnet, sepolia, hoodi, a custom fork version),
//! both withdrawal types, several start indices and amounts, our deposit data must equal the
//! reference's field by field and as file bytes, and so must presigned exits.
//!
//! The interpreter is `$KC_PYTHON` (the Makefile exports it), else `<workspace>/.tools/venv/bin/python`;
//! without either the test fails and says to run `make tools`. It is never skipped.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use kc_validator::deposit::{self, withdrawal_credentials, DepositData, Network, WithdrawalType};
use kc_validator::exit::{ExitDomain, SignedVoluntaryExit, VoluntaryExit};
use kc_validator::{derive, Address, Mnemonic};
use serde_json::{json, Value};

fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("KC_PYTHON") {
        let p = PathBuf::from(p);
        assert!(
            p.exists(),
            "KC_PYTHON={} does not exist: run `make tools`",
            p.display()
        );
        return p;
    }
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.tools/venv/bin/python");
    assert!(
        p.exists(),
        "no Python with ethstaker-deposit: KC_PYTHON is unset and {} does not exist; run `make tools`",
        p.display()
    );
    // `..` must not stay in the path: a venv finds its site-packages from its own path
    p.parent()
        .and_then(|d| std::fs::canonicalize(d).ok())
        .map(|d| d.join("python"))
        .unwrap_or(p)
}

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/reference/ethstaker_reference.py")
}

fn reference(request: &Value) -> Value {
    let mut child = Command::new(python())
        .arg(script())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the reference python");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(request.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "reference script failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        v["version"], "1.3.1",
        "the reference must be ethstaker-deposit 1.3.1"
    );
    v
}

fn random_bytes<const N: usize>() -> [u8; N] {
    // from a fresh mnemonic's entropy: the OS generator, without another dependency
    let m = Mnemonic::generate_24().unwrap();
    let e = m.to_entropy();
    let mut out = [0u8; N];
    out.copy_from_slice(&e[..N]);
    out
}

struct Case {
    mnemonic: Mnemonic,
    passphrase: &'static str,
    network: Network,
    exit_domain: ExitDomain,
    start: u32,
    count: u32,
    amount: u64,
    wtype: WithdrawalType,
    address: Address,
    exit: (u64, u64), // validator index, epoch
}

#[test]
fn deposits_and_exits_match_ethstaker_deposit() {
    let custom_fork = [0x12, 0x34, 0x56, 0x78];
    let custom_exit = ExitDomain {
        fork_version: [0x42, 0x34, 0x56, 0x78],
        genesis_validators_root: random_bytes(),
    };
    let networks = [
        Network::Mainnet,
        Network::Sepolia,
        Network::Hoodi,
        Network::Custom {
            fork_version: custom_fork,
        },
    ];
    let passphrases = ["", "TREZOR", "caf\u{e9} \u{1d531}"];
    let mut cases = Vec::new();
    for (mi, passphrase) in passphrases.into_iter().enumerate() {
        let phrase = Mnemonic::generate_24().unwrap().phrase();
        let address = Address(random_bytes());
        for (ni, network) in networks.iter().enumerate() {
            for wtype in [WithdrawalType::Eth1, WithdrawalType::Compounding] {
                let k = mi * 8 + ni * 2 + usize::from(wtype == WithdrawalType::Compounding);
                let amount = match (wtype, k % 3) {
                    (WithdrawalType::Eth1, 0) => 32_000_000_000,
                    (WithdrawalType::Eth1, 1) => 1_000_000_000,
                    (WithdrawalType::Eth1, _) => 17_500_000_001,
                    (WithdrawalType::Compounding, 0) => 2_048_000_000_000,
                    (WithdrawalType::Compounding, 1) => 33_000_000_000,
                    (WithdrawalType::Compounding, _) => 32_000_000_000,
                };
                let exit_domain = match network {
                    Network::Custom { .. } => custom_exit,
                    n => ExitDomain::for_network(n).unwrap(),
                };
                cases.push(Case {
                    mnemonic: Mnemonic::parse(&phrase).unwrap(),
                    passphrase,
                    network: *network,
                    exit_domain,
                    start: [0u32, 1, 7, 1000, 65_536, 4_000_000_000][k % 6],
                    count: if k % 4 == 0 { 2 } else { 1 },
                    amount,
                    wtype,
                    address,
                    exit: (k as u64 * 1_234_567, [0u64, 194_048, u64::MAX][k % 3]),
                });
            }
        }
    }

    let request = json!({
        "cases": cases.iter().map(|c| json!({
            "mnemonic": c.mnemonic.phrase().as_str(),
            "passphrase": c.passphrase,
            "network": match c.network {
                Network::Custom { fork_version } => json!({
                    "name": "custom",
                    "genesis_fork_version": hex::encode(fork_version),
                    "exit_fork_version": hex::encode(c.exit_domain.fork_version),
                    "genesis_validators_root": hex::encode(c.exit_domain.genesis_validators_root),
                }),
                n => json!(n.name()),
            },
            "start_index": c.start,
            "count": c.count,
            "amount": c.amount,
            "compounding": c.wtype == WithdrawalType::Compounding,
            "withdrawal_address": c.address.to_checksum(),
            "exits": [{"offset": 0, "validator_index": c.exit.0, "epoch": c.exit.1}],
        })).collect::<Vec<_>>()
    });
    let reference = reference(&request);

    let mut validators = 0;
    for (i, c) in cases.iter().enumerate() {
        let r = &reference["cases"][i];
        let ctx = format!(
            "case {i} ({}, {}, start {}, {} gwei)",
            c.network,
            c.wtype.as_str(),
            c.start,
            c.amount
        );
        let seed = c.mnemonic.to_seed(c.passphrase);
        let keys = derive::signing_keys(seed.as_bytes(), c.start, c.count).unwrap();
        let wc = withdrawal_credentials(c.wtype, &c.address);
        let ours: Vec<DepositData> = keys
            .iter()
            .map(|sk| DepositData::create(sk, wc, c.amount, &c.network).unwrap())
            .collect();
        validators += ours.len();

        // field by field
        let theirs = r["deposits"].as_array().unwrap();
        assert_eq!(theirs.len(), ours.len(), "{ctx}");
        for (j, (o, t)) in ours.iter().zip(theirs).enumerate() {
            let ctx = format!("{ctx}, validator {j}");
            assert_eq!(t["pubkey"], o.pubkey.to_hex(), "{ctx}: pubkey");
            assert_eq!(
                t["withdrawal_credentials"],
                hex::encode(o.withdrawal_credentials),
                "{ctx}"
            );
            assert_eq!(t["amount"], o.amount, "{ctx}: amount");
            assert_eq!(t["signature"], o.signature.to_hex(), "{ctx}: signature");
            assert_eq!(
                t["deposit_message_root"],
                hex::encode(o.deposit_message_root),
                "{ctx}"
            );
            assert_eq!(
                t["deposit_data_root"],
                hex::encode(o.deposit_data_root),
                "{ctx}"
            );
            assert_eq!(
                t["fork_version"],
                hex::encode(o.fork_version),
                "{ctx}: fork_version"
            );
            assert_eq!(t["network_name"], o.network_name, "{ctx}: network_name");
            assert_eq!(t["deposit_cli_version"], o.deposit_cli_version, "{ctx}");
            assert_eq!(t.as_object().unwrap().len(), 9, "{ctx}: field count");
        }

        // the same file bytes, and the reference's file parses and verifies here
        let file = r["deposit_file"].as_str().unwrap();
        assert_eq!(deposit::to_json(&ours), file, "{ctx}: file bytes");
        let parsed = deposit::from_json(file).unwrap();
        assert_eq!(parsed, ours, "{ctx}");
        for d in &parsed {
            d.verify_for(&c.network).unwrap();
        }

        // presigned exit of the first key
        let exit = VoluntaryExit {
            epoch: c.exit.1,
            validator_index: c.exit.0,
        }
        .sign(&keys[0], &c.exit_domain);
        let theirs = r["exit_files"][0].as_str().unwrap();
        assert_eq!(exit.to_json(), theirs, "{ctx}: exit file bytes");
        let parsed = SignedVoluntaryExit::from_json(theirs).unwrap();
        parsed
            .verify(&keys[0].public_key(), &c.exit_domain)
            .unwrap();
    }
    assert!(validators >= 30, "{validators} validators cross-checked");
}
