use notifier_common::{Event, EventKind, Hazard, Teardown};

use super::*;

fn ev(kind: EventKind, ts: u64, f: impl FnOnce(&mut Event)) -> Event {
    let mut e = Event {
        kind: kind as u8,
        ts_ns: ts,
        pid_tgid: (42 << 32) | 43,
        mm: 0xaa,
        ..Default::default()
    };
    e.comm[..4].copy_from_slice(b"test");
    f(&mut e);
    e
}

fn insert(ts: u64, sub: u64) -> Event {
    ev(EventKind::Insert, ts, |e| {
        e.sub = sub;
        e.start = 0x1000;
        e.last = 0x1fff;
        e.func = 0xf00;
        e.mmap_lock = mmap_lock::NOT_WRITE_HELD;
    })
}

fn run(events: &[Event]) -> Vec<Finding> {
    let mut engine = Engine::new(None, Thresholds::default());
    for e in events {
        engine.observe(e);
    }
    engine.finish();
    engine.findings().cloned().collect()
}

fn rules_of(f: &[Finding]) -> Vec<RuleId> {
    f.iter().map(|f| f.rule).collect()
}

use notifier_common::{flags, mmap_lock};

#[test]
fn clean_stream_has_no_findings() {
    let events = [
        insert(1, 0x10),
        ev(EventKind::RangeStart, 2, |e| e.flags = flags::BLOCKABLE),
        ev(EventKind::Callback, 3, |e| {
            e.sub = 0x10;
            e.ret = 1;
            e.flags = flags::BLOCKABLE;
            e.dur_ns = 1000;
        }),
        ev(EventKind::ReadBegin, 4, |e| e.sub = 0x10),
        ev(EventKind::RemoveBegin, 5, |e| e.sub = 0x10),
        ev(EventKind::RemoveEnd, 6, |e| e.sub = 0x10),
        ev(EventKind::MmRelease, 7, |_| {}),
    ];
    assert!(run(&events).is_empty());
}

#[test]
fn kernel_hazards_become_findings_with_owner_and_stack() {
    let events = [
        insert(1, 0x10),
        ev(EventKind::Hazard, 2, |e| {
            e.event = Hazard::AllocInCallback as u8;
            e.sub = 0x10;
            e.aux = 0xcc0;
            e.seq = 7;
        }),
        ev(EventKind::Hazard, 3, |e| {
            e.event = Hazard::AllocInCallback as u8;
            e.sub = 0x10;
            e.aux = 0xcc0;
            e.seq = 7;
        }),
        // Learning a lock is not a finding on its own.
        ev(EventKind::Hazard, 4, |e| {
            e.event = Hazard::CallbackLock as u8
        }),
    ];
    let f = run(&events);
    assert_eq!(rules_of(&f), vec![RuleId::AllocInCallback]);
    assert_eq!(
        f[0].count, 2,
        "deduplicated by rule, process, owner and stack"
    );
    assert_eq!(f[0].owner, 0xf00);
    assert_eq!(f[0].stacks, vec![7]);
    assert_eq!(f[0].interval, Some((0x1000, 0x1fff)));
    assert_eq!((f[0].tgid, f[0].comm.as_str()), (42, "test"));
}

#[test]
fn return_contract() {
    let blockable_false = ev(EventKind::Callback, 2, |e| {
        e.sub = 0x10;
        e.flags = flags::BLOCKABLE;
        e.ret = 0;
    });
    let nonblock_false = ev(EventKind::Callback, 3, |e| {
        e.sub = 0x10;
        e.ret = 0;
    });
    assert_eq!(
        rules_of(&run(&[insert(1, 0x10), blockable_false])),
        vec![RuleId::ReturnContract]
    );
    assert!(
        run(&[insert(1, 0x10), nonblock_false]).is_empty(),
        "false is allowed when !blockable"
    );
}

/// What the probes report for read_begin/remove that can wait for their caller.
fn waits(ts: u64, waiter: notifier_common::Waiter, f: u8, lock: u64) -> Event {
    ev(EventKind::Hazard, ts, |e| {
        e.event = Hazard::WaitsForItself as u8;
        e.sub = 0x10;
        e.aux = waiter as u64;
        e.flags = f;
        e.func = lock;
        e.seq = 9;
    })
}

#[test]
fn self_deadlock_contexts() {
    use notifier_common::Waiter;
    for (f, why) in [
        (flags::IN_CALLBACK, "from inside an invalidate callback"),
        (flags::IN_RANGE, "while the same task has an invalidation"),
    ] {
        let found = run(&[insert(1, 0x10), waits(2, Waiter::Remove, f, 0)]);
        assert_eq!(rules_of(&found), vec![RuleId::SelfDeadlock]);
        assert!(
            found[0]
                .detail
                .starts_with(&format!("mmu_interval_notifier_remove called {why}")),
            "{}",
            found[0].detail
        );
        assert_eq!(found[0].stacks, vec![9], "the probes' stack proves it");
    }
    let held = run(&[insert(1, 0x10), waits(2, Waiter::ReadBegin, 0, 0xdead)]);
    assert_eq!(rules_of(&held), vec![RuleId::SelfDeadlock]);
    assert_eq!(
        held[0].detail,
        "mmu_interval_read_begin called while holding a lock its callbacks take"
    );
    // The calls' own events decide nothing: the probes report the hazard.
    let plain = ev(EventKind::ReadBegin, 2, |e| {
        e.sub = 0x10;
        e.flags = flags::IN_CALLBACK;
    });
    assert!(run(&[insert(1, 0x10), plain]).is_empty());
}

#[test]
fn insert_discipline() {
    let locking = |locked: bool, lock: u8, ret: i32| {
        ev(EventKind::Hazard, 1, |e| {
            e.event = Hazard::InsertLocking as u8;
            e.sub = 0x10;
            e.flags = if locked { flags::LOCKED } else { 0 };
            e.mmap_lock = lock;
            e.ret = ret;
            e.seq = 5;
        })
    };
    for (hazard, detail) in [
        (
            locking(false, mmap_lock::WRITE_HELD, 0),
            "mmu_interval_notifier_insert called with mmap_lock held for write",
        ),
        (
            locking(true, mmap_lock::NOT_WRITE_HELD, 0),
            "mmu_interval_notifier_insert_locked called without mmap_lock held for write",
        ),
        (
            locking(false, mmap_lock::NOT_WRITE_HELD, -22),
            "insert on an mm with no users (mm_users == 0): -EINVAL",
        ),
    ] {
        let found = run(&[hazard]);
        assert_eq!(rules_of(&found), vec![RuleId::InsertDiscipline]);
        assert_eq!(found[0].detail, detail);
        assert_eq!(found[0].stacks, vec![5]);
    }
    let mut unlocked_but_held = insert(1, 0x10);
    unlocked_but_held.mmap_lock = mmap_lock::WRITE_HELD;
    assert!(
        run(&[unlocked_but_held]).is_empty(),
        "the insert's own event decides nothing: the probes report the hazard"
    );
}

#[test]
fn slow_callbacks_and_read_begin_storms() {
    let slow = ev(EventKind::Callback, 2, |e| {
        e.sub = 0x10;
        e.ret = 1;
        e.dur_ns = 50_000_000;
    });
    assert_eq!(
        rules_of(&run(&[insert(1, 0x10), slow])),
        vec![RuleId::SlowCallback]
    );
    let mut storm = vec![insert(1, 0x10)];
    storm.extend((0..1500).map(|i| ev(EventKind::ReadBegin, 10 + i * 100_000, |e| e.sub = 0x10)));
    let f = run(&storm);
    assert_eq!(rules_of(&f), vec![RuleId::ReadBeginStorm]);
    assert_eq!(f[0].count, 1, "one report per window");
    let blocked = ev(EventKind::ReadBegin, 10, |e| {
        e.sub = 0x10;
        e.dur_ns = 50_000_000;
    });
    let unmeasured = ev(EventKind::ReadBegin, 20, |e| {
        e.sub = 0x10;
        e.dur_ns = notifier_common::DUR_UNKNOWN;
    });
    assert_eq!(
        rules_of(&run(&[insert(1, 0x10), blocked])),
        vec![RuleId::ReadBeginStorm]
    );
    assert!(run(&[insert(1, 0x10), unmeasured]).is_empty());
}

#[test]
fn intervals_outliving_their_process() {
    let release = ev(EventKind::MmRelease, 10, |_| {});
    let later = ev(EventKind::RangeStart, 10 + 11_000_000_000, |e| e.mm = 0xbb);
    let f = run(&[insert(1, 0x10), release, later]);
    assert_eq!(rules_of(&f), vec![RuleId::OutlivesProcess]);
    assert_eq!(f[0].tgid, 42);
    // Removed promptly after exit: fine.
    let removed = ev(EventKind::RemoveEnd, 20, |e| e.sub = 0x10);
    assert!(run(&[insert(1, 0x10), release, removed, later]).is_empty());
}

#[test]
fn intervals_of_an_mm_found_without_users_outlive_their_process_once() {
    // The deep scan's mm, walked at start-up and again by every audit: no release event,
    // no process known.
    let existing = ev(EventKind::Existing, 5, |e| {
        e.pid_tgid = 0;
        e.comm = [0; 16];
        e.sub = 0x10;
        e.start = 0x1000;
        e.last = 0x1fff;
        e.func = 0xf00;
    });
    let walked = |ts| {
        ev(EventKind::MmWalked, ts, |e| {
            e.pid_tgid = 0;
            e.comm = [0; 16];
            e.event = notifier_common::WALK_NO_USERS;
            e.ret = 1;
        })
    };
    let tick = |ts| ev(EventKind::RangeStart, ts, |e| e.mm = 0xbb);
    let s = 1_000_000_000;
    let early = run(&[existing, walked(6), tick(6 + 2 * s)]);
    assert!(early.is_empty(), "within the grace: {early:?}");
    let f = run(&[
        existing,
        walked(6),
        tick(6 + 11 * s),
        walked(6 + 12 * s),
        tick(6 + 30 * s),
    ]);
    assert_eq!(rules_of(&f), vec![RuleId::OutlivesProcess]);
    assert_eq!(
        (f[0].tgid, f[0].count),
        (0, 1),
        "reported once, by no process"
    );
    // A live mm's walk is no exit.
    let mut live = walked(6);
    live.event = 0;
    assert!(run(&[existing, live, tick(6 + 30 * s)]).is_empty());
}

#[test]
fn disabled_rules_stay_silent() {
    let only = [RuleId::SlowCallback].into_iter().collect();
    let mut engine = Engine::new(Some(&only), Thresholds::default());
    let mut bad = insert(1, 0x10);
    bad.ret = -22;
    engine.observe(&bad);
    engine.finish();
    assert!(engine.is_empty());
}

#[test]
fn findings_name_the_teardown_and_leak_no_kernel_address() {
    let hazard_ev = |ts, code, aux, func| {
        ev(EventKind::Hazard, ts, |e| {
            e.event = code;
            e.sub = 0x10;
            e.aux = aux;
            e.func = func;
        })
    };
    let events = [
        insert(1, 0x10),
        hazard_ev(
            2,
            Hazard::TeardownInCallback as u8,
            Teardown::Mmput as u64,
            0xffff_8880_0000_1000,
        ),
        hazard_ev(
            3,
            Hazard::AllocInCallback as u8,
            0xcc0,
            0xffff_ffff_c026_2242,
        ),
        hazard_ev(
            4,
            Hazard::AllocUnderCallbackLock as u8,
            0xcc0,
            0xffff_ffff_c026_5060,
        ),
    ];
    let f = run(&events);
    assert!(
        f.iter()
            .any(|f| f.detail.starts_with("mmput inside the callback"))
    );
    for finding in &f {
        assert!(!finding.detail.contains("0xffff"), "{}", finding.detail);
    }
}

#[test]
fn every_rule_is_registered_once_with_a_unique_code() {
    use clap::ValueEnum as _;
    for id in RuleId::value_variants() {
        assert_eq!(
            catalog().iter().filter(|r| r.id == *id).count(),
            1,
            "{id:?}"
        );
    }
    let codes: HashSet<_> = catalog().iter().map(|r| r.code).collect();
    assert_eq!(codes.len(), catalog().len());
    for r in catalog() {
        assert!(!r.explain.is_empty() && !r.fix.is_empty(), "{}", r.code);
    }
}

#[test]
fn busy_device_faults_on_one_interval_are_a_retry_storm() {
    let limit = Thresholds::default().fault_busy_per_sec as u64;
    let mut events = vec![insert(1, 0x10)];
    for i in 0..=limit {
        events.push(ev(EventKind::HmmRangeFault, 1_000 + i * 1_000, |e| {
            e.sub = 0x10;
            e.ret = notifier_common::errno::EBUSY;
        }));
    }
    let found = run(&events);
    assert_eq!(rules_of(&found), [RuleId::ReadBeginStorm], "{found:?}");
    assert!(found[0].detail.contains("-EBUSY"), "{}", found[0].detail);
    // Below the limit, and successful faults at any rate, are no storm.
    events.truncate(limit as usize);
    events.extend(
        (0..2 * limit).map(|i| ev(EventKind::HmmRangeFault, 500_000 + i, |e| e.sub = 0x10)),
    );
    assert!(run(&events).is_empty());
}
