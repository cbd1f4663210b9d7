//! The hazards the rules' probes detect in the kernel itself (allocation, lock, sleep,
//! teardown inside a callback): the event is the proof, with its stack. One type serves
//! the four rules; each is one of the infos below paired with its hazard code.

use notifier_common::{Event, EventKind, Hazard, Teardown};

use super::{Hit, Lockdep, Rule, RuleId, RuleInfo, Seen, Severity, hit};
use crate::stream::Hook;

pub const ALLOC_IN_CALLBACK: RuleInfo = RuleInfo {
    id: RuleId::AllocInCallback,
    code: "NT001",
    name: "reclaim-capable allocation inside an invalidate callback",
    severity: Severity::Error,
    needs: &[Hook::Callback, Hook::RuleAlloc],
    explain: "Reclaim can itself invalidate ranges (it unmaps pages), so the core treats \
        every reclaim-capable allocation as entering an invalidation (fs_reclaim, since 5.10). An \
        allocation with __GFP_DIRECT_RECLAIM (GFP_KERNEL, GFP_NOFS, ...) inside an invalidate \
        callback can therefore recurse into the very invalidation it is serving and deadlock under \
        memory pressure; lockdep reports it only on debug kernels.",
    fix: "Pre-allocate outside the callback, use GFP_NOWAIT/GFP_ATOMIC and handle failure, \
        or wrap the section in memalloc_noreclaim_save()/restore() (what amdkfd does).",
    lockdep: Lockdep::Reports(
        "possible circular locking dependency: fs_reclaim against the invalidation in flight (mmu_notifier_invalidate_range_start), naming the callback",
    ),
};

pub const LOCK_HELD_ACROSS_RECLAIM: RuleInfo = RuleInfo {
    id: RuleId::LockHeldAcrossReclaim,
    code: "NT002",
    name: "lock taken in callbacks held around a reclaim-capable allocation",
    severity: Severity::Error,
    needs: &[Hook::Callback, Hook::RuleLocks, Hook::RuleAlloc],
    explain: "Any lock an invalidate callback takes becomes a lock inside whose critical \
        section reclaim must not happen: reclaim -> invalidation -> callback -> lock closes a \
        cycle with the holder waiting in reclaim (the 2020 nouveau svmm->mutex / vmm->mutex \
        report).",
    fix: "Split the lock so the callback's lock is never held around allocations, allocate \
        before taking it, or allocate with GFP_NOWAIT under it.",
    lockdep: Lockdep::Reports(
        "possible circular locking dependency: fs_reclaim against the lock the callback takes, naming the allocating function",
    ),
};

pub const SLEEP_IN_NONBLOCKABLE: RuleInfo = RuleInfo {
    id: RuleId::SleepInNonblockable,
    code: "NT003",
    name: "sleeping inside a non-blockable invalidation",
    severity: Severity::Error,
    needs: &[Hook::Callback, Hook::RuleSleep],
    explain: "When the range is not blockable (the OOM reaper's \
        mmu_notifier_invalidate_range_start_nonblock), callbacks must not sleep; the interval-tree \
        path has no non_block_start() guard, so nothing in a production kernel catches it.",
    fix: "Check mmu_notifier_range_blockable() and use mutex_trylock(), returning false \
        when the lock is contended (test_hmm and nouveau do this).",
    lockdep: Lockdep::Blind(
        "mn_itree_invalidate, the interval path, has no non_block_start() (only the hlist path \
        has one), so DEBUG_ATOMIC_SLEEP does not check a sleep in a non-blockable interval callback",
    ),
};

pub const TEARDOWN_IN_CALLBACK: RuleInfo = RuleInfo {
    id: RuleId::TeardownInCallback,
    code: "NT007",
    name: "mm teardown inside a callback",
    severity: Severity::Error,
    needs: &[Hook::Callback, Hook::RuleTeardown],
    explain: "Dropping the last mm reference (mmput) inside an invalidate callback runs \
        exit_mmap, which invalidates and takes locks the callback's caller already holds: amdkfd \
        deadlocked this way. Any mmput there is reported: whether it is the last reference depends \
        on a race with the process exiting.",
    fix: "Use mmput_async() or defer the put to a worker.",
    lockdep: Lockdep::Blind(
        "an mmput deadlocks only when it drops the last reference, a race with the process's \
        exit: in the common case no lock is taken and lockdep sees nothing",
    ),
};

/// Hazards the probes detect in the kernel (allocation, lock, sleep, teardown): the event
/// is the proof, with its stack.
pub struct KernelHazard {
    info: &'static RuleInfo,
    code: Hazard,
}

impl KernelHazard {
    /// The rule for one kind of hazard record.
    pub const fn new(info: &'static RuleInfo, code: Hazard) -> Self {
        KernelHazard { info, code }
    }
}

impl Rule for KernelHazard {
    fn info(&self) -> &'static RuleInfo {
        self.info
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
        out.push(hit(self.id(), ev.sub, ev.seq, detail));
    }
}
