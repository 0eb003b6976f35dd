//! Finding the rotated copy of a log after copytruncate.
//!
//! With copytruncate, lines written between our last read and the truncation survive only in
//! the copy (`auth.log.1`, `auth.log-20240101`, ...). The copy is recognised by content, not by
//! name: it must start with the fingerprint of the file we were reading and be at least as long
//! as what we had read. Compressed rotations are never the fresh copy and are skipped.

use std::ffi::OsStr;
use std::fs::{self, File};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::fingerprint::{read_at_most, Fingerprint};
use super::reader::Ident;

const COMPRESSED: &[&str] = &[
    ".gz", ".bz2", ".xz", ".zst", ".lz4", ".lzma", ".Z", ".zip", ".br",
];

/// A rotated copy found on disk.
pub struct RotatedCopy {
    pub file: File,
    pub ident: Ident,
    pub path: PathBuf,
}

/// Whether `candidate` names a rotation of the file named `base` (`base.1`, `base-20240101`).
pub fn is_rotation_name(base: &OsStr, candidate: &OsStr) -> bool {
    let (base, cand) = (base.as_bytes(), candidate.as_bytes());
    let rotated = cand.len() > base.len() + 1
        && cand.starts_with(base)
        && matches!(cand[base.len()], b'.' | b'-' | b'_');
    rotated && !COMPRESSED.iter().any(|ext| cand.ends_with(ext.as_bytes()))
}

/// What the copy must look like: it starts with `fingerprint`, and holds `recent` just before
/// `offset` (so it is at least `offset` bytes long); if `ident` is given, it is that file.
pub struct Expected<'a> {
    pub fingerprint: Fingerprint,
    pub offset: u64,
    pub recent: &'a [u8],
    pub ident: Option<Ident>,
}

impl Expected<'_> {
    fn matches(&self, file: &File) -> bool {
        let mut buf = [0u8; 256];
        let recent = &self.recent[..self.recent.len().min(buf.len())];
        let Some(from) = self.offset.checked_sub(recent.len() as u64) else {
            return false;
        };
        let n = read_at_most(file, &mut buf[..recent.len()], from).unwrap_or(0);
        n == recent.len() && &buf[..n] == recent && self.fingerprint.matches(file).unwrap_or(false)
    }
}

/// The newest rotation of `path` that looks like `expected`, other than the files in `exclude`
/// (those already being read).
pub fn find_rotated_copy(
    path: &Path,
    expected: &Expected,
    exclude: &[Ident],
) -> Option<RotatedCopy> {
    let min_len = expected.offset;
    let base = path.file_name()?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            tracing::debug!(dir = %dir.display(), error = %e, "Cannot list directory for rotated copies.");
            return None;
        }
    };
    let mut candidates: Vec<(SystemTime, PathBuf)> = entries
        .filter_map(Result::ok)
        .filter(|e| is_rotation_name(base, &e.file_name()))
        .filter_map(|e| {
            let path = e.path();
            let meta = fs::metadata(&path).ok()?;
            let fits =
                meta.is_file() && meta.len() >= min_len && !exclude.contains(&Ident::of(&meta));
            fits.then(|| (meta.modified().unwrap_or(SystemTime::UNIX_EPOCH), path))
        })
        .collect();
    candidates.sort_by(|a, b| b.cmp(a));
    candidates.into_iter().find_map(|(_, path)| {
        let file = File::open(&path).ok()?;
        let meta = file.metadata().ok()?;
        let ident = Ident::of(&meta);
        let fits = meta.len() >= min_len
            && !exclude.contains(&ident)
            && (expected.ident.is_none() || expected.ident == Some(ident))
            && expected.matches(&file);
        fits.then_some(RotatedCopy { file, ident, path })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotation_names() {
        let base = OsStr::new("auth.log");
        for yes in [
            "auth.log.1",
            "auth.log-20240101",
            "auth.log.0",
            "auth.log_old",
        ] {
            assert!(is_rotation_name(base, OsStr::new(yes)), "{yes}");
        }
        for no in [
            "auth.log",
            "auth.log.",
            "auth.log.2.gz",
            "auth.log-20240101.xz",
            "auth.logx",
            "other.log.1",
        ] {
            assert!(!is_rotation_name(base, OsStr::new(no)), "{no}");
        }
    }

    #[test]
    fn finds_the_copy_by_content_not_name() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("app.log");
        fs::write(dir.path().join("app.log.1"), "old first\nx\n").unwrap();
        fs::write(dir.path().join("app.log.2"), "ours first\nline\n").unwrap();
        fs::write(dir.path().join("app.log.3.gz"), "ours first\nline\n").unwrap();
        let expect = |offset, recent: &'static [u8]| Expected {
            fingerprint: Fingerprint::of(b"ours first\n"),
            offset,
            recent,
            ident: None,
        };
        let copy = find_rotated_copy(&log, &expect(16, b"line\n"), &[]).unwrap();
        assert_eq!(copy.path, dir.path().join("app.log.2"));
        assert!(
            find_rotated_copy(&log, &expect(17, b""), &[]).is_none(),
            "too short to hold what was read"
        );
        assert!(
            find_rotated_copy(&log, &expect(16, b"lime\n"), &[]).is_none(),
            "different bytes before the offset"
        );
        assert!(
            find_rotated_copy(&log, &expect(0, b""), &[copy.ident]).is_none(),
            "excluded"
        );
    }
}
