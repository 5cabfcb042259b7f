//! Writing JSON exactly as Python's `json.dump(obj, f)` does with its defaults: separators `", "`
//! and `": "`, no indentation, no trailing newline, `ensure_ascii=True` (every non-ASCII
//! character escaped as `\uXXXX`, lower-case hex, UTF-16 surrogate pairs above the BMP).

use std::fmt::Write;

/// Appends `s` as a Python-`json`-encoded string literal, quotes included.
pub(crate) fn push_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 || (c as u32) > 0x7e => {
                let mut buf = [0u16; 2];
                for unit in c.encode_utf16(&mut buf) {
                    let _ = write!(out, "\\u{unit:04x}");
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Appends `"key": ` (with the leading `, ` unless `first`).
pub(crate) fn push_key(out: &mut String, key: &str, first: bool) {
    if !first {
        out.push_str(", ");
    }
    push_str(out, key);
    out.push_str(": ");
}

#[cfg(test)]
mod tests {
    #[test]
    fn escapes_like_python() {
        let mut s = String::new();
        super::push_str(&mut s, "a\"b\\c\n\u{1}é🔑\u{7f}");
        assert_eq!(s, r#""a\"b\\c\n\u0001\u00e9\ud83d\udd11\u007f""#);
    }
}
