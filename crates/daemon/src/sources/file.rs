//! Following one log file: from its end at first start, across rename+create and copytruncate
//! rotation, never losing or repeating a complete line.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::mpsc::Sender;
use std::time::Duration;

/// Where reading starts when a file is first opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartAt {
    /// At the current end (Fail2Ban's `tail`).
    End,
    /// At the beginning (`head`).
    Beginning,
}

/// Identity of the file being read and how far it has been read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilePosition {
    /// Device number.
    pub dev: u64,
    /// Inode number.
    pub ino: u64,
    /// Byte offset just after the last complete line handed out.
    pub offset: u64,
}

/// A followed file. `read_lines` returns each complete line exactly once.
pub struct FileTail {
    _private: (),
}

impl FileTail {
    /// Start following `path` (which need not exist yet: it is picked up when it appears,
    /// and then read from its beginning).
    pub fn open(path: &Path, start: StartAt) -> io::Result<FileTail> {
        let _ = (path, start);
        unimplemented!()
    }

    /// The followed path.
    pub fn path(&self) -> &Path {
        unimplemented!()
    }

    /// Append every new complete line (without `\n`, invalid UTF-8 replaced) to `out`,
    /// handling rotation. Returns how many lines were appended.
    pub fn read_lines(&mut self, out: &mut Vec<String>) -> io::Result<usize> {
        let _ = out;
        unimplemented!()
    }

    /// Current position, `None` while the file does not exist.
    pub fn position(&self) -> Option<FilePosition> {
        unimplemented!()
    }
}

/// A batch of lines read from one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineBatch {
    /// The path as configured.
    pub path: PathBuf,
    /// Lines in order.
    pub lines: Vec<String>,
}

/// Handle to a watcher thread; dropping it stops the thread.
pub struct Watcher {
    _private: (),
}

/// Follow `paths` on a background thread, woken by inotify (falling back to polling every
/// `poll_interval` when inotify is unavailable, and polling at that interval anyway as a safety
/// net), sending each batch of new lines to `tx`.
pub fn watch(paths: Vec<PathBuf>, start: StartAt, poll_interval: Duration, tx: Sender<LineBatch>) -> io::Result<Watcher> {
    let _ = (paths, start, poll_interval, tx);
    unimplemented!()
}
