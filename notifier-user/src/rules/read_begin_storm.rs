//! Read_begin waits and retry storms (NT009).

use std::collections::HashMap;

use notifier_common::{Event, EventKind, NO_STACK};

use super::{Hit, Rule, RuleId, RuleInfo, Seen, Severity, Thresholds, hit};

pub const INFO: RuleInfo = RuleInfo {
    id: RuleId::ReadBeginStorm,
    code: "NT009",
    name: "read_begin waits and retry storms",
    severity: Severity::Warning,
    needs: &[],
    explain: "mmu_interval_read_begin() blocks while its interval is being invalidated, \
        and a driver retries its fault whenever mmu_interval_read_retry() sees a new sequence. \
        Many read_begin calls per second on one interval, or long waits in it, mean the device \
        keeps faulting on memory the CPU side keeps invalidating (or one interval covers far more \
        than the device uses).",
    fix: "Narrow the interval, back off between retries, or look for the invalidation \
        source (NUMA balancing, KSM, THP splits).",
};

/// Long waits in read_begin, and bursts of read_begin on one interval.
pub struct ReadBeginStorm {
    wait: u64,
    per_sec: u32,
    /// sub -> (window start, calls in window, already reported in this window)
    windows: HashMap<u64, (u64, u32, bool)>,
}

impl ReadBeginStorm {
    pub fn new(t: &Thresholds) -> Self {
        ReadBeginStorm {
            wait: t.read_begin_wait_ns,
            per_sec: t.read_begin_per_sec,
            windows: HashMap::new(),
        }
    }
}

impl Rule for ReadBeginStorm {
    fn info(&self) -> &'static RuleInfo {
        &INFO
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
