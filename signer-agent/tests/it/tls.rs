//! The agent reaches its endpoints over TLS (rustls/ring) through a
//! TLS-terminating proxy with a test CA made here — only when `tls.ca_file` names that CA; an
//! unknown CA, a wrong host name and plain `http://` to a non-loopback host are each refused with
//! a clear, typed error; an API key in the URL path or a header never appears in any output,
//! even with every log level on.

use std::path::{Path, PathBuf};
use std::process::Output;

use signer_agent::config::{Config, Overrides};
use signer_agent::tls::TlsFailure;
use signer_agent::Error;

use crate::e2e::{ok, World};
use crate::proxy::{ProxyOptions, RpcProxy, TestPki, TlsProxy};

const CANARY: &str = "canary-rpc-key-5f1d9a8e7c31";
const HEADER_CANARY: &str = "canary-hdr-key-0b44e9d2aa17";

/// The World's configuration with another `rpc_url` and extra tables, written to `name`.
fn config(w: &World, name: &str, rpc_url: &str, extra: &str) -> PathBuf {
    config_top(w, name, rpc_url, "", extra)
}

/// [`config`] with extra top-level keys too.
fn config_top(w: &World, name: &str, rpc_url: &str, top: &str, extra: &str) -> PathBuf {
    let base = std::fs::read_to_string(&w.config).unwrap();
    let mut lines = base.lines();
    let first = lines.next().unwrap();
    assert!(first.starts_with("rpc_url"), "{first}");
    let rest: Vec<&str> = lines.collect();
    let text = format!(
        "rpc_url = \"{rpc_url}\"\n{top}{}\n{extra}\n",
        rest.join("\n")
    );
    let p = w.dir.path().join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn agent(config: &Path, args: &[&str]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_signer-agent"))
        .arg("--config")
        .arg(config)
        .args(args)
        .env_remove("SIGNER_AGENT_PIN")
        // Every log line of every crate (hyper, rustls, alloy …): none may show the key.
        .env("SIGNER_AGENT_LOG", "trace")
        .output()
        .unwrap()
}

/// No canary in anything the process wrote.
fn no_canary(o: &Output) {
    for (what, text) in [("stdout", &o.stdout), ("stderr", &o.stderr)] {
        let t = String::from_utf8_lossy(text);
        for c in [CANARY, HEADER_CANARY] {
            if let Some(line) = t.lines().find(|l| l.contains(c)) {
                panic!("the API key appears in {what}: {line}");
            }
        }
    }
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// What `check_chain` (the first call of every command) says through `config`.
fn first_call(config: &Path) -> signer_agent::Result<()> {
    let cfg = Config::resolve(Some(config), &Overrides::default())?;
    let p = signer_agent::chain::read_provider(&cfg)?;
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(signer_agent::chain::check_chain(&p, cfg.chain_id))
}

#[test]
fn tls_with_the_test_ca_only_and_the_key_never_shown() {
    let w = World::new(2, "");
    w.approve(&w.bundle);
    // Behind TLS: a provider that wants the key in the path.
    let rpc = RpcProxy::start(
        w.anvil.url(),
        ProxyOptions {
            require_path: Some(format!("/v3/{CANARY}")),
            ..Default::default()
        },
    );
    let pki = TestPki::new("signer-agent test CA");
    let proxy = TlsProxy::start(pki.server_config(&["localhost", "127.0.0.1"]), rpc.addr);
    let dir = w.dir.path();
    std::fs::write(dir.join("ca.pem"), &pki.ca_pem).unwrap();
    std::fs::write(dir.join("rpc.key"), format!("{CANARY}\n")).unwrap();
    let url = format!("https://localhost:{}/v3/{{api_key}}", proxy.port);
    let creds = "[rpc]\napi_key_file = \"rpc.key\"\n";

    // Without the CA: refused (the system's roots do not know the test CA).
    let untrusted = config(&w, "untrusted.toml", &url, creds);
    match first_call(&untrusted) {
        Err(Error::Tls {
            failure: TlsFailure::UnknownIssuer,
            endpoint,
        }) => assert_eq!(endpoint, format!("https://localhost:{}/…", proxy.port)),
        other => panic!("expected an unknown-issuer TLS error, got {other:?}"),
    }
    let o = agent(&untrusted, &["import", w.bundle.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(4), "{}", stderr(&o));
    assert!(stderr(&o).contains("unknown issuer"), "{}", stderr(&o));
    no_canary(&o);
    // The bundled web-PKI roots do not know it either.
    let bundled = config(
        &w,
        "bundled.toml",
        &url,
        &format!("{creds}[tls]\nroots = \"bundled\"\n"),
    );
    assert!(matches!(
        first_call(&bundled),
        Err(Error::Tls {
            failure: TlsFailure::UnknownIssuer,
            ..
        })
    ));
    assert_eq!(
        *proxy.handshakes.lock().unwrap(),
        0,
        "no handshake completed"
    );

    // With the CA as ca_file: import, stake, status — all through TLS, the key in the path.
    let trusted = config(
        &w,
        "trusted.toml",
        &url,
        &format!("{creds}[tls]\nca_file = \"ca.pem\"\n"),
    );
    first_call(&trusted).unwrap();
    let o = agent(&trusted, &["import", w.bundle.to_str().unwrap()]);
    no_canary(&o);
    ok(&o);
    w.user_deposit(64);
    let o = agent(&trusted, &["run", "--once"]);
    no_canary(&o);
    ok(&o);
    assert!(
        stderr(&o).contains(&format!("https://localhost:{}/…", proxy.port))
            || stderr(&o).contains("staked"),
        "{}",
        stderr(&o)
    );
    crate::e2e::assert_chain_matches_bundle(&w, &w.bundle, 2);
    assert!(*proxy.handshakes.lock().unwrap() > 0);
    assert_eq!(
        rpc.stats
            .unauthorized
            .load(std::sync::atomic::Ordering::Relaxed),
        0,
        "every request carried the key"
    );
    // A failing request's error names the endpoint without its key: the provider refuses a
    // wrong key with 401.
    std::fs::write(dir.join("wrong.key"), format!("{HEADER_CANARY}\n")).unwrap();
    let wrong_key = config(
        &w,
        "wrong-key.toml",
        &url,
        "[rpc]\napi_key_file = \"wrong.key\"\n[tls]\nca_file = \"ca.pem\"\n",
    );
    let o = agent(&wrong_key, &["plan"]);
    assert_eq!(o.status.code(), Some(4), "{}", stderr(&o));
    assert!(stderr(&o).contains("401"), "{}", stderr(&o));
    no_canary(&o);
}

#[test]
fn the_key_in_a_header_and_the_beacon_api_over_tls() {
    let w = World::new(1, "");
    let rpc = RpcProxy::start(
        w.anvil.url(),
        ProxyOptions {
            require_header: Some(("x-api-key".into(), HEADER_CANARY.into())),
            ..Default::default()
        },
    );
    let pki = TestPki::new("signer-agent test CA 2");
    let rpc_tls = TlsProxy::start(pki.server_config(&["localhost"]), rpc.addr);
    let beacon = kc_test_utils::beacon::BeaconFixture::start(Default::default());
    let beacon_addr: std::net::SocketAddr =
        beacon.url.trim_start_matches("http://").parse().unwrap();
    let beacon_tls = TlsProxy::start(pki.server_config(&["localhost"]), beacon_addr);
    let dir = w.dir.path();
    std::fs::write(dir.join("ca.pem"), &pki.ca_pem).unwrap();
    let cfg = config_top(
        &w,
        "header.toml",
        &format!("https://localhost:{}/", rpc_tls.port),
        &format!("beacon_url = \"https://localhost:{}\"\n", beacon_tls.port),
        "[rpc]\napi_key_env = \"TEST_RPC_KEY\"\napi_key_header = \"x-api-key\"\n[tls]\nroots = \"none\"\nca_file = \"ca.pem\"\n",
    );
    let run = |args: &[&str]| {
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_signer-agent"))
            .arg("--config")
            .arg(&cfg)
            .args(args)
            .env("TEST_RPC_KEY", HEADER_CANARY)
            .env("SIGNER_AGENT_LOG", "trace")
            .output()
            .unwrap();
        no_canary(&o);
        o
    };
    let ids = w
        .ops
        .iter()
        .map(|o| o.0.to_string())
        .collect::<Vec<_>>()
        .join(",");
    let out = dir.join("operators-over-tls.json");
    ok(&run(&[
        "operators",
        "export",
        "--ids",
        &ids,
        "--out",
        out.to_str().unwrap(),
    ]));
    assert_eq!(
        rpc.stats
            .unauthorized
            .load(std::sync::atomic::Ordering::Relaxed),
        0
    );
    assert!(
        rpc.stats
            .requests
            .load(std::sync::atomic::Ordering::Relaxed)
            > 0
    );
    // The Beacon API over TLS (no validator staked yet: an empty report).
    let o = run(&["oracle", "report", "--dry-run"]);
    let report: serde_json::Value = serde_json::from_str(&ok(&o)).unwrap();
    assert_eq!(report["validators"], 0, "{report}");
    assert!(beacon
        .requests
        .lock()
        .unwrap()
        .iter()
        .any(|r| r == "/eth/v1/beacon/genesis"));
    // Without the key the provider refuses (401), and the error shows no secret.
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_signer-agent"))
        .arg("--config")
        .arg(&cfg)
        .args(["plan"])
        .env_remove("TEST_RPC_KEY")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("rpc.api_key_env"), "{}", stderr(&o));
}

#[test]
fn a_wrong_host_name_and_plain_http_to_a_remote_host_are_refused() {
    let w = World::new(1, "");
    let pki = TestPki::new("signer-agent test CA 3");
    // A certificate for another name, from the trusted CA.
    let rpc = RpcProxy::start(w.anvil.url(), ProxyOptions::default());
    let proxy = TlsProxy::start(pki.server_config(&["rpc.other.example"]), rpc.addr);
    std::fs::write(w.dir.path().join("ca.pem"), &pki.ca_pem).unwrap();
    let cfg = config(
        &w,
        "wrong-name.toml",
        &format!("https://localhost:{}", proxy.port),
        "[tls]\nca_file = \"ca.pem\"\n",
    );
    assert!(
        matches!(
            first_call(&cfg),
            Err(Error::Tls {
                failure: TlsFailure::WrongHostName,
                ..
            })
        ),
        "{:?}",
        first_call(&cfg)
    );
    let o = agent(&cfg, &["plan"]);
    assert_eq!(o.status.code(), Some(4), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("not valid for this host name"),
        "{}",
        stderr(&o)
    );
    assert!(
        proxy
            .failed_handshakes
            .load(std::sync::atomic::Ordering::Relaxed)
            > 0
    );

    // Plain http:// to a host that is not loopback: refused before any connection.
    let remote = config(&w, "remote.toml", "http://192.0.2.10:8545", "");
    match Config::resolve(Some(&remote), &Overrides::default()) {
        Err(Error::InsecureEndpoint { field, url }) => {
            assert_eq!(field, "rpc_url");
            assert_eq!(url, "http://192.0.2.10:8545");
        }
        other => panic!("expected InsecureEndpoint, got {other:?}"),
    }
    let o = agent(&remote, &["plan"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("plain http:// to a host that is not loopback"),
        "{}",
        stderr(&o)
    );
    // … unless allowed explicitly.
    let allowed = config(
        &w,
        "allowed.toml",
        "http://192.0.2.10:8545",
        "[tls]\nallow_insecure_http = true\n",
    );
    Config::resolve(Some(&allowed), &Overrides::default()).unwrap();
    // The same for the Beacon API.
    let o = agent(
        &w.config,
        &["--beacon-url", "http://192.0.2.11:5052", "plan"],
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("beacon_url"), "{}", stderr(&o));
}
