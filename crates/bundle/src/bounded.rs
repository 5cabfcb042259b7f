//! The one reader of bundle files. A bundle comes from elsewhere, so every file of it is
//! untrusted: it may be a FIFO (a plain `open` waits forever for a writer), a symlink to
//! `/dev/zero` (a plain read never ends), or a regular file of gigabytes.
//!
//! [`open`] refuses all of these before a byte is read:
//! - the last path component must not be a symlink (`O_NOFOLLOW`);
//! - the file is opened without blocking (`O_NONBLOCK`), so a FIFO or a device answers at once,
//!   and must then be a regular file, checked on the open descriptor (nothing can be swapped in
//!   between the check and the read);
//! - its size must not pass a ceiling the caller derives from what the manifest declares
//!   ([`caps`]), and the reader stops at that ceiling even if the file grows while it is read.
//!
//! The bytes are read once: [`BoundedFile`] is a [`Read`] that hashes what passes through it
//! (SHA-256), so a caller can parse a stream and still know the digest of exactly the bytes it
//! parsed; [`read`] and [`read_text`] return one buffer, with no second copy.

use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

use sha2::{Digest, Sha256};

/// What kind of file was found where a regular file was expected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    Symlink,
    Directory,
    Fifo,
    Socket,
    Device,
    Other,
}

impl fmt::Display for FileKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FileKind::Symlink => "a symlink",
            FileKind::Directory => "a directory",
            FileKind::Fifo => "a FIFO",
            FileKind::Socket => "a socket",
            FileKind::Device => "a device",
            FileKind::Other => "not a regular file",
        })
    }
}

/// Why a bundle file was not read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// Not a regular file (symlink, directory, FIFO, socket, device).
    #[error("not a regular file ({kind}); refused without reading")]
    NotRegular { kind: FileKind },
    /// Larger than its ceiling.
    #[error("{size} bytes, more than the {cap} bytes allowed ({why}); refused without reading")]
    TooLarge { size: u64, cap: u64, why: String },
    /// Grew past its ceiling while it was being read.
    #[error("grew past the {cap} bytes allowed while being read")]
    Grew { cap: u64 },
    /// Not UTF-8 text.
    #[error("not UTF-8 text (first bad byte at offset {offset})")]
    NotUtf8 { offset: usize },
    /// The operating system refused.
    #[error("cannot {action}: {source}")]
    Io {
        action: &'static str,
        #[source]
        source: io::Error,
    },
}

/// A size ceiling and the reason for it (named in the error when a file passes it).
#[derive(Debug, Clone)]
pub struct Cap {
    pub bytes: u64,
    pub why: String,
}

impl Cap {
    pub fn new(bytes: u64, why: impl Into<String>) -> Self {
        Cap {
            bytes,
            why: why.into(),
        }
    }
}

/// Ceilings for each file of a bundle. Fixed for the small files; for the files that grow with
/// the batch, derived from the validator and operator counts the manifest declares, with room
/// to spare over what the ceremony writes (see the tests for the measured sizes).
pub mod caps {
    use super::Cap;
    use crate::manifest::files;
    use crate::plan::MAX_VALIDATORS;

    const KIB: u64 = 1024;
    const MIB: u64 = 1024 * KIB;

    /// `manifest.sig`: a few hundred bytes.
    pub fn manifest_sig() -> Cap {
        Cap::new(4 * KIB, "manifest.sig is a few hundred bytes")
    }
    /// `manifest.json`, read before anything says how many validators there are: the largest
    /// plan's manifest (about 450 bytes per validator).
    pub fn manifest() -> Cap {
        Cap::new(
            MIB + u64::from(MAX_VALIDATORS) * KIB,
            format!("a manifest of at most {MAX_VALIDATORS} validators"),
        )
    }
    /// `plan.toml`.
    pub fn plan() -> Cap {
        Cap::new(64 * KIB, "a plan is a short TOML file")
    }
    /// `operators.json`: at most 13 operators with keys of at most
    /// [`kc_ssv::operator::MAX_ENCODED_KEY_LEN`] characters.
    pub fn operators() -> Cap {
        Cap::new(64 * KIB, "at most 13 operators")
    }
    /// `sealed/master.seal`: an envelope of a 32-byte secret.
    pub fn sealed_master() -> Cap {
        Cap::new(64 * KIB, "a sealed 32-byte secret")
    }
    /// `transcript.jsonl`: fixed steps and one line of about 600 bytes per validator.
    pub fn transcript(validators: usize) -> Cap {
        Cap::new(
            MIB + validators as u64 * 2 * KIB,
            format!("a transcript of {validators} validators"),
        )
    }
    /// One entry of `deposit_data.json` (about 730 bytes).
    pub const DEPOSIT_ENTRY: usize = 1024;
    /// One entry of `keyshares.json` for a cluster of `operators`.
    pub fn keyshares_entry(operators: usize) -> usize {
        1024 + operators * 3 * 1024
    }

    /// `deposit_data.json`: about 730 bytes per validator.
    pub fn deposit_data(validators: usize) -> Cap {
        Cap::new(
            KIB + validators as u64 * DEPOSIT_ENTRY as u64,
            format!("deposit data of {validators} validators"),
        )
    }
    /// `keyshares.json`: per validator, sharesData (608 hex digits per operator) and the
    /// operators' keys (about 600 characters each, at most
    /// [`kc_ssv::operator::MAX_ENCODED_KEY_LEN`]).
    pub fn keyshares(validators: usize, operators: usize) -> Cap {
        let per = keyshares_entry(operators) as u64;
        Cap::new(
            4 * KIB + validators as u64 * per,
            format!("key shares of {validators} validators and {operators} operators"),
        )
    }

    /// The ceiling of the bundle file `name`, for a manifest of `validators` validators and
    /// `cluster` operators.
    pub fn for_file(name: &str, validators: usize, cluster: usize) -> Cap {
        match name {
            files::MANIFEST => manifest(),
            files::MANIFEST_SIG => manifest_sig(),
            files::PLAN => plan(),
            files::OPERATORS => operators(),
            files::SEALED_MASTER => sealed_master(),
            files::TRANSCRIPT => transcript(validators),
            files::DEPOSIT_DATA => deposit_data(validators),
            files::KEYSHARES => keyshares(validators, cluster),
            // Not a bundle file: nothing of it is needed.
            _ => Cap::new(0, "not a bundle file"),
        }
    }
}

/// An open regular file no larger than its ceiling; reading it hashes what is read.
pub struct BoundedFile {
    inner: io::Take<File>,
    len: u64,
    cap: u64,
    read: u64,
    sha: Sha256,
}

impl fmt::Debug for BoundedFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BoundedFile")
            .field("len", &self.len)
            .field("cap", &self.cap)
            .field("read", &self.read)
            .finish()
    }
}

fn kind_of(ft: std::fs::FileType) -> FileKind {
    if ft.is_symlink() {
        FileKind::Symlink
    } else if ft.is_dir() {
        FileKind::Directory
    } else if ft.is_fifo() {
        FileKind::Fifo
    } else if ft.is_socket() {
        FileKind::Socket
    } else if ft.is_block_device() || ft.is_char_device() {
        FileKind::Device
    } else {
        FileKind::Other
    }
}

/// Opens `path` for reading if it is a regular file (not through a final symlink) of at most
/// `cap` bytes. Never blocks on a FIFO or device, and reads nothing.
pub fn open(path: &Path, cap: &Cap) -> Result<BoundedFile, ReadError> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(
            (rustix::fs::OFlags::NOFOLLOW
                | rustix::fs::OFlags::NONBLOCK
                | rustix::fs::OFlags::NOCTTY)
                .bits() as i32,
        )
        .open(path)
        .map_err(|source| {
            // O_NOFOLLOW on a symlink fails with ELOOP.
            if source.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error()) {
                ReadError::NotRegular {
                    kind: FileKind::Symlink,
                }
            } else {
                ReadError::Io {
                    action: "open",
                    source,
                }
            }
        })?;
    let meta = file.metadata().map_err(|source| ReadError::Io {
        action: "stat",
        source,
    })?;
    if !meta.file_type().is_file() {
        return Err(ReadError::NotRegular {
            kind: kind_of(meta.file_type()),
        });
    }
    if meta.len() > cap.bytes {
        return Err(ReadError::TooLarge {
            size: meta.len(),
            cap: cap.bytes,
            why: cap.why.clone(),
        });
    }
    Ok(BoundedFile {
        // One byte more than allowed, to notice a file that grows while it is read.
        inner: file.take(cap.bytes + 1),
        len: meta.len(),
        cap: cap.bytes,
        read: 0,
        sha: Sha256::new(),
    })
}

impl BoundedFile {
    /// The size the file had when it was opened.
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes read so far.
    pub fn bytes_read(&self) -> u64 {
        self.read
    }

    /// SHA-256 (lower-case hex) of every byte read so far.
    pub fn sha256_hex(&self) -> String {
        hex::encode(self.sha.clone().finalize())
    }

    /// Reads the rest of the file, only to hash it; returns the SHA-256 (hex) of the whole file.
    pub fn hash_rest(&mut self) -> Result<String, ReadError> {
        std::io::copy(self, &mut std::io::sink()).map_err(|e| match e.kind() {
            io::ErrorKind::FileTooLarge => ReadError::Grew { cap: self.cap },
            _ => ReadError::Io {
                action: "read",
                source: e,
            },
        })?;
        Ok(self.sha256_hex())
    }

    /// Starts again from the first byte, on the same open file (a second pass over the very
    /// file that was checked, not over whatever the path names now); the hash starts again too.
    pub fn rewind(&mut self) -> Result<(), ReadError> {
        use std::io::Seek;
        self.inner
            .get_mut()
            .rewind()
            .map_err(|source| ReadError::Io {
                action: "seek",
                source,
            })?;
        self.inner.set_limit(self.cap + 1);
        self.read = 0;
        self.sha = Sha256::new();
        Ok(())
    }

    /// Reads the rest of the file into one buffer and returns it with the SHA-256 (hex) of the
    /// whole file.
    pub fn read_all(mut self) -> Result<(Vec<u8>, String), ReadError> {
        let mut buf = Vec::with_capacity(self.len.saturating_sub(self.read) as usize);
        self.read_to_end(&mut buf).map_err(|e| match e.kind() {
            io::ErrorKind::FileTooLarge => ReadError::Grew { cap: self.cap },
            _ => ReadError::Io {
                action: "read",
                source: e,
            },
        })?;
        Ok((buf, self.sha256_hex()))
    }
}

impl Read for BoundedFile {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(out)?;
        self.read += n as u64;
        if self.read > self.cap {
            return Err(io::Error::new(
                io::ErrorKind::FileTooLarge,
                format!("grew past the {} bytes allowed while being read", self.cap),
            ));
        }
        self.sha.update(&out[..n]);
        Ok(n)
    }
}

/// Reads a whole bundle file (see [`open`]); returns its bytes and their SHA-256 (hex).
pub fn read(path: &Path, cap: &Cap) -> Result<(Vec<u8>, String), ReadError> {
    open(path, cap)?.read_all()
}

/// Turns bytes into text without copying them.
pub fn into_text(bytes: Vec<u8>) -> Result<String, ReadError> {
    String::from_utf8(bytes).map_err(|e| ReadError::NotUtf8 {
        offset: e.utf8_error().valid_up_to(),
    })
}

/// Reads a whole bundle file as UTF-8 text; returns it and its SHA-256 (hex).
pub fn read_text(path: &Path, cap: &Cap) -> Result<(String, String), ReadError> {
    let (bytes, sha) = read(path, cap)?;
    Ok((into_text(bytes)?, sha))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cap(n: u64) -> Cap {
        Cap::new(n, "test")
    }

    #[test]
    fn regular_file_reads_once_with_its_hash() {
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join("f");
        std::fs::write(&p, b"hello").unwrap();
        let (b, sha) = read(&p, &cap(5)).unwrap();
        assert_eq!(b, b"hello");
        assert_eq!(sha, hex::encode(Sha256::digest(b"hello")));
        let (t, _) = read_text(&p, &cap(5)).unwrap();
        assert_eq!(t, "hello");
    }

    #[test]
    fn a_file_over_its_cap_is_refused_before_reading() {
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join("f");
        std::fs::write(&p, b"hello").unwrap();
        match read(&p, &cap(4)) {
            Err(ReadError::TooLarge {
                size: 5, cap: 4, ..
            }) => {}
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn fifo_symlink_device_and_directory_are_refused_at_once() {
        let tmp = tempfile::tempdir().unwrap();
        let fifo = tmp.path().join("fifo");
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &fifo,
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o600),
            0,
        )
        .unwrap();
        let link = tmp.path().join("zero");
        std::os::unix::fs::symlink("/dev/zero", &link).unwrap();
        let target = tmp.path().join("target");
        std::fs::write(&target, b"x").unwrap();
        let link_to_file = tmp.path().join("link");
        std::os::unix::fs::symlink(&target, &link_to_file).unwrap();
        for (p, kind) in [
            (&fifo, FileKind::Fifo),
            (&link, FileKind::Symlink),
            (&link_to_file, FileKind::Symlink),
            (&Path::new("/dev/zero").to_owned(), FileKind::Device),
            (&tmp.path().to_owned(), FileKind::Directory),
        ] {
            match read(p, &cap(1 << 20)) {
                Err(ReadError::NotRegular { kind: k }) => assert_eq!(k, kind, "{p:?}"),
                other => panic!("{p:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn non_utf8_text_is_refused_naming_the_offset() {
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join("f");
        std::fs::write(&p, b"ab\xffcd").unwrap();
        match read_text(&p, &cap(10)) {
            Err(ReadError::NotUtf8 { offset: 2 }) => {}
            other => panic!("{other:?}"),
        }
    }
}
