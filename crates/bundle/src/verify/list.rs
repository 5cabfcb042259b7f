//! The manifest's list of validators read again, entry by entry, beside another file: its bytes
//! must be those whose SHA-256 the signature covers.

use std::io::BufReader;
use std::path::Path;

use crate::bounded::{self, caps};
use crate::manifest::{files, ValidatorEntry, ValidatorStream};

use super::Checker;

/// The manifest's validator entries read again from its file, one at a time, for a check that
/// goes through them in order beside another file. The bytes must be those whose SHA-256 the
/// signature covers; [`ListReader::finish`] says when they were not.
pub(crate) struct ListReader {
    pub(super) stream: Option<ValidatorStream<BufReader<bounded::BoundedFile>>>,
    pub(super) sha256: String,
    pub(super) failed: Option<String>,
}

impl ListReader {
    pub(super) fn open(dir: &Path, sha256: &[u8; 32]) -> Self {
        let (stream, failed) = match bounded::open(&dir.join(files::MANIFEST), &caps::manifest()) {
            Ok(f) => (
                Some(ValidatorStream::new(BufReader::with_capacity(1 << 16, f))),
                None,
            ),
            Err(e) => (None, Some(format!("cannot be read again: {e}"))),
        };
        ListReader {
            stream,
            sha256: hex::encode(sha256),
            failed,
        }
    }

    /// Reads to the end and compares the bytes' SHA-256 with the verified manifest's.
    pub(super) fn finish(mut self) -> Result<(), String> {
        if let Some(e) = self.failed.take() {
            return Err(e);
        }
        let Some(stream) = self.stream.take() else {
            return Ok(());
        };
        let mut file = stream.into_inner().into_inner();
        let again = file
            .hash_rest()
            .map_err(|e| format!("cannot be read again: {e}"))?;
        if again != self.sha256 {
            return Err(format!(
                "changed while it was being verified (SHA-256 {} then {again})",
                self.sha256
            ));
        }
        Ok(())
    }
}

impl Iterator for ListReader {
    type Item = ValidatorEntry;
    /// The next entry; `None` after the last, or when the list cannot be read again (then
    /// [`ListReader::finish`] says why).
    fn next(&mut self) -> Option<ValidatorEntry> {
        let stream = self.stream.as_mut()?;
        match stream.next_entry() {
            Ok(v) => v,
            Err(e) => {
                self.failed = Some(format!("cannot be read again: {e}"));
                self.stream = None;
                None
            }
        }
    }
}

/// Records a failure when the manifest, read again entry by entry, was not the verified one.
pub(super) fn list_unchanged(read: Result<(), String>, c: &mut Checker) {
    if let Err(e) = read {
        c.fail(
            "manifest.unchanged",
            files::MANIFEST,
            files::MANIFEST,
            format!("{} {e}", files::MANIFEST),
        );
    }
}
