//! One date template: a regex that finds a date in a line, and how to turn the match into a
//! timestamp.
//!
//! Construction follows Fail2Ban's rules for anchoring: `{^LN-BEG}` anchors at the line start
//! (allowing up to two non-word characters before the date), other patterns get word
//! boundaries on both sides unless `**` at an end (or `{UNB}`) says otherwise, and a pattern
//! without a group is wrapped so that group 1 is always the date text that gets cut out of
//! the line.

use std::sync::LazyLock;

use super::convert;
use super::fields;
use super::syslog::SyslogStart;
use crate::matcher::{self, AnyMatcher, Captures, Matcher};

/// Template flag: anchored at the line start.
pub const LINE_BEGIN: u8 = 8;
/// Template flag: anchored at the line end.
pub const LINE_END: u8 = 4;
/// Template flag: must start at a word boundary.
pub const WORD_BEGIN: u8 = 2;
/// Template flag: must end at a word boundary.
pub const WORD_END: u8 = 1;

const BOUND_WORD_BEGIN: &str = r"(?=^|\b|\W)";
const BOUND_WORD_END: &str = r"(?=\b|\W|$)";
const BOUND_LINE_BEGIN: &str = r"^(?:\W{0,2})?";

/// How the start of a template is bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Begin {
    /// No boundary.
    None,
    /// Word boundary.
    Word,
    /// Line start (`{^LN-BEG}`).
    Line,
}

/// What a template's match means.
#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    /// strptime fields in named groups.
    Pattern,
    /// Seconds since the epoch in group `group` (`long`: milli/microseconds allowed).
    Epoch {
        /// `LEPOCH`.
        long: bool,
        /// Group holding the number.
        group: usize,
    },
    /// `@` + 24 hex digits.
    Tai64n,
}

/// A compiled date template.
#[derive(Debug)]
pub struct DateTemplate {
    /// Name (Fail2Ban's naming: fields replaced by their names).
    pub name: String,
    /// The `datepattern` it came from, for pattern templates.
    pub pattern: Option<String>,
    /// The final regex (Python dialect).
    pub regex: String,
    /// `LINE_BEGIN | LINE_END | WORD_BEGIN | WORD_END`.
    pub flags: u8,
    /// Sorting weight (100 for the line-start copies of the defaults).
    pub weight: f64,
    /// How to convert a match.
    pub kind: Kind,
    matcher: AnyMatcher,
    /// The direct reader, for syslog's line-start template.
    syslog: Option<SyslogStart>,
}

// Meta-regexes over regex source text (none needs look-around in this form).
static RE_NO_WORD_BOUND_BEGIN: LazyLock<regex::Regex> = LazyLock::new(|| {
    regex::Regex::new(r"^\(*(?:\(\?[0-9A-Za-z_]+\))?(?:\^|\(*\*\*|\((?:\?:)?\^)").unwrap()
});
static RE_NO_WORD_BOUND_END: LazyLock<regex::Regex> =
    LazyLock::new(|| regex::Regex::new(r"(?:^|[^\\])(?:\$\)?|\\b|\\s|\*\*\)*)\z").unwrap());
static RE_GROUP: LazyLock<regex::Regex> = LazyLock::new(|| {
    regex::Regex::new(r"^((?:\(\?[0-9A-Za-z_]+\))?\^?(?:\(\?[0-9A-Za-z_]+\))?)(.*?)(\$?)\z")
        .unwrap()
});
static RE_LINE_BOUND_BEGIN: LazyLock<regex::Regex> = LazyLock::new(|| {
    regex::Regex::new(r"^(?:\(\?[0-9A-Za-z_]+\))?(?:\^|\((?:\?:)?\^(?:[^|]|\z))").unwrap()
});
static RE_LINE_BOUND_END: LazyLock<regex::Regex> =
    LazyLock::new(|| regex::Regex::new(r"(?:^|[^\\|])\$\)?\z").unwrap());
static RE_DEL_BOUND_BEGIN: LazyLock<regex::Regex> =
    LazyLock::new(|| regex::Regex::new(r"^\(*(?:\(\?[0-9A-Za-z_]+\))?\(*\*\*").unwrap());

/// Position of the first `(?flags)` (lower-case letters) in `regex`.
fn find_global_flags(regex: &str) -> Option<(usize, usize)> {
    let b = regex.as_bytes();
    let mut i = 0;
    while let Some(off) = regex[i..].find("(?") {
        let s = i + off;
        let mut j = s + 2;
        while j < b.len() && b[j].is_ascii_lowercase() {
            j += 1;
        }
        if j > s + 2 && j < b.len() && b[j] == b')' {
            return Some((s, j + 1));
        }
        i = s + 1;
    }
    None
}

/// Has a capturing group: a `(` not escaped, not after `(?`, not followed by `?`.
fn has_group(regex: &str) -> bool {
    let b = regex.as_bytes();
    (0..b.len()).any(|i| {
        b[i] == b'('
            && !(i >= 1 && b[i - 1] == b'\\')
            && !(i >= 2 && &b[i - 2..i] == b"(?")
            && b.get(i + 1) != Some(&b'?')
    })
}

/// Remove `**` markers at the start (after parentheses/flags) and at the end.
fn delete_word_bound_markers(regex: &str) -> String {
    let mut s = regex.to_string();
    let mut prefix_end = 0;
    if let Some(m) = RE_DEL_BOUND_BEGIN.find(&s) {
        let end = m.end();
        s.replace_range(end - 2..end, "");
        prefix_end = end - 2;
    }
    let trimmed = s.trim_end_matches(')');
    if trimmed.len() >= prefix_end + 2 && trimmed.ends_with("**") {
        let star = trimmed.len() - 2;
        if star == 0 || s.as_bytes()[star - 1] != b'\\' {
            s.replace_range(star..star + 2, "");
        }
    }
    s
}

/// Strip the anchoring that a default pattern carries so it can be placed in a `{DATE}` slot.
pub fn unbound_pattern(pattern: &str) -> String {
    let mut p = pattern.strip_prefix("{UNB}").unwrap_or(pattern);
    p = p.strip_prefix("{^LN-BEG}").unwrap_or(p);
    for pre in [r"(^|\b|\W)", r"(?:^|\b|\W)"] {
        p = p.strip_prefix(pre).unwrap_or(p);
    }
    p.strip_suffix(BOUND_WORD_END).unwrap_or(p).to_string()
}

/// The `ExY` regex in use (depends on the current year).
pub fn ex_year() -> &'static str {
    static EX_YEAR: LazyLock<String> = LazyLock::new(|| {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0);
        let year = convert::local_now(now).0.fields().0 as i32;
        fields::ex_year_regex(year)
    });
    &EX_YEAR
}

/// Matches `{EPOCH}` or `{LEPOCH}` (case-insensitive, not escaped) in a pattern.
fn find_epoch_placeholder(pattern: &str) -> Option<(usize, usize)> {
    let upper = pattern.to_ascii_uppercase();
    for token in ["{EPOCH}", "{LEPOCH}"] {
        let mut from = 0;
        while let Some(off) = upper[from..].find(token) {
            let s = from + off;
            if s == 0 || pattern.as_bytes()[s - 1] != b'\\' {
                return Some((s, s + token.len()));
            }
            from = s + 1;
        }
    }
    None
}

const EPOCH_RE: &str = r"\d{10,11}\b(?:\.\d{3,6})?";
const LONG_EPOCH_RE: &str = r"\d{10,11}(?:\d{3}(?:\.\d{1,6}|\d{3})?)?";

impl DateTemplate {
    /// Anchor `regex` and compile (Fail2Ban's `DateTemplate.setRegex`).
    fn build(
        mut name: String,
        pattern: Option<String>,
        regex: &str,
        begin: Begin,
        end: bool,
        kind: Kind,
    ) -> Result<Self, String> {
        let mut regex = regex.trim().to_string();
        let mut global = String::new();
        if let Some((s, e)) = find_global_flags(&regex) {
            global = regex[s..e].to_string();
            regex.replace_range(s..e, "");
        }
        let bound_begin = begin != Begin::None && !RE_NO_WORD_BOUND_BEGIN.is_match(&regex);
        let bound_end = end && !RE_NO_WORD_BOUND_END.is_match(&regex);
        if !has_group(&regex) {
            regex = RE_GROUP.replace(&regex, "${1}(${2})${3}").into_owned();
        }
        let mut flags = 0;
        if bound_begin {
            if begin == Begin::Word {
                flags |= WORD_BEGIN;
                regex.insert_str(0, BOUND_WORD_BEGIN);
            } else {
                flags |= LINE_BEGIN;
                regex.insert_str(0, BOUND_LINE_BEGIN);
                if !name.starts_with("{^LN-BEG}") {
                    name.insert_str(0, "{^LN-BEG}");
                }
            }
        }
        if bound_end {
            flags |= WORD_END;
            regex.push_str(BOUND_WORD_END);
        }
        if flags & LINE_BEGIN == 0 && RE_LINE_BOUND_BEGIN.is_match(&regex) {
            flags |= LINE_BEGIN;
        }
        if flags & LINE_END == 0 && RE_LINE_BOUND_END.is_match(&regex) {
            flags |= LINE_END;
        }
        let mut regex = delete_word_bound_markers(&regex);
        regex.insert_str(0, &global);
        let matcher =
            matcher::compile_for_captures(&regex, false).map_err(|e| format!("{e}: {regex}"))?;
        let syslog = SyslogStart::for_template(&regex, matcher.group_names());
        Ok(DateTemplate {
            name,
            pattern,
            regex,
            flags,
            weight: 1.0,
            kind,
            matcher,
            syslog,
        })
    }

    /// A template from a strptime-style pattern (Fail2Ban's `DatePatternRegex`).
    pub fn from_pattern(pattern: &str) -> Result<Self, String> {
        let (mut p, mut begin, mut end) = (pattern, Begin::Word, true);
        if let Some(rest) = p.strip_prefix("{UNB}") {
            p = rest;
            begin = Begin::None;
            end = false;
        }
        if begin == Begin::Word {
            if let Some(rest) = p.strip_prefix("{^LN-BEG}") {
                p = rest;
                begin = Begin::Line;
            }
        }
        let e = fields::expand_fields(p, ex_year())
            .map_err(|e| format!("Failed to set datepattern '{pattern}': {e}"))?;
        Self::build(
            e.name,
            Some(pattern.to_string()),
            &e.regex,
            begin,
            end,
            Kind::Pattern,
        )
    }

    /// `EPOCH` / `LEPOCH` templates; `line_begin` for the `^`/`{^LN-BEG}` forms, `pattern`
    /// for a pattern containing `{EPOCH}`.
    pub fn epoch(line_begin: bool, pattern: Option<&str>, long: bool) -> Result<Self, String> {
        let number = if long { LONG_EPOCH_RE } else { EPOCH_RE };
        let default_name = if long { "LongEpoch" } else { "Epoch" };
        let name = pattern.unwrap_or(default_name).to_string();
        let kind = |group| Kind::Epoch { long, group };
        if let Some(p) = pattern {
            let mut regex = String::from("(");
            let mut rest = p;
            while let Some((s, e)) = find_epoch_placeholder(rest) {
                regex.push_str(&rest[..s]);
                regex.push_str(&format!("({number})"));
                rest = &rest[e..];
            }
            regex.push_str(rest);
            regex.push(')');
            Self::build(name, None, &regex, Begin::Word, true, kind(2))
        } else if !line_begin {
            let regex = String::from(r"((?:^|(?P<square>(?<=^\[))|(?P<selinux>(?<=\baudit\()))")
                + number
                + r")(?:(?(selinux)(?=:\d+\)))|(?(square)(?=\])))";
            Self::build(name, None, &regex, Begin::None, true, kind(1))
        } else {
            let regex = format!(r"((?P<square>(?<=^\[))?{number})(?(square)(?=\]))");
            Self::build(name, None, &regex, Begin::Line, true, kind(1))
        }
    }

    /// The `TAI64N` template.
    pub fn tai64n(line_begin: bool) -> Result<Self, String> {
        let begin = if line_begin { Begin::Line } else { Begin::None };
        Self::build(
            "TAI64N".to_string(),
            None,
            "@[0-9a-f]{24}",
            begin,
            true,
            Kind::Tai64n,
        )
    }

    /// Build a template from a pattern string the way Fail2Ban's `_getPatternTemplate`
    /// dispatches (`EPOCH`, `LEPOCH`, `TAI64N` keywords, else a strptime pattern).
    pub fn from_spec(pattern: &str) -> Result<Self, String> {
        let key = if pattern.contains('%') {
            pattern.to_string()
        } else {
            pattern.to_uppercase()
        };
        if key.contains("EPOCH") {
            if find_epoch_placeholder(pattern).is_some() {
                return Self::epoch(false, Some(pattern), key.contains("LEPOCH"));
            }
            match key.as_str() {
                "EPOCH" | "{^LN-BEG}EPOCH" | "^EPOCH" => {
                    return Self::epoch(key != "EPOCH", None, false)
                }
                "LEPOCH" | "{^LN-BEG}LEPOCH" | "^LEPOCH" => {
                    return Self::epoch(key != "LEPOCH", None, true)
                }
                _ => {}
            }
        }
        match key.as_str() {
            "TAI64N" | "{^LN-BEG}TAI64N" | "^TAI64N" => Self::tai64n(key != "TAI64N"),
            _ => Self::from_pattern(pattern),
        }
    }

    /// Search `line[start..end]` (byte offsets, Python `search(line, pos, endpos)`).
    pub fn search(&self, line: &str, start: usize, end: usize) -> Option<Captures> {
        if let Some(reader) = self.syslog.filter(|_| start == 0 && end == line.len()) {
            if let Some(c) = reader.read(line) {
                return Some(c);
            }
        }
        self.matcher.search_at(line, start, end)
    }

    /// The compiled matcher.
    pub fn matcher(&self) -> &AnyMatcher {
        &self.matcher
    }

    /// Convert a match of this template to epoch seconds.
    pub fn time(
        &self,
        line: &str,
        caps: &Captures,
        default_tz: Option<i32>,
        now: f64,
    ) -> Result<f64, convert::TimeError> {
        let group_text = |i: usize| {
            caps.get(i)
                .map(|(s, e)| &line[s..e])
                .ok_or(convert::TimeError::Invalid)
        };
        match self.kind {
            Kind::Pattern => {
                let names = self.matcher.group_names();
                let groups = names.iter().enumerate().filter_map(|(i, n)| {
                    let n = n.as_deref()?;
                    let (s, e) = caps.get(i)?;
                    Some((n, &line[s..e]))
                });
                convert::groups_to_time(groups, default_tz, now)
            }
            Kind::Epoch { long, group } => {
                let v = group_text(group)?;
                let f: f64 = v.parse().map_err(|_| convert::TimeError::Invalid)?;
                Ok(if long && v.len() >= 13 {
                    if v.len() >= 16 && !v.contains('.') {
                        f / 1_000_000.0
                    } else {
                        f / 1000.0
                    }
                } else {
                    f
                })
            }
            Kind::Tai64n => {
                let hex = group_text(1)?
                    .get(2..17)
                    .ok_or(convert::TimeError::Invalid)?;
                u64::from_str_radix(hex, 16)
                    .map(|x| x as f64)
                    .map_err(|_| convert::TimeError::Invalid)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anchoring_of_default_patterns() {
        let t = DateTemplate::from_pattern(r"(?:%a )?%b %d %k:%M:%S(?:\.%f)?(?: %ExY)?").unwrap();
        assert_eq!(t.flags, WORD_BEGIN | WORD_END);
        assert!(t.regex.starts_with(r"(?iu)(?=^|\b|\W)((?:(?P<a>mon"));
        assert!(t.regex.ends_with(r"))?)(?=\b|\W|$)"));
        let t = DateTemplate::from_pattern(r"{^LN-BEG}%H:%M:%S").unwrap();
        assert_eq!(t.name, "{^LN-BEG}24hour:Minute:Second");
        assert_eq!(t.flags, LINE_BEGIN | WORD_END);
        assert_eq!(
            t.regex,
            r"^(?:\W{0,2})?((?P<H>[0-1]?\d|2[0-3]):(?P<M>[0-5]?\d):(?P<S>[0-5]?\d|6[0-1]))(?=\b|\W|$)"
        );
        let t = DateTemplate::from_pattern(r"^<%m/%d/%Exy@%H:%M:%S>").unwrap();
        assert_eq!(t.flags, LINE_BEGIN | WORD_END);
        assert!(t.regex.starts_with("^(<(?P<m>"));
    }

    #[test]
    fn epoch_templates() {
        let t = DateTemplate::from_spec("EPOCH").unwrap();
        assert_eq!(t.flags, WORD_END);
        assert_eq!(
            t.regex,
            r"((?:^|(?P<square>(?<=^\[))|(?P<selinux>(?<=\baudit\()))\d{10,11}\b(?:\.\d{3,6})?)(?:(?(selinux)(?=:\d+\)))|(?(square)(?=\])))(?=\b|\W|$)"
        );
        let c = t.search("[1124013600] x", 0, 14).unwrap();
        assert_eq!(t.time("[1124013600] x", &c, None, 0.0), Ok(1124013600.0));
        let t = DateTemplate::from_spec("{^LN-BEG}EPOCH").unwrap();
        assert_eq!(t.name, "{^LN-BEG}Epoch");
        assert_eq!(t.flags, LINE_BEGIN | WORD_END);
        let t = DateTemplate::from_spec("LEPOCH").unwrap();
        let line = "1124013600123456 x";
        let c = t.search(line, 0, line.len()).unwrap();
        assert_eq!(t.time(line, &c, None, 0.0), Ok(1124013600.123456));
    }

    #[test]
    fn tai64n() {
        let t = DateTemplate::from_spec("TAI64N").unwrap();
        assert_eq!(t.regex, r"(@[0-9a-f]{24})(?=\b|\W|$)");
        let line = "@4000000042ff2f2c2f2a5a74 x";
        let c = t.search(line, 0, line.len()).unwrap();
        assert_eq!(t.time(line, &c, None, 0.0), Ok(0x42ff2f2cu64 as f64));
    }

    #[test]
    fn markers_and_unbound() {
        assert_eq!(delete_word_bound_markers("**abc**"), "abc");
        assert_eq!(delete_word_bound_markers(r"(**abc\**)"), r"(abc\**)");
        assert_eq!(unbound_pattern("{^LN-BEG}%H:%M:%S"), "%H:%M:%S");
        let t = DateTemplate::from_pattern("^WARNING:()**").unwrap();
        assert_eq!(t.regex, "^WARNING:()");
        let t = DateTemplate::from_pattern("{UNB}^").unwrap();
        assert_eq!(t.regex, "^()");
        assert_eq!(t.flags, LINE_BEGIN);
    }
}
