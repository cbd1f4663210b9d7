//! Slow invalidate callback (NT008).

use notifier_common::{Event, EventKind, NO_STACK};

use super::{Hit, Lockdep, Rule, RuleId, RuleInfo, Seen, Severity, Thresholds, hit};
use crate::stream::Hook;

pub const INFO: RuleInfo = RuleInfo {
    id: RuleId::SlowCallback,
    code: "NT008",
    name: "slow invalidate callback",
    severity: Severity::Warning,
    needs: &[Hook::Callback],
    explain: "Invalidate callbacks run with the invalidating task (munmap, page migration, \
        reclaim, the OOM reaper) blocked behind them; a callback taking milliseconds stalls every \
        one of those paths for the whole address space. Typical causes: waiting for device fences \
        or queue preemption under the notifier lock.",
    fix: "Make the wait conditional on the range actually overlapping device mappings, \
        batch TLB invalidations (7.x invalidate_start/finish), or shorten the critical section.",
    lockdep: Lockdep::Blind("time spent, not a lock order"),
};

pub struct SlowCallback {
    threshold: u64,
}

impl SlowCallback {
    pub fn new(t: &Thresholds) -> Self {
        SlowCallback {
            threshold: t.slow_callback_ns,
        }
    }
}

impl Rule for SlowCallback {
    fn info(&self) -> &'static RuleInfo {
        &INFO
    }

    fn observe(&mut self, ev: &Event, _seen: &Seen, out: &mut Vec<Hit>) {
        if ev.kind() == Some(EventKind::Callback) && ev.dur_ns > self.threshold {
            let detail = format!("callback took {:.3} ms", ev.dur_ns as f64 / 1e6);
            out.push(hit(self.id(), ev.sub, NO_STACK, detail));
        }
    }
}
