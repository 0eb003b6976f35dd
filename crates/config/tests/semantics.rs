//! Fail2Ban reader semantics on small trees written from scratch.

use std::path::Path;

use crate::support::{empty, load_err, load_ok, render, write};

/// A minimal tree: one filter, one action, and a jail file.
fn minimal(root: &Path, jail: &str) {
    write(
        root,
        "filter.d/demo.conf",
        "[INCLUDES]\nbefore = common.conf\n\n[Init]\nmode = normal\n\n[Definition]\n\
         _re-normal = ^%(__prefix_line)sbad login from <HOST>$\n\
         _re-strict = %(_re-normal)s\n             ^%(__prefix_line)sprobe from <HOST>$\n\
         failregex = <_re-<mode>>\nignoreregex =\n",
    );
    write(
        root,
        "filter.d/common.conf",
        "[DEFAULT]\n__prefix_line = <pfx>\npfx = \\S+ demo:\\s\n",
    );
    write(
        root,
        "action.d/echo.conf",
        "[Definition]\nactionban = <cmd> ban <ip> <name> on <port>\nactionunban = <cmd> unban <ip>\n\
         [Init]\nname = default\nport = 1\ncmd = echo <chain>\nchain = IN\n\
         [Init?family=inet6]\ncmd = echo6 <chain>\n",
    );
    write(root, "jail.conf", jail);
}

#[test]
fn overlay_order_is_conf_d_conf_local_d_local() {
    let dir = empty();
    let root = dir.path();
    minimal(
        root,
        "[DEFAULT]\nbantime = 1\n[demo]\nenabled = true\nfilter = demo\naction = echo\nlogpath = /l\n",
    );
    write(root, "jail.d/b.conf", "[DEFAULT]\nbantime = 3\n");
    write(root, "jail.d/a.conf", "[DEFAULT]\nbantime = 2\n");
    write(root, "jail.local", "[demo]\nbantime = 4\nfindtime = 4\n");
    write(root, "jail.d/a.local", "[demo]\nfindtime = 5\n");
    write(root, "jail.d/.hidden.local", "[demo]\nfindtime = 99\n");
    write(root, "jail.d/notes.txt", "[demo]\nfindtime = 98\n");
    let c = load_ok(root);
    let j = &c.jails[0];
    assert_eq!((j.bantime, j.findtime), (4, 5));
    // DEFAULT: a.conf then b.conf (sorted) -> 3; shown through a jail without its own value.
    write(root, "jail.local", "[demo]\nfindtime = 4\n");
    let c = load_ok(root);
    assert_eq!(c.jails[0].bantime, 3);
}

#[test]
fn includes_before_after_with_local_files_and_known_values() {
    let dir = empty();
    let root = dir.path();
    minimal(
        root,
        "[INCLUDES]\nbefore = paths/first.conf\nafter = last.conf\n\
         [DEFAULT]\nlp = /from/jail.conf\n\
         [demo]\nenabled = true\nfilter = demo\naction = echo\nlogpath = %(lp)s\n  %(known/logpath)s\nignorecommand = %(known/ignorecommand)s+jail\n",
    );
    write(
        root,
        "paths/first.conf",
        "[INCLUDES]\nbefore = ../base.conf\n[demo]\nignorecommand = first\n",
    );
    write(root, "base.conf", "[demo]\nlogpath = /from/base\n");
    write(
        root,
        "paths/first.local",
        "[DEFAULT]\nlp = /from/first.local\n",
    );
    write(root, "last.conf", "[DEFAULT]\nmaxretry = 7\n");
    let c = load_ok(root);
    let j = &c.jails[0];
    // paths/first.local comes after paths/first.conf, both before jail.conf, which wins.
    assert_eq!(j.logpath, ["/from/jail.conf", "/from/base"]);
    assert_eq!(j.ignorecommand.as_deref(), Some("first+jail"));
    assert_eq!(j.maxretry, 7);
}

#[test]
fn include_loops_terminate() {
    let dir = empty();
    let root = dir.path();
    minimal(
        root,
        "[INCLUDES]\nbefore = a.conf\n[demo]\nenabled = true\nfilter = demo\naction = echo\nlogpath = /l\n",
    );
    write(root, "a.conf", "[INCLUDES]\nbefore = b.conf\n");
    write(
        root,
        "b.conf",
        "[INCLUDES]\nbefore = a.conf\n         ./sub/../a.conf\n         jail.conf\n",
    );
    load_ok(root);
}

#[test]
fn filter_init_params_nested_tags_and_line_locations() {
    let dir = empty();
    let root = dir.path();
    minimal(
        root,
        "[demo]\nenabled = true\nfilter = demo[mode=strict]\naction = echo\nlogpath = /l\n",
    );
    let c = load_ok(root);
    let f = &c.jails[0].filter;
    let regexes: Vec<&str> = f.failregex.iter().map(|(r, _)| r.as_str()).collect();
    assert_eq!(
        regexes,
        [
            r"^\S+ demo:\sbad login from <HOST>$",
            r"^\S+ demo:\sprobe from <HOST>$"
        ]
    );
    assert_eq!(f.options["mode"], "strict");
    assert_eq!(f.options["known/mode"], "normal");
    assert_eq!(f.options["logtype"], "file");
}

#[test]
fn jail_regex_overrides_can_extend_the_filter() {
    let dir = empty();
    let root = dir.path();
    minimal(
        root,
        "[demo]\nenabled = true\nfilter = demo\naction = echo\nlogpath = /l\n\
         failregex = %(known/failregex)s\n            ^extra <HOST>$\nmaxlines = 3\n",
    );
    let c = load_ok(root);
    let f = &c.jails[0].filter;
    let regexes: Vec<&str> = f.failregex.iter().map(|(r, _)| r.as_str()).collect();
    assert_eq!(
        regexes,
        [r"^\S+ demo:\sbad login from <HOST>$", "^extra <HOST>$"]
    );
    assert_eq!(f.maxlines, 3);
}

#[test]
fn failregex_lines_keep_their_source_lines() {
    let dir = empty();
    let root = dir.path();
    minimal(
        root,
        "[demo]\nenabled = true\nfilter = lines\naction = echo\nlogpath = /l\n",
    );
    write(
        root,
        "filter.d/lines.conf",
        "[Definition]\nfailregex = ^a <HOST>\n\n    # comment\n    ^b <HOST>\n\n",
    );
    let c = load_ok(root);
    let lines: Vec<Option<usize>> = c.jails[0]
        .filter
        .failregex
        .iter()
        .map(|(_, l)| l.line)
        .collect();
    assert_eq!(lines, [Some(2), Some(5)]);
}

#[test]
fn action_params_family_overrides_and_render() {
    let dir = empty();
    let root = dir.path();
    minimal(
        root,
        "[demo]\nenabled = true\nfilter = demo\nlogpath = /l\n\
         action = echo[port=\"22,80\", chain=<known/chain>-X]\n         echo[name=demo-two]\n",
    );
    let c = load_ok(root);
    let a = &c.jails[0].actions;
    assert_eq!(a.len(), 2);
    assert_eq!(a[0].name, "echo");
    assert_eq!(
        a[0].render("actionban", "inet4").unwrap(),
        "echo IN-X ban <ip> demo on 22,80"
    );
    assert_eq!(
        a[0].render("actionban", "inet6").unwrap(),
        "echo6 IN-X ban <ip> demo on 22,80"
    );
    assert_eq!(
        a[1].name, "echo-two",
        "actname made unique from the name suffix"
    );
    assert_eq!(
        a[1].render("actionunban", "inet4").unwrap(),
        "echo IN unban <ip>"
    );
    assert_eq!(a[1].family_properties["inet6"]["cmd"], "echo6 <chain>");
}

#[test]
fn render_leaves_dynamic_and_unknown_tags_and_survives_cycles() {
    let dir = empty();
    let root = dir.path();
    minimal(
        root,
        "[demo]\nenabled = true\nfilter = demo\nlogpath = /l\naction = loop\n",
    );
    write(
        root,
        "action.d/loop.conf",
        "[Definition]\nactionban = <a> <ip> <F-USER> <br> <nope> <bantime>\na = <b>\nb = <a>\n[Init]\ntimeout = 2m\n",
    );
    let c = load_ok(root);
    let a = &c.jails[0].actions[0];
    let out = a.render("actionban", "inet4").unwrap();
    assert!(
        out.ends_with(" <ip> <F-USER> <br> <nope> <bantime>"),
        "{out}"
    );
    assert_eq!(a.timeout(), 120);
}

#[test]
fn interpolation_cycle_in_a_jail_is_an_error() {
    let dir = empty();
    let root = dir.path();
    minimal(
        root,
        "[demo]\nenabled = true\nfilter = demo\naction = echo\nlogpath = %(x)s\nx = %(logpath)s\n",
    );
    let e = load_err(root);
    assert_eq!(e.len(), 1, "{}", render(&e));
    assert_eq!(e[0].key.as_deref(), Some("logpath"));
    assert!(e[0].message.contains("cycle"), "{}", e[0]);
}

#[test]
fn filter_tag_self_reference_is_an_error() {
    let dir = empty();
    let root = dir.path();
    minimal(
        root,
        "[demo]\nenabled = true\nfilter = selfref\naction = echo\nlogpath = /l\n",
    );
    write(
        root,
        "filter.d/selfref.conf",
        "[Definition]\nfailregex = <a>\na = x<b>\nb = <a>\n",
    );
    let e = load_err(root);
    assert!(e[0].message.contains("refers to itself"), "{}", render(&e));
}

#[test]
fn section_references_and_name() {
    let dir = empty();
    let root = dir.path();
    minimal(
        root,
        "[DEFAULT]\nlogpath = /var/log/%(__name__)s.log\n[paths]\nbase = /srv\n\
         [demo]\nenabled = true\nfilter = demo\naction = echo\nignorecommand = %(paths/base)s/check %(default/logpath)s\n",
    );
    let c = load_ok(root);
    let names: Vec<&str> = c.jails.iter().map(|j| j.name.as_str()).collect();
    assert_eq!(
        names,
        ["demo"],
        "[paths] is a (disabled) jail section, as in Fail2Ban"
    );
    let j = &c.jails[0];
    assert_eq!(j.logpath, ["/var/log/demo.log"]);
    assert_eq!(
        j.ignorecommand.as_deref(),
        Some("/srv/check /var/log/demo.log")
    );
}

#[test]
fn fail2ban_conf_is_used_without_warden_conf() {
    let dir = empty();
    let root = dir.path();
    minimal(root, "[demo]\nenabled = false\n");
    write(
        root,
        "fail2ban.conf",
        "[Definition]\nsocket = /run/f2b.sock\nloglevel = %(lvl)s\nlvl = DEBUG\n",
    );
    let c = load_ok(root);
    assert_eq!(c.server.socket.as_deref(), Some(Path::new("/run/f2b.sock")));
    assert_eq!(c.server.loglevel.as_deref(), Some("DEBUG"));
    assert!(c.jails.is_empty());
    write(root, "warden.conf", "[Definition]\nsocket = /run/w.sock\n");
    let c = load_ok(root);
    assert_eq!(c.server.socket.as_deref(), Some(Path::new("/run/w.sock")));
    assert_eq!(c.server.loglevel, None);
}

#[test]
fn python_actions_are_skipped_with_a_warning() {
    let dir = empty();
    let root = dir.path();
    minimal(
        root,
        "[demo]\nenabled = true\nfilter = demo\naction = echo\n  smtp.py[host=x]\nlogpath = /l\n",
    );
    let c = load_ok(root);
    assert_eq!(c.jails[0].actions.len(), 1);
    assert!(
        c.warnings.iter().any(|w| w.message.contains("smtp.py")),
        "{:?}",
        c.warnings
    );
}

/// Fail2Ban's `JailReader` reads a last word `head` or `tail` as where to start reading, so
/// `logpath = /var/log/x.log tail` names `/var/log/x.log`.
#[test]
fn logpath_head_and_tail_words_are_start_positions() {
    let dir = empty();
    let root = dir.path();
    minimal(
        root,
        "[demo]\nenabled = true\nfilter = demo\naction = echo\n\
         logpath = /l/a.log\n          /l/b.log tail\n          /l/*.log HEAD\n",
    );
    let c = load_ok(root);
    assert_eq!(c.jails[0].logpath, ["/l/a.log", "/l/b.log", "/l/*.log"]);
    assert_eq!(c.jails[0].logpath_tail, [false, true, false]);
}

#[test]
fn database_options_are_typed_and_checked() {
    let dir = empty();
    let root = dir.path();
    write(
        root,
        "fail2ban.conf",
        "[Definition]\ndbpurgeage = 1d\ndbmaxmatches = 10\n",
    );
    write(root, "fail2ban.local", "[Definition]\ndbpurgeage = 2d12h\n");
    write(root, "jail.conf", "[DEFAULT]\n");
    let c = load_ok(root);
    assert_eq!(c.server.dbpurgeage, Some(2 * 86400 + 12 * 3600));
    assert_eq!(c.server.dbmaxmatches, Some(10));
    write(
        root,
        "fail2ban.local",
        "[Definition]\ndbpurgeage = soon\ndbmaxmatches = -1\n",
    );
    let errors = load_err(root);
    let keys: Vec<_> = errors.iter().filter_map(|e| e.key.as_deref()).collect();
    assert_eq!(keys, ["dbpurgeage", "dbmaxmatches"], "{}", render(&errors));
}

/// Fail2Ban 1.0.2 sends an action only its methods from `[Definition]` plus its `[Init]` values
/// and jail parameters: a `timeout` in `[Definition]` is not used.
#[test]
fn action_timeout_comes_from_init_or_parameters_not_definition() {
    let dir = empty();
    let root = dir.path();
    minimal(
        root,
        "[demo]\nenabled = true\nfilter = demo\nlogpath = /l\naction = slow\n         slow[name=b, timeout=5]\n         echo[timeout=1m30s]\n",
    );
    write(
        root,
        "action.d/slow.conf",
        "[Definition]\nactionban = sleep <timeout>\ntimeout = 2m\n",
    );
    let c = load_ok(root);
    let a = &c.jails[0].actions;
    assert_eq!(a[0].timeout(), 60);
    assert_eq!(a[0].render("actionban", "inet4").unwrap(), "sleep 60");
    assert_eq!(a[1].timeout(), 5);
    assert_eq!(a[2].timeout(), 90);
    assert!(
        c.warnings
            .iter()
            .any(|w| w.key.as_deref() == Some("timeout") && w.message.contains("[Init]")),
        "{}",
        render(&c.warnings)
    );
}
