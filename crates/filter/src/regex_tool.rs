//! A filter run the way `fail2ban-regex` runs one, for `warden regex`.
//!
//! `fail2ban-regex` does not stop at the first failregex that matches a line, as the daemon
//! does: it tries every failregex on every line (Fail2Ban's `checkAllRegex`), so that it can
//! report how often each regex hits, and it reports a match whose host is still unknown (a
//! multi-line failure waiting for its host) instead of holding it back. Both change the
//! numbers it prints (a line matched by a regex that says `<F-NOFAIL>` and by another one
//! counts as ignored; a pending match counts as matched), so `warden regex` needs this
//! variant of [`Filter`](crate::Filter) to print the same numbers. With `--out` it switches
//! back to the daemon's first-match rules, as `fail2ban-regex` does.
//!
//! Host names are not resolved here (the crate does no I/O): a match names the text to
//! resolve and the caller decides whether it counts, as `fail2ban-regex` drops a match
//! whose name does not resolve.

use std::collections::BTreeMap;

use crate::date::convert::{parse_zone, TimeError};
use crate::date::DateDetector;
use crate::filter::CompiledRegex;
use crate::matcher::{Captures, Matcher};
use crate::multiline::{FailData, MlfidCache};
use crate::{Filter, FilterError, FilterSpec, UseDns};

/// How the tool runs the filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ToolOptions {
    /// Try every failregex on each line (`fail2ban-regex` without `--out`); otherwise the
    /// first match wins, as in the daemon.
    pub check_all: bool,
    /// Drop matches without a host (the daemon's rule, and `fail2ban-regex --out`'s).
    pub ignore_pending: bool,
    /// Keep host names as they are (`--raw`, or `usedns = raw`).
    pub raw_hosts: bool,
}

impl Default for ToolOptions {
    fn default() -> Self {
        ToolOptions {
            check_all: true,
            ignore_pending: false,
            raw_hosts: false,
        }
    }
}

/// Whom a match accuses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolHost {
    /// An address or failure id taken as it is (`ip4`, `ip6`, `fid`, or a raw name).
    Id(String),
    /// A host name (`dns` group) that counts only if it resolves to addresses.
    Lookup(String),
    /// No host yet: a multi-line failure waiting for a line that names it.
    Pending,
}

/// One failregex match on a line.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolMatch {
    /// Index of the failregex.
    pub regex_index: usize,
    /// Whom it accuses.
    pub host: ToolHost,
    /// The address when the failure id is something else (`fail['ip']`).
    pub ip: Option<String>,
    /// Every group that took part, with its (possibly empty) value, prefregex groups
    /// included, `<SKIPLINES>` groups left out.
    pub groups: BTreeMap<String, String>,
    /// The match says "not a failure" (`<F-NOFAIL>`, `<F-MLFGAINED>`).
    pub nofail: bool,
    /// The log lines that make up the failure, as read.
    pub lines: Vec<String>,
}

/// What one line produced.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ToolLine {
    /// The time failures on this line get (`None`: no date known).
    pub time: Option<f64>,
    /// Failregex matches, in regex order.
    pub matches: Vec<ToolMatch>,
    /// Indices of the ignoreregexes that matched (one entry per hit; with several
    /// failregexes matching, an ignoreregex can hit more than once).
    pub ignore_hits: Vec<usize>,
    /// Earlier lines (as read) that a multi-line match on this line took out of the buffer:
    /// `fail2ban-regex` moves them from "missed" to "matched".
    pub taken_earlier: Vec<String>,
}

/// A log line split around its date, as Fail2Ban buffers it.
#[derive(Debug, Clone, PartialEq, Default)]
struct TupleLine {
    before: String,
    date: String,
    after: String,
}

impl TupleLine {
    fn set(&mut self, before: &str, date: &str, after: &str) {
        self.before.clear();
        self.before.push_str(before);
        self.date.clear();
        self.date.push_str(date);
        self.after.clear();
        self.after.push_str(after);
    }

    fn original(&self) -> String {
        let mut s = String::with_capacity(self.before.len() + self.date.len() + self.after.len());
        s.push_str(&self.before);
        s.push_str(&self.date);
        s.push_str(&self.after);
        s
    }

    fn without_date_eq(&self, text: &str) -> bool {
        text.len() == self.before.len() + self.after.len()
            && text.starts_with(&self.before)
            && text.ends_with(&self.after)
    }
}

/// The searched text: lines without their dates, joined by `\n`, ending in `\n`.
fn fill_buffer(lines: &[TupleLine], out: &mut String) {
    out.clear();
    for (i, l) in lines.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str(&l.before);
        out.push_str(&l.after);
    }
    out.push('\n');
}

/// Which buffered lines a match covers, and which stay (Fail2Ban's `Regex.search`).
fn split_matched(
    regex: &CompiledRegex,
    buf: &str,
    caps: &Captures,
    org: &[TupleLine],
) -> (Vec<TupleLine>, Vec<TupleLine>) {
    if org.len() <= 1 {
        return (org.to_vec(), Vec::new());
    }
    let b = buf.as_bytes();
    let (start, end) = caps.span();
    let line_start = b[..(start + 1).min(b.len())]
        .iter()
        .rposition(|&c| c == b'\n')
        .map_or(0, |p| p + 1);
    let from = end.saturating_sub(1);
    let line_end = b[from..]
        .iter()
        .position(|&c| c == b'\n')
        .map_or(b.len(), |p| from + p + 1);
    let count = |upto: usize| b[..upto].iter().filter(|&&c| c == b'\n').count();
    let (lc1, lc2) = (
        count(line_start).min(org.len()),
        count(line_end).min(org.len()),
    );
    let mut matched: Vec<TupleLine> = org[lc1..lc2.max(lc1)].to_vec();
    let mut unmatched: Vec<TupleLine> = org[..lc1].to_vec();
    let mut skipped = String::new();
    for (i, name) in regex.matcher().group_names().iter().enumerate() {
        if name.as_deref().is_some_and(|n| n.starts_with("skiplines")) {
            if let Some((s, e)) = caps.get(i) {
                skipped.push_str(&buf[s..e]);
            }
        }
    }
    let mut n = 0;
    for skipped_line in skipped.lines() {
        if let Some(m) = matched[n.min(matched.len())..]
            .iter()
            .position(|l| l.without_date_eq(skipped_line))
        {
            unmatched.push(matched.remove(n + m));
            n += m;
        }
    }
    unmatched.extend_from_slice(&org[lc2.max(lc1)..]);
    (matched, unmatched)
}

fn is_skiplines(name: &str) -> bool {
    name.strip_prefix("skiplines")
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// A filter that runs lines as `fail2ban-regex` does (see the module docs).
#[derive(Debug)]
pub struct RegexTool {
    filter: Filter,
    options: ToolOptions,
    dates: DateDetector,
    maxlines: usize,
    buffer: Vec<TupleLine>,
    /// Scratch: the searched text.
    text: String,
    last_date: Option<f64>,
    last_date_text: String,
    mlfid_cache: MlfidCache<TupleLine>,
    prefregex_matched: bool,
}

impl RegexTool {
    /// Compile `spec` (errors as [`Filter::new`] reports them).
    pub fn new(spec: &FilterSpec, options: ToolOptions) -> Result<RegexTool, Vec<FilterError>> {
        let filter = Filter::new(spec)?;
        // Filter::new has validated the date pattern and time zone already.
        let mut dates =
            DateDetector::from_datepattern(spec.datepattern.as_deref()).map_err(|message| {
                vec![FilterError {
                    option: "datepattern",
                    index: 0,
                    regex: spec.datepattern.clone().unwrap_or_default(),
                    message,
                }]
            })?;
        if let Some(tz) = spec.logtimezone.as_deref().filter(|t| !t.is_empty()) {
            dates.set_default_tz(parse_zone(tz));
        }
        let options = ToolOptions {
            raw_hosts: options.raw_hosts || spec.usedns == UseDns::Raw,
            ..options
        };
        Ok(RegexTool {
            filter,
            options,
            dates,
            maxlines: spec.maxlines.max(1),
            buffer: Vec::new(),
            text: String::new(),
            last_date: None,
            last_date_text: String::new(),
            mlfid_cache: MlfidCache::default(),
            prefregex_matched: false,
        })
    }

    /// The compiled filter (its regexes, for display).
    pub fn filter(&self) -> &Filter {
        &self.filter
    }

    /// The date detector (templates with their hit counts).
    pub fn date_detector(&self) -> &DateDetector {
        &self.dates
    }

    /// `maxlines`.
    pub fn maxlines(&self) -> usize {
        self.maxlines
    }

    /// Did the prefregex match when it was last tried? (`fail2ban-regex` counts it per
    /// line, even for a line on which an ignoreregex stopped the search before it.)
    pub fn prefregex_matched(&self) -> bool {
        self.prefregex_matched
    }

    /// Process one line (without its newline). `now` is the wall clock, used for year-less
    /// dates, recent-date reuse and the multi-line store's expiry.
    pub fn process_line(&mut self, line: &str, now: f64) -> ToolLine {
        let mut out = ToolLine::default();
        let track = self.maxlines > 1 && !self.options.ignore_pending;
        let before: Vec<TupleLine> = if track {
            let full = self.buffer.len() >= self.maxlines;
            self.buffer[usize::from(full)..].to_vec()
        } else {
            Vec::new()
        };
        let Some(date) = self.split_date(line, now) else {
            return out;
        };
        out.time = date;
        self.find_failures(now, &mut out);
        if track {
            out.taken_earlier = before
                .into_iter()
                .filter(|l| !self.buffer.contains(l))
                .map(|l| l.original())
                .collect();
        }
        out
    }

    /// Find and cut out the date: the new line goes into `self.pending` (as `tuple`), the
    /// result is the time failures get. `None` when Fail2Ban fails on the line (a date with
    /// an unknown zone abbreviation).
    fn split_date(&mut self, line: &str, now: f64) -> Option<Option<f64>> {
        let mut tuple = self.take_slot();
        let mut date = None;
        let m = self.dates.match_time(line, now);
        match m.as_ref().and_then(|m| Some((m, m.date_span()?))) {
            Some((m, (s, e))) => {
                tuple.set(&line[..s], &line[s..e], &line[e..]);
                if s < e {
                    match self.dates.time(line, m, now) {
                        Ok(t) => {
                            date = Some(t);
                            self.last_date = Some(t);
                            self.last_date_text.clear();
                            self.last_date_text.push_str(&line[s..e]);
                        }
                        Err(TimeError::Invalid) => {}
                        Err(TimeError::UnknownZone(_)) => {
                            self.put_slot(tuple, true);
                            return None;
                        }
                    }
                } else if let Some(last) = self.last_date.filter(|d| *d > now - 60.0) {
                    tuple.set("", &self.last_date_text, line);
                    date = Some(last);
                } else {
                    date = Some(now);
                }
            }
            None => tuple.set("", "", line),
        }
        if date.is_none() {
            if let Some(last) = self.last_date.filter(|d| *d > now - 60.0) {
                tuple.set("", &self.last_date_text, line);
                date = Some(last);
            }
        }
        self.put_slot(tuple, false);
        Some(date)
    }

    /// A `TupleLine` to fill, reusing the single-line buffer's allocation.
    fn take_slot(&mut self) -> TupleLine {
        if self.maxlines <= 1 {
            self.buffer.pop().unwrap_or_default()
        } else {
            TupleLine::default()
        }
    }

    /// Put the new line into the buffer (`discard`: keep the buffer as it was).
    fn put_slot(&mut self, tuple: TupleLine, discard: bool) {
        if self.maxlines <= 1 {
            // The single-line buffer only ever holds the current line.
            self.buffer.clear();
            self.buffer.push(tuple);
        } else if !discard {
            self.buffer.push(tuple);
            let excess = self.buffer.len().saturating_sub(self.maxlines);
            self.buffer.drain(..excess);
        }
    }

    /// Run the ignoreregexes on `buf` (with `maxlines > 1` and a failregex match: on the
    /// lines it covered). Records hits; `true` if any matched.
    fn ignore_line(
        &mut self,
        buf: &str,
        matched: Option<(&[TupleLine], &[TupleLine])>,
        out: &mut ToolLine,
    ) -> bool {
        let own;
        let buf = match matched {
            Some((m, _)) if self.maxlines > 1 => {
                let mut s = String::new();
                fill_buffer(m, &mut s);
                own = s;
                own.as_str()
            }
            _ => buf,
        };
        let mut found = false;
        for (i, r) in self.filter.ignoreregexes().iter().enumerate() {
            if r.search(buf).is_none() {
                continue;
            }
            found = true;
            out.ignore_hits.push(i);
            if !self.options.check_all || self.maxlines > 1 {
                if let Some((_, unmatched)) = matched {
                    self.buffer = unmatched.to_vec();
                }
            }
            if !self.options.check_all {
                break;
            }
        }
        found
    }

    fn find_failures(&mut self, now: f64, out: &mut ToolLine) {
        let org = self.buffer.clone();
        let mut text = std::mem::take(&mut self.text);
        fill_buffer(&org, &mut text);
        let n_fail = self.filter.failregexes().len();
        let n_ignore = self.filter.ignoreregexes().len();
        if n_ignore > 0 && n_ignore + 2 < n_fail && self.ignore_line(&text, None, out) {
            self.text = text;
            return;
        }
        let mut pre_groups: Vec<(String, Option<String>)> = Vec::new();
        // Is `text` the current buffer's text?
        let mut fresh = true;
        if let Some(pref) = self.filter.prefregex() {
            let caps = pref.search(&text);
            self.prefregex_matched = caps.is_some();
            let Some(caps) = caps else {
                self.text = text;
                return;
            };
            pre_groups = pref.group_dict(&text, &caps);
            let content = pre_groups
                .iter()
                .position(|(n, _)| n == "content")
                .map(|i| pre_groups.remove(i).1);
            if let Some(Some(c)) = content.filter(|c| c.as_deref().is_some_and(|c| !c.is_empty())) {
                self.buffer = vec![TupleLine {
                    after: c,
                    ..Default::default()
                }];
                fresh = false;
            }
        }
        for index in 0..n_fail {
            if !fresh {
                fill_buffer(&self.buffer, &mut text);
                fresh = true;
            }
            let regex = &self.filter.failregexes()[index];
            let Some(caps) = regex.search(&text) else {
                continue;
            };
            let groups = regex.group_dict(&text, &caps);
            let (matched, unmatched) = split_matched(regex, &text, &caps, &org);
            if n_ignore > 0 && self.ignore_line(&text, Some((&matched, &unmatched)), out) {
                fresh = false;
                if !self.options.check_all {
                    break;
                }
                continue;
            }
            if !self.options.check_all || self.maxlines > 1 {
                self.buffer = unmatched;
                fresh = false;
            }
            // Failregex groups override prefregex groups of the same name, even when empty.
            let mut merged: BTreeMap<String, Option<String>> = pre_groups.iter().cloned().collect();
            merged.extend(groups);
            let mut fail = FailData::from_groups(merged);
            let mlfid = fail.get("mlfid");
            if let Some(id) = &mlfid {
                fail = self.mlfid_cache.merge(id, fail, &matched, now);
                if fail.truthy("nofail") && !self.options.check_all {
                    break;
                }
            } else {
                fail.matches = Some(matched);
            }
            let host = self.host_of(&fail);
            let (host, ip) = match host {
                Some(h) => h,
                None => {
                    if let Some(id) = &mlfid {
                        self.mlfid_cache.mark_pending(id);
                    }
                    if !self.options.check_all && self.options.ignore_pending {
                        break;
                    }
                    if self.options.ignore_pending {
                        continue;
                    }
                    (ToolHost::Pending, None)
                }
            };
            let nofail = fail.truthy("nofail");
            let groups = fail
                .groups
                .into_iter()
                .filter(|(k, _)| !is_skiplines(k))
                .filter_map(|(k, v)| Some((k, v?)))
                .collect();
            let lines = fail
                .matches
                .unwrap_or_default()
                .iter()
                .map(TupleLine::original)
                .collect();
            out.matches.push(ToolMatch {
                regex_index: index,
                host,
                ip,
                groups,
                nofail,
                lines,
            });
            if !self.options.check_all {
                break;
            }
        }
        self.text = text;
    }

    /// Whom a failure accuses (Fail2Ban's `findFailure` host rules), and the separate
    /// address when the failure id differs from it. `None`: no host yet.
    fn host_of<L: Clone>(&self, fail: &FailData<L>) -> Option<(ToolHost, Option<String>)> {
        let fid = fail.get("fid");
        let (ip, raw) = if let Some(ip) = fail.get("ip4").or_else(|| fail.get("ip6")) {
            (ip, true)
        } else if let Some(dns) = fail.get("dns") {
            (dns, self.options.raw_hosts)
        } else {
            (fid.clone()?, true)
        };
        if !raw {
            return Some((ToolHost::Lookup(ip), None));
        }
        Some(match fid {
            Some(f) if f != ip => (ToolHost::Id(f), Some(ip)),
            _ => (ToolHost::Id(ip), None),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tool(spec: FilterSpec) -> RegexTool {
        RegexTool::new(&spec, ToolOptions::default()).unwrap()
    }

    #[test]
    fn every_failregex_is_tried() {
        let mut t = tool(FilterSpec {
            failregex: vec![r"^a <HOST>".into(), r"^a (?P<ip4>\S+)".into()],
            ..Default::default()
        });
        let r = t.process_line("a 192.0.2.9 x", 0.0);
        let hit: Vec<usize> = r.matches.iter().map(|m| m.regex_index).collect();
        assert_eq!(hit, vec![0, 1]);
        assert_eq!(r.matches[0].host, ToolHost::Id("192.0.2.9".into()));
    }

    #[test]
    fn first_match_mode_stops() {
        let mut t = RegexTool::new(
            &FilterSpec {
                failregex: vec![r"^a <HOST>".into(), r"^a (?P<ip4>\S+)".into()],
                ..Default::default()
            },
            ToolOptions {
                check_all: false,
                ignore_pending: true,
                raw_hosts: false,
            },
        )
        .unwrap();
        assert_eq!(t.process_line("a 192.0.2.9 x", 0.0).matches.len(), 1);
    }

    #[test]
    fn nofail_and_pending_matches_are_reported() {
        let mut t = tool(FilterSpec {
            prefregex: Some(r"^<F-MLFID>s\[\d+\]:</F-MLFID> <F-CONTENT>.+</F-CONTENT>$".into()),
            failregex: vec![
                r"^<F-NOFAIL>Connection from</F-NOFAIL> <HOST>".into(),
                r"^locked <F-USER>\S+</F-USER>".into(),
            ],
            ..Default::default()
        });
        let r = t.process_line("s[1]: locked bob", 0.0);
        assert_eq!(r.matches.len(), 1);
        assert_eq!(r.matches[0].host, ToolHost::Pending);
        assert!(t.prefregex_matched());
        let r = t.process_line("s[2]: Connection from 192.0.2.1", 0.0);
        assert!(r.matches[0].nofail);
        let r = t.process_line("s[2]: locked bob", 0.0);
        assert_eq!(r.matches[0].host, ToolHost::Id("192.0.2.1".into()));
        assert!(!r.matches[0].nofail);
        assert_eq!(r.matches[0].lines.len(), 2);
    }

    #[test]
    fn names_are_left_to_the_caller_unless_raw() {
        let spec = FilterSpec {
            failregex: vec![r"^from <HOST>$".into()],
            ..Default::default()
        };
        let mut t = tool(spec.clone());
        let r = t.process_line("from example.com", 0.0);
        assert_eq!(r.matches[0].host, ToolHost::Lookup("example.com".into()));
        let mut t = RegexTool::new(
            &spec,
            ToolOptions {
                raw_hosts: true,
                ..Default::default()
            },
        )
        .unwrap();
        let r = t.process_line("from example.com", 0.0);
        assert_eq!(r.matches[0].host, ToolHost::Id("example.com".into()));
    }

    #[test]
    fn ignoreregex_hits_per_matching_failregex() {
        let mut t = tool(FilterSpec {
            failregex: vec![r"^a <HOST>".into(), r"^a (?P<ip4>\S+)".into()],
            ignoreregex: vec![r"trusted".into()],
            ..Default::default()
        });
        let r = t.process_line("a 192.0.2.9 trusted", 0.0);
        assert!(r.matches.is_empty());
        assert_eq!(r.ignore_hits, vec![0, 0]);
    }

    #[test]
    fn multi_line_match_takes_earlier_lines() {
        let mut t = tool(FilterSpec {
            failregex: vec![r"^login from <HOST>\nfailed$".into()],
            maxlines: 3,
            ..Default::default()
        });
        assert!(t
            .process_line("login from 192.0.2.4", 0.0)
            .matches
            .is_empty());
        let r = t.process_line("failed", 0.0);
        assert_eq!(r.matches.len(), 1);
        assert_eq!(r.taken_earlier, vec!["login from 192.0.2.4".to_string()]);
    }

    #[test]
    fn date_is_cut_before_matching() {
        let mut t = tool(FilterSpec {
            failregex: vec![r"^\s*host <HOST>$".into()],
            ..Default::default()
        });
        let r = t.process_line("2026-01-06 10:00:00 host 192.0.2.1", 1.8e9);
        assert_eq!(r.matches.len(), 1);
        assert!(r.time.is_some());
        assert_eq!(
            r.matches[0].lines,
            vec!["2026-01-06 10:00:00 host 192.0.2.1".to_string()]
        );
    }
}
