//! Text from untrusted input made safe to show in a one-line error or a report.

/// `s` with every control character (newline, escape, …) and every Unicode bidirectional or
/// zero-width formatting character escaped (`\n`, `\u{1b}`, `\u{202e}`): a file's content
/// echoed in an error (an unknown JSON key, say) can neither span lines, drive a terminal nor
/// reorder what is shown around it. Everything else is kept as it is.
pub fn printable(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        let hidden = matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{feff}');
        if c.is_control() || hidden {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::printable;

    #[test]
    fn control_and_bidi_characters_are_escaped_and_the_rest_kept() {
        assert_eq!(printable("a\nb\u{1b}[31m"), "a\\nb\\u{1b}[31m");
        assert_eq!(printable("x\u{202e}y\u{200b}"), "x\\u{202e}y\\u{200b}");
        assert_eq!(printable("Grüße `key` \"q\" \\"), "Grüße `key` \"q\" \\");
    }
}
