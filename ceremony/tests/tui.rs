//! The ceremony TUI on a fixed-size `TestBackend`: every screen driven by scripted keys and
//! snapshotted (insta), and the secret canary over every frame of a real run against SoftHSM.
//!
//! Snapshot tests use fake services with fixed data (plan fixture, fixed clock, fixed outcome),
//! so they need no HSM. Paths are redacted by an insta filter; the temporary directory has a
//! fixed-length name so that layouts do not depend on it.

use std::cell::{Cell, RefCell};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ceremony::pipeline::Outcome;
use ceremony::tui::app::{App, Exit, Screen};
use ceremony::tui::services::{Control, Event, HsmInfo, Job, Services};
use ceremony::tui::Key;
use kc_bundle::manifest::Manifest;
use kc_bundle::plan::Plan;
use kc_bundle::verify::{Check, Report};
use kc_hsm::{LibraryInfo, PreflightItem, PreflightReport, SecretString, TokenInfo};
use ratatui::backend::TestBackend;
use ratatui::Terminal;
use serde_json::json;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

const W: u16 = 120;
const H: u16 = 40;
const ID: &str = "pool-2026-11-batch-01";
const FAKE_PIN: &str = "4321-fake-pin";

// ---------------------------------------------------------------------------------------------
// Fixtures

/// A temporary directory `/tmp/tui-XXXXXX` (fixed length) with the plan and its files.
struct Workspace {
    dir: tempfile::TempDir,
}

impl Workspace {
    fn new(seed: &str) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("tui-")
            .rand_bytes(6)
            .tempdir_in("/tmp")
            .unwrap();
        std::fs::copy(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/tui_data/operators.json"),
            dir.path().join("operators.json"),
        )
        .unwrap();
        std::fs::write(dir.path().join("fake-pkcs11.so"), b"not a module").unwrap();
        std::fs::write(
            dir.path().join("plan.toml"),
            plan_text("fake-pkcs11.so", "tui", seed),
        )
        .unwrap();
        Self { dir }
    }
    fn path(&self) -> &Path {
        self.dir.path()
    }
    fn plan(&self) -> PathBuf {
        self.path().join("plan.toml")
    }
    fn out(&self) -> PathBuf {
        self.path().join("bundle")
    }
}

fn plan_text(module: &str, token: &str, seed: &str) -> String {
    format!(
        r#"[ceremony]
id = "{ID}"
network = "hoodi"
validators = 4
start_index = 0

[deposit]
withdrawal_address = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
withdrawal_type = "0x01"
amount_gwei = 32000000000

[ssv]
owner_address = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
owner_nonce = 7
operators_file = "operators.json"
allow_unpinned_operators = true

[hsm]
module = "{module}"
token_label = "{token}"

[seed]
{seed}
"#
    )
}

fn h(label: &str) -> String {
    hex::encode(Sha256::digest(label.as_bytes()))
}

/// A fixed, made-up outcome (no secret anywhere).
fn fake_outcome(dir: PathBuf) -> Outcome {
    let validators: Vec<_> = (0..4)
        .map(|i| {
            json!({
                "index": i,
                "pubkey": format!("0x{}{}", h(&format!("pk{i}")), &h(&format!("pk{i}b"))[..32]),
                "deposit_data_root": h(&format!("root{i}")),
                "owner_nonce": 7 + i,
                "shares_data_sha256": h(&format!("shares{i}")),
                "merkle_leaf": format!("0x{}", h(&format!("leaf{i}"))),
            })
        })
        .collect();
    let files: serde_json::Map<String, serde_json::Value> = [
        "plan.toml",
        "operators.json",
        "deposit_data.json",
        "keyshares.json",
        "transcript.jsonl",
        "sealed/master.seal",
    ]
    .iter()
    .map(|f| (f.to_string(), json!(h(f))))
    .collect();
    let operators: Vec<_> = [11, 23, 42, 57]
        .iter()
        .map(|id| json!({"id": id, "fingerprint": h(&id.to_string())}))
        .collect();
    let manifest: Manifest = serde_json::from_value(json!({
        "format": "kc-bundle/1",
        "ceremony_id": ID,
        "created_at": "2026-11-25T10:00:00Z",
        "network": {"name": "hoodi", "fork_version": "10000910"},
        "tool": {"name": "ceremony", "version": "0.1.0", "git_commit": null,
                 "binary_sha256": h("binary"), "cargo_lock_sha256": h("lock")},
        "identity": {"algorithm": "ecdsa-p256-sha256", "key_label": "kc-identity",
                     "public_key": format!("04{}{}", h("x"), h("y")), "fingerprint": h("identity")},
        "master": {"seed_source": "hsm", "fingerprint": h("master"), "seal_key_label": "kc-seal"},
        "withdrawal": {"address": "0x5FbDB2315678afecb367f032d93F642f64180aa3", "type": "0x01",
                       "credentials": h("wc"), "amount_gwei": 32000000000u64},
        "owner": {"address": "0x5FbDB2315678afecb367f032d93F642f64180aa3",
                  "first_nonce": 7, "last_nonce": 10},
        "operators": {"provenance": null, "unpinned_allowed": true,
                      "list": operators},
        "validators": validators,
        "merkle_root": format!("0x{}", h("merkle")),
        "transcript_head": h("transcript head"),
        "files": files,
    }))
    .unwrap();
    Outcome {
        report: fake_report(&dir),
        dir,
        bundle_digest: h("manifest.json"),
        validators: manifest.validators.len(),
        manifest,
    }
}

fn fake_report(dir: &Path) -> Report {
    let check = |name: &str, file: &str, detail: &str| Check {
        name: name.into(),
        file: file.into(),
        field: String::new(),
        ok: true,
        detail: detail.into(),
    };
    Report {
        bundle: dir.to_owned(),
        ceremony_id: Some(ID.into()),
        validators: 4,
        identity_pinned: true,
        signed_by: Some("ab".repeat(32)),
        checks: vec![
            check(
                "files.hashes",
                "manifest.json",
                "6 files match their SHA-256",
            ),
            check(
                "manifest.signature",
                "manifest.sig",
                "P-256 signature valid, identity pinned",
            ),
            check(
                "deposit_data.signatures",
                "deposit_data.json",
                "4 BLS signatures valid (batch)",
            ),
            check(
                "deposit_data.roots",
                "deposit_data.json",
                "4 deposit data roots recomputed",
            ),
            check(
                "keyshares.ownership",
                "keyshares.json",
                "4 ownership signatures valid",
            ),
            check(
                "keyshares.consistency",
                "keyshares.json",
                "shares interpolate to each pubkey",
            ),
            check("merkle.root", "manifest.json", "root of 4 leaves matches"),
            check(
                "transcript.chain",
                "transcript.jsonl",
                "12 entries, chain intact",
            ),
        ],
    }
}

fn fake_hsm(path: &Path, all_supported: bool) -> HsmInfo {
    let item = |name: &str, purpose: &str, ok: bool| PreflightItem {
        name: name.into(),
        purpose: purpose.into(),
        supported: ok,
        reason: (!ok).then(|| "not in C_GetMechanismList".to_owned()),
    };
    HsmInfo {
        module: path.join("fake-pkcs11.so"),
        library: LibraryInfo {
            path: path.join("fake-pkcs11.so").display().to_string(),
            manufacturer: "SoftHSM".into(),
            description: "Implementation of PKCS11".into(),
            library_version: "2.6".into(),
            cryptoki_version: "2.40".into(),
        },
        token: TokenInfo {
            label: "tui".into(),
            manufacturer: "SoftHSM project".into(),
            model: "SoftHSM v2".into(),
            serial: "5a1b2c3d4e5f6071".into(),
            firmware_version: "2.6".into(),
            hardware_version: "2.6".into(),
            rng: true,
        },
        preflight: PreflightReport {
            token: "tui".into(),
            items: vec![
                item("C_GenerateRandom", "entropy for the master secret", true),
                item("CKM_AES_KEY_GEN", "generate the seal key", true),
                item("CKM_AES_GCM", "seal the master secret", all_supported),
                item("CKM_EC_KEY_PAIR_GEN", "generate the identity key", true),
                item("CKM_ECDSA", "sign the manifest", true),
            ],
        },
    }
}

/// What the fake saw of a started run: its control, whether the paper backup was asked for,
/// and the sender (kept so the channel stays open).
type Started = (Arc<Control>, bool, Sender<Event>);

/// Fake services: a fixed clock the test advances, a channel the test feeds.
#[derive(Clone)]
struct Fake {
    base: Instant,
    offset: Rc<Cell<Duration>>,
    workspace: PathBuf,
    all_supported: bool,
    job: Rc<RefCell<Option<Started>>>,
    verify_ok: bool,
}

impl Fake {
    fn new(ws: &Workspace) -> Self {
        Self {
            base: Instant::now(),
            offset: Rc::new(Cell::new(Duration::ZERO)),
            workspace: ws.path().to_owned(),
            all_supported: true,
            job: Rc::new(RefCell::new(None)),
            verify_ok: true,
        }
    }
    fn advance(&self, secs: u64) {
        self.offset
            .set(self.offset.get() + Duration::from_secs(secs));
    }
    fn control(&self) -> Arc<Control> {
        self.job.borrow().as_ref().unwrap().0.clone()
    }
}

impl Services for Fake {
    fn load_plan(&mut self, path: &Path) -> Result<Plan, String> {
        Plan::load(path).map_err(|e| e.to_string())
    }
    fn inspect_hsm(&mut self, _plan: &Plan) -> Result<HsmInfo, String> {
        Ok(fake_hsm(&self.workspace, self.all_supported))
    }
    fn login(&mut self, _plan: &Plan, pin: &SecretString) -> Result<(), String> {
        use secrecy::ExposeSecret;
        if pin.expose_secret() == FAKE_PIN {
            Ok(())
        } else {
            Err("C_Login failed: CKR_PIN_INCORRECT".into())
        }
    }
    fn start(&mut self, job: Job) -> Receiver<Event> {
        let (tx, rx) = mpsc::channel();
        *self.job.borrow_mut() = Some((job.control.clone(), job.paper_backup, tx));
        rx
    }
    fn verify(&mut self, outcome: &Outcome) -> Report {
        let mut r = fake_report(&outcome.dir);
        if !self.verify_ok {
            r.checks[0].ok = false;
            r.checks[0].detail = "deposit_data.json: SHA-256 differs from the manifest".into();
        }
        r
    }
    fn now(&self) -> Instant {
        self.base + self.offset.get()
    }
}

// ---------------------------------------------------------------------------------------------
// Driving and reading the screen

fn press(app: &mut App<impl Services>, key: Key) {
    app.handle_key(key);
}

fn type_text(app: &mut App<impl Services>, s: &str) {
    for c in s.chars() {
        press(app, Key::Char(c));
    }
}

/// The screen as text, one line per row (trailing spaces trimmed).
fn render(app: &App<impl Services>, w: u16, h: u16) -> String {
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| app.draw(f)).unwrap();
    buffer_text(t.backend().buffer())
}

fn buffer_text(b: &ratatui::buffer::Buffer) -> String {
    let w = b.area.width as usize;
    b.content
        .chunks(w)
        .map(|row| {
            let line: String = row.iter().map(|c| c.symbol()).collect();
            line.trim_end().to_owned()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn snap(name: &str, screen: &str) {
    insta::with_settings!({
        filters => vec![(r"/tmp/tui-[A-Za-z0-9]{6}", "[TMP]")],
        prepend_module_to_snapshot => false,
        omit_expression => true,
    }, {
        insta::assert_snapshot!(name, screen);
    });
}

/// A wizard at the plan-review screen (plan loaded, logged in).
fn at_plan_review(ws: &Workspace) -> (App<Fake>, Fake) {
    let fake = Fake::new(ws);
    let mut app = App::new(fake.clone(), Some(ws.plan()), Some(ws.out()));
    assert_eq!(app.screen(), Screen::Hsm, "{:?}", app.model.notice);
    type_text(&mut app, FAKE_PIN);
    press(&mut app, Key::Enter);
    assert_eq!(app.screen(), Screen::Plan, "{:?}", app.model.notice);
    (app, fake)
}

/// Fills the people form and types the ceremony id (does not press the last Enter).
fn fill_people(app: &mut App<Fake>) {
    type_text(app, "Ada Admin");
    press(app, Key::Enter);
    type_text(app, "Wendy Witness");
    press(app, Key::Enter);
    type_text(app, "Walter Witness");
    press(app, Key::Enter);
    press(app, Key::Enter); // empty witness: to the paper backup
    press(app, Key::Enter); // to the ceremony id
    type_text(app, ID);
}

/// A wizard whose run has started (generation screen).
fn at_generation(ws: &Workspace) -> (App<Fake>, Fake) {
    let (mut app, fake) = at_plan_review(ws);
    fill_people(&mut app);
    press(&mut app, Key::Enter);
    assert_eq!(app.screen(), Screen::Generate, "{:?}", app.model.notice);
    (app, fake)
}

fn run_to_review(app: &mut App<Fake>, fake: &Fake, ws: &Workspace) {
    for s in ["plan", "ledger", "hsm", "master", "validators"] {
        fake.advance(1);
        app.on_event(Event::Stage(s.into()));
    }
    for i in 1..=4 {
        fake.advance(2);
        app.on_event(Event::Validators(i, 4));
    }
    for s in ["write", "seal", "manifest", "verify", "commit"] {
        fake.advance(1);
        app.on_event(Event::Stage(s.into()));
    }
    app.on_event(Event::Finished(Box::new(Ok(fake_outcome(ws.out())))));
    assert_eq!(app.screen(), Screen::Review);
}

// ---------------------------------------------------------------------------------------------
// Snapshots of every screen

#[test]
fn screen_plan_path() {
    let ws = Workspace::new("source = \"hsm\"");
    let mut app = App::new(Fake::new(&ws), None, None);
    assert_eq!(app.screen(), Screen::PlanPath);
    type_text(&mut app, "/media/usb/nowhere/plan.toml");
    press(&mut app, Key::Enter);
    assert_eq!(app.screen(), Screen::PlanPath);
    snap("plan_path_error", &render(&app, W, H));
    for _ in 0.."/media/usb/nowhere/plan.toml".len() {
        press(&mut app, Key::Backspace);
    }
    type_text(&mut app, &ws.plan().display().to_string());
    press(&mut app, Key::Enter);
    assert_eq!(app.screen(), Screen::Hsm, "{:?}", app.model.notice);
}

#[test]
fn screen_hsm_masks_the_pin() {
    let ws = Workspace::new("source = \"hsm\"");
    let mut app = App::new(Fake::new(&ws), Some(ws.plan()), Some(ws.out()));
    type_text(&mut app, FAKE_PIN);
    let screen = render(&app, W, H);
    assert!(!screen.contains(FAKE_PIN));
    assert!(screen.contains(&"•".repeat(FAKE_PIN.len())));
    snap("hsm", &screen);
    // A wrong PIN: stays, says so, and the field is emptied.
    let mut app = App::new(Fake::new(&ws), Some(ws.plan()), Some(ws.out()));
    type_text(&mut app, "wrong");
    press(&mut app, Key::Enter);
    assert_eq!(app.screen(), Screen::Hsm);
    snap("hsm_wrong_pin", &render(&app, W, H));
}

/// The TUI's PIN field follows the rule of `--pin-file` and `CEREMONY_PIN` (`kc_hsm::pin`): a
/// PIN with surrounding whitespace is refused before login, naming the problem, never the PIN,
/// and the field is emptied; the same PIN without the space logs in.
#[test]
fn screen_hsm_refuses_a_pin_with_surrounding_whitespace_before_login() {
    let ws = Workspace::new("source = \"hsm\"");
    let mut app = App::new(Fake::new(&ws), Some(ws.plan()), Some(ws.out()));
    type_text(&mut app, &format!("{FAKE_PIN} "));
    press(&mut app, Key::Enter);
    assert_eq!(app.screen(), Screen::Hsm);
    let notice = format!("{:?}", app.model.notice);
    assert!(notice.contains("whitespace"), "{notice}");
    assert!(!notice.contains(FAKE_PIN), "{notice}");
    let screen = render(&app, W, H);
    assert!(!screen.contains('•'), "the field is emptied: {screen}");
    // Enter on the empty field asks for the PIN; the PIN as it is logs in.
    press(&mut app, Key::Enter);
    assert_eq!(app.screen(), Screen::Hsm);
    type_text(&mut app, FAKE_PIN);
    press(&mut app, Key::Enter);
    assert_ne!(app.screen(), Screen::Hsm, "{:?}", app.model.notice);
}

#[test]
fn screen_hsm_missing_mechanism_blocks() {
    let ws = Workspace::new("source = \"hsm\"");
    let mut fake = Fake::new(&ws);
    fake.all_supported = false;
    let mut app = App::new(fake, Some(ws.plan()), Some(ws.out()));
    type_text(&mut app, FAKE_PIN);
    press(&mut app, Key::Enter);
    assert_eq!(app.screen(), Screen::Hsm);
    snap("hsm_preflight_fails", &render(&app, W, H));
}

#[test]
fn screen_plan_review() {
    let ws = Workspace::new("source = \"hsm\"");
    let (mut app, _fake) = at_plan_review(&ws);
    snap("plan_review_empty", &render(&app, W, H));
    // Proceeding without people is refused with a reason.
    for _ in 0..3 {
        press(&mut app, Key::Tab);
    }
    type_text(&mut app, ID);
    press(&mut app, Key::Enter);
    assert_eq!(app.screen(), Screen::Plan);
    assert!(app
        .model
        .notice
        .as_deref()
        .unwrap()
        .contains("administrator"));
    for _ in 0..ID.len() {
        press(&mut app, Key::Backspace);
    }
    press(&mut app, Key::Tab); // back to the administrator

    fill_people(&mut app);
    // The id must match exactly.
    press(&mut app, Key::Backspace);
    press(&mut app, Key::Enter);
    assert_eq!(app.screen(), Screen::Plan);
    assert!(app.model.notice.as_deref().unwrap().contains("ceremony id"));
    type_text(&mut app, &ID[ID.len() - 1..]);
    snap("plan_review_filled", &render(&app, W, H));
}

#[test]
fn screen_plan_review_operators_scroll() {
    let ws = Workspace::new("source = \"hsm\"");
    let (mut app, _fake) = at_plan_review(&ws);
    press(&mut app, Key::PageDown);
    press(&mut app, Key::PageDown);
    snap("plan_review_scrolled", &render(&app, W, H));
}

#[test]
fn paper_backup_needs_confirmation() {
    let ws = Workspace::new("source = \"hsm\"");
    let (mut app, fake) = at_plan_review(&ws);
    press(&mut app, Key::Tab);
    press(&mut app, Key::Tab); // paper backup
    press(&mut app, Key::Char(' '));
    snap("paper_backup_confirm", &render(&app, W, H));
    press(&mut app, Key::Char('n'));
    assert!(!app.model.paper_backup, "declined: stays off");
    press(&mut app, Key::Char(' '));
    press(&mut app, Key::Char('y'));
    assert!(app.model.paper_backup);
    press(&mut app, Key::BackTab);
    press(&mut app, Key::BackTab);
    fill_people(&mut app);
    press(&mut app, Key::Enter);
    assert_eq!(app.screen(), Screen::Generate);
    assert!(
        fake.job.borrow().as_ref().unwrap().1,
        "the run asks for the paper backup"
    );

    // The pipeline hands over the phrase: the paper screen, then wiped on Enter.
    fake.advance(3);
    app.on_event(Event::Stage("plan".into()));
    app.on_event(Event::Stage("master".into()));
    // The BIP-39 test vector for entropy 0x00…00 (a published, worthless phrase).
    let phrase = format!("{} art", ["abandon"; 23].join(" "));
    app.on_event(Event::PaperBackup(Zeroizing::new(phrase)));
    assert_eq!(app.screen(), Screen::Paper);
    snap("paper_backup", &render(&app, W, H));
    press(&mut app, Key::Enter);
    assert_eq!(app.screen(), Screen::Generate);
    assert!(app.model.paper_phrase.is_none());
    assert!(!render(&app, W, H).contains("abandon"));
}

#[test]
fn screen_generation() {
    let ws = Workspace::new("source = \"hsm\"");
    let (mut app, fake) = at_generation(&ws);
    for s in ["plan", "ledger", "hsm", "master", "validators"] {
        fake.advance(2);
        app.on_event(Event::Stage(s.into()));
    }
    fake.advance(30);
    app.on_event(Event::Validators(1, 4));
    app.tick();
    snap("generation", &render(&app, W, H));
}

#[test]
fn cancel_asks_then_leaves_nothing() {
    let ws = Workspace::new("source = \"hsm\"");
    let (mut app, fake) = at_generation(&ws);
    app.on_event(Event::Stage("plan".into()));
    press(&mut app, Key::Esc);
    snap("cancel_confirm", &render(&app, W, H));
    press(&mut app, Key::Char('n'));
    assert!(!fake.control().is_cancelled(), "n keeps going");
    // Ctrl-C is Esc.
    app.handle_key(Key::Ctrl('c'));
    press(&mut app, Key::Char('y'));
    assert!(fake.control().is_cancelled());
    snap("cancelling", &render(&app, W, H));
    app.on_event(Event::Finished(Box::new(Err(ceremony::Error::Cancelled))));
    assert_eq!(app.screen(), Screen::Failed);
    snap("cancelled", &render(&app, W, H));
    press(&mut app, Key::Enter);
    assert!(matches!(
        app.exit(),
        Some(Exit::Failed(ceremony::Error::Cancelled))
    ));
}

#[test]
fn screens_review_export_done() {
    let ws = Workspace::new("source = \"hsm\"");
    let (mut app, fake) = at_generation(&ws);
    run_to_review(&mut app, &fake, &ws);
    snap("review", &render(&app, W, H));
    press(&mut app, Key::Enter);
    assert_eq!(app.screen(), Screen::Export);
    let export = render(&app, W, H);
    assert!(
        export.contains("▀") || export.contains("▄"),
        "a QR code is drawn"
    );
    snap("export", &export);
    press(&mut app, Key::Enter);
    assert_eq!(app.screen(), Screen::Done);
    snap("done", &render(&app, W, H));
    press(&mut app, Key::Enter);
    assert!(matches!(app.exit(), Some(Exit::Done { verified: true })));
}

#[test]
fn export_shows_a_failed_verification_after_write() {
    let ws = Workspace::new("source = \"hsm\"");
    let fake = Fake {
        verify_ok: false,
        ..Fake::new(&ws)
    };
    let mut app = App::new(fake.clone(), Some(ws.plan()), Some(ws.out()));
    type_text(&mut app, FAKE_PIN);
    press(&mut app, Key::Enter);
    fill_people(&mut app);
    press(&mut app, Key::Enter);
    run_to_review(&mut app, &fake, &ws);
    press(&mut app, Key::Enter);
    snap("export_verify_failed", &render(&app, W, H));
    press(&mut app, Key::Enter);
    press(&mut app, Key::Enter);
    assert!(matches!(app.exit(), Some(Exit::Done { verified: false })));
}

#[test]
fn small_terminal_and_resize() {
    let ws = Workspace::new("source = \"hsm\"");
    let (app, _fake) = at_plan_review(&ws);
    snap("too_small", &render(&app, 80, 24));
    // The same model draws again at any size (a resize is just the next draw).
    let big = render(&app, 160, 50);
    assert!(big.contains("Plan review"));
}

#[test]
fn help_bar_on_every_screen() {
    let ws = Workspace::new("source = \"hsm\"");
    let (mut app, fake) = at_generation(&ws);
    let last_line = |app: &App<Fake>| render(app, W, H).lines().last().unwrap().to_owned();
    assert!(last_line(&app).contains("Esc"));
    run_to_review(&mut app, &fake, &ws);
    for _ in 0..3 {
        assert!(last_line(&app).contains("Enter"), "{}", last_line(&app));
        press(&mut app, Key::Enter);
    }
}

// ---------------------------------------------------------------------------------------------
// The real pipeline against SoftHSM, on a TestBackend: every frame goes through the canary.

mod real {
    use super::*;
    use ceremony::buildinfo::ToolIdentity;
    use ceremony::hygiene::Hygiene;
    use ceremony::tui::services::RealServices;
    use kc_hsm::testing::SoftHsmToken;
    use kc_hsm::{IdentityKey, SealKey};
    use kc_validator::mnemonic::Mnemonic;

    /// A published BIP-39 test vector (entropy 0x7f × 32): worthless, and with distinct words.
    pub const PHRASE: &str = "legal winner thank year wave sausage worth useful legal winner \
        thank year wave sausage worth useful legal winner thank year wave sausage worth title";
    const PIN: &str = "tui-user-pin-7719";

    /// Everything secret this ceremony holds, as lower-case hex: the entropy, the seed and each
    /// validator's signing key (derived here independently with kc_validator::derive).
    pub fn secrets_hex(phrase: &str, count: u32) -> Vec<String> {
        let m = Mnemonic::parse(phrase).unwrap();
        let seed = m.to_seed("");
        let mut v = vec![
            hex::encode(&m.to_entropy()[..]),
            hex::encode(seed.as_bytes()),
        ];
        for i in 0..count {
            let sk = kc_validator::derive::signing_key(seed.as_bytes(), i).unwrap();
            v.push(hex::encode(&sk.to_bytes()[..]));
        }
        v
    }

    /// Panics if `text` shows 3 consecutive words of `phrase`, any 16 hex digits of a secret,
    /// or `pin`.
    pub fn assert_clean(text: &str, phrase: &str, secrets: &[String], pin: &str, what: &str) {
        let words: Vec<&str> = phrase.split_whitespace().collect();
        // Letters only: numbering, punctuation and borders between the words do not hide them.
        let flat = text
            .split(|c: char| !c.is_alphabetic())
            .filter(|w| !w.is_empty())
            .collect::<Vec<_>>()
            .join(" ")
            .to_lowercase();
        for w in words.windows(3) {
            assert!(
                !flat.contains(&w.join(" ")),
                "{what} shows mnemonic words {w:?}"
            );
        }
        let compact: String = text
            .chars()
            .filter(|c| c.is_ascii_hexdigit())
            .collect::<String>()
            .to_lowercase();
        for s in secrets {
            for i in 0..=s.len() - 16 {
                assert!(
                    !compact.contains(&s[i..i + 16]),
                    "{what} shows 16 hex digits of a secret"
                );
            }
        }
        assert!(!text.contains(pin), "{what} shows the PIN");
    }

    pub struct Setup {
        pub ws: Workspace,
        pub _token: SoftHsmToken,
    }

    pub fn setup() -> Setup {
        let token = SoftHsmToken::new("tui", PIN);
        let session = token.login();
        SealKey::provision(&session, "kc-seal").unwrap();
        IdentityKey::provision(&session, "kc-identity").unwrap();
        drop(session);
        let ws = Workspace::new("source = \"mnemonic\"\nmnemonic_file = \"mnemonic.txt\"");
        std::fs::write(ws.path().join("mnemonic.txt"), format!("{PHRASE}\n")).unwrap();
        let module = token.module_path().display().to_string();
        std::fs::write(
            ws.plan(),
            plan_text(
                &module,
                "tui",
                "source = \"mnemonic\"\nmnemonic_file = \"mnemonic.txt\"",
            ),
        )
        .unwrap();
        Setup { ws, _token: token }
    }

    pub fn app(ws: &Workspace) -> App<RealServices> {
        let services = RealServices {
            hygiene: Hygiene {
                core_dumps_disabled: false,
                not_dumpable: false,
                memory_locked: false,
            },
            tool: ToolIdentity::current().unwrap(),
            previous: Vec::new(),
        };
        App::new(services, Some(ws.plan()), Some(ws.out()))
    }

    /// Draws a frame, keeps its text.
    pub fn frame(app: &mut App<RealServices>, frames: &mut Vec<(Screen, String)>) {
        app.tick();
        let text = render(app, W, H);
        frames.push((app.screen(), text));
    }

    /// Ticks and draws until the app reaches `screen` (or times out).
    pub fn until(app: &mut App<RealServices>, frames: &mut Vec<(Screen, String)>, screen: Screen) {
        let deadline = Instant::now() + Duration::from_secs(300);
        while app.screen() != screen {
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {screen:?}; at {:?}: {:?}",
                app.screen(),
                app.model.failure
            );
            frame(app, frames);
            std::thread::sleep(Duration::from_millis(20));
        }
        frame(app, frames);
    }

    pub fn to_generation(
        app: &mut App<RealServices>,
        frames: &mut Vec<(Screen, String)>,
        paper: bool,
    ) {
        assert_eq!(
            app.screen(),
            Screen::Hsm,
            "{:?} {:?}",
            app.model.notice,
            app.model.hsm_error
        );
        frame(app, frames);
        type_text(app, PIN);
        frame(app, frames);
        press(app, Key::Enter);
        assert_eq!(app.screen(), Screen::Plan, "{:?}", app.model.notice);
        frame(app, frames);
        type_text(app, "Ada Admin");
        press(app, Key::Enter);
        type_text(app, "Wendy Witness");
        press(app, Key::Enter);
        press(app, Key::Enter);
        if paper {
            press(app, Key::Char(' '));
            frame(app, frames);
            press(app, Key::Char('y'));
        }
        press(app, Key::Enter);
        type_text(app, ID);
        frame(app, frames);
        press(app, Key::Enter);
        assert_eq!(app.screen(), Screen::Generate, "{:?}", app.model.notice);
    }
}

#[test]
fn real_run_no_secret_on_any_frame_and_bundle_verifies() {
    let s = real::setup();
    let mut app = real::app(&s.ws);
    let mut frames = Vec::new();
    real::to_generation(&mut app, &mut frames, false);
    real::until(&mut app, &mut frames, Screen::Review);
    press(&mut app, Key::Enter);
    real::until(&mut app, &mut frames, Screen::Export);
    press(&mut app, Key::Enter);
    real::until(&mut app, &mut frames, Screen::Done);
    press(&mut app, Key::Enter);
    assert!(matches!(app.exit(), Some(Exit::Done { verified: true })));

    let secrets = real::secrets_hex(real::PHRASE, 4);
    assert!(frames.len() > 8);
    for (i, (screen, text)) in frames.iter().enumerate() {
        real::assert_clean(
            text,
            real::PHRASE,
            &secrets,
            "tui-user-pin-7719",
            &format!("frame {i} ({screen:?})"),
        );
    }
    // What the export screen showed is what is on disk.
    let manifest = std::fs::read(s.ws.out().join("manifest.json")).unwrap();
    let digest = hex::encode(Sha256::digest(&manifest));
    assert!(frames
        .iter()
        .any(|(sc, t)| *sc == Screen::Export && t.contains(&digest)));
    let report = kc_bundle::verify::verify_bundle(&s.ws.out(), &Default::default());
    assert!(report.ok(), "{:?}", report.failures().collect::<Vec<_>>());
    // The people typed in the wizard are in the transcript.
    let transcript = std::fs::read_to_string(s.ws.out().join("transcript.jsonl")).unwrap();
    assert!(transcript.contains("Wendy Witness") && transcript.contains("Ada Admin"));
    assert!(!transcript.contains("paper_backup"));
}

#[test]
fn real_run_with_paper_backup_shows_it_once_and_records_it() {
    let s = real::setup();
    let mut app = real::app(&s.ws);
    let mut frames = Vec::new();
    real::to_generation(&mut app, &mut frames, true);
    real::until(&mut app, &mut frames, Screen::Paper);
    let paper = frames.last().unwrap().1.clone();
    for w in real::PHRASE.split_whitespace() {
        assert!(paper.contains(w), "the paper screen shows {w}");
    }
    // The canary is not blind: it sees the words on the paper screen, and a secret's hex even
    // when split over lines and borders.
    let secrets = real::secrets_hex(real::PHRASE, 4);
    let (p, sec) = (paper.clone(), secrets.clone());
    assert!(std::panic::catch_unwind(move || {
        real::assert_clean(&p, real::PHRASE, &sec, "x", "paper")
    })
    .is_err());
    let split = format!("│ {} │\n│ {} │", &secrets[3][..20], &secrets[3][20..]);
    let sec = secrets.clone();
    assert!(std::panic::catch_unwind(move || {
        real::assert_clean(&split, real::PHRASE, &sec, "x", "split")
    })
    .is_err());
    press(&mut app, Key::Enter);
    let first_after = frames.len();
    real::until(&mut app, &mut frames, Screen::Review);
    press(&mut app, Key::Enter);
    real::until(&mut app, &mut frames, Screen::Export);
    press(&mut app, Key::Enter);
    real::until(&mut app, &mut frames, Screen::Done);
    assert!(frames
        .last()
        .unwrap()
        .1
        .contains("written during the ceremony"));
    press(&mut app, Key::Enter);
    assert!(matches!(app.exit(), Some(Exit::Done { verified: true })));

    for (i, (screen, text)) in frames.iter().enumerate() {
        if *screen != Screen::Paper {
            real::assert_clean(
                text,
                real::PHRASE,
                &secrets,
                "tui-user-pin-7719",
                &format!("frame {i} ({screen:?})"),
            );
        }
    }
    assert!(
        frames[first_after..]
            .iter()
            .all(|(sc, _)| *sc != Screen::Paper),
        "shown once"
    );
    let transcript = std::fs::read_to_string(s.ws.out().join("transcript.jsonl")).unwrap();
    assert!(transcript.contains("\"master.paper_backup_shown\""));
    real::assert_clean(
        &transcript,
        real::PHRASE,
        &secrets,
        "tui-user-pin-7719",
        "the transcript",
    );
    let report = kc_bundle::verify::verify_bundle(&s.ws.out(), &Default::default());
    assert!(report.ok(), "{:?}", report.failures().collect::<Vec<_>>());
}

#[test]
fn real_run_cancelled_leaves_nothing_behind() {
    let s = real::setup();
    let mut app = real::app(&s.ws);
    let mut frames = Vec::new();
    // The paper backup pauses the pipeline mid-run (after the HSM, before the validators):
    // a deterministic moment to cancel.
    real::to_generation(&mut app, &mut frames, true);
    real::until(&mut app, &mut frames, Screen::Paper);
    press(&mut app, Key::Esc);
    press(&mut app, Key::Char('y'));
    assert!(app.model.paper_phrase.is_none(), "wiped on cancel");
    real::until(&mut app, &mut frames, Screen::Failed);
    let text = &frames.last().unwrap().1;
    assert!(
        text.contains("Cancelled") && text.contains("no staging directory left behind"),
        "{text}"
    );
    press(&mut app, Key::Enter);
    assert!(matches!(
        app.exit(),
        Some(Exit::Failed(ceremony::Error::Cancelled))
    ));
    assert!(!s.ws.out().exists());
    let left: Vec<_> = std::fs::read_dir(s.ws.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("incomplete"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}
