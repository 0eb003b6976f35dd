//! The ipset backend, for systems filtering with iptables: per jail the `hash:net` sets
//! `f2b-<jail>` (IPv4) and `f2b-<jail>6` (IPv6) — Fail2Ban's `iptables-ipset` names — with
//! per-element timeouts, and one iptables / ip6tables rule each matching the set.
//!
//! Every batch of set changes is one `ipset -exist restore` process reading the whole batch on
//! its standard input, never one process per address. `-exist` makes adding a present element
//! replace its timeout in place (so refreshing a ban never removes it) and removing an absent
//! element a no-op. Unlike an nftables transaction, a restore batch is applied line by line: if
//! it fails midway, the lines before stay applied (each line is atomic).
//!
//! Rules carry the comment `warden:<jail>:<digest of the rule>`, so set-up can tell its own rules
//! from others', add the wanted rule before deleting an outdated one (no moment without a rule),
//! and tear-down finds them again.

use super::{
    check_name, check_words, final_ops, plan_reconcile, protocols, ApplyReport, Blocktype,
    Firewall, FirewallError, JailRule, ReconcileReport, SetOp,
};
use ipnet::IpNet;
use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::io::Write as _;
use std::net::IpAddr;
use std::process::{Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

/// ipset refuses longer timeouts; longer bans are stored without one, as Fail2Ban does.
pub const MAX_IPSET_TIMEOUT: Duration = Duration::from_secs(2_147_483);

/// Default `maxelem` of the sets (ipset's own default, 65,536, is too small for a big attack).
pub const DEFAULT_MAXELEM: u32 = 1 << 20;

/// ipset sets and iptables rules for the jails.
pub struct Ipset {
    prefix: String,
    maxelem: u32,
    /// Serialises batches, so a reconcile's listing and its changes see no interleaved batch.
    lock: Mutex<BTreeSet<String>>,
}

impl Default for Ipset {
    fn default() -> Self {
        Ipset::new()
    }
}

impl Ipset {
    /// Sets named `f2b-<jail>` and `f2b-<jail>6`, up to [`DEFAULT_MAXELEM`] elements each.
    pub fn new() -> Ipset {
        Ipset {
            prefix: "f2b-".to_owned(),
            maxelem: DEFAULT_MAXELEM,
            lock: Mutex::new(BTreeSet::new()),
        }
    }

    /// Uses `prefix` instead of `f2b-` for set names.
    pub fn with_prefix(mut self, prefix: &str) -> Result<Ipset, FirewallError> {
        check_name("ipset prefix", prefix, 16)?;
        self.prefix = prefix.to_owned();
        Ok(self)
    }

    /// Sets the sets' `maxelem` (taken into account when a set is created).
    pub fn with_maxelem(mut self, maxelem: u32) -> Ipset {
        self.maxelem = maxelem;
        self
    }

    fn lock(&self) -> MutexGuard<'_, BTreeSet<String>> {
        self.lock.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The set for one family; ipset names are at most 31 bytes.
    fn set_name(&self, jail: &str, v6: bool) -> Result<String, FirewallError> {
        check_name("jail", jail, 31 - self.prefix.len() - 1)?;
        Ok(format!(
            "{}{jail}{}",
            self.prefix,
            if v6 { "6" } else { "" }
        ))
    }

    fn set_of(&self, jail: &str, net: &IpNet) -> Result<String, FirewallError> {
        self.set_name(jail, matches!(net, IpNet::V6(_)))
    }

    fn restore(&self, script: &str) -> Result<(), FirewallError> {
        if script.is_empty() {
            return Ok(());
        }
        run("ipset", &["-exist", "restore"], Some(script)).map(drop)
    }

    fn list_set(&self, set: &str) -> Result<Vec<(IpNet, Option<Duration>)>, FirewallError> {
        parse_save(&run("ipset", &["save", set], None)?, set)
    }

    fn existing_sets(&self) -> Result<Vec<String>, FirewallError> {
        let out = run("ipset", &["list", "-n"], None)?;
        Ok(out.lines().map(str::to_owned).collect())
    }

    /// The rules wanted for one family, as iptables arguments after the chain name.
    fn rules(
        &self,
        jail: &str,
        set: &str,
        rule: &JailRule,
        v6: bool,
    ) -> Result<Vec<Vec<String>>, FirewallError> {
        let protos = protocols(&rule.protocol)?;
        let target: Vec<String> = match &rule.blocktype {
            Blocktype::Reject if v6 => vec!["REJECT", "--reject-with", "icmp6-port-unreachable"],
            Blocktype::Reject => vec!["REJECT", "--reject-with", "icmp-port-unreachable"],
            Blocktype::Drop => vec!["DROP"],
            Blocktype::Custom(s) => {
                check_words("blocktype", s)?;
                s.split_whitespace().collect()
            }
        }
        .into_iter()
        .map(str::to_owned)
        .collect();
        let ports = match &rule.ports {
            Some(p) => {
                let items = super::port_items(p)?;
                Some(items.join(",").replace('-', ":"))
            }
            None => None,
        };
        if ports.is_some() && protos.is_empty() {
            return Err(FirewallError::InvalidName {
                what: "protocol",
                value: rule.protocol.clone(),
                expected: "tcp, udp, sctp or dccp when ports are given (type=multiport)",
            });
        }
        let mut matchers: Vec<Vec<String>> = Vec::new();
        if protos.is_empty() {
            matchers.push(Vec::new());
        }
        for p in &protos {
            let mut m = vec!["-p".to_owned(), p.clone()];
            if let Some(ports) = &ports {
                m.extend(["-m", "multiport", "--dports", ports].map(str::to_owned));
            }
            matchers.push(m);
        }
        let spec = format!("{matchers:?} {target:?}");
        let tag = format!("warden:{jail}:{:016x}", fnv1a(spec.as_bytes()));
        Ok(matchers
            .into_iter()
            .map(|mut m| {
                m.extend(["-m", "set", "--match-set", set, "src"].map(str::to_owned));
                m.extend(["-m", "comment", "--comment", &tag].map(str::to_owned));
                m.push("-j".to_owned());
                m.extend(target.iter().cloned());
                m
            })
            .collect())
    }

    /// Makes the chain hold exactly `wanted` among the rules tagged for `jail`: missing ones are
    /// inserted first, then outdated ones deleted.
    fn sync_rules(
        &self,
        program: &str,
        chain: &str,
        jail: &str,
        wanted: &[Vec<String>],
    ) -> Result<(), FirewallError> {
        for rule in wanted {
            let mut check = vec!["-w", "-C", chain];
            check.extend(rule.iter().map(String::as_str));
            if run(program, &check, None).is_err() {
                let mut insert = vec!["-w", "-I", chain, "1"];
                insert.extend(rule.iter().map(String::as_str));
                run(program, &insert, None)?;
            }
        }
        let keep: BTreeSet<String> = wanted.iter().filter_map(|r| tag_of(r)).collect();
        for (rule_chain, args) in tagged_rules(program, &format!("warden:{jail}:"))? {
            if rule_chain == chain && tag_of(&args).is_some_and(|t| keep.contains(&t)) {
                continue;
            }
            let mut delete = vec!["-w".to_owned(), "-D".to_owned(), rule_chain];
            delete.extend(args);
            run(
                program,
                &delete.iter().map(String::as_str).collect::<Vec<_>>(),
                None,
            )?;
        }
        Ok(())
    }
}

fn tag_of(args: &[String]) -> Option<String> {
    let i = args.iter().position(|a| a == "--comment")?;
    args.get(i + 1).map(|t| t.trim_matches('"').to_owned())
}

/// Rules of all chains whose comment starts with `tag_prefix`, as (chain, arguments).
fn tagged_rules(
    program: &str,
    tag_prefix: &str,
) -> Result<Vec<(String, Vec<String>)>, FirewallError> {
    let out = run(program, &["-w", "-S"], None)?;
    let mut found = Vec::new();
    for line in out.lines() {
        let mut words = line
            .split_whitespace()
            .map(|w| w.trim_matches('"').to_owned());
        if words.next().as_deref() != Some("-A") {
            continue;
        }
        let Some(chain) = words.next() else { continue };
        let args: Vec<String> = words.collect();
        if tag_of(&args).is_some_and(|t| t.starts_with(tag_prefix)) {
            found.push((chain, args));
        }
    }
    Ok(found)
}

/// A stable digest naming a rule's content (FNV-1a, 64 bits).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Runs a program, feeding `input` on its standard input; its output or its error text.
fn run(program: &str, args: &[&str], input: Option<&str>) -> Result<String, FirewallError> {
    let command = format!("{program} {}", args.join(" "));
    let fail = |message: String| FirewallError::Command {
        command: command.clone(),
        message,
    };
    let mut child = Command::new(program)
        .args(args)
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| fail(e.to_string()))?;
    if let (Some(text), Some(mut stdin)) = (input, child.stdin.take()) {
        stdin
            .write_all(text.as_bytes())
            .map_err(|e| fail(format!("writing the batch: {e}")))?;
    }
    let out = child.wait_with_output().map_err(|e| fail(e.to_string()))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(fail(String::from_utf8_lossy(&out.stderr).into_owned()))
    }
}

/// ipset's timeout for a ban: whole seconds, rounded up, 0 meaning none.
fn ipset_timeout(t: Option<Duration>) -> u64 {
    match t {
        Some(t) if t <= MAX_IPSET_TIMEOUT => t.as_secs() + u64::from(t.subsec_nanos() > 0),
        _ => 0,
    }
}

fn element(net: &IpNet) -> String {
    if net.prefix_len() == net.max_prefix_len() {
        net.addr().to_string()
    } else {
        net.to_string()
    }
}

/// Reads `ipset save SET` output: `add SET 192.0.2.1 timeout 59`.
fn parse_save(out: &str, set: &str) -> Result<Vec<(IpNet, Option<Duration>)>, FirewallError> {
    let mut elems = Vec::new();
    for line in out.lines() {
        let mut w = line.split_whitespace();
        if w.next() != Some("add") || w.next() != Some(set) {
            continue;
        }
        let value = w.next().unwrap_or_default();
        let net = match value.parse::<IpNet>() {
            Ok(n) => n.trunc(),
            Err(_) => value
                .parse::<IpAddr>()
                .map(IpNet::from)
                .map_err(|_| FirewallError::Parse(format!("unexpected element in {line:?}")))?,
        };
        let mut timeout = None;
        while let Some(word) = w.next() {
            if word == "timeout" {
                let secs: u64 = w
                    .next()
                    .and_then(|s| s.parse().ok())
                    .ok_or_else(|| FirewallError::Parse(format!("bad timeout in {line:?}")))?;
                timeout = (secs > 0).then(|| Duration::from_secs(secs));
            }
        }
        elems.push((net, timeout));
    }
    Ok(elems)
}

impl Firewall for Ipset {
    fn setup_jail(&self, jail: &str, rule: &JailRule) -> Result<(), FirewallError> {
        let mut jails = self.lock();
        check_name("chain", &rule.chain_hook, 28)?;
        let chain = rule.chain_hook.to_ascii_uppercase();
        let (v4, v6) = (self.set_name(jail, false)?, self.set_name(jail, true)?);
        let rules4 = self.rules(jail, &v4, rule, false)?;
        let rules6 = self.rules(jail, &v6, rule, true)?;
        let mut script = String::new();
        for (set, family) in [(&v4, "inet"), (&v6, "inet6")] {
            writeln!(
                script,
                "create {set} hash:net family {family} timeout 0 maxelem {}",
                self.maxelem
            )
            .unwrap();
        }
        self.restore(&script)?;
        self.sync_rules("iptables", &chain, jail, &rules4)?;
        self.sync_rules("ip6tables", &chain, jail, &rules6)?;
        jails.insert(jail.to_owned());
        Ok(())
    }

    fn apply(&self, ops: &[SetOp]) -> Result<ApplyReport, FirewallError> {
        let _guard = self.lock();
        let mut report = ApplyReport::default();
        let mut script = String::new();
        for op in final_ops(ops) {
            let net = op.net();
            let set = self.set_of(op.jail(), &net)?;
            if net.prefix_len() == 0 {
                report
                    .rejected
                    .push((op, "hash:net cannot hold a /0 prefix".to_owned()));
                continue;
            }
            match op {
                SetOp::Add { timeout, .. } => writeln!(
                    script,
                    "add {set} {} timeout {}",
                    element(&net),
                    ipset_timeout(timeout)
                ),
                SetOp::Remove { .. } => writeln!(script, "del {set} {}", element(&net)),
            }
            .unwrap();
            report.applied += 1;
        }
        self.restore(&script)?;
        Ok(report)
    }

    fn list(&self, jail: &str) -> Result<Vec<(IpNet, Option<Duration>)>, FirewallError> {
        let _guard = self.lock();
        let mut all = self.list_set(&self.set_name(jail, false)?)?;
        all.extend(self.list_set(&self.set_name(jail, true)?)?);
        Ok(all)
    }

    fn reconcile(
        &self,
        jail: &str,
        wanted: &[(IpNet, Option<Duration>)],
    ) -> Result<ReconcileReport, FirewallError> {
        let _guard = self.lock();
        let mut current = self.list_set(&self.set_name(jail, false)?)?;
        current.extend(self.list_set(&self.set_name(jail, true)?)?);
        let plan = plan_reconcile(&current, wanted, |t| t.filter(|t| *t <= MAX_IPSET_TIMEOUT));
        let mut report = ReconcileReport {
            removed: plan.remove.len(),
            kept: plan.kept,
            ..ReconcileReport::default()
        };
        let mut script = String::new();
        for net in &plan.remove {
            writeln!(script, "del {} {}", self.set_of(jail, net)?, element(net)).unwrap();
        }
        // `-exist` replaces a present element's timeout in place: no moment without the ban.
        for (list, count) in [
            (&plan.add, &mut report.added),
            (&plan.refresh, &mut report.refreshed),
        ] {
            for (net, t) in list {
                if net.prefix_len() == 0 {
                    let why = "hash:net cannot hold a /0 prefix".to_owned();
                    report.rejected.push((*net, why));
                    continue;
                }
                let set = self.set_of(jail, net)?;
                let (el, secs) = (element(net), ipset_timeout(*t));
                writeln!(script, "add {set} {el} timeout {secs}").unwrap();
                *count += 1;
            }
        }
        self.restore(&script)?;
        Ok(report)
    }

    fn teardown_jail(&self, jail: &str) -> Result<(), FirewallError> {
        let mut jails = self.lock();
        let (v4, v6) = (self.set_name(jail, false)?, self.set_name(jail, true)?);
        self.sync_rules("iptables", "", jail, &[])?;
        self.sync_rules("ip6tables", "", jail, &[])?;
        let existing = self.existing_sets()?;
        let mut script = String::new();
        for set in [v4, v6] {
            if existing.contains(&set) {
                writeln!(script, "destroy {set}").unwrap();
            }
        }
        self.restore(&script)?;
        jails.remove(jail);
        Ok(())
    }

    fn teardown(&self) -> Result<(), FirewallError> {
        let mut jails: BTreeSet<String> = self.lock().clone();
        for program in ["iptables", "ip6tables"] {
            for (_, args) in tagged_rules(program, "warden:")? {
                if let Some(tag) = tag_of(&args) {
                    let jail = tag.split(':').nth(1).unwrap_or_default().to_owned();
                    jails.insert(jail);
                }
            }
        }
        for jail in jails {
            self.teardown_jail(&jail)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_round_up_and_long_ones_become_none() {
        assert_eq!(ipset_timeout(Some(Duration::from_millis(1500))), 2);
        assert_eq!(ipset_timeout(Some(Duration::from_secs(600))), 600);
        assert_eq!(ipset_timeout(None), 0);
        assert_eq!(ipset_timeout(Some(Duration::from_secs(30 * 86400))), 0);
    }

    #[test]
    fn save_output_is_read() {
        let out = "create f2b-x hash:net family inet hashsize 1024 maxelem 65536 timeout 0 bucketsize 12 initval 0x1\n\
                   add f2b-x 192.0.2.1 timeout 59\nadd f2b-x 198.51.100.0/24 timeout 0\n";
        assert_eq!(
            parse_save(out, "f2b-x").unwrap(),
            [
                (
                    "192.0.2.1/32".parse().unwrap(),
                    Some(Duration::from_secs(59))
                ),
                ("198.51.100.0/24".parse().unwrap(), None),
            ]
        );
    }

    #[test]
    fn rules_follow_fail2ban_iptables_ipset() {
        let ipset = Ipset::new();
        let rule = JailRule {
            ports: Some("ssh,1000-2000".into()),
            ..JailRule::default()
        };
        let rules = ipset.rules("sshd", "f2b-sshd", &rule, false).unwrap();
        assert_eq!(rules.len(), 1);
        let text = rules[0].join(" ");
        assert!(text.starts_with(
            "-p tcp -m multiport --dports ssh,1000:2000 -m set --match-set f2b-sshd src -m comment --comment warden:sshd:"
        ), "{text}");
        assert!(text.ends_with("-j REJECT --reject-with icmp-port-unreachable"));
        let six = ipset.rules("sshd", "f2b-sshd6", &rule, true).unwrap();
        assert!(six[0].join(" ").ends_with("icmp6-port-unreachable"));
        assert!(ipset
            .set_name("a-jail-name-much-too-long-for-ipset", false)
            .is_err());
    }
}
