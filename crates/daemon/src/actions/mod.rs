//! Carrying out bans: action.d command templates, run safely and in order.
//!
//! Every action of a jail has its own queue and worker task, so a slow action (a mail waiting on
//! `whois`) never delays another (the firewall rule), while the bans and unbans of one action
//! still happen in the order they were decided.

pub mod exec;
pub mod native;
pub mod render;

use crate::events;
use render::{Script, TagValue};
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use warden_config::ActionConfig;

/// Everything known about one ban, the source of an action's dynamic tags.
#[derive(Debug, Clone, PartialEq)]
pub struct Ticket {
    /// The banned address.
    pub ip: IpAddr,
    /// When the last failure happened (epoch seconds).
    pub time: f64,
    /// Failures that led to the ban.
    pub failures: u32,
    /// The matched log lines.
    pub matches: Vec<String>,
    /// Captured `<F-*>` fields (names lower-case, without `F-`).
    pub fields: BTreeMap<String, String>,
    /// Ban duration in seconds (negative: forever).
    pub bantime: i64,
    /// How many times this address was banned before, plus one.
    pub bancount: u32,
    /// Restored from storage at start rather than newly decided.
    pub restored: bool,
}

/// `inet4` or `inet6`.
pub fn family(ip: &IpAddr) -> &'static str {
    match ip {
        IpAddr::V4(_) => "inet4",
        IpAddr::V6(_) => "inet6",
    }
}

fn ip_rev(ip: &IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            format!("{}.{}.{}.{}.", o[3], o[2], o[1], o[0])
        }
        IpAddr::V6(v6) => {
            let mut s = String::new();
            for b in v6.octets().iter().rev() {
                s.push_str(&format!("{:x}.{:x}.", b & 0xf, b >> 4));
            }
            s
        }
    }
}

/// This host's name, for `<fq-hostname>` and `<sh-hostname>`.
pub fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most buf.len() bytes into buf.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr() as *mut libc::c_char, buf.len()) };
    if rc != 0 {
        return "localhost".into();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

/// The value of dynamic tag `tag` for `ticket` (None: not a dynamic tag, left as written).
pub fn dynamic_tag(tag: &str, ticket: Option<&Ticket>, jail: &str) -> Option<TagValue> {
    let data = |s: String| Some(TagValue::Data(s));
    match tag {
        "br" => return Some(TagValue::Literal("\n".into())),
        "sp" => return Some(TagValue::Literal(" ".into())),
        "fq-hostname" | "sh-hostname" => return data(hostname()),
        "jail" if ticket.is_none() => return data(jail.to_string()),
        _ => {}
    }
    let t = ticket?;
    match tag {
        "ip" | "ip-host" => data(t.ip.to_string()),
        "family" => data(family(&t.ip).to_string()),
        "ip-rev" => data(ip_rev(&t.ip)),
        "fid" => data(
            t.fields
                .get("fid")
                .cloned()
                .unwrap_or_else(|| t.ip.to_string()),
        ),
        "failures" | "ipfailures" | "ipjailfailures" => data(t.failures.to_string()),
        "time" => data(format!("{}", t.time)),
        "bantime" => data(t.bantime.to_string()),
        "bancount" => data(t.bancount.to_string()),
        "restored" => data(u8::from(t.restored).to_string()),
        "matches" | "ipmatches" | "ipjailmatches" => data(t.matches.join("\n")),
        _ => {
            let field = tag.strip_prefix("F-").or_else(|| tag.strip_prefix("f-"))?;
            data(
                t.fields
                    .get(&field.to_ascii_lowercase())
                    .cloned()
                    .unwrap_or_default(),
            )
        }
    }
}

/// Render `method` of `action` for `family`, substituting dynamic tags safely.
pub fn script(
    action: &ActionConfig,
    method: &str,
    family: &str,
    ticket: Option<&Ticket>,
    jail: &str,
) -> Option<Script> {
    let template = action.render(method, family)?;
    if template.trim().is_empty() {
        return None;
    }
    Some(render::render(&template, &|tag| {
        dynamic_tag(tag, ticket, jail)
    }))
}

enum Job {
    Start,
    Ban(Arc<Ticket>),
    /// The ban of an address already banned was lengthened.
    Prolong(Arc<Ticket>),
    /// Apply a ban again (after a repair, or to a restarted action).
    Reban(Arc<Ticket>),
    Unban(Arc<Ticket>),
    /// Remove all bans (flush or unban each) and stop every started family.
    Stop {
        banned: Vec<Arc<Ticket>>,
        done: oneshot::Sender<()>,
    },
}

/// The queue of one action of one jail.
#[derive(Clone)]
pub struct ActionRunner {
    name: String,
    queue: Queue,
}

#[derive(Clone)]
enum Queue {
    Commands(mpsc::UnboundedSender<Job>),
    Native(mpsc::UnboundedSender<native::NativeJob>),
}

impl ActionRunner {
    /// Start the worker task for `config` in `jail` (on the current tokio runtime): in-process
    /// on a kernel set for the nftables actions (see [`native`]), else running the action's
    /// shell commands.
    pub fn spawn(jail: &str, config: ActionConfig) -> ActionRunner {
        let name = config.name.clone();
        if let Some(kind) = native::native_kind(&config) {
            match (native::backend(kind), native::jail_rule(&config)) {
                (Ok(fw), Ok(rule)) => {
                    let (tx, rx) = mpsc::unbounded_channel();
                    tokio::spawn(native::run(jail.to_string(), name.clone(), fw, rule, rx));
                    return ActionRunner {
                        name,
                        queue: Queue::Native(tx),
                    };
                }
                (Err(e), _) | (_, Err(e)) => tracing::warn!(
                    jail,
                    action = %name,
                    "[{jail}] native {kind} unavailable for {name} ({e}); running its commands instead"
                ),
            }
        }
        let (tx, rx) = mpsc::unbounded_channel();
        let worker = Worker {
            jail: jail.to_string(),
            config,
            started: BTreeSet::new(),
        };
        tokio::spawn(worker.run(rx));
        ActionRunner {
            name,
            queue: Queue::Commands(tx),
        }
    }

    fn send(&self, job: Job) {
        match &self.queue {
            Queue::Commands(tx) => {
                let _ = tx.send(job);
            }
            Queue::Native(tx) => {
                let native = match job {
                    Job::Start => native::NativeJob::Start,
                    Job::Ban(t) | Job::Reban(t) | Job::Prolong(t) => native::NativeJob::Add(t),
                    Job::Unban(t) => native::NativeJob::Remove(t),
                    Job::Stop { done, .. } => native::NativeJob::Stop(done),
                };
                let _ = tx.send(native);
            }
        }
    }

    /// Make the kernel hold exactly `bans` (native actions; start-up after restoring bans).
    /// Command actions have nothing to reconcile.
    pub fn reconcile(&self, bans: Vec<Arc<Ticket>>) {
        if let Queue::Native(tx) = &self.queue {
            let _ = tx.send(native::NativeJob::Reconcile(bans));
        }
    }

    /// Does the action run in-process on a kernel set (no commands, nothing to announce)?
    pub fn is_native(&self) -> bool {
        matches!(self.queue, Queue::Native(_))
    }

    /// The action's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The jail starts: run `actionstart` now, unless the action starts on demand (see
    /// [`starts_on_demand`]), in which case each family starts with its first ban.
    pub fn start(&self) {
        self.send(Job::Start);
    }

    /// Queue a ban.
    pub fn ban(&self, t: Arc<Ticket>) {
        self.send(Job::Ban(t));
    }

    /// Queue a prolongation (`actionprolong`, when the action has one).
    pub fn prolong(&self, t: Arc<Ticket>) {
        self.send(Job::Prolong(t));
    }

    /// Queue a re-ban (`actionreban`, else `actionban`).
    pub fn reban(&self, t: Arc<Ticket>) {
        self.send(Job::Reban(t));
    }

    /// Queue an unban.
    pub fn unban(&self, t: Arc<Ticket>) {
        self.send(Job::Unban(t));
    }

    /// Remove `banned` and stop; resolves when the action has finished.
    pub async fn stop(&self, banned: Vec<Arc<Ticket>>) {
        let (done, wait) = oneshot::channel();
        self.send(Job::Stop { banned, done });
        let _ = wait.await;
    }
}

/// Does `action` start per family at its first ban instead of when the jail starts?
/// Fail2Ban's rule: `actionstart_on_demand` if set, else yes exactly when the action has
/// family-conditional options (`[Init?family=inet6]`), since its start depends on the family.
pub fn starts_on_demand(action: &ActionConfig) -> bool {
    match action.properties.get("actionstart_on_demand") {
        Some(v) => is_true(v),
        None => !action.family_properties.is_empty(),
    }
}

struct Worker {
    jail: String,
    config: ActionConfig,
    started: BTreeSet<&'static str>,
}

impl Worker {
    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Job>) {
        while let Some(job) = rx.recv().await {
            match job {
                Job::Start => {
                    if !starts_on_demand(&self.config) {
                        self.ensure_started("inet4").await;
                    }
                }
                Job::Ban(t) => {
                    if !self.skips_restored(&t) {
                        self.apply(&t, "actionban").await;
                    }
                }
                Job::Reban(t) => {
                    if !self.skips_restored(&t) {
                        let method = if self.has("actionreban") {
                            "actionreban"
                        } else {
                            "actionban"
                        };
                        self.apply(&t, method).await;
                    }
                }
                Job::Prolong(t) => {
                    if self.has("actionprolong") {
                        self.apply(&t, "actionprolong").await;
                    }
                }
                Job::Unban(t) => self.unban(&t).await,
                Job::Stop { banned, done } => {
                    self.stop(&banned).await;
                    let _ = done.send(());
                    return;
                }
            }
        }
    }

    fn has(&self, method: &str) -> bool {
        self.config
            .properties
            .get(method)
            .is_some_and(|v| !v.trim().is_empty())
    }

    /// Actions with `norestored = 1` (mails, reports) skip bans restored at start-up.
    fn skips_restored(&self, t: &Ticket) -> bool {
        t.restored
            && self
                .config
                .properties
                .get("norestored")
                .is_some_and(|v| is_true(v))
    }

    fn timeout(&self) -> Duration {
        Duration::from_secs(self.config.timeout().max(1))
    }

    async fn exec(&self, method: &str, fam: &str, t: Option<&Ticket>) -> bool {
        let Some(script) = script(&self.config, method, fam, t, &self.jail) else {
            return true;
        };
        let outcome = exec::run(&script, self.timeout()).await;
        if !outcome.ok() {
            events::action_failed(
                &self.jail,
                &self.config.name,
                method,
                t.map(|t| t.ip),
                &outcome,
            );
        }
        outcome.ok()
    }

    async fn ensure_started(&mut self, fam: &'static str) {
        if self.started.contains(fam) {
            return;
        }
        // Marked started even if the command failed: Fail2Ban does the same, and the invariant
        // check on the next failing ban gets a chance to repair it.
        self.exec("actionstart", fam, None).await;
        self.started.insert(fam);
    }

    /// Run `method` for `t`; if it fails, check the action's invariant (`actioncheck`), repair
    /// it (`actionrepair`, else stop + start) when broken, and retry once — Fail2Ban's rules.
    async fn apply(&mut self, t: &Ticket, method: &str) -> bool {
        let fam = family(&t.ip);
        self.ensure_started(fam).await;
        if self.exec(method, fam, Some(t)).await {
            return true;
        }
        if self.has("actioncheck") && !self.exec("actioncheck", fam, None).await {
            self.repair(fam).await;
            return self.exec(method, fam, Some(t)).await;
        }
        false
    }

    async fn repair(&mut self, fam: &'static str) {
        if self.has("actionrepair") {
            self.exec("actionrepair", fam, None).await;
        } else {
            self.exec("actionstop", fam, None).await;
            self.exec("actionstart", fam, None).await;
        }
    }

    async fn unban(&mut self, t: &Ticket) {
        let fam = family(&t.ip);
        if !self.started.contains(fam) {
            return;
        }
        if self.exec("actionunban", fam, Some(t)).await {
            return;
        }
        let repair_on_unban = self
            .config
            .properties
            .get("actionrepair_on_unban")
            .is_some_and(|v| is_true(v));
        if repair_on_unban && self.has("actioncheck") && !self.exec("actioncheck", fam, None).await
        {
            self.repair(fam).await;
        }
    }

    async fn stop(&mut self, banned: &[Arc<Ticket>]) {
        let families: Vec<&'static str> = self.started.iter().copied().collect();
        let has_flush = self.has("actionflush");
        for fam in &families {
            if has_flush {
                self.exec("actionflush", fam, None).await;
            } else {
                for t in banned.iter().filter(|t| family(&t.ip) == *fam) {
                    self.exec("actionunban", fam, Some(t)).await;
                }
            }
            self.exec("actionstop", fam, None).await;
        }
        self.started.clear();
    }
}

fn is_true(v: &str) -> bool {
    matches!(
        v.trim().to_ascii_lowercase().as_str(),
        "1" | "true" | "yes" | "on"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn action(dir: &std::path::Path, props: &[(&str, &str)], inet6: bool) -> ActionConfig {
        let log = dir.join("log");
        let mut properties: BTreeMap<String, String> = props
            .iter()
            .map(|(k, v)| (k.to_string(), v.replace("LOG", &log.display().to_string())))
            .collect();
        properties.insert("name".into(), "test".into());
        let mut family_properties = BTreeMap::new();
        if inet6 {
            let mut v6 = BTreeMap::new();
            v6.insert("fam".to_string(), "six".to_string());
            family_properties.insert("inet6".to_string(), v6);
        }
        ActionConfig {
            name: "rec".into(),
            file: dir.join("rec.conf"),
            properties,
            family_properties,
        }
    }

    fn ticket(ip: &str, restored: bool) -> Arc<Ticket> {
        Arc::new(Ticket {
            ip: ip.parse().unwrap(),
            time: 0.0,
            failures: 3,
            matches: vec![],
            fields: BTreeMap::new(),
            bantime: 60,
            bancount: 1,
            restored,
        })
    }

    async fn run_jobs(config: ActionConfig, jobs: impl FnOnce(&ActionRunner)) -> String {
        let log = config.file.parent().unwrap().join("log");
        let runner = ActionRunner::spawn("jail", config);
        jobs(&runner);
        runner.stop(vec![]).await;
        std::fs::read_to_string(log).unwrap_or_default()
    }

    #[tokio::test]
    async fn plain_action_starts_with_the_jail_and_stops_with_it() {
        let dir = tempfile::tempdir().unwrap();
        let a = action(
            dir.path(),
            &[
                ("actionstart", "echo start >> LOG"),
                ("actionban", "echo ban <ip> >> LOG"),
                ("actionunban", "echo unban <ip> >> LOG"),
                ("actionstop", "echo stop >> LOG"),
            ],
            false,
        );
        assert!(!starts_on_demand(&a));
        let log = run_jobs(a, |r| {
            r.start();
            r.ban(ticket("192.0.2.1", false));
            r.unban(ticket("192.0.2.1", false));
        })
        .await;
        assert_eq!(log, "start\nban 192.0.2.1\nunban 192.0.2.1\nstop\n");
    }

    #[tokio::test]
    async fn family_conditional_action_starts_each_family_on_demand() {
        let dir = tempfile::tempdir().unwrap();
        let a = action(
            dir.path(),
            &[
                ("fam", "four"),
                ("actionstart", "echo start <fam> >> LOG"),
                ("actionban", "echo ban <ip> >> LOG"),
                ("actionstop", "echo stop <fam> >> LOG"),
            ],
            true,
        );
        assert!(starts_on_demand(&a));
        let log = run_jobs(a, |r| {
            r.start();
            r.ban(ticket("2001:db8::1", false));
        })
        .await;
        assert_eq!(log, "start six\nban 2001:db8::1\nstop six\n");
    }

    #[tokio::test]
    async fn failed_ban_is_repaired_and_retried_once() {
        let dir = tempfile::tempdir().unwrap();
        let flag = dir.path().join("ok");
        let flag = flag.display().to_string();
        let a = action(
            dir.path(),
            &[
                (
                    "actionban",
                    &format!("echo try <ip> >> LOG; test -e {flag}"),
                ),
                ("actioncheck", &format!("echo check >> LOG; test -e {flag}")),
                ("actionrepair", &format!("echo repair >> LOG; touch {flag}")),
            ],
            false,
        );
        let log = run_jobs(a, |r| r.ban(ticket("192.0.2.7", false))).await;
        assert_eq!(log, "try 192.0.2.7\ncheck\nrepair\ntry 192.0.2.7\n");
    }

    #[tokio::test]
    async fn restored_bans_skip_norestored_actions_and_reban_falls_back_to_ban() {
        let dir = tempfile::tempdir().unwrap();
        let a = action(
            dir.path(),
            &[("actionban", "echo ban <ip> >> LOG"), ("norestored", "1")],
            false,
        );
        let log = run_jobs(a, |r| {
            r.ban(ticket("192.0.2.8", true));
            r.reban(ticket("192.0.2.9", false));
            r.prolong(ticket("192.0.2.9", false));
        })
        .await;
        assert_eq!(log, "ban 192.0.2.9\n");
    }

    #[tokio::test]
    async fn stop_flushes_when_it_can_and_unbans_each_otherwise() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("log");
        let a = action(
            dir.path(),
            &[
                ("actionban", "true"),
                ("actionunban", "echo unban <ip> >> LOG"),
                ("actionstop", "echo stop >> LOG"),
            ],
            false,
        );
        let r = ActionRunner::spawn("jail", a);
        r.ban(ticket("192.0.2.1", false));
        r.stop(vec![ticket("192.0.2.1", false)]).await;
        assert_eq!(
            std::fs::read_to_string(&log).unwrap(),
            "unban 192.0.2.1\nstop\n"
        );
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("log");
        let a = action(
            dir.path(),
            &[
                ("actionban", "true"),
                ("actionflush", "echo flush >> LOG"),
                ("actionunban", "echo unban <ip> >> LOG"),
                ("actionstop", "echo stop >> LOG"),
            ],
            false,
        );
        let r = ActionRunner::spawn("jail", a);
        r.ban(ticket("192.0.2.1", false));
        r.stop(vec![ticket("192.0.2.1", false)]).await;
        assert_eq!(std::fs::read_to_string(&log).unwrap(), "flush\nstop\n");
    }
}
