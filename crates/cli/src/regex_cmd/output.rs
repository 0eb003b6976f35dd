//! Machine-readable output: `--json` (one object per line) and `-o FORMAT` (one item per
//! failure, like `fail2ban-regex -o`).

use std::io::Write;

use serde_json::{json, Map, Value};
use warden_filter::date::convert::{days_from_civil, local_now};
use warden_filter::regex_tool::ToolLine;

use super::report::py_repr;
use super::Counted;

/// Groups reported as their own JSON keys rather than under `fields`.
const HOST_GROUPS: [&str; 4] = ["ip4", "ip6", "dns", "fid"];

/// `t` as local ISO-8601 with its offset (`2026-01-06T10:00:00+01:00`), fraction kept.
pub fn iso8601(t: f64) -> String {
    let (local, frac) = local_now(t);
    let (y, mo, d, h, mi, s) = local.fields();
    let local_secs = (days_from_civil(y, mo, d) * 86_400) + i64::from(h * 3600 + mi * 60 + s);
    let offset = local_secs - t.floor() as i64;
    let sign = if offset < 0 { '-' } else { '+' };
    let off = offset.unsigned_abs();
    let mut out = format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}");
    if frac > 0.0 {
        let micros = (frac * 1e6).round().min(999_999.0) as u32;
        out.push_str(&format!(".{micros:06}"));
        while out.ends_with('0') {
            out.pop();
        }
    }
    out.push_str(&format!("{sign}{:02}:{:02}", off / 3600, off / 60 % 60));
    out
}

/// Write the JSON object for one line.
pub fn write_json(
    w: &mut impl Write,
    number: usize,
    result: &ToolLine,
    failures: &[Counted],
) -> std::io::Result<()> {
    let ignored = !result.ignore_hits.is_empty() || failures.iter().any(|f| f.m.nofail);
    let winner = failures.iter().find(|f| !f.m.nofail);
    let matched = !ignored && winner.is_some();
    let mut obj = Map::new();
    obj.insert("line".into(), json!(number));
    obj.insert("matched".into(), json!(matched));
    obj.insert("ignored".into(), json!(ignored));
    obj.insert("time".into(), json!(result.time));
    obj.insert("time_iso".into(), json!(result.time.map(iso8601)));
    let shown = winner.or(failures.first());
    let group = |name: &str| -> Value {
        shown
            .and_then(|f| f.m.groups.get(name))
            .filter(|v| !v.is_empty())
            .map_or(Value::Null, |v| json!(v))
    };
    obj.insert("host".into(), json!(shown.and_then(|f| f.id.clone())));
    for g in HOST_GROUPS {
        obj.insert(g.into(), group(g));
    }
    let fields: Map<String, Value> = shown
        .map(|f| {
            f.m.groups
                .iter()
                .filter(|(k, v)| !HOST_GROUPS.contains(&k.as_str()) && !v.is_empty())
                .map(|(k, v)| (k.clone(), json!(v)))
                .collect()
        })
        .unwrap_or_default();
    obj.insert("fields".into(), Value::Object(fields));
    obj.insert("regex".into(), json!(shown.map(|f| f.m.regex_index)));
    let all: Vec<usize> = failures.iter().map(|f| f.m.regex_index).collect();
    obj.insert("regexes".into(), json!(all));
    obj.insert("ignore_regexes".into(), json!(result.ignore_hits));
    serde_json::to_writer(&mut *w, &Value::Object(obj))?;
    writeln!(w)
}

/// A `-o` format.
#[derive(Debug, Clone, PartialEq)]
pub enum OutFormat {
    /// `id` / `fid`: the failure id.
    Id,
    /// `ip`: the address (the id unless that is something else).
    Ip,
    /// `msg`: the matched lines.
    Msg,
    /// `row`: `[id, time, {groups}],`.
    Row,
    /// A group name: its value.
    Group(String),
    /// A template with `<tags>`.
    Template(String),
}

impl OutFormat {
    /// Parse a `-o` value.
    pub fn parse(s: &str) -> OutFormat {
        match s {
            "id" | "fid" => OutFormat::Id,
            "ip" => OutFormat::Ip,
            "msg" => OutFormat::Msg,
            "row" => OutFormat::Row,
            _ if s.contains('<') => OutFormat::Template(s.to_string()),
            _ => OutFormat::Group(s.to_string()),
        }
    }

    /// Write the items for one failure.
    pub fn write(&self, w: &mut impl Write, f: &Counted, time: Option<f64>) -> std::io::Result<()> {
        let id = f.id.clone().unwrap_or_else(|| "None".to_string());
        match self {
            OutFormat::Id => writeln!(w, "{id}"),
            OutFormat::Ip => writeln!(w, "{}", f.m.ip.as_deref().unwrap_or(&id)),
            OutFormat::Msg => {
                for l in &f.m.lines {
                    writeln!(w, "{l}")?;
                }
                Ok(())
            }
            OutFormat::Row => {
                let mut items: Vec<String> =
                    f.m.groups
                        .iter()
                        .map(|(k, v)| format!("{}: {}", py_repr(k), py_repr(v)))
                        .collect();
                if let Some(ip) = &f.m.ip {
                    items.push(format!("'ip': {}", py_repr(ip)));
                }
                let t = time.map_or("None".to_string(), py_float);
                writeln!(w, "[{},\t{t},\t{{{}}}],", py_repr(&id), items.join(", "))
            }
            OutFormat::Group(name) => writeln!(
                w,
                "{}",
                f.m.groups.get(name).map(String::as_str).unwrap_or("None")
            ),
            OutFormat::Template(t) => {
                let matches = f.m.lines.join("\n");
                if t.contains("<msg>") && f.m.lines.len() > 1 {
                    for l in &f.m.lines {
                        writeln!(w, "{}", substitute(t, f, &id, time, l))?;
                    }
                    return Ok(());
                }
                writeln!(w, "{}", substitute(t, f, &id, time, &matches))
            }
        }
    }
}

/// Python's `repr` of a float (`1373505701.0`).
fn py_float(t: f64) -> String {
    if t.fract() == 0.0 {
        format!("{t:.1}")
    } else {
        format!("{t}")
    }
}

/// Replace `<ip> <fid> <time> <matches> <msg> <F-NAME> <family>` in a template; other tags
/// stay as written.
fn substitute(t: &str, f: &Counted, id: &str, time: Option<f64>, msg: &str) -> String {
    let mut out = String::with_capacity(t.len());
    let mut rest = t;
    while let Some(open) = rest.find('<') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let Some(close) = after.find('>') else {
            out.push_str(&rest[open..]);
            rest = "";
            break;
        };
        let tag = &after[..close];
        let value = match tag {
            "ip" => Some(f.m.ip.clone().unwrap_or_else(|| id.to_string())),
            "fid" => Some(id.to_string()),
            "time" => Some(time.map_or("None".to_string(), py_float)),
            "matches" | "msg" => Some(msg.to_string()),
            "family" => Some(
                match f.m.ip.as_deref().unwrap_or(id).parse::<std::net::IpAddr>() {
                    Ok(std::net::IpAddr::V4(_)) => "inet4",
                    Ok(std::net::IpAddr::V6(_)) => "inet6",
                    Err(_) => "",
                }
                .to_string(),
            ),
            _ => tag.strip_prefix("F-").map(|n| {
                f.m.groups
                    .get(&n.to_ascii_lowercase())
                    .cloned()
                    .unwrap_or_default()
            }),
        };
        match value {
            Some(v) => out.push_str(&v),
            None => {
                out.push('<');
                out.push_str(tag);
                out.push('>');
            }
        }
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_dates_carry_the_offset() {
        let s = iso8601(1_767_693_600.5);
        assert!(s.starts_with("2026-01-0"), "{s}");
        assert!(s.contains(".5"), "{s}");
        assert!(s.ends_with(":00"), "{s}");
    }

    #[test]
    fn formats() {
        assert_eq!(OutFormat::parse("fid"), OutFormat::Id);
        assert_eq!(OutFormat::parse("user"), OutFormat::Group("user".into()));
        assert_eq!(
            OutFormat::parse("<ip> <F-USER>"),
            OutFormat::Template("<ip> <F-USER>".into())
        );
        assert_eq!(py_float(5.0), "5.0");
    }
}
