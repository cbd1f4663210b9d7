//! The model: a live, exact mirror of every mm's interval tree, built only from events.
//!
//! `Mirror::apply` is the only way in; views and exports read it. Intervals are keyed by
//! notifier pointer while registered (the kernel cannot register one pointer twice), with a
//! generation number so a reused address (stack notifiers, re-inserted structs) is a new
//! interval, never a continuation of the old one.

mod audit;
mod completeness;
mod hmm;
mod intervals;
mod latency;
mod processes;

use std::sync::LazyLock;

use indexmap::IndexMap;
use notifier_common::{Event, EventKind, MmuEvent, errno, flags};
use rustc_hash::{FxBuildHasher, FxHashMap};
use serde::Serialize;

pub use audit::{Audit, Drift, DriftKind};
pub use completeness::{completes_mm, shows_mm_exited};
use hmm::MmHmm;
pub use hmm::{HmmStats, IntervalFaults};
pub use intervals::Intervals;
pub use latency::{Latency, Sketch};
pub use processes::Processes;

use crate::stream::Loss;

/// A read_begin that took longer than this waited for an invalidation.
pub const READ_BEGIN_WAIT_NS: u64 = 10_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum State {
    /// In the kernel's interval tree.
    Live,
    /// Queued on `deferred_list` by an insert during an invalidation; not in the tree yet.
    DeferredInsert,
    /// `mmu_interval_notifier_remove` is running (it may wait for an invalidation).
    Removing,
}

/// One registered interval.
#[derive(Clone, Debug)]
pub struct Interval {
    pub start: u64,
    /// Inclusive, as the kernel stores it.
    pub last: u64,
    /// The driver callback (`ops->invalidate`): the owner, as its place in `Mirror::owners`
    /// (4 bytes instead of the 8-byte address: the record fits the memory budget).
    pub owner: OwnerId,
    pub generation: u32,
    /// Process that inserted it (0 when found by the start-up walk without one).
    pub tgid: u32,
    pub state: State,
    /// `mmu_notifier_event` of the last invalidation that hit it (u8::MAX: none).
    pub last_event: u8,
    pub invalidations: u32,
    /// Invalidations by munmap (MMU_NOTIFY_UNMAP): each cut a hole the interval keeps.
    pub unmaps: u32,
    pub bytes_invalidated: u64,
    pub callbacks: Sketch,
    pub read_begins: u32,
    pub read_begin_waits: u32,
    pub read_begin_wait_max_ns: u32,
}

// The memory budget is 128 bytes per live interval: this record, its 8-byte key, the
// index's few bytes and its mm's share (benches/ingest.rs measures the whole).
const _: () = assert!(size_of::<Interval>() <= 80);

impl Interval {
    pub fn size(&self) -> u64 {
        self.last.wrapping_sub(self.start).wrapping_add(1)
    }

    /// Bytes in common with `[start, last]`; wrapping like `size` (the whole address space
    /// met whole spans 0).
    fn overlap(&self, start: u64, last: u64) -> u64 {
        let lo = self.start.max(start);
        let hi = self.last.min(last);
        if lo > hi {
            0
        } else {
            (hi - lo).wrapping_add(1)
        }
    }
}

/// An owner's index in `Mirror::owners` (owners are never removed, so it is stable).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OwnerId(u32);

/// One address space (one `struct mm_struct`).
#[derive(Debug, Default)]
pub struct Mm {
    pub intervals: Intervals,
    /// Processes seen using it: tgid → comm.
    pub processes: Processes,
    /// exit_mmap ran: its processes are gone or going (intervals may remain).
    pub released: bool,
    /// Every interval is known: the mm was registered under observation or walked. A walk
    /// of a complete mm is an audit.
    pub complete: bool,
    /// An audit walk in progress: what it reported so far.
    audit_seen: Option<Box<FxHashMap<u64, Event>>>,
    /// Invalidations currently open (start returned, end not yet).
    pub open_ranges: u32,
    pub ranges: u64,
    pub ranges_by_event: [u64; MMU_EVENTS],
    pub ranges_eagain: u64,
    pub callbacks: Latency,
    pub read_begin_waits: u64,
    pub read_begin_wait: Latency,
    pub inserts: u64,
    pub removes: u64,
    /// The HMM layer's side, from the first HMM event on (most mms never see one).
    hmm: Option<Box<MmHmm>>,
    /// Invalidations seen per second, for rates: (second, count) of the last two seconds.
    pub rate: Rate,
    /// The most recent invalidated ranges (start, last, event), for the address-space map:
    /// an UNMAP inside an interval is a hole the interval keeps spanning.
    pub recent: std::collections::VecDeque<(u64, u64, u8)>,
}

impl Mm {
    /// What the HMM layer did for this mm.
    pub fn hmm(&self) -> &HmmStats {
        static NONE: LazyLock<HmmStats> = LazyLock::new(HmmStats::default);
        self.hmm.as_deref().map_or(&NONE, |h| &h.stats)
    }

    /// Device faults on the interval of notifier `sub`, when it had any.
    pub fn faults(&self, sub: u64) -> Option<&IntervalFaults> {
        self.hmm.as_deref()?.faults.get(&sub)
    }
}

/// One traced callback, kept until the invalidation start that made it is matched
/// against the intervals its range met.
#[derive(Clone, Copy, Debug)]
struct Called {
    sub: u64,
    start: u64,
    last: u64,
    event: u8,
    returned_false: bool,
}

/// Callbacks listed per task before its invalidation start is seen.
const MAX_IN_FLIGHT: usize = 4096;

/// Recent ranges kept per mm.
const RECENT_RANGES: usize = 32;

/// Counts per second, kept for the current and previous second of the event clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct Rate {
    second: u64,
    current: u64,
    pub previous: u64,
}

impl Rate {
    fn hit(&mut self, ts_ns: u64) {
        let s = ts_ns / 1_000_000_000;
        if s != self.second {
            self.previous = if s == self.second + 1 {
                self.current
            } else {
                0
            };
            self.second = s;
            self.current = 0;
        }
        self.current += 1;
    }
}

/// Per-owner (driver callback) aggregates.
#[derive(Debug, Default)]
pub struct Owner {
    /// Its intervals in the mirror now, kept as they come and go (a frame of the owners
    /// view or a scrape must not count a million intervals).
    pub live: usize,
    pub inserts: u64,
    pub removes: u64,
    pub invalidations: u64,
    /// `invalidations` by the kernel's `enum mmu_notifier_event` and whether the range was
    /// blockable (`[event][blockable]`).
    pub invalidations_by: [[u64; 2]; MMU_EVENTS],
    pub callbacks: Latency,
    /// Of `invalidations`, the calls no callback event showed.
    pub callbacks_unobserved: u64,
    pub read_begin_waits: u64,
    pub read_begin_wait: Latency,
    pub hmm: HmmStats,
}

/// Slots for the kernel's `enum mmu_notifier_event` values (`MmuEvent`).
pub const MMU_EVENTS: usize = 8;

/// Stream-wide counters, including what does not add up.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Counters {
    pub events: u64,
    /// Events per kind, indexed by the kind's wire value (serialized as name → count).
    #[serde(serialize_with = "kinds_by_name")]
    pub by_kind: [u64; KINDS],
    pub insert_failures: u64,
    /// Ring-buffer drops reported by the kernel.
    pub lost: u64,
    /// Program runs the kernel skipped (each may be a missing event).
    pub skipped: u64,
    /// read_begin and remove calls whose duration was not measured (`DUR_UNKNOWN`): they
    /// count as calls, not as waits.
    pub durations_unknown: u64,
    pub unknown_kind: u64,
    /// An insert for a pointer still registered: a remove was missed.
    pub insert_over_live: u64,
    /// Removes and callbacks for intervals registered before the mirror knew of them.
    pub remove_unknown: u64,
    pub callback_unknown: u64,
    /// Callbacks the kernel made that no event showed: an interval in the tree met by an
    /// invalidation had no callback event for it (its driver's hook was not attached yet,
    /// or the kernel skipped the program run).
    pub callbacks_unobserved: u64,
    /// Intervals still mirrored when their mm was destroyed (cannot happen in the kernel:
    /// each interval pins the mm).
    pub destroyed_with_intervals: u64,
    /// Intervals reported by the start-up walk.
    pub walked: u64,
    pub hazards: u64,
    /// Evictions of device memory (`migrate_device_pages` calls) and the pages they moved
    /// back to system memory: device-wide, no address space's.
    #[serde(skip_serializing_if = "is_zero")]
    pub evictions: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub pages_evicted: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Slots of `by_kind`: every kind's wire value indexes it.
const KINDS: usize = 32;
const _: () = {
    let mut i = 0;
    while i < EventKind::ALL.len() {
        assert!((EventKind::ALL[i] as usize) < KINDS);
        i += 1;
    }
};

impl Counters {
    pub fn of(&self, kind: EventKind) -> u64 {
        self.by_kind[kind as usize]
    }
}

/// `by_kind` as `{"insert": n, …}`, kinds seen only: the summary's schema.
fn kinds_by_name<S: serde::Serializer>(counts: &[u64; KINDS], s: S) -> Result<S::Ok, S::Error> {
    s.collect_map(
        EventKind::ALL
            .iter()
            .filter(|k| counts[**k as usize] > 0)
            .map(|k| (k.name(), counts[*k as usize])),
    )
}

#[derive(Debug, Default)]
pub struct Mirror {
    /// Boxed: the table's empty buckets then cost a pointer each, not a whole `Mm`.
    pub mms: FxHashMap<u64, Box<Mm>>,
    /// Per callback address, in order of first sight; intervals refer to it by `OwnerId`.
    pub owners: IndexMap<u64, Owner, FxBuildHasher>,
    pub counters: Counters,
    pub audit: Audit,
    generation: u32,
    /// Callback events per task since its last invalidation start: a start is reported
    /// when it returns, after every callback it made (see `range_start`).
    in_flight: FxHashMap<u32, Vec<Called>>,
    /// Tasks in `exit_mmap`'s release of an mm, reported on entry: its RELEASE callbacks
    /// follow, and the task's next other event closes it (see `released`).
    releasing: FxHashMap<u32, u64>,
    /// `range_start`'s list of untraced calls, kept between starts for its allocation.
    missed: Vec<(u64, OwnerId)>,
    /// Latest event timestamp (ns, CLOCK_MONOTONIC).
    pub now_ns: u64,
    pub first_ns: u64,
}

impl Mirror {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn apply(&mut self, ev: &Event) {
        self.counters.events += 1;
        if self.first_ns == 0 {
            self.first_ns = ev.ts_ns;
        }
        self.now_ns = self.now_ns.max(ev.ts_ns);
        if !self.audit.pending.is_empty()
            && ev.ts_ns > self.audit.oldest_pending_ns + audit::GRACE_NS
        {
            self.settle(Some(ev.ts_ns));
        }
        let Some(kind) = ev.kind() else {
            self.counters.unknown_kind += 1;
            return;
        };
        self.counters.by_kind[kind as usize] += 1;
        if !self.releasing.is_empty()
            && kind != EventKind::Callback
            && let Some(mm) = self.releasing.remove(&ev.tid())
        {
            self.released(mm, ev.tid());
        }
        match kind {
            EventKind::Insert => {
                self.insert(ev, false);
                self.audit.explained(ev.mm, ev.sub);
            }
            EventKind::Existing => match self.mms.get_mut(&ev.mm) {
                Some(m) if m.complete => {
                    m.audit_seen.get_or_insert_default().insert(ev.sub, *ev);
                }
                _ => self.insert(ev, true),
            },
            EventKind::DeferredInsertApplied => {
                self.audit.explained(ev.mm, ev.sub);
                if let Some(mut iv) = self
                    .mms
                    .get_mut(&ev.mm)
                    .and_then(|m| m.intervals.get_mut(&ev.sub))
                    && iv.state == State::DeferredInsert
                {
                    iv.state = State::Live;
                }
            }
            EventKind::RemoveBegin => match self
                .mms
                .get_mut(&ev.mm)
                .and_then(|m| m.intervals.get_mut(&ev.sub))
            {
                Some(mut iv) => iv.state = State::Removing,
                None => self.counters.remove_unknown += 1,
            },
            EventKind::RemoveEnd => {
                if ev.duration().is_none() {
                    self.counters.durations_unknown += 1;
                }
                self.remove(ev);
                self.audit.explained(ev.mm, ev.sub);
            }
            EventKind::RangeStart => self.range_start(ev),
            EventKind::RangeEnd => {
                if let Some(m) = self.mms.get_mut(&ev.mm) {
                    m.open_ranges = m.open_ranges.saturating_sub(1);
                }
            }
            EventKind::Callback => self.callback(ev),
            EventKind::ReadBegin => self.read_begin(ev),
            EventKind::MmRegister => {
                let m = self.mm(ev);
                m.complete |= completes_mm(ev);
            }
            EventKind::MmRelease => {
                if let Some(m) = self.mms.get_mut(&ev.mm) {
                    m.released = true;
                    self.releasing.insert(ev.tid(), ev.mm);
                }
            }
            EventKind::MmDestroy => {
                if let Some(m) = self.mms.remove(&ev.mm) {
                    self.counters.destroyed_with_intervals += m.intervals.len() as u64;
                    for iv in m.intervals.values() {
                        self.owners[iv.owner.0 as usize].live -= 1;
                    }
                }
                self.audit.forget_mm(ev.mm);
            }
            EventKind::MmWalked => self.walked(ev),
            EventKind::Hazard => self.counters.hazards += 1,
            EventKind::HmmRangeFault => self.fault(ev),
            EventKind::MigrateVmaSetup
            | EventKind::MigrateVmaPages
            | EventKind::MigrateVmaFinalize
            | EventKind::MakeDeviceExclusive => {
                self.mm(ev).hmm.get_or_insert_default().stats.apply(ev)
            }
            EventKind::MigrateDevicePages => {
                self.counters.evictions += 1;
                self.counters.pages_evicted += ev.seq;
            }
            EventKind::MigrateDeviceRange | EventKind::MigrateDeviceFinalize => {}
        }
    }

    fn mm(&mut self, ev: &Event) -> &mut Mm {
        mm_entry(&mut self.mms, ev)
    }

    fn insert(&mut self, ev: &Event, walked: bool) {
        if !walked && ev.ret != 0 {
            self.counters.insert_failures += 1;
            return;
        }
        let state = if ev.flags & flags::DEFERRED != 0 {
            State::DeferredInsert
        } else if ev.flags & flags::REMOVING != 0 {
            State::Removing
        } else {
            State::Live
        };
        self.generation = self.generation.wrapping_add(1);
        let generation = self.generation;
        let owner = self.owner_id(ev.func);
        let m = mm_entry(&mut self.mms, ev);
        if walked {
            // The walk can report an interval the live hooks already delivered (an insert
            // racing with the walk): same bounds means the same registration.
            if let Some(mut iv) = m.intervals.get_mut(&ev.sub)
                && iv.start == ev.start
                && iv.last == ev.last
            {
                if state != State::Live {
                    iv.state = state;
                }
                return;
            }
        } else {
            m.inserts += 1;
        }
        let fresh = Interval {
            start: ev.start,
            last: ev.last,
            owner,
            generation,
            tgid: ev.tgid(),
            state,
            last_event: u8::MAX,
            invalidations: 0,
            unmaps: 0,
            bytes_invalidated: 0,
            callbacks: Sketch::default(),
            read_begins: 0,
            read_begin_waits: 0,
            read_begin_wait_max_ns: 0,
        };
        self.owners[owner.0 as usize].live += 1;
        if let Some(old) = m.intervals.insert(ev.sub, fresh) {
            self.owners[old.owner.0 as usize].live -= 1;
            self.counters.insert_over_live += 1;
        }
        if walked {
            self.counters.walked += 1;
        } else {
            self.owners[owner.0 as usize].inserts += 1;
        }
    }

    /// The end of one mm's walk: the mm is complete from now on; if it was already, the
    /// walk was an audit and differences become candidates.
    fn walked(&mut self, ev: &Event) {
        let partial = ev.flags & flags::PARTIAL != 0;
        let m = mm_entry(&mut self.mms, ev);
        m.released |= shows_mm_exited(ev);
        let was_complete = m.complete;
        m.complete |= completes_mm(ev);
        let seen = m.audit_seen.take();
        if !was_complete {
            return;
        }
        if partial {
            self.audit.partial += 1;
            return;
        }
        self.audit.compare(
            ev.mm,
            ev.ts_ns,
            &m.intervals,
            seen.map(|s| *s).unwrap_or_default(),
        );
    }

    /// Turns audit candidates older than the grace period (all of them with `None`) into
    /// drift, and repairs the mirror so it matches the kernel's tree again.
    fn settle(&mut self, now_ns: Option<u64>) {
        for ((mm, sub), c) in self.audit.due(now_ns) {
            let cause = audit::cause(&self.counters, c.kind);
            let bounds = |iv: &Interval| iv.start == c.ev.start && iv.last == c.ev.last;
            let current = self.mms.get(&mm).and_then(|m| m.intervals.get(&sub));
            match c.kind {
                DriftKind::Missing if current.is_some_and(bounds) => continue,
                DriftKind::Missing => self.insert(&c.ev, true),
                DriftKind::Extra if current.is_some_and(bounds) => {
                    if let Some(iv) = self.mms.get_mut(&mm).and_then(|m| m.intervals.remove(&sub)) {
                        self.owners[iv.owner.0 as usize].live -= 1;
                    }
                }
                DriftKind::Extra => continue,
            }
            self.audit.record(Drift {
                kind: c.kind,
                mm,
                sub,
                start: c.ev.start,
                last: c.ev.last,
                cause,
            });
        }
    }

    /// Settles every outstanding audit difference: at the end of a session, all events that
    /// could explain one have arrived.
    pub fn finish_audit(&mut self) {
        self.settle(None);
    }

    fn remove(&mut self, ev: &Event) {
        let Some(m) = self.mms.get_mut(&ev.mm) else {
            self.counters.remove_unknown += 1;
            return;
        };
        if let Some(h) = &mut m.hmm {
            h.faults.remove(&ev.sub);
        }
        match m.intervals.remove(&ev.sub) {
            Some(iv) => {
                m.removes += 1;
                let owner = &mut self.owners[iv.owner.0 as usize];
                owner.removes += 1;
                owner.live -= 1;
            }
            None => self.counters.remove_unknown += 1,
        }
    }

    /// An invalidation start (reported at its return). The kernel called the callback of
    /// every interval in the tree that the range meets, in the tree's order (by start),
    /// and stopped at the first that refused a non-blockable range (-EAGAIN): each such
    /// call without a callback event of this task for this range is unobserved.
    fn range_start(&mut self, ev: &Event) {
        let mut called = self.in_flight.remove(&ev.tid()).unwrap_or_default();
        called.retain(|c| c.start == ev.start && c.last == ev.last && c.event == ev.event);
        let m = mm_entry(&mut self.mms, ev);
        m.ranges += 1;
        if let Some(n) = m.ranges_by_event.get_mut(ev.event as usize) {
            *n += 1;
        }
        let eagain = ev.ret == errno::EAGAIN;
        if eagain {
            m.ranges_eagain += 1;
        } else {
            m.open_ranges += 1;
        }
        m.rate.hit(ev.ts_ns);
        if m.recent.len() == RECENT_RANGES {
            m.recent.pop_front();
        }
        m.recent.push_back((ev.start, ev.last, ev.event));
        let unmap = ev.event == MmuEvent::Unmap as u8;
        let event = (ev.event as usize).min(MMU_EVENTS - 1);
        let blockable = usize::from(ev.flags & flags::BLOCKABLE != 0);
        let owners = &mut self.owners;
        let mut missed = std::mem::take(&mut self.missed);
        m.intervals
            .for_each_overlapping_mut(ev.start, ev.last, |sub, iv| {
                if iv.state == State::DeferredInsert {
                    return; // not in the tree: the kernel did not call it
                }
                let bytes = iv.overlap(ev.start, ev.last);
                if !called.iter().any(|c| c.sub == sub) {
                    missed.push((iv.start, iv.owner));
                }
                iv.invalidations = iv.invalidations.saturating_add(1);
                iv.bytes_invalidated = iv.bytes_invalidated.saturating_add(bytes);
                iv.last_event = ev.event;
                if unmap {
                    iv.unmaps = iv.unmaps.saturating_add(1);
                }
                let owner = &mut owners[iv.owner.0 as usize];
                owner.invalidations += 1;
                owner.invalidations_by[event][blockable] += 1;
            });
        if eagain {
            called_before_refusal(&mut missed, &called, &m.intervals);
        }
        self.counters.callbacks_unobserved += missed.len() as u64;
        for (_, owner) in missed.drain(..) {
            owners[owner.0 as usize].callbacks_unobserved += 1;
        }
        self.missed = missed;
    }

    /// The end of `tid`'s release of `mm`: the kernel called every interval in the tree
    /// with MMU_NOTIFY_RELEASE over the whole address space; each call without a callback
    /// event is unobserved.
    fn released(&mut self, mm: u64, tid: u32) {
        let Some(m) = self.mms.get(&mm) else { return };
        let release = MmuEvent::Release as u8;
        let mut called = self.in_flight.remove(&tid).unwrap_or_default();
        let (seen, rest): (Vec<Called>, Vec<Called>) =
            called.drain(..).partition(|c| c.event == release);
        if !rest.is_empty() {
            self.in_flight.insert(tid, rest);
        }
        for (sub, iv) in &m.intervals {
            if iv.state != State::DeferredInsert && !seen.iter().any(|c| c.sub == *sub) {
                self.counters.callbacks_unobserved += 1;
                self.owners[iv.owner.0 as usize].callbacks_unobserved += 1;
            }
        }
    }

    fn callback(&mut self, ev: &Event) {
        let called = self.in_flight.entry(ev.tid()).or_default();
        // Bounded: emptied at the task's next start (after a lost start, the range check
        // there ignores the stale entries).
        if called.len() < MAX_IN_FLIGHT {
            called.push(Called {
                sub: ev.sub,
                start: ev.start,
                last: ev.last,
                event: ev.event,
                returned_false: ev.ret == 0,
            });
        }
        let m = mm_entry(&mut self.mms, ev);
        m.callbacks.record(ev.dur_ns);
        match m.intervals.get_mut(&ev.sub) {
            Some(mut iv) => {
                iv.callbacks.record(ev.dur_ns);
                self.owners[iv.owner.0 as usize].callbacks.record(ev.dur_ns);
            }
            None => self.counters.callback_unknown += 1,
        }
    }

    fn read_begin(&mut self, ev: &Event) {
        let waited = match ev.duration() {
            Some(d) => d > READ_BEGIN_WAIT_NS,
            None => {
                self.counters.durations_unknown += 1;
                false
            }
        };
        let m = mm_entry(&mut self.mms, ev);
        if waited {
            m.read_begin_waits += 1;
            m.read_begin_wait.record(ev.dur_ns);
        }
        if let Some(mut iv) = m.intervals.get_mut(&ev.sub) {
            iv.read_begins = iv.read_begins.saturating_add(1);
            if waited {
                iv.read_begin_waits = iv.read_begin_waits.saturating_add(1);
                iv.read_begin_wait_max_ns = iv
                    .read_begin_wait_max_ns
                    .max(ev.dur_ns.min(u32::MAX as u64) as u32);
                let owner = &mut self.owners[iv.owner.0 as usize];
                owner.read_begin_waits += 1;
                owner.read_begin_wait.record(ev.dur_ns);
            }
        }
    }

    /// Records the kernel's counts of what it did not capture.
    pub fn set_lost(&mut self, loss: Loss) {
        self.counters.lost = loss.ring_full;
        self.counters.skipped = loss.skipped;
    }

    /// A device fault: counted for the mm, and for the interval it names and its owner.
    fn fault(&mut self, ev: &Event) {
        let m = mm_entry(&mut self.mms, ev);
        let h = m.hmm.get_or_insert_default();
        h.stats.apply(ev);
        if let Some(iv) = m.intervals.get(&ev.sub) {
            h.faults.entry(ev.sub).or_default().apply(ev);
            if let Some((_, o)) = self.owners.get_index_mut(iv.owner.0 as usize) {
                o.hmm.apply(ev);
            }
        }
    }

    fn owner_id(&mut self, func: u64) -> OwnerId {
        let entry = self.owners.entry(func);
        let id = entry.index();
        entry.or_default();
        OwnerId(u32::try_from(id).expect("fewer than 2^32 distinct callbacks"))
    }

    /// The driver callback an event concerns: its own `func` where it carries one (inserts,
    /// hazards), otherwise that of the interval it names (callbacks, removes, read sides,
    /// faults); 0 when neither is known.
    pub fn owner_of(&self, ev: &Event) -> u64 {
        let names_notifier = matches!(
            ev.kind(),
            Some(
                EventKind::Callback
                    | EventKind::RemoveBegin
                    | EventKind::RemoveEnd
                    | EventKind::ReadBegin
                    | EventKind::DeferredInsertApplied
                    | EventKind::HmmRangeFault
            )
        );
        if ev.func != 0 || !names_notifier {
            return ev.func;
        }
        self.mms
            .get(&ev.mm)
            .and_then(|m| m.intervals.get(&ev.sub))
            .map_or(0, |iv| self.owner_addr(iv.owner))
    }

    /// The callback address an interval's owner stands for.
    pub fn owner_addr(&self, id: OwnerId) -> u64 {
        self.owners
            .get_index(id.0 as usize)
            .map_or(0, |(&addr, _)| addr)
    }

    pub fn live_intervals(&self) -> usize {
        self.mms.values().map(|m| m.intervals.len()).sum()
    }
}

/// Keeps, of the untraced calls an -EAGAIN start may have made (`missed`, with their
/// intervals' starts), those the kernel certainly made. Its loop ran in tree order up to
/// the callback that refused: when that one was traced, the untraced ones before it; when
/// not, the untraced ones before the last traced callback and one more, the refusal
/// itself (a lower bound: which interval refused is not known).
fn called_before_refusal(
    missed: &mut Vec<(u64, OwnerId)>,
    called: &[Called],
    intervals: &Intervals,
) {
    let start_of = |c: &Called| intervals.get(&c.sub).map_or(0, |iv| iv.start);
    missed.sort_by_key(|&(start, _)| start);
    let before = |stop: u64| missed.iter().take_while(|(s, _)| *s < stop).count();
    let keep = match called.iter().find(|c| c.returned_false) {
        Some(refused) => before(start_of(refused)),
        None => {
            let after_last_traced = called.iter().map(start_of).max().map_or(0, before);
            (after_last_traced + 1).min(missed.len())
        }
    };
    missed.truncate(keep);
}

/// The mm of `ev`, created on first sight, with the event's process recorded where the
/// event's task is one using the mm: an insert or registration (a driver acting for the
/// process), a walk (the task it visited). Invalidations, read sides and removes also run
/// in kswapd, the OOM reaper or another process, which must not be listed as users.
fn mm_entry<'a>(mms: &'a mut FxHashMap<u64, Box<Mm>>, ev: &Event) -> &'a mut Mm {
    let m = mms.entry(ev.mm).or_default();
    let user = matches!(
        ev.kind(),
        Some(EventKind::Insert | EventKind::Existing | EventKind::MmWalked | EventKind::MmRegister)
    );
    if user && ev.tgid() != 0 && !m.processes.contains_key(&ev.tgid()) {
        // Not UTF-8: the model keeps what can be read (U+FFFD for the rest), escaped when shown.
        m.processes.insert(
            ev.tgid(),
            String::from_utf8_lossy(ev.comm_bytes()).into_owned(),
        );
    }
    m
}

#[cfg(test)]
mod tests;
