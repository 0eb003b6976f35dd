//! One interface over two regex engines.
//!
//! The `regex` crate runs in linear time, so an attacker who writes log lines cannot make it
//! backtrack for ever; it is used for every pattern it can compile. Patterns that need
//! look-around, back-references or conditionals go to PCRE2 (JIT, UTF + UCP), with a match
//! limit so that a pathological line costs a bounded amount of work and then simply does not
//! match. [`compile`] picks the engine; [`Matcher::engine`] says which one a regex got.
//!
//! Spans are byte offsets into the searched `&str`.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use crate::dialect::{self, Dialect, Translated};

/// PCRE2 match limit (`(*LIMIT_MATCH=…)`): PCRE2's own default; a search that needs more
/// steps is abandoned and counts as "no match".
pub const PCRE2_MATCH_LIMIT: u32 = 10_000_000;
/// PCRE2 depth limit for the interpreter (the JIT uses its own stack).
pub const PCRE2_DEPTH_LIMIT: u32 = 100_000;

/// Which engine runs a regex.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// The `regex` crate (linear time).
    Regex,
    /// PCRE2 (backtracking, JIT, with a match limit).
    Pcre2,
}

impl Engine {
    /// Short name for display (`regex`, `pcre2`).
    pub fn name(self) -> &'static str {
        match self {
            Engine::Regex => "regex",
            Engine::Pcre2 => "pcre2",
        }
    }
}

impl fmt::Display for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The groups of one match: index 0 is the whole match; `None` for groups that did not take
/// part. Spans are byte ranges.
#[derive(Debug, Clone)]
pub struct Captures {
    spans: Spans,
}

#[derive(Debug, Clone)]
enum Spans {
    /// One per group.
    Listed(Vec<Option<(usize, usize)>>),
    /// A syslog date at the start of a line, as the default template's ten groups have it
    /// (see [`Captures::syslog`]): nothing to allocate for the commonest match of all.
    Syslog {
        end: usize,
        day_end: usize,
        hour: usize,
    },
}

impl Captures {
    /// The default syslog template's groups for a date `line[..end]` whose day ends at
    /// `day_end` and whose hour starts at `hour`: the whole match and the date text
    /// `(0, end)`, no weekday, the month `(0, 3)`, the day `(4, day_end)`, hour, minute and
    /// second, no fraction and no year.
    pub(crate) fn syslog(end: usize, day_end: usize, hour: usize) -> Captures {
        Captures {
            spans: Spans::Syslog { end, day_end, hour },
        }
    }

    /// Where the date ends, for the default syslog template's groups (see [`Self::syslog`]).
    pub(crate) fn syslog_end(&self) -> Option<usize> {
        match self.spans {
            Spans::Syslog { end, .. } => Some(end),
            Spans::Listed(_) => None,
        }
    }

    /// Span of the whole match.
    pub fn span(&self) -> (usize, usize) {
        self.get(0).unwrap_or((0, 0))
    }

    /// Span of group `i`, if it participated.
    pub fn get(&self, i: usize) -> Option<(usize, usize)> {
        match &self.spans {
            Spans::Listed(spans) => spans.get(i).copied().flatten(),
            &Spans::Syslog { end, day_end, hour } => match i {
                0 | 1 => Some((0, end)),
                3 => Some((0, 3)),
                4 => Some((4, day_end)),
                5 => Some((hour, hour + 2)),
                6 => Some((hour + 3, hour + 5)),
                7 => Some((hour + 6, hour + 8)),
                _ => None,
            },
        }
    }

    /// Number of groups including group 0.
    pub fn len(&self) -> usize {
        match &self.spans {
            Spans::Listed(spans) => spans.len(),
            Spans::Syslog { .. } => 10,
        }
    }

    /// Never true: group 0 always exists.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Equal when every group has the same span, however the spans are held.
impl PartialEq for Captures {
    fn eq(&self, other: &Captures) -> bool {
        self.len() == other.len() && (0..self.len()).all(|i| self.get(i) == other.get(i))
    }
}

impl Eq for Captures {}

/// PCRE2 code (shared, so the same answers as wherever else it runs) with capture slots of
/// one searcher's own: a search allocates nothing, and searchers on other threads share no
/// pool of slots.
pub(crate) struct OwnSlots {
    regex: Pcre2Code,
    locs: pcre2::bytes::CaptureLocations,
    /// Searching a prefregex without its `(?P<content>.+)$` tail (see
    /// [`OwnSlots::without_content_tail`]): the `content` group's index, and where the last
    /// match's content ended.
    tail: Option<(usize, usize)>,
}

/// A search its regex's PCRE2 code (or slots) gave up: the regex's own engine decides.
#[derive(Debug, Clone, Copy)]
pub(crate) struct GaveUp;

/// The end of a prefregex as Fail2Ban's filters write it: `<F-CONTENT>.+</F-CONTENT>$`.
const CONTENT_TAIL: &str = "(?P<content>.+)$";

/// Does PCRE2 here read `.` and `$` as Python does on a line (`.` anything but `\n`, `$`
/// before a final `\n`)? That is its default newline convention (LF); a build with another
/// convention keeps the whole regex.
fn newline_is_lf() -> bool {
    static LF: OnceLock<bool> = OnceLock::new();
    *LF.get_or_init(|| {
        let probe = "a\rb\x0bc\x0cd\n";
        [false, true].into_iter().all(|unicode| {
            let Ok(re) = build_form("^(.+)$", unicode, false) else {
                return false;
            };
            let mut locs = re.capture_locations();
            matches!(
                re.captures_read_at(&mut locs, probe.as_bytes(), 0),
                Ok(Some(_))
            ) && locs.get(1) == Some((0, probe.len() - 1))
        })
    })
}

impl fmt::Debug for OwnSlots {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OwnSlots")
    }
}

impl OwnSlots {
    /// Slots for `regex`.
    pub(crate) fn new(regex: Pcre2Code) -> OwnSlots {
        let locs = regex.capture_locations();
        OwnSlots {
            regex,
            locs,
            tail: None,
        }
    }

    /// Slots for a single-line prefregex (PCRE2 syntax, `names` its groups) that ends in
    /// `(?P<content>.+)$`, searched with the tail cut to `(?P<content>)(?=.)`: on one line and
    /// its `\n`, `.+$` matches from a place exactly when one character that is not `\n`
    /// follows, so the rest of the regex matches the same way, and `content` runs to the line
    /// end. Most of a prefregex's search was that scan of the rest of the line. `None` when the
    /// regex is not of that form (or sets flags that could change `.`).
    pub(crate) fn without_content_tail(
        pattern: &str,
        names: &[Option<String>],
    ) -> Option<OwnSlots> {
        let head = pattern.strip_suffix(CONTENT_TAIL)?;
        // `.` stays what it is unless a flag (`(?s)`, `(?x)`...) is set somewhere.
        let flags = head.match_indices("(?").any(|(i, _)| {
            head[i + 2..]
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() && c != 'P' || c == '-' || c == '^')
        });
        if flags || head.ends_with('\\') || !newline_is_lf() {
            return None;
        }
        let cut = format!("{head}(?P<content>)(?=.)");
        let regex = Pcre2Code::build(&limited_pattern(&cut)).ok()?;
        if regex.capture_names() != names {
            return None;
        }
        let content = names.iter().position(|n| n.as_deref() == Some("content"))?;
        let locs = regex.capture_locations();
        Some(OwnSlots {
            regex,
            locs,
            tail: Some((content, 0)),
        })
    }

    /// Search `text` from its start, `text` known to be all ASCII when `ascii` is true (the
    /// text it is part of was checked once, instead of each text at each search; `false` says
    /// nothing: the text is checked). The spans stay available through [`Self::get`]. An
    /// error is PCRE2 giving up (its match limit).
    pub(crate) fn search_known(&mut self, text: &str, ascii: bool) -> Result<bool, GaveUp> {
        debug_assert!(!ascii || text.is_ascii());
        let subject = text.as_bytes();
        let found = self
            .regex
            .for_subject(subject, ascii)
            .captures_read_at(&mut self.locs, subject, 0)
            .map_err(|_| GaveUp)?
            .is_some();
        if let (true, Some((content, end))) = (found, self.tail.as_mut()) {
            // The cut regex is exact on one line (and its `\n`): anything else goes to the
            // whole regex.
            let line_end = subject.len() - usize::from(subject.last() == Some(&b'\n'));
            let start = self.locs.get(*content).map_or(line_end, |(s, _)| s);
            if start >= line_end || memchr::memchr(b'\n', &subject[start..line_end]).is_some() {
                return Err(GaveUp);
            }
            *end = line_end;
        }
        Ok(found)
    }

    /// Group `i`'s span in the last match.
    pub(crate) fn get(&self, i: usize) -> Option<(usize, usize)> {
        let span = self.locs.get(i);
        match self.tail {
            Some((content, end)) if i == content || i == 0 => span.map(|(s, _)| (s, end)),
            _ => span,
        }
    }

    /// Every group's span in the last match, into `spans`.
    pub(crate) fn copy_spans(&self, spans: &mut Vec<Option<(usize, usize)>>) {
        spans.clear();
        spans.extend((0..self.locs.len()).map(|i| self.get(i)));
    }
}

/// A compiled regex that can search text.
pub trait Matcher {
    /// The engine in use.
    fn engine(&self) -> Engine;

    /// The pattern as handed to the engine (translated from Python's dialect).
    fn pattern(&self) -> &str;

    /// Group names by index (index 0 is the whole match and has no name).
    fn group_names(&self) -> &[Option<String>];

    /// Search `text[..end]` starting at byte `start` (like Python's `search(text, pos,
    /// endpos)`: context before `start` is visible to `^`, `\b` and look-behind; text after
    /// `end` is not). Both must be char boundaries.
    fn search_at(&self, text: &str, start: usize, end: usize) -> Option<Captures>;

    /// Search the whole of `text`.
    fn search(&self, text: &str) -> Option<Captures> {
        self.search_at(text, 0, text.len())
    }

    /// Index of the group called `name`.
    fn group_index(&self, name: &str) -> Option<usize> {
        self.group_names()
            .iter()
            .position(|n| n.as_deref() == Some(name))
    }
}

/// Why a regex could not be compiled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompileError {
    /// What went wrong (Python-syntax error, or the engine's message).
    pub message: String,
}

impl fmt::Display for CompileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CompileError {}

impl From<dialect::DialectError> for CompileError {
    fn from(e: dialect::DialectError) -> Self {
        CompileError {
            message: e.to_string(),
        }
    }
}

/// [`Matcher`] over the `regex` crate.
#[derive(Debug)]
pub struct RegexMatcher {
    regex: regex::Regex,
    names: Vec<Option<String>>,
    /// Set when a non-MULTILINE `$` was rewritten to `(?m:$)`: text with an inner `\n` is then
    /// searched with PCRE2, whose `$` has Python's meaning.
    dollar_fallback: Option<(String, OnceLock<Option<Pcre2Matcher>>)>,
}

impl RegexMatcher {
    fn new(t: &Translated, python: &str, multiline: bool) -> Result<Self, CompileError> {
        let regex = regex::RegexBuilder::new(&t.pattern)
            .size_limit(64 << 20)
            .dfa_size_limit(16 << 20)
            .build()
            .map_err(|e| CompileError {
                message: e.to_string(),
            })?;
        let names = regex
            .capture_names()
            .map(|n| n.map(str::to_string))
            .collect();
        let dollar_fallback = if t.dollar {
            let p = dialect::translate(python, Dialect::Pcre2, multiline)?;
            Some((p.pattern, OnceLock::new()))
        } else {
            None
        };
        Ok(RegexMatcher {
            regex,
            names,
            dollar_fallback,
        })
    }
}

impl RegexMatcher {
    fn is_match(&self, text: &str) -> bool {
        if let Some((pattern, cell)) = &self.dollar_fallback {
            let inner_newline =
                text.len() > 1 && text.as_bytes()[..text.len() - 1].contains(&b'\n');
            if inner_newline {
                if let Some(m) = cell.get_or_init(|| Pcre2Matcher::build(pattern).ok()) {
                    return m.search(text).is_some();
                }
            }
        }
        self.regex.is_match(text)
    }
}

impl Matcher for RegexMatcher {
    fn engine(&self) -> Engine {
        Engine::Regex
    }

    fn pattern(&self) -> &str {
        self.regex.as_str()
    }

    fn group_names(&self) -> &[Option<String>] {
        &self.names
    }

    fn search_at(&self, text: &str, start: usize, end: usize) -> Option<Captures> {
        let end = end.min(text.len());
        if start > end {
            return None;
        }
        let hay = &text[..end];
        if let Some((pattern, cell)) = &self.dollar_fallback {
            let inner_newline = hay.len() > 1 && hay.as_bytes()[..hay.len() - 1].contains(&b'\n');
            if inner_newline {
                if let Some(m) = cell.get_or_init(|| Pcre2Matcher::build(pattern).ok()) {
                    return m.search_at(text, start, end);
                }
            }
        }
        let mut locs = self.regex.capture_locations();
        self.regex.captures_read_at(&mut locs, hay, start)?;
        Some(Captures {
            spans: Spans::Listed((0..locs.len()).map(|i| locs.get(i)).collect()),
        })
    }
}

/// A PCRE2 pattern compiled twice: with UTF and UCP (Python's Unicode rules), and, when the
/// pattern is plain ASCII, without them, for ASCII subjects.
///
/// On a subject that is all ASCII the two agree exactly: `\d \w \s \b`, case folding and
/// every class differ between the two modes only on characters above U+007F, and the
/// subject holds none (a non-ASCII character the pattern names, as `\x{e9}`, can match
/// nothing there in either mode). The ASCII form runs about twice as fast: it decodes no
/// UTF-8 and looks up no Unicode properties. Cloning shares the compiled code.
#[derive(Clone)]
pub(crate) struct Pcre2Code {
    pattern: Arc<str>,
    /// The Unicode form. With an ASCII form it is compiled only when a subject first needs
    /// it (shared by clones): most logs are all ASCII, and JIT code costs memory.
    utf: Arc<OnceLock<pcre2::bytes::Regex>>,
    ascii: Option<pcre2::bytes::Regex>,
}

fn build_form(
    pattern: &str,
    unicode: bool,
    jit: bool,
) -> Result<pcre2::bytes::Regex, pcre2::Error> {
    pcre2::bytes::RegexBuilder::new()
        .utf(unicode)
        .ucp(unicode)
        .jit_if_available(jit)
        .max_jit_stack_size(Some(8 << 20))
        .build(pattern)
}

impl Pcre2Code {
    /// Compile `pattern` (PCRE2 syntax, limits included), JIT when available.
    pub(crate) fn build(pattern: &str) -> Result<Pcre2Code, pcre2::Error> {
        Self::build_forms(pattern, true)
    }

    fn build_forms(pattern: &str, with_ascii: bool) -> Result<Pcre2Code, pcre2::Error> {
        if with_ascii && pattern.is_ascii() {
            if let Ok(ascii) = build_form(pattern, false, true) {
                // The Unicode form must compile too, with the same groups: checked now
                // (without JIT code), compiled for use later if ever needed.
                let unicode = build_form(pattern, true, false)?;
                if unicode.capture_names() == ascii.capture_names() {
                    return Ok(Pcre2Code {
                        pattern: pattern.into(),
                        utf: Arc::new(OnceLock::new()),
                        ascii: Some(ascii),
                    });
                }
            }
        }
        let utf = build_form(pattern, true, true)?;
        Ok(Pcre2Code {
            pattern: pattern.into(),
            utf: Arc::new(OnceLock::from(utf)),
            ascii: None,
        })
    }

    fn unicode(&self) -> &pcre2::bytes::Regex {
        self.utf.get_or_init(|| {
            // It compiled when the code was built; the same input compiles the same way.
            build_form(&self.pattern, true, true)
                .expect("a pattern that compiled once compiles again")
        })
    }

    /// The form that runs on `subject` (known to be all ASCII when `ascii` is true; `false`
    /// says nothing: the subject is checked).
    fn for_subject(&self, subject: &[u8], ascii: bool) -> &pcre2::bytes::Regex {
        match &self.ascii {
            Some(form) if ascii || subject.is_ascii() => form,
            _ => self.unicode(),
        }
    }

    /// Capture group names by index.
    pub(crate) fn capture_names(&self) -> &[Option<String>] {
        match &self.ascii {
            Some(ascii) => ascii.capture_names(),
            None => self.unicode().capture_names(),
        }
    }

    /// Capture slots for [`Self::captures_read_at`] (they fit both forms: the same groups).
    pub(crate) fn capture_locations(&self) -> pcre2::bytes::CaptureLocations {
        match &self.ascii {
            Some(ascii) => ascii.capture_locations(),
            None => self.unicode().capture_locations(),
        }
    }

    /// Search `subject` from `start` (context before it visible), filling `locs`.
    pub(crate) fn captures_read_at(
        &self,
        locs: &mut pcre2::bytes::CaptureLocations,
        subject: &[u8],
        start: usize,
    ) -> Result<bool, pcre2::Error> {
        self.for_subject(subject, false)
            .captures_read_at(locs, subject, start)
            .map(|m| m.is_some())
    }

    /// Does `subject` match?
    pub(crate) fn is_match(&self, subject: &[u8]) -> Result<bool, pcre2::Error> {
        self.for_subject(subject, false).is_match(subject)
    }
}

/// [`Matcher`] over PCRE2.
pub struct Pcre2Matcher {
    regex: Pcre2Code,
    pattern: String,
    names: Vec<Option<String>>,
    /// Reusable match data: creating it allocates (and maps a JIT stack), so searches borrow
    /// one from here instead.
    locations: Mutex<Vec<pcre2::bytes::CaptureLocations>>,
    /// Searches abandoned at the match limit (or another matching error).
    errors: Arc<AtomicU64>,
}

impl fmt::Debug for Pcre2Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pcre2Matcher")
            .field("pattern", &self.pattern)
            .finish()
    }
}

/// Does a PCRE2-syntax pattern (not MULTILINE) match only at the start of the subject?
fn anchored_at_start(pattern: &str) -> bool {
    let mut rest = pattern;
    // Leading option settings such as `(?i)` or `(?ix)`.
    while let Some(r) = rest.strip_prefix("(?") {
        let Some(end) = r.find(')') else { break };
        let flags = &r[..end];
        if flags.is_empty() || !flags.chars().all(|c| c.is_ascii_alphabetic() || c == '-') {
            break;
        }
        if flags.split('-').next().is_some_and(|on| on.contains('m')) {
            return false;
        }
        rest = &r[end + 1..];
    }
    rest.starts_with('^') || rest.starts_with("\\A")
}

/// `pattern` with PCRE2's limits, and, unless it is anchored at the start, with the search
/// over start positions made part of the match: `\G(?s:.*?)\K(?:PATTERN)` tries the same
/// start positions in the same order as an unanchored search (the lazy prefix grows one
/// character at a time; `\K` puts the reported start where the pattern begins), but as one
/// match attempt, so the match limit bounds the work of the whole search. Unanchored, the
/// limit applies to each start position anew, and a pattern that scans to the end of the
/// line from every position (`(?=.*\bword\b)`) takes time quadratic in the line's length.
/// A search that reaches the limit is abandoned: no match.
pub(crate) fn limited_pattern(pattern: &str) -> String {
    limited_pattern_with(pattern, PCRE2_MATCH_LIMIT)
}

fn limited_pattern_with(pattern: &str, match_limit: u32) -> String {
    let limits = format!("(*LIMIT_MATCH={match_limit})(*LIMIT_DEPTH={PCRE2_DEPTH_LIMIT})");
    if anchored_at_start(pattern) {
        format!("{limits}{pattern}")
    } else {
        format!("{limits}\\G(?s:.*?)\\K(?:{pattern})")
    }
}

impl Pcre2Matcher {
    /// Compile a pattern already in PCRE2 syntax (UTF, UCP, JIT when available, match limit).
    pub fn build(pattern: &str) -> Result<Self, CompileError> {
        Self::build_limited(pattern, PCRE2_MATCH_LIMIT)
    }

    /// [`Self::build`] with another match limit.
    pub fn build_limited(pattern: &str, match_limit: u32) -> Result<Self, CompileError> {
        Self::build_with(pattern, match_limit, true)
    }

    /// [`Self::build_limited`] with the Unicode form only, even for ASCII subjects (tests
    /// compare it with the ASCII form).
    #[doc(hidden)]
    pub fn build_limited_unicode_only(
        pattern: &str,
        match_limit: u32,
    ) -> Result<Self, CompileError> {
        Self::build_with(pattern, match_limit, false)
    }

    fn build_with(pattern: &str, match_limit: u32, with_ascii: bool) -> Result<Self, CompileError> {
        let limited = limited_pattern_with(pattern, match_limit);
        let regex = Pcre2Code::build_forms(&limited, with_ascii).map_err(|e| CompileError {
            message: e.to_string(),
        })?;
        let names = regex.capture_names().to_vec();
        Ok(Pcre2Matcher {
            regex,
            pattern: pattern.to_string(),
            names,
            locations: Mutex::new(Vec::new()),
            errors: Arc::new(AtomicU64::new(0)),
        })
    }

    /// The compiled regex (its compiled code is shared by clones).
    pub(crate) fn regex(&self) -> &Pcre2Code {
        &self.regex
    }

    /// How many searches were abandoned (match limit reached).
    pub fn abandoned_searches(&self) -> u64 {
        self.errors.load(Ordering::Relaxed)
    }
}

/// A PCRE2 search gave up at its match limit: no answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Abandoned;

impl Pcre2Matcher {
    /// Search `text`; `Err` when the search was abandoned (the match limit was reached).
    pub fn try_search(&self, text: &str) -> Result<Option<Captures>, Abandoned> {
        let pooled = self.locations.lock().ok().and_then(|mut p| p.pop());
        let mut locs = pooled.unwrap_or_else(|| self.regex.capture_locations());
        let result = match self.regex.captures_read_at(&mut locs, text.as_bytes(), 0) {
            Ok(true) => Ok(Some(Captures {
                spans: Spans::Listed((0..locs.len()).map(|i| locs.get(i)).collect()),
            })),
            Ok(false) => Ok(None),
            Err(_) => Err(Abandoned),
        };
        if let Ok(mut pool) = self.locations.lock() {
            if pool.len() < 8 {
                pool.push(locs);
            }
        }
        result
    }
}

impl Matcher for Pcre2Matcher {
    fn engine(&self) -> Engine {
        Engine::Pcre2
    }

    fn pattern(&self) -> &str {
        &self.pattern
    }

    fn group_names(&self) -> &[Option<String>] {
        &self.names
    }

    fn search_at(&self, text: &str, start: usize, end: usize) -> Option<Captures> {
        let end = end.min(text.len());
        if start > end {
            return None;
        }
        let hay = &text.as_bytes()[..end];
        let pooled = self.locations.lock().ok().and_then(|mut p| p.pop());
        let mut locs = pooled.unwrap_or_else(|| self.regex.capture_locations());
        let result = match self.regex.captures_read_at(&mut locs, hay, start) {
            Ok(true) => Some(Captures {
                spans: Spans::Listed((0..locs.len()).map(|i| locs.get(i)).collect()),
            }),
            Ok(false) => None,
            Err(_) => {
                self.errors.fetch_add(1, Ordering::Relaxed);
                None
            }
        };
        if let Ok(mut pool) = self.locations.lock() {
            if pool.len() < 8 {
                pool.push(locs);
            }
        }
        result
    }
}

/// A compiled Python-dialect regex on whichever engine can run it.
#[derive(Debug)]
pub enum AnyMatcher {
    /// On the `regex` crate.
    Regex(RegexMatcher),
    /// On PCRE2.
    Pcre2(Pcre2Matcher),
}

impl AnyMatcher {
    /// Does `text` match anywhere? Without capture groups, the `regex` crate answers from its
    /// DFA alone.
    pub fn is_match(&self, text: &str) -> bool {
        match self {
            AnyMatcher::Regex(m) => m.is_match(text),
            AnyMatcher::Pcre2(m) => m.search(text).is_some(),
        }
    }
}

impl Matcher for AnyMatcher {
    fn engine(&self) -> Engine {
        match self {
            AnyMatcher::Regex(m) => m.engine(),
            AnyMatcher::Pcre2(m) => m.engine(),
        }
    }

    fn pattern(&self) -> &str {
        match self {
            AnyMatcher::Regex(m) => m.pattern(),
            AnyMatcher::Pcre2(m) => m.pattern(),
        }
    }

    fn group_names(&self) -> &[Option<String>] {
        match self {
            AnyMatcher::Regex(m) => m.group_names(),
            AnyMatcher::Pcre2(m) => m.group_names(),
        }
    }

    fn search_at(&self, text: &str, start: usize, end: usize) -> Option<Captures> {
        match self {
            AnyMatcher::Regex(m) => m.search_at(text, start, end),
            AnyMatcher::Pcre2(m) => m.search_at(text, start, end),
        }
    }
}

/// Compile Python regex `python` (tags already expanded). `multiline` is `re.MULTILINE`.
///
/// The `regex` crate is used when the translated pattern needs no backtracking features and
/// compiles; otherwise PCRE2.
pub fn compile(python: &str, multiline: bool) -> Result<AnyMatcher, CompileError> {
    let rust = dialect::translate(python, Dialect::Rust, multiline)?;
    if !rust.features.needs_backtracking() {
        if let Ok(m) = RegexMatcher::new(&rust, python, multiline) {
            return Ok(AnyMatcher::Regex(m));
        }
    }
    let pcre = dialect::translate(python, Dialect::Pcre2, multiline)?;
    Ok(AnyMatcher::Pcre2(Pcre2Matcher::build(&pcre.pattern)?))
}

/// Like [`compile`], but on PCRE2 whenever the pattern translates and compiles there: for
/// small regexes run on every line whose capture groups are always needed (date templates),
/// where PCRE2's JIT takes a fraction of the time the `regex` crate's capture engines do.
pub fn compile_for_captures(python: &str, multiline: bool) -> Result<AnyMatcher, CompileError> {
    if let Ok(pcre) = dialect::translate(python, Dialect::Pcre2, multiline) {
        if let Ok(m) = Pcre2Matcher::build(&pcre.pattern) {
            return Ok(AnyMatcher::Pcre2(m));
        }
    }
    compile(python, multiline)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    #[test]
    fn simple_patterns_use_the_regex_crate() {
        let m = compile(r"^user (?P<user>\S+) from (?P<ip4>[\d.]+)$", false).unwrap();
        assert_eq!(m.engine(), Engine::Regex);
        let c = m.search("user bob from 1.2.3.4\n").unwrap();
        assert_eq!(c.span(), (0, 21));
        let i = m.group_index("user").unwrap();
        assert_eq!(c.get(i), Some((5, 8)));
    }

    #[test]
    fn lookaround_and_backrefs_use_pcre2() {
        let m = compile(r"^(?!evil)(?P<w>\w+) (?P=w)$", false).unwrap();
        assert_eq!(m.engine(), Engine::Pcre2);
        assert!(m.search("abc abc\n").is_some());
        assert!(m.search("evil evil\n").is_none());
        assert!(m.search("abc abd\n").is_none());
    }

    #[test]
    fn python_dollar_semantics_on_both_engines() {
        // Python: `$` matches at the end and before a final newline only.
        for pat in [r"b$", r"(?!x)b$"] {
            let m = compile(pat, false).unwrap();
            assert!(m.search("ab\n").is_some(), "{pat}");
            assert!(m.search("ab").is_some(), "{pat}");
            assert!(m.search("ab\nc\n").is_none(), "{pat}: inner newline");
        }
        let m = compile(r"b$", true).unwrap();
        assert!(m.search("ab\nc\n").is_some());
    }

    #[test]
    fn search_window_like_python_pos_endpos() {
        let m = compile(r"\b\d+$", false).unwrap();
        // endpos cuts the text: `$` matches there.
        let c = m.search_at("x 123 456", 0, 5).unwrap();
        assert_eq!(c.span(), (2, 5));
        // pos keeps context: `\b` between `1` and `2` is not a boundary.
        assert!(m.search_at("x 123", 3, 5).is_none());
    }

    #[test]
    fn a_prefregex_without_its_content_tail_gives_the_same_spans() {
        // sshd's prefregex as Fail2Ban 1.0.2 expands it, and a small one whose prefix can
        // take the whole line.
        let sshd = r"^(?P<mlfid>(?:\[\])?\s*(?:<[^.]+\.[^.]+>\s+)?(?:\S+\s+)?(?:kernel:\s?\[ *\d+\.\d+\]:?\s+)?(?:@vserver_\S+\s+)?(?:(?:(?:\[\d+\])?:\s+[\[\(]?sshd(?:\(\S+\))?[\]\)]?:?|[\[\(]?sshd(?:\(\S+\))?[\]\)]?:?(?:\[\d+\])?:?)\s+)?(?:\[ID \d+ \S+\]\s+)?)(?:(?:error|fatal): (?:PAM: )?)?(?P<content>.+)$";
        let greedy = r"^(?P<head>\S*\s*)(?P<content>.+)$";
        let texts = [
            " bastion sshd[41039]: Failed password for root from 198.51.100.1 port 22 ssh2\n",
            " bastion sshd[1]: error: PAM: Authentication failure\n",
            "sshd[1]: \n",
            "word\n",
            "two words\n",
            " \n",
            "\n",
            "",
            "no newline at the end",
            "caf\u{e9} sshd[2]: \u{fc}ber\n",
            "a\rb sshd[3]: x\ty\n",
        ];
        for pattern in [sshd, greedy] {
            let whole = Pcre2Code::build(&limited_pattern(pattern)).unwrap();
            let mut whole = OwnSlots::new(whole);
            let names = whole.regex.capture_names().to_vec();
            let mut cut = OwnSlots::without_content_tail(pattern, &names).expect("of that form");
            for text in texts {
                let expected = whole.search_known(text, false).unwrap();
                match cut.search_known(text, text.is_ascii()) {
                    Ok(found) => {
                        assert_eq!(found, expected, "{pattern} on {text:?}");
                        if found {
                            for i in 0..names.len() {
                                assert_eq!(cut.get(i), whole.get(i), "group {i} on {text:?}");
                            }
                        }
                    }
                    Err(GaveUp) => panic!("gave up on {text:?}"),
                }
            }
            // A text of two lines is left to the whole regex.
            assert!(cut.search_known("a b\nc d\n", true).is_err());
        }
        // Flags that could change `.`, or another end, keep the whole regex.
        for other in [
            r"(?s)^(?P<content>.+)$",
            r"^x(?P<content>.+)",
            r"^(?P<content>.*)$",
        ] {
            let names = Pcre2Code::build(other).unwrap().capture_names().to_vec();
            assert!(
                OwnSlots::without_content_tail(other, &names).is_none(),
                "{other}"
            );
        }
    }

    #[test]
    fn pathological_backtracking_is_bounded() {
        let m = compile(r"^(?=x)?(a+)+$", false).unwrap();
        assert_eq!(m.engine(), Engine::Pcre2);
        let text = format!("{}b", "a".repeat(5000));
        let t = Instant::now();
        assert!(m.search(&text).is_none());
        let m2 = compile(r"^(?!z)(\w+\s?)*$", false).unwrap();
        let text2 = format!("{}!", "ab ".repeat(2000));
        assert!(m2.search(&text2).is_none());
        assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    }

    #[test]
    fn unanchored_pcre2_search_is_bounded_as_a_whole() {
        // Look-ahead scanning to the end from every start position: quadratic unless the
        // whole search shares one match limit.
        let m = compile(r"(?=.*\bwhitelisted\b)", false).unwrap();
        assert_eq!(m.engine(), Engine::Pcre2);
        let line = "a ".repeat(256 * 1024);
        let t = Instant::now();
        assert!(m.search(&line).is_none());
        assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
        // Same answers as an unanchored search where it finishes.
        let m = compile(r"(?<=user=)(?P<u>\w+)(?= )", false).unwrap();
        let c = m.search("x user=bob y").unwrap();
        assert_eq!(c.span(), (7, 10));
        assert_eq!(
            m.search_at("user=ann user=bob y", 1, 19).unwrap().span(),
            (5, 8)
        );
        assert_eq!(
            m.search_at("user=ann user=bob y", 6, 19).unwrap().span(),
            (14, 17)
        );
        assert!(m.search("no users here").is_none());
        let m = compile(r"(?m)(?<=^)b(?=c)", false).unwrap();
        assert_eq!(m.search("a\nbc").unwrap().span(), (2, 3));
        // Anchored patterns keep their one start position.
        assert!(anchored_at_start("(?i)^abc"));
        assert!(!anchored_at_start("(?m)^abc"));
        assert!(!anchored_at_start("abc"));
    }

    #[test]
    fn invalid_python_regex_is_an_error() {
        assert!(compile(r"(unclosed", false).is_err());
        assert!(compile(r"\q", false).is_err());
        assert!(compile(r"a**", false).is_err());
    }
}
