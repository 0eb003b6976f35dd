//! Big numbers through the control socket, and empty logs that must not cause re-reading.

use crate::support::{wait_for, Daemon, Workspace};
use std::time::Duration;

fn workspace() -> Workspace {
    let ws = Workspace::with_default_config();
    ws.write("app.log", "");
    ws.write(
        "config/filter.d/userfail.conf",
        "[Definition]\nfailregex = ^login failed for user \\S+ from <HOST>$\n",
    );
    ws.write(
        "config/jail.d/big.conf",
        &format!(
            "[big]\nenabled = true\nfilter = userfail\naction =\nmaxretry = 1000\nbantime = 1d\nignoreself = false\nlogpath = {}\n",
            ws.path("app.log").display()
        ),
    );
    ws
}

#[test]
fn status_and_banned_answer_completely_with_100000_bans() {
    let ws = workspace();
    let daemon = Daemon::start(&ws, None);
    const N: usize = 100_000;
    let all: Vec<String> = (0..N)
        .map(|i| format!("2001:db8:{:x}::{:x}", i / 65535 + 1, i % 65535 + 1))
        .collect();
    for chunk in all.chunks(10_000) {
        let mut args = vec!["set", "big", "banip"];
        args.extend(chunk.iter().map(String::as_str));
        assert_eq!(daemon.ok(&args), "10000\n");
    }
    let st = daemon.jail_status("big");
    assert_eq!((st.currently_banned, st.banned.len()), (N as u64, N));
    assert_eq!(st.banned.first(), Some(&all[0]), "ban order kept");
    assert_eq!(st.banned.last(), Some(&all[N - 1]));
    let text = daemon.ok(&["status", "big"]);
    let list = text.lines().last().unwrap().split('\t').nth(1).unwrap();
    assert_eq!(list.split(' ').count(), N, "text status lists every ban");
    let banned: Vec<serde_json::Value> =
        serde_json::from_str(&daemon.ok(&["banned", "--json"])).unwrap();
    assert_eq!(banned[0]["ips"].as_array().unwrap().len(), N);
    assert_eq!(daemon.ok(&["banned"]).matches("2001:db8:").count(), N);
}

fn failure(n: usize) -> String {
    format!("login failed for user u{n} from 198.51.100.{}", 1 + n % 200)
}

#[test]
fn empty_and_emptied_logs_are_never_read_again() {
    let ws = workspace();
    let daemon = Daemon::start(&ws, None);
    ws.append("app.log", &[failure(1), failure(2), failure(3)]);
    wait_for("three failures", Duration::from_secs(10), || {
        daemon.jail_status("big").total_failed == 3
    });
    // Replaced by an empty file (rename over it), then truncated in place: nothing re-read.
    let fresh = ws.path("app.log.new");
    std::fs::write(&fresh, "").unwrap();
    std::fs::rename(&fresh, ws.path("app.log")).unwrap();
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(daemon.jail_status("big").total_failed, 3);
    ws.append("app.log", &[failure(4)]);
    wait_for("the fourth", Duration::from_secs(10), || {
        daemon.jail_status("big").total_failed == 4
    });
    std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(ws.path("app.log"))
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    ws.append("app.log", &[failure(5)]);
    wait_for("the fifth", Duration::from_secs(10), || {
        daemon.jail_status("big").total_failed == 5
    });
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(daemon.jail_status("big").total_failed, 5);
    daemon.stop();
    // A restart on an empty log: nothing to read, nothing re-read.
    std::fs::write(ws.path("app.log"), "").unwrap();
    let daemon = Daemon::start(&ws, None);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(daemon.jail_status("big").total_failed, 0);
    ws.append("app.log", &[failure(6)]);
    wait_for("one new failure", Duration::from_secs(10), || {
        daemon.jail_status("big").total_failed == 1
    });
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(daemon.jail_status("big").total_failed, 1);
}

/// A `/proc/PID/status` value in kB.
fn proc_kb(pid: &str, key: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

#[test]
fn a_large_append_is_counted_completely_with_bounded_memory() {
    // 300,000 failures of 100 addresses, about 60 MB appended in one write; the jail never
    // bans (maxretry is higher) and keeps no lines.
    const N: usize = 300_000;
    let ws = workspace();
    ws.write(
        "config/jail.d/big.local",
        "[big]\nmaxretry = 1000000\nfindtime = 1d\n",
    );
    let daemon = Daemon::start(&ws, None);
    let pid = std::fs::read_to_string(ws.path("warden.pid")).unwrap();
    let pid = pid.trim();
    let pad = "x".repeat(150);
    let lines: Vec<String> = (0..N)
        .map(|n| {
            format!(
                "login failed for user u{n}{pad} from 198.51.100.{}",
                1 + n % 100
            )
        })
        .collect();
    let before = proc_kb(pid, "VmRSS:");
    ws.append("app.log", &lines);
    drop(lines);
    let appended = std::fs::metadata(ws.path("app.log")).unwrap().len() / 1024;
    wait_for("all 300,000 failures", Duration::from_secs(600), || {
        daemon.jail_status("big").total_failed == N as u64
    });
    std::thread::sleep(Duration::from_millis(300));
    let st = daemon.jail_status("big");
    assert_eq!((st.total_failed, st.currently_failed), (N as u64, 100));
    // The reader hands out batches of at most a few thousand lines through bounded channels,
    // so it waits for the filter instead of holding the append in memory as line strings
    // (which alone would take more than the file's size).
    let peak = proc_kb(pid, "VmHWM:");
    assert!(
        peak < before + appended / 3,
        "peak RSS {peak} kB, {before} kB before a {appended} kB append"
    );
    // Where reading stopped was saved as it went: a restart reads nothing again.
    daemon.stop();
    let daemon = Daemon::start(&ws, None);
    std::thread::sleep(Duration::from_millis(1000));
    assert_eq!(daemon.jail_status("big").total_failed, 0);
}
