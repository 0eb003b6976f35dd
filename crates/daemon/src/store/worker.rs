//! The store thread: owns the connection, commits queued writes in groups, answers reads.

use super::error::StoreError;
use super::record::{BanCount, BanRecord, SavedPosition, Write};
use crate::sources::file::{Checkpoint, FilePosition, Fingerprint};
use rusqlite::{params, Connection, OptionalExtension, Row, TransactionBehavior};
use std::collections::HashSet;
use std::net::IpAddr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, TryRecvError};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::oneshot;

/// At most this many writes go into one transaction, so that a steady stream of writes still
/// gets acknowledged regularly.
pub(super) const MAX_BATCH: usize = 10_000;

/// A checkpoint runs after this long without messages ...
const CHECKPOINT_IDLE: Duration = Duration::from_secs(1);

/// ... or after this many writes, whichever comes first.
const CHECKPOINT_WRITES: usize = 20_000;

/// Where a write's outcome goes: its submitter, or the log for fire-and-forget writes.
pub(super) type Ack = Option<oneshot::Sender<Result<(), StoreError>>>;

/// A request run on the store thread after everything queued before it is committed.
pub(super) type Job = Box<dyn FnOnce(&mut Worker) + Send>;

/// A message to the store thread.
pub(super) enum Msg {
    /// Apply a write in the next transaction.
    Write(Write, Ack),
    /// Commit what is queued, then run the job (reads, flush).
    Job(Job),
    /// The last handle is gone: commit and stop.
    Shutdown,
    /// Block until the sender is dropped (tests use it to queue writes behind it).
    #[cfg(test)]
    Pause(std::sync::mpsc::Receiver<()>),
}

/// Counters shared with the handles.
#[derive(Default)]
pub(super) struct Counters {
    pub transactions: AtomicU64,
    pub writes: AtomicU64,
    pub failed_writes: AtomicU64,
}

/// The state of the store thread.
pub(crate) struct Worker {
    conn: Connection,
    path: PathBuf,
    max_matches: usize,
    counters: Arc<Counters>,
    /// Jails known to exist in `jails` (committed), so a ban costs no extra statement.
    known_jails: HashSet<String>,
    /// Writes committed since the last checkpoint.
    unchecked: usize,
}

impl Worker {
    pub(super) fn new(
        conn: Connection,
        path: PathBuf,
        max_matches: usize,
        counters: Arc<Counters>,
    ) -> Worker {
        Worker {
            conn,
            path,
            max_matches,
            counters,
            known_jails: HashSet::new(),
            unchecked: 0,
        }
    }

    fn err(&self, e: rusqlite::Error) -> StoreError {
        StoreError::sqlite(&self.path, e)
    }

    /// Serve messages until shutdown or until every handle is gone.
    pub(super) fn run(mut self, rx: Receiver<Msg>) {
        let mut batch: Vec<(Write, Ack)> = Vec::new();
        let mut carried: Option<Msg> = None;
        loop {
            let msg = match carried.take() {
                Some(msg) => msg,
                None if self.unchecked > 0 => match rx.recv_timeout(CHECKPOINT_IDLE) {
                    Ok(msg) => msg,
                    Err(RecvTimeoutError::Timeout) => {
                        self.checkpoint();
                        continue;
                    }
                    Err(RecvTimeoutError::Disconnected) => break,
                },
                None => match rx.recv() {
                    Ok(msg) => msg,
                    Err(_) => break,
                },
            };
            match msg {
                Msg::Write(op, ack) => {
                    batch.push((op, ack));
                    // Group commit: everything queued meanwhile goes into this transaction.
                    while batch.len() < MAX_BATCH {
                        match rx.try_recv() {
                            Ok(Msg::Write(op, ack)) => batch.push((op, ack)),
                            Ok(other) => {
                                carried = Some(other);
                                break;
                            }
                            Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
                        }
                    }
                    self.commit(&mut batch);
                    if self.unchecked >= CHECKPOINT_WRITES {
                        self.checkpoint();
                    }
                }
                Msg::Job(job) => job(&mut self),
                Msg::Shutdown => break,
                #[cfg(test)]
                Msg::Pause(until) => {
                    let _ = until.recv();
                }
            }
        }
    }

    /// Copy the WAL into the database file and free the page cache. SQLite's automatic
    /// checkpoints are off: they would run inside a commit, delaying its acknowledgements by
    /// two fsyncs; here they run after a quiet second, or every [`CHECKPOINT_WRITES`] writes
    /// to bound the WAL during a long burst. A failed checkpoint is retried at the next one.
    fn checkpoint(&mut self) {
        let done = self
            .conn
            .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| r.get::<_, i64>(0));
        if let Err(e) = done {
            tracing::warn!(error = %self.err(e), "WAL checkpoint failed.");
        }
        let _ = self.conn.release_memory();
        self.unchecked = 0;
    }

    /// Apply `batch` in one transaction and acknowledge each write. If the transaction fails,
    /// each write is retried in a transaction of its own so that one bad write fails alone.
    fn commit(&mut self, batch: &mut Vec<(Write, Ack)>) {
        if batch.is_empty() {
            return;
        }
        let outcome = self.apply_in_transaction(batch.iter().map(|(op, _)| op));
        match outcome {
            Ok(()) => {
                self.counted(batch.len(), true);
                self.unchecked += batch.len();
                for (_, ack) in batch.drain(..) {
                    acknowledge(ack, Ok(()));
                }
            }
            Err(e) if batch.len() == 1 => {
                self.counted(0, false);
                for (_, ack) in batch.drain(..) {
                    acknowledge(ack, Err(e.clone()));
                }
            }
            Err(_) => {
                for (op, ack) in batch.drain(..) {
                    let one = self.apply_in_transaction(std::iter::once(&op));
                    self.unchecked += usize::from(one.is_ok());
                    self.counted(usize::from(one.is_ok()), one.is_ok());
                    acknowledge(ack, one);
                }
            }
        }
    }

    fn counted(&self, writes: usize, committed: bool) {
        let c = &self.counters;
        if committed {
            c.transactions.fetch_add(1, Ordering::Relaxed);
            c.writes.fetch_add(writes as u64, Ordering::Relaxed);
        } else {
            c.failed_writes.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn apply_in_transaction<'a>(
        &mut self,
        ops: impl Iterator<Item = &'a Write>,
    ) -> Result<(), StoreError> {
        let path = self.path.as_path();
        let err = |e| StoreError::sqlite(path, e);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err)?;
        let mut effects = JailEffects::default();
        for op in ops {
            apply(&tx, op, self.max_matches, &self.known_jails, &mut effects).map_err(err)?;
        }
        tx.commit().map_err(err)?;
        if effects.deleted {
            self.known_jails.clear();
        } else {
            self.known_jails.extend(effects.added);
        }
        Ok(())
    }

    /// Current bans of one jail, or of all jails.
    pub(super) fn current_bans(
        &self,
        jail: Option<&str>,
        now: f64,
    ) -> Result<Vec<BanRecord>, StoreError> {
        const IN_FORCE: &str = "(b.timeofban + b.bantime > ?1 OR b.bantime < 0)";
        let sql = match jail {
            Some(_) => format!("{CURRENT} WHERE b.jail = ?2 AND {IN_FORCE}"),
            None => format!("{CURRENT} WHERE {IN_FORCE}"),
        };
        let mut stmt = self.conn.prepare_cached(&sql).map_err(|e| self.err(e))?;
        let rows = match jail {
            Some(jail) => stmt.query(params![now, jail]),
            None => stmt.query(params![now]),
        };
        collect_bans(rows).map_err(|e| self.err(e))
    }

    /// The recorded ban count of `ip` in `jail` (or summed over all jails) and its latest ban.
    pub(super) fn ban_count(&self, ip: IpAddr, jail: Option<&str>) -> Result<BanCount, StoreError> {
        let ip = ip.to_string();
        let rows = match jail {
            Some(jail) => self
                .conn
                .prepare_cached(&format!("{CURRENT} WHERE b.ip = ?1 AND b.jail = ?2"))
                .and_then(|mut s| collect_bans(s.query(params![ip, jail]))),
            None => self
                .conn
                .prepare_cached(&format!("{CURRENT} WHERE b.ip = ?1"))
                .and_then(|mut s| collect_bans(s.query(params![ip]))),
        }
        .map_err(|e| self.err(e))?;
        let count = rows.iter().fold(0u32, |n, r| n.saturating_add(r.bancount));
        let latest = rows
            .into_iter()
            .max_by(|a, b| a.timeofban.total_cmp(&b.timeofban));
        Ok(BanCount { count, latest })
    }

    /// The saved reading position of `path` in `jail`.
    pub(super) fn log_position(
        &self,
        jail: &str,
        path: &Path,
    ) -> Result<Option<SavedPosition>, StoreError> {
        self.conn
            .prepare_cached(
                "SELECT dev, ino, offset, fingerprint_len, fingerprint_hash FROM logs \
                 WHERE jail = ?1 AND path = ?2",
            )
            .and_then(|mut s| {
                s.query_row(params![jail, path.as_os_str().as_bytes()], |r| {
                    Ok(Checkpoint {
                        position: FilePosition {
                            dev: r.get::<_, i64>(0)? as u64,
                            ino: r.get::<_, i64>(1)? as u64,
                            offset: r.get::<_, i64>(2)? as u64,
                        },
                        fingerprint: Fingerprint {
                            len: r.get::<_, i64>(3)? as u32,
                            hash: r.get::<_, i64>(4)? as u64,
                        },
                    })
                })
                .optional()
            })
            .map(|found| {
                found.map(|checkpoint| SavedPosition {
                    jail: jail.to_string(),
                    path: path.to_path_buf(),
                    checkpoint,
                })
            })
            .map_err(|e| self.err(e))
    }

    /// Jails recorded in the database with whether they are enabled.
    pub(super) fn jails(&self) -> Result<Vec<(String, bool)>, StoreError> {
        self.conn
            .prepare_cached("SELECT name, enabled FROM jails ORDER BY name")
            .and_then(|mut s| {
                s.query_map([], |r| Ok((r.get(0)?, r.get::<_, i64>(1)? != 0)))?
                    .collect()
            })
            .map_err(|e| self.err(e))
    }
}

/// The latest ban of each address and jail, with its data from the history row.
const CURRENT: &str = "SELECT b.jail, b.ip, b.timeofban, b.bantime, b.bancount, h.data \
     FROM bips AS b LEFT JOIN bans AS h ON h.id = b.ban";

/// How a transaction changed the `jails` table, for the cache of known jails.
#[derive(Default)]
struct JailEffects {
    /// Jails recorded by this transaction.
    added: Vec<String>,
    /// Some jails may have been deleted: the cache is not to be trusted.
    deleted: bool,
}

fn acknowledge(ack: Ack, result: Result<(), StoreError>) {
    match ack {
        Some(tx) => {
            // The submitter may have stopped waiting; the write stands regardless.
            let _ = tx.send(result);
        }
        None => {
            if let Err(e) = result {
                tracing::warn!(error = %e, "Store write failed.");
            }
        }
    }
}

/// Apply one write inside the caller's transaction.
fn apply(
    conn: &Connection,
    op: &Write,
    max_matches: usize,
    known: &HashSet<String>,
    effects: &mut JailEffects,
) -> rusqlite::Result<()> {
    // Bans and positions refer to their jail: record it (enabled) unless it is known to exist.
    let mut ensure_jail = |jail: &str| -> rusqlite::Result<()> {
        let cached = !effects.deleted && known.contains(jail);
        if cached || effects.added.iter().any(|j| j == jail) {
            return Ok(());
        }
        conn.prepare_cached("INSERT OR IGNORE INTO jails(name, enabled) VALUES (?1, 1)")?
            .execute(params![jail])?;
        effects.added.push(jail.to_string());
        Ok(())
    };
    match op {
        Write::Ban(ban) => {
            ensure_jail(&ban.jail)?;
            let data = bounded_data(&ban.data, max_matches);
            let ip = ban.ip.to_string();
            conn.prepare_cached(
                "INSERT INTO bans(jail, ip, timeofban, bantime, bancount, data) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![
                ban.jail,
                ip,
                ban.timeofban,
                ban.bantime,
                ban.bancount,
                data
            ])?;
            let id = conn.last_insert_rowid();
            conn.prepare_cached(
                "INSERT INTO bips(jail, ip, timeofban, bantime, bancount, ban) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
                 ON CONFLICT(ip, jail) DO UPDATE SET timeofban = excluded.timeofban, \
                 bantime = excluded.bantime, bancount = excluded.bancount, ban = excluded.ban",
            )?
            .execute(params![
                ban.jail,
                ip,
                ban.timeofban,
                ban.bantime,
                ban.bancount,
                id
            ])?;
        }
        Write::Unban { jail, ip } => {
            let ip = ip.to_string();
            conn.prepare_cached("DELETE FROM bips WHERE jail = ?1 AND ip = ?2")?
                .execute(params![jail, ip])?;
            conn.prepare_cached("DELETE FROM bans WHERE jail = ?1 AND ip = ?2")?
                .execute(params![jail, ip])?;
        }
        Write::UnbanAll { jail: Some(jail) } => {
            conn.prepare_cached("DELETE FROM bips WHERE jail = ?1")?
                .execute(params![jail])?;
            conn.prepare_cached("DELETE FROM bans WHERE jail = ?1")?
                .execute(params![jail])?;
        }
        Write::UnbanAll { jail: None } => {
            conn.execute_batch("DELETE FROM bips; DELETE FROM bans;")?;
        }
        Write::LogPosition(pos) => {
            ensure_jail(&pos.jail)?;
            let cp = &pos.checkpoint;
            conn.prepare_cached(
                "INSERT INTO logs(jail, path, dev, ino, offset, fingerprint_len, fingerprint_hash) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) \
                 ON CONFLICT(jail, path) DO UPDATE SET dev = excluded.dev, ino = excluded.ino, \
                 offset = excluded.offset, fingerprint_len = excluded.fingerprint_len, \
                 fingerprint_hash = excluded.fingerprint_hash",
            )?
            .execute(params![
                pos.jail,
                pos.path.as_os_str().as_bytes(),
                cp.position.dev as i64,
                cp.position.ino as i64,
                cp.position.offset as i64,
                i64::from(cp.fingerprint.len),
                cp.fingerprint.hash as i64,
            ])?;
        }
        Write::JailEnabled { jail, enabled } => {
            set_enabled(conn, jail, *enabled)?;
            effects.added.push(jail.clone());
        }
        Write::RunningJails(names) => {
            conn.execute("UPDATE jails SET enabled = 0", [])?;
            for jail in names {
                set_enabled(conn, jail, true)?;
                effects.added.push(jail.clone());
            }
        }
        Write::Purge { now, age } => {
            let cutoff = now - age;
            conn.prepare_cached(
                "DELETE FROM bips WHERE timeofban < ?1 AND bantime >= 0 \
                 AND timeofban + 3 * bantime < ?1",
            )?
            .execute(params![cutoff])?;
            conn.prepare_cached(
                "DELETE FROM bans WHERE timeofban < ?1 AND NOT EXISTS (SELECT 1 FROM bips \
                 WHERE bips.ip = bans.ip AND bips.jail = bans.jail AND bips.ban = bans.id)",
            )?
            .execute(params![cutoff])?;
            let deleted = conn.execute(
                "DELETE FROM jails WHERE enabled = 0 \
                 AND NOT EXISTS (SELECT 1 FROM bans WHERE bans.jail = jails.name) \
                 AND NOT EXISTS (SELECT 1 FROM bips WHERE bips.jail = jails.name)",
                [],
            )?;
            if deleted > 0 {
                effects.deleted = true;
                effects.added.clear();
            }
        }
    }
    Ok(())
}

fn set_enabled(conn: &Connection, jail: &str, enabled: bool) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO jails(name, enabled) VALUES (?1, ?2) \
         ON CONFLICT(name) DO UPDATE SET enabled = excluded.enabled",
    )?
    .execute(params![jail, enabled])?;
    Ok(())
}

/// The JSON text stored for `data`, with only the last `max_matches` matches (none when 0),
/// as Fail2Ban's `addBan` does.
fn bounded_data(data: &serde_json::Value, max_matches: usize) -> String {
    let too_many = data
        .get("matches")
        .and_then(|m| m.as_array())
        .is_some_and(|m| m.len() > max_matches);
    if !too_many {
        return data.to_string();
    }
    let mut data = data.clone();
    if let Some(obj) = data.as_object_mut() {
        if max_matches == 0 {
            obj.remove("matches");
        } else if let Some(serde_json::Value::Array(m)) = obj.get_mut("matches") {
            m.drain(..m.len() - max_matches);
        }
    }
    data.to_string()
}

fn collect_bans(rows: rusqlite::Result<rusqlite::Rows<'_>>) -> rusqlite::Result<Vec<BanRecord>> {
    let mut rows = rows?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        if let Some(ban) = ban_from_row(row)? {
            out.push(ban);
        }
    }
    Ok(out)
}

/// A row of [`CURRENT`]; rows whose address does not parse (edited by hand) are skipped with a warning.
fn ban_from_row(row: &Row<'_>) -> rusqlite::Result<Option<BanRecord>> {
    let jail: String = row.get(0)?;
    let ip_text: String = row.get(1)?;
    let Ok(ip) = ip_text.parse::<IpAddr>() else {
        tracing::warn!(jail = %jail, ip = %ip_text, "Skipping a stored ban with an invalid address.");
        return Ok(None);
    };
    let data_text: Option<String> = row.get(5)?;
    let data = serde_json::from_str(data_text.as_deref().unwrap_or("{}")).unwrap_or_else(|_| {
        tracing::warn!(jail = %jail, ip = %ip, "Stored ban data is not JSON; dropped.");
        serde_json::Value::Null
    });
    Ok(Some(BanRecord {
        jail,
        ip,
        timeofban: row.get(2)?,
        bantime: row.get(3)?,
        bancount: row.get::<_, i64>(4)?.clamp(0, i64::from(u32::MAX)) as u32,
        data,
    }))
}
