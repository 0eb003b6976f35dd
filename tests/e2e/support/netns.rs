//! Network namespaces for tests: created with `ip netns add`, joined by veth pairs, and deleted
//! (with every firewall table inside them) when dropped, also when the test fails.

use std::net::{SocketAddr, TcpListener};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// Panic with a clear message unless the tests can create namespaces and firewall rules.
pub fn require_root_and_tools() {
    // SAFETY: geteuid has no preconditions.
    let uid = unsafe { libc::geteuid() };
    assert_eq!(
        uid, 0,
        "the end-to-end network tests create network namespaces and firewall rules: run them as root (.ci/run does)"
    );
    for tool in ["ip", "iptables", "iptables-save"] {
        let ok = Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false);
        assert!(
            ok,
            "{tool} is missing: apt-get install iproute2 iptables (see .ci/run)"
        );
    }
}

/// A network namespace owned by the test.
pub struct Netns {
    /// Its name under /var/run/netns.
    pub name: String,
}

fn run(cmd: &str, args: &[&str]) -> Output {
    let out = Command::new(cmd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{cmd}: {e}"));
    assert!(
        out.status.success(),
        "{cmd} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

impl Netns {
    /// Create a namespace with a unique name based on `role`, loopback up.
    pub fn new(role: &str) -> Netns {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let name = format!("wt{}-{}-{role}", std::process::id(), n);
        run("ip", &["netns", "add", &name]);
        let ns = Netns { name };
        ns.exec(&["ip", "link", "set", "lo", "up"]);
        ns
    }

    /// Run a command inside, requiring success.
    pub fn exec(&self, args: &[&str]) -> String {
        let mut full = vec!["netns", "exec", &self.name];
        full.extend_from_slice(args);
        String::from_utf8(run("ip", &full).stdout).unwrap()
    }

    /// Run a command inside, returning its output whatever the status.
    pub fn try_exec(&self, args: &[&str]) -> Output {
        Command::new("ip")
            .args(["netns", "exec", &self.name])
            .args(args)
            .output()
            .unwrap()
    }

    /// Run `f` on a thread that has entered this namespace (sockets it creates live here).
    pub fn within<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> T {
        let path = format!("/var/run/netns/{}", self.name);
        std::thread::spawn(move || {
            let file = std::fs::File::open(&path).unwrap();
            use std::os::fd::AsRawFd;
            // SAFETY: setns on a namespace file descriptor; only this thread changes namespace.
            let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
            assert_eq!(
                rc,
                0,
                "setns into {path}: {}",
                std::io::Error::last_os_error()
            );
            f()
        })
        .join()
        .unwrap()
    }

    /// Listen on `addr` inside the namespace, accepting (and closing) connections forever.
    pub fn tcp_service(&self, addr: SocketAddr) {
        let listener = self.within(move || TcpListener::bind(addr).unwrap());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                drop(conn);
            }
        });
    }

    /// Try a TCP connection from `from` (an address of this namespace) to `to`.
    pub fn can_connect(&self, from: std::net::IpAddr, to: SocketAddr) -> bool {
        self.within(move || {
            let sock = socket2::Socket::new(
                socket2::Domain::for_address(to),
                socket2::Type::STREAM,
                None,
            )
            .unwrap();
            sock.bind(&SocketAddr::new(from, 0).into()).unwrap();
            sock.connect_timeout(&to.into(), Duration::from_millis(1500))
                .is_ok()
        })
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        // Deleting the namespace deletes its interfaces and its iptables/nftables tables.
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
    }
}

/// Join `a` and `b` with a veth pair and give each side its addresses (CIDR notation).
pub fn link(a: &Netns, a_addrs: &[&str], b: &Netns, b_addrs: &[&str]) {
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let va = format!("wa{}x{n}", std::process::id() % 100000);
    let vb = format!("wb{}x{n}", std::process::id() % 100000);
    run(
        "ip",
        &[
            "link", "add", &va, "netns", &a.name, "type", "veth", "peer", "name", &vb, "netns",
            &b.name,
        ],
    );
    for (ns, dev, addrs) in [(a, &va, a_addrs), (b, &vb, b_addrs)] {
        for addr in addrs {
            ns.exec(&["ip", "addr", "add", addr, "dev", dev]);
        }
        ns.exec(&["ip", "link", "set", dev, "up"]);
    }
}
