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
    let recorded = actions(&ws);
    let bantimes: Vec<&str> = recorded
        .lines()
        .filter(|l| l.starts_with("ban 198.51.100.50"))
        .filter_map(|l| l.split("bantime=").nth(1))
        .collect::<Vec<_>>();
    // 1h, then doubled per earlier ban, capped at bantime.maxtime.
    assert_eq!(bantimes, vec!["3600", "7200", "10800", "10800"]);
}

#[test]
fn reload_restarts_only_what_changed_and_unban_commands() {
    let ws = workspace();
    ws.write(
        "config/jail.d/app2.conf",
        &format!(
            "[app2]\nenabled = true\nfilter = userfail\naction = record[name=app2]\nignoreself = false\nmaxretry = 2\nbantime = 1h\nlogpath = {}\n",
            ws.path("auth.log").display()
        ),
    );
    let daemon = Daemon::start(&ws, None);
    assert_eq!(daemon.ok(&["set", "app", "banip", "198.51.100.1"]), "1\n");
    assert_eq!(daemon.ok(&["set", "app2", "banip", "198.51.100.2"]), "1\n");
    ws.append(
        "auth.log",
        &["login failed for user bob from 198.51.100.9".to_string()],
    );
    wait_for("one failure in each jail", Duration::from_secs(10), || {
        daemon.jail_status("app").total_failed == 1 && daemon.jail_status("app2").total_failed == 1
    });

    // app changes, app2 does not.
    ws.write("config/jail.d/zz-change.local", "[app]\nmaxretry = 3\n");
    assert_eq!(daemon.ok(&["reload"]), "OK\n");
    let app = daemon.jail_status("app");
    assert_eq!(
        app.total_failed, 0,
        "a changed jail restarts with fresh counters"
    );
    assert_eq!(
        app.banned,
        vec!["198.51.100.1".to_string()],
        "its bans survive the restart"
    );
    let app2 = daemon.jail_status("app2");
    assert_eq!(app2.total_failed, 1, "an unchanged jail keeps its counters");
    assert_eq!(app2.banned, vec!["198.51.100.2".to_string()]);
    wait_for("app restarted", Duration::from_secs(10), || {
        let a = actions(&ws);
        a.contains("stop app\n") && a.matches("start app\n").count() == 2
    });
    assert_eq!(
        actions(&ws).matches("start app2\n").count(),
        1,
        "app2 was not restarted"
    );

    // A removed jail's bans leave the firewall.
    std::fs::remove_file(ws.path("config/jail.d/app2.conf")).unwrap();
    assert_eq!(daemon.ok(&["reload"]), "OK\n");
    wait_for("app2 stopped", Duration::from_secs(10), || {
        let a = actions(&ws);
        a.contains("unban 198.51.100.2") && a.contains("stop app2")
    });
    assert_eq!(
        daemon.ok(&["status"]),
        "Status\n|- Number of jail:\t1\n`- Jail list:\tapp\n"
    );

    // unban --all and reload --unban.
    assert_eq!(
        daemon.ok(&["set", "app", "banip", "198.51.100.3", "198.51.100.4"]),
        "2\n"
    );
    assert_eq!(daemon.ok(&["unban", "198.51.100.3"]), "1\n");
    assert_eq!(daemon.ok(&["unban", "--all"]), "2\n");
    assert_eq!(daemon.jail_status("app").currently_banned, 0);
    assert_eq!(daemon.ok(&["set", "app", "banip", "198.51.100.5"]), "1\n");
    assert_eq!(daemon.ok(&["reload", "--unban", "app"]), "OK\n");
    assert_eq!(daemon.jail_status("app").currently_banned, 0);
    let out = daemon.client(&["reload", "nope"]);
    assert_eq!(out.status.code(), Some(255));
}

#[test]
fn control_socket_is_root_only_with_a_clear_error_for_others() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    crate::support::netns::require_root_and_tools();
    let ws = workspace();
    // The workspace directory itself is private; open it so that only the socket's own mode
    // stands between another user and the server.
    std::fs::set_permissions(ws.path(""), std::fs::Permissions::from_mode(0o755)).unwrap();
    let daemon = Daemon::start(&ws, None);
    let meta = std::fs::metadata(ws.path("warden.sock")).unwrap();
    assert_eq!(meta.mode() & 0o777, 0o600, "socket mode");
    assert_eq!(meta.uid(), 0, "socket owner");
    let out = std::process::Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(crate::support::warden_bin())
        .arg("--socket")
        .arg(ws.path("warden.sock"))
        .arg("ping")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(255), "{err}");
    assert!(err.contains("Permission denied to socket"), "{err}");
    assert!(daemon.ok(&["ping"]).contains("pong"));
}

#[test]
fn bans_and_reading_position_survive_a_restart() {
    let ws = workspace();
    let daemon = Daemon::start(&ws, None);
    assert_eq!(daemon.ok(&["set", "app", "banip", "198.51.100.60"]), "1\n");
    ws.append(
        "auth.log",
        &["login failed for user a from 198.51.100.61".to_string()],
    );
    wait_for("first failure", Duration::from_secs(10), || {
        daemon.jail_status("app").total_failed == 1
    });
    daemon.stop();
    // Written while the server is down: read after the restart, from where it stopped.
    ws.append(
        "auth.log",
        &[
            "login failed for user b from 198.51.100.62".to_string(),
            "login failed for user c from 198.51.100.63".to_string(),
        ],
    );
    let daemon = Daemon::start(&ws, None);
    wait_for(
        "the two lines written while down",
        Duration::from_secs(10),
        || daemon.jail_status("app").total_failed == 2,
    );
    let st = daemon.jail_status("app");
    assert_eq!(st.banned, vec!["198.51.100.60".to_string()], "ban restored");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        daemon.jail_status("app").total_failed,
        2,
        "nothing read twice"
    );
    wait_for(
        "ban applied again by the action",
        Duration::from_secs(10),
        || actions(&ws).matches("ban 198.51.100.60 ").count() == 2,
    );
    // Unbanned by hand: gone for good, also after another restart.
    assert_eq!(
        daemon.ok(&["set", "app", "unbanip", "198.51.100.60"]),
        "1\n"
    );
    daemon.stop();
    let daemon = Daemon::start(&ws, None);
    assert_eq!(daemon.jail_status("app").currently_banned, 0);
}

#[test]
fn recidive_bans_repeat_offenders_from_wardens_own_log() {
    let ws = workspace();
    // The server's own log (its stderr, kept by the test harness) is what recidive reads.
    ws.write(
        "config/jail.d/zz-recidive.local",
        &format!(
            "[recidive]\nenabled = true\nlogpath = {}\naction = record[name=recidive]\nmaxretry = 3\nignoreself = false\n",
            ws.path("warden.log").display()
        ),
    );
    let daemon = Daemon::start(&ws, None);
    for round in 0..3 {
        assert_eq!(daemon.ok(&["set", "app", "banip", "198.51.100.70"]), "1\n");
        if round < 2 {
            assert_eq!(
                daemon.ok(&["set", "app", "unbanip", "198.51.100.70"]),
                "1\n"
            );
        }
    }
    wait_for("the recidive ban", Duration::from_secs(15), || {
        daemon.jail_status("recidive").banned == vec!["198.51.100.70".to_string()]
    });
    let st = daemon.jail_status("recidive");
    assert_eq!(st.total_failed, 3, "its own ban is not counted again");
}
