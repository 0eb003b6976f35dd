//! Multi-line failures keyed by a connection id (`<F-MLFID>`), as Fail2Ban merges them.
//!
//! Some daemons log one attempt over several lines that share an id but not a host: sshd's
//! `Connection from <HOST>` … `Failed password` … `Disconnected`. A failregex capturing
//! `mlfid` stores what it found under that id; later matches with the same id are merged into
//! it (so a later line gains the host seen earlier). Special groups steer the merge:
//!
//! - `<F-NOFAIL>`: this match alone is not a failure (e.g. a successful step);
//! - `<F-MLFGAINED>`: the connection succeeded: pending failures are forgotten;
//! - `<F-MLFFORGET>`: the connection ended: drop the stored entry.
//!
//! A match without any host or id marks the entry "pending" until a later line provides one.
//! Entries live 5 minutes and at most 100 are kept (oldest first out), as in Fail2Ban.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};

use crate::filter::{intern, GroupName, GroupValue};

/// Seconds an entry lives.
const TTL: f64 = 300.0;
/// Entries kept at most.
const MAX_ENTRIES: usize = 100;

/// A failure's named groups (`None`: the group did not take part), one value per name. A
/// handful per failure: a small vector (one allocation, no tree nodes) searched by name, whose
/// names are shared with the compiled regexes. In no particular order; maps made from it
/// ([`Self::into_map`]) are sorted.
#[derive(Debug, Clone, Default)]
pub(crate) struct Groups(Vec<(GroupName, Option<GroupValue>)>);

impl Groups {
    /// From pairs; a later pair replaces an earlier one of the same name.
    #[cfg(test)]
    pub fn from_pairs(pairs: impl IntoIterator<Item = (GroupName, Option<GroupValue>)>) -> Self {
        let mut groups = Groups::default();
        groups.extend(pairs);
        groups
    }

    /// A failregex match's groups over its prefregex's: a name both have takes the
    /// failregex's value, even an empty one or none. Each dict names a group once; the
    /// failregex's vector is kept, the prefregex's groups are added to it.
    pub fn merged(
        fail: Vec<(GroupName, Option<GroupValue>)>,
        pre: Vec<(GroupName, Option<GroupValue>)>,
    ) -> Self {
        let mut groups = Groups(fail);
        let own = groups.0.len();
        for (k, v) in pre {
            if !groups.0[..own].iter().any(|(n, _)| same_name(n, k)) {
                groups.0.push((k, v));
            }
        }
        groups
    }

    fn find(&self, key: &str) -> Option<usize> {
        self.0.iter().position(|(k, _)| same_name(k, key))
    }

    /// A group's value (`Some(None)`: it did not take part).
    pub fn get(&self, key: &str) -> Option<&Option<GroupValue>> {
        self.find(key).map(|i| &self.0[i].1)
    }

    /// Set a group; returns the value it replaces.
    pub fn insert(
        &mut self,
        key: GroupName,
        value: Option<GroupValue>,
    ) -> Option<Option<GroupValue>> {
        match self.find(key) {
            Some(i) => Some(std::mem::replace(&mut self.0[i].1, value)),
            None => {
                self.0.push((key, value));
                None
            }
        }
    }

    /// Take a group out.
    pub fn remove(&mut self, key: &str) -> Option<Option<GroupValue>> {
        self.find(key).map(|i| self.0.remove(i).1)
    }

    /// Set every pair in turn.
    #[cfg(test)]
    pub fn extend(&mut self, pairs: impl IntoIterator<Item = (GroupName, Option<GroupValue>)>) {
        for (k, v) in pairs {
            self.insert(k, v);
        }
    }

    /// Keep the groups `keep` says yes to.
    pub fn retain(&mut self, mut keep: impl FnMut(&str, &Option<GroupValue>) -> bool) {
        self.0.retain(|(k, v)| keep(k, v));
    }

    /// As a map with names of their own.
    pub fn into_map(self) -> BTreeMap<String, Option<String>> {
        self.0
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.map(String::from)))
            .collect()
    }
}

/// Are two group names the same? Names are a few bytes and usually differ in length or in
/// the first byte, where a call to `memcmp` would cost more than the comparison.
#[inline]
fn same_name(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).all(|(x, y)| x == y)
}

/// The same groups with the same values, in any order.
impl PartialEq for Groups {
    fn eq(&self, other: &Groups) -> bool {
        self.0.len() == other.0.len() && self.0.iter().all(|(k, v)| other.get(k) == Some(v))
    }
}

impl IntoIterator for Groups {
    type Item = (GroupName, Option<GroupValue>);
    type IntoIter = std::vec::IntoIter<(GroupName, Option<GroupValue>)>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

/// What one failure (or a merged multi-line failure) holds.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct FailData<L: Clone> {
    /// Named groups (`None`: group did not take part).
    pub groups: Groups,
    /// Every `user` seen for this id.
    pub users: Option<BTreeSet<String>>,
    /// Lines that make up the failure.
    pub matches: Option<Vec<L>>,
    /// Lines of `nofail` matches, kept in case a failure follows.
    pub nofail_matches: Option<Vec<L>>,
    /// A match without host is waiting for one.
    pub pending: bool,
}

impl<L: Clone> FailData<L> {
    /// From one match's groups.
    pub fn from_groups(groups: Groups) -> Self {
        FailData {
            groups,
            users: None,
            matches: None,
            nofail_matches: None,
            pending: false,
        }
    }

    /// A group's value, if it took part.
    pub fn get(&self, key: &str) -> Option<GroupValue> {
        self.groups.get(key).cloned().flatten()
    }

    /// A group's value, if it took part, without copying it.
    pub fn get_str(&self, key: &str) -> Option<&str> {
        self.groups.get(key).and_then(|v| v.as_deref())
    }

    /// A group is present and non-empty (Python truthiness).
    pub fn truthy(&self, key: &str) -> bool {
        self.groups
            .get(key)
            .is_some_and(|v| v.as_deref().is_some_and(|v| !v.is_empty()))
    }

    /// Remove a group; was it truthy?
    fn take_truthy(&mut self, key: &str) -> bool {
        self.groups
            .remove(key)
            .is_some_and(|v| v.is_some_and(|v| !v.is_empty()))
    }
}

/// Record `user` (if non-empty) in `users`; returns how many users it holds after that.
fn update_users(users: &mut Option<BTreeSet<String>>, user: Option<&str>) -> usize {
    if let Some(u) = user.filter(|u| !u.is_empty()) {
        let set = users.get_or_insert_with(BTreeSet::new);
        if !set.contains(u) {
            set.insert(u.to_string());
        }
    }
    users.as_ref().map_or(0, BTreeSet::len)
}

/// The per-filter store of open multi-line failures.
#[derive(Debug, Clone)]
pub(crate) struct MlfidCache<L: Clone> {
    /// (hash of id, id, data, expiry), oldest first. The hash makes a lookup a scan of
    /// integers: ids of one daemon tend to share long prefixes.
    entries: VecDeque<(u64, GroupValue, FailData<L>, f64)>,
    /// How many entries have each hash: an id not stored (most ids, on a busy log) is known
    /// without a scan.
    hashes: HashMap<u64, u32, BuildHasherDefault<HashIsKey>>,
}

impl<L: Clone> Default for MlfidCache<L> {
    fn default() -> Self {
        MlfidCache {
            entries: VecDeque::new(),
            hashes: HashMap::default(),
        }
    }
}

/// A hasher for keys that are hashes already.
#[derive(Default)]
struct HashIsKey(u64);

impl Hasher for HashIsKey {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) | u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// A quick hash of an id (only to skip most comparisons: equality is still checked).
fn id_hash(id: &str) -> u64 {
    const K: u64 = 0x517c_c1b7_2722_0a95;
    let mut h = id.len() as u64;
    let mut chunks = id.as_bytes().chunks_exact(8);
    for c in &mut chunks {
        let word = u64::from_le_bytes(c.try_into().expect("8 bytes"));
        h = (h.rotate_left(5) ^ word).wrapping_mul(K);
    }
    for &b in chunks.remainder() {
        h = (h.rotate_left(5) ^ u64::from(b)).wrapping_mul(K);
    }
    h
}

impl<L: Clone> MlfidCache<L> {
    /// Where `id` is stored. The newest entries are looked at first: lines of one id tend
    /// to come close together.
    fn position(&self, id: &str) -> Option<usize> {
        let h = id_hash(id);
        if !self.hashes.contains_key(&h) {
            return None;
        }
        self.entries
            .iter()
            .rposition(|(eh, k, _, _)| *eh == h && k == id)
    }

    /// Forget the count of one entry's hash.
    fn unhash(&mut self, h: u64) {
        if let Some(n) = self.hashes.get_mut(&h) {
            *n -= 1;
            if *n == 0 {
                self.hashes.remove(&h);
            }
        }
    }

    /// Remove the entry at `i`.
    fn remove_at(&mut self, i: usize) {
        if let Some((h, ..)) = self.entries.remove(i) {
            self.unhash(h);
        }
    }

    /// Take the live entry for `id` out (an expired one is removed), with its index. The
    /// caller puts it back at that index or removes it.
    fn take(&mut self, id: &str, now: f64) -> Option<(usize, FailData<L>)> {
        let i = self.position(id)?;
        if self.entries[i].3 > now {
            let empty = FailData::from_groups(Groups::default());
            return Some((i, std::mem::replace(&mut self.entries[i].2, empty)));
        }
        self.remove_at(i);
        None
    }

    /// Add an entry for an `id` not stored (evicting from the front when full); returns its
    /// index.
    fn push_new(&mut self, id: &str, data: FailData<L>, now: f64) -> usize {
        if self.entries.len() >= MAX_ENTRIES {
            while let Some((h, _, _, expiry)) = self.entries.pop_front() {
                self.unhash(h);
                if expiry > now && self.entries.len() < MAX_ENTRIES {
                    break;
                }
            }
        }
        let h = id_hash(id);
        *self.hashes.entry(h).or_insert(0) += 1;
        self.entries
            .push_back((h, GroupValue::from(id), data, now + TTL));
        self.entries.len() - 1
    }

    /// Mark the stored entry for `id` as waiting for a host.
    pub fn mark_pending(&mut self, id: &str) {
        if let Some(i) = self.position(id) {
            self.entries[i].2.pending = true;
        }
    }

    /// Merge a new match (`fail`, covering `matched` lines) into the entry for `id`
    /// (Fail2Ban's `_mergeFailure`). Returns the merged failure: the stored entry itself
    /// unless the match said `mlfforget` (a caller that only reads `nofail` copies nothing).
    pub fn merge(
        &mut self,
        id: &str,
        mut fail: FailData<L>,
        matched: &[L],
        now: f64,
    ) -> Cow<'_, FailData<L>> {
        const NOFAIL: u8 = 1;
        const FORGET: u8 = 2;
        const CACHED_NOFAIL: u8 = 4;
        const GAINED: u8 = 8;
        let cached = self.take(id, now);
        let mut flags = 0u8;
        if fail.truthy("mlfgained") {
            flags |= GAINED | NOFAIL;
            if !fail.truthy("nofail") {
                let gained = fail.groups.get("mlfgained").cloned().flatten();
                fail.groups.insert(intern("nofail"), gained);
            }
        } else if fail.truthy("nofail") {
            flags |= NOFAIL;
        }
        if fail.take_truthy("mlfforget") {
            flags |= FORGET;
        }
        let users;
        // Where the result lives afterwards: replaced in place, newly stored, or not stored.
        enum Store {
            /// Back at this index (taken from there).
            Replace(usize),
            Insert,
            No,
        }
        let store;
        if let Some((at, mut entry)) = cached {
            users = update_users(&mut entry.users, fail.get_str("user"));
            if entry.take_truthy("nofail") {
                flags |= CACHED_NOFAIL;
            }
            if entry.take_truthy("mlfgained") {
                flags |= CACHED_NOFAIL;
            }
            if flags & GAINED != 0 {
                entry.pending = false;
            }
            if flags & CACHED_NOFAIL == 0 && !entry.pending {
                entry.matches = None;
            }
            for (k, v) in fail.groups {
                if v.is_some() {
                    entry.groups.insert(k, v);
                }
            }
            fail = entry;
            if flags & FORGET != 0 {
                self.remove_at(at);
                store = Store::No;
            } else {
                store = Store::Replace(at);
            }
        } else if flags & FORGET == 0 {
            let user = fail.groups.get("user").and_then(|v| v.as_deref());
            users = update_users(&mut fail.users, user);
            store = Store::Insert;
        } else {
            users = 0;
            store = Store::No;
        }
        let was_pending = std::mem::take(&mut fail.pending);
        if was_pending || users > 1 {
            fail.groups.remove("nofail");
            fail.groups.remove("mlfgained");
            flags &= !(GAINED | NOFAIL);
        }
        if flags & NOFAIL == 0 {
            let mut m = fail.nofail_matches.take().unwrap_or_default();
            m.extend(fail.matches.take().unwrap_or_default());
            if flags & GAINED == 0 {
                m.extend_from_slice(matched);
            }
            fail.matches = Some(m);
        } else if flags & (NOFAIL | FORGET) == NOFAIL {
            let mut m = fail.nofail_matches.take().unwrap_or_default();
            m.extend_from_slice(matched);
            fail.nofail_matches = Some(m);
        }
        let at = match store {
            Store::Replace(at) => {
                self.entries[at].2 = fail;
                at
            }
            // `take` found no live entry and removed an expired one: the id is not stored.
            Store::Insert => self.push_new(id, fail, now),
            Store::No => return Cow::Owned(fail),
        };
        Cow::Borrowed(&self.entries[at].2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(pairs: &[(&str, &str)]) -> FailData<String> {
        FailData::from_groups(Groups::from_pairs(
            pairs
                .iter()
                .map(|(k, v)| (intern(k), Some(GroupValue::from(*v)))),
        ))
    }

    #[test]
    fn groups_by_name() {
        for a in ["", "a", "ab", "ip4", "ip6", "mlfid", "nofail", "user", "é"] {
            for b in ["", "a", "ab", "ip4", "ip6", "mlfid", "nofail", "user", "é"] {
                assert_eq!(same_name(a, b), a == b, "{a} {b}");
            }
        }
        let mut g = Groups::default();
        for n in ["user", "ip4", "mlfid", "nofail", "ip6"] {
            g.insert(intern(n), Some(n.to_uppercase().into()));
        }
        assert_eq!(g.insert(intern("ip4"), None), Some(Some("IP4".into())));
        assert_eq!(g.get("ip6"), Some(&Some("IP6".into())));
        assert_eq!(g.get("ip4"), Some(&None));
        assert_eq!(g.remove("mlfid"), Some(Some("MLFID".into())));
        assert_eq!(g.get("mlfid"), None);
        let other = Groups::from_pairs(
            ["ip6", "user", "nofail", "ip4"]
                .map(|n| (intern(n), (n != "ip4").then(|| n.to_uppercase().into()))),
        );
        assert_eq!(g, other);
        let names: Vec<String> = g.into_map().into_keys().collect();
        assert_eq!(names, ["ip4", "ip6", "nofail", "user"]);
    }

    #[test]
    fn host_from_an_earlier_line() {
        let mut c = MlfidCache::default();
        let first = c
            .merge(
                "c1",
                data(&[("mlfid", "c1"), ("ip4", "192.0.2.1"), ("nofail", "x")]),
                &["connect".to_string()],
                0.0,
            )
            .into_owned();
        assert!(first.truthy("nofail"));
        let second = c.merge(
            "c1",
            data(&[("mlfid", "c1"), ("user", "bob")]),
            &["failed".to_string()],
            1.0,
        );
        assert!(!second.truthy("nofail"));
        assert_eq!(second.get("ip4").as_deref(), Some("192.0.2.1"));
        assert_eq!(
            second.matches,
            Some(vec!["connect".to_string(), "failed".to_string()])
        );
    }

    #[test]
    fn forget_and_expiry() {
        let mut c = MlfidCache::default();
        c.merge("c1", data(&[("ip4", "192.0.2.1")]), &["a".to_string()], 0.0);
        c.merge("c1", data(&[("mlfforget", "1")]), &["b".to_string()], 1.0);
        assert!(c.take("c1", 2.0).is_none());
        c.merge("c2", data(&[("ip4", "192.0.2.2")]), &["a".to_string()], 0.0);
        assert!(c.take("c2", 299.0).is_some());
        assert!(c.take("c2", 301.0).is_none());
    }

    #[test]
    fn capacity_is_bounded() {
        let mut c = MlfidCache::default();
        for i in 0..150 {
            c.merge(
                &format!("c{i}"),
                data(&[("ip4", "192.0.2.1")]),
                &["a".to_string()],
                0.0,
            );
        }
        assert!(c.entries.len() <= MAX_ENTRIES);
        assert!(c.take("c149", 1.0).is_some());
        // Forgetting, expiry and eviction keep the hash counts in step with the entries.
        c.merge("c148", data(&[("mlfforget", "1")]), &["b".to_string()], 1.0);
        assert!(c.take("c148", 1.0).is_none());
        assert!(c.take("c147", 1000.0).is_none());
        let counted: u32 = c.hashes.values().sum();
        assert_eq!(counted as usize, c.entries.len());
        for (h, ..) in &c.entries {
            assert!(c.hashes.contains_key(h));
        }
        assert!(c.take("c10", 1.0).is_none(), "evicted");
    }
}
