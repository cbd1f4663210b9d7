//! Control words userspace hands the programs: walk orders, the process filter, map names
//! and sizes.

/// Entries of a `migrate_vma` source array the probes read to count migrated pages (one
/// `bpf_loop`): test_hmm migrates 64 pages at a time, drivers a 2 MiB chunk (512).
pub const MIGRATE_PFNS_COUNTED: u32 = 4096;

/// Upper bound on intervals reported per mm by one bootstrap walk (bpf_loop iterations).
pub const WALK_MAX_INTERVALS: u32 = 1 << 16;

/// `MmWalked.event`: the mm has no users left (a driver holds intervals of exited processes).
pub const WALK_NO_USERS: u8 = 1;

/// Control words of a walk (the `WALK_CTL` array): the walk's generation, whether to visit
/// every task, and how many mms of `WALK_MMS` to walk at the end (mms no task uses any more:
/// the task iterator cannot reach them).
pub mod walk {
    pub const GENERATION: u32 = 0;
    pub const ALL_TASKS: u32 = 1;
    pub const LISTED: u32 = 2;
    pub const CTL_WORDS: u32 = 3;
    /// Mms one walk takes from `WALK_MMS`.
    pub const MAX_LISTED: u32 = 256;
}

/// The in-kernel process filter (`--pid`, `--comm`, `--owner`): which criteria are set
/// (bits of `FILTER[0]`; 0 = no filter). Criteria combine with AND, values of one
/// criterion with OR.
pub mod filter {
    pub const BY_PID: u32 = 1 << 0;
    pub const BY_COMM: u32 = 1 << 1;
    pub const BY_OWNER: u32 = 1 << 2;
    /// The read-only `FILTER` global, set before the programs load: without a filter the
    /// verifier sees `criteria == 0` as a constant and every hook skips the filter for free.
    #[repr(C)]
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
    pub struct Config {
        /// Which criteria are set (the bits above; 0 = no filter).
        pub criteria: u32,
        /// How many entries of `FILTER_OWNERS` hold owner ranges.
        pub owner_ranges: u32,
    }

    impl Config {
        pub const NONE: Config = Config {
            criteria: 0,
            owner_ranges: 0,
        };
    }

    /// Bounds of the value maps.
    pub const MAX_PIDS: u32 = 1024;
    pub const MAX_COMMS: u32 = 64;
    /// An owner is a range of kernel text (a module's, or one function's): a callback
    /// address inside one selects its interval.
    pub const MAX_OWNER_RANGES: u32 = 16;
}

/// Names shared by both sides for maps and globals.
pub mod names {
    pub const EVENTS: &str = "EVENTS";
    pub const DROPS: &str = "DROPS";
    pub const LAYOUT: &str = "LAYOUT";
    pub const STACKS: &str = "STACKS";
    pub const WALK_CTL: &str = "WALK_CTL";
    pub const WALK_MMS: &str = "WALK_MMS";
    pub const FILTER: &str = "FILTER";
    pub const FILTER_PIDS: &str = "FILTER_PIDS";
    pub const FILTER_COMMS: &str = "FILTER_COMMS";
    pub const FILTER_OWNERS: &str = "FILTER_OWNERS";
}

/// Ring buffer size in bytes as the object declares it (a power of two, multiple of the
/// page size: room for ~80k events). The least a session loads: userspace sizes the ring
/// for the machine at load (notifier-user's `probe/ring.rs`).
pub const RING_BYTES: u32 = 8 << 20;

#[cfg(feature = "user")]
// SAFETY: plain old data, repr(C), two u32s.
unsafe impl aya::Pod for filter::Config {}
