//! Step 0 (`ceremony` without a subcommand): the path of the plan.

use std::path::PathBuf;

use crate::tui::keys::Key;
use ratatui::layout::Rect;
use ratatui::style::Stylize;
use ratatui::text::Line;
use ratatui::widgets::{Block, Paragraph, Wrap};
use ratatui::Frame;

use super::Input;
use crate::tui::app::{Action, Component, Model};
use crate::tui::widgets::{self, Help};

#[derive(Default)]
pub struct PlanPathScreen {
    path: Input,
}

impl Component for PlanPathScreen {
    fn title(&self) -> &'static str {
        "Plan"
    }

    fn handle_key(&mut self, key: Key, _model: &Model) -> Option<Action> {
        match key {
            Key::Esc => Some(Action::Quit),
            Key::Enter if self.path.is_empty() => {
                Some(Action::Notice("type the path of the plan file".into()))
            }
            Key::Enter => Some(Action::LoadPlan(PathBuf::from(self.path.value().trim()))),
            _ => {
                self.path.handle(key);
                None
            }
        }
    }

    fn draw(&self, f: &mut Frame<'_>, area: Rect, _model: &Model) {
        let lines = vec![
            Line::from("The ceremony runs one reviewed plan (strict TOML). Witnesses should"),
            Line::from("have a printed copy of it and its SHA-256 to compare on the next screens."),
            Line::from(""),
            widgets::field("Plan file:", self.path.value(), true),
            Line::from(""),
            Line::from("Paths inside the plan are relative to the plan file.".dim()),
        ];
        f.render_widget(
            Paragraph::new(lines)
                .wrap(Wrap { trim: false })
                .block(Block::bordered().title(" Which plan? ")),
            widgets::centered(area, 90, 10),
        );
    }

    fn help(&self, _model: &Model) -> Vec<Help> {
        vec![("Enter", "load the plan"), ("Esc", "quit")]
    }
}
