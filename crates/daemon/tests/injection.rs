//! Log data through Fail2Ban's own action templates: nothing an attacker writes runs.
//!
//! Debian's fail2ban 1.0.2 package (fetched at test time by `scripts/fetch-fail2ban`; its files
//! are never committed) provides the stock `action.d`. Every template that puts log-derived text
//! into a command (`<matches>`, `<ipmatches>`, `<ipjailmatches>`, `<F-USER>`, `<fid>`) plus the
//! mail, sendmail, iptables, nftables and complain families is rendered with hostile values and
//! run through `sh`. External programs are recording stand-ins first on PATH (none of them can
//! be used for real here: no mail, no network, no host firewall); the test checks both that the
//! stand-ins received the hostile text verbatim and that the marker file was never created.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use warden_daemon::actions::{ActionRunner, Ticket};

fn fail2ban_root() -> PathBuf {
    if let Some(p) = std::env::var_os("WARDEN_F2B_ROOT") {
        return PathBuf::from(p);
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/fetch-fail2ban");
    let out = std::process::Command::new(script)
        .output()
        .expect("running scripts/fetch-fail2ban");
    assert!(
        out.status.success(),
        "cannot fetch Debian's fail2ban package: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

/// Stand-ins for every external program the selected templates call.
const STAND_INS: &[&str] = &[
    "iptables",
    "ip6tables",
    "ipset",
    "nft",
    "sendmail",
    "mail",
    "whois",
    "curl",
    "wget",
    "nginx",
    "dig",
    "host",
    "logger",
];

/// (action as written in the jail, what it must have passed to a stand-in)
fn actions(tmp: &Path) -> Vec<String> {
    let sm = "mailcmd='sendmail -f \"<sender>\" \"<dest>\"'";
    vec![
        "abuseipdb[abuseipdb_apikey=k, abuseipdb_category=18]".into(),
        "blocklist_de[email=a@example.org, apikey=k, service=ssh]".into(),
        format!("nginx-block-map[srv_cfg_path={}/]", tmp.display()),
        format!("sendmail-whois-matches[{sm}]"),
        format!("sendmail-whois-ipmatches[{sm}]"),
        format!("sendmail-whois-ipjailmatches[{sm}]"),
        format!("sendmail-whois[{sm}]"),
        format!("sendmail[{sm}]"),
        "xarf-login-attack[mailcmd=sendmail, service=ssh]".into(),
        "complain".into(),
        "mail-whois".into(),
        "mail".into(),
        "iptables-multiport[port=22]".into(),
        "iptables-allports".into(),
        // warden_native=no: run these templates' own commands (through the stand-in `nft`)
        // instead of Warden's in-process backend, which would change this host's firewall.
        "nftables[type=allports, warden_native=no]".into(),
        "nftables-multiport[port=22, warden_native=no]".into(),
    ]
}

fn hostile(marker: &Path) -> Vec<String> {
    let m = marker.display();
    vec![
        format!("$(touch {m})"),
        format!("`touch {m}`"),
        format!(";touch {m};"),
        format!("|touch {m}"),
        format!("x\ntouch {m}\n"),
        format!("'; touch {m}; '"),
        format!("\"; touch {m}; \""),
        format!("\\\"$(touch {m})\\\""),
        format!("%b\\n$(touch {m})"),
        "A".repeat(10_000),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_log_text_never_runs_through_stock_actions() {
    let root = fail2ban_root();
    let tmp = tempfile::tempdir().unwrap();
    let tree = tmp.path().join("fail2ban");
    copy_tree(&root.join("etc/fail2ban"), &tree);
    let bin = tmp.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let record = tmp.path().join("record.txt");
    for name in STAND_INS {
        use std::os::unix::fs::PermissionsExt;
        let p = bin.join(name);
        std::fs::write(
            &p,
            format!(
                "#!/bin/sh\n{{ echo \"== {name} $*\"; cat; }} >> '{}' 2>/dev/null\nexit 0\n",
                record.display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    // Only stand-ins and ordinary utilities: no /usr/sbin, so no real firewall or MTA.
    std::env::set_var("PATH", format!("{}:/usr/bin:/bin", bin.display()));
    let log = tmp.path().join("app.log");
    std::fs::write(&log, "").unwrap();
    std::fs::write(
        tree.join("filter.d/inj.conf"),
        "[Definition]\nfailregex = ^user <F-USER>.*</F-USER> from <HOST>$\n",
    )
    .unwrap();
    let acts = actions(tmp.path());
    let mut jails = String::new();
    for (i, a) in acts.iter().enumerate() {
        jails.push_str(&format!(
            "[inj{i}]\nenabled = true\nfilter = inj\nlogpath = {}\naction = {a}\n\n",
            log.display()
        ));
    }
    std::fs::write(tree.join("jail.d/zz-injection.local"), jails).unwrap();
    let config = warden_config::load(&tree).unwrap_or_else(|e| panic!("{e:#?}"));

    let marker = tmp.path().join("PWNED");
    let payloads = hostile(&marker);
    let mut ran = 0;
    for jail in config.jails.iter().filter(|j| j.name.starts_with("inj")) {
        assert_eq!(jail.actions.len(), 1, "{}", jail.name);
        let runner = ActionRunner::spawn(&jail.name, jail.actions[0].clone());
        runner.start();
        let mut tickets = Vec::new();
        for (n, p) in payloads.iter().enumerate() {
            let mut fields = BTreeMap::new();
            fields.insert("user".to_string(), p.clone());
            fields.insert("fid".to_string(), p.clone());
            let t = Arc::new(Ticket {
                ip: format!("192.0.2.{}", n + 1).parse().unwrap(),
                time: 1_700_000_000.0,
                failures: 3,
                matches: vec![format!("user {p} from 192.0.2.{}", n + 1), p.clone()],
                fields,
                bantime: 600,
                bancount: 1,
                restored: false,
            });
            runner.ban(Arc::clone(&t));
            tickets.push(t);
        }
        for t in &tickets {
            runner.unban(Arc::clone(t));
        }
        runner.stop(vec![]).await;
        ran += 1;
    }
    assert_eq!(ran, acts.len(), "every selected action ran");
    let recorded = std::fs::read_to_string(&record).unwrap_or_default();
    assert!(
        !marker.exists(),
        "log text ran as a command; stand-ins saw:\n{}",
        &recorded[..recorded.len().min(4000)]
    );
    // The hostile text did reach the programs, as text.
    for p in &payloads[..4] {
        assert!(
            recorded.contains(p.as_str()),
            "payload {p:?} never reached a stand-in"
        );
    }
    for program in ["curl", "sendmail", "mail", "iptables", "nft", "whois"] {
        assert!(
            recorded.contains(&format!("== {program} ")),
            "{program} never called"
        );
    }
    // nginx-block-map writes <fid> into its map file (the unbans remove the lines again); the
    // file itself is the proof that the template ran.
    assert!(
        tmp.path().join("blacklisted-sessions.map").exists(),
        "nginx-block-map did not run"
    );
}
