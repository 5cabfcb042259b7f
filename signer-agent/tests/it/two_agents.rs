//! Two agents, one truth: two daemon processes (same configuration, two instance names) on one
//! PostgreSQL server and one anvil. Exactly one leads and signs; when it dies at any of the
//! staking crash points (or is SIGKILLed) the standby takes over within the lease timeout and
//! every validator is staked exactly once; the daily cap holds across takeovers; an oracle
//! report is signed only by the leader's host, once per frame. Killed at each maintenance crash
//! point, a cluster top-up is still made exactly once and the daily top-up cap holds. Killed
//! before broadcasting the replacement of a stake stuck in a busy mempool, the standby follows
//! the nonce and the stake is mined once.
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
    let (server, config) = shared(&w);
    (w, server, config)
}

/// A PostgreSQL server and `w`'s configuration on it (`pg.toml`): `(server, config)`.
fn shared(w: &World) -> (Postgres, PathBuf) {
    let server = Postgres::start();
    let url = server.create_database("agents");
    let config = config_on(w, "pg.toml", &pg_top(&url), "");
    (server, config)
}

/// The top lines that put the state store and the lease on `url`.
fn pg_top(url: &str) -> String {
    format!("state_url = \"{url}\"\nlease_timeout_secs = {LEASE_SECS}\n")
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

/// The maintenance duties on two agents: the leader dies at each of the maintenance crash
/// points (before the record, before the broadcast, after the receipt; after the broadcast
/// with the standby waiting), the next one takes over, and each intended top-up is made exactly
/// once (one `ClusterDeposited` each); the daily top-up cap counts the earlier leaders' top-ups
/// after a SIGKILL takeover; no agent signs before it holds the lease.
#[test]
fn two_agents_top_up_once_when_the_leader_dies_at_every_maintenance_crash_point() {
    use crate::maintenance::{mine, runway_days_on, ssv_logs, ILiquidate};
    use alloy::sol_types::SolEvent;

    let (w, _beacon) = crate::maintenance::world(
        2,
        "",
        "min_runway_days = 13.9\ntarget_runway_days = 20\nalert_runway_days = 5",
        "",
    );
    let (pg, config) = shared(&w);
    // Each round's thresholds (and the third one's daily cap) in a configuration of its own:
    // the round's agents start on it.
    let round_config = |name: &str, min: f64, target: f64, day_cap_gwei: Option<u128>| {
        let p = config_on(&w, name, &pg_top(&pg.url("agents")), "");
        let mut text = std::fs::read_to_string(&p).unwrap().replace(
            "min_runway_days = 13.9\ntarget_runway_days = 20\n",
            &format!("min_runway_days = {min:.2}\ntarget_runway_days = {target:.2}\n"),
        );
        assert!(
            text.contains(&format!("min_runway_days = {min:.2}\n")),
            "{text}"
        );
        if let Some(cap) = day_cap_gwei {
            text = text.replacen(
                "[policy]\n",
                &format!("[policy]\nmax_topup_per_day_gwei = {cap}\n"),
                1,
            );
        }
        std::fs::write(&p, text).unwrap();
        p
    };
    let deposits = || -> Vec<u128> {
        ssv_logs(&w, ILiquidate::ClusterDeposited::SIGNATURE_HASH)
            .iter()
            .map(|l| {
                ILiquidate::ClusterDeposited::decode_log_data(l.data())
                    .unwrap()
                    .value
                    .to::<u128>()
            })
            .collect()
    };
    // Makes a top-up due: 1,000 blocks take ≈ 0.12 days of runway, more than the 0.05 (or
    // 0.1 in the first round) between the runway and the threshold. (The leader tops up at
    // once: the runway is not looked at again here.)
    let make_due = || mine(&w, 1000);

    w.approve(&w.bundle);
    ok(&w.agent_with(&config, &["import", w.bundle.to_str().unwrap()]));
    w.user_deposit(64);
    ok(&w.agent_with(&config, &["run", "--once"]));
    assert_eq!(w.deposited_validators(), 2);
    assert!(deposits().is_empty(), "no top-up above the threshold");
    // ETH for the top-ups beyond the staking's margin.
    w.user_deposit(1);

    // Round 1: a chain of leaders, each dying at its point while the top-up goes on: before
    // the record (signed, nothing kept), before the broadcast (kept, never sent: dropped at
    // the takeover), after the receipt (mined, not applied); the last settles it.
    let c1 = round_config("maint-r1.toml", 13.9, 20.0, None);
    let points = [
        "maint-before-record",
        "maint-before-send",
        "maint-after-receipt",
    ];
    let mut agents: Vec<Agent> = Vec::new();
    for (k, p) in points.iter().enumerate() {
        let a = Agent::start(&w, &c1, &format!("m1a{k}"), Some(p));
        if k == 0 {
            wait_for("the first agent to lead", Duration::from_secs(30), || {
                a.role().as_deref() == Some("leader")
            });
            assert_eq!(a.signatures(), 0);
            make_due();
        }
        agents.push(a);
        let a = agents.last_mut().unwrap();
        assert_eq!(
            a.exit_code(Duration::from_secs(60)),
            Some(86),
            "agent {} at {p}:\n{}",
            a.name,
            a.stderr()
        );
        assert_eq!(a.signatures(), 1, "{}", a.stderr());
    }
    let mut z = Agent::start(&w, &c1, "m1z", None);
    wait_for(
        "the last agent to lead",
        Duration::from_secs(4 * LEASE_SECS),
        || z.role().as_deref() == Some("leader"),
    );
    // A few passes of the new leader (one a second).
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(deposits().len(), 1, "exactly one top-up");
    let days = runway_days_on(&w, &c1);
    assert!(
        days > 19.5 && days < 20.5,
        "topped up to the target: {days}"
    );
    assert_eq!(z.signatures(), 0, "the settling leader sent nothing more");
    for a in agents.iter().chain([&z]) {
        signed_only_as_leader(a);
    }
    z.signal("-TERM");
    assert_eq!(
        z.exit_code(Duration::from_secs(15)),
        Some(0),
        "{}",
        z.stderr()
    );

    // Round 2: the leader dies after the broadcast with a standby waiting; the standby takes
    // over, finds the top-up on chain and sends no second one.
    // The thresholds just under the runway now: a little mining makes a top-up due.
    let r2 = runway_days_on(&w, &c1) - 0.05;
    let c2 = round_config("maint-r2.toml", r2, r2 + 2.0, None);
    let mut a = Agent::start(&w, &c2, "m2a", Some("maint-after-send"));
    wait_for("a to lead", Duration::from_secs(30), || {
        a.role().as_deref() == Some("leader")
    });
    let mut b = Agent::start(&w, &c2, "m2b", None);
    wait_for("b to stand by", Duration::from_secs(30), || {
        b.role().as_deref() == Some("standby")
    });
    make_due();
    assert_eq!(
        a.exit_code(Duration::from_secs(60)),
        Some(86),
        "{}",
        a.stderr()
    );
    let died = Instant::now();
    wait_for(
        "b to take over",
        Duration::from_secs(4 * LEASE_SECS),
        || b.role().as_deref() == Some("leader"),
    );
    let takeover = died.elapsed();
    wait_for("the second top-up mined", Duration::from_secs(60), || {
        deposits().len() == 2
    });
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(deposits().len(), 2, "exactly one more top-up");
    let days = runway_days_on(&w, &c2);
    assert!(
        days > r2 + 1.5 && days < r2 + 2.5,
        "topped up to the target: {days}"
    );
    assert_eq!(a.signatures(), 1);
    assert_eq!(b.signatures(), 0, "{}", b.stderr());
    signed_only_as_leader(&b);
    b.signal("-TERM");
    assert_eq!(
        b.exit_code(Duration::from_secs(15)),
        Some(0),
        "{}",
        b.stderr()
    );

    // Round 3: the day's cap is what the two top-ups used; the third (a smaller one, within the
    // cap alone) is refused by the leader and, after its SIGKILL, by the standby.
    let so_far: u128 = deposits().iter().sum();
    let r3 = runway_days_on(&w, &c2) - 0.05;
    let c3 = round_config(
        "maint-r3.toml",
        r3,
        r3 + 1.0,
        Some(so_far.div_ceil(1_000_000_000)),
    );
    let a = Agent::start(&w, &c3, "m3a", None);
    wait_for("a to lead", Duration::from_secs(30), || {
        a.role().as_deref() == Some("leader")
    });
    let b = Agent::start(&w, &c3, "m3b", None);
    wait_for("b to stand by", Duration::from_secs(30), || {
        b.role().as_deref() == Some("standby")
    });
    make_due();
    let capped = "daily top-up / SSV fee cap reached";
    wait_for("a to hold the third", Duration::from_secs(30), || {
        a.stderr().contains(capped)
    });
    a.signal("-KILL");
    wait_for(
        "b to take over",
        Duration::from_secs(4 * LEASE_SECS),
        || b.role().as_deref() == Some("leader"),
    );
    wait_for("b to hold the third", Duration::from_secs(30), || {
        b.stderr().contains(capped)
    });
    let amounts = deposits();
    assert_eq!(amounts.len(), 2, "the cap held across the takeover");
    assert_eq!(a.signatures() + b.signatures(), 0);
    // The third alone would have fitted a cap that a takeover reset.
    assert!(runway_days_on(&w, &c3) < r3, "still due, not topped up");
    eprintln!("top-ups: {amounts:?} wei; takeover after maint-after-send: {takeover:?}");
    assert!(
        takeover <= Duration::from_secs(LEASE_SECS * 2),
        "{takeover:?}"
    );
}

/// A stuck stake on two agents: in a busy mempool the leader's stake is outbid, not mined; the
/// leader records a replacement and dies before broadcasting it (`before-replace-send`); the
/// standby takes over, follows the nonce from the shared store (both versions known), replaces
/// it in turn and each validator is staked exactly once: one DepositEvent per key, one mined
/// transaction for the nonce, and no signature by the standby before it held the lease.
#[test]
fn two_agents_stake_once_when_the_leader_dies_before_a_replacement_is_sent() {
    use crate::mempool::{
        automine, busy_chain, first_pending, mine, outbid_block, outbid_until_exit, pending,
        receipt,
    };

    let (w, _pg, config) = world(2, "\n[gas]\nreplace_after_blocks = 2");
    w.approve(&w.bundle);
    ok(&w.agent_with(&config, &["import", w.bundle.to_str().unwrap()]));
    w.user_deposit(64);
    busy_chain(&w);

    let mut a = Agent::start(&w, &config, "stuck-a", Some("before-replace-send"));
    wait_for("a to lead", Duration::from_secs(30), || {
        a.role().as_deref() == Some("leader")
    });
    let b = Agent::start(&w, &config, "stuck-b", None);
    wait_for("b to stand by", Duration::from_secs(30), || {
        b.role().as_deref() == Some("standby")
    });
    let original = first_pending(&w, w.agent, &mut a.child, &a.log);
    let o = outbid_until_exit(&w, &mut a.child, &a.log, &original);
    assert_eq!(o.exit.code(), Some(86), "{}", a.stderr());
    assert_eq!(
        o.replaced_after, None,
        "nothing was broadcast but the original"
    );
    let died = Instant::now();
    let cfg = signer_agent::config::Config::resolve(Some(&config), &Default::default()).unwrap();
    let versions = || {
        let store =
            signer_agent::store::Store::open_location(&cfg.state_location().unwrap()).unwrap();
        signer_agent::replace::versions(&store, w.agent, original.nonce).unwrap()
    };
    let recorded = versions();
    assert_eq!(recorded.len(), 2, "{recorded:#?}");
    assert_eq!(recorded[0].hash, original.hash);

    // Still outbid: the standby takes over and broadcasts a replacement of its own.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut takeover = None;
    loop {
        if takeover.is_none() && b.role().as_deref() == Some("leader") {
            takeover = Some(died.elapsed());
        }
        if takeover.is_some() && pending(&w, w.agent).iter().any(|t| t.hash != original.hash) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no replacement after the takeover: {}",
            b.stderr()
        );
        assert!(receipt(&w, original.hash).is_none());
        outbid_block(&w, &original);
        std::thread::sleep(Duration::from_millis(500));
    }
    // The competition stops: the replacement is mined.
    wait_for("both validators staked", Duration::from_secs(60), || {
        mine(&w);
        w.deposited_validators() == 2
    });
    automine(&w, true);
    let takeover = takeover.unwrap();

    assert_chain_matches_bundle(&w, &w.bundle, 2);
    let events = w.deposit_events();
    let mut keys: Vec<_> = events.iter().map(|e| e.pubkey.clone()).collect();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), events.len(), "a key was deposited twice");
    // One mined transaction for the nonce, among every version either agent signed.
    let all = versions();
    assert!(all.len() >= 3, "{all:#?}");
    let mined: Vec<_> = all
        .iter()
        .filter(|r| receipt(&w, r.hash).is_some())
        .collect();
    assert_eq!(mined.len(), 1, "{all:#?}");
    assert_ne!(mined[0].hash, original.hash);
    assert!(b.signatures() >= 1, "{}", b.stderr());
    signed_only_as_leader(&a);
    signed_only_as_leader(&b);
    assert!(
        takeover <= Duration::from_secs(LEASE_SECS * 2),
        "takeover took {takeover:?}"
    );
    eprintln!(
        "takeover after before-replace-send: {takeover:?}; {} versions of nonce {}",
        all.len(),
        original.nonce
    );
}
