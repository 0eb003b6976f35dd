//! Reading the systemd journal for `backend = systemd` jails, through libsystemd's sd-journal.
//!
//! Fail2Ban reads the journal with python-systemd; Warden calls the same C library
//! ([`sys::Journal`] wraps the handle, which must stay on one thread). What a jail sees matches
//! Fail2Ban's `FilterSystemd`:
//! - [`JournalMatch`] parses `journalmatch` (`+` between alternative groups);
//! - each entry becomes one line `HOSTNAME IDENT[PID]: MESSAGE` with its time already known
//!   ([`format`]), for `warden_filter::Filter::process_entry` (no date detection);
//! - a restart resumes after the last entry handed out, named by its cursor ([`Start::Cursor`]);
//!   Fail2Ban stores only a time and re-reads entries of the same microsecond.
//!
//! [`JournalReader`] reads synchronously; [`watch_journal`] runs one on its own thread, sleeping
//! in `poll(2)` on sd-journal's inotify descriptor and a wake-up socket, so entries are handed
//! out as soon as they are appended and dropping the [`JournalWatcher`] stops it at once. Every
//! [`POLL_INTERVAL`] it reads regardless, which is all it can do where inotify is unavailable.

mod ffi;
mod format;
mod matches;
mod reader;
pub mod sys;
mod watcher;

use std::path::PathBuf;

pub use matches::{JournalMatch, MatchError};
pub use reader::JournalReader;
pub use watcher::{watch_journal, JournalWatcher, MAX_BATCH, POLL_INTERVAL};

/// Which journal files to read.
#[derive(Debug, Clone, PartialEq)]
pub enum JournalSource {
    /// The system journal (Fail2Ban's default: system files only, not per-user ones).
    System,
    /// Every journal file in a directory, including ones created later (`journalpath`).
    Directory(PathBuf),
    /// These files; entries appended to them are read, new files are not (`journalfiles`).
    Files(Vec<PathBuf>),
}

/// Where reading starts.
#[derive(Debug, Clone, PartialEq)]
pub enum Start {
    /// After the last entry now in the journal: only entries appended from now on.
    Tail,
    /// After the entry this cursor names ([`JournalEntry::cursor`] of the last entry handed
    /// out before a restart). If that entry is gone, at the first entry after where it was.
    Cursor(String),
    /// At the first entry received at or after this time (seconds since the epoch). Fail2Ban
    /// starts at `max(stored time, now - findtime)` so that recent failures count.
    Time(f64),
}

/// What to read and from where.
#[derive(Debug, Clone, PartialEq)]
pub struct JournalSpec {
    /// The journal files.
    pub source: JournalSource,
    /// The jail's `journalmatch` (empty: every entry).
    pub matches: String,
    /// Where to begin.
    pub start: Start,
}

/// One journal entry as a jail sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct JournalEntry {
    /// The entry as a syslog-like line, as Fail2Ban formats it.
    pub line: String,
    /// When the entry was logged, in seconds since the epoch.
    pub time: f64,
    /// sd-journal's name for the entry; resume after it with [`Start::Cursor`].
    pub cursor: String,
}

/// Entries read together, in journal order.
#[derive(Debug, Clone, PartialEq)]
pub struct JournalBatch {
    /// At most [`MAX_BATCH`] entries.
    pub entries: Vec<JournalEntry>,
    /// The last entry is the last one the journal has now. Fail2Ban leaves its start-up phase
    /// ("in operation", where entries older than findtime were skipped and odd times are taken
    /// as now) when it first reaches the end; see also [`JournalWatcher::wait_caught_up`].
    pub caught_up: bool,
}
