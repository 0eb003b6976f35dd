//! `warden check --dump`: the fully resolved configuration, as text or JSON.
//!
//! The dump is what Warden will run, after every file, include, `%(x)s` reference, `[Init]`
//! default, jail parameter and static `<tag>` has been applied. It exists so that an operator
//! can see what a Fail2Ban tree means without starting anything, and so that the end-to-end
//! tests can compare Warden's reading with `fail2ban-client -d` key by key. Both forms carry
//! the same content; objects are sorted by key (jails by name), lists keep their order.
//!
//! # JSON schema (`"schema": "warden-dump/1"`)
//!
//! ```text
//! { "schema": "warden-dump/1", "dir": DIR,
//!   "server": { "socket", "pidfile", "dbfile", "loglevel", "logtarget": STRING|null,
//!               "dbpurgeage": SECONDS|null, "dbmaxmatches": INT|null },
//!   "jails": { NAME: {
//!       "location": "FILE:LINE",            where the jail was enabled
//!       "backend", "usedns", "logencoding": STRING, "logtimezone": STRING|null,
//!       "bantime", "findtime": SECONDS (negative: forever), "maxretry", "maxmatches": INT,
//!       "ignoreself": BOOL, "ignoreip": [NETWORK or HOST], "ignorecommand": STRING|null,
//!       "logpath": [ { "path": PATH or GLOB, "tail": BOOL } ],   tail: `PATH tail` was written
//!       "options": { OPTION: STRING },       every option of the jail section, interpolated
//!       "filter": {
//!         "name", "file": STRING,
//!         "failregex", "ignoreregex": [ { "regex": AS WRITTEN (after %(x)s and filter tags),
//!                                          "expanded": WITH <HOST> ETC. EXPANDED,
//!                                          "location": "FILE:LINE" } ],
//!         "prefregex": { "regex", "expanded" } | null,
//!         "datepattern", "journalmatch": STRING|null, "maxlines": INT,
//!         "options": { OPTION: STRING } },   the filter's [Definition]/[Init], resolved
//!       "actions": [ {                       in the jail's order
//!         "name": ACTNAME, "file": STRING, "timeout": SECONDS,
//!         "properties": { KEY: STRING },     raw: %(x)s done, <tags> not substituted
//!         "family_properties": { "inet6": { KEY: STRING } },   from [Init?family=inet6]
//!         "commands": { "inet4"|"inet6": { METHOD: STRING } } } ] } } }
//! ```
//!
//! `commands` holds every action method (`actionstart`, `actionban`, ... as Fail2Ban's
//! `ActionReader` reads them) with static tags substituted for that family; dynamic tags that
//! only a ban can fill (`<ip>`, `<family>`, `<matches>`, `<F-USER>`, `<fq-hostname>`, ...)
//! stay as written.
//!
//! # Text form
//!
//! The same tree, one `key = value` per line, nested objects and lists indented by two spaces
//! under a `key:` line (list items are numbered from 1). Multi-line values continue on lines
//! indented four spaces deeper than their key; `null` prints as `(unset)`.

use serde_json::{json, Map, Value};
use warden_config::{ActionConfig, Config, FilterConfig, JailConfig, Location, ACTION_METHODS};
use warden_filter::tags::expand_tags;
use warden_filter::UseDns;

/// Identifies the JSON layout; bumped when a key changes meaning or disappears.
pub const SCHEMA: &str = "warden-dump/1";

/// The address families an action's commands are rendered for.
const FAMILIES: [&str; 2] = ["inet4", "inet6"];

/// Print `config` resolved, as JSON with `json`, else as text.
pub fn print(config: &Config, json: bool) {
    let value = to_json(config);
    let text = if json {
        let mut s = serde_json::to_string_pretty(&value).expect("JSON values always serialise");
        s.push('\n');
        s
    } else {
        to_text(&value)
    };
    write_stdout(&text);
}

/// Write to stdout; a closed pipe (`warden check --dump | head`) is not an error.
fn write_stdout(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
}

/// The dump as a JSON value (see the module documentation for the schema).
pub fn to_json(config: &Config) -> Value {
    let jails: Map<String, Value> = config
        .jails
        .iter()
        .map(|j| (j.name.clone(), jail_json(j)))
        .collect();
    let path = |p: &Option<std::path::PathBuf>| p.as_ref().map(|p| p.display().to_string());
    json!({
        "schema": SCHEMA,
        "dir": config.dir.display().to_string(),
        "server": {
            "socket": path(&config.server.socket),
            "pidfile": path(&config.server.pidfile),
            "dbfile": path(&config.server.dbfile),
            "loglevel": config.server.loglevel,
            "logtarget": config.server.logtarget,
            "dbpurgeage": config.server.dbpurgeage,
            "dbmaxmatches": config.server.dbmaxmatches,
        },
        "jails": jails,
    })
}

fn location(l: &Location) -> String {
    match l.line {
        Some(n) => format!("{}:{n}", l.file.display()),
        None => l.file.display().to_string(),
    }
}

fn jail_json(jail: &JailConfig) -> Value {
    let usedns = warden_daemon::jail::filter_spec(jail).usedns;
    let ignoreip: Vec<String> = jail
        .ignoreip
        .iter()
        .map(|e| match e {
            warden_config::IgnoreEntry::Net(n) => n.to_string(),
            warden_config::IgnoreEntry::Host(h) => h.clone(),
        })
        .collect();
    let logpath: Vec<Value> = jail
        .logpath
        .iter()
        .enumerate()
        .map(|(i, p)| json!({ "path": p, "tail": jail.logpath_tail.get(i).copied().unwrap_or(false) }))
        .collect();
    json!({
        "location": location(&jail.location),
        "backend": jail.backend,
        "usedns": jail.usedns,
        "logencoding": jail.logencoding,
        "logtimezone": jail.logtimezone,
        "bantime": jail.bantime,
        "findtime": jail.findtime,
        "maxretry": jail.maxretry,
        "maxmatches": jail.maxmatches,
        "ignoreself": jail.ignoreself,
        "ignoreip": ignoreip,
        "ignorecommand": jail.ignorecommand,
        "logpath": logpath,
        "options": jail.options,
        "filter": filter_json(&jail.filter, usedns),
        "actions": jail.actions.iter().map(action_json).collect::<Vec<_>>(),
    })
}

fn regex_json(regex: &str, usedns: UseDns) -> Value {
    json!({ "regex": regex, "expanded": expand_tags(regex, usedns) })
}

fn regex_list_json(list: &[(String, Location)], usedns: UseDns) -> Value {
    list.iter()
        .map(|(r, l)| {
            let mut v = regex_json(r, usedns);
            v["location"] = Value::String(location(l));
            v
        })
        .collect()
}

fn filter_json(filter: &FilterConfig, usedns: UseDns) -> Value {
    json!({
        "name": filter.name,
        "file": filter.file.display().to_string(),
        "failregex": regex_list_json(&filter.failregex, usedns),
        "ignoreregex": regex_list_json(&filter.ignoreregex, usedns),
        "prefregex": filter.prefregex.as_deref().map(|p| regex_json(p, usedns)),
        "datepattern": filter.datepattern,
        "maxlines": filter.maxlines,
        "journalmatch": filter.journalmatch,
        "options": filter.options,
    })
}

fn action_json(action: &ActionConfig) -> Value {
    let mut commands = Map::new();
    for family in FAMILIES {
        let rendered: Map<String, Value> = ACTION_METHODS
            .iter()
            .filter_map(|m| Some((m.to_string(), Value::String(action.render(m, family)?))))
            .collect();
        commands.insert(family.to_string(), Value::Object(rendered));
    }
    json!({
        "name": action.name,
        "file": action.file.display().to_string(),
        "timeout": action.timeout(),
        "properties": action.properties,
        "family_properties": action.family_properties,
        "commands": commands,
    })
}

/// The text form of a dump value (see the module documentation).
pub fn to_text(value: &Value) -> String {
    let mut out = String::new();
    match value {
        Value::Object(map) => object_text(map, 0, &mut out),
        other => scalar_line("", other, 0, &mut out),
    }
    out
}

fn object_text(map: &Map<String, Value>, indent: usize, out: &mut String) {
    for (key, value) in map {
        entry_text(key, value, indent, out);
    }
}

fn entry_text(key: &str, value: &Value, indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    match value {
        Value::Object(map) if !map.is_empty() => {
            out.push_str(&format!("{pad}{key}:\n"));
            object_text(map, indent + 2, out);
        }
        Value::Array(items) if !items.is_empty() => {
            out.push_str(&format!("{pad}{key}:\n"));
            for (i, item) in items.iter().enumerate() {
                entry_text(&(i + 1).to_string(), item, indent + 2, out);
            }
        }
        other => scalar_line(key, other, indent, out),
    }
}

fn scalar_line(key: &str, value: &Value, indent: usize, out: &mut String) {
    let text = match value {
        Value::Null => "(unset)".to_string(),
        Value::String(s) => s.clone(),
        Value::Object(_) => "{}".to_string(),
        Value::Array(_) => "[]".to_string(),
        other => other.to_string(),
    };
    let pad = " ".repeat(indent);
    let mut lines = text.split('\n');
    let first = lines.next().unwrap_or_default();
    let sep = if first.is_empty() { " =" } else { " = " };
    out.push_str(&format!("{pad}{key}{sep}{first}\n"));
    for line in lines {
        if line.is_empty() {
            out.push('\n');
        } else {
            out.push_str(&format!("{pad}    {line}\n"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_form_nests_numbers_lists_and_continues_lines() {
        let v = json!({
            "b": {"x": null, "y": "one\ntwo"},
            "a": [1, {"k": true}],
            "c": "",
            "d": [],
        });
        assert_eq!(
            to_text(&v),
            "a:\n  1 = 1\n  2:\n    k = true\nb:\n  x = (unset)\n  y = one\n      two\nc =\nd = []\n"
        );
    }
}
