//! The user story: the tutorial's two files, exactly as printed, dropped into our tree.

use std::path::Path;

use warden_config::{ignored_by, IgnoreEntry, JailConfig};

use crate::support::{copy_of_shipped, load_ok, write};

/// `/etc/fail2ban/filter.d/haproxy-noserv.conf` as printed in the tutorial (blank lines included).
const TUTORIAL_FILTER: &str = "\n[Definition]\n\nfailregex = ^.*haproxy\\[\\d+\\]: <HOST>:\\d+ \\[\\.*\\] http_fe http_fe/<NOSRV> .*\n\nignoreregex =\n";

/// `/etc/fail2ban/jail.d/haproxy.conf` as printed in the tutorial.
const TUTORIAL_JAIL: &str = "[haproxy-noserv]
enabled = true
filter = haproxy-noserv
action = iptables-allports sendmail-whois[name=Haproxy-noserv, dest=mail@mydomain.com]
bantime = 72000
maxretry = 4
findtime = 6000
logpath = /var/log/haproxy.log
ignoreip = 127.0.0.0/8 10.10.10.1/16
";

fn tutorial_jail(root: &Path) -> JailConfig {
    let config = load_ok(root);
    let names: Vec<&str> = config.jails.iter().map(|j| j.name.as_str()).collect();
    assert_eq!(names, ["haproxy-noserv", "sshd"], "enabled jails, sorted");
    config.jails.into_iter().next().unwrap()
}

#[test]
fn tutorial_files_load_with_the_values_the_user_wrote() {
    let dir = copy_of_shipped();
    write(dir.path(), "filter.d/haproxy-noserv.conf", TUTORIAL_FILTER);
    write(dir.path(), "jail.d/haproxy.conf", TUTORIAL_JAIL);
    let jail = tutorial_jail(dir.path());

    assert_eq!(jail.bantime, 72000);
    assert_eq!(jail.findtime, 6000);
    assert_eq!(jail.maxretry, 4);
    assert_eq!(
        jail.maxmatches, 4,
        "maxmatches = %(maxretry)s follows the jail's maxretry"
    );
    assert_eq!(jail.logpath, ["/var/log/haproxy.log"]);
    assert_eq!(jail.backend, "auto");
    assert_eq!(jail.usedns, "warn");
    assert!(jail.ignoreself);
    assert_eq!(
        jail.ignoreip,
        [
            IgnoreEntry::Net("127.0.0.0/8".parse().unwrap()),
            IgnoreEntry::Net("10.10.0.0/16".parse().unwrap()),
        ]
    );
    assert!(ignored_by(&jail.ignoreip, "10.10.200.3".parse().unwrap()));
    assert!(!ignored_by(&jail.ignoreip, "10.11.0.1".parse().unwrap()));

    let loc = &jail.location;
    assert!(loc.file.ends_with("jail.d/haproxy.conf"), "{loc:?}");
    assert_eq!(loc.line, Some(2));

    // The user's own filter wins over the shipped one, regex verbatim (tags left for the
    // filter crate), with the line it came from.
    assert_eq!(jail.filter.name, "haproxy-noserv");
    assert_eq!(jail.filter.failregex.len(), 1);
    let (regex, where_) = &jail.filter.failregex[0];
    assert_eq!(
        regex,
        r"^.*haproxy\[\d+\]: <HOST>:\d+ \[\.*\] http_fe http_fe/<NOSRV> .*"
    );
    assert!(where_.file.ends_with("filter.d/haproxy-noserv.conf"));
    assert_eq!(where_.line, Some(4));
    assert!(jail.filter.ignoreregex.is_empty());
    assert_eq!(jail.filter.maxlines, 1);
}

#[test]
fn tutorial_actions_render_real_commands() {
    let dir = copy_of_shipped();
    write(dir.path(), "filter.d/haproxy-noserv.conf", TUTORIAL_FILTER);
    write(dir.path(), "jail.d/haproxy.conf", TUTORIAL_JAIL);
    let jail = tutorial_jail(dir.path());
    assert_eq!(jail.actions.len(), 2);

    let ipt = &jail.actions[0];
    assert_eq!(ipt.name, "iptables-allports");
    assert!(ipt.file.ends_with("action.d/iptables-allports.conf"));
    assert_eq!(ipt.properties["name"], "haproxy-noserv");
    assert_eq!(
        ipt.render("actionban", "inet4").unwrap(),
        "iptables -w -I f2b-haproxy-noserv 1 -s <ip> -j REJECT --reject-with icmp-port-unreachable"
    );
    assert_eq!(
        ipt.render("actionban", "inet6").unwrap(),
        "ip6tables -w -I f2b-haproxy-noserv 1 -s <ip> -j REJECT --reject-with icmp6-port-unreachable"
    );
    assert_eq!(
        ipt.render("actionunban", "inet4").unwrap(),
        "iptables -w -D f2b-haproxy-noserv -s <ip> -j REJECT --reject-with icmp-port-unreachable"
    );
    let start = ipt.render("actionstart", "inet4").unwrap();
    assert_eq!(
        start,
        "iptables -w -N f2b-haproxy-noserv 2>/dev/null || true\n\
         iptables -w -C f2b-haproxy-noserv -j RETURN 2>/dev/null || iptables -w -A f2b-haproxy-noserv -j RETURN\n\
         for proto in $(echo 'tcp' | tr ',' ' '); do iptables -w -C INPUT -p $proto -j f2b-haproxy-noserv 2>/dev/null || iptables -w -I INPUT -p $proto -j f2b-haproxy-noserv; done"
    );
    let stop = ipt.render("actionstop", "inet6").unwrap();
    assert_eq!(
        stop,
        "for proto in $(echo 'tcp' | tr ',' ' '); do ip6tables -w -D INPUT -p $proto -j f2b-haproxy-noserv 2>/dev/null; done\n\
         ip6tables -w -F f2b-haproxy-noserv\n\
         ip6tables -w -X f2b-haproxy-noserv"
    );
    assert_eq!(ipt.timeout(), 60);
    assert_eq!(ipt.render("nosuchcommand", "inet4"), None);

    let mail = &jail.actions[1];
    assert!(mail.file.ends_with("action.d/sendmail-whois.conf"));
    assert_eq!(mail.properties["name"], "Haproxy-noserv");
    assert_eq!(mail.properties["dest"], "mail@mydomain.com");
    // Fail2Ban makes the action name unique when `name` differs from the jail's.
    assert_eq!(mail.name, "sendmail-whois-Haproxy-noserv");
    assert_eq!(mail.properties["norestored"], "1");
    assert_eq!(
        mail.render("mailcmd", "inet4").unwrap(),
        "sendmail -f \"root@<fq-hostname>\" \"mail@mydomain.com\""
    );
    let ban = mail.render("actionban", "inet4").unwrap();
    assert!(
        ban.contains("Subject: [Warden] Haproxy-noserv: banned <ip> from <fq-hostname>"),
        "{ban}"
    );
    assert!(ban.contains("after <failures> failures"), "{ban}");
    assert!(
        ban.contains("timeout 10 whois <ip> 2>&1 || echo \"(whois lookup failed)\""),
        "{ban}"
    );
    assert!(
        ban.ends_with("| sendmail -f \"root@<fq-hostname>\" \"mail@mydomain.com\""),
        "{ban}"
    );
    assert!(!ban.contains("%%"), "%% is unescaped at load time: {ban}");
}

#[test]
fn shipped_filter_has_the_corrected_regex() {
    let dir = copy_of_shipped();
    let mut jail = TUTORIAL_JAIL.to_string();
    jail = jail.replace(
        "sendmail-whois[name=Haproxy-noserv, dest=mail@mydomain.com]",
        "",
    );
    write(dir.path(), "jail.d/haproxy.conf", &jail);
    let jail = tutorial_jail(dir.path());
    assert_eq!(jail.actions.len(), 1);
    assert_eq!(
        jail.filter.failregex[0].0,
        r"^.*haproxy\[\d+\]: <HOST>:\d+ \[.*\] http_fe http_fe/<NOSRV> .*"
    );
}
