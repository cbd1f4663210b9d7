use notifier_common::{Event, EventKind, flags};
use proptest::prelude::*;

use super::*;

fn ev(kind: EventKind, mm: u64, sub: u64, start: u64, last: u64) -> Event {
    Event {
        kind: kind as u8,
        mm,
        sub,
        start,
        last,
        pid_tgid: 7 << 32 | 7,
        ts_ns: 1,
        ..Default::default()
    }
}

fn insert(mm: u64, sub: u64, start: u64, last: u64, deferred: bool) -> Event {
    let mut e = ev(EventKind::Insert, mm, sub, start, last);
    e.func = 0xf00;
    if deferred {
        e.flags = flags::DEFERRED;
    }
    e
}

#[test]
fn lifecycle_of_one_interval() {
    let mut m = Mirror::new();
    m.apply(&insert(1, 10, 0x1000, 0x1fff, false));
    m.apply(&ev(EventKind::RangeStart, 1, 99, 0x1800, 0x27ff));
    let iv = &m.mms[&1].intervals[&10];
    assert_eq!(iv.state, State::Live);
    assert_eq!(
        (iv.invalidations, iv.unmaps, iv.bytes_invalidated),
        (1, 1, 0x800)
    );
    m.apply(&ev(EventKind::RemoveBegin, 1, 10, 0, 0));
    assert_eq!(m.mms[&1].intervals[&10].state, State::Removing);
    m.apply(&ev(EventKind::RemoveEnd, 1, 10, 0, 0));
    assert_eq!(m.live_intervals(), 0);
    assert_eq!(m.owners[&0xf00].inserts, 1);
    assert_eq!(m.owners[&0xf00].removes, 1);
}

#[test]
fn deferred_inserts_are_not_invalidated_until_applied() {
    let mut m = Mirror::new();
    m.apply(&insert(1, 10, 0x1000, 0x1fff, true));
    m.apply(&ev(EventKind::RangeStart, 1, 99, 0, 0xffff));
    assert_eq!(m.mms[&1].intervals[&10].state, State::DeferredInsert);
    assert_eq!(m.mms[&1].intervals[&10].invalidations, 0);
    m.apply(&ev(EventKind::DeferredInsertApplied, 1, 10, 0x1000, 0x1fff));
    assert_eq!(m.mms[&1].intervals[&10].state, State::Live);
    // An application for an interval the mirror does not hold is ignored.
    m.apply(&ev(EventKind::DeferredInsertApplied, 1, 11, 0, 0));
    assert_eq!(m.live_intervals(), 1);
}

#[test]
fn reused_pointers_are_new_generations() {
    let mut m = Mirror::new();
    m.apply(&insert(1, 10, 0x1000, 0x1fff, false));
    let g1 = m.mms[&1].intervals[&10].generation;
    m.apply(&ev(EventKind::RemoveEnd, 1, 10, 0, 0));
    m.apply(&insert(1, 10, 0x5000, 0x5fff, false));
    let iv = &m.mms[&1].intervals[&10];
    assert_ne!(iv.generation, g1);
    assert_eq!((iv.start, iv.invalidations), (0x5000, 0));
    // A second insert without a remove replaces and is counted, never merged.
    m.apply(&insert(1, 10, 0x9000, 0x9fff, false));
    assert_eq!(m.counters.insert_over_live, 1);
    assert_eq!(m.mms[&1].intervals[&10].start, 0x9000);
}

#[test]
fn walk_and_live_insert_of_the_same_interval_do_not_duplicate() {
    let mut m = Mirror::new();
    m.apply(&insert(1, 10, 0x1000, 0x1fff, false));
    m.apply(&ev(EventKind::Existing, 1, 10, 0x1000, 0x1fff));
    assert_eq!(m.counters.insert_over_live, 0);
    assert_eq!(m.live_intervals(), 1);
    assert_eq!(m.mms[&1].inserts, 1, "a walked interval is not an insert");
}

#[test]
fn failed_inserts_register_nothing() {
    let mut m = Mirror::new();
    let mut e = insert(1, 10, 0x1000, 0x1fff, false);
    e.ret = -22;
    m.apply(&e);
    assert_eq!((m.live_intervals(), m.counters.insert_failures), (0, 1));
}

#[test]
fn callbacks_and_read_begin_statistics() {
    let mut m = Mirror::new();
    m.apply(&insert(1, 10, 0x1000, 0x1fff, false));
    let mut cb = ev(EventKind::Callback, 1, 10, 0, 0);
    cb.dur_ns = 5_000;
    m.apply(&cb);
    let mut rb = ev(EventKind::ReadBegin, 1, 10, 0, 0);
    rb.dur_ns = 2_000_000;
    m.apply(&rb);
    let iv = &m.mms[&1].intervals[&10];
    assert_eq!(iv.callbacks.count, 1);
    assert_eq!((iv.read_begins, iv.read_begin_waits), (1, 1));
    assert_eq!(m.owners[&0xf00].callbacks.count(), 1);
    m.apply(&ev(EventKind::Callback, 1, 77, 0, 0));
    assert_eq!(m.counters.callback_unknown, 1);
}

fn callback(mm: u64, sub: u64, start: u64, last: u64, ret: i32) -> Event {
    let mut e = ev(EventKind::Callback, mm, sub, start, last);
    e.ret = ret;
    e
}

fn range_start(mm: u64, start: u64, last: u64, ret: i32) -> Event {
    let mut e = ev(EventKind::RangeStart, mm, 99, start, last);
    e.ret = ret;
    e
}

#[test]
fn calls_without_a_callback_event_are_unobserved() {
    let mut m = Mirror::new();
    m.apply(&insert(1, 10, 0x1000, 0x1fff, false));
    m.apply(&insert(1, 11, 0x3000, 0x3fff, false));
    m.apply(&insert(1, 12, 0x8000, 0x8fff, true)); // deferred: not in the tree
    // Both intervals in the tree are met; only one callback was traced.
    m.apply(&callback(1, 10, 0, 0xffff, 1));
    m.apply(&range_start(1, 0, 0xffff, 0));
    assert_eq!(m.counters.callbacks_unobserved, 1);
    assert_eq!(m.owners[&0xf00].callbacks_unobserved, 1);
    // A callback of another range (its start was lost) does not stand for this one.
    m.apply(&callback(1, 10, 0x1000, 0x1fff, 1));
    m.apply(&range_start(1, 0x1000, 0x3fff, 0));
    assert_eq!(m.counters.callbacks_unobserved, 3);
    // Every call traced: nothing unobserved.
    m.apply(&callback(1, 11, 0x3000, 0x3000, 1));
    m.apply(&range_start(1, 0x3000, 0x3000, 0));
    assert_eq!(m.counters.callbacks_unobserved, 3);
}

#[test]
fn release_calls_every_interval_in_the_tree() {
    let mut m = Mirror::new();
    m.apply(&insert(1, 10, 0x1000, 0x1fff, false));
    m.apply(&insert(1, 11, 0x3000, 0x3fff, false));
    m.apply(&ev(EventKind::MmRelease, 1, 0, 0, 0));
    let mut cb = callback(1, 10, 0, u64::MAX - 1, 1);
    cb.event = MmuEvent::Release as u8;
    m.apply(&cb);
    // exit_mmap's unmap over the same bounds follows; its callback is traced.
    let mut unmap_cb = callback(1, 11, 0, u64::MAX - 1, 1);
    unmap_cb.event = MmuEvent::Unmap as u8;
    m.apply(&unmap_cb);
    let mut unmap = range_start(1, 0, u64::MAX - 1, 0);
    unmap.event = MmuEvent::Unmap as u8;
    m.apply(&unmap);
    // Release: 11 unseen. Unmap: 10 unseen (its RELEASE callback is not the unmap's).
    assert_eq!(m.counters.callbacks_unobserved, 2);
}

#[test]
fn a_refused_nonblocking_start_called_only_up_to_the_refusal() {
    let mut m = Mirror::new();
    for (sub, start) in [(10, 0x1000), (11, 0x3000), (12, 0x5000)] {
        m.apply(&insert(1, sub, start, start + 0xfff, false));
    }
    // The traced middle one refused: the first was called unseen, the last never.
    m.apply(&callback(1, 11, 0, 0xffff, 0));
    m.apply(&range_start(1, 0, 0xffff, errno::EAGAIN));
    assert_eq!(m.counters.callbacks_unobserved, 1);
    // Nothing traced: at least the refusing call was made.
    m.apply(&range_start(1, 0, 0xffff, errno::EAGAIN));
    assert_eq!(m.counters.callbacks_unobserved, 2);
    // The first traced and accepting: the refusal came after it, unseen.
    m.apply(&callback(1, 10, 0, 0xffff, 1));
    m.apply(&range_start(1, 0, 0xffff, errno::EAGAIN));
    assert_eq!(m.counters.callbacks_unobserved, 3);
}

#[test]
fn unmeasured_durations_count_calls_not_waits() {
    let mut m = Mirror::new();
    m.apply(&insert(1, 10, 0x1000, 0x1fff, false));
    let mut rb = ev(EventKind::ReadBegin, 1, 10, 0, 0);
    rb.dur_ns = notifier_common::DUR_UNKNOWN;
    m.apply(&rb);
    let iv = &m.mms[&1].intervals[&10];
    assert_eq!((iv.read_begins, iv.read_begin_waits), (1, 0));
    assert_eq!(m.mms[&1].read_begin_waits, 0);
    let mut gone = ev(EventKind::RemoveEnd, 1, 10, 0x1000, 0x1fff);
    gone.dur_ns = notifier_common::DUR_UNKNOWN;
    m.apply(&gone);
    assert_eq!((m.live_intervals(), m.counters.durations_unknown), (0, 2));
}

#[test]
fn process_exit_and_destroy() {
    let mut m = Mirror::new();
    m.apply(&insert(1, 10, 0x1000, 0x1fff, false));
    m.apply(&ev(EventKind::MmRelease, 1, 0, 0, 0));
    assert!(m.mms[&1].released);
    assert_eq!(m.mms[&1].processes.get(&7).map(String::as_str), Some(""));
    m.apply(&ev(EventKind::MmDestroy, 1, 0, 0, 0));
    assert_eq!(m.counters.destroyed_with_intervals, 1);
    assert!(m.mms.is_empty());
}

/// The deliberately simple reference: a flat list, linear everything.
#[derive(Default)]
struct Reference {
    live: Vec<(u64, u64, u64, u64, State, u32)>, // mm, sub, start, last, state, invalidations
}

impl Reference {
    fn apply(&mut self, e: &Event) {
        match e.kind().unwrap() {
            EventKind::Insert => {
                self.live.retain(|x| !(x.0 == e.mm && x.1 == e.sub));
                let st = if e.flags & flags::DEFERRED != 0 {
                    State::DeferredInsert
                } else {
                    State::Live
                };
                self.live.push((e.mm, e.sub, e.start, e.last, st, 0));
            }
            EventKind::DeferredInsertApplied => {
                for x in &mut self.live {
                    if x.0 == e.mm && x.1 == e.sub && x.4 == State::DeferredInsert {
                        x.4 = State::Live;
                    }
                }
            }
            EventKind::RemoveBegin => {
                for x in &mut self.live {
                    if x.0 == e.mm && x.1 == e.sub {
                        x.4 = State::Removing;
                    }
                }
            }
            EventKind::RemoveEnd => self.live.retain(|x| !(x.0 == e.mm && x.1 == e.sub)),
            EventKind::RangeStart => {
                for x in &mut self.live {
                    if x.0 == e.mm
                        && x.4 != State::DeferredInsert
                        && x.2 <= e.last
                        && e.start <= x.3
                    {
                        x.5 += 1;
                    }
                }
            }
            _ => {}
        }
    }
}

fn op() -> impl Strategy<Value = Event> {
    let mm = 1u64..3;
    let sub = 1u64..6; // few pointers: plenty of reuse
    let addr = (0u64..64).prop_map(|p| p * 0x1000);
    prop_oneof![
        (
            mm.clone(),
            sub.clone(),
            addr.clone(),
            1u64..8,
            any::<bool>()
        )
            .prop_map(|(mm, s, a, pages, d)| insert(mm, s, a, a + pages * 0x1000 - 1, d)),
        (mm.clone(), sub.clone()).prop_map(|(mm, s)| ev(
            EventKind::DeferredInsertApplied,
            mm,
            s,
            0,
            0
        )),
        (mm.clone(), sub.clone()).prop_map(|(mm, s)| ev(EventKind::RemoveBegin, mm, s, 0, 0)),
        (mm.clone(), sub).prop_map(|(mm, s)| ev(EventKind::RemoveEnd, mm, s, 0, 0)),
        (mm, addr, 1u64..16).prop_map(|(mm, a, pages)| ev(
            EventKind::RangeStart,
            mm,
            99,
            a,
            a + pages * 0x1000 - 1
        )),
    ]
}

proptest! {
    #[test]
    fn mirror_matches_the_reference(ops in prop::collection::vec(op(), 0..200)) {
        let mut m = Mirror::new();
        let mut r = Reference::default();
        for e in &ops {
            m.apply(e);
            r.apply(e);
        }
        let mut got: Vec<_> = m.mms.iter()
            .flat_map(|(mm, s)| s.intervals.iter().map(move |(sub, iv)| (*mm, *sub, iv.start, iv.last, iv.state, iv.invalidations)))
            .collect();
        let mut want = r.live.clone();
        got.sort_by_key(|x| (x.0, x.1));
        want.sort_by_key(|x| (x.0, x.1));
        prop_assert_eq!(got, want);
    }
}

proptest! {
    /// Each owner's live count follows inserts (over a live pointer too), removes and
    /// destroyed mms: it always equals a recount of the intervals.
    #[test]
    fn owners_live_counts_equal_a_recount(
        ops in prop::collection::vec((op(), 0u64..3, 0u8..12), 0..200)
    ) {
        let mut m = Mirror::new();
        for (e, func, destroy) in &ops {
            let mut e = *e;
            e.func = 0xf00 + func;
            if *destroy == 0 {
                e.kind = EventKind::MmDestroy as u8;
            }
            m.apply(&e);
            let mut recount = vec![0; m.owners.len()];
            for iv in m.mms.values().flat_map(|mm| mm.intervals.values()) {
                recount[iv.owner.0 as usize] += 1;
            }
            let live: Vec<usize> = m.owners.values().map(|o| o.live).collect();
            prop_assert_eq!(live, recount);
        }
    }
}

fn at(mut e: Event, ts_ns: u64) -> Event {
    e.ts_ns = ts_ns;
    e
}

fn walked(mm: u64, ts_ns: u64) -> Event {
    at(ev(EventKind::MmWalked, mm, 0, 0, 0), ts_ns)
}

const SEC: u64 = 1_000_000_000;

#[test]
fn an_audit_that_agrees_finds_no_drift() {
    let mut m = Mirror::new();
    m.apply(&ev(EventKind::MmRegister, 1, 0, 0, 0));
    m.apply(&insert(1, 10, 0x1000, 0x1fff, false));
    m.apply(&at(ev(EventKind::Existing, 1, 10, 0x1000, 0x1fff), 2));
    m.apply(&walked(1, 3));
    m.finish_audit();
    assert_eq!((m.audit.mms_checked, m.audit.intervals_checked), (1, 1));
    assert_eq!(m.audit.drifted(), 0);
    assert_eq!(m.counters.walked, 0, "an audit is a check, not news");
}

#[test]
fn races_with_the_walk_are_not_drift() {
    let mut m = Mirror::new();
    m.apply(&ev(EventKind::MmRegister, 1, 0, 0, 0));
    m.apply(&insert(1, 10, 0x1000, 0x1fff, false));
    // The walk sees 11 linked before its insert event arrives, and misses 10, unlinked by
    // a remove whose return event is still on its way.
    m.apply(&at(ev(EventKind::Existing, 1, 11, 0x3000, 0x3fff), 2));
    m.apply(&walked(1, 3));
    m.apply(&at(insert(1, 11, 0x3000, 0x3fff, false), 4));
    m.apply(&at(ev(EventKind::RemoveEnd, 1, 10, 0, 0), 5));
    m.apply(&at(ev(EventKind::RangeStart, 1, 99, 0, 0), 3 * SEC));
    m.finish_audit();
    assert_eq!(m.audit.drifted(), 0, "{:?}", m.audit.drift);
    assert_eq!(m.live_intervals(), 1);
}

#[test]
fn drift_is_counted_explained_and_repaired() {
    let mut m = Mirror::new();
    m.apply(&ev(EventKind::MmRegister, 1, 0, 0, 0));
    m.apply(&insert(1, 10, 0x1000, 0x1fff, false));
    // The kernel has 11 (its insert was never seen) and not 10 (its remove was never seen).
    m.apply(&at(ev(EventKind::Existing, 1, 11, 0x3000, 0x3fff), 2));
    m.apply(&walked(1, 3));
    assert_eq!(
        m.audit.drifted(),
        0,
        "a candidate only, within the grace period"
    );
    // Any later event past the grace period settles it.
    m.apply(&at(ev(EventKind::RangeStart, 2, 99, 0, 0), 3 + 2 * SEC));
    assert_eq!((m.audit.missing, m.audit.extra), (1, 1));
    let intervals = &m.mms[&1].intervals;
    assert!(intervals.contains_key(&11) && !intervals.contains_key(&10));
    assert_eq!(m.owners[&0xf00].live, 0, "the repair removed its interval");
    assert_eq!(m.owners.values().map(|o| o.live).sum::<usize>(), 1);
    assert!(
        m.audit
            .drift
            .iter()
            .all(|d| d.cause.contains("reached notifier-top"))
    );
}

#[test]
fn a_first_walk_teaches_and_marks_exited_mms() {
    let mut m = Mirror::new();
    // Events on an mm the mirror never saw registered: the walk is news, not an audit.
    m.apply(&ev(EventKind::RangeStart, 1, 99, 0, 0));
    m.apply(&ev(EventKind::Existing, 1, 10, 0x1000, 0x1fff));
    let mut w = walked(1, 2);
    w.event = notifier_common::WALK_NO_USERS;
    m.apply(&w);
    assert!(m.mms[&1].complete && m.mms[&1].released);
    assert_eq!((m.counters.walked, m.audit.mms_checked), (1, 0));
    // A partial walk neither completes an mm nor audits it.
    let mut p = walked(2, 3);
    p.flags = flags::PARTIAL;
    m.apply(&p);
    assert!(!m.mms[&2].complete);
}
