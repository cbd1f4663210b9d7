//! Hazards the rules' probes detect in the kernel: the `event` byte of a
//! [`EventKind::Hazard`](crate::EventKind::Hazard) record.

wire_enum! {
    /// What the probe saw. The name is how traces spell it.
    pub enum Hazard {
        /// A reclaim-capable allocation (gfp has __GFP_DIRECT_RECLAIM, task not
        /// PF_MEMALLOC) inside an invalidate callback.
        AllocInCallback = 1 => "alloc-in-callback",
        /// A reclaim-capable allocation while holding a lock that callbacks take.
        AllocUnderCallbackLock = 2 => "alloc-under-callback-lock",
        /// A sleeping lock (mutex/rwsem) taken inside a callback: learned, not a finding
        /// alone.
        CallbackLock = 3 => "callback-lock",
        /// A voluntary sleep inside a callback of a non-blockable invalidation.
        SleepNonblockable = 4 => "sleep-nonblockable",
        /// mm teardown (mmput, exit_mmap) inside a callback; `aux` says which
        /// ([`Teardown`]).
        TeardownInCallback = 5 => "teardown-in-callback",
        /// `mmu_interval_read_begin` or `mmu_interval_notifier_remove` where it can wait
        /// for its own caller: `aux` says which ([`Waiter`]); `flags` has
        /// [`IN_CALLBACK`](crate::flags::IN_CALLBACK) / [`IN_RANGE`](crate::flags::IN_RANGE)
        /// as the call's own event does, `func` the callback lock held (0 if none).
        WaitsForItself = 6 => "waits-for-itself",
        /// An insert against its locking contract, or on an mm without users: `flags` has
        /// [`LOCKED`](crate::flags::LOCKED) for `insert_locked`, `mmap_lock` is the lock
        /// as held, `ret` the kernel's result.
        InsertLocking = 7 => "insert-locking",
    }
}

wire_enum! {
    /// `aux` of a [`Hazard::WaitsForItself`]: the call that can wait.
    pub enum Waiter {
        ReadBegin = 1 => "mmu_interval_read_begin",
        Remove = 2 => "mmu_interval_notifier_remove",
    }
}

wire_enum! {
    /// `aux` of a [`Hazard::TeardownInCallback`]: which teardown ran.
    pub enum Teardown {
        Mmput = 1 => "mmput",
        ExitMmap = 2 => "exit_mmap",
    }
}

/// Whether an insert breaks its contract: `insert` with mmap_lock held for write (it may take
/// it itself), `insert_locked` without it, or any insert the kernel refused because the mm
/// has no users. The probes decide with it; the recording reader too, for recordings made
/// before the probes reported it.
#[inline(always)]
pub const fn insert_against_contract(locked: bool, mmap_lock: u8, ret: i32) -> bool {
    use crate::mmap_lock::{NOT_WRITE_HELD, WRITE_HELD};
    matches!(
        (locked, mmap_lock),
        (false, WRITE_HELD) | (true, NOT_WRITE_HELD)
    ) || ret == crate::errno::EINVAL
}
