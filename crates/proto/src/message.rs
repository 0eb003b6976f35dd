//! Requests and responses.

use serde::{Deserialize, Serialize};

/// Version of the message schema. A server answers a request of another version with an error
/// instead of guessing.
pub const PROTOCOL_VERSION: u32 = 1;

/// A message with its protocol version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope<T> {
    /// [`PROTOCOL_VERSION`] of the sender.
    pub version: u32,
    /// The message.
    pub body: T,
}

impl<T> Envelope<T> {
    /// Wrap `body` with the current protocol version.
    pub fn new(body: T) -> Self {
        Envelope {
            version: PROTOCOL_VERSION,
            body,
        }
    }
}

/// What the client asks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "kebab-case")]
pub enum Request {
    /// Is the server alive?
    Ping,
    /// Server status, or one jail's status.
    Status {
        /// The jail, or `None` for the server overview.
        jail: Option<String>,
    },
    /// Ban addresses in a jail (`set JAIL banip IP...`).
    BanIp {
        /// Jail name.
        jail: String,
        /// Addresses as typed.
        ips: Vec<String>,
    },
    /// Unban addresses in a jail (`set JAIL unbanip IP...`).
    UnbanIp {
        /// Jail name.
        jail: String,
        /// Addresses as typed.
        ips: Vec<String>,
    },
    /// Which addresses are banned, per jail (`banned [IP...]`).
    Banned {
        /// Only these addresses; all when empty.
        ips: Vec<String>,
    },
    /// Re-read the configuration (`reload [--restart] [--unban] [JAIL]`).
    Reload {
        /// Only this jail (others stay untouched).
        #[serde(default)]
        jail: Option<String>,
        /// Lift every ban of the reloaded jails first.
        #[serde(default)]
        unban: bool,
        /// Restart the reloaded jails even when their configuration is unchanged.
        #[serde(default)]
        restart: bool,
    },
    /// Unban addresses in every jail (`unban IP...`), or everything (`unban --all`).
    Unban {
        /// Every ban of every jail.
        #[serde(default)]
        all: bool,
        /// Addresses, when not `all`.
        #[serde(default)]
        ips: Vec<String>,
    },
    /// Stop the server.
    Stop,
}

/// Overview of the server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerStatus {
    /// Running jails, sorted.
    pub jails: Vec<String>,
}

/// One jail's counters, as `status JAIL` shows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JailStatus {
    /// Jail name.
    pub name: String,
    /// Addresses with failures being counted now.
    pub currently_failed: u64,
    /// Failures counted since the jail started.
    pub total_failed: u64,
    /// Followed log files.
    pub file_list: Vec<String>,
    /// The journal matches, for a jail reading the systemd journal (then shown instead of the
    /// file list).
    #[serde(default)]
    pub journal_matches: Option<String>,
    /// Addresses banned now.
    pub currently_banned: u64,
    /// Bans since the jail started.
    pub total_banned: u64,
    /// Addresses banned now, in ban order.
    pub banned: Vec<String>,
    /// Failing addresses forgotten because the jail tracked its maximum (`maxtracked`).
    #[serde(default)]
    pub evicted: u64,
}

/// Addresses banned in one jail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BannedEntry {
    /// Jail name.
    pub jail: String,
    /// Banned addresses.
    pub ips: Vec<String>,
}

/// A successful answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Reply {
    /// Answer to [`Request::Ping`].
    Pong,
    /// Answer to `status`.
    Server(ServerStatus),
    /// Answer to `status JAIL`.
    Jail(JailStatus),
    /// How many addresses a ban or unban changed.
    Count {
        /// The count.
        count: u64,
    },
    /// Answer to `banned`.
    Banned {
        /// Per-jail lists.
        jails: Vec<BannedEntry>,
    },
    /// Done, nothing to report.
    Done,
}

/// The server's answer: a reply or an error message for the operator.
pub type Response = Result<Reply, String>;
