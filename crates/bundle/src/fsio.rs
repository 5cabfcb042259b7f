//! Writing a bundle without ever overwriting or leaving a complete-looking partial result.
//!
//! A bundle is written into a fresh staging directory beside its destination, named
//! `.<name>.incomplete-<pid>`, holding an `INCOMPLETE` marker file from its first moment.
//! Every file is created with `create_new`, written, and fsynced; then the caller verifies the
//! staged bundle by reading it back; [`Staging::commit`] removes the marker, fsyncs, and renames
//! the directory into place, refusing if the destination appeared meanwhile. Dropping a staging
//! directory that was not committed removes it.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::Error;

/// Name of the marker file inside a staging directory.
pub const INCOMPLETE_MARKER: &str = "INCOMPLETE";

fn io<'a>(path: &'a Path, action: &'static str) -> impl FnOnce(std::io::Error) -> Error + 'a {
    move |source| Error::Io {
        path: path.to_owned(),
        action,
        source,
    }
}

/// Writes `data` to a new file (never replacing one) and fsyncs it.
pub fn write_new(path: &Path, data: &[u8]) -> Result<(), Error> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).map_err(io(parent, "create the directory"))?;
    }
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                Error::Exists {
                    path: path.to_owned(),
                }
            } else {
                Error::Io {
                    path: path.to_owned(),
                    action: "create",
                    source: e,
                }
            }
        })?;
    f.write_all(data).map_err(io(path, "write"))?;
    f.sync_all().map_err(io(path, "fsync"))?;
    Ok(())
}

/// A new file being written in a staging directory, hashed as it is written: the bytes whose
/// SHA-256 goes into the manifest are the bytes that were written, without reading them back
/// (verification reads them back, and compares).
pub struct HashingFile {
    path: PathBuf,
    out: std::io::BufWriter<File>,
    sha: sha2::Sha256,
}

impl std::fmt::Debug for HashingFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HashingFile")
            .field("path", &self.path)
            .finish()
    }
}

impl Write for HashingFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.out.write(buf)?;
        sha2::Digest::update(&mut self.sha, &buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

impl HashingFile {
    /// The path being written.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Flushes and fsyncs the file; returns the SHA-256 (hex) of everything written.
    pub fn finish(self) -> Result<String, Error> {
        let path = self.path;
        let file = self.out.into_inner().map_err(|e| Error::Io {
            path: path.clone(),
            action: "write",
            source: e.into_error(),
        })?;
        file.sync_all().map_err(io(&path, "fsync"))?;
        Ok(hex::encode(sha2::Digest::finalize(self.sha)))
    }
}

fn sync_dir(path: &Path) -> Result<(), Error> {
    File::open(path)
        .and_then(|d| d.sync_all())
        .map_err(io(path, "fsync the directory"))
}

/// A staging directory for a bundle on its way to `dest`.
#[derive(Debug)]
pub struct Staging {
    dir: PathBuf,
    dest: PathBuf,
    committed: bool,
}

impl Staging {
    /// Creates the staging directory beside `dest`. Fails if `dest` exists.
    pub fn create(dest: &Path) -> Result<Self, Error> {
        if dest.exists() {
            return Err(Error::Exists {
                path: dest.to_owned(),
            });
        }
        let name = dest
            .file_name()
            .ok_or_else(|| Error::Io {
                path: dest.to_owned(),
                action: "use as a bundle directory",
                source: std::io::Error::new(std::io::ErrorKind::InvalidInput, "no directory name"),
            })?
            .to_string_lossy()
            .into_owned();
        let parent = match dest.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
            _ => PathBuf::from("."),
        };
        if !parent.is_dir() {
            return Err(Error::Io {
                path: parent,
                action: "write a bundle into",
                source: std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "parent directory does not exist",
                ),
            });
        }
        let dir = parent.join(format!(".{name}.incomplete-{}", std::process::id()));
        fs::create_dir(&dir).map_err(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                Error::Exists { path: dir.clone() }
            } else {
                Error::Io {
                    path: dir.clone(),
                    action: "create the staging directory",
                    source: e,
                }
            }
        })?;
        let staging = Self {
            dir,
            dest: dest.to_owned(),
            committed: false,
        };
        write_new(
            &staging.dir.join(INCOMPLETE_MARKER),
            b"this bundle was not completed; it must not be used\n",
        )?;
        Ok(staging)
    }

    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Writes one file of the bundle (relative path) with `create_new` and fsync.
    pub fn write(&self, rel: &str, data: &[u8]) -> Result<(), Error> {
        write_new(&self.dir.join(rel), data)
    }

    /// Creates one file of the bundle (relative path, `create_new`) to be written piece by
    /// piece and hashed as it is written ([`HashingFile::finish`] fsyncs it).
    pub fn create_file(&self, rel: &str) -> Result<HashingFile, Error> {
        let path = self.dir.join(rel);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(io(parent, "create the directory"))?;
        }
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| {
                if e.kind() == std::io::ErrorKind::AlreadyExists {
                    Error::Exists { path: path.clone() }
                } else {
                    Error::Io {
                        path: path.clone(),
                        action: "create",
                        source: e,
                    }
                }
            })?;
        Ok(HashingFile {
            path,
            out: std::io::BufWriter::with_capacity(1 << 16, file),
            sha: sha2::Sha256::default(),
        })
    }

    /// Removes the marker and renames the staging directory to the destination.
    pub fn commit(mut self) -> Result<PathBuf, Error> {
        let marker = self.dir.join(INCOMPLETE_MARKER);
        fs::remove_file(&marker).map_err(io(&marker, "remove the marker"))?;
        let sealed = self.dir.join("sealed");
        if sealed.is_dir() {
            sync_dir(&sealed)?;
        }
        sync_dir(&self.dir)?;
        // RENAME_NOREPLACE: a plain rename would replace an empty directory at `dest`.
        rustix::fs::renameat_with(
            rustix::fs::CWD,
            &self.dir,
            rustix::fs::CWD,
            &self.dest,
            rustix::fs::RenameFlags::NOREPLACE,
        )
        .map_err(|e| {
            if e == rustix::io::Errno::EXIST || e == rustix::io::Errno::NOTEMPTY {
                Error::Exists {
                    path: self.dest.clone(),
                }
            } else {
                Error::Io {
                    path: self.dest.clone(),
                    action: "rename the staged bundle to",
                    source: e.into(),
                }
            }
        })?;
        if let Some(parent) = self.dest.parent().filter(|p| !p.as_os_str().is_empty()) {
            sync_dir(parent)?;
        }
        self.committed = true;
        Ok(self.dest.clone())
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.committed {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commit_moves_into_place_without_marker() {
        let tmp = tempfile::tempdir().unwrap();
        let dest = tmp.path().join("bundle");
        let s = Staging::create(&dest).unwrap();
        s.write("a.txt", b"a").unwrap();
        s.write("sealed/b", b"b").unwrap();
        assert!(!dest.exists());
        s.commit().unwrap();
        assert_eq!(fs::read(dest.join("a.txt")).unwrap(), b"a");
        assert!(!dest.join(INCOMPLETE_MARKER).exists());
        assert_eq!(fs::read_dir(tmp.path()).unwrap().count(), 1);
    }

    #[test]
    fn existing_destination_is_refused_and_untouched() {
        let tmp = tempfile::tempdir().unwrap();
        let dest = tmp.path().join("bundle");
        fs::create_dir(&dest).unwrap();
        fs::write(dest.join("keep"), b"x").unwrap();
        assert!(matches!(Staging::create(&dest), Err(Error::Exists { .. })));
        assert_eq!(fs::read(dest.join("keep")).unwrap(), b"x");
    }

    #[test]
    fn dropped_staging_leaves_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let dest = tmp.path().join("bundle");
        {
            let s = Staging::create(&dest).unwrap();
            s.write("a.txt", b"a").unwrap();
        }
        assert_eq!(fs::read_dir(tmp.path()).unwrap().count(), 0);
    }

    #[test]
    fn a_hashing_file_hashes_what_it_wrote_and_is_never_replaced() {
        let tmp = tempfile::tempdir().unwrap();
        let s = Staging::create(&tmp.path().join("b")).unwrap();
        let mut f = s.create_file("sealed/x").unwrap();
        f.write_all(b"hello ").unwrap();
        f.write_all(b"world").unwrap();
        let sha = f.finish().unwrap();
        assert_eq!(sha, crate::manifest::sha256_hex(b"hello world"));
        assert_eq!(fs::read(s.path().join("sealed/x")).unwrap(), b"hello world");
        assert!(matches!(
            s.create_file("sealed/x"),
            Err(Error::Exists { .. })
        ));
    }

    #[test]
    fn files_are_never_replaced() {
        let tmp = tempfile::tempdir().unwrap();
        let s = Staging::create(&tmp.path().join("b")).unwrap();
        s.write("a", b"1").unwrap();
        assert!(matches!(s.write("a", b"2"), Err(Error::Exists { .. })));
    }

    #[test]
    fn destination_appearing_before_commit_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let dest = tmp.path().join("bundle");
        let s = Staging::create(&dest).unwrap();
        fs::create_dir(&dest).unwrap();
        assert!(matches!(s.commit(), Err(Error::Exists { .. })));
        assert_eq!(fs::read_dir(&dest).unwrap().count(), 0);
    }
}
