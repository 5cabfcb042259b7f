//! The agent's reading of Beacon API answers (`oracle::parse_genesis`, `oracle::BeaconTally`).
//!
//! Input: one control byte (bit 0: the genesis endpoint, else the validators endpoint; bits
//! 1–3: how many of the real pool's public keys were asked, 0–7), then the answer body. A
//! tally that is accepted counts only validators asked for, each once; its balance is the exact
//! sum of the answered balances (no wrap-around); exited ≤ seen ≤ asked. Every refusal names
//! the URL and the field.

use std::sync::OnceLock;

use alloy::primitives::U256;
use kc_bundle::manifest::files;
use signer_agent::oracle::{parse_genesis, BeaconTally};
use signer_agent::Error;

const URL: &str = "http://127.0.0.1:5052/eth/v1/beacon/states/head/validators";

/// The real bundle's validator public keys, then three more (as the agent would ask).
fn pubkeys() -> &'static Vec<String> {
    static P: OnceLock<Vec<String>> = OnceLock::new();
    P.get_or_init(|| {
        let text = crate::fixture::original().get(files::DEPOSIT_DATA);
        let list = kc_validator::deposit::parse_json(std::str::from_utf8(text).unwrap())
            .expect("seed deposit data");
        let mut keys: Vec<String> = list
            .iter()
            .map(|d| format!("0x{}", d.pubkey.to_hex()))
            .collect();
        for i in 0..3u8 {
            keys.push(format!("0x{}", hex::encode([0xa0 + i; 48])));
        }
        keys
    })
}

pub fn run(data: &[u8]) {
    let Some((&control, body)) = data.split_first() else {
        return;
    };
    let body = crate::props::text(body);
    if control & 1 == 1 {
        match parse_genesis(URL, &body) {
            Ok(_) => {
                let v: serde_json::Value = serde_json::from_str(&body).expect("it parsed");
                assert!(v["data"]["genesis_time"].is_string());
            }
            Err(e) => check_error(&e),
        }
        return;
    }
    let asked = &pubkeys()[..usize::from((control >> 1) & 7)];
    let mut tally = BeaconTally::default();
    match tally.add(URL, asked, &body) {
        Ok(()) => {
            let r = tally.report("head", 0, asked.len());
            // Recompute independently from the JSON.
            let v: serde_json::Value = serde_json::from_str(&body).expect("it parsed");
            let data = v["data"].as_array().expect("data is a list");
            let mut sum = U256::ZERO;
            for item in data {
                let pk = item["validator"]["pubkey"].as_str().expect("a pubkey");
                assert!(asked.iter().any(|a| a.eq_ignore_ascii_case(pk)));
                let b: u128 = item["balance"]
                    .as_str()
                    .expect("a balance")
                    .parse()
                    .unwrap();
                sum += U256::from(b);
            }
            assert_eq!(
                r.balance_wei,
                (sum * U256::from(1_000_000_000u64)).to_string(),
                "agent_beacon: the reported balance is not the sum of the answered balances"
            );
            assert_eq!(r.validators as usize, data.len());
            assert!(r.exited <= r.validators && r.validators as usize <= asked.len());
            assert_eq!(r.not_seen + r.validators, asked.len() as u64);
        }
        Err(e) => check_error(&e),
    }
}

fn check_error(e: &Error) {
    match e {
        Error::Beacon { url, message } => {
            assert_eq!(url, URL);
            crate::props::names_field(
                "agent_beacon",
                message,
                &["data[", "data.genesis_time", "unexpected JSON"],
            );
        }
        other => panic!("agent_beacon: unexpected error variant {other:?}"),
    }
}
