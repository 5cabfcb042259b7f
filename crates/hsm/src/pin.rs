//! Reading a token's user PIN: from a file, or from an environment variable. (The ceremony's TUI
//! asks for it in a masked field instead; it needs none of this.)
//!
//! The rule, the same for the ceremony and the agent:
//! - A PIN file holds the PIN on its **first line**. That line's ending (`\n` or `\r\n`) is
//!   removed and nothing else: the rest of the file is ignored.
//! - A PIN that is empty, or that starts or ends with whitespace (a space, a tab, a stray `\r`),
//!   is refused naming where it came from. Trimming would change a PIN that really has such
//!   characters; keeping them would spend one of the token's few wrong-PIN attempts (then
//!   `CKR_PIN_LOCKED`) on an editor's stray space. Whitespace inside the PIN is kept.
//! - Without a file, the PIN is the environment variable's value, under the same rule; an unset
//!   or empty variable is [`Error::PinMissing`].
//!
//! The file is read into a zeroize-on-drop buffer and the PIN is returned as a
//! [`SecretString`]; no error carries any part of it.

use std::fmt;
use std::path::{Path, PathBuf};

use secrecy::SecretString;
use zeroize::Zeroizing;

use crate::error::{Error, Result};

/// Where a PIN was read from (named in errors; never the PIN itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PinSource {
    /// The first line of this file.
    File(PathBuf),
    /// This environment variable.
    Env(String),
}

impl fmt::Display for PinSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PinSource::File(p) => write!(f, "PIN file {}", p.display()),
            PinSource::Env(var) => write!(f, "the PIN in {var}"),
        }
    }
}

/// Why a PIN was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PinProblem {
    /// Nothing before the first line ending.
    Empty,
    /// It starts or ends with whitespace.
    SurroundingWhitespace,
}

impl fmt::Display for PinProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PinProblem::Empty => f.write_str("is empty"),
            PinProblem::SurroundingWhitespace => f.write_str(
                "starts or ends with whitespace; a PIN is used exactly as written (only a file's \
                 line ending is removed), so remove the whitespace",
            ),
        }
    }
}

/// The PIN from `file` (its first line) if one is given, else from the environment variable
/// `env_var`.
pub fn read(file: Option<&Path>, env_var: &str) -> Result<SecretString> {
    match file {
        Some(path) => from_file(path),
        None => from_env(env_var),
    }
}

/// The PIN on the first line of the file at `path`.
pub fn from_file(path: &Path) -> Result<SecretString> {
    let text = Zeroizing::new(std::fs::read_to_string(path).map_err(|source| {
        Error::PinFileUnreadable {
            path: path.to_owned(),
            source,
        }
    })?);
    let pin = first_line(&text)
        .map_err(|problem| Error::PinRefused {
            from: PinSource::File(path.to_owned()),
            problem,
        })?
        .to_owned();
    Ok(SecretString::from(pin))
}

/// The PIN in the environment variable `var`.
pub fn from_env(var: &str) -> Result<SecretString> {
    let value = match std::env::var(var) {
        Ok(v) if !v.is_empty() => Zeroizing::new(v),
        _ => return Err(Error::PinMissing { var: var.into() }),
    };
    check(&value).map_err(|problem| Error::PinRefused {
        from: PinSource::Env(var.into()),
        problem,
    })?;
    Ok(SecretString::from(value.as_str().to_owned()))
}

/// The PIN in a PIN file's text: the first line without its `\n` or `\r\n`, checked by [`check`].
pub fn first_line(text: &str) -> std::result::Result<&str, PinProblem> {
    let line = match text.split_once('\n') {
        Some((line, _)) => line.strip_suffix('\r').unwrap_or(line),
        None => text,
    };
    check(line)?;
    Ok(line)
}

/// Refuses a PIN that is empty or starts or ends with whitespace.
pub fn check(pin: &str) -> std::result::Result<(), PinProblem> {
    if pin.is_empty() {
        Err(PinProblem::Empty)
    } else if pin.starts_with(char::is_whitespace) || pin.ends_with(char::is_whitespace) {
        Err(PinProblem::SurroundingWhitespace)
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use super::*;

    #[test]
    fn the_first_line_without_its_line_ending_is_the_pin() {
        assert_eq!(first_line("1234"), Ok("1234"));
        assert_eq!(first_line("1234\n"), Ok("1234"));
        assert_eq!(first_line("1234\r\n"), Ok("1234"));
        assert_eq!(first_line("1234\nsecond line\n"), Ok("1234"));
        assert_eq!(
            first_line("12 34\n"),
            Ok("12 34"),
            "inner whitespace is kept"
        );
    }

    #[test]
    fn an_empty_first_line_is_refused() {
        for text in ["", "\n", "\r\n", "\n1234\n"] {
            assert_eq!(first_line(text), Err(PinProblem::Empty), "{text:?}");
        }
    }

    #[test]
    fn surrounding_whitespace_is_refused_not_trimmed() {
        for text in ["1234 \n", "1234\t", " 1234\n", "1234\r\r\n", "1234\r", " "] {
            assert_eq!(
                first_line(text),
                Err(PinProblem::SurroundingWhitespace),
                "{text:?}"
            );
        }
    }

    #[test]
    fn a_pin_file_is_read_and_its_problems_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pin");
        std::fs::write(&path, "98 76\r\nignored\n").unwrap();
        assert_eq!(from_file(&path).unwrap().expose_secret(), "98 76");
        assert_eq!(
            read(Some(&path), "KC_HSM_PIN_TEST_UNUSED")
                .unwrap()
                .expose_secret(),
            "98 76"
        );

        std::fs::write(&path, "9876  \n").unwrap();
        let e = from_file(&path).unwrap_err();
        assert!(
            matches!(&e, Error::PinRefused { from: PinSource::File(p), problem: PinProblem::SurroundingWhitespace } if p == &path),
            "{e:?}"
        );
        let text = e.to_string();
        assert!(text.contains(&path.display().to_string()), "{text}");
        assert!(
            !text.contains("9876"),
            "an error never shows the PIN: {text}"
        );

        std::fs::write(&path, "\n").unwrap();
        let e = from_file(&path).unwrap_err();
        assert!(
            matches!(
                &e,
                Error::PinRefused {
                    problem: PinProblem::Empty,
                    ..
                }
            ),
            "{e:?}"
        );
        assert!(e.to_string().ends_with("is empty"), "{e}");

        let missing = dir.path().join("no-such-pin");
        let e = from_file(&missing).unwrap_err();
        assert!(
            matches!(&e, Error::PinFileUnreadable { path, source } if path == &missing && source.kind() == std::io::ErrorKind::NotFound),
            "{e:?}"
        );
    }

    // Each test runs in its own process (nextest), so setting a variable here is not seen by
    // another test; the names are this test's own anyway.
    #[test]
    fn the_environment_variable_is_used_without_a_file() {
        let var = "KC_HSM_PIN_TEST_ENV";
        std::env::remove_var(var);
        assert!(matches!(read(None, var), Err(Error::PinMissing { var: v }) if v == var));
        std::env::set_var(var, "");
        assert!(matches!(read(None, var), Err(Error::PinMissing { .. })));
        std::env::set_var(var, "4321");
        assert_eq!(read(None, var).unwrap().expose_secret(), "4321");
        std::env::set_var(var, "4321\n");
        assert!(matches!(
            read(None, var),
            Err(Error::PinRefused {
                from: PinSource::Env(_),
                problem: PinProblem::SurroundingWhitespace
            })
        ));
        std::env::remove_var(var);
    }
}
