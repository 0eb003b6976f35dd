//! The shipped `config/` tree on its own.

use std::path::PathBuf;

use crate::support::{load_ok, shipped_tree};

#[test]
fn shipped_tree_loads_with_sshd_enabled_and_no_warnings() {
    let config = load_ok(&shipped_tree());
    assert!(config.warnings.is_empty(), "{:#?}", config.warnings);
    assert_eq!(
        config.server.socket,
        Some(PathBuf::from("/run/warden/warden.sock"))
    );
    assert_eq!(
        config.server.pidfile,
        Some(PathBuf::from("/run/warden/warden.pid"))
    );
    assert_eq!(
        config.server.dbfile,
        Some(PathBuf::from("/var/lib/warden/warden.sqlite3"))
    );
    assert_eq!(config.server.loglevel.as_deref(), Some("INFO"));
    assert_eq!(config.server.logtarget.as_deref(), Some("STDERR"));

    assert_eq!(config.jails.len(), 1);
    let sshd = &config.jails[0];
    assert_eq!(sshd.name, "sshd");
    assert_eq!(
        (sshd.bantime, sshd.findtime, sshd.maxretry, sshd.maxmatches),
        (600, 600, 5, 5)
    );
    assert_eq!(sshd.logpath, ["/var/log/auth.log"]);
    assert_eq!(sshd.filter.name, "sshd");
    assert_eq!(sshd.filter.maxlines, 1);
    assert_eq!(sshd.filter.datepattern.as_deref(), Some("{^LN-BEG}"));
    assert_eq!(sshd.filter.failregex.len(), 6);
    for (re, _) in &sshd.filter.failregex {
        assert!(re.starts_with(r"^\s*(?:\S+\s+)?"), "{re}");
        assert!(re.contains("<HOST>"), "{re}");
        assert!(!re.contains("%("), "{re}");
        assert!(!re.contains("<_"), "unresolved filter tag in {re}");
    }
    assert_eq!(sshd.options["port"], "ssh");

    // The default banaction is nftables (carried out in-process by the daemon); its fallback
    // commands still resolve completely.
    let act = &sshd.actions[0];
    assert_eq!(act.name, "nftables");
    assert_eq!(act.properties["port"], "ssh");
    assert_eq!(act.properties["type"], "multiport");
    assert_eq!(
        act.render("actionban", "inet6").unwrap(),
        "nft add element inet warden-commands addr6-sshd '{' <ip> '}'"
    );
}

#[test]
fn aggressive_mode_adds_regexes() {
    let dir = crate::support::copy_of_shipped();
    crate::support::write(
        dir.path(),
        "jail.d/sshd.local",
        "[sshd]\nmode = aggressive\n",
    );
    let config = load_ok(dir.path());
    assert_eq!(config.jails[0].filter.failregex.len(), 9);
}

#[test]
fn systemd_backend_needs_no_logpath_and_switches_logtype() {
    let dir = crate::support::copy_of_shipped();
    crate::support::write(
        dir.path(),
        "jail.local",
        "[sshd]\nbackend = systemd\nlogpath =\n",
    );
    let config = load_ok(dir.path());
    let sshd = &config.jails[0];
    assert!(sshd.logpath.is_empty());
    assert_eq!(sshd.filter.options["logtype"], "journal");
    assert_eq!(
        sshd.filter.journalmatch.as_deref(),
        Some("_SYSTEMD_UNIT=sshd.service + _COMM=sshd")
    );
}
