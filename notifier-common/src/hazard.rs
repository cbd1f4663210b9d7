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
    }
}

wire_enum! {
    /// `aux` of a [`Hazard::TeardownInCallback`]: which teardown ran.
    pub enum Teardown {
        Mmput = 1 => "mmput",
        ExitMmap = 2 => "exit_mmap",
    }
}
