//! Carrying out bans: action.d command templates, run safely and in order.
//!
//! Every action of a jail has its own queue and worker task, so a slow action (a mail waiting on
//! `whois`) never delays another (the firewall rule), while the bans and unbans of one action
//! still happen in the order they were decided.

pub mod exec;
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
    Start(&'static str),
    Ban(Arc<Ticket>),
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
    tx: mpsc::UnboundedSender<Job>,
}

impl ActionRunner {
    /// Start the worker task for `config` in `jail` (on the current tokio runtime).
    pub fn spawn(jail: &str, config: ActionConfig) -> ActionRunner {
        let (tx, rx) = mpsc::unbounded_channel();
        let name = config.name.clone();
        let worker = Worker {
            jail: jail.to_string(),
            config,
            started: BTreeSet::new(),
        };
        tokio::spawn(worker.run(rx));
        ActionRunner { name, tx }
    }

    /// The action's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Run `actionstart` for IPv4 (IPv6 starts when its first ban comes).
    pub fn start(&self) {
        let _ = self.tx.send(Job::Start("inet4"));
    }

    /// Queue a ban.
    pub fn ban(&self, t: Arc<Ticket>) {
        let _ = self.tx.send(Job::Ban(t));
    }

    /// Queue an unban.
    pub fn unban(&self, t: Arc<Ticket>) {
        let _ = self.tx.send(Job::Unban(t));
    }

    /// Remove `banned` and stop; resolves when the action has finished.
    pub async fn stop(&self, banned: Vec<Arc<Ticket>>) {
        let (done, wait) = oneshot::channel();
        if self.tx.send(Job::Stop { banned, done }).is_ok() {
            let _ = wait.await;
        }
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
                Job::Start(fam) => self.ensure_started(fam).await,
                Job::Ban(t) => self.ban(&t).await,
                Job::Unban(t) => {
                    let fam = family(&t.ip);
                    if self.started.contains(fam) {
                        self.exec("actionunban", fam, Some(&t)).await;
                    }
                }
                Job::Stop { banned, done } => {
                    self.stop(&banned).await;
                    let _ = done.send(());
                    return;
                }
            }
        }
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
        // Marked started even if the command failed: Fail2Ban does the same, and actioncheck /
        // actionrepair on the next ban get a chance to fix it.
        self.exec("actionstart", fam, None).await;
        self.started.insert(fam);
    }

    async fn ban(&mut self, t: &Ticket) {
        if t.restored
            && self
                .config
                .properties
                .get("norestored")
                .is_some_and(|v| is_true(v))
        {
            return;
        }
        let fam = family(&t.ip);
        self.ensure_started(fam).await;
        if self.exec("actionban", fam, Some(t)).await {
            return;
        }
        // Fail2Ban's invariant check: if actioncheck fails, repair (or restart) and retry once.
        if self.config.properties.contains_key("actioncheck")
            && !self.exec("actioncheck", fam, None).await
        {
            if self.config.properties.contains_key("actionrepair") {
                self.exec("actionrepair", fam, None).await;
            } else {
                self.exec("actionstop", fam, None).await;
                self.exec("actionstart", fam, None).await;
            }
            self.exec("actionban", fam, Some(t)).await;
        }
    }

    async fn stop(&mut self, banned: &[Arc<Ticket>]) {
        let families: Vec<&'static str> = self.started.iter().copied().collect();
        let has_flush = self
            .config
            .properties
            .get("actionflush")
            .is_some_and(|v| !v.trim().is_empty());
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
