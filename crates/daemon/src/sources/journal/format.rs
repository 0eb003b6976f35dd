//! A journal entry as the one text line the filter sees, and its time, as Fail2Ban's
//! `FilterSystemd.formatJournalEntry` and `getJrnEntTime` make them.
//!
//! The line is `HOSTNAME IDENT[PID]: MESSAGE`:
//! - `HOSTNAME` is `_HOSTNAME`, left out when missing or empty;
//! - `IDENT` is `SYSLOG_IDENTIFIER`, else `_COMM`; without either there is no `IDENT[PID]:`;
//! - `PID` is `SYSLOG_PID`, else `_PID` (a value that is not an integer, or is 0, counts as
//!   missing for `SYSLOG_PID` as in Python where 0 is false); `[PID]` is left out without one;
//! - the kernel's lines (`kernel:` with no PID) get `[%12.6f]` seconds of monotonic time
//!   (`_SOURCE_MONOTONIC_TIMESTAMP`, else the entry's own);
//! - `MESSAGE` values (a field may repeat) are joined by spaces; a missing one is empty;
//! - invalid UTF-8 is replaced with U+FFFD; newlines in the line become the two characters `\n`.
//!
//! The time is `_SOURCE_REALTIME_TIMESTAMP` (when the program logged) if present and numeric,
//! else the entry's realtime (when the journal received it), in seconds.

use std::borrow::Cow;

/// The fields of one entry that make its line and time.
#[derive(Debug, Default)]
pub(crate) struct EntryFields {
    hostname: Option<Vec<u8>>,
    identifier: Option<Vec<u8>>,
    comm: Option<Vec<u8>>,
    syslog_pid: Option<Vec<u8>>,
    pid: Option<Vec<u8>>,
    messages: Vec<Vec<u8>>,
    source_realtime: Option<Vec<u8>>,
    source_monotonic: Option<Vec<u8>>,
}

impl EntryFields {
    /// Take one `FIELD=value` datum (as sd-journal enumerates them); the first value of a
    /// field wins, except that every `MESSAGE` is kept.
    pub(crate) fn add(&mut self, datum: &[u8]) {
        let Some(eq) = datum.iter().position(|&b| b == b'=') else {
            return;
        };
        let (name, value) = (&datum[..eq], &datum[eq + 1..]);
        let slot = match name {
            b"MESSAGE" => {
                self.messages.push(value.to_vec());
                return;
            }
            b"_HOSTNAME" => &mut self.hostname,
            b"SYSLOG_IDENTIFIER" => &mut self.identifier,
            b"_COMM" => &mut self.comm,
            b"SYSLOG_PID" => &mut self.syslog_pid,
            b"_PID" => &mut self.pid,
            b"_SOURCE_REALTIME_TIMESTAMP" => &mut self.source_realtime,
            b"_SOURCE_MONOTONIC_TIMESTAMP" => &mut self.source_monotonic,
            _ => return,
        };
        if slot.is_none() {
            *slot = Some(value.to_vec());
        }
    }

    /// The line. `monotonic_usec` is asked only for kernel lines without
    /// `_SOURCE_MONOTONIC_TIMESTAMP`.
    pub(crate) fn line(&self, monotonic_usec: impl FnOnce() -> Option<u64>) -> String {
        let mut parts: Vec<Cow<'_, str>> = Vec::with_capacity(4);
        if let Some(host) = non_empty(&self.hostname) {
            parts.push(String::from_utf8_lossy(host));
        }
        let ident = non_empty(&self.identifier).or(non_empty(&self.comm));
        if let Some(ident) = ident {
            let mut tag = String::from_utf8_lossy(ident).into_owned();
            let pid = pid_text(&self.syslog_pid).or_else(|| pid_text(&self.pid));
            if let Some(pid) = &pid {
                tag.push('[');
                tag.push_str(pid);
                tag.push(']');
            }
            tag.push(':');
            let kernel = tag == "kernel:";
            parts.push(Cow::Owned(tag));
            if kernel {
                let usec = self
                    .source_monotonic
                    .as_deref()
                    .and_then(parse_python_int)
                    .and_then(|n| u64::try_from(n).ok())
                    .or_else(monotonic_usec);
                if let Some(usec) = usec {
                    parts.push(Cow::Owned(format!("[{:12.6}]", usec as f64 / 1e6)));
                }
            }
        }
        let message = self
            .messages
            .iter()
            .map(|m| String::from_utf8_lossy(m))
            .collect::<Vec<_>>()
            .join(" ");
        parts.push(Cow::Owned(message));
        let line = parts.join(" ");
        if line.contains('\n') {
            line.replace('\n', "\\n")
        } else {
            line
        }
    }

    /// The entry's time in seconds; `realtime_usec` is the journal's receive time.
    pub(crate) fn time(&self, realtime_usec: u64) -> f64 {
        let usec = self
            .source_realtime
            .as_deref()
            .and_then(parse_python_int)
            .and_then(|n| u64::try_from(n).ok())
            .unwrap_or(realtime_usec);
        usec_to_secs(usec)
    }
}

/// Seconds as Fail2Ban computes them: whole seconds plus microseconds / 1e6, one rounding.
pub(crate) fn usec_to_secs(usec: u64) -> f64 {
    (usec / 1_000_000) as f64 + (usec % 1_000_000) as f64 / 1e6
}

fn non_empty(v: &Option<Vec<u8>>) -> Option<&[u8]> {
    v.as_deref().filter(|v| !v.is_empty())
}

/// The text between `[` and `]` for a PID field, `None` if the field counts as missing.
///
/// python-systemd converts PID fields with `int()`; a value that converts to 0 is false and
/// so missing. Values `int()` refuses stay bytes, which Fail2Ban then tries as `int(v, 0)`
/// (`0x1f`) and otherwise shows as they are (Python would show `b'...'`; Warden shows the text).
fn pid_text(v: &Option<Vec<u8>>) -> Option<String> {
    let raw = non_empty(v)?;
    if let Some(n) = parse_python_int(raw) {
        return (n != 0).then(|| n.to_string());
    }
    if let Some(n) = parse_prefixed_int(raw) {
        return Some(n.to_string());
    }
    Some(String::from_utf8_lossy(raw).into_owned())
}

/// Python's `int(bytes)`: surrounding whitespace, an optional sign, decimal digits with
/// single `_` between them.
fn parse_python_int(raw: &[u8]) -> Option<i128> {
    let s = std::str::from_utf8(raw).ok()?.trim_ascii();
    let (neg, digits) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty()
        || digits.starts_with('_')
        || digits.ends_with('_')
        || digits.contains("__")
        || !digits.bytes().all(|b| b.is_ascii_digit() || b == b'_')
    {
        return None;
    }
    let n: i128 = digits.replace('_', "").parse().ok()?;
    Some(if neg { -n } else { n })
}

/// Python's `int(bytes, 0)` for the prefixed forms (`0x1f`, `0o17`, `0b101`).
fn parse_prefixed_int(raw: &[u8]) -> Option<i128> {
    let s = std::str::from_utf8(raw).ok()?.trim_ascii();
    let (neg, s) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let radix = match s.get(..2)?.to_ascii_lowercase().as_str() {
        "0x" => 16,
        "0o" => 8,
        "0b" => 2,
        _ => return None,
    };
    let digits = s[2..].strip_prefix('_').unwrap_or(&s[2..]);
    if digits.is_empty() || digits.ends_with('_') || digits.contains("__") {
        return None;
    }
    let n = i128::from_str_radix(&digits.replace('_', ""), radix).ok()?;
    Some(if neg { -n } else { n })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(data: &[&[u8]]) -> EntryFields {
        let mut f = EntryFields::default();
        for d in data {
            f.add(d);
        }
        f
    }

    #[test]
    fn syslog_fields_win_over_trusted_ones() {
        let f = fields(&[
            b"_HOSTNAME=web1",
            b"_COMM=sshd-session",
            b"SYSLOG_IDENTIFIER=sshd",
            b"_PID=7",
            b"SYSLOG_PID=42",
            b"MESSAGE=Failed password",
        ]);
        assert_eq!(f.line(|| None), "web1 sshd[42]: Failed password");
    }

    #[test]
    fn missing_parts_are_left_out() {
        assert_eq!(
            fields(&[b"_COMM=cron", b"MESSAGE=x"]).line(|| None),
            "cron: x"
        );
        assert_eq!(fields(&[b"_HOSTNAME=h", b"MESSAGE=x"]).line(|| None), "h x");
        assert_eq!(fields(&[b"_HOSTNAME=", b"MESSAGE=x"]).line(|| None), "x");
        assert_eq!(fields(&[b"_HOSTNAME=h", b"_COMM=c"]).line(|| None), "h c: ");
    }

    #[test]
    fn pid_values_as_python_converts_them() {
        let line = |pid: &[u8]| {
            let mut d = b"SYSLOG_PID=".to_vec();
            d.extend_from_slice(pid);
            fields(&[b"_COMM=c", &d, b"_PID=9", b"MESSAGE=m"]).line(|| None)
        };
        assert_eq!(line(b" 0042 "), "c[42]: m");
        assert_eq!(line(b"0"), "c[9]: m");
        assert_eq!(line(b""), "c[9]: m");
        assert_eq!(line(b"0x1f"), "c[31]: m");
        assert_eq!(line(b"abc"), "c[abc]: m");
    }

    #[test]
    fn kernel_lines_carry_monotonic_seconds() {
        let f = fields(&[b"_HOSTNAME=h", b"SYSLOG_IDENTIFIER=kernel", b"MESSAGE=oops"]);
        assert_eq!(f.line(|| Some(12_345_678)), "h kernel: [   12.345678] oops");
        let f = fields(&[
            b"SYSLOG_IDENTIFIER=kernel",
            b"_SOURCE_MONOTONIC_TIMESTAMP=1500000",
            b"MESSAGE=oops",
        ]);
        assert_eq!(f.line(|| Some(1)), "kernel: [    1.500000] oops");
    }

    #[test]
    fn messages_join_and_newlines_are_escaped() {
        let f = fields(&[b"_COMM=c", b"MESSAGE=a\nb", b"MESSAGE=\xffc"]);
        assert_eq!(f.line(|| None), "c: a\\nb \u{fffd}c");
    }

    #[test]
    fn time_prefers_the_source_timestamp() {
        let f = fields(&[b"_SOURCE_REALTIME_TIMESTAMP=1700000000000001"]);
        assert_eq!(f.time(1_800_000_000_000_000), 1_700_000_000.0 + 1e-6);
        let f = fields(&[b"_SOURCE_REALTIME_TIMESTAMP=soon"]);
        assert_eq!(f.time(1_800_000_000_250_000), 1_800_000_000.25);
    }
}
