//! The firewall backends against the real kernel, inside network namespaces each test creates.
//!
//! Needs root, `ip` (iproute2), libnftables, and for the ipset tests `ipset` and `iptables`.
//! Nothing touches the host's own firewall: every backend object is created, and every
//! `ipset` / `iptables` process started, on a thread that has joined the test's namespace
//! (the nftables backend binds its netlink socket when created and makes its libnftables
//! contexts in that namespace; processes inherit the thread's namespace). Namespaces are
//! deleted by a guard, also when a test fails.
//!
//! Addresses are documentation ranges (192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24,
//! 2001:db8::/32) and, for the 100,000-element batches, the benchmarking range 198.18.0.0/15.

use ipnet::IpNet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener};
use std::os::fd::AsRawFd;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};
use warden_daemon::firewall::{
    Blocktype, Firewall, Ipset, JailRule, Nftables, ReconcileReport, SetOp,
};

// ---------------------------------------------------------------------------------------------
// Namespaces

/// A network namespace that exists for the life of the value.
struct Netns {
    name: String,
}

impl Netns {
    fn new(tag: &str) -> Netns {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        // SAFETY: geteuid has no preconditions.
        assert_eq!(
            unsafe { libc::geteuid() },
            0,
            "firewall tests need root (they create network namespaces)"
        );
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let name = format!("wfw-{tag}-{}-{n}", std::process::id());
        ip(&["netns", "add", &name]);
        let ns = Netns { name };
        ip(&["-n", &ns.name, "link", "set", "lo", "up"]);
        ns
    }

    /// Runs `f` on a new thread that has joined this namespace.
    fn run<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> T {
        let path = format!("/var/run/netns/{}", self.name);
        let handle = thread::spawn(move || {
            let file = std::fs::File::open(&path).expect("namespace file");
            // SAFETY: setns on a namespace fd affects only this thread.
            let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
            assert_eq!(rc, 0, "setns: {}", std::io::Error::last_os_error());
            f()
        });
        match handle.join() {
            Ok(v) => v,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("running ip");
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs a program (inside the namespace of the calling thread) and returns its output.
fn sh(program: &str, args: &[&str]) -> String {
    let out = Command::new(program).args(args).output().expect(program);
    assert!(
        out.status.success(),
        "{program} {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

// ---------------------------------------------------------------------------------------------
// Helpers

fn net(s: &str) -> IpNet {
    s.parse().unwrap()
}

fn add(jail: &str, n: &str, secs: Option<u64>) -> SetOp {
    SetOp::Add {
        jail: jail.into(),
        net: net(n),
        timeout: secs.map(Duration::from_secs),
    }
}

fn remove(jail: &str, n: &str) -> SetOp {
    SetOp::Remove {
        jail: jail.into(),
        net: net(n),
    }
}

fn sorted_nets(list: &[(IpNet, Option<Duration>)]) -> Vec<IpNet> {
    let mut v: Vec<IpNet> = list.iter().map(|(n, _)| *n).collect();
    v.sort();
    v
}

fn timeout_of(list: &[(IpNet, Option<Duration>)], n: &str) -> Option<Duration> {
    list.iter()
        .find(|(x, _)| *x == net(n))
        .unwrap_or_else(|| panic!("{n} not in {list:?}"))
        .1
}

/// `count` distinct addresses from the benchmarking range 198.18.0.0/15.
fn bulk(count: u32) -> Vec<IpNet> {
    assert!(count < 1 << 17);
    (0..count)
        .map(|i| IpNet::from(IpAddr::V4(Ipv4Addr::from(0xc612_0000u32 + i))))
        .collect()
}

fn nft(table: &str) -> Nftables {
    Nftables::new(table).expect("libnftables")
}

fn ssh_rule() -> JailRule {
    JailRule {
        ports: Some("ssh".into()),
        ..JailRule::default()
    }
}

/// The jail's elements as `nft` itself prints them (the same namespace as the caller).
fn nft_cli(args: &[&str]) -> String {
    sh("nft", args)
}

// ---------------------------------------------------------------------------------------------
// Behaviour shared by both backends

fn batch_add_and_remove(fw: &dyn Firewall) {
    fw.setup_jail("sshd", &ssh_rule()).unwrap();
    let report = fw
        .apply(&[
            add("sshd", "192.0.2.1/32", Some(600)),
            add("sshd", "198.51.100.0/24", Some(600)),
            add("sshd", "2001:db8::1/128", None),
            add("sshd", "2001:db8:1::/48", Some(600)),
            add("sshd", "203.0.113.9/32", Some(600)),
            remove("sshd", "203.0.113.9/32"),
        ])
        .unwrap();
    assert!(report.rejected.is_empty(), "{report:?}");
    let list = fw.list("sshd").unwrap();
    assert_eq!(
        sorted_nets(&list),
        [
            net("192.0.2.1/32"),
            net("198.51.100.0/24"),
            net("2001:db8::1/128"),
            net("2001:db8:1::/48")
        ]
    );
    let t = timeout_of(&list, "192.0.2.1/32").expect("a timeout");
    assert!(
        t > Duration::from_secs(590) && t <= Duration::from_secs(600),
        "{t:?}"
    );
    assert_eq!(timeout_of(&list, "2001:db8::1/128"), None);

    // Adding again replaces the timeout; removing absent elements is harmless; a host inside a
    // banned prefix is a separate ban.
    fw.apply(&[
        add("sshd", "192.0.2.1/32", Some(60)),
        remove("sshd", "192.0.2.200/32"),
        remove("sshd", "203.0.113.0/24"),
        remove("sshd", "2001:db8::99/128"),
        add("sshd", "198.51.100.5/32", Some(60)),
    ])
    .unwrap();
    let list = fw.list("sshd").unwrap();
    let t = timeout_of(&list, "192.0.2.1/32").expect("a timeout");
    assert!(t <= Duration::from_secs(60), "timeout not replaced: {t:?}");
    assert!(list.iter().any(|(n, _)| *n == net("198.51.100.5/32")));

    fw.apply(&[
        remove("sshd", "192.0.2.1/32"),
        remove("sshd", "198.51.100.0/24"),
        remove("sshd", "2001:db8::1/128"),
        remove("sshd", "2001:db8:1::/48"),
        remove("sshd", "198.51.100.5/32"),
    ])
    .unwrap();
    assert!(fw.list("sshd").unwrap().is_empty());
}

fn timeouts_expire_in_the_kernel(fw: &dyn Firewall) {
    fw.setup_jail("sshd", &ssh_rule()).unwrap();
    fw.apply(&[
        SetOp::Add {
            jail: "sshd".into(),
            net: net("192.0.2.1/32"),
            timeout: Some(Duration::from_millis(1500)),
        },
        add("sshd", "2001:db8::1/128", Some(1)),
        add("sshd", "198.51.100.0/24", Some(1)),
        add("sshd", "192.0.2.2/32", Some(600)),
    ])
    .unwrap();
    assert_eq!(fw.list("sshd").unwrap().len(), 4);
    thread::sleep(Duration::from_millis(2600));
    assert_eq!(
        sorted_nets(&fw.list("sshd").unwrap()),
        [net("192.0.2.2/32")]
    );
}

fn reconcile_adds_removes_and_keeps(fw: &dyn Firewall) {
    fw.setup_jail("sshd", &ssh_rule()).unwrap();
    fw.apply(&[
        add("sshd", "192.0.2.1/32", Some(600)), // wanted, same timeout: kept
        add("sshd", "192.0.2.2/32", Some(30)),  // wanted longer: refreshed
        add("sshd", "192.0.2.3/32", Some(600)), // stale
        add("sshd", "198.51.100.0/24", None),   // stale prefix
        add("sshd", "2001:db8::1/128", None),   // wanted, no timeout: kept
    ])
    .unwrap();
    let wanted = [
        (net("192.0.2.1/32"), Some(Duration::from_secs(600))),
        (net("192.0.2.2/32"), Some(Duration::from_secs(900))),
        (net("2001:db8::1/128"), None),
        (net("203.0.113.0/24"), Some(Duration::from_secs(600))),
        (net("192.0.2.4/32"), Some(Duration::from_secs(600))),
    ];
    let report = fw.reconcile("sshd", &wanted).unwrap();
    assert_eq!(
        report,
        ReconcileReport {
            added: 2,
            removed: 2,
            refreshed: 1,
            kept: 2,
            rejected: vec![],
        }
    );
    let list = fw.list("sshd").unwrap();
    let mut want: Vec<IpNet> = wanted.iter().map(|(n, _)| *n).collect();
    want.sort();
    assert_eq!(sorted_nets(&list), want);
    let t = timeout_of(&list, "192.0.2.2/32").unwrap();
    assert!(t > Duration::from_secs(890), "refreshed timeout {t:?}");
    // A second pass finds nothing to do.
    let again = fw.reconcile("sshd", &wanted).unwrap();
    assert_eq!((again.added, again.removed, again.refreshed), (0, 0, 0));
    assert_eq!(again.kept, 5);
}

fn hundred_thousand_in_one_batch(fw: &dyn Firewall, name: &str) {
    fw.setup_jail("bulk", &JailRule::default()).unwrap();
    let nets = bulk(100_000);
    let ops: Vec<SetOp> = nets
        .iter()
        .map(|n| SetOp::Add {
            jail: "bulk".into(),
            net: *n,
            timeout: Some(Duration::from_secs(3600)),
        })
        .collect();
    let started = Instant::now();
    let report = fw.apply(&ops).unwrap();
    let took = started.elapsed();
    assert_eq!(report.applied, 100_000);
    let listed = fw.list("bulk").unwrap();
    assert_eq!(listed.len(), 100_000);
    assert_eq!(sorted_nets(&listed), nets);
    eprintln!("{name}: 100,000 adds in one batch took {took:?} (debug build)");
}

// ---------------------------------------------------------------------------------------------
// Packets

#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Connected,
    Refused,
    TimedOut,
}

/// Two namespaces joined by a veth pair: the server 192.0.2.1 / 2001:db8::1 listening on TCP
/// 22 and 2223; the client side holding 192.0.2.66, 192.0.2.77 and 2001:db8::66.
struct Lab {
    server: Netns,
    client: Netns,
    _listeners: Vec<TcpListener>,
}

impl Lab {
    fn new() -> Lab {
        let server = Netns::new("srv");
        let client = Netns::new("cli");
        let (s, c) = (server.name.as_str(), client.name.as_str());
        ip(&[
            "-n", s, "link", "add", "vs", "type", "veth", "peer", "name", "vc", "netns", c,
        ]);
        ip(&["-n", s, "addr", "add", "192.0.2.1/24", "dev", "vs"]);
        ip(&[
            "-n",
            s,
            "addr",
            "add",
            "2001:db8::1/64",
            "dev",
            "vs",
            "nodad",
        ]);
        ip(&["-n", s, "link", "set", "vs", "up"]);
        for a in ["192.0.2.66/24", "192.0.2.77/24"] {
            ip(&["-n", c, "addr", "add", a, "dev", "vc"]);
        }
        ip(&[
            "-n",
            c,
            "addr",
            "add",
            "2001:db8::66/64",
            "dev",
            "vc",
            "nodad",
        ]);
        ip(&["-n", c, "link", "set", "vc", "up"]);
        // Connections complete in the kernel's backlog; nobody needs to accept them.
        let listeners = server.run(|| {
            ["[::]:22", "[::]:2223"]
                .iter()
                .map(|a| TcpListener::bind(a).expect("listen"))
                .collect()
        });
        Lab {
            server,
            client,
            _listeners: listeners,
        }
    }

    fn connect(&self, from: &str, to: &str, port: u16) -> Outcome {
        let from: IpAddr = from.parse().unwrap();
        let to = SocketAddr::new(to.parse().unwrap(), port);
        self.client.run(move || connect_from(from, to))
    }
}

/// A TCP connection attempt from a chosen source address, waiting at most 1.5 seconds.
fn connect_from(from: IpAddr, to: SocketAddr) -> Outcome {
    let (domain, src, dst) = (
        if from.is_ipv4() {
            libc::AF_INET
        } else {
            libc::AF_INET6
        },
        sockaddr(SocketAddr::new(from, 0)),
        sockaddr(to),
    );
    // SAFETY: plain socket calls on a descriptor this function owns and closes.
    unsafe {
        let fd = libc::socket(domain, libc::SOCK_STREAM | libc::SOCK_NONBLOCK, 0);
        assert!(fd >= 0);
        let close = CloseOnDrop(fd);
        assert_eq!(
            libc::bind(fd, src.0.as_ptr().cast(), src.1),
            0,
            "bind {from}"
        );
        let rc = libc::connect(fd, dst.0.as_ptr().cast(), dst.1);
        if rc != 0 && std::io::Error::last_os_error().raw_os_error() != Some(libc::EINPROGRESS) {
            return Outcome::Refused;
        }
        let mut pfd = libc::pollfd {
            fd,
            events: libc::POLLOUT,
            revents: 0,
        };
        if libc::poll(&mut pfd, 1, 1500) == 0 {
            return Outcome::TimedOut;
        }
        let mut err: libc::c_int = 0;
        let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_ERROR,
            (&mut err as *mut libc::c_int).cast(),
            &mut len,
        );
        drop(close);
        match err {
            0 => Outcome::Connected,
            libc::ECONNREFUSED | libc::EHOSTUNREACH | libc::ENETUNREACH => Outcome::Refused,
            e => panic!(
                "connect {from} -> {to}: {}",
                std::io::Error::from_raw_os_error(e)
            ),
        }
    }
}

struct CloseOnDrop(libc::c_int);

impl Drop for CloseOnDrop {
    fn drop(&mut self) {
        // SAFETY: the descriptor is owned by this guard.
        unsafe { libc::close(self.0) };
    }
}

/// A socket address as raw bytes for `bind` / `connect`.
fn sockaddr(addr: SocketAddr) -> (Vec<u8>, libc::socklen_t) {
    // SAFETY: zeroed sockaddr structs are valid; the fields are filled in network order.
    unsafe {
        match addr {
            SocketAddr::V4(a) => {
                let mut s: libc::sockaddr_in = std::mem::zeroed();
                s.sin_family = libc::AF_INET as libc::sa_family_t;
                s.sin_port = a.port().to_be();
                s.sin_addr.s_addr = u32::from(*a.ip()).to_be();
                let bytes = std::slice::from_raw_parts(
                    (&s as *const libc::sockaddr_in).cast::<u8>(),
                    std::mem::size_of_val(&s),
                );
                (bytes.to_vec(), std::mem::size_of_val(&s) as libc::socklen_t)
            }
            SocketAddr::V6(a) => {
                let mut s: libc::sockaddr_in6 = std::mem::zeroed();
                s.sin6_family = libc::AF_INET6 as libc::sa_family_t;
                s.sin6_port = a.port().to_be();
                s.sin6_addr.s6_addr = a.ip().octets();
                let bytes = std::slice::from_raw_parts(
                    (&s as *const libc::sockaddr_in6).cast::<u8>(),
                    std::mem::size_of_val(&s),
                );
                (bytes.to_vec(), std::mem::size_of_val(&s) as libc::socklen_t)
            }
        }
    }
}

/// Bans, unbans and rule changes, seen from the network.
fn packets_from_banned_hosts_are_blocked(lab: &Lab, fw: &dyn Firewall) {
    use Outcome::*;
    // Before any ban, and so that neighbour discovery is done before the first reject.
    assert_eq!(lab.connect("192.0.2.66", "192.0.2.1", 22), Connected);
    assert_eq!(lab.connect("2001:db8::66", "2001:db8::1", 22), Connected);

    fw.apply(&[
        add("sshd", "192.0.2.66/32", Some(600)),
        add("sshd", "2001:db8::66/128", Some(600)),
    ])
    .unwrap();
    assert_eq!(lab.connect("192.0.2.66", "192.0.2.1", 22), Refused);
    assert_eq!(lab.connect("2001:db8::66", "2001:db8::1", 22), Refused);
    assert_eq!(lab.connect("192.0.2.77", "192.0.2.1", 22), Connected);
    // type=multiport: other ports stay open to the banned host.
    assert_eq!(lab.connect("192.0.2.66", "192.0.2.1", 2223), Connected);

    fw.apply(&[remove("sshd", "192.0.2.66/32")]).unwrap();
    assert_eq!(lab.connect("192.0.2.66", "192.0.2.1", 22), Connected);

    // A prefix ban covers both hosts.
    fw.apply(&[add("sshd", "192.0.2.64/26", Some(600))])
        .unwrap();
    assert_eq!(lab.connect("192.0.2.66", "192.0.2.1", 22), Refused);
    assert_eq!(lab.connect("192.0.2.77", "192.0.2.1", 22), Refused);
    fw.apply(&[remove("sshd", "192.0.2.64/26")]).unwrap();

    // allports with blocktype drop: set-up again changes the rule and keeps the bans.
    fw.apply(&[add("sshd", "192.0.2.66/32", Some(600))])
        .unwrap();
    let drop_all = JailRule {
        blocktype: Blocktype::Drop,
        ..JailRule::default()
    };
    fw.setup_jail("sshd", &drop_all).unwrap();
    assert_eq!(lab.connect("192.0.2.66", "192.0.2.1", 2223), TimedOut);
    assert_eq!(lab.connect("192.0.2.77", "192.0.2.1", 2223), Connected);
    assert_eq!(lab.connect("2001:db8::66", "2001:db8::1", 2223), TimedOut);
}

// ---------------------------------------------------------------------------------------------
// nftables

#[test]
fn nft_setup_is_idempotent_and_keeps_elements() {
    let ns = Netns::new("nft-setup");
    ns.run(|| {
        let fw = nft("warden");
        fw.setup_jail("sshd", &ssh_rule()).unwrap();
        fw.apply(&[add("sshd", "192.0.2.1/32", Some(600))]).unwrap();
        let first = nft_cli(&["list", "chain", "inet", "warden", "jail-sshd"]);
        fw.setup_jail("sshd", &ssh_rule()).unwrap();
        fw.setup_jail("sshd", &ssh_rule()).unwrap();
        let again = nft_cli(&["list", "chain", "inet", "warden", "jail-sshd"]);
        assert_eq!(first, again);
        assert_eq!(again.matches("reject").count(), 4, "{again}");
        assert!(again.contains("priority filter - 1"), "{again}");
        assert!(
            again.contains("tcp dport 22") || again.contains("th dport 22"),
            "{again}"
        );
        assert_eq!(fw.list("sshd").unwrap().len(), 1);

        // A second jail and a changed priority; tearing one jail down leaves the other.
        let rule = JailRule {
            priority: 10,
            protocol: "tcp,udp".into(),
            ports: Some("1000:2000,http".into()),
            ..JailRule::default()
        };
        fw.setup_jail("web", &rule).unwrap();
        let web = nft_cli(&["list", "chain", "inet", "warden", "jail-web"]);
        assert!(web.contains("priority filter + 10"), "{web}");
        assert!(web.contains("1000-2000"), "{web}");
        fw.teardown_jail("web").unwrap();
        fw.teardown_jail("web").unwrap();
        let table = nft_cli(&["list", "table", "inet", "warden"]);
        assert!(!table.contains("web"), "{table}");
        assert!(table.contains("jail-sshd"), "{table}");
        assert!(fw.list("web").is_err());

        fw.teardown().unwrap();
        fw.teardown().unwrap();
        assert!(!nft_cli(&["list", "tables"]).contains("warden"));
    });
}

#[test]
fn nft_table_name_is_configurable() {
    let ns = Netns::new("nft-name");
    ns.run(|| {
        let fw = nft("custom_fw");
        fw.setup_jail("sshd", &ssh_rule()).unwrap();
        fw.apply(&[add("sshd", "192.0.2.1/32", None)]).unwrap();
        let out = nft_cli(&["list", "set", "inet", "custom_fw", "addr4-sshd"]);
        assert!(out.contains("192.0.2.1"), "{out}");
        assert!(Nftables::new("bad name").is_err());
    });
}

#[test]
fn nft_batch_add_and_remove() {
    Netns::new("nft-batch").run(|| batch_add_and_remove(&nft("warden")));
}

/// Kernels before 6.10 do not replace a present element's timeout on `add`; the backend then
/// deletes and re-adds inside the transaction. Forced here, since this kernel may be newer.
#[test]
fn nft_timeout_replacement_without_kernel_support() {
    Netns::new("nft-old-kernel").run(|| {
        let fw = nft("warden").with_timeout_update(false);
        batch_add_and_remove(&fw);
        fw.teardown().unwrap();
        reconcile_adds_removes_and_keeps(&fw);
    });
}

#[test]
fn nft_timeouts_expire_in_the_kernel() {
    Netns::new("nft-expiry").run(|| timeouts_expire_in_the_kernel(&nft("warden")));
}

#[test]
fn nft_reconcile_adds_removes_and_keeps() {
    Netns::new("nft-reconcile").run(|| reconcile_adds_removes_and_keeps(&nft("warden")));
}

#[test]
fn nft_overlapping_prefixes_are_rejected_alone() {
    Netns::new("nft-overlap").run(|| {
        let fw = nft("warden");
        fw.setup_jail("sshd", &ssh_rule()).unwrap();
        fw.apply(&[add("sshd", "198.51.100.0/24", Some(600))])
            .unwrap();
        let report = fw
            .apply(&[
                add("sshd", "198.51.100.128/25", Some(600)),
                add("sshd", "203.0.113.0/24", Some(600)),
                add("sshd", "203.0.113.0/25", Some(600)),
                add("sshd", "192.0.2.1/32", Some(600)),
            ])
            .unwrap();
        let rejected: Vec<IpNet> = report.rejected.iter().map(|(op, _)| op.net()).collect();
        assert_eq!(rejected, [net("198.51.100.128/25"), net("203.0.113.0/25")]);
        assert_eq!(report.applied, 2);
        assert_eq!(
            sorted_nets(&fw.list("sshd").unwrap()),
            [
                net("192.0.2.1/32"),
                net("198.51.100.0/24"),
                net("203.0.113.0/24")
            ]
        );
        // Replacing a prefix by a narrower one works within one batch.
        fw.apply(&[
            remove("sshd", "198.51.100.0/24"),
            add("sshd", "198.51.100.0/25", Some(600)),
        ])
        .unwrap();
        assert!(fw
            .list("sshd")
            .unwrap()
            .iter()
            .any(|(n, _)| *n == net("198.51.100.0/25")));
    });
}

#[test]
fn nft_hundred_thousand_elements_in_one_batch() {
    Netns::new("nft-100k").run(|| hundred_thousand_in_one_batch(&nft("warden"), "nftables"));
}

#[test]
fn nft_packets_from_banned_hosts_are_blocked() {
    let lab = Lab::new();
    let fw = lab.server.run(|| {
        let fw = nft("warden");
        fw.setup_jail("sshd", &ssh_rule()).unwrap();
        fw
    });
    // The context stays in the server's namespace whichever thread uses it.
    packets_from_banned_hosts_are_blocked(&lab, &fw);
}

/// A set's elements as `nft -j list set` shows them: `addr` or `addr/len`, and the timeout in
/// seconds (`None`: no timeout).
///
/// Right after a large batch the kernel may still be resizing the set's hash table, and a dump
/// taken meanwhile can show one element twice and leave another out (the daemon's reconcile
/// takes its dump again for the same reason). So the listing is taken until two dumps in a row
/// agree and hold no element twice; a set that never settles fails the test.
fn nft_json_set(table: &str, set: &str) -> Vec<(String, Option<u64>)> {
    let mut previous: Option<Vec<(String, Option<u64>)>> = None;
    for _ in 0..20 {
        let now = nft_json_set_once(table, set);
        let distinct = now.windows(2).all(|w| w[0].0 != w[1].0);
        if distinct && previous.as_ref() == Some(&now) {
            return now;
        }
        previous = distinct.then_some(now);
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("the listing of {table} {set} never settled: {previous:?}");
}

fn nft_json_set_once(table: &str, set: &str) -> Vec<(String, Option<u64>)> {
    let out = nft_cli(&["-j", "list", "set", "inet", table, set]);
    let v: serde_json::Value = serde_json::from_str(&out).expect("nft -j output");
    let set = v["nftables"]
        .as_array()
        .expect("nftables array")
        .iter()
        .find_map(|o| o.get("set"))
        .expect("a set object");
    let value = |val: &serde_json::Value| -> String {
        match val {
            serde_json::Value::String(s) => s.clone(),
            other => {
                let p = &other["prefix"];
                format!("{}/{}", p["addr"].as_str().expect("prefix addr"), p["len"])
            }
        }
    };
    let mut out: Vec<(String, Option<u64>)> = set
        .get("elem")
        .and_then(|e| e.as_array())
        .map(|elems| {
            elems
                .iter()
                .map(|e| match e.get("elem") {
                    Some(inner) => (value(&inner["val"]), inner["timeout"].as_u64()),
                    None => (value(e), None),
                })
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// Every element of the jail's four sets, as nft lists them.
fn nft_json_jail(jail: &str) -> Vec<(String, Option<u64>)> {
    let mut all: Vec<(String, Option<u64>)> = ["addr4-", "net4-", "addr6-", "net6-"]
        .iter()
        .flat_map(|p| nft_json_set("warden", &format!("{p}{jail}")))
        .collect();
    all.sort();
    all
}

fn elems(list: &[(&str, Option<u64>)]) -> Vec<(String, Option<u64>)> {
    let mut v: Vec<(String, Option<u64>)> = list.iter().map(|(s, t)| (s.to_string(), *t)).collect();
    v.sort();
    v
}

/// The netlink batches (no libnftables after set-up) as nft itself sees their result: hosts and
/// prefixes of both families with timeouts, re-adding present elements, removing absent ones,
/// refused batches changing nothing, and 20,000 elements in one batch. The host's own ruleset
/// stays as it was.
fn netlink_batches_as_nft_sees_them(fw: &Nftables) {
    fw.setup_jail("sshd", &ssh_rule()).unwrap();
    fw.apply(&[
        add("sshd", "192.0.2.1/32", Some(600)),
        add("sshd", "203.0.113.5/32", None),
        add("sshd", "2001:db8::1/128", Some(900)),
        add("sshd", "198.51.100.0/24", Some(600)),
        add("sshd", "255.255.255.0/24", Some(300)),
        add("sshd", "2001:db8:1::/48", Some(1200)),
        add("sshd", "ffff:ffff:ffff:ffff::/64", None),
    ])
    .unwrap();
    assert_eq!(
        nft_json_jail("sshd"),
        elems(&[
            ("192.0.2.1", Some(600)),
            ("203.0.113.5", None),
            ("2001:db8::1", Some(900)),
            ("198.51.100.0/24", Some(600)),
            ("255.255.255.0/24", Some(300)),
            ("2001:db8:1::/48", Some(1200)),
            ("ffff:ffff:ffff:ffff::/64", None),
        ])
    );
    // The backend's own reading agrees.
    assert_eq!(fw.list("sshd").unwrap().len(), 7);

    // Adding present elements again is no error and gives them the new timeout.
    fw.apply(&[
        add("sshd", "192.0.2.1/32", Some(60)),
        add("sshd", "2001:db8::1/128", Some(60)),
        add("sshd", "198.51.100.0/24", Some(60)),
        add("sshd", "2001:db8:1::/48", Some(60)),
    ])
    .unwrap();
    let listed = nft_json_jail("sshd");
    for e in [
        "192.0.2.1",
        "2001:db8::1",
        "198.51.100.0/24",
        "2001:db8:1::/48",
    ] {
        assert!(
            listed.contains(&(e.to_string(), Some(60))),
            "{e} not re-timed: {listed:?}"
        );
    }

    // Removing absent elements is no error and does not stop the other removals.
    fw.apply(&[
        remove("sshd", "192.0.2.200/32"),
        remove("sshd", "2001:db8::99/128"),
        remove("sshd", "203.0.113.0/24"),
        remove("sshd", "2001:db8:2::/48"),
        remove("sshd", "203.0.113.5/32"),
        remove("sshd", "255.255.255.0/24"),
        remove("sshd", "ffff:ffff:ffff:ffff::/64"),
    ])
    .unwrap();
    assert_eq!(
        nft_json_jail("sshd"),
        elems(&[
            ("192.0.2.1", Some(60)),
            ("2001:db8::1", Some(60)),
            ("198.51.100.0/24", Some(60)),
            ("2001:db8:1::/48", Some(60)),
        ])
    );

    // A batch the kernel refuses (a jail without sets) changes nothing and says why.
    let err = fw
        .apply(&[
            add("sshd", "192.0.2.50/32", Some(600)),
            add("nope", "192.0.2.51/32", Some(600)),
        ])
        .unwrap_err()
        .to_string();
    eprintln!("refused batch: {err}");
    assert!(
        err.contains("addr4-nope") && err.contains("No such file or directory"),
        "{err}"
    );
    assert!(!nft_json_jail("sshd").iter().any(|(e, _)| e == "192.0.2.50"));

    fw.apply(&[
        remove("sshd", "192.0.2.1/32"),
        remove("sshd", "2001:db8::1/128"),
        remove("sshd", "198.51.100.0/24"),
        remove("sshd", "2001:db8:1::/48"),
    ])
    .unwrap();
    assert!(nft_json_jail("sshd").is_empty());

    // 20,000 addresses in one batch (several netlink messages), and out again.
    let nets = bulk(20_000);
    let ops: Vec<SetOp> = nets
        .iter()
        .map(|n| SetOp::Add {
            jail: "sshd".into(),
            net: *n,
            timeout: Some(Duration::from_secs(7200)),
        })
        .collect();
    fw.apply(&ops).unwrap();
    let listed = nft_json_set("warden", "addr4-sshd");
    assert_eq!(listed.len(), 20_000);
    assert!(listed.iter().all(|(_, t)| *t == Some(7200)));
    let mut want: Vec<String> = nets.iter().map(|n| n.addr().to_string()).collect();
    want.sort();
    let got: Vec<String> = listed.into_iter().map(|(e, _)| e).collect();
    assert_eq!(got, want);
    let ops: Vec<SetOp> = nets
        .iter()
        .map(|n| SetOp::Remove {
            jail: "sshd".into(),
            net: *n,
        })
        .collect();
    fw.apply(&ops).unwrap();
    assert!(nft_json_jail("sshd").is_empty());
}

#[test]
fn nft_netlink_batches_as_nft_sees_them() {
    let host_before = sh("nft", &["list", "tables"]);
    Netns::new("nft-netlink").run(|| netlink_batches_as_nft_sees_them(&nft("warden")));
    Netns::new("nft-netlink-old")
        .run(|| netlink_batches_as_nft_sees_them(&nft("warden").with_timeout_update(false)));
    assert_eq!(
        sh("nft", &["list", "tables"]),
        host_before,
        "the host's ruleset changed"
    );
}

/// Where the netlink send buffer cannot be enlarged (no `CAP_NET_ADMIN` in the initial user
/// namespace), a large batch still gets through, as several transactions.
#[test]
fn nft_large_batch_with_a_small_send_buffer() {
    Netns::new("nft-sndbuf").run(|| {
        let fw = nft("warden").with_send_buffer_limit(128 << 10);
        fw.setup_jail("sshd", &ssh_rule()).unwrap();
        let nets = bulk(20_000);
        let mut ops: Vec<SetOp> = nets
            .iter()
            .map(|n| SetOp::Add {
                jail: "sshd".into(),
                net: *n,
                timeout: Some(Duration::from_secs(600)),
            })
            .collect();
        ops.push(add("sshd", "2001:db8::/64", Some(600)));
        fw.apply(&ops).unwrap();
        assert_eq!(nft_json_set("warden", "addr4-sshd").len(), 20_000);
        assert_eq!(
            nft_json_set("warden", "net6-sshd"),
            [("2001:db8::/64".to_string(), Some(600))]
        );
        let removals: Vec<SetOp> = nets[..10_000]
            .iter()
            .map(|n| SetOp::Remove {
                jail: "sshd".into(),
                net: *n,
            })
            .collect();
        fw.apply(&removals).unwrap();
        assert_eq!(fw.list("sshd").unwrap().len(), 10_001);
    });
}

/// The backend made in one namespace keeps working there when used from a thread of another
/// (here the test's own, in the host's namespace): set-up creates its libnftables context in
/// the backend's namespace, and batches go through the socket opened there.
#[test]
fn nft_backend_stays_in_its_namespace() {
    let host_before = sh("nft", &["list", "tables"]);
    let ns = Netns::new("nft-home");
    let fw = ns.run(|| nft("warden"));
    fw.setup_jail("sshd", &ssh_rule()).unwrap();
    fw.apply(&[add("sshd", "192.0.2.1/32", Some(600))]).unwrap();
    fw.setup_jail("web", &JailRule::default()).unwrap();
    fw.teardown_jail("web").unwrap();
    assert_eq!(
        sh("nft", &["list", "tables"]),
        host_before,
        "the host's ruleset changed"
    );
    let listed = ns.run(|| nft_json_set("warden", "addr4-sshd"));
    assert_eq!(listed, [("192.0.2.1".to_string(), Some(600))]);
    fw.teardown().unwrap();
    assert!(!ns.run(|| nft_cli(&["list", "tables"])).contains("warden"));
    assert_eq!(
        sh("nft", &["list", "tables"]),
        host_before,
        "the host's ruleset changed"
    );
}

// ---------------------------------------------------------------------------------------------
// ipset + iptables

#[test]
fn ipset_setup_is_idempotent() {
    Netns::new("ipset-setup").run(|| {
        let fw = Ipset::new();
        fw.setup_jail("sshd", &ssh_rule()).unwrap();
        fw.apply(&[add("sshd", "192.0.2.1/32", Some(600))]).unwrap();
        fw.setup_jail("sshd", &ssh_rule()).unwrap();
        let rules = sh("iptables", &["-S", "INPUT"]);
        assert_eq!(rules.matches("f2b-sshd").count(), 1, "{rules}");
        assert!(rules.contains("--dports 22"), "{rules}");
        let rules6 = sh("ip6tables", &["-S", "INPUT"]);
        assert_eq!(rules6.matches("f2b-sshd6").count(), 1, "{rules6}");
        assert_eq!(fw.list("sshd").unwrap().len(), 1);

        // A changed rule replaces the old one.
        fw.setup_jail("sshd", &JailRule::default()).unwrap();
        let rules = sh("iptables", &["-S", "INPUT"]);
        assert_eq!(rules.matches("f2b-sshd").count(), 1, "{rules}");
        assert!(!rules.contains("multiport"), "{rules}");
        assert_eq!(fw.list("sshd").unwrap().len(), 1);

        fw.teardown_jail("sshd").unwrap();
        fw.teardown_jail("sshd").unwrap();
        assert!(!sh("iptables", &["-S"]).contains("f2b-sshd"));
        assert!(!sh("ipset", &["list", "-n"]).contains("f2b-sshd"));

        fw.setup_jail("a", &ssh_rule()).unwrap();
        fw.setup_jail("b", &ssh_rule()).unwrap();
        fw.teardown().unwrap();
        assert!(sh("ipset", &["list", "-n"]).trim().is_empty());
        assert!(!sh("iptables", &["-S"]).contains("warden:"));
    });
}

#[test]
fn ipset_batch_add_and_remove() {
    Netns::new("ipset-batch").run(|| batch_add_and_remove(&Ipset::new()));
}

#[test]
fn ipset_timeouts_expire_in_the_kernel() {
    Netns::new("ipset-expiry").run(|| timeouts_expire_in_the_kernel(&Ipset::new()));
}

#[test]
fn ipset_reconcile_adds_removes_and_keeps() {
    Netns::new("ipset-reconcile").run(|| reconcile_adds_removes_and_keeps(&Ipset::new()));
}

#[test]
fn ipset_hundred_thousand_elements_in_one_batch() {
    Netns::new("ipset-100k").run(|| hundred_thousand_in_one_batch(&Ipset::new(), "ipset"));
}

#[test]
fn ipset_packets_from_banned_hosts_are_blocked() {
    let lab = Lab::new();
    // iptables and ipset run as processes, so every call happens inside the server namespace.
    let fw = std::sync::Arc::new(Ipset::new());
    let f = fw.clone();
    lab.server
        .run(move || f.setup_jail("sshd", &ssh_rule()).unwrap());
    let server = &lab.server;
    let proxy = InNamespace { ns: server, fw };
    packets_from_banned_hosts_are_blocked(&lab, &proxy);
}

/// A [`Firewall`] whose every call runs on a thread inside `ns`.
struct InNamespace<'a> {
    ns: &'a Netns,
    fw: std::sync::Arc<Ipset>,
}

impl InNamespace<'_> {
    fn call<T: Send + 'static>(&self, f: impl FnOnce(&Ipset) -> T + Send + 'static) -> T {
        let fw = self.fw.clone();
        self.ns.run(move || f(&fw))
    }
}

type FwResult<T> = Result<T, warden_daemon::firewall::FirewallError>;

impl Firewall for InNamespace<'_> {
    fn setup_jail(&self, jail: &str, rule: &JailRule) -> FwResult<()> {
        let (jail, rule) = (jail.to_owned(), rule.clone());
        self.call(move |fw| fw.setup_jail(&jail, &rule))
    }
    fn apply(&self, ops: &[SetOp]) -> FwResult<warden_daemon::firewall::ApplyReport> {
        let ops = ops.to_vec();
        self.call(move |fw| fw.apply(&ops))
    }
    fn list(&self, jail: &str) -> FwResult<Vec<(IpNet, Option<Duration>)>> {
        let jail = jail.to_owned();
        self.call(move |fw| fw.list(&jail))
    }
    fn reconcile(
        &self,
        jail: &str,
        wanted: &[(IpNet, Option<Duration>)],
    ) -> FwResult<ReconcileReport> {
        let (jail, wanted) = (jail.to_owned(), wanted.to_vec());
        self.call(move |fw| fw.reconcile(&jail, &wanted))
    }
    fn teardown_jail(&self, jail: &str) -> FwResult<()> {
        let jail = jail.to_owned();
        self.call(move |fw| fw.teardown_jail(&jail))
    }
    fn teardown(&self) -> FwResult<()> {
        self.call(|fw| fw.teardown())
    }
}

// ---------------------------------------------------------------------------------------------
// Measurements (`cargo test --release --test firewall -- --ignored --nocapture`)

#[test]
#[ignore = "measurement; run with --release --ignored --nocapture"]
fn measure_nft_100k() {
    Netns::new("nft-measure").run(|| measure("nft", &nft("warden")));
}

#[test]
#[ignore = "measurement; run with --release --ignored --nocapture"]
fn measure_ipset_100k() {
    Netns::new("ipset-measure").run(|| measure("ipset", &Ipset::new()));
}

fn measure(name: &str, fw: &dyn Firewall) {
    fw.setup_jail("bulk", &JailRule::default()).unwrap();
    let nets = bulk(100_000);
    // Bans end at one moment; what is wanted later is the time left until then.
    let deadline = Instant::now() + Duration::from_secs(3600);
    let wanted = || -> Vec<(IpNet, Option<Duration>)> {
        let left = deadline - Instant::now();
        nets.iter().map(|n| (*n, Some(left))).collect()
    };
    let ops: Vec<SetOp> = wanted()
        .into_iter()
        .map(|(net, timeout)| SetOp::Add {
            jail: "bulk".into(),
            net,
            timeout,
        })
        .collect();

    let t = Instant::now();
    fw.apply(&ops).unwrap();
    eprintln!(
        "{name}: 100,000 adds, one batch, empty set: {:?}",
        t.elapsed()
    );

    let t = Instant::now();
    fw.apply(&[add("bulk", "192.0.2.1/32", Some(600))]).unwrap();
    eprintln!(
        "{name}: one more ban with 100,000 present: {:?}",
        t.elapsed()
    );

    // Single bans, one batch each, as the daemon applies a ban (200, on a 100,000-element set).
    let mut took: Vec<Duration> = (0..200u32)
        .map(|i| {
            let ip = IpAddr::V4(Ipv4Addr::from(0xcb00_7100 + (i % 256)));
            let op = SetOp::Add {
                jail: "bulk".into(),
                net: IpNet::from(ip),
                timeout: Some(Duration::from_secs(600)),
            };
            let t = Instant::now();
            fw.apply(&[op]).unwrap();
            t.elapsed()
        })
        .collect();
    took.sort();
    eprintln!(
        "{name}: single bans: median {:?}, p95 {:?}, max {:?} (200 batches)",
        took[100], took[189], took[199]
    );

    let t = Instant::now();
    let n = fw.list("bulk").unwrap().len();
    eprintln!("{name}: listing {n} elements: {:?}", t.elapsed());

    let t = Instant::now();
    let r = fw.reconcile("bulk", &wanted()).unwrap();
    eprintln!(
        "{name}: reconcile of 100,000 wanted, all present (restart): {:?} \
         ({} kept, {} refreshed, {} removed)",
        t.elapsed(),
        r.kept,
        r.refreshed,
        r.removed
    );

    let later: Vec<(IpNet, Option<Duration>)> = wanted()
        .into_iter()
        .map(|(n, t)| (n, t.map(|t| t + Duration::from_secs(600))))
        .collect();
    let t = Instant::now();
    let r = fw.reconcile("bulk", &later).unwrap();
    eprintln!(
        "{name}: reconcile re-timing 100,000 present: {:?} ({} refreshed)",
        t.elapsed(),
        r.refreshed
    );

    fw.teardown_jail("bulk").unwrap();
    fw.setup_jail("bulk", &JailRule::default()).unwrap();
    let t = Instant::now();
    let r = fw.reconcile("bulk", &wanted()).unwrap();
    eprintln!(
        "{name}: reconcile of 100,000 wanted into an empty set: {:?} ({} added)",
        t.elapsed(),
        r.added
    );
    assert_eq!(r.added, 100_000);
    fw.teardown_jail("bulk").unwrap();
}
