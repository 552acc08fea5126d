//! The window of recent op ids a room deduplicates against: the last `limit` ops it ordered,
//! each with its seq (the answer to a resend) and the participant who sent it (a resend by
//! someone else is refused).
//!
//! A room keeps this window for as long as it lives and replaces one entry per op, so its
//! memory must stay flat under churn. A `HashMap<String, _>` beside a `VecDeque<String>` did
//! not: every op id was held twice, and the map's erased slots piled up until, after about
//! 3.5 windows of ops (minute 57 of the soak at 10 ops/s per room), the table doubled in every
//! room at once. Here each id is held once, in a ring of entries; the hash table holds only
//! 4-byte ring positions and is sized once, when the window first fills, at twice the window,
//! so that clearing its erased slots is always a rehash in place, never a growth.

use std::collections::{HashSet, VecDeque};
use std::hash::{BuildHasher, RandomState};
use std::sync::Arc;

use hashbrown::HashTable;

/// One op the room ordered.
struct Entry {
    id: Box<str>,
    seq: u64,
    participant: Arc<str>,
}

pub(crate) struct DedupWindow {
    limit: usize,
    /// Oldest first; at most `limit` entries.
    entries: VecDeque<Entry>,
    /// The position of `entries[0]`. Positions count up from 0 for every entry pushed,
    /// wrapping at `u32::MAX`: the window never holds anywhere near 2^32 entries, so
    /// `position - first` (wrapping) is always the index in `entries`.
    first: u32,
    /// Positions of the entries, found by the hash of their op id.
    index: HashTable<u32>,
    hasher: RandomState,
    /// Whether `index` has been given its final size (twice the window).
    sized: bool,
    /// Participant names shared by the entries, so that a member's name is held once, not
    /// once per op. Names no entry uses any more are dropped from time to time.
    names: HashSet<Arc<str>>,
    names_after_prune: usize,
}

impl DedupWindow {
    pub(crate) fn new(limit: usize) -> DedupWindow {
        assert!(limit > 0 && limit < u32::MAX as usize / 2, "window size");
        DedupWindow {
            limit,
            entries: VecDeque::new(),
            first: 0,
            index: HashTable::new(),
            hasher: RandomState::new(),
            sized: false,
            names: HashSet::new(),
            names_after_prune: 0,
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries.len()
    }

    /// The seq an op id was ordered at and who sent it, if it is in the window.
    pub(crate) fn get(&self, id: &str) -> Option<(u64, &str)> {
        let hash = self.hasher.hash_one(id);
        let (entries, first) = (&self.entries, self.first);
        self.index
            .find(hash, |&pos| &*entries[slot(pos, first)].id == id)
            .map(|&pos| {
                let entry = &entries[slot(pos, first)];
                (entry.seq, &*entry.participant)
            })
    }

    /// Adds the newest op, evicting the oldest when the window is full. An id already in the
    /// window is left as it is (the first seq stays the answer): one hash serves both checks.
    pub(crate) fn push(&mut self, id: String, seq: u64, participant: &str) {
        let hash = self.hasher.hash_one(id.as_str());
        let (entries, first) = (&self.entries, self.first);
        if self
            .index
            .find(hash, |&pos| *entries[slot(pos, first)].id == *id)
            .is_some()
        {
            return;
        }
        if self.entries.len() == self.limit {
            self.pop_front();
        }
        let participant = self.name(participant);
        let pos = self.first.wrapping_add(self.entries.len() as u32);
        self.entries.push_back(Entry {
            id: id.into_boxed_str(),
            seq,
            participant,
        });
        let (entries, first, hasher) = (&self.entries, self.first, &self.hasher);
        let rehash = |&pos: &u32| hasher.hash_one(&*entries[slot(pos, first)].id);
        if !self.sized && entries.len() == self.limit {
            // Room for the window twice over: erased slots then never make the table grow.
            self.index.reserve(self.limit + 1, rehash);
            self.entries.shrink_to_fit();
            self.sized = true;
        }
        let (entries, first, hasher) = (&self.entries, self.first, &self.hasher);
        self.index.insert_unique(hash, pos, |&pos: &u32| {
            hasher.hash_one(&*entries[slot(pos, first)].id)
        });
    }

    /// Removes the newest entry if it is `id`; the room calls this, newest first, for the ops
    /// of a batch whose commit failed.
    pub(crate) fn pop_back_if(&mut self, id: &str) -> bool {
        let Some(last) = self.entries.back() else {
            return false;
        };
        if &*last.id != id {
            return false;
        }
        let pos = self.first.wrapping_add(self.entries.len() as u32 - 1);
        self.unindex(id, pos);
        self.entries.pop_back();
        true
    }

    /// The newest `n` entries, oldest first: (op id, seq, participant).
    pub(crate) fn newest(&self, n: usize) -> impl Iterator<Item = (&str, u64, &str)> {
        let skip = self.entries.len().saturating_sub(n);
        self.entries
            .iter()
            .skip(skip)
            .map(|e| (&*e.id, e.seq, &*e.participant))
    }

    fn pop_front(&mut self) {
        let Some(oldest) = self.entries.front() else {
            return;
        };
        let hash = self.hasher.hash_one(&*oldest.id);
        let first = self.first;
        if let Ok(found) = self.index.find_entry(hash, |&pos| pos == first) {
            found.remove();
        }
        self.entries.pop_front();
        self.first = self.first.wrapping_add(1);
    }

    fn unindex(&mut self, id: &str, pos: u32) {
        let hash = self.hasher.hash_one(id);
        if let Ok(found) = self.index.find_entry(hash, |&p| p == pos) {
            found.remove();
        }
    }

    /// The shared copy of a participant's name.
    fn name(&mut self, participant: &str) -> Arc<str> {
        if let Some(name) = self.names.get(participant) {
            return name.clone();
        }
        // Drop the names no entry holds once the set has doubled since the last pass: the set
        // stays within twice the number of names in the window, at a cost per push that is
        // constant on average.
        if self.names.len() >= 2 * self.names_after_prune.max(16) {
            self.names.retain(|name| Arc::strong_count(name) > 1);
            self.names_after_prune = self.names.len();
        }
        let name: Arc<str> = participant.into();
        self.names.insert(name.clone());
        name
    }

    #[cfg(test)]
    fn index_bytes(&self) -> usize {
        self.index.allocation_size()
    }
}

fn slot(pos: u32, first: u32) -> usize {
    pos.wrapping_sub(first) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Op ids shaped like a client's: `<client>.<counter>`.
    fn id(n: u64) -> String {
        format!("c{}.{n}", n % 7)
    }

    #[test]
    fn keeps_the_newest_ops_and_answers_with_their_seq_and_sender() {
        let mut w = DedupWindow::new(3);
        for n in 1..=5 {
            w.push(id(n), n * 10, if n % 2 == 0 { "ann" } else { "bob" });
        }
        assert_eq!(w.len(), 3);
        assert_eq!(w.get(&id(1)), None);
        assert_eq!(w.get(&id(2)), None);
        assert_eq!(w.get(&id(3)), Some((30, "bob")));
        assert_eq!(w.get(&id(4)), Some((40, "ann")));
        assert_eq!(w.get(&id(5)), Some((50, "bob")));
        // An id already in the window keeps its first seq and sender.
        w.push(id(5), 60, "ann");
        assert_eq!((w.len(), w.get(&id(5))), (3, Some((50, "bob"))));
        let newest: Vec<_> = w.newest(2).map(|(i, s, p)| (i.to_owned(), s, p)).collect();
        assert_eq!(newest, vec![(id(4), 40, "ann"), (id(5), 50, "bob")]);
    }

    #[test]
    fn a_failed_batch_is_taken_back_newest_first() {
        let mut w = DedupWindow::new(10);
        for n in 1..=4 {
            w.push(id(n), n, "ann");
        }
        assert!(
            !w.pop_back_if(&id(3)),
            "only the newest entry can be taken back"
        );
        assert!(w.pop_back_if(&id(4)));
        assert!(w.pop_back_if(&id(3)));
        assert_eq!(w.len(), 2);
        assert_eq!(w.get(&id(3)), None);
        assert_eq!(w.get(&id(4)), None);
        // The positions taken back are reused by the next ops.
        w.push(id(9), 9, "bob");
        assert_eq!(w.get(&id(9)), Some((9, "bob")));
        assert_eq!(w.get(&id(2)), Some((2, "ann")));
    }

    /// The regression the hour-long soak found: under steady churn the window's memory must
    /// not grow once it is full (a std `HashMap` doubled after about 3.5 windows of ops).
    #[test]
    fn memory_is_flat_under_churn_once_the_window_is_full() {
        let limit = 10_000;
        let mut w = DedupWindow::new(limit);
        let mut n = 0;
        while w.len() < limit {
            n += 1;
            w.push(format!("L{}.1.{n}.{}", n % 5, n * 100_003), n, "p");
        }
        let full = w.index_bytes();
        for _ in 0..40 * limit {
            n += 1;
            w.push(format!("L{}.1.{n}.{}", n % 5, n * 100_003), n, "p");
            assert_eq!(w.index_bytes(), full, "index grew after {n} ops");
        }
        assert!(w.entries.capacity() < limit + limit / 8);
        assert_eq!(
            w.get(&format!("L{}.1.{n}.{}", n % 5, n * 100_003)),
            Some((n, "p"))
        );
        assert_eq!(w.len(), limit);
    }

    #[test]
    fn positions_wrap_around_u32() {
        let mut w = DedupWindow::new(4);
        w.first = u32::MAX - 2;
        for n in 1..=20 {
            w.push(id(n), n, "ann");
            assert_eq!(w.get(&id(n)), Some((n, "ann")));
        }
        assert!(w.pop_back_if(&id(20)));
        for n in 17..=19 {
            assert_eq!(w.get(&id(n)), Some((n, "ann")), "op {n}");
        }
        assert_eq!(w.get(&id(16)), None);
    }

    #[test]
    fn names_no_entry_holds_are_dropped() {
        let mut w = DedupWindow::new(8);
        for n in 0..10_000u64 {
            w.push(id(n), n, &format!("member-{n}"));
        }
        assert!(w.names.len() <= 2 * 16 + 8, "{} names kept", w.names.len());
        // A name still in the window is the same allocation for every entry.
        let mut w = DedupWindow::new(8);
        w.push(id(1), 1, "ann");
        w.push(id(2), 2, "ann");
        let ptrs: Vec<_> = w
            .entries
            .iter()
            .map(|e| Arc::as_ptr(&e.participant))
            .collect();
        assert_eq!(ptrs[0], ptrs[1]);
    }

    /// Against a plain list over random pushes and take-backs.
    #[test]
    fn agrees_with_a_list() {
        let mut w = DedupWindow::new(37);
        let mut model: VecDeque<(String, u64)> = VecDeque::new();
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = 0u64;
        for _ in 0..20_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            if state % 5 == 0 {
                if let Some((last, _)) = model.back().cloned() {
                    assert!(w.pop_back_if(&last));
                    model.pop_back();
                }
            } else {
                next += 1;
                let key = id(next);
                w.push(key.clone(), next, "ann");
                model.push_back((key, next));
                if model.len() > 37 {
                    model.pop_front();
                }
            }
            let probe = id(state % (next + 2));
            let expected = model.iter().find(|(k, _)| *k == probe).map(|(_, s)| *s);
            assert_eq!(w.get(&probe).map(|(s, _)| s), expected, "probe {probe}");
            assert_eq!(w.len(), model.len());
        }
    }
}
