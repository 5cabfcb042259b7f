//! End to end through a real terminal: the `ceremony` binary runs in tmux against SoftHSM (set
//! up with the repository's own `hsm-config/softhsm-setup.sh` and `ceremony hsm init`), the
//! whole wizard is driven with `tmux send-keys`, every screen is read with `capture-pane` and
//! goes through the secret canary, and `ceremony verify` checks the result.
//!
//! tmux, SoftHSM and openssl come from `make tools`; without them these tests fail, never skip.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use kc_validator::address::Address;
use kc_validator::mnemonic::Mnemonic;
use rand_core::RngCore;
use sha2::{Digest, Sha256};

const BIN: &str = env!("CARGO_BIN_EXE_ceremony");
const ID: &str = "tmux-2026-11-batch-01";
const PIN: &str = "tmux-user-pin-3309";
const SO_PIN: &str = "tmux-so-pin-8841";
/// A published BIP-39 test vector (entropy 0x80 × 32): worthless, with distinct words.
const PHRASE: &str = "letter advice cage absurd amount doctor acoustic avoid letter advice \
    cage absurd amount doctor acoustic avoid letter advice cage absurd amount doctor acoustic bless";

fn require(tool: &str) {
    let ok = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "{tool} not found: run make tools (this test is not skipped)"
    );
}

fn module_path() -> PathBuf {
    let p = PathBuf::from(
        std::env::var("KC_PKCS11_MODULE")
            .unwrap_or_else(|_| "/usr/lib/softhsm/libsofthsm2.so".into()),
    );
    assert!(
        p.is_file(),
        "PKCS#11 module {} not found: run make tools (this test is not skipped)",
        p.display()
    );
    p
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn ok(out: Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A workspace: a private SoftHSM token with the ceremony keys, four fresh operator keys, and
/// a plan whose master secret comes from a known test mnemonic.
struct Workspace {
    dir: tempfile::TempDir,
    conf: String,
    /// The identity public key `hsm init` printed (hex): what an auditor pins.
    identity: String,
}

impl Workspace {
    fn new() -> Self {
        for t in ["tmux", "softhsm2-util", "openssl"] {
            require(t);
        }
        let module = module_path();
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path();
        let exports = ok(
            Command::new(repo().join("hsm-config/softhsm-setup.sh"))
                .arg(p.join("softhsm"))
                .env("KC_HSM_LABEL", "tmux")
                .env("KC_HSM_USER_PIN", PIN)
                .env("KC_HSM_SO_PIN", SO_PIN)
                .env("KC_PKCS11_MODULE", &module)
                .output()
                .unwrap(),
            "softhsm-setup.sh",
        );
        let conf = exports
            .lines()
            .find_map(|l| l.strip_prefix("export SOFTHSM2_CONF="))
            .expect("softhsm-setup.sh prints SOFTHSM2_CONF")
            .trim_matches('\'')
            .to_owned();
        std::fs::write(p.join("pin"), format!("{PIN}\n")).unwrap();
        let init = ok(
            Command::new(BIN)
                .args(["hsm", "init", "--token", "tmux", "--module"])
                .arg(&module)
                .arg("--pin-file")
                .arg(p.join("pin"))
                .env("SOFTHSM2_CONF", &conf)
                .output()
                .unwrap(),
            "ceremony hsm init",
        );
        let identity = init
            .lines()
            .find_map(|l| l.strip_prefix("identity public key"))
            .expect("hsm init prints the identity public key")
            .trim()
            .to_owned();
        // Operators: RSA-2048 keys as the SSV network publishes them (base64 of a PEM labelled
        // RSA PUBLIC KEY with an SPKI body), as scripts/deploy-devnet.sh encodes them.
        let ids = [3u64, 14, 15, 92];
        let ops: Vec<String> = ids
            .iter()
            .map(|id| {
                let key = p.join(format!("op-{id}.pem"));
                ok(
                    Command::new("openssl")
                        .args(["genrsa", "-out"])
                        .arg(&key)
                        .arg("2048")
                        .output()
                        .unwrap(),
                    "openssl genrsa",
                );
                let pem = ok(
                    Command::new("openssl")
                        .args(["rsa", "-pubout", "-in"])
                        .arg(&key)
                        .output()
                        .unwrap(),
                    "openssl rsa -pubout",
                )
                .replace("BEGIN PUBLIC KEY", "BEGIN RSA PUBLIC KEY")
                .replace("END PUBLIC KEY", "END RSA PUBLIC KEY");
                use base64::Engine as _;
                let b64 = base64::engine::general_purpose::STANDARD.encode(pem.as_bytes());
                format!(r#"{{"id": {id}, "public_key": "{b64}"}}"#)
            })
            .collect();
        std::fs::write(p.join("operators.json"), format!("[{}]\n", ops.join(",\n"))).unwrap();
        std::fs::write(p.join("mnemonic.txt"), format!("{PHRASE}\n")).unwrap();
        let mut addr = [0u8; 20];
        rand_core::OsRng.fill_bytes(&mut addr);
        addr[0] |= 0x10;
        let withdrawal = Address(addr).to_checksum();
        std::fs::write(
            p.join("plan.toml"),
            format!(
                r#"[ceremony]
id = "{ID}"
network = "hoodi"
validators = 4
start_index = 0

[deposit]
withdrawal_address = "{withdrawal}"
withdrawal_type = "0x01"
amount_gwei = 32000000000

[ssv]
owner_address = "{withdrawal}"
owner_nonce = 0
operators_file = "operators.json"
allow_unpinned_operators = true

[hsm]
module = "{}"
token_label = "tmux"

[seed]
source = "mnemonic"
mnemonic_file = "mnemonic.txt"
"#,
                module.display()
            ),
        )
        .unwrap();
        Self {
            dir,
            conf,
            identity,
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
    fn out(&self) -> PathBuf {
        self.path().join("bundle")
    }
}

/// The binary in a detached tmux session on a private server; every capture is kept.
struct Tmux {
    socket: String,
    captures: Vec<String>,
    dir: PathBuf,
}

impl Tmux {
    /// Starts `ceremony ARGS` in a 120×40 pane; afterwards the script records the exit code and
    /// the terminal modes (`stty -a`), then keeps the pane open.
    fn start(ws: &Workspace, args: &str) -> Self {
        Self::start_with(ws, args, "")
    }

    /// As [`Tmux::start`], with extra `export` lines for the script.
    fn start_with(ws: &Workspace, args: &str, env: &str) -> Self {
        let socket = format!(
            "kc-tui-{}-{}",
            std::process::id(),
            rand_core::OsRng.next_u32()
        );
        let dir = ws.path().to_owned();
        let script = dir.join("run.sh");
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh\ncd '{d}'\nexport SOFTHSM2_CONF='{conf}'\n{env}\n'{BIN}' {args} 2>'{d}/stderr.txt'\n\
                 echo $? >'{d}/exit.tmp' && mv '{d}/exit.tmp' '{d}/exit.txt'\n\
                 stty -a >'{d}/stty.txt' 2>&1\nsleep 600\n",
                d = dir.display(),
                conf = ws.conf,
            ),
        )
        .unwrap();
        let t = Self {
            socket,
            captures: Vec::new(),
            dir,
        };
        t.tmux(&[
            "-f",
            "/dev/null",
            "new-session",
            "-d",
            "-s",
            "tui",
            "-x",
            "120",
            "-y",
            "40",
            &format!("sh '{}'", script.display()),
        ]);
        t
    }

    fn tmux(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .env_remove("TMUX")
            .output()
            .expect("run tmux (run make tools)");
        assert!(
            out.status.success(),
            "tmux {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn capture(&mut self) -> String {
        let s = self.tmux(&["capture-pane", "-p", "-t", "tui"]);
        self.captures.push(s.clone());
        s
    }

    /// Captures until `pred` holds (or fails with the last screen and the binary's stderr).
    fn wait(&mut self, what: &str, secs: u64, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let s = self.capture();
            if pred(&s) {
                return s;
            }
            if Instant::now() > deadline {
                let stderr =
                    std::fs::read_to_string(self.dir.join("stderr.txt")).unwrap_or_default();
                panic!("timed out waiting for {what}; screen:\n{s}\nstderr:\n{stderr}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn wait_for(&mut self, text: &str, secs: u64) -> String {
        self.wait(text, secs, |s| s.contains(text))
    }

    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "tui"];
        args.extend_from_slice(keys);
        self.tmux(&args);
    }

    fn type_text(&self, text: &str) {
        self.tmux(&["send-keys", "-t", "tui", "-l", text]);
    }

    fn exit_code(&self, secs: u64) -> i32 {
        let deadline = Instant::now() + Duration::from_secs(secs);
        let path = self.dir.join("exit.txt");
        while !path.exists() {
            assert!(Instant::now() < deadline, "the binary did not exit");
            std::thread::sleep(Duration::from_millis(100));
        }
        std::fs::read_to_string(path)
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    }

    /// After exit: raw mode is off (canonical input and echo are back).
    fn assert_terminal_restored(&self) {
        let path = self.dir.join("stty.txt");
        let deadline = Instant::now() + Duration::from_secs(10);
        while !path.exists() {
            assert!(Instant::now() < deadline, "no stty output");
            std::thread::sleep(Duration::from_millis(50));
        }
        std::thread::sleep(Duration::from_millis(100));
        let stty = std::fs::read_to_string(path).unwrap();
        let modes: Vec<&str> = stty.split_whitespace().collect();
        for m in ["icanon", "echo", "isig"] {
            assert!(modes.contains(&m), "terminal left without {m}: {stty}");
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .output();
    }
}

/// The secret canary over a screen: no 3 consecutive mnemonic words, no 16 hex digits of the
/// entropy, the seed or a validator signing key (derived here with kc_validator::derive), and
/// not the PIN.
fn assert_clean(screen: &str, what: &str) {
    let m = Mnemonic::parse(PHRASE).unwrap();
    let seed = m.to_seed("");
    let mut secrets = vec![
        hex::encode(&m.to_entropy()[..]),
        hex::encode(seed.as_bytes()),
    ];
    for i in 0..4 {
        let sk = kc_validator::derive::signing_key(seed.as_bytes(), i).unwrap();
        secrets.push(hex::encode(&sk.to_bytes()[..]));
    }
    let flat = screen
        .split(|c: char| !c.is_alphabetic())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase();
    let words: Vec<&str> = PHRASE.split_whitespace().collect();
    for w in words.windows(3) {
        assert!(
            !flat.contains(&w.join(" ")),
            "{what} shows mnemonic words {w:?}"
        );
    }
    let compact: String = screen
        .chars()
        .filter(char::is_ascii_hexdigit)
        .collect::<String>()
        .to_lowercase();
    for s in &secrets {
        for i in 0..=s.len() - 16 {
            assert!(!compact.contains(&s[i..i + 16]), "{what} shows secret hex");
        }
    }
    assert!(!screen.contains(PIN), "{what} shows the PIN");
}

#[test]
fn whole_wizard_in_tmux_then_ceremony_verify() {
    let ws = Workspace::new();
    let mut t = Tmux::start(
        &ws,
        &format!(
            "tui --plan '{}' --out '{}' --allow-unlocked-memory",
            ws.path().join("plan.toml").display(),
            ws.out().display()
        ),
    );

    // 1. HSM: token information and the preflight, then the PIN (masked).
    let s = t.wait_for("Every required mechanism is available", 30);
    assert!(
        s.contains("1/6 HSM") && s.contains("SoftHSM") && s.contains("✓ CKM_ECDSA"),
        "{s}"
    );
    t.type_text(PIN);
    let s = t.wait_for(&"•".repeat(PIN.len()), 10);
    assert!(!s.contains(PIN));
    t.keys(&["Enter"]);

    // 2. Plan review: operators with fingerprints and words; people; the ceremony id.
    let s = t.wait_for("2/6 Plan review", 30);
    for id in ["operator 3 ", "operator 14", "operator 15", "operator 92"] {
        assert!(s.contains(id), "{id}: {s}");
    }
    // A clean resize: too small, then back.
    t.tmux(&["resize-window", "-t", "tui", "-x", "90", "-y", "24"]);
    t.wait_for("too small", 10);
    t.tmux(&["resize-window", "-t", "tui", "-x", "120", "-y", "40"]);
    t.wait_for("2/6 Plan review", 10);
    t.type_text("Ada Admin");
    t.keys(&["Enter"]);
    for w in ["Wendy Witness", "Walter Witness"] {
        t.type_text(w);
        t.keys(&["Enter"]);
    }
    t.keys(&["Enter"]); // empty witness: to the paper backup (left off)
    t.keys(&["Enter"]); // to the ceremony id
    t.type_text(ID);
    t.wait_for("matches the plan", 10);
    t.keys(&["Enter"]);

    // 3. Generation, then 4. Review with every verification result.
    let s = t.wait("the review screen", 300, |s| {
        s.contains("4/6 Review") || s.contains("Stopped")
    });
    assert!(s.contains("4/6 Review"), "{s}");
    assert!(
        s.contains("Every verification result") && s.contains("checks passed"),
        "{s}"
    );
    assert!(!s.contains("✗"), "{s}");
    assert!(
        t.captures.iter().any(|c| c.contains("3/6 Generation")),
        "the generation screen was seen"
    );
    t.keys(&["Enter"]);

    // 5. Export: verify after write, the digest as hex, words and a QR code.
    let s = t.wait_for("5/6 Export", 60);
    assert!(s.contains("Verify after write ✓"), "{s}");
    let manifest = std::fs::read(ws.out().join("manifest.json")).unwrap();
    let digest = hex::encode(Sha256::digest(&manifest));
    assert!(
        s.contains(&digest),
        "the digest on screen is the manifest's SHA-256: {s}"
    );
    let first_words = kc_ceremony_words(&digest);
    assert!(s.contains(&first_words), "words {first_words}: {s}");
    assert!(s.contains('▀') && s.contains('▄'), "a QR code: {s}");
    t.keys(&["Enter"]);

    // 6. Done: transcript head, what leaves, what stays.
    let s = t.wait_for("6/6 Done", 30);
    assert!(
        s.contains("Transcript head") && s.contains("Leaves the room"),
        "{s}"
    );
    t.keys(&["Enter"]);
    assert_eq!(t.exit_code(30), 0);
    t.assert_terminal_restored();
    let after = t.capture();
    assert!(
        after.contains(&format!("bundle digest {digest}")),
        "{after}"
    );

    // Every captured screen passes the canary.
    for (i, c) in t.captures.iter().enumerate() {
        assert_clean(c, &format!("capture {i}"));
    }
    assert!(t.captures.len() > 5);

    // An auditor's check of the result.
    let v = Command::new(BIN)
        .arg("verify")
        .arg(ws.out())
        .arg("--identity")
        .arg(&ws.identity)
        .output()
        .unwrap();
    assert_eq!(
        v.status.code(),
        Some(0),
        "ceremony verify: {}{}",
        String::from_utf8_lossy(&v.stdout),
        String::from_utf8_lossy(&v.stderr)
    );
    let transcript = std::fs::read_to_string(ws.out().join("transcript.jsonl")).unwrap();
    assert!(transcript.contains("Walter Witness"));
}

/// The first four PGP words of a hex digest, as the export screen prints them.
fn kc_ceremony_words(hex_str: &str) -> String {
    ceremony::tui::words::words_of_hex(&hex_str[..8])
        .unwrap()
        .join(" ")
}

#[test]
fn no_subcommand_asks_for_the_plan_and_quits_cleanly() {
    let ws = Workspace::new();
    let t = Tmux::start(&ws, "--allow-unlocked-memory-is-not-an-option-here");
    // A bad flag: clap's error, exit 2, terminal untouched.
    assert_eq!(t.exit_code(30), 2);
    drop(t);

    std::fs::remove_file(ws.path().join("exit.txt")).unwrap();
    std::fs::remove_file(ws.path().join("stty.txt")).unwrap();
    let mut t = Tmux::start(&ws, "--allow-unlocked-memory");
    t.wait_for("Which plan?", 30);
    t.type_text(&ws.path().join("plan.toml").display().to_string());
    t.keys(&["Enter"]);
    t.wait_for("1/6 HSM", 30);
    t.keys(&["Escape"]);
    t.wait_for("Leave the ceremony?", 10);
    t.keys(&["y"]);
    assert_eq!(
        t.exit_code(30),
        130,
        "left before the run: cancelled, nothing written"
    );
    t.assert_terminal_restored();
    assert!(!ws.path().join(ID).exists());
    for (i, c) in t.captures.iter().enumerate() {
        assert_clean(c, &format!("capture {i}"));
    }
}

#[test]
fn a_panic_restores_the_terminal() {
    let ws = Workspace::new();
    let mut t = Tmux::start_with(
        &ws,
        &format!(
            "tui --plan '{}' --allow-unlocked-memory",
            ws.path().join("plan.toml").display()
        ),
        &format!("export {}=1", ceremony::tui::PANIC_ENV),
    );
    assert_eq!(t.exit_code(30), 101, "a panic exits with 101");
    t.assert_terminal_restored();
    let stderr = std::fs::read_to_string(ws.path().join("stderr.txt")).unwrap();
    assert!(stderr.contains("panicking to test"), "{stderr}");
    // Back on the main screen: the wizard's frame is gone.
    let s = t.capture();
    assert!(!s.contains("1/6 HSM"), "{s}");
}
