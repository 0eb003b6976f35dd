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

/// Writes the `Found` lines of a batch straight to the log, laid out as the logger lays out
/// every line (set by the program's logger): `(jail, addresses)`.
type FoundWriter = fn(&str, &mut dyn Iterator<Item = IpAddr>);

static FOUND_WRITER: std::sync::OnceLock<FoundWriter> = std::sync::OnceLock::new();

/// Set the writer [`found_all`] uses while `Found` lines are logged at all. Only the first
/// call counts.
pub fn set_found_writer(write: FoundWriter) {
    let _ = FOUND_WRITER.set(write);
}

/// Announce the failures counted from one batch of lines: [`found`] for each, or, with a
/// writer set, the same lines written together. A large read finds a failure in every few
/// lines, and going through `tracing` for each cost as much as finding it.
pub fn found_all(jail: &str, found: impl IntoIterator<Item = (IpAddr, f64)>) {
    let writer = FOUND_WRITER
        .get()
        .filter(|_| tracing::enabled!(target: "warden::filter", tracing::Level::INFO));
    let Some(write) = writer else {
        for (ip, time) in found {
            self::found(jail, ip, time);
        }
        return;
    };
    let mut n = 0u64;
    write(
        jail,
        &mut found.into_iter().map(|(ip, _)| {
            n += 1;
            ip
        }),
    );
    FOUND.fetch_add(n, Ordering::Relaxed);
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
