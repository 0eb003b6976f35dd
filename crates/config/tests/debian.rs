//! Debian's Fail2Ban 1.0.2 tree, when one is available (`$WARDEN_F2B_ROOT/etc/fail2ban`).

use std::path::PathBuf;

use crate::support::{copy_dir, load_ok, write};

fn debian_tree() -> Option<PathBuf> {
    let Some(root) = std::env::var_os("WARDEN_F2B_ROOT") else {
        eprintln!("skipped: set WARDEN_F2B_ROOT to an extracted fail2ban 1.0.2 package (with etc/fail2ban)");
        return None;
    };
    let dir = PathBuf::from(root).join("etc/fail2ban");
    if !dir.join("jail.conf").is_file() {
        eprintln!("skipped: {} has no jail.conf", dir.display());
        return None;
    }
    Some(dir)
}

#[test]
fn debian_tree_loads_with_sshd_enabled() {
    let Some(src) = debian_tree() else { return };
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&src, dir.path());
    // auth.log need not exist: logpath globs are the daemon's business.
    let config = load_ok(dir.path());
    assert_eq!(config.jails.len(), 1);
    let sshd = &config.jails[0];
    assert_eq!(sshd.name, "sshd");
    assert_eq!(sshd.logpath, ["/var/log/auth.log"]);
    assert_eq!(sshd.backend, "auto");
    assert_eq!(
        config.server.socket,
        Some(PathBuf::from("/var/run/fail2ban/fail2ban.sock"))
    );
    assert!(
        sshd.filter.failregex.len() > 10,
        "{:?}",
        sshd.filter.failregex
    );
    for (re, _) in &sshd.filter.failregex {
        assert!(!re.contains("%("), "{re}");
        assert!(!re.contains("<mdre"), "{re}");
    }
    assert_eq!(sshd.filter.maxlines, 1);
    assert!(sshd
        .filter
        .prefregex
        .as_deref()
        .unwrap()
        .contains("<F-CONTENT>"));
    let act = &sshd.actions[0];
    assert_eq!(act.name, "iptables-multiport");
    assert_eq!(
        act.render("actionban", "inet4").unwrap(),
        "iptables -w -I f2b-sshd 1 -s <ip> -j REJECT --reject-with icmp-port-unreachable"
    );
    assert_eq!(
        act.render("actionban", "inet6").unwrap(),
        "ip6tables -w -I f2b-sshd 1 -s <ip> -j REJECT --reject-with icmp6-port-unreachable"
    );
    let start = act.render("actionstart", "inet4").unwrap();
    assert!(
        start.contains("-m multiport --dports ssh -j f2b-sshd"),
        "{start}"
    );
    assert!(start.contains("iptables -w -I INPUT"), "{start}");
}

#[test]
fn debian_tree_with_every_jail_enabled_resolves_them_all() {
    let Some(src) = debian_tree() else { return };
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&src, dir.path());
    write(
        dir.path(),
        "jail.d/zz-all.local",
        "[DEFAULT]\nenabled = true\n",
    );
    let result = warden_config::load(dir.path());
    // Some Debian jails have no log path on Debian (journal-only services) and fail that
    // check; everything else must resolve.
    let errors = result.err().unwrap_or_default();
    for e in &errors {
        assert!(e.key.as_deref() == Some("logpath"), "unexpected error: {e}");
    }
}
