//! A filter run the way `fail2ban-regex` runs one, for `warden regex`.
//!
//! `fail2ban-regex` does not stop at the first failregex that matches a line, as the daemon
//! does: it tries every failregex on every line (Fail2Ban's `checkAllRegex`), so that it can
//! report how often each regex hits, and it reports a match whose host is still unknown (a
//! multi-line failure waiting for its host) instead of holding it back. Both change the
//! numbers it prints (a line matched by a regex that says `<F-NOFAIL>` and by another one
//! counts as ignored; a pending match counts as matched), so `warden regex` needs this
//! variant of [`Filter`] to print the same numbers. With `--out` it switches
//! back to the daemon's first-match rules, as `fail2ban-regex` does.
//!
//! Host names are not resolved here (the crate does no I/O): a match names the text to
//! resolve and the caller decides whether it counts, as `fail2ban-regex` drops a match
//! whose name does not resolve.
//!
//! # Speed
//!
//! The tool reads whole logs, so the single-line path (`maxlines = 1`, nearly every filter)
//! is built for throughput while computing exactly what the general path computes:
//!
//! - capture groups come from a PCRE2 JIT copy of each regex with reused capture slots
//!   (`Searcher`), about ten times cheaper than the `regex` crate's capture engines;
//! - the filter's prefilter rules out lines no failregex can match, and names the candidate
//!   failregexes of the others (a [`regex::RegexSet`] pass does it for a filter without one);
//! - this module copies and allocates nothing for a line no failregex matches; match details
//!   (groups, lines) are only built when asked for ([`ToolOptions::details`]);
//! - the work is split in two stages, [`Preparer`] (date, prefilter) and [`Finisher`]
//!   (everything with state that the failregexes need), which may run on two threads; the
//!   stateless searches (prefregex, failregexes, ignoreregexes) run in the first stage on one
//!   thread and in the second on two ([`RegexTool::balanced_stages`]).

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::date::convert::{parse_zone, TimeError};
use crate::date::{DateDetector, TimeCache};
use crate::dialect::{self, Dialect};
use crate::filter::{
    named_groups, split_matched_lines, CompiledRegex, Dict, GroupName, GroupSelection,
    BOOKKEEPING_GROUPS,
};
use crate::matcher::{Captures, Engine, OwnSlots};
use crate::multiline::{FailData, Groups, MlfidCache};
use crate::prefilter::Prefilter;
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
    /// Fill [`ToolMatch::groups`] and [`ToolMatch::lines`] (a summary needs neither).
    pub details: bool,
    /// Fill [`ToolLine::prefregex_groups`] (`fail2ban-regex -v` lists them).
    pub prefregex_groups: bool,
    /// Give [`ToolHost::Id`] its text and [`ToolMatch::ip`] its address (a summary that
    /// shows no ids only counts failures: the id is left empty then, and `ip` `None`). A name
    /// to look up is always given.
    pub host_ids: bool,
}

impl Default for ToolOptions {
    fn default() -> Self {
        ToolOptions {
            check_all: true,
            ignore_pending: false,
            raw_hosts: false,
            details: true,
            host_ids: true,
            prefregex_groups: false,
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
    /// included, `<SKIPLINES>` groups left out (empty without [`ToolOptions::details`]).
    pub groups: BTreeMap<String, String>,
    /// The match says "not a failure" (`<F-NOFAIL>`, `<F-MLFGAINED>`).
    pub nofail: bool,
    /// The log lines that make up the failure, as read (empty without
    /// [`ToolOptions::details`]).
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
    /// With [`ToolOptions::prefregex_groups`], when the prefregex counts as matched: its
    /// groups, `content` included (when an ignoreregex stopped the line before the prefregex
    /// ran, those of its last match, as `fail2ban-regex` reports them).
    pub prefregex_groups: Option<Vec<(String, Option<String>)>>,
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

/// One regex prepared for searching many lines.
///
/// On the single-line path each regex also gets a PCRE2 JIT copy with capture slots reused
/// from line to line: the `regex` crate finds out *whether* a line matches quickly, but
/// extracting capture groups (which Fail2Ban needs from every prefregex and failregex match)
/// costs it about ten times what the JIT takes. The translation to PCRE2 is exact for
/// Fail2Ban's dialect (the corpus gives Python's spans and groups with both engines); a
/// search the JIT abandons at its match limit is redone on the regex's own engine.
#[derive(Debug)]
struct Searcher {
    jit: Option<OwnSlots>,
    caps: Option<Captures>,
    /// Did the last search use the JIT (spans in `jit`) or the compiled regex (`caps`)?
    from_jit: bool,
    names: Vec<Option<String>>,
    /// The same names as dicts share them.
    dict_names: Vec<Option<GroupName>>,
    /// `alt_NAME[_N]` groups and the group they fill (`<F-ALT_*>`), sorted.
    alternates: Vec<(GroupName, GroupName)>,
    /// [`Self::restrict`]: the groups extracted.
    restricted: Option<GroupSelection>,
    /// [`Self::restricted_dict`] leaves out groups that did not take part (see
    /// [`GroupSelection::present_only_is_exact`]).
    present_only: bool,
}

/// A PCRE2 JIT copy of single-line regex `r` with capture slots of its own, if it compiles
/// with the same groups: the one `r` has already (sharing its compiled code), or a new one.
fn jit_slots(r: &CompiledRegex) -> Option<OwnSlots> {
    if let Some(regex) = r.pcre2_regex() {
        return Some(OwnSlots::new(regex.clone()));
    }
    let t = dialect::translate(r.expanded(), Dialect::Pcre2, false).ok()?;
    let limited = crate::matcher::limited_pattern(&t.pattern);
    let regex = crate::matcher::Pcre2Code::build(&limited).ok()?;
    if regex.capture_names() != r.group_names() {
        return None;
    }
    Some(OwnSlots::new(regex))
}

impl Searcher {
    /// A single-line searcher for a prefregex: see [`OwnSlots::without_content_tail`].
    fn for_prefregex(r: &CompiledRegex) -> Searcher {
        let mut s = Searcher::new(r, true);
        if let Some(cut) = crate::filter::content_tail_slots(r) {
            s.jit = Some(cut);
        }
        s
    }

    fn new(r: &CompiledRegex, single_line: bool) -> Searcher {
        let names = r.group_names().to_vec();
        let (dict_names, alternates) = r.dict_names();
        let (dict_names, alternates) = (dict_names.to_vec(), alternates.to_vec());
        Searcher {
            jit: if single_line { jit_slots(r) } else { None },
            caps: None,
            from_jit: false,
            names,
            dict_names,
            alternates,
            restricted: None,
            present_only: false,
        }
    }

    /// Extract only the groups named in `keep` from now on (see [`Self::restricted_dict`]).
    fn restrict(mut self, keep: &[&str]) -> Searcher {
        self.restricted = Some(GroupSelection::only(&self.names, keep));
        self
    }

    /// The groups of the last match limited as [`Self::restrict`] said (all without it).
    fn restricted_dict(&self, text: &str) -> Dict {
        self.restricted_dict_with(text, |i| self.get(i))
    }

    /// [`Self::restricted_dict`] of a match whose group spans `get` gives.
    fn restricted_dict_with(
        &self,
        text: &str,
        get: impl Fn(usize) -> Option<(usize, usize)>,
    ) -> Dict {
        match &self.restricted {
            Some(selection) => selection.dict(text, get, self.present_only),
            None => named_groups(&self.dict_names, &self.alternates, text, get),
        }
    }

    /// Search `text`; on a match the spans stay available through [`Self::get`].
    fn search(&mut self, r: &CompiledRegex, text: &str) -> bool {
        self.search_known(r, text, false)
    }

    /// [`Self::search`] of a text known to be all ASCII when `ascii` is true (see
    /// [`OwnSlots::search_known`]).
    fn search_known(&mut self, r: &CompiledRegex, text: &str, ascii: bool) -> bool {
        if let Some(jit) = &mut self.jit {
            // An error is the match limit: the regex's own engine decides then.
            if let Ok(found) = jit.search_known(text, ascii) {
                self.from_jit = true;
                return found;
            }
        }
        self.from_jit = false;
        self.caps = r.search(text);
        self.caps.is_some()
    }

    fn get(&self, i: usize) -> Option<(usize, usize)> {
        match (&self.jit, self.from_jit) {
            (Some(jit), true) => jit.get(i),
            _ => self.caps.as_ref().and_then(|c| c.get(i)),
        }
    }

    fn span(&self) -> (usize, usize) {
        self.get(0).unwrap_or((0, 0))
    }

    fn index_of(&self, name: &str) -> Option<usize> {
        self.names.iter().position(|n| n.as_deref() == Some(name))
    }

    /// Named groups of the last match (see [`group_dict`]).
    fn group_dict(&self, text: &str) -> Dict {
        named_groups(&self.dict_names, &self.alternates, text, |i| self.get(i))
    }

    /// The spans of every group of the last match.
    fn copy_spans(&self, out: &mut Vec<Option<(usize, usize)>>) {
        out.clear();
        out.extend((0..self.names.len()).map(|i| self.get(i)));
    }
}

/// All failregexes the `regex` crate runs, in one set: one pass over a line tells which of
/// them can match, so the others are not searched one by one.
#[derive(Debug)]
struct FailSet {
    set: regex::RegexSet,
    /// Failregex index → index in the set.
    slot: Vec<Option<usize>>,
    hits: Vec<bool>,
}

impl FailSet {
    fn new(regexes: &[CompiledRegex]) -> Option<FailSet> {
        let mut patterns = Vec::new();
        let mut slot = Vec::new();
        for r in regexes {
            if r.engine() == Engine::Regex {
                slot.push(Some(patterns.len()));
                patterns.push(r.translated().to_string());
            } else {
                slot.push(None);
            }
        }
        if patterns.len() < 2 {
            return None;
        }
        let set = regex::RegexSetBuilder::new(&patterns)
            .size_limit(64 << 20)
            .dfa_size_limit(32 << 20)
            .build()
            .ok()?;
        let hits = vec![false; patterns.len()];
        Some(FailSet { set, slot, hits })
    }

    /// Scan `text` once.
    fn scan(&mut self, text: &str) {
        self.hits.iter_mut().for_each(|h| *h = false);
        self.set.matches_read_at(&mut self.hits, text, 0);
    }

    /// Can failregex `i` match the scanned text? (Always true for those not in the set.)
    fn may_match(&self, i: usize) -> bool {
        self.slot[i].is_none_or(|s| self.hits[s])
    }
}

/// Which buffered lines a match covers, and which stay (Fail2Ban's `Regex.search`).
fn split_matched(
    searcher: &Searcher,
    buf: &str,
    org: &[TupleLine],
) -> (Vec<TupleLine>, Vec<TupleLine>) {
    split_matched_lines(
        buf,
        searcher.span(),
        &searcher.names,
        |i| searcher.get(i),
        org,
        |l, t| l.without_date_eq(t),
    )
}

/// A dict with names of its own, as [`ToolLine::prefregex_groups`] has them.
fn owned_names(dict: Dict) -> Vec<(String, Option<String>)> {
    dict.into_iter()
        .map(|(n, v)| (n.to_string(), v.map(String::from)))
        .collect()
}

fn is_skiplines(name: &str) -> bool {
    name.strip_prefix("skiplines")
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// What to do after a failregex matched.
enum Next {
    /// Try the next failregex.
    Continue,
    /// Stop trying failregexes on this line.
    Stop,
}

/// A line after the first stage ([`Preparer`]): cut around its date, and on the single-line
/// path checked by the prefilter and (unless they moved to the second stage) searched by the
/// prefregex and failregexes. Reused from line to line.
#[derive(Debug, Default)]
pub struct Prepared {
    tuple: TupleLine,
    /// The time failures on the line get.
    date: Option<f64>,
    /// Fail2Ban fails on the line (a date with an unknown zone abbreviation): it yields
    /// nothing.
    dropped: bool,
    /// Single-line path: the searched text (the line without its date, plus `\n`).
    text: String,
    /// Single-line path: did the prefregex match `text` (`None`: no prefregex)?
    pref: Option<bool>,
    /// Its groups' spans in `text`.
    pref_spans: Vec<Option<(usize, usize)>>,
    /// Single-line path: the prefilter ruled the line out (no failregex can match it); `pref`
    /// then only says whether the prefregex matches, and `pref_spans` are not filled.
    skip: bool,
    /// Single-line path with a prefilter: which failregexes may match (`None`: any may).
    candidates: Option<Vec<bool>>,
    /// The failregex and ignoreregex searches ran in this stage (single-line path, every
    /// regex tried): what follows holds their results.
    staged: bool,
    /// [`Searches::run`] ran on the line in the first stage.
    searched: bool,
    /// Ignoreregexes that matched before the failregexes were tried (when they run first).
    early_ignore: Vec<usize>,
    /// The failregexes that matched, in order.
    hits: Vec<Hit>,
    /// Scratch: the prefregex's `<F-CONTENT>` plus `\n`.
    content: String,
    /// Single-line path: is `text` all ASCII (and so every part of it searched)? Found out
    /// at the line's first search, for all of them.
    ascii: Option<bool>,
}

impl Prepared {
    /// Is `text` all ASCII? (See [`OwnSlots::search_known`].)
    fn ascii(&mut self) -> bool {
        *self.ascii.get_or_insert_with(|| self.text.is_ascii())
    }
}

/// A failregex that matched a line (found by [`Searches::run`]).
#[derive(Debug, Default)]
struct Hit {
    index: usize,
    groups: Dict,
    /// The ignoreregexes that matched the same text.
    ignore_hits: Vec<usize>,
}

/// The first stage of a line: the date (the detector and the last date carry over from
/// line to line) and, on the single-line path, the prefilter and the stateless searches
/// (unless [`RegexTool::balanced_stages`] moved those to the second stage). [`Finisher`] does
/// the rest; the two can run on two threads, one line apart or more.
#[derive(Debug)]
pub struct Preparer {
    dates: DateDetector,
    time_cache: TimeCache,
    last_date: Option<f64>,
    last_date_text: String,
    /// Single-line path: rules out lines no failregex (nor an ignoreregex that runs first)
    /// can match.
    prefilter: Option<Prefilter>,
    single: bool,
    /// Fill [`Prepared::tuple`]: the multi-line path buffers it, and a failure's details
    /// show it; a single-line summary needs only the searched text.
    keep_tuple: bool,
    /// Single-line path: the stateless searches, in this stage unless
    /// [`RegexTool::balanced_stages`] moved them to the second.
    searches: Option<Searches>,
}

/// The searches of a single-line path that need no state from line to line: the prefregex,
/// and, when every regex is tried, the failregexes and ignoreregexes.
#[derive(Debug)]
struct Searches {
    /// The filter's prefregex (shared) and a searcher for it.
    prefregex: Option<(Arc<Filter>, Searcher)>,
    /// The prefregex matches every non-empty line (see
    /// [`crate::prefilter::matches_every_nonempty_line`]): on a line the prefilter ruled out,
    /// where only whether it matches counts, it need not run.
    prefregex_matches_every_line: bool,
    /// Every regex tried: the failregex and ignoreregex searches, with searchers of their
    /// own.
    staged: Option<Staged>,
}

impl Searches {
    /// Run on a line the first stage cut around its date and ran the prefilter on.
    fn run(&mut self, p: &mut Prepared) {
        self.run_prefregex(p);
        self.run_staged(p);
    }

    /// The prefregex's part of [`Self::run`].
    fn run_prefregex(&mut self, p: &mut Prepared) {
        let skip = p.skip;
        let every_line = self.prefregex_matches_every_line;
        p.pref = self.prefregex.as_mut().map(|(filter, searcher)| {
            if skip && every_line {
                let one_line = |l: &&str| memchr::memchr(b'\n', l.as_bytes()).is_none();
                if let Some(line) = p.text.strip_suffix('\n').filter(one_line) {
                    return !line.is_empty();
                }
            }
            let r = filter.prefregex().expect("kept only with a prefregex");
            let ascii = p.ascii();
            let found = searcher.search_known(r, &p.text, ascii);
            if found && !skip {
                searcher.copy_spans(&mut p.pref_spans);
            }
            found
        });
    }

    /// The failregexes' and ignoreregexes' part of [`Self::run`], after the prefregex's.
    fn run_staged(&mut self, p: &mut Prepared) {
        p.staged = false;
        if let Some(staged) = self.staged.as_mut().filter(|_| !p.skip) {
            staged.search(p);
        }
    }
}

/// The searchers of [`Searches`] for the failregexes and ignoreregexes.
#[derive(Debug)]
struct Staged {
    filter: Arc<Filter>,
    failregex: Vec<Searcher>,
    ignoreregex: Vec<Searcher>,
    /// Index of the prefregex's `content` group.
    content_group: Option<usize>,
}

impl Staged {
    /// Run the failregexes and ignoreregexes on a prepared line (`p.text`, prefregex done).
    fn search(&mut self, p: &mut Prepared) {
        p.staged = true;
        p.early_ignore.clear();
        p.hits.clear();
        let (fails, ignores) = (self.filter.failregexes(), self.filter.ignoreregexes());
        let (n_fail, n_ignore) = (fails.len(), ignores.len());
        if n_ignore > 0 && n_ignore + 2 < n_fail {
            let ascii = p.ascii();
            for (i, r) in ignores.iter().enumerate() {
                if self.ignoreregex[i].search_known(r, &p.text, ascii) {
                    p.early_ignore.push(i);
                }
            }
            if !p.early_ignore.is_empty() {
                return;
            }
        }
        if p.pref == Some(false) {
            return;
        }
        let ascii = p.ascii();
        let content_span = self
            .content_group
            .filter(|_| p.pref == Some(true))
            .and_then(|i| p.pref_spans.get(i).copied().flatten())
            .filter(|(s, e)| s < e);
        let searched: &str = match content_span {
            Some((s, e)) => {
                p.content.clear();
                p.content.push_str(&p.text[s..e]);
                p.content.push('\n');
                &p.content
            }
            None => &p.text,
        };
        let candidates = p.candidates.as_deref().filter(|_| !p.skip);
        for (index, regex) in fails.iter().enumerate() {
            if candidates.is_some_and(|c| !c.get(index).copied().unwrap_or(true)) {
                continue;
            }
            if !self.failregex[index].search_known(regex, searched, ascii) {
                continue;
            }
            let groups = self.failregex[index].restricted_dict(searched);
            let mut ignore_hits = Vec::new();
            for (i, r) in ignores.iter().enumerate() {
                if self.ignoreregex[i].search_known(r, searched, ascii) {
                    ignore_hits.push(i);
                }
            }
            p.hits.push(Hit {
                index,
                groups,
                ignore_hits,
            });
        }
    }
}

impl Preparer {
    /// Cut `line` around its date into `p` (and search it with the prefregex).
    pub fn prepare(&mut self, line: &str, now: f64, p: &mut Prepared) {
        self.prepare_known(line, false, now, p);
    }

    /// [`Self::prepare`] of a line known to be all ASCII when `ascii` is true (its reader
    /// checked it with the others around it; `false` says nothing).
    pub fn prepare_known(&mut self, line: &str, ascii: bool, now: f64, p: &mut Prepared) {
        debug_assert!(!ascii || line.is_ascii());
        p.dropped = false;
        p.skip = false;
        p.staged = false;
        p.searched = false;
        p.date = None;
        // The searched text is part of the line (and `\n`).
        p.ascii = ascii.then_some(true);
        let m = self.dates.match_time(line, now);
        // Where the line is cut: around its date, or not at all, with the previous line's
        // date text in front (`None`) or nothing.
        let mut cut: Option<(usize, usize)> = Some((0, 0));
        if let Some((m, (s, e))) = m.as_ref().and_then(|m| Some((m, m.date_span()?))) {
            cut = Some((s, e));
            if s < e {
                match self.time_cache.time(&self.dates, line, m, now) {
                    Ok(t) => {
                        p.date = Some(t);
                        self.last_date = Some(t);
                        self.last_date_text.clear();
                        self.last_date_text.push_str(&line[s..e]);
                    }
                    Err(TimeError::Invalid) => {}
                    Err(TimeError::UnknownZone(_)) => {
                        p.dropped = true;
                        return;
                    }
                }
            } else if let Some(last) = self.last_date.filter(|d| *d > now - 60.0) {
                cut = None;
                p.date = Some(last);
            } else {
                p.date = Some(now);
            }
        }
        if p.date.is_none() {
            if let Some(last) = self.last_date.filter(|d| *d > now - 60.0) {
                cut = None;
                p.date = Some(last);
            }
        }
        let (before, after) = match cut {
            Some((s, e)) => (&line[..s], &line[e..]),
            None => ("", line),
        };
        if self.keep_tuple {
            let date = match cut {
                Some((s, e)) => &line[s..e],
                None => self.last_date_text.as_str(),
            };
            p.tuple.set(before, date, after);
        }
        if self.single {
            // The searched text: the line without its date, and `\n` (as `fill_buffer` makes
            // it of a one-line buffer).
            p.text.clear();
            p.text.push_str(before);
            p.text.push_str(after);
            p.text.push('\n');
            p.skip = false;
            if let Some(f) = &self.prefilter {
                p.skip = f
                    .check(&p.text, p.candidates.get_or_insert_with(Vec::new))
                    .is_none();
            }
            if let Some(searches) = &mut self.searches {
                searches.run(p);
                p.searched = true;
            }
        }
    }

    /// The date detector (templates with their hit counts).
    pub fn date_detector(&self) -> &DateDetector {
        &self.dates
    }
}

/// The second stage of a line: failregexes, ignoreregexes, the multi-line buffer and the
/// multi-line failure store.
#[derive(Debug)]
pub struct Finisher {
    filter: Arc<Filter>,
    options: ToolOptions,
    maxlines: usize,
    buffer: Vec<TupleLine>,
    /// The prefregex: on the multi-line path it runs here, on the buffer; on the single-line
    /// path the first stage ran it and this reads its groups.
    prefregex: Option<Searcher>,
    failregex: Vec<Searcher>,
    ignoreregex: Vec<Searcher>,
    fail_set: Option<FailSet>,
    /// The stateless searches, when [`RegexTool::balanced_stages`] moved them here from the
    /// first stage.
    searches: Option<Searches>,
    /// Scratch: the searched text, and the prefregex's `<F-CONTENT>`.
    text: String,
    content: String,
    mlfid_cache: MlfidCache<Arc<TupleLine>>,
    prefregex_matched: bool,
    /// The prefregex's groups at its last match (with [`ToolOptions::prefregex_groups`]).
    last_prefregex_groups: Vec<(String, Option<String>)>,
}

/// A filter that runs lines as `fail2ban-regex` does (see the module docs).
#[derive(Debug)]
pub struct RegexTool {
    preparer: Preparer,
    finisher: Finisher,
    prepared: Prepared,
}

impl RegexTool {
    /// Compile `spec` (errors as [`Filter::new`] reports them).
    pub fn new(spec: &FilterSpec, options: ToolOptions) -> Result<RegexTool, Vec<FilterError>> {
        let filter = Arc::new(Filter::new(spec)?);
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
        let maxlines = spec.maxlines.max(1);
        let single = maxlines == 1;
        let searchers = |rs: &[CompiledRegex]| -> Vec<Searcher> {
            rs.iter().map(|r| Searcher::new(r, single)).collect()
        };
        let prefregex = match (single, filter.prefregex()) {
            (true, Some(r)) => Some((filter.clone(), Searcher::for_prefregex(r))),
            _ => None,
        };
        let prefregex_every_line = filter
            .prefregex()
            .is_some_and(|r| crate::prefilter::matches_every_nonempty_line(r.expanded()));
        // Filter::new built it for the same spec (single-line filters only).
        let prefilter = filter
            .prefilter()
            .filter(|_| !options.prefregex_groups)
            .cloned();
        // The set tells which failregexes to try where the prefilter does not.
        let fail_set = if single && options.check_all && prefilter.is_none() {
            FailSet::new(filter.failregexes())
        } else {
            None
        };
        // The prefregex's groups as the bookkeeping reads them (see `Finisher::prefregex`).
        let pref_selection = filter
            .prefregex()
            .map(|r| GroupSelection::only(r.group_names(), &BOOKKEEPING_GROUPS));
        let staged = (single && options.check_all).then(|| Staged {
            filter: filter.clone(),
            // Without details, only the groups the bookkeeping reads are extracted, and those
            // that took part when that is exact (only values are read once merged).
            failregex: searchers(filter.failregexes())
                .into_iter()
                .map(|s| {
                    if options.details {
                        return s;
                    }
                    let mut s = s.restrict(&BOOKKEEPING_GROUPS);
                    s.present_only = s
                        .restricted
                        .as_ref()
                        .is_some_and(|g| g.present_only_is_exact(pref_selection.as_ref()));
                    s
                })
                .collect(),
            ignoreregex: searchers(filter.ignoreregexes()),
            content_group: filter.prefregex().and_then(|r| r.group_index("content")),
        });
        let finisher = Finisher {
            // Single-line path: only for the names of its groups.
            // Without details, only the groups the bookkeeping reads are extracted.
            prefregex: filter.prefregex().map(|r| {
                let s = Searcher::new(r, false);
                if options.details {
                    s
                } else {
                    s.restrict(&BOOKKEEPING_GROUPS)
                }
            }),
            failregex: searchers(filter.failregexes()),
            ignoreregex: searchers(filter.ignoreregexes()),
            fail_set,
            searches: None,
            filter,
            options,
            maxlines,
            buffer: Vec::new(),
            text: String::new(),
            content: String::new(),
            mlfid_cache: MlfidCache::default(),
            prefregex_matched: false,
            last_prefregex_groups: Vec::new(),
        };
        Ok(RegexTool {
            preparer: Preparer {
                dates,
                time_cache: TimeCache::default(),
                last_date: None,
                last_date_text: String::new(),
                prefilter,
                single,
                keep_tuple: !single || options.details,
                searches: single.then(|| Searches {
                    prefregex_matches_every_line: prefregex_every_line,
                    prefregex,
                    staged,
                }),
            },
            finisher,
            prepared: Prepared::default(),
        })
    }

    /// The compiled filter (its regexes, for display).
    pub fn filter(&self) -> &Filter {
        &self.finisher.filter
    }

    /// The date detector (templates with their hit counts).
    pub fn date_detector(&self) -> &DateDetector {
        &self.preparer.dates
    }

    /// `maxlines`.
    pub fn maxlines(&self) -> usize {
        self.finisher.maxlines
    }

    /// Did the prefregex match when it was last tried? (`fail2ban-regex` counts it per
    /// line, even for a line on which an ignoreregex stopped the search before it.)
    pub fn prefregex_matched(&self) -> bool {
        self.finisher.prefregex_matched
    }

    /// Process one line (without its newline). `now` is the wall clock, used for year-less
    /// dates, recent-date reuse and the multi-line store's expiry.
    pub fn process_line(&mut self, line: &str, now: f64) -> ToolLine {
        self.preparer.prepare(line, now, &mut self.prepared);
        self.finisher.finish(&mut self.prepared, now)
    }

    /// The two stages, to run on two threads: lines go through [`Preparer::prepare`] in
    /// order, then through [`Finisher::finish`] in the same order. Only on the single-line
    /// path (`maxlines = 1`), where the prefregex belongs to the first stage; `None`
    /// otherwise.
    pub fn stages(&mut self) -> Option<(&mut Preparer, &mut Finisher)> {
        self.preparer
            .single
            .then_some((&mut self.preparer, &mut self.finisher))
    }

    /// [`Self::stages`] for two threads: the failregex and ignoreregex searches move to the
    /// second stage, which otherwise has far less to do than the first (date detection,
    /// prefilter, prefregex); the prefregex stays in the first. The groups the failregexes
    /// find are then made and dropped on the same thread.
    pub fn balanced_stages(&mut self) -> Option<(&mut Preparer, &mut Finisher)> {
        if self.preparer.single && self.finisher.searches.is_none() {
            if let Some(first) = self.preparer.searches.as_mut() {
                self.finisher.searches = Some(Searches {
                    prefregex: None,
                    prefregex_matches_every_line: first.prefregex_matches_every_line,
                    staged: first.staged.take(),
                });
            }
        }
        self.stages()
    }

    /// Both stages, to run one after the other on one thread (any `maxlines`).
    pub fn split_stages(&mut self) -> (&mut Preparer, &mut Finisher) {
        (&mut self.preparer, &mut self.finisher)
    }
}

impl Finisher {
    /// The compiled filter.
    pub fn filter(&self) -> &Filter {
        &self.filter
    }

    /// See [`RegexTool::prefregex_matched`].
    pub fn prefregex_matched(&self) -> bool {
        self.prefregex_matched
    }

    /// Finish a line [`Preparer::prepare`] prepared.
    pub fn finish(&mut self, p: &mut Prepared, now: f64) -> ToolLine {
        let mut out = ToolLine::default();
        self.finish_into(p, now, &mut out);
        out
    }

    /// [`Self::finish`] into `out`, whose earlier contents are replaced (and whose vectors'
    /// room is kept: a caller reusing one `out` allocates nothing for most lines).
    pub fn finish_into(&mut self, p: &mut Prepared, now: f64, out: &mut ToolLine) {
        out.time = p.date;
        out.matches.clear();
        out.ignore_hits.clear();
        out.taken_earlier.clear();
        out.prefregex_groups = None;
        self.finish_line(p, now, out);
        if self.options.prefregex_groups && self.prefregex.is_some() && self.prefregex_matched {
            out.prefregex_groups = Some(self.last_prefregex_groups.clone());
        }
    }

    fn finish_line(&mut self, p: &mut Prepared, now: f64, out: &mut ToolLine) {
        if p.dropped {
            out.time = None;
            return;
        }
        if self.maxlines <= 1 {
            if let Some(searches) = self.searches.as_mut() {
                // After [`RegexTool::balanced_stages`], the first stage ran the prefregex.
                if p.searched {
                    searches.run_staged(p);
                } else {
                    searches.run(p);
                }
            }
            self.single_line_search(p, now, out);
            return;
        }
        let track = !self.options.ignore_pending;
        let before: Vec<TupleLine> = if track {
            let full = self.buffer.len() >= self.maxlines;
            self.buffer[usize::from(full)..].to_vec()
        } else {
            Vec::new()
        };
        self.buffer.push(p.tuple.clone());
        let excess = self.buffer.len().saturating_sub(self.maxlines);
        self.buffer.drain(..excess);
        self.find_failures(now, out);
        if track {
            out.taken_earlier = before
                .into_iter()
                .filter(|l| !self.buffer.contains(l))
                .map(|l| l.original())
                .collect();
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
            if !self.ignoreregex[i].search(r, buf) {
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

    /// The single-line case (`maxlines = 1`): the buffer is the current line only, so no
    /// line ever stays behind; the prefregex has run in the first stage.
    fn single_line_search(&mut self, p: &mut Prepared, now: f64, out: &mut ToolLine) {
        if p.staged {
            self.finish_staged(p, now, out);
            return;
        }
        if p.skip {
            // Nothing can match; only the prefregex's count needs its answer.
            if let Some(found) = p.pref {
                self.prefregex_matched = found;
            }
            return;
        }
        let ascii = p.ascii();
        let text = p.text.as_str();
        let n_fail = self.failregex.len();
        let n_ignore = self.ignoreregex.len();
        if n_ignore > 0 && n_ignore + 2 < n_fail && self.ignore_line(text, None, out) {
            return;
        }
        if !self.take_prefregex(p) {
            return;
        }
        let content_span = self
            .filter
            .prefregex()
            .and_then(|r| r.group_index("content"))
            .and_then(|i| p.pref_spans.get(i).copied().flatten())
            .filter(|(s, e)| s < e);
        let mut content = std::mem::take(&mut self.content);
        let searched: &str = match content_span {
            Some((s, e)) => {
                content.clear();
                content.push_str(&text[s..e]);
                content.push('\n');
                &content
            }
            None => text,
        };
        let candidates = p.candidates.as_deref();
        if candidates.is_none() {
            if let Some(set) = &mut self.fail_set {
                set.scan(searched);
            }
        }
        let mut pre_groups: Option<Dict> = None;
        let mut line: Option<Arc<TupleLine>> = None;
        for index in 0..n_fail {
            let possible = match candidates {
                Some(c) => c.get(index).copied().unwrap_or(true),
                None => self.fail_set.as_ref().is_none_or(|s| s.may_match(index)),
            };
            if !possible {
                continue;
            }
            let regex = &self.filter.failregexes()[index];
            if !self.failregex[index].search_known(regex, searched, ascii) {
                continue;
            }
            let groups = self.failregex[index].group_dict(searched);
            if n_ignore > 0 && self.ignore_line(searched, Some((&[], &[])), out) {
                if !self.options.check_all {
                    break;
                }
                continue;
            }
            let next = self.record_on_line(p, index, groups, &mut pre_groups, &mut line, now, out);
            if let Next::Stop = next {
                break;
            }
        }
        self.content = content;
    }

    /// Record the first stage's prefregex answer for the line (and its groups, when they are
    /// asked for). `false`: the prefregex did not match, nothing more to do.
    fn take_prefregex(&mut self, p: &Prepared) -> bool {
        let Some(found) = p.pref else {
            return true;
        };
        self.prefregex_matched = found;
        if found && self.options.prefregex_groups {
            if let Some(searcher) = &self.prefregex {
                let get = |i: usize| p.pref_spans.get(i).copied().flatten();
                self.last_prefregex_groups = owned_names(named_groups(
                    &searcher.dict_names,
                    &searcher.alternates,
                    &p.text,
                    get,
                ));
            }
        }
        found
    }

    /// The single-line case when the first stage ran the searches: only what has state
    /// (the multi-line failure store) is left, in the order [`Self::single_line_search`]
    /// would take it.
    fn finish_staged(&mut self, p: &mut Prepared, now: f64, out: &mut ToolLine) {
        if !p.early_ignore.is_empty() {
            out.ignore_hits.extend_from_slice(&p.early_ignore);
            return;
        }
        if !self.take_prefregex(p) {
            return;
        }
        let mut hits = std::mem::take(&mut p.hits);
        let mut pre_groups: Option<Dict> = None;
        let mut line: Option<Arc<TupleLine>> = None;
        for hit in hits.drain(..) {
            if !hit.ignore_hits.is_empty() {
                out.ignore_hits.extend_from_slice(&hit.ignore_hits);
                continue;
            }
            let next = self.record_on_line(
                p,
                hit.index,
                hit.groups,
                &mut pre_groups,
                &mut line,
                now,
                out,
            );
            if let Next::Stop = next {
                break;
            }
        }
        p.hits = hits;
    }

    /// [`Self::record`] a failregex match on the single-line path: the prefregex's groups and
    /// the line are made for the line's first failure, and again for a second one (every
    /// regex tried) only as far as needed.
    #[allow(clippy::too_many_arguments)]
    fn record_on_line(
        &mut self,
        p: &Prepared,
        index: usize,
        groups: Dict,
        pre_groups: &mut Option<Dict>,
        line: &mut Option<Arc<TupleLine>>,
        now: f64,
        out: &mut ToolLine,
    ) -> Next {
        let pre = pre_groups
            .take()
            .unwrap_or_else(|| self.prefregex_groups(p));
        // A failure's lines are only read for its details: without them, none are kept.
        let matched: &[Arc<TupleLine>] = if self.options.details {
            std::slice::from_ref(line.get_or_insert_with(|| Arc::new(p.tuple.clone())))
        } else {
            &[]
        };
        self.record(index, pre, groups, matched, now, out)
    }

    /// The prefregex's groups (without `content`) from the first stage's search.
    fn prefregex_groups(&self, p: &Prepared) -> Dict {
        let Some(searcher) = self.prefregex.as_ref().filter(|_| p.pref == Some(true)) else {
            return Vec::new();
        };
        let get = |i: usize| p.pref_spans.get(i).copied().flatten();
        let mut groups = searcher.restricted_dict_with(&p.text, get);
        groups.retain(|(n, _)| &**n != "content");
        groups
    }

    /// The general case (`maxlines > 1`): Fail2Ban's `findFailure` with its buffer.
    fn find_failures(&mut self, now: f64, out: &mut ToolLine) {
        let org = self.buffer.clone();
        let mut text = std::mem::take(&mut self.text);
        fill_buffer(&org, &mut text);
        let n_fail = self.failregex.len();
        let n_ignore = self.ignoreregex.len();
        if n_ignore > 0 && n_ignore + 2 < n_fail && self.ignore_line(&text, None, out) {
            self.text = text;
            return;
        }
        let mut pre_groups = Vec::new();
        // Is `text` the current buffer's text?
        let mut fresh = true;
        if let (Some(pref), Some(searcher)) = (self.filter.prefregex(), self.prefregex.as_mut()) {
            self.prefregex_matched = searcher.search(pref, &text);
            if !self.prefregex_matched {
                self.text = text;
                return;
            }
            pre_groups = searcher.group_dict(&text);
            if self.options.prefregex_groups {
                self.last_prefregex_groups = owned_names(pre_groups.clone());
            }
            let content = searcher
                .index_of("content")
                .and_then(|i| searcher.get(i))
                .filter(|(s, e)| s < e);
            pre_groups.retain(|(n, _)| &**n != "content");
            if let Some((s, e)) = content {
                self.buffer = vec![TupleLine {
                    after: text[s..e].to_string(),
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
            if !self.failregex[index].search(regex, &text) {
                continue;
            }
            let groups = self.failregex[index].group_dict(&text);
            let (matched, unmatched) = split_matched(&self.failregex[index], &text, &org);
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
            let matched: Vec<Arc<TupleLine>> = matched.into_iter().map(Arc::new).collect();
            let pre = pre_groups.clone();
            if let Next::Stop = self.record(index, pre, groups, &matched, now, out) {
                break;
            }
        }
        self.text = text;
    }

    /// Record failregex `index`'s match (Fail2Ban's `findFailure` after the ignore check):
    /// merge multi-line failures, find the host, and say whether to try further regexes.
    fn record(
        &mut self,
        index: usize,
        pre_groups: Dict,
        groups: Dict,
        matched: &[Arc<TupleLine>],
        now: f64,
        out: &mut ToolLine,
    ) -> Next {
        // Failregex groups override prefregex groups of the same name, even when empty.
        let mut merged = Groups::merged(groups, pre_groups);
        // From here on a group that did not take part reads as absent (and a failure's groups
        // are reported without them): nothing to store or merge for it.
        merged.retain(|_, v| v.is_some());
        let mut fail = FailData::from_groups(merged);
        let mlfid = fail.get("mlfid");
        let options = self.options;
        let next = if options.check_all {
            Next::Continue
        } else {
            Next::Stop
        };
        // The merged failure, lent by the multi-line store when it keeps it.
        let fail: std::borrow::Cow<'_, FailData<Arc<TupleLine>>> = match &mlfid {
            Some(id) => {
                let merged = self.mlfid_cache.merge(id, fail, matched, now);
                if merged.truthy("nofail") && !options.check_all {
                    return Next::Stop;
                }
                merged
            }
            None => {
                if options.details {
                    fail.matches = Some(matched.to_vec());
                }
                std::borrow::Cow::Owned(fail)
            }
        };
        let host = host_of(&fail, options.raw_hosts, options.host_ids);
        if host.is_none() && options.ignore_pending {
            drop(fail);
            if let Some(id) = &mlfid {
                self.mlfid_cache.mark_pending(id);
            }
            return next;
        }
        let nofail = fail.truthy("nofail");
        let (groups, lines) = if options.details {
            let fail = fail.into_owned();
            let groups = fail
                .groups
                .into_iter()
                .filter(|(k, _)| !is_skiplines(k))
                .filter_map(|(k, v)| Some((k.to_string(), String::from(v?))))
                .collect();
            let lines = fail
                .matches
                .unwrap_or_default()
                .iter()
                .map(|l| l.original())
                .collect();
            (groups, lines)
        } else {
            drop(fail);
            (BTreeMap::new(), Vec::new())
        };
        let (host, ip) = match host {
            Some(h) => h,
            None => {
                if let Some(id) = &mlfid {
                    self.mlfid_cache.mark_pending(id);
                }
                (ToolHost::Pending, None)
            }
        };
        out.matches.push(ToolMatch {
            regex_index: index,
            host,
            ip,
            groups,
            nofail,
            lines,
        });
        next
    }
}

/// Whom a failure accuses (Fail2Ban's `findFailure` host rules), and the separate address
/// when the failure id differs from it (`raw_hosts`: a name stays as it is). `None`: no host
/// yet. Without `ids` (see [`ToolOptions::host_ids`]) an id is left empty.
fn host_of<L: Clone>(
    fail: &FailData<L>,
    raw_hosts: bool,
    ids: bool,
) -> Option<(ToolHost, Option<String>)> {
    let fid = fail.get_str("fid");
    let (ip, raw) = if let Some(ip) = fail.get_str("ip4").or_else(|| fail.get_str("ip6")) {
        (ip, true)
    } else if let Some(dns) = fail.get_str("dns") {
        (dns, raw_hosts)
    } else {
        (fid?, true)
    };
    if !raw {
        return Some((ToolHost::Lookup(ip.to_string()), None));
    }
    let text = |s: &str| if ids { s.to_string() } else { String::new() };
    Some(match fid {
        Some(f) if f != ip => (ToolHost::Id(text(f)), ids.then(|| ip.to_string())),
        _ => (ToolHost::Id(text(ip)), None),
    })
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
                ..Default::default()
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
