//! The ceremony's terminal UI: a keyboard-only wizard over the same [`crate::pipeline`] as the
//! headless mode, for the administrator and the witnesses in the room.
//!
//! Screens, in order: the plan path (when not given), 1 HSM (module, token information,
//! preflight, masked PIN), 2 plan review (operators' key fingerprints as hex and PGP words,
//! witnesses, the ceremony id typed to proceed, the optional paper backup), 3 generation
//! (gauge, step log, elapsed and estimate, confirmed cancel), 4 review (validators and every
//! verification result), 5 export (verify after write, the bundle digest as hex, words and QR
//! code), 6 done (transcript head, what leaves the room and what stays).
//!
//! Structure (after the gitui / ratatui templates): [`app::Model`] + [`app::Action`] + one
//! [`app::Component`] per screen (`handle_key`, `update`, `draw`); side effects go through
//! [`services::Services`], so tests drive every screen on a `TestBackend` with fixed data.
//!
//! What it must never do: decide anything the pipeline decides, show a secret (the PIN is
//! masked; the mnemonic appears only on the paper-backup screen, off by default and behind a
//! confirmation), or leave the terminal in raw mode (restored on drop and in the panic hook).

pub mod app;
pub mod qr;
pub mod screens;
pub mod services;
pub mod widgets;
pub mod words;

use std::io::{self, Stdout};
use std::path::PathBuf;
use std::time::Duration;

use crossterm::event::{self, Event as TermEvent};
use crossterm::execute;
use crossterm::terminal::{
    disable_raw_mode, enable_raw_mode, EnterAlternateScreen, LeaveAlternateScreen,
};
use ratatui::backend::CrosstermBackend;
use ratatui::Terminal;

pub use app::{App, Exit};
pub use services::{RealServices, Services};

use crate::Error;

/// The terminal in raw mode on the alternate screen; restored when dropped.
pub struct TerminalGuard {
    pub terminal: Terminal<CrosstermBackend<Stdout>>,
}

/// Leaves raw mode and the alternate screen, shows the cursor (idempotent, never fails).
pub fn restore_terminal() {
    let _ = disable_raw_mode();
    let _ = execute!(io::stdout(), LeaveAlternateScreen, crossterm::cursor::Show);
}

impl TerminalGuard {
    /// Enters raw mode and the alternate screen, and installs a panic hook that restores the
    /// terminal before the panic message is printed.
    pub fn enter() -> io::Result<Self> {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            restore_terminal();
            previous(info);
        }));
        enable_raw_mode()?;
        let mut out = io::stdout();
        if let Err(e) = execute!(out, EnterAlternateScreen, crossterm::cursor::Hide) {
            restore_terminal();
            return Err(e);
        }
        let terminal = match Terminal::new(CrosstermBackend::new(out)) {
            Ok(t) => t,
            Err(e) => {
                restore_terminal();
                return Err(e);
            }
        };
        Ok(Self { terminal })
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore_terminal();
    }
}

/// Runs the wizard until it ends; the event loop is the only code that touches the terminal.
pub fn run_loop<S: Services>(guard: &mut TerminalGuard, app: &mut App<S>) -> io::Result<Exit> {
    loop {
        app.tick();
        guard.terminal.draw(|f| app.draw(f))?;
        if let Some(exit) = app.take_exit() {
            return Ok(exit);
        }
        if event::poll(Duration::from_millis(100))? {
            match event::read()? {
                TermEvent::Key(k) => app.handle_key(k),
                // The next draw fits the new size (ratatui resizes on draw).
                TermEvent::Resize(_, _) => guard.terminal.autoresize()?,
                _ => {}
            }
        }
    }
}

/// What `ceremony tui` (and `ceremony` with no subcommand) was given.
pub struct Options {
    pub plan: Option<PathBuf>,
    pub out: Option<PathBuf>,
    pub previous: Vec<PathBuf>,
    pub allow_unlocked_memory: bool,
}

/// Runs the TUI: hardens the process, opens the terminal, runs the wizard, restores the
/// terminal. `Ok(true)` when a bundle was made and verified after write.
pub fn run(opts: Options) -> Result<bool, Error> {
    let hygiene = crate::hygiene::harden(opts.allow_unlocked_memory)?;
    let tool = crate::buildinfo::ToolIdentity::current().map_err(|e| Error::Input {
        what: "the running executable".into(),
        detail: e.to_string(),
    })?;
    let services = RealServices {
        hygiene,
        tool,
        previous: opts.previous,
    };
    let mut app = App::new(services, opts.plan, opts.out);
    let exit = {
        let mut guard = TerminalGuard::enter().map_err(|e| Error::Input {
            what: "the terminal".into(),
            detail: e.to_string(),
        })?;
        run_loop(&mut guard, &mut app).map_err(|e| Error::Input {
            what: "the terminal".into(),
            detail: e.to_string(),
        })?
        // the guard restores the terminal here
    };
    if !hygiene.memory_locked {
        eprintln!("ceremony: WARNING: memory was not locked (--allow-unlocked-memory)");
    }
    match exit {
        Exit::Done { verified } => {
            if let Some(o) = &app.model.outcome {
                println!("bundle        {}", o.dir.display());
                println!("bundle digest {}", o.bundle_digest);
                println!("transcript    {}", o.manifest.transcript_head);
            }
            Ok(verified)
        }
        Exit::Quit => Err(Error::Cancelled),
        Exit::Failed(e) => Err(e),
    }
}
