//! Finding the date in a line: Fail2Ban's template list and selection rules.
//!
//! The default detector holds Fail2Ban's 17 default patterns, each unanchored one preceded by a
//! line-start copy with weight 100 (31 templates). For each line: the template that won last
//! time is tried first (within the same character window when its boundaries still look the
//! same); otherwise all templates are searched in order, and the first line-anchored match
//! wins, else the nearest match. Winners bubble up the list by hits, so the usual template is
//! found first. The exact order matters for lines holding more than one date (for example a
//! syslog prefix and an HAProxy `[06/Jan/2026:…]` date): whichever template wins decides which
//! part of the line is cut out before the failregex runs.
//!
//! Positions kept between lines are character indices, as in Python.

use std::collections::HashSet;
use std::sync::{Arc, LazyLock};

use super::template::{unbound_pattern, DateTemplate, LINE_BEGIN, LINE_END};
use crate::matcher::Captures;
use crate::matcher::Matcher;

/// Fail2Ban's default date patterns, in order.
pub const DEFAULT_PATTERNS: [&str; 17] = [
    r"%ExY(?P<_sep>[-/.])%m(?P=_sep)%d(?:T|  ?)%H:%M:%S(?:[.,]%f)?(?:\s*%z)?",
    r"(?:%a )?%b %d %k:%M:%S(?:\.%f)?(?: %ExY)?",
    r"(?:%a )?%b %d %ExY %k:%M:%S(?:\.%f)?",
    r"%d(?P<_sep>[-/])%m(?P=_sep)(?:%ExY|%Exy) %k:%M:%S",
    r"%d(?P<_sep>[-/])%b(?P=_sep)%ExY[ :]?%H:%M:%S(?:\.%f)?(?: %z)?",
    r"%m/%d/%ExY:%H:%M:%S",
    r"%m-%d-%ExY %k:%M:%S(?:\.%f)?",
    r"EPOCH",
    r"{^LN-BEG}%H:%M:%S",
    r"^<%m/%d/%Exy@%H:%M:%S>",
    r"%Exy%Exm%Exd  ?%H:%M:%S",
    r"%b %d, %ExY %I:%M:%S %p",
    r"^%b-%d-%Exy %k:%M:%S",
    r"%ExY%Exm%Exd(?:T|  ?)%ExH%ExM%ExS(?:[.,]%f)?(?:\s*%z)?",
    r"(?:%Z )?(?:%a )?%b %d %k:%M:%S(?:\.%f)?(?: %ExY)?",
    r"(?:%z )?(?:%a )?%b %d %k:%M:%S(?:\.%f)?(?: %ExY)?",
    r"TAI64N",
];

struct Defaults {
    /// The 17 default templates.
    base: Vec<Arc<DateTemplate>>,
    /// The 31: line-start copies first, then the 17.
    all: Vec<Arc<DateTemplate>>,
}

/// Re-create `template` with its pattern (or, for keyword templates, its name) wrapped.
fn wrapped_copy(
    template: &DateTemplate,
    wrap: impl Fn(&str) -> String,
) -> Result<DateTemplate, String> {
    match &template.pattern {
        Some(p) => DateTemplate::from_spec(&wrap(p)),
        None => DateTemplate::from_spec(&wrap(&template.name)),
    }
}

static DEFAULTS: LazyLock<Defaults> = LazyLock::new(|| {
    let mut base = Vec::new();
    let mut anchored = Vec::new();
    for p in DEFAULT_PATTERNS {
        let t = DateTemplate::from_spec(p).expect("default date pattern compiles");
        if !t.name.starts_with("{^LN-BEG}") && !t.name.starts_with('^') {
            let mut copy = wrapped_copy(&t, |s| format!("{{^LN-BEG}}{s}"))
                .expect("anchored default date pattern compiles");
            if copy.name != t.name {
                copy.weight = 100.0;
                anchored.push(Arc::new(copy));
            }
        }
        base.push(Arc::new(t));
    }
    let all = anchored.iter().chain(base.iter()).cloned().collect();
    Defaults { base, all }
});

/// One template in a detector, with its own statistics.
#[derive(Debug, Clone)]
pub struct TemplateSlot {
    /// The template.
    pub template: Arc<DateTemplate>,
    /// How often it won.
    pub hits: u64,
    /// When it last won (the `now` of that line).
    pub last_used: f64,
    /// Character position of its last match.
    pub distance: usize,
}

impl TemplateSlot {
    fn new(template: Arc<DateTemplate>) -> Self {
        TemplateSlot {
            template,
            hits: 0,
            last_used: 0.0,
            distance: 0x7fff_ffff,
        }
    }

    fn weight(&self) -> f64 {
        self.hits as f64 * self.template.weight / self.distance.max(1) as f64
    }
}

/// A date found in a line.
#[derive(Debug, Clone)]
pub struct DateMatch {
    /// The match (byte spans); group 1 is the date text.
    pub captures: Captures,
    /// The template that matched.
    pub template: Arc<DateTemplate>,
}

impl DateMatch {
    /// Byte span of the date text (group 1), if the template has one.
    pub fn date_span(&self) -> Option<(usize, usize)> {
        self.captures.get(1)
    }
}

/// Finds and converts dates, keeping per-template statistics (one per filter).
#[derive(Debug, Clone)]
pub struct DateDetector {
    templates: Vec<TemplateSlot>,
    known_names: HashSet<String>,
    /// Last match start: (char index, char before, char at).
    last_pos: (usize, Option<char>, Option<char>),
    /// Last match end: (char index, char before, char at).
    last_end_pos: (usize, Option<char>, Option<char>),
    last_index: usize,
    first_unused: usize,
    default_tz: Option<i32>,
    /// The last match, when a line starting with the same bytes gets the same one again
    /// (see [`Repeat`]).
    repeat: Option<Repeat>,
}

/// A syslog date the default template's direct reader found at the start of a line, through
/// the template tried first (the last one used, anchored at the line's start). That reader
/// decides from the date and the two bytes after it, and the detector's state steers nothing
/// else on that path, so a line that starts with the same bytes gets the same match: most
/// lines share their second with the line before.
#[derive(Debug, Clone)]
struct Repeat {
    /// The bytes the reader read (the date and up to two more).
    prefix: Vec<u8>,
    /// The previous line ended within them: the next must equal them whole.
    whole: bool,
    captures: Captures,
}

impl Repeat {
    /// Does `line` start as the line this match was read from, as far as the reader read?
    fn starts(&self, line: &str) -> bool {
        if self.whole {
            line.as_bytes() == self.prefix.as_slice()
        } else {
            line.as_bytes().starts_with(&self.prefix)
        }
    }
}

impl Default for DateDetector {
    fn default() -> Self {
        Self::new()
    }
}

fn char_at(line: &str, ascii: bool, ci: usize) -> Option<char> {
    if ascii {
        line.as_bytes().get(ci).map(|&b| b as char)
    } else {
        line.chars().nth(ci)
    }
}

fn char_to_byte(line: &str, ascii: bool, ci: usize) -> usize {
    if ascii {
        ci.min(line.len())
    } else {
        line.char_indices().nth(ci).map_or(line.len(), |(i, _)| i)
    }
}

fn byte_to_char(line: &str, ascii: bool, bi: usize) -> usize {
    if ascii {
        bi
    } else {
        line[..bi].chars().count()
    }
}

/// Python `line[i-1:i]` for a char index (empty at 0).
fn char_before(line: &str, ascii: bool, ci: usize) -> Option<char> {
    if ci == 0 {
        None
    } else {
        char_at(line, ascii, ci - 1)
    }
}

fn not_alnum(c: Option<char>) -> bool {
    !c.is_some_and(char::is_alphanumeric)
}

impl DateDetector {
    /// An empty detector; the default templates are added on first use if none are added.
    pub fn new() -> Self {
        DateDetector {
            templates: Vec::new(),
            known_names: HashSet::new(),
            last_pos: (1, None, None),
            last_end_pos: (0x7fff_ffff, None, None),
            last_index: usize::MAX,
            first_unused: 0,
            default_tz: None,
            repeat: None,
        }
    }

    /// A detector for a filter's `datepattern` (newline-separated list; `None` = defaults).
    pub fn from_datepattern(datepattern: Option<&str>) -> Result<Self, String> {
        let mut d = DateDetector::new();
        if let Some(dp) = datepattern {
            for p in dp.split('\n').map(str::trim).filter(|p| !p.is_empty()) {
                d.append_template(p)?;
            }
        }
        Ok(d)
    }

    /// Set the `logtimezone` (minutes east of UTC) for dates without a zone.
    pub fn set_default_tz(&mut self, minutes: Option<i32>) {
        self.default_tz = minutes;
    }

    /// The templates in their current order.
    pub fn templates(&self) -> &[TemplateSlot] {
        &self.templates
    }

    fn push(&mut self, template: Arc<DateTemplate>, ignore_duplicate: bool) -> Result<(), String> {
        if !self.known_names.insert(template.name.clone()) {
            if ignore_duplicate {
                return Ok(());
            }
            return Err(format!(
                "There is already a template with name {}",
                template.name
            ));
        }
        self.templates.push(TemplateSlot::new(template));
        self.repeat = None;
        Ok(())
    }

    /// Add one `datepattern` entry: `{^LN-BEG}`, `{DEFAULT}`, a pattern with `{DATE}`,
    /// `{NONE}`, `EPOCH`/`LEPOCH`/`TAI64N` (optionally anchored), or a strptime pattern.
    pub fn append_template(&mut self, pattern: &str) -> Result<(), String> {
        let key = if pattern.contains('%') {
            pattern.to_string()
        } else {
            pattern.to_uppercase()
        };
        match key.as_str() {
            "{^LN-BEG}" => return self.add_defaults(true, None),
            "{DEFAULT}" => return self.add_defaults(false, None),
            _ => {}
        }
        if key.contains("{DATE}") {
            return self.add_defaults(false, Some(pattern));
        }
        let template = if key == "{NONE}" {
            DateTemplate::from_spec("{UNB}^")?
        } else {
            DateTemplate::from_spec(pattern)?
        };
        self.push(Arc::new(template), false)
    }

    /// Add the default templates: all 31, only the line-anchored ones, or the 17 patterns put
    /// into `pre_match`'s `{DATE}` slot.
    fn add_defaults(
        &mut self,
        line_begin_only: bool,
        pre_match: Option<&str>,
    ) -> Result<(), String> {
        let ignore_duplicate = !self.templates.is_empty();
        let defaults = &*DEFAULTS;
        match pre_match {
            None => {
                for t in &defaults.all {
                    if line_begin_only && t.flags & LINE_BEGIN == 0 {
                        continue;
                    }
                    self.push(t.clone(), ignore_duplicate)?;
                }
            }
            Some(pre) => {
                for t in &defaults.base {
                    let copy = wrapped_copy(t, |s| replace_date_slot(pre, &unbound_pattern(s)))?;
                    self.push(Arc::new(copy), ignore_duplicate)?;
                }
            }
        }
        Ok(())
    }

    fn search(
        &self,
        index: usize,
        line: &str,
        ascii: bool,
        window: Option<(usize, usize)>,
    ) -> Option<Captures> {
        let t = &self.templates[index].template;
        match window {
            None => t.search(line, 0, line.len()),
            Some((pos, endpos)) => t.search(
                line,
                char_to_byte(line, ascii, pos),
                char_to_byte(line, ascii, endpos),
            ),
        }
    }

    /// Find the date in `line` (Fail2Ban's `matchTime`). `now` is recorded as the winner's
    /// last use.
    pub fn match_time(&mut self, line: &str, now: f64) -> Option<DateMatch> {
        if self.templates.is_empty() {
            // Cannot fail: the defaults are compiled constants.
            let _ = self.add_defaults(false, None);
        }
        if let Some(m) = self.repeated(line, now) {
            return Some(m);
        }
        let n = self.templates.len();
        let ascii = line.is_ascii();
        let anchored = |t: &DateTemplate| t.flags & (LINE_BEGIN | LINE_END) != 0;
        let span_chars = |c: &Captures| {
            let (s, e) = c.span();
            (byte_to_char(line, ascii, s), byte_to_char(line, ascii, e))
        };
        let mut found: Option<(Captures, usize, usize, usize)> = None;
        let mut ignore_by_search = usize::MAX;
        let mut winner: Option<(Captures, usize, usize, usize)> = None;
        let i = self.last_index;
        if i < n {
            let m = if anchored(&self.templates[i].template) {
                ignore_by_search = i;
                self.search(i, line, ascii, None)
            } else {
                let (distance, endpos) = (self.last_pos.0, self.last_end_pos.0);
                let begin_ok = char_before(line, ascii, distance) == self.last_pos.1
                    || (char_at(line, ascii, distance) == self.last_pos.2
                        && not_alnum(self.last_pos.2));
                let end_ok = char_at(line, ascii, endpos) == self.last_end_pos.2
                    || (char_before(line, ascii, endpos) == self.last_end_pos.1
                        && not_alnum(self.last_end_pos.1));
                if begin_ok && end_ok {
                    self.search(i, line, ascii, Some((distance, endpos)))
                } else {
                    ignore_by_search = i;
                    self.search(i, line, ascii, None)
                }
            };
            if let Some(m) = m {
                let (distance, endpos) = span_chars(&m);
                if n == 1
                    || anchored(&self.templates[i].template)
                    || (distance == self.last_pos.0 && endpos == self.last_end_pos.0)
                {
                    winner = Some((m, distance, endpos, i));
                } else {
                    found = Some((m, distance, endpos, i));
                }
            }
        }
        if winner.is_none() {
            for i in 0..n {
                if i == ignore_by_search {
                    continue;
                }
                let Some(m) = self.search(i, line, ascii, None) else {
                    continue;
                };
                let (distance, endpos) = span_chars(&m);
                let slot = &self.templates[i];
                if i + 1 >= n
                    || anchored(&slot.template)
                    || (distance == 0 && slot.hits > 0 && self.templates[i + 1].hits == 0)
                {
                    winner = Some((m, distance, endpos, i));
                    break;
                }
                if distance > slot.distance || distance > self.last_pos.0 {
                    if found.as_ref().is_none_or(|f| distance < f.1) {
                        found = Some((m, distance, endpos, i));
                    }
                    continue;
                }
                winner = Some((m, distance, endpos, i));
                break;
            }
            if winner.is_none() {
                winner = found;
            }
        }
        let (captures, distance, endpos, mut i) = winner?;
        let slot = &mut self.templates[i];
        slot.hits += 1;
        slot.last_used = now;
        slot.distance = distance;
        if self.first_unused == i {
            self.first_unused += 1;
        }
        self.last_pos = (
            distance,
            char_before(line, ascii, distance),
            char_at(line, ascii, distance),
        );
        let end_before = if endpos == 0 {
            line.chars().last()
        } else {
            char_at(line, ascii, endpos - 1)
        };
        self.last_end_pos = (endpos, end_before, char_at(line, ascii, endpos));
        // The template tried first answered through the direct reader: the next line that
        // starts with the same bytes gets the same answer.
        let first_try = i == self.last_index && ignore_by_search == i;
        // (The last one's buffer is used again.)
        let mut prefix = self.repeat.take().map(|r| r.prefix).unwrap_or_default();
        if first_try && distance == 0 {
            if let Some(end) = captures.syslog_end() {
                let read = (end + 2).min(line.len());
                prefix.clear();
                prefix.extend_from_slice(&line.as_bytes()[..read]);
                self.repeat = Some(Repeat {
                    prefix,
                    whole: read < end + 2,
                    captures: captures.clone(),
                });
            }
        }
        if i != 0 && i != self.last_index {
            i = self.reorder(i);
        }
        self.last_index = i;
        Some(DateMatch {
            captures,
            template: self.templates[i].template.clone(),
        })
    }

    /// [`Self::match_time`] for a line that starts as the one before did (see [`Repeat`]):
    /// the same match, and the same bookkeeping (the winner's hits and last use; where the
    /// match starts and ends, and the characters around, are the same as before).
    fn repeated(&mut self, line: &str, now: f64) -> Option<DateMatch> {
        let r = self.repeat.as_ref().filter(|r| r.starts(line))?;
        let captures = r.captures.clone();
        let i = self.last_index;
        let slot = self.templates.get_mut(i)?;
        slot.hits += 1;
        slot.last_used = now;
        Some(DateMatch {
            captures,
            template: slot.template.clone(),
        })
    }

    /// Bubble template `num` up the list (Fail2Ban's `_reorderTemplate`).
    fn reorder(&mut self, num: usize) -> usize {
        if num == 0 {
            return 0;
        }
        let slot = &self.templates[num];
        let untime = slot.last_used - 300.0;
        let weight = slot.weight();
        let mut pos = if self.first_unused < num {
            self.first_unused
        } else {
            num / 2
        };
        let movable = |t: &TemplateSlot| weight > t.weight() || untime > t.last_used;
        if !movable(&self.templates[pos]) {
            if pos == num - 1 {
                return num;
            }
            pos = num - 1;
            if !movable(&self.templates[pos]) {
                return num;
            }
        }
        let slot = self.templates.remove(num);
        self.templates.insert(pos, slot);
        while self.first_unused < self.templates.len() && self.templates[self.first_unused].hits > 0
        {
            self.first_unused += 1;
        }
        pos
    }

    /// Convert a match from [`Self::match_time`] to epoch seconds.
    pub fn time(
        &self,
        line: &str,
        m: &DateMatch,
        now: f64,
    ) -> Result<f64, super::convert::TimeError> {
        m.template.time(line, &m.captures, self.default_tz, now)
    }
}

/// The last date converted: (template, date text, `now`) → time. Consecutive lines often carry
/// the same timestamp, so most conversions are answered from here.
///
/// Dates that end in their seconds (`…:%S`, two digits) are also answered per minute: when a
/// minute is first met, its `:00` and `:59` are converted as well, and if they lie 59 s apart
/// (no daylight-saving change, no "a day / a year ago" guess switching inside that minute)
/// every second of it is `:00`'s time plus the seconds.
#[derive(Debug, Default)]
pub struct TimeCache {
    last: Option<(usize, String, f64, f64)>,
    minute: Option<Minute>,
    /// Scratch: a line with its seconds replaced.
    probe: String,
}

/// A minute whose seconds convert linearly.
#[derive(Debug)]
struct Minute {
    template: usize,
    now: f64,
    /// The match's text without its two digits of seconds.
    prefix: String,
    /// The time of its `:00`.
    base: f64,
}

impl TimeCache {
    /// [`DateDetector::time`], reusing the last conversion when the same template matched the
    /// same text at the same `now`, or the same minute (see above).
    pub fn time(
        &mut self,
        dates: &DateDetector,
        line: &str,
        m: &DateMatch,
        now: f64,
    ) -> Result<f64, super::convert::TimeError> {
        let (ms, me) = m.captures.span();
        let key = &line[ms..me];
        let template = Arc::as_ptr(&m.template) as usize;
        if let Some((t, text, at, time)) = &self.last {
            if *t == template && *at == now && text == key {
                return Ok(*time);
            }
        }
        // Two digits of seconds at the very end of the match?
        let seconds = m
            .template
            .matcher()
            .group_index("S")
            .and_then(|i| m.captures.get(i))
            .filter(|&(s, e)| e == me && e - s == 2 && s >= ms)
            .and_then(|(s, e)| {
                let d = &line.as_bytes()[s..e];
                (d[0].is_ascii_digit() && d[1].is_ascii_digit())
                    .then(|| (s, f64::from((d[0] - b'0') * 10 + (d[1] - b'0'))))
            });
        let from_minute = seconds.and_then(|(s, secs)| {
            let minute = self.minute.as_ref()?;
            (minute.template == template
                && minute.now == now
                && minute.prefix == line[ms..s]
                && secs < 60.0)
                .then_some(minute.base + secs)
        });
        let time = match from_minute {
            Some(t) => t,
            None => {
                let time = dates.time(line, m, now)?;
                if let Some((s, secs)) = seconds.filter(|&(_, secs)| secs < 60.0) {
                    self.learn_minute(dates, line, m, now, template, (ms, s), time - secs);
                }
                time
            }
        };
        let last = self
            .last
            .get_or_insert_with(|| (0, String::new(), 0.0, 0.0));
        last.0 = template;
        last.1.clear();
        last.1.push_str(key);
        last.2 = now;
        last.3 = time;
        Ok(time)
    }

    /// Check that the minute of `line`'s date (match from `start`, seconds at `secs_at`)
    /// converts linearly, with `base` as the time of its `:00`, and remember it if so.
    #[allow(clippy::too_many_arguments)]
    fn learn_minute(
        &mut self,
        dates: &DateDetector,
        line: &str,
        m: &DateMatch,
        now: f64,
        template: usize,
        (start, secs_at): (usize, usize),
        base: f64,
    ) {
        let mut at = |digits: &str| {
            self.probe.clear();
            self.probe.push_str(&line[..secs_at]);
            self.probe.push_str(digits);
            self.probe.push_str(&line[secs_at + 2..]);
            dates.time(&self.probe, m, now).ok()
        };
        let (first, last) = (at("00"), at("59"));
        self.minute = match (first, last) {
            (Some(a), Some(b)) if b - a == 59.0 && a == base => Some(Minute {
                template,
                now,
                prefix: line[start..secs_at].to_string(),
                base,
            }),
            _ => None,
        };
    }
}

/// Replace every `{DATE}` (any case, not escaped) in `pre` with `date`.
fn replace_date_slot(pre: &str, date: &str) -> String {
    let upper = pre.to_ascii_uppercase();
    let mut out = String::new();
    let mut last = 0;
    let mut from = 0;
    while let Some(off) = upper[from..].find("{DATE}") {
        let s = from + off;
        if s > 0 && pre.as_bytes()[s - 1] == b'\\' {
            from = s + 1;
            continue;
        }
        out.push_str(&pre[last..s]);
        out.push_str(date);
        last = s + 6;
        from = last;
    }
    out.push_str(&pre[last..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Answers from the cache (same text, same minute) equal fresh conversions, also in the
    /// minute where a year-less date stops being "more than a day ahead" and so stops being
    /// taken for last year.
    #[test]
    fn cached_times_equal_fresh_conversions() {
        let mut dates = DateDetector::from_datepattern(Some("{^LN-BEG}")).unwrap();
        let mut cache = TimeCache::default();
        let now = 1_732_795_200.5; // 2024-11-28 12:00:00.5 UTC
        let (naive, _) = super::super::convert::local_now(now);
        let (_, mo, d, h, mi, _) = naive.fields();
        let month = [
            "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
        ][mo as usize - 1];
        let mut lines = Vec::new();
        // Today, minute after minute, every second twice.
        for m in 0..3 {
            for sec in 0..60 {
                let l = format!("{month} {d:2} 09:{m:02}:{sec:02} host sshd[1]: x");
                lines.push(l.clone());
                lines.push(l);
            }
        }
        // Tomorrow, the minute of "now + 1 day", where the year guess flips.
        for sec in (0..60).rev().chain(0..60) {
            lines.push(format!(
                "{month} {:2} {h:02}:{mi:02}:{sec:02} host y",
                d + 1
            ));
        }
        let mut flips = 0;
        let mut last: Option<f64> = None;
        for line in &lines {
            let m = dates.match_time(line, now).expect("a date");
            let fresh = dates.time(line, &m, now).unwrap();
            assert_eq!(cache.time(&dates, line, &m, now).unwrap(), fresh, "{line}");
            if let Some(prev) = last {
                flips += usize::from((fresh - prev).abs() > 86_400.0);
            }
            last = Some(fresh);
        }
        assert!(
            flips > 0,
            "the year guess should flip inside the last minute"
        );
    }

    /// A line that starts as the one before gets the same match from [`Repeat`] as a detector
    /// that searches every line afresh, with the same bookkeeping, whatever comes between.
    #[test]
    fn repeated_starts_answer_as_a_fresh_search() {
        let heads = [
            "Nov 28 00:00:01",
            "Nov 28 00:00:02",
            "Nov  2 00:00:02",
            "Mon Nov 28 00:00:02",
            "2024-11-28 00:00:02",
            "Nov 28 00:00:02.123",
            "Nov 28 00:00:02 2024",
            "[Nov 28 00:00:02]",
            "no date",
        ];
        let tails = [
            "",
            " ",
            "x",
            " 2",
            " 20",
            " 2024",
            " host sshd[1]: x",
            "_x",
            ".5 y",
            " \u{e9}t\u{e9}",
        ];
        let mut lines: Vec<String> = Vec::new();
        let mut seed = 7u64;
        for _ in 0..6000 {
            seed = seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let head = heads[(seed >> 33) as usize % heads.len()];
            let tail = tails[(seed >> 45) as usize % tails.len()];
            // Runs of the same line, as a log has lines of the same second.
            for _ in 0..1 + (seed >> 61) as usize {
                lines.push(format!("{head}{tail}"));
            }
        }
        let state = |d: &DateDetector| {
            let slots: Vec<(String, u64, u64, usize)> = d
                .templates
                .iter()
                .map(|t| {
                    (
                        t.template.name.clone(),
                        t.hits,
                        t.last_used.to_bits(),
                        t.distance,
                    )
                })
                .collect();
            (
                slots,
                d.last_pos,
                d.last_end_pos,
                d.last_index,
                d.first_unused,
            )
        };
        let mut with = DateDetector::from_datepattern(None).unwrap();
        let mut without = DateDetector::from_datepattern(None).unwrap();
        let mut repeated = 0;
        for (n, line) in lines.iter().enumerate() {
            let now = 1_700_000_000.0 + n as f64;
            repeated += usize::from(with.repeat.as_ref().is_some_and(|r| r.starts(line)));
            without.repeat = None;
            let fresh = without.match_time(line, now);
            let got = with.match_time(line, now);
            let seen = |m: &Option<DateMatch>| {
                m.as_ref()
                    .map(|m| (m.captures.clone(), m.template.name.clone()))
            };
            assert_eq!(seen(&got), seen(&fresh), "{line:?}");
            assert!(state(&with) == state(&without), "{line:?}");
        }
        assert!(repeated > 1000, "{repeated}");
    }

    #[test]
    fn default_detector_has_31_templates() {
        let mut d = DateDetector::new();
        assert!(d.match_time("nothing here", 0.0).is_none());
        assert_eq!(d.templates().len(), 31);
        let names: Vec<&str> = d
            .templates()
            .iter()
            .map(|t| t.template.name.as_str())
            .collect();
        assert_eq!(
            names[0],
            "{^LN-BEG}ExYear(?P<_sep>[-/.])Month(?P=_sep)Day(?:T|  ?)24hour:Minute:Second(?:[.,]Microseconds)?(?:\\s*Zone offset)?"
        );
        assert_eq!(names[7], "{^LN-BEG}Epoch");
        assert_eq!(names[13], "{^LN-BEG}TAI64N");
        assert_eq!(names[21], "Epoch");
        assert_eq!(names[30], "TAI64N");
        assert!(d.templates()[..14]
            .iter()
            .all(|t| t.template.weight == 100.0));
    }

    #[test]
    fn line_begin_only() {
        let d = DateDetector::from_datepattern(Some("{^LN-BEG}")).unwrap();
        assert_eq!(d.templates().len(), 17);
    }

    #[test]
    fn date_slot() {
        let d = DateDetector::from_datepattern(Some(r"^[^\[]*\[({DATE})")).unwrap();
        assert_eq!(d.templates().len(), 17);
        let t = &d.templates()[4].template;
        assert!(t.regex.starts_with(r"(?iu)^[^\[]*\[((?P<d>"), "{}", t.regex);
    }

    #[test]
    fn line_start_date_wins_over_later_date() {
        let mut d = DateDetector::new();
        let line =
            "Jan  6 10:00:00 lb haproxy[1234]: 192.0.2.66:51234 [06/Jan/2026:10:00:00.123] x";
        let m = d.match_time(line, 1.8e9).unwrap();
        assert_eq!(m.date_span(), Some((0, 15)));
        let line = "lb haproxy[1234]: 192.0.2.68:51234 [06/Jan/2026:10:00:00.123] x";
        let m = d.match_time(line, 1.8e9).unwrap();
        assert_eq!(m.date_span(), Some((36, 60)));
    }
}
