//! Counting failures per address: `maxretry` failures within `findtime` seconds means a ban.
//!
//! Memory is the thing to watch here: an attack from many addresses creates one entry each.
//! Entries are kept small (failure times as whole seconds, matched lines only when an action
//! uses them, captured fields boxed and usually absent), and a cap on tracked addresses evicts
//! the longest-idle address first, counted so that `status` can show it.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::IpAddr;

/// What the tracker knows about one address when it reaches `maxretry`.
#[derive(Debug, Clone, PartialEq)]
pub struct Offence {
    /// The address.
    pub ip: IpAddr,
    /// Failures inside the window (≥ maxretry).
    pub failures: u32,
    /// Time of the last failure (epoch seconds).
    pub time: f64,
    /// The most recent matched lines (at most `maxmatches`).
    pub matches: Vec<String>,
    /// Captured fields of the most recent failure.
    pub fields: BTreeMap<String, String>,
}

#[derive(Debug, Default)]
struct Entry {
    /// Failure times inside the window, oldest first (never more than `maxretry`), in
    /// milliseconds since the epoch.
    times: VecDeque<i64>,
    matches: Vec<Box<str>>,
    // Boxed on purpose: 8 bytes when absent (almost always) instead of an inline 24-byte map,
    // multiplied by every tracked address.
    #[allow(clippy::box_collection)]
    fields: Option<Box<BTreeMap<String, String>>>,
    /// Position of this entry's latest activity in the eviction queue.
    seq: u64,
}

/// Sliding-window failure counter, one entry per address.
#[derive(Debug)]
pub struct FailureTracker {
    findtime_ms: i64,
    maxretry: u32,
    maxmatches: usize,
    cap: usize,
    entries: HashMap<IpAddr, Entry>,
    /// (address, seq) in order of activity; stale pairs (seq no longer current) are skipped.
    activity: VecDeque<(IpAddr, u64)>,
    next_seq: u64,
    evicted: u64,
}

fn ms(t: f64) -> i64 {
    (t * 1000.0).round() as i64
}

impl FailureTracker {
    /// A tracker for `maxretry` failures within `findtime` seconds, keeping at most
    /// `maxmatches` lines per address, without a cap on addresses.
    pub fn new(findtime: i64, maxretry: u32, maxmatches: u32) -> Self {
        FailureTracker {
            findtime_ms: findtime.max(0).saturating_mul(1000),
            maxretry: maxretry.max(1),
            maxmatches: maxmatches as usize,
            cap: usize::MAX,
            entries: HashMap::new(),
            activity: VecDeque::new(),
            next_seq: 0,
            evicted: 0,
        }
    }

    /// Track at most `cap` addresses; beyond it the longest-idle one is forgotten.
    pub fn with_cap(mut self, cap: usize) -> Self {
        self.cap = cap.max(1);
        self
    }

    /// Record a failure. Returns the offence when the address now has `maxretry` failures
    /// inside the window; the address is then forgotten (its ban starts a new count).
    pub fn add(
        &mut self,
        ip: IpAddr,
        time: f64,
        lines: &[String],
        fields: &BTreeMap<String, String>,
    ) -> Option<Offence> {
        if !self.entries.contains_key(&ip) && self.entries.len() >= self.cap {
            self.evict_one();
        }
        self.next_seq += 1;
        let seq = self.next_seq;
        let (findtime_ms, maxretry, maxmatches) =
            (self.findtime_ms, self.maxretry, self.maxmatches);
        let entry = self.entries.entry(ip).or_default();
        entry.seq = seq;
        let t = ms(time);
        // Keep times ordered even when a log is slightly out of order.
        let pos = entry.times.partition_point(|&x| x <= t);
        entry.times.insert(pos, t);
        let newest = *entry.times.back().unwrap_or(&t);
        while entry
            .times
            .front()
            .is_some_and(|&oldest| oldest <= newest - findtime_ms)
        {
            entry.times.pop_front();
        }
        while entry.times.len() > maxretry as usize {
            entry.times.pop_front();
        }
        if maxmatches > 0 {
            entry
                .matches
                .extend(lines.iter().map(|l| Box::from(l.as_str())));
            let excess = entry.matches.len().saturating_sub(maxmatches);
            entry.matches.drain(..excess);
        }
        if !fields.is_empty() {
            entry.fields = Some(Box::new(fields.clone()));
        }
        let reached = entry.times.len() as u32 >= maxretry;
        self.activity.push_back((ip, seq));
        if reached {
            let entry = self.entries.remove(&ip)?;
            self.compact();
            return Some(Offence {
                ip,
                failures: entry.times.len() as u32,
                time: newest as f64 / 1000.0,
                matches: entry.matches.into_iter().map(String::from).collect(),
                fields: entry.fields.map(|f| *f).unwrap_or_default(),
            });
        }
        self.compact();
        None
    }

    fn evict_one(&mut self) {
        while let Some((ip, seq)) = self.activity.pop_front() {
            if self.entries.get(&ip).is_some_and(|e| e.seq == seq) {
                self.entries.remove(&ip);
                self.evicted += 1;
                return;
            }
        }
    }

    /// Drop stale queue items once they outnumber the live ones.
    fn compact(&mut self) {
        if self.activity.len() > 2 * self.entries.len() + 1024 {
            let entries = &self.entries;
            self.activity
                .retain(|(ip, seq)| entries.get(ip).is_some_and(|e| e.seq == *seq));
        }
    }

    /// Forget addresses whose last failure is older than the window at `now`.
    pub fn expire(&mut self, now: f64) {
        let limit = ms(now) - self.findtime_ms;
        self.entries
            .retain(|_, e| e.times.back().is_some_and(|&t| t > limit));
        self.compact();
    }

    /// Forget one address (it was banned by other means).
    pub fn forget(&mut self, ip: &IpAddr) {
        self.entries.remove(ip);
    }

    /// Addresses currently being counted.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Is nothing being counted?
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Addresses forgotten because of the cap.
    pub fn evicted(&self) -> u64 {
        self.evicted
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn add(t: &mut FailureTracker, addr: &str, time: f64) -> Option<Offence> {
        t.add(
            ip(addr),
            time,
            &[format!("line at {time}")],
            &BTreeMap::new(),
        )
    }

    #[test]
    fn fourth_failure_within_findtime_is_an_offence() {
        let mut t = FailureTracker::new(6000, 4, 4);
        assert!(add(&mut t, "192.0.2.66", 100.0).is_none());
        assert!(add(&mut t, "192.0.2.66", 200.0).is_none());
        assert!(add(&mut t, "192.0.2.66", 300.0).is_none());
        let o = add(&mut t, "192.0.2.66", 400.0).expect("4th failure bans");
        assert_eq!(o.failures, 4);
        assert_eq!(o.matches.len(), 4);
        assert!(t.is_empty(), "a banned address starts counting afresh");
    }

    #[test]
    fn failures_outside_the_window_do_not_count() {
        let mut t = FailureTracker::new(60, 3, 3);
        assert!(add(&mut t, "192.0.2.1", 0.0).is_none());
        assert!(add(&mut t, "192.0.2.1", 50.0).is_none());
        // 0.0 falls out of the window (40, 100]: two failures count, not three.
        assert!(add(&mut t, "192.0.2.1", 100.0).is_none());
        assert!(add(&mut t, "192.0.2.1", 105.0).is_some());
    }

    #[test]
    fn addresses_are_counted_separately_and_expire() {
        let mut t = FailureTracker::new(60, 2, 2);
        assert!(add(&mut t, "192.0.2.1", 0.0).is_none());
        assert!(add(&mut t, "2001:db8::1", 10.0).is_none());
        assert_eq!(t.len(), 2);
        t.expire(65.0);
        assert_eq!(t.len(), 1);
        t.expire(1000.0);
        assert!(t.is_empty());
    }

    #[test]
    fn cap_evicts_the_longest_idle_address_first() {
        let mut t = FailureTracker::new(600, 3, 0).with_cap(2);
        assert!(add(&mut t, "192.0.2.1", 1.0).is_none());
        assert!(add(&mut t, "192.0.2.2", 2.0).is_none());
        // .1 is active again, so .2 is now the longest idle.
        assert!(add(&mut t, "192.0.2.1", 3.0).is_none());
        assert!(add(&mut t, "192.0.2.3", 4.0).is_none());
        assert_eq!((t.len(), t.evicted()), (2, 1));
        // .1 kept both failures: a third bans it.
        assert!(add(&mut t, "192.0.2.1", 5.0).is_some());
        // .2 was forgotten: it starts again from one.
        assert!(add(&mut t, "192.0.2.2", 6.0).is_none());
        assert!(add(&mut t, "192.0.2.2", 7.0).is_none());
        assert!(add(&mut t, "192.0.2.2", 8.0).is_some());
    }

    #[test]
    fn no_lines_are_kept_when_maxmatches_is_zero() {
        let mut t = FailureTracker::new(600, 2, 0);
        assert!(add(&mut t, "192.0.2.1", 1.0).is_none());
        assert!(add(&mut t, "192.0.2.1", 2.0).unwrap().matches.is_empty());
    }

    #[test]
    fn maxmatches_bounds_the_kept_lines() {
        let mut t = FailureTracker::new(600, 5, 2);
        for i in 0..4 {
            assert!(add(&mut t, "192.0.2.9", i as f64).is_none());
        }
        let o = add(&mut t, "192.0.2.9", 5.0).unwrap();
        assert_eq!(
            o.matches,
            vec!["line at 3".to_string(), "line at 5".to_string()]
        );
    }
}
