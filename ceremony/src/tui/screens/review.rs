//! Step 4: review. The validators (shortened public keys and deposit data roots) and every
//! check of the pipeline's read-back verification of the staged bundle.

use crate::tui::keys::Key;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Row, Table};
use ratatui::Frame;

use crate::tui::app::{Action, Component, Model};
use crate::tui::widgets::{self, ok_mark, Help};

#[derive(Default)]
pub struct ReviewScreen {
    rows: usize,
    checks: u16,
}

impl Component for ReviewScreen {
    fn title(&self) -> &'static str {
        "4/6 Review"
    }

    fn handle_key(&mut self, key: Key, model: &Model) -> Option<Action> {
        let n = model.outcome.as_ref().map_or(0, |o| o.validators);
        match key {
            Key::Enter => return Some(Action::Next),
            Key::Down => self.rows = (self.rows + 1).min(n.saturating_sub(1)),
            Key::Up => self.rows = self.rows.saturating_sub(1),
            Key::PageDown => self.checks = self.checks.saturating_add(5),
            Key::PageUp => self.checks = self.checks.saturating_sub(5),
            _ => {}
        }
        None
    }

    fn draw(&self, f: &mut Frame<'_>, area: Rect, model: &Model) {
        let Some(o) = &model.outcome else { return };
        let m = &o.manifest;
        let passed = o.report.checks.iter().filter(|c| c.ok).count();
        let [summary, table, checks] = Layout::vertical([
            Constraint::Length(5),
            Constraint::Percentage(45),
            Constraint::Min(6),
        ])
        .areas(area);
        let b = |s: &'static str| Span::styled(s, Style::new().bold());
        f.render_widget(
            Paragraph::new(vec![
                Line::from(vec![
                    b("Validators   "),
                    Span::raw(format!(
                        "{} on {} (owner nonces {}..={})",
                        o.validators, m.network.name, m.owner.first_nonce, m.owner.last_nonce
                    )),
                ]),
                Line::from(vec![b("Merkle root  "), Span::raw(m.merkle_root.clone())]),
                Line::from(vec![
                    b("Verification "),
                    ok_mark(o.report.ok()),
                    Span::raw(format!(
                        " {passed} of {} checks passed on the staged bundle, read back",
                        o.report.checks.len()
                    )),
                ]),
            ])
            .block(Block::bordered().title(" Summary ")),
            summary,
        );

        let rows: Vec<Row<'_>> = m
            .validators
            .iter()
            .skip(self.rows)
            .map(|v| {
                Row::new(vec![
                    v.index.to_string(),
                    v.owner_nonce.to_string(),
                    widgets::short_hex(&v.pubkey, 8),
                    widgets::short_hex(&v.deposit_data_root, 8),
                    widgets::short_hex(&v.merkle_leaf, 6),
                ])
            })
            .collect();
        f.render_widget(
            Table::new(
                rows,
                [
                    Constraint::Length(8),
                    Constraint::Length(7),
                    Constraint::Length(22),
                    Constraint::Length(22),
                    Constraint::Length(18),
                ],
            )
            .header(
                Row::new(vec![
                    "index",
                    "nonce",
                    "public key",
                    "deposit root",
                    "merkle leaf",
                ])
                .style(Style::new().bold()),
            )
            .block(Block::bordered().title(format!(
                " Validators ({} of {}) ",
                (self.rows + 1).min(m.validators.len()),
                m.validators.len()
            ))),
            table,
        );

        let lines: Vec<Line<'_>> = o
            .report
            .checks
            .iter()
            .map(|c| {
                let place = if c.field.is_empty() {
                    c.file.clone()
                } else {
                    format!("{} {}", c.file, c.field)
                };
                Line::from(vec![
                    ok_mark(c.ok),
                    Span::raw(" "),
                    Span::styled(format!("{:<28}", c.name), Style::new().bold()),
                    Span::styled(format!("{place}: "), Style::new().dim()),
                    Span::styled(
                        c.detail.clone(),
                        if c.ok {
                            Style::new()
                        } else {
                            Style::new().fg(Color::Red)
                        },
                    ),
                ])
            })
            .collect();
        f.render_widget(
            Paragraph::new(lines)
                .scroll((self.checks, 0))
                .block(Block::bordered().title(" Every verification result ")),
            checks,
        );
    }

    fn help(&self, _model: &Model) -> Vec<Help> {
        vec![
            ("Enter", "continue to export"),
            ("↑↓", "scroll validators"),
            ("PgUp/PgDn", "scroll checks"),
        ]
    }
}
