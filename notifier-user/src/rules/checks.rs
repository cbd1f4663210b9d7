//! The rule implementations, one small type each.

use std::collections::HashMap;

use notifier_common::{
    Event, EventKind, Hazard, MmuEvent, NO_STACK, Teardown, errno, flags, mmap_lock,
};

use super::{Hit, Rule, RuleId, Seen};

/// Tunables of the latency rules.
#[derive(Clone, Copy, Debug)]
pub struct Thresholds {
    /// A callback slower than this is reported.
    pub slow_callback_ns: u64,
    /// A read_begin blocked longer than this is reported.
    pub read_begin_wait_ns: u64,
    /// More read_begin calls than this on one interval within one second is a storm.
    pub read_begin_per_sec: u32,
    /// Intervals still registered this long after their process's exit_mmap outlived it.
    pub outlive_grace_ns: u64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            slow_callback_ns: 5_000_000,
            read_begin_wait_ns: 10_000_000,
            read_begin_per_sec: 1000,
            outlive_grace_ns: 10_000_000_000,
        }
    }
}

pub fn all(t: Thresholds) -> Vec<Box<dyn Rule>> {
    vec![
        Box::new(KernelHazard {
            id: RuleId::AllocInCallback,
            code: Hazard::AllocInCallback,
        }),
        Box::new(KernelHazard {
            id: RuleId::LockHeldAcrossReclaim,
            code: Hazard::AllocUnderCallbackLock,
        }),
        Box::new(KernelHazard {
            id: RuleId::SleepInNonblockable,
            code: Hazard::SleepNonblockable,
        }),
        Box::new(KernelHazard {
            id: RuleId::TeardownInCallback,
            code: Hazard::TeardownInCallback,
        }),
        Box::new(ReturnContract),
        Box::new(SelfDeadlock),
        Box::new(InsertDiscipline),
        Box::new(SlowCallback {
            threshold: t.slow_callback_ns,
        }),
        Box::new(ReadBeginStorm {
            wait: t.read_begin_wait_ns,
            per_sec: t.read_begin_per_sec,
            windows: HashMap::new(),
        }),
        Box::new(OutlivesProcess {
            grace: t.outlive_grace_ns,
            released: HashMap::new(),
        }),
    ]
}

fn hit(rule: RuleId, sub: u64, stack: u64, detail: String) -> Hit {
    Hit {
        rule,
        sub,
        stack,
        detail,
        process: None,
    }
}

/// Hazards the probes detect in the kernel (allocation, lock, sleep, teardown): the event
/// is the proof, with its stack.
struct KernelHazard {
    id: RuleId,
    code: Hazard,
}

impl Rule for KernelHazard {
    fn id(&self) -> RuleId {
        self.id
    }

    fn observe(&mut self, ev: &Event, _seen: &Seen, out: &mut Vec<Hit>) {
        if ev.kind() != Some(EventKind::Hazard) || ev.event != self.code as u8 {
            return;
        }
        // No kernel addresses in the text (they defeat KASLR): the stack names the places.
        let detail = match self.code {
            Hazard::AllocInCallback => format!("gfp 0x{:x} allocation", ev.aux),
            Hazard::AllocUnderCallbackLock => format!(
                "gfp 0x{:x} allocation while holding a lock its callbacks take",
                ev.aux
            ),
            Hazard::SleepNonblockable => format!("switched out in state 0x{:x}", ev.aux),
            _ if ev.aux == Teardown::Mmput as u64 => {
                "mmput inside the callback (tears the mm down when it drops the last reference)"
                    .to_owned()
            }
            _ => "exit_mmap inside the callback".to_owned(),
        };
        out.push(hit(self.id, ev.sub, ev.seq, detail));
    }
}

/// false only for non-blockable ranges; never at RELEASE.
struct ReturnContract;

impl Rule for ReturnContract {
    fn id(&self) -> RuleId {
        RuleId::ReturnContract
    }

    fn observe(&mut self, ev: &Event, _seen: &Seen, out: &mut Vec<Hit>) {
        if ev.kind() != Some(EventKind::Callback) || ev.ret != 0 {
            return;
        }
        if ev.event == MmuEvent::Release as u8 {
            out.push(hit(
                self.id(),
                ev.sub,
                NO_STACK,
                "returned false for a RELEASE invalidation".into(),
            ));
        } else if ev.flags & flags::BLOCKABLE != 0 {
            out.push(hit(
                self.id(),
                ev.sub,
                NO_STACK,
                "returned false for a blockable range".into(),
            ));
        }
    }
}

/// remove/read_begin where they can wait for the caller itself.
struct SelfDeadlock;

impl Rule for SelfDeadlock {
    fn id(&self) -> RuleId {
        RuleId::SelfDeadlock
    }

    fn observe(&mut self, ev: &Event, _seen: &Seen, out: &mut Vec<Hit>) {
        let what = match ev.kind() {
            Some(EventKind::RemoveBegin) => "mmu_interval_notifier_remove",
            Some(EventKind::ReadBegin) => "mmu_interval_read_begin",
            _ => return,
        };
        let why = if ev.flags & flags::IN_CALLBACK != 0 {
            "from inside an invalidate callback".to_owned()
        } else if ev.flags & flags::IN_RANGE != 0 {
            "while the same task has an invalidation of this mm open".to_owned()
        } else if ev.aux != 0 {
            "while holding a lock its callbacks take".to_owned()
        } else {
            return;
        };
        out.push(hit(
            self.id(),
            ev.sub,
            NO_STACK,
            format!("{what} called {why}"),
        ));
    }
}

/// insert vs insert_locked against the mmap_lock actually held; inserts on dying mms.
struct InsertDiscipline;

impl Rule for InsertDiscipline {
    fn id(&self) -> RuleId {
        RuleId::InsertDiscipline
    }

    fn observe(&mut self, ev: &Event, _seen: &Seen, out: &mut Vec<Hit>) {
        if ev.kind() != Some(EventKind::Insert) {
            return;
        }
        let locked = ev.flags & flags::LOCKED != 0;
        let detail = match (locked, ev.mmap_lock) {
            (false, mmap_lock::WRITE_HELD) => {
                "mmu_interval_notifier_insert called with mmap_lock held for write"
            }
            (true, mmap_lock::NOT_WRITE_HELD) => {
                "mmu_interval_notifier_insert_locked called without mmap_lock held for write"
            }
            _ if ev.ret == errno::EINVAL => {
                "insert on an mm with no users (mm_users == 0): -EINVAL"
            }
            _ => return,
        };
        out.push(hit(self.id(), ev.sub, NO_STACK, detail.into()));
    }
}

struct SlowCallback {
    threshold: u64,
}

impl Rule for SlowCallback {
    fn id(&self) -> RuleId {
        RuleId::SlowCallback
    }

    fn observe(&mut self, ev: &Event, _seen: &Seen, out: &mut Vec<Hit>) {
        if ev.kind() == Some(EventKind::Callback) && ev.dur_ns > self.threshold {
            let detail = format!("callback took {:.3} ms", ev.dur_ns as f64 / 1e6);
            out.push(hit(self.id(), ev.sub, NO_STACK, detail));
        }
    }
}

/// Long waits in read_begin, and bursts of read_begin on one interval.
struct ReadBeginStorm {
    wait: u64,
    per_sec: u32,
    /// sub -> (window start, calls in window, already reported in this window)
    windows: HashMap<u64, (u64, u32, bool)>,
}

impl Rule for ReadBeginStorm {
    fn id(&self) -> RuleId {
        RuleId::ReadBeginStorm
    }

    fn observe(&mut self, ev: &Event, _seen: &Seen, out: &mut Vec<Hit>) {
        match ev.kind() {
            Some(EventKind::ReadBegin) => {}
            Some(EventKind::RemoveEnd) => {
                self.windows.remove(&ev.sub);
                return;
            }
            _ => return,
        }
        if let Some(d) = ev.duration()
            && d > self.wait
        {
            let detail = format!("read_begin blocked {:.3} ms", d as f64 / 1e6);
            out.push(hit(self.id(), ev.sub, NO_STACK, detail));
        }
        let w = self.windows.entry(ev.sub).or_insert((ev.ts_ns, 0, false));
        if ev.ts_ns.saturating_sub(w.0) > 1_000_000_000 {
            *w = (ev.ts_ns, 0, false);
        }
        w.1 += 1;
        if w.1 > self.per_sec && !w.2 {
            w.2 = true;
            let detail = format!(
                "more than {} read_begin calls on one interval within 1 s",
                self.per_sec
            );
            out.push(hit(self.id(), ev.sub, NO_STACK, detail));
        }
    }
}

/// Intervals still registered `grace` after their mm's exit_mmap.
struct OutlivesProcess {
    grace: u64,
    /// mm -> (release time, tgid, comm)
    released: HashMap<u64, (u64, u32, String)>,
}

impl Rule for OutlivesProcess {
    fn id(&self) -> RuleId {
        RuleId::OutlivesProcess
    }

    fn observe(&mut self, ev: &Event, _seen: &Seen, _out: &mut Vec<Hit>) {
        match ev.kind() {
            Some(EventKind::MmRelease) => {
                self.released
                    .insert(ev.mm, (ev.ts_ns, ev.tgid(), ev.comm_str().to_owned()));
            }
            Some(EventKind::MmDestroy) => {
                self.released.remove(&ev.mm);
            }
            _ => {}
        }
    }

    fn tick(&mut self, now: u64, final_tick: bool, seen: &Seen, out: &mut Vec<Hit>) {
        let grace = self.grace;
        self.released.retain(|mm, (at, tgid, comm)| {
            if !seen.per_mm.contains_key(mm) {
                return false;
            }
            let overdue = now.saturating_sub(*at) >= grace;
            if !overdue && !final_tick {
                return true;
            }
            if overdue {
                let left = seen
                    .subs
                    .iter()
                    .filter(|(_, k)| k.mm == *mm)
                    .map(|(s, _)| *s);
                for sub in left {
                    out.push(Hit {
                        rule: RuleId::OutlivesProcess,
                        sub,
                        stack: NO_STACK,
                        detail: format!(
                            "still registered {:.1} s after the process's exit_mmap",
                            now.saturating_sub(*at) as f64 / 1e9
                        ),
                        process: Some((*tgid, comm.clone())),
                    });
                }
            }
            false
        });
    }
}
