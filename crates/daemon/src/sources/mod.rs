//! Log sources.
//!
//! - [`file`](mod@file): following log files across rename and copytruncate rotation, woken by
//!   inotify with polling as a safety net; [`file::watch`] runs one thread for all the files it
//!   is given and sends [`file::LineBatch`]es.
//! - [`journal`]: the systemd journal, in [`journal::JournalBatch`]es.
//!
//! Both send through an [`Outlet`]; the daemon's are bounded channels, so reading never runs
//! more than a few batches ahead of filtering.

pub mod file;
pub mod journal;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Sender, SyncSender, TrySendError};
use std::time::Duration;

/// Where a source sends its batches. The daemon uses bounded channels, so that a source reads
/// no further ahead of the jails than the channel holds: a large append then takes a few MB
/// however large it is. Unbounded channels are accepted too (tests, tools).
pub enum Outlet<T> {
    /// `mpsc::channel`: never waits.
    Unbounded(Sender<T>),
    /// `mpsc::sync_channel`: waits while the channel is full.
    Bounded(SyncSender<T>),
}

impl<T> From<Sender<T>> for Outlet<T> {
    fn from(tx: Sender<T>) -> Self {
        Outlet::Unbounded(tx)
    }
}

impl<T> From<SyncSender<T>> for Outlet<T> {
    fn from(tx: SyncSender<T>) -> Self {
        Outlet::Bounded(tx)
    }
}

impl<T> Outlet<T> {
    /// Send `item`, waiting while the channel is full unless `stop` is set meanwhile. `false`
    /// when the receiver is gone or `stop` was set: the source should end.
    pub fn send(&self, item: T, stop: &AtomicBool) -> bool {
        match self {
            Outlet::Unbounded(tx) => tx.send(item).is_ok(),
            Outlet::Bounded(tx) => {
                let mut item = item;
                // The receiver has a full batch queued whenever this waits, so short naps cost
                // no throughput; they keep a stop request from waiting on a busy jail.
                let mut nap = Duration::from_micros(50);
                loop {
                    match tx.try_send(item) {
                        Ok(()) => return true,
                        Err(TrySendError::Disconnected(_)) => return false,
                        Err(TrySendError::Full(back)) => item = back,
                    }
                    if stop.load(Ordering::SeqCst) {
                        return false;
                    }
                    std::thread::sleep(nap);
                    nap = (nap * 2).min(Duration::from_millis(2));
                }
            }
        }
    }
}
