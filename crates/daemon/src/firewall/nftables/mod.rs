//! The native nftables backend: one table owned by Warden, per jail four sets and a base chain,
//! every change of one moment applied as one netlink transaction.
//!
//! # What is created
//! ```text
//! table inet warden {
//!     set addr4-sshd { type ipv4_addr; flags timeout; }            # banned addresses
//!     set net4-sshd  { type ipv4_addr; flags interval, timeout; }  # banned prefixes (CIDR)
//!     set addr6-sshd { type ipv6_addr; flags timeout; }
//!     set net6-sshd  { type ipv6_addr; flags interval, timeout; }
//!     chain jail-sshd {
//!         type filter hook input priority -1; policy accept;
//!         ip saddr @addr4-sshd meta l4proto { tcp } th dport { 22 } reject
//!         ip saddr @net4-sshd  meta l4proto { tcp } th dport { 22 } reject
//!         ip6 saddr @addr6-sshd ...   ip6 saddr @net6-sshd ...
//!     }
//! }
//! ```
//! Addresses and prefixes live in separate sets because nft (1.0.x) reads a whole interval set
//! from the kernel on every change to it, to check for overlaps: one ban into an interval set
//! already holding 100,000 addresses took 0.64 s, into a hash set well under a millisecond.
//! Prefix bans are rare, so their set stays small and cheap.
//!
//! Tables, sets, chains and rules are created and removed through libnftables ([`ffi`]) as
//! batch text, at start and stop only; its context is dropped afterwards (it keeps a cache and a
//! batch buffer of a few megabytes), and with the last context the library itself is unloaded. Bans and unbans — set elements — are written straight to
//! netlink as one batch (`netlink`): no cache refresh before each one, which through
//! libnftables cost about ten netlink round trips per ban, now and then milliseconds. Sets are
//! read back with one raw netlink dump each, some 20 times faster than nft's own listing.
//!
//! # Semantics worth knowing
//! - Adding a present element replaces its timeout. Kernels since 6.10 do that in place; on
//!   older ones the element is added (no-op), deleted and added with the new timeout inside the
//!   same transaction, which is just as atomic. Which kind of kernel this is gets probed once.
//! - Removing an absent element is not an error: the kernel fails a whole transaction on the
//!   delete of an absent element (`NFT_MSG_DESTROYSETELEM`, which would not, needs kernel 6.3),
//!   so each removal from an address set is an add (a no-op if present) followed by the delete,
//!   in the same transaction; prefixes are removed only when a read of the set shows them.
//! - A refused batch is reported with the element, set and reason the kernel gave for each
//!   refused message (see `netlink`), and changed nothing.
//! - Timeouts above [`MAX_KERNEL_TIMEOUT`] are stored without one (the kernel refuses very long
//!   timeouts); the ban manager's own timer removes them, and start-up reconciliation corrects
//!   whatever a crash left behind.
//! - An interval set cannot hold overlapping prefixes; such an addition is refused per element
//!   (see [`ApplyReport::rejected`]) instead of failing the whole batch.

pub mod ffi;
mod netlink;

use super::{
    check_name, check_words, final_ops, overlaps, plan_reconcile, port_items, protocols,
    ApplyReport, Blocktype, Firewall, FirewallError, JailRule, ReconcileReport, SetOp,
};
use ffi::NftContext;
use ipnet::IpNet;
use netlink::{Batch, ElemOp, NetlinkSocket};
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::fs::File;
use std::net::IpAddr;
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::Duration;

/// The default table name.
pub const DEFAULT_TABLE: &str = "warden";

/// Longest timeout given to the kernel (longer bans are stored without a timeout).
pub const MAX_KERNEL_TIMEOUT: Duration = Duration::from_secs(366 * 24 * 3600);

/// The four sets of a jail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum SetKind {
    Addr4,
    Net4,
    Addr6,
    Net6,
}

impl SetKind {
    const ALL: [SetKind; 4] = [SetKind::Addr4, SetKind::Net4, SetKind::Addr6, SetKind::Net6];

    fn of(net: &IpNet) -> SetKind {
        match (net, net.prefix_len() == net.max_prefix_len()) {
            (IpNet::V4(_), true) => SetKind::Addr4,
            (IpNet::V4(_), false) => SetKind::Net4,
            (IpNet::V6(_), true) => SetKind::Addr6,
            (IpNet::V6(_), false) => SetKind::Net6,
        }
    }

    fn prefix(self) -> &'static str {
        match self {
            SetKind::Addr4 => "addr4-",
            SetKind::Net4 => "net4-",
            SetKind::Addr6 => "addr6-",
            SetKind::Net6 => "net6-",
        }
    }

    fn declaration(self) -> &'static str {
        match self {
            SetKind::Addr4 => "{ type ipv4_addr; flags timeout; }",
            SetKind::Net4 => "{ type ipv4_addr; flags interval, timeout; }",
            SetKind::Addr6 => "{ type ipv6_addr; flags timeout; }",
            SetKind::Net6 => "{ type ipv6_addr; flags interval, timeout; }",
        }
    }

    fn saddr(self) -> &'static str {
        match self {
            SetKind::Addr4 | SetKind::Net4 => "ip saddr",
            SetKind::Addr6 | SetKind::Net6 => "ip6 saddr",
        }
    }

    fn is_interval(self) -> bool {
        matches!(self, SetKind::Net4 | SetKind::Net6)
    }
}

/// The netlink socket for set elements, and libnftables while tables, sets and chains are
/// being changed.
struct Conn {
    /// Created when needed and dropped once the change is made (see [`Nftables::release`]).
    nft: Option<NftContext>,
    nl: NetlinkSocket,
}

/// Warden's nftables table and the jails' sets and chains in it.
///
/// Everything belongs to the network namespace of the thread that called [`Nftables::new`],
/// whichever thread uses it later: the netlink socket is bound to it when opened, and a
/// libnftables context created later is created in it. The connection is guarded by a mutex,
/// so one `Nftables` can be shared by all jails.
pub struct Nftables {
    table: String,
    ctx: Mutex<Conn>,
    /// Whether `add element` replaces a present element's timeout (kernel 6.10 and later).
    update_in_place: OnceLock<bool>,
    /// The network namespace of the creating thread, to create libnftables contexts in.
    netns: Option<File>,
}

impl Nftables {
    /// Opens netlink and libnftables for table `inet <table>`; nothing is created until
    /// [`Firewall::setup_jail`].
    pub fn new(table: &str) -> Result<Nftables, FirewallError> {
        check_name("table", table, 200)?;
        // Also tells early whether libnftables is there at all.
        let nft = NftContext::new().map_err(FirewallError::Unavailable)?;
        let nl = NetlinkSocket::open()
            .map_err(|e| FirewallError::Unavailable(format!("netlink socket: {e}")))?;
        Ok(Nftables {
            table: table.to_owned(),
            ctx: Mutex::new(Conn { nft: Some(nft), nl }),
            update_in_place: OnceLock::new(),
            netns: File::open("/proc/thread-self/ns/net").ok(),
        })
    }

    /// A libnftables context in the namespace of [`Nftables::new`]'s thread: made on this
    /// thread when it is in that namespace (no privilege needed), else on a helper thread that
    /// enters it (`setns` needs `CAP_SYS_ADMIN`).
    fn context(&self) -> Result<NftContext, FirewallError> {
        let here = std::fs::metadata("/proc/thread-self/ns/net").ok();
        let there = self.netns.as_ref().and_then(|f| f.metadata().ok());
        let same = match (&here, &there) {
            (Some(a), Some(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
            _ => true,
        };
        let ns = match (&self.netns, same) {
            (Some(ns), false) => ns,
            _ => return NftContext::new().map_err(FirewallError::Unavailable),
        };
        std::thread::scope(|s| {
            s.spawn(|| {
                // SAFETY: setns on a namespace descriptor affects only this helper thread.
                if unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
                    return Err(FirewallError::Unavailable(format!(
                        "cannot enter the firewall's network namespace: {}",
                        std::io::Error::last_os_error()
                    )));
                }
                NftContext::new().map_err(FirewallError::Unavailable)
            })
            .join()
            .unwrap_or_else(|_| Err(FirewallError::Unavailable("libnftables panicked".into())))
        })
    }

    /// Runs nft commands as one transaction, creating the context if needed.
    fn run(&self, ctx: &mut Conn, doing: &str, commands: &str) -> Result<String, FirewallError> {
        if ctx.nft.is_none() {
            ctx.nft = Some(self.context()?);
        }
        let nft = ctx.nft.as_mut().expect("just created");
        nft.run(commands).map_err(|message| FirewallError::Nft {
            doing: doing.to_owned(),
            message: shorten(&message),
        })
    }

    /// Drops the libnftables context: an idle daemon has no use for its cache and buffers, nor
    /// for the library, which goes with the last context.
    fn release(ctx: &mut Conn) {
        ctx.nft = None;
    }

    /// The table's name.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// Skips the probe: `true` trusts `add element` to replace a present element's timeout,
    /// `false` always deletes and re-adds inside the transaction (right on every kernel).
    pub fn with_timeout_update(self, in_place: bool) -> Nftables {
        let _ = self.update_in_place.set(in_place);
        self
    }

    /// Keeps the netlink send buffer at `bytes` instead of enlarging it for large batches, as
    /// happens without `CAP_NET_ADMIN` in the initial user namespace: such batches are then sent
    /// as several transactions. For tests.
    #[doc(hidden)]
    pub fn with_send_buffer_limit(self, bytes: usize) -> Nftables {
        self.lock().nl.limit_send_buffer(bytes);
        self
    }

    fn lock(&self) -> MutexGuard<'_, Conn> {
        // A panic while holding the lock leaves nothing half-done in the context.
        self.ctx.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn set_name(jail: &str, kind: SetKind) -> String {
        format!("{}{jail}", kind.prefix())
    }

    fn chain_name(jail: &str) -> String {
        format!("jail-{jail}")
    }
}

/// The commands that (re)create a jail's sets, chain and rules in table `inet <t>`.
fn setup_commands(t: &str, jail: &str, rule: &JailRule) -> Result<String, FirewallError> {
    check_name("jail", jail, 200)?;
    check_name("chain hook", &rule.chain_hook, 32)?;
    let protos = protocols(&rule.protocol)?;
    let mut matcher = String::new();
    if !protos.is_empty() {
        write!(matcher, " meta l4proto {{ {} }}", protos.join(", ")).unwrap();
    }
    if let Some(ports) = &rule.ports {
        if protos.is_empty() {
            return Err(FirewallError::InvalidName {
                what: "protocol",
                value: rule.protocol.clone(),
                expected: "tcp, udp, sctp or dccp when ports are given (type=multiport)",
            });
        }
        write!(matcher, " th dport {{ {} }}", port_items(ports)?.join(", ")).unwrap();
    }
    let verdict = match &rule.blocktype {
        Blocktype::Reject => "reject",
        Blocktype::Drop => "drop",
        Blocktype::Custom(s) => {
            check_words("blocktype", s)?;
            s.as_str()
        }
    };
    let chain = Nftables::chain_name(jail);
    let mut c = format!("add table inet {t}\n");
    for kind in SetKind::ALL {
        let set = Nftables::set_name(jail, kind);
        writeln!(c, "add set inet {t} {set} {}", kind.declaration()).unwrap();
    }
    // Replacing the chain inside the transaction makes a changed hook or priority take
    // effect and keeps the rules from piling up, with no moment without them.
    writeln!(c, "add chain inet {t} {chain}").unwrap();
    writeln!(c, "flush chain inet {t} {chain}").unwrap();
    writeln!(c, "delete chain inet {t} {chain}").unwrap();
    writeln!(
        c,
        "add chain inet {t} {chain} {{ type filter hook {} priority {}; policy accept; }}",
        rule.chain_hook, rule.priority
    )
    .unwrap();
    for kind in SetKind::ALL {
        let set = Nftables::set_name(jail, kind);
        writeln!(
            c,
            "add rule inet {t} {chain} {} @{set}{matcher} {verdict}",
            kind.saddr()
        )
        .unwrap();
    }
    Ok(c)
}

impl Nftables {
    /// Finds out once whether `add element` replaces the timeout of a present element.
    fn update_in_place(&self, ctx: &mut Conn) -> Result<bool, FirewallError> {
        if let Some(v) = self.update_in_place.get() {
            return Ok(*v);
        }
        let t = &self.table;
        let set = "probe-timeout-update";
        let doing = "probe timeout updates";
        self.run(
            ctx,
            doing,
            &format!(
                "add table inet {t}\nadd set inet {t} {set} {{ type ipv4_addr; flags timeout; }}\n\
                 flush set inet {t} {set}\n"
            ),
        )?;
        let a = IpNet::from(IpAddr::from([192, 0, 2, 1]));
        let b = IpNet::from(IpAddr::from([192, 0, 2, 2]));
        let hour = Duration::from_secs(3600);
        let mut added = Ok(());
        for items in [
            [(a, Some(hour)), (b, Some(hour))],
            [(a, Some(2 * hour)), (b, None)],
        ] {
            let mut batch = Batch::new(t);
            batch.push(ElemOp::Add, set, false, items);
            added = added.and_then(|()| ctx.nl.send_batch(&mut batch));
        }
        let listed = added
            .map_err(|message| FirewallError::Nft {
                doing: doing.to_owned(),
                message,
            })
            .and_then(|()| self.read_set(ctx, set, SetKind::Addr4));
        self.run(ctx, doing, &format!("delete set inet {t} {set}\n"))?;
        let listed = listed?;
        let long = listed.iter().any(|(n, to)| {
            n.addr() == IpAddr::from([192, 0, 2, 1])
                && to.is_some_and(|d| d > Duration::from_secs(3600 + 60))
        });
        let cleared = listed
            .iter()
            .any(|(n, to)| n.addr() == IpAddr::from([192, 0, 2, 2]) && to.is_none());
        let v = long && cleared;
        tracing::debug!(update_in_place = v, "nftables timeout update probe");
        Ok(*self.update_in_place.get_or_init(|| v))
    }

    fn list_set(
        &self,
        ctx: &mut Conn,
        jail: &str,
        kind: SetKind,
    ) -> Result<Vec<(IpNet, Option<Duration>)>, FirewallError> {
        self.read_set(ctx, &Self::set_name(jail, kind), kind)
    }

    fn read_set(
        &self,
        ctx: &mut Conn,
        set: &str,
        kind: SetKind,
    ) -> Result<Vec<(IpNet, Option<Duration>)>, FirewallError> {
        // A dump taken while the kernel resizes the set's hash table (right after a big batch)
        // can see an element twice and miss another, without flagging the dump as interrupted.
        // Duplicates give such a dump away: take it again once the resize is over.
        let mut attempt = 0;
        loop {
            let listed = self.read_set_once(ctx, set, kind)?;
            let mut seen = std::collections::HashSet::with_capacity(listed.len());
            if listed.iter().all(|(net, _)| seen.insert(*net)) || attempt >= 20 {
                return Ok(listed);
            }
            attempt += 1;
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn read_set_once(
        &self,
        ctx: &mut Conn,
        set: &str,
        kind: SetKind,
    ) -> Result<Vec<(IpNet, Option<Duration>)>, FirewallError> {
        let raw = ctx
            .nl
            .set_elements(&self.table, set)
            .map_err(|e| FirewallError::Nft {
                doing: format!("list set inet {} {set}", self.table),
                message: if e.raw_os_error() == Some(libc::ENOENT) {
                    "no such set (is the jail set up?)".to_owned()
                } else {
                    e.to_string()
                },
            })?;
        Ok(if kind.is_interval() {
            netlink::prefixes(raw)
        } else {
            netlink::hosts(raw)
        })
    }

    /// Applies final operations (one per element). The contents of the interval sets
    /// involved are read first (or taken from `known`) to refuse overlapping prefixes and skip
    /// removals of absent prefixes.
    fn apply_final(
        &self,
        ctx: &mut Conn,
        ops: Vec<SetOp>,
        known: &mut HashMap<(String, SetKind), Vec<IpNet>>,
    ) -> Result<ApplyReport, FirewallError> {
        let mut report = ApplyReport::default();
        // (jail, kind) -> (adds, removes)
        let mut groups: BTreeMap<(String, SetKind), Group> = BTreeMap::new();
        for op in ops {
            check_name("jail", op.jail(), 200)?;
            let net = op.net();
            let kind = SetKind::of(&net);
            let key = (op.jail().to_owned(), kind);
            if kind.is_interval() {
                if !known.contains_key(&key) {
                    let nets = self
                        .list_set(ctx, op.jail(), kind)?
                        .into_iter()
                        .map(|(n, _)| n)
                        .collect();
                    known.insert(key.clone(), nets);
                }
                let present = known.get_mut(&key).expect("just inserted");
                match &op {
                    SetOp::Remove { .. } => match present.iter().position(|n| *n == net) {
                        Some(i) => {
                            present.swap_remove(i);
                        }
                        None => {
                            report.applied += 1;
                            continue;
                        }
                    },
                    SetOp::Add { .. } => {
                        if let Some(other) =
                            present.iter().find(|n| **n != net && overlaps(n, &net))
                        {
                            let why = format!("overlaps {other}, already in the set");
                            report.rejected.push((op.clone(), why));
                            continue;
                        }
                        if !present.contains(&net) {
                            present.push(net);
                        }
                    }
                }
            }
            let g = groups.entry(key).or_default();
            match op {
                SetOp::Add { timeout, .. } => g.adds.push((net, kernel_timeout(timeout))),
                SetOp::Remove { .. } => g.removes.push(net),
            }
            report.applied += 1;
        }
        if groups.is_empty() {
            return Ok(report);
        }
        let in_place = match self.update_in_place.get() {
            Some(v) => *v,
            None => {
                let v = self.update_in_place(ctx);
                Self::release(ctx);
                v?
            }
        };
        let mut batch = batch_for(&self.table, &groups, in_place);
        ctx.nl
            .send_batch(&mut batch)
            .map_err(|message| FirewallError::Nft {
                doing: "apply a batch of set changes".to_owned(),
                message,
            })?;
        Ok(report)
    }
}

/// The adds and removes of one set within a batch.
#[derive(Debug, Default)]
struct Group {
    adds: Vec<(IpNet, Option<Duration>)>,
    removes: Vec<IpNet>,
}

/// What the kernel is given for a wanted timeout.
fn kernel_timeout(t: Option<Duration>) -> Option<Duration> {
    t.filter(|t| *t <= MAX_KERNEL_TIMEOUT)
}

/// The netlink batch applying `groups`: per set, removals first, then additions.
fn batch_for(table: &str, groups: &BTreeMap<(String, SetKind), Group>, in_place: bool) -> Batch {
    let mut batch = Batch::new(table);
    for ((jail, kind), g) in groups {
        let set = Nftables::set_name(jail, *kind);
        let interval = kind.is_interval();
        if !g.removes.is_empty() {
            let items = || g.removes.iter().map(|n| (*n, None));
            // A delete of an absent element fails the whole transaction: each removal from a
            // hash set is an add (a no-op when present) followed by the delete. Interval sets
            // were read first, so only present prefixes are removed; adding them again could
            // clash with a narrower prefix added in the same batch.
            if !interval {
                batch.push(ElemOp::Add, &set, false, items());
            }
            batch.push(ElemOp::Delete, &set, interval, items());
        }
        if !g.adds.is_empty() {
            if !in_place {
                // Older kernels keep a present element's timeout: delete it and add it anew,
                // inside the same transaction.
                let items = || g.adds.iter().map(|(n, _)| (*n, None));
                batch.push(ElemOp::Add, &set, interval, items());
                batch.push(ElemOp::Delete, &set, interval, items());
            }
            batch.push(ElemOp::Add, &set, interval, g.adds.iter().copied());
        }
    }
    batch
}

/// nft echoes the failing command; with 100,000 elements on its line that is megabytes.
fn shorten(message: &str) -> String {
    message
        .lines()
        .map(|l| {
            if l.len() > 300 {
                let cut = (0..=300)
                    .rev()
                    .find(|i| l.is_char_boundary(*i))
                    .unwrap_or(0);
                format!("{}...", &l[..cut])
            } else {
                l.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

impl Firewall for Nftables {
    fn setup_jail(&self, jail: &str, rule: &JailRule) -> Result<(), FirewallError> {
        let commands = setup_commands(&self.table, jail, rule)?;
        let mut ctx = self.lock();
        let done = self
            .run(&mut ctx, &format!("set up jail {jail}"), &commands)
            // While libnftables is at hand; a failed probe is retried at the first batch.
            .and_then(|_| self.update_in_place(&mut ctx).map(|_| ()));
        Self::release(&mut ctx);
        done
    }

    fn apply(&self, ops: &[SetOp]) -> Result<ApplyReport, FirewallError> {
        let ops = final_ops(ops);
        let mut ctx = self.lock();
        let mut known = HashMap::new();
        match self.apply_final(&mut ctx, ops.clone(), &mut known) {
            // A prefix read as present may have expired before the batch ran: read again.
            Err(FirewallError::Nft { .. }) if !known.is_empty() => {
                self.apply_final(&mut ctx, ops, &mut HashMap::new())
            }
            result => result,
        }
    }

    fn list(&self, jail: &str) -> Result<Vec<(IpNet, Option<Duration>)>, FirewallError> {
        check_name("jail", jail, 200)?;
        let mut ctx = self.lock();
        let mut all = Vec::new();
        for kind in SetKind::ALL {
            all.extend(self.list_set(&mut ctx, jail, kind)?);
        }
        Ok(all)
    }

    fn reconcile(
        &self,
        jail: &str,
        wanted: &[(IpNet, Option<Duration>)],
    ) -> Result<ReconcileReport, FirewallError> {
        check_name("jail", jail, 200)?;
        let mut ctx = self.lock();
        match self.reconcile_locked(&mut ctx, jail, wanted) {
            // An element read as present may have expired before the batch ran: read again.
            Err(FirewallError::Nft { .. }) => self.reconcile_locked(&mut ctx, jail, wanted),
            result => result,
        }
    }

    fn teardown_jail(&self, jail: &str) -> Result<(), FirewallError> {
        check_name("jail", jail, 200)?;
        let t = &self.table;
        let chain = Self::chain_name(jail);
        // Each object is added (a no-op when present) and then deleted, so absent ones are fine.
        let mut c = format!(
            "add table inet {t}\nadd chain inet {t} {chain}\nflush chain inet {t} {chain}\n\
             delete chain inet {t} {chain}\n"
        );
        for kind in SetKind::ALL {
            let set = Self::set_name(jail, kind);
            writeln!(c, "add set inet {t} {set} {}", kind.declaration()).unwrap();
            writeln!(c, "delete set inet {t} {set}").unwrap();
        }
        let mut ctx = self.lock();
        let done = self.run(&mut ctx, &format!("remove jail {jail}"), &c);
        Self::release(&mut ctx);
        done.map(|_| ())
    }

    fn teardown(&self) -> Result<(), FirewallError> {
        let t = &self.table;
        let mut ctx = self.lock();
        let done = self.run(
            &mut ctx,
            &format!("delete table inet {t}"),
            &format!("add table inet {t}\ndelete table inet {t}\n"),
        );
        Self::release(&mut ctx);
        done.map(|_| ())
    }
}

impl Nftables {
    fn reconcile_locked(
        &self,
        ctx: &mut Conn,
        jail: &str,
        wanted: &[(IpNet, Option<Duration>)],
    ) -> Result<ReconcileReport, FirewallError> {
        let mut current = Vec::new();
        let mut known = HashMap::new();
        for kind in SetKind::ALL {
            let elems = self.list_set(ctx, jail, kind)?;
            if kind.is_interval() {
                // Removals come first below, so overlap checks see the set without them.
                let stale: Vec<IpNet> = elems.iter().map(|(n, _)| *n).collect();
                known.insert((jail.to_owned(), kind), stale);
            }
            current.extend(elems);
        }
        let plan = plan_reconcile(&current, wanted, kernel_timeout);
        let mut ops = Vec::with_capacity(plan.remove.len() + plan.add.len() + plan.refresh.len());
        ops.extend(plan.remove.iter().map(|net| SetOp::Remove {
            jail: jail.to_owned(),
            net: *net,
        }));
        for (net, timeout) in plan.add.iter().chain(&plan.refresh) {
            ops.push(SetOp::Add {
                jail: jail.to_owned(),
                net: *net,
                timeout: *timeout,
            });
        }
        let applied = self.apply_final(ctx, ops, &mut known)?;
        let rejected: Vec<(IpNet, String)> = applied
            .rejected
            .into_iter()
            .map(|(op, why)| (op.net(), why))
            .collect();
        let refused = |list: &[(IpNet, Option<Duration>)]| {
            list.iter()
                .filter(|(n, _)| rejected.iter().any(|(r, _)| r == n))
                .count()
        };
        Ok(ReconcileReport {
            added: plan.add.len() - refused(&plan.add),
            removed: plan.remove.len(),
            refreshed: plan.refresh.len() - refused(&plan.refresh),
            kept: plan.kept,
            rejected,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    #[test]
    fn long_timeouts_are_left_to_the_ban_manager() {
        assert_eq!(kernel_timeout(Some(Duration::from_secs(400 * 86400))), None);
        assert_eq!(
            kernel_timeout(Some(Duration::from_secs(600))),
            Some(Duration::from_secs(600))
        );
    }

    #[test]
    fn batch_makes_removal_of_absent_elements_harmless() {
        let mut groups = BTreeMap::new();
        groups.insert(
            ("sshd".to_owned(), SetKind::Addr4),
            Group {
                adds: vec![(net("192.0.2.1/32"), Some(Duration::from_secs(600)))],
                removes: vec![net("192.0.2.9/32")],
            },
        );
        groups.insert(
            ("sshd".to_owned(), SetKind::Net4),
            Group {
                adds: vec![],
                removes: vec![net("198.51.100.0/24")],
            },
        );
        let set = |s: &str| s.to_owned();
        let in_place = batch_for("warden", &groups, true).summary();
        assert_eq!(
            in_place,
            [
                (ElemOp::Add, set("addr4-sshd"), vec![net("192.0.2.9/32")]),
                (ElemOp::Delete, set("addr4-sshd"), vec![net("192.0.2.9/32")]),
                (ElemOp::Add, set("addr4-sshd"), vec![net("192.0.2.1/32")]),
                // Interval sets were read first: only present prefixes are removed.
                (
                    ElemOp::Delete,
                    set("net4-sshd"),
                    vec![net("198.51.100.0/24")]
                ),
            ]
        );
        let replaced = batch_for("warden", &groups, false).summary();
        assert_eq!(
            replaced[2..5],
            [
                (ElemOp::Add, set("addr4-sshd"), vec![net("192.0.2.1/32")]),
                (ElemOp::Delete, set("addr4-sshd"), vec![net("192.0.2.1/32")]),
                (ElemOp::Add, set("addr4-sshd"), vec![net("192.0.2.1/32")]),
            ]
        );
    }

    #[test]
    fn rules_follow_fail2ban_multiport_and_allports() {
        let multiport = JailRule {
            ports: Some("ssh,1000:2000".into()),
            protocol: "tcp,udp".into(),
            ..JailRule::default()
        };
        let c = setup_commands("warden", "sshd", &multiport).unwrap();
        assert!(c.contains(
            "add rule inet warden jail-sshd ip saddr @addr4-sshd meta l4proto { tcp, udp } \
             th dport { ssh, 1000-2000 } reject\n"
        ));
        assert!(c.contains(
            "add chain inet warden jail-sshd { type filter hook input priority -1; policy accept; }"
        ));
        let allports = JailRule {
            blocktype: Blocktype::Drop,
            ..JailRule::default()
        };
        let c = setup_commands("warden", "sshd", &allports).unwrap();
        assert!(c.contains("ip6 saddr @net6-sshd meta l4proto { tcp } drop\n"));
        let bad = JailRule {
            ports: Some("22".into()),
            protocol: "all".into(),
            ..JailRule::default()
        };
        assert!(setup_commands("warden", "sshd", &bad).is_err());
        assert!(setup_commands("warden", "ss hd", &allports).is_err());
    }
}
