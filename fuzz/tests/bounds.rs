//! Bounded time and memory on large inputs: each target is given a 10 MB
//! input made of real content repeated, as an attacker would grow a bundle file or an RPC
//! answer. The target's own allocation bound applies (`kc_fuzz::check`: live memory at most
//! a fixed multiple of the input size), and the input must be done within [`LIMIT`]: the
//! linear parsers take 0.3 to 10 s here (debug build; deposit data validates every BLS point),
//! a quadratic one or per-entry cryptography on a file already known to be wrong takes minutes
//! on inputs ten times larger.

use std::time::{Duration, Instant};

use kc_bundle::manifest::files;
use kc_fuzz::fixture;

const SIZE: usize = 10 << 20;
const LIMIT: Duration = Duration::from_secs(60);

fn text(name: &str) -> String {
    String::from_utf8(fixture::original().get(name).to_vec()).unwrap()
}

fn within_bounds(target: &str, input: &[u8]) {
    assert!(input.len() >= SIZE, "{target}: only {} bytes", input.len());
    let t = kc_fuzz::target(target).unwrap();
    let start = Instant::now();
    kc_fuzz::check(t, input);
    let took = start.elapsed();
    kc_fuzz::fixture::cleanup();
    eprintln!("{target}: {} MB in {took:.1?}", input.len() >> 20);
    assert!(took < LIMIT, "{target}: {took:?} for a 10 MB input");
}

/// `[a, b, …]` where the items are `items` repeated until the text passes 10 MB.
fn json_array(items: &[String]) -> String {
    let mut out = String::from("[");
    let mut i = 0;
    while out.len() < SIZE {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(&items[i % items.len()]);
        i += 1;
    }
    out.push(']');
    out
}

fn items_of(json: &str, key: Option<&str>) -> Vec<String> {
    let v: serde_json::Value = serde_json::from_str(json).unwrap();
    let list = match key {
        Some(k) => v[k].as_array().unwrap().clone(),
        None => v.as_array().unwrap().clone(),
    };
    list.iter().map(|x| x.to_string()).collect()
}

/// The real keyshares.json with its entries repeated past 10 MB.
fn big_keyshares() -> String {
    let mut v: serde_json::Value = serde_json::from_str(&text(files::KEYSHARES)).unwrap();
    let shares = v["shares"].as_array().unwrap().clone();
    let one = serde_json::to_string(&shares).unwrap().len() / shares.len();
    let n = SIZE / one + 1;
    v["shares"] = (0..n).map(|i| shares[i % shares.len()].clone()).collect();
    serde_json::to_string(&v).unwrap()
}

#[test]
fn manifest_with_10_mb_of_validators() {
    let m = text(files::MANIFEST);
    let validators = json_array(&items_of(&m, Some("validators")));
    let v: serde_json::Value = serde_json::from_str(&m).unwrap();
    let before = format!(
        "\"validators\": {}",
        serde_json::to_string_pretty(&v["validators"]).unwrap()
    );
    let pretty = serde_json::to_string_pretty(&v).unwrap();
    let big = pretty.replacen(
        &before.replace("\n", "\n  "),
        &format!("\"validators\": {validators}"),
        1,
    );
    assert!(big.len() > SIZE, "the validators were not replaced");
    within_bounds("manifest", big.as_bytes());
}

#[test]
fn deposit_data_of_10_mb() {
    let items = items_of(&text(files::DEPOSIT_DATA), None);
    within_bounds("deposit_data", json_array(&items).as_bytes());
}

#[test]
fn keyshares_of_10_mb() {
    within_bounds("keyshares", big_keyshares().as_bytes());
}

#[test]
fn transcript_of_10_mb() {
    use kc_bundle::transcript::{Step, Transcript};
    let real = Transcript::parse_and_verify(&text(files::TRANSCRIPT)).unwrap();
    let mut t = Transcript::new();
    let mut len = 0;
    while len < SIZE {
        for e in real.entries() {
            let mut s = Step::new(e.step.clone(), e.actor.clone()).details(e.details.clone());
            s.inputs.clone_from(&e.inputs);
            s.outputs.clone_from(&e.outputs);
            len += serde_json::to_string(t.append_at(s, e.time.clone()))
                .unwrap()
                .len()
                + 1;
        }
    }
    within_bounds("transcript", t.to_jsonl().as_bytes());
}

#[test]
fn operators_file_of_10_mb() {
    let ops = text(files::OPERATORS);
    let items = items_of(&ops, Some("operators"));
    within_bounds("operators", json_array(&items).as_bytes());
}

#[test]
fn plan_of_10_mb() {
    let plan = text(files::PLAN);
    let big = plan.replacen(
        "[ceremony]\n",
        &format!("# {}\n[ceremony]\n", "x".repeat(SIZE)),
        1,
    );
    within_bounds("plan", big.as_bytes());
    let mut many = plan.clone();
    let mut i = 0;
    while many.len() < SIZE {
        many.push_str(&format!("\n[extra{i}]\nkey = {i}\n"));
        i += 1;
    }
    within_bounds("plan", many.as_bytes());
}

#[test]
fn staked_validator_logs_of_10_mb() {
    // Distinct public keys that share a long prefix: the worst case for a linear search.
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus/agent_logs");
    let template = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| std::fs::read(e.unwrap().path()).unwrap())
        .filter_map(|b| serde_json::from_slice::<Vec<serde_json::Value>>(&b).ok())
        .flatten()
        .find(|l| {
            use alloy::sol_types::SolEvent;
            l["topics"][0].as_str()
                == Some(&format!(
                    "{}",
                    signer_agent::chain::IPoolManager::ValidatorStaked::SIGNATURE_HASH
                ))
        })
        .expect("a ValidatorStaked log in the corpus");
    let data = template["data"].as_str().unwrap().to_owned();
    let mut out = String::from("[");
    let mut i = 0u32;
    while out.len() < SIZE {
        let mut l = template.clone();
        // data = offset ‖ validatorNumber ‖ length ‖ pubkey (48 bytes, padded to 64): the
        // key's last 4 bytes are bytes 140..144.
        let at = 2 + 140 * 2;
        let mut d = data.clone();
        d.replace_range(at..at + 8, &format!("{i:08x}"));
        l["data"] = d.into();
        if i > 0 {
            out.push(',');
        }
        out.push_str(&l.to_string());
        i += 1;
    }
    out.push(']');
    within_bounds("agent_logs", out.as_bytes());
}

#[test]
fn beacon_answer_of_10_mb() {
    let seed = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/corpus/agent_beacon/bundle-validators"
    ))
    .unwrap();
    let body: serde_json::Value = serde_json::from_slice(&seed[1..]).unwrap();
    let items: Vec<String> = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.to_string())
        .collect();
    let big = format!("{{\"data\": {}}}", json_array(&items));
    let mut input = vec![seed[0]];
    input.extend_from_slice(big.as_bytes());
    within_bounds("agent_beacon", &input);
}

/// The whole bundle with `deposit_data.json` grown to 10 MB (the real 4 entries repeated, as
/// an attacker would grow it): its hash and its count are wrong, so no BLS work is due. Every
/// entry used to be BLS-verified (56 s); `kc_bundle::verify` now does cheap checks first.
#[test]
fn bundle_with_10_mb_of_deposit_data() {
    let items = items_of(&text(files::DEPOSIT_DATA), None);
    let mut input = vec![fixture::index(files::DEPOSIT_DATA) as u8];
    input.extend_from_slice(json_array(&items).as_bytes());
    within_bounds("bundle", &input);
}

/// The same for `keyshares.json` (entries beyond the manifest's count are never verified).
#[test]
fn bundle_with_10_mb_of_keyshares() {
    let mut input = vec![fixture::index(files::KEYSHARES) as u8];
    input.extend_from_slice(big_keyshares().as_bytes());
    within_bounds("bundle", &input);
}
