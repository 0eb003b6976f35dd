//! Jail resolution: from the merged `jail` unit to typed, validated [`JailConfig`]s.
//!
//! The order is Fail2Ban's `JailReader`: read `enabled`, `backend` and `filter` first; skip
//! disabled jails; resolve the filter and merge its options into the jail as `known/<opt>`;
//! then read all jail options (so `%(known/failregex)s` works), let jail-level regex options
//! override the filter's, and resolve each action. Raw strings become typed values here
//! (durations, counts, `ignoreip`), and every problem is recorded with its place.

use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;

use crate::action::{self, ActionRequest};
use crate::diag::{error, warning};
use crate::duration::parse_duration;
use crate::filter::{self, lines_with_locations, parse_count, FilterRequest, FILTER_KEYS};
use crate::ignoreip::parse_ignoreip;
use crate::interp::Scope;
use crate::optlist::{extract_options, split_actions};
use crate::overlay::{Loader, Tree, Value};
use crate::{FilterConfig, JailConfig, Location};

/// Jail options Fail2Ban's `JailReader` reads (besides the filter ones).
const JAIL_KEYS: &[&str] = &[
    "enabled",
    "backend",
    "maxretry",
    "maxmatches",
    "findtime",
    "bantime",
    "bantime.increment",
    "bantime.factor",
    "bantime.formula",
    "bantime.multipliers",
    "bantime.maxtime",
    "bantime.rndtime",
    "bantime.overalljails",
    "ignorecommand",
    "ignoreself",
    "ignoreip",
    "ignorecache",
    "filter",
    "logtimezone",
    "logencoding",
    "logpath",
    "action",
];

/// Options commonly set in jails that only feed `%()` references (never warned about).
const COMMON_VARIABLES: &[&str] = &[
    "port",
    "protocol",
    "chain",
    "banaction",
    "banaction_allports",
    "mode",
    "logtype",
    "mta",
    "destemail",
    "sender",
    "sendername",
    "name",
    "blocktype",
    "known/failregex",
    // Warden's own: cap on failing addresses tracked per jail (read by the daemon).
    "maxtracked",
];

/// Fail2Ban's `_as_bool`.
fn as_bool(v: &str) -> bool {
    matches!(v.to_lowercase().as_str(), "1" | "on" | "true" | "yes")
}

fn is_bool_word(v: &str) -> bool {
    matches!(
        v.to_lowercase().as_str(),
        "1" | "on" | "true" | "yes" | "0" | "off" | "false" | "no" | ""
    )
}

/// Names used as `%(name)s` anywhere in the tree.
fn referenced_names(tree: &Tree) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let values = tree
        .defaults
        .values()
        .chain(tree.sections.values().flat_map(|s| s.values()));
    for v in values {
        let mut rest = v.text.as_str();
        while let Some(p) = rest.find("%(") {
            rest = &rest[p + 2..];
            if let Some(end) = rest.find(")s") {
                out.insert(rest[..end].to_lowercase());
            }
        }
    }
    out
}

/// Everything needed while resolving one jail.
struct JailCtx<'a> {
    tree: &'a Tree,
    name: &'a str,
}

impl JailCtx<'_> {
    fn loc(&self, key: &str) -> Location {
        self.tree
            .raw(self.name, key)
            .map(|v| v.loc.clone())
            .or_else(|| self.tree.section_locs.get(self.name).cloned())
            .unwrap_or_default()
    }

    fn raw(&self, key: &str) -> Option<&Value> {
        self.tree.raw(self.name, key)
    }

    /// Interpolated value of `key`, errors recorded.
    fn get(
        &self,
        loader: &mut Loader,
        extra: Option<&BTreeMap<String, String>>,
        key: &str,
    ) -> Option<String> {
        let mut scope = Scope::new(self.tree, self.name);
        if let Some(e) = extra {
            scope = scope.with_extra(e);
        }
        match scope.get(key)? {
            Ok(v) => Some(v),
            Err(e) => {
                loader
                    .diags
                    .push(error(self.loc(key), Some(self.name), Some(key), e));
                None
            }
        }
    }

    /// Record an error about `key`; when its value came from `%(...)s` references, say how it
    /// was written so the user can find the real culprit.
    fn err(&self, loader: &mut Loader, key: &str, mut msg: String) {
        if let Some(raw) = self.raw(key).filter(|r| r.text.contains("%(")) {
            msg.push_str(&format!(" (written as {:?})", raw.text));
        }
        loader
            .diags
            .push(error(self.loc(key), Some(self.name), Some(key), msg));
    }
}

/// Resolve every enabled jail of the tree.
pub(crate) fn load_jails(loader: &mut Loader) -> Vec<JailConfig> {
    let Some(tree) = loader.unit("jail") else {
        let loc = Location::at(&loader.root().join("jail.conf"), None);
        loader.diags.push(error(
            loc,
            None,
            None,
            "no jail configuration: expected jail.conf, jail.d/*.conf, jail.local or jail.d/*.local".into(),
        ));
        return Vec::new();
    };
    let mut tree: Tree = Rc::unwrap_or_clone(tree);
    let root_loc = Location::at(loader.root(), None);
    for (k, v) in [
        ("fail2ban_version", "1.0.2".to_string()),
        ("fail2ban_confpath", loader.root().display().to_string()),
    ] {
        tree.defaults.entry(k.to_string()).or_insert(Value {
            text: v,
            loc: root_loc.clone(),
            value_lines: vec![],
        });
    }
    let referenced = referenced_names(&tree);
    let mut jails = Vec::new();
    let names: Vec<String> = tree.sections.keys().cloned().collect();
    for name in &names {
        if name == "INCLUDES" {
            continue;
        }
        let ctx = JailCtx { tree: &tree, name };
        warn_unknown_keys(loader, &ctx, &referenced);
        if let Some(j) = resolve_jail(loader, &ctx) {
            jails.push(j);
        }
    }
    jails
}

fn warn_unknown_keys(loader: &mut Loader, ctx: &JailCtx<'_>, referenced: &BTreeSet<String>) {
    let Some(section) = ctx.tree.sections.get(ctx.name) else {
        return;
    };
    for (key, v) in section {
        let known = JAIL_KEYS.contains(&key.as_str())
            || FILTER_KEYS.contains(&key.as_str())
            || COMMON_VARIABLES.contains(&key.as_str())
            || key.starts_with("action_")
            || ctx.tree.defaults.contains_key(key)
            || referenced.contains(key);
        if !known {
            loader.diags.push(warning(
                v.loc.clone(),
                Some(ctx.name),
                Some(key),
                "unknown jail option: it is not used by Warden nor referenced by any %(...)s (a typo?)".into(),
            ));
        }
    }
}

fn resolve_jail(loader: &mut Loader, ctx: &JailCtx<'_>) -> Option<JailConfig> {
    let enabled = ctx.get(loader, None, "enabled").unwrap_or_default();
    if !is_bool_word(&enabled) {
        loader.diags.push(warning(
            ctx.loc("enabled"),
            Some(ctx.name),
            Some("enabled"),
            format!("expected true or false, got {enabled:?}; the jail stays disabled"),
        ));
    }
    if !as_bool(&enabled) {
        return None;
    }
    let errors_before = loader.diags.error_count();
    let backend = ctx
        .get(loader, None, "backend")
        .unwrap_or_else(|| "auto".into());
    let filter_text = ctx.get(loader, None, "filter").unwrap_or_default();
    let mut first = BTreeMap::new();
    first.insert("enabled".to_string(), enabled.clone());
    first.insert("backend".to_string(), backend.clone());
    first.insert("filter".to_string(), filter_text.clone());

    let mut filter = FilterConfig {
        maxlines: 1,
        ..FilterConfig::default()
    };
    let mut known = BTreeMap::new();
    if filter_text.trim().is_empty() {
        loader.diags.push(warning(
            ctx.loc("filter"),
            Some(ctx.name),
            Some("filter"),
            "no filter set: this jail will never find a failure".into(),
        ));
    } else {
        match extract_options(&filter_text) {
            Err(e) => ctx.err(loader, "filter", e.message(&filter_text)),
            Ok((fname, params)) => {
                let loc = ctx.loc("filter");
                let req = FilterRequest {
                    jail: ctx.name,
                    name: &fname,
                    params: &params,
                    jail_first: &first,
                    backend: &backend,
                    loc: &loc,
                };
                if let Some(r) = filter::resolve(loader, &req) {
                    for (k, v) in &r.combined {
                        if !k.starts_with("known/") {
                            known.insert(format!("known/{k}"), v.clone());
                        }
                    }
                    filter = r.config;
                }
            }
        }
    }

    // Second pass: every option Fail2Ban reads, with the filter's values as `known/`.
    let mut opts: BTreeMap<String, String> = BTreeMap::new();
    for key in JAIL_KEYS.iter().chain(FILTER_KEYS) {
        if let Some(v) = ctx.get(loader, Some(&known), key) {
            opts.insert(key.to_string(), v);
        }
    }
    apply_filter_overrides(loader, ctx, &opts, &mut filter);

    let actions = resolve_actions(loader, ctx, &opts);

    let mut options = BTreeMap::new();
    let scope = Scope::new(ctx.tree, ctx.name).with_extra(&known);
    for key in ctx.tree.keys_with_defaults(ctx.name) {
        if let Some(v) = opts.get(&key) {
            options.insert(key, v.clone());
            continue;
        }
        match scope.get(&key) {
            Some(Ok(v)) => {
                options.insert(key, v);
            }
            // Inherited [DEFAULT] options are only read when referenced (as in Fail2Ban);
            // an unusable one is worth a word only when the jail sets it itself.
            Some(Err(_)) if !ctx.tree.has_own(ctx.name, &key) => {}
            Some(Err(e)) => loader.diags.push(warning(
                ctx.loc(&key),
                Some(ctx.name),
                Some(&key),
                format!("{e}; the option is left out"),
            )),
            None => {}
        }
    }

    let logpaths = opts
        .get("logpath")
        .map_or_else(Vec::new, |l| split_logpath(l));
    let jail = JailConfig {
        name: ctx.name.to_string(),
        location: if ctx.tree.has_own(ctx.name, "enabled") {
            ctx.loc("enabled")
        } else {
            ctx.tree
                .section_locs
                .get(ctx.name)
                .cloned()
                .unwrap_or_default()
        },
        filter,
        actions,
        logpath: logpaths.iter().map(|(p, _)| p.clone()).collect(),
        logpath_tail: logpaths.iter().map(|(_, tail)| *tail).collect(),
        backend: backend.clone(),
        bantime: duration(loader, ctx, &opts, "bantime", 600),
        findtime: duration(loader, ctx, &opts, "findtime", 600),
        maxretry: count(loader, ctx, &opts, "maxretry", 3, 0),
        maxmatches: count(loader, ctx, &opts, "maxmatches", 5, 0),
        ignoreip: match opts.get("ignoreip") {
            Some(v) => parse_ignoreip(v).unwrap_or_else(|e| {
                ctx.err(loader, "ignoreip", e);
                Vec::new()
            }),
            None => Vec::new(),
        },
        ignoreself: match opts.get("ignoreself") {
            Some(v) => as_bool(v),
            None => true,
        },
        ignorecommand: opts
            .get("ignorecommand")
            .filter(|s| !s.trim().is_empty())
            .cloned(),
        usedns: opts.get("usedns").cloned().unwrap_or_else(|| "warn".into()),
        logencoding: opts
            .get("logencoding")
            .cloned()
            .unwrap_or_else(|| "auto".into()),
        logtimezone: opts
            .get("logtimezone")
            .filter(|s| !s.trim().is_empty())
            .cloned(),
        options,
    };
    validate(loader, ctx, &jail, &opts);
    if loader.diags.error_count() > errors_before {
        return None;
    }
    Some(jail)
}

/// `logpath` lines into (path, read from the end). As Fail2Ban's `JailReader` does, a last
/// word `tail` or `head` (any case) after a space is the starting position, not part of the path.
fn split_logpath(value: &str) -> Vec<(String, bool)> {
    value
        .split('\n')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|line| match line.rsplit_once(' ') {
            Some((path, pos)) if pos.eq_ignore_ascii_case("tail") => {
                (path.trim_end().to_string(), true)
            }
            Some((path, pos)) if pos.eq_ignore_ascii_case("head") => {
                (path.trim_end().to_string(), false)
            }
            _ => (line.to_string(), false),
        })
        .collect()
}

fn validate(
    loader: &mut Loader,
    ctx: &JailCtx<'_>,
    jail: &JailConfig,
    opts: &BTreeMap<String, String>,
) {
    let logpath_failed = ctx
        .raw("logpath")
        .is_some_and(|r| !r.text.trim().is_empty());
    if jail.logpath.is_empty() && !logpath_failed && !jail.backend.starts_with("systemd") {
        loader.diags.push(error(
            jail.location.clone(),
            Some(ctx.name),
            Some("logpath"),
            "enabled jail has no log file: set logpath = /path/to/log (globs allowed) or backend = systemd".into(),
        ));
    }
    if !matches!(jail.usedns.as_str(), "yes" | "warn" | "no" | "raw") {
        loader.diags.push(warning(
            ctx.loc("usedns"),
            Some(ctx.name),
            Some("usedns"),
            format!("expected yes, warn, no or raw, got {:?}", jail.usedns),
        ));
    }
    for key in ["ignoreself", "bantime.increment", "bantime.overalljails"] {
        if let Some(v) = opts.get(key) {
            if !is_bool_word(v) {
                ctx.err(loader, key, format!("expected true or false, got {v:?}"));
            }
        }
    }
    for key in ["bantime.maxtime", "bantime.rndtime"] {
        if let Some(v) = opts.get(key).filter(|v| !v.trim().is_empty()) {
            if let Err(e) = parse_duration(v) {
                ctx.err(loader, key, e);
            }
        }
    }
}

fn duration(
    loader: &mut Loader,
    ctx: &JailCtx<'_>,
    opts: &BTreeMap<String, String>,
    key: &str,
    default: i64,
) -> i64 {
    match opts.get(key) {
        None => default,
        Some(v) => parse_duration(v).unwrap_or_else(|e| {
            ctx.err(loader, key, e);
            default
        }),
    }
}

fn count(
    loader: &mut Loader,
    ctx: &JailCtx<'_>,
    opts: &BTreeMap<String, String>,
    key: &str,
    default: u32,
    min: u32,
) -> u32 {
    let Some(v) = opts.get(key) else {
        return default;
    };
    match parse_count(v)
        .and_then(|n| u32::try_from(n).ok())
        .filter(|n| *n >= min)
    {
        Some(n) => n,
        None => {
            ctx.err(
                loader,
                key,
                format!("expected a whole number ({min} or more), got {v:?}"),
            );
            default
        }
    }
}

/// Jail-level `failregex`, `ignoreregex`, `prefregex`, `datepattern`, `maxlines`,
/// `journalmatch` replace the filter's.
fn apply_filter_overrides(
    loader: &mut Loader,
    ctx: &JailCtx<'_>,
    opts: &BTreeMap<String, String>,
    filter: &mut FilterConfig,
) {
    for key in FILTER_KEYS {
        let Some(v) = opts.get(*key) else { continue };
        match *key {
            "failregex" | "ignoreregex" => {
                let raw = ctx.raw(key);
                let lines = lines_with_locations(v, raw.map(|r| (r, &r.loc)), &ctx.loc(key));
                if *key == "failregex" {
                    filter.failregex = lines;
                } else {
                    filter.ignoreregex = lines;
                }
            }
            "prefregex" => filter.prefregex = Some(v.clone()).filter(|s| !s.is_empty()),
            "datepattern" => filter.datepattern = Some(v.clone()).filter(|s| !s.is_empty()),
            "journalmatch" => filter.journalmatch = Some(v.clone()).filter(|s| !s.is_empty()),
            "maxlines" => match parse_count(v).filter(|n| *n >= 1) {
                Some(n) => filter.maxlines = n as usize,
                None => ctx.err(
                    loader,
                    key,
                    format!("expected a whole number of lines (1 or more), got {v:?}"),
                ),
            },
            _ => {}
        }
        if *key != "usedns" {
            filter.options.insert(key.to_string(), v.clone());
        }
    }
}

/// The source line of an action item inside a (possibly multi-line) `action` value.
fn item_location(ctx: &JailCtx<'_>, item: &str) -> Location {
    let base = ctx.loc("action");
    let Some(raw) = ctx.raw("action") else {
        return base;
    };
    let first = item.split('\n').next().unwrap_or(item);
    for (text, line) in raw.text.split('\n').zip(&raw.value_lines) {
        if !first.is_empty() && text.contains(first) {
            return Location::at(&raw.loc.file, Some(*line));
        }
    }
    base
}

fn resolve_actions(
    loader: &mut Loader,
    ctx: &JailCtx<'_>,
    opts: &BTreeMap<String, String>,
) -> Vec<crate::ActionConfig> {
    let mut out = Vec::new();
    let Some(text) = opts.get("action") else {
        return out;
    };
    for item in split_actions(text) {
        let loc = item_location(ctx, &item);
        let (name, params) = match extract_options(&item) {
            Ok(x) => x,
            Err(e) => {
                loader
                    .diags
                    .push(error(loc, Some(ctx.name), Some("action"), e.message(&item)));
                // The rest of the line cannot be split reliably after a syntax error.
                break;
            }
        };
        if name.ends_with(".py") {
            loader.diags.push(warning(
                loc,
                Some(ctx.name),
                Some("action"),
                format!("Python action {name:?} is not supported by Warden; it is skipped"),
            ));
            continue;
        }
        let req = ActionRequest {
            jail: ctx.name,
            name: &name,
            params: &params,
            jail_opts: opts,
            loc: &loc,
        };
        if let Some(a) = action::resolve(loader, &req) {
            out.push(a);
        }
    }
    if out.is_empty() {
        loader.diags.push(warning(
            ctx.loc("action"),
            Some(ctx.name),
            Some("action"),
            "no actions defined: failures will be counted but nothing banned".into(),
        ));
    }
    out
}
