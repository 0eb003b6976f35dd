//! Action resolution (`action.d/<name>` with the jail's parameters) and run-time rendering.
//!
//! Mirrors Fail2Ban's `ActionReader`: the jail's `name[k=v]` parameters, plus `name` (the jail
//! name unless given) and `actname` (the file stem, made unique when `name` differs from the
//! jail), override the action's `[Init]` defaults; each `[Init]` option is also exported as
//! `known/<opt>` so `chain = <known/chain>` yields the action's own default. `[Definition]`
//! values are `%()`-interpolated with the jail's options and the parameters visible. Tags stay
//! in the properties and are replaced by [`crate::ActionConfig::render`] when a command runs,
//! with `[Init?family=inet6]` values taking precedence for IPv6.

use std::collections::BTreeMap;

use crate::diag::{error, warning};
use crate::filter::main_file;
use crate::interp::Scope;
use crate::overlay::{Loader, Tree};
use crate::tags;
use crate::{ActionConfig, Location};

/// The `[Definition]` options Fail2Ban's `ActionReader` reads eagerly: the action's methods
/// (commands and their flags), the properties a jail sends to its action as commands.
pub const ACTION_KEYS: &[&str] = &[
    "actionstart",
    "actionstart_on_demand",
    "actionstop",
    "actionflush",
    "actionreload",
    "actioncheck",
    "actionrepair",
    "actionrepair_on_unban",
    "actionban",
    "actionprolong",
    "actionreban",
    "actionunban",
    "norestored",
];

/// Tags filled in per ban by the daemon (never from properties).
const DYNAMIC_TAGS: &[&str] = &[
    "ip",
    "family",
    "ip-rev",
    "ip-host",
    "fid",
    "failures",
    "time",
    "bantime",
    "bancount",
    "matches",
    "restored",
    "ipmatches",
    "ipjailmatches",
    "ipfailures",
    "ipjailfailures",
    "raw-ticket",
    "jail.banned",
    "jail.banned_total",
    "jail.found",
    "jail.found_total",
    "fq-hostname",
    "sh-hostname",
    "br",
    "sp",
];

/// Is `<name>` a dynamic tag that rendering must leave for the daemon?
pub fn is_dynamic_tag(name: &str) -> bool {
    DYNAMIC_TAGS.contains(&name) || name.starts_with("F-")
}

/// Jail options that are not made visible to actions as tags.
const JAIL_OPTS_HIDDEN: &[&str] = &[
    "bantime",
    "action",
    "filter",
    "failregex",
    "ignoreregex",
    "prefregex",
    "datepattern",
    "journalmatch",
    "enabled",
];

/// One action of a jail to resolve.
pub(crate) struct ActionRequest<'a> {
    pub jail: &'a str,
    /// File stem in `action.d`.
    pub name: &'a str,
    pub params: &'a BTreeMap<String, String>,
    /// The jail's options, interpolated (Fail2Ban's jail `__opts`).
    pub jail_opts: &'a BTreeMap<String, String>,
    /// Where the jail's `action` line is.
    pub loc: &'a Location,
}

/// Resolve one action; `None` (with an error recorded) when it cannot be.
pub(crate) fn resolve(loader: &mut Loader, req: &ActionRequest<'_>) -> Option<ActionConfig> {
    let stem = format!("action.d/{}", req.name);
    let Some(tree) = loader.unit(&stem) else {
        loader.diags.push(error(
            req.loc.clone(),
            Some(req.jail),
            Some("action"),
            format!(
                "unknown action {:?}: there is no {}/{stem}.conf (or .local)",
                req.name,
                loader.root().display()
            ),
        ));
        return None;
    };
    let file = main_file(loader, &stem, &tree);

    let mut init = req.params.clone();
    let name = init
        .entry("name".into())
        .or_insert_with(|| req.jail.to_string())
        .clone();
    if !init.contains_key("actname") {
        let mut actname = req.name.to_string();
        if name != req.jail {
            match name.strip_prefix(req.jail) {
                Some(rest) => actname.push_str(rest),
                None => {
                    actname.push('-');
                    actname.push_str(&name);
                }
            }
        }
        init.insert("actname".into(), actname);
    }
    let mut popts = req.jail_opts.clone();
    popts.extend(init.clone());

    let mut props: BTreeMap<String, String> = req
        .jail_opts
        .iter()
        .filter(|(k, _)| !JAIL_OPTS_HIDDEN.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();

    // Other sections, reachable as `<sec/opt>`.
    for (sec, opts) in &tree.sections {
        if matches!(sec.as_str(), "Definition" | "Init" | "INCLUDES") {
            continue;
        }
        let scope = Scope::new(&tree, sec);
        for key in opts.keys() {
            match scope.get(key) {
                Some(Ok(v)) => {
                    props.insert(format!("{sec}/{key}"), v);
                }
                Some(Err(e)) => report(loader, &tree, sec, key, e, req, false),
                None => {}
            }
        }
    }

    let def = Scope::new(&tree, "Definition").with_vars(&popts);
    for key in tree.keys_with_defaults("Definition") {
        let eager = ACTION_KEYS.contains(&key.as_str());
        if eager && popts.contains_key(&key) {
            continue;
        }
        match def.get(&key) {
            Some(Ok(v)) => {
                props.insert(key, v);
            }
            Some(Err(e)) => report(loader, &tree, "Definition", &key, e, req, eager),
            None => {}
        }
    }
    if let Some(known) = tree.known.get("Definition") {
        for (key, v) in known {
            if let Ok(v) = def.interpolate(&v.text) {
                props.entry(format!("known/{key}")).or_insert(v);
            }
        }
    }

    if let Some(section) = tree.sections.get("Init") {
        let scope = Scope::new(&tree, "Init");
        for key in section.keys() {
            match scope.get(key) {
                Some(Ok(v)) => {
                    if !key.starts_with("known/") {
                        init.insert(format!("known/{key}"), v.clone());
                    }
                    init.entry(key.clone()).or_insert(v);
                }
                Some(Err(e)) => report(loader, &tree, "Init", key, e, req, true),
                None => {}
            }
        }
    }
    if !init.contains_key("timeout") {
        ignore_definition_timeout(loader, &tree, req, &mut props);
    }
    props.extend(init);

    let mut family_properties: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let conditional: Vec<String> = props
        .keys()
        .filter(|k| k.contains("?family="))
        .cloned()
        .collect();
    for key in conditional {
        if let Some(v) = props.remove(&key) {
            if let Some((base, fam)) = key.split_once("?family=") {
                family_properties
                    .entry(fam.to_string())
                    .or_default()
                    .insert(base.to_string(), v);
            }
        }
    }
    let action = ActionConfig {
        name: props
            .get("actname")
            .cloned()
            .unwrap_or_else(|| req.name.to_string()),
        file,
        properties: props,
        family_properties,
    };
    if let Some(t) = action.properties.get("timeout") {
        if crate::duration::parse_duration(t).map_or(true, |s| s < 0) {
            let loc = loc_of(&tree, "timeout", req);
            loader.diags.push(warning(
                loc,
                Some(req.jail),
                Some("timeout"),
                format!(
                    "action {:?}: timeout {t:?} is not a duration; 60 seconds are used",
                    req.name
                ),
            ));
        }
    }
    Some(action)
}

/// Fail2Ban 1.0.2 reads only the action methods from `[Definition]` and sends `[Init]` values
/// and jail parameters as they are, so a `timeout` set in `[Definition]` never reaches the
/// action: commands run with the default 60 seconds, and `<timeout>` is 60.
fn ignore_definition_timeout(
    loader: &mut Loader,
    tree: &Tree,
    req: &ActionRequest<'_>,
    props: &mut BTreeMap<String, String>,
) {
    if let Some(v) = tree.raw("Definition", "timeout") {
        loader.diags.push(warning(
            v.loc.clone(),
            Some("Definition"),
            Some("timeout"),
            format!(
                "action {:?}: timeout in [Definition] is ignored (as by Fail2Ban); 60 seconds are used. \
                 Set it in [Init] or as a jail parameter: action = {}[timeout={}]",
                req.name, req.name, v.text
            ),
        ));
    }
    props.insert("timeout".into(), "60".into());
}

fn loc_of(tree: &Tree, key: &str, req: &ActionRequest<'_>) -> Location {
    tree.raw("Definition", key)
        .or_else(|| tree.raw("Init", key))
        .map_or_else(|| req.loc.clone(), |v| v.loc.clone())
}

fn report(
    loader: &mut Loader,
    tree: &Tree,
    section: &str,
    key: &str,
    e: String,
    req: &ActionRequest<'_>,
    is_error: bool,
) {
    let loc = tree
        .raw(section, key)
        .map_or_else(|| req.loc.clone(), |v| v.loc.clone());
    let msg = format!("{e} (action {:?} of jail {:?})", req.name, req.jail);
    loader.diags.push(if is_error {
        error(loc, Some(section), Some(key), msg)
    } else {
        warning(
            loc,
            Some(section),
            Some(key),
            format!("{msg}; the option is left out"),
        )
    });
}

/// Render `key` of `action` for `family` (see [`ActionConfig::render`]).
pub(crate) fn render(action: &ActionConfig, key: &str, family: &str) -> Option<String> {
    let fam = action.family_properties.get(family);
    let base = fam
        .and_then(|f| f.get(key))
        .or_else(|| action.properties.get(key))?;
    let lookup = |name: &str| {
        // Fail2Ban's actions hold `timeout` in seconds (`str2seconds` when it is set).
        if name == "timeout" {
            return Some(timeout(action).to_string());
        }
        fam.and_then(|f| f.get(name))
            .or_else(|| action.properties.get(name))
            .cloned()
    };
    Some(tags::render(base, &lookup, &is_dynamic_tag).0)
}

/// The action's `timeout` in seconds, 60 when unset or invalid.
pub(crate) fn timeout(action: &ActionConfig) -> u64 {
    action
        .properties
        .get("timeout")
        .and_then(|t| crate::duration::parse_duration(t).ok())
        .and_then(|s| u64::try_from(s).ok())
        .unwrap_or(60)
}
