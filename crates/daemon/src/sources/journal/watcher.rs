//! One thread following one journal.

use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::{JournalBatch, JournalReader, JournalSpec};
use crate::sources::Outlet;

/// Most entries in one [`JournalBatch`]: bounds memory and the delay before the first of a
/// large backlog reaches the jail.
pub const MAX_BATCH: usize = 256;

/// The journal is read at least this often even without a change event.
pub const POLL_INTERVAL: Duration = Duration::from_secs(1);

/// Handle to a journal thread; dropping it stops the thread.
pub struct JournalWatcher {
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
    caught_up: bool,
    ended: bool,
}

impl Shared {
    fn update(&self, f: impl FnOnce(&mut ThreadState)) {
        if let Ok(mut state) = self.state.lock() {
            f(&mut state);
            self.changed.notify_all();
        }
    }
}

impl JournalWatcher {
    /// Wait until the entries that were in the journal at the start have all been sent.
    /// Returns `false` on timeout or if the thread has ended.
    pub fn wait_caught_up(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let Ok(mut state) = self.shared.state.lock() else {
            return false;
        };
        while !state.caught_up && !state.ended {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            state = match self.shared.changed.wait_timeout(state, left) {
                Ok((state, _)) => state,
                Err(_) => return false,
            };
        }
        state.caught_up
    }

    /// Stop the thread and wait for it to end (as dropping does).
    pub fn stop(self) {}
}

impl Drop for JournalWatcher {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        let _ = (&self.waker).write(&[1]);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Follow the journal described by `spec` on a new thread, sending every matching entry once,
/// in order, in [`JournalBatch`]es to `tx`. With a bounded channel (`mpsc::sync_channel`) reading
/// waits while it is full.
///
/// Returns once the journal is open and positioned, so that entries appended after this call
/// returns are delivered even with [`super::Start::Tail`]; errors opening or positioning it
/// (bad files, bad `journalmatch`, unparsable cursor) are returned here. The thread ends when
/// the watcher is dropped or `tx`'s receiver is gone.
pub fn watch_journal(
    spec: JournalSpec,
    tx: impl Into<Outlet<JournalBatch>>,
) -> io::Result<JournalWatcher> {
    let tx = tx.into();
    let (waker, wake_rx) = UnixStream::pair()?;
    waker.set_nonblocking(true)?;
    wake_rx.set_nonblocking(true)?;
    let shared = Arc::new(Shared::default());
    let (ready_tx, ready_rx) = mpsc::sync_channel(1);
    let thread_shared = shared.clone();
    let thread = std::thread::Builder::new()
        .name("journal".into())
        .spawn(move || {
            let reader = match JournalReader::open(&spec) {
                Ok(reader) => {
                    let _ = ready_tx.send(Ok(()));
                    reader
                }
                Err(e) => {
                    let _ = ready_tx.send(Err(e));
                    return;
                }
            };
            follow(reader, &tx, &thread_shared, &wake_rx);
            thread_shared.update(|s| s.ended = true);
        })?;
    let watcher = JournalWatcher {
        shared,
        waker,
        thread: Some(thread),
    };
    match ready_rx.recv() {
        Ok(Ok(())) => Ok(watcher),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(io::Error::other("journal thread ended while opening")),
    }
}

fn follow(
    mut reader: JournalReader,
    tx: &Outlet<JournalBatch>,
    shared: &Shared,
    wake: &UnixStream,
) {
    let mut reported_error = false;
    let mut caught_up_once = false;
    while !shared.stop.load(Ordering::SeqCst) {
        let mut entries = Vec::new();
        let (full, caught_up) = match reader.read(MAX_BATCH, &mut entries) {
            Ok(n) => {
                reported_error = false;
                (n == MAX_BATCH, n < MAX_BATCH)
            }
            Err(e) => {
                if !reported_error {
                    tracing::warn!(error = %e, "Error reading the journal; retrying.");
                    reported_error = true;
                }
                (false, false)
            }
        };
        if !entries.is_empty() && !tx.send(JournalBatch { entries, caught_up }, &shared.stop) {
            return;
        }
        if caught_up && !caught_up_once {
            caught_up_once = true;
            shared.update(|s| s.caught_up = true);
        }
        if full {
            continue;
        }
        wait(&mut reader, wake);
        if let Err(e) = reader.process() {
            tracing::debug!(error = %e, "sd_journal_process failed.");
        }
    }
}

/// Sleep until the journal changes, the watcher is dropped, sd-journal's own timeout, or
/// [`POLL_INTERVAL`], whichever comes first.
fn wait(reader: &mut JournalReader, wake: &UnixStream) {
    let journal = reader.journal();
    let mut timeout = POLL_INTERVAL;
    if let Ok(Some(t)) = journal.timeout() {
        timeout = timeout.min(t);
    }
    let mut fds = vec![libc::pollfd {
        fd: wake.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    }];
    if let (Ok(fd), Ok(events)) = (journal.fd(), journal.events()) {
        fds.push(libc::pollfd {
            fd,
            events,
            revents: 0,
        });
    }
    let ms = timeout.as_millis().clamp(1, i32::MAX as u128) as i32;
    // SAFETY: `fds` is a valid array of `fds.len()` pollfds for the duration of the call.
    unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) };
    if fds[0].revents != 0 {
        let mut buf = [0u8; 16];
        while matches!((&*wake).read(&mut buf), Ok(n) if n > 0) {}
    }
}
