//! The daemon (`run` without `--once`): stakes as ETH arrives, serves `/health` and `/metrics`
//! on loopback, and stops cleanly (exit 0, endpoint closed) on SIGTERM.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::e2e::World;

/// `GET path` on loopback: (status code, body), or None when nothing listens.
pub fn get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let code = text.split_whitespace().nth(1)?.parse().ok()?;
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string())?;
    Some((code, body))
}

pub fn wait_for(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("timed out waiting for {what}");
}

#[test]
fn daemon_serves_health_and_metrics_and_stops_cleanly_on_sigterm() {
    let w = World::new(4, "");
    w.approve(&w.bundle);
    crate::e2e::ok(&w.agent(&["import", w.bundle.to_str().unwrap()], &[]));
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let log = w.dir.path().join("daemon.log");
    let mut child = Command::new(env!("CARGO_BIN_EXE_signer-agent"))
        .arg("--config")
        .arg(&w.config)
        .args(["--metrics-addr", &format!("127.0.0.1:{port}"), "run"])
        .env_remove("SIGNER_AGENT_PIN")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();

    wait_for(
        "/health to answer 200",
        Duration::from_secs(30),
        || matches!(get(port, "/health"), Some((200, ref b)) if b.starts_with("ok")),
    );
    // Nothing to stake yet: the daemon waits; the ETH arrives; it stakes all 4.
    assert_eq!(w.deposited_validators(), 0);
    w.user_deposit(128);
    wait_for("4 validators staked", Duration::from_secs(60), || {
        w.deposited_validators() == 4
    });
    let mut metrics = String::new();
    wait_for("the metrics to show them", Duration::from_secs(30), || {
        metrics = get(port, "/metrics").map(|(_, b)| b).unwrap_or_default();
        metrics.contains("signer_agent_validators{status=\"confirmed\"} 4")
    });
    for line in [
        "signer_agent_validators_staked_total 4",
        "signer_agent_stake_transactions_total 1",
        "signer_agent_rpc_errors_total 0",
        "# TYPE signer_agent_loop_iterations_total counter",
    ] {
        assert!(metrics.contains(line), "missing {line:?} in:\n{metrics}");
    }
    assert_eq!(get(port, "/nope").map(|r| r.0), Some(404));

    let t = Instant::now();
    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            t.elapsed() < Duration::from_secs(15),
            "the daemon did not stop within 15 s of SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let stderr = std::fs::read_to_string(&log).unwrap();
    assert_eq!(status.code(), Some(0), "exit status; stderr:\n{stderr}");
    assert!(stderr.contains("stopping on signal"), "{stderr}");
    assert!(get(port, "/health").is_none(), "the endpoint is closed");
    assert_eq!(w.deposit_events().len(), 4);
}
