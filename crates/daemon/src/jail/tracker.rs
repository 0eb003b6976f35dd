//! Counting failures per address: `maxretry` failures within `findtime` seconds means a ban.
//!
//! Memory is the thing to watch here: an attack from many addresses creates one entry each, so
//! an address that failed once costs no heap allocation of its own. Entries live in one dense
//! `Vec` of 40-byte nodes (the address as 16 bytes, the newest failure time, links of the
//! eviction order as indices, one pointer), found through an open-addressing index of 8-byte
//! slots. Everything else an address may need is in a boxed [`Cold`] part created only when
//! needed: the failure times once there are two inside the window, matched lines when an
//! action shows them (`maxmatches`), captured fields when an action uses them. With 100,000
//! addresses that failed once, the tracker takes about 5 MB (4 MB of nodes, 1 MB of index).
//!
//! A cap on tracked addresses evicts the longest-idle address first (a doubly linked list
//! through the nodes, in order of last failure), counted so that `status` can show it.

use std::collections::hash_map::RandomState;
use std::collections::{BTreeMap, VecDeque};
use std::hash::BuildHasher;
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

/// No node (end of the eviction list); also the largest node count plus one.
const NIL: u32 = 0x7fff_ffff;
/// In [`Node::prev`]: the address is IPv6.
const V6: u32 = 0x8000_0000;
/// An unused index slot.
const EMPTY: u64 = u64::MAX;

/// One tracked address: 40 bytes, no heap allocation while it has failed once (and keeps no
/// lines or fields).
#[derive(Debug)]
struct Node {
    /// IPv4 in the first 4 bytes (the rest zero), or IPv6.
    addr: [u8; 16],
    /// Newest failure time, milliseconds since the epoch.
    newest: i64,
    /// Everything beyond one failure time; `None` for most addresses.
    cold: Option<Box<Cold>>,
    /// Previous node in the eviction order (older activity), [`NIL`] at the head; the [`V6`]
    /// bit tells the address family.
    prev: u32,
    /// Next node (newer activity), [`NIL`] at the tail.
    next: u32,
}

/// The rarer, larger part of an entry.
#[derive(Debug, Default)]
struct Cold {
    /// Failure times inside the window, oldest first (never more than `maxretry`), when there
    /// are at least two; empty when the node's `newest` is the only one.
    times: VecDeque<i64>,
    matches: Vec<Box<str>>,
    fields: Option<BTreeMap<String, String>>,
}

impl Cold {
    fn is_empty(&self) -> bool {
        self.times.is_empty() && self.matches.is_empty() && self.fields.is_none()
    }
}

/// The index key of an address: its 16 bytes and whether it is IPv6.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Key {
    addr: [u8; 16],
    v6: bool,
}

impl Key {
    fn of(ip: IpAddr) -> Key {
        match ip {
            IpAddr::V4(v4) => {
                let mut addr = [0; 16];
                addr[..4].copy_from_slice(&v4.octets());
                Key { addr, v6: false }
            }
            IpAddr::V6(v6) => Key {
                addr: v6.octets(),
                v6: true,
            },
        }
    }
}

impl Node {
    fn key(&self) -> Key {
        Key {
            addr: self.addr,
            v6: self.prev & V6 != 0,
        }
    }

    fn prev(&self) -> u32 {
        self.prev & !V6
    }

    fn set_prev(&mut self, prev: u32) {
        self.prev = (self.prev & V6) | prev;
    }

    /// Failures inside the window.
    fn count(&self) -> usize {
        match &self.cold {
            Some(c) if !c.times.is_empty() => c.times.len(),
            _ => 1,
        }
    }
}

/// Sliding-window failure counter, one entry per address.
#[derive(Debug)]
pub struct FailureTracker {
    findtime_ms: i64,
    maxretry: u32,
    maxmatches: usize,
    cap: usize,
    /// The entries, densely packed (removal moves the last node into the hole).
    nodes: Vec<Node>,
    /// Open addressing with linear probing: the low 32 bits of the key's hash (which also
    /// give its home slot) above the node index, or [`EMPTY`]. Its length is zero or a power
    /// of two, at most 7/8 full.
    slots: Vec<u64>,
    hasher: RandomState,
    /// Longest idle (the next to evict) and most recently active node.
    head: u32,
    tail: u32,
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
            cap: NIL as usize - 1,
            nodes: Vec::new(),
            slots: Vec::new(),
            hasher: RandomState::new(),
            head: NIL,
            tail: NIL,
            evicted: 0,
        }
    }

    /// Track at most `cap` addresses; beyond it the longest-idle one is forgotten.
    pub fn with_cap(mut self, cap: usize) -> Self {
        self.cap = cap.clamp(1, NIL as usize - 1);
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
        let key = Key::of(ip);
        let hash = self.hash(&key);
        let t = ms(time);
        let idx = match self.find(hash, &key) {
            Some((_, idx)) => {
                self.unlink(idx);
                self.push_tail(idx);
                self.add_time(idx, t);
                idx
            }
            None => {
                if self.nodes.len() >= self.cap {
                    self.evict_one();
                }
                self.insert(hash, key, t)
            }
        };
        let keep_lines = self.maxmatches > 0 && !lines.is_empty();
        if keep_lines || !fields.is_empty() {
            let maxmatches = self.maxmatches;
            let cold = self.nodes[idx as usize]
                .cold
                .get_or_insert_with(Default::default);
            if keep_lines {
                cold.matches
                    .extend(lines.iter().map(|l| Box::from(l.as_str())));
                let excess = cold.matches.len().saturating_sub(maxmatches);
                cold.matches.drain(..excess);
            }
            if !fields.is_empty() {
                cold.fields = Some(fields.clone());
            }
        }
        let node = &self.nodes[idx as usize];
        // With findtime = 0 no failure is ever inside the window.
        let count = if self.findtime_ms == 0 {
            0
        } else {
            node.count()
        };
        if count < self.maxretry as usize {
            return None;
        }
        let newest = node.newest;
        let cold = self.remove(idx).unwrap_or_default();
        Some(Offence {
            ip,
            failures: count as u32,
            time: newest as f64 / 1000.0,
            matches: cold.matches.into_iter().map(String::from).collect(),
            fields: cold.fields.unwrap_or_default(),
        })
    }

    /// Add failure time `t` to node `idx`, keeping only what the window and `maxretry` allow.
    fn add_time(&mut self, idx: u32, t: i64) {
        let (findtime_ms, maxretry) = (self.findtime_ms, self.maxretry as usize);
        let node = &mut self.nodes[idx as usize];
        let single = node.cold.as_ref().is_none_or(|c| c.times.is_empty());
        if single {
            // Keep times ordered even when a log is slightly out of order.
            let (older, newer) = if t < node.newest {
                (t, node.newest)
            } else {
                (node.newest, t)
            };
            node.newest = newer;
            if maxretry >= 2 && older > newer - findtime_ms {
                let cold = node.cold.get_or_insert_with(Default::default);
                cold.times.extend([older, newer]);
            }
            return;
        }
        let Some(cold) = node.cold.as_mut() else {
            return;
        };
        let times = &mut cold.times;
        let pos = times.partition_point(|&x| x <= t);
        times.insert(pos, t);
        let newest = *times.back().unwrap_or(&t);
        while times
            .front()
            .is_some_and(|&oldest| oldest <= newest - findtime_ms)
        {
            times.pop_front();
        }
        while times.len() > maxretry {
            times.pop_front();
        }
        node.newest = newest;
        if times.len() <= 1 {
            // Back to the plain form: the newest time is in the node.
            cold.times = VecDeque::new();
            if cold.is_empty() {
                node.cold = None;
            }
        }
    }

    fn evict_one(&mut self) {
        if self.head != NIL {
            self.remove(self.head);
            self.evicted += 1;
        }
    }

    /// Forget addresses whose last failure is older than the window at `now`.
    pub fn expire(&mut self, now: f64) {
        let limit = ms(now) - self.findtime_ms;
        let mut i = 0;
        while i < self.nodes.len() {
            if self.nodes[i].newest <= limit {
                // The last node moves into `i`: look at `i` again.
                self.remove(i as u32);
            } else {
                i += 1;
            }
        }
        self.shrink();
    }

    /// Forget one address (it was banned by other means).
    pub fn forget(&mut self, ip: &IpAddr) {
        let key = Key::of(*ip);
        if let Some((_, idx)) = self.find(self.hash(&key), &key) {
            self.remove(idx);
        }
    }

    /// Addresses currently being counted.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Is nothing being counted?
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Addresses forgotten because of the cap.
    pub fn evicted(&self) -> u64 {
        self.evicted
    }

    /// The key's hash: 32 bits are enough for any index size this tracker reaches.
    fn hash(&self, key: &Key) -> u64 {
        self.hasher.hash_one(key) & 0xffff_ffff
    }

    /// The slot and node index of `key`.
    fn find(&self, hash: u64, key: &Key) -> Option<(usize, u32)> {
        if self.slots.is_empty() {
            return None;
        }
        let mask = self.slots.len() - 1;
        let mut i = hash as usize & mask;
        loop {
            let slot = self.slots[i];
            if slot == EMPTY {
                return None;
            }
            let idx = slot as u32;
            if slot >> 32 == hash && self.nodes[idx as usize].key() == *key {
                return Some((i, idx));
            }
            i = (i + 1) & mask;
        }
    }

    /// The slot holding node index `idx`, whose key hashes to `hash`.
    fn slot_of(&self, hash: u64, idx: u32) -> usize {
        let mask = self.slots.len() - 1;
        let mut i = hash as usize & mask;
        while self.slots[i] == EMPTY || self.slots[i] as u32 != idx {
            i = (i + 1) & mask;
        }
        i
    }

    /// Put `idx` with `hash` into the first free slot of its probe sequence.
    fn place(slots: &mut [u64], hash: u64, idx: u32) {
        let mask = slots.len() - 1;
        let mut i = hash as usize & mask;
        while slots[i] != EMPTY {
            i = (i + 1) & mask;
        }
        slots[i] = (hash << 32) | idx as u64;
    }

    /// A new node for `key`, most recently active.
    fn insert(&mut self, hash: u64, key: Key, t: i64) -> u32 {
        if (self.nodes.len() + 1) * 8 > self.slots.len() * 7 {
            self.resize_index((self.slots.len() * 2).max(16));
        }
        let idx = self.nodes.len() as u32;
        self.nodes.push(Node {
            addr: key.addr,
            newest: t,
            cold: None,
            prev: if key.v6 { V6 | NIL } else { NIL },
            next: NIL,
        });
        Self::place(&mut self.slots, hash, idx);
        self.push_tail(idx);
        idx
    }

    /// Rebuild the index with `size` slots (a power of two), from the hash bits kept in each.
    fn resize_index(&mut self, size: usize) {
        let old = std::mem::replace(&mut self.slots, vec![EMPTY; size]);
        for slot in old.into_iter().filter(|&s| s != EMPTY) {
            Self::place(&mut self.slots, slot >> 32, slot as u32);
        }
    }

    /// Remove node `idx` (unlinked, out of the index, the last node moved into its place).
    fn remove(&mut self, idx: u32) -> Option<Cold> {
        self.unlink(idx);
        let hash = self.hash(&self.nodes[idx as usize].key());
        let slot = self.slot_of(hash, idx);
        self.delete_slot(slot);
        let last = self.nodes.len() as u32 - 1;
        let node = self.nodes.swap_remove(idx as usize);
        if idx != last {
            // The node that was last is now at `idx`: repoint its neighbours and its slot.
            let (prev, next) = {
                let moved = &self.nodes[idx as usize];
                (moved.prev(), moved.next)
            };
            match prev {
                NIL => self.head = idx,
                p => self.nodes[p as usize].next = idx,
            }
            match next {
                NIL => self.tail = idx,
                n => self.nodes[n as usize].set_prev(idx),
            }
            let hash = self.hash(&self.nodes[idx as usize].key());
            let slot = self.slot_of(hash, last);
            self.slots[slot] = (self.slots[slot] >> 32 << 32) | idx as u64;
        }
        node.cold.map(|c| *c)
    }

    /// Empty slot `i`, shifting later slots of the same probe run back (no tombstones).
    fn delete_slot(&mut self, mut i: usize) {
        let mask = self.slots.len() - 1;
        let mut j = i;
        loop {
            j = (j + 1) & mask;
            let slot = self.slots[j];
            if slot == EMPTY {
                break;
            }
            let home = (slot >> 32) as usize & mask;
            // The slot may move back to `i` unless its home lies cyclically in (i, j].
            let stays = if i <= j {
                i < home && home <= j
            } else {
                i < home || home <= j
            };
            if !stays {
                self.slots[i] = slot;
                i = j;
            }
        }
        self.slots[i] = EMPTY;
    }

    /// Give memory back after many addresses went away.
    fn shrink(&mut self) {
        let len = self.nodes.len();
        if self.nodes.capacity() > 64 && self.nodes.capacity() / 4 > len {
            self.nodes.shrink_to((len * 2).max(64));
        }
        if self.slots.len() > 16 && self.slots.len() / 16 > len {
            let size = (len * 4).next_power_of_two().max(16);
            if len == 0 {
                self.slots = Vec::new();
            } else {
                self.resize_index(size);
            }
        }
    }

    fn unlink(&mut self, idx: u32) {
        let (prev, next) = {
            let n = &self.nodes[idx as usize];
            (n.prev(), n.next)
        };
        match prev {
            NIL => self.head = next,
            p => self.nodes[p as usize].next = next,
        }
        match next {
            NIL => self.tail = prev,
            n => self.nodes[n as usize].set_prev(prev),
        }
    }

    fn push_tail(&mut self, idx: u32) {
        let tail = self.tail;
        {
            let n = &mut self.nodes[idx as usize];
            n.set_prev(tail);
            n.next = NIL;
        }
        match tail {
            NIL => self.head = idx,
            t => self.nodes[t as usize].next = idx,
        }
        self.tail = idx;
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

    #[test]
    fn a_node_is_40_bytes() {
        assert_eq!(std::mem::size_of::<Node>(), 40);
    }

    #[test]
    fn one_failure_each_needs_no_cold_part() {
        let mut t = FailureTracker::new(86_400, 1_000_000, 0);
        for i in 0..10_000u32 {
            let ip = IpAddr::from((0xc612_0000u32 + i).to_be_bytes());
            assert!(t
                .add(ip, 1000.0 + i as f64, &[], &BTreeMap::new())
                .is_none());
        }
        assert_eq!(t.len(), 10_000);
        assert!(t.nodes.iter().all(|n| n.cold.is_none()));
        // At most 7/8 full, and not more than twice what that needs.
        assert_eq!(t.slots.len(), 16_384);
    }

    #[test]
    fn v4_and_v6_addresses_with_the_same_bytes_are_distinct() {
        let addrs = [
            "1.2.3.4",
            "::ffff:1.2.3.4",
            "::1.2.3.4",
            "102:304::",
            "0.0.0.0",
            "::",
        ];
        let mut t = FailureTracker::new(600, 2, 1);
        for (i, a) in addrs.iter().enumerate() {
            assert!(add(&mut t, a, i as f64).is_none(), "{a}");
        }
        assert_eq!(t.len(), addrs.len());
        for (i, a) in addrs.iter().enumerate().rev() {
            let o = add(&mut t, a, 10.0 + i as f64).expect("second failure bans");
            assert_eq!(o.ip, ip(a));
            assert_eq!(o.failures, 2);
            assert_eq!(o.matches, vec![format!("line at {}", 10.0 + i as f64)]);
        }
        assert!(t.is_empty());
    }

    #[test]
    fn times_fall_back_to_the_node_when_the_window_moves_on() {
        let mut t = FailureTracker::new(60, 5, 0);
        assert!(add(&mut t, "2001:db8::7", 0.0).is_none());
        assert!(add(&mut t, "2001:db8::7", 10.0).is_none());
        assert!(t.nodes[0].cold.is_some());
        // Both earlier failures are outside (40, 100]: one failure counts, kept in the node.
        assert!(add(&mut t, "2001:db8::7", 100.0).is_none());
        assert!(t.nodes[0].cold.is_none());
        assert_eq!(t.nodes[0].count(), 1);
        // An out-of-order failure inside the window still counts.
        assert!(add(&mut t, "2001:db8::7", 95.5).is_none());
        assert_eq!(t.nodes[0].count(), 2);
        assert_eq!(t.nodes[0].newest, 100_000);
    }

    #[test]
    fn fields_of_the_latest_failure_are_kept() {
        let mut t = FailureTracker::new(600, 2, 0);
        let f = |user: &str| BTreeMap::from([("user".to_string(), user.to_string())]);
        assert!(t.add(ip("192.0.2.5"), 1.0, &[], &f("root")).is_none());
        let o = t.add(ip("192.0.2.5"), 2.0, &[], &f("admin")).unwrap();
        assert_eq!(o.fields, f("admin"));
        assert!(o.matches.is_empty());
    }

    #[test]
    fn expiry_gives_memory_back() {
        let mut t = FailureTracker::new(60, 3, 0);
        for i in 0..50_000u32 {
            let ip = IpAddr::from((0x0a00_0000u32 + i).to_be_bytes());
            t.add(ip, i as f64 / 1000.0, &[], &BTreeMap::new());
        }
        t.add(ip("192.0.2.1"), 150.0, &[], &BTreeMap::new());
        t.expire(200.0);
        assert_eq!(t.len(), 1);
        assert!(t.nodes.capacity() <= 64 && t.slots.len() <= 16);
        assert!(add(&mut t, "192.0.2.1", 201.0).is_none());
        assert!(add(&mut t, "192.0.2.1", 202.0).is_some());
    }

    /// A small deterministic generator, so the comparison below needs no dependency.
    struct Lcg(u64);

    impl Lcg {
        fn next(&mut self, n: u64) -> u64 {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (self.0 >> 33) % n
        }
    }

    /// The compact tracker against the straightforward one it replaced (maps, a queue of
    /// activity, a `VecDeque` of times per address): same offences, counts, evictions.
    #[test]
    fn behaves_like_the_straightforward_tracker() {
        for (seed, findtime, maxretry, maxmatches, cap, pool) in [
            (1, 60, 3, 2, 50, 80),
            (2, 600, 5, 0, 1000, 3000),
            (3, 10, 2, 1, 7, 20),
            (4, 3600, 1, 0, 100, 100),
            (5, 30, 8, 3, usize::MAX, 500),
            (6, 0, 2, 0, 10, 30),
        ] {
            let mut rng = Lcg(seed);
            let mut new = FailureTracker::new(findtime, maxretry, maxmatches).with_cap(cap);
            let mut old = reference::Reference::new(findtime, maxretry, maxmatches).with_cap(cap);
            let mut now = 1_000_000.0;
            for step in 0..60_000 {
                let n = rng.next(pool);
                let addr = if n.is_multiple_of(3) {
                    IpAddr::from(((0xfd00u128 << 112) | n as u128).to_be_bytes())
                } else {
                    IpAddr::from((0xc000_0200u32 + n as u32).to_be_bytes())
                };
                now += rng.next(2000) as f64 / 1000.0;
                // Some lines arrive a little out of order.
                let time = now - rng.next(5000) as f64 / 1000.0;
                match rng.next(100) {
                    0 => {
                        new.forget(&addr);
                        old.forget(&addr);
                    }
                    1 => {
                        new.expire(now);
                        old.expire(now);
                    }
                    _ => {
                        let lines = [format!("line {step}")];
                        let fields = if step % 7 == 0 {
                            BTreeMap::from([("step".to_string(), step.to_string())])
                        } else {
                            BTreeMap::new()
                        };
                        let a = new.add(addr, time, &lines, &fields);
                        let b = old.add(addr, time, &lines, &fields);
                        assert_eq!(a, b, "seed {seed}, step {step}");
                    }
                }
                assert_eq!(new.len(), old.len(), "seed {seed}, step {step}");
                assert_eq!(new.evicted(), old.evicted(), "seed {seed}, step {step}");
            }
        }
    }

    mod reference {
        use super::super::Offence;
        use std::collections::{BTreeMap, HashMap, VecDeque};
        use std::net::IpAddr;

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
        pub struct Reference {
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

        impl Reference {
            /// A tracker for `maxretry` failures within `findtime` seconds, keeping at most
            /// `maxmatches` lines per address, without a cap on addresses.
            pub fn new(findtime: i64, maxretry: u32, maxmatches: u32) -> Self {
                Reference {
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

            /// Addresses forgotten because of the cap.
            pub fn evicted(&self) -> u64 {
                self.evicted
            }
        }
    }
}
