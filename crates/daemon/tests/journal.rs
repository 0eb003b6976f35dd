//! Reading the systemd journal: real journal files, written by `systemd-journal-remote` from
//! the journal export format (no journald runs here), read through libsystemd.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use warden_daemon::sources::journal::{
    watch_journal, JournalBatch, JournalEntry, JournalReader, JournalSource, JournalSpec, Start,
    MAX_BATCH,
};

/// 2023-11-14 22:13:20 UTC, in microseconds.
const T0: u64 = 1_700_000_000_000_000;
const SEC: u64 = 1_000_000;
const BOOT_ID: &str = "0123456789abcdef0123456789abcdef";

type Fields = Vec<(&'static str, Vec<u8>)>;

struct Entry {
    realtime: u64,
    fields: Fields,
}

fn entry(realtime: u64, fields: &[(&'static str, &[u8])]) -> Entry {
    Entry {
        realtime,
        fields: fields.iter().map(|(k, v)| (*k, v.to_vec())).collect(),
    }
}

/// A message from sshd running as `sshd.service`.
fn sshd(realtime: u64, message: &str) -> Entry {
    entry(
        realtime,
        &[
            ("_HOSTNAME", b"host1"),
            ("_SYSTEMD_UNIT", b"sshd.service"),
            ("_COMM", b"sshd"),
            ("SYSLOG_IDENTIFIER", b"sshd"),
            ("_PID", b"100"),
            ("MESSAGE", message.as_bytes()),
        ],
    )
}

/// A message from another unit.
fn cron(realtime: u64, message: &str) -> Entry {
    entry(
        realtime,
        &[
            ("_HOSTNAME", b"host1"),
            ("_SYSTEMD_UNIT", b"cron.service"),
            ("_COMM", b"cron"),
            ("_PID", b"200"),
            ("MESSAGE", message.as_bytes()),
        ],
    )
}

/// The journal export format: `KEY=value` lines, or `KEY\n<le64 length><bytes>\n` for values
/// that are not single-line text; a blank line ends each entry.
fn export(entries: &[Entry]) -> Vec<u8> {
    let mut out = Vec::new();
    for e in entries {
        writeln!(out, "__REALTIME_TIMESTAMP={}", e.realtime).unwrap();
        // One boot whose monotonic clock runs with realtime, so that entries in different
        // files merge in time order.
        writeln!(out, "__MONOTONIC_TIMESTAMP={}", e.realtime - T0 + SEC).unwrap();
        writeln!(out, "_BOOT_ID={BOOT_ID}").unwrap();
        for (key, value) in &e.fields {
            if value.contains(&b'\n') || std::str::from_utf8(value).is_err() {
                out.extend_from_slice(key.as_bytes());
                out.push(b'\n');
                out.extend_from_slice(&(value.len() as u64).to_le_bytes());
                out.extend_from_slice(value);
                out.push(b'\n');
            } else {
                out.extend_from_slice(key.as_bytes());
                out.push(b'=');
                out.extend_from_slice(value);
                out.push(b'\n');
            }
        }
        out.push(b'\n');
    }
    out
}

fn journal_remote() -> &'static str {
    [
        "/lib/systemd/systemd-journal-remote",
        "/usr/lib/systemd/systemd-journal-remote",
    ]
    .into_iter()
    .find(|p| Path::new(p).exists())
    .expect(
        "systemd-journal-remote is needed for these tests: apt-get install systemd-journal-remote",
    )
}

/// Write `entries` to the journal file `path` (created, or appended to if it exists).
fn append_journal(path: &Path, entries: &[Entry]) {
    let mut child = Command::new(journal_remote())
        .arg(format!("--output={}", path.display()))
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
        .write_all(&export(entries))
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "journal-remote failed: {stderr}");
    assert!(
        stderr.contains(&format!("writing {} entries", entries.len())),
        "journal-remote did not write every entry: {stderr}"
    );
}

fn spec(source: JournalSource, matches: &str, start: Start) -> JournalSpec {
    JournalSpec {
        source,
        matches: matches.into(),
        start,
    }
}

fn files(path: &Path) -> JournalSource {
    JournalSource::Files(vec![path.to_owned()])
}

/// Everything the journal has for `spec`, read synchronously.
fn read_all(spec: &JournalSpec) -> Vec<JournalEntry> {
    let mut reader = JournalReader::open(spec).unwrap();
    let mut out = Vec::new();
    while reader.read(100, &mut out).unwrap() == 100 {}
    out
}

fn messages(entries: &[JournalEntry]) -> Vec<&str> {
    entries
        .iter()
        .map(|e| e.line.rsplit(": ").next().unwrap())
        .collect()
}

/// Receive entries until `n` have arrived (panics after a few seconds), then make sure no more
/// arrive for a moment.
fn receive(rx: &Receiver<JournalBatch>, n: usize) -> Vec<JournalEntry> {
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut out = Vec::new();
    while out.len() < n {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(batch) => out.extend(batch.entries),
            Err(_) => panic!("got {} of {n} entries: {:?}", out.len(), messages(&out)),
        }
    }
    if let Ok(batch) = rx.recv_timeout(Duration::from_millis(300)) {
        panic!("unexpected entries: {:?}", messages(&batch.entries));
    }
    out
}

fn temp_journal() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("remote.journal");
    (dir, path)
}

#[test]
fn journalmatch_selects_units_and_plus_means_or() {
    let (_dir, path) = temp_journal();
    append_journal(
        &path,
        &[
            sshd(T0, "a"),
            cron(T0 + SEC, "b"),
            // sshd, but not under sshd.service.
            entry(
                T0 + 2 * SEC,
                &[
                    ("_SYSTEMD_UNIT", b"user@0.service"),
                    ("_COMM", b"sshd"),
                    ("MESSAGE", b"c"),
                ],
            ),
            entry(
                T0 + 3 * SEC,
                &[
                    ("_SYSTEMD_UNIT", b"nginx.service"),
                    ("_COMM", b"nginx"),
                    ("MESSAGE", b"d"),
                ],
            ),
        ],
    );
    let read = |matches: &str| {
        let entries = read_all(&spec(files(&path), matches, Start::Time(0.0)));
        messages(&entries)
            .into_iter()
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    assert_eq!(read("_SYSTEMD_UNIT=sshd.service"), ["a"]);
    assert_eq!(read("_SYSTEMD_UNIT=sshd.service + _COMM=sshd"), ["a", "c"]);
    // Terms of one group are ANDed: each alone matches an entry, together none.
    assert_eq!(read("_COMM=sshd"), ["a", "c"]);
    assert_eq!(read("_SYSTEMD_UNIT=user@0.service _COMM=cron"), [""; 0]);
    assert_eq!(read("_SYSTEMD_UNIT=user@0.service _COMM=sshd"), ["c"]);
    // ... except terms on the same field, which are alternatives.
    assert_eq!(
        read("_SYSTEMD_UNIT=sshd.service _SYSTEMD_UNIT=cron.service"),
        ["a", "b"]
    );
    // Each line of the option adds alternatives; quotes as in a shell.
    assert_eq!(
        read("'_SYSTEMD_UNIT=nginx.service'\n_COMM=cron"),
        ["b", "d"]
    );
    assert_eq!(read(""), ["a", "b", "c", "d"]);
}

#[test]
fn lines_and_times_are_as_fail2ban_makes_them() {
    let (_dir, path) = temp_journal();
    append_journal(
        &path,
        &[
            entry(
                T0 + 123_456,
                &[
                    ("_HOSTNAME", b"web1"),
                    ("_COMM", b"sshd-session"),
                    ("SYSLOG_IDENTIFIER", b"sshd"),
                    ("_PID", b"1"),
                    ("SYSLOG_PID", b"4242"),
                    (
                        "MESSAGE",
                        b"Failed password for root from 192.0.2.1 port 22 ssh2",
                    ),
                ],
            ),
            entry(
                T0 + SEC,
                &[("_COMM", b"cron"), ("_PID", b"77"), ("MESSAGE", b"no host")],
            ),
            entry(
                T0 + 2 * SEC,
                &[
                    ("_HOSTNAME", b"web1"),
                    ("SYSLOG_IDENTIFIER", b"sshd"),
                    ("_PID", b"5"),
                    ("MESSAGE", b"Invalid user \xff\xfeadmin from 192.0.2.2"),
                ],
            ),
            entry(
                T0 + 3 * SEC,
                &[
                    ("_HOSTNAME", b"web1"),
                    ("SYSLOG_IDENTIFIER", b"app"),
                    ("MESSAGE", b"first\nsecond"),
                ],
            ),
            entry(
                T0 + 4 * SEC,
                &[
                    ("_HOSTNAME", b"web1"),
                    ("SYSLOG_IDENTIFIER", b"kernel"),
                    ("_SOURCE_MONOTONIC_TIMESTAMP", b"5123456"),
                    ("MESSAGE", b"IN=eth0 SRC=192.0.2.3"),
                ],
            ),
            // Logged (by the program's clock) earlier than the journal received it.
            entry(
                T0 + 5 * SEC,
                &[
                    ("_COMM", b"app"),
                    ("_SOURCE_REALTIME_TIMESTAMP", b"1699999999999999"),
                    ("MESSAGE", b"late"),
                ],
            ),
        ],
    );
    let entries = read_all(&spec(files(&path), "", Start::Time(0.0)));
    let lines: Vec<&str> = entries.iter().map(|e| e.line.as_str()).collect();
    assert_eq!(
        lines,
        [
            "web1 sshd[4242]: Failed password for root from 192.0.2.1 port 22 ssh2",
            "cron[77]: no host",
            "web1 sshd[5]: Invalid user \u{fffd}\u{fffd}admin from 192.0.2.2",
            "web1 app: first\\nsecond",
            "web1 kernel: [    5.123456] IN=eth0 SRC=192.0.2.3",
            "app: late",
        ]
    );
    let times: Vec<f64> = entries.iter().map(|e| e.time).collect();
    assert_eq!(
        times,
        [
            1_700_000_000.0 + 0.123456,
            1_700_000_001.0,
            1_700_000_002.0,
            1_700_000_003.0,
            1_700_000_004.0,
            1_699_999_999.0 + 0.999999,
        ]
    );
}

#[test]
fn start_at_a_time_reads_from_there_and_then_follows() {
    let (_dir, path) = temp_journal();
    append_journal(
        &path,
        &[
            sshd(T0, "old"),
            sshd(T0 + 10 * SEC, "at"),
            sshd(T0 + 20 * SEC, "after"),
        ],
    );
    let at = |t: u64| spec(files(&path), "", Start::Time(t as f64 / 1e6));
    assert_eq!(messages(&read_all(&at(T0 + 10 * SEC))), ["at", "after"]);
    assert_eq!(messages(&read_all(&at(T0 + 11 * SEC))), ["after"]);

    // Past the end: nothing now, but entries appended later are read even if their clock is
    // behind the start time.
    let (tx, rx) = mpsc::channel();
    let _watcher = watch_journal(at(T0 + 100 * SEC), tx).unwrap();
    append_journal(&path, &[sshd(T0 + 30 * SEC, "appended")]);
    assert_eq!(messages(&receive(&rx, 1)), ["appended"]);
}

#[test]
fn a_backlog_comes_in_bounded_batches_and_the_last_says_caught_up() {
    let (_dir, path) = temp_journal();
    let n = MAX_BATCH + 10;
    let backlog: Vec<Entry> = (0..n as u64)
        .map(|i| sshd(T0 + i * SEC, &format!("{i}")))
        .collect();
    append_journal(&path, &backlog);
    let (tx, rx) = mpsc::channel();
    let watcher = watch_journal(spec(files(&path), "", Start::Time(T0 as f64 / 1e6)), tx).unwrap();
    assert!(watcher.wait_caught_up(Duration::from_secs(5)));
    let batches: Vec<JournalBatch> = rx.try_iter().collect();
    let sizes: Vec<(usize, bool)> = batches
        .iter()
        .map(|b| (b.entries.len(), b.caught_up))
        .collect();
    assert_eq!(sizes, [(MAX_BATCH, false), (10, true)]);
    let all: Vec<JournalEntry> = batches.into_iter().flat_map(|b| b.entries).collect();
    assert!(messages(&all)
        .iter()
        .enumerate()
        .all(|(i, m)| *m == i.to_string()));
}

#[test]
fn tail_skips_old_entries_and_follows_appends() {
    let (_dir, path) = temp_journal();
    append_journal(
        &path,
        &[
            sshd(T0, "old 1"),
            cron(T0 + SEC, "old cron"),
            sshd(T0 + 2 * SEC, "old 2"),
        ],
    );
    let (tx, rx) = mpsc::channel();
    let watcher = watch_journal(
        spec(files(&path), "_SYSTEMD_UNIT=sshd.service", Start::Tail),
        tx,
    )
    .unwrap();
    append_journal(
        &path,
        &[cron(T0 + 3 * SEC, "new cron"), sshd(T0 + 4 * SEC, "new 1")],
    );
    append_journal(&path, &[sshd(T0 + 5 * SEC, "new 2")]);
    assert_eq!(messages(&receive(&rx, 2)), ["new 1", "new 2"]);

    let t = Instant::now();
    drop(watcher);
    assert!(
        t.elapsed() < Duration::from_millis(500),
        "stop took {:?}",
        t.elapsed()
    );
}

#[test]
fn tail_of_a_journal_without_matching_entries_reads_every_later_one() {
    let (dir, path) = temp_journal();
    append_journal(&path, &[cron(T0, "old cron")]);
    let (tx, rx) = mpsc::channel();
    let _watcher = watch_journal(
        spec(
            JournalSource::Directory(dir.path().to_owned()),
            "_SYSTEMD_UNIT=sshd.service",
            Start::Tail,
        ),
        tx,
    )
    .unwrap();
    append_journal(&path, &[sshd(T0 + SEC, "first sshd")]);
    // A second file appearing in the directory is read too.
    append_journal(
        &dir.path().join("second.journal"),
        &[sshd(T0 + 2 * SEC, "in second file")],
    );
    assert_eq!(messages(&receive(&rx, 2)), ["first sshd", "in second file"]);
}

#[test]
fn rotation_and_removal_in_a_directory_neither_repeat_nor_skip() {
    let (dir, path) = temp_journal();
    append_journal(&path, &[sshd(T0, "old")]);
    let (tx, rx) = mpsc::channel();
    let _watcher = watch_journal(
        spec(
            JournalSource::Directory(dir.path().to_owned()),
            "",
            Start::Tail,
        ),
        tx,
    )
    .unwrap();
    append_journal(&path, &[sshd(T0 + SEC, "1")]);
    assert_eq!(messages(&receive(&rx, 1)), ["1"]);
    // Rotated as journald does (renamed aside, a new file started later).
    let rotated = |n: u32| {
        dir.path()
            .join(format!("remote@{n:032x}-0000000000000001.journal"))
    };
    std::fs::rename(&path, rotated(1)).unwrap();
    append_journal(&path, &[sshd(T0 + 2 * SEC, "2")]);
    assert_eq!(messages(&receive(&rx, 1)), ["2"]);
    // Rotated, and the rotated file vacuumed, while reading stands on its last entry.
    std::fs::rename(&path, rotated(2)).unwrap();
    std::fs::remove_file(rotated(2)).unwrap();
    append_journal(&path, &[sshd(T0 + 3 * SEC, "3"), sshd(T0 + 4 * SEC, "4")]);
    assert_eq!(messages(&receive(&rx, 2)), ["3", "4"]);
}

#[test]
fn resuming_from_a_cursor_delivers_each_entry_once() {
    let (_dir, path) = temp_journal();
    append_journal(
        &path,
        &[sshd(T0, "1"), sshd(T0 + SEC, "2"), sshd(T0 + 2 * SEC, "3")],
    );
    let all = read_all(&spec(files(&path), "", Start::Time(0.0)));
    assert_eq!(messages(&all), ["1", "2", "3"]);
    let from = |cursor: &str| spec(files(&path), "", Start::Cursor(cursor.into()));
    assert_eq!(messages(&read_all(&from(&all[0].cursor))), ["2", "3"]);
    assert_eq!(messages(&read_all(&from(&all[2].cursor))), [""; 0]);

    // Follow from the last cursor, stop, append while stopped, resume from the last cursor
    // handed out: every entry exactly once.
    let (tx, rx) = mpsc::channel();
    let watcher = watch_journal(from(&all[2].cursor), tx).unwrap();
    append_journal(&path, &[sshd(T0 + 3 * SEC, "4"), sshd(T0 + 4 * SEC, "5")]);
    let got = receive(&rx, 2);
    assert_eq!(messages(&got), ["4", "5"]);
    drop(watcher);
    append_journal(&path, &[sshd(T0 + 5 * SEC, "6")]);
    let (tx, rx) = mpsc::channel();
    let _watcher = watch_journal(from(&got[1].cursor), tx).unwrap();
    assert_eq!(messages(&receive(&rx, 1)), ["6"]);

    // A cursor whose entry does not match (any more) resumes at the next one that does.
    let from_unmatched = spec(
        files(&path),
        "MESSAGE=3 + MESSAGE=6",
        Start::Cursor(all[0].cursor.clone()),
    );
    assert_eq!(messages(&read_all(&from_unmatched)), ["3", "6"]);
}

#[test]
fn bad_matches_and_cursors_are_refused_when_starting() {
    let (_dir, path) = temp_journal();
    append_journal(&path, &[sshd(T0, "1")]);
    let (tx, _rx) = mpsc::channel();
    let e = watch_journal(spec(files(&path), "sshd.service", Start::Tail), tx.clone())
        .err()
        .unwrap();
    assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
    assert!(e.to_string().contains("\"sshd.service\""), "{e}");
    let e = watch_journal(
        spec(files(&path), "", Start::Cursor("garbage".into())),
        tx.clone(),
    )
    .err()
    .unwrap();
    assert!(e.to_string().contains("garbage"), "{e}");
    let missing = path.with_file_name("missing.journal");
    assert!(watch_journal(spec(files(&missing), "", Start::Tail), tx).is_err());
}
