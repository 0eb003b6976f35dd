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
