//! Property helpers shared by the targets.

/// Panics unless `message` is a one-line, non-empty error message.
pub fn one_line(target: &str, message: &str) {
    assert!(
        !message.trim().is_empty(),
        "{target}: an error with no message"
    );
    assert!(
        !message.contains('\n'),
        "{target}: an error message spans lines: {message:?}"
    );
}

/// Panics unless `message` names a location: one of `fields` (a field path prefix such as
/// `"provenance."` or `"operators["`) or a line/column of the text.
pub fn names_field(target: &str, message: &str, fields: &[&str]) {
    one_line(target, message);
    let located = message.contains("line ") || message.contains(" column ");
    assert!(
        located || fields.iter().any(|f| message.contains(f)),
        "{target}: the error names no field (expected one of {fields:?} or a line): {message:?}"
    );
}

/// Text as the verifier reads a bundle file (lossy UTF-8).
pub fn text(data: &[u8]) -> String {
    String::from_utf8_lossy(data).into_owned()
}
