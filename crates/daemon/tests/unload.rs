//! libnftables is loaded only while a context needs it, and the firewall keeps working after
//! the start-up pages are released. Alone in its test binary: it looks at the process's own
//! mappings, which other tests running in parallel would change. Needs root (it creates a
//! network namespace).

use ipnet::IpNet;
use std::os::fd::AsRawFd;
use std::process::Command;
use std::time::Duration;
use warden_daemon::firewall::{Firewall, JailRule, Nftables, SetOp};

fn libnftables_mapped() -> bool {
    let maps = std::fs::read_to_string("/proc/self/maps").expect("maps");
    maps.lines().any(|l| l.contains("libnftables.so"))
}

fn ip(args: &[&str]) {
    let ok = Command::new("ip")
        .args(args)
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "ip {}", args.join(" "));
}

struct Netns(String);

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

#[test]
fn libnftables_is_unloaded_when_idle_and_bans_work_after_a_release() {
    // SAFETY: geteuid has no preconditions.
    assert_eq!(unsafe { libc::geteuid() }, 0, "needs root");
    let ns = Netns(format!("wunload-{}", std::process::id()));
    ip(&["netns", "add", &ns.0]);
    let path = format!("/var/run/netns/{}", ns.0);
    std::thread::spawn(move || {
        let file = std::fs::File::open(&path).expect("namespace file");
        // SAFETY: setns on a namespace descriptor affects only this thread.
        let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(rc, 0, "setns: {}", std::io::Error::last_os_error());

        let fw = Nftables::new("warden").expect("libnftables");
        assert!(libnftables_mapped(), "loaded while a context exists");
        fw.setup_jail("sshd", &JailRule::default()).expect("setup");
        assert!(!libnftables_mapped(), "unloaded once the jail is set up");

        let released = warden_daemon::memory::release_startup_pages();
        assert!(released > 0, "some start-up pages were resident");
        let net: IpNet = "192.0.2.7/32".parse().unwrap();
        let ops = [SetOp::Add {
            jail: "sshd".into(),
            net,
            timeout: Some(Duration::from_secs(600)),
        }];
        fw.apply(&ops).expect("ban after the release");
        let listed = fw.list("sshd").expect("list");
        assert!(listed.iter().any(|(n, _)| *n == net), "{listed:?}");
        assert!(!libnftables_mapped(), "bans do not need libnftables");

        // Set-up again (a reload) and removal load it again, and unload it after.
        fw.setup_jail("sshd", &JailRule::default())
            .expect("setup again");
        fw.teardown_jail("sshd").expect("teardown jail");
        fw.teardown().expect("teardown");
        assert!(!libnftables_mapped(), "unloaded after the teardown");
        assert!(fw.list("sshd").is_err(), "the jail's sets are gone");
    })
    .join()
    .unwrap_or_else(|p| std::panic::resume_unwind(p));
}
