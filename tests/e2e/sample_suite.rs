//! Fail2Ban's sample-log suite through `warden test-filter`.
//!
//! Debian's fail2ban 1.0.2 package (fetched at test time by `scripts/fetch-fail2ban`; its files
//! are never committed) ships an annotated sample log per filter under
//! `tests/files/logs/`: 1,067 `# failJSON:` cases. Every one must give Fail2Ban's answer with
//! the package's own `filter.d` (plus the two `zzz-*` test filters), in every `filterOptions`
//! variant. A second test runs a small sample log written here, to show that disagreements
//! are found and reported as they should be.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::warden_bin;

/// Annotated cases in the package's sample logs (`grep -c '# failJSON:'` over all of them).
const FAIL2BAN_CASES: usize = 1067;
/// Filters of the package with a sample log: 89 in `filter.d` plus the two `zzz-*` ones.
const FAIL2BAN_SAMPLED_FILTERS: usize = 91;

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

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

/// `N passed, M failed` from the command's output.
fn summary(stdout: &str) -> (usize, usize) {
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.contains(" passed, ") && l.ends_with(" failed"))
        .unwrap_or_else(|| panic!("no `N passed, M failed` line in:\n{stdout}"));
    let mut words = line.split_whitespace();
    let passed = words.next().unwrap().parse().unwrap();
    let failed = words.nth(1).unwrap().parse().unwrap();
    (passed, failed)
}

fn test_filter(config: &Path, extra: &[&str], samples: &[PathBuf]) -> (String, i32) {
    let out = Command::new(warden_bin())
        .arg("test-filter")
        .arg("--config")
        .arg(config)
        .args(extra)
        .args(samples)
        .output()
        .expect("running warden test-filter");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.is_empty(), "stderr: {stderr}");
    (
        String::from_utf8(out.stdout).unwrap(),
        out.status.code().unwrap_or(-1),
    )
}

#[test]
fn every_fail2ban_sample_case_passes() {
    let root = fail2ban_root();
    let package = root.join("usr/lib/python3/dist-packages/fail2ban/tests");
    let work = tempfile::tempdir().unwrap();
    // The configuration: the package's /etc/fail2ban with the two zzz-* test filters next to
    // common.conf. Those include `../../../../../../../config/filter.d/common.conf` relative to
    // their directory (the layout of Fail2Ban's source tree, broken in Debian's), so the copy
    // sits six levels down and that path leads to a copy of common.conf: the include resolves
    // as written, for Warden and for Fail2Ban alike.
    let config = work.path().join("1/2/3/4/5/fail2ban");
    copy_tree(&root.join("etc/fail2ban"), &config);
    for name in [
        "zzz-generic-example.conf",
        "zzz-sshd-obsolete-multiline.conf",
    ] {
        std::fs::copy(
            package.join("config/filter.d").join(name),
            config.join("filter.d").join(name),
        )
        .unwrap();
    }
    let include_target = work.path().join("config/filter.d");
    std::fs::create_dir_all(&include_target).unwrap();
    std::fs::copy(
        config.join("filter.d/common.conf"),
        include_target.join("common.conf"),
    )
    .unwrap();

    // Every sample log named after a filter (the others are pulled in with `# addFILE:`).
    let mut samples: Vec<PathBuf> = std::fs::read_dir(package.join("files/logs"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .filter(|p| {
            let name = p.file_name().unwrap().to_str().unwrap();
            config
                .join("filter.d")
                .join(format!("{name}.conf"))
                .is_file()
        })
        .collect();
    samples.sort();
    assert_eq!(samples.len(), FAIL2BAN_SAMPLED_FILTERS);

    let (stdout, code) = test_filter(&config, &[], &samples);
    let (passed, failed) = summary(&stdout);
    println!("{passed} passed, {failed} failed");
    assert_eq!(
        (passed + failed, failed),
        (FAIL2BAN_CASES, 0),
        "warden test-filter disagrees with Fail2Ban's samples:\n{stdout}"
    );
    assert_eq!(passed, FAIL2BAN_CASES);
    assert_eq!(code, 0, "filter checks failed:\n{stdout}");
}

/// A filter with two modes, written for this test. (The date is cut out of the line before the
/// regexes run, leaving the space that followed it.)
const DEMO_FILTER: &str = r"
[Init]
mode = normal

[Definition]
normal = ^\s*auth failed for <F-USER>\S+</F-USER> from <HOST>$
extra = ^\s*probe from <HOST>$
failregex = %(normal)s
            <extra-<mode>>
extra-normal =
extra-aggressive = %(extra)s
            ^\s*never matched from <HOST>$
";

/// A sample log for it; the comments say which cases must fail.
const DEMO_SAMPLE: &str = r#"# A sample log with deliberate mistakes.
# failJSON: { "time": "2005-08-14T11:59:00", "match": true, "host": "192.0.2.1", "user": "bob" }
2005-08-14 11:59:00 auth failed for bob from 192.0.2.1
# wrong host, wrong user:
# failJSON: { "time": "2005-08-14T11:59:01", "match": true, "host": "192.0.2.9", "user": "al" }
2005-08-14 11:59:01 auth failed for bob from 192.0.2.2
# wrong time (an hour off: the annotation is local time, CEST):
# failJSON: { "time": "2005-08-14T10:59:02", "match": true, "host": "192.0.2.3" }
2005-08-14 11:59:02 auth failed for bob from 192.0.2.3
# failJSON: { "match": false }
2005-08-14 11:59:03 auth succeeded for bob from 192.0.2.4
# filterOptions: [{}, {"mode": "aggressive"}]
# matches in aggressive mode only, so normal mode fails it:
# failJSON: { "match": true, "host": "2001:db8::1" }
2005-08-14 11:59:04 probe from 2001:DB8::1
# failJSON: { "match": true, "host": "2001:db8::2", "constraint": "opts.get('mode') == 'aggressive'" }
2005-08-14 11:59:05 probe from 2001:db8::2
# filterOptions: [{"test.condition": "name == 'other'"}]
# failJSON: { "match": true, "host": "198.51.100.1" }
2005-08-14 11:59:06 never checked: the block is for another filter
"#;

#[test]
fn disagreements_are_reported_with_file_line_variant_and_field() {
    let work = tempfile::tempdir().unwrap();
    let config = work.path().join("conf");
    std::fs::create_dir_all(config.join("filter.d")).unwrap();
    std::fs::write(config.join("filter.d/demo.conf"), DEMO_FILTER).unwrap();
    let sample = work.path().join("demo");
    std::fs::write(&sample, DEMO_SAMPLE).unwrap();

    let (stdout, code) = test_filter(&config, &[], std::slice::from_ref(&sample));
    assert_eq!(code, 1, "{stdout}");
    let at = |line: usize| format!("{}:{line}: ", sample.display());
    // The report of one line: its header and the indented lines under it.
    let block = |line: usize| -> String {
        let mut lines = stdout.lines().skip_while(|l| !l.starts_with(&at(line)));
        let head = lines
            .next()
            .unwrap_or_else(|| panic!("line {line} not reported:\n{stdout}"));
        let body: Vec<&str> = lines.take_while(|l| l.starts_with("  ")).collect();
        format!("{head}\n{}", body.join("\n"))
    };
    for ok in [3, 11, 17, 20] {
        assert!(!stdout.contains(&at(ok)), "line {ok} reported:\n{stdout}");
    }
    let wrong = block(6);
    assert!(
        wrong.contains("[demo] host: expected \"192.0.2.9\", got 192.0.2.2"),
        "{wrong}"
    );
    assert!(
        wrong.contains("[demo] user: expected \"al\", got \"bob\""),
        "{wrong}"
    );
    let time = block(9);
    assert!(
        time.contains("time: expected 2005-08-14T10:59:02")
            && time.contains("got 2005-08-14T11:59:02"),
        "{time}"
    );
    let probe = block(15);
    assert!(
        probe.contains("[demo] match: expected a failure, got no failure"),
        "{probe}"
    );
    assert!(!probe.contains("aggressive"), "{probe}");
    // The second regex of aggressive mode never matched a sample.
    assert!(
        stdout.contains("[demo{'mode': 'aggressive'}] failregex #3 has no samples"),
        "{stdout}"
    );
    assert!(stdout.contains("1 skipped"), "{stdout}");
    assert_eq!(summary(&stdout), (3, 3), "{stdout}");

    // The same as JSON, one entry per case.
    let (json, code) = test_filter(&config, &["--json"], &[sample]);
    assert_eq!(code, 1);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let status: Vec<(u64, &str)> = v["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["line"].as_u64().unwrap(), c["status"].as_str().unwrap()))
        .collect();
    assert_eq!(
        status,
        vec![
            (3, "passed"),
            (6, "failed"),
            (9, "failed"),
            (11, "passed"),
            (15, "failed"),
            (17, "passed"),
            (20, "skipped"),
        ]
    );
    assert_eq!(v["checks"].as_array().unwrap().len(), 1);
}
