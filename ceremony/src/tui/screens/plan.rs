//! Step 2: plan review. What the plan will do, the operators with their key fingerprints as hex
//! and as PGP words to read aloud, the people in the room (recorded in the transcript), the
//! optional paper backup, and the ceremony id typed by the administrator to proceed.

use crate::tui::keys::Key;
use kc_bundle::plan::SeedSource;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Wrap};
use ratatui::Frame;

use super::Input;
use crate::pipeline::People;
use crate::tui::app::{Action, Component, Model};
use crate::tui::widgets::{self, Help};
use crate::tui::words;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Focus {
    #[default]
    Administrator,
    Witness,
    PaperBackup,
    Confirm,
}

impl Focus {
    fn next(self) -> Self {
        match self {
            Focus::Administrator => Focus::Witness,
            Focus::Witness => Focus::PaperBackup,
            Focus::PaperBackup => Focus::Confirm,
            Focus::Confirm => Focus::Administrator,
        }
    }
    fn prev(self) -> Self {
        match self {
            Focus::Administrator => Focus::Confirm,
            Focus::Witness => Focus::Administrator,
            Focus::PaperBackup => Focus::Witness,
            Focus::Confirm => Focus::PaperBackup,
        }
    }
}

#[derive(Default)]
pub struct PlanScreen {
    focus: Focus,
    administrator: Input,
    witness: Input,
    witnesses: Vec<String>,
    confirm: Input,
    scroll: u16,
}

fn kv(k: &str, v: impl Into<String>) -> Line<'static> {
    Line::from(vec![
        Span::styled(format!("{k:<14}"), Style::new().bold()),
        Span::raw(v.into()),
    ])
}

impl PlanScreen {
    fn begin(&self, model: &Model) -> Action {
        let Some(plan) = &model.plan else {
            return Action::Notice("no plan".into());
        };
        let admin = self.administrator.value().trim();
        if admin.is_empty() {
            return Action::Notice("enter the administrator's name".into());
        }
        if self.witnesses.is_empty() {
            return Action::Notice("enter at least one witness (Enter after each name)".into());
        }
        if self.confirm.value() != plan.id() {
            return Action::Notice(
                "type the ceremony id exactly as the plan has it to proceed".into(),
            );
        }
        if model.out.exists() {
            return Action::Notice(format!(
                "{} exists: the ceremony never overwrites; choose another --out",
                model.out.display()
            ));
        }
        Action::Begin(People {
            administrator: Some(admin.to_owned()),
            witnesses: self.witnesses.clone(),
        })
    }
}

impl Component for PlanScreen {
    fn title(&self) -> &'static str {
        "2/6 Plan review"
    }

    fn handle_key(&mut self, key: Key, model: &Model) -> Option<Action> {
        match key {
            Key::Esc => return Some(Action::ConfirmQuit),
            Key::Tab | Key::Down => {
                self.focus = self.focus.next();
                return None;
            }
            Key::BackTab | Key::Up => {
                self.focus = self.focus.prev();
                return None;
            }
            Key::PageDown => {
                self.scroll = self.scroll.saturating_add(5);
                return None;
            }
            Key::PageUp => {
                self.scroll = self.scroll.saturating_sub(5);
                return None;
            }
            _ => {}
        }
        match self.focus {
            Focus::Administrator => match key {
                Key::Enter => self.focus = Focus::Witness,
                _ => {
                    self.administrator.handle(key);
                }
            },
            Focus::Witness => match key {
                Key::Enter if self.witness.value().trim().is_empty() => {
                    self.focus = Focus::PaperBackup;
                }
                Key::Enter => {
                    let name = self.witness.value().trim().to_owned();
                    self.witness.clear();
                    self.witnesses.push(name);
                }
                Key::Backspace if self.witness.is_empty() => {
                    self.witnesses.pop();
                }
                _ => {
                    self.witness.handle(key);
                }
            },
            Focus::PaperBackup => match key {
                Key::Char(' ') => return Some(Action::TogglePaperBackup),
                Key::Enter => self.focus = Focus::Confirm,
                _ => {}
            },
            Focus::Confirm => match key {
                Key::Enter => return Some(self.begin(model)),
                _ => {
                    self.confirm.handle(key);
                }
            },
        }
        None
    }

    fn draw(&self, f: &mut Frame<'_>, area: Rect, model: &Model) {
        let Some(plan) = &model.plan else { return };
        let [top, ops] = Layout::vertical([Constraint::Length(15), Constraint::Min(6)]).areas(area);
        let [left, right] =
            Layout::horizontal([Constraint::Percentage(55), Constraint::Percentage(45)]).areas(top);

        let last = plan.start_index() + plan.count() - 1;
        let seed = match plan.file.seed.source {
            SeedSource::Hsm => "new master secret from HSM + OS randomness".to_owned(),
            SeedSource::Mnemonic => "an existing mnemonic (recovery drill / extension)".to_owned(),
        };
        let out_ok = !model.out.exists();
        let details = vec![
            kv(
                "Plan SHA-256",
                widgets::grouped(&model.plan_sha256[..32], 16),
            ),
            kv("", widgets::grouped(&model.plan_sha256[32..], 16)),
            kv(
                "Network",
                format!(
                    "{} (fork version 0x{})",
                    plan.network.name(),
                    hex::encode(plan.network.genesis_fork_version())
                ),
            ),
            kv(
                "Validators",
                format!(
                    "{} (EIP-2334 indices {}..={})",
                    plan.count(),
                    plan.start_index(),
                    last
                ),
            ),
            kv(
                "Deposit",
                format!(
                    "{} gwei each, withdrawal type {}",
                    plan.amount_gwei(),
                    plan.file.deposit.withdrawal_type
                ),
            ),
            kv("Withdrawal", plan.withdrawal_address.to_checksum()),
            kv("SSV owner", plan.owner.to_checksum()),
            kv(
                "Owner nonces",
                format!(
                    "{}..={}",
                    plan.first_nonce(),
                    plan.nonce_of(plan.count() - 1)
                ),
            ),
            kv(
                "Operators",
                format!(
                    "{} ({})",
                    model.operators.len(),
                    match &plan.operators.provenance {
                        Some(_) => "exported with provenance",
                        None => "UNPINNED: no provenance",
                    }
                ),
            ),
            kv("Seed", seed),
            Line::from(vec![
                Span::styled(format!("{:<14}", "Bundle"), Style::new().bold()),
                Span::raw(model.out.display().to_string()),
                Span::raw(" "),
                if out_ok {
                    Span::styled("(new)", Style::new().fg(Color::Green))
                } else {
                    Span::styled("EXISTS: refused", Style::new().fg(Color::Red).bold())
                },
            ]),
        ];
        f.render_widget(
            Paragraph::new(details)
                .wrap(Wrap { trim: false })
                .block(Block::bordered().title(" The plan ")),
            left,
        );

        let witnesses = if self.witnesses.is_empty() {
            "(none yet)".to_owned()
        } else {
            self.witnesses
                .iter()
                .enumerate()
                .map(|(i, w)| format!("{}. {w}", i + 1))
                .collect::<Vec<_>>()
                .join("  ")
        };
        let paper = if model.paper_backup {
            Span::styled(
                "[x] ON: mnemonic shown once",
                Style::new().fg(Color::Red).bold(),
            )
        } else {
            Span::raw("[ ] off (Space to turn on)")
        };
        let paper_style = if self.focus == Focus::PaperBackup {
            Style::new().fg(Color::Black).bg(Color::Yellow)
        } else {
            Style::new()
        };
        let people = vec![
            widgets::field(
                "Administrator:",
                self.administrator.value(),
                self.focus == Focus::Administrator,
            ),
            widgets::field(
                "Witness:      ",
                self.witness.value(),
                self.focus == Focus::Witness,
            ),
            Line::from(vec![
                Span::styled("Witnesses:     ", Style::new().bold()),
                Span::raw(witnesses),
            ]),
            Line::from(""),
            Line::from(vec![
                Span::styled("Paper backup:  ", Style::new().bold()),
                paper.patch_style(paper_style),
            ]),
            Line::from(""),
            Line::from("To proceed, the administrator types the ceremony id:".dim()),
            widgets::field(
                "Ceremony id:  ",
                self.confirm.value(),
                self.focus == Focus::Confirm,
            ),
            Line::from(if self.confirm.value() == plan.id() {
                Span::styled("matches the plan", Style::new().fg(Color::Green))
            } else {
                Span::raw("")
            }),
        ];
        f.render_widget(
            Paragraph::new(people)
                .wrap(Wrap { trim: false })
                .block(Block::bordered().title(" People (recorded in the transcript) ")),
            right,
        );

        let mut lines = Vec::new();
        for o in &model.operators {
            lines.push(Line::from(vec![
                Span::styled(format!("operator {:<6}", o.id), Style::new().bold()),
                Span::raw(widgets::grouped(&o.fingerprint, 4)),
            ]));
            if let Some(w) = words::words_of_hex(&o.fingerprint) {
                for l in widgets::word_lines(&w, 8) {
                    let mut spans = vec![Span::raw("              ")];
                    spans.extend(l.spans);
                    lines.push(Line::from(spans));
                }
            }
        }
        f.render_widget(
            Paragraph::new(lines)
                .scroll((self.scroll, 0))
                .block(Block::bordered().title(
                    " Operators: key fingerprints (SHA-256 of the RSA key) as hex and PGP words ",
                )),
            ops,
        );
    }

    fn help(&self, _model: &Model) -> Vec<Help> {
        let field = match self.focus {
            Focus::Administrator => ("Enter", "next field"),
            Focus::Witness => ("Enter", "add witness (empty: next)"),
            Focus::PaperBackup => ("Space", "paper backup on/off"),
            Focus::Confirm => ("Enter", "start the ceremony"),
        };
        let mut h = vec![field, ("Tab/↑↓", "move"), ("PgUp/PgDn", "scroll operators")];
        if self.focus == Focus::Witness {
            h.push(("Backspace", "on empty: remove last witness"));
        }
        h.push(("Esc", "quit"));
        h
    }
}
