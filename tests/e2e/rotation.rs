//! Log rotation while the daemon runs: every failure is counted exactly once.

use crate::support::{haproxy_nosrv_line, wait_for, Daemon, Workspace};
use std::io::Write;
use std::time::Duration;

/// A jail that counts without banning (maxretry out of reach, no action). Addresses come from
/// 203.0.113.0/24 with ignoreself off, so that the test host's own addresses never interfere.
fn counting_workspace() -> Workspace {
    let ws = Workspace::with_default_config();
    ws.write("haproxy.log", "");
    ws.write(
        "config/jail.d/count.conf",
        &format!(
            "[haproxy-noserv]\nenabled = true\nfilter = haproxy-noserv\naction =\nignoreself = false\nmaxretry = 100000\nfindtime = 1d\nlogpath = {}\n",
            ws.path("haproxy.log").display()
        ),
    );
    ws
}

fn lines(first: u32, n: u32) -> Vec<String> {
    (first..first + n)
        .map(|i| haproxy_nosrv_line(&format!("203.0.113.{}", 1 + i % 250), (10000 + i) as u16))
        .collect()
}

fn settle(daemon: &Daemon, expected: u64) {
    wait_for(
        &format!("{expected} failures"),
        Duration::from_secs(20),
        || daemon.jail_status("haproxy-noserv").total_failed >= expected,
    );
    // Give a double count the chance to show.
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(
        daemon.jail_status("haproxy-noserv").total_failed,
        expected,
        "{}",
        daemon.log_text()
    );
}

#[test]
fn rename_and_create_rotation_counts_each_failure_once() {
    let ws = counting_workspace();
    let daemon = Daemon::start(&ws, None);
    let log = ws.path("haproxy.log");
    ws.append("haproxy.log", &lines(0, 50));
    settle(&daemon, 50);
    for round in 0..5u32 {
        // The writer still holds the old file while logrotate renames it...
        let mut old = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
        std::fs::rename(&log, ws.path(&format!("haproxy.log.{round}"))).unwrap();
        for l in lines(1000 + round * 100, 10) {
            writeln!(old, "{l}").unwrap();
        }
        drop(old);
        // ...then the service reopens a new one.
        ws.append("haproxy.log", &lines(2000 + round * 100, 20));
        settle(&daemon, 50 + (round as u64 + 1) * 30);
    }
}

#[test]
fn copytruncate_rotation_counts_each_failure_once() {
    let ws = counting_workspace();
    let daemon = Daemon::start(&ws, None);
    let log = ws.path("haproxy.log");
    ws.append("haproxy.log", &lines(0, 40));
    settle(&daemon, 40);
    for round in 0..5u32 {
        // Lines written just before the copy may not have been read yet when it happens.
        ws.append("haproxy.log", &lines(1000 + round * 100, 10));
        std::fs::copy(&log, ws.path("haproxy.log.1")).unwrap();
        std::fs::OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(&log)
            .unwrap();
        ws.append("haproxy.log", &lines(2000 + round * 100, 15));
        settle(&daemon, 40 + (round as u64 + 1) * 25);
    }
}

/// 1,000 rotations of every kind while a writer appends steadily: every failure written is
/// counted exactly once. During a copytruncate the writer pauses (a line written between the
/// copy and the truncation is in neither file — logrotate's own, documented loss). A file is
/// rotated only once the server has opened it and read into it, as happens with any real
/// rotation schedule: a file deleted or emptied before anyone opened it is lost to every reader
/// (and following a renamed file the server never opened is not implemented). Lines written
/// after that point and not yet read when the rotation happens are still found: in the
/// renamed or deleted file it holds open, or in the rotated copy.
#[test]
fn a_thousand_mixed_rotations_under_a_steady_stream() {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use std::sync::{Arc, Mutex};
    let ws = counting_workspace();
    let daemon = Daemon::start(&ws, None);
    let log = ws.path("haproxy.log");
    let gate = Arc::new(Mutex::new(()));
    let done = Arc::new(AtomicBool::new(false));
    let written = Arc::new(AtomicU64::new(0));
    let writer = {
        let (log, gate, done, written) = (log.clone(), gate.clone(), done.clone(), written.clone());
        std::thread::spawn(move || {
            let mut i = 0u32;
            while !done.load(Ordering::SeqCst) {
                {
                    let _g = gate.lock().unwrap();
                    let mut f = std::fs::OpenOptions::new()
                        .create(true)
                        .append(true)
                        .open(&log)
                        .unwrap();
                    writeln!(f, "{}", lines(i, 1)[0]).unwrap();
                    written.fetch_add(1, Ordering::SeqCst);
                }
                i += 1;
                std::thread::sleep(Duration::from_micros(700));
            }
        })
    };
    for r in 0..1000u32 {
        let rotated = ws.path(&format!("haproxy.log.{}", r % 3 + 1));
        let target = written.load(Ordering::SeqCst);
        wait_for("the file to be read into", Duration::from_secs(30), || {
            daemon.jail_status("haproxy-noserv").total_failed >= target
        });
        match r % 3 {
            0 => {
                let _ = std::fs::rename(&log, &rotated);
            }
            1 => {
                let _g = gate.lock().unwrap();
                if std::fs::copy(&log, &rotated).is_ok() {
                    std::fs::OpenOptions::new()
                        .write(true)
                        .truncate(true)
                        .open(&log)
                        .unwrap();
                }
            }
            _ => {
                let _ = std::fs::remove_file(&log);
            }
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    done.store(true, Ordering::SeqCst);
    writer.join().unwrap();
    let total = written.load(Ordering::SeqCst);
    eprintln!("{total} lines written across 1000 rotations");
    settle(&daemon, total);
}
