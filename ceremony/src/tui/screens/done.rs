//! Step 6: done (transcript head, what leaves the room, what stays), and the failure screen
//! (what went wrong, and that nothing was left behind).

use crate::tui::keys::Key;
use kc_bundle::manifest::files;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Wrap};
use ratatui::Frame;

use crate::tui::app::{Action, Component, Model};
use crate::tui::widgets::{self, ok_mark, Help};

pub struct DoneScreen;

impl Component for DoneScreen {
    fn title(&self) -> &'static str {
        "6/6 Done"
    }

    fn handle_key(&mut self, key: Key, _model: &Model) -> Option<Action> {
        match key {
            Key::Enter | Key::Esc | Key::Char('q') => Some(Action::Quit),
            _ => None,
        }
    }

    fn draw(&self, f: &mut Frame<'_>, area: Rect, model: &Model) {
        let Some(o) = &model.outcome else { return };
        let m = &o.manifest;
        let [head, leaves, stays] = Layout::vertical([
            Constraint::Length(8),
            Constraint::Min(8),
            Constraint::Length(8),
        ])
        .areas(area);
        let b = |s: &'static str| Span::styled(s, Style::new().bold());
        let mut h = vec![Line::from(vec![
            b("Transcript head  "),
            Span::raw(m.transcript_head.clone()),
        ])];
        h.extend(widgets::hex_word_lines(&m.transcript_head, 8, 14));
        let verified = model.final_report.as_ref().is_some_and(|r| r.ok());
        h.push(Line::from(vec![
            b("Verified         "),
            ok_mark(verified),
            Span::raw(if verified {
                " after write, from the final directory"
            } else {
                " verification after write FAILED: do not use this bundle"
            }),
        ]));
        f.render_widget(
            Paragraph::new(h).block(Block::bordered().title(" Ceremony complete ")),
            head,
        );

        let mut l = vec![
            Line::from(vec![
                b("The bundle directory  "),
                Span::raw(o.dir.display().to_string()),
            ]),
            Line::from(
                "  public or encrypted material only; copy it to the transfer medium:".dim(),
            ),
        ];
        let mut names: Vec<&str> = m.files.keys().map(String::as_str).collect();
        names.extend([files::MANIFEST, files::MANIFEST_SIG]);
        for chunk in names.chunks(4) {
            l.push(Line::from(format!("    {}", chunk.join("   "))));
        }
        l.push(Line::from(vec![
            b("The bundle digest     "),
            Span::raw(o.bundle_digest.clone()),
            Span::raw(" (recorded by the witnesses)"),
        ]));
        f.render_widget(
            Paragraph::new(l)
                .wrap(Wrap { trim: false })
                .block(Block::bordered().title(" Leaves the room ")),
            leaves,
        );

        let token = model
            .hsm
            .as_ref()
            .map(|h| format!("token {} (serial {})", h.token.label, h.token.serial))
            .unwrap_or_default();
        let mut s = vec![
            Line::from(vec![b("The HSM        "), Span::raw(token)]),
            Line::from(format!(
                "               seal key {} (the only way to open sealed/master.seal), identity key {}",
                m.master.seal_key_label, m.identity.key_label
            )),
        ];
        s.push(if model.paper_shown {
            Line::from(vec![
                b("Paper backup   "),
                Span::styled(
                    "written during the ceremony: into the safe, never with the bundle",
                    Style::new().fg(Color::Yellow),
                ),
            ])
        } else {
            Line::from(vec![
                b("Paper backup   "),
                Span::raw("none (not requested)"),
            ])
        });
        s.push(Line::from(vec![
            b("This machine   "),
            Span::raw("holds no secret after exit: power it off"),
        ]));
        f.render_widget(
            Paragraph::new(s)
                .wrap(Wrap { trim: false })
                .block(Block::bordered().title(" Stays in the room ")),
            stays,
        );
    }

    fn help(&self, _model: &Model) -> Vec<Help> {
        vec![("Enter/q", "exit")]
    }
}

pub struct FailedScreen;

impl Component for FailedScreen {
    fn title(&self) -> &'static str {
        "Stopped"
    }

    fn handle_key(&mut self, key: Key, _model: &Model) -> Option<Action> {
        match key {
            Key::Enter | Key::Esc | Key::Char('q') => Some(Action::Quit),
            _ => None,
        }
    }

    fn draw(&self, f: &mut Frame<'_>, area: Rect, model: &Model) {
        let Some(fail) = &model.failure else { return };
        let title = if fail.cancelled {
            " Cancelled "
        } else {
            " The ceremony failed "
        };
        let clean = !fail.out_exists && fail.leftovers.is_empty();
        let mut lines = vec![
            Line::styled(fail.message.clone(), Style::new().fg(Color::Red).bold()),
            Line::from(""),
            Line::from(vec![
                ok_mark(!fail.out_exists),
                Span::raw(format!(
                    " bundle directory {} {}",
                    model.out.display(),
                    if fail.out_exists {
                        "EXISTS"
                    } else {
                        "was not created"
                    }
                )),
            ]),
            Line::from(vec![
                ok_mark(fail.leftovers.is_empty()),
                Span::raw(if fail.leftovers.is_empty() {
                    " no staging directory left behind".to_owned()
                } else {
                    format!(" left behind: {:?}", fail.leftovers)
                }),
            ]),
        ];
        if let Some(r) = &model.run {
            if let Some((last, _)) = r.stages.last() {
                lines.push(Line::from(format!("  stopped during stage: {last}")));
            }
        }
        lines.push(Line::from(""));
        lines.push(Line::from(if clean {
            "Nothing was written. The HSM keeps its keys; the plan can be run again."
        } else {
            "Something was left behind: remove it before running again."
        }));
        f.render_widget(
            Paragraph::new(lines)
                .wrap(Wrap { trim: false })
                .block(Block::bordered().title(title)),
            widgets::centered(area, 96, 14),
        );
    }

    fn help(&self, _model: &Model) -> Vec<Help> {
        vec![("Enter/q", "exit")]
    }
}
