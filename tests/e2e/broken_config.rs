//! A broken configuration is reported completely and never half-starts the server.

use crate::support::netns::{require_root_and_tools, Netns};
use crate::support::{warden_bin, Workspace};
use std::process::Command;

const BROKEN_JAILS: &str = "\
[bad-filter]
enabled = true
filter = no-such-filter
logpath = /var/log/syslog

[bad-bantime]
enabled = true
filter = haproxy-noserv
bantime = ten minutes
logpath = /var/log/syslog

[bad-action]
enabled = true
filter = haproxy-noserv
action = iptables-allports[name=web, port=\"80,443\"
logpath = /var/log/syslog
";

fn check(ws: &Workspace) -> (i32, String) {
    let out = Command::new(warden_bin())
        .args(["check", "--config"])
        .arg(ws.path("config"))
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn check_reports_every_error_with_file_line_and_key() {
    let ws = Workspace::with_default_config();
    ws.write("config/jail.d/broken.conf", BROKEN_JAILS);
    let (code, err) = check(&ws);
    assert_ne!(code, 0, "a broken config must not check:\n{err}");
    let file = ws.path("config/jail.d/broken.conf").display().to_string();
    for (line, key, what) in [
        (3, "filter", "no-such-filter"),
        (9, "bantime", "ten minutes"),
        (15, "action", ""),
    ] {
        let place = format!("{file}:{line}");
        let hit = err.lines().find(|l| l.contains(&place) && l.contains(key));
        assert!(
            hit.is_some(),
            "no error naming {place} and key {key}:\n{err}"
        );
        assert!(
            hit.unwrap().contains(what),
            "error for {key} does not quote {what:?}:\n{err}"
        );
    }
}

#[test]
fn check_accepts_the_shipped_tree_and_the_tutorial_files() {
    let ws = Workspace::with_default_config();
    let (code, err) = check(&ws);
    assert_eq!(code, 0, "{err}");
    // The tutorial's filter verbatim: valid, but the likely typo is pointed out.
    ws.write(
        "config/filter.d/haproxy-noserv.conf",
        "\n[Definition]\n\nfailregex = ^.*haproxy\\[\\d+\\]: <HOST>:\\d+ \\[\\.*\\] http_fe http_fe/<NOSRV> .*\n\nignoreregex =\n",
    );
    ws.write(
        "config/jail.d/haproxy.conf",
        "[haproxy-noserv]\nenabled = true\nfilter = haproxy-noserv\naction = iptables-allports sendmail-whois[name=Haproxy-noserv, dest=mail@mydomain.com]\nbantime = 72000\nmaxretry = 4\nfindtime = 6000\nlogpath = /var/log/haproxy.log\nignoreip = 127.0.0.0/8 10.10.10.1/16\n",
    );
    let (code, err) = check(&ws);
    assert_eq!(code, 0, "{err}");
    let warning = err
        .lines()
        .find(|l| l.contains("WARNING") && l.contains("failregex"))
        .unwrap_or_else(|| panic!("no typo warning:\n{err}"));
    assert!(
        warning.contains("\\[.*\\]"),
        "warning does not suggest \\[.*\\]: {warning}"
    );
    assert!(
        warning.contains("haproxy-noserv.conf:4"),
        "warning does not name the file and line: {warning}"
    );
}

#[test]
fn server_refuses_a_broken_config_and_leaves_the_firewall_alone() {
    require_root_and_tools();
    let ns = Netns::new("brk");
    let ws = Workspace::with_default_config();
    // A valid jail whose actionstart would add a chain, next to the broken ones.
    ws.write("haproxy.log", "");
    ws.write(
        "config/jail.d/good.conf",
        &format!(
            "[good]\nenabled = true\nfilter = haproxy-noserv\naction = iptables-allports\nlogpath = {}\n",
            ws.path("haproxy.log").display()
        ),
    );
    ws.write("config/jail.d/broken.conf", BROKEN_JAILS);
    let before = ns.exec(&["iptables-save"]);
    let out = ns.try_exec(&[
        warden_bin(),
        "server",
        "-f",
        "--config",
        &ws.path("config").display().to_string(),
        "--socket",
        &ws.path("warden.sock").display().to_string(),
        "--pidfile",
        &ws.path("warden.pid").display().to_string(),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "server started on a broken config:\n{err}"
    );
    assert!(
        err.contains("broken.conf:3"),
        "server error does not name the problem:\n{err}"
    );
    assert_eq!(ns.exec(&["iptables-save"]), before, "the firewall changed");
    assert!(!ws.path("warden.sock").exists() && !ws.path("warden.pid").exists());
}
