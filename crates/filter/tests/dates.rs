//! Date detection and conversion, line by line, against answers recorded from Fail2Ban
//! 1.0.2's `Filter.processLine` (TZ `CET-01CEST-02,M3.5.0,M10.5.0`, fixed "now").
//!
//! Each scenario is one filter (so template statistics carry over from line to line, as in
//! the daemon). The failregex `^(?P<fid>.*)$` captures the text the regexes see, which shows
//! where the date was cut out. `None` as expected time means Fail2Ban found no usable date
//! (Warden then uses "now").

use warden_filter::{Filter, FilterSpec, UseDns};

struct Scenario {
    name: &'static str,
    datepattern: Option<&'static str>,
    logtimezone: Option<&'static str>,
    now: f64,
    /// (line, text seen by the failregex, time)
    lines: &'static [(&'static str, &'static str, Option<f64>)],
}

const SCENARIOS: &[Scenario] = &[
    Scenario {
        name: "defaults",
        datepattern: None,
        logtimezone: None,
        now: 1767700800.0,
        lines: &[
            (
                "Jan  6 10:00:00 host sshd[1]: message",
                " host sshd[1]: message",
                Some(1767690000.0),
            ),
            (
                "Tue Jan  6 10:00:01.123 2026 host x",
                " host x",
                Some(1767690001.0),
            ),
            ("Jan  6 2026 10:00:02 host y", " host y", Some(1767690002.0)),
            (
                "2026-01-06T10:00:03.123456+01:00 host z",
                " host z",
                Some(1767690003.0),
            ),
            (
                "2026-01-06 10:00:04,123 host z",
                " host z",
                Some(1767690004.0),
            ),
            ("2026/01/06 10:00:05 host", " host", Some(1767690005.0)),
            (
                "2026.01.06 10:00:06 syslog-ng",
                " syslog-ng",
                Some(1767690006.0),
            ),
            ("06/01/2026 10:00:07 x11vnc", " x11vnc", Some(1767690007.0)),
            (
                "06-01-26 10:00:08 short year",
                " short year",
                Some(1767690008.0),
            ),
            (
                "[06/Jan/2026:10:00:09 +0000] apache",
                "[] apache",
                Some(1767693609.0),
            ),
            (
                "06-Jan-2026 10:00:10.252 named",
                " named",
                Some(1767690010.0),
            ),
            (
                "06-Jan-2026 10:00:11 +0200 roundcube",
                " roundcube",
                Some(1767686411.0),
            ),
            ("01/06/2026:10:00:12 cpanel", " cpanel", Some(1767690012.0)),
            ("01-06-2026 10:00:13.252 x", ".252 x", Some(1780300813.0)),
            ("1767693614 epoch", " epoch", Some(1767693614.0)),
            ("[1767693615] nsd", "[] nsd", Some(1767693615.0)),
            (
                "type=USER_AUTH msg=audit(1767693616.123:12345): pid=1",
                "type=USER_AUTH msg=audit(:12345): pid=1",
                Some(1767693616.123),
            ),
            ("10:00:17 time only", " time only", Some(1767690017.0)),
            ("<01/06/26@10:00:18> assp", " assp", Some(1767690018.0)),
            ("260106 10:00:19 mysql", " mysql", Some(1767690019.0)),
            (
                "Jan 06, 2026 10:00:20 AM tomcat",
                " tomcat",
                Some(1767690020.0),
            ),
            (
                "Jan 06, 2026 01:00:21 PM tomcat",
                " tomcat",
                Some(1767700821.0),
            ),
            ("Jan-06-26 10:00:22 assp", " assp", Some(1767690022.0)),
            ("20260106T100023 compact", " compact", Some(1767690023.0)),
            (
                "20260106 100024.5+0100 compact",
                " compact",
                Some(1767690024.0),
            ),
            ("PDT Jan  6 10:00:25 monit", " monit", Some(1767718825.0)),
            (
                "+01:00 Jan  6 10:00:26 offset",
                " offset",
                Some(1767690026.0),
            ),
            (
                "@4000000069595b3b00000000 tai64n",
                " tai64n",
                Some(1767463739.0),
            ),
            ("no date at all here", "no date at all here", None),
            (
                "Dec 31 23:59:59 last year",
                " last year",
                Some(1767221999.0),
            ),
            (
                "Jan  7 11:00:00 tomorrow within a day",
                " tomorrow within a day",
                Some(1767780000.0),
            ),
            (
                "Jan  8 11:00:00 two days ahead",
                " two days ahead",
                Some(1736330400.0),
            ),
            ("23:59:59 later today", " later today", Some(1767653999.0)),
            (
                "host prefix Jan  6 10:00:27 later in line",
                "host prefix  later in line",
                Some(1767690027.0),
            ),
            (
                "x [06/Jan/2026:10:00:28.123] y Jan  6 10:00:29",
                "x [] y Jan  6 10:00:29",
                Some(1767690028.0),
            ),
            (
                "Jan  6 10:00:30 a [06/Jan/2026:10:00:31] b",
                " a [06/Jan/2026:10:00:31] b",
                Some(1767690030.0),
            ),
            (
                "éé Jan  6 10:00:32 accented prefix",
                "éé  accented prefix",
                Some(1767690032.0),
            ),
            ("Feb 30 10:00:33 invalid day", " invalid day", None),
            ("Jan  6 24:00:34 invalid hour", " invalid hour", None),
            ("Jan  6 10:00:60 leap second", " leap second", None),
            (
                "  Jan  6 10:00:35 leading spaces",
                "   leading spaces",
                Some(1767690035.0),
            ),
            (
                "[Jan  6 10:00:36] bracketed",
                "[] bracketed",
                Some(1767690036.0),
            ),
        ],
    },
    Scenario {
        name: "lnbeg",
        datepattern: Some("{^LN-BEG}"),
        logtimezone: None,
        now: 1767700800.0,
        lines: &[
            ("Jan  6 10:00:00 host a", " host a", Some(1767690000.0)),
            (
                "prefix Jan  6 10:00:01 host b",
                "prefix Jan  6 10:00:01 host b",
                None,
            ),
            ("2026-01-06 10:00:02 c", " c", Some(1767690002.0)),
        ],
    },
    Scenario {
        name: "datepat",
        datepattern: Some("%Y-%m-%d %H:%M:%S"),
        logtimezone: None,
        now: 1767700800.0,
        lines: &[
            ("2026-01-06 10:00:00 a", " a", Some(1767690000.0)),
            ("x 2026-01-06 10:00:01 b", "x  b", Some(1767690001.0)),
            ("2026-01-06T10:00:02 c", "2026-01-06T10:00:02 c", None),
        ],
    },
    Scenario {
        name: "datepat_utc",
        datepattern: Some("%Y-%m-%d %H:%M:%S"),
        logtimezone: Some("UTC+0200"),
        now: 1767700800.0,
        lines: &[
            ("2026-01-06 10:00:00 a", " a", Some(1767686400.0)),
            (
                "2026-01-06 10:00:00 +0100 b",
                " +0100 b",
                Some(1767686400.0),
            ),
        ],
    },
    Scenario {
        name: "prematch",
        datepattern: Some("^[^\\[]*\\[({DATE})"),
        logtimezone: None,
        now: 1767700800.0,
        lines: &[
            (
                "host [06/Jan/2026:10:00:00 +0000] a",
                "host [] a",
                Some(1767693600.0),
            ),
            (
                "Jan  6 10:00:01 [06/Jan/2026:10:00:02] b",
                "Jan  6 10:00:01 [] b",
                Some(1767690002.0),
            ),
            (
                "no bracket Jan  6 10:00:03",
                "no bracket Jan  6 10:00:03",
                None,
            ),
        ],
    },
    Scenario {
        name: "epoch",
        datepattern: Some("EPOCH"),
        logtimezone: None,
        now: 1767700800.0,
        lines: &[
            ("1767693600 a", " a", Some(1767693600.0)),
            ("x 1767693601.5 b", "x 1767693601.5 b", None),
            ("[1767693602] c", "[] c", Some(1767693602.0)),
        ],
    },
    Scenario {
        name: "lepoch",
        datepattern: Some("LEPOCH"),
        logtimezone: None,
        now: 1767700800.0,
        lines: &[
            ("1767693600123 a", " a", Some(1767693600.123)),
            ("1767693600123456 b", " b", Some(1767693600.123456)),
            ("1767693600.5 c", ".5 c", Some(1767693600.0)),
            ("1767693600123.25 d", " d", Some(1767693600.12325)),
        ],
    },
    Scenario {
        name: "lnepoch",
        datepattern: Some("^EPOCH"),
        logtimezone: None,
        now: 1767700800.0,
        lines: &[
            ("1767693600 a", " a", Some(1767693600.0)),
            ("x 1767693601 b", "x 1767693601 b", None),
        ],
    },
    Scenario {
        name: "tai",
        datepattern: Some("TAI64N"),
        logtimezone: None,
        now: 1767700800.0,
        lines: &[
            ("@4000000069595b3b00000000 a", " a", Some(1767463739.0)),
            ("x @4000000069595b3c00000000 b", "x  b", Some(1767463740.0)),
        ],
    },
    Scenario {
        name: "none",
        datepattern: Some("{NONE}"),
        logtimezone: None,
        now: 1767700800.0,
        lines: &[
            ("Jan  6 10:00:00 a", "Jan  6 10:00:00 a", Some(1767700800.0)),
            ("anything", "anything", Some(1767700800.0)),
        ],
    },
    Scenario {
        name: "empty_group",
        datepattern: Some("^WARNING:()**"),
        logtimezone: None,
        now: 1767700800.0,
        lines: &[
            ("WARNING: a", "WARNING: a", Some(1767700800.0)),
            ("other b", "other b", None),
        ],
    },
    Scenario {
        name: "zones",
        datepattern: Some("%b %d %H:%M:%S %Z\n%b %d %H:%M:%S %z"),
        logtimezone: None,
        now: 1767700800.0,
        lines: &[
            ("Jan 06 10:00:00 CEST a", " a", Some(1767686400.0)),
            ("Jan 06 10:00:00 +0530 b", " b", Some(1767673800.0)),
            ("Jan 06 10:00:00 GMT c", " c", Some(1767693600.0)),
        ],
    },
    Scenario {
        name: "exfields",
        datepattern: Some("%ExY%Exm%Exd %ExH%ExM%ExS"),
        logtimezone: None,
        now: 1767700800.0,
        lines: &[
            ("20260106 100000 a", " a", Some(1767690000.0)),
            ("20260106 250000 b", "20260106 250000 b", None),
        ],
    },
    Scenario {
        name: "dst",
        datepattern: Some("%Y-%m-%d %H:%M:%S"),
        logtimezone: None,
        now: 1767700800.0,
        lines: &[
            ("2026-03-29 01:30:00 before", " before", Some(1774744200.0)),
            ("2026-03-29 02:30:00 gap", " gap", Some(1774747800.0)),
            ("2026-03-29 03:30:00 after", " after", Some(1774747800.0)),
            (
                "2026-10-25 02:30:00 ambiguous",
                " ambiguous",
                Some(1792891800.0),
            ),
            ("2026-07-01 12:00:00 summer", " summer", Some(1782900000.0)),
        ],
    },
    Scenario {
        name: "newyear",
        datepattern: None,
        logtimezone: None,
        now: 1767229200.0,
        lines: &[
            (
                "Dec 31 23:00:00 yesterday",
                " yesterday",
                Some(1767218400.0),
            ),
            ("Jan  1 01:30:00 today", " today", Some(1767227400.0)),
            ("Jan  2 01:30:00 tomorrow", " tomorrow", Some(1767313800.0)),
            ("Jan  3 05:00:00 future", " future", Some(1735876800.0)),
            (
                "03:00:00 time-only future",
                " time-only future",
                Some(1767146400.0),
            ),
        ],
    },
];

#[test]
fn dates_are_found_cut_and_converted_like_fail2ban() {
    crate::set_test_timezone();
    let mut rows = 0;
    for s in SCENARIOS {
        let mut f = Filter::new(&FilterSpec {
            failregex: vec![r"^(?P<fid>.*)$".to_string()],
            datepattern: s.datepattern.map(str::to_string),
            logtimezone: s.logtimezone.map(str::to_string),
            usedns: UseDns::Raw,
            maxlines: 1,
            ..Default::default()
        })
        .unwrap_or_else(|e| panic!("{}: {e:?}", s.name));
        for &(line, seen, time) in s.lines {
            let r = f.process_line(line, s.now);
            let fail = r
                .failures
                .first()
                .unwrap_or_else(|| panic!("{}: no failure for {line:?}", s.name));
            assert_eq!(
                fail.fid.as_deref().unwrap_or(""),
                seen,
                "{}: text seen for {line:?}",
                s.name
            );
            assert_eq!(
                fail.time,
                time.unwrap_or(s.now),
                "{}: time of {line:?}",
                s.name
            );
            rows += 1;
        }
    }
    println!("date scenarios: {rows} lines agreed");
}

/// Fail2Ban raises on an unknown zone abbreviation and loses the whole line.
#[test]
fn unknown_zone_abbreviation_drops_the_line() {
    crate::set_test_timezone();
    let mut f = Filter::new(&FilterSpec {
        failregex: vec![r"^(?P<fid>.*)$".to_string()],
        datepattern: Some("%b %d %H:%M:%S %Z".to_string()),
        usedns: UseDns::Raw,
        maxlines: 1,
        ..Default::default()
    })
    .unwrap();
    let r = f.process_line("Jan 06 10:00:00 XYZ d", 1_767_700_800.0);
    assert!(r.failures.is_empty());
    assert_eq!(r.time, None);
    let r = f.process_line("Jan 06 10:00:00 CEST d", 1_767_700_800.0);
    assert_eq!(r.failures[0].time, 1_767_686_400.0);
}
