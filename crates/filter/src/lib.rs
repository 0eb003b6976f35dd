//! Fail2Ban filter engine (API contract; bodies being filled in).
#![deny(missing_docs)]

use std::collections::BTreeMap;
use std::net::IpAddr;

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
        write!(f, "{} #{}: {}: {}", self.option, self.index + 1, self.message, self.regex)
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
    /// Every captured `<F-*>` group (lower-cased names without `F-`, e.g. `user`), non-empty only.
    pub fields: BTreeMap<String, String>,
    /// The log line(s) that made up the failure, as read (date included).
    pub lines: Vec<String>,
    /// Index of the failregex that matched.
    pub regex_index: usize,
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
}

/// A compiled filter. Cheap to use from one thread; keeps the multi-line buffer and
/// date-template hit statistics.
pub struct Filter {
    _private: (),
}

impl Filter {
    /// Compile `spec`; errors name the option and index of every bad regex.
    pub fn new(spec: &FilterSpec) -> Result<Filter, Vec<FilterError>> {
        let _ = spec;
        unimplemented!()
    }

    /// Process one log line (without its trailing newline). `now` is used for year-less dates
    /// and lines without a date.
    pub fn process_line(&mut self, line: &str, now: f64) -> LineResult {
        let _ = (line, now);
        unimplemented!()
    }
}

/// A likely mistake in a regex, with a suggestion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lint {
    /// What looks wrong.
    pub message: String,
    /// The suggested corrected regex, if there is one.
    pub suggestion: Option<String>,
}

/// Look for likely typos in a failregex, such as `\[\.*\]` (a bracket holding only dots)
/// where `\[.*\]` was meant.
pub fn lint_regex(regex: &str) -> Vec<Lint> {
    let _ = regex;
    unimplemented!()
}
