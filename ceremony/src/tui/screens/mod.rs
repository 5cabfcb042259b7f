//! One component per screen of the wizard, in order.

mod done;
mod export;
mod generate;
mod hsm;
mod paper;
mod plan;
mod plan_path;
mod review;

pub use done::{DoneScreen, FailedScreen};
pub use export::ExportScreen;
pub use generate::GenerateScreen;
pub use hsm::HsmScreen;
pub use paper::PaperScreen;
pub use plan::PlanScreen;
pub use plan_path::PlanPathScreen;
pub use review::ReviewScreen;

use crate::tui::keys::Key;
use zeroize::Zeroizing;

/// A one-line text input (zeroized on drop: it may hold the PIN).
#[derive(Default)]
pub struct Input {
    value: Zeroizing<String>,
}

impl Input {
    /// Edits on printable characters, Backspace and Ctrl-U; returns whether the key was used.
    pub fn handle(&mut self, key: Key) -> bool {
        match key {
            Key::Ctrl('u') => {
                self.value.clear();
                true
            }
            Key::Char(c) if !c.is_control() => {
                if self.value.chars().count() < 128 {
                    self.value.push(c);
                }
                true
            }
            Key::Backspace => {
                self.value.pop();
                true
            }
            _ => false,
        }
    }
    pub fn value(&self) -> &str {
        &self.value
    }
    pub fn is_empty(&self) -> bool {
        self.value.is_empty()
    }
    /// Empties the field, returning its value (zeroized on drop).
    pub fn take(&mut self) -> Zeroizing<String> {
        std::mem::take(&mut self.value)
    }
    pub fn clear(&mut self) {
        self.value.clear();
    }
    /// As many mask characters as the value has characters.
    pub fn masked(&self) -> String {
        "•".repeat(self.value.chars().count())
    }
}
