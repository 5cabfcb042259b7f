//! Two agents, one truth: two daemon processes (same configuration, two instance names) on one
//! PostgreSQL server and one anvil. Exactly one leads and signs; when it dies at any of the
//! staking crash points (or is SIGKILLed) the standby takes over within the lease timeout and
//! every validator is staked exactly once; the daily cap holds across takeovers; an oracle
//! report is signed only by the leader's host, once per frame.
//!
//! The state store and the lease are on PostgreSQL; the two processes share the test's state
//! directory for the event-query cache only (one host).

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use kc_test_utils::beacon::BeaconFixture;
use kc_test_utils::postgres::Postgres;

use crate::daemon::{get, wait_for};
use crate::e2e::{assert_chain_matches_bundle, ok, World};

/// `lease_timeout_secs` of the tests: the shortest the agent accepts.
const LEASE_SECS: u64 = 3;

/// One daemon process.
struct Agent {
    name: String,
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Agent {
    fn start(w: &World, config: &Path, name: &str, crash_at: Option<&str>) -> Agent {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let log = w
            .dir
            .path()
            .join(format!("{name}-{}.log", crash_at.unwrap_or("plain")));
        let mut c = Command::new(env!("CARGO_BIN_EXE_signer-agent"));
        c.arg("--config")
            .arg(config)
            .args(["--metrics-addr", &format!("127.0.0.1:{port}"), "run"])
            .env_remove("SIGNER_AGENT_PIN")
            .env_remove("SIGNER_AGENT_CRASH_AT")
            .env("SIGNER_AGENT_INSTANCE", name)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap());
        if let Some(p) = crash_at {
            c.env("SIGNER_AGENT_CRASH_AT", p);
        }
        Agent {
            name: name.into(),
            child: c.spawn().unwrap(),
            port,
            log,
        }
    }

    /// The `role:` line of `/health` (None: not answering).
    fn role(&self) -> Option<String> {
        let (_, body) = get(self.port, "/health")?;
        body.lines()
            .find_map(|l| l.strip_prefix("role: "))
            .map(str::to_owned)
    }

    fn health(&self) -> String {
        get(self.port, "/health").map(|r| r.1).unwrap_or_default()
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits for the process to exit; its code.
    fn exit_code(&mut self, within: Duration) -> Option<i32> {
        let t = Instant::now();
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s.code();
            }
            assert!(
                t.elapsed() < within,
                "agent {} still running after {within:?}; stderr:\n{}",
                self.name,
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn signal(&self, sig: &str) {
        let s = Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(s.success());
    }

    /// Signatures this agent made: the policy signer logs each one.
    fn signatures(&self) -> usize {
        self.stderr()
            .matches("policy allowed and the key signed a transaction")
            .count()
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The world's configuration with `top` first (its own `state_url`), written to `name`: a
/// `state_url` the world's configuration has (the suite's PostgreSQL pass) is left out, so
/// that these tests run on their own server in both passes.
fn config_on(w: &World, name: &str, top: &str, tables: &str) -> PathBuf {
    let p = w.config_with(name, top, tables);
    let text = std::fs::read_to_string(&p).unwrap();
    let mut seen = false;
    let kept: Vec<&str> = text
        .lines()
        .filter(|l| {
            if !l.starts_with("state_url") {
                return true;
            }
            let first = !seen;
            seen = true;
            first
        })
        .collect();
    std::fs::write(&p, kept.join("\n") + "\n").unwrap();
    p
}

/// The world with a PostgreSQL-shared configuration: `(world, server, config)`.
fn world(n: u32, run_and_tables: &str) -> (World, Postgres, PathBuf) {
    let w = World::new(n, run_and_tables);
    let server = Postgres::start();
    let url = server.create_database("agents");
    let config = config_on(
        &w,
        "pg.toml",
        &format!("state_url = \"{url}\"\nlease_timeout_secs = {LEASE_SECS}\n"),
        "",
    );
    (w, server, config)
}

/// A standby's log shows no signature before it took the lease.
fn signed_only_as_leader(a: &Agent) {
    let log = a.stderr();
    let took = log.find("took the lease").unwrap_or(log.len());
    assert!(
        !log[..took].contains("policy allowed and the key signed"),
        "agent {} signed before it led:\n{log}",
        a.name
    );
}

#[test]
fn two_agents_one_signs_and_the_standby_takes_over_at_every_crash_point() {
    // Seven validators, one per transaction, at most six a day: the seventh waits for
    // tomorrow whoever leads.
    let (w, _pg, config) = world(
        7,
        "max_validators_per_tx = 1\n\n[policy]\nmax_validators_per_day = 6",
    );
    w.approve(&w.bundle);
    ok(&w.agent_with(&config, &["import", w.bundle.to_str().unwrap()]));

    // Each round: agents started one after another, each while the previous one leads (so the
    // first leads and the others stand by); the ETH of one validator arrives; the leader dies
    // at its crash point, the next takes over, and the last (no crash point) ends the round
    // with the validator staked. after-send then during-reconcile: the second leader dies
    // settling what the first sent.
    let rounds: [&[&str]; 5] = [
        &["before-send"],
        &["after-send", "during-reconcile"],
        &["after-receipt"],
        &["after-confirm"],
        &["before-record"],
    ];
    let mut takeovers = Vec::new();
    for (i, points) in rounds.iter().enumerate() {
        let mut crashing: Vec<Agent> = Vec::new();
        for (k, p) in points.iter().enumerate() {
            let a = Agent::start(&w, &config, &format!("r{i}a{k}"), Some(p));
            if k == 0 {
                wait_for("the first agent to lead", Duration::from_secs(30), || {
                    a.role().as_deref() == Some("leader")
                });
            } else {
                wait_for(
                    "the next agent to stand by",
                    Duration::from_secs(30),
                    || a.role().as_deref() == Some("standby"),
                );
            }
            crashing.push(a);
        }
        // With one crash point, the last agent stands by before the ETH arrives; after a
        // chain of crashing leaders it comes up once they are gone (else it could win the
        // lease before the next crashing one).
        let standing = points.len() == 1;
        let start_last = || Agent::start(&w, &config, &format!("r{i}z"), None);
        let mut last = None;
        if standing {
            let z = start_last();
            wait_for(
                "the last agent to stand by",
                Duration::from_secs(30),
                || z.role().as_deref() == Some("standby"),
            );
            assert!(
                z.health()
                    .contains(&format!("holder: {}", crashing[0].name)),
                "{}",
                z.health()
            );
            last = Some(z);
        }
        w.user_deposit(32);
        for a in crashing.iter_mut() {
            let code = a.exit_code(Duration::from_secs(60));
            assert_eq!(code, Some(86), "agent {}:\n{}", a.name, a.stderr());
        }
        let died = Instant::now();
        let mut last = last.unwrap_or_else(start_last);
        wait_for(
            "the last agent to take over",
            Duration::from_secs(4 * LEASE_SECS),
            || last.role().as_deref() == Some("leader"),
        );
        if standing {
            takeovers.push(died.elapsed());
        }
        wait_for(
            &format!("validator {} staked", i + 1),
            Duration::from_secs(60),
            || w.deposited_validators() == i as u64 + 1,
        );
        for a in crashing.iter().chain([&last]) {
            signed_only_as_leader(a);
        }
        // A clean stop releases the lease: the next round's first agent leads at once.
        last.signal("-TERM");
        assert_eq!(
            last.exit_code(Duration::from_secs(15)),
            Some(0),
            "{}",
            last.stderr()
        );
    }

    // The sixth: the leader is SIGKILLed while idle; the standby takes over within the lease
    // timeout (plus one look) and stakes.
    let a = Agent::start(&w, &config, "kill-a", None);
    wait_for("a to lead", Duration::from_secs(30), || {
        a.role().as_deref() == Some("leader")
    });
    let b = Agent::start(&w, &config, "kill-b", None);
    wait_for("b to stand by", Duration::from_secs(30), || {
        b.role().as_deref() == Some("standby")
    });
    // status and doctor show both instances and the holder.
    let status: serde_json::Value =
        serde_json::from_str(&ok(&w.agent_with(&config, &["status", "--json"]))).unwrap();
    assert_eq!(status["lease"]["lease"]["holder"], "kill-a", "{status}");
    let names: Vec<&str> = status["lease"]["instances"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["kill-a", "kill-b"], "{status}");
    let text = ok(&w.agent_with(&config, &["status"]));
    assert!(text.contains("held by kill-a"), "{text}");
    assert!(text.contains("instance kill-b: standby"), "{text}");
    let doctor = w.agent_with(&config, &["doctor", "--json"]);
    let d: serde_json::Value = serde_json::from_slice(&doctor.stdout).unwrap();
    let lease = d["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"] == "lease")
        .unwrap_or_else(|| panic!("no lease item: {d}"));
    assert_eq!(lease["level"], "ok", "{lease}");
    assert!(
        lease["detail"].as_str().unwrap().contains("held by kill-a"),
        "{lease}"
    );

    a.signal("-KILL");
    let killed = Instant::now();
    wait_for(
        "b to take over",
        Duration::from_secs(4 * LEASE_SECS),
        || b.role().as_deref() == Some("leader"),
    );
    takeovers.push(killed.elapsed());
    w.user_deposit(32);
    wait_for("validator 6 staked", Duration::from_secs(60), || {
        w.deposited_validators() == 6
    });
    signed_only_as_leader(&b);
    assert_eq!(a.signatures() + b.signatures(), 1);

    // The seventh: the cap of six a day, counted over every instance's signatures, holds it
    // back (the planner waits for tomorrow).
    w.user_deposit(32);
    wait_for(
        "the daily cap to hold the seventh",
        Duration::from_secs(30),
        || {
            b.stderr()
                .contains("daily validator cap reached: 6 staked today (UTC), the policy allows 6")
        },
    );
    let metrics = get(b.port, "/metrics").map(|r| r.1).unwrap_or_default();
    assert!(metrics.contains("signer_agent_leader 1\n"), "{metrics}");
    assert_eq!(w.deposited_validators(), 6);
    // Each validator staked exactly once: one DepositEvent each, matching the bundle.
    let events = w.deposit_events();
    assert_eq!(events.len(), 6);
    let mut keys: Vec<_> = events.iter().map(|e| e.pubkey.clone()).collect();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), 6, "a key was deposited twice");

    // The takeovers: within the lease timeout of the leader's last renewal, plus one look
    // (a third of it) and the start of the next pass.
    for t in &takeovers {
        assert!(
            *t <= Duration::from_secs(LEASE_SECS * 2),
            "takeover took {t:?}: {takeovers:?}"
        );
    }
    eprintln!("takeover times: {takeovers:?}");

    // An oracle report is signed only on the leader's host (instance kill-b), once a frame.
    let dd: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(w.bundle.join("deposit_data.json")).unwrap())
            .unwrap();
    let mut beacon = BTreeMap::new();
    for d in dd.as_array().unwrap() {
        beacon.insert(
            format!("0x{}", d["pubkey"].as_str().unwrap()),
            (32_010_000_000u64, "active_ongoing"),
        );
    }
    let fixture = BeaconFixture::start(beacon);
    w.pool().warp_to_frame_after(7 * 86_400);
    let report = |instance: &str| {
        Command::new(env!("CARGO_BIN_EXE_signer-agent"))
            .arg("--config")
            .arg(&config)
            .args(["--beacon-url", fixture.url.as_str()])
            .args(["oracle", "report", "--state", "head"])
            .env_remove("SIGNER_AGENT_PIN")
            .env("SIGNER_AGENT_INSTANCE", instance)
            .output()
            .unwrap()
    };
    let standby = report("kill-a");
    assert_eq!(
        standby.status.code(),
        Some(6),
        "the standby's host signs nothing: {}",
        String::from_utf8_lossy(&standby.stderr)
    );
    assert!(String::from_utf8_lossy(&standby.stderr).contains("no longer held"));
    let s: serde_json::Value = serde_json::from_str(&ok(&report("kill-b"))).unwrap();
    assert!(s["tx"].as_str().unwrap().starts_with("0x"), "{s}");
    let again = report("kill-b");
    let again_err = String::from_utf8_lossy(&again.stderr);
    assert_eq!(again.status.code(), Some(5), "{again_err}");
    // (The agent is the only member here: its report completed the frame.)
    assert!(again_err.contains("FrameAlreadyCompleted"), "{again_err}");
}

/// A leader cut from PostgreSQL (its backend terminated) while it keeps running: it steps down
/// before its lease runs out, signs nothing more, and stands by behind the new leader.
#[test]
fn a_leader_cut_from_postgres_signs_nothing_more() {
    let (w, pg, config) = world(2, "max_validators_per_tx = 1");
    w.approve(&w.bundle);
    ok(&w.agent_with(&config, &["import", w.bundle.to_str().unwrap()]));
    let mut a = Agent::start(&w, &config, "cut-a", None);
    wait_for("a to lead", Duration::from_secs(30), || {
        a.role().as_deref() == Some("leader")
    });
    let b = Agent::start(&w, &config, "cut-b", None);
    wait_for("b to stand by", Duration::from_secs(30), || {
        b.role().as_deref() == Some("standby")
    });
    w.user_deposit(32);
    wait_for("a stakes the first", Duration::from_secs(60), || {
        w.deposited_validators() == 1
    });
    let signed_by_a = a.signatures();
    assert_eq!(signed_by_a, 1);

    // Cut a's lease connection on the server; a keeps running.
    let cut: i64 = w.rt().block_on(async {
        let (client, conn) = tokio_postgres::connect(&pg.url("agents"), tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(conn);
        client
            .query_one(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = 'signer-agent/cut-a'",
                &[],
            )
            .await
            .unwrap()
            .get(0)
    });
    assert_eq!(cut, 1);
    let t = Instant::now();
    wait_for("a to step down", Duration::from_secs(LEASE_SECS), || {
        a.role().as_deref() == Some("standby")
    });
    let stepped_down = t.elapsed();
    wait_for(
        "b to take over",
        Duration::from_secs(4 * LEASE_SECS),
        || b.role().as_deref() == Some("leader"),
    );
    assert!(a.child.try_wait().unwrap().is_none(), "a keeps running");
    w.user_deposit(32);
    wait_for("b stakes the second", Duration::from_secs(60), || {
        w.deposited_validators() == 2
    });
    assert_eq!(a.signatures(), signed_by_a, "a signed after its cut");
    assert!(a.stderr().contains("lost the lease"), "{}", a.stderr());
    wait_for(
        "a to see b holding",
        Duration::from_secs(4 * LEASE_SECS),
        || a.health().contains("holder: cut-b"),
    );
    assert_chain_matches_bundle(&w, &w.bundle, 2);
    eprintln!("stepped down {stepped_down:?} after the cut");
}

/// The state store over TLS: the server's certificate is verified against `[tls] ca_file` and
/// the URL's host name; a server whose certificate another CA signed is refused.
#[test]
fn the_state_store_is_reached_over_verified_tls() {
    let w = World::new(1, "");
    let pg = Postgres::start();
    pg.create_database("agents");
    let pki = crate::proxy::TestPki::new("kc test pg ca");
    let (cert, key) = pki.server_pem(&["localhost"]);
    let (crt_path, key_path) = (pg.dir().join("server.crt"), pg.dir().join("server.key"));
    std::fs::write(&crt_path, cert).unwrap();
    std::fs::write(&key_path, key).unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&key_path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    // The server runs as `postgres` when the tests run as root: its key must be its own.
    let root = Command::new("id").arg("-u").output().unwrap().stdout == b"0\n";
    if root {
        let s = Command::new("chown")
            .arg("postgres:postgres")
            .args([&crt_path, &key_path])
            .status()
            .unwrap();
        assert!(s.success());
    }
    w.rt().block_on(async {
        let (client, conn) = tokio_postgres::connect(&pg.url("agents"), tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(conn);
        for sql in [
            format!("ALTER SYSTEM SET ssl_cert_file = '{}'", crt_path.display()),
            format!("ALTER SYSTEM SET ssl_key_file = '{}'", key_path.display()),
            "ALTER SYSTEM SET ssl = on".to_string(),
            "SELECT pg_reload_conf()".to_string(),
        ] {
            client.simple_query(&sql).await.unwrap();
        }
    });
    std::thread::sleep(Duration::from_millis(500));
    let ca = w.dir.path().join("pg-ca.pem");
    std::fs::write(&ca, &pki.ca_pem).unwrap();
    let other = crate::proxy::TestPki::new("another ca");
    let other_ca = w.dir.path().join("other-ca.pem");
    std::fs::write(&other_ca, &other.ca_pem).unwrap();
    let url = format!(
        "postgres://kc@localhost:{}/agents?sslmode=require",
        pg.port()
    );
    let open = |ca: &Path| {
        let config = config_on(
            &w,
            "pg-tls.toml",
            &format!("state_url = \"{url}\"\ninstance = \"tls-a\"\n"),
            &format!("[tls]\nroots = \"none\"\nca_file = \"{}\"\n", ca.display()),
        );
        let cfg =
            signer_agent::config::Config::resolve(Some(&config), &Default::default()).unwrap();
        // The state store's own connection: over the same verified TLS.
        signer_agent::store::Store::open_location(&cfg.state_location().unwrap())?;
        let s = cfg.postgres().unwrap().clone();
        w.rt().block_on(async move {
            let store =
                signer_agent::store::pg_lease::LeaseConn::open(&s, "signer-agent/tls-a").await?;
            let ssl: bool = store
                .client()
                .query_one(
                    "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
                    &[],
                )
                .await
                .unwrap()
                .get(0);
            Ok::<bool, signer_agent::Error>(ssl)
        })
    };
    assert!(open(&ca).unwrap(), "the connection is encrypted");
    let refused = open(&other_ca).unwrap_err();
    assert!(
        matches!(&refused, signer_agent::Error::Postgres { action, .. } if action == "connect"),
        "{refused}"
    );
}
