//! Shared by the `ini` and `interpolation` targets: write a small configuration tree from
//! fuzz input into a scratch directory that stays the same for the whole run (so that
//! `fail2ban_confpath`, which holds it, does not vary between runs of one input).

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// Most files one input may create.
pub const MAX_FILES: usize = 16;

/// Inputs that name these could make the reader include special files of the machine
/// (`before = /proc/kcore`); that is the administrator's business, not a parser bug.
const OFF_LIMITS: &[&str] = &["/proc", "/sys", "/dev", "/run"];

/// Does the input stay within the scratch tree (as far as a substring test can tell)?
pub fn acceptable(text: &str) -> bool {
    !OFF_LIMITS.iter().any(|p| text.contains(p))
}

/// A fresh, empty directory at the same path on every call.
pub fn scratch() -> &'static Path {
    static BASE: OnceLock<tempfile::TempDir> = OnceLock::new();
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    let dir = DIR.get_or_init(|| {
        let shm = Path::new("/dev/shm");
        let base = BASE.get_or_init(|| {
            if shm.is_dir() {
                tempfile::Builder::new()
                    .prefix("warden-fuzz")
                    .tempdir_in(shm)
                    .expect("scratch directory")
            } else {
                tempfile::tempdir().expect("scratch directory")
            }
        });
        base.path().join("etc")
    });
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).expect("scratch directory");
    dir
}

/// Is `rel` a path we may create: relative, at most 3 plain components of `[A-Za-z0-9._-]`,
/// no `.`/`..`, not hidden.
pub fn safe_relative(rel: &str) -> bool {
    let parts: Vec<&str> = rel.split('/').collect();
    !rel.is_empty()
        && parts.len() <= 3
        && parts.iter().all(|p| {
            !p.is_empty()
                && !p.starts_with('.')
                && p.len() <= 64
                && p.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        })
}

/// Write `files` under `root`; failures (a file where a directory is needed) are skipped.
pub fn write(root: &Path, files: &[(String, String)]) {
    for (rel, text) in files.iter().take(MAX_FILES) {
        if !safe_relative(rel) {
            continue;
        }
        let path = root.join(rel);
        if let Some(parent) = path.parent() {
            if std::fs::create_dir_all(parent).is_err() {
                continue;
            }
        }
        let _ = std::fs::write(&path, text);
    }
}
