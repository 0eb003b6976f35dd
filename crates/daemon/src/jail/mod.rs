//! A running jail: its filter thread, failure tracker, ignore list, bans and actions.

pub mod ignore;
pub mod increment;
mod sequencer;
pub mod tracker;

use crate::actions::{ActionRunner, Ticket};
use crate::bans::ExpiryTimer;
use crate::events;
use crate::sources::file::{LineBatch, BATCH_LINES};
use crate::store::{BanRecord, SavedPosition, Store};
use ignore::{canonical, IgnoreList};
use std::collections::{BTreeMap, HashMap};
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

/// The options of a backend such as `systemd[journalpath=/var/log/journal/remote]`.
fn backend_options(backend: &str) -> HashMap<String, String> {
    let Some(inner) = backend
        .split_once('[')
        .and_then(|(_, rest)| rest.rsplit_once(']'))
        .map(|(inner, _)| inner)
    else {
        return HashMap::new();
    };
    inner
        .split(',')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| {
            let v = v.trim().trim_matches(|c| c == '"' || c == '\'');
            (k.trim().to_string(), v.to_string())
        })
        .collect()
}

/// Batches a jail's filter thread may have queued before senders wait.
pub const FILTER_QUEUE: usize = 2;

/// Stack of a filter thread: the filter's regex engines keep their state on the heap, so the
/// default 2 MiB is far more than it needs (only touched pages count, but a deep recursion
/// elsewhere should fail here rather than pass unnoticed).
const FILTER_STACK: usize = 512 << 10;

/// After this many lines, a filter thread that catches up asks the allocator to return free
/// memory to the system (the batches of a burst leave free but resident heap behind).
const TRIM_AFTER_LINES: usize = 10_000;

/// The sending side of a filter thread's channel.
pub type FilterSender = mpsc::SyncSender<FilterInput>;

/// Return free heap memory to the system (glibc keeps freed memory of its arenas resident).
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks the allocator's own free lists.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// What a jail's filter thread reads.
pub enum FilterInput {
    /// Lines from a log file.
    Lines(Arc<LineBatch>),
    /// Entries from the systemd journal.
    Journal(crate::sources::journal::JournalBatch),
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
    /// Bans in the order they were made (by sequence number), so that listing stays in ban
    /// order and unbanning one of 100,000 is cheap.
    order: BTreeMap<u64, IpAddr>,
    bans: HashMap<IpAddr, (u64, BanEntry)>,
    next_seq: u64,
    total_banned: u64,
    bancounts: HashMap<IpAddr, u32>,
}

impl JailState {
    fn insert_ban(&mut self, ip: IpAddr, entry: BanEntry) {
        self.next_seq += 1;
        self.order.insert(self.next_seq, ip);
        self.bans.insert(ip, (self.next_seq, entry));
    }

    fn remove_ban(&mut self, ip: &IpAddr) -> Option<BanEntry> {
        let (seq, entry) = self.bans.remove(ip)?;
        self.order.remove(&seq);
        Some(entry)
    }

    fn entries(&self) -> impl Iterator<Item = &BanEntry> {
        self.order
            .values()
            .filter_map(|ip| self.bans.get(ip).map(|(_, e)| e))
    }
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
    sequencer: sequencer::Sequencer,
    store: Option<Store>,
    journal: Mutex<Option<crate::sources::journal::JournalWatcher>>,
    expiry: ExpiryTimer,
    dns: Mutex<HashMap<String, (Vec<IpAddr>, std::time::Instant)>>,
    increment: Option<increment::BanTimeIncrement>,
    keeps_fields: bool,
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

/// Do the jail's actions show captured fields (`<F-...>`, `<fid>`)?
pub fn actions_use_fields(config: &JailConfig) -> bool {
    config.actions.iter().any(|a| {
        a.properties
            .values()
            .chain(a.family_properties.values().flat_map(|m| m.values()))
            .any(|v| v.contains("<F-") || v.contains("<f-") || v.contains("<fid>"))
    })
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
    /// Create the jail and start its actions (`actionstart`). Needs a tokio runtime. With a
    /// store, every ban is committed to it before it is announced and carried out.
    pub fn start(config: JailConfig, expiry: ExpiryTimer, store: Option<Store>) -> Arc<Jail> {
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
            // The journal backend reads no files (Fail2Ban ignores logpath there too).
            files: if config.backend.trim().starts_with("systemd") {
                Vec::new()
            } else {
                expand_logpaths(&config.logpath)
            },
            ignore: IgnoreList::new(&config.ignoreip, config.ignoreself),
            state: Mutex::new(JailState {
                tracker: FailureTracker::new(
                    config.findtime,
                    config.maxretry,
                    kept_matches(&config),
                )
                .with_cap(tracking_cap(&config)),
                total_failed: 0,
                order: BTreeMap::new(),
                bans: HashMap::new(),
                next_seq: 0,
                total_banned: 0,
                bancounts: HashMap::new(),
            }),
            sequencer: sequencer::Sequencer::spawn(&config.name, actions.clone(), store.clone()),
            store,
            journal: Mutex::new(None),
            actions,
            expiry,
            dns: Mutex::new(HashMap::new()),
            keeps_fields: actions_use_fields(&config),
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

    /// Start the thread that runs `filter` over the batches sent to the returned channel. After
    /// each batch, where reading stands is saved (with a store) so a restart resumes there.
    ///
    /// The channel holds [`FILTER_QUEUE`] batches: whoever sends waits while the jail is that far
    /// behind, so a large append is read as fast as it is filtered instead of into memory.
    pub fn spawn_filter_thread(self: &Arc<Self>, mut filter: Filter) -> FilterSender {
        if !self.keeps_fields {
            // No action shows a captured field: only what counting and banning read.
            filter.keep_bookkeeping_groups_only();
        }
        let (tx, rx) = mpsc::sync_channel::<FilterInput>(FILTER_QUEUE);
        let jail = Arc::clone(self);
        std::thread::Builder::new()
            .name(format!("filter-{}", self.name))
            .stack_size(FILTER_STACK)
            .spawn(move || {
                let mut found = Vec::new();
                // Lines handled since the allocator was last asked to give memory back.
                let mut since_trim = 0usize;
                loop {
                    let input = match rx.try_recv() {
                        Ok(input) => input,
                        Err(mpsc::TryRecvError::Empty) => {
                            // Caught up: after a burst, return what its batches took.
                            if since_trim >= TRIM_AFTER_LINES {
                                since_trim = 0;
                                release_free_memory();
                            }
                            match rx.recv() {
                                Ok(input) => input,
                                Err(_) => break,
                            }
                        }
                        Err(mpsc::TryRecvError::Disconnected) => break,
                    };
                    match input {
                        FilterInput::Lines(batch) => {
                            // One clock reading per batch (a few milliseconds of work): lines of
                            // the same second then share one date conversion.
                            let t = now();
                            // A large batch (a big append, a start-up catch-up) has its dates
                            // found on a second thread while this one matches.
                            filter.process_batch(&batch.lines, t, |result| {
                                for failure in result.failures {
                                    jail.on_failure(failure, t, &mut found);
                                }
                            });
                            since_trim += batch.lines.len();
                            jail.commit_position(&batch);
                        }
                        // Journal entries carry their time: no date detection (Fail2Ban's
                        // systemd backend does the same).
                        FilterInput::Journal(batch) => {
                            let t = now();
                            for entry in &batch.entries {
                                let result = filter.process_entry(&entry.line, entry.time, t);
                                for failure in result.failures {
                                    jail.on_failure(failure, t, &mut found);
                                }
                            }
                            since_trim += batch.entries.len();
                        }
                    }
                    events::found_all(&jail.name, found.drain(..));
                    if found.capacity() > 4 * BATCH_LINES {
                        found = Vec::new();
                    }
                }
            })
            .expect("spawning a filter thread");
        tx
    }

    /// For `backend = systemd`: follow the system journal with the filter's `journalmatch`,
    /// from `findtime` ago, feeding `lines` (the jail's filter thread).
    pub fn follow_journal(&self, lines: FilterSender) {
        use crate::sources::journal::{watch_journal, JournalSource, JournalSpec, Start};
        // Fail2Ban's backend options: systemd[journalpath=DIR] or systemd[journalfiles=F ...].
        let opts = backend_options(&self.config.backend);
        let source = if let Some(dir) = opts.get("journalpath") {
            JournalSource::Directory(PathBuf::from(dir))
        } else if let Some(files) = opts.get("journalfiles") {
            JournalSource::Files(files.split_whitespace().map(PathBuf::from).collect())
        } else {
            JournalSource::System
        };
        let spec = JournalSpec {
            source,
            matches: self.config.filter.journalmatch.clone().unwrap_or_default(),
            start: Start::Time(now() - self.config.findtime as f64),
        };
        // Bounded like the filter's own channel: the journal is read as fast as it is filtered.
        let (tx, rx) = mpsc::sync_channel(1);
        match watch_journal(spec, tx) {
            Ok(watcher) => {
                let forward = std::thread::Builder::new()
                    .name(format!("journal-{}", self.name))
                    .stack_size(FILTER_STACK)
                    .spawn(move || {
                        while let Ok(batch) = rx.recv() {
                            if lines.send(FilterInput::Journal(batch)).is_err() {
                                break;
                            }
                        }
                    });
                if let Err(e) = forward {
                    tracing::error!(jail = %self.name, error = %e, "[{}] cannot read the journal: {e}", self.name);
                    return;
                }
                *self.journal.lock().unwrap_or_else(|p| p.into_inner()) = Some(watcher);
            }
            Err(e) => {
                tracing::error!(jail = %self.name, error = %e, "[{}] cannot read the journal: {e}", self.name)
            }
        }
    }

    /// Does this jail read the systemd journal rather than files?
    pub fn uses_journal(&self) -> bool {
        self.config.backend.trim().starts_with("systemd")
    }

    /// Count a failure found by the filter, banning when `maxretry` is reached. A host name is
    /// resolved (`usedns = yes|warn`) and every address it has is counted, as Fail2Ban does.
    ///
    /// Each counted failure is appended to `found`; the caller announces them (`[jail] Found
    /// IP`) once the reading position past their lines is committed, so that a crash never has
    /// a failure announced twice: lines whose position was not saved were not announced either,
    /// and are read again after a restart.
    pub fn on_failure(&self, failure: Failure, now: f64, found: &mut Vec<(IpAddr, f64)>) {
        let ip = match &failure.host {
            Host::Ip(ip) => Some(*ip),
            Host::Name(name) => name.parse::<IpAddr>().ok(),
        };
        // One address (the usual case) needs no list of addresses.
        let resolved = match (ip, &failure.host) {
            (Some(_), _) => Vec::new(),
            (None, Host::Name(name)) => self.resolve(name),
            (None, Host::Ip(_)) => Vec::new(),
        };
        for ip in ip.map(canonical).into_iter().chain(resolved) {
            if self.count_failure(ip, &failure, now) {
                found.push((ip, failure.time));
            }
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

    /// Count one failure of `ip`; false when it does not count (too old, ignored address).
    fn count_failure(&self, ip: IpAddr, failure: &Failure, now: f64) -> bool {
        if failure.time < now - self.config.findtime as f64 {
            tracing::debug!(jail = %self.name, %ip, "line older than findtime ignored");
            return false;
        }
        if let Some(reason) = self.ignore.reason(ip) {
            events::ignored(&self.name, ip, reason);
            return false;
        }
        let offence = {
            let mut st = self.state();
            st.total_failed += 1;
            if st.bans.contains_key(&ip) {
                None
            } else {
                // Captured fields cost memory per tracked address: kept only when an action
                // shows them (`<F-USER>`, `<fid>`, ...).
                if self.keeps_fields {
                    let mut fields = failure.fields();
                    if let Some(fid) = &failure.fid {
                        fields.insert("fid".into(), fid.clone());
                    }
                    st.tracker.add(ip, failure.time, &failure.lines, &fields)
                } else {
                    st.tracker
                        .add(ip, failure.time, &failure.lines, &BTreeMap::new())
                }
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
        true
    }

    /// Ban `ticket.ip` unless it is already banned. Returns whether a new ban was made. The ban
    /// counts at once (status, timer); it is announced and carried out by the actions once the
    /// store has committed it.
    pub fn ban(&self, mut ticket: Ticket) -> bool {
        let ip = ticket.ip;
        if self.state().bans.contains_key(&ip) {
            events::already_banned(&self.name, ip);
            return false;
        }
        let earlier = self.earlier_bans(ip);
        let until;
        let t = {
            let mut st = self.state();
            if st.bans.contains_key(&ip) {
                return false;
            }
            let count = st.bancounts.entry(ip).or_insert(0);
            *count = (*count).max(earlier);
            if let Some(inc) = &self.increment {
                ticket.bantime = inc.bantime(ticket.bantime, *count);
            }
            *count += 1;
            ticket.bancount = *count;
            ticket.time = now();
            until = if ticket.bantime < 0 {
                None
            } else {
                Some(ticket.time + ticket.bantime as f64)
            };
            let t = Arc::new(ticket);
            st.tracker.forget(&ip);
            st.insert_ban(
                ip,
                BanEntry {
                    ticket: Arc::clone(&t),
                    until,
                },
            );
            st.total_banned += 1;
            t
        };
        self.sequencer.ban(t);
        if let Some(until) = until {
            self.expiry.schedule(until, &self.name, ip);
        }
        true
    }

    /// Save (and wait for) the reading position after `batch`, with a store. It goes through
    /// the jail's sequencer, so it is committed together with or after the bans the batch made:
    /// a crash can never leave a saved position past a line whose ban was not saved.
    fn commit_position(&self, batch: &LineBatch) {
        let (Some(_), Some(cp)) = (&self.store, &batch.checkpoint) else {
            return;
        };
        let ack = self.sequencer.position(SavedPosition {
            jail: self.name.clone(),
            path: batch.path.clone(),
            checkpoint: cp.clone(),
        });
        if ack.blocking_recv().is_err() {
            tracing::error!(jail = %self.name, "the ban sequencer stopped");
        }
    }

    /// How often `ip` was banned before, per the store (`bantime.increment` only).
    fn earlier_bans(&self, ip: IpAddr) -> u32 {
        let (Some(inc), Some(store)) = (&self.increment, &self.store) else {
            return 0;
        };
        let jail = (!inc.overalljails).then_some(self.name.as_str());
        match store.ban_count(ip, jail) {
            Ok(c) => c.count,
            Err(e) => {
                tracing::error!(jail = %self.name, error = %e, "cannot read earlier bans");
                0
            }
        }
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

    /// Lift the ban of `ip` by hand (`unbanip`, `unban`): also forgotten by the store, so a
    /// later ban starts `bantime.increment` afresh, as in Fail2Ban. Returns whether it was banned.
    pub fn unban(&self, ip: IpAddr) -> bool {
        self.lift(ip, true)
    }

    fn lift(&self, ip: IpAddr, manual: bool) -> bool {
        let ip = canonical(ip);
        let Some(entry) = self.state().remove_ban(&ip) else {
            return false;
        };
        self.sequencer.unban(entry.ticket, manual);
        true
    }

    /// The ban timer fired for `ip` at `until`: unban if that ban is still the one in force.
    pub fn expire(&self, ip: IpAddr, until: f64) {
        let current = self.state().bans.get(&ip).and_then(|(_, e)| e.until);
        if current == Some(until) {
            self.lift(ip, false);
        }
    }

    /// Is `ip` banned here?
    pub fn is_banned(&self, ip: IpAddr) -> bool {
        self.state().bans.contains_key(&canonical(ip))
    }

    /// The bans in force, in ban order.
    pub fn ban_entries(&self) -> Vec<BanEntry> {
        self.state().entries().cloned().collect()
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
            *st.bancounts.entry(ip).or_insert(0) = entry.ticket.bancount;
            st.insert_ban(ip, entry.clone());
        }
        self.sequencer.reban(Arc::clone(&entry.ticket));
        if let Some(until) = entry.until {
            self.expiry.schedule(until, &self.name, ip);
        }
    }

    /// Banned addresses in ban order.
    pub fn banned(&self) -> Vec<IpAddr> {
        self.state().order.values().copied().collect()
    }

    /// Restore the bans the store holds for this jail (at start-up), skipping ignored
    /// addresses. Returns how many were restored.
    pub fn restore_from_store(&self) -> usize {
        let Some(store) = &self.store else {
            return 0;
        };
        let records = match store.current_bans(&self.name, now()) {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(jail = %self.name, error = %e, "cannot read stored bans");
                return 0;
            }
        };
        let mut n = 0;
        for r in records {
            if let Some(reason) = self.ignore.reason(r.ip) {
                events::ignored(&self.name, r.ip, reason);
                continue;
            }
            let until = (r.bantime >= 0).then_some(r.timeofban + r.bantime as f64);
            self.adopt(BanEntry {
                ticket: Arc::new(ticket_from_record(&r)),
                until,
            });
            n += 1;
        }
        if n > 0 {
            tracing::info!(jail = %self.name, "[{}] Restored {n} ban(s)", self.name);
        }
        // Kernel sets may still hold bans from before a crash: make them match exactly.
        let tickets: Vec<Arc<Ticket>> = self
            .state()
            .entries()
            .map(|e| Arc::clone(&e.ticket))
            .collect();
        for a in &self.actions {
            a.reconcile(tickets.clone());
        }
        n
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
            journal_matches: self.uses_journal().then(|| {
                let m = self.config.filter.journalmatch.clone().unwrap_or_default();
                crate::sources::journal::JournalMatch::parse(&m)
                    .map(|j| j.to_string())
                    .unwrap_or(m)
            }),
            currently_banned: st.bans.len() as u64,
            evicted: st.tracker.evicted(),
            total_banned: st.total_banned,
            banned: st.order.values().map(|ip| ip.to_string()).collect(),
        }
    }

    /// Stop the actions: bans are lifted (flush or unban) and `actionstop` runs.
    pub async fn stop(&self) {
        self.journal
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        // Whatever is still on its way to the actions gets there first.
        self.sequencer.drain().await;
        let banned: Vec<Arc<Ticket>> = self
            .state()
            .entries()
            .map(|e| Arc::clone(&e.ticket))
            .collect();
        for a in &self.actions {
            a.stop(banned.clone()).await;
        }
        events::jail_stopped(&self.name);
    }
}

/// A ticket for a ban read back from the store.
fn ticket_from_record(r: &BanRecord) -> Ticket {
    let data = &r.data;
    let matches = data["matches"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|m| m.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let fields = data
        .as_object()
        .map(|o| {
            o.iter()
                .filter(|(k, _)| *k != "matches" && *k != "failures")
                .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string())))
                .collect()
        })
        .unwrap_or_default();
    Ticket {
        ip: r.ip,
        time: r.timeofban,
        failures: data["failures"].as_u64().unwrap_or(0) as u32,
        matches,
        fields,
        bantime: r.bantime,
        bancount: r.bancount,
        restored: true,
    }
}

/// The store's record of a new ban.
fn record_from_ticket(jail: &str, t: &Ticket) -> BanRecord {
    let mut data = serde_json::Map::new();
    data.insert("matches".into(), serde_json::json!(t.matches));
    data.insert("failures".into(), serde_json::json!(t.failures));
    for (k, v) in &t.fields {
        data.insert(k.clone(), serde_json::json!(v));
    }
    BanRecord {
        jail: jail.to_string(),
        ip: t.ip,
        timeofban: t.time,
        bantime: t.bantime,
        bancount: t.bancount,
        data: serde_json::Value::Object(data),
    }
}
