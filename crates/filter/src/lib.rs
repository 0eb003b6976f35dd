//! Fail2Ban's filter engine: runs Fail2Ban filters (Python-`re` regexes with `<HOST>`-style
//! tags, date detection, prefregex/failregex/ignoreregex) with Fail2Ban 1.0.2's results.
//!
//! The crate is pure computation: no I/O, threads, sockets or databases, so the `regex`
//! tool and the fuzzers can use it as it is.
//!
//! # Layout
//!
//! - [`tags`]: expands `<HOST>`, `<ADDR>`, `<F-ID/>`, `<F-USER>…</F-USER>`, `<SKIPLINES>`…
//!   into the regex fragments Fail2Ban uses.
//! - [`dialect`]: translates the Python `re` dialect to the `regex` crate's or PCRE2's.
//! - [`matcher`]: the [`matcher::Matcher`] trait over both engines; `regex` (linear time)
//!   where it can, PCRE2 with a match limit for look-around, back-references, conditionals.
//! - [`date`]: the date detector (Fail2Ban's 31 default templates, `datepattern`, `EPOCH`,
//!   `TAI64N`, time zones) that finds the date, cuts it out of the line and converts it.
//! - [`filter`]: [`Filter`], tying it together per line, with the `maxlines` buffer.
//! - `multiline`: merging of failures spread over lines sharing an `<F-MLFID>` id.
//! - [`lint`]: [`lint_regex`], likely typos such as `\[\.*\]`.
#![deny(missing_docs)]

pub mod date;
pub mod dialect;
pub mod filter;
pub mod lint;
pub mod matcher;
mod multiline;
pub mod prefilter;
pub mod regex_tool;
pub mod tags;

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

pub use filter::{CompiledRegex, Filter};

/// The length of the all-ASCII start of `buf`, found a block at a time: readers check a whole
/// read buffer once, and a line inside that start needs no UTF-8 check of its own (and is
/// known to be ASCII to the searches).
pub fn ascii_prefix(buf: &[u8]) -> usize {
    let mut n = 0;
    for block in buf.chunks(4096) {
        if block.is_ascii() {
            n += block.len();
        } else {
            return n + block.iter().position(|b| !b.is_ascii()).unwrap_or(0);
        }
    }
    n
}
pub use lint::lint_regex;
pub use matcher::Engine;

/// How `<HOST>` treats host names (`usedns`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UseDns {
    /// Resolve names (the daemon does the lookup).
    Yes,
    /// Like yes, but warn (Fail2Ban's default).
    #[default]
    Warn,
    /// Only addresses match `<HOST>`.
    No,
    /// Names are kept raw, never resolved.
    Raw,
}

/// Everything needed to build a [`Filter`]; regexes are in Fail2Ban's (Python `re`) dialect
/// with tags such as `<HOST>` not yet expanded.
#[derive(Debug, Clone, Default)]
pub struct FilterSpec {
    /// `failregex` lines.
    pub failregex: Vec<String>,
    /// `ignoreregex` lines.
    pub ignoreregex: Vec<String>,
    /// `prefregex`.
    pub prefregex: Option<String>,
    /// `datepattern` (newline-separated list allowed).
    pub datepattern: Option<String>,
    /// `maxlines` (1 = single-line).
    pub maxlines: usize,
    /// `usedns`.
    pub usedns: UseDns,
    /// `logtimezone` (`UTC`, `UTC+0200`, ...), if set.
    pub logtimezone: Option<String>,
}

/// Why a filter could not be built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterError {
    /// Which option (`failregex`, `ignoreregex`, `prefregex`, `datepattern`).
    pub option: &'static str,
    /// 0-based index within that option's list.
    pub index: usize,
    /// The regex as written.
    pub regex: String,
    /// What went wrong.
    pub message: String,
}

impl std::fmt::Display for FilterError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} #{}: {}: {}",
            self.option,
            self.index + 1,
            self.message,
            self.regex
        )
    }
}

impl std::error::Error for FilterError {}

/// The host a failure names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    /// An address (ip4/ip6 group, `::ffff:` mapped IPv4 normalised to IPv4).
    Ip(IpAddr),
    /// A name (dns group) or raw `<F-ID>` value.
    Name(String),
}

/// One failure found in the log.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    /// The offending host.
    pub host: Host,
    /// Time of the failure, seconds since the epoch (from the log's date, else `now`).
    pub time: f64,
    /// `<F-ID>` value, if captured.
    pub fid: Option<String>,
    /// The log line(s) that made up the failure, as read (date included).
    pub lines: Vec<String>,
    /// Index of the failregex that matched.
    pub regex_index: usize,
    /// Every `user` seen for the failure's `<F-MLFID>` connection (empty without one, and
    /// after [`Filter::keep_bookkeeping_groups_only`]).
    pub users: BTreeSet<String>,
    /// Every named group of the (merged) match as Fail2Ban's failure data holds it: `None`
    /// for a group that did not take part, `Some("")` for an empty capture.
    pub groups: BTreeMap<String, Option<String>>,
}

impl Failure {
    /// Every captured group with a non-empty value (lower-cased names without `F-`, e.g.
    /// `user`), `skiplines` groups left out. Made on demand: most failures are only counted.
    pub fn fields(&self) -> BTreeMap<String, String> {
        self.groups
            .iter()
            .filter_map(|(k, v)| Some((k.clone(), v.clone().filter(|v| !v.is_empty())?)))
            .collect()
    }
}

/// What one line produced.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LineResult {
    /// Date found on the line (epoch seconds), if any.
    pub time: Option<f64>,
    /// Failures (usually zero or one).
    pub failures: Vec<Failure>,
    /// The line matched an ignoreregex.
    pub ignored: bool,
    /// Indexes of failregexes that matched without producing a failure: an `<F-NOFAIL>`
    /// step, or a multi-line failure still waiting for its host. Without
    /// [`Filter::set_check_all_regex`] at most the first such match is listed.
    pub nofail_matches: Vec<usize>,
}

/// A likely mistake in a regex, with a suggestion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lint {
    /// What looks wrong.
    pub message: String,
    /// The suggested corrected regex, if there is one.
    pub suggestion: Option<String>,
}
