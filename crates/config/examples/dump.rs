//! Print how a configuration tree resolves, one JSON object per enabled jail, or the
//! diagnostics when it does not load. Used to compare Warden's reading of a tree with
//! Fail2Ban's (`fail2ban-client -c DIR -d`).
//!
//! Usage: `cargo run -p warden-config --example dump -- DIR [FAMILY]`

use serde_json::{json, Map, Value};

const COMMANDS: &[&str] = &[
    "actionstart",
    "actionstop",
    "actionflush",
    "actioncheck",
    "actionban",
    "actionunban",
    "actionprolong",
    "actionreban",
    "actionrepair",
    "actionreload",
];

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(dir) = args.next() else {
        eprintln!("usage: dump DIR [FAMILY]");
        std::process::exit(2);
    };
    let family = args.next().unwrap_or_else(|| "inet4".into());
    let config = match warden_config::load(std::path::Path::new(&dir)) {
        Ok(c) => c,
        Err(errors) => {
            for e in errors {
                eprintln!("error: {e}");
            }
            std::process::exit(1);
        }
    };
    for w in &config.warnings {
        eprintln!("warning: {w}");
    }
    for jail in &config.jails {
        let mut actions = Vec::new();
        for a in &jail.actions {
            let mut cmds = Map::new();
            for c in COMMANDS {
                if let Some(v) = a.render(c, &family) {
                    cmds.insert(c.to_string(), Value::String(v));
                }
            }
            actions.push(json!({"name": a.name, "commands": cmds}));
        }
        let f = &jail.filter;
        let line = json!({
            "jail": jail.name,
            "filter": f.name,
            "failregex": f.failregex.iter().map(|(r, _)| r).collect::<Vec<_>>(),
            "ignoreregex": f.ignoreregex.iter().map(|(r, _)| r).collect::<Vec<_>>(),
            "prefregex": f.prefregex,
            "datepattern": f.datepattern,
            "maxlines": f.maxlines,
            "journalmatch": f.journalmatch,
            "usedns": jail.usedns,
            "logpath": jail.logpath,
            "bantime": jail.bantime,
            "findtime": jail.findtime,
            "maxretry": jail.maxretry,
            "actions": actions,
        });
        println!("{line}");
    }
}
