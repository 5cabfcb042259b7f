//! Streaming reading of the two files that grow with the batch, `deposit_data.json` and
//! `keyshares.json`: one entry at a time, so that memory does not grow with the number of
//! validators. A small scanner finds where each JSON value ends (strings, escapes and nesting
//! respected) and hands its bytes, at most a given length, to `serde_json`, which checks them.
//!
//! - [`DepositEntries`]: the list `[e0, e1, …]` of ethstaker-deposit, noting whether the
//!   separators are exactly its own (`[`, `", "`, `]`, no whitespace, no trailing newline).
//! - [`KeySharesEntries`]: the object `{"version", "createdAt", "shares": [ … ]}` (keys in any
//!   order; `"shares": null` reads as no entry).
//! - [`ListInObject::named`]: the same for the list under another key of an object, e.g. the
//!   `validators` of `manifest.json`.

use std::io::BufRead;

/// Why a file could not be read as the expected JSON.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error("cannot read at byte {offset}: {source}")]
    Io {
        offset: u64,
        #[source]
        source: std::io::Error,
    },
    #[error("at byte {offset}: {message}")]
    Syntax { offset: u64, message: String },
    #[error("at byte {offset}: an entry longer than {max} bytes")]
    TooLong { offset: u64, max: usize },
}

/// A reader of JSON values.
pub struct Scanner<R> {
    r: R,
    offset: u64,
}

impl<R> std::fmt::Debug for Scanner<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scanner")
            .field("offset", &self.offset)
            .finish()
    }
}

impl<R: BufRead> Scanner<R> {
    pub fn new(r: R) -> Self {
        Scanner { r, offset: 0 }
    }

    /// The reader, e.g. to learn what was hashed.
    pub fn into_inner(self) -> R {
        self.r
    }

    /// Bytes consumed so far.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    fn syntax(&self, message: impl Into<String>) -> ScanError {
        ScanError::Syntax {
            offset: self.offset,
            message: message.into(),
        }
    }

    fn peek(&mut self) -> Result<Option<u8>, ScanError> {
        let offset = self.offset;
        let buf = self
            .r
            .fill_buf()
            .map_err(|source| ScanError::Io { offset, source })?;
        Ok(buf.first().copied())
    }

    fn bump(&mut self) {
        self.r.consume(1);
        self.offset += 1;
    }

    /// Skips JSON whitespace; returns how many bytes it skipped.
    pub fn skip_ws(&mut self) -> Result<u64, ScanError> {
        let start = self.offset;
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.peek()? {
            self.bump();
        }
        Ok(self.offset - start)
    }

    /// Consumes `byte` or fails naming what was found.
    pub fn expect(&mut self, byte: u8) -> Result<(), ScanError> {
        match self.peek()? {
            Some(b) if b == byte => {
                self.bump();
                Ok(())
            }
            Some(b) => Err(self.syntax(format!(
                "expected {:?}, found {:?}",
                byte as char, b as char
            ))),
            None => Err(self.syntax(format!(
                "expected {:?}, found the end of the file",
                byte as char
            ))),
        }
    }

    /// Whether the input is at its end.
    pub fn at_end(&mut self) -> Result<bool, ScanError> {
        Ok(self.peek()?.is_none())
    }

    /// The bytes of the next JSON value (no whitespace skipped before it), at most `max`.
    /// Only where it ends is found here; its content is for `serde_json` to check.
    pub fn value(&mut self, max: usize, out: &mut Vec<u8>) -> Result<(), ScanError> {
        out.clear();
        let first = self
            .peek()?
            .ok_or_else(|| self.syntax("expected a value, found the end of the file"))?;
        let scalar = !matches!(first, b'{' | b'[' | b'"');
        let string = first == b'"';
        let mut depth = 0usize;
        let mut in_str = false;
        let mut escaped = false;
        loop {
            let offset = self.offset;
            let buf = self
                .r
                .fill_buf()
                .map_err(|source| ScanError::Io { offset, source })?;
            if buf.is_empty() {
                if scalar && !out.is_empty() {
                    return Ok(());
                }
                return Err(self.syntax("the file ends inside a value"));
            }
            let mut i = 0;
            let mut done = false;
            while i < buf.len() {
                // Inside a string only a quote or a backslash matters: skip to the next one
                // (most of these files is hex inside strings).
                if in_str && !escaped {
                    match memchr::memchr2(b'"', b'\\', &buf[i..]) {
                        Some(k) => i += k,
                        None => {
                            i = buf.len();
                            break;
                        }
                    }
                }
                let b = buf[i];
                if scalar {
                    if matches!(b, b',' | b'}' | b']' | b' ' | b'\n' | b'\r' | b'\t') {
                        done = true;
                        break;
                    }
                } else if in_str {
                    if escaped {
                        escaped = false;
                    } else if b == b'\\' {
                        escaped = true;
                    } else if b == b'"' {
                        in_str = false;
                        if string {
                            i += 1;
                            done = true;
                            break;
                        }
                    }
                } else {
                    match b {
                        b'"' => in_str = true,
                        b'{' | b'[' => depth += 1,
                        b'}' | b']' => {
                            depth -= 1;
                            if depth == 0 {
                                i += 1;
                                done = true;
                                break;
                            }
                        }
                        _ => {}
                    }
                }
                i += 1;
            }
            out.extend_from_slice(&buf[..i]);
            self.r.consume(i);
            self.offset += i as u64;
            if out.len() > max {
                return Err(ScanError::TooLong {
                    offset: self.offset,
                    max,
                });
            }
            if done {
                return Ok(());
            }
        }
    }
}

/// The entries of a `deposit_data.json` list, one at a time.
pub struct DepositEntries<R> {
    sc: Scanner<R>,
    max: usize,
    count: usize,
    /// Whether every separator so far is exactly ethstaker-deposit's.
    exact: bool,
    started: bool,
    done: bool,
}

impl<R> std::fmt::Debug for DepositEntries<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DepositEntries")
            .field("count", &self.count)
            .finish()
    }
}

impl<R: BufRead> DepositEntries<R> {
    /// Reads from `r`; each entry may be at most `max` bytes. Nothing is read yet.
    pub fn new(r: R, max: usize) -> Self {
        DepositEntries {
            sc: Scanner::new(r),
            max,
            count: 0,
            exact: true,
            started: false,
            done: false,
        }
    }

    /// The bytes of the next entry into `out`, or `false` at the end of the list (then the file
    /// must end too).
    pub fn next_into(&mut self, out: &mut Vec<u8>) -> Result<bool, ScanError> {
        if self.done {
            return Ok(false);
        }
        if !self.started {
            self.started = true;
            self.exact &= self.sc.skip_ws()? == 0;
            self.sc.expect(b'[')?;
            self.exact &= self.sc.skip_ws()? == 0;
        }
        if self.sc.peek()? == Some(b']') {
            self.sc.bump();
            self.done = true;
            self.exact &= self.sc.skip_ws()? == 0;
            if !self.sc.at_end()? {
                return Err(self.sc.syntax("data after the end of the list"));
            }
            return Ok(false);
        }
        if self.count > 0 {
            self.sc.expect(b',')?;
            let ws = self.sc.skip_ws()?;
            // ethstaker-deposit writes exactly ", " (Python's default separator).
            self.exact &= ws == 1;
        }
        self.sc.value(self.max, out)?;
        self.exact &= self.sc.skip_ws()? == 0;
        self.count += 1;
        Ok(true)
    }

    /// Entries read so far.
    pub fn count(&self) -> usize {
        self.count
    }

    /// Whether the separators are exactly ethstaker-deposit's (so far).
    pub fn separators_exact(&self) -> bool {
        self.exact
    }

    /// Byte offset of the next entry.
    pub fn offset(&self) -> u64 {
        self.sc.offset()
    }

    pub fn into_inner(self) -> R {
        self.sc.into_inner()
    }
}

/// The entries of a `keyshares.json`, one at a time, and its `version` and `createdAt`.
pub type KeySharesEntries<R> = ListInObject<R>;

/// The entries of the list under one key of a JSON object, one at a time (the object's other
/// members skipped, at most `max_member` bytes each; `version` and `createdAt` noted).
pub struct ListInObject<R> {
    sc: Scanner<R>,
    max: usize,
    key: &'static str,
    max_member: usize,
    state: State,
    count: usize,
    /// A member was read, so the next one needs a comma first.
    need_comma: bool,
    version: Option<String>,
    created_at: Option<String>,
    scratch: Vec<u8>,
}

impl<R> std::fmt::Debug for ListInObject<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ListInObject")
            .field("key", &self.key)
            .field("count", &self.count)
            .finish()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Nothing read yet.
    Start,
    /// Before the `shares` list (reading the object's other keys).
    Before,
    /// Inside the list.
    InList,
    /// The object and the file are read.
    Done,
}

/// Longest `version`, `createdAt` or other member of the object (not an entry).
const MAX_MEMBER: usize = 4096;

impl<R: BufRead> ListInObject<R> {
    /// The `shares` of a `keyshares.json` from `r`; each entry may be at most `max` bytes.
    /// Nothing is read yet.
    pub fn new(r: R, max: usize) -> Self {
        Self::named(r, "shares", max, MAX_MEMBER)
    }

    /// The list under `key` of the object read from `r`; each entry may be at most `max`
    /// bytes, each other member `max_member`. Nothing is read yet.
    pub fn named(r: R, key: &'static str, max: usize, max_member: usize) -> Self {
        ListInObject {
            sc: Scanner::new(r),
            max,
            key,
            max_member,
            state: State::Start,
            count: 0,
            need_comma: false,
            version: None,
            created_at: None,
            scratch: Vec::new(),
        }
    }

    /// Reads members of the object until the `shares` list opens (then `true`) or the object
    /// ends (then `false`, and the file must end too).
    fn members(&mut self) -> Result<bool, ScanError> {
        loop {
            self.sc.skip_ws()?;
            match self.sc.peek()? {
                Some(b'}') => {
                    self.sc.bump();
                    self.sc.skip_ws()?;
                    if !self.sc.at_end()? {
                        return Err(self.sc.syntax("data after the end of the object"));
                    }
                    self.state = State::Done;
                    return Ok(false);
                }
                _ if self.need_comma => {
                    self.sc.expect(b',')?;
                    self.sc.skip_ws()?;
                }
                _ => {}
            }
            self.need_comma = true;
            self.sc.value(self.max_member, &mut self.scratch)?;
            let key: String = serde_json::from_slice(&self.scratch)
                .map_err(|e| self.sc.syntax(format!("expected a member name: {e}")))?;
            self.sc.skip_ws()?;
            self.sc.expect(b':')?;
            self.sc.skip_ws()?;
            if key == self.key {
                if self.sc.peek()? == Some(b'n') {
                    self.sc.value(self.max_member, &mut self.scratch)?;
                    if self.scratch != b"null" {
                        return Err(self
                            .sc
                            .syntax(format!("{}: expected a list or null", self.key)));
                    }
                    continue;
                }
                self.sc.expect(b'[')?;
                self.state = State::InList;
                return Ok(true);
            }
            self.sc.value(self.max_member, &mut self.scratch)?;
            let text = || -> Result<String, ScanError> {
                serde_json::from_slice(&self.scratch)
                    .map_err(|e| self.sc.syntax(format!("{key}: expected a string: {e}")))
            };
            match key.as_str() {
                "version" => self.version = Some(text()?),
                "createdAt" => self.created_at = Some(text()?),
                // Other members are ignored, as the SDK does.
                _ => {}
            }
        }
    }

    /// The bytes of the next entry into `out`, or `false` when there is none left (then the
    /// whole file has been read).
    pub fn next_into(&mut self, out: &mut Vec<u8>) -> Result<bool, ScanError> {
        loop {
            match self.state {
                State::Done => return Ok(false),
                State::Start => {
                    self.sc.skip_ws()?;
                    self.sc.expect(b'{')?;
                    self.state = State::Before;
                }
                State::Before => {
                    self.members()?;
                }
                State::InList => {
                    self.sc.skip_ws()?;
                    if self.sc.peek()? == Some(b']') {
                        self.sc.bump();
                        self.state = State::Before;
                        continue;
                    }
                    if self.count > 0 {
                        self.sc.expect(b',')?;
                        self.sc.skip_ws()?;
                    }
                    self.sc.value(self.max, out)?;
                    self.count += 1;
                    return Ok(true);
                }
            }
        }
    }

    /// Entries read so far.
    pub fn count(&self) -> usize {
        self.count
    }

    /// `version` and `createdAt`, once the whole file is read.
    pub fn header(&self) -> (Option<&str>, Option<&str>) {
        (self.version.as_deref(), self.created_at.as_deref())
    }

    /// Byte offset of the next entry.
    pub fn offset(&self) -> u64 {
        self.sc.offset()
    }

    pub fn into_inner(self) -> R {
        self.sc.into_inner()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deposits(text: &str, max: usize) -> Result<(Vec<String>, bool), ScanError> {
        let mut d = DepositEntries::new(text.as_bytes(), max);
        let mut out = Vec::new();
        let mut all = Vec::new();
        while d.next_into(&mut out)? {
            all.push(String::from_utf8(out.clone()).unwrap());
        }
        Ok((all, d.separators_exact()))
    }

    #[test]
    fn deposit_entries_and_their_exact_separators() {
        let (e, exact) = deposits(r#"[{"a": "x}, {"}, {"b": [1, {"c": "\"]"}]}]"#, 100).unwrap();
        assert_eq!(e, [r#"{"a": "x}, {"}"#, r#"{"b": [1, {"c": "\"]"}]}"#]);
        assert!(exact);
        assert_eq!(deposits("[]", 10).unwrap(), (vec![], true));
        let (e, exact) = deposits("[ {\"a\": 1},\n{\"a\": 2} ]\n", 100).unwrap();
        assert_eq!(e.len(), 2);
        assert!(!exact);
        // Errors: truncated, trailing data, too long, not a list.
        assert!(deposits(r#"[{"a": 1}"#, 100).is_err());
        assert!(deposits(r#"[{"a": 1}] x"#, 100).is_err());
        assert!(matches!(
            deposits(r#"[{"a": "0123456789"}]"#, 10),
            Err(ScanError::TooLong { max: 10, .. })
        ));
        assert!(deposits(r#"{"a": 1}"#, 100).is_err());
    }

    type Shares = (Vec<String>, Option<String>, Option<String>);

    fn shares(text: &str) -> Result<Shares, ScanError> {
        let mut k = KeySharesEntries::new(text.as_bytes(), 1000);
        let mut out = Vec::new();
        let mut all = Vec::new();
        while k.next_into(&mut out)? {
            all.push(String::from_utf8(out.clone()).unwrap());
        }
        let (v, c) = k.header();
        Ok((all, v.map(str::to_owned), c.map(str::to_owned)))
    }

    #[test]
    fn keyshares_entries_with_keys_in_any_order() {
        let (e, v, c) = shares(
            "{\n  \"version\": \"v1.1.0\",\n  \"createdAt\": \"t\",\n  \"shares\": [\n    {\"x\": [1]},\n    {\"y\": \"]\"}\n  ]\n}\n",
        )
        .unwrap();
        assert_eq!(e, [r#"{"x": [1]}"#, r#"{"y": "]"}"#]);
        assert_eq!((v.as_deref(), c.as_deref()), (Some("v1.1.0"), Some("t")));
        let (e, v, _) =
            shares(r#"{"shares": [{"a": 1}], "version": "v1.2.0", "other": {"z": 1}}"#).unwrap();
        assert_eq!(e.len(), 1);
        assert_eq!(v.as_deref(), Some("v1.2.0"));
        let (e, v, _) = shares(r#"{"version": "v1.1.0", "shares": null}"#).unwrap();
        assert!(e.is_empty());
        assert_eq!(v.as_deref(), Some("v1.1.0"));
        assert!(shares(r#"{"shares": [{"a": 1}"#).is_err());
        assert!(shares(r#"{"shares": []} trailing"#).is_err());
        assert!(shares(r#"["not an object"]"#).is_err());
    }
}
