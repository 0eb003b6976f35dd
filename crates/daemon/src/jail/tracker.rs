//! Counting failures per address: `maxretry` failures within `findtime` seconds means a ban.

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
    /// Failure times inside the window, oldest first (never more than `maxretry`).
    times: VecDeque<f64>,
    matches: VecDeque<String>,
    fields: BTreeMap<String, String>,
}

/// Sliding-window failure counter, one entry per address.
#[derive(Debug)]
pub struct FailureTracker {
    findtime: f64,
    maxretry: u32,
    maxmatches: usize,
    entries: HashMap<IpAddr, Entry>,
}

impl FailureTracker {
    /// A tracker for `maxretry` failures within `findtime` seconds.
    pub fn new(findtime: i64, maxretry: u32, maxmatches: u32) -> Self {
        FailureTracker {
            findtime: findtime.max(0) as f64,
            maxretry: maxretry.max(1),
            maxmatches: maxmatches as usize,
            entries: HashMap::new(),
        }
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
        let entry = self.entries.entry(ip).or_default();
        // Keep times ordered even when a log is slightly out of order.
        let pos = entry.times.partition_point(|&t| t <= time);
        entry.times.insert(pos, time);
        let newest = *entry.times.back().unwrap_or(&time);
        while let Some(&oldest) = entry.times.front() {
            if oldest <= newest - self.findtime {
                entry.times.pop_front();
            } else {
                break;
            }
        }
        while entry.times.len() > self.maxretry as usize {
            entry.times.pop_front();
        }
        for line in lines {
            entry.matches.push_back(line.clone());
        }
        while entry.matches.len() > self.maxmatches {
            entry.matches.pop_front();
        }
        if !fields.is_empty() {
            entry.fields = fields.clone();
        }
        if entry.times.len() as u32 >= self.maxretry {
            let entry = self.entries.remove(&ip)?;
            return Some(Offence {
                ip,
                failures: entry.times.len() as u32,
                time: newest,
                matches: entry.matches.into_iter().collect(),
                fields: entry.fields,
            });
        }
        None
    }

    /// Forget addresses whose last failure is older than the window at `now`.
    pub fn expire(&mut self, now: f64) {
        let limit = now - self.findtime;
        self.entries
            .retain(|_, e| e.times.back().is_some_and(|&t| t > limit));
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
