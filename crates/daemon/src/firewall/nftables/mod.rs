//! The native nftables backend: one table owned by Warden, per jail four sets and a base chain,
//! every change of one moment applied as one libnftables transaction.
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
//! Changes go through libnftables ([`ffi`]) as batch text; sets are read back with one raw
//! netlink dump each (`netlink`), which is some 20 times faster than nft's own listing.
//!
//! # Semantics worth knowing
//! - Adding a present element replaces its timeout. Kernels since 6.10 do that in place; on
//!   older ones the element is added (no-op), deleted and added with the new timeout inside the
//!   same transaction, which is just as atomic. Which kind of kernel this is gets probed once.
//! - Removing an absent element is not an error: nft (before 1.0.8's `destroy`) fails a whole
//!   batch on `delete` of an absent element, so each removal is written as `add` (a no-op if
//!   present) followed by `delete`, in the same transaction.
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
use netlink::NetlinkSocket;
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::net::IpAddr;
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

/// The libnftables context for changes and a netlink socket for reading sets.
struct Conn {
    nft: NftContext,
    nl: NetlinkSocket,
}

/// Warden's nftables table and the jails' sets and chains in it.
///
/// The libnftables context (and its netlink socket) belongs to the network namespace of the
/// thread that called [`Nftables::new`]; it is guarded by a mutex, so one `Nftables` can be
/// shared by all jails.
pub struct Nftables {
    table: String,
    ctx: Mutex<Conn>,
    /// Whether `add element` replaces a present element's timeout (kernel 6.10 and later).
    update_in_place: OnceLock<bool>,
}

impl Nftables {
    /// Opens libnftables for table `inet <table>`; nothing is created until
    /// [`Firewall::setup_jail`].
    pub fn new(table: &str) -> Result<Nftables, FirewallError> {
        check_name("table", table, 200)?;
        let nft = NftContext::new().map_err(FirewallError::Unavailable)?;
        let nl = NetlinkSocket::open()
            .map_err(|e| FirewallError::Unavailable(format!("netlink socket: {e}")))?;
        Ok(Nftables {
            table: table.to_owned(),
            ctx: Mutex::new(Conn { nft, nl }),
            update_in_place: OnceLock::new(),
        })
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
        run(
            ctx,
            doing,
            &format!(
                "add table inet {t}\nadd set inet {t} {set} {{ type ipv4_addr; flags timeout; }}\n\
                 flush set inet {t} {set}\n\
                 add element inet {t} {set} {{ 192.0.2.1 timeout 1h, 192.0.2.2 timeout 1h }}\n"
            ),
        )?;
        run(
            ctx,
            doing,
            &format!("add element inet {t} {set} {{ 192.0.2.1 timeout 2h, 192.0.2.2 }}\n"),
        )?;
        let listed = self.read_set(ctx, set, SetKind::Addr4)?;
        run(ctx, doing, &format!("delete set inet {t} {set}\n"))?;
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
        let in_place = self.update_in_place(ctx)?;
        let text = batch_text(&self.table, &groups, in_place);
        run(ctx, "apply a batch of set changes", &text)?;
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

fn element(net: &IpNet) -> String {
    if net.prefix_len() == net.max_prefix_len() {
        net.addr().to_string()
    } else {
        net.to_string()
    }
}

fn element_with_timeout(net: &IpNet, t: Option<Duration>) -> String {
    match t {
        Some(t) => format!("{} timeout {}ms", element(net), t.as_millis().max(1)),
        None => element(net),
    }
}

fn join<T>(items: &[T], f: impl Fn(&T) -> String) -> String {
    let mut s = String::with_capacity(items.len() * 24);
    for (i, it) in items.iter().enumerate() {
        if i > 0 {
            s.push_str(", ");
        }
        s.push_str(&f(it));
    }
    s
}

/// The text of one transaction applying `groups`.
fn batch_text(table: &str, groups: &BTreeMap<(String, SetKind), Group>, in_place: bool) -> String {
    let mut c = String::new();
    for ((jail, kind), g) in groups {
        let set = format!("inet {table} {}", Nftables::set_name(jail, *kind));
        if !g.removes.is_empty() {
            let els = join(&g.removes, element);
            // Interval sets were read first, so only present elements are removed; adding them
            // again could clash with a narrower prefix added in the same batch.
            if !kind.is_interval() {
                writeln!(c, "add element {set} {{ {els} }}").unwrap();
            }
            writeln!(c, "delete element {set} {{ {els} }}").unwrap();
        }
        if !g.adds.is_empty() {
            if !in_place {
                let els = join(&g.adds, |(n, _)| element(n));
                writeln!(c, "add element {set} {{ {els} }}").unwrap();
                writeln!(c, "delete element {set} {{ {els} }}").unwrap();
            }
            let els = join(&g.adds, |(n, t)| element_with_timeout(n, *t));
            writeln!(c, "add element {set} {{ {els} }}").unwrap();
        }
    }
    c
}

fn run(ctx: &mut Conn, doing: &str, commands: &str) -> Result<String, FirewallError> {
    ctx.nft.run(commands).map_err(|message| FirewallError::Nft {
        doing: doing.to_owned(),
        message: shorten(&message),
    })
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
        run(&mut self.lock(), &format!("set up jail {jail}"), &commands)?;
        Ok(())
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
        run(&mut self.lock(), &format!("remove jail {jail}"), &c)?;
        Ok(())
    }

    fn teardown(&self) -> Result<(), FirewallError> {
        let t = &self.table;
        run(
            &mut self.lock(),
            &format!("delete table inet {t}"),
            &format!("add table inet {t}\ndelete table inet {t}\n"),
        )?;
        Ok(())
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
    fn elements_are_written_as_nft_expects() {
        assert_eq!(element(&net("192.0.2.1/32")), "192.0.2.1");
        assert_eq!(element(&net("2001:db8::1/128")), "2001:db8::1");
        assert_eq!(element(&net("198.51.100.0/24")), "198.51.100.0/24");
        assert_eq!(
            element_with_timeout(&net("192.0.2.1/32"), Some(Duration::from_millis(1500))),
            "192.0.2.1 timeout 1500ms"
        );
        assert_eq!(
            element_with_timeout(&net("192.0.2.1/32"), Some(Duration::from_micros(10))),
            "192.0.2.1 timeout 1ms"
        );
        assert_eq!(kernel_timeout(Some(Duration::from_secs(400 * 86400))), None);
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
        let in_place = batch_text("warden", &groups, true);
        assert_eq!(
            in_place,
            "add element inet warden addr4-sshd { 192.0.2.9 }\n\
             delete element inet warden addr4-sshd { 192.0.2.9 }\n\
             add element inet warden addr4-sshd { 192.0.2.1 timeout 600000ms }\n"
        );
        let replaced = batch_text("warden", &groups, false);
        assert!(replaced.contains(
            "add element inet warden addr4-sshd { 192.0.2.1 }\n\
             delete element inet warden addr4-sshd { 192.0.2.1 }\n\
             add element inet warden addr4-sshd { 192.0.2.1 timeout 600000ms }\n"
        ));
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
