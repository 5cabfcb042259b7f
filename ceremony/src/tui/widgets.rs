//! Small drawing helpers shared by the screens: the help bar, text fields, dialogs.

use ratatui::layout::{Constraint, Flex, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Wrap};
use ratatui::Frame;

/// One key and what it does, for the help bar.
pub type Help = (&'static str, &'static str);

pub fn help_bar(f: &mut Frame<'_>, area: Rect, items: &[Help]) {
    let mut spans = Vec::with_capacity(items.len() * 3);
    for (i, (key, what)) in items.iter().enumerate() {
        if i > 0 {
            spans.push(Span::raw("  "));
        }
        spans.push(Span::styled(
            format!(" {key} "),
            Style::new().fg(Color::Black).bg(Color::Gray),
        ));
        spans.push(Span::raw(format!(" {what}")));
    }
    f.render_widget(Paragraph::new(Line::from(spans)), area);
}

/// The title line: the step of the wizard.
pub fn title_bar(f: &mut Frame<'_>, area: Rect, step: &str, ceremony: Option<&str>) {
    let mut spans = vec![
        Span::styled(
            " ceremony ",
            Style::new().bold().fg(Color::Black).bg(Color::Cyan),
        ),
        Span::raw(" "),
        Span::styled(step.to_owned(), Style::new().bold()),
    ];
    if let Some(id) = ceremony {
        spans.push(Span::raw(format!("   ceremony id: {id}")));
    }
    f.render_widget(Paragraph::new(Line::from(spans)), area);
}

/// A one-line text field: `label [value▏]`, highlighted when focused.
pub fn field<'a>(label: &'a str, value: &str, focused: bool) -> Line<'a> {
    let style = if focused {
        Style::new().fg(Color::Black).bg(Color::Yellow)
    } else {
        Style::new().add_modifier(Modifier::UNDERLINED)
    };
    let cursor = if focused { "▏" } else { "" };
    Line::from(vec![
        Span::styled(label, Style::new().bold()),
        Span::raw(" "),
        Span::styled(format!("{value}{cursor} "), style),
    ])
}

/// A centered box of at most `w` × `h`.
pub fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let [row] = Layout::vertical([Constraint::Length(h.min(area.height))])
        .flex(Flex::Center)
        .areas(area);
    let [cell] = Layout::horizontal([Constraint::Length(w.min(area.width))])
        .flex(Flex::Center)
        .areas(row);
    cell
}

/// A dialog box over the screen.
pub fn dialog(f: &mut Frame<'_>, title: &str, lines: Vec<Line<'_>>, accent: Color) {
    let h = u16::try_from(lines.len()).unwrap_or(20) + 2;
    let area = centered(f.area(), 72, h);
    f.render_widget(Clear, area);
    f.render_widget(
        Paragraph::new(lines).wrap(Wrap { trim: false }).block(
            Block::bordered()
                .title(format!(" {title} "))
                .border_style(Style::new().fg(accent)),
        ),
        area,
    );
}

/// `0x1234abcd…9876fedc`: the first and last `n` hex digits.
pub fn short_hex(hex_str: &str, n: usize) -> String {
    let h = hex_str.trim_start_matches("0x");
    if h.len() <= 2 * n + 1 {
        return format!("0x{h}");
    }
    format!("0x{}…{}", &h[..n], &h[h.len() - n..])
}

/// Hex in groups of `group` digits.
pub fn grouped(hex_str: &str, group: usize) -> String {
    let h = hex_str.trim_start_matches("0x");
    h.as_bytes()
        .chunks(group)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Words in lines of `per_line`, each line prefixed with the index of its first word.
pub fn word_lines(words: &[&str], per_line: usize) -> Vec<Line<'static>> {
    words
        .chunks(per_line)
        .enumerate()
        .map(|(i, chunk)| {
            Line::from(vec![
                Span::styled(format!("{:>3} ", i * per_line + 1), Style::new().dim()),
                Span::raw(chunk.join(" ")),
            ])
        })
        .collect()
}

/// A digest read aloud: per line, the byte offset, its hex and its PGP words.
pub fn hex_word_lines(hex_str: &str, bytes_per_line: usize, indent: usize) -> Vec<Line<'static>> {
    let Ok(bytes) = hex::decode(hex_str.trim_start_matches("0x")) else {
        return vec![Line::from(hex_str.to_owned())];
    };
    let words = crate::tui::words::words(&bytes);
    bytes
        .chunks(bytes_per_line)
        .zip(words.chunks(bytes_per_line))
        .enumerate()
        .map(|(i, (b, w))| {
            Line::from(vec![
                Span::raw(" ".repeat(indent)),
                Span::styled(
                    format!("{:>2} ", i * bytes_per_line + 1),
                    Style::new().dim(),
                ),
                Span::styled(
                    format!("{}  ", hex::encode(b)),
                    Style::new().fg(Color::Cyan),
                ),
                Span::raw(w.join(" ")),
            ])
        })
        .collect()
}

pub fn ok_mark(ok: bool) -> Span<'static> {
    if ok {
        Span::styled("✓", Style::new().fg(Color::Green).bold())
    } else {
        Span::styled("✗", Style::new().fg(Color::Red).bold())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_helpers() {
        assert_eq!(short_hex("0xabcdef0123456789", 4), "0xabcd…6789");
        assert_eq!(short_hex("abcd", 4), "0xabcd");
        assert_eq!(grouped("0xabcdef01", 4), "abcd ef01");
    }
}
