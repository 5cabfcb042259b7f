//! What the TUI asks of the world: the plan, the HSM, the pipeline, verification, the clock.
//!
//! [`RealServices`] calls the libraries the headless mode calls (`kc_bundle`, `kc_hsm`,
//! [`crate::pipeline::run`] in a worker thread); tests substitute their own [`Services`] to
//! drive every screen with fixed data. Nothing here decides anything the pipeline decides.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use kc_bundle::plan::Plan;
use kc_bundle::verify::{self, Report, VerifyOptions};
use kc_hsm::{
    LibraryInfo, Module, PreflightReport, SecretString, TokenInfo, CEREMONY_REQUIREMENTS,
};
use zeroize::Zeroizing;

use crate::buildinfo::ToolIdentity;
use crate::hygiene::Hygiene;
use crate::pipeline::{self, MasterSource, Outcome, People, Progress, RunConfig};
use crate::Error;

/// What the HSM screen shows before the PIN is typed.
#[derive(Debug, Clone)]
pub struct HsmInfo {
    pub module: PathBuf,
    pub library: LibraryInfo,
    pub token: TokenInfo,
    pub preflight: PreflightReport,
}

/// A message from the pipeline's worker thread.
pub enum Event {
    /// A stage began (the names of [`Progress::stage`]).
    Stage(String),
    /// `done` of `total` validators are ready.
    Validators(usize, usize),
    /// The mnemonic for the paper backup (only when it was asked for and confirmed). The
    /// pipeline waits until [`Control::paper_written`] is called.
    PaperBackup(Zeroizing<String>),
    /// The pipeline returned.
    Finished(Box<Result<Outcome, Error>>),
}

/// Shared between the TUI and the worker: cancel, and "the paper backup is written".
#[derive(Default)]
pub struct Control {
    cancel: AtomicBool,
    written: Mutex<bool>,
    wake: Condvar,
}

impl Control {
    pub fn cancel(&self) {
        self.cancel.store(true, Ordering::SeqCst);
        self.wake.notify_all();
    }
    pub fn is_cancelled(&self) -> bool {
        self.cancel.load(Ordering::SeqCst)
    }
    pub fn paper_written(&self) {
        *self.written.lock().unwrap_or_else(|p| p.into_inner()) = true;
        self.wake.notify_all();
    }
    /// Waits until the paper backup is written or the run is cancelled.
    fn wait_written(&self) {
        let mut done = self.written.lock().unwrap_or_else(|p| p.into_inner());
        while !*done && !self.is_cancelled() {
            done = self
                .wake
                .wait_timeout(done, Duration::from_millis(200))
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }
}

/// Everything a run needs from the wizard.
pub struct Job {
    pub plan: Plan,
    pub out: PathBuf,
    pub pin: SecretString,
    pub people: People,
    pub paper_backup: bool,
    pub control: Arc<Control>,
}

/// The side effects of the wizard.
pub trait Services {
    /// Reads and checks the plan (as `ceremony run` does).
    fn load_plan(&mut self, path: &Path) -> Result<Plan, String>;
    /// Module, token and preflight, without logging in.
    fn inspect_hsm(&mut self, plan: &Plan) -> Result<HsmInfo, String>;
    /// Checks the PIN by logging in (the pipeline logs in again with it).
    fn login(&mut self, plan: &Plan, pin: &SecretString) -> Result<(), String>;
    /// Starts the pipeline; its events arrive on the returned channel, `Finished` last.
    fn start(&mut self, job: Job) -> Receiver<Event>;
    /// Verifies the committed bundle from disk ("verify after write").
    fn verify(&mut self, outcome: &Outcome) -> Report;
    /// Now (tests use a fixed clock).
    fn now(&self) -> Instant {
        Instant::now()
    }
}

/// The [`Progress`] of a TUI run: events over a channel, cancel from an atomic flag.
pub struct ChannelProgress {
    tx: Mutex<Sender<Event>>,
    control: Arc<Control>,
    paper_backup: bool,
}

impl ChannelProgress {
    pub fn new(tx: Sender<Event>, control: Arc<Control>, paper_backup: bool) -> Self {
        Self {
            tx: Mutex::new(tx),
            control,
            paper_backup,
        }
    }
    fn send(&self, e: Event) {
        // A closed channel means the TUI is gone; the run then stops at the next check.
        let _ = self.tx.lock().unwrap_or_else(|p| p.into_inner()).send(e);
    }
}

impl Progress for ChannelProgress {
    fn stage(&self, name: &str) {
        self.send(Event::Stage(name.to_owned()));
    }
    fn validators(&self, done: usize, total: usize) {
        self.send(Event::Validators(done, total));
    }
    fn cancelled(&self) -> bool {
        self.control.is_cancelled()
    }
    fn wants_paper_backup(&self) -> bool {
        self.paper_backup
    }
    fn show_paper_backup(&self, phrase: Zeroizing<String>) {
        self.send(Event::PaperBackup(phrase));
        self.control.wait_written();
    }
}

/// The real thing: the HSM through `kc_hsm`, the run through [`pipeline::run`].
pub struct RealServices {
    pub hygiene: Hygiene,
    pub tool: ToolIdentity,
    pub previous: Vec<PathBuf>,
}

impl Services for RealServices {
    fn load_plan(&mut self, path: &Path) -> Result<Plan, String> {
        Plan::load(path).map_err(|e| e.to_string())
    }

    fn inspect_hsm(&mut self, plan: &Plan) -> Result<HsmInfo, String> {
        let run = || -> Result<HsmInfo, kc_hsm::Error> {
            // The same path gives the same process-wide context the pipeline uses later.
            let module = Module::open(&plan.hsm_module)?;
            let library = module.info()?;
            let token = module.select_token(
                &plan.file.hsm.token_label,
                plan.file.hsm.token_serial.as_deref(),
            )?;
            // The seal key's backend decides what the token must offer: an RSA public key
            // under the seal label means rsa-oaep.
            let requirements =
                if kc_hsm::rsa_seal_key_sha256_public(&token, &plan.file.hsm.seal_key_label)?
                    .is_some()
                {
                    kc_hsm::CEREMONY_RSA_REQUIREMENTS
                } else {
                    CEREMONY_REQUIREMENTS
                };
            Ok(HsmInfo {
                module: plan.hsm_module.clone(),
                library,
                token: token.info()?,
                preflight: token.check_requirements(requirements)?,
            })
        };
        run().map_err(|e| format!("hsm: {e}"))
    }

    fn login(&mut self, plan: &Plan, pin: &SecretString) -> Result<(), String> {
        let module = Module::open(&plan.hsm_module).map_err(|e| format!("hsm: {e}"))?;
        let token = module
            .select_token(
                &plan.file.hsm.token_label,
                plan.file.hsm.token_serial.as_deref(),
            )
            .map_err(|e| format!("hsm: {e}"))?;
        token.login(pin).map(drop).map_err(|e| format!("hsm: {e}"))
    }

    fn start(&mut self, job: Job) -> Receiver<Event> {
        let (tx, rx) = mpsc::channel();
        let progress = ChannelProgress::new(tx.clone(), job.control.clone(), job.paper_backup);
        let cfg = RunConfig {
            out: job.out,
            pin: job.pin,
            people: job.people,
            previous: self.previous.clone(),
            master: MasterSource::Plan,
            hygiene: self.hygiene,
            tool: self.tool.clone(),
        };
        let plan = job.plan;
        std::thread::Builder::new()
            .name("ceremony-pipeline".into())
            .spawn(move || {
                let result = pipeline::run(&plan, &cfg, &progress);
                let _ = tx.send(Event::Finished(Box::new(result)));
            })
            .expect("spawn the pipeline thread");
        rx
    }

    fn verify(&mut self, outcome: &Outcome) -> Report {
        let identity = hex::decode(&outcome.manifest.identity.public_key).ok();
        verify::verify_bundle(
            &outcome.dir,
            &VerifyOptions {
                trusted_identities: identity.into_iter().collect(),
                expect_binary: Some(self.tool.binary_sha256.clone()),
                ..VerifyOptions::default()
            },
        )
    }
}
