//! The SQLite store: current bans, ban history, log positions and jails, kept across restarts.
//!
//! Modelled on Fail2Ban's database (schema v4: tables `jails`, `logs`, `bans`, `bips` with the
//! same meaning), with what Warden adds: the file identity and first-line fingerprint of each
//! log position, fractional ban times, a mark in the file header and versioned migrations
//! ([`SCHEMA_VERSION`]).
//!
//! # One thread, group commit
//! A [`Store`] is a handle to one thread that owns the connection; handles are cheap to clone
//! and never touch SQLite themselves, so the async runtime never waits on the disk. Writes go
//! through a channel: the thread takes every write queued at that moment (up to 10,000), runs
//! them in one transaction, commits, then acknowledges each. A burst of bans therefore costs a
//! few transactions, not one per ban. Reads run on the same thread after everything queued
//! before them is committed, so a read sees every write submitted before it.
//!
//! # Durability
//! - Writes commit **in submission order**: what is in the database is always a prefix of what
//!   was submitted. So a log position submitted after the bans its lines caused is never saved
//!   without them.
//! - Once the receiver of [`Store::submit`] yields `Ok`, the write is committed to the WAL file
//!   and survives the process being killed (`kill -9`, abort, OOM killer).
//! - `synchronous = NORMAL`: commits are not fsynced one by one, only at WAL checkpoints, which
//!   the thread runs after a quiet second or every 20,000 writes. After a power loss or kernel
//!   crash the database is intact (WAL frames are checksummed) but may have lost the
//!   transactions since the last checkpoint; what remains is still a prefix.
//! - If a transaction fails (disk full, I/O error), its writes are retried one per transaction,
//!   so each write's own outcome reaches its submitter; fire-and-forget writes log a warning.
//! - Dropping the last handle commits what is queued and waits for the thread to finish.
//!
//! # Using it
//! - Start-up: [`Store::open`], [`Write::RunningJails`], then per jail [`Store::current_bans`]
//!   (restore with the remaining time, capped and filtered by the jail's settings) and
//!   [`Store::log_position`] per file (resume with `FileTail::open_at`). Reads block: call them
//!   before the runtime is busy or from `spawn_blocking`.
//! - A ban: [`Store::submit`] a [`Write::Ban`] while the firewall applies it, and report it as
//!   banned once both are done; `bantime.increment` asks [`Store::ban_count`] first.
//! - Log positions: [`Store::submit_nowait`] a [`Write::LogPosition`] after the bans caused by
//!   the lines before it have been submitted; submission order keeps the two consistent.
//! - Hourly: [`Write::Purge`]. An operator's unban: [`Write::Unban`] / [`Write::UnbanAll`];
//!   expiry needs no write.
//!
//! # Opening
//! [`Store::open`] creates the directory and the file (mode 0600: stored matches are log lines),
//! refuses a file that is not SQLite, is another program's database (Fail2Ban's included) or has
//! a newer schema than this build, and migrates an older schema in one transaction.

mod error;
mod record;
mod schema;
mod worker;

pub use error::{StoreError, StoreErrorKind};
pub use record::{BanCount, BanRecord, SavedPosition, StoreOptions, StoreStats, Write};
pub use schema::SCHEMA_VERSION;

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use tokio::sync::oneshot;
use worker::{Counters, Msg, Worker};

/// Handle to the store thread. Clone it freely; the thread stops when the last clone is dropped.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    tx: mpsc::Sender<Msg>,
    thread: Option<JoinHandle<()>>,
    counters: Arc<Counters>,
    path: PathBuf,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Messages are served in order, so everything queued is committed before the thread
        // sees this and stops.
        let _ = self.tx.send(Msg::Shutdown);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Store {
    /// Open (or create) the database at `path` with default options.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        Store::open_with(path, &StoreOptions::default())
    }

    /// Open (or create) the database at `path`.
    pub fn open_with(path: &Path, options: &StoreOptions) -> Result<Store, StoreError> {
        create_file(path)?;
        let conn = rusqlite::Connection::open(path).map_err(|e| StoreError::sqlite(path, e))?;
        Store::start(conn, path, options)
    }

    /// A store in memory, with default options (for tests).
    pub fn in_memory() -> Result<Store, StoreError> {
        Store::in_memory_with(&StoreOptions::default())
    }

    /// A store in memory (for tests).
    pub fn in_memory_with(options: &StoreOptions) -> Result<Store, StoreError> {
        let path = Path::new(":memory:");
        let conn =
            rusqlite::Connection::open_in_memory().map_err(|e| StoreError::sqlite(path, e))?;
        Store::start(conn, path, options)
    }

    fn start(
        mut conn: rusqlite::Connection,
        path: &Path,
        options: &StoreOptions,
    ) -> Result<Store, StoreError> {
        schema::prepare(&mut conn, path)?;
        let counters = Arc::new(Counters::default());
        let worker = Worker::new(
            conn,
            path.to_path_buf(),
            options.max_matches,
            Arc::clone(&counters),
        );
        let (tx, rx) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("store".into())
            .spawn(move || worker.run(rx))
            .map_err(|e| StoreError::new(path, StoreErrorKind::Io(e.to_string())))?;
        Ok(Store {
            inner: Arc::new(Inner {
                tx,
                thread: Some(thread),
                counters,
                path: path.to_path_buf(),
            }),
        })
    }

    /// The database file (`:memory:` for an in-memory store).
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    fn closed(&self) -> StoreError {
        StoreError::new(&self.inner.path, StoreErrorKind::Closed)
    }

    /// Queue a write. The receiver yields once the write is committed (see the module docs for
    /// what that guarantees), or its error. Dropping the receiver does not cancel the write.
    pub fn submit(&self, op: Write) -> oneshot::Receiver<Result<(), StoreError>> {
        let (ack, done) = oneshot::channel();
        if let Err(mpsc::SendError(Msg::Write(_, Some(ack)))) =
            self.inner.tx.send(Msg::Write(op, Some(ack)))
        {
            let _ = ack.send(Err(self.closed()));
        }
        done
    }

    /// Queue a write without waiting for it (log positions); a failure is logged.
    pub fn submit_nowait(&self, op: Write) {
        if self.inner.tx.send(Msg::Write(op, None)).is_err() {
            tracing::warn!(error = %self.closed(), "Store write dropped.");
        }
    }

    /// Run `read` on the store thread once everything queued before it is committed, and wait
    /// for its answer. Blocking: call it at start-up or from `spawn_blocking`.
    fn read<T: Send + 'static>(
        &self,
        read: impl FnOnce(&mut Worker) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let (tx, rx) = mpsc::sync_channel(1);
        let job = Box::new(move |w: &mut Worker| {
            let _ = tx.send(read(w));
        });
        self.inner
            .tx
            .send(Msg::Job(job))
            .map_err(|_| self.closed())?;
        rx.recv().map_err(|_| self.closed())?
    }

    /// Bans of `jail` still in force at `now` (epoch seconds): permanent ones
    /// (`bantime < 0`) and those with `timeofban + bantime > now`. Blocking.
    pub fn current_bans(&self, jail: &str, now: f64) -> Result<Vec<BanRecord>, StoreError> {
        let jail = jail.to_string();
        self.read(move |w| w.current_bans(Some(&jail), now))
    }

    /// [`Store::current_bans`] of every jail (one record per address and jail). Blocking.
    pub fn all_current_bans(&self, now: f64) -> Result<Vec<BanRecord>, StoreError> {
        self.read(move |w| w.current_bans(None, now))
    }

    /// How often `ip` was banned before, for `bantime.increment` (Fail2Ban's `getBan`): in
    /// `jail`, or over all jails when `None` (`overalljails`). Expired bans count until purged.
    /// Blocking.
    pub fn ban_count(&self, ip: IpAddr, jail: Option<&str>) -> Result<BanCount, StoreError> {
        let jail = jail.map(str::to_string);
        self.read(move |w| w.ban_count(ip, jail.as_deref()))
    }

    /// Where `jail` stopped reading `path`, if saved. Blocking.
    pub fn log_position(
        &self,
        jail: &str,
        path: &Path,
    ) -> Result<Option<SavedPosition>, StoreError> {
        let (jail, path) = (jail.to_string(), path.to_path_buf());
        self.read(move |w| w.log_position(&jail, &path))
    }

    /// Jails recorded in the database, by name, with whether they are enabled. Blocking.
    pub fn jails(&self) -> Result<Vec<(String, bool)>, StoreError> {
        self.read(|w| w.jails())
    }

    /// Wait until every write queued before this call is committed (or has failed). Blocking.
    pub fn flush(&self) -> Result<(), StoreError> {
        self.read(|_| Ok(()))
    }

    /// What the store thread has done so far.
    pub fn stats(&self) -> StoreStats {
        let c = &self.inner.counters;
        StoreStats {
            transactions: c.transactions.load(Ordering::Relaxed),
            writes: c.writes.load(Ordering::Relaxed),
            failed_writes: c.failed_writes.load(Ordering::Relaxed),
        }
    }

    /// Hold the store thread until the returned sender is dropped (writes queue up behind it).
    #[cfg(test)]
    fn pause(&self) -> mpsc::Sender<()> {
        let (tx, rx) = mpsc::channel();
        let _ = self.inner.tx.send(Msg::Pause(rx));
        tx
    }
}

/// Create the directory and, if missing, the file readable by its owner only. SQLite gives its
/// `-wal` and `-shm` files the same mode.
fn create_file(path: &Path) -> Result<(), StoreError> {
    use std::os::unix::fs::OpenOptionsExt;
    let io = |e: std::io::Error| StoreError::new(path, StoreErrorKind::Io(e.to_string()));
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)
        .map(drop)
        .map_err(io)
}

#[cfg(test)]
mod tests;
