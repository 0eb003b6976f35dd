//! The client vocabulary against a real server (no firewall: a recording action).

use crate::support::{wait_for, Daemon, Workspace};
use std::time::Duration;

/// An action that appends what it is told to a file, quoting data as a careless admin might.
fn recording_action(out: &str) -> String {
    format!(
        "[Definition]\n\
         actionstart = echo start <name> >> {out}\n\
         actionstop = echo stop <name> >> {out}\n\
         actionban = echo ban <ip> user=<F-USER> failures=<failures> bantime=<bantime> >> {out}\n\
         \x20           echo \"quoted <F-USER>\" >> {out}; echo 'single <F-USER>' >> {out}\n\
         actionunban = echo unban <ip> >> {out}\n\
         [Init]\n\
         name = default\n"
    )
}

fn workspace() -> Workspace {
    let ws = Workspace::with_default_config();
    ws.write("auth.log", "");
    ws.write(
        "config/filter.d/userfail.conf",
        "[Definition]\nfailregex = ^login failed for user <F-USER>.*</F-USER> from <HOST>$\n",
    );
    ws.write(
        "config/action.d/record.conf",
        &recording_action(&ws.path("actions.txt").display().to_string()),
    );
    ws.write(
        "config/jail.d/app.conf",
        &format!(
            "[app]\nenabled = true\nfilter = userfail\naction = record\nignoreself = false\nmaxretry = 2\nbantime = 1h\nlogpath = {}\n",
            ws.path("auth.log").display()
        ),
    );
    ws
}

fn actions(ws: &Workspace) -> String {
    std::fs::read_to_string(ws.path("actions.txt")).unwrap_or_default()
}

#[test]
fn client_commands_speak_fail2ban_vocabulary() {
    let ws = workspace();
    let daemon = Daemon::start(&ws, None);
    assert_eq!(daemon.ok(&["ping"]), "Server replied: pong\n");
    assert_eq!(
        daemon.ok(&["set", "app", "banip", "198.51.100.10", "2001:db8::10"]),
        "2\n"
    );
    assert_eq!(
        daemon.ok(&["set", "app", "banip", "198.51.100.10"]),
        "0\n",
        "already banned"
    );
    assert_eq!(
        daemon.ok(&["banned"]),
        "[{'app': ['198.51.100.10', '2001:db8::10']}]\n"
    );
    assert_eq!(
        daemon.ok(&["banned", "2001:db8::10"]),
        "[{'app': ['2001:db8::10']}]\n"
    );
    wait_for("ban actions", Duration::from_secs(10), || {
        actions(&ws).contains("ban 2001:db8::10")
    });
    assert_eq!(
        daemon.ok(&["set", "app", "unbanip", "198.51.100.10"]),
        "1\n"
    );
    wait_for("unban action", Duration::from_secs(10), || {
        actions(&ws).contains("unban 198.51.100.10")
    });
    let st = daemon.jail_status("app");
    assert_eq!((st.currently_banned, st.total_banned), (1, 2));

    let out = daemon.client(&["status", "nope"]);
    assert_eq!(out.status.code(), Some(255));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("Sorry but the jail 'nope' does not exist")
    );
    let out = daemon.client(&["set", "app", "banip", "not-an-ip"]);
    assert_eq!(out.status.code(), Some(255));

    // Reload with nothing changed keeps the jail, its bans and counters.
    assert_eq!(daemon.ok(&["reload"]), "OK\n");
    assert_eq!(
        daemon.jail_status("app").banned,
        vec!["2001:db8::10".to_string()]
    );

    // A broken config is refused; the running one stays.
    ws.write("config/jail.d/zz-broken.conf", "[app]\nbantime = soon\n");
    let out = daemon.client(&["reload"]);
    assert_eq!(out.status.code(), Some(255));
    assert!(String::from_utf8_lossy(&out.stderr).contains("zz-broken.conf:2"));
    assert_eq!(daemon.jail_status("app").currently_banned, 1);
    std::fs::remove_file(ws.path("config/jail.d/zz-broken.conf")).unwrap();

    let log = daemon.stop();
    let recorded = actions(&ws);
    assert!(
        recorded.contains("stop app"),
        "actionstop did not run:\n{recorded}\n{log}"
    );
    assert!(
        recorded.contains("unban 2001:db8::10"),
        "bans not lifted on stop:\n{recorded}"
    );
}

#[test]
fn log_data_never_becomes_shell_text() {
    let ws = workspace();
    let daemon = Daemon::start(&ws, None);
    let marker = ws.path("PWNED");
    let m = marker.display();
    let users = [
        format!("$(touch {m})"),
        format!("`touch {m}`"),
        format!(";touch {m}"),
        format!("|touch {m}"),
        format!("'; touch {m}; '"),
        format!("\"; touch {m}; \""),
        "x".repeat(10_000),
    ];
    let mut n = 0;
    for (i, user) in users.iter().enumerate() {
        let host = format!("198.51.100.{}", 100 + i);
        ws.append(
            "auth.log",
            &[
                format!("login failed for user {user} from {host}"),
                format!("login failed for user {user} from {host}"),
            ],
        );
        n += 1;
        wait_for(&format!("ban of {host}"), Duration::from_secs(10), || {
            actions(&ws).contains(&format!("ban {host} "))
        });
    }
    assert_eq!(daemon.jail_status("app").total_banned, n);
    let recorded = actions(&ws);
    assert!(!marker.exists(), "a log line ran a command:\n{recorded}");
    assert!(
        recorded.contains(&format!("user=$(touch {m})")),
        "data did not arrive as text:\n{recorded}"
    );
    assert!(
        recorded.contains(&format!("single `touch {m}`")),
        "single-quoted data mangled:\n{recorded}"
    );
}

#[test]
fn bantime_increment_lengthens_repeat_bans() {
    let ws = workspace();
    ws.write(
        "config/jail.d/zz-increment.local",
        "[app]\nbantime.increment = true\nbantime.maxtime = 3h\n",
    );
    let daemon = Daemon::start(&ws, None);
    for round in 0..4 {
        assert_eq!(daemon.ok(&["set", "app", "banip", "198.51.100.50"]), "1\n");
        assert_eq!(
            daemon.ok(&["set", "app", "unbanip", "198.51.100.50"]),
            "1\n"
        );
        wait_for("unban", Duration::from_secs(10), || {
            actions(&ws).matches("unban 198.51.100.50").count() == round + 1
        });
    }
    let bantimes: Vec<&str> = actions(&ws)
        .lines()
        .filter(|l| l.starts_with("ban 198.51.100.50"))
        .filter_map(|l| l.split("bantime=").nth(1))
        .collect::<Vec<_>>();
    // 1h, then doubled per earlier ban, capped at bantime.maxtime.
    assert_eq!(bantimes, vec!["3600", "7200", "10800", "10800"]);
}
