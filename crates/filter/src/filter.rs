//! The filter: date cut, prefregex, failregex, ignoreregex and the multi-line buffer.
//!
//! For each line Fail2Ban (and so Warden) first finds the date and cuts it out: the text the
//! regexes see is the part before the date joined to the part after it, plus a final `\n`
//! (with `maxlines > 1`, the buffered lines joined by `\n`). Then `prefregex` must match (its
//! `<F-CONTENT>` group, if non-empty, replaces the text), the failregexes are tried in order
//! and the first match wins, and a match is dropped when an ignoreregex matches too. The host
//! comes from the `ip4`, `ip6` or `dns` group, else from `fid`.
//!
//! Failures spread over lines that share a connection id (`<F-MLFID>`) are merged by
//! the `multiline` module.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::date::convert::{parse_zone, TimeError};
use crate::date::{DateDetector, TimeCache};
use crate::matcher::{self, AnyMatcher, Captures, Engine, Matcher, OwnSlots, Pcre2Matcher};
use crate::multiline::{FailData, Groups, MlfidCache};
use crate::prefilter::Prefilter;
use crate::tags::expand_tags;
use crate::{Failure, FilterError, FilterSpec, Host, LineResult, UseDns};

/// Groups any of which makes a failregex usable (it can name what failed).
const FAILURE_ID_GROUPS: [&str; 5] = ["fid", "ip4", "ip6", "dns", "mlfid"];

/// A regex compiled from Fail2Ban's dialect, keeping every stage for display.
#[derive(Debug)]
pub struct CompiledRegex {
    source: String,
    expanded: String,
    /// Python's `re.MULTILINE`, to compile the matcher again.
    multiline: bool,
    /// The matcher; given up once a JIT copy answers the searches (see
    /// [`CompiledRegex::enable_jit_captures`]) and compiled again if one is needed.
    matcher: std::sync::OnceLock<AnyMatcher>,
    engine: Engine,
    translated: String,
    names: Vec<Option<String>>,
    /// The same names, shared with every dict of a match (see [`GroupName`]).
    dict_names: Vec<Option<GroupName>>,
    /// `alt_NAME[_N]` groups and the group they stand in for, sorted.
    alternates: Vec<(GroupName, GroupName)>,
    /// A PCRE2 JIT copy for capture groups (see [`CompiledRegex::enable_jit_captures`]).
    jit: Option<Pcre2Matcher>,
}

/// The match limit of a JIT copy: ample for any sane line (a few hundred steps is usual); a
/// search that needs more goes to the regex's own engine, so the copy can never cost more
/// than a fraction of a millisecond per search.
const JIT_COPY_MATCH_LIMIT: u32 = 100_000;

/// `alt_user_1` → `user` (and `alt_id` → `fid`): a group that fills another one when that
/// one is empty (Fail2Ban's `<F-ALT_USER>` tags).
pub(crate) fn alternate_target(group: &str) -> Option<String> {
    let rest = group.strip_prefix("alt_")?;
    if rest.is_empty() {
        return None;
    }
    // One trailing `_digits` only numbers alternatives.
    let base = match rest.rfind('_') {
        Some(i) if i + 1 < rest.len() && rest[i + 1..].bytes().all(|b| b.is_ascii_digit()) => {
            &rest[..i]
        }
        _ => rest,
    };
    Some(crate::tags::custom_group_name(base))
}

impl CompiledRegex {
    /// Expand tags in `regex` and compile it. `multiline` is Python's `re.MULTILINE`.
    pub fn new(regex: &str, usedns: UseDns, multiline: bool) -> Result<Self, String> {
        let expanded = expand_tags(regex, usedns);
        if expanded.trim_start().is_empty() {
            return Err("Cannot add empty regex".to_string());
        }
        let matcher = matcher::compile(&expanded, multiline)
            .map_err(|e| format!("Unable to compile regular expression '{expanded}': {e}"))?;
        let names = matcher.group_names().to_vec();
        let alternates = alternates_of(&names);
        let dict_names = shared_names(&names);
        Ok(CompiledRegex {
            source: regex.to_string(),
            expanded,
            multiline,
            engine: matcher.engine(),
            translated: matcher.pattern().to_string(),
            names,
            dict_names,
            matcher: std::sync::OnceLock::from(matcher),
            alternates,
            jit: None,
        })
    }

    /// [`Self::new`] for a single-line filter, followed by [`Self::enable_jit_captures`]:
    /// when the JIT copy will answer every search, the `regex` crate's own compile (most of a
    /// filter's start-up: its Unicode classes) is left to the first search the copy gives up,
    /// if one ever comes. The engine is the one [`Self::new`] chooses: the `regex` crate when the
    /// translation needs no backtracking and the `regex` crate's parser takes it. (Should that
    /// compile fail later on a size limit, the search runs on PCRE2 without the copy's limit.)
    pub fn new_single_line(regex: &str, usedns: UseDns) -> Result<Self, String> {
        let expanded = expand_tags(regex, usedns);
        if !expanded.trim_start().is_empty() {
            if let Some(c) = Self::jit_first(regex, &expanded) {
                return Ok(c);
            }
        }
        let mut c = Self::new(regex, usedns, false)?;
        c.enable_jit_captures();
        Ok(c)
    }

    /// See [`Self::new_single_line`]: `None` when the regex does not run on the `regex` crate
    /// or has no JIT copy with the same groups.
    fn jit_first(source: &str, expanded: &str) -> Option<Self> {
        let rust =
            crate::dialect::translate(expanded, crate::dialect::Dialect::Rust, false).ok()?;
        if rust.features.needs_backtracking() {
            return None;
        }
        regex_syntax::ParserBuilder::new()
            .build()
            .parse(&rust.pattern)
            .ok()?;
        let pcre =
            crate::dialect::translate(expanded, crate::dialect::Dialect::Pcre2, false).ok()?;
        let jit = Pcre2Matcher::build_limited(&pcre.pattern, JIT_COPY_MATCH_LIMIT).ok()?;
        let names = jit.group_names().to_vec();
        let alternates = alternates_of(&names);
        let dict_names = shared_names(&names);
        Some(CompiledRegex {
            source: source.to_string(),
            expanded: expanded.to_string(),
            multiline: false,
            engine: Engine::Regex,
            translated: rust.pattern,
            names,
            dict_names,
            matcher: std::sync::OnceLock::new(),
            alternates,
            jit: Some(jit),
        })
    }

    /// Extract capture groups with a PCRE2 JIT copy of the regex, when it runs on the `regex`
    /// crate: the `regex` crate finds out quickly *whether* a text matches, but its capture
    /// engines take several times what the JIT does, and every match needs its groups. The
    /// translation to PCRE2 is exact for Fail2Ban's dialect (the corpus checks both engines),
    /// and the copy is kept only if it has the same groups. A search the copy abandons at its
    /// (low) match limit is answered by the `regex` crate, whose time stays linear.
    ///
    /// The `regex` crate's compiled form (several hundred kB for a regex with Unicode classes)
    /// is then given up, and compiled again only when a search needs it.
    pub fn enable_jit_captures(&mut self) {
        if self.engine != Engine::Regex {
            return;
        }
        let Ok(t) = crate::dialect::translate(
            &self.expanded,
            crate::dialect::Dialect::Pcre2,
            self.multiline,
        ) else {
            return;
        };
        self.jit = Pcre2Matcher::build_limited(&t.pattern, JIT_COPY_MATCH_LIMIT)
            .ok()
            .filter(|j| j.group_names() == self.names);
        if self.jit.is_some() {
            self.matcher.take();
        }
    }

    /// The PCRE2 regex searches try first: the JIT copy, or the regex itself when it runs on
    /// PCRE2. Cloning it shares the compiled code.
    pub(crate) fn pcre2_regex(&self) -> Option<&crate::matcher::Pcre2Code> {
        if let Some(jit) = &self.jit {
            return Some(jit.regex());
        }
        match self.matcher.get() {
            Some(AnyMatcher::Pcre2(m)) => Some(m.regex()),
            _ => None,
        }
    }

    /// The regex as written.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// After tag expansion (Python dialect; what Fail2Ban compiles).
    pub fn expanded(&self) -> &str {
        &self.expanded
    }

    /// As handed to the engine.
    pub fn translated(&self) -> &str {
        &self.translated
    }

    /// The engine running it.
    pub fn engine(&self) -> Engine {
        self.engine
    }

    /// The compiled matcher.
    pub fn matcher(&self) -> &AnyMatcher {
        self.matcher.get_or_init(|| {
            // It compiled when the regex was built, or (`new_single_line`) the `regex` crate's
            // parser took it and its PCRE2 form compiled, which `compile` falls back to.
            matcher::compile(&self.expanded, self.multiline)
                .expect("a regex that compiled once compiles again")
        })
    }

    /// Capture group names by index (`None` for unnamed groups).
    pub fn group_names(&self) -> &[Option<String>] {
        &self.names
    }

    /// Index of the group named `name`.
    pub fn group_index(&self, name: &str) -> Option<usize> {
        self.names.iter().position(|n| n.as_deref() == Some(name))
    }

    /// Search `text`.
    pub fn search(&self, text: &str) -> Option<Captures> {
        if let Some(jit) = &self.jit {
            if let Ok(found) = jit.try_search(text) {
                return found;
            }
        }
        self.matcher().search(text)
    }

    /// Does `text` match? (No groups: the fastest form of the search.)
    pub fn is_match(&self, text: &str) -> bool {
        if let Some(jit) = &self.jit {
            if let Ok(found) = jit.regex().is_match(text.as_bytes()) {
                return found;
            }
        }
        self.matcher().is_match(text)
    }

    fn has_group(&self, name: &str) -> bool {
        self.group_index(name).is_some()
    }

    /// Named groups of a match, in group order (`None` for groups that did not take part),
    /// with `alt_*` groups filling their empty targets.
    pub fn group_dict(&self, text: &str, caps: &Captures) -> Vec<(String, Option<String>)> {
        self.dict(text, caps)
            .into_iter()
            .map(|(n, v)| (n.to_string(), v.map(String::from)))
            .collect()
    }

    /// [`Self::group_dict`] with the names shared, not copied.
    pub(crate) fn dict(&self, text: &str, caps: &Captures) -> Dict {
        named_groups(&self.dict_names, &self.alternates, text, |i| caps.get(i))
    }

    /// The group names a dict of a match shares (by index, `None` for unnamed groups), and
    /// the `alt_*` groups with the group each fills.
    pub(crate) fn dict_names(&self) -> (&[Option<GroupName>], &[(GroupName, GroupName)]) {
        (&self.dict_names, &self.alternates)
    }
}

/// A group's name in a match's dict: interned for the life of the process (see [`intern`]),
/// so that naming a group copies and counts nothing.
pub(crate) type GroupName = &'static str;

/// The one copy of a group name. Names are a few short words (`ip4`, `user`, `mlfid`, a
/// filter's own `F-*` names), the same in every filter: each distinct one is kept once, for
/// good, however often filters are compiled.
pub(crate) fn intern(name: &str) -> GroupName {
    static NAMES: std::sync::Mutex<BTreeSet<&'static str>> = std::sync::Mutex::new(BTreeSet::new());
    let mut names = NAMES.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(n) = names.get(name) {
        return n;
    }
    let kept: &'static str = Box::leak(name.to_string().into_boxed_str());
    names.insert(kept);
    kept
}

/// A group's captured text. Most values (addresses, user names, a connection's id) are short
/// enough to be held inline, so that capturing them allocates nothing.
pub(crate) type GroupValue = compact_str::CompactString;

/// A match's named groups and their values (`None`: did not take part), in group order.
pub(crate) type Dict = Vec<(GroupName, Option<GroupValue>)>;

/// `names` as the shared names of dicts.
pub(crate) fn shared_names(names: &[Option<String>]) -> Vec<Option<GroupName>> {
    names.iter().map(|n| n.as_deref().map(intern)).collect()
}

/// The groups a failure's bookkeeping reads: the multi-line merge's steering groups, the
/// users of a connection, and what names the host. (A failregex's other groups only matter
/// to actions that show them.)
pub const BOOKKEEPING_GROUPS: [&str; 9] = [
    "mlfid",
    "nofail",
    "mlfgained",
    "mlfforget",
    "user",
    "ip4",
    "ip6",
    "dns",
    "fid",
];

/// Which groups of a regex a match's dict holds: all of them, or only the named ones (with
/// the `alt_*` groups that fill those, which are then left out of the dict themselves).
#[derive(Debug, Clone)]
pub(crate) struct GroupSelection {
    names: Vec<Option<GroupName>>,
    /// The named groups of `names`, with their indexes.
    named: Vec<(usize, GroupName)>,
    alternates: Vec<(GroupName, GroupName)>,
    only: bool,
}

/// Room a dict of a failregex's match is made with beyond its own groups: for the
/// prefregex's groups it is merged with (see [`crate::multiline::Groups::merged`]).
pub(crate) const DICT_ROOM: usize = 4;

fn named_of(names: &[Option<GroupName>]) -> Vec<(usize, GroupName)> {
    names
        .iter()
        .enumerate()
        .filter_map(|(i, n)| Some((i, (*n)?)))
        .collect()
}

impl GroupSelection {
    /// Every group of a regex with groups `names`.
    pub(crate) fn all(names: &[Option<String>]) -> Self {
        let alternates = alternates_of(names);
        let names = shared_names(names);
        GroupSelection {
            named: named_of(&names),
            names,
            alternates,
            only: false,
        }
    }

    /// Only the groups named in `keep`.
    pub(crate) fn only(names: &[Option<String>], keep: &[&str]) -> Self {
        let alternates: Vec<(GroupName, GroupName)> = alternates_of(names)
            .into_iter()
            .filter(|(_, target)| keep.contains(&&**target))
            .collect();
        let names: Vec<Option<GroupName>> = shared_names(names)
            .into_iter()
            .map(|n| {
                n.filter(|n| keep.contains(&&**n) || alternates.iter().any(|(alt, _)| alt == n))
            })
            .collect();
        GroupSelection {
            named: named_of(&names),
            names,
            alternates,
            only: true,
        }
    }

    /// The selected groups of a match whose group spans `get` gives, as
    /// [`CompiledRegex::group_dict`] has them; with `present_only` (see
    /// [`Self::present_only_is_exact`]), only those that took part.
    pub(crate) fn dict(
        &self,
        text: &str,
        get: impl Fn(usize) -> Option<(usize, usize)>,
        present_only: bool,
    ) -> Dict {
        if present_only && self.alternates.is_empty() {
            let mut dict = Dict::with_capacity(self.named.len() + DICT_ROOM);
            for &(i, n) in &self.named {
                if let Some((s, e)) = get(i) {
                    dict.push((n, Some(GroupValue::from(&text[s..e]))));
                }
            }
            return dict;
        }
        let mut groups = named_groups(&self.names, &self.alternates, text, get);
        if self.only && !self.alternates.is_empty() {
            groups.retain(|(n, _)| !self.alternates.iter().any(|(alt, _)| alt == n));
        }
        groups
    }

    /// Can a match's dict leave out the groups that did not take part, when only the values
    /// of its merge with the prefregex's groups (`pref`) are read? Only if no group here can
    /// override one of the prefregex's by not taking part.
    pub(crate) fn present_only_is_exact(&self, pref: Option<&GroupSelection>) -> bool {
        let shared = |n: &GroupName| pref.is_some_and(|p| p.names.iter().flatten().any(|m| m == n));
        self.alternates.is_empty() && !self.names.iter().flatten().any(shared)
    }
}

/// The `alt_NAME[_N]` groups among `names` and the group each fills, sorted.
pub(crate) fn alternates_of(names: &[Option<String>]) -> Vec<(GroupName, GroupName)> {
    let mut alternates: Vec<(GroupName, GroupName)> = names
        .iter()
        .flatten()
        .filter_map(|g| Some((intern(g), intern(&alternate_target(g)?))))
        .collect();
    alternates.sort();
    alternates
}

/// Named groups of a match (`None`: did not take part), `alt_*` groups filling their empty
/// targets, as Fail2Ban's `getGroups`; `get` gives a group's span by index.
pub(crate) fn named_groups(
    names: &[Option<GroupName>],
    alternates: &[(GroupName, GroupName)],
    text: &str,
    get: impl Fn(usize) -> Option<(usize, usize)>,
) -> Dict {
    let mut groups = Dict::with_capacity(names.len().min(16) + DICT_ROOM);
    groups.extend(
        names
            .iter()
            .enumerate()
            .filter_map(|(i, n)| Some(((*n)?, get(i).map(|(s, e)| GroupValue::from(&text[s..e]))))),
    );
    for (alt, target) in alternates {
        let value = groups
            .iter()
            .find(|(n, _)| n == alt)
            .and_then(|(_, v)| v.clone());
        let Some(value) = value.filter(|v| !v.is_empty()) else {
            continue;
        };
        match groups.iter_mut().find(|(n, _)| n == target) {
            Some((_, v)) if v.as_deref().is_some_and(|v| !v.is_empty()) => {}
            Some((_, v)) => *v = Some(value),
            None => groups.push((*target, Some(value))),
        }
    }
    groups
}

/// One buffered line split around its date. Shared, not copied, between the buffer, the
/// matches of a failure and the multi-line store.
#[derive(Debug, Clone, PartialEq)]
struct SplitLine(std::sync::Arc<LineParts>);

#[derive(Debug, PartialEq)]
struct LineParts {
    /// What comes before the date, the date, and what follows it, in one string.
    text: String,
    /// Where the date starts and ends in `text`.
    date: (usize, usize),
    /// Is `text` the line as Fail2Ban records it in matches (as read, except that a line given
    /// the previous line's date has that date text in front)? Not for a prefregex's content
    /// standing in for the line in the buffer, which records as empty.
    recorded: bool,
}

impl LineParts {
    fn before(&self) -> &str {
        &self.text[..self.date.0]
    }

    fn after(&self) -> &str {
        &self.text[self.date.1..]
    }

    /// The line as recorded in matches.
    fn original(&self) -> &str {
        if self.recorded {
            &self.text
        } else {
            ""
        }
    }
}

impl std::ops::Deref for SplitLine {
    type Target = LineParts;
    fn deref(&self) -> &LineParts {
        &self.0
    }
}

impl SplitLine {
    /// `text` with its date at `date` (an empty span at 0: none).
    fn new(text: String, date: (usize, usize), recorded: bool) -> Self {
        SplitLine(std::sync::Arc::new(LineParts {
            text,
            date,
            recorded,
        }))
    }

    /// The line without its date, as the regexes see it.
    fn without_date(&self) -> String {
        let mut s = String::with_capacity(self.text.len() - (self.date.1 - self.date.0));
        s.push_str(self.before());
        s.push_str(self.after());
        s
    }
}

/// The searched buffer: lines without their dates, joined by `\n`, ending in `\n`.
fn buffer_text(lines: &[SplitLine]) -> String {
    let mut s = String::new();
    for (i, l) in lines.iter().enumerate() {
        if i > 0 {
            s.push('\n');
        }
        s.push_str(l.before());
        s.push_str(l.after());
    }
    s.push('\n');
    s
}

/// Which buffered lines a match covers (Fail2Ban's `Regex.search` bookkeeping): the lines
/// the match spans, minus those swallowed by `<SKIPLINES>`; the rest stay buffered.
fn split_matched(
    regex: &CompiledRegex,
    buf: &str,
    caps: &Captures,
    org: &[SplitLine],
) -> (Vec<SplitLine>, Vec<SplitLine>) {
    split_matched_lines(
        buf,
        caps.span(),
        &regex.names,
        |i| caps.get(i),
        org,
        |l, t| l.without_date() == t,
    )
}

/// [`split_matched`] for any kind of buffered line: `span` is the match in `buf` (the
/// buffered lines without their dates, joined by `\n`), `get` a group's span by index among
/// `names`, `same_text` whether a line without its date reads as the given text.
pub(crate) fn split_matched_lines<L: Clone>(
    buf: &str,
    span: (usize, usize),
    names: &[Option<String>],
    get: impl Fn(usize) -> Option<(usize, usize)>,
    org: &[L],
    same_text: impl Fn(&L, &str) -> bool,
) -> (Vec<L>, Vec<L>) {
    if org.len() <= 1 {
        return (org.to_vec(), Vec::new());
    }
    let b = buf.as_bytes();
    let (start, end) = span;
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
    let mut matched: Vec<L> = org[lc1..lc2.max(lc1)].to_vec();
    let mut unmatched: Vec<L> = org[..lc1].to_vec();
    let mut skipped = String::new();
    for (i, name) in names.iter().enumerate() {
        if name.as_deref().is_some_and(|n| n.starts_with("skiplines")) {
            if let Some((s, e)) = get(i) {
                skipped.push_str(&buf[s..e]);
            }
        }
    }
    let mut n = 0;
    for skipped_line in skipped.lines() {
        if let Some(m) = matched[n.min(matched.len())..]
            .iter()
            .position(|l| same_text(l, skipped_line))
        {
            unmatched.push(matched.remove(n + m));
            n += m;
        }
    }
    unmatched.extend_from_slice(&org[lc2.max(lc1)..]);
    (matched, unmatched)
}

/// A compiled filter. Cheap to use from one thread; keeps the multi-line buffer and
/// date-template hit statistics.
///
/// A line goes through two stages: `Dating` finds and cuts out its date and runs the
/// prefilter (its state, the date templates' order and the last date, carries over from line
/// to line), then `Matching` runs the regexes and keeps the buffer and the multi-line store.
/// [`Filter::process_batch`] runs the two on two threads over a large batch.
#[derive(Debug)]
pub struct Filter {
    dating: Dating,
    matching: Matching,
    /// Scratch: the current line between the stages.
    prepared: PreparedLine,
    /// Chunks of prepared lines kept from the last large batch (see [`Self::process_batch`]).
    spare: Vec<Vec<PreparedLine>>,
}

/// The first stage of a line: date and prefilter, and on the single-line path the stateless
/// searches PCRE2 can answer (prefregex, failregexes up to the first match).
#[derive(Debug)]
struct Dating {
    dates: DateDetector,
    last_date: Option<f64>,
    last_date_text: String,
    /// Single-line filters: rules out lines no failregex can match (see [`Prefilter`]).
    prefilter: Option<Prefilter>,
    /// Single-line filters: the prefregex, searched here on lines the prefilter lets through
    /// so that the second stage, the busier one, need not (see [`first_stage_slots`]).
    pref: Option<OwnSlots>,
    /// Single-line filters: the failregexes, searched here in order up to the first that
    /// matches, again so that the second stage need not (`None` for one PCRE2 does not run:
    /// the search stops there).
    fail: Vec<Option<OwnSlots>>,
    /// Index of the prefregex's `content` group, when the failregexes search it (no `alt_*`
    /// group can fill it): where the prefregex's match leaves their text.
    content_group: Option<usize>,
    /// The failregexes can be searched here: the prefregex (if any) is, and its `content`
    /// is found as above.
    fail_here: bool,
    /// Scratch: the text a line's regexes see, and the prefregex's `content` plus `\n`.
    scratch: String,
    content: String,
    /// Conversions of recent dates.
    time_cache: TimeCache,
}

/// The second stage of a line: the regexes the first stage left, the buffer and the
/// multi-line store.
#[derive(Debug)]
struct Matching {
    prefregex: Option<CompiledRegex>,
    failregex: Vec<CompiledRegex>,
    ignoreregex: Vec<CompiledRegex>,
    maxlines: usize,
    usedns: UseDns,
    buffer: Vec<SplitLine>,
    mlfid_cache: MlfidCache<SplitLine>,
    check_all_regex: bool,
    /// Scratch: which failregexes may match the current line.
    candidates: Vec<bool>,
    /// The groups a match's dict holds, per failregex and for the prefregex (see
    /// [`Filter::keep_bookkeeping_groups_only`]).
    fail_groups: Vec<GroupSelection>,
    pref_groups: Option<GroupSelection>,
    /// Fill [`Failure::groups`] (not after [`Filter::keep_bookkeeping_groups_only`]).
    failure_groups: bool,
    /// Per failregex: its dict may leave out groups that did not take part (only after
    /// [`Filter::keep_bookkeeping_groups_only`]; see [`GroupSelection::present_only_is_exact`]).
    present_only: Vec<bool>,
    /// A single-line filter takes [`Matching::find_failures_single`] (tests compare it with
    /// the general path by turning this off).
    lean: bool,
    /// Scratch for the single-line path: the line without its date, and the prefregex's
    /// `<F-CONTENT>`, each with `\n` added.
    text: String,
    content: String,
}

/// What the first stage found on a line, for the second.
#[derive(Debug, Default)]
struct PreparedLine {
    /// Fail2Ban fails on the line (a date with an unknown zone abbreviation).
    dropped: bool,
    cut: Option<DateCut>,
    /// The time a failure on the line gets (`None`: none known).
    date: Option<f64>,
    /// The time read from the line.
    line_time: Option<f64>,
    /// The prefilter ruled the line out.
    skip: bool,
    /// The last date's text, for a line recorded with it in front.
    last_date_text: String,
    /// Which failregexes may match (empty: any may).
    candidates: Vec<bool>,
    /// The first stage searched the prefregex: did it match (its groups' spans in
    /// `pref_spans`)? `None`: it did not search, the second stage does.
    pref: Option<bool>,
    pref_spans: Vec<Option<(usize, usize)>>,
    /// The first stage searched the candidate failregexes before this index: none matched.
    fail_upto: usize,
    /// ... and the one at `fail_upto` matched, with these spans.
    fail_hit: bool,
    fail_spans: Vec<Option<(usize, usize)>>,
}

/// A regex's searches in the first stage: the PCRE2 code its own search tries first (its JIT
/// copy, or itself on PCRE2), with slots of the first stage's own; `None` when PCRE2 does not
/// run it.
fn first_stage_slots(r: &CompiledRegex) -> Option<OwnSlots> {
    r.pcre2_regex().cloned().map(OwnSlots::new)
}

/// Slots for single-line prefregex `r` searched without its `(?P<content>.+)$` tail, where
/// it has one and that is exact (see [`OwnSlots::without_content_tail`]).
pub(crate) fn content_tail_slots(r: &CompiledRegex) -> Option<OwnSlots> {
    crate::dialect::translate(r.expanded(), crate::dialect::Dialect::Pcre2, false)
        .ok()
        .and_then(|t| OwnSlots::without_content_tail(&t.pattern, r.group_names()))
}

/// [`first_stage_slots`] for the prefregex: without its content tail where that is exact.
fn prefregex_slots(r: &CompiledRegex) -> Option<OwnSlots> {
    content_tail_slots(r).or_else(|| first_stage_slots(r))
}

/// Search `text` with `slots`; the spans go to `spans`. `None` when PCRE2 gives up (its match
/// limit): the regex's own search decides then, in the second stage.
fn first_stage_search(
    slots: &mut OwnSlots,
    text: &str,
    ascii: bool,
    spans: &mut Vec<Option<(usize, usize)>>,
) -> Option<bool> {
    let found = slots.search_known(text, ascii).ok()?;
    spans.clear();
    if found {
        slots.copy_spans(spans);
    }
    Some(found)
}

/// The first stage's prefregex search: did it match, and its groups' spans.
type PrefDone<'a> = (bool, &'a [Option<(usize, usize)>]);

/// What the first stage searched of a line already (see `Dating::prepare`).
#[derive(Clone, Copy)]
struct FirstStage<'a> {
    pref: Option<PrefDone<'a>>,
    /// The candidate failregexes before this index were searched and did not match.
    fail_upto: usize,
    /// The one at `fail_upto` matched, with these spans.
    fail_hit: Option<&'a [Option<(usize, usize)>]>,
}

/// A regex's match as the second stage reads it: its own search, or the first stage's spans.
enum StageMatch<'a> {
    Searched(Captures),
    Lent(&'a [Option<(usize, usize)>]),
}

impl StageMatch<'_> {
    fn get(&self, i: usize) -> Option<(usize, usize)> {
        match self {
            StageMatch::Searched(caps) => caps.get(i),
            StageMatch::Lent(spans) => spans.get(i).copied().flatten(),
        }
    }
}

/// Lines handed to [`Filter::process_batch`], by index: a slice of strings, or a reader's
/// batch held in one string.
pub trait LineSource: Sync {
    /// How many lines.
    fn count(&self) -> usize;
    /// Line `i` (below [`Self::count`]).
    fn line(&self, i: usize) -> &str;
}

impl<S: AsRef<str> + Sync> LineSource for [S] {
    fn count(&self) -> usize {
        self.len()
    }
    fn line(&self, i: usize) -> &str {
        self[i].as_ref()
    }
}

/// A batch at least this long is filtered on two threads (see [`Filter::process_batch`]).
pub const PIPELINE_MIN_LINES: usize = 512;
/// Lines handed from the first stage to the second at a time.
const PIPELINE_CHUNK: usize = 512;
/// ... except the first chunk of a batch, the one the second stage waits for.
const PIPELINE_FIRST_CHUNK: usize = 32;
/// Chunks of prepared lines a filter keeps for its next large batch.
const SPARE_CHUNKS: usize = 6;

/// Where a line's date is, as [`Filter::split_date`] decided.
#[derive(Debug, Clone, Copy)]
enum DateCut {
    /// The date text is `line[s..e]`.
    Span(usize, usize),
    /// No date cut out; the line is recorded with this date text in front (the previous
    /// line's, or none).
    Whole { last_date_text: bool },
}

/// What the failregexes made of one buffer.
#[derive(Debug, Default)]
struct Found {
    failures: Vec<Failure>,
    ignored: bool,
    nofail_matches: Vec<usize>,
}

impl Found {
    fn into_result(self, time: Option<f64>) -> LineResult {
        LineResult {
            time,
            failures: self.failures,
            ignored: self.ignored,
            nofail_matches: self.nofail_matches,
        }
    }
}

/// Compile `regexes` in order (with their JIT copies when `jit`), on two threads when there
/// are several: the compiles are independent, and the `regex` crate takes a millisecond or
/// more for a regex with Unicode classes, a good part of a filter's start-up.
fn compile_all(
    regexes: &[String],
    usedns: UseDns,
    multiline: bool,
    jit: bool,
) -> Vec<Result<CompiledRegex, String>> {
    let one = |r: &String| {
        if jit {
            CompiledRegex::new_single_line(r, usedns)
        } else {
            CompiledRegex::new(r, usedns, multiline)
        }
    };
    if regexes.len() < 4 {
        return regexes.iter().map(one).collect();
    }
    let (first, second) = regexes.split_at(regexes.len() / 2);
    std::thread::scope(|scope| {
        let other = std::thread::Builder::new()
            .name("filter-compile".into())
            .spawn_scoped(scope, || second.iter().map(one).collect::<Vec<_>>());
        let mut all: Vec<_> = first.iter().map(one).collect();
        match other {
            Ok(handle) => match handle.join() {
                Ok(rest) => all.extend(rest),
                Err(panic) => std::panic::resume_unwind(panic),
            },
            Err(_) => all.extend(second.iter().map(one)),
        }
        all
    })
}

impl Filter {
    /// Compile `spec`; errors name the option and index of every bad regex.
    pub fn new(spec: &FilterSpec) -> Result<Filter, Vec<FilterError>> {
        let mut errors = Vec::new();
        let maxlines = spec.maxlines.max(1);
        let multiline = maxlines > 1;
        let mut err = |option: &'static str, index: usize, regex: &str, message: String| {
            errors.push(FilterError {
                option,
                index,
                regex: regex.to_string(),
                message,
            })
        };
        let prefregex = match spec.prefregex.as_deref().filter(|p| !p.is_empty()) {
            None => None,
            Some(p) => match if multiline {
                CompiledRegex::new(p, spec.usedns, false)
            } else {
                CompiledRegex::new_single_line(p, spec.usedns)
            } {
                Ok(r) => Some(r),
                Err(e) => {
                    err("prefregex", 0, p, e);
                    None
                }
            },
        };
        let pref_has_id = prefregex
            .as_ref()
            .is_some_and(|p| FAILURE_ID_GROUPS.iter().any(|g| p.has_group(g)));
        let mut failregex = Vec::new();
        // The date templates (the defaults are compiled once per process) are made on a thread
        // of their own meanwhile: with the regexes, they are most of a filter's start-up.
        let (compiled, dates) = std::thread::scope(|scope| {
            let datepattern = spec.datepattern.as_deref();
            let dates = std::thread::Builder::new()
                .name("date-templates".into())
                .spawn_scoped(scope, move || DateDetector::from_datepattern(datepattern));
            let compiled = compile_all(&spec.failregex, spec.usedns, multiline, maxlines == 1);
            let dates = match dates {
                Ok(handle) => handle
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
                Err(_) => DateDetector::from_datepattern(datepattern),
            };
            (compiled, dates)
        });
        for ((i, r), compiled) in spec.failregex.iter().enumerate().zip(compiled) {
            match compiled {
                Ok(c) => {
                    if !pref_has_id && !FAILURE_ID_GROUPS.iter().any(|g| c.has_group(g)) {
                        err(
                            "failregex",
                            i,
                            r,
                            format!(
                                "No failure-id group in '{}' (use <HOST>, <ADDR> or <F-ID>)",
                                c.expanded()
                            ),
                        );
                    } else {
                        failregex.push(c);
                    }
                }
                Err(e) => err("failregex", i, r, e),
            }
        }
        let mut ignoreregex = Vec::new();
        for (i, r) in spec.ignoreregex.iter().enumerate() {
            match CompiledRegex::new(r, spec.usedns, false) {
                Ok(c) => ignoreregex.push(c),
                Err(e) => err("ignoreregex", i, r, e),
            }
        }
        let mut dates = match dates {
            Ok(d) => d,
            Err(e) => {
                err(
                    "datepattern",
                    0,
                    spec.datepattern.as_deref().unwrap_or(""),
                    e,
                );
                DateDetector::new()
            }
        };
        if let Some(tz) = spec.logtimezone.as_deref().filter(|t| !t.is_empty()) {
            match parse_zone(tz) {
                Some(m) => dates.set_default_tz(Some(m)),
                None => err(
                    "logtimezone",
                    0,
                    tz,
                    "unknown or unsupported time zone (expected UTC, UTC+hhmm, +hh:mm or an abbreviation like CET)"
                        .to_string(),
                ),
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let (mut prefregex, failregex, mut ignoreregex) = (prefregex, failregex, ignoreregex);
        if maxlines == 1 {
            // (The failregexes have theirs already: see compile_all.)
            for r in prefregex.iter_mut().chain(ignoreregex.iter_mut()) {
                r.enable_jit_captures();
            }
        }
        let prefilter = if maxlines == 1 {
            // The ignoreregexes that run before the failregexes can mark a line too.
            let early = !ignoreregex.is_empty() && ignoreregex.len() + 2 < failregex.len();
            let patterns = failregex
                .iter()
                .chain(ignoreregex.iter().filter(|_| early))
                .map(|r| r.expanded());
            Prefilter::new(patterns, false).filter(|f| !(f.has_newline() && prefregex.is_some()))
        } else {
            None
        };
        // The first stage searches the prefregex and the failregexes where PCRE2 answers them
        // (see `Dating::prepare`); the failregexes only when it has the prefregex's answer
        // and finds its content as the second stage would.
        let pref_search = if maxlines == 1 {
            prefregex.as_ref().and_then(prefregex_slots)
        } else {
            None
        };
        let fail_here = maxlines == 1
            && match &prefregex {
                None => true,
                Some(r) => r.alternates.is_empty() && pref_search.is_some(),
            };
        Ok(Filter {
            dating: Dating {
                dates,
                last_date: None,
                last_date_text: String::new(),
                prefilter,
                pref: pref_search,
                fail: if maxlines == 1 {
                    failregex.iter().map(first_stage_slots).collect()
                } else {
                    Vec::new()
                },
                content_group: prefregex
                    .as_ref()
                    .filter(|r| r.alternates.is_empty())
                    .and_then(|r| r.group_index("content")),
                fail_here,
                scratch: String::new(),
                content: String::new(),
                time_cache: TimeCache::default(),
            },
            matching: Matching {
                fail_groups: failregex
                    .iter()
                    .map(|r| GroupSelection::all(&r.names))
                    .collect(),
                pref_groups: prefregex.as_ref().map(|r| GroupSelection::all(&r.names)),
                failure_groups: true,
                present_only: Vec::new(),
                prefregex,
                failregex,
                ignoreregex,
                maxlines,
                usedns: spec.usedns,
                buffer: Vec::new(),
                mlfid_cache: MlfidCache::default(),
                check_all_regex: false,
                candidates: Vec::new(),
                lean: true,
                text: String::new(),
                content: String::new(),
            },
            prepared: PreparedLine::default(),
            spare: Vec::new(),
        })
    }

    /// From now on, extract only the groups of a match that the failure bookkeeping reads
    /// ([`BOOKKEEPING_GROUPS`], and the prefregex's `content`), and leave
    /// [`Failure::groups`] and [`Failure::users`] empty; everything else about the results
    /// (host, time, `fid`, lines, `nofail` matches) stays the same. For a daemon whose actions
    /// show no captured field: the other groups are never copied.
    pub fn keep_bookkeeping_groups_only(&mut self) {
        let m = &mut self.matching;
        m.failure_groups = false;
        m.fail_groups = m
            .failregex
            .iter()
            .map(|r| GroupSelection::only(&r.names, &BOOKKEEPING_GROUPS))
            .collect();
        let mut keep = BOOKKEEPING_GROUPS.to_vec();
        keep.push("content");
        m.pref_groups = m
            .prefregex
            .as_ref()
            .map(|r| GroupSelection::only(&r.names, &keep));
        m.present_only = m
            .fail_groups
            .iter()
            .map(|g| g.present_only_is_exact(m.pref_groups.as_ref()))
            .collect();
    }

    /// Try every failregex on each line instead of stopping at the first match (Fail2Ban's
    /// `checkAllRegex`, which its sample-log tests use): every match is reported, in
    /// [`LineResult::failures`] or [`LineResult::nofail_matches`], so that a line two regexes
    /// match can be found. The buffer of a single-line filter is kept for all of them.
    pub fn set_check_all_regex(&mut self, on: bool) {
        self.matching.check_all_regex = on;
    }

    /// The prefilter ruling out lines no failregex can match, when the filter has one
    /// (single-line filters whose every failregex requires some literal text).
    pub fn prefilter(&self) -> Option<&Prefilter> {
        self.dating.prefilter.as_ref()
    }

    /// The compiled `prefregex`.
    pub fn prefregex(&self) -> Option<&CompiledRegex> {
        self.matching.prefregex.as_ref()
    }

    /// The compiled failregexes.
    pub fn failregexes(&self) -> &[CompiledRegex] {
        &self.matching.failregex
    }

    /// The compiled ignoreregexes.
    pub fn ignoreregexes(&self) -> &[CompiledRegex] {
        &self.matching.ignoreregex
    }

    /// The date detector (templates in their current order, with hit counts).
    pub fn date_detector(&self) -> &DateDetector {
        &self.dating.dates
    }

    /// Process one log line (without its trailing newline). `now` is used for year-less dates
    /// and lines without a date.
    pub fn process_line(&mut self, line: &str, now: f64) -> LineResult {
        self.dating.prepare(line, now, &mut self.prepared);
        self.matching.finish(line, &mut self.prepared, now)
    }

    /// [`Self::process_line`] for each of `lines` in order, handing each result to `sink`. A
    /// batch of [`PIPELINE_MIN_LINES`] or more runs on two threads: this one, and a second
    /// one for the first stage (date, prefilter, first searches), a few lines ahead. The
    /// results are the same as line by line: each stage sees every line in order.
    pub fn process_batch<L: LineSource + ?Sized>(
        &mut self,
        lines: &L,
        now: f64,
        mut sink: impl FnMut(LineResult),
    ) {
        let count = lines.count();
        if count < PIPELINE_MIN_LINES {
            for i in 0..count {
                sink(self.process_line(lines.line(i), now));
            }
            return;
        }
        let (dating, matching) = (&mut self.dating, &mut self.matching);
        // Chunks of prepared lines go to the second stage and come back to be used again, from
        // batch to batch: a line's buffers are allocated once, not per batch.
        let (full_tx, full_rx) = std::sync::mpsc::sync_channel::<(Vec<PreparedLine>, usize)>(4);
        let (empty_tx, empty_rx) = std::sync::mpsc::channel::<Vec<PreparedLine>>();
        for spare in self.spare.drain(..) {
            let _ = empty_tx.send(spare);
        }
        let mut kept: Vec<Vec<PreparedLine>> = Vec::new();
        let piped = std::thread::scope(|scope| {
            let first = std::thread::Builder::new()
                .name("filter-dates".into())
                .stack_size(256 << 10)
                .spawn_scoped(scope, move || {
                    // The second stage waits for the first chunk: a small one gets it going
                    // sooner, then chunks grow to their full size.
                    let mut start = 0;
                    let mut size = PIPELINE_FIRST_CHUNK;
                    while start < count {
                        let chunk = start..(start + size).min(count);
                        start = chunk.end;
                        size = (size * 2).min(PIPELINE_CHUNK);
                        let mut prepared = empty_rx.try_recv().unwrap_or_default();
                        let n = chunk.len();
                        if prepared.len() < n {
                            prepared.resize_with(n, PreparedLine::default);
                        }
                        for (i, p) in chunk.zip(prepared.iter_mut()) {
                            dating.prepare(lines.line(i), now, p);
                        }
                        if full_tx.send((prepared, n)).is_err() {
                            return Vec::new();
                        }
                    }
                    // What the second stage sent back and this one did not use.
                    empty_rx.try_iter().collect::<Vec<_>>()
                });
            match first {
                Ok(first) => {
                    let mut at = 0;
                    for (mut prepared, n) in full_rx {
                        for p in prepared[..n].iter_mut() {
                            sink(matching.finish(lines.line(at), p, now));
                            at += 1;
                        }
                        // The first stage may be done already: then it is kept for the next
                        // batch.
                        if let Err(back) = empty_tx.send(prepared) {
                            kept.push(back.0);
                        }
                    }
                    kept.extend(first.join().unwrap_or_default());
                    true
                }
                Err(_) => false,
            }
        });
        kept.truncate(SPARE_CHUNKS);
        self.spare = kept;
        if !piped {
            // No second thread to be had: both stages on this one.
            for i in 0..count {
                sink(self.process_line(lines.line(i), now));
            }
        }
    }

    /// Process one entry whose time the source already knows (the systemd journal): no date
    /// is searched for in `line`, as Fail2Ban does for journal entries.
    pub fn process_entry(&mut self, line: &str, time: f64, now: f64) -> LineResult {
        self.dating.last_date = Some(time);
        self.dating.last_date_text.clear();
        let split = SplitLine::new(line.to_string(), (0, 0), true);
        let found = self.matching.find_failures(split, time, now);
        found.into_result(Some(time))
    }
}

impl Dating {
    /// The first stage of a line: its date, whether the prefilter rules it out, and on the
    /// single-line path the searches of the prefregex and of the failregexes up to the first
    /// that matches (where PCRE2 runs them: see [`first_stage_slots`]).
    fn prepare(&mut self, line: &str, now: f64, p: &mut PreparedLine) {
        p.skip = false;
        p.pref = None;
        p.fail_upto = 0;
        p.fail_hit = false;
        p.candidates.clear();
        let Some((cut, date, line_time)) = self.split_date(line, now) else {
            p.dropped = true;
            return;
        };
        p.dropped = false;
        p.cut = Some(cut);
        p.date = date;
        p.line_time = line_time;
        if let DateCut::Whole {
            last_date_text: true,
        } = cut
        {
            p.last_date_text.clear();
            p.last_date_text.push_str(&self.last_date_text);
        }
        if self.prefilter.is_none() && self.pref.is_none() {
            return;
        }
        // The text the single-line path searches: the line without its date, and `\n`.
        let (before, after) = match cut {
            DateCut::Span(s, e) => (&line[..s], &line[e..]),
            DateCut::Whole { .. } => ("", line),
        };
        let text = &mut self.scratch;
        text.clear();
        text.push_str(before);
        text.push_str(after);
        text.push('\n');
        if let Some(prefilter) = &self.prefilter {
            if prefilter.check(text, &mut p.candidates).is_none() {
                p.skip = true;
                return;
            }
        }
        // Every text searched below is a part of this one: one check tells each search which
        // form of its regex runs.
        let ascii = text.is_ascii();
        if let Some(pref) = &mut self.pref {
            p.pref = first_stage_search(pref, text, ascii, &mut p.pref_spans);
        }
        if !self.fail_here {
            return;
        }
        // What the second stage's failregexes search: the prefregex's content, or the line.
        let searched: &str = match (self.pref.is_some(), p.pref) {
            (false, _) => text,
            (true, Some(true)) => {
                match self
                    .content_group
                    .and_then(|i| p.pref_spans.get(i).copied().flatten())
                    .filter(|(s, e)| s < e)
                {
                    Some((s, e)) => {
                        self.content.clear();
                        self.content.push_str(&text[s..e]);
                        self.content.push('\n');
                        &self.content
                    }
                    None => text,
                }
            }
            // No match (nothing to search), or the second stage searches the prefregex.
            (true, _) => return,
        };
        let n = self.fail.len();
        let mut upto = n;
        for (index, fail) in self.fail.iter_mut().enumerate() {
            if !p.candidates.get(index).copied().unwrap_or(true) {
                continue;
            }
            match fail
                .as_mut()
                .and_then(|f| first_stage_search(f, searched, ascii, &mut p.fail_spans))
            {
                Some(false) => {}
                Some(true) => {
                    upto = index;
                    p.fail_hit = true;
                    break;
                }
                // PCRE2 does not run it, or gave up: the second stage goes on from here.
                None => {
                    upto = index;
                    break;
                }
            }
        }
        p.fail_upto = upto;
    }

    /// Find and cut out the date. Returns where the date is, the time to use for a failure
    /// (`None`: none known) and the time read from this line; `None` when Fail2Ban would fail
    /// on the line (a date with an unknown zone abbreviation).
    fn split_date(&mut self, line: &str, now: f64) -> Option<(DateCut, Option<f64>, Option<f64>)> {
        // Like Fail2Ban, a line given the previous line's date carries that date text in its
        // recorded form.
        let mut date = None;
        let mut line_time = None;
        let mut cut = DateCut::Whole {
            last_date_text: false,
        };
        if let Some(m) = self.dates.match_time(line, now) {
            if let Some((s, e)) = m.date_span() {
                cut = DateCut::Span(s, e);
                if s < e {
                    match self.time_cache.time(&self.dates, line, &m, now) {
                        Ok(t) => {
                            date = Some(t);
                            line_time = Some(t);
                            self.last_date = Some(t);
                            self.last_date_text.clear();
                            self.last_date_text.push_str(&line[s..e]);
                        }
                        Err(TimeError::Invalid) => {}
                        Err(TimeError::UnknownZone(_)) => return None,
                    }
                } else if let Some(last) = self.last_date.filter(|d| *d > now - 60.0) {
                    // An empty date group: "the date of the previous line, if recent".
                    cut = DateCut::Whole {
                        last_date_text: true,
                    };
                    date = Some(last);
                } else {
                    date = Some(now);
                }
            }
        }
        if date.is_none() {
            if let Some(last) = self.last_date.filter(|d| *d > now - 60.0) {
                cut = DateCut::Whole {
                    last_date_text: true,
                };
                date = Some(last);
            }
        }
        Some((cut, date, line_time))
    }
}

/// The line split around its date as [`Dating::split_date`] found it (`last_date_text`: the
/// previous date's text, for a line recorded with it in front).
fn split_line(line: &str, cut: DateCut, last_date_text: &str) -> SplitLine {
    match cut {
        DateCut::Span(s, e) => SplitLine::new(line.to_string(), (s, e), true),
        DateCut::Whole {
            last_date_text: with_date,
        } => {
            let date = if with_date { last_date_text } else { "" };
            SplitLine::new(format!("{date}{line}"), (0, date.len()), true)
        }
    }
}

impl Matching {
    /// The second stage of a line the first stage prepared.
    fn finish(&mut self, line: &str, p: &mut PreparedLine, now: f64) -> LineResult {
        let Some(cut) = p.cut.filter(|_| !p.dropped) else {
            return LineResult::default();
        };
        if p.skip {
            // No failregex (nor an early ignoreregex) can match: nothing to find, and
            // nothing of this line stays in the single-line buffer.
            self.buffer.clear();
            return LineResult {
                time: p.line_time,
                ..LineResult::default()
            };
        }
        std::mem::swap(&mut self.candidates, &mut p.candidates);
        let date = p.date.unwrap_or(now);
        let found = if self.maxlines <= 1 && self.lean {
            let done = FirstStage {
                pref: p.pref.map(|found| (found, p.pref_spans.as_slice())),
                fail_upto: p.fail_upto,
                fail_hit: p.fail_hit.then_some(p.fail_spans.as_slice()),
            };
            self.find_failures_single(line, cut, &p.last_date_text, done, date, now)
        } else {
            let split = split_line(line, cut, &p.last_date_text);
            self.find_failures(split, date, now)
        };
        std::mem::swap(&mut self.candidates, &mut p.candidates);
        found.into_result(p.line_time)
    }

    /// Does an ignoreregex match? With `maxlines > 1` and a failregex match, only the lines
    /// that match covered are searched, and those leave the buffer.
    fn ignore_line(
        &mut self,
        buf: &str,
        matched: Option<(&[SplitLine], &[SplitLine])>,
        consume: bool,
    ) -> bool {
        let text;
        let buf = match matched {
            Some((m, _)) if self.maxlines > 1 => {
                text = buffer_text(m);
                text.as_str()
            }
            _ => buf,
        };
        if self.ignoreregex.iter().any(|r| r.search(buf).is_some()) {
            if let Some((_, unmatched)) = matched.filter(|_| consume) {
                self.buffer = unmatched.to_vec();
            }
            return true;
        }
        false
    }

    /// [`Self::find_failures`] for a single-line filter (`maxlines` ≤ 1): the same searches,
    /// in the same order, on the same texts, with the same answers, but the line is copied
    /// (split around its date) only when a failregex matches it, the prefregex's groups are
    /// made only then, and the searched texts live in reused buffers. Most lines that get
    /// this far match no failregex, and then nothing is allocated but the searches' own.
    fn find_failures_single(
        &mut self,
        line: &str,
        cut: DateCut,
        last_date_text: &str,
        done: FirstStage<'_>,
        date: f64,
        now: f64,
    ) -> Found {
        // Nothing of a line stays behind in a single-line filter's buffer.
        self.buffer.clear();
        let mut text = std::mem::take(&mut self.text);
        text.clear();
        match cut {
            DateCut::Span(s, e) => {
                text.push_str(&line[..s]);
                text.push_str(&line[e..]);
            }
            DateCut::Whole { .. } => text.push_str(line),
        }
        text.push('\n');
        let mut content = std::mem::take(&mut self.content);
        let found = self.single_line(
            line,
            cut,
            last_date_text,
            done,
            &text,
            &mut content,
            date,
            now,
        );
        self.text = text;
        self.content = content;
        found
    }

    #[allow(clippy::too_many_arguments)]
    fn single_line(
        &mut self,
        line: &str,
        cut: DateCut,
        last_date_text: &str,
        done: FirstStage<'_>,
        text: &str,
        content: &mut String,
        date: f64,
        now: f64,
    ) -> Found {
        /// What the failregexes search (the general path's buffer): the line or the
        /// prefregex's content. (A match that takes the line out of the buffer ends the
        /// search unless every regex is tried, and then the line stays.)
        #[derive(Clone, Copy)]
        enum Searched {
            Line,
            Content,
        }
        let mut found = Found::default();
        if !self.ignoreregex.is_empty()
            && self.ignoreregex.len() + 2 < self.failregex.len()
            && self.ignoreregex.iter().any(|r| r.search(text).is_some())
        {
            found.ignored = true;
            return found;
        }
        let mut searched = Searched::Line;
        let mut pref_caps = None;
        if let Some(pref) = &self.prefregex {
            // The first stage may have searched it already, on the same text.
            let caps = match done.pref {
                Some((false, _)) => return found,
                Some((true, spans)) => StageMatch::Lent(spans),
                None => match pref.search(text) {
                    Some(caps) => StageMatch::Searched(caps),
                    None => return found,
                },
            };
            let value: Option<std::borrow::Cow<'_, str>> = if pref.alternates.is_empty() {
                pref.group_index("content")
                    .and_then(|i| caps.get(i))
                    .map(|(s, e)| std::borrow::Cow::Borrowed(&text[s..e]))
            } else {
                // `alt_*` groups may fill `content`: read it as the groups have it.
                let (names, alternates) = pref.dict_names();
                named_groups(names, alternates, text, |i| caps.get(i))
                    .into_iter()
                    .find(|(n, _)| &**n == "content")
                    .and_then(|(_, v)| v)
                    .map(|v| std::borrow::Cow::Owned(v.into()))
            };
            if let Some(value) = value.filter(|v| !v.is_empty()) {
                content.clear();
                content.push_str(&value);
                content.push('\n');
                searched = Searched::Content;
            }
            pref_caps = Some(caps);
        }
        let check_all = self.check_all_regex;
        let candidates = std::mem::take(&mut self.candidates);
        let mut split: Option<SplitLine> = None;
        let mut pre_groups: Option<Dict> = None;
        for index in 0..self.failregex.len() {
            if !candidates.get(index).copied().unwrap_or(true) {
                continue;
            }
            let searched_text: &str = match searched {
                Searched::Line => text,
                Searched::Content => content,
            };
            // The first stage searched the candidates before `fail_upto`, and the one there if
            // it matched.
            let caps = match done.fail_hit {
                _ if index < done.fail_upto => continue,
                Some(spans) if index == done.fail_upto => StageMatch::Lent(spans),
                _ => match self.failregex[index].search(searched_text) {
                    Some(caps) => StageMatch::Searched(caps),
                    None => continue,
                },
            };
            let present_only = self.present_only.get(index).copied().unwrap_or(false);
            let groups = self.fail_groups[index].dict(searched_text, |i| caps.get(i), present_only);
            let ignored = !self.ignoreregex.is_empty()
                && self
                    .ignoreregex
                    .iter()
                    .any(|r| r.search(searched_text).is_some());
            if ignored {
                found.ignored = true;
                if check_all {
                    continue;
                }
                break;
            }
            // A second failure on the line (every regex tried) finds them again.
            let pre = pre_groups.take().unwrap_or_else(|| {
                let (Some(sel), Some(caps)) = (&self.pref_groups, &pref_caps) else {
                    return Vec::new();
                };
                let mut groups = sel.dict(text, |i| caps.get(i), false);
                if let Some(i) = groups.iter().position(|(n, _)| &**n == "content") {
                    groups.remove(i);
                }
                groups
            });
            let line = split
                .get_or_insert_with(|| split_line(line, cut, last_date_text))
                .clone();
            if self.record(index, pre, groups, vec![line], date, now, &mut found) {
                break;
            }
        }
        let mut candidates = candidates;
        candidates.clear();
        self.candidates = candidates;
        found
    }

    fn find_failures(&mut self, split: SplitLine, date: f64, now: f64) -> Found {
        let mut found = Found::default();
        let org: Vec<SplitLine> = if self.maxlines > 1 {
            self.buffer.push(split);
            let excess = self.buffer.len().saturating_sub(self.maxlines);
            self.buffer.drain(..excess);
            self.buffer.clone()
        } else {
            self.buffer = vec![split];
            self.buffer.clone()
        };
        let buf = buffer_text(&org);

        if !self.ignoreregex.is_empty()
            && self.ignoreregex.len() + 2 < self.failregex.len()
            && self.ignore_line(&buf, None, false)
        {
            found.ignored = true;
            return found;
        }

        let mut pre_groups: Dict = Vec::new();
        let mut current: Option<String> = Some(buf);
        if let Some(pref) = &self.prefregex {
            let text = current.as_deref().unwrap_or_default();
            let Some(caps) = pref.search(text) else {
                return found;
            };
            pre_groups = match &self.pref_groups {
                Some(sel) => sel.dict(text, |i| caps.get(i), false),
                None => pref.dict(text, &caps),
            };
            let content = pre_groups
                .iter()
                .position(|(n, _)| &**n == "content")
                .map(|i| pre_groups.remove(i).1);
            if let Some(Some(c)) = content.filter(|c| c.as_deref().is_some_and(|c| !c.is_empty())) {
                self.buffer = vec![SplitLine::new(c.into(), (0, 0), false)];
                current = None;
            }
        }

        let check_all = self.check_all_regex;
        // Fail2Ban keeps the buffer while trying every regex of a single-line filter.
        let consume = !check_all || self.maxlines > 1;
        // Without a prefilter, `candidates` is empty and every regex is tried.
        let candidates = std::mem::take(&mut self.candidates);
        for index in 0..self.failregex.len() {
            if !candidates.get(index).copied().unwrap_or(true) {
                continue;
            }
            let text = current.take().unwrap_or_else(|| buffer_text(&self.buffer));
            let regex = &self.failregex[index];
            let Some(caps) = regex.search(&text) else {
                current = Some(text);
                continue;
            };
            let groups = self.fail_groups[index].dict(&text, |i| caps.get(i), false);
            let (matched, unmatched) = split_matched(regex, &text, &caps, &org);
            if !self.ignoreregex.is_empty()
                && self.ignore_line(&text, Some((&matched, &unmatched)), consume)
            {
                found.ignored = true;
                if check_all {
                    continue;
                }
                return found;
            }
            if consume {
                self.buffer = unmatched;
            } else {
                current = Some(text);
            }
            let pre = pre_groups.clone();
            if self.record(index, pre, groups, matched, date, now, &mut found) {
                break;
            }
        }
        // Keep the allocation, not the answer: the next line computes its own.
        let mut candidates = candidates;
        candidates.clear();
        self.candidates = candidates;
        found
    }

    /// Record failregex `index`'s match (its groups, the lines it covers) after the ignore
    /// check: merge a multi-line failure, find the host, and add a failure or a `nofail`
    /// match to `found`. `true`: try no further failregex on this text.
    #[allow(clippy::too_many_arguments)]
    fn record(
        &mut self,
        index: usize,
        pre_groups: Dict,
        groups: Dict,
        matched: Vec<SplitLine>,
        date: f64,
        now: f64,
        found: &mut Found,
    ) -> bool {
        let check_all = self.check_all_regex;
        // Failregex groups override prefregex groups of the same name, even when empty.
        let mut merged = Groups::merged(groups, pre_groups);
        if !self.failure_groups {
            // Only values are read from here on (a group that did not take part reads as
            // absent), and no failure shows its groups: nothing to store for the others.
            merged.retain(|_, v| v.is_some());
        }
        let mut fail = FailData::from_groups(merged);
        let mlfid = fail.get("mlfid");
        let mut nofail = false;
        // The merged failure, lent by the multi-line store when it keeps it.
        let fail: std::borrow::Cow<'_, FailData<SplitLine>> = match &mlfid {
            Some(id) => {
                let merged = self.mlfid_cache.merge(id, fail, &matched, now);
                if merged.truthy("nofail") {
                    nofail = true;
                    if !check_all {
                        found.nofail_matches.push(index);
                        return true;
                    }
                }
                merged
            }
            None => {
                fail.matches = Some(matched);
                std::borrow::Cow::Owned(fail)
            }
        };
        let has_id = ["ip4", "ip6", "dns", "fid"]
            .iter()
            .any(|g| fail.get_str(g).is_some());
        if !has_id {
            drop(fail);
            // A multi-line failure still waiting for its host.
            if let Some(id) = &mlfid {
                self.mlfid_cache.mark_pending(id);
            }
            found.nofail_matches.push(index);
            return !check_all;
        }
        let Some(host) = host_of(self.usedns, &|k| fail.get_str(k)) else {
            return !check_all;
        };
        if nofail {
            found.nofail_matches.push(index);
            return false;
        }
        let failure = if self.failure_groups {
            let fail = fail.into_owned();
            let mut groups = fail.groups;
            let fid = groups.get("fid").cloned().flatten().map(String::from);
            groups.retain(|k, _| !is_skiplines(k));
            Failure {
                host,
                time: date,
                fid,
                lines: fail
                    .matches
                    .unwrap_or_default()
                    .iter()
                    .map(|l| l.original().to_string())
                    .collect(),
                regex_index: index,
                users: fail.users.unwrap_or_default(),
                groups: groups.into_map(),
            }
        } else {
            // Only what counting reads: nothing of the stored entry is copied but that.
            Failure {
                host,
                time: date,
                fid: fail.get_str("fid").map(str::to_string),
                lines: fail
                    .matches
                    .iter()
                    .flatten()
                    .map(|l| l.original().to_string())
                    .collect(),
                regex_index: index,
                // Counting reads no users (nor any other group).
                users: BTreeSet::new(),
                groups: BTreeMap::new(),
            }
        };
        found.failures.push(failure);
        !check_all
    }
}

/// The failure's host, as Fail2Ban picks its ticket id.
fn host_of<'a>(usedns: UseDns, get: &dyn Fn(&str) -> Option<&'a str>) -> Option<Host> {
    let raw_mode = usedns == UseDns::Raw;
    let fid = get("fid");
    let (ip, family) = if let Some(ip) = get("ip4") {
        (ip, Some(4))
    } else if let Some(ip) = get("ip6") {
        (ip, Some(6))
    } else if let Some(dns) = get("dns") {
        if !raw_mode {
            // Resolution is the daemon's job: keep the name (an address stays an address).
            return match parse_ip(dns, None) {
                Some(ip) => Some(Host::Ip(ip)),
                None if usedns == UseDns::No => None,
                None => Some(Host::Name(dns.to_string())),
            };
        }
        (dns, None)
    } else {
        (fid?, None)
    };
    let as_host = |text: &str, family: Option<u8>| -> Host {
        if raw_mode && family.is_none() {
            return Host::Name(text.to_string());
        }
        parse_ip(text, family).map_or_else(|| Host::Name(text.to_string()), Host::Ip)
    };
    Some(match fid {
        Some(f) if f != ip => as_host(f, None),
        _ => as_host(ip, family),
    })
}

fn is_skiplines(name: &str) -> bool {
    name.strip_prefix("skiplines")
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// Parse an address (optionally of one family); IPv4-mapped IPv6 becomes IPv4.
pub fn parse_ip(text: &str, family: Option<u8>) -> Option<IpAddr> {
    let text = text
        .strip_prefix('[')
        .and_then(|t| t.strip_suffix(']'))
        .filter(|_| text.len() > 2)
        .unwrap_or(text);
    if family != Some(6) {
        if let Ok(v4) = text.parse::<Ipv4Addr>() {
            return Some(IpAddr::V4(v4));
        }
    }
    if family != Some(4) {
        if let Ok(v6) = text.parse::<Ipv6Addr>() {
            return Some(match v6.to_ipv4_mapped() {
                Some(v4) => IpAddr::V4(v4),
                None => IpAddr::V6(v6),
            });
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(fail: &[&str]) -> Filter {
        Filter::new(&FilterSpec {
            failregex: fail.iter().map(|s| s.to_string()).collect(),
            maxlines: 1,
            ..Default::default()
        })
        .unwrap()
    }

    #[test]
    fn alternate_groups_fill_empty_targets() {
        assert_eq!(alternate_target("alt_user").as_deref(), Some("user"));
        assert_eq!(alternate_target("alt_user_2").as_deref(), Some("user"));
        assert_eq!(alternate_target("alt_user1").as_deref(), Some("user1"));
        assert_eq!(alternate_target("alt_id").as_deref(), Some("fid"));
        assert_eq!(alternate_target("user"), None);
        let mut f = filter(&[
            r"^ruser=<F-ALT_USER>\S*</F-ALT_USER> rhost=<HOST>(?: user=<F-USER>\S*</F-USER>)?$",
        ]);
        let r = f.process_line("ruser=root rhost=192.0.2.1", 0.0);
        assert_eq!(
            r.failures[0].fields().get("user").map(String::as_str),
            Some("root")
        );
        let r = f.process_line("ruser=root rhost=192.0.2.1 user=bob", 0.0);
        assert_eq!(
            r.failures[0].fields().get("user").map(String::as_str),
            Some("bob")
        );
    }

    #[test]
    fn journal_entries_keep_their_date_text() {
        let mut f = filter(&[r"^Jan  6 10:00:00 from <HOST>$"]);
        let r = f.process_entry("Jan  6 10:00:00 from 192.0.2.5", 42.0, 100.0);
        assert_eq!(r.failures[0].time, 42.0);
        assert_eq!(r.time, Some(42.0));
    }

    #[test]
    fn hosts() {
        let mut f = filter(&[r"^from <HOST>$"]);
        let r = f.process_line("from 192.0.2.1", 100.0);
        assert_eq!(r.failures[0].host, Host::Ip("192.0.2.1".parse().unwrap()));
        assert_eq!(r.failures[0].time, 100.0);
        assert_eq!(r.time, None);
        let r = f.process_line("from ::ffff:192.0.2.2", 100.0);
        assert_eq!(r.failures[0].host, Host::Ip("192.0.2.2".parse().unwrap()));
        let r = f.process_line("from [2001:db8::1]", 100.0);
        assert_eq!(r.failures[0].host, Host::Ip("2001:db8::1".parse().unwrap()));
        let r = f.process_line("from example.com", 100.0);
        assert_eq!(r.failures[0].host, Host::Name("example.com".into()));
    }

    #[test]
    fn usedns_no_drops_names() {
        let mut f = Filter::new(&FilterSpec {
            failregex: vec![r"^from <DNS>$".into()],
            usedns: UseDns::No,
            ..Default::default()
        })
        .unwrap();
        assert!(f.process_line("from example.com", 0.0).failures.is_empty());
    }

    #[test]
    fn fid_and_fields() {
        let mut f = filter(&[r"^session <F-ID>\w+</F-ID> user <F-USER>\S*</F-USER>"]);
        let r = f.process_line("session abc user ", 0.0);
        let fail = &r.failures[0];
        assert_eq!(fail.host, Host::Name("abc".into()));
        assert_eq!(fail.fid.as_deref(), Some("abc"));
        assert!(
            !fail.fields().contains_key("user"),
            "empty groups are left out"
        );
        assert_eq!(fail.fields().get("fid").map(String::as_str), Some("abc"));
    }

    #[test]
    fn first_failregex_wins_and_ignoreregex_suppresses() {
        let mut f = Filter::new(&FilterSpec {
            failregex: vec![r"^a <HOST>".into(), r"^a (?P<ip4>\S+)".into()],
            ignoreregex: vec![r"trusted".into()],
            ..Default::default()
        })
        .unwrap();
        let r = f.process_line("a 192.0.2.9 x", 0.0);
        assert_eq!(r.failures[0].regex_index, 0);
        let r = f.process_line("a 192.0.2.9 trusted", 0.0);
        assert!(r.failures.is_empty());
        assert!(r.ignored);
    }

    #[test]
    fn check_all_regex_reports_every_match() {
        let mut f = filter(&[r"^a <HOST>", r"^a (?P<ip4>\S+)"]);
        assert_eq!(f.process_line("a 192.0.2.9", 0.0).failures.len(), 1);
        f.set_check_all_regex(true);
        let r = f.process_line("a 192.0.2.9", 0.0);
        let hit: Vec<usize> = r.failures.iter().map(|f| f.regex_index).collect();
        assert_eq!(hit, vec![0, 1]);
    }

    #[test]
    fn a_batch_on_two_threads_gives_what_line_by_line_gives() {
        // Dates of several forms (the templates reorder), lines without a date (the last
        // date's text goes in front), lines the prefilter rules out, and connections whose
        // failures gain their host from an earlier line.
        let make = || {
            filter(&[
                r"^\s*\[<F-MLFID>\d+</F-MLFID>\] <F-NOFAIL>connect</F-NOFAIL> from <HOST>$",
                r"^\s*\[<F-MLFID>\d+</F-MLFID>\] failed user <F-USER>\S+</F-USER>$",
                r"^\s*bad login from <HOST> port \d+$",
            ])
        };
        let mut lines = Vec::new();
        for i in 0..3000u32 {
            let date = match i % 7 {
                0 => String::new(),
                1 | 2 => format!("2024-05-{:02} 10:{:02}:{:02} ", 1 + i % 28, i % 60, i % 59),
                _ => format!("May {:2} 10:{:02}:{:02} ", 1 + i % 28, i % 60, i % 59),
            };
            let body = match i % 5 {
                0 => format!("[{}] connect from 192.0.2.{}", i % 11, i % 250),
                1 => format!("[{}] failed user u{i}", i % 11),
                2 => format!("bad login from 2001:db8::{:x} port {i}", i),
                3 => "session opened for user root".to_string(),
                _ => format!("cron[{i}]: job done"),
            };
            lines.push(format!("{date}{body}"));
        }
        let now = 1_716_000_000.0;
        let mut one = make();
        let want: Vec<LineResult> = lines.iter().map(|l| one.process_line(l, now)).collect();
        let mut two = make();
        let mut got = Vec::new();
        two.process_batch(lines.as_slice(), now, |r| got.push(r));
        assert!(lines.len() >= PIPELINE_MIN_LINES);
        assert_eq!(got.len(), want.len());
        let failing = want.iter().filter(|r| !r.failures.is_empty()).count();
        let skipped = want
            .iter()
            .filter(|r| r.failures.is_empty() && r.nofail_matches.is_empty())
            .count();
        assert!(
            failing > 1000 && skipped > 1000,
            "{failing} failing, {skipped} skipped"
        );
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            assert_eq!(g, w, "line {i}: {}", lines[i]);
        }
        // And the state left behind is the same: the next line gives the same answer.
        let next = "May  3 11:00:00 [3] failed user last";
        assert_eq!(one.process_line(next, now), two.process_line(next, now));
    }

    #[test]
    fn nofail_steps_and_users_of_a_connection() {
        let mut f = filter(&[
            r"^\[<F-MLFID>\d+</F-MLFID>\] <F-NOFAIL>connect</F-NOFAIL> from <HOST>$",
            r"^\[<F-MLFID>\d+</F-MLFID>\] failed user <F-USER>\S+</F-USER>$",
        ]);
        let r = f.process_line("[1] connect from 192.0.2.1", 0.0);
        assert!(r.failures.is_empty());
        assert_eq!(r.nofail_matches, vec![0]);
        let r = f.process_line("[1] failed user bob", 0.0);
        assert_eq!(r.failures[0].host, Host::Ip("192.0.2.1".parse().unwrap()));
        assert_eq!(
            r.failures[0].lines.len(),
            2,
            "the connect line joins the failure"
        );
        let r = f.process_line("[1] failed user alice", 0.0);
        let users: Vec<&str> = r.failures[0].users.iter().map(String::as_str).collect();
        assert_eq!(users, vec!["alice", "bob"]);
    }

    #[test]
    fn prefregex_content_replaces_the_text() {
        let mut f = Filter::new(&FilterSpec {
            prefregex: Some(r"^sshd\[\d+\]: <F-CONTENT>.+</F-CONTENT>$".into()),
            failregex: vec![r"^Invalid user \S+ from <HOST>$".into()],
            ..Default::default()
        })
        .unwrap();
        let r = f.process_line("sshd[1]: Invalid user bob from 192.0.2.3", 0.0);
        assert_eq!(r.failures.len(), 1);
        assert_eq!(
            r.failures[0].lines,
            vec!["sshd[1]: Invalid user bob from 192.0.2.3".to_string()]
        );
        assert!(f
            .process_line("cron[1]: Invalid user bob from 192.0.2.3", 0.0)
            .failures
            .is_empty());
    }

    #[test]
    fn errors_name_option_and_index() {
        let e = Filter::new(&FilterSpec {
            failregex: vec![
                r"^ok <HOST>".into(),
                r"^no host here".into(),
                r"^(bad <HOST>".into(),
            ],
            ignoreregex: vec![r"[".into()],
            datepattern: Some("%Q".into()),
            logtimezone: Some("Mars/Olympus".into()),
            ..Default::default()
        })
        .unwrap_err();
        let places: Vec<(&str, usize)> = e.iter().map(|e| (e.option, e.index)).collect();
        assert_eq!(
            places,
            vec![
                ("failregex", 1),
                ("failregex", 2),
                ("ignoreregex", 0),
                ("datepattern", 0),
                ("logtimezone", 0)
            ]
        );
    }

    #[test]
    fn prefilter_skips_only_lines_no_failregex_can_match() {
        let mut f = filter(&[
            r"^Failed \S+ for \S+ from <HOST>",
            r"^Invalid user \S+ from <HOST>",
        ]);
        assert_eq!(f.prefilter().map(|p| p.literals()), Some(2));
        let r = f.process_line("Failed password for bob from 192.0.2.7", 0.0);
        assert_eq!(r.failures.len(), 1);
        assert_eq!(r.failures[0].regex_index, 0);
        let r = f.process_line("Invalid user eve from 192.0.2.8", 0.0);
        assert_eq!(r.failures[0].regex_index, 1);
        assert!(f
            .process_line("Accepted password for bob from 192.0.2.7", 0.0)
            .failures
            .is_empty());
        // A regex without required text (or a multi-line filter) means no prefilter at all.
        assert!(filter(&[r"^\S+ <HOST>"]).prefilter().is_none());
        let spec = FilterSpec {
            failregex: vec![r"^Failed from <HOST>".into()],
            maxlines: 2,
            ..Default::default()
        };
        assert!(Filter::new(&spec).unwrap().prefilter().is_none());
    }

    #[test]
    fn multi_line_buffer() {
        let mut f = Filter::new(&FilterSpec {
            failregex: vec![r"^login from <HOST>\nfailed$".into()],
            maxlines: 3,
            ..Default::default()
        })
        .unwrap();
        assert!(f
            .process_line("login from 192.0.2.4", 0.0)
            .failures
            .is_empty());
        let r = f.process_line("failed", 0.0);
        assert_eq!(r.failures.len(), 1);
        assert_eq!(
            r.failures[0].lines,
            vec!["login from 192.0.2.4".to_string(), "failed".to_string()]
        );
        // The matched lines left the buffer.
        assert!(f.process_line("failed", 0.0).failures.is_empty());
    }

    #[test]
    fn the_single_line_path_answers_as_the_general_path() {
        // Prefregexes with and without content (one filled by an `alt_*` group), an
        // ignoreregex tried before and one after the failregexes, multi-line connections,
        // every regex tried or the first match only: each filter runs the same lines on both
        // paths, and every result must be the same.
        let pref = r"^\s*(?:<F-MLFID>\[\d+\]</F-MLFID> )?(?:ERR: )?<F-CONTENT>.+</F-CONTENT>$";
        let alt_pref =
            r"^(?:<F-ALT_CONTENT>x .*</F-ALT_CONTENT>|(?:ERR: )?<F-CONTENT>.*</F-CONTENT>)$";
        let fails = [
            r"^<F-NOFAIL>connect</F-NOFAIL> from <HOST>$",
            r"^failed user <F-USER>\S+</F-USER>(?: from <HOST>)?$",
            r"^(?:x )?bad login from <HOST> port \d+$",
            r"login from <HOST>",
            r"^<F-MLFFORGET>closed</F-MLFFORGET>(?: by <HOST>)?$",
        ];
        let specs = [
            (None, vec![], 1),
            (Some(pref), vec![], 1),
            (Some(pref), vec![r"port 4\d+$"], 1),
            (Some(alt_pref), vec![], 1),
            (None, vec![r"from 192\.0\.2\.7\b"], 1),
            (Some(pref), vec![r"user u1\d", r"^never$"], 0),
        ];
        let mut lines = Vec::new();
        for i in 0..2000u32 {
            let date = match i % 4 {
                0 => String::new(),
                _ => format!("May {:2} 10:{:02}:{:02} ", 1 + i % 28, i % 60, i % 59),
            };
            let conn = format!("[{}] ", i % 13);
            let body = match i % 9 {
                0 => format!("{conn}connect from 192.0.2.{}", i % 250),
                1 => format!("{conn}failed user u{i}"),
                2 => format!("{conn}ERR: failed user u{i} from 2001:db8::{:x}", i),
                3 => format!("x bad login from 192.0.2.{} port {i}", i % 9),
                4 => format!(
                    "{conn}closed{}",
                    if i % 2 == 0 { " by 192.0.2.9" } else { "" }
                ),
                5 => format!("ERR: bad login from 192.0.2.{} port {i}", i % 11),
                6 => "session opened for user root".to_string(),
                7 => format!("x login from 192.0.2.{}", i % 5),
                _ => String::new(),
            };
            lines.push(format!("{date}{body}"));
        }
        let now = 1_716_000_000.0;
        let mut compared = 0;
        for (prefregex, ignore, maxlines) in &specs {
            for all in [false, true] {
                let make = || {
                    let mut f = Filter::new(&FilterSpec {
                        failregex: fails.iter().map(|s| s.to_string()).collect(),
                        ignoreregex: ignore.iter().map(|s| s.to_string()).collect(),
                        prefregex: prefregex.map(str::to_string),
                        maxlines: *maxlines,
                        ..Default::default()
                    })
                    .unwrap();
                    f.set_check_all_regex(all);
                    f
                };
                let mut general = make();
                general.matching.lean = false;
                let mut lean = make();
                assert!(lean.matching.lean);
                for line in &lines {
                    let want = general.process_line(line, now);
                    let got = lean.process_line(line, now);
                    assert_eq!(got, want, "{line:?} ({prefregex:?}, {ignore:?}, all {all})");
                    compared += usize::from(!want.failures.is_empty() || want.ignored);
                }
            }
        }
        assert!(compared > 2000, "{compared}");
    }

    #[test]
    fn bookkeeping_groups_only_change_nothing_but_the_failures_groups_and_users() {
        // A prefregex with its own groups, failregexes with groups the bookkeeping reads (user,
        // host, nofail, mlfid) and others (port, alt_user): the results must be the same but
        // for the failures' groups, left empty (users still come from `alt_*` groups).
        let pref = r"^\s*(?:<F-MLFID>\[\d+\]</F-MLFID> )?(?:pid=<F-PID>\d+</F-PID> )?(?:by <F-USER>\w+</F-USER> )?<F-CONTENT>.+</F-CONTENT>$";
        let fails = [
            r"^<F-NOFAIL>connect</F-NOFAIL> from <HOST> port <F-PORT>\d+</F-PORT>$",
            r"^failed (?:user <F-USER>\S+</F-USER>|ruser <F-ALT_USER>\S+</F-ALT_USER>)(?: from <HOST>)?$",
            r"^bad login from <HOST>(?: as <F-ALT_USER_2>\w+</F-ALT_USER_2>)?$",
            r"^logout(?: user <F-USER>\S+</F-USER>)? from <HOST>$",
        ];
        let make = || {
            Filter::new(&FilterSpec {
                failregex: fails.iter().map(|s| s.to_string()).collect(),
                prefregex: Some(pref.to_string()),
                maxlines: 1,
                ..Default::default()
            })
            .unwrap()
        };
        let mut all = make();
        let mut few = make();
        few.keep_bookkeeping_groups_only();
        let now = 1_716_000_000.0;
        let mut failures = 0;
        for i in 0..900u32 {
            // The prefregex's `user` meets a failregex with a `user` of its own (that may not
            // take part: it then overrides the prefregex's) and ones without.
            let body = match i % 9 {
                0 => format!("[{}] connect from 192.0.2.{} port {i}", i % 7, i % 200),
                1 => format!("[{}] pid={i} failed user u{i}", i % 7),
                2 => format!("[{}] failed ruser r{i} from 192.0.2.{}", i % 7, i % 9),
                3 => format!("bad login from 2001:db8::{:x} as a{i}", i),
                4 => format!("pid={i} bad login from 192.0.2.3"),
                5 => format!(
                    "[{}] by b{i} failed ruser r{i} from 192.0.2.{}",
                    i % 7,
                    i % 9
                ),
                6 => format!("[{}] by b{i} bad login from 192.0.2.{}", i % 7, i % 5),
                7 => format!("[{}] by b{i} logout from 192.0.2.{}", i % 7, i % 5),
                _ => "something else".to_string(),
            };
            let line = format!("May {:2} 10:00:{:02} {body}", 1 + i % 28, i % 60);
            let want = all.process_line(&line, now);
            let mut got = few.process_line(&line, now);
            assert_eq!(got.failures.len(), want.failures.len(), "{line}");
            for (g, w) in got.failures.iter_mut().zip(&want.failures) {
                assert!(g.groups.is_empty() && g.users.is_empty(), "{line}");
                g.groups = w.groups.clone();
                g.users = w.users.clone();
            }
            assert_eq!(got, want, "{line}");
            failures += want.failures.len();
        }
        assert!(failures > 300, "{failures}");
        // Both kinds of dict were used: the failregexes sharing `user` with the prefregex, and
        // the ones with an `alt_*` group, keep the full one.
        assert_eq!(few.matching.present_only, [true, false, false, false]);
    }
}
