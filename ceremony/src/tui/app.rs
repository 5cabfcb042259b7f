//! The wizard: the [`Model`] (what is known), the [`Action`]s (what the user asked for), one
//! [`Component`] per screen, and [`App`], which routes keys to the current screen, applies
//! actions through [`Services`], and takes in the pipeline's events.

use std::path::PathBuf;
use std::sync::mpsc::{Receiver, TryRecvError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kc_bundle::plan::Plan;
use kc_bundle::verify::Report;
use kc_hsm::SecretString;
use ratatui::layout::{Constraint, Layout};
use ratatui::style::{Color, Style, Stylize};
use ratatui::text::Line;
use ratatui::widgets::Paragraph;
use ratatui::Frame;
use zeroize::Zeroizing;

use super::keys::Key;
use super::screens::{
    DoneScreen, ExportScreen, FailedScreen, GenerateScreen, HsmScreen, PaperScreen, PlanPathScreen,
    PlanScreen, ReviewScreen,
};
use super::services::{Control, Event, HsmInfo, Job, Services};
use super::widgets::{self, Help};
use crate::pipeline::{Outcome, People};
use crate::Error;

/// The smallest terminal the wizard draws in.
pub const MIN_WIDTH: u16 = 100;
pub const MIN_HEIGHT: u16 = 30;

/// The screens, in wizard order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Screen {
    PlanPath,
    Hsm,
    Plan,
    Generate,
    Paper,
    Review,
    Export,
    Done,
    Failed,
}

/// An operator as the plan review shows it.
#[derive(Debug, Clone)]
pub struct OperatorView {
    pub id: u64,
    /// SHA-256 of the operator's RSA key (SPKI DER), hex: the manifest's fingerprint.
    pub fingerprint: String,
}

/// The pipeline as the generation screen shows it.
#[derive(Debug, Clone)]
pub struct RunView {
    pub started: Instant,
    /// Each stage and when it began, after `started`.
    pub stages: Vec<(String, Duration)>,
    pub done: usize,
    pub total: usize,
    pub validators_started: Option<Instant>,
    pub finished: Option<Duration>,
    pub cancelling: bool,
}

/// Why the run did not succeed.
#[derive(Debug, Clone)]
pub struct Failure {
    pub message: String,
    pub cancelled: bool,
    /// Whether the bundle directory exists after the failure (it must not).
    pub out_exists: bool,
    /// Leftover staging directories beside it (there must be none).
    pub leftovers: Vec<PathBuf>,
}

/// Everything the screens show.
#[derive(Default)]
pub struct Model {
    pub plan: Option<Plan>,
    pub plan_sha256: String,
    pub out: PathBuf,
    pub out_given: bool,
    pub operators: Vec<OperatorView>,
    pub hsm: Option<HsmInfo>,
    pub hsm_error: Option<String>,
    pub pin: Option<SecretString>,
    pub people: People,
    pub paper_backup: bool,
    pub paper_phrase: Option<Zeroizing<String>>,
    pub paper_shown: bool,
    pub run: Option<RunView>,
    pub outcome: Option<Outcome>,
    pub final_report: Option<Report>,
    pub failure: Option<Failure>,
    /// One line of feedback for the current screen.
    pub notice: Option<String>,
    pub now: Option<Instant>,
}

impl Model {
    pub fn ceremony_id(&self) -> Option<&str> {
        self.plan.as_ref().map(Plan::id)
    }
    pub fn now(&self) -> Instant {
        self.now.unwrap_or_else(Instant::now)
    }
}

/// What the user asked for.
pub enum Action {
    /// Leave the wizard (before the run: nothing was done).
    Quit,
    /// Ask before leaving.
    ConfirmQuit,
    LoadPlan(PathBuf),
    Login(SecretString),
    /// Ask for confirmation before turning the paper backup on (off: no question).
    TogglePaperBackup,
    Begin(People),
    /// Ask whether to cancel the run.
    RequestCancel,
    PaperWritten,
    /// Review → export (verify after write) → done.
    Next,
    Notice(String),
}

/// One screen: keys in, actions out, and drawing.
pub trait Component {
    /// The step name in the title bar.
    fn title(&self) -> &'static str;
    fn handle_key(&mut self, key: Key, model: &Model) -> Option<Action>;
    /// Sees every action the app applies (e.g. to clear an input).
    fn update(&mut self, _action: &Action, _model: &Model) {}
    fn draw(&self, f: &mut Frame<'_>, area: ratatui::layout::Rect, model: &Model);
    fn help(&self, model: &Model) -> Vec<Help>;
}

/// A question over the current screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Modal {
    PaperBackup,
    Cancel,
    Quit,
}

/// How the wizard ended.
#[derive(Debug)]
pub enum Exit {
    /// The bundle was made and verified after write (`verified` false if that re-check failed).
    Done { verified: bool },
    /// Left before the run; nothing was done.
    Quit,
    /// The run failed or was cancelled; nothing was written.
    Failed(Error),
}

pub struct App<S: Services> {
    pub services: S,
    pub model: Model,
    screen: Screen,
    modal: Option<Modal>,
    exit: Option<Exit>,
    events: Option<Receiver<Event>>,
    control: Option<Arc<Control>>,
    error: Option<Error>,
    plan_path: PlanPathScreen,
    hsm: HsmScreen,
    plan: PlanScreen,
    generate: GenerateScreen,
    paper: PaperScreen,
    review: ReviewScreen,
    export: ExportScreen,
    done: DoneScreen,
    failed: FailedScreen,
}

impl<S: Services> App<S> {
    /// A wizard that starts by asking for the plan path, or with `plan` loaded.
    pub fn new(services: S, plan: Option<PathBuf>, out: Option<PathBuf>) -> Self {
        let mut app = Self {
            services,
            model: Model {
                out_given: out.is_some(),
                out: out.unwrap_or_default(),
                ..Model::default()
            },
            screen: Screen::PlanPath,
            modal: None,
            exit: None,
            events: None,
            control: None,
            error: None,
            plan_path: PlanPathScreen::default(),
            hsm: HsmScreen::default(),
            plan: PlanScreen::default(),
            generate: GenerateScreen,
            paper: PaperScreen,
            review: ReviewScreen::default(),
            export: ExportScreen,
            done: DoneScreen,
            failed: FailedScreen,
        };
        app.model.now = Some(app.services.now());
        if let Some(p) = plan {
            app.update(Action::LoadPlan(p));
        }
        app
    }

    pub fn screen(&self) -> Screen {
        self.screen
    }
    pub fn modal(&self) -> Option<Modal> {
        self.modal
    }
    pub fn exit(&self) -> Option<&Exit> {
        self.exit.as_ref()
    }
    pub fn take_exit(&mut self) -> Option<Exit> {
        self.exit.take()
    }
    /// The running pipeline's control (cancel, paper written).
    pub fn control(&self) -> Option<&Arc<Control>> {
        self.control.as_ref().filter(|_| self.running())
    }

    /// Whether the pipeline's worker is still running.
    pub fn running(&self) -> bool {
        self.events.is_some()
    }

    fn component(&self) -> &dyn Component {
        match self.screen {
            Screen::PlanPath => &self.plan_path,
            Screen::Hsm => &self.hsm,
            Screen::Plan => &self.plan,
            Screen::Generate => &self.generate,
            Screen::Paper => &self.paper,
            Screen::Review => &self.review,
            Screen::Export => &self.export,
            Screen::Done => &self.done,
            Screen::Failed => &self.failed,
        }
    }

    /// Runs `f` on the current screen's component with the model (disjoint borrows).
    fn with_component<R>(&mut self, f: impl FnOnce(&mut dyn Component, &Model) -> R) -> R {
        let m = &self.model;
        let c: &mut dyn Component = match self.screen {
            Screen::PlanPath => &mut self.plan_path,
            Screen::Hsm => &mut self.hsm,
            Screen::Plan => &mut self.plan,
            Screen::Generate => &mut self.generate,
            Screen::Paper => &mut self.paper,
            Screen::Review => &mut self.review,
            Screen::Export => &mut self.export,
            Screen::Done => &mut self.done,
            Screen::Failed => &mut self.failed,
        };
        f(c, m)
    }

    fn go(&mut self, screen: Screen) {
        self.screen = screen;
        self.model.notice = None;
    }

    /// A key press.
    pub fn handle_key(&mut self, key: Key) {
        let ctrl_c = key == Key::Ctrl('c');
        if let Some(modal) = self.modal {
            let yes = matches!(key, Key::Char('y' | 'Y'));
            let no = matches!(key, Key::Char('n' | 'N') | Key::Esc) || ctrl_c;
            if yes {
                self.modal = None;
                self.confirm(modal);
            } else if no {
                self.modal = None;
            }
            return;
        }
        // Ctrl-C is Esc: each screen decides whether that cancels, quits or asks first.
        let key = if ctrl_c { Key::Esc } else { key };
        let action = self.with_component(|c, m| c.handle_key(key, m));
        if let Some(a) = action {
            self.update(a);
        }
    }

    fn confirm(&mut self, modal: Modal) {
        match modal {
            Modal::PaperBackup => {
                self.model.paper_backup = true;
                self.model.notice = Some(
                    "paper backup on: the mnemonic will be shown once, during generation".into(),
                );
            }
            Modal::Cancel => {
                if let Some(c) = &self.control {
                    c.cancel();
                }
                // The pipeline waits no longer for the paper; wipe the phrase now.
                self.model.paper_phrase = None;
                if self.screen == Screen::Paper {
                    self.go(Screen::Generate);
                }
                if let Some(r) = &mut self.model.run {
                    r.cancelling = true;
                }
            }
            Modal::Quit => self.update(Action::Quit),
        }
    }

    /// Applies an action.
    pub fn update(&mut self, action: Action) {
        self.with_component(|c, m| c.update(&action, m));
        match action {
            Action::Quit => {
                if self.running() {
                    self.modal = Some(Modal::Cancel);
                } else {
                    self.exit = Some(match self.error.take() {
                        Some(e) => Exit::Failed(e),
                        None => match (&self.model.outcome, &self.model.final_report) {
                            (Some(_), Some(r)) => Exit::Done { verified: r.ok() },
                            (Some(_), None) => Exit::Done { verified: false },
                            _ => Exit::Quit,
                        },
                    });
                }
            }
            Action::ConfirmQuit => self.modal = Some(Modal::Quit),
            Action::Notice(n) => self.model.notice = Some(n),
            Action::LoadPlan(path) => self.load_plan(path),
            Action::Login(pin) => self.login(pin),
            Action::TogglePaperBackup => {
                if self.model.paper_backup {
                    self.model.paper_backup = false;
                    self.model.notice = Some("paper backup off".into());
                } else {
                    self.modal = Some(Modal::PaperBackup);
                }
            }
            Action::Begin(people) => self.begin(people),
            Action::RequestCancel => {
                if self.running() && !self.model.run.as_ref().is_some_and(|r| r.cancelling) {
                    self.modal = Some(Modal::Cancel);
                }
            }
            Action::PaperWritten => {
                self.model.paper_phrase = None;
                self.model.paper_shown = true;
                if let Some(c) = &self.control {
                    c.paper_written();
                }
                self.go(Screen::Generate);
            }
            Action::Next => match self.screen {
                Screen::Review => {
                    if let Some(o) = &self.model.outcome {
                        self.model.final_report = Some(self.services.verify(o));
                    }
                    self.go(Screen::Export);
                }
                Screen::Export => self.go(Screen::Done),
                _ => {}
            },
        }
    }

    fn load_plan(&mut self, path: PathBuf) {
        let plan = match self.services.load_plan(&path) {
            Ok(p) => p,
            Err(e) => {
                self.model.notice = Some(e);
                return;
            }
        };
        let cluster = kc_ssv::Cluster::parse(
            plan.operators
                .operators
                .iter()
                .map(|o| (o.id, o.public_key.as_str())),
        );
        match cluster {
            Ok(c) => {
                self.model.operators = c
                    .operators()
                    .iter()
                    .map(|o| OperatorView {
                        id: o.id(),
                        fingerprint: o.fingerprint_hex(),
                    })
                    .collect();
            }
            Err(e) => {
                self.model.notice = Some(format!("{}: operators: {e}", path.display()));
                return;
            }
        }
        if !self.model.out_given {
            self.model.out = std::env::current_dir().unwrap_or_default().join(plan.id());
        }
        self.model.plan_sha256 = kc_bundle::manifest::sha256_hex(plan.text.as_bytes());
        match self.services.inspect_hsm(&plan) {
            Ok(info) => {
                self.model.hsm = Some(info);
                self.model.hsm_error = None;
            }
            Err(e) => self.model.hsm_error = Some(e),
        }
        self.model.plan = Some(plan);
        self.go(Screen::Hsm);
    }

    fn login(&mut self, pin: SecretString) {
        let Some(plan) = &self.model.plan else { return };
        match &self.model.hsm {
            None => {
                self.model.notice = Some(
                    "the token was not found or could not be read: nothing to log in to".into(),
                );
                return;
            }
            Some(h) if !h.preflight.all_supported() => {
                self.model.notice = Some(format!(
                    "the token lacks required mechanisms: {}",
                    h.preflight.missing().join(", ")
                ));
                return;
            }
            Some(_) => {}
        }
        match self.services.login(plan, &pin) {
            Ok(()) => {
                self.model.pin = Some(pin);
                self.model.hsm_error = None;
                self.go(Screen::Plan);
            }
            Err(e) => self.model.notice = Some(format!("login failed: {e}")),
        }
    }

    fn begin(&mut self, people: People) {
        let (Some(plan), Some(pin)) = (self.model.plan.clone(), self.model.pin.clone()) else {
            return;
        };
        self.model.people = people.clone();
        let control = Arc::new(Control::default());
        let rx = self.services.start(Job {
            plan,
            out: self.model.out.clone(),
            pin,
            people,
            paper_backup: self.model.paper_backup,
            control: control.clone(),
        });
        self.control = Some(control);
        self.events = Some(rx);
        self.model.run = Some(RunView {
            started: self.services.now(),
            stages: Vec::new(),
            done: 0,
            total: self.model.plan.as_ref().map_or(0, |p| p.count() as usize),
            validators_started: None,
            finished: None,
            cancelling: false,
        });
        self.go(Screen::Generate);
    }

    /// Takes in what the worker sent and refreshes the clock; call between frames.
    pub fn tick(&mut self) {
        let now = self.services.now();
        self.model.now = Some(now);
        loop {
            let Some(rx) = &self.events else { return };
            match rx.try_recv() {
                Ok(e) => self.on_event(e),
                Err(TryRecvError::Empty) => return,
                Err(TryRecvError::Disconnected) => {
                    self.events = None;
                    return;
                }
            }
        }
    }

    /// One event from the pipeline (tests call this directly).
    pub fn on_event(&mut self, e: Event) {
        let now = self.services.now();
        self.model.now = Some(now);
        match e {
            Event::Stage(name) => {
                if let Some(r) = &mut self.model.run {
                    if name == "validators" {
                        r.validators_started = Some(now);
                    }
                    r.stages
                        .push((name, now.saturating_duration_since(r.started)));
                }
            }
            Event::Validators(done, total) => {
                if let Some(r) = &mut self.model.run {
                    r.done = r.done.max(done);
                    r.total = total;
                }
            }
            Event::PaperBackup(phrase) => {
                if self.control.as_ref().is_some_and(|c| c.is_cancelled()) {
                    return;
                }
                self.model.paper_phrase = Some(phrase);
                self.go(Screen::Paper);
            }
            Event::Finished(result) => {
                self.events = None;
                self.modal = None;
                self.model.paper_phrase = None;
                if let Some(r) = &mut self.model.run {
                    r.finished = Some(now.saturating_duration_since(r.started));
                }
                match *result {
                    Ok(mut outcome) => {
                        // The run keeps no list of validators in memory; the review screen
                        // shows the one of the committed manifest.
                        if outcome.manifest.validators.is_empty() {
                            match read_validators(&outcome.dir) {
                                Ok(list) => outcome.manifest.validators = list,
                                Err(e) => self.model.notice = Some(e),
                            }
                        }
                        self.model.outcome = Some(outcome);
                        self.go(Screen::Review);
                    }
                    Err(err) => {
                        self.model.failure = Some(Failure {
                            message: err.to_string(),
                            cancelled: matches!(err, Error::Cancelled),
                            out_exists: self.model.out.exists(),
                            leftovers: leftovers(&self.model.out),
                        });
                        self.error = Some(err);
                        self.go(Screen::Failed);
                    }
                }
            }
        }
    }

    /// Draws the current screen, its help bar, and any question over it.
    pub fn draw(&self, f: &mut Frame<'_>) {
        let area = f.area();
        if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
            let msg = vec![
                Line::from("The terminal is too small for the ceremony.".bold()),
                Line::from(format!(
                    "It is {}×{}; make it at least {MIN_WIDTH}×{MIN_HEIGHT}.",
                    area.width, area.height
                )),
            ];
            f.render_widget(Paragraph::new(msg), area);
            return;
        }
        let [title, body, notice, help] = Layout::vertical([
            Constraint::Length(1),
            Constraint::Min(0),
            Constraint::Length(1),
            Constraint::Length(1),
        ])
        .areas(area);
        let c = self.component();
        widgets::title_bar(f, title, c.title(), self.model.ceremony_id());
        c.draw(f, body, &self.model);
        if let Some(n) = &self.model.notice {
            f.render_widget(
                Paragraph::new(Line::styled(n.clone(), Style::new().fg(Color::Yellow))),
                notice,
            );
        }
        match self.modal {
            None => widgets::help_bar(f, help, &c.help(&self.model)),
            Some(m) => {
                widgets::help_bar(f, help, &[("y", "yes"), ("n/Esc", "no")]);
                self.draw_modal(f, m);
            }
        }
    }

    fn draw_modal(&self, f: &mut Frame<'_>, m: Modal) {
        match m {
            Modal::PaperBackup => widgets::dialog(
                f,
                "Paper backup of the master secret?",
                vec![
                    Line::from("The 24-word mnemonic of the master secret will be shown on this"),
                    Line::from("screen once, during generation, to be written on paper."),
                    Line::from("Anyone who sees it can re-create every validator key."),
                    Line::from(
                        "Check that no camera and no one without a role can see the screen.",
                    ),
                    Line::from("The transcript records that it was shown (never the words)."),
                    Line::from(""),
                    Line::from("Show the mnemonic for a paper backup?  y = yes, n = no".bold()),
                ],
                Color::Red,
            ),
            Modal::Cancel => widgets::dialog(
                f,
                "Cancel the ceremony?",
                vec![
                    Line::from("The run stops at the next step; its staging directory is removed"),
                    Line::from("and no bundle is written. The HSM keeps its keys."),
                    Line::from(""),
                    Line::from("Cancel?  y = cancel the ceremony, n = go on".bold()),
                ],
                Color::Yellow,
            ),
            Modal::Quit => widgets::dialog(
                f,
                "Leave the ceremony?",
                vec![
                    Line::from("Nothing has been generated or written yet."),
                    Line::from(""),
                    Line::from("Leave?  y = leave, n = stay".bold()),
                ],
                Color::Yellow,
            ),
        }
    }
}

/// Staging directories of `out` (`.<name>.incomplete-*`) left beside it.
fn leftovers(out: &std::path::Path) -> Vec<PathBuf> {
    let Some(name) = out.file_name().map(|n| n.to_string_lossy().into_owned()) else {
        return Vec::new();
    };
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    };
    let prefix = format!(".{name}.incomplete-");
    std::fs::read_dir(parent)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| {
                    p.file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with(&prefix))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The list of validators of the bundle's `manifest.json`.
fn read_validators(
    dir: &std::path::Path,
) -> Result<Vec<kc_bundle::manifest::ValidatorEntry>, String> {
    let path = dir.join(kc_bundle::manifest::files::MANIFEST);
    let file = std::fs::File::open(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    kc_bundle::manifest::Manifest::from_reader(std::io::BufReader::new(file))
        .map(|m| m.validators)
        .map_err(|e| format!("{}: {e}", path.display()))
}
