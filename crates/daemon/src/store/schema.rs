//! Opening a database file: recognising it, pragmas, creating and migrating the schema.
//!
//! A Warden database carries [`APPLICATION_ID`] in its header (`PRAGMA application_id`) and its
//! schema version in `PRAGMA user_version`. [`MIGRATIONS`]`[n]` takes version `n` to `n + 1`;
//! a new schema version appends one entry and never edits an old one.

use super::error::{StoreError, StoreErrorKind};
use rusqlite::{Connection, TransactionBehavior};
use std::path::Path;
use std::time::Duration;

/// "WDRN": marks the file as Warden's in the SQLite header.
pub(super) const APPLICATION_ID: i64 = 0x5744_524E;

/// Steps from each schema version to the next; the current version is their count.
const MIGRATIONS: &[&str] = &[
    // 0 -> 1: Fail2Ban's schema v4 (`database.py:145-194`) with three changes. `logs` holds the
    // file identity and first-line fingerprint Warden resumes from. `timeofban` keeps fractions
    // of a second. A current ban (`bips`) points at its history row (`bans.id`) for its `data`
    // instead of holding a second copy: that halves what a burst of bans writes; purge keeps
    // the history rows that current bans point at.
    "CREATE TABLE jails (
         name TEXT NOT NULL PRIMARY KEY,
         enabled INTEGER NOT NULL DEFAULT 1
     );
     CREATE TABLE logs (
         jail TEXT NOT NULL REFERENCES jails(name) ON DELETE CASCADE,
         path BLOB NOT NULL,
         dev INTEGER NOT NULL,
         ino INTEGER NOT NULL,
         offset INTEGER NOT NULL,
         fingerprint_len INTEGER NOT NULL,
         fingerprint_hash INTEGER NOT NULL,
         PRIMARY KEY (jail, path)
     );
     CREATE TABLE bans (
         id INTEGER PRIMARY KEY,
         jail TEXT NOT NULL REFERENCES jails(name),
         ip TEXT NOT NULL,
         timeofban REAL NOT NULL,
         bantime INTEGER NOT NULL,
         bancount INTEGER NOT NULL DEFAULT 1,
         data TEXT NOT NULL DEFAULT '{}'
     );
     CREATE INDEX bans_jail_ip ON bans(jail, ip);
     CREATE INDEX bans_timeofban ON bans(timeofban);
     CREATE TABLE bips (
         ip TEXT NOT NULL,
         jail TEXT NOT NULL REFERENCES jails(name),
         timeofban REAL NOT NULL,
         bantime INTEGER NOT NULL,
         bancount INTEGER NOT NULL DEFAULT 1,
         ban INTEGER NOT NULL,
         PRIMARY KEY (ip, jail)
     ) WITHOUT ROWID;
     CREATE INDEX bips_jail ON bips(jail);",
];

/// The schema version this build writes (`PRAGMA user_version`); files with a higher one are
/// refused.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Make `conn` ready: check what the file is, set the pragmas, create or migrate the schema.
pub(super) fn prepare(conn: &mut Connection, path: &Path) -> Result<(), StoreError> {
    let err = |e| StoreError::sqlite(path, e);
    conn.busy_timeout(Duration::from_secs(5)).map_err(err)?;
    // The first read of the header is where a file that is not SQLite fails.
    let app_id: i64 = pragma(conn, "application_id").map_err(err)?;
    recognise(conn, path, app_id)?;
    // WAL: a commit appends to the log instead of rewriting pages, readers never block the
    // writer. NORMAL: no fsync per commit (only at checkpoints); a commit still survives the
    // process being killed, and a power loss keeps the database consistent.
    let mode: String = conn
        .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
        .map_err(err)?;
    if !mode.eq_ignore_ascii_case("wal") && !mode.eq_ignore_ascii_case("memory") {
        return Err(StoreError::new(
            path,
            StoreErrorKind::Sqlite(format!(
                "cannot switch to WAL journal (got {mode}); is the file on a network filesystem?"
            )),
        ));
    }
    // The store thread checkpoints by itself (`Worker::checkpoint`); a WAL grown by a burst is
    // cut back to 16 MiB afterwards.
    conn.execute_batch(
        "PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; \
         PRAGMA wal_autocheckpoint = 0; PRAGMA journal_size_limit = 16777216;",
    )
    .map_err(err)?;
    migrate(conn, path)
}

fn pragma(conn: &Connection, name: &str) -> rusqlite::Result<i64> {
    conn.query_row(&format!("PRAGMA {name}"), [], |r| r.get(0))
}

/// Refuse files that are not Warden's: another program's database, or a newer schema.
fn recognise(conn: &Connection, path: &Path, app_id: i64) -> Result<(), StoreError> {
    let err = |e| StoreError::sqlite(path, e);
    if app_id == 0 {
        let tables: Vec<String> = conn
            .prepare("SELECT name FROM sqlite_master WHERE type = 'table'")
            .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
            .map_err(err)?;
        if tables.iter().any(|t| t == "fail2banDb") {
            return Err(StoreError::new(
                path,
                StoreErrorKind::NotWarden("a Fail2Ban database".into()),
            ));
        }
        if let Some(t) = tables.first() {
            return Err(StoreError::new(
                path,
                StoreErrorKind::NotWarden(format!("an SQLite database with other tables ({t})")),
            ));
        }
    } else if app_id != APPLICATION_ID {
        return Err(StoreError::new(
            path,
            StoreErrorKind::NotWarden(format!(
                "an SQLite database with application id {app_id:#x}"
            )),
        ));
    }
    let version = pragma(conn, "user_version").map_err(err)?;
    if version > SCHEMA_VERSION {
        return Err(StoreError::new(
            path,
            StoreErrorKind::TooNew {
                found: version,
                supported: SCHEMA_VERSION,
            },
        ));
    }
    Ok(())
}

/// Bring the schema to [`SCHEMA_VERSION`] in one transaction, so a crash leaves the old version.
fn migrate(conn: &mut Connection, path: &Path) -> Result<(), StoreError> {
    let err = |e| StoreError::sqlite(path, e);
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(err)?;
    // Read again under the write lock: another process may have migrated meanwhile.
    let version = pragma(&tx, "user_version").map_err(err)?;
    if version > SCHEMA_VERSION {
        return Err(StoreError::new(
            path,
            StoreErrorKind::TooNew {
                found: version,
                supported: SCHEMA_VERSION,
            },
        ));
    }
    if version == SCHEMA_VERSION {
        return Ok(());
    }
    for step in &MIGRATIONS[version.max(0) as usize..] {
        tx.execute_batch(step).map_err(err)?;
    }
    tx.execute_batch(&format!(
        "PRAGMA application_id = {APPLICATION_ID}; PRAGMA user_version = {SCHEMA_VERSION};"
    ))
    .map_err(err)?;
    tx.commit().map_err(err)
}
