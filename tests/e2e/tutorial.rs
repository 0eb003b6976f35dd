//! The tutorial's HAProxy story, end to end: its jail file and filter, iptables-allports and
//! sendmail-whois, in a server namespace attacked from a second namespace over a veth pair.

use crate::support::netns::{link, require_root_and_tools, Netns};
use crate::support::{fail2ban_root, haproxy_nosrv_line, wait_for, Daemon, Workspace};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

/// The tutorial's `jail.d/haproxy.conf`, with only bantime shortened and logpath pointed into
/// the test's workspace.
fn tutorial_jail(logpath: &str, bantime: u32) -> String {
    format!(
        "[haproxy-noserv]\n\
         enabled = true\n\
         filter = haproxy-noserv\n\
         action = iptables-allports sendmail-whois[name=Haproxy-noserv, dest=mail@mydomain.com]\n\
         bantime = {bantime}\n\
         maxretry = 4\n\
         findtime = 6000\n\
         logpath = {logpath}\n\
         ignoreip = 127.0.0.0/8 10.10.10.1/16\n"
    )
}

/// The tutorial's filter with `\[\.*\]` corrected to `\[.*\]` (the verbatim one matches no
/// line that carries a syslog date; see the filter crate's tests).
const TUTORIAL_FILTER_FIXED: &str = "\n[Definition]\n\nfailregex = ^.*haproxy\\[\\d+\\]: <HOST>:\\d+ \\[.*\\] http_fe http_fe/<NOSRV> .*\n\nignoreregex =\n";

const SERVER: &str = "192.0.2.1";
const ATTACKER: &str = "192.0.2.66";
const OTHER: &str = "192.0.2.77";
/// Inside the tutorial's `10.10.10.1/16`, which means 10.10.0.0/16.
const WHITELISTED: &str = "10.10.0.5";

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn chain_rules(ns: &Netns) -> String {
    String::from_utf8_lossy(
        &ns.try_exec(&["iptables", "-w", "-S", "f2b-haproxy-noserv"])
            .stdout,
    )
    .into_owned()
}

#[test]
fn tutorial_haproxy_jail_bans_through_iptables_and_mails() {
    require_root_and_tools();
    let server = Netns::new("srv");
    let attacker = Netns::new("att");
    link(
        &server,
        &["192.0.2.1/24", "10.10.0.1/16"],
        &attacker,
        &["192.0.2.66/24", "192.0.2.77/24", "10.10.0.5/16"],
    );
    let ports = [8080u16, 2222];
    for port in ports {
        server.tcp_service(SocketAddr::new(ip("0.0.0.0"), port));
    }
    let target = |port: u16| SocketAddr::new(ip(SERVER), port);
    let target_10 = |port: u16| SocketAddr::new(ip("10.10.0.1"), port);
    for port in ports {
        assert!(
            attacker.can_connect(ip(ATTACKER), target(port)),
            "service reachable before any ban"
        );
    }

    let ws = Workspace::with_default_config();
    let log = ws.path("haproxy.log");
    ws.write("haproxy.log", "");
    ws.write(
        "config/jail.d/haproxy.conf",
        &tutorial_jail(&log.display().to_string(), 8),
    );
    ws.write("config/filter.d/haproxy-noserv.conf", TUTORIAL_FILTER_FIXED);
    ws.recording_sendmail();
    // No network here: a whois that hangs must neither delay nor prevent the ban.
    ws.script("whois", "sleep 600");
    let daemon = Daemon::start(&ws, Some(&server.name));

    // Three failures: counted, no ban yet.
    ws.append(
        "haproxy.log",
        &(0..3)
            .map(|i| haproxy_nosrv_line(ATTACKER, 40000 + i))
            .collect::<Vec<_>>(),
    );
    wait_for("3 failures counted", Duration::from_secs(10), || {
        daemon.jail_status("haproxy-noserv").total_failed == 3
    });
    assert_eq!(daemon.jail_status("haproxy-noserv").currently_banned, 0);
    assert!(attacker.can_connect(ip(ATTACKER), target(8080)));

    // The 4th within findtime bans the attacker on every port.
    let written = Instant::now();
    ws.append("haproxy.log", &[haproxy_nosrv_line(ATTACKER, 40003)]);
    wait_for(
        "the ban rule in f2b-haproxy-noserv",
        Duration::from_secs(10),
        || chain_rules(&server).contains("-s 192.0.2.66/32 -j REJECT"),
    );
    eprintln!(
        "ban rule present {:?} after the 4th line was written",
        written.elapsed()
    );
    for port in ports {
        assert!(
            !attacker.can_connect(ip(ATTACKER), target(port)),
            "attacker still reaches port {port}"
        );
    }

    // The whitelisted host sends the same lines and keeps its access.
    ws.append(
        "haproxy.log",
        &(0..4)
            .map(|i| haproxy_nosrv_line(WHITELISTED, 41000 + i))
            .collect::<Vec<_>>(),
    );
    // Another host fails twice: counted, not banned.
    ws.append(
        "haproxy.log",
        &(0..2)
            .map(|i| haproxy_nosrv_line(OTHER, 42000 + i))
            .collect::<Vec<_>>(),
    );
    wait_for("6 failures counted", Duration::from_secs(10), || {
        daemon.jail_status("haproxy-noserv").total_failed == 6
    });
    wait_for(
        "whitelisted lines processed",
        Duration::from_secs(10),
        || daemon.log_text().matches("Ignore 10.10.0.5 by ip").count() == 4,
    );
    for port in ports {
        assert!(
            attacker.can_connect(ip(WHITELISTED), target_10(port)),
            "whitelisted host lost port {port}"
        );
        assert!(
            attacker.can_connect(ip(OTHER), target(port)),
            "{OTHER} banned below maxretry"
        );
    }

    // Fail2Ban's status output, byte for byte (TAB after each colon).
    let logpath = log.display().to_string();
    insta::assert_snapshot!("server_status", daemon.ok(&["status"]));
    insta::assert_snapshot!(
        "jail_status",
        daemon
            .ok(&["status", "haproxy-noserv"])
            .replace(&logpath, "/var/log/haproxy.log")
    );

    // After bantime the attacker is back and the chain no longer holds its rule.
    wait_for("unban after bantime", Duration::from_secs(20), || {
        !chain_rules(&server).contains("192.0.2.66")
    });
    for port in ports {
        assert!(
            attacker.can_connect(ip(ATTACKER), target(port)),
            "attacker still blocked on {port} after bantime"
        );
    }
    let st = daemon.jail_status("haproxy-noserv");
    assert_eq!((st.currently_banned, st.total_banned), (0, 1));

    // The mail (sent once whois gave up) names the jail and the address.
    wait_for("the ban mail", Duration::from_secs(30), || {
        ws.mails().iter().any(|m| m.contains("banned 192.0.2.66"))
    });
    let mail = ws
        .mails()
        .into_iter()
        .find(|m| m.contains("banned 192.0.2.66"))
        .unwrap();
    assert!(
        mail.contains("Haproxy-noserv"),
        "mail does not name the jail:\n{mail}"
    );
    assert!(
        mail.contains("mail@mydomain.com"),
        "mail not addressed as configured:\n{mail}"
    );

    // Stopping removes the chain and its jump.
    let log_text = daemon.stop();
    let rules = server.exec(&["iptables", "-w", "-S"]);
    assert!(
        !rules.contains("f2b-haproxy-noserv"),
        "chain left behind:\n{rules}\n{log_text}"
    );
}

/// The same story on Debian's own `/etc/fail2ban` tree, unchanged, with the tutorial's two files
/// dropped in: Fail2Ban's `iptables-allports` (through its `iptables.conf`) does the banning.
/// Debian's `sendmail-whois` calls `/usr/sbin/sendmail`, which does not exist here: that action
/// fails, and the ban must happen all the same.
#[test]
fn tutorial_files_in_debians_fail2ban_tree() {
    let Some(root) = fail2ban_root() else {
        eprintln!(
            "skipped: WARDEN_F2B_ROOT is not set (scripts/test sets it via scripts/fetch-fail2ban)"
        );
        return;
    };
    require_root_and_tools();
    let server = Netns::new("dsrv");
    let attacker = Netns::new("datt");
    link(&server, &["192.0.2.1/24"], &attacker, &["192.0.2.66/24"]);
    server.tcp_service(SocketAddr::new(ip("0.0.0.0"), 8080));
    let target = SocketAddr::new(ip(SERVER), 8080);
    assert!(attacker.can_connect(ip(ATTACKER), target));

    let ws = Workspace::with_tree(&root.join("etc/fail2ban"));
    ws.write("haproxy.log", "");
    ws.write(
        "config/jail.d/haproxy.conf",
        &tutorial_jail(&ws.path("haproxy.log").display().to_string(), 600),
    );
    ws.write("config/filter.d/haproxy-noserv.conf", TUTORIAL_FILTER_FIXED);
    let daemon = Daemon::start(&ws, Some(&server.name));
    // Debian enables sshd in jail.d/defaults-debian.conf; both jails run.
    assert_eq!(
        daemon.ok(&["status"]),
        "Status\n|- Number of jail:\t2\n`- Jail list:\thaproxy-noserv, sshd\n"
    );

    ws.append(
        "haproxy.log",
        &(0..4)
            .map(|i| haproxy_nosrv_line(ATTACKER, 43000 + i))
            .collect::<Vec<_>>(),
    );
    wait_for(
        "the ban rule from Fail2Ban's own action",
        Duration::from_secs(10),
        || chain_rules(&server).contains("-s 192.0.2.66/32 -j REJECT"),
    );
    assert!(!attacker.can_connect(ip(ATTACKER), target));
    assert_eq!(
        daemon.jail_status("haproxy-noserv").banned,
        vec![ATTACKER.to_string()]
    );

    let log = daemon.stop();
    let rules = server.exec(&["iptables", "-w", "-S"]);
    assert!(
        !rules.contains("f2b-haproxy-noserv"),
        "chain left behind:\n{rules}\n{log}"
    );
}

/// Fail2Ban's `iptables-ipset-proto6-allports` from Debian's tree is carried out on ipset sets
/// (one set per jail and family, one iptables rule each) in batches, not a rule per address.
#[test]
fn debian_ipset_action_runs_on_kernel_sets() {
    let Some(root) = fail2ban_root() else {
        eprintln!(
            "skipped: WARDEN_F2B_ROOT is not set (scripts/test sets it via scripts/fetch-fail2ban)"
        );
        return;
    };
    require_root_and_tools();
    let server = Netns::new("ipset");
    let ws = Workspace::with_tree(&root.join("etc/fail2ban"));
    ws.write("haproxy.log", "");
    ws.write(
        "config/jail.d/zz.local",
        &format!(
            "[sshd]\nenabled = false\n[haproxy-noserv]\nenabled = true\nfilter = haproxy-noserv\n\
             banaction = iptables-ipset-proto6-allports\naction = %(action_)s\nlogpath = {}\n",
            ws.path("haproxy.log").display()
        ),
    );
    ws.write("config/filter.d/haproxy-noserv.conf", TUTORIAL_FILTER_FIXED);
    let daemon = Daemon::start(&ws, Some(&server.name));
    assert_eq!(
        daemon.ok(&[
            "set",
            "haproxy-noserv",
            "banip",
            "192.0.2.66",
            "192.0.2.67",
            "2001:db8::66"
        ]),
        "3\n"
    );
    wait_for("the ipset sets", Duration::from_secs(10), || {
        let v4 = server.try_exec(&["ipset", "list", "f2b-haproxy-noserv"]);
        let v6 = server.try_exec(&["ipset", "list", "f2b-haproxy-noserv6"]);
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&v4.stdout),
            String::from_utf8_lossy(&v6.stdout)
        );
        text.contains("192.0.2.66") && text.contains("192.0.2.67") && text.contains("2001:db8::66")
    });
    let rules = server.exec(&["iptables", "-w", "-S", "INPUT"]);
    assert_eq!(
        rules.matches("--match-set f2b-haproxy-noserv src").count(),
        1,
        "{rules}"
    );
    daemon.stop();
    assert!(!server
        .exec(&["iptables", "-w", "-S"])
        .contains("f2b-haproxy-noserv"));
}
