//! The keys the wizard understands, decoded from the terminal by termion.

use ratatui::termion::event::Key as TermKey;

/// One key press.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    Char(char),
    /// A control character, e.g. `Ctrl('c')`.
    Ctrl(char),
    Enter,
    Esc,
    Backspace,
    Tab,
    BackTab,
    Up,
    Down,
    PageUp,
    PageDown,
    /// Anything else (ignored).
    Other,
}

impl From<TermKey> for Key {
    fn from(k: TermKey) -> Self {
        match k {
            TermKey::Char('\n' | '\r') => Key::Enter,
            TermKey::Char('\t') => Key::Tab,
            TermKey::Char(c) => Key::Char(c),
            TermKey::Ctrl(c) => Key::Ctrl(c),
            TermKey::Esc => Key::Esc,
            TermKey::Backspace => Key::Backspace,
            TermKey::BackTab => Key::BackTab,
            TermKey::Up => Key::Up,
            TermKey::Down => Key::Down,
            TermKey::PageUp => Key::PageUp,
            TermKey::PageDown => Key::PageDown,
            _ => Key::Other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ratatui::termion::input::TermRead;

    /// What a terminal sends, decoded.
    #[test]
    fn decodes_terminal_bytes() {
        let keys: Vec<Key> = b"a\r\t\x1b[Z\x1b[A\x1b[B\x1b[5~\x1b[6~\x7f\x03\x15"
            .keys()
            .map(|k| Key::from(k.unwrap()))
            .collect();
        assert_eq!(
            keys,
            [
                Key::Char('a'),
                Key::Enter,
                Key::Tab,
                Key::BackTab,
                Key::Up,
                Key::Down,
                Key::PageUp,
                Key::PageDown,
                Key::Backspace,
                Key::Ctrl('c'),
                Key::Ctrl('u'),
            ]
        );
    }
}
