//! Kernel ban sets: the native nftables backend and an ipset backend for iptables users.
//!
//! # Why sets, per-element timeouts and batches
//!
//! Fail2Ban's stock actions insert one firewall rule per banned address and start one process
//! (`iptables`, `nft`) per ban and per unban. Packet classification then walks a list whose
//! length is the number of bans, and a burst of 100,000 bans means 100,000 process starts and
//! 100,000 kernel transactions — minutes of work, during which the ruleset is half updated.
//!
//! Warden instead keeps a fixed, tiny ruleset per jail whose rules match the source address
//! against a kernel *set* (a hash lookup, whatever the number of bans), and changes only the
//! set's elements:
//! - **Per-element timeouts**: each element carries the remaining ban time, so the kernel drops
//!   expired bans by itself. A daemon that is stopped, killed or slow never leaves a ban in
//!   place longer than decided, and the unban timer's removal is merely tidy-up.
//! - **Batches**: every change decided at one moment goes to the kernel as one netlink
//!   transaction (set element messages between batch begin and end, written by Warden itself in
//!   one `sendmsg`): atomic (all or nothing, never half applied) and fast (100,000 elements in
//!   well under a second, one ban in tens of microseconds). The ipset backend likewise sends a
//!   whole batch to one `ipset restore`.
//! - **No window without an active ban**: refreshing a timeout and reconciling the kernel with
//!   the database happen inside that one transaction, so no packet ever sees a wanted ban absent.
//!
//! # Layout
//! - [`nftables`]: [`Nftables`], one table owned by Warden, sets and a base chain per jail,
//!   created through libnftables ([`nftables::ffi`] is the small C binding); set elements are
//!   changed and read over a raw netlink socket.
//! - [`ipset`]: [`Ipset`], `hash:net` sets `f2b-<jail>` / `f2b-<jail>6` plus one iptables rule
//!   each, driven through `ipset restore` batches.
//! - This module: the shared vocabulary ([`SetOp`], [`JailRule`], [`Blocktype`], the reports and
//!   [`FirewallError`]), the [`Firewall`] trait both backends implement, and the reconcile plan.

pub mod ipset;
pub mod nftables;

pub use ipset::Ipset;
pub use nftables::Nftables;

use ipnet::IpNet;
use std::collections::HashMap;
use std::fmt;
use std::time::Duration;

/// One change to a jail's ban set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SetOp {
    /// Ban `net` (an address is a /32 or /128) for `timeout`, or for ever when `None`.
    ///
    /// Adding an element that is already present is not an error: its timeout is replaced.
    Add {
        /// The jail whose set is changed.
        jail: String,
        /// The banned address or prefix.
        net: IpNet,
        /// The remaining ban time; `None` means no expiry in the kernel.
        timeout: Option<Duration>,
    },
    /// Unban `net`; removing an element that is absent is not an error.
    Remove {
        /// The jail whose set is changed.
        jail: String,
        /// The address or prefix to unban.
        net: IpNet,
    },
}

impl SetOp {
    /// The jail this operation changes.
    pub fn jail(&self) -> &str {
        match self {
            SetOp::Add { jail, .. } | SetOp::Remove { jail, .. } => jail,
        }
    }

    /// The address or prefix this operation changes (host bits cleared).
    pub fn net(&self) -> IpNet {
        match self {
            SetOp::Add { net, .. } | SetOp::Remove { net, .. } => net.trunc(),
        }
    }
}

/// What a jail blocks: Fail2Ban's `port` / `protocol` / `blocktype` / `chain` options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JailRule {
    /// Fail2Ban's `port` for `type=multiport`: comma-separated ports, ranges `1000:2000` (or
    /// `1000-2000`) and service names (`ssh`, resolved by nft / iptables through
    /// `/etc/services`). `None` is `type=allports`.
    pub ports: Option<String>,
    /// Fail2Ban's `protocol`: `tcp`, `udp`, a comma-separated list, or `all` (no protocol match;
    /// only with `ports: None`).
    pub protocol: String,
    /// What happens to a banned packet.
    pub blocktype: Blocktype,
    /// The hook (nftables) or built-in chain (iptables, upper-cased) to filter in: `input`.
    pub chain_hook: String,
    /// nftables base chain priority (Fail2Ban's `chain_priority`, default -1: just before the
    /// usual `filter` chains). Ignored by iptables, where the rule is inserted first.
    pub priority: i32,
}

impl Default for JailRule {
    /// Fail2Ban's defaults: all TCP ports, reject, input hook at priority -1.
    fn default() -> Self {
        JailRule {
            ports: None,
            protocol: "tcp".to_owned(),
            blocktype: Blocktype::Reject,
            chain_hook: "input".to_owned(),
            priority: -1,
        }
    }
}

/// What happens to a packet from a banned address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Blocktype {
    /// Refuse with ICMP(v6) port-unreachable, Fail2Ban's default: the client fails at once.
    Reject,
    /// Silently discard: the client waits for its timeout.
    Drop,
    /// Written verbatim as the nft verdict statement (`reject with tcp reset`) or as the
    /// iptables target and its options (`REJECT --reject-with tcp-reset`). Only letters,
    /// digits, spaces and `-_.` are accepted.
    Custom(String),
}

impl Blocktype {
    /// Reads Fail2Ban's `blocktype` value in either backend's spelling.
    pub fn parse(value: &str) -> Result<Blocktype, FirewallError> {
        let v = value.trim();
        match v.to_ascii_lowercase().as_str() {
            "reject" | "reject --reject-with icmp-port-unreachable" => Ok(Blocktype::Reject),
            "drop" => Ok(Blocktype::Drop),
            _ => {
                check_words("blocktype", v)?;
                Ok(Blocktype::Custom(v.to_owned()))
            }
        }
    }
}

/// The outcome of [`Firewall::apply`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApplyReport {
    /// Operations carried out (after merging several operations on one element into the last).
    pub applied: usize,
    /// Operations refused, with the reason: a prefix overlapping another prefix of the same set
    /// (nftables interval sets cannot hold both `198.51.100.0/24` and `198.51.100.0/25`).
    pub rejected: Vec<(SetOp, String)>,
}

/// The outcome of [`Firewall::reconcile`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReconcileReport {
    /// Wanted elements that were missing and were added.
    pub added: usize,
    /// Elements present but not wanted, removed.
    pub removed: usize,
    /// Wanted elements present with a different timeout, given the wanted one (atomically).
    pub refreshed: usize,
    /// Wanted elements present with the right timeout, not touched.
    pub kept: usize,
    /// Wanted elements that could not be added, with the reason (see [`ApplyReport::rejected`]).
    pub rejected: Vec<(IpNet, String)>,
}

/// The operations both backends offer, so a jail can hold either behind `Arc<dyn Firewall>`.
///
/// Every method is blocking (a netlink round trip or a short process); call it from a blocking
/// thread (`tokio::task::spawn_blocking`), not from an async task.
pub trait Firewall: Send + Sync {
    /// Creates the jail's sets and its blocking rules, idempotently; calling it again with a
    /// changed rule replaces the rules atomically and keeps the set elements.
    fn setup_jail(&self, jail: &str, rule: &JailRule) -> Result<(), FirewallError>;
    /// Applies all operations as one batch; see [`ApplyReport`].
    fn apply(&self, ops: &[SetOp]) -> Result<ApplyReport, FirewallError>;
    /// The jail's elements with their remaining time (`None`: no expiry), IPv4 and IPv6.
    fn list(&self, jail: &str) -> Result<Vec<(IpNet, Option<Duration>)>, FirewallError>;
    /// Makes the jail's sets hold exactly `wanted`: adds what is missing, removes what is stale
    /// and corrects timeouts, in one batch, never removing a wanted element even for a moment.
    /// Timeouts within [`TIMEOUT_TOLERANCE`] of the wanted one are left as they are.
    fn reconcile(
        &self,
        jail: &str,
        wanted: &[(IpNet, Option<Duration>)],
    ) -> Result<ReconcileReport, FirewallError>;
    /// Removes the jail's rules and sets (no error when they are absent).
    fn teardown_jail(&self, jail: &str) -> Result<(), FirewallError>;
    /// Removes everything this backend created.
    fn teardown(&self) -> Result<(), FirewallError>;
}

/// How far a kernel element's remaining time may differ from the wanted one before
/// [`Firewall::reconcile`] rewrites it (kernels report whole seconds; restarts take a moment).
pub const TIMEOUT_TOLERANCE: Duration = Duration::from_secs(2);

/// Failures of a firewall backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FirewallError {
    /// A jail, table or option value that would not be a safe name or word.
    InvalidName {
        /// What the value is (`jail`, `table`, `ports`, ...).
        what: &'static str,
        /// The value as given.
        value: String,
        /// What is allowed instead.
        expected: &'static str,
    },
    /// libnftables could not be initialised (library missing, no netlink).
    Unavailable(String),
    /// nftables refused a batch; nothing of it was applied.
    Nft {
        /// What was being done.
        doing: String,
        /// nft's error text.
        message: String,
    },
    /// An external program (`ipset`, `iptables`) failed or could not be started.
    Command {
        /// The command line, without its input.
        command: String,
        /// Its error output or the start error.
        message: String,
    },
    /// Kernel listing output that could not be understood.
    Parse(String),
}

impl fmt::Display for FirewallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FirewallError::InvalidName {
                what,
                value,
                expected,
            } => write!(f, "invalid {what} {value:?}: expected {expected}"),
            FirewallError::Unavailable(m) => write!(f, "nftables unavailable: {m}"),
            FirewallError::Nft { doing, message } => {
                write!(f, "nftables refused to {doing}: {}", message.trim_end())
            }
            FirewallError::Command { command, message } => {
                write!(f, "`{command}` failed: {}", message.trim_end())
            }
            FirewallError::Parse(m) => write!(f, "cannot read the kernel's set listing: {m}"),
        }
    }
}

impl std::error::Error for FirewallError {}

/// Checks a jail or table name: it becomes part of set, chain and ipset names.
pub(crate) fn check_name(what: &'static str, name: &str, max: usize) -> Result<(), FirewallError> {
    let ok = !name.is_empty()
        && name.len() <= max
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
        && name.as_bytes()[0].is_ascii_alphanumeric();
    if ok {
        Ok(())
    } else {
        Err(FirewallError::InvalidName {
            what,
            value: name.to_owned(),
            expected: "letters, digits, `_`, `-` and `.`, starting with a letter or digit",
        })
    }
}

/// Checks a value that is written into a command as words (blocktype, hook, protocol).
pub(crate) fn check_words(what: &'static str, value: &str) -> Result<(), FirewallError> {
    let ok = !value.trim().is_empty()
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b" -_.".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(FirewallError::InvalidName {
            what,
            value: value.to_owned(),
            expected: "letters, digits, spaces and `-_.`",
        })
    }
}

/// Splits Fail2Ban's `port` value into items, ranges written `from-to` (nft's spelling).
pub(crate) fn port_items(ports: &str) -> Result<Vec<String>, FirewallError> {
    let items: Vec<String> = ports
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|s| !s.is_empty())
        .map(|s| s.replace(':', "-"))
        .collect();
    let ok = !items.is_empty()
        && items.iter().all(|i| {
            i.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
                && !i.starts_with('-')
                && !i.ends_with('-')
        });
    if ok {
        Ok(items)
    } else {
        Err(FirewallError::InvalidName {
            what: "port",
            value: ports.to_owned(),
            expected: "comma-separated ports, ranges `1000:2000` and service names",
        })
    }
}

/// Splits Fail2Ban's `protocol` value (`tcp`, `tcp,udp`); empty for `all`.
pub(crate) fn protocols(protocol: &str) -> Result<Vec<String>, FirewallError> {
    let items: Vec<String> = protocol
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|s| !s.is_empty())
        .map(str::to_ascii_lowercase)
        .collect();
    if items.iter().any(|p| p == "all") || items.is_empty() {
        return Ok(Vec::new());
    }
    for p in &items {
        check_name("protocol", p, 32)?;
    }
    Ok(items)
}

/// The last operation on each element wins: a batch is a set of final states, one per element,
/// in first-seen order.
pub(crate) fn final_ops(ops: &[SetOp]) -> Vec<SetOp> {
    let mut index: HashMap<(&str, IpNet), usize> = HashMap::with_capacity(ops.len());
    let mut out: Vec<SetOp> = Vec::with_capacity(ops.len());
    for input in ops {
        let net = input.net();
        let op = match input {
            // A timeout that has already run out is an unban.
            SetOp::Add {
                jail,
                timeout: Some(t),
                ..
            } if t.is_zero() => SetOp::Remove {
                jail: jail.clone(),
                net,
            },
            SetOp::Add { jail, timeout, .. } => SetOp::Add {
                jail: jail.clone(),
                net,
                timeout: *timeout,
            },
            SetOp::Remove { jail, .. } => SetOp::Remove {
                jail: jail.clone(),
                net,
            },
        };
        match index.entry((input.jail(), net)) {
            std::collections::hash_map::Entry::Occupied(e) => out[*e.get()] = op,
            std::collections::hash_map::Entry::Vacant(e) => {
                e.insert(out.len());
                out.push(op);
            }
        }
    }
    out
}

/// What [`Firewall::reconcile`] has to do, computed from the kernel's and the wanted contents.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct ReconcilePlan {
    pub add: Vec<(IpNet, Option<Duration>)>,
    pub refresh: Vec<(IpNet, Option<Duration>)>,
    pub remove: Vec<IpNet>,
    pub kept: usize,
}

/// Compares `current` (from the kernel) with `wanted`. `kernel_timeout` maps a wanted timeout
/// to what the backend would store (backends cap long timeouts to "none").
pub(crate) fn plan_reconcile(
    current: &[(IpNet, Option<Duration>)],
    wanted: &[(IpNet, Option<Duration>)],
    kernel_timeout: impl Fn(Option<Duration>) -> Option<Duration>,
) -> ReconcilePlan {
    let have: HashMap<IpNet, Option<Duration>> =
        current.iter().map(|(n, t)| (n.trunc(), *t)).collect();
    let mut want: HashMap<IpNet, Option<Duration>> = HashMap::with_capacity(wanted.len());
    let mut order = Vec::with_capacity(wanted.len());
    for (n, t) in wanted {
        if t.is_some_and(|t| t.is_zero()) {
            continue;
        }
        if want.insert(n.trunc(), *t).is_none() {
            order.push(n.trunc());
        }
    }
    let mut plan = ReconcilePlan::default();
    for net in order {
        let t = want[&net];
        match have.get(&net) {
            None => plan.add.push((net, t)),
            Some(k) if timeouts_match(*k, kernel_timeout(t)) => plan.kept += 1,
            Some(_) => plan.refresh.push((net, t)),
        }
    }
    for (n, _) in current {
        if !want.contains_key(&n.trunc()) {
            plan.remove.push(n.trunc());
        }
    }
    plan
}

fn timeouts_match(kernel: Option<Duration>, wanted: Option<Duration>) -> bool {
    match (kernel, wanted) {
        (None, None) => true,
        (Some(k), Some(w)) => k.abs_diff(w) <= TIMEOUT_TOLERANCE,
        _ => false,
    }
}

/// Whether two prefixes share any address.
pub(crate) fn overlaps(a: &IpNet, b: &IpNet) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    fn secs(s: u64) -> Option<Duration> {
        Some(Duration::from_secs(s))
    }

    #[test]
    fn ports_accept_fail2ban_spellings() {
        assert_eq!(
            port_items("ssh, 1000:2000,http").unwrap(),
            ["ssh", "1000-2000", "http"]
        );
        assert!(port_items("22; reboot").is_err());
        assert!(port_items("").is_err());
        assert!(port_items("22,:").is_err());
    }

    #[test]
    fn protocol_all_means_no_match() {
        assert!(protocols("all").unwrap().is_empty());
        assert_eq!(protocols("tcp,udp").unwrap(), ["tcp", "udp"]);
        assert!(protocols("tcp}").is_err());
    }

    #[test]
    fn names_reject_what_would_break_a_command() {
        assert!(check_name("jail", "nginx-http-auth", 64).is_ok());
        assert!(check_name("jail", "a b", 64).is_err());
        assert!(check_name("jail", "-x", 64).is_err());
        assert!(check_name("jail", "x;y", 64).is_err());
        assert!(check_name("jail", "", 64).is_err());
    }

    #[test]
    fn blocktype_reads_both_spellings() {
        assert_eq!(Blocktype::parse("REJECT").unwrap(), Blocktype::Reject);
        assert_eq!(
            Blocktype::parse("REJECT --reject-with icmp-port-unreachable").unwrap(),
            Blocktype::Reject
        );
        assert_eq!(Blocktype::parse("DROP").unwrap(), Blocktype::Drop);
        assert_eq!(
            Blocktype::parse("reject with tcp reset").unwrap(),
            Blocktype::Custom("reject with tcp reset".into())
        );
        assert!(Blocktype::parse("drop; flush ruleset").is_err());
    }

    #[test]
    fn last_operation_on_an_element_wins() {
        let ops = [
            SetOp::Add {
                jail: "a".into(),
                net: net("192.0.2.1/32"),
                timeout: secs(5),
            },
            SetOp::Add {
                jail: "b".into(),
                net: net("192.0.2.1/32"),
                timeout: secs(5),
            },
            SetOp::Remove {
                jail: "a".into(),
                net: net("192.0.2.1/32"),
            },
            SetOp::Add {
                jail: "a".into(),
                net: net("198.51.100.7/24"),
                timeout: Some(Duration::ZERO),
            },
        ];
        let f = final_ops(&ops);
        assert_eq!(f.len(), 3);
        assert_eq!(f[0], ops[2]);
        assert_eq!(f[1], ops[1]);
        assert_eq!(
            f[2],
            SetOp::Remove {
                jail: "a".into(),
                net: net("198.51.100.0/24")
            }
        );
    }

    #[test]
    fn reconcile_plan_keeps_close_timeouts_and_refreshes_others() {
        let current = [
            (net("192.0.2.1/32"), secs(100)),
            (net("192.0.2.2/32"), secs(100)),
            (net("192.0.2.3/32"), None),
            (net("192.0.2.4/32"), secs(100)),
        ];
        let wanted = [
            (net("192.0.2.1/32"), secs(101)),
            (net("192.0.2.2/32"), secs(500)),
            (net("192.0.2.3/32"), None),
            (net("192.0.2.5/32"), secs(9)),
            (net("192.0.2.6/32"), Some(Duration::ZERO)),
        ];
        let plan = plan_reconcile(&current, &wanted, |t| t);
        assert_eq!(plan.kept, 2);
        assert_eq!(plan.refresh, [(net("192.0.2.2/32"), secs(500))]);
        assert_eq!(plan.add, [(net("192.0.2.5/32"), secs(9))]);
        assert_eq!(plan.remove, [net("192.0.2.4/32")]);
    }

    #[test]
    fn overlap_is_symmetric() {
        assert!(overlaps(&net("198.51.100.0/24"), &net("198.51.100.128/25")));
        assert!(overlaps(&net("198.51.100.128/25"), &net("198.51.100.0/24")));
        assert!(!overlaps(
            &net("198.51.100.0/25"),
            &net("198.51.100.128/25")
        ));
    }
}
