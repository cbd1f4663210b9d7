//! Read_begin waits and retry storms (NT009).

use std::collections::HashMap;

use notifier_common::{Event, EventKind, NO_STACK, errno};

use super::{Hit, Lockdep, Rule, RuleId, RuleInfo, Seen, Severity, Thresholds, hit};

pub const INFO: RuleInfo = RuleInfo {
    id: RuleId::ReadBeginStorm,
    code: "NT009",
    name: "read_begin waits and retry storms",
    severity: Severity::Warning,
    needs: &[],
    explain: "mmu_interval_read_begin() blocks while its interval is being invalidated, \
        and a driver retries its fault whenever mmu_interval_read_retry() sees a new sequence \
        or hmm_range_fault() returns -EBUSY (the interval was invalidated while it ran). Many \
        read_begin calls or -EBUSY faults per second on one interval, or long waits in \
        read_begin, mean the device keeps faulting on memory the CPU side keeps invalidating \
        (or one interval covers far more than the device uses).",
    fix: "Narrow the interval, back off between retries, or look for the invalidation \
        source (NUMA balancing, KSM, THP splits).",
    lockdep: Lockdep::Blind(
        "read_begin waiting for an invalidation in flight is a wait, not a cycle; its cost is time",
    ),
};

/// Calls on one interval within the current second: (window start, calls, reported).
#[derive(Clone, Copy)]
struct Window {
    start: u64,
    calls: u32,
    reported: bool,
}

impl Window {
    /// Counts a call at `ts`; true the first time the window holds more than `limit`.
    fn over(&mut self, ts: u64, limit: u32) -> bool {
        if ts.saturating_sub(self.start) > 1_000_000_000 {
            *self = Window {
                start: ts,
                calls: 0,
                reported: false,
            };
        }
        self.calls += 1;
        let over = self.calls > limit && !self.reported;
        self.reported |= over;
        over
    }
}

/// Long waits in read_begin, and bursts of read_begin calls or of -EBUSY device faults on
/// one interval.
pub struct ReadBeginStorm {
    wait: u64,
    per_sec: u32,
    busy_per_sec: u32,
    read_begins: HashMap<u64, Window>,
    busy_faults: HashMap<u64, Window>,
}

impl ReadBeginStorm {
    pub fn new(t: &Thresholds) -> Self {
        ReadBeginStorm {
            wait: t.read_begin_wait_ns,
            per_sec: t.read_begin_per_sec,
            busy_per_sec: t.fault_busy_per_sec,
            read_begins: HashMap::new(),
            busy_faults: HashMap::new(),
        }
    }
}

impl Rule for ReadBeginStorm {
    fn info(&self) -> &'static RuleInfo {
        &INFO
    }

    fn observe(&mut self, ev: &Event, _seen: &Seen, out: &mut Vec<Hit>) {
        let window = || Window {
            start: ev.ts_ns,
            calls: 0,
            reported: false,
        };
        match ev.kind() {
            Some(EventKind::ReadBegin) => {
                if let Some(d) = ev.duration()
                    && d > self.wait
                {
                    let detail = format!("read_begin blocked {:.3} ms", d as f64 / 1e6);
                    out.push(hit(self.id(), ev.sub, NO_STACK, detail));
                }
                let w = self.read_begins.entry(ev.sub).or_insert_with(window);
                if w.over(ev.ts_ns, self.per_sec) {
                    let detail = format!(
                        "more than {} read_begin calls on one interval within 1 s",
                        self.per_sec
                    );
                    out.push(hit(self.id(), ev.sub, NO_STACK, detail));
                }
            }
            Some(EventKind::HmmRangeFault) if ev.ret == errno::EBUSY => {
                let w = self.busy_faults.entry(ev.sub).or_insert_with(window);
                if w.over(ev.ts_ns, self.busy_per_sec) {
                    let detail = format!(
                        "more than {} hmm_range_fault calls returned -EBUSY on one interval \
                         within 1 s",
                        self.busy_per_sec
                    );
                    out.push(hit(self.id(), ev.sub, NO_STACK, detail));
                }
            }
            Some(EventKind::RemoveEnd) => {
                self.read_begins.remove(&ev.sub);
                self.busy_faults.remove(&ev.sub);
            }
            _ => {}
        }
    }
}
