//! Arbitrary log lines through the date detector: find the date (`match_time`), cut it out
//! and convert it (`time`). Must return, never panic, whatever the line or `datepattern`.
//!
//! Input: byte 0 picks a `datepattern` (the default templates, one of a list of patterns
//! real filters use, or — for the last values — the first line of the input itself, with the
//! second line as `logtimezone`); byte 1 picks the time zone and "now". The remaining lines
//! (at most 16) go through one detector in order, so template reordering is exercised too.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use warden_filter::date::convert::parse_zone;
use warden_filter::date::DateDetector;

/// `datepattern` values of the kinds Fail2Ban's filters use (after `%%` → `%`).
const PATTERNS: &[Option<&str>] = &[
    None,
    Some("{^LN-BEG}"),
    Some("{^LN-BEG}Epoch"),
    Some(r"{^LN-BEG}%ExY(?P<_sep>[-/.])%m(?P=_sep)%d[T ]%H:%M:%S(?:[.,]%f)?(?:\s*%z)?"),
    Some(r"^[^\[]*\[({DATE})"),
    Some("{^LN-BEG}TAI64N"),
    Some("{^LN-BEG}%b-%d-%Exy %H:%M:%S"),
    Some("^t=%Y-%m-%dT%H:%M:%S%z"),
    Some("%d/%b[^/]*/%Y:%H:%M:%S %z"),
    Some("^%b %d, %ExY %I:%M:%S %p"),
    Some("^%H:%M:%S.%f"),
    Some("EPOCH"),
    Some("LEPOCH"),
    Some("{NONE}"),
    Some(r"^(?:%Y-)?%m-%d[ T]%H:%M:%S(?:\.%f)?"),
    Some("^%Y-%m-%d %H:%M:%S\n{^LN-BEG}"),
    Some(r"^<\d+>\d+\s+{DATE}"),
    Some("%a %b %d %H:%M:%S %Y %Z"),
    Some("^%ExY%Exm%Exd %ExH:%ExM:%ExS"),
    Some(r"^L %d/%m/%Y - %H:%M:%S"),
];
/// Byte-0 values from here on take the datepattern from the input.
const CUSTOM: usize = PATTERNS.len();

const ZONES: &[Option<&str>] = &[
    None,
    Some("UTC"),
    Some("UTC+0200"),
    Some("-05:30"),
    Some("CEST"),
];
/// 2005-11-30 UTC (the sample suite's "now"), 2024-02-29 12:00 UTC, 0, far future.
const NOWS: &[f64] = &[1_133_352_000.0, 1_709_208_000.0, 0.0, 32_503_680_000.0];

fn detectors() -> &'static [DateDetector] {
    static CACHE: OnceLock<Vec<DateDetector>> = OnceLock::new();
    CACHE.get_or_init(|| {
        PATTERNS
            .iter()
            .map(|p| DateDetector::from_datepattern(*p).expect("known-good datepattern"))
            .collect()
    })
}

fuzz_target!(|data: &[u8]| {
    let [sel, env, rest @ ..] = data else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    let mut lines = text.split('\n');
    let index = usize::from(*sel);
    let mut zone = ZONES[usize::from(env & 7) % ZONES.len()].and_then(parse_zone);
    let mut detector = if index < CUSTOM {
        detectors()[index].clone()
    } else {
        let pattern = lines.next().unwrap_or_default();
        let tz = lines.next().unwrap_or_default();
        if !tz.is_empty() {
            zone = parse_zone(tz);
        }
        match DateDetector::from_datepattern(Some(pattern)) {
            Ok(d) => d,
            Err(_) => return,
        }
    };
    detector.set_default_tz(zone);
    let now = NOWS[usize::from(env >> 3) % NOWS.len()];
    for line in lines.take(16) {
        let Some(m) = detector.match_time(line, now) else {
            continue;
        };
        if let Some((s, e)) = m.date_span() {
            assert!(s <= e && e <= line.len(), "date span {s}..{e} of {line:?}");
            assert!(line.is_char_boundary(s) && line.is_char_boundary(e));
        }
        if let Ok(t) = detector.time(line, &m, now) {
            assert!(!t.is_nan(), "NaN time for {line:?}");
        }
    }
});
