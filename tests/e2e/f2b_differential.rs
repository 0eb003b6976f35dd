//! Warden against Fail2Ban 1.0.2 itself: the same configuration tree read by
//! `fail2ban-client -c DIR -d` (Debian's package, run from its extracted files: it is pure
//! Python, nothing is installed) and by `warden check --config DIR --dump --json`, compared key
//! by key; and Debian's own tree, unchanged, run by `warden server`.
//!
//! How the two outputs are made comparable (no key is left out to make them agree):
//! - `fail2ban-client -d` prints the commands it would send to its server, one Python list per
//!   line. [`NORMALISE`] (Python, run with the package on `PYTHONPATH`) replays them as the
//!   server applies them: a later `set` wins, `add*` commands append. It reads each line with
//!   `ast.literal_eval`, so Python strings, ints and booleans become JSON ones without any
//!   text munging.
//! - Regexes: Fail2Ban prints them as written, before tag expansion. They are compared as
//!   written, and expanded: Fail2Ban's own `Regex` class expands them with the jail's `usedns`
//!   and Warden's dump holds its expansion.
//! - Action commands: Fail2Ban's reader replaces the static tags it can at read time and its
//!   server the rest (`<iptables>`, `<blocktype>`, whose values depend on the family) when a
//!   command runs. [`NORMALISE`] finishes the job with Fail2Ban's own
//!   `CommandAction.replaceTag` for inet4 and inet6, so both sides give the command text that
//!   would run, with only dynamic tags (`<ip>`, `<family>`, ...) left. Fail2Ban's run-time
//!   extras `<br>`, `<sp>`, `<fq-hostname>` and `<sh-hostname>` are switched off there: Warden
//!   fills them in per run as well, and its dump leaves them as tags.
//! - Other action properties (`[Init]` values and jail parameters: `port`, `chain`, ...) are
//!   sent raw by Fail2Ban (`chain = <known/chain>`) and compared raw.
//! - Types: Fail2Ban's reader turns some options into booleans or ints before sending them;
//!   Warden's strings are compared after the same conversion (Fail2Ban's `_as_bool`). Durations
//!   are compared as written and as seconds (Fail2Ban's `MyTime.str2seconds`).
//! - Options Fail2Ban does not send take its server's defaults (`usedns` warn, `maxlines` 1,
//!   no `prefregex`/`datepattern`); Warden must show the same, or not have the option at all.
//! - Log files: Fail2Ban expands `logpath` globs when it reads the tree and drops names that
//!   match nothing; Warden's daemon expands them when it starts. Warden's side is expanded with
//!   the daemon's own function and kept to existing files, and both lists are sorted (Python's
//!   `glob` returns directory order).

use crate::support::netns::{require_root_and_tools, Netns};
use crate::support::{fail2ban_root, wait_for, warden_bin, Daemon, Workspace};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

/// Replays `fail2ban-client -d` output (stdin) into JSON (stdout); see the module docs.
const NORMALISE: &str = r#"
import ast, json, sys
from fail2ban.client.actionreader import ActionReader
from fail2ban.client.filterreader import FilterReader
from fail2ban.client.jailreader import JailReader
from fail2ban.server import action as f2b_action
from fail2ban.server.action import CommandAction
from fail2ban.server.failregex import Regex
from fail2ban.server.mytime import MyTime

f2b_action.ADD_REPL_TAGS.clear()

jails, server, errors = {}, {}, []
def jail(name):
    return jails.setdefault(name, {"set": {}, "failregex": [], "ignoreregex": [],
        "journalmatch": [], "ignoreip": [], "logpath": [], "actions": []})

for line in sys.stdin:
    line = line.strip()
    if not line.startswith('['):
        continue
    cmd = ast.literal_eval(line)
    op = cmd[0]
    if op == 'config-error':
        errors.append(cmd[1])
    elif op == 'add':
        jail(cmd[1])["backend"] = cmd[2]
    elif op == 'start':
        jail(cmd[1])
    elif op == 'set' and len(cmd) == 3:
        server[cmd[1]] = cmd[2]
    elif op in ('set', 'multi-set'):
        j, what, rest = jail(cmd[1]), cmd[2], cmd[3:]
        if what in ('addfailregex', 'addignoreregex'):
            j[what[3:]].extend(rest[0] if op == 'multi-set' else rest)
        elif what == 'addjournalmatch':
            j["journalmatch"].append(rest)
        elif what == 'addignoreip':
            j["ignoreip"].extend(rest)
        elif what == 'addlogpath':
            j["logpath"].append(rest)
        elif what == 'addaction':
            j["actions"].append({"name": rest[0], "props": {}, "python": rest[1:]})
        elif what == 'action':
            act = [a for a in j["actions"] if a["name"] == rest[0]][-1]
            for k, v in (rest[1] if op == 'multi-set' else [rest[1:]]):
                act["props"][k] = v
        else:
            j["set"][what] = rest[0] if len(rest) == 1 else rest
    else:
        errors.append("unexpected command %r" % (cmd,))

def expand(regex, usedns):
    try:
        return Regex(regex, useDns=usedns).getRegex()
    except Exception as e:
        return "cannot expand: %s" % e

for j in jails.values():
    j["seconds"] = {k: MyTime.str2seconds(j["set"][k]) for k in ('bantime', 'findtime') if k in j["set"]}
    usedns = j["set"].get("usedns", "warn")
    j["expanded"] = {k: [expand(r, usedns) for r in j[k]] for k in ('failregex', 'ignoreregex')}
    if j["set"].get("prefregex"):
        j["expanded"]["prefregex"] = expand(j["set"]["prefregex"], usedns)
    for a in j["actions"]:
        if a["python"]:
            continue
        runtime = CommandAction(None, a["name"])
        for k, v in a["props"].items():
            setattr(runtime, k, v)
        a["timeout"] = runtime.timeout
        a["rendered"] = {fam: {k: (v if isinstance(v, bool) else
                                   CommandAction.replaceTag('<%s>' % k, runtime._properties,
                                                            conditional='family=' + fam))
                               for k, v in a["props"].items() if k in ActionReader._configOpts}
                         for fam in ('inet4', 'inet6')}

if 'dbpurgeage' in server:
    server['dbpurgeage'] = MyTime.str2seconds(server['dbpurgeage'])
json.dump({
    "server": server, "jails": jails, "errors": errors,
    "jail_options": sorted(set(JailReader._configOpts) - JailReader._ignoreOpts
                           - {"logpath", "backend", "ignoreip"}),
    "filter_options": sorted(set(FilterReader._configOpts)
                             - {"failregex", "ignoreregex", "journalmatch"}),
    "action_methods": sorted(ActionReader._configOpts),
}, sys.stdout)
"#;

/// Debian's fail2ban package, extracted (by `scripts/fetch-fail2ban` unless `$WARDEN_F2B_ROOT`
/// already names it).
fn fail2ban_package() -> &'static Path {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    ROOT.get_or_init(|| {
        if let Some(root) = fail2ban_root() {
            return root;
        }
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/fetch-fail2ban");
        let out = Command::new(&script)
            .output()
            .unwrap_or_else(|e| panic!("running {}: {e}", script.display()));
        assert!(
            out.status.success(),
            "{} failed (Debian's fail2ban package is needed): {}",
            script.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
    })
}

fn python_path(root: &Path) -> PathBuf {
    root.join("usr/lib/python3/dist-packages")
}

/// `fail2ban-client -c DIR -d` (with `-v`: its notices name the log globs that match nothing):
/// (stdout, stderr).
fn fail2ban_client_dump(root: &Path, dir: &Path, verbose: bool) -> (String, String) {
    let mut cmd = Command::new("python3");
    cmd.env("PYTHONPATH", python_path(root))
        .arg(root.join("usr/bin/fail2ban-client"))
        .arg("-c")
        .arg(dir);
    if verbose {
        cmd.arg("-v");
    }
    let out = cmd.arg("-d").output().expect("running python3");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "fail2ban-client -d failed: {}\n{stderr}",
        out.status
    );
    (String::from_utf8(out.stdout).unwrap(), stderr)
}

/// The stream Fail2Ban prints, replayed into JSON by [`NORMALISE`].
fn fail2ban_view(root: &Path, dir: &Path) -> Value {
    let (stream, _) = fail2ban_client_dump(root, dir, false);
    let mut child = Command::new("python3")
        .env("PYTHONPATH", python_path(root))
        .args(["-c", NORMALISE])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running python3");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stream.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "normalising fail2ban-client -d failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let view: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        view["errors"],
        json!([]),
        "Fail2Ban rejects the tree:\n{stream}"
    );
    view
}

/// `warden check --config DIR --dump --json`, parsed.
fn warden_view(dir: &Path) -> Value {
    let out = Command::new(warden_bin())
        .args(["check", "--dump", "--json", "--config"])
        .arg(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "warden check --dump failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let view: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(view["schema"], "warden-dump/1");
    view
}

/// `warden check --config DIR --dump`, the text form.
fn warden_text_dump(dir: &Path) -> String {
    let out = Command::new(warden_bin())
        .args(["check", "--dump", "--config"])
        .arg(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Create every log file a `fail2ban-client -v -d` run reports missing under `logs` (a glob
/// gets one file it matches), so that Fail2Ban sends its log paths.
fn create_missing_logs(root: &Path, dir: &Path, logs: &Path) -> usize {
    let (_, stderr) = fail2ban_client_dump(root, dir, true);
    let mut created = BTreeSet::new();
    for line in stderr.lines() {
        let Some((_, glob)) = line.split_once("No file(s) found for glob ") else {
            continue;
        };
        let glob = glob.trim();
        if !Path::new(glob).starts_with(logs) {
            continue;
        }
        let file = PathBuf::from(one_match_of(glob));
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(&file, "").unwrap();
        created.insert(file);
    }
    created.len()
}

/// A name the shell glob `glob` matches: `*` and `?` become `x`, `[...]` its first character.
fn one_match_of(glob: &str) -> String {
    let mut out = String::new();
    let mut chars = glob.chars();
    while let Some(c) = chars.next() {
        match c {
            '*' | '?' => out.push('x'),
            '[' => {
                let class: String = chars.by_ref().take_while(|&c| c != ']').collect();
                out.push(
                    class
                        .trim_start_matches(['!', '^'])
                        .chars()
                        .next()
                        .unwrap_or('x'),
                );
            }
            c => out.push(c),
        }
    }
    out
}

/// Fail2Ban's `_as_bool`.
fn as_bool(v: &Value) -> Value {
    match v {
        Value::String(s) => Value::Bool(matches!(
            s.to_lowercase().as_str(),
            "1" | "on" | "true" | "yes"
        )),
        other => other.clone(),
    }
}

/// Fail2Ban's `splitwords`: words separated by spaces, commas or new lines.
fn splitwords(s: &str) -> Vec<Value> {
    s.split([' ', ',', '\n'])
        .map(str::trim)
        .filter(|w| !w.is_empty())
        .map(|w| Value::String(w.to_string()))
        .collect()
}

/// Python's `shlex.split` for the journalmatch syntax: words, `'...'`, `"..."`, `\x`.
fn shlex_split(s: &str) -> Vec<Value> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if let Some(w) = word.take() {
                    words.push(Value::String(w));
                }
            }
            '\'' => word
                .get_or_insert_with(String::new)
                .extend(chars.by_ref().take_while(|&c| c != '\'')),
            '"' => {
                let w = word.get_or_insert_with(String::new);
                while let Some(c) = chars.next() {
                    match c {
                        '"' => break,
                        '\\' => w.extend(chars.next()),
                        c => w.push(c),
                    }
                }
            }
            '\\' => word.get_or_insert_with(String::new).extend(chars.next()),
            c => word.get_or_insert_with(String::new).push(c),
        }
    }
    words.extend(word.map(Value::String));
    words
}

/// Key-by-key comparison, counting what was compared.
#[derive(Default)]
struct Comparison {
    jails: usize,
    keys: usize,
    mismatches: Vec<String>,
}

impl Comparison {
    fn eq(&mut self, what: impl std::fmt::Display, fail2ban: &Value, warden: &Value) {
        self.keys += 1;
        if fail2ban != warden {
            self.mismatches.push(format!(
                "{what}:\n    Fail2Ban: {fail2ban}\n    Warden:   {warden}"
            ));
        }
    }

    fn report(&self, tree: &str) {
        println!(
            "{tree}: compared {} jails, {} keys, {} mismatches",
            self.jails,
            self.keys,
            self.mismatches.len()
        );
        for m in self.mismatches.iter().take(60) {
            println!("  {m}");
        }
        assert!(
            self.mismatches.is_empty(),
            "{tree}: Warden reads the tree differently from Fail2Ban ({} mismatches, listed above)",
            self.mismatches.len()
        );
    }
}

fn strings(v: &Value) -> impl Iterator<Item = (&String, &Value)> {
    v.as_object().into_iter().flatten()
}

/// Compare everything `fail2ban-client -d` says about the tree with Warden's dump.
fn compare(f2b: &Value, warden: &Value) -> Comparison {
    let mut c = Comparison::default();
    compare_server(&mut c, &f2b["server"], &warden["server"]);
    let f2b_names: BTreeSet<&String> = strings(&f2b["jails"]).map(|(n, _)| n).collect();
    let warden_names: BTreeSet<&String> = strings(&warden["jails"]).map(|(n, _)| n).collect();
    c.eq("enabled jails", &json!(f2b_names), &json!(warden_names));
    for (name, fj) in strings(&f2b["jails"]) {
        let Some(wj) = warden["jails"].get(name) else {
            continue;
        };
        c.jails += 1;
        compare_jail(&mut c, f2b, name, fj, wj);
        compare_actions(&mut c, f2b, name, fj, wj);
    }
    c
}

fn compare_server(c: &mut Comparison, f2b: &Value, warden: &Value) {
    for key in [
        "loglevel",
        "logtarget",
        "dbfile",
        "dbpurgeage",
        "dbmaxmatches",
    ] {
        c.eq(format!("server {key}"), &f2b[key], &warden[key]);
    }
    let others: Vec<&String> = strings(f2b)
        .map(|(k, _)| k)
        .filter(|k| warden.get(k.as_str()).is_none())
        .collect();
    // Fail2Ban's `syslogsocket` and `allowipv6` have no Warden counterpart (logging goes to
    // a file or stderr; IPv6 is always on).
    println!("server options without a Warden counterpart (not compared): {others:?}");
}

fn compare_jail(c: &mut Comparison, f2b: &Value, name: &str, fj: &Value, wj: &Value) {
    let filter = &wj["filter"];
    let set = &fj["set"];
    c.eq(format!("[{name}] backend"), &fj["backend"], &wj["backend"]);

    let jail_options = f2b["jail_options"].as_array().unwrap().iter();
    let filter_options = f2b["filter_options"].as_array().unwrap().iter();
    let mut names: BTreeSet<&str> = jail_options
        .chain(filter_options)
        .filter_map(Value::as_str)
        .collect();
    names.extend(strings(set).map(|(k, _)| k.as_str()));
    for key in names {
        let sent = set.get(key);
        let warden_value = match key {
            "usedns" | "logencoding" | "logtimezone" | "maxretry" | "maxmatches" | "ignoreself"
                if sent.is_some() =>
            {
                wj[key].clone()
            }
            "prefregex" => filter["prefregex"]["regex"].clone(),
            "datepattern" | "maxlines" => filter[key].clone(),
            "usedns" => wj["usedns"].clone(),
            _ => wj["options"][key].clone(),
        };
        let fail2ban_value = match (key, sent) {
            // Fail2Ban's server treats an empty pattern as none.
            ("prefregex" | "datepattern", Some(Value::String(s))) if s.is_empty() => Value::Null,
            (_, Some(v)) => v.clone(),
            // Its server's defaults when nothing is sent.
            ("usedns", None) => json!("warn"),
            ("maxlines", None) => json!(1),
            (_, None) => Value::Null,
        };
        let warden_value = if fail2ban_value.is_boolean() {
            as_bool(&warden_value)
        } else {
            warden_value
        };
        c.eq(format!("[{name}] {key}"), &fail2ban_value, &warden_value);
    }
    for (key, seconds) in strings(&fj["seconds"]) {
        c.eq(
            format!("[{name}] {key} in seconds"),
            seconds,
            &wj[key.as_str()],
        );
    }

    for key in ["failregex", "ignoreregex"] {
        let written: Vec<&Value> = filter[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| &r["regex"])
            .collect();
        c.eq(format!("[{name}] {key}"), &fj[key], &json!(written));
        let expanded: Vec<&Value> = filter[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| &r["expanded"])
            .collect();
        c.eq(
            format!("[{name}] {key} expanded"),
            &fj["expanded"][key],
            &json!(expanded),
        );
    }
    if let Some(p) = fj["expanded"].get("prefregex") {
        c.eq(
            format!("[{name}] prefregex expanded"),
            p,
            &filter["prefregex"]["expanded"],
        );
    }
    let journalmatch: Vec<Value> = filter["journalmatch"]
        .as_str()
        .unwrap_or_default()
        .split('\n')
        .filter(|l| !l.is_empty())
        .map(|l| Value::Array(shlex_split(l)))
        .collect();
    c.eq(
        format!("[{name}] journalmatch"),
        &fj["journalmatch"],
        &json!(journalmatch),
    );
    let ignoreip = splitwords(wj["options"]["ignoreip"].as_str().unwrap_or_default());
    c.eq(
        format!("[{name}] ignoreip"),
        &fj["ignoreip"],
        &json!(ignoreip),
    );
    c.eq(
        format!("[{name}] logpath"),
        &sorted(&fj["logpath"]),
        &warden_logfiles(wj),
    );
}

fn sorted(v: &Value) -> Value {
    let mut items = v.as_array().cloned().unwrap_or_default();
    items.sort_by_key(|i| i.to_string());
    Value::Array(items)
}

/// Warden's `logpath` as its daemon expands it, existing files only, as `[path, head|tail]`.
fn warden_logfiles(wj: &Value) -> Value {
    let mut files = Vec::new();
    for entry in wj["logpath"].as_array().unwrap() {
        let pattern = entry["path"].as_str().unwrap().to_string();
        let pos = if entry["tail"] == json!(true) {
            "tail"
        } else {
            "head"
        };
        for file in warden_daemon::jail::expand_logpaths(&[pattern]) {
            if file.exists() {
                files.push(json!([file.display().to_string(), pos]));
            }
        }
    }
    sorted(&Value::Array(files))
}

fn compare_actions(c: &mut Comparison, f2b: &Value, name: &str, fj: &Value, wj: &Value) {
    let names = |actions: &Value| -> Value {
        actions
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["name"].clone())
            .collect()
    };
    c.eq(
        format!("[{name}] actions"),
        &names(&fj["actions"]),
        &names(&wj["actions"]),
    );
    let methods: BTreeSet<&str> = f2b["action_methods"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let wactions: BTreeMap<&str, &Value> = wj["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["name"].as_str().unwrap(), a))
        .collect();
    for fa in fj["actions"].as_array().unwrap() {
        let act = fa["name"].as_str().unwrap();
        let Some(wa) = wactions.get(act) else {
            continue;
        };
        if fa["python"] != json!([]) {
            c.eq(
                format!("[{name}] action {act}: Python action"),
                &fa["python"],
                &json!(null),
            );
            continue;
        }
        c.eq(
            format!("[{name}] action {act} timeout"),
            &fa["timeout"],
            &wa["timeout"],
        );
        for (key, value) in strings(&fa["props"]) {
            if let Some((base, family)) = key.split_once("?family=") {
                let w = &wa["family_properties"][family][base];
                c.eq(format!("[{name}] action {act} {key}"), value, w);
            } else if methods.contains(key.as_str()) {
                for family in ["inet4", "inet6"] {
                    let f = &fa["rendered"][family][key.as_str()];
                    let w = &wa["commands"][family][key.as_str()];
                    let w = if f.is_boolean() {
                        as_bool(w)
                    } else {
                        w.clone()
                    };
                    c.eq(format!("[{name}] action {act} {key} ({family})"), f, &w);
                }
            } else {
                c.eq(
                    format!("[{name}] action {act} {key}"),
                    value,
                    &wa["properties"][key.as_str()],
                );
            }
        }
        // Methods Warden has and Fail2Ban does not send.
        for (key, _) in strings(&wa["commands"]["inet4"]) {
            if fa["props"].get(key.as_str()).is_none() {
                c.eq(
                    format!("[{name}] action {act} {key}"),
                    &Value::Null,
                    &wa["commands"]["inet4"][key.as_str()],
                );
            }
        }
    }
}

/// Jail sections of a `jail.conf`.
fn jail_sections(jail_conf: &Path) -> Vec<String> {
    std::fs::read_to_string(jail_conf)
        .unwrap()
        .lines()
        .filter_map(|l| {
            l.strip_prefix('[')?
                .split_once(']')
                .map(|(n, _)| n.to_string())
        })
        .filter(|n| n != "DEFAULT" && n != "INCLUDES")
        .collect()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// Acceptance 1: Debian's tree with every jail of its `jail.conf` enabled.
#[test]
fn every_debian_jail_reads_as_fail2ban_reads_it() {
    let root = fail2ban_package();
    let tmp = tempfile::Builder::new()
        .prefix("warden-diff-")
        .tempdir()
        .unwrap();
    let dir = tmp.path().join("fail2ban");
    let logs = tmp.path().join("logs");
    copy_dir(&root.join("etc/fail2ban"), &dir);
    let jails = jail_sections(&dir.join("jail.conf"));
    assert_eq!(
        jails.len(),
        91,
        "Debian's fail2ban 1.0.2 jail.conf defines 91 jails"
    );
    // Each jail's own log path(s), moved under `logs`: the `paths-*.conf` interpolation still
    // decides the names. (Only the first line of a multi-line value is moved; the others name
    // files that do not exist here, which both sides then leave out.)
    let mut local = String::new();
    for j in &jails {
        local.push_str(&format!(
            "[{j}]\nenabled = true\nlogpath = {}%(known/logpath)s\n\n",
            logs.display()
        ));
    }
    write(&dir.join("jail.local"), &local);
    let created = create_missing_logs(root, &dir, &logs);
    assert!(created > 40, "only {created} log files were asked for");

    let f2b = fail2ban_view(root, &dir);
    let warden = warden_view(&dir);
    let c = compare(&f2b, &warden);
    c.report("Debian's tree, every jail enabled");
    let text = warden_text_dump(&dir);
    for j in &jails {
        assert!(
            text.contains(&format!("\n  {j}:\n")),
            "no [{j}] in the text dump"
        );
    }
    assert_eq!(c.jails, jails.len());
    let sent_logs = strings(&f2b["jails"])
        .filter(|(_, j)| j["logpath"] != json!([]))
        .count();
    assert_eq!(
        sent_logs,
        jails.len(),
        "every jail must have had a log file to compare"
    );
}

/// Acceptance 2: `.local` overrides, `jail.d` drop-ins, `[Init]` values passed from jails,
/// `%(known/...)s` chains, `banaction = nftables[type=allports]`.
#[test]
fn overridden_debian_tree_reads_as_fail2ban_reads_it() {
    let root = fail2ban_package();
    let tmp = tempfile::Builder::new()
        .prefix("warden-diff-")
        .tempdir()
        .unwrap();
    let dir = tmp.path().join("fail2ban");
    let logs = tmp.path().join("logs");
    copy_dir(&root.join("etc/fail2ban"), &dir);
    for f in [
        "auth.log",
        "nginx-error.log",
        "mail.log",
        "fail2ban.log",
        "apache-error.log",
        "custom1.log",
        "custom2.log",
    ] {
        write(&logs.join(f), "");
    }
    let l = logs.display();
    write(
        &dir.join("jail.local"),
        &format!(
            r#"[DEFAULT]
bantime = 1h
findtime = 30m
maxretry = 3
ignoreip = 127.0.0.1/8 ::1 192.0.2.0/24
banaction = nftables[type=allports]
destemail = admin@example.org
sender = fail2ban@example.org

[sshd]
mode = aggressive
port = 2222
failregex = %(known/failregex)s
            ^Extra failure from <HOST> port \d+$
ignoreip = %(known/ignoreip)s 198.51.100.7

[nginx-http-auth]
enabled = true
logpath = {l}/nginx-error.log
action = iptables-multiport[port="80,443", chain=DOCKER-USER]

[postfix]
enabled = true
logpath = {l}/mail.log
action = %(action_mwl)s

[recidive]
enabled = true
logpath = {l}/fail2ban.log

[custom]
enabled = true
filter = custom[mode=extra, maxlines=3]
logpath = {l}/custom1.log
          {l}/custom2.log tail
action = custom[port=8080]
         custom[name=custom-second, port="9090", timeout=1m30s]
usedns = no
"#
        ),
    );
    // sshd's log file through Debian's own `%(sshd_log)s` -> `%(syslog_authpriv)s`.
    write(
        &dir.join("paths-debian.local"),
        &format!("[DEFAULT]\nsyslog_authpriv = {l}/auth.log\n"),
    );
    write(
        &dir.join("jail.d/10-web.conf"),
        &format!(
            "[apache-auth]\nenabled = true\nlogpath = {l}/apache-error.log\n\
             action = %(action_)s\n         sendmail-whois[name=apache, dest=\"%(destemail)s\"]\n"
        ),
    );
    write(
        &dir.join("jail.d/20-override.local"),
        "[sshd]\nmaxretry = 2\nbantime.increment = true\nbantime.factor = 2\nbantime.maxtime = 1w\n\
         findtime = %(known/findtime)s\n\n\
         [nginx-http-auth]\naction = %(known/action)s\n         nftables-multiport[name=nginx6, port=\"http,https\"]\n",
    );
    write(
        &dir.join("filter.d/sshd.local"),
        "[Definition]\nignoreregex = ^Ignore me from <HOST>$\n",
    );
    write(
        &dir.join("filter.d/sshd.d/50-date.conf"),
        "[Definition]\ndatepattern = ^%%b %%d %%H:%%M:%%S\n",
    );
    write(
        &dir.join("filter.d/custom.conf"),
        "[INCLUDES]\nbefore = common.conf\n\n[Init]\nmode = normal\nmaxlines = 1\n\n[Definition]\n\
         _daemon = customd\ncmnre = ^%(__prefix_line)sfailure from <HOST>\nmdre-normal = %(cmnre)s$\n\
         mdre-extra = %(cmnre)s for user <F-USER>\\S+</F-USER>$\nfailregex = <mdre-<mode>>\n\
         journalmatch = _SYSTEMD_UNIT=customd.service + _COMM=customd\n",
    );
    write(
        &dir.join("filter.d/custom.local"),
        "[Definition]\nfailregex = %(known/failregex)s\n            ^second <HOST> in <sec2/word>$\n\n[sec2]\nword = here\n",
    );
    write(
        &dir.join("action.d/custom.conf"),
        "[INCLUDES]\nbefore = iptables.conf\n\n[Definition]\nactionstart = <iptables> -N f2b-<name>\nactionflush = echo flush within <timeout>\n\
         actionban = <iptables> -I f2b-<name> -p <protocol> --dport <port> -s <ip> -j <blocktype>\n\
         actionunban = <iptables> -D f2b-<name> -p <protocol> --dport <port> -s <ip> -j <blocktype>\n\
         actioncheck = echo <known/port> <other/thing>\nnorestored = yes\ntimeout = 2m\n\n\
         [other]\nthing = from-other-section\n\n[Init]\nport = 22\nextra = <port>-<protocol>\n",
    );
    write(
        &dir.join("action.d/custom.local"),
        "[Definition]\nactionban = %(known/actionban)s; echo banned <ip> on <extra>\n",
    );
    write(
        &dir.join("action.d/iptables.local"),
        "[Init]\nblocktype = DROP\n",
    );
    write(
        &dir.join("action.d/nftables.local"),
        "[Init]\ntable = f2b-custom\n",
    );
    write(
        &dir.join("fail2ban.local"),
        "[Definition]\nloglevel = DEBUG\ndbpurgeage = 2d\n",
    );

    let f2b = fail2ban_view(root, &dir);
    let warden = warden_view(&dir);
    let c = compare(&f2b, &warden);
    c.report("Debian's tree with overrides");
    assert_eq!(c.jails, 6);
    // The overrides took effect (so the comparison above is about them, not about defaults).
    let sshd = &f2b["jails"]["sshd"];
    assert_eq!(sshd["set"]["maxretry"], 2);
    assert_eq!(
        sshd["ignoreip"].as_array().unwrap().last().unwrap(),
        "198.51.100.7"
    );
    assert!(sshd["failregex"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .as_str()
        .unwrap()
        .starts_with("^Extra failure"));
    let nginx_start =
        &f2b["jails"]["nginx-http-auth"]["actions"][0]["rendered"]["inet4"]["actionstart"];
    assert!(nginx_start
        .as_str()
        .unwrap()
        .contains("-I DOCKER-USER -p $proto -m multiport --dports 80,443"));
    assert_eq!(
        f2b["jails"]["sshd"]["actions"][0]["props"]["type"],
        "allports"
    );
    let custom = &f2b["jails"]["custom"]["actions"];
    assert_eq!(
        custom[0]["timeout"], 60,
        "[Definition] timeout is not Fail2Ban's"
    );
    assert_eq!(
        custom[1]["rendered"]["inet6"]["actionflush"],
        "echo flush within 90"
    );
}

fn rules(ns: &Netns, tool: &str, chain: &str) -> String {
    String::from_utf8_lossy(&ns.try_exec(&[tool, "-w", "-S", chain]).stdout).into_owned()
}

/// Acceptance 3: `warden server --config <Debian's tree>` runs Debian's default `sshd` jail
/// as it is (its `iptables-multiport` action, `port = ssh`), inside a network namespace.
#[test]
fn debian_tree_as_is_runs_the_sshd_jail() {
    let root = fail2ban_package();
    require_root_and_tools();
    let ns = Netns::new("dsshd");
    let ws = Workspace::with_tree(&root.join("etc/fail2ban"));
    let daemon = Daemon::start(&ws, Some(&ns.name));
    assert_eq!(
        daemon.ok(&["status"]),
        "Status\n|- Number of jail:\t1\n`- Jail list:\tsshd\n"
    );
    assert_eq!(daemon.jail_status("sshd").file_list, ["/var/log/auth.log"]);
    // iptables-multiport has `[Init?family=inet6]` values, so, as in Fail2Ban, each family's
    // actionstart runs with that family's first ban.
    assert_eq!(rules(&ns, "iptables", "f2b-sshd"), "");
    let jump = "-A INPUT -p tcp -m multiport --dports 22 -j f2b-sshd";
    daemon.ok(&["set", "sshd", "banip", "192.0.2.9"]);
    wait_for(
        "the IPv4 chain, its jump and the ban",
        Duration::from_secs(10),
        || {
            rules(&ns, "iptables", "f2b-sshd").contains(
                "-A f2b-sshd -s 192.0.2.9/32 -j REJECT --reject-with icmp-port-unreachable",
            ) && rules(&ns, "iptables", "INPUT").contains(jump)
        },
    );
    assert!(rules(&ns, "iptables", "f2b-sshd").contains("-A f2b-sshd -j RETURN"));
    assert_eq!(rules(&ns, "ip6tables", "f2b-sshd"), "");
    daemon.ok(&["set", "sshd", "banip", "2001:db8::9"]);
    wait_for(
        "the IPv6 chain, its jump and the ban",
        Duration::from_secs(10),
        || {
            rules(&ns, "ip6tables", "f2b-sshd").contains(
                "-A f2b-sshd -s 2001:db8::9/128 -j REJECT --reject-with icmp6-port-unreachable",
            ) && rules(&ns, "ip6tables", "INPUT").contains(jump)
        },
    );
    assert_eq!(
        daemon.jail_status("sshd").banned,
        ["192.0.2.9", "2001:db8::9"]
    );

    let log = daemon.stop();
    for tool in ["iptables", "ip6tables"] {
        let all = ns.exec(&[tool, "-w", "-S"]);
        assert!(
            !all.contains("f2b-sshd"),
            "{tool} chain left behind:\n{all}\n{log}"
        );
    }
}
