//! Remove/read_begin from a callback, an open invalidation, or under a callback lock (NT005).

use notifier_common::{Event, EventKind, Hazard, Waiter, flags};

use super::{Hit, Lockdep, Rule, RuleId, RuleInfo, Seen, Severity, hit};
use crate::stream::Hook;

pub const INFO: RuleInfo = RuleInfo {
    id: RuleId::SelfDeadlock,
    code: "NT005",
    name: "remove/read_begin from a callback, an open invalidation, or under a callback lock",
    severity: Severity::Error,
    needs: &[Hook::Callback],
    explain: "mmu_interval_notifier_remove() and mmu_interval_read_begin() may wait for \
        the current invalidation of the mm to end; called from an invalidate callback or between \
        range start and end of the same mm by the same task, they wait for themselves (\"cannot be \
        called from any ops callback\"). Holding a lock that callbacks take across them deadlocks \
        against the callback.",
    fix: "Defer the removal to a worker (the pattern of kfd, xe and mlx5 implicit ODP: the \
        UNMAP callback marks, a worker removes), and drop driver locks before read_begin.",
    lockdep: Lockdep::Reports(
        "possible recursive locking: the invalidation in flight (mmu_notifier_invalidate_range_start) taken again by read_begin or remove",
    ),
};

/// remove/read_begin where they can wait for the caller itself, as the probes report them
/// (with the caller's stack).
pub struct SelfDeadlock;

impl Rule for SelfDeadlock {
    fn info(&self) -> &'static RuleInfo {
        &INFO
    }

    fn observe(&mut self, ev: &Event, _seen: &Seen, out: &mut Vec<Hit>) {
        if ev.kind() != Some(EventKind::Hazard) || ev.event != Hazard::WaitsForItself as u8 {
            return;
        }
        let what = Waiter::from_u8(ev.aux as u8).map_or("?", Waiter::name);
        let why = if ev.flags & flags::IN_CALLBACK != 0 {
            "from inside an invalidate callback"
        } else if ev.flags & flags::IN_RANGE != 0 {
            "while the same task has an invalidation of this mm open"
        } else {
            "while holding a lock its callbacks take"
        };
        out.push(hit(
            self.id(),
            ev.sub,
            ev.seq,
            format!("{what} called {why}"),
        ));
    }
}
