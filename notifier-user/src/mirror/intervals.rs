//! One mm's intervals by notifier pointer, stored densely.
//!
//! The records sit in a vector and a hash table of 4-byte indices finds them, so an
//! interval costs its record, its key and a few bytes of table: a hash map of the records
//! themselves (88 bytes per bucket) at its usual load costs up to twice that, and the memory
//! budget is 128 bytes per live interval. A removal moves the last record into the hole.
//!
//! The container also keeps what every frame of the processes view shows per mm (how many
//! intervals are deferred, how many bytes they span), so a frame costs per mm, not per
//! interval: a mutable borrow of a record settles the tallies when it ends.

use std::{
    hash::BuildHasher,
    ops::{Deref, DerefMut, Index},
};

use hashbrown::HashTable;
use rustc_hash::FxBuildHasher;

use super::{Interval, State};

#[derive(Debug, Default, Clone)]
pub struct Intervals {
    entries: Vec<(u64, Interval)>,
    index: HashTable<u32>,
    tally: Tally,
}

/// Sums over the records, kept as they change.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Tally {
    deferred: u32,
    /// Wrapping, like `Interval::size` (a whole-address-space interval spans 0).
    bytes: u64,
}

impl Tally {
    fn of(iv: &Interval) -> Tally {
        Tally {
            deferred: u32::from(iv.state == State::DeferredInsert),
            bytes: iv.size(),
        }
    }

    fn add(&mut self, t: Tally) {
        self.deferred += t.deferred;
        self.bytes = self.bytes.wrapping_add(t.bytes);
    }

    fn sub(&mut self, t: Tally) {
        self.deferred -= t.deferred;
        self.bytes = self.bytes.wrapping_sub(t.bytes);
    }
}

/// A record borrowed for change; the tallies follow it when the borrow ends.
pub struct IntervalMut<'a> {
    iv: &'a mut Interval,
    tally: &'a mut Tally,
    was: Tally,
}

impl Deref for IntervalMut<'_> {
    type Target = Interval;

    fn deref(&self) -> &Interval {
        self.iv
    }
}

impl DerefMut for IntervalMut<'_> {
    fn deref_mut(&mut self) -> &mut Interval {
        self.iv
    }
}

impl Drop for IntervalMut<'_> {
    fn drop(&mut self) {
        let now = Tally::of(self.iv);
        if now != self.was {
            self.tally.sub(self.was);
            self.tally.add(now);
        }
    }
}

fn hash(sub: u64) -> u64 {
    FxBuildHasher.hash_one(sub)
}

impl Intervals {
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Intervals queued on the deferred list (`State::DeferredInsert`).
    pub fn deferred(&self) -> usize {
        self.tally.deferred as usize
    }

    /// The bytes the intervals span, summed.
    pub fn bytes(&self) -> u64 {
        self.tally.bytes
    }

    fn slot(&self, sub: u64) -> Option<usize> {
        let entries = &self.entries;
        self.index
            .find(hash(sub), |&i| entries[i as usize].0 == sub)
            .map(|&i| i as usize)
    }

    pub fn contains_key(&self, sub: &u64) -> bool {
        self.slot(*sub).is_some()
    }

    pub fn get(&self, sub: &u64) -> Option<&Interval> {
        self.slot(*sub).map(|i| &self.entries[i].1)
    }

    pub fn get_mut(&mut self, sub: &u64) -> Option<IntervalMut<'_>> {
        let i = self.slot(*sub)?;
        let iv = &mut self.entries[i].1;
        Some(IntervalMut {
            was: Tally::of(iv),
            iv,
            tally: &mut self.tally,
        })
    }

    /// Inserts or replaces; the replaced record is returned.
    pub fn insert(&mut self, sub: u64, iv: Interval) -> Option<Interval> {
        self.tally.add(Tally::of(&iv));
        if let Some(i) = self.slot(sub) {
            let old = std::mem::replace(&mut self.entries[i].1, iv);
            self.tally.sub(Tally::of(&old));
            return Some(old);
        }
        let i = u32::try_from(self.entries.len()).expect("fewer than 2^32 intervals in one mm");
        let entries = &self.entries;
        self.index
            .insert_unique(hash(sub), i, |&j| hash(entries[j as usize].0));
        self.entries.push((sub, iv));
        None
    }

    pub fn remove(&mut self, sub: &u64) -> Option<Interval> {
        let entries = &self.entries;
        let found = self
            .index
            .find_entry(hash(*sub), |&i| entries[i as usize].0 == *sub)
            .ok()?;
        let (i, _) = found.remove();
        let i = i as usize;
        let last = self.entries.len() - 1;
        if i != last {
            let moved = self.entries[last].0;
            let at = self
                .index
                .find_mut(hash(moved), |&j| j as usize == last)
                .expect("every record is indexed");
            *at = i as u32;
        }
        let (_, iv) = self.entries.swap_remove(i);
        self.tally.sub(Tally::of(&iv));
        Some(iv)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&u64, &Interval)> {
        self.entries.iter().map(|(sub, iv)| (sub, iv))
    }

    /// Every record that meets `[start, last]`, for change. An invalidation's lookup: the
    /// bounds are compared before anything else is touched.
    pub fn for_each_overlapping_mut(
        &mut self,
        start: u64,
        last: u64,
        mut f: impl FnMut(u64, &mut Interval),
    ) {
        for (sub, iv) in &mut self.entries {
            if iv.start > last || iv.last < start {
                continue;
            }
            let was = Tally::of(iv);
            f(*sub, iv);
            let now = Tally::of(iv);
            if now != was {
                self.tally.sub(was);
                self.tally.add(now);
            }
        }
    }

    pub fn values(&self) -> impl Iterator<Item = &Interval> {
        self.entries.iter().map(|(_, iv)| iv)
    }
}

impl<'a> IntoIterator for &'a Intervals {
    type Item = (&'a u64, &'a Interval);
    type IntoIter = std::iter::Map<
        std::slice::Iter<'a, (u64, Interval)>,
        fn(&'a (u64, Interval)) -> (&'a u64, &'a Interval),
    >;

    fn into_iter(self) -> Self::IntoIter {
        self.entries.iter().map(|(sub, iv)| (sub, iv))
    }
}

impl Index<&u64> for Intervals {
    type Output = Interval;

    fn index(&self, sub: &u64) -> &Interval {
        self.get(sub).expect("no interval with this notifier")
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::mirror::{OwnerId, Sketch, State};

    fn iv(start: u64) -> Interval {
        Interval {
            start,
            last: start + (start % 13 + 1) * 0x1000 - 1,
            owner: OwnerId(0),
            generation: 0,
            tgid: 0,
            state: State::Live,
            last_event: u8::MAX,
            invalidations: 0,
            unmaps: 0,
            bytes_invalidated: 0,
            callbacks: Sketch::default(),
            read_begins: 0,
            read_begin_waits: 0,
            read_begin_wait_max_ns: 0,
        }
    }

    /// Against a std map through a long pseudo-random sequence of inserts, replacements,
    /// removals and state changes over a small key space (so holes are refilled and last
    /// records moved); the tallies always equal a recount.
    #[test]
    fn behaves_as_a_map() {
        let (mut ours, mut theirs) = (Intervals::default(), HashMap::new());
        let mut x = 0x2545_f491_4f6c_dd1du64;
        for step in 0..20_000u64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let sub = (x % 97) * 64;
            if x.is_multiple_of(3) {
                assert_eq!(
                    ours.remove(&sub).map(|i| i.start),
                    theirs.remove(&sub),
                    "step {step}"
                );
            } else {
                assert_eq!(
                    ours.insert(sub, iv(step)).map(|i| i.start),
                    theirs.insert(sub, step),
                    "step {step}"
                );
            }
            if x % 5 == 1
                && let Some(mut iv) = ours.get_mut(&sub)
            {
                iv.state = State::DeferredInsert;
            }
            if x % 7 == 1 {
                ours.for_each_overlapping_mut(0, x, |_, iv| iv.state = State::Live);
            }
            assert_eq!(ours.len(), theirs.len());
            let recount: Tally = ours.values().fold(Tally::default(), |mut t, iv| {
                t.add(Tally::of(iv));
                t
            });
            assert_eq!(ours.tally, recount, "step {step}");
            assert_eq!(ours.get(&sub).map(|i| i.start), theirs.get(&sub).copied());
        }
        let mut all: Vec<(u64, u64)> = ours.iter().map(|(&s, i)| (s, i.start)).collect();
        let mut want: Vec<(u64, u64)> = theirs.into_iter().collect();
        all.sort_unstable();
        want.sort_unstable();
        assert_eq!(all, want);
        assert!(all.iter().all(|(s, _)| ours.contains_key(s)));
    }
}
