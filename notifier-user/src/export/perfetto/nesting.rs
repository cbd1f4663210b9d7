//! Strict nesting on one track. Perfetto pairs a track's slice ends with its begins as a
//! stack, after sorting the track's events by time (ties in file order): slices that
//! overlap without nesting come out with each other's durations. Each track here carries
//! the calls of one task, which nest as calls do, but events are reported when calls
//! *return*: a parent (a device fault, an invalidation start) arrives after the children
//! it contains, and its begin is its end minus a duration measured by another probe a few
//! instructions apart. [`Nesting`] places each begin so that the children come out inside
//! their parent whatever the file order: strictly before a child that began at the same
//! nanosecond or a little earlier, never before the slice still open around it.
//!
//! What is kept is bounded: the slices still open (bounded by the depth of calls, capped
//! at [`MAX_OPEN`] in case ends were lost) and the latest [`MAX_KEPT`] finished slices at
//! the current level. A parent needs moving only when its measured begin falls inside a
//! child, which only its first child can be, within the nanoseconds between two probes'
//! clock reads; a parent of more children than are kept is not moved for the oldest.

/// Finished slices kept for a parent still to come (a few bytes each, per lane, and there
/// is a lane per interval and task).
const MAX_KEPT: usize = 4;

/// Slices open at once on one track: invalidations nest a level or two inside a task;
/// more means the ends were lost (a full ring buffer), and the stale ones are ended.
pub const MAX_OPEN: usize = 16;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Entry {
    /// Begun, not ended; `key` names it for its end (an invalidation's range pointer).
    Open { key: u64, begin: u64 },
    /// Finished, not yet inside a parent.
    Done { begin: u64, end: u64 },
}

#[derive(Debug, Default)]
pub struct Nesting {
    stack: Vec<Entry>,
}

impl Nesting {
    /// A slice seen whole, `[begin, end]`, reported at its end: the begin to write.
    pub fn complete(&mut self, begin: u64, end: u64) -> u64 {
        let begin = self.place(begin).min(end);
        self.push(Entry::Done { begin, end });
        begin
    }

    /// A slice that begins now and ends later, named `key`: the begin to write.
    pub fn open(&mut self, key: u64, begin: u64) -> u64 {
        let begin = self.place(begin);
        self.push(Entry::Open { key, begin });
        begin
    }

    /// Ends the open slice `key` at `end`: how many slices end there, it and those still
    /// open inside it (their ends were not seen), innermost first; 0 when `key` is not
    /// open on this track.
    pub fn close(&mut self, key: u64, end: u64) -> usize {
        let Some(at) = self
            .stack
            .iter()
            .rposition(|e| matches!(e, Entry::Open { key: k, .. } if *k == key))
        else {
            return 0;
        };
        let Entry::Open { begin, .. } = self.stack[at] else {
            unreachable!("found as open")
        };
        let ended = self.open_from(at);
        self.stack.truncate(at);
        self.push(Entry::Done { begin, end });
        ended
    }

    /// Ends every open slice (the stream ended, or too many are open): how many.
    pub fn close_all(&mut self) -> usize {
        let ended = self.open_from(0);
        self.stack.clear();
        ended
    }

    pub fn open_count(&self) -> usize {
        self.open_from(0)
    }

    fn open_from(&self, at: usize) -> usize {
        self.stack[at..]
            .iter()
            .filter(|e| matches!(e, Entry::Open { .. }))
            .count()
    }

    /// Where a slice measured to begin at `begin` (and ending after everything finished
    /// so far) must begin: before each finished slice it overlaps, which are its children
    /// and are taken inside it, and not before the innermost open slice, its parent.
    fn place(&mut self, mut begin: u64) -> u64 {
        while let Some(&Entry::Done {
            begin: child_begin,
            end: child_end,
        }) = self.stack.last()
        {
            if child_end <= begin {
                break; // an earlier sibling
            }
            // Its begin is written after the child's, so a tie would sort it second.
            begin = begin.min(child_begin.saturating_sub(1));
            self.stack.pop();
        }
        match self.stack.last() {
            Some(&Entry::Open { begin: parent, .. }) => begin.max(parent),
            _ => begin,
        }
    }

    fn push(&mut self, e: Entry) {
        self.stack.push(e);
        if self.stack.len() > MAX_KEPT
            && let Some(oldest) = self
                .stack
                .iter()
                .position(|e| matches!(e, Entry::Done { .. }))
        {
            self.stack.remove(oldest);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_parent_reported_after_its_children_begins_before_them() {
        let mut n = Nesting::default();
        assert_eq!(n.complete(100, 110), 100);
        assert_eq!(n.complete(120, 130), 120);
        // Measured a little late (its probe read the clock after the child's did).
        assert_eq!(n.complete(101, 140), 99);
        // And measured exactly at its first child's begin: still strictly before it.
        let mut n = Nesting::default();
        n.complete(100, 110);
        assert_eq!(n.complete(100, 140), 99);
        // A later sibling is left alone, ties with the previous end included.
        assert_eq!(n.complete(140, 150), 140);
    }

    #[test]
    fn slices_inside_an_open_one_never_begin_before_it() {
        let mut n = Nesting::default();
        assert_eq!(n.open(7, 100), 100);
        assert_eq!(n.complete(98, 120), 100);
        assert_eq!(n.open(8, 130), 130);
        assert_eq!(n.complete(131, 135), 131);
        assert_eq!(n.close(8, 140), 1);
        assert_eq!(n.close(7, 150), 1);
        assert_eq!(n.close(7, 160), 0, "ended already");
    }

    #[test]
    fn ending_an_outer_slice_ends_what_is_still_open_inside_it() {
        let mut n = Nesting::default();
        n.open(1, 10);
        n.open(2, 20);
        n.open(3, 30);
        assert_eq!(n.close(2, 40), 2);
        assert_eq!(n.open_count(), 1);
        assert_eq!(n.close_all(), 1);
        assert_eq!(n.open_count(), 0);
    }

    #[test]
    fn an_invalidation_start_takes_its_callbacks_inside() {
        // Callbacks are reported at their return, before the start that made them.
        let mut n = Nesting::default();
        n.complete(105, 200);
        n.complete(210, 300);
        assert_eq!(n.open(0xabc, 104), 104);
        assert_eq!(n.close(0xabc, 400), 1);
    }

    #[test]
    fn what_is_kept_stays_bounded() {
        let mut n = Nesting::default();
        for i in 0..10_000u64 {
            n.complete(i * 10, i * 10 + 5);
        }
        assert!(n.stack.len() <= MAX_KEPT);
        for i in 0..100u64 {
            n.open(i, 200_000 + i);
        }
        assert!(n.stack.len() <= 100 + MAX_KEPT);
    }
}
