//! The tutorial's HAProxy filter, checked line by line against Fail2Ban 1.0.2's
//! `fail2ban-regex` output.
//!
//! The tutorial's regex has the typo `\[\.*\]` (a bracket holding only dots). Fail2Ban still
//! matches some lines, because the date detector cuts the bracketed HAProxy date out of the
//! text the regex sees, leaving `[]`, but only when no date at the line start wins first.

use warden_filter::{lint_regex, Filter, FilterSpec, Host};

const LINES: [&str; 4] = [
    r#"Jan  6 10:00:00 lb haproxy[1234]: 192.0.2.66:51234 [06/Jan/2026:10:00:00.123] http_fe http_fe/<NOSRV> -1/-1/-1/-1/0 503 212 - - SC-- 1/1/0/0/0 0/0 "GET / HTTP/1.1""#,
    r#"2026-01-06T10:00:00.123456+01:00 lb haproxy[1234]: 192.0.2.67:51234 [06/Jan/2026:10:00:00.123] http_fe http_fe/<NOSRV> -1/-1/-1/-1/0 503 212 - - SC-- 1/1/0/0/0 0/0 "GET / HTTP/1.1""#,
    r#"lb haproxy[1234]: 192.0.2.68:51234 [06/Jan/2026:10:00:00.123] http_fe http_fe/<NOSRV> -1/-1/-1/-1/0 503 212 - - SC-- 1/1/0/0/0 0/0 "GET / HTTP/1.1""#,
    r#"Jan  6 10:00:00 lb haproxy[1234]: 192.0.2.69:51234 [...] http_fe http_fe/<NOSRV> x"#,
];

const VERBATIM: &str = r"^.*haproxy\[\d+\]: <HOST>:\d+ \[\.*\] http_fe http_fe/<NOSRV> .*";
const CORRECTED: &str = r"^.*haproxy\[\d+\]: <HOST>:\d+ \[.*\] http_fe http_fe/<NOSRV> .*";

/// 2026-01-06 12:00:00 UTC.
const NOW: f64 = 1_767_700_800.0;
/// 2026-01-06 10:00:00 CET = 09:00:00 UTC: every line's date.
const LINE_TIME: f64 = 1_767_690_000.0;

fn run(regex: &str) -> Vec<Option<(Host, f64)>> {
    crate::set_test_timezone();
    let mut f = Filter::new(&FilterSpec {
        failregex: vec![regex.to_string()],
        maxlines: 1,
        ..Default::default()
    })
    .unwrap();
    LINES
        .iter()
        .map(|l| {
            let r = f.process_line(l, NOW);
            assert_eq!(r.time, Some(LINE_TIME), "date of {l}");
            assert!(r.failures.len() <= 1);
            r.failures.first().map(|fl| {
                assert_eq!(fl.lines, vec![l.to_string()]);
                (fl.host.clone(), fl.time)
            })
        })
        .collect()
}

fn ip(s: &str) -> Host {
    Host::Ip(s.parse().unwrap())
}

#[test]
fn tutorial_regex_verbatim_matches_only_lines_3_and_4() {
    assert_eq!(
        run(VERBATIM),
        vec![
            None,
            None,
            Some((ip("192.0.2.68"), LINE_TIME)),
            Some((ip("192.0.2.69"), LINE_TIME))
        ]
    );
}

#[test]
fn corrected_regex_matches_all_4_lines() {
    assert_eq!(
        run(CORRECTED),
        vec![
            Some((ip("192.0.2.66"), LINE_TIME)),
            Some((ip("192.0.2.67"), LINE_TIME)),
            Some((ip("192.0.2.68"), LINE_TIME)),
            Some((ip("192.0.2.69"), LINE_TIME)),
        ]
    );
}

#[test]
fn lint_flags_the_tutorial_typo_with_the_corrected_regex() {
    let lints = lint_regex(VERBATIM);
    assert_eq!(lints.len(), 1);
    assert_eq!(lints[0].suggestion.as_deref(), Some(CORRECTED));
    assert!(lint_regex(CORRECTED).is_empty());
}
