//! Every notable event, defined once: one stable log line each, and a counter.
//!
//! Operators grep these lines and jails like `recidive` parse them, so their wording is part of
//! the interface: `[JAIL] Found IP`, `[JAIL] Ban IP`, `[JAIL] Unban IP`, as Fail2Ban writes them.

use crate::actions::exec::Outcome;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};

/// Process-wide event counters.
pub static FOUND: AtomicU64 = AtomicU64::new(0);
/// Bans carried out.
pub static BANS: AtomicU64 = AtomicU64::new(0);
/// Unbans carried out.
pub static UNBANS: AtomicU64 = AtomicU64::new(0);
/// Action commands that failed.
pub static ACTION_FAILURES: AtomicU64 = AtomicU64::new(0);

/// A failure was found in a log.
pub fn found(jail: &str, ip: IpAddr, time: f64) {
    FOUND.fetch_add(1, Ordering::Relaxed);
    tracing::info!(target: "warden::filter", jail, %ip, time, "[{jail}] Found {ip}");
}

thread_local! {
    /// Is this thread announcing a batch of events (see [`found_all`])?
    static IN_BATCH: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// What writes out the log lines a batch held back (set by the program's logger).
static LOG_FLUSH: std::sync::OnceLock<fn()> = std::sync::OnceLock::new();

/// Set the function that writes out the log lines held back during a batch (see
/// [`in_batch`]). Only the first call counts.
pub fn set_log_flush(flush: fn()) {
    let _ = LOG_FLUSH.set(flush);
}

/// Is the calling thread announcing a batch of events? A logger may then hold this thread's
/// lines back and write them together when the batch ends (one write instead of one per
/// line), in the order they came.
pub fn in_batch() -> bool {
    IN_BATCH.with(std::cell::Cell::get)
}

/// Announce the failures counted from one batch of lines ([`found`] for each), letting the
/// logger write their lines together.
pub fn found_all(jail: &str, found: impl IntoIterator<Item = (IpAddr, f64)>) {
    IN_BATCH.with(|b| b.set(true));
    for (ip, time) in found {
        self::found(jail, ip, time);
    }
    IN_BATCH.with(|b| b.set(false));
    if let Some(flush) = LOG_FLUSH.get() {
        flush();
    }
}

/// A failure from an ignored address.
pub fn ignored(jail: &str, ip: IpAddr, reason: &str) {
    tracing::info!(target: "warden::filter", jail, %ip, reason, "[{jail}] Ignore {ip} by {reason}");
}

/// An address was banned.
pub fn ban(jail: &str, ip: IpAddr, bantime: i64) {
    BANS.fetch_add(1, Ordering::Relaxed);
    tracing::warn!(target: "warden::actions", jail, %ip, bantime, "[{jail}] Ban {ip}");
}

/// A ban was asked for an address already banned.
pub fn already_banned(jail: &str, ip: IpAddr) {
    tracing::info!(target: "warden::actions", jail, %ip, "[{jail}] {ip} already banned");
}

/// An address was unbanned.
pub fn unban(jail: &str, ip: IpAddr) {
    UNBANS.fetch_add(1, Ordering::Relaxed);
    tracing::warn!(target: "warden::actions", jail, %ip, "[{jail}] Unban {ip}");
}

/// An action command failed.
pub fn action_failed(
    jail: &str,
    action: &str,
    method: &str,
    ip: Option<IpAddr>,
    outcome: &Outcome,
) {
    ACTION_FAILURES.fetch_add(1, Ordering::Relaxed);
    match ip {
        Some(ip) => {
            tracing::error!(target: "warden::actions", jail, action, method, %ip, "[{jail}] action {action} {method} for {ip} failed: {outcome}")
        }
        None => {
            tracing::error!(target: "warden::actions", jail, action, method, "[{jail}] action {action} {method} failed: {outcome}")
        }
    }
}

/// A jail started.
pub fn jail_started(jail: &str) {
    tracing::info!(target: "warden::jail", jail, "Jail '{jail}' started");
}

/// A jail stopped.
pub fn jail_stopped(jail: &str) {
    tracing::info!(target: "warden::jail", jail, "Jail '{jail}' stopped");
}
