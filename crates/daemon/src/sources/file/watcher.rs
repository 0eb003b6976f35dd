//! One thread following many files.
//!
//! Bans should follow a log line within milliseconds, so the thread sleeps in `poll(2)` on an
//! inotify descriptor and wakes as soon as a followed file changes. Each open file (including
//! rotated and unlinked ones still being drained) is watched through `/proc/self/fd`, and each
//! path's directory for creates, renames and deletes of that name. Every `poll_interval` all
//! files are read regardless: a safety net for missed events, and the only mechanism when
//! inotify is unavailable or out of watches.

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use inotify::{EventMask, Inotify, WatchDescriptor, WatchMask};

use super::reader::Ident;
use super::{Checkpoint, FileTail, LineBatch, Lines, StartAt};
use crate::sources::Outlet;

/// Handle to a watcher thread; dropping it stops the thread.
pub struct Watcher {
    shared: Arc<Shared>,
    waker: UnixStream,
    thread: Option<JoinHandle<()>>,
}

#[derive(Default)]
struct Shared {
    stop: AtomicBool,
    state: Mutex<ThreadState>,
    changed: Condvar,
}

#[derive(Default)]
struct ThreadState {
    scanned: bool,
    ended: bool,
}

impl Watcher {
    /// Wait until every file has been read to its end once (so with [`StartAt::Beginning`] the
    /// existing content has been sent). Returns `false` on timeout or if the thread has ended.
    pub fn wait_initial_scan(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let Ok(mut state) = self.shared.state.lock() else {
            return false;
        };
        while !state.scanned && !state.ended {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            state = match self.shared.changed.wait_timeout(state, left) {
                Ok((state, _)) => state,
                Err(_) => return false,
            };
        }
        state.scanned
    }

    /// Stop the thread and wait for it to end (as dropping does).
    pub fn stop(self) {}
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        let _ = (&self.waker).write(&[1]);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Follow `paths` on a background thread, woken by inotify (falling back to polling every
/// `poll_interval` when inotify is unavailable, and polling at that interval anyway as a safety
/// net), sending each batch of new lines to `tx`. With a bounded channel
/// (`mpsc::sync_channel`), reading waits while the channel is full; batches are at most a few
/// thousand lines (about 1 MiB), so what is read ahead of the receiver stays small.
///
/// Files are opened (and, with [`StartAt::End`], positioned) before this returns, so every
/// line written afterwards is delivered. A path that cannot be opened is retried at each poll.
/// The thread ends when the [`Watcher`] is dropped or the receiver of `tx` is gone.
pub fn watch(
    paths: Vec<PathBuf>,
    start: StartAt,
    poll_interval: Duration,
    tx: impl Into<Outlet<LineBatch>>,
) -> io::Result<Watcher> {
    watch_from(
        paths.into_iter().map(|p| (p, None)).collect(),
        start,
        poll_interval,
        tx,
    )
}

/// [`watch`], resuming each path whose saved [`Checkpoint`] is given where it stopped
/// ([`FileTail::open_at`]); paths without one start as `start` says.
pub fn watch_from(
    paths: Vec<(PathBuf, Option<Checkpoint>)>,
    start: StartAt,
    poll_interval: Duration,
    tx: impl Into<Outlet<LineBatch>>,
) -> io::Result<Watcher> {
    let tx = tx.into();
    let tails = paths
        .into_iter()
        .map(|(path, saved)| {
            let opened = match &saved {
                Some(cp) => FileTail::open_at(&path, cp),
                None => FileTail::open(&path, start),
            };
            let tail = opened.unwrap_or_else(|e| {
                tracing::warn!(path = %path.display(), error = %e, "Cannot open log file; will retry.");
                FileTail::deferred(&path, start)
            });
            Followed {
                tail,
                dirty: true,
                last_error: None,
                dir_watch: None,
                file_watches: Vec::new(),
            }
        })
        .collect();
    let (waker, wake_rx) = UnixStream::pair()?;
    waker.set_nonblocking(true)?;
    wake_rx.set_nonblocking(true)?;
    let notify = match Inotify::init() {
        Ok(inotify) => Some(Notify {
            inotify,
            dirs: HashMap::new(),
            files: HashMap::new(),
            buf: vec![0; 16 << 10],
        }),
        Err(e) => {
            tracing::warn!(error = %e, "inotify unavailable; polling log files instead.");
            None
        }
    };
    let shared = Arc::new(Shared::default());
    let mut follower = Follower {
        tails,
        notify,
        tx,
        shared: shared.clone(),
        wake_rx,
        poll_interval: poll_interval.max(Duration::from_millis(1)),
    };
    for i in 0..follower.tails.len() {
        follower.watch_dir(i);
        follower.sync_file_watches(i);
    }
    let thread = std::thread::Builder::new()
        .name("warden-tail".into())
        .spawn(move || follower.run())?;
    Ok(Watcher {
        shared,
        waker,
        thread: Some(thread),
    })
}

struct Followed {
    tail: FileTail,
    /// Has to be read in the next round.
    dirty: bool,
    /// The last error logged, so a lasting one is logged once.
    last_error: Option<String>,
    dir_watch: Option<WatchDescriptor>,
    /// Watches on the files this tail has open.
    file_watches: Vec<(Ident, WatchDescriptor)>,
}

struct Notify {
    inotify: Inotify,
    /// Directory watches and the tails whose path is in that directory.
    dirs: HashMap<WatchDescriptor, Vec<usize>>,
    /// File watches and the tails that have that file open.
    files: HashMap<WatchDescriptor, Vec<usize>>,
    buf: Vec<u8>,
}

struct Follower {
    tails: Vec<Followed>,
    notify: Option<Notify>,
    tx: Outlet<LineBatch>,
    shared: Arc<Shared>,
    wake_rx: UnixStream,
    poll_interval: Duration,
}

const DIR_MASK: WatchMask = WatchMask::CREATE
    .union(WatchMask::MOVED_TO)
    .union(WatchMask::MOVED_FROM)
    .union(WatchMask::DELETE)
    .union(WatchMask::DELETE_SELF)
    .union(WatchMask::MOVE_SELF)
    .union(WatchMask::ONLYDIR);
const FILE_MASK: WatchMask = WatchMask::MODIFY
    .union(WatchMask::ATTRIB)
    .union(WatchMask::MOVE_SELF)
    .union(WatchMask::DELETE_SELF);

/// A raw inotify event, copied out of the read buffer.
struct RawEvent {
    wd: WatchDescriptor,
    mask: EventMask,
    name: Option<OsString>,
}

impl Follower {
    fn run(mut self) {
        self.follow();
        if let Ok(mut state) = self.shared.state.lock() {
            state.ended = true;
        }
        self.shared.changed.notify_all();
    }

    fn follow(&mut self) {
        let mut scanned = false;
        let mut next_poll = Instant::now() + self.poll_interval;
        loop {
            for i in 0..self.tails.len() {
                if self.stopping() {
                    return;
                }
                if !self.tails[i].dirty {
                    continue;
                }
                self.tails[i].dirty = false;
                if !self.read_tail(i) {
                    return; // nobody listens any more
                }
                self.sync_file_watches(i);
            }
            let busy = self.tails.iter().any(|t| t.dirty);
            if !scanned && !busy {
                scanned = true;
                if let Ok(mut state) = self.shared.state.lock() {
                    state.scanned = true;
                }
                self.shared.changed.notify_all();
            }
            let now = Instant::now();
            if now >= next_poll {
                next_poll = now + self.poll_interval;
                for i in 0..self.tails.len() {
                    self.tails[i].dirty = true;
                    if self.tails[i].dir_watch.is_none() {
                        self.watch_dir(i);
                    }
                }
                continue;
            }
            let timeout = if busy {
                Duration::ZERO
            } else {
                next_poll - now
            };
            self.wait(timeout);
        }
    }

    fn stopping(&self) -> bool {
        self.shared.stop.load(Ordering::SeqCst)
    }

    /// Read one tail and send what it had. `false` if the receiver is gone (or the watcher is
    /// being stopped while the channel is full).
    fn read_tail(&mut self, i: usize) -> bool {
        let followed = &mut self.tails[i];
        let mut lines = Lines::default();
        let result = followed.tail.read_lines(&mut lines);
        // A backlog is read in pieces, one piece per round, so that no file starves the others.
        followed.dirty |= followed.tail.backlog;
        match result {
            Ok(_) => {
                if followed.last_error.take().is_some() {
                    tracing::info!(path = %followed.tail.path().display(), "Log file readable again.");
                }
            }
            Err(e) => {
                let message = e.to_string();
                if followed.last_error.as_deref() != Some(message.as_str()) {
                    tracing::warn!(path = %followed.tail.path().display(), error = %message,
                        "Cannot read log file; will retry.");
                    followed.last_error = Some(message);
                }
            }
        }
        if lines.is_empty() {
            return true;
        }
        let batch = LineBatch {
            path: followed.tail.path().to_path_buf(),
            lines,
            checkpoint: followed.tail.checkpoint(),
        };
        self.tx.send(batch, &self.shared.stop)
    }

    /// Sleep until an inotify event, a stop request or `timeout`; mark the tails concerned.
    fn wait(&mut self, timeout: Duration) {
        let inotify_fd = self.notify.as_ref().map_or(-1, |n| n.inotify.as_raw_fd());
        let mut fds = [
            libc::pollfd {
                fd: self.wake_rx.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: inotify_fd,
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        let millis = timeout.as_nanos().div_ceil(1_000_000).min(i32::MAX as u128) as libc::c_int;
        // SAFETY: `fds` is a valid array of two pollfd structs for the duration of the call.
        let rc = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, millis) };
        if rc < 0 {
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                tracing::warn!(error = %e, "poll failed; polling log files instead.");
                self.notify = None;
                std::thread::sleep(timeout.min(self.poll_interval));
            }
            return;
        }
        if fds[0].revents != 0 {
            let mut sink = [0u8; 64];
            while matches!((&self.wake_rx).read(&mut sink), Ok(n) if n > 0) {}
        }
        if fds[1].revents != 0 {
            self.handle_events();
        }
    }

    fn handle_events(&mut self) {
        for event in self.read_events() {
            if event.mask.contains(EventMask::Q_OVERFLOW) {
                self.tails.iter_mut().for_each(|t| t.dirty = true);
                continue;
            }
            let Some(notify) = self.notify.as_mut() else {
                return;
            };
            if let Some(targets) = notify.files.get(&event.wd) {
                for &i in targets {
                    self.tails[i].dirty = true;
                }
            }
            if let Some(targets) = notify.dirs.get(&event.wd) {
                let gone = event
                    .mask
                    .intersects(EventMask::DELETE_SELF | EventMask::MOVE_SELF);
                for &i in targets {
                    let t = &mut self.tails[i];
                    if gone || event.name.as_deref() == t.tail.path().file_name() {
                        t.dirty = true;
                    }
                }
            }
            let dir_gone = event
                .mask
                .intersects(EventMask::DELETE_SELF | EventMask::MOVE_SELF)
                && notify.dirs.contains_key(&event.wd);
            if event.mask.contains(EventMask::IGNORED) || dir_gone {
                self.forget_watch(&event.wd);
            }
        }
    }

    fn read_events(&mut self) -> Vec<RawEvent> {
        let mut out = Vec::new();
        let Some(notify) = self.notify.as_mut() else {
            return out;
        };
        loop {
            match notify.inotify.read_events(&mut notify.buf) {
                Ok(events) => out.extend(events.map(|e| RawEvent {
                    wd: e.wd,
                    mask: e.mask,
                    name: e.name.map(OsStr::to_os_string),
                })),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    tracing::warn!(error = %e, "Reading inotify events failed; polling log files instead.");
                    self.notify = None;
                    break;
                }
            }
        }
        out
    }

    /// A watch is gone (or useless): drop it everywhere; the next poll re-adds what is needed.
    fn forget_watch(&mut self, wd: &WatchDescriptor) {
        let Some(notify) = self.notify.as_mut() else {
            return;
        };
        let in_dirs = notify.dirs.remove(wd).is_some();
        notify.files.remove(wd);
        if in_dirs {
            let _ = notify.inotify.watches().remove(wd.clone());
        }
        for t in &mut self.tails {
            if t.dir_watch.as_ref() == Some(wd) {
                t.dir_watch = None;
                t.dirty = true;
            }
            t.file_watches.retain(|(_, w)| w != wd);
        }
    }

    /// Watch the directory of tail `i`'s path, so its creation, renames and deletion are seen.
    fn watch_dir(&mut self, i: usize) {
        let Some(notify) = self.notify.as_mut() else {
            return;
        };
        let dir = parent_dir(self.tails[i].tail.path());
        match notify.inotify.watches().add(dir, DIR_MASK) {
            Ok(wd) => {
                let targets = notify.dirs.entry(wd.clone()).or_default();
                if !targets.contains(&i) {
                    targets.push(i);
                }
                self.tails[i].dir_watch = Some(wd);
            }
            Err(e) => watch_failed(dir, &e),
        }
    }

    /// Watch exactly the files tail `i` has open (through `/proc/self/fd`, which also reaches
    /// unlinked files), and drop watches on files it closed. A newly watched file is read once
    /// more, for what was written before the watch existed.
    fn sync_file_watches(&mut self, i: usize) {
        let Some(notify) = self.notify.as_mut() else {
            return;
        };
        let followed = &mut self.tails[i];
        let open: Vec<(Ident, i32)> = followed
            .tail
            .open_files()
            .map(|r| (r.ident, r.file.as_raw_fd()))
            .collect();
        followed.file_watches.retain(|(ident, wd)| {
            let keep = open.iter().any(|(id, _)| id == ident);
            if !keep {
                if let Some(targets) = notify.files.get_mut(wd) {
                    targets.retain(|&t| t != i);
                    if targets.is_empty() {
                        notify.files.remove(wd);
                        let _ = notify.inotify.watches().remove(wd.clone());
                    }
                }
            }
            keep
        });
        for (ident, fd) in open {
            if followed.file_watches.iter().any(|(id, _)| *id == ident) {
                continue;
            }
            // Without /proc, the path at least reaches the current file.
            let is_current = followed.tail.current.as_ref().map(|r| r.ident) == Some(ident);
            let added = notify
                .inotify
                .watches()
                .add(format!("/proc/self/fd/{fd}"), FILE_MASK)
                .or_else(|e| match is_current {
                    true => notify
                        .inotify
                        .watches()
                        .add(followed.tail.path(), FILE_MASK),
                    false => Err(e),
                });
            match added {
                Ok(wd) => {
                    let targets = notify.files.entry(wd.clone()).or_default();
                    if !targets.contains(&i) {
                        targets.push(i);
                    }
                    followed.file_watches.push((ident, wd));
                    // Writes between opening the file and watching it sent no event.
                    followed.dirty = true;
                }
                Err(e) => watch_failed(followed.tail.path(), &e),
            }
        }
    }
}

/// Log why a path is polled instead of watched; running out of watches is worth a warning (once:
/// it concerns the whole system, and the files are still read at every poll).
fn watch_failed(path: &Path, e: &io::Error) {
    static WARNED: AtomicBool = AtomicBool::new(false);
    if e.raw_os_error() == Some(libc::ENOSPC) && !WARNED.swap(true, Ordering::Relaxed) {
        tracing::warn!(path = %path.display(), error = %e,
            "Out of inotify watches (see fs.inotify.max_user_watches); polling log files instead.");
    } else {
        tracing::debug!(path = %path.display(), error = %e, "Cannot watch; polling it.");
    }
}

fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    }
}
