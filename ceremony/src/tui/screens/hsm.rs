//! Step 1: the HSM. Module and token from the plan, token information, the preflight (each
//! required mechanism ✓ or ✗), and the PIN (masked), checked by logging in.

use crate::tui::keys::Key;
use kc_hsm::pin::PinProblem;
use kc_hsm::SecretString;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Wrap};
use ratatui::Frame;

use super::Input;
use crate::tui::app::{Action, Component, Model};
use crate::tui::widgets::{self, ok_mark, Help};

#[derive(Default)]
pub struct HsmScreen {
    pin: Input,
}

fn kv(k: &str, v: impl Into<String>) -> Line<'static> {
    Line::from(vec![
        Span::styled(format!("{k:<16}"), Style::new().bold()),
        Span::raw(v.into()),
    ])
}

impl Component for HsmScreen {
    fn title(&self) -> &'static str {
        "1/6 HSM"
    }

    fn handle_key(&mut self, key: Key, model: &Model) -> Option<Action> {
        match key {
            Key::Esc => Some(Action::ConfirmQuit),
            Key::Enter if model.hsm.is_none() => Some(Action::Notice(
                "the token could not be read; fix the HSM and start again (Esc)".into(),
            )),
            // The PIN rule both binaries share (`kc_hsm::pin`): a PIN is used exactly as typed,
            // so one that starts or ends with whitespace is refused before it can spend one of
            // the token's wrong-PIN attempts. The field is emptied either way.
            Key::Enter => {
                let pin = self.pin.take();
                match kc_hsm::pin::check(&pin) {
                    Ok(()) => Some(Action::Login(SecretString::from(pin.as_str().to_owned()))),
                    Err(PinProblem::Empty) => {
                        Some(Action::Notice("type the token's user PIN".into()))
                    }
                    Err(problem) => Some(Action::Notice(format!("the PIN {problem}"))),
                }
            }
            _ => {
                self.pin.handle(key);
                None
            }
        }
    }

    fn draw(&self, f: &mut Frame<'_>, area: Rect, model: &Model) {
        let Some(plan) = &model.plan else { return };
        let [top, bottom] =
            Layout::vertical([Constraint::Min(12), Constraint::Length(5)]).areas(area);
        let [left, right] =
            Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(top);

        let mut info = vec![
            kv("Module", plan.hsm_module.display().to_string()),
            kv("Token label", plan.file.hsm.token_label.clone()),
            kv("Seal key", plan.file.hsm.seal_key_label.clone()),
            kv("Identity key", plan.file.hsm.identity_key_label.clone()),
            Line::from(""),
        ];
        match (&model.hsm, &model.hsm_error) {
            (Some(h), _) => {
                info.extend([
                    kv(
                        "Library",
                        format!(
                            "{} {} ({}, Cryptoki {})",
                            h.library.manufacturer,
                            h.library.description,
                            h.library.library_version,
                            h.library.cryptoki_version
                        ),
                    ),
                    kv("Manufacturer", h.token.manufacturer.clone()),
                    kv("Model", h.token.model.clone()),
                    kv("Serial", h.token.serial.clone()),
                    kv("Firmware", h.token.firmware_version.clone()),
                    kv("Hardware", h.token.hardware_version.clone()),
                    kv(
                        "Random (RNG)",
                        if h.token.rng { "yes" } else { "no" }.to_owned(),
                    ),
                ]);
            }
            (None, Some(e)) => info.push(Line::styled(e.clone(), Style::new().fg(Color::Red))),
            (None, None) => {}
        }
        f.render_widget(
            Paragraph::new(info)
                .wrap(Wrap { trim: false })
                .block(Block::bordered().title(" Module and token ")),
            left,
        );

        let mut pre = Vec::new();
        if let Some(h) = &model.hsm {
            for i in &h.preflight.items {
                let mut spans = vec![
                    ok_mark(i.supported),
                    Span::raw(" "),
                    Span::styled(format!("{:<22}", i.name), Style::new().bold()),
                    Span::raw(i.purpose.clone()),
                ];
                if let Some(r) = &i.reason {
                    spans.push(Span::styled(format!(" ({r})"), Style::new().fg(Color::Red)));
                }
                pre.push(Line::from(spans));
            }
            pre.push(Line::from(""));
            pre.push(if h.preflight.all_supported() {
                Line::styled(
                    "Every required mechanism is available.",
                    Style::new().fg(Color::Green),
                )
            } else {
                Line::styled(
                    "Missing mechanisms: this token cannot run the ceremony.",
                    Style::new().fg(Color::Red).bold(),
                )
            });
        }
        f.render_widget(
            Paragraph::new(pre)
                .wrap(Wrap { trim: false })
                .block(Block::bordered().title(" Preflight ")),
            right,
        );

        let pin = vec![
            widgets::field("User PIN:", &self.pin.masked(), true),
            Line::from(
                "The PIN is never shown, logged or written; it is checked by logging in.".dim(),
            ),
        ];
        f.render_widget(
            Paragraph::new(pin).block(Block::bordered().title(" Log in ")),
            bottom,
        );
    }

    fn help(&self, _model: &Model) -> Vec<Help> {
        vec![
            ("type", "PIN (masked)"),
            ("Enter", "log in and continue"),
            ("Ctrl-U", "clear"),
            ("Esc", "quit"),
        ]
    }
}
