//! Step 3: generation. The pipeline runs in a worker thread; this screen shows its stages, the
//! validators gauge, the elapsed time and an estimate. Esc asks, then cancels: the pipeline
//! stops at its next check, removes its staging directory and writes nothing.

use std::time::Duration;

use crate::tui::keys::Key;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Gauge, Paragraph};
use ratatui::Frame;

use crate::tui::app::{Action, Component, Model};
use crate::tui::widgets::Help;

pub struct GenerateScreen;

/// What each stage of [`crate::pipeline::run`] does (for the step log).
pub fn describe(stage: &str) -> &'static str {
    match stage {
        "plan" => "plan checked; the output must not exist",
        "ledger" => "earlier bundles: no index or nonce reused",
        "hsm" => "token, login, preflight, key attestation",
        "master" => "master secret: HSM random mixed with OS random",
        "validators" => "derive, deposit, ownership, split, encrypt; batch-checked, staged",
        "write" => "deposit data and key shares completed and synced",
        "seal" => "master secret sealed in the HSM and re-opened",
        "manifest" => "transcript, manifest, identity signature",
        "verify" => "staged bundle read back and verified",
        "commit" => "renamed into place",
        _ => "",
    }
}

pub fn fmt_duration(d: Duration) -> String {
    let s = d.as_secs();
    format!("{:02}:{:02}:{:02}", s / 3600, (s / 60) % 60, s % 60)
}

impl Component for GenerateScreen {
    fn title(&self) -> &'static str {
        "3/6 Generation"
    }

    fn handle_key(&mut self, key: Key, _model: &Model) -> Option<Action> {
        match key {
            Key::Esc => Some(Action::RequestCancel),
            _ => None,
        }
    }

    fn draw(&self, f: &mut Frame<'_>, area: Rect, model: &Model) {
        let Some(run) = &model.run else { return };
        let now = model.now();
        let elapsed = run
            .finished
            .unwrap_or_else(|| now.saturating_duration_since(run.started));
        let [gauge, times, log] = Layout::vertical([
            Constraint::Length(3),
            Constraint::Length(4),
            Constraint::Min(4),
        ])
        .areas(area);

        let ratio = if run.total == 0 {
            0.0
        } else {
            run.done as f64 / run.total as f64
        };
        f.render_widget(
            Gauge::default()
                .block(Block::bordered().title(" Validators "))
                .gauge_style(Style::new().fg(Color::Green))
                .ratio(ratio.clamp(0.0, 1.0))
                .label(format!("{}/{} validators", run.done, run.total)),
            gauge,
        );

        let estimate = match (run.validators_started, run.done) {
            _ if run.cancelling => "cancelling: stopping at the next step…".to_owned(),
            (Some(_), d) if d >= run.total && run.total > 0 => {
                "validators done; writing and verifying the bundle".to_owned()
            }
            (Some(start), d) if d > 0 => {
                let spent = now.saturating_duration_since(start);
                let left = spent.mul_f64((run.total - d) as f64 / d as f64);
                format!("about {} left for the validators", fmt_duration(left))
            }
            _ => "after the first validators".to_owned(),
        };
        let times_lines = vec![
            Line::from(vec![
                Span::styled("Elapsed   ", Style::new().bold()),
                Span::raw(fmt_duration(elapsed)),
            ]),
            Line::from(vec![
                Span::styled("Estimate  ", Style::new().bold()),
                Span::raw(estimate),
            ]),
        ];
        f.render_widget(
            Paragraph::new(times_lines).block(Block::bordered().title(" Time ")),
            times,
        );

        let current = run.stages.len().saturating_sub(1);
        let mut lines: Vec<Line<'_>> = run
            .stages
            .iter()
            .enumerate()
            .map(|(i, (name, at))| {
                let (mark, style) = if i < current || run.finished.is_some() {
                    ("✓", Style::new().fg(Color::Green))
                } else {
                    ("▶", Style::new().fg(Color::Yellow).bold())
                };
                Line::from(vec![
                    Span::styled(format!(" {mark} "), style),
                    Span::styled(format!("{} ", fmt_duration(*at)), Style::new().dim()),
                    Span::styled(format!("{name:<11}"), Style::new().bold()),
                    Span::raw(describe(name)),
                ])
            })
            .collect();
        if model.paper_shown {
            lines.push(Line::from(
                "   paper backup written and confirmed; the words were wiped from the screen".dim(),
            ));
        }
        // Keep the newest stages visible.
        let height = log.height.saturating_sub(2) as usize;
        let skip = lines.len().saturating_sub(height);
        f.render_widget(
            Paragraph::new(lines.split_off(skip)).block(Block::bordered().title(" Steps ")),
            log,
        );
    }

    fn help(&self, model: &Model) -> Vec<Help> {
        if model.run.as_ref().is_some_and(|r| r.cancelling) {
            vec![("…", "cancelling, please wait")]
        } else {
            vec![("Esc", "cancel the ceremony (asks first)")]
        }
    }
}
