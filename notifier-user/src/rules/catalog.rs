//! The rules: identity, severity, and the one-paragraph explanation with the fix the kernel
//! community recommends. `notifier-top check --explain RULE` prints these.

use serde::Serialize;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Error,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum RuleId {
    AllocInCallback,
    LockHeldAcrossReclaim,
    SleepInNonblockable,
    ReturnContract,
    SelfDeadlock,
    InsertDiscipline,
    TeardownInCallback,
    SlowCallback,
    ReadBeginStorm,
    OutlivesProcess,
}

pub struct RuleInfo {
    pub id: RuleId,
    pub code: &'static str,
    pub name: &'static str,
    pub severity: Severity,
    /// Kernel hooks beyond the capture families that the rule needs.
    pub needs: &'static [&'static str],
    pub explain: &'static str,
}

pub const RULES: &[RuleInfo] = &[
    RuleInfo {
        id: RuleId::AllocInCallback,
        code: "NT001",
        name: "reclaim-capable allocation inside an invalidate callback",
        severity: Severity::Error,
        needs: &["callback", "rule_alloc"],
        explain: "Reclaim can itself invalidate ranges (it unmaps pages), so the core treats every \
            reclaim-capable allocation as entering an invalidation (fs_reclaim, since 5.10). An \
            allocation with __GFP_DIRECT_RECLAIM (GFP_KERNEL, GFP_NOFS, ...) inside an invalidate \
            callback can therefore recurse into the very invalidation it is serving and deadlock \
            under memory pressure; lockdep reports it only on debug kernels. Fix: pre-allocate \
            outside the callback, use GFP_NOWAIT/GFP_ATOMIC and handle failure, or wrap the \
            section in memalloc_noreclaim_save()/restore() (what amdkfd does).",
    },
    RuleInfo {
        id: RuleId::LockHeldAcrossReclaim,
        code: "NT002",
        name: "lock taken in callbacks held around a reclaim-capable allocation",
        severity: Severity::Error,
        needs: &["callback", "rule_locks", "rule_alloc"],
        explain: "Any lock an invalidate callback takes becomes a lock inside whose critical \
            section reclaim must not happen: reclaim -> invalidation -> callback -> lock closes a \
            cycle with the holder waiting in reclaim (the 2020 nouveau svmm->mutex / vmm->mutex \
            report). Fix: split the lock so the callback's lock is never held around \
            allocations, allocate before taking it, or allocate with GFP_NOWAIT under it.",
    },
    RuleInfo {
        id: RuleId::SleepInNonblockable,
        code: "NT003",
        name: "sleeping inside a non-blockable invalidation",
        severity: Severity::Error,
        needs: &["callback", "rule_sleep"],
        explain: "When the range is not blockable (the OOM reaper's \
            mmu_notifier_invalidate_range_start_nonblock), callbacks must not sleep; the \
            interval-tree path has no non_block_start() guard, so nothing in a production kernel \
            catches it. Fix: check mmu_notifier_range_blockable() and use mutex_trylock(), \
            returning false when the lock is contended (test_hmm and nouveau do this).",
    },
    RuleInfo {
        id: RuleId::ReturnContract,
        code: "NT004",
        name: "callback return-value contract",
        severity: Severity::Warning,
        needs: &["callback"],
        explain: "An invalidate callback may return false only when the range is not blockable \
            (it asks the OOM reaper to retry later). False for a blockable range makes the core \
            WARN and carry on as if it succeeded, and false at RELEASE (exit_mmap) is a bug the \
            core WARNs about too. Fix: block (take the lock) when blockable; only return false \
            after a failed trylock on a non-blockable range.",
    },
    RuleInfo {
        id: RuleId::SelfDeadlock,
        code: "NT005",
        name: "remove/read_begin from a callback, an open invalidation, or under a callback lock",
        severity: Severity::Error,
        needs: &["callback"],
        explain: "mmu_interval_notifier_remove() and mmu_interval_read_begin() may wait for the \
            current invalidation of the mm to end; called from an invalidate callback or between \
            range start and end of the same mm by the same task, they wait for themselves \
            (\"cannot be called from any ops callback\"). Holding a lock that callbacks take \
            across them deadlocks against the callback. Fix: defer the removal to a worker (the \
            pattern of kfd, xe and mlx5 implicit ODP: the UNMAP callback marks, a worker \
            removes), and drop driver locks before read_begin.",
    },
    RuleInfo {
        id: RuleId::InsertDiscipline,
        code: "NT006",
        name: "insert locking discipline",
        severity: Severity::Error,
        needs: &[],
        explain: "mmu_interval_notifier_insert() may take mmap_lock for write (to register the \
            mm's notifier state), so calling it with mmap_lock held deadlocks on a first insert; \
            mmu_interval_notifier_insert_locked() requires mmap_lock held for write, checked only \
            by lockdep. Inserting on an mm without users (mm_users == 0, a process that is \
            exiting) fails with -EINVAL after a WARN. Fix: use the variant that matches the lock \
            held, and take an mm reference with mmget_not_zero() before inserting.",
    },
    RuleInfo {
        id: RuleId::TeardownInCallback,
        code: "NT007",
        name: "mm teardown inside a callback",
        severity: Severity::Error,
        needs: &["callback", "rule_teardown"],
        explain: "Dropping the last mm reference (mmput) inside an invalidate callback runs \
            exit_mmap, which invalidates and takes locks the callback's caller already holds: \
            amdkfd deadlocked this way. Any mmput there is reported: whether it is the last \
            reference depends on a race with the process exiting. Fix: use mmput_async() or \
            defer the put to a worker.",
    },
    RuleInfo {
        id: RuleId::SlowCallback,
        code: "NT008",
        name: "slow invalidate callback",
        severity: Severity::Warning,
        needs: &["callback"],
        explain: "Invalidate callbacks run with the invalidating task (munmap, page migration, \
            reclaim, the OOM reaper) blocked behind them; a callback taking milliseconds stalls \
            every one of those paths for the whole address space. Typical causes: waiting for \
            device fences or queue preemption under the notifier lock. Fix: make the wait \
            conditional on the range actually overlapping device mappings, batch TLB \
            invalidations (7.x invalidate_start/finish), or shorten the critical section.",
    },
    RuleInfo {
        id: RuleId::ReadBeginStorm,
        code: "NT009",
        name: "read_begin waits and retry storms",
        severity: Severity::Warning,
        needs: &[],
        explain: "mmu_interval_read_begin() blocks while its interval is being invalidated, and \
            a driver retries its fault whenever mmu_interval_read_retry() sees a new sequence. \
            Many read_begin calls per second on one interval, or long waits in it, mean the \
            device keeps faulting on memory the CPU side keeps invalidating (or one interval \
            covers far more than the device uses). Fix: narrow the interval, back off between \
            retries, or look for the invalidation source (NUMA balancing, KSM, THP splits).",
    },
    RuleInfo {
        id: RuleId::OutlivesProcess,
        code: "NT010",
        name: "intervals that outlive their process",
        severity: Severity::Warning,
        needs: &["lifecycle"],
        explain: "After exit_mmap every interval of the mm got a RELEASE callback; drivers then \
            remove their notifiers when their file descriptors close, a few milliseconds later. \
            Intervals still registered long after the process is gone pin the mm_struct \
            (mmgrab) and usually mean a leaked device object. Fix: remove the notifier in the \
            driver's release path, or on the RELEASE callback via a worker.",
    },
];

pub fn info(id: RuleId) -> &'static RuleInfo {
    RULES
        .iter()
        .find(|r| r.id == id)
        .expect("every RuleId has a catalog entry")
}

#[cfg(test)]
mod tests {
    use clap::ValueEnum as _;

    use super::*;

    #[test]
    fn every_rule_is_in_the_catalog_once() {
        for id in RuleId::value_variants() {
            assert_eq!(RULES.iter().filter(|r| r.id == *id).count(), 1, "{id:?}");
        }
        let mut codes: Vec<_> = RULES.iter().map(|r| r.code).collect();
        codes.dedup();
        assert_eq!(codes.len(), RULES.len());
    }
}
