//! Filter resolution: `filter.d/<name>` with the jail's filter parameters.
//!
//! Mirrors Fail2Ban's `FilterReader`: the filter's `[Init]` options are defaults that the jail's
//! `filter = name[k=v]` parameters override; `logtype` is set from the backend unless given;
//! every `[Definition]` option is `%()`-interpolated, then `<tag>`s naming the filter's own
//! options are substituted recursively (`<mdre-<mode>>`, `<lt_file/__prefix_line>`), leaving
//! regex tags such as `<HOST>` alone. The jail may then override the regex options.

use std::collections::{BTreeMap, HashSet};

use crate::diag::error;
use crate::interp::Scope;
use crate::overlay::{Loader, Tree};
use crate::tags::substitute_all;
use crate::{FilterConfig, Location};

/// The options Fail2Ban's `FilterReader` reads from `[Definition]` and passes to the server.
pub(crate) const FILTER_KEYS: &[&str] = &[
    "usedns",
    "prefregex",
    "ignoreregex",
    "failregex",
    "maxlines",
    "datepattern",
    "journalmatch",
];

/// A resolved filter plus its fully substituted option map (exported to the jail as `known/`).
#[derive(Debug, Clone)]
pub(crate) struct ResolvedFilter {
    pub config: FilterConfig,
    pub combined: BTreeMap<String, String>,
}

/// Who asks for the filter and where.
pub(crate) struct FilterRequest<'a> {
    pub jail: &'a str,
    pub name: &'a str,
    pub params: &'a BTreeMap<String, String>,
    /// `enabled`, `backend`, `filter` of the jail, interpolated.
    pub jail_first: &'a BTreeMap<String, String>,
    pub backend: &'a str,
    /// Where the jail's `filter` option is.
    pub loc: &'a Location,
}

/// Resolve a filter; `None` (with an error recorded) when `filter.d/<name>` does not exist.
pub(crate) fn resolve(loader: &mut Loader, req: &FilterRequest<'_>) -> Option<ResolvedFilter> {
    let stem = format!("filter.d/{}", req.name);
    let Some(tree) = loader.unit(&stem) else {
        loader.diags.push(error(
            req.loc.clone(),
            Some(req.jail),
            Some("filter"),
            format!(
                "unknown filter {:?}: there is no {}/{stem}.conf (or .local)",
                req.name,
                loader.root().display()
            ),
        ));
        return None;
    };
    let file = main_file(loader, &stem, &tree);
    let mut init = req.params.clone();
    if !init.contains_key("logtype") && !tree.has_own("Definition", "logtype") {
        let lt = if req.backend.starts_with("systemd") {
            "journal"
        } else {
            "file"
        };
        init.insert("logtype".into(), lt.into());
    }
    let mut popts = req.jail_first.clone();
    popts.extend(init.clone());

    let mut opts: BTreeMap<String, String> = BTreeMap::new();
    let mut failed: HashSet<String> = HashSet::new();
    let def_vars = Scope::new(&tree, "Definition").with_vars(&popts);
    for key in FILTER_KEYS {
        if popts.contains_key(*key) {
            continue;
        }
        if let Some(r) = def_vars.get(key) {
            match r {
                Ok(v) => {
                    opts.insert(key.to_string(), v);
                }
                Err(e) => {
                    failed.insert(key.to_string());
                    report(loader, &tree, "Definition", key, e, req);
                }
            }
        }
    }
    export_init(loader, &tree, &mut init, req);
    let def = Scope::new(&tree, "Definition");
    for key in tree.keys_with_defaults("Definition") {
        if opts.contains_key(&key) || failed.contains(&key) {
            continue;
        }
        match def.get(&key) {
            Some(Ok(v)) => {
                opts.insert(key, v);
            }
            Some(Err(e)) => report(loader, &tree, "Definition", &key, e, req),
            None => {}
        }
    }

    let mut combined = opts;
    combined.extend(init);
    let ignore: HashSet<String> = combined
        .keys()
        .filter_map(|k| k.split_once('?').map(|(base, _)| base.to_string()))
        .collect();
    let extra = |name: &str| comb_option(&tree, name, &popts);
    let combined = match substitute_all(&combined, "", &ignore, &extra) {
        Ok(c) => c,
        Err(e) => {
            loader.diags.push(error(
                Location::at(&file, None),
                Some("Definition"),
                None,
                format!("{e} (filter {:?} of jail {:?})", req.name, req.jail),
            ));
            return None;
        }
    };

    let config = FilterConfig {
        name: req.name.to_string(),
        file: file.clone(),
        failregex: regex_lines(
            &tree,
            "failregex",
            combined.get("failregex"),
            req.params,
            req.loc,
        ),
        ignoreregex: regex_lines(
            &tree,
            "ignoreregex",
            combined.get("ignoreregex"),
            req.params,
            req.loc,
        ),
        prefregex: combined.get("prefregex").filter(|s| !s.is_empty()).cloned(),
        datepattern: combined
            .get("datepattern")
            .filter(|s| !s.is_empty())
            .cloned(),
        maxlines: 1,
        journalmatch: combined
            .get("journalmatch")
            .filter(|s| !s.is_empty())
            .cloned(),
        options: combined.clone(),
    };
    let mut resolved = ResolvedFilter { config, combined };
    if let Some(m) = resolved.combined.get("maxlines") {
        match parse_count(m) {
            Some(n) if n >= 1 => resolved.config.maxlines = n as usize,
            _ => {
                let loc = tree
                    .raw("Definition", "maxlines")
                    .map_or_else(|| req.loc.clone(), |v| v.loc.clone());
                loader.diags.push(error(
                    loc,
                    Some("Definition"),
                    Some("maxlines"),
                    format!("expected a whole number of lines (1 or more), got {m:?}"),
                ));
            }
        }
    }
    Some(resolved)
}

/// Fail2Ban's `[Init]` export: each option becomes a default (unless the jail gave it) and is
/// also available as `known/<opt>`.
fn export_init(
    loader: &mut Loader,
    tree: &Tree,
    init: &mut BTreeMap<String, String>,
    req: &FilterRequest<'_>,
) {
    let Some(section) = tree.sections.get("Init") else {
        return;
    };
    let scope = Scope::new(tree, "Init");
    for key in section.keys() {
        match scope.get(key) {
            Some(Ok(v)) => {
                if !key.starts_with("known/") {
                    init.insert(format!("known/{key}"), v.clone());
                }
                init.entry(key.clone()).or_insert(v);
            }
            Some(Err(e)) => report(loader, tree, "Init", key, e, req),
            None => {}
        }
    }
}

fn report(
    loader: &mut Loader,
    tree: &Tree,
    section: &str,
    key: &str,
    e: String,
    req: &FilterRequest<'_>,
) {
    let loc = tree
        .raw(section, key)
        .map_or_else(|| req.loc.clone(), |v| v.loc.clone());
    loader.diags.push(error(
        loc,
        Some(section),
        Some(key),
        format!("{e} (filter {:?} of jail {:?})", req.name, req.jail),
    ));
}

/// Fail2Ban's `getCombOption`: a tag that is not an option of the combined map, read from
/// `[Definition]` (with the jail's values), another section (`sec/opt`) or the previous value
/// (`known/opt`).
pub(crate) fn comb_option(
    tree: &Tree,
    name: &str,
    vars: &BTreeMap<String, String>,
) -> Option<String> {
    if let Some((sec, opt)) = name.split_once('/') {
        let valid = !sec.is_empty()
            && sec
                .chars()
                .all(|c| c.is_alphanumeric() || c == '_' || c == '-')
            && !opt.is_empty()
            && !opt.contains(|c: char| c.is_whitespace() || c == '>');
        if valid {
            let lower = sec.to_lowercase();
            if lower == "known" {
                if let Some(v) = tree.known.get("Definition").and_then(|s| s.get(opt)) {
                    if let Ok(v) = Scope::new(tree, "Definition").interpolate(&v.text) {
                        return Some(v);
                    }
                }
                if let Some(Ok(v)) = Scope::new(tree, "Definition").get(opt) {
                    return Some(v);
                }
            } else {
                let sec = if lower == "default" { "DEFAULT" } else { sec };
                if sec == "DEFAULT" {
                    if let Some(v) = tree.defaults.get(opt) {
                        return Scope::new(tree, "DEFAULT").interpolate(&v.text).ok();
                    }
                } else if tree.sections.contains_key(sec) {
                    if let Some(Ok(v)) = Scope::new(tree, sec).get(opt) {
                        return Some(v);
                    }
                }
            }
        }
    }
    let vars: BTreeMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_lowercase(), v.clone()))
        .collect();
    match Scope::new(tree, "Definition")
        .with_vars(&vars)
        .get(&name.to_lowercase())
    {
        Some(Ok(v)) => Some(v),
        _ => None,
    }
}

/// The `.conf` file that defines a unit (or the first file read when there is none).
pub(crate) fn main_file(loader: &Loader, stem: &str, tree: &Tree) -> std::path::PathBuf {
    let conf = loader.root().join(format!("{stem}.conf"));
    if conf.is_file() {
        conf
    } else {
        tree.files.first().cloned().unwrap_or(conf)
    }
}

/// Split a resolved regex list into lines (empty ones skipped), each with the line it came
/// from when that can be told (same number of lines as written), else the option's line.
fn regex_lines(
    tree: &Tree,
    key: &str,
    value: Option<&String>,
    params: &BTreeMap<String, String>,
    param_loc: &Location,
) -> Vec<(String, Location)> {
    let Some(value) = value else {
        return Vec::new();
    };
    let raw = if params.contains_key(key) {
        None
    } else {
        tree.raw("Definition", key)
    };
    lines_with_locations(value, raw.map(|r| (r, &r.loc)), param_loc)
}

/// Pair each non-empty line of `value` with a location from `raw` (see [`regex_lines`]).
pub(crate) fn lines_with_locations(
    value: &str,
    raw: Option<(&crate::overlay::Value, &Location)>,
    fallback: &Location,
) -> Vec<(String, Location)> {
    let lines: Vec<&str> = value.split('\n').filter(|l| !l.is_empty()).collect();
    let Some((raw, key_loc)) = raw else {
        return lines
            .into_iter()
            .map(|l| (l.to_string(), fallback.clone()))
            .collect();
    };
    let raw_lines: Vec<usize> = raw
        .text
        .split('\n')
        .zip(&raw.value_lines)
        .filter(|(l, _)| !l.is_empty())
        .map(|(_, n)| *n)
        .collect();
    let same = raw_lines.len() == lines.len();
    lines
        .into_iter()
        .enumerate()
        .map(|(i, l)| {
            let loc = if same {
                Location::at(&key_loc.file, Some(raw_lines[i]))
            } else {
                key_loc.clone()
            };
            (l.to_string(), loc)
        })
        .collect()
}

/// Python's `int()` for counts: optional sign and surrounding whitespace.
pub(crate) fn parse_count(text: &str) -> Option<i64> {
    let t = text.trim();
    let t = t.strip_prefix('+').unwrap_or(t);
    t.replace('_', "")
        .parse::<i64>()
        .ok()
        .filter(|_| !t.starts_with('_') && !t.ends_with('_'))
}
