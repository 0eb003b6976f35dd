//! `warden regex` against `fail2ban-regex`.
//!
//! The differential test runs Debian's `fail2ban-regex` 1.0.2 (fetched at test time by
//! `scripts/fetch-fail2ban`, run with the system's python3) and `warden regex` on the same
//! logs with the same filters, and compares the numbers both print: lines ignored, matched
//! and missed, and the failregex hit total. The other tests pin what `warden regex` adds:
//! `--json`, `-v`'s engine names, and the text summary (a snapshot).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::support::warden_bin;

/// The extracted package (`$WARDEN_F2B_ROOT`, else fetched now).
fn fail2ban_root() -> PathBuf {
    if let Some(p) = crate::support::fail2ban_root() {
        return p;
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/fetch-fail2ban");
    let out = Command::new(script)
        .output()
        .expect("running scripts/fetch-fail2ban");
    assert!(
        out.status.success(),
        "cannot fetch Debian's fail2ban package: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
}

/// The package's configuration tree and its sample logs folder.
fn package() -> (PathBuf, PathBuf, PathBuf) {
    let root = fail2ban_root();
    let config = root.join("etc/fail2ban");
    let logs = root.join("usr/lib/python3/dist-packages/fail2ban/tests/files/logs");
    (root, config, logs)
}

/// The four HAProxy lines of the tutorial: a syslog date, an ISO date, no date, and a
/// bracket holding only dots. The verbatim regex's `\[\.*\]` matches a bracket of dots only,
/// so it matches the third line (where the bracketed date is cut out as the line's date) and
/// the fourth.
const HAPROXY_LINES: &str = r#"Jan  6 10:00:00 lb haproxy[1234]: 192.0.2.66:51234 [06/Jan/2026:10:00:00.123] http_fe http_fe/<NOSRV> -1/-1/-1/-1/0 503 212 - - SC-- 1/1/0/0/0 0/0 "GET / HTTP/1.1"
2026-01-06T10:00:00.123456+01:00 lb haproxy[1234]: 192.0.2.67:51234 [06/Jan/2026:10:00:00.123] http_fe http_fe/<NOSRV> -1/-1/-1/-1/0 503 212 - - SC-- 1/1/0/0/0 0/0 "GET / HTTP/1.1"
lb haproxy[1234]: 192.0.2.68:51234 [06/Jan/2026:10:00:00.123] http_fe http_fe/<NOSRV> -1/-1/-1/-1/0 503 212 - - SC-- 1/1/0/0/0 0/0 "GET / HTTP/1.1"
Jan  6 10:00:00 lb haproxy[1234]: 192.0.2.69:51234 [...] http_fe http_fe/<NOSRV> x
"#;
const HAPROXY_VERBATIM: &str = r"^.*haproxy\[\d+\]: <HOST>:\d+ \[\.*\] http_fe http_fe/<NOSRV> .*";
const HAPROXY_CORRECTED: &str = r"^.*haproxy\[\d+\]: <HOST>:\d+ \[.*\] http_fe http_fe/<NOSRV> .*";

/// Run `fail2ban-regex` from the package (in a scratch folder: it may write there).
fn fail2ban_regex(root: &Path, args: &[&str]) -> String {
    let scratch = tempfile::tempdir().unwrap();
    let out = Command::new("python3")
        .arg(root.join("usr/bin/fail2ban-regex"))
        .args(args)
        .env("PYTHONPATH", root.join("usr/lib/python3/dist-packages"))
        .current_dir(scratch.path())
        .output()
        .expect("running python3 fail2ban-regex");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "fail2ban-regex {args:?} failed:\n{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

fn warden_regex(args: &[&str]) -> Output {
    Command::new(warden_bin())
        .arg("regex")
        .args(args)
        .output()
        .expect("running warden regex")
}

fn warden_ok(args: &[&str]) -> String {
    let out = warden_regex(args);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "warden regex {args:?} failed:\n{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

/// The numbers of a summary: (lines, ignored, matched, missed, failregex hits).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Numbers {
    lines: u64,
    ignored: u64,
    matched: u64,
    missed: u64,
    hits: u64,
}

fn numbers(summary: &str) -> Numbers {
    let lines = summary
        .lines()
        .find_map(|l| l.strip_prefix("Lines: "))
        .unwrap_or_else(|| panic!("no Lines: in\n{summary}"));
    let n: Vec<u64> = lines
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().unwrap())
        .collect();
    let hits = summary
        .lines()
        .find_map(|l| l.strip_prefix("Failregex: "))
        .and_then(|l| l.split_whitespace().next())
        .unwrap_or_else(|| panic!("no Failregex: in\n{summary}"))
        .parse()
        .unwrap();
    Numbers {
        lines: n[0],
        ignored: n[1],
        matched: n[2],
        missed: n[3],
        hits,
    }
}

#[test]
fn same_numbers_as_fail2ban_regex() {
    let (root, config, logs) = package();
    let work = tempfile::tempdir().unwrap();
    let haproxy = work.path().join("haproxy.log");
    std::fs::write(&haproxy, HAPROXY_LINES).unwrap();
    let log = |name: &str| logs.join(name).display().to_string();
    let haproxy = haproxy.display().to_string();
    let cases: Vec<(String, String)> = vec![
        (log("sshd"), "sshd".into()),
        (log("sshd"), "sshd[mode=aggressive]".into()),
        (log("sshd-journal"), "sshd[mode=extra]".into()),
        (log("apache-auth"), "apache-auth".into()),
        (log("postfix"), "postfix".into()),
        (log("postfix"), "postfix[mode=aggressive]".into()),
        (log("dovecot"), "dovecot".into()),
        (log("nginx-http-auth"), "nginx-http-auth".into()),
        (log("named-refused"), "named-refused".into()),
        (log("courier-smtp"), "courier-smtp".into()),
        (log("recidive"), "recidive".into()),
        (log("mongodb-auth"), "mongodb-auth".into()),
        (haproxy.clone(), HAPROXY_VERBATIM.into()),
        (haproxy.clone(), HAPROXY_CORRECTED.into()),
    ];
    let config = config.display().to_string();
    let mut report = Vec::new();
    let mut differ = Vec::new();
    for (log, regex) in &cases {
        let args = ["-c", config.as_str(), log.as_str(), regex.as_str()];
        let theirs = numbers(&fail2ban_regex(&root, &args));
        let one = [
            "--threads",
            "1",
            "-c",
            config.as_str(),
            log.as_str(),
            regex.as_str(),
        ];
        let ours = numbers(&warden_ok(&one));
        // Two threads (date detection and prefregex apart from the failregexes) change
        // nothing.
        let threaded = [
            "--threads",
            "2",
            "-c",
            config.as_str(),
            log.as_str(),
            regex.as_str(),
        ];
        assert_eq!(
            numbers(&warden_ok(&threaded)),
            ours,
            "--threads 2: {log} {regex}"
        );
        let name = Path::new(log).file_name().unwrap().to_string_lossy();
        report.push(format!(
            "{name:>16} {regex:.40}: {} lines, {} ignored, {} matched, {} missed, {} hits",
            theirs.lines, theirs.ignored, theirs.matched, theirs.missed, theirs.hits
        ));
        if theirs != ours {
            differ.push(format!(
                "{name} {regex}: fail2ban-regex {theirs:?}, warden {ours:?}"
            ));
        }
    }
    eprintln!(
        "fail2ban-regex and warden regex agree on:\n{}",
        report.join("\n")
    );
    assert!(differ.is_empty(), "differences:\n{}", differ.join("\n"));
}

#[test]
fn haproxy_typo_matches_only_lines_whose_bracket_holds_no_date() {
    let work = tempfile::tempdir().unwrap();
    let log = work.path().join("haproxy.log");
    std::fs::write(&log, HAPROXY_LINES).unwrap();
    let log = log.display().to_string();
    let out = warden_ok(&["--print-all-matched", &log, HAPROXY_VERBATIM]);
    let n = numbers(&out);
    assert_eq!((n.lines, n.matched, n.missed), (4, 2, 2), "{out}");
    assert!(out.contains("|  lb haproxy[1234]: 192.0.2.68"), "{out}");
    assert!(out.contains("192.0.2.69:51234 [...]"), "{out}");
    let n = numbers(&warden_ok(&[&log, HAPROXY_CORRECTED]));
    assert_eq!((n.lines, n.matched, n.missed), (4, 4, 0));
}

#[test]
fn log_given_as_a_single_line() {
    let out = warden_ok(&[
        "Jan  6 10:00:00 web sshd[7]: Invalid user bob from 192.0.2.7 port 22",
        r"Invalid user <F-USER>\S+</F-USER> from <HOST>",
    ]);
    assert!(
        out.contains("Use      single line : Jan  6 10:00:00 web sshd[7]"),
        "{out}"
    );
    let n = numbers(&out);
    assert_eq!((n.lines, n.matched, n.hits), (1, 1, 1), "{out}");
}

#[test]
fn filter_name_with_options_from_the_config_flag() {
    let (_, config, _) = package();
    let config = config.display().to_string();
    // Only the aggressive mode (its ddos part) knows this line.
    let line = "Jan  6 10:00:00 web sshd[7]: Did not receive identification string from 192.0.2.8";
    // `-c` works after the subcommand too (it is warden's global flag).
    let normal = numbers(&warden_ok(&["-c", &config, line, "sshd"]));
    assert_eq!(normal.matched, 0);
    let out = warden_ok(&["-c", &config, line, "sshd[mode=aggressive]"]);
    assert!(
        out.contains("Use   filter options : {'mode': 'aggressive'}"),
        "{out}"
    );
    assert_eq!(numbers(&out).matched, 1, "{out}");
    // A filter file given by path.
    let file = format!("{config}/filter.d/sshd.conf[mode=aggressive]");
    assert_eq!(numbers(&warden_ok(&[line, &file])).matched, 1);
    // A name that is no filter is a regex (here one without a host group: an error).
    let out = warden_regex(&["-c", &config, line, "nosuchfilter"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("No failure-id group in 'nosuchfilter'"),
        "{err}"
    );
}

#[test]
fn verbose_names_the_engine_of_each_regex() {
    let (_, config, _) = package();
    let config = config.display().to_string();
    let out = warden_ok(&[
        "-v",
        "-c",
        &config,
        "Jan  6 10:00:00 web sshd[7]: Invalid user bob from 192.0.2.7 port 22",
        "sshd",
    ]);
    assert!(out.contains("# engine: regex crate"), "{out}");
    // sshd's conditional `(?(cond_user)...)` needs PCRE2.
    assert!(out.contains("# engine: PCRE2"), "{out}");
    assert!(out.contains("# translated: "), "{out}");
    // The host each regex found, with its time, and the prefregex's groups, as
    // fail2ban-regex -v lists them.
    assert!(out.contains("    192.0.2.7  "), "{out}");
    assert!(
        out.contains("|      {'mlfid': ' web sshd[7]: ', 'content': 'Invalid user bob from"),
        "{out}"
    );
}

#[test]
fn json_lines_one_object_per_line() {
    let work = tempfile::tempdir().unwrap();
    let log = work.path().join("auth.log");
    std::fs::write(
        &log,
        "2026-01-06 10:00:00 login failed user=bob from 192.0.2.9 session=s1\n\
         # a comment is not a line to test\n\
         2026-01-06 10:00:01 login failed user=eve from 2001:db8::5 session=s2\n\
         2026-01-06 10:00:02 login failed user=trusted from 192.0.2.10 session=s3\n\
         2026-01-06 10:00:03 all is well\n",
    )
    .unwrap();
    let out = warden_ok(&[
        "--json",
        &log.display().to_string(),
        r"login failed user=<F-USER>\S+</F-USER> from <HOST> session=<F-SESSION>\S+</F-SESSION>",
        "user=trusted",
    ]);
    let rows: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert_eq!(rows.len(), 4, "{out}");
    let first = &rows[0];
    assert_eq!(first["line"], 1);
    assert_eq!(first["matched"], true);
    assert_eq!(first["ignored"], false);
    assert_eq!(first["host"], "192.0.2.9");
    assert_eq!(first["ip4"], "192.0.2.9");
    assert_eq!(first["ip6"], serde_json::Value::Null);
    assert_eq!(first["regex"], 0);
    assert_eq!(first["fields"]["user"], "bob");
    assert_eq!(first["fields"]["session"], "s1");
    assert!(first["time"].as_f64().unwrap() > 1.7e9);
    assert!(
        first["time_iso"]
            .as_str()
            .unwrap()
            .starts_with("2026-01-06T10:00:00"),
        "{first}"
    );
    let second = &rows[1];
    assert_eq!(second["line"], 3, "physical line numbers");
    assert_eq!(second["ip6"], "2001:db8::5");
    assert_eq!(second["host"], "2001:db8::5");
    let third = &rows[2];
    assert_eq!(third["matched"], false);
    assert_eq!(third["ignored"], true);
    assert_eq!(third["ignore_regexes"], serde_json::json!([0]));
    let fourth = &rows[3];
    assert_eq!(fourth["matched"], false);
    assert_eq!(fourth["ignored"], false);
    assert_eq!(fourth["host"], serde_json::Value::Null);
    assert_eq!(fourth["regex"], serde_json::Value::Null);
}

#[test]
fn out_prints_one_item_per_failure() {
    let log = "Jan  6 10:00:00 web sshd[7]: Invalid user bob from 192.0.2.7 port 22";
    let regex = r"Invalid user <F-USER>\S+</F-USER> from <HOST>";
    assert_eq!(warden_ok(&["-o", "ip", log, regex]), "192.0.2.7\n");
    assert_eq!(warden_ok(&["-o", "user", log, regex]), "bob\n");
    assert_eq!(
        warden_ok(&["-o", "<ip> tried <F-USER>", log, regex]),
        "192.0.2.7 tried bob\n"
    );
    assert_eq!(warden_ok(&["-o", "msg", log, regex]), format!("{log}\n"));
}

#[test]
fn journal_is_refused_with_advice() {
    let out = warden_regex(&["systemd-journal", "sshd"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cannot read the systemd journal"), "{err}");
    assert!(err.contains("journalctl"), "{err}");
}

#[test]
fn summary_snapshot() {
    let work = tempfile::tempdir().unwrap();
    let log = work.path().join("auth.log");
    std::fs::write(
        &log,
        "Jan  6 10:00:00 web sshd[7]: Invalid user bob from 192.0.2.7 port 22\n\
         Jan  6 10:00:01 web sshd[8]: Invalid user eve from 192.0.2.8 port 22\n\
         Jan  6 10:00:02 web sshd[9]: Accepted password for alice from 192.0.2.9 port 22\n\
         Jan  6 10:00:03 web cron[10]: session opened\n",
    )
    .unwrap();
    let path = log.display().to_string();
    let out = warden_ok(&[
        &path,
        r"sshd\[\d+\]: Invalid user <F-USER>\S+</F-USER> from <HOST>",
        "user eve",
    ]);
    let masked: String = out
        .replace(&path, "<LOG>")
        .lines()
        .map(|l| {
            if l.starts_with("[processed in ") {
                "[processed in <TIME> sec]"
            } else {
                l
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    insta::assert_snapshot!("summary", masked);
}
