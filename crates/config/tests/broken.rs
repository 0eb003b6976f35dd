//! Broken trees: every problem reported at once, each with file, line, section and key.

use crate::support::{copy_of_shipped, load_err, render, write};

#[test]
fn all_errors_are_reported_together_with_their_places() {
    let dir = copy_of_shipped();
    write(
        dir.path(),
        "jail.d/x.conf",
        "[haproxy-noserv]
enabled = true
filter = no-such-filter
bantime = ten
maxretry = four
action = iptables-allports sendmail-whois[name=x, dest=y
logpath = /var/log/haproxy.log
ignoreip = 10.0.0.1/33

[other]
enabled = true
filter = sshd
action = no-such-action
logpath = /var/log/other.log
findtime = 1x
",
    );
    let errors = load_err(dir.path());
    let text = render(&errors);
    let file = dir.path().join("jail.d/x.conf");
    let at = |line: usize, section: &str, rest: &str| {
        format!("{}:{line}: [{section}] {rest}", file.display())
    };
    for expected in [
        at(3, "haproxy-noserv", "filter: unknown filter \"no-such-filter\""),
        at(4, "haproxy-noserv", "bantime: expected a duration like 600, 10m or 1d12h, got \"ten\""),
        at(5, "haproxy-noserv", "maxretry: expected a whole number (0 or more), got \"four\""),
        at(6, "haproxy-noserv", "action: unterminated option list in \"sendmail-whois[name=x,\""),
        at(8, "haproxy-noserv", "ignoreip: expected an address, a network such as 10.0.0.0/8 or a host name, got \"10.0.0.1/33\""),
        format!(
            "{}:36: [haproxy-noserv] maxmatches: expected a whole number (0 or more), got \"four\" (written as \"%(maxretry)s\")",
            dir.path().join("jail.conf").display()
        ),
        at(13, "other", "action: unknown action \"no-such-action\""),
        at(15, "other", "findtime: expected a duration like 600, 10m or 1d12h, got \"1x\""),
    ] {
        assert!(text.contains(&expected), "missing\n  {expected}\nin\n{text}");
    }
    assert_eq!(errors.len(), 8, "{text}");
    for e in &errors {
        assert!(
            e.location.line.is_some() && e.section.is_some() && e.key.is_some(),
            "{e}"
        );
    }
}

#[test]
fn display_matches_the_documented_format() {
    let dir = copy_of_shipped();
    write(
        dir.path(),
        "jail.d/x.conf",
        "# tutorial jail with a typo\n\n[haproxy-noserv]\nbantime = ten\nenabled = true\nfilter = sshd\nlogpath = /x\n",
    );
    let errors = load_err(dir.path());
    assert_eq!(errors.len(), 1);
    assert_eq!(
        errors[0].to_string(),
        format!(
            "{}:4: [haproxy-noserv] bantime: expected a duration like 600, 10m or 1d12h, got \"ten\"",
            dir.path().join("jail.d/x.conf").display()
        )
    );
}

#[test]
fn enabled_jail_without_logpath() {
    let dir = copy_of_shipped();
    write(
        dir.path(),
        "jail.d/x.conf",
        "[nolog]\nenabled = true\nfilter = sshd\n",
    );
    let errors = load_err(dir.path());
    assert_eq!(errors.len(), 1, "{}", render(&errors));
    assert_eq!(errors[0].key.as_deref(), Some("logpath"));
    assert_eq!(errors[0].section.as_deref(), Some("nolog"));
    assert_eq!(
        errors[0].location.line,
        Some(2),
        "points at the jail's enabled line"
    );
}

#[test]
fn disabled_jails_are_not_validated() {
    let dir = copy_of_shipped();
    write(
        dir.path(),
        "jail.d/x.conf",
        "[off]\nenabled = false\nfilter = nope\nbantime = ten\n",
    );
    crate::support::load_ok(dir.path());
}

#[test]
fn syntax_errors_in_files() {
    let dir = copy_of_shipped();
    write(
        dir.path(),
        "jail.d/x.conf",
        "stray = 1\n[sshd]\nthis line has no equals sign\nport = 22\nport = 23\n",
    );
    let errors = load_err(dir.path());
    let text = render(&errors);
    assert_eq!(errors.len(), 3, "{text}");
    assert_eq!(errors[0].location.line, Some(1));
    assert!(errors[0].message.contains("[section] header"), "{text}");
    assert_eq!(errors[1].location.line, Some(3));
    assert_eq!(
        (errors[2].location.line, errors[2].key.as_deref()),
        (Some(5), Some("port"))
    );
}

#[test]
fn interpolation_errors_name_the_option() {
    let dir = copy_of_shipped();
    write(
        dir.path(),
        "jail.d/x.conf",
        "[sshd]\nbanaction = %(nope)s\nmaxretry = %(a)s\na = %(b)s\nb = %(a)s\n",
    );
    let errors = load_err(dir.path());
    let text = render(&errors);
    assert!(
        errors
            .iter()
            .any(|e| e.key.as_deref() == Some("maxretry") && e.message.contains("deeper than 10")),
        "{text}"
    );
    assert!(
        errors
            .iter()
            .any(|e| e.key.as_deref() == Some("action") && e.message.contains("%(nope)s")),
        "{text}"
    );
}

#[test]
fn unknown_keys_are_warnings() {
    let dir = copy_of_shipped();
    write(dir.path(), "jail.d/x.conf", "[sshd]\nbantim = 1h\n");
    let config = crate::support::load_ok(dir.path());
    assert_eq!(config.warnings.len(), 1, "{:?}", config.warnings);
    let w = &config.warnings[0];
    assert_eq!(
        (w.key.as_deref(), w.location.line),
        (Some("bantim"), Some(2))
    );
}

#[test]
fn missing_directory() {
    let errors = load_err(&crate::support::empty().path().join("nope"));
    assert_eq!(errors.len(), 1);
}
