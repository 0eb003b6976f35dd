//! What a `# failJSON:` annotation expects of its line, and how a failure is held against it.
//!
//! The rules are those of Fail2Ban's `tests/samplestestcase.py`, so that a sample log that
//! passes there passes here: `time` is compared exactly with `time.mktime` of the local time
//! written; `host` goes through Fail2Ban's `IPAddr` comparison (addresses compared as
//! addresses, names and `<F-ID>` values as raw text); `users` is compared as a set;
//! `attempts` is the number of lines making up the failure; every other key must equal the
//! captured group of that name.

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde_json::Value;
use warden_filter::date::convert::{mktime, Naive};
use warden_filter::filter::parse_ip;
use warden_filter::Failure;

/// Keys that are not compared with the failure's captures.
const NOT_CAPTURES: [&str; 4] = ["time", "match", "desc", "constraint"];

/// One way a line's result differs from its annotation.
#[derive(Debug, Clone, PartialEq)]
pub struct Mismatch {
    /// The annotated key (`match`, `time`, `host`, `user`, ...).
    pub field: String,
    /// What the annotation says.
    pub expected: String,
    /// What the filter produced.
    pub got: String,
}

impl Mismatch {
    pub fn new(field: &str, expected: impl Into<String>, got: impl Into<String>) -> Self {
        Mismatch {
            field: field.to_string(),
            expected: expected.into(),
            got: got.into(),
        }
    }
}

/// Does the annotation expect a failure (`"match": true`)?
pub fn expects_match(expect: &serde_json::Map<String, Value>) -> bool {
    expect.get("match").is_some_and(truthy)
}

/// Python truthiness of a JSON value.
pub fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

/// Compare the one failure a line produced with what its annotation expects.
pub fn compare(expect: &serde_json::Map<String, Value>, failure: &Failure) -> Vec<Mismatch> {
    let mut out = Vec::new();
    for (key, want) in expect {
        if NOT_CAPTURES.contains(&key.as_str()) {
            continue;
        }
        let got = captured(failure, key);
        if !got.equals(want) {
            out.push(Mismatch::new(key, want.to_string(), got.to_string()));
        }
    }
    if let Some(want) = expect.get("time").filter(|v| !v.is_null()) {
        match want.as_str().and_then(annotated_time) {
            None => out.push(Mismatch::new(
                "time",
                want.to_string(),
                "(annotation is not %Y-%m-%dT%H:%M:%S[.%f])",
            )),
            Some(t) if t != failure.time => out.push(Mismatch::new(
                "time",
                format!("{} ({t})", want.as_str().unwrap_or_default()),
                format!("{} ({})", iso_local(failure.time), failure.time),
            )),
            Some(_) => {}
        }
    }
    out
}

/// `time.mktime` of an annotated local time (`%Y-%m-%dT%H:%M:%S` with optional `.%f`),
/// plus its microseconds, as the Python harness computes it.
pub fn annotated_time(text: &str) -> Option<f64> {
    let (main, frac) = match text.split_once('.') {
        Some((m, f)) => (m, Some(f)),
        None => (text, None),
    };
    let (date, clock) = main.split_once('T')?;
    let num = |s: &str, min: usize, max: usize| -> Option<u32> {
        (min..=max)
            .contains(&s.len())
            .then_some(())
            .filter(|_| s.bytes().all(|b| b.is_ascii_digit()))?;
        s.parse().ok()
    };
    let d: Vec<&str> = date.split('-').collect();
    let c: Vec<&str> = clock.split(':').collect();
    if d.len() != 3 || c.len() != 3 {
        return None;
    }
    let naive = Naive::new(
        i64::from(num(d[0], 4, 4)?),
        num(d[1], 1, 2)?,
        num(d[2], 1, 2)?,
        num(c[0], 1, 2)?,
        num(c[1], 1, 2)?,
        num(c[2], 1, 2)?,
    )?;
    let micros = match frac {
        None => 0,
        // strptime's %f: 1 to 6 digits, right-padded.
        Some(f) => num(f, 1, 6)? * 10u32.pow(6 - f.len() as u32),
    };
    Some(mktime(naive)? + f64::from(micros) / 1_000_000.0)
}

/// A time as local `%Y-%m-%dT%H:%M:%S`, for messages.
pub fn iso_local(t: f64) -> String {
    let (naive, _) = warden_filter::date::convert::local_now(t);
    let (y, mo, d, h, mi, s) = naive.fields();
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}")
}

/// What the harness reads from a failure for one annotated key.
#[derive(Debug, Clone, PartialEq)]
enum Got {
    None,
    Text(String),
    Count(usize),
    Set(Vec<String>),
    Addr(HarnessAddr),
}

impl Got {
    fn equals(&self, want: &Value) -> bool {
        match (self, want) {
            (Got::None, Value::Null) => true,
            (Got::Text(t), Value::String(w)) => t == w,
            (Got::Count(n), Value::Number(w)) => w.as_f64() == Some(*n as f64),
            (Got::Set(s), Value::Array(w)) => {
                let mut w: Vec<String> = w.iter().map(value_text).collect();
                w.sort();
                *s == w
            }
            (Got::Addr(a), Value::String(w)) => a.equals(w),
            _ => false,
        }
    }
}

impl std::fmt::Display for Got {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Got::None => write!(f, "(none)"),
            Got::Text(t) => write!(f, "{t:?}"),
            Got::Count(n) => write!(f, "{n}"),
            Got::Set(s) => write!(f, "{s:?}"),
            Got::Addr(a) => write!(f, "{a}"),
        }
    }
}

/// The value Fail2Ban's `fail.get(key)` gives, with the harness's fallbacks for `host`
/// (the failure id) and `attempts` (the number of matched lines).
fn captured(failure: &Failure, key: &str) -> Got {
    if let Some(Some(v)) = failure.groups.get(key) {
        return Got::Text(v.clone());
    }
    match key {
        "host" => Got::Addr(failure_id(&failure.groups)),
        "attempts" => Got::Count(failure.lines.len()),
        "users" if !failure.users.is_empty() => Got::Set(failure.users.iter().cloned().collect()),
        _ => Got::None,
    }
}

/// Is the failure only an `<F-NOFAIL>` step? The harness skips those (Fail2Ban reports a
/// `nofail` match without `<F-MLFID>` as a failure, the sample tests do not count it).
pub fn is_nofail(failure: &Failure) -> bool {
    failure
        .groups
        .get("nofail")
        .is_some_and(|v| v.as_deref().is_some_and(|v| !v.is_empty()))
}

/// Fail2Ban's failure id as its sample harness gets it (`returnRawHost`): an address when
/// it came from the `ip4`/`ip6` group and `<F-ID>` does not differ, the raw text otherwise.
#[derive(Debug, Clone, PartialEq)]
enum HarnessAddr {
    /// Compared as text.
    Raw(String),
    /// Parsed: compared as an address.
    Ip(IpAddr),
    /// An `ip4`/`ip6` capture that does not parse: equal only to the same unparsable text.
    Unparsed(String),
}

impl HarnessAddr {
    fn equals(&self, want: &str) -> bool {
        match self {
            HarnessAddr::Raw(r) => r == want,
            HarnessAddr::Ip(ip) => expected_addr(want) == Ok(*ip),
            HarnessAddr::Unparsed(r) => expected_addr(want) == Err(r.as_str()),
        }
    }
}

impl std::fmt::Display for HarnessAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HarnessAddr::Raw(r) | HarnessAddr::Unparsed(r) => write!(f, "{r:?}"),
            HarnessAddr::Ip(ip) => write!(f, "{ip}"),
        }
    }
}

/// An annotated host as `IPAddr(text)` reads it: brackets dropped, an address if it parses
/// (IPv4-mapped IPv6 as IPv4), else the text.
fn expected_addr(text: &str) -> Result<IpAddr, &str> {
    let inner = text
        .strip_prefix('[')
        .and_then(|t| t.strip_suffix(']'))
        .filter(|_| text.len() > 2)
        .unwrap_or(text);
    parse_ip(inner, None).ok_or(inner)
}

fn failure_id(groups: &BTreeMap<String, Option<String>>) -> HarnessAddr {
    let fields: BTreeMap<&str, &String> = groups
        .iter()
        .filter_map(|(k, v)| Some((k.as_str(), v.as_ref()?)))
        .collect();
    let fid = fields.get("fid").copied();
    let (ip, family) = if let Some(&ip) = fields.get("ip4") {
        (ip, Some(4))
    } else if let Some(&ip) = fields.get("ip6") {
        (ip, Some(6))
    } else if let Some(&dns) = fields.get("dns") {
        (dns, None)
    } else if let Some(fid) = fid {
        (fid, None)
    } else {
        return HarnessAddr::Raw(String::new());
    };
    match (fid, family) {
        (Some(f), _) if f != ip => HarnessAddr::Raw(f.clone()),
        (_, None) => HarnessAddr::Raw(ip.clone()),
        (_, family) => match parse_ip(ip, family) {
            Some(addr) => HarnessAddr::Ip(addr),
            None => HarnessAddr::Unparsed(ip.clone()),
        },
    }
}

/// A JSON value as text (strings without quotes).
pub fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use warden_filter::Host;

    fn failure(fields: &[(&str, &str)]) -> Failure {
        let fields: BTreeMap<String, String> = fields
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Failure {
            host: Host::Name(String::new()),
            time: 0.0,
            fid: None,
            groups: fields
                .iter()
                .map(|(k, v)| (k.clone(), Some(v.clone())))
                .collect(),
            lines: vec!["a".into(), "b".into()],
            regex_index: 0,
            users: Default::default(),
        }
    }

    fn check(expect: Value, f: &Failure) -> Vec<String> {
        compare(expect.as_object().unwrap(), f)
            .into_iter()
            .map(|m| m.field)
            .collect()
    }

    #[test]
    fn hosts_compare_as_fail2ban_ipaddr() {
        let f = failure(&[("ip6", "::ffff:192.0.2.1")]);
        assert!(check(json!({"host": "192.0.2.1"}), &f).is_empty());
        let f = failure(&[("ip6", "2001:DB8::1")]);
        assert!(check(json!({"host": "2001:db8::1"}), &f).is_empty());
        assert_eq!(check(json!({"host": "2001:db8::2"}), &f), vec!["host"]);
        // Names and ids are raw text.
        let f = failure(&[("dns", "Example.com")]);
        assert_eq!(check(json!({"host": "example.com"}), &f), vec!["host"]);
        let f = failure(&[("fid", "user1"), ("ip4", "192.0.2.1")]);
        assert!(check(json!({"host": "user1", "ip4": "192.0.2.1"}), &f).is_empty());
    }

    #[test]
    fn attempts_users_and_other_keys() {
        let mut f = failure(&[("user", "bob")]);
        f.users = ["bob".to_string(), "al".to_string()].into();
        assert!(check(
            json!({"attempts": 2, "users": ["bob", "al"], "user": "bob", "desc": "x"}),
            &f
        )
        .is_empty());
        assert_eq!(
            check(json!({"attempts": 3, "users": ["bob"], "user": "al"}), &f),
            vec!["attempts", "user", "users"]
        );
        assert_eq!(check(json!({"dns": "x"}), &f), vec!["dns"]);
        // An empty capture is "", not missing.
        let f = failure(&[("user", ""), ("ip4", "192.0.2.1")]);
        assert!(check(json!({"user": "", "host": "192.0.2.1"}), &f).is_empty());
        assert_eq!(check(json!({"user": null}), &f), vec!["user"]);
    }

    #[test]
    fn annotated_times_are_local() {
        crate::test_filter::set_timezone("CET-01CEST-02,M3.5.0,M10.5.0");
        assert_eq!(annotated_time("2005-08-14T12:00:00"), Some(1_124_013_600.0));
        assert_eq!(
            annotated_time("2005-01-14T12:00:00.5"),
            Some(1_105_700_400.5)
        );
        assert_eq!(annotated_time("2005-08-14 12:00:00"), None);
        assert_eq!(iso_local(1_124_013_600.0), "2005-08-14T12:00:00");
    }
}
