//! Fail2Ban-compatible configuration reader.
//!
//! Warden reads Fail2Ban 1.0.2 configuration trees unchanged (`jail.conf`, `jail.d/`,
//! `filter.d/`, `action.d/`, `.local` overrides), and its own default tree in the same format.
//! [`load`] turns a directory into a [`Config`]: enabled jails with their filter regexes and
//! action commands resolved, durations and counts typed, and every problem reported with its
//! file, line, section and option, all at once rather than one per run.
//!
//! Reading happens in two stages, as in ripgrep's flags: first the files as written (INI
//! sections of raw strings, merged across overrides), then resolved and validated values. Only
//! resolution knows Fail2Ban's reader semantics (filters, actions, `[Init]`, `known/`), so the
//! lower layers stay small and are tested on their own.
//!
//! # Action properties
//!
//! [`ActionConfig::properties`] holds, lowest precedence first: the jail's own options that
//! Fail2Ban lets actions see as tags (`logpath`, `maxretry`, ...; not `bantime`, which is
//! dynamic), options of the action file's other sections as `section/option` (for nested tags
//! such as `<jump_<type>/match>`), the `[Definition]` options, previous values as `known/x`,
//! and the `[Init]` defaults overridden by the jail's parameters (plus `name` and `actname`).
//! Conditional `[Init?family=inet6]` values are in [`ActionConfig::family_properties`].
//! [`is_dynamic_tag`] tells which tags [`ActionConfig::render`] leaves for the daemon.
//!
//! # Layout
//!
//! - `ini`: one file, parsed with Python `configparser` rules (comments, continuation lines,
//!   lower-cased option names), every value with its line numbers.
//! - `overlay`: which files make up a unit (`X.conf`, `X.d/*.conf`, `X.local`, `X.d/*.local`),
//!   `[INCLUDES] before/after`, key-by-key merging with overridden values kept as `known`.
//! - `interp`: `%(name)s` interpolation with `__name__`, `sec/x`, `default/x`, `known/x`.
//! - `tags`: `<tag>` substitution, load-time (whole option maps) and run-time (one command).
//! - `optlist`: `name[k=v, ...]` option lists and splitting `action` values into actions.
//! - `duration`: `600`, `10m`, `1d12h` into seconds.
//! - `ignoreip`: `ignoreip` entries into networks and host names.
//! - `filter`, `action`, `jail`: Fail2Ban's `FilterReader`, `ActionReader` and `JailReader`.
//! - `server`: `warden.conf` / `fail2ban.conf` server options.
//! - `diag`: diagnostics and their severity.
#![deny(missing_docs)]

mod action;
mod diag;
mod duration;
mod filter;
#[doc(hidden)]
pub mod fuzzing;
mod ignoreip;
mod ini;
mod interp;
mod jail;
mod optlist;
mod overlay;
mod server;
mod standalone;
mod tags;

pub use action::is_dynamic_tag;
pub use action::ACTION_KEYS as ACTION_METHODS;
pub use standalone::load_filter;

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

/// A place in a configuration file.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Location {
    /// File the value was read from.
    pub file: PathBuf,
    /// 1-based line number, when known.
    pub line: Option<usize>,
}

/// One problem found in a configuration tree (an error or a warning).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// Where the problem is.
    pub location: Location,
    /// Section (e.g. `haproxy-noserv`, `Definition`), when relevant.
    pub section: Option<String>,
    /// Option name, when relevant.
    pub key: Option<String>,
    /// What is wrong and what was expected.
    pub message: String,
}

impl std::fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.location.file.display())?;
        if let Some(l) = self.location.line {
            write!(f, ":{l}")?;
        }
        if let Some(s) = &self.section {
            write!(f, ": [{s}]")?;
        }
        if let Some(k) = &self.key {
            write!(f, " {k}")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// An entry of `ignoreip`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IgnoreEntry {
    /// An address or network; `10.10.10.1/16` is stored as 10.10.0.0/16.
    Net(ipnet::IpNet),
    /// A host name (resolved by the daemon).
    Host(String),
}

/// Server-wide options (`fail2ban.conf` / `warden.conf` `[Definition]`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ServerConfig {
    /// Control socket path, if configured.
    pub socket: Option<PathBuf>,
    /// Pid file path, if configured.
    pub pidfile: Option<PathBuf>,
    /// Database file, if configured.
    pub dbfile: Option<PathBuf>,
    /// Log level name, if configured.
    pub loglevel: Option<String>,
    /// Log target, if configured.
    pub logtarget: Option<String>,
    /// `dbpurgeage` in seconds (how long bans stay in the database), if configured.
    pub dbpurgeage: Option<i64>,
    /// `dbmaxmatches` (log lines kept per ban in the database), if configured.
    pub dbmaxmatches: Option<u32>,
}

/// A filter, resolved: interpolation done, `<tags>` of the filter's own options substituted,
/// regex tags such as `<HOST>` left for the filter crate.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FilterConfig {
    /// Filter name as given in the jail (`sshd`).
    pub name: String,
    /// The `.conf` file that defined it.
    pub file: PathBuf,
    /// Failure regexes, one per line of `failregex`, with where each came from.
    pub failregex: Vec<(String, Location)>,
    /// Ignore regexes.
    pub ignoreregex: Vec<(String, Location)>,
    /// `prefregex`, if set.
    pub prefregex: Option<String>,
    /// `datepattern`, if set.
    pub datepattern: Option<String>,
    /// `maxlines` (default 1).
    pub maxlines: usize,
    /// `journalmatch`, if set.
    pub journalmatch: Option<String>,
    /// Every resolved option of the filter's `[Definition]` (and `[Init]`).
    pub options: BTreeMap<String, String>,
}

/// An action, resolved. Values still contain dynamic tags (`<ip>`, `<matches>`, ...).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ActionConfig {
    /// The action's name in the jail (`actname`, the file stem unless overridden).
    pub name: String,
    /// The `.conf` file that defined it.
    pub file: PathBuf,
    /// Every property after `%()` interpolation and jail parameter merging, tags not yet substituted.
    pub properties: BTreeMap<String, String>,
    /// `[Init?family=X]` overrides, by family (`inet4`, `inet6`).
    pub family_properties: BTreeMap<String, BTreeMap<String, String>>,
}

impl ActionConfig {
    /// Render property `key` (e.g. `actionban`) for `family` (`inet4`/`inet6`): static `<tag>`s
    /// replaced recursively from the properties (family overrides first), dynamic/unknown tags
    /// such as `<ip>` left in place. `None` when the property does not exist.
    pub fn render(&self, key: &str, family: &str) -> Option<String> {
        action::render(self, key, family)
    }

    /// The `timeout` property in seconds (default 60).
    pub fn timeout(&self) -> u64 {
        action::timeout(self)
    }
}

/// A jail, resolved and validated.
#[derive(Debug, Clone, PartialEq)]
pub struct JailConfig {
    /// Section name.
    pub name: String,
    /// Where the section was defined (last file that set `enabled`).
    pub location: Location,
    /// The filter.
    pub filter: FilterConfig,
    /// Actions, in order.
    pub actions: Vec<ActionConfig>,
    /// `logpath` entries (globs allowed), as written without a trailing `head`/`tail` word.
    pub logpath: Vec<String>,
    /// One per `logpath` entry: `true` when it was written `PATH tail` (start reading a file at
    /// its end rather than its beginning, when no saved position says otherwise).
    pub logpath_tail: Vec<bool>,
    /// `backend`.
    pub backend: String,
    /// `bantime` in seconds; negative means forever.
    pub bantime: i64,
    /// `findtime` in seconds.
    pub findtime: i64,
    /// `maxretry`.
    pub maxretry: u32,
    /// `maxmatches`.
    pub maxmatches: u32,
    /// `ignoreip`.
    pub ignoreip: Vec<IgnoreEntry>,
    /// `ignoreself`.
    pub ignoreself: bool,
    /// `ignorecommand`, if set.
    pub ignorecommand: Option<String>,
    /// `usedns` (yes/warn/no/raw).
    pub usedns: String,
    /// `logencoding`.
    pub logencoding: String,
    /// `logtimezone`, if set.
    pub logtimezone: Option<String>,
    /// Every resolved jail option.
    pub options: BTreeMap<String, String>,
}

/// A loaded and validated configuration tree.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Root directory.
    pub dir: PathBuf,
    /// Server options.
    pub server: ServerConfig,
    /// Enabled jails, sorted by name.
    pub jails: Vec<JailConfig>,
    /// Warnings (unknown keys and the like).
    pub warnings: Vec<Diagnostic>,
}

/// Load, resolve and validate the tree at `dir`. All errors are collected.
pub fn load(dir: &Path) -> Result<Config, Vec<Diagnostic>> {
    let mut loader = overlay::Loader::new(dir);
    if !dir.is_dir() {
        return Err(vec![Diagnostic {
            location: Location::at(dir, None),
            section: None,
            key: None,
            message: "configuration directory does not exist".into(),
        }]);
    }
    let server = server::load_server(&mut loader);
    let mut jails = jail::load_jails(&mut loader);
    jails.sort_by(|a, b| a.name.cmp(&b.name));
    let (errors, warnings) = loader.diags.split();
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(Config {
        dir: dir.to_path_buf(),
        server,
        jails,
        warnings,
    })
}

/// Parse a Fail2Ban duration (`600`, `10m`, `1d12h`, `-1`) into seconds.
pub fn parse_duration(text: &str) -> Result<i64, String> {
    duration::parse_duration(text)
}

/// Parse an `ignoreip` value (addresses, networks, host names separated by spaces or commas).
/// `10.10.10.1/16` is the network 10.10.0.0/16. The error names the first bad entry.
pub fn parse_ignoreip(text: &str) -> Result<Vec<IgnoreEntry>, String> {
    ignoreip::parse_ignoreip(text)
}

/// Does `ip` fall into any `Net` entry of `entries`?
pub fn ignored_by(entries: &[IgnoreEntry], ip: IpAddr) -> bool {
    entries
        .iter()
        .any(|e| matches!(e, IgnoreEntry::Net(n) if n.contains(&ip)))
}

#[cfg(test)]
mod robustness {
    //! Random text through every internal parser: no panics, bounded time.

    use std::collections::{BTreeMap, HashSet};
    use std::path::Path;

    fn strings(seed: u64, n: usize) -> Vec<String> {
        let alphabet: Vec<char> = "ab_-/.%()s<>[]=,:;#\"' \n\té?".chars().collect();
        let mut x = seed;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        (0..n)
            .map(|_| {
                let len = (next() % 40) as usize;
                (0..len)
                    .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
                    .collect()
            })
            .collect()
    }

    #[test]
    fn internal_parsers_accept_anything() {
        let texts = strings(7, 5_000);
        for (i, s) in texts.iter().enumerate() {
            let _ = crate::optlist::extract_options(s);
            let _ = crate::optlist::split_actions(s);
            let (file, _) = crate::ini::parse(Path::new("x.conf"), s);
            let mut tree = crate::overlay::Tree::default();
            tree.merge(&file);
            let _ = crate::interp::Scope::new(&tree, "a").interpolate(s);
            let map: BTreeMap<String, String> = texts[i.saturating_sub(4)..=i]
                .iter()
                .enumerate()
                .map(|(k, v)| (["a", "b", "c", "d", "e"][k].to_string(), v.clone()))
                .collect();
            let _ = crate::tags::substitute_all(&map, "", &HashSet::new(), &|_| None);
            let _ = crate::tags::render(s, &|k| map.get(k).cloned(), &|_| false);
        }
    }
}
