//! The optional paper-backup screen: the master secret's mnemonic, shown once during
//! generation (the pipeline waits), only when asked for and confirmed on the plan screen.
//! The words are wiped from memory and screen when the administrator confirms they are written.

use crate::tui::keys::Key;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph};
use ratatui::Frame;

use crate::tui::app::{Action, Component, Model};
use crate::tui::widgets::Help;

pub struct PaperScreen;

impl Component for PaperScreen {
    fn title(&self) -> &'static str {
        "3/6 Generation: paper backup"
    }

    fn handle_key(&mut self, key: Key, _model: &Model) -> Option<Action> {
        match key {
            Key::Enter => Some(Action::PaperWritten),
            Key::Esc => Some(Action::RequestCancel),
            _ => None,
        }
    }

    fn draw(&self, f: &mut Frame<'_>, area: Rect, model: &Model) {
        let [warn, words] =
            Layout::vertical([Constraint::Length(6), Constraint::Min(8)]).areas(area);
        f.render_widget(
            Paragraph::new(vec![
                Line::styled(
                    "SECRET: the master secret of every validator of this batch.",
                    Style::new().fg(Color::Red).bold(),
                ),
                Line::from("Write the words in order on the paper backup form; a witness checks"),
                Line::from("each word. Never photograph, type or say them. Press Enter when done:"),
                Line::from("the words are then wiped and the ceremony continues."),
            ])
            .block(Block::bordered().border_style(Style::new().fg(Color::Red))),
            warn,
        );
        let Some(phrase) = &model.paper_phrase else {
            return;
        };
        let list: Vec<&str> = phrase.split(' ').collect();
        let rows = list.len().div_ceil(4);
        let lines: Vec<Line<'_>> = (0..rows)
            .map(|r| {
                let spans: Vec<Span<'_>> = (0..4)
                    .filter_map(|c| {
                        let i = r * 4 + c;
                        list.get(i)
                            .map(|w| Span::raw(format!("{:>2}. {:<14}", i + 1, w)))
                    })
                    .collect();
                Line::from(spans)
            })
            .collect();
        f.render_widget(
            Paragraph::new(lines).block(
                Block::bordered()
                    .title(format!(" Mnemonic: {} words ", list.len()))
                    .border_style(Style::new().fg(Color::Red)),
            ),
            words,
        );
    }

    fn help(&self, _model: &Model) -> Vec<Help> {
        vec![
            ("Enter", "written and checked: wipe and continue"),
            ("Esc", "cancel the ceremony (asks first)"),
        ]
    }
}
