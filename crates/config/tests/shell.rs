//! The shipped actions' commands run through `sh` against recording fakes of `iptables`,
//! `ip6tables`, `sendmail` and `whois` placed first on PATH.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use warden_config::ActionConfig;

use crate::support::{copy_of_shipped, load_ok, write};

const JAIL: &str = "[haproxy-noserv]
enabled = true
filter = haproxy-noserv
action = iptables-allports sendmail-whois[name=Haproxy-noserv, dest=mail@mydomain.com, whois_timeout=1]
logpath = /var/log/haproxy.log
";

/// A fake program: records its arguments (and stdin for sendmail) under `log`.
fn fake(bin: &Path, name: &str, body: &str) {
    let path = bin.join(name);
    fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
}

/// Fill in the tags the daemon fills in per ban, as it would for `ip`.
fn dynamic(cmd: &str, ip: &str) -> String {
    cmd.replace("<ip>", ip)
        .replace("<failures>", "4")
        .replace("<fq-hostname>", "host.example")
}

fn run(dir: &Path, cmd: &str) -> std::process::Output {
    let path = format!(
        "{}:{}",
        dir.join("bin").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .env("PATH", path)
        .env("LOG", dir.join("log"))
        .output()
        .unwrap()
}

fn setup() -> (tempfile::TempDir, Vec<ActionConfig>) {
    let dir = copy_of_shipped();
    write(dir.path(), "jail.d/haproxy.conf", JAIL);
    let config = load_ok(dir.path());
    let jail = config
        .jails
        .into_iter()
        .find(|j| j.name == "haproxy-noserv")
        .unwrap();
    let bin = dir.path().join("bin");
    fs::create_dir_all(&bin).unwrap();
    // `-C` (check) finds nothing, everything else succeeds.
    let ipt = r#"echo "$(basename "$0") $*" >> "$LOG"; for a in "$@"; do [ "$a" = -C ] && exit 1; done; exit 0"#;
    fake(&bin, "iptables", ipt);
    fake(&bin, "ip6tables", ipt);
    fake(
        &bin,
        "sendmail",
        r#"echo "sendmail $*" >> "$LOG"; cat >> "$LOG""#,
    );
    (dir, jail.actions)
}

#[test]
fn iptables_allports_lifecycle() {
    let (dir, actions) = setup();
    let ipt = &actions[0];
    for (cmd, family, ip) in [
        ("actionstart", "inet4", ""),
        ("actionban", "inet4", "192.0.2.7"),
        ("actionban", "inet6", "2001:db8::7"),
        ("actionunban", "inet4", "192.0.2.7"),
        ("actionstop", "inet4", ""),
    ] {
        let out = run(dir.path(), &dynamic(&ipt.render(cmd, family).unwrap(), ip));
        assert!(out.status.success(), "{cmd}: {out:?}");
    }
    let log = fs::read_to_string(dir.path().join("log")).unwrap();
    assert_eq!(
        log,
        "iptables -w -N f2b-haproxy-noserv
iptables -w -C f2b-haproxy-noserv -j RETURN
iptables -w -A f2b-haproxy-noserv -j RETURN
iptables -w -C INPUT -p tcp -j f2b-haproxy-noserv
iptables -w -I INPUT -p tcp -j f2b-haproxy-noserv
iptables -w -I f2b-haproxy-noserv 1 -s 192.0.2.7 -j REJECT --reject-with icmp-port-unreachable
ip6tables -w -I f2b-haproxy-noserv 1 -s 2001:db8::7 -j REJECT --reject-with icmp6-port-unreachable
iptables -w -D f2b-haproxy-noserv -s 192.0.2.7 -j REJECT --reject-with icmp-port-unreachable
iptables -w -D INPUT -p tcp -j f2b-haproxy-noserv
iptables -w -F f2b-haproxy-noserv
iptables -w -X f2b-haproxy-noserv
"
    );
}

#[test]
fn sendmail_whois_mails_the_report() {
    let (dir, actions) = setup();
    fake(
        &dir.path().join("bin"),
        "whois",
        r#"printf '%s\n' "whois record for $1 \\n not escaped""#,
    );
    let mail = &actions[1];
    let out = run(
        dir.path(),
        &dynamic(&mail.render("actionban", "inet4").unwrap(), "192.0.2.7"),
    );
    assert!(out.status.success(), "{out:?}");
    let log = fs::read_to_string(dir.path().join("log")).unwrap();
    let mut lines = log.lines();
    assert_eq!(
        lines.next(),
        Some("sendmail -f root@host.example mail@mydomain.com")
    );
    let body: Vec<&str> = lines.collect();
    assert_eq!(
        body[0],
        "Subject: [Warden] Haproxy-noserv: banned 192.0.2.7 from host.example"
    );
    assert_eq!(body[1], "From: Warden <root@host.example>");
    assert_eq!(body[2], "To: mail@mydomain.com");
    assert_eq!(body[3], "", "headers end with an empty line");
    let text = body.join("\n");
    assert!(
        text.contains(
            "The address 192.0.2.7 was banned by the jail Haproxy-noserv after 4 failures."
        ),
        "{text}"
    );
    assert!(
        text.contains("whois record for 192.0.2.7 \\n not escaped"),
        "whois output is data: {text}"
    );
    assert!(text.ends_with("-- \nWarden on host.example"), "{text}");
}

#[test]
fn a_hanging_whois_cannot_block_the_mail() {
    let (dir, actions) = setup();
    fake(&dir.path().join("bin"), "whois", "sleep 30");
    let started = Instant::now();
    let cmd = dynamic(
        &actions[1].render("actionban", "inet4").unwrap(),
        "192.0.2.7",
    );
    let out = run(dir.path(), &cmd);
    assert!(out.status.success(), "{out:?}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
    let log = fs::read_to_string(dir.path().join("log")).unwrap();
    assert!(log.contains("(whois lookup failed)"), "{log}");
}

#[test]
fn start_and_stop_mails_are_sent_but_restored_bans_are_not_mailed() {
    let (dir, actions) = setup();
    let mail = &actions[1];
    assert_eq!(mail.properties["norestored"], "1");
    let out = run(
        dir.path(),
        &dynamic(&mail.render("actionstart", "inet4").unwrap(), ""),
    );
    assert!(out.status.success(), "{out:?}");
    let log = fs::read_to_string(dir.path().join("log")).unwrap();
    assert!(
        log.contains("Subject: [Warden] Haproxy-noserv: started on host.example"),
        "{log}"
    );
}
