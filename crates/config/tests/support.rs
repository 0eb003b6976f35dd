//! Helpers: temporary trees built from the shipped `config/` directory or from scratch.

use std::fs;
use std::path::{Path, PathBuf};

use warden_config::{Config, Diagnostic};

/// The default tree shipped in the repository.
pub fn shipped_tree() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config")
}

/// Copy directory `src` into `dst` recursively.
pub fn copy_dir(src: &Path, dst: &Path) {
    fs::create_dir_all(dst).unwrap();
    for entry in fs::read_dir(src).unwrap() {
        let entry = entry.unwrap();
        let to = dst.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &to);
        } else {
            fs::copy(entry.path(), &to).unwrap();
        }
    }
}

/// A temporary directory holding a copy of the shipped tree.
pub fn copy_of_shipped() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&shipped_tree(), dir.path());
    dir
}

/// An empty temporary directory.
pub fn empty() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

/// Write `text` to `root/rel`, creating directories.
pub fn write(root: &Path, rel: &str, text: &str) {
    let path = root.join(rel);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, text).unwrap();
}

/// Load, panicking with all diagnostics on failure.
pub fn load_ok(root: &Path) -> Config {
    match warden_config::load(root) {
        Ok(c) => c,
        Err(errors) => panic!("load failed:\n{}", render(&errors)),
    }
}

/// Load, expecting failure.
pub fn load_err(root: &Path) -> Vec<Diagnostic> {
    match warden_config::load(root) {
        Ok(c) => panic!(
            "load succeeded unexpectedly with jails {:?}",
            c.jails.iter().map(|j| &j.name).collect::<Vec<_>>()
        ),
        Err(e) => e,
    }
}

/// Diagnostics one per line.
pub fn render(diags: &[Diagnostic]) -> String {
    diags.iter().map(|d| format!("{d}\n")).collect()
}
