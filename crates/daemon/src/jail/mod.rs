//! A running jail: its filter thread, failure tracker, ignore list, bans and actions.

pub mod ignore;
pub mod increment;
pub mod tracker;

use crate::actions::{ActionRunner, Ticket};
use crate::bans::ExpiryTimer;
use crate::events;
use ignore::{canonical, IgnoreList};
use std::collections::HashMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::mpsc;
use std::sync::{Arc, Mutex, MutexGuard};
use tracker::FailureTracker;
use warden_config::JailConfig;
use warden_filter::{Failure, Filter, FilterSpec, Host, UseDns};
use warden_proto::JailStatus;

/// Seconds since the epoch, now.
pub fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// A ban in force.
#[derive(Debug, Clone)]
pub struct BanEntry {
    /// What the actions were told.
    pub ticket: Arc<Ticket>,
    /// When it ends (epoch seconds); `None` for a permanent ban.
    pub until: Option<f64>,
}

#[derive(Debug)]
struct JailState {
    tracker: FailureTracker,
    total_failed: u64,
    /// Bans in the order they were made.
    banned: Vec<IpAddr>,
    bans: HashMap<IpAddr, BanEntry>,
    total_banned: u64,
    bancounts: HashMap<IpAddr, u32>,
}

/// One jail.
pub struct Jail {
    /// The jail's name.
    pub name: String,
    /// Its configuration as loaded.
    pub config: JailConfig,
    /// Log files it follows.
    pub files: Vec<PathBuf>,
    ignore: IgnoreList,
    state: Mutex<JailState>,
    actions: Vec<ActionRunner>,
    expiry: ExpiryTimer,
    dns: Mutex<HashMap<String, (Vec<IpAddr>, std::time::Instant)>>,
    increment: Option<increment::BanTimeIncrement>,
}

/// Build the filter specification of a jail.
pub fn filter_spec(config: &JailConfig) -> FilterSpec {
    FilterSpec {
        failregex: config
            .filter
            .failregex
            .iter()
            .map(|(r, _)| r.clone())
            .collect(),
        ignoreregex: config
            .filter
            .ignoreregex
            .iter()
            .map(|(r, _)| r.clone())
            .collect(),
        prefregex: config.filter.prefregex.clone(),
        datepattern: config.filter.datepattern.clone(),
        maxlines: config.filter.maxlines.max(1),
        usedns: match config.usedns.trim().to_ascii_lowercase().as_str() {
            "yes" | "true" | "1" => UseDns::Yes,
            "no" | "false" | "0" => UseDns::No,
            "raw" => UseDns::Raw,
            _ => UseDns::Warn,
        },
        logtimezone: config.logtimezone.clone(),
    }
}

/// Default cap on addresses tracked per jail (`maxtracked`).
pub const DEFAULT_MAX_TRACKED: usize = 100_000;

/// The jail's `maxtracked` (Warden's own option): how many failing addresses are counted at
/// once before the longest-idle one is forgotten.
pub fn tracking_cap(config: &JailConfig) -> usize {
    config
        .options
        .get("maxtracked")
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(DEFAULT_MAX_TRACKED)
}

/// Matched lines are only worth keeping when some action shows them (`<matches>`,
/// `<ipmatches>`, `<ipjailmatches>`); otherwise none are kept, whatever `maxmatches` says.
pub fn kept_matches(config: &JailConfig) -> u32 {
    let used = config.actions.iter().any(|a| {
        a.properties
            .values()
            .chain(a.family_properties.values().flat_map(|m| m.values()))
            .any(|v| v.contains("matches>"))
    });
    if used {
        config.maxmatches
    } else {
        0
    }
}

/// Expand `logpath` globs; a pattern matching nothing is followed literally (it may appear).
pub fn expand_logpaths(patterns: &[String]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for p in patterns {
        let mut found = false;
        if let Ok(paths) = glob::glob(p) {
            for path in paths.flatten() {
                found = true;
                if !out.contains(&path) {
                    out.push(path);
                }
            }
        }
        if !found {
            let path = PathBuf::from(p);
            if !out.contains(&path) {
                out.push(path);
            }
        }
    }
    out
}

impl Jail {
    /// Create the jail and start its actions (`actionstart`). Needs a tokio runtime.
    pub fn start(config: JailConfig, expiry: ExpiryTimer) -> Arc<Jail> {
        let actions: Vec<ActionRunner> = config
            .actions
            .iter()
            .map(|a| ActionRunner::spawn(&config.name, a.clone()))
            .collect();
        for a in &actions {
            a.start();
        }
        let jail = Arc::new(Jail {
            name: config.name.clone(),
            files: expand_logpaths(&config.logpath),
            ignore: IgnoreList::new(&config.ignoreip, config.ignoreself),
            state: Mutex::new(JailState {
                tracker: FailureTracker::new(
                    config.findtime,
                    config.maxretry,
                    kept_matches(&config),
                )
                .with_cap(tracking_cap(&config)),
                total_failed: 0,
                banned: Vec::new(),
                bans: HashMap::new(),
                total_banned: 0,
                bancounts: HashMap::new(),
            }),
            actions,
            expiry,
            dns: Mutex::new(HashMap::new()),
            // Validated by `check` before any jail starts.
            increment: increment::BanTimeIncrement::from_options(&config.options)
                .ok()
                .flatten(),
            config,
        });
        events::jail_started(&jail.name);
        jail
    }

    fn state(&self) -> MutexGuard<'_, JailState> {
        // A panic while holding the lock cannot leave the counters inconsistent in a way that
        // matters more than stopping the daemon would, so poisoning is ignored.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Start the thread that runs `filter` over the lines sent to the returned channel.
    pub fn spawn_filter_thread(
        self: &Arc<Self>,
        mut filter: Filter,
    ) -> mpsc::Sender<Arc<Vec<String>>> {
        let (tx, rx) = mpsc::channel::<Arc<Vec<String>>>();
        let jail = Arc::clone(self);
        std::thread::Builder::new()
            .name(format!("filter-{}", self.name))
            .spawn(move || {
                while let Ok(batch) = rx.recv() {
                    for line in batch.iter() {
                        let t = now();
                        let result = filter.process_line(line, t);
                        for failure in result.failures {
                            jail.on_failure(failure, t);
                        }
                    }
                }
            })
            .expect("spawning a filter thread");
        tx
    }

    /// Count a failure found by the filter, banning when `maxretry` is reached. A host name is
    /// resolved (`usedns = yes|warn`) and every address it has is counted, as Fail2Ban does.
    pub fn on_failure(&self, failure: Failure, now: f64) {
        let ips = match &failure.host {
            Host::Ip(ip) => vec![canonical(*ip)],
            Host::Name(name) => match name.parse::<IpAddr>() {
                Ok(ip) => vec![canonical(ip)],
                Err(_) => self.resolve(name),
            },
        };
        for ip in ips {
            self.count_failure(ip, &failure, now);
        }
    }

    /// Addresses of `name` per `usedns`, cached for five minutes.
    fn resolve(&self, name: &str) -> Vec<IpAddr> {
        let mode = self.config.usedns.trim().to_ascii_lowercase();
        if !matches!(mode.as_str(), "yes" | "true" | "1" | "warn") {
            tracing::info!(jail = %self.name, host = %name, "[{}] host name {name} not banned (usedns = {mode})", self.name);
            return Vec::new();
        }
        let mut cache = self.dns.lock().unwrap_or_else(|p| p.into_inner());
        let fresh = std::time::Duration::from_secs(300);
        if let Some((ips, at)) = cache.get(name) {
            if at.elapsed() < fresh {
                return ips.clone();
            }
        }
        use std::net::ToSocketAddrs;
        let mut ips: Vec<IpAddr> = (name, 0)
            .to_socket_addrs()
            .map(|it| it.map(|a| canonical(a.ip())).collect())
            .unwrap_or_default();
        ips.sort();
        ips.dedup();
        if mode == "warn" {
            tracing::warn!(jail = %self.name, host = %name, "[{}] Determined IP using DNS Lookup: {name} = {ips:?}", self.name);
        }
        if cache.len() > 10_000 {
            cache.clear();
        }
        cache.insert(name.to_string(), (ips.clone(), std::time::Instant::now()));
        ips
    }

    fn count_failure(&self, ip: IpAddr, failure: &Failure, now: f64) {
        if failure.time < now - self.config.findtime as f64 {
            tracing::debug!(jail = %self.name, %ip, "line older than findtime ignored");
            return;
        }
        if let Some(reason) = self.ignore.reason(ip) {
            events::ignored(&self.name, ip, reason);
            return;
        }
        events::found(&self.name, ip, failure.time);
        let offence = {
            let mut st = self.state();
            st.total_failed += 1;
            if st.bans.contains_key(&ip) {
                None
            } else {
                let mut fields = failure.fields.clone();
                if let Some(fid) = &failure.fid {
                    fields.insert("fid".into(), fid.clone());
                }
                st.tracker.add(ip, failure.time, &failure.lines, &fields)
            }
        };
        if let Some(o) = offence {
            self.ban(Ticket {
                ip,
                time: o.time,
                failures: o.failures,
                matches: o.matches,
                fields: o.fields,
                bantime: self.config.bantime,
                bancount: 0,
                restored: false,
            });
        }
    }

    /// Ban `ticket.ip` unless it is already banned. Returns whether a new ban was made.
    pub fn ban(&self, mut ticket: Ticket) -> bool {
        let ip = ticket.ip;
        let until;
        let t = {
            let mut st = self.state();
            if st.bans.contains_key(&ip) {
                drop(st);
                events::already_banned(&self.name, ip);
                return false;
            }
            let count = st.bancounts.entry(ip).or_insert(0);
            if let Some(inc) = &self.increment {
                ticket.bantime = inc.bantime(ticket.bantime, *count);
            }
            *count += 1;
            ticket.bancount = *count;
            let start = now();
            until = if ticket.bantime < 0 {
                None
            } else {
                Some(start + ticket.bantime as f64)
            };
            let t = Arc::new(ticket);
            st.tracker.forget(&ip);
            st.banned.push(ip);
            st.bans.insert(
                ip,
                BanEntry {
                    ticket: Arc::clone(&t),
                    until,
                },
            );
            st.total_banned += 1;
            t
        };
        events::ban(&self.name, ip, t.bantime);
        for a in &self.actions {
            a.ban(Arc::clone(&t));
        }
        if let Some(until) = until {
            self.expiry.schedule(until, &self.name, ip);
        }
        true
    }

    /// Ban an address by hand (`set JAIL banip`).
    pub fn ban_manually(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.ban(Ticket {
            ip,
            time: now(),
            failures: 0,
            matches: Vec::new(),
            fields: Default::default(),
            bantime: self.config.bantime,
            bancount: 0,
            restored: false,
        })
    }

    /// Lift the ban of `ip`. Returns whether it was banned.
    pub fn unban(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        let entry = {
            let mut st = self.state();
            let Some(entry) = st.bans.remove(&ip) else {
                return false;
            };
            st.banned.retain(|b| *b != ip);
            entry
        };
        events::unban(&self.name, ip);
        for a in &self.actions {
            a.unban(Arc::clone(&entry.ticket));
        }
        true
    }

    /// The ban timer fired for `ip` at `until`: unban if that ban is still the one in force.
    pub fn expire(&self, ip: IpAddr, until: f64) {
        let current = self.state().bans.get(&ip).and_then(|e| e.until);
        if current == Some(until) {
            self.unban(ip);
        }
    }

    /// Is `ip` banned here?
    pub fn is_banned(&self, ip: IpAddr) -> bool {
        self.state().bans.contains_key(&canonical(ip))
    }

    /// The bans in force, in ban order.
    pub fn ban_entries(&self) -> Vec<BanEntry> {
        let st = self.state();
        st.banned
            .iter()
            .filter_map(|ip| st.bans.get(ip).cloned())
            .collect()
    }

    /// Take over a ban made elsewhere (the same jail before a restart, or storage at start-up):
    /// the actions apply it again (`actionreban`) and it ends when it would have ended. A ban
    /// already over is dropped.
    pub fn adopt(&self, entry: BanEntry) {
        let ip = entry.ticket.ip;
        if entry.until.is_some_and(|u| u <= now()) {
            return;
        }
        {
            let mut st = self.state();
            if st.bans.contains_key(&ip) {
                return;
            }
            st.banned.push(ip);
            *st.bancounts.entry(ip).or_insert(0) = entry.ticket.bancount;
            st.bans.insert(ip, entry.clone());
        }
        for a in &self.actions {
            a.reban(Arc::clone(&entry.ticket));
        }
        if let Some(until) = entry.until {
            self.expiry.schedule(until, &self.name, ip);
        }
    }

    /// Banned addresses in ban order.
    pub fn banned(&self) -> Vec<IpAddr> {
        self.state().banned.clone()
    }

    /// The counters `status JAIL` shows.
    pub fn status(&self) -> JailStatus {
        let mut st = self.state();
        st.tracker.expire(now());
        JailStatus {
            name: self.name.clone(),
            currently_failed: st.tracker.len() as u64,
            total_failed: st.total_failed,
            file_list: self.files.iter().map(|p| p.display().to_string()).collect(),
            currently_banned: st.bans.len() as u64,
            evicted: st.tracker.evicted(),
            total_banned: st.total_banned,
            banned: st.banned.iter().map(|ip| ip.to_string()).collect(),
        }
    }

    /// Stop the actions: bans are lifted (flush or unban) and `actionstop` runs.
    pub async fn stop(&self) {
        let banned: Vec<Arc<Ticket>> = {
            let st = self.state();
            st.banned
                .iter()
                .filter_map(|ip| st.bans.get(ip))
                .map(|e| Arc::clone(&e.ticket))
                .collect()
        };
        for a in &self.actions {
            a.stop(banned.clone()).await;
        }
        events::jail_stopped(&self.name);
    }
}
