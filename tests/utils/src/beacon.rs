//! A Beacon API fixture server on loopback: the standard JSON shapes of ethereum/beacon-APIs for
//! the genesis and the validators of a state, over a fixed set of validators.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

/// A Beacon API fixture: `GET /eth/v1/beacon/genesis` and
/// `GET /eth/v1/beacon/states/{state}/validators?id=…` over `validators` (pubkey → (balance gwei,
/// status)), as in ethereum/beacon-APIs (numbers as decimal strings). Unknown ids are left out,
/// as real beacon nodes do. One thread, one request per connection.
pub struct BeaconFixture {
    pub url: String,
    pub requests: Arc<Mutex<Vec<String>>>,
}

impl BeaconFixture {
    pub fn start(validators: BTreeMap<String, (u64, &'static str)>) -> BeaconFixture {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let requests = Arc::new(Mutex::new(Vec::new()));
        let log = requests.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                if reader.read_line(&mut line).is_err() {
                    continue;
                }
                // Skip the headers.
                loop {
                    let mut h = String::new();
                    if reader.read_line(&mut h).is_err() || h == "\r\n" || h.is_empty() {
                        break;
                    }
                }
                let target = line.split_whitespace().nth(1).unwrap_or("").to_string();
                log.lock().unwrap().push(target.clone());
                let (status, body) = answer(&target, &validators);
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        BeaconFixture { url, requests }
    }
}

fn answer(target: &str, validators: &BTreeMap<String, (u64, &'static str)>) -> (String, String) {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    if path == "/eth/v1/node/syncing" {
        return (
            "200 OK".into(),
            serde_json::json!({"data": {
                "head_slot": "4242", "sync_distance": "0", "is_syncing": false,
                "is_optimistic": false, "el_offline": false
            }})
            .to_string(),
        );
    }
    if path == "/eth/v1/beacon/genesis" {
        return (
            "200 OK".into(),
            serde_json::json!({"data": {
                "genesis_time": "1742213400",
                "genesis_validators_root": format!("0x{}", "21".repeat(32)),
                "genesis_fork_version": "0x10000910"
            }})
            .to_string(),
        );
    }
    let parts: Vec<&str> = path.split('/').collect();
    if let ["", "eth", "v1", "beacon", "states", _state, "validators"] = parts.as_slice() {
        let ids: Vec<String> = query
            .split('&')
            .filter_map(|kv| kv.strip_prefix("id="))
            .flat_map(|v| {
                v.replace("%2C", ",")
                    .replace("%2c", ",")
                    .split(',')
                    .map(|s| s.to_ascii_lowercase())
                    .collect::<Vec<_>>()
            })
            .collect();
        let data: Vec<serde_json::Value> = validators
            .iter()
            .enumerate()
            .filter(|(_, (pk, _))| ids.contains(pk))
            .map(|(i, (pk, (balance, status)))| {
                serde_json::json!({
                    "index": (1000 + i).to_string(),
                    "balance": balance.to_string(),
                    "status": status,
                    "validator": {
                        "pubkey": pk,
                        "withdrawal_credentials": format!("0x01{}", "00".repeat(31)),
                        "effective_balance": "32000000000",
                        "slashed": false,
                        "activation_eligibility_epoch": "0",
                        "activation_epoch": "0",
                        "exit_epoch": "18446744073709551615",
                        "withdrawable_epoch": "18446744073709551615"
                    }
                })
            })
            .collect();
        return (
            "200 OK".into(),
            serde_json::json!({"execution_optimistic": false, "finalized": true, "data": data})
                .to_string(),
        );
    }
    (
        "404 Not Found".into(),
        serde_json::json!({"code": 404, "message": "not found"}).to_string(),
    )
}
