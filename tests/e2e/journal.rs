//! `backend = systemd`: a jail reading real journal files (written by `systemd-journal-remote`
//! from the journal export format, since no journald runs here) bans through its filter.

use crate::support::{wait_for, Daemon, Workspace};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

fn now_usec() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_micros() as u64
}

/// Export-format entries from sshd (and one from another unit that must not count).
fn export(messages: &[(&str, &str)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, (unit, message)) in messages.iter().enumerate() {
        let t = now_usec() + i as u64;
        writeln!(out, "__REALTIME_TIMESTAMP={t}").unwrap();
        writeln!(out, "__MONOTONIC_TIMESTAMP={}", 1_000_000 + i).unwrap();
        writeln!(out, "_BOOT_ID=0f5c1d2e3a4b4c5d8e9fa0b1c2d3e4f5").unwrap();
        writeln!(out, "_HOSTNAME=host1").unwrap();
        writeln!(out, "_SYSTEMD_UNIT={unit}").unwrap();
        writeln!(
            out,
            "SYSLOG_IDENTIFIER={}",
            unit.trim_end_matches(".service")
        )
        .unwrap();
        writeln!(out, "_PID=4242").unwrap();
        writeln!(out, "MESSAGE={message}\n").unwrap();
    }
    out
}

fn append_journal(file: &Path, messages: &[(&str, &str)]) {
    let remote = [
        "/lib/systemd/systemd-journal-remote",
        "/usr/lib/systemd/systemd-journal-remote",
    ]
    .into_iter()
    .find(|p| Path::new(p).exists())
    .expect("systemd-journal-remote is needed: apt-get install systemd-journal-remote");
    let mut child = Command::new(remote)
        .arg(format!("--output={}", file.display()))
        .arg("-")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(&export(messages))
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn systemd_backend_reads_the_journal_with_journalmatch() {
    let ws = Workspace::with_default_config();
    let dir = ws.path("journal");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("remote.journal");
    // Something old already there, before the server starts.
    append_journal(&file, &[("cron.service", "starting")]);
    ws.write(
        "config/filter.d/jsshd.conf",
        "[Definition]\nfailregex = ^host1 sshd\\[\\d+\\]: Failed password for \\S+ from <HOST> port \\d+\n\
         journalmatch = _SYSTEMD_UNIT=sshd.service\n",
    );
    ws.write(
        "config/jail.d/j.conf",
        &format!(
            "[jsshd]\nenabled = true\nfilter = jsshd\nbackend = systemd[journalpath={}]\n\
             action =\nmaxretry = 2\nignoreself = false\n",
            dir.display()
        ),
    );
    let daemon = Daemon::start(&ws, None);
    let status = daemon.ok(&["status", "jsshd"]);
    assert!(
        status.contains("`- Journal matches:\t_SYSTEMD_UNIT=sshd.service\n"),
        "{status}"
    );
    append_journal(
        &file,
        &[
            (
                "sshd.service",
                "Failed password for root from 192.0.2.31 port 22 ssh2",
            ),
            // The same text from another unit: excluded by journalmatch.
            (
                "cron.service",
                "Failed password for root from 192.0.2.32 port 22 ssh2",
            ),
            (
                "sshd.service",
                "Failed password for admin from 192.0.2.31 port 22 ssh2",
            ),
        ],
    );
    wait_for("the journal failures", Duration::from_secs(15), || {
        daemon.jail_status("jsshd").total_failed == 2
    });
    let st = daemon.jail_status("jsshd");
    assert_eq!(st.banned, vec!["192.0.2.31".to_string()]);
    assert_eq!(
        st.journal_matches.as_deref(),
        Some("_SYSTEMD_UNIT=sshd.service")
    );
}
