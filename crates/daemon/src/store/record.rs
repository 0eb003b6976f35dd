//! What is written to and read from the store.

use crate::sources::file::Checkpoint;
use std::net::IpAddr;
use std::path::PathBuf;

/// One ban: a row of the history (`bans`) and, while it is the latest for its address and jail,
/// of the current bans (`bips`).
#[derive(Debug, Clone, PartialEq)]
pub struct BanRecord {
    /// Jail name.
    pub jail: String,
    /// Banned address, stored in its canonical text form.
    pub ip: IpAddr,
    /// When the ban started, epoch seconds.
    pub timeofban: f64,
    /// Ban length in seconds; negative means permanent.
    pub bantime: i64,
    /// How many times this address has been banned in this jail, this ban included
    /// (`bantime.increment` reads it back through [`Store::ban_count`](super::Store::ban_count)).
    pub bancount: u32,
    /// `{"matches": [...], "failures": N, <captured fields>}`. The store keeps only the last
    /// `max_matches` entries of `matches` (Fail2Ban's `dbmaxmatches`).
    pub data: serde_json::Value,
}

impl BanRecord {
    /// Whether the ban is still in force at `now`: permanent, or `timeofban + bantime > now`.
    pub fn in_force(&self, now: f64) -> bool {
        self.bantime < 0 || self.timeofban + self.bantime as f64 > now
    }

    /// Seconds left at `now` (`None` for a permanent ban; zero or less once expired).
    pub fn remaining(&self, now: f64) -> Option<f64> {
        (self.bantime >= 0).then_some(self.timeofban + self.bantime as f64 - now)
    }
}

/// Where a jail stopped reading one log file: enough for [`FileTail::open_at`] to resume there.
///
/// [`FileTail::open_at`]: crate::sources::file::FileTail::open_at
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavedPosition {
    /// Jail name.
    pub jail: String,
    /// The log path as configured (after glob expansion).
    pub path: PathBuf,
    /// File identity, offset and first-line fingerprint.
    pub checkpoint: Checkpoint,
}

/// What [`Store::ban_count`](super::Store::ban_count) found about an address.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct BanCount {
    /// The recorded ban count: the latest ban's `bancount` in the jail asked for, or the sum over
    /// all jails (Fail2Ban's `overalljails`). Zero when the address was never banned or its
    /// record was purged or unbanned by hand.
    pub count: u32,
    /// The latest ban (in any jail when asked for all jails).
    pub latest: Option<BanRecord>,
}

/// A change to the store. Writes are applied in the order they are submitted.
#[derive(Debug, Clone, PartialEq)]
pub enum Write {
    /// Append to the ban history and make it the current ban of its address in its jail.
    /// The jail is recorded (enabled) if it is not known yet.
    Ban(BanRecord),
    /// An operator's unban (`unbanip`): like Fail2Ban (`actions.py:280`, `delBan`), the address
    /// is removed from the current bans *and* its history in that jail is forgotten, so a later
    /// ban starts `bantime.increment` afresh. Expiry needs no write: expired bans are simply no
    /// longer returned by [`Store::current_bans`](super::Store::current_bans), and their records
    /// keep feeding `bantime.increment` until purged.
    Unban {
        /// Jail name.
        jail: String,
        /// Address.
        ip: IpAddr,
    },
    /// [`Write::Unban`] for every address of one jail, or of all jails (`unban --all`).
    UnbanAll {
        /// The jail, or `None` for all.
        jail: Option<String>,
    },
    /// Save where a jail stopped reading a file (replaces the previous position).
    LogPosition(SavedPosition),
    /// Mark one jail enabled (running) or disabled (stopped, removed from the config).
    JailEnabled {
        /// Jail name.
        jail: String,
        /// Whether it runs.
        enabled: bool,
    },
    /// The running jails after start-up or reload: these are enabled, every other known jail
    /// is disabled (so that [`Write::Purge`] can drop it once it has no bans left).
    RunningJails(Vec<String>),
    /// Fail2Ban's hourly purge (`database.py:912`), with `cutoff = now - age` (`dbpurgeage`):
    /// current bans that are not permanent, started before `cutoff` and whose
    /// `timeofban + 3 * bantime` is before `cutoff` too; history older than `cutoff` (except
    /// the rows of the remaining current bans, which hold their data); disabled jails with no
    /// rows left, with their log positions.
    Purge {
        /// Epoch seconds.
        now: f64,
        /// `dbpurgeage` in seconds.
        age: f64,
    },
}

/// Counters of what the store thread has done since it started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StoreStats {
    /// Transactions committed.
    pub transactions: u64,
    /// Writes committed.
    pub writes: u64,
    /// Writes that failed (each was reported to its submitter, or logged).
    pub failed_writes: u64,
}

/// Options of [`Store::open_with`](super::Store::open_with).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreOptions {
    /// At most this many matched lines are kept per ban (Fail2Ban's `dbmaxmatches`, default
    /// 10); 0 keeps none.
    pub max_matches: usize,
}

impl Default for StoreOptions {
    fn default() -> StoreOptions {
        StoreOptions { max_matches: 10 }
    }
}
