//! [`StoreError`]: every failure names the database file and says what to do.

use std::fmt;
use std::path::{Path, PathBuf};

/// A failure of the store. Its message starts with the database file.
#[derive(Debug, Clone)]
pub struct StoreError {
    path: PathBuf,
    kind: StoreErrorKind,
}

/// What went wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreErrorKind {
    /// The file or its directory could not be created or opened.
    Io(String),
    /// The file is not an SQLite database, or it is damaged.
    NotADatabase(String),
    /// An SQLite database of another program (Fail2Ban's, for instance).
    NotWarden(String),
    /// Written by a newer Warden whose schema this one does not know.
    TooNew {
        /// Schema version found in the file.
        found: i64,
        /// Newest version this build understands.
        supported: i64,
    },
    /// Any other SQLite failure (disk full, I/O error, locked by another process, ...).
    Sqlite(String),
    /// The store thread has stopped; nothing more can be written.
    Closed,
}

impl StoreError {
    pub(crate) fn new(path: &Path, kind: StoreErrorKind) -> StoreError {
        StoreError {
            path: path.to_path_buf(),
            kind,
        }
    }

    /// Classify an SQLite error: damaged and foreign files get their own kinds.
    pub(crate) fn sqlite(path: &Path, err: rusqlite::Error) -> StoreError {
        use rusqlite::ErrorCode;
        let kind = match err.sqlite_error_code() {
            Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt) => {
                StoreErrorKind::NotADatabase(err.to_string())
            }
            Some(ErrorCode::CannotOpen | ErrorCode::PermissionDenied) => {
                StoreErrorKind::Io(err.to_string())
            }
            _ => StoreErrorKind::Sqlite(err.to_string()),
        };
        StoreError::new(path, kind)
    }

    /// The database file this error is about (`:memory:` for an in-memory store).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// What went wrong.
    pub fn kind(&self) -> &StoreErrorKind {
        &self.kind
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = self.path.display();
        match &self.kind {
            StoreErrorKind::Io(msg) => write!(f, "database {path}: cannot open: {msg}"),
            StoreErrorKind::NotADatabase(msg) => write!(
                f,
                "database {path}: not an SQLite database or damaged ({msg}); \
                 move it away (Warden then starts with an empty database) or set dbfile to another path"
            ),
            StoreErrorKind::NotWarden(what) => write!(
                f,
                "database {path}: {what}, not a Warden database; set dbfile to another path"
            ),
            StoreErrorKind::TooNew { found, supported } => write!(
                f,
                "database {path}: schema version {found} was written by a newer Warden \
                 (this one understands up to {supported}); run the newer Warden or set dbfile to another path"
            ),
            StoreErrorKind::Sqlite(msg) => write!(f, "database {path}: {msg}"),
            StoreErrorKind::Closed => write!(f, "database {path}: the store has stopped"),
        }
    }
}

impl std::error::Error for StoreError {}
