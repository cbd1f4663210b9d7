//! The ring-buffer record and what its fields mean: the event ABI proper.

/// Bumped whenever [`Event`] or [`KernelLayout`](crate::KernelLayout) change shape or an
/// event's meaning changes. Recordings carry it, so a replay of a recording this build
/// cannot read is refused with a clear message instead of misdecoded.
///
/// 2: `dur_ns` may be [`DUR_UNKNOWN`]; a remove outside invalidations is a `RemoveEnd`
/// alone, with its bounds; the layout reads the tasks' context switches. An ABI 1
/// recording reads the same way (it never holds `DUR_UNKNOWN`).
///
/// 3: the HMM layer's kinds (`HmmRangeFault` … `MakeDeviceExclusive`) and the layout
/// fields they read. Older recordings read the same way (they hold none of them).
///
/// 4: read_begin/remove that can wait for their caller and inserts against their locking
/// contract are also reported as `Hazard` records (`WaitsForItself`, `InsertLocking`),
/// with the kernel stack. The reader derives them, stackless, from the events of older
/// recordings (record/reader.rs).
pub const ABI_VERSION: u32 = 4;

/// The oldest event ABI a recording may carry and still be replayed.
pub const OLDEST_READABLE_ABI: u32 = 1;

wire_enum! {
    /// What happened. The discriminant is the wire value of [`Event::kind`]; the name is how
    /// traces, summaries and recordings' readers spell it.
    pub enum EventKind {
        /// `mmu_interval_notifier_insert{,_locked}` returned. `sub`, `mm`, `start`, `last`, `aux` =
        /// ops pointer, `func` = the driver callback (`ops->invalidate`, or on 7.x
        /// `ops->invalidate_start` when the driver uses the two-pass API), `ret` = result code,
        /// `seq` = the notifier's `invalidate_seq`. Flags: [`flags::DEFERRED`], [`flags::LOCKED`],
        /// [`flags::TWO_PASS`].
        Insert = 1 => "insert",
        /// The kernel linked a deferred insert into the tree (the last `mn_itree_inv_end` of an
        /// invalidation drained `deferred_list`). `sub`, `mm`, `start`, `last`.
        DeferredInsertApplied = 2 => "deferred_insert_applied",
        /// `mmu_interval_notifier_remove` entered at a time it can wait: an invalidation is in
        /// flight, or the caller is inside a callback or holds a range open. `sub`, `mm`, `start`,
        /// `last`; callbacks can still arrive until [`EventKind::RemoveEnd`]. Flags
        /// [`flags::IN_CALLBACK`], [`flags::IN_RANGE`]; `aux` = a lock callbacks take that the
        /// caller holds (rules only). Any other remove is its `RemoveEnd` alone.
        RemoveBegin = 3 => "remove_begin",
        /// `mmu_interval_notifier_remove` returned: the interval is gone. `sub`, `mm`, `start`,
        /// `last`; `dur_ns` = time spent in remove, which includes waiting for an in-flight
        /// invalidation ([`DUR_UNKNOWN`] when not measured).
        RemoveEnd = 4 => "remove_end",
        /// `__mmu_notifier_invalidate_range_start` returned. `sub` = the range pointer (it keys the
        /// matching end), `mm`, `start`, `last` (end - 1), `event` = `mmu_notifier_event`,
        /// [`flags::BLOCKABLE`], `ret` = 0 or -EAGAIN, `dur_ns` = time in all callbacks.
        RangeStart = 5 => "range_start",
        /// `__mmu_notifier_invalidate_range_end` entered. Same fields as [`EventKind::RangeStart`].
        RangeEnd = 6 => "range_end",
        /// A driver invalidate callback returned. `sub`, `mm` (from the notifier), `start`/`last`
        /// of the range, `event`, [`flags::BLOCKABLE`], `aux` = cur_seq, `func`, `ret` = the
        /// callback's bool, `dur_ns`.
        Callback = 7 => "callback",
        /// `mmu_interval_read_begin` returned. `sub`, `mm`, `start`, `last`, `seq` = returned
        /// sequence, `dur_ns` = time blocked waiting for an invalidation of this interval to finish
        /// ([`DUR_UNKNOWN`] when not measured). Flags and `aux` as [`EventKind::RemoveBegin`].
        ReadBegin = 8 => "read_begin",
        /// `__mmu_notifier_register` returned for `mm`; `sub` is the hlist subscription or 0
        /// (interval-tree mode).
        MmRegister = 9 => "mm_register",
        /// `__mmu_notifier_release`: the mm is being torn down (exit_mmap).
        MmRelease = 10 => "mm_release",
        /// `__mmu_notifier_subscriptions_destroy`: the mm's notifier state is freed.
        MmDestroy = 11 => "mm_destroy",
        /// An interval that already existed, found by the start-up walk of an mm's tree
        /// (`bootstrap`). Fields as [`EventKind::Insert`] (no `ret`); [`flags::DEFERRED`] marks a
        /// pending insert found on `deferred_list`, [`flags::REMOVING`] a notifier queued there for
        /// removal. `pid_tgid`/`comm` are those of a task using the mm, not of the reader.
        Existing = 12 => "existing",
        /// The walk of one mm finished: `mm`, `seq` = `subs->invalidate_seq`, `aux` =
        /// `active_invalidate_ranges`, `ret` = intervals reported; [`flags::PARTIAL`] if the walk
        /// hit its bound and more intervals exist than were reported.
        MmWalked = 13 => "mm_walked",
        /// A hazard seen in the kernel (only with the rules hooks attached): `event` = a
        /// [`Hazard`](crate::Hazard) code, `sub`/`mm` = the callback's notifier (if in one), `aux`
        /// = gfp flags (allocations), `func` = lock address or allocation call site, `seq` = kernel
        /// stack id in the `STACKS` map ([`NO_STACK`] if none).
        Hazard = 14 => "hazard",
        /// `hmm_range_fault` returned: a device fault on the range of a notifier. `sub` =
        /// `range->notifier`, `mm` (from it), `start`, `last` of the faulted range, `aux` =
        /// pages, `seq` = the `notifier_seq` the driver read, `ret` (0, -EBUSY when the
        /// interval was invalidated meanwhile, -EFAULT, -EPERM), `dur_ns`.
        HmmRangeFault = 15 => "hmm_range_fault",
        /// `migrate_vma_setup` returned: `mm`, `start`, `last`, `aux` = pages asked for,
        /// `seq` = pages collected, `event` = the `MIGRATE_VMA_SELECT_*` bits (the direction:
        /// from system memory, or from device-private memory), `func` = the pgmap owner,
        /// `ret`, `dur_ns`.
        MigrateVmaSetup = 16 => "migrate_vma_setup",
        /// `migrate_vma_pages` returned: as `MigrateVmaSetup`, `seq` = pages migrated.
        MigrateVmaPages = 17 => "migrate_vma_pages",
        /// `migrate_vma_finalize` returned: as `MigrateVmaSetup`.
        MigrateVmaFinalize = 18 => "migrate_vma_finalize",
        /// `make_device_exclusive` returned: `mm`, `start`/`last` of the page, `func` = the
        /// owner, `ret` = 0 or the errno, `dur_ns`.
        MakeDeviceExclusive = 19 => "make_device_exclusive",
        /// `migrate_device_range` returned: a driver evicting its device memory (no `mm`:
        /// the pages are the device's). `aux` = pages, `seq` = pages collected, `ret`,
        /// `dur_ns`.
        MigrateDeviceRange = 20 => "migrate_device_range",
        /// `migrate_device_pages` returned: `aux` = pages, `seq` = pages moved back to
        /// system memory, `dur_ns`.
        MigrateDevicePages = 21 => "migrate_device_pages",
        /// `migrate_device_finalize` returned: `aux` = pages, `dur_ns`.
        MigrateDeviceFinalize = 22 => "migrate_device_finalize",
    }
}

/// `seq` of a Hazard event without a stack.
pub const NO_STACK: u64 = u64::MAX;

/// `dur_ns` of a ReadBegin or RemoveEnd whose duration was not measured: a call already
/// under way when the tool attached (its return is reported, its entry was not seen).
pub const DUR_UNKNOWN: u64 = u64::MAX;

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
    /// [`MmuEvent`](crate::MmuEvent) of the range, where the kind has one; a
    /// [`Hazard`](crate::Hazard) code for `Hazard`; `MmWalked`:
    /// [`WALK_NO_USERS`](crate::WALK_NO_USERS) when every process using the mm has exited.
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

    /// `comm` up to its NUL: bytes the process chose (`prctl(PR_SET_NAME)`), not
    /// necessarily UTF-8 nor printable. Userspace shows them escaped.
    pub fn comm_bytes(&self) -> &[u8] {
        let len = self.comm.iter().position(|&b| b == 0).unwrap_or(16);
        &self.comm[..len]
    }

    pub const fn kind(&self) -> Option<EventKind> {
        EventKind::from_u8(self.kind)
    }

    /// Little-endian wire bytes (the in-memory layout on the only targets BPF runs on here).
    pub fn as_bytes(&self) -> &[u8; EVENT_SIZE] {
        // SAFETY: Event is repr(C), Copy, and has no padding bytes left uninitialised (the
        // explicit `mmap_lock` byte fills what would be a hole), so all EVENT_SIZE bytes are
        // initialised.
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
