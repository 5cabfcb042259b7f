//! Step 5: export. Where the bundle is, its re-verification from disk after the rename
//! ("verify after write"), and its digest as hex, as PGP words and as a QR code, for the
//! witnesses to record.

use crate::tui::keys::Key;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Wrap};
use ratatui::Frame;

use crate::tui::app::{Action, Component, Model};
use crate::tui::qr;
use crate::tui::widgets::{self, ok_mark, Help};

pub struct ExportScreen;

impl Component for ExportScreen {
    fn title(&self) -> &'static str {
        "5/6 Export"
    }

    fn handle_key(&mut self, key: Key, _model: &Model) -> Option<Action> {
        match key {
            Key::Enter => Some(Action::Next),
            _ => None,
        }
    }

    fn draw(&self, f: &mut Frame<'_>, area: Rect, model: &Model) {
        let Some(o) = &model.outcome else { return };
        let code = qr::lines(&o.bundle_digest).unwrap_or_default();
        let qr_w = code.first().map_or(0, |l| l.chars().count()) as u16 + 2;
        let [left, right] =
            Layout::horizontal([Constraint::Min(60), Constraint::Length(qr_w)]).areas(area);
        let b = |s: &'static str| Span::styled(s, Style::new().bold());

        let mut lines = vec![
            Line::from(vec![
                b("Bundle directory  "),
                Span::raw(o.dir.display().to_string()),
            ]),
            Line::from(
                "  written to a staging directory, verified, signed, renamed into place".dim(),
            ),
            Line::from(""),
        ];
        match &model.final_report {
            Some(r) => {
                let failed = r.failures().count();
                lines.push(Line::from(vec![
                    b("Verify after write "),
                    ok_mark(r.ok()),
                    Span::raw(if r.ok() {
                        format!(
                            " {} checks passed, re-read from the final directory",
                            r.checks.len()
                        )
                    } else {
                        format!(" {failed} of {} checks FAILED", r.checks.len())
                    }),
                ]));
                for c in r.failures().take(5) {
                    lines.push(Line::styled(
                        format!("  ✗ {} {} {}: {}", c.name, c.file, c.field, c.detail),
                        Style::new().fg(Color::Red),
                    ));
                }
            }
            None => lines.push(Line::from(vec![
                b("Verify after write "),
                Span::raw("not run"),
            ])),
        }
        lines.push(Line::from(""));
        lines.push(Line::from(vec![
            b("Bundle digest"),
            Span::raw("  SHA-256 of manifest.json (signed by the HSM identity key)"),
        ]));
        lines.push(Line::from(format!("  {}", o.bundle_digest)));
        lines.push(Line::from(""));
        lines.push(Line::from(vec![
            b("As PGP words"),
            Span::raw("  (read aloud, byte by byte; witnesses write them down)"),
        ]));
        lines.extend(widgets::hex_word_lines(&o.bundle_digest, 4, 1));
        lines.push(Line::from(""));
        lines.push(Line::from(vec![
            b("Identity key"),
            Span::raw("  fingerprint (the HSM key that signed the manifest)"),
        ]));
        lines.push(Line::from(format!("  {}", o.manifest.identity.fingerprint)));
        f.render_widget(
            Paragraph::new(lines)
                .wrap(Wrap { trim: false })
                .block(Block::bordered().title(" The bundle ")),
            left,
        );
        let qr_lines: Vec<Line<'_>> = code
            .into_iter()
            .map(|l| Line::styled(l, Style::new().fg(Color::White).bg(Color::Black)))
            .collect();
        f.render_widget(
            Paragraph::new(qr_lines).block(Block::bordered().title(" Digest (QR) ")),
            right,
        );
    }

    fn help(&self, _model: &Model) -> Vec<Help> {
        vec![("Enter", "recorded: continue")]
    }
}
