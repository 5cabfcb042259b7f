//! The agent's decoding of `eth_getLogs` answers: the JSON as alloy decodes it for the
//! provider, then every decoder the agent runs on logs — the front-running scan
//! (`stake::front_run_in`), the cluster snapshot (`ssv::latest_cluster`), the pool's staked
//! validators (`oracle::staked_pubkeys`) and operator keys (`operators::operator_key_from_log`).
//!
//! A front-run found is one of the keys asked for, once per matching event, in order; staked
//! public keys are distinct lower-case hex; a cluster found belongs to an event for the asked
//! operator ids; every refusal names the event it could not decode.

use std::collections::BTreeSet;

use alloy::rpc::types::Log;
use alloy::sol_types::SolEvent;
use kc_bundle::manifest::files;
use signer_agent::chain::IDepositContract;
use signer_agent::Error;

pub fn run(data: &[u8]) {
    let Ok(logs) = serde_json::from_slice::<Vec<Log>>(data) else {
        return;
    };
    let asked = asked();
    let asked: Vec<&str> = asked.iter().map(String::as_str).collect();
    match signer_agent::stake::front_run_in(&logs, &asked) {
        Ok(found) => {
            let expected: Vec<String> = logs
                .iter()
                .map(|l| {
                    let e = IDepositContract::DepositEvent::decode_log_data(l.data())
                        .expect("front_run_in decoded it");
                    format!("0x{}", hex::encode(&e.pubkey))
                })
                .filter(|pk| asked.iter().any(|a| a.eq_ignore_ascii_case(pk)))
                .collect();
            let got: Vec<String> = found.iter().map(|f| f.pubkey.clone()).collect();
            assert_eq!(got, expected, "agent_logs: front-running matches");
        }
        Err(e) => check_error(&e, "decode DepositEvent"),
    }
    let ids = [1u64, 2, 3, 4];
    match signer_agent::ssv::latest_cluster(&logs, &ids) {
        Ok(Some(c)) => {
            assert!(
                logs.iter()
                    .any(|l| cluster_of(l, &ids).as_ref() == Some(&c)),
                "agent_logs: a cluster no event for the operators carries"
            );
        }
        Ok(None) => assert!(logs.iter().all(|l| cluster_of(l, &ids).is_none())),
        Err(e) => check_error(&e, "decode "),
    }
    match signer_agent::oracle::staked_pubkeys(&logs) {
        Ok(keys) => {
            let distinct: BTreeSet<&String> = keys.iter().collect();
            assert_eq!(distinct.len(), keys.len(), "agent_logs: a staked key twice");
            for k in &keys {
                assert!(k.starts_with("0x") && !k.bytes().any(|b| b.is_ascii_uppercase()));
            }
            assert!(keys.len() <= logs.len());
        }
        Err(e) => check_error(&e, "decode ValidatorStaked"),
    }
    for l in &logs {
        match signer_agent::operators::operator_key_from_log(l) {
            Ok(text) => {
                assert!(!text.is_empty());
                let _ = kc_ssv::OperatorKey::parse(1, &text);
            }
            Err(m) => crate::props::one_line("agent_logs", &m),
        }
    }
}

/// The real bundle's validator keys (upper and lower case), as the agent asks for them.
fn asked() -> Vec<String> {
    let text = crate::fixture::original().get(files::DEPOSIT_DATA);
    let list = kc_validator::deposit::parse_json(std::str::from_utf8(text).unwrap()).unwrap();
    list.iter()
        .enumerate()
        .map(|(i, d)| {
            let h = d.pubkey.to_hex();
            format!("0x{}", if i % 2 == 0 { h } else { h.to_uppercase() })
        })
        .collect()
}

/// The cluster of `l` when it is a decodable cluster event for `ids`.
fn cluster_of(l: &Log, ids: &[u64]) -> Option<signer_agent::chain::Cluster> {
    match signer_agent::ssv::cluster_event(l) {
        Ok(Some((log_ids, c))) if log_ids == ids => Some(c),
        _ => None,
    }
}

fn check_error(e: &Error, call: &str) {
    match e {
        Error::Rpc { call: c, message } => {
            assert!(c.starts_with(call), "agent_logs: {c} is not {call}…");
            crate::props::one_line("agent_logs", message);
        }
        other => panic!("agent_logs: unexpected error variant {other:?}"),
    }
}
