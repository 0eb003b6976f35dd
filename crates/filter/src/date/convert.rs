//! Matched date fields → seconds since the epoch, as Fail2Ban's `reGroupDictStrptime` does.
//!
//! Rules reproduced: a missing year is this year, or last year when the date would be more
//! than a day in the future; a missing date is today, or yesterday when the time is still to
//! come; `%z`/`%Z` give a fixed offset (abbreviations from a fixed table, no DST logic);
//! otherwise the jail's `logtimezone`, otherwise local time through the C library's `mktime`
//! (so the `TZ` environment variable, POSIX rule strings included, applies exactly as it does
//! for Python's `time.mktime`). `%f` is matched but ignored.

/// Fixed offsets (in minutes) of time-zone abbreviations Fail2Ban knows.
const TZ_TABLE: &[(f64, &[&str])] = &[
    (-12.0, &["Y"]),
    (-11.0, &["X", "NUT", "SST"]),
    (-10.0, &["W", "CKT", "HAST", "HST", "TAHT", "TKT"]),
    (-9.0, &["V", "AKST", "GAMT", "GIT", "HADT", "HNY"]),
    (-8.0, &["U", "AKDT", "CIST", "HAY", "HNP", "PST", "PT"]),
    (-7.0, &["T", "HAP", "HNR", "MST", "PDT"]),
    (-6.0, &["S", "CST", "EAST", "GALT", "HAR", "HNC", "MDT"]),
    (
        -5.0,
        &[
            "R", "CDT", "COT", "EASST", "ECT", "EST", "ET", "HAC", "HNE", "PET",
        ],
    ),
    (
        -4.0,
        &[
            "Q", "AST", "BOT", "CLT", "COST", "EDT", "FKT", "GYT", "HAE", "HNA", "PYT",
        ],
    ),
    (
        -3.0,
        &[
            "P", "ADT", "ART", "BRT", "CLST", "FKST", "GFT", "HAA", "PMST", "PYST", "SRT", "UYT",
            "WGT",
        ],
    ),
    (-2.0, &["O", "BRST", "FNT", "PMDT", "UYST", "WGST"]),
    (-1.0, &["N", "AZOT", "CVT", "EGT"]),
    (0.0, &["Z", "EGST", "GMT", "UTC", "WET", "WT"]),
    (1.0, &["A", "CET", "DFT", "WAT", "WEDT", "WEST"]),
    (2.0, &["B", "CAT", "CEDT", "CEST", "EET", "SAST", "WAST"]),
    (3.0, &["C", "EAT", "EEDT", "EEST", "IDT", "MSK"]),
    (
        4.0,
        &[
            "D", "AMT", "AZT", "GET", "GST", "KUYT", "MSD", "MUT", "RET", "SAMT", "SCT",
        ],
    ),
    (
        5.0,
        &[
            "E", "AMST", "AQTT", "AZST", "HMT", "MAWT", "MVT", "PKT", "TFT", "TJT", "TMT", "UZT",
            "YEKT",
        ],
    ),
    (
        6.0,
        &[
            "F", "ALMT", "BIOT", "BTT", "IOT", "KGT", "NOVT", "OMST", "YEKST",
        ],
    ),
    (
        7.0,
        &[
            "G", "CXT", "DAVT", "HOVT", "ICT", "KRAT", "NOVST", "OMSST", "THA", "WIB",
        ],
    ),
    (
        8.0,
        &[
            "H", "ACT", "AWST", "BDT", "BNT", "CAST", "HKT", "IRKT", "KRAST", "MYT", "PHT", "SGT",
            "ULAT", "WITA", "WST",
        ],
    ),
    (
        9.0,
        &[
            "I", "AWDT", "IRKST", "JST", "KST", "PWT", "TLT", "WDT", "WIT", "YAKT",
        ],
    ),
    (10.0, &["K", "AEST", "ChST", "PGT", "VLAT", "YAKST", "YAPT"]),
    (
        11.0,
        &[
            "L", "AEDT", "LHDT", "MAGT", "NCT", "PONT", "SBT", "VLAST", "VUT",
        ],
    ),
    (
        12.0,
        &[
            "M", "ANAST", "ANAT", "FJT", "GILT", "MAGST", "MHT", "NZST", "PETST", "PETT", "TVT",
            "WFT",
        ],
    ),
    (13.0, &["FJST", "NZDT"]),
    (11.5, &["NFT"]),
    (10.5, &["ACDT", "LHST"]),
    (9.5, &["ACST"]),
    (6.5, &["CCT", "MMT"]),
    (5.75, &["NPT"]),
    (5.5, &["SLT"]),
    (4.5, &["AFT", "IRDT"]),
    (3.5, &["IRST"]),
    (-2.5, &["HAT", "NDT"]),
    (-3.5, &["HNT", "NST", "NT"]),
    (-4.5, &["HLV", "VET"]),
    (-9.5, &["MART", "MIT"]),
];

fn abbreviation_offset(abbr: &str) -> Option<i32> {
    if abbr.is_empty() {
        return Some(0);
    }
    TZ_TABLE
        .iter()
        .find(|(_, names)| names.contains(&abbr))
        .map(|(h, _)| (h * 60.0) as i32)
}

/// Why matched date text gives no time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TimeError {
    /// Not a valid date (Fail2Ban logs it and treats the line as having no date).
    Invalid,
    /// A well-formed but unknown zone abbreviation (Fail2Ban fails on the whole line).
    UnknownZone(String),
}

/// Parse a time-zone value `(ABBR)?([+-]hh(:?mm)?)?` (e.g. `UTC`, `UTC+0200`, `+01:00`,
/// `CEST`) to an offset in minutes east of UTC. `None` when malformed or unknown.
pub fn parse_zone(tz: &str) -> Option<i32> {
    zone_offset(tz).ok()
}

/// Like [`parse_zone`], telling a malformed value from an unknown abbreviation.
pub fn zone_offset(tz: &str) -> Result<i32, TimeError> {
    let b = tz.as_bytes();
    // Abbreviation: one upper-case letter, optionally followed by 2 to 4 more.
    let mut i = 0;
    if b.first().is_some_and(u8::is_ascii_uppercase) {
        let n = b[1..].iter().take_while(|c| c.is_ascii_uppercase()).count();
        i = if n >= 2 { 1 + n.min(4) } else { 1 };
    }
    let (abbr, off) = tz.split_at(i);
    if !off.is_empty() && !zone_offset_shape(off) {
        return Err(TimeError::Invalid);
    }
    let base = abbreviation_offset(abbr).ok_or_else(|| TimeError::UnknownZone(abbr.to_string()))?;
    if off.is_empty() {
        return Ok(base);
    }
    let ob = off.as_bytes();
    let sign = match ob[0] {
        b'+' => 1,
        b'-' => -1,
        _ => return Err(TimeError::Invalid),
    };
    let digits = |s: &[u8]| s.iter().all(u8::is_ascii_digit);
    let (hh, mm) = match ob.len() {
        3 if digits(&ob[1..3]) => (&off[1..3], "00"),
        5 if digits(&ob[1..5]) => (&off[1..3], &off[3..5]),
        6 if ob[3] == b':' && digits(&ob[1..3]) && digits(&ob[4..6]) => (&off[1..3], &off[4..6]),
        _ => return Err(TimeError::Invalid),
    };
    if !matches!(ob[1], b'0' | b'1') {
        return Err(TimeError::Invalid);
    }
    let hh: i32 = hh.parse().map_err(|_| TimeError::Invalid)?;
    let mm: i32 = mm.parse().map_err(|_| TimeError::Invalid)?;
    if ob.len() == 3 {
        Ok(base + sign * hh * 60)
    } else {
        Ok(base + sign * (hh * 60 + mm))
    }
}

/// `[+-][01]\d(:?\d{2})?`
fn zone_offset_shape(off: &str) -> bool {
    let b = off.as_bytes();
    let d = |i: usize| b.get(i).is_some_and(u8::is_ascii_digit);
    let head = b.len() >= 3 && matches!(b[0], b'+' | b'-') && matches!(b[1], b'0' | b'1') && d(2);
    head && match b.len() {
        3 => true,
        5 => d(3) && d(4),
        6 => b[3] == b':' && d(4) && d(5),
        _ => false,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m as i64 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

/// Inverse of [`days_from_civil`].
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719468;
    let era = if z >= 0 { z } else { z - 146096 } / 146097;
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        _ => 28,
    }
}

/// A naive (zone-less) date and time, as Python's `datetime` without tzinfo.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Naive {
    /// Seconds since 1970-01-01 00:00 of the naive calendar (not UTC-adjusted).
    pub secs: i64,
}

impl Naive {
    /// Build from fields; `None` when the date or time is invalid (as `datetime()` raises).
    pub fn new(y: i64, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> Option<Naive> {
        if !(1..=9999).contains(&y)
            || !(1..=12).contains(&mo)
            || d == 0
            || d > days_in_month(y, mo)
            || h > 23
            || mi > 59
            || s > 59
        {
            return None;
        }
        Some(Naive {
            secs: days_from_civil(y, mo, d) * 86400 + (h * 3600 + mi * 60 + s) as i64,
        })
    }

    /// Fields `(y, m, d, H, M, S)`.
    pub fn fields(self) -> (i64, u32, u32, u32, u32, u32) {
        let days = self.secs.div_euclid(86400);
        let t = self.secs.rem_euclid(86400) as u32;
        let (y, m, d) = civil_from_days(days);
        (y, m, d, t / 3600, t / 60 % 60, t % 60)
    }
}

extern "C" {
    fn tzset();
}

/// Offsets (seconds east of UTC) of local time, cached per quarter hour.
///
/// glibc re-reads `/etc/localtime` (a `stat` at least) on every `mktime`/`localtime` call when
/// `TZ` is unset, which would dominate the cost of a line. A quarter hour whose start and end
/// have the same offset has no transition inside (zones change at whole or half hours), so
/// the offset found for it holds for every second in it; buckets holding a transition are
/// never cached and go to the C library each time.
struct OffsetCache {
    tz: Option<std::ffi::OsString>,
    /// naive quarter-hour → offset, for local → UTC.
    to_utc: std::collections::HashMap<i64, i64>,
    /// UTC quarter-hour → offset, for UTC → local.
    to_local: std::collections::HashMap<i64, i64>,
}

const BUCKET: i64 = 900;

thread_local! {
    static OFFSETS: std::cell::RefCell<OffsetCache> = std::cell::RefCell::new(OffsetCache {
        tz: None,
        to_utc: Default::default(),
        to_local: Default::default(),
    });
}

/// Conversions between two reads of `TZ`: reading the environment takes a lock and a scan of
/// it, too much for every line. Programs set `TZ` before they read logs (`test-filter`, the
/// tests), and a change is seen on a thread's first conversion and then every this many.
const TZ_CHECK_EVERY: u32 = 4096;

thread_local! {
    static TZ_CHECK: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

fn with_offsets<R>(f: impl FnOnce(&mut OffsetCache) -> R) -> R {
    OFFSETS.with(|c| {
        let mut c = c.borrow_mut();
        let due = TZ_CHECK.with(|n| {
            let v = n.get();
            n.set(if v + 1 >= TZ_CHECK_EVERY { 0 } else { v + 1 });
            v == 0
        });
        if due || c.to_utc.len() + c.to_local.len() > 8192 {
            let tz = std::env::var_os("TZ");
            if c.tz != tz || c.to_utc.len() + c.to_local.len() > 8192 {
                c.tz = tz;
                c.to_utc.clear();
                c.to_local.clear();
            }
        }
        f(&mut c)
    })
}

/// `localtime_r` of a whole second, as naive seconds.
fn c_localtime(secs: i64) -> Option<Naive> {
    let tt = secs as libc::time_t;
    // SAFETY: `tm` is a plain C struct that localtime_r fully initialises on success; all
    // pointers are to live locals.
    let tm = unsafe {
        tzset();
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&tt, &mut tm).is_null() {
            return None;
        }
        tm
    };
    Naive::new(
        tm.tm_year as i64 + 1900,
        (tm.tm_mon + 1) as u32,
        tm.tm_mday as u32,
        tm.tm_hour as u32,
        tm.tm_min as u32,
        tm.tm_sec.min(59) as u32,
    )
}

/// `mktime` of naive local fields (DST decided by the C library).
fn c_mktime(n: Naive) -> Option<i64> {
    let (y, mo, d, h, mi, s) = n.fields();
    // SAFETY: as above; mktime only reads and normalises the struct we own.
    let t = unsafe {
        tzset();
        let mut tm: libc::tm = std::mem::zeroed();
        tm.tm_year = (y - 1900) as libc::c_int;
        tm.tm_mon = mo as libc::c_int - 1;
        tm.tm_mday = d as libc::c_int;
        tm.tm_hour = h as libc::c_int;
        tm.tm_min = mi as libc::c_int;
        tm.tm_sec = s as libc::c_int;
        tm.tm_isdst = -1;
        libc::mktime(&mut tm)
    };
    if t == -1 && !(y == 1969 || y == 1970) {
        return None;
    }
    Some(t as i64)
}

/// Local wall-clock fields of `t` (through `localtime_r`, honouring `TZ`), with the
/// fraction of a second kept.
pub fn local_now(t: f64) -> (Naive, f64) {
    let secs = t.floor() as i64;
    let frac = t - t.floor();
    let bucket = secs.div_euclid(BUCKET);
    let cached = with_offsets(|c| c.to_local.get(&bucket).copied());
    if let Some(off) = cached {
        return (Naive { secs: secs + off }, frac);
    }
    let Some(local) = c_localtime(secs) else {
        return (Naive { secs }, frac);
    };
    let start = bucket * BUCKET;
    if let (Some(a), Some(b)) = (c_localtime(start), c_localtime(start + BUCKET - 1)) {
        let (oa, ob) = (a.secs - start, b.secs - (start + BUCKET - 1));
        if oa == ob && oa == local.secs - secs {
            with_offsets(|c| c.to_local.insert(bucket, oa));
        }
    }
    (local, frac)
}

/// `time.mktime` of a naive local time (DST decided by the C library, results cached per
/// quarter hour away from transitions).
pub fn mktime(n: Naive) -> Option<f64> {
    let bucket = n.secs.div_euclid(BUCKET);
    if let Some(off) = with_offsets(|c| c.to_utc.get(&bucket).copied()) {
        return Some((n.secs - off) as f64);
    }
    let t = c_mktime(n)?;
    let start = Naive {
        secs: bucket * BUCKET,
    };
    let end = Naive {
        secs: start.secs + BUCKET - 1,
    };
    if let (Some(a), Some(b)) = (c_mktime(start), c_mktime(end)) {
        let (oa, ob) = (start.secs - a, end.secs - b);
        if oa == ob && oa == n.secs - t {
            with_offsets(|c| c.to_utc.insert(bucket, oa));
        }
    }
    Some(t as f64)
}

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];
const FULL_MONTHS: [&str; 12] = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];
const WEEKDAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
const FULL_WEEKDAYS: [&str; 7] = [
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
];

/// Position of `val` in `names` (lower-case ASCII), ignoring case. The names are ASCII, so
/// this equals comparing `val.to_lowercase()`: no non-ASCII character lower-cases to ASCII
/// letters found in them.
fn name_index(names: &[&str], val: &str) -> Option<usize> {
    names.iter().position(|n| n.eq_ignore_ascii_case(val))
}

fn int(v: &str) -> Option<i64> {
    v.trim().parse().ok()
}

/// Day of year from `%U`/`%W` week number and weekday (Monday = 0), as Python's `_strptime`.
fn julian_from_week(year: i64, week: i64, weekday: i64, week_starts_monday: bool) -> i64 {
    let jan1 = days_from_civil(year, 1, 1);
    // 1970-01-01 was a Thursday (Monday = 0 → 3).
    let mut first_weekday = (jan1 + 3).rem_euclid(7);
    let mut weekday = weekday;
    if !week_starts_monday {
        first_weekday = (first_weekday + 1) % 7;
        weekday = (weekday + 1) % 7;
    }
    let week_0_length = (7 - first_weekday) % 7;
    if week == 0 {
        1 + weekday - first_weekday
    } else {
        1 + week_0_length + 7 * (week - 1) + weekday
    }
}

/// Convert matched date groups (`(name, text)` in group order; non-participating groups
/// omitted) to epoch seconds. `default_tz` is the jail's `logtimezone` in minutes; `now` the
/// current time.
pub fn groups_to_time<'a>(
    groups: impl IntoIterator<Item = (&'a str, &'a str)>,
    default_tz: Option<i32>,
    now: f64,
) -> Result<f64, TimeError> {
    let mut unknown_zone = None;
    match convert_groups(groups, default_tz, now, &mut unknown_zone) {
        Some(t) => Ok(t),
        None => Err(unknown_zone.map_or(TimeError::Invalid, TimeError::UnknownZone)),
    }
}

fn convert_groups<'a>(
    groups: impl IntoIterator<Item = (&'a str, &'a str)>,
    default_tz: Option<i32>,
    now: f64,
    unknown_zone: &mut Option<String>,
) -> Option<f64> {
    let groups: Vec<(&str, &str)> = groups.into_iter().collect();
    let mut year: Option<i64> = None;
    let mut month: Option<u32> = None;
    let mut day: Option<u32> = None;
    let (mut hour, mut minute, mut second) = (0u32, 0u32, 0u32);
    let mut tzoffset: Option<i32> = None;
    let mut weekday: Option<i64> = None;
    let mut julian: Option<i64> = None;
    let mut week: Option<(i64, bool)> = None;
    let ampm = groups
        .iter()
        .find(|(k, _)| *k == "p")
        .map(|(_, v)| v.to_ascii_lowercase())
        .unwrap_or_default();
    for &(key, val) in &groups {
        match key {
            "y" => {
                let mut y = int(val)?;
                if y <= 2000 {
                    y += 2000;
                }
                year = Some(y);
            }
            "Y" => year = Some(int(val)?),
            "m" => month = Some(int(val)? as u32),
            "B" => month = Some(name_index(&FULL_MONTHS, val)? as u32 + 1),
            "b" => month = Some(name_index(&MONTHS, val)? as u32 + 1),
            "d" => day = Some(int(val)? as u32),
            "H" => hour = int(val)? as u32,
            "I" => {
                hour = int(val)? as u32;
                if ampm.is_empty() || ampm == "am" {
                    if hour == 12 {
                        hour = 0;
                    }
                } else if ampm == "pm" && hour != 12 {
                    hour += 12;
                }
            }
            "M" => minute = int(val)? as u32,
            "S" => second = int(val)? as u32,
            "A" => weekday = Some(name_index(&FULL_WEEKDAYS, val)? as i64),
            "a" => weekday = Some(name_index(&WEEKDAYS, val)? as i64),
            "w" => {
                let w = int(val)? - 1;
                weekday = Some(if w < 0 { 6 } else { w });
            }
            "j" => julian = Some(int(val)?),
            "U" => week = Some((int(val)?, false)),
            "W" => week = Some((int(val)?, true)),
            "z" | "Z" => {
                tzoffset = Some(if matches!(val, "Z" | "UTC" | "GMT") {
                    0
                } else {
                    match zone_offset(val) {
                        Ok(o) => o,
                        Err(e) => {
                            if let TimeError::UnknownZone(z) = e {
                                *unknown_zone = Some(z);
                            }
                            return None;
                        }
                    }
                });
            }
            _ => {}
        }
    }
    let mut now_local: Option<(Naive, f64)> = None;
    let mut get_now = || *now_local.get_or_insert_with(|| local_now(now));
    let mut assume_year = false;
    let year = match year {
        Some(y) => y,
        None => {
            assume_year = true;
            get_now().0.fields().0
        }
    };
    let (mut month, mut day) = (month, day);
    if month.is_none() || day.is_none() {
        if julian.is_none() {
            if let (Some((w, monday)), Some(wd)) = (week, weekday) {
                julian = Some(julian_from_week(year, w, wd, monday));
            }
        }
        if let Some(j) = julian {
            let (_, m, d) = civil_from_days(days_from_civil(year, 1, 1) + j - 1);
            month = Some(m);
            day = Some(d);
        }
    }
    let mut assume_today = false;
    if month.is_none() && day.is_none() {
        let (_, m, d, ..) = get_now().0.fields();
        month = Some(m);
        day = Some(d);
        assume_today = true;
    }
    // Python's datetime() would raise on a missing month or day (e.g. only `%d` given).
    let (month, day) = (month?, day?);
    let mut result = Naive::new(year, month, day, hour, minute, second)?;
    if tzoffset.is_none() {
        tzoffset = default_tz;
    }
    if let Some(off) = tzoffset {
        result.secs -= off as i64 * 60;
    }
    // Comparisons with "now" are on naive values, with now's fraction of a second.
    let later_than = |r: Naive, base: (Naive, f64), extra: i64| -> bool {
        let (n, frac) = base;
        r.secs > n.secs + extra || (r.secs == n.secs + extra && frac < 0.0)
    };
    if assume_today && later_than(result, get_now(), 0) {
        result.secs -= 86400;
    }
    if assume_year && later_than(result, get_now(), 86400) {
        let (.., h, mi, s) = result.fields();
        result = Naive::new(year - 1, month, day, h, mi, s)?;
    }
    if tzoffset.is_some() {
        Some(result.secs as f64)
    } else {
        mktime(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zones() {
        assert_eq!(parse_zone("UTC"), Some(0));
        assert_eq!(parse_zone("+0100"), Some(60));
        assert_eq!(parse_zone("+01:00"), Some(60));
        assert_eq!(parse_zone("-0430"), Some(-270));
        assert_eq!(parse_zone("+02"), Some(120));
        assert_eq!(parse_zone("UTC+0200"), Some(120));
        assert_eq!(parse_zone("CEST"), Some(120));
        assert_eq!(parse_zone("NPT"), Some(345));
        assert_eq!(parse_zone("XYZ"), None);
        assert_eq!(parse_zone("+2500"), None);
        assert_eq!(parse_zone("utc"), None);
    }

    #[test]
    fn civil_round_trip() {
        for d in [-1000i64, 0, 1, 59, 10957, 20000, 2932896] {
            let (y, m, dd) = civil_from_days(d);
            assert_eq!(days_from_civil(y, m, dd), d);
        }
        assert_eq!(days_from_civil(2026, 1, 6), 20459);
    }

    #[test]
    fn explicit_offset_is_exact() {
        let g = [
            ("Y", "2026"),
            ("m", "01"),
            ("d", "06"),
            ("H", "10"),
            ("M", "00"),
            ("S", "00"),
            ("z", "+01:00"),
        ];
        assert_eq!(groups_to_time(g, None, 0.0), Ok(1767690000.0));
        let g = [
            ("Y", "2026"),
            ("m", "01"),
            ("d", "06"),
            ("H", "10"),
            ("M", "00"),
            ("S", "00"),
        ];
        assert_eq!(groups_to_time(g, Some(0), 0.0), Ok(1767693600.0));
        let g = [
            ("Y", "2026"),
            ("m", "02"),
            ("d", "30"),
            ("H", "10"),
            ("M", "00"),
            ("S", "00"),
        ];
        assert_eq!(groups_to_time(g, Some(0), 0.0), Err(TimeError::Invalid));
        let g = [
            ("b", "Jan"),
            ("d", "06"),
            ("H", "10"),
            ("M", "00"),
            ("S", "00"),
            ("Z", "XYZ"),
        ];
        assert_eq!(
            groups_to_time(g, None, 0.0),
            Err(TimeError::UnknownZone("XYZ".into()))
        );
    }
}
