//! Which walks the session owes: mms the stream names but whose intervals it never learned
//! (a process filtered in after it registered, or one whose tasks all exited before
//! notifier-top started — the task iterator cannot reach those), and the periodic audit.

use std::time::{Duration, Instant};

use notifier_common::{Event, EventKind};

use crate::mirror::{completes_mm, shows_mm_exited};
use rustc_hash::FxHashSet;

/// Walks of newly named mms are batched: one iterator run for everything a burst named.
const LISTED_WALK_DELAY: Duration = Duration::from_millis(100);

#[derive(Debug)]
pub struct Walks {
    /// Mms whose intervals are all known (registered under observation, or walked).
    complete: FxHashSet<u64>,
    /// Mms no task uses any more: an audit walks them by pointer.
    exited: FxHashSet<u64>,
    requested: FxHashSet<u64>,
    pending: Vec<u64>,
    first_pending: Option<Instant>,
    audit_every: Option<Duration>,
    last_audit: Instant,
    audit_requested: bool,
}

/// What to walk now.
#[derive(Debug, PartialEq, Eq)]
pub struct WalkOrder {
    pub all_tasks: bool,
    pub listed: Vec<u64>,
}

impl Walks {
    pub fn new(audit_every: Option<Duration>) -> Self {
        Walks {
            complete: FxHashSet::default(),
            exited: FxHashSet::default(),
            requested: FxHashSet::default(),
            pending: Vec::new(),
            first_pending: None,
            audit_every,
            last_audit: Instant::now(),
            audit_requested: false,
        }
    }

    pub fn observe(&mut self, ev: &Event) {
        let mm = ev.mm;
        if completes_mm(ev) {
            self.complete.insert(mm);
        }
        if shows_mm_exited(ev) {
            self.exited.insert(mm);
        }
        match ev.kind() {
            Some(EventKind::MmDestroy) => {
                self.complete.remove(&mm);
                self.exited.remove(&mm);
                self.requested.remove(&mm);
            }
            Some(
                EventKind::Existing
                | EventKind::Hazard
                | EventKind::MmRegister
                | EventKind::MmWalked
                | EventKind::MmRelease,
            )
            | None => {}
            Some(_) => {
                if mm != 0 && !self.complete.contains(&mm) && self.requested.insert(mm) {
                    self.pending.push(mm);
                    self.first_pending.get_or_insert_with(Instant::now);
                }
            }
        }
    }

    /// Mms no task uses any more, sorted.
    pub fn exited(&self) -> Vec<u64> {
        let mut mms: Vec<u64> = self.exited.iter().copied().collect();
        mms.sort_unstable();
        mms
    }

    /// An audit at the next opportunity (a key in the TUI).
    pub fn request_audit(&mut self) {
        self.audit_requested = true;
    }

    pub fn next_order(&mut self, now: Instant) -> Option<WalkOrder> {
        let audit = self.audit_requested
            || self
                .audit_every
                .is_some_and(|every| now.duration_since(self.last_audit) >= every);
        if audit {
            self.audit_requested = false;
            self.last_audit = now;
            self.pending.clear();
            self.first_pending = None;
            let mut listed: Vec<u64> = self.exited.iter().copied().collect();
            listed.extend(
                self.requested
                    .iter()
                    .filter(|mm| !self.complete.contains(mm)),
            );
            listed.sort_unstable();
            listed.dedup();
            return Some(WalkOrder {
                all_tasks: true,
                listed,
            });
        }
        let since = self.first_pending?;
        if now.duration_since(since) < LISTED_WALK_DELAY {
            return None;
        }
        self.first_pending = None;
        // Named and then walked by the start-up walk or registered meanwhile: nothing owed.
        let listed: Vec<u64> = std::mem::take(&mut self.pending)
            .into_iter()
            .filter(|mm| !self.complete.contains(mm))
            .collect();
        (!listed.is_empty()).then_some(WalkOrder {
            all_tasks: false,
            listed,
        })
    }
}

#[cfg(test)]
mod tests {
    use notifier_common::WALK_NO_USERS;

    use super::*;

    fn ev(kind: EventKind, mm: u64) -> Event {
        Event {
            kind: kind as u8,
            mm,
            ..Default::default()
        }
    }

    #[test]
    fn unknown_mms_are_walked_once_by_pointer() {
        let mut w = Walks::new(None);
        let t0 = Instant::now();
        w.observe(&ev(EventKind::MmRegister, 1));
        w.observe(&ev(EventKind::RangeStart, 1)); // registered under observation
        w.observe(&ev(EventKind::RemoveBegin, 2)); // never seen: owed a walk
        w.observe(&ev(EventKind::RemoveEnd, 2));
        w.observe(&ev(EventKind::RangeStart, 3));
        let mut walked = ev(EventKind::MmWalked, 3); // the start-up walk got there
        walked.event = WALK_NO_USERS;
        w.observe(&walked);
        assert_eq!(w.next_order(t0), None, "batched for a moment");
        let order = w.next_order(t0 + LISTED_WALK_DELAY * 2).unwrap();
        assert_eq!(
            order,
            WalkOrder {
                all_tasks: false,
                listed: vec![2]
            }
        );
        w.observe(&ev(EventKind::RangeStart, 2));
        assert_eq!(w.next_order(t0 + LISTED_WALK_DELAY * 4), None, "asked once");
    }

    #[test]
    fn audits_cover_tasks_and_exited_mms() {
        let mut w = Walks::new(Some(Duration::from_secs(10)));
        let t0 = Instant::now();
        w.observe(&ev(EventKind::MmRegister, 1));
        w.observe(&ev(EventKind::MmRelease, 1));
        assert_eq!(w.next_order(t0), None);
        w.request_audit();
        let order = w.next_order(t0).unwrap();
        assert!(order.all_tasks);
        assert_eq!(order.listed, vec![1]);
        w.observe(&ev(EventKind::MmDestroy, 1));
        let order = w.next_order(t0 + Duration::from_secs(11)).unwrap();
        assert!(order.listed.is_empty(), "a destroyed mm is not walked");
    }
}
