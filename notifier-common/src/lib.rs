//! The contract between notifier-top's eBPF programs and its userspace.
//!
//! Everything here is `#[repr(C)]` plain data shared byte-for-byte through the ring buffer
//! (events) and through read-only globals (the kernel layout the probes read with). No logic
//! lives here beyond naming the bits.
#![no_std]

/// Bumped whenever [`Event`] or [`KernelLayout`] change shape or an event's meaning
/// changes. Recordings carry it, so a replay of a recording this build cannot read is
/// refused with a clear message instead of misdecoded.
///
/// 2: `dur_ns` may be [`DUR_UNKNOWN`]; a remove outside invalidations is a `RemoveEnd`
/// alone, with its bounds; the layout reads the tasks' context switches. An ABI 1
/// recording reads the same way (it never holds `DUR_UNKNOWN`).
pub const ABI_VERSION: u32 = 2;

/// The oldest event ABI a recording may carry and still be replayed.
pub const OLDEST_READABLE_ABI: u32 = 1;

/// What happened. The discriminant is the wire value of [`Event::kind`].
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventKind {
    /// `mmu_interval_notifier_insert{,_locked}` returned. `sub`, `mm`, `start`, `last`,
    /// `aux` = ops pointer, `func` = the driver callback (`ops->invalidate`, or on 7.x
    /// `ops->invalidate_start` when the driver uses the two-pass API), `ret` = result code,
    /// `seq` = the notifier's `invalidate_seq`. Flags: [`flags::DEFERRED`], [`flags::LOCKED`],
    /// [`flags::TWO_PASS`].
    Insert = 1,
    /// The kernel linked a deferred insert into the tree (the last `mn_itree_inv_end` of an
    /// invalidation drained `deferred_list`). `sub`, `mm`, `start`, `last`.
    DeferredInsertApplied = 2,
    /// `mmu_interval_notifier_remove` entered at a time it can wait: an invalidation is in
    /// flight, or the caller is inside a callback or holds a range open. `sub`, `mm`,
    /// `start`, `last`; callbacks can still arrive until [`EventKind::RemoveEnd`]. Flags
    /// [`flags::IN_CALLBACK`], [`flags::IN_RANGE`]; `aux` = a lock callbacks take that the
    /// caller holds (rules only). Any other remove is its `RemoveEnd` alone.
    RemoveBegin = 3,
    /// `mmu_interval_notifier_remove` returned: the interval is gone. `sub`, `mm`, `start`,
    /// `last`; `dur_ns` = time spent in remove, which includes waiting for an in-flight
    /// invalidation ([`DUR_UNKNOWN`] when not measured).
    RemoveEnd = 4,
    /// `__mmu_notifier_invalidate_range_start` returned. `sub` = the range pointer (it keys
    /// the matching end), `mm`, `start`, `last` (end - 1), `event` = `mmu_notifier_event`,
    /// [`flags::BLOCKABLE`], `ret` = 0 or -EAGAIN, `dur_ns` = time in all callbacks.
    RangeStart = 5,
    /// `__mmu_notifier_invalidate_range_end` entered. Same fields as [`EventKind::RangeStart`].
    RangeEnd = 6,
    /// A driver invalidate callback returned. `sub`, `mm` (from the notifier), `start`/`last`
    /// of the range, `event`, [`flags::BLOCKABLE`], `aux` = cur_seq, `func`, `ret` = the
    /// callback's bool, `dur_ns`.
    Callback = 7,
    /// `mmu_interval_read_begin` returned. `sub`, `mm`, `start`, `last`, `seq` = returned
    /// sequence, `dur_ns` = time blocked waiting for an invalidation of this interval to
    /// finish ([`DUR_UNKNOWN`] when not measured). Flags and `aux` as
    /// [`EventKind::RemoveBegin`].
    ReadBegin = 8,
    /// `__mmu_notifier_register` returned for `mm`; `sub` is the hlist subscription or 0
    /// (interval-tree mode).
    MmRegister = 9,
    /// `__mmu_notifier_release`: the mm is being torn down (exit_mmap).
    MmRelease = 10,
    /// `__mmu_notifier_subscriptions_destroy`: the mm's notifier state is freed.
    MmDestroy = 11,
    /// An interval that already existed, found by the start-up walk of an mm's tree
    /// (`bootstrap`). Fields as [`EventKind::Insert`] (no `ret`); [`flags::DEFERRED`] marks a
    /// pending insert found on `deferred_list`, [`flags::REMOVING`] a notifier queued there
    /// for removal. `pid_tgid`/`comm` are those of a task using the mm, not of the reader.
    Existing = 12,
    /// The walk of one mm finished: `mm`, `seq` = `subs->invalidate_seq`, `aux` =
    /// `active_invalidate_ranges`, `ret` = intervals reported; [`flags::PARTIAL`] if the walk
    /// hit its bound and more intervals exist than were reported.
    MmWalked = 13,
    /// A hazard seen in the kernel (only with the rules hooks attached): `event` = a
    /// [`hazard`] code, `sub`/`mm` = the callback's notifier (if in one), `aux` = gfp flags
    /// (allocations), `func` = lock address or allocation call site, `seq` = kernel stack id
    /// in the `STACKS` map ([`NO_STACK`] if none).
    Hazard = 14,
}

/// `seq` of a Hazard event without a stack.
pub const NO_STACK: u64 = u64::MAX;

/// `dur_ns` of a ReadBegin or RemoveEnd whose duration was not measured. Outside any
/// invalidation neither call can wait, and its entry time travels in a per-CPU slot
/// rather than a per-task map entry; a call that nonetheless slept (an invalidation began
/// between the hook's look and the kernel's) and came back on another CPU, or whose slot
/// another call took meanwhile, finds no slot of its own. Also a call already under way
/// when the tool attached.
pub const DUR_UNKNOWN: u64 = u64::MAX;

/// Codes of [`EventKind::Hazard`] in [`Event::event`].
pub mod hazard {
    /// A reclaim-capable allocation (gfp has __GFP_DIRECT_RECLAIM, task not PF_MEMALLOC)
    /// inside an invalidate callback.
    pub const ALLOC_IN_CALLBACK: u8 = 1;
    /// A reclaim-capable allocation while holding a lock that callbacks take.
    pub const ALLOC_UNDER_CALLBACK_LOCK: u8 = 2;
    /// A sleeping lock (mutex/rwsem) taken inside a callback: learned, not a finding alone.
    pub const CALLBACK_LOCK: u8 = 3;
    /// A voluntary sleep inside a callback of a non-blockable invalidation.
    pub const SLEEP_NONBLOCKABLE: u8 = 4;
    /// mm teardown (mmput, exit_mmap) inside a callback; `aux` says which.
    pub const TEARDOWN_IN_CALLBACK: u8 = 5;
    pub const TEARDOWN_MMPUT: u64 = 1;
    pub const TEARDOWN_EXIT_MMAP: u64 = 2;
}

impl EventKind {
    pub const ALL: [EventKind; 14] = [
        EventKind::Insert,
        EventKind::DeferredInsertApplied,
        EventKind::RemoveBegin,
        EventKind::RemoveEnd,
        EventKind::RangeStart,
        EventKind::RangeEnd,
        EventKind::Callback,
        EventKind::ReadBegin,
        EventKind::MmRegister,
        EventKind::MmRelease,
        EventKind::MmDestroy,
        EventKind::Existing,
        EventKind::MmWalked,
        EventKind::Hazard,
    ];

    pub const fn from_u8(v: u8) -> Option<Self> {
        Some(match v {
            1 => EventKind::Insert,
            2 => EventKind::DeferredInsertApplied,
            3 => EventKind::RemoveBegin,
            4 => EventKind::RemoveEnd,
            5 => EventKind::RangeStart,
            6 => EventKind::RangeEnd,
            7 => EventKind::Callback,
            8 => EventKind::ReadBegin,
            9 => EventKind::MmRegister,
            10 => EventKind::MmRelease,
            11 => EventKind::MmDestroy,
            12 => EventKind::Existing,
            13 => EventKind::MmWalked,
            14 => EventKind::Hazard,
            _ => return None,
        })
    }

    pub const fn name(self) -> &'static str {
        match self {
            EventKind::Insert => "insert",
            EventKind::DeferredInsertApplied => "deferred_insert_applied",
            EventKind::RemoveBegin => "remove_begin",
            EventKind::RemoveEnd => "remove_end",
            EventKind::RangeStart => "range_start",
            EventKind::RangeEnd => "range_end",
            EventKind::Callback => "callback",
            EventKind::ReadBegin => "read_begin",
            EventKind::MmRegister => "mm_register",
            EventKind::MmRelease => "mm_release",
            EventKind::MmDestroy => "mm_destroy",
            EventKind::Existing => "existing",
            EventKind::MmWalked => "mm_walked",
            EventKind::Hazard => "hazard",
        }
    }
}

/// Bits of [`Event::flags`].
pub mod flags {
    /// Insert: the kernel queued the notifier on `deferred_list` (an invalidation was in
    /// flight with the tree frozen); it becomes live at the final `inv_end`.
    pub const DEFERRED: u8 = 1 << 0;
    /// Insert: `mmu_interval_notifier_insert_locked` (caller holds mmap_lock for write).
    pub const LOCKED: u8 = 1 << 1;
    /// The range had `MMU_NOTIFIER_RANGE_BLOCKABLE` set.
    pub const BLOCKABLE: u8 = 1 << 2;
    /// 7.x two-pass API: the driver registered `invalidate_start`/`invalidate_finish`.
    pub const TWO_PASS: u8 = 1 << 3;
    /// Existing: the notifier is queued on `deferred_list` for removal (a remove is waiting
    /// for the in-flight invalidation to end).
    pub const REMOVING: u8 = 1 << 4;
    /// Insert, RemoveBegin, ReadBegin: called from inside a driver invalidate callback.
    pub const IN_CALLBACK: u8 = 1 << 5;
    /// Insert, RemoveBegin, ReadBegin: the calling task has an invalidation of the same mm
    /// open (between range start and end).
    pub const IN_RANGE: u8 = 1 << 6;
    /// The probe read a kernel field that failed (`bpf_probe_read_kernel` error); the
    /// zeroed fields of this event are unknown, not zero.
    pub const PARTIAL: u8 = 1 << 7;
}

/// Values of [`Event::mmap_lock`].
pub mod mmap_lock {
    /// The layout has no rwsem owner field (e.g. PREEMPT_RT), or the read failed.
    pub const UNKNOWN: u8 = 0;
    /// Not write-locked by the calling task (it may hold it for read: rwsems do not record
    /// readers reliably).
    pub const NOT_WRITE_HELD: u8 = 1;
    /// Write-locked by the calling task.
    pub const WRITE_HELD: u8 = 2;
}

/// `enum mmu_notifier_event` values (include/linux/mmu_notifier.h, stable since 5.0 except
/// for the later additions at the end).
pub mod mmu_event {
    pub const NAMES: [&str; 8] = [
        "unmap",
        "clear",
        "protection_vma",
        "protection_page",
        "soft_dirty",
        "release",
        "migrate",
        "exclusive",
    ];
}

/// One ring-buffer record. Fixed size so the reader can decode without framing and the
/// recording stores records verbatim.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Event {
    /// `bpf_ktime_get_ns()` (CLOCK_MONOTONIC).
    pub ts_ns: u64,
    /// `bpf_get_current_pid_tgid()`: tgid in the high 32 bits, thread id in the low.
    pub pid_tgid: u64,
    /// [`EventKind`] wire value.
    pub kind: u8,
    /// [`flags`] bits.
    pub flags: u8,
    /// `mmu_notifier_event` of the range, where the kind has one; `MmWalked`:
    /// [`WALK_NO_USERS`] when every process using the mm has exited.
    pub event: u8,
    /// Insert: `mm->mmap_lock` as the caller held it ([`mmap_lock`] values).
    pub mmap_lock: u8,
    /// Kernel return value (errno, or a callback's bool as 0/1).
    pub ret: i32,
    /// `current->comm`, NUL padded.
    pub comm: [u8; 16],
    pub mm: u64,
    /// Notifier pointer (`struct mmu_interval_notifier *`), or the range pointer for the
    /// invalidation bracket.
    pub sub: u64,
    pub start: u64,
    /// Inclusive last address, as the kernel's interval tree stores it.
    pub last: u64,
    /// Kind-specific: ops pointer (insert), cur_seq (callback).
    pub aux: u64,
    /// Callback function address (insert, callback).
    pub func: u64,
    /// Sequence number: the notifier's `invalidate_seq` (insert, read_begin).
    pub seq: u64,
    pub dur_ns: u64,
}

pub const EVENT_SIZE: usize = core::mem::size_of::<Event>();

impl Event {
    /// `dur_ns`, unless it is [`DUR_UNKNOWN`].
    pub const fn duration(&self) -> Option<u64> {
        if self.dur_ns == DUR_UNKNOWN {
            None
        } else {
            Some(self.dur_ns)
        }
    }

    pub const fn tgid(&self) -> u32 {
        (self.pid_tgid >> 32) as u32
    }

    pub const fn tid(&self) -> u32 {
        self.pid_tgid as u32
    }

    pub fn comm_str(&self) -> &str {
        let len = self.comm.iter().position(|&b| b == 0).unwrap_or(16);
        core::str::from_utf8(&self.comm[..len]).unwrap_or("?")
    }

    pub const fn kind(&self) -> Option<EventKind> {
        EventKind::from_u8(self.kind)
    }

    /// After this event every interval of `mm` is known to whoever read the stream: the
    /// mm was registered under observation, or a walk reported it whole.
    pub const fn completes_mm(&self) -> bool {
        match self.kind() {
            Some(EventKind::MmRegister) => self.ret == 0,
            Some(EventKind::MmWalked) => self.flags & flags::PARTIAL == 0,
            _ => false,
        }
    }

    /// The event shows every process using `mm` exiting or gone (intervals may remain).
    pub const fn shows_mm_exited(&self) -> bool {
        match self.kind() {
            Some(EventKind::MmRelease) => true,
            Some(EventKind::MmWalked) => self.event == WALK_NO_USERS,
            _ => false,
        }
    }

    /// Little-endian wire bytes (the in-memory layout on the only targets BPF runs on here).
    pub fn as_bytes(&self) -> &[u8; EVENT_SIZE] {
        // SAFETY: Event is repr(C), Copy, and has no padding bytes left uninitialised (the
        // explicit `mmap_lock` byte fills what would be a hole), so all EVENT_SIZE bytes are initialised.
        unsafe { &*(self as *const Event as *const [u8; EVENT_SIZE]) }
    }

    /// Decodes a record; `None` if `bytes` is too short.
    pub fn from_bytes(bytes: &[u8]) -> Option<Event> {
        if bytes.len() < EVENT_SIZE {
            return None;
        }
        // SAFETY: every bit pattern is a valid Event (integers and byte arrays only), and
        // read_unaligned copes with the ring buffer's 8-byte alignment or worse.
        Some(unsafe { core::ptr::read_unaligned(bytes.as_ptr() as *const Event) })
    }
}

/// Offset of a kernel struct member in bytes, or [`MISSING`] when this kernel has no such
/// member. Userspace resolves every one from the running kernel's BTF before loading.
pub type FieldOffset = u32;
pub const MISSING: FieldOffset = u32::MAX;

/// The kernel layout the probes read with, filled from BTF at start-up (rustc emits no
/// CO-RE relocations, so nothing layout-specific may be compiled into the programs).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KernelLayout {
    /// `struct mmu_interval_notifier`: `interval_tree.start`, `interval_tree.last`, `ops`,
    /// `mm`, `invalidate_seq`. `interval_tree.rb` is always at 0 (asserted at resolve time).
    pub sub_start: FieldOffset,
    pub sub_last: FieldOffset,
    pub sub_ops: FieldOffset,
    pub sub_mm: FieldOffset,
    pub sub_seq: FieldOffset,
    /// `struct mmu_interval_notifier_ops`: `invalidate`, and on 7.x `invalidate_start`.
    pub ops_invalidate: FieldOffset,
    pub ops_invalidate_start: FieldOffset,
    /// `struct mmu_notifier_range`: `mm`, `start`, `end`, `flags`, `event`.
    pub range_mm: FieldOffset,
    pub range_start: FieldOffset,
    pub range_end: FieldOffset,
    pub range_flags: FieldOffset,
    pub range_event: FieldOffset,
    /// Bootstrap walk: `task_struct.mm`, `.tgid`, `.comm`; `mm_struct.notifier_subscriptions`
    /// (MISSING without CONFIG_MMU_NOTIFIER); `struct mmu_notifier_subscriptions`:
    /// `invalidate_seq`, `active_invalidate_ranges`, `itree.rb_leftmost`,
    /// `deferred_list`; `mmu_interval_notifier.deferred_item`; `rb_node.rb_right/rb_left`.
    pub task_mm: FieldOffset,
    pub task_tgid: FieldOffset,
    pub task_comm: FieldOffset,
    pub mm_subs: FieldOffset,
    /// `mm_struct.mm_users`: 0 once every process using the mm has exited.
    pub mm_users: FieldOffset,
    pub subs_seq: FieldOffset,
    pub subs_active: FieldOffset,
    pub subs_leftmost: FieldOffset,
    pub subs_deferred: FieldOffset,
    pub sub_deferred_item: FieldOffset,
    pub rb_right: FieldOffset,
    pub rb_left: FieldOffset,
    /// Insert discipline: `mm_struct.mmap_lock.owner` (the rwsem's owner word).
    pub mm_mmap_lock_owner: FieldOffset,
    /// Rules: `task_struct.flags` (PF_MEMALLOC), the `__GFP_DIRECT_RECLAIM` bit value, and
    /// the `gfp_flags` / `call_site` offsets in the kmem tracepoint records (from their
    /// tracefs format files).
    pub task_flags: FieldOffset,
    pub gfp_direct_reclaim: u32,
    /// `task_struct.nvcsw` / `.nivcsw`: a task's context switches, unchanged between a
    /// call's entry and return when it never left its CPU (the per-CPU entry slots).
    pub task_nvcsw: FieldOffset,
    pub task_nivcsw: FieldOffset,
    pub tp_kmalloc_gfp: FieldOffset,
    pub tp_kmalloc_call_site: FieldOffset,
    pub tp_cache_alloc_gfp: FieldOffset,
    pub tp_cache_alloc_call_site: FieldOffset,
    pub tp_page_alloc_gfp: FieldOffset,
    /// Process id (tgid) of notifier-top itself, whose own activity is never traced.
    pub self_tgid: u32,
}

impl KernelLayout {
    pub const UNRESOLVED: KernelLayout = KernelLayout {
        sub_start: MISSING,
        sub_last: MISSING,
        sub_ops: MISSING,
        sub_mm: MISSING,
        sub_seq: MISSING,
        ops_invalidate: MISSING,
        ops_invalidate_start: MISSING,
        range_mm: MISSING,
        range_start: MISSING,
        range_end: MISSING,
        range_flags: MISSING,
        range_event: MISSING,
        task_mm: MISSING,
        task_tgid: MISSING,
        task_comm: MISSING,
        mm_subs: MISSING,
        mm_users: MISSING,
        subs_seq: MISSING,
        subs_active: MISSING,
        subs_leftmost: MISSING,
        subs_deferred: MISSING,
        sub_deferred_item: MISSING,
        rb_right: MISSING,
        rb_left: MISSING,
        mm_mmap_lock_owner: MISSING,
        task_flags: MISSING,
        gfp_direct_reclaim: 0,
        task_nvcsw: MISSING,
        task_nivcsw: MISSING,
        tp_kmalloc_gfp: MISSING,
        tp_kmalloc_call_site: MISSING,
        tp_cache_alloc_gfp: MISSING,
        tp_cache_alloc_call_site: MISSING,
        tp_page_alloc_gfp: MISSING,
        self_tgid: 0,
    };
}

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

/// `LIST_POISON1` on x86-64 (POISON_POINTER_DELTA 0xdead000000000000 + 0x100): what
/// `__mmu_notifier_subscriptions_destroy` leaves in `mm->notifier_subscriptions`.
pub const LIST_POISON1: u64 = 0xdead_0000_0000_0100;

/// `PF_MEMALLOC` (include/linux/sched.h): the task is in a no-reclaim scope
/// (`memalloc_noreclaim_save`), so its allocations cannot recurse into reclaim.
pub const PF_MEMALLOC: u32 = 0x0000_0800;

/// `MMU_NOTIFIER_RANGE_BLOCKABLE` (include/linux/mmu_notifier.h).
pub const MMU_NOTIFIER_RANGE_BLOCKABLE: u32 = 1;

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

/// Ring buffer size in bytes (a power of two, multiple of the page size): room for ~87k
/// events, a few hundred milliseconds of the heaviest churn the test bed produces.
pub const RING_BYTES: u32 = 8 << 20;

#[cfg(feature = "user")]
// SAFETY: plain old data, repr(C), no padding holes.
unsafe impl aya::Pod for KernelLayout {}

#[cfg(feature = "user")]
// SAFETY: plain old data, repr(C), two u32s.
unsafe impl aya::Pod for filter::Config {}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;

    #[test]
    fn event_has_no_hidden_padding() {
        // 8 u64 fields after ts/pid_tgid/flags word/comm: any implicit padding would
        // change this and break recordings and the BPF side silently.
        assert_eq!(EVENT_SIZE, 8 + 8 + 8 + 16 + 8 * 8);
    }

    #[test]
    fn kinds_round_trip() {
        for k in EventKind::ALL {
            assert_eq!(EventKind::from_u8(k as u8), Some(k));
        }
        assert_eq!(EventKind::from_u8(0), None);
        assert_eq!(EventKind::from_u8(15), None);
    }

    #[test]
    fn event_bytes_round_trip() {
        let e = Event {
            ts_ns: 1,
            pid_tgid: (7 << 32) | 9,
            kind: EventKind::Insert as u8,
            start: 0x1000,
            last: 0x1fff,
            ..Default::default()
        };
        let back = Event::from_bytes(e.as_bytes()).unwrap();
        assert_eq!(back, e);
        assert_eq!(back.tgid(), 7);
        assert_eq!(back.tid(), 9);
        assert!(Event::from_bytes(&e.as_bytes()[..EVENT_SIZE - 1]).is_none());
    }
}
