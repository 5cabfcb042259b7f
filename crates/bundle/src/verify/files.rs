//! The bundle's directory: the listing against the manifest's files, no stray file, the
//! hashes of small files, the transcript chain, and the binary that ran (both bundle kinds).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::bounded;
use crate::manifest::files;

use super::{Checker, VerifyOptions};

pub(crate) fn read_all_files(dir: &Path) -> std::io::Result<BTreeSet<String>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeSet<String>) -> std::io::Result<()> {
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            let path = entry.path();
            let ty = entry.file_type()?;
            let rel = path
                .strip_prefix(root)
                .unwrap_or(&path)
                .to_string_lossy()
                .replace('\\', "/");
            if ty.is_dir() {
                // Directories are listed too (`name/`): an empty one is not part of a bundle.
                out.insert(format!("{rel}/"));
                walk(root, &path, out)?;
            } else {
                out.insert(rel);
            }
        }
        Ok(())
    }
    let mut out = BTreeSet::new();
    walk(dir, dir, &mut out)?;
    Ok(out)
}

/// The manifest's file list (`listed`, name → SHA-256) against the files a bundle of kind
/// `what` has (`expected`): each missing and each extra name is a failure.
pub(super) fn listing_failures(
    listed: &BTreeMap<String, String>,
    expected: &BTreeSet<&str>,
    what: &str,
    fails: &mut Vec<(String, String)>,
) {
    let names: BTreeSet<&str> = listed.keys().map(String::as_str).collect();
    for missing in expected.difference(&names) {
        fails.push((
            format!("files.{missing}"),
            "not listed in the manifest".to_owned(),
        ));
    }
    for extra in names.difference(expected) {
        fails.push((
            format!("files.{extra}"),
            format!("listed but not part of {what}"),
        ));
    }
}

/// Anything in `dir` besides the `expected` files, the directories in `dirs`, the manifest, its
/// signature and (staged) the INCOMPLETE marker is a failure.
pub(super) fn stray_failures(
    dir: &Path,
    expected: &BTreeSet<&str>,
    dirs: &[&str],
    what: &str,
    opts: &VerifyOptions,
    fails: &mut Vec<(String, String)>,
) {
    match read_all_files(dir) {
        Ok(present) => {
            for f in present {
                let marker_ok = opts.staged && f == crate::fsio::INCOMPLETE_MARKER;
                if !expected.contains(f.as_str())
                    && !dirs.contains(&f.as_str())
                    && f != files::MANIFEST
                    && f != files::MANIFEST_SIG
                    && !marker_ok
                {
                    fails.push((f.clone(), format!("file is not part of {what}")));
                }
            }
        }
        Err(e) => fails.push((
            String::new(),
            format!("cannot list the bundle directory: {e}"),
        )),
    }
}

/// The files of a reshare bundle (`crate::reshare`): exactly `hashed` are listed in the
/// manifest (`listed`: name → SHA-256 hex), each is a regular file no larger than its cap (read
/// through [`bounded`]) with that hash, and nothing else is in the directory besides the
/// manifest, its signature, the directories in `dirs` and (staged) the INCOMPLETE marker. One
/// `files.hashes` check; returns the contents read. `what` names the bundle kind in failures.
pub(crate) fn check_files(
    dir: &Path,
    listed: &BTreeMap<String, String>,
    hashed: &[(&'static str, bounded::Cap)],
    dirs: &[&str],
    what: &str,
    opts: &VerifyOptions,
    c: &mut Checker,
) -> BTreeMap<&'static str, Vec<u8>> {
    let mut contents: BTreeMap<&'static str, Vec<u8>> = BTreeMap::new();
    let expected: BTreeSet<&str> = hashed.iter().map(|(n, _)| *n).collect();
    let mut fails = Vec::new();
    listing_failures(listed, &expected, what, &mut fails);
    for (name, cap) in hashed {
        match bounded::read(&dir.join(name), cap) {
            Ok((bytes, got)) => {
                match listed.get(*name) {
                    Some(want) if *want == got => {}
                    Some(want) => fails.push((
                        (*name).to_owned(),
                        format!("SHA-256 is {got}, manifest says {want}"),
                    )),
                    None => {}
                }
                contents.insert(name, bytes);
            }
            Err(e) => fails.push(((*name).to_owned(), e.to_string())),
        }
    }
    stray_failures(dir, &expected, dirs, what, opts, &mut fails);
    c.group(
        "files.hashes",
        files::MANIFEST,
        fails,
        format!("{} files present and hashed as listed", hashed.len()),
    );
    contents
}

/// `--expect-binary`: the manifest's `tool.binary_sha256` is the binary the auditor expects
/// (both bundle kinds record the tool that made them).
pub(crate) fn check_binary(want: Option<&str>, tool: &crate::manifest::ToolInfo, c: &mut Checker) {
    let Some(want) = want else { return };
    if want.eq_ignore_ascii_case(&tool.binary_sha256) {
        c.pass(
            "tool.binary",
            files::MANIFEST,
            format!("binary SHA-256 {want}"),
        );
    } else {
        c.fail(
            "tool.binary",
            files::MANIFEST,
            "tool.binary_sha256",
            format!("{}, expected {want}", tool.binary_sha256),
        );
    }
}

/// The transcript's hash chain (a reshare bundle's transcript, read whole), ending in the
/// manifest's `transcript_head` (`head`): the `transcript.chain` or `transcript.head` check; the
/// parsed transcript when both hold.
pub(crate) fn check_chain(
    text: Option<String>,
    head: &str,
    c: &mut Checker,
) -> Option<crate::transcript::Transcript> {
    match crate::transcript::Transcript::parse_and_verify(&text?) {
        Ok(tr) if tr.head() == head => {
            c.pass(
                "transcript.chain",
                files::TRANSCRIPT,
                format!("{} entries, head {}", tr.entries().len(), tr.head()),
            );
            Some(tr)
        }
        Ok(tr) => {
            c.fail(
                "transcript.head",
                files::MANIFEST,
                "transcript_head",
                format!("manifest says {head}, transcript ends in {}", tr.head()),
            );
            None
        }
        Err(e) => {
            c.fail("transcript.chain", files::TRANSCRIPT, "", e.to_string());
            None
        }
    }
}
