//! Maps shared by the hook families.

use aya_ebpf::{
    bindings::{BPF_EXIST, BPF_NOEXIST},
    macros::map,
    maps::{Array, HashMap, PerCpuArray, RingBuf},
};
use notifier_common::RING_BYTES;

use core::ptr::read_volatile;

use crate::task::task_key;

/// Every event goes here; userspace drains it with an async reader.
#[map]
pub static EVENTS: RingBuf = RingBuf::with_byte_size(RING_BYTES, 0);

/// Events that found the ring buffer full (index 0), so losses are counted, never silent.
#[map]
pub static DROPS: PerCpuArray<u64> = PerCpuArray::with_max_entries(1, 0);

/// Entry state a return probe needs (a task is in at most one call of a given hook family
/// at a time; families that nest — a callback inside a range start — have their own
/// maps).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct Entry {
    pub ts: u64,
    pub arg0: u64,
    pub arg1: u64,
    pub arg2: u64,
    pub arg3: u64,
}

const TASKS: u32 = 16384;

/// A hook family whose calls carry entry state to their return, per task ([`stash`],
/// [`take`]): the entry's time, and for kprobes the arguments (a kretprobe gets none back).
pub trait Calls {
    /// The family's mark in a [`CALLS`] slot.
    const TAG: u64;
    /// Where a task's call goes when its slot is not free (see [`CALLS`]).
    fn overflow() -> &'static HashMap<u64, Entry>;
}

macro_rules! calls {
    ($($(#[$doc:meta])* $family:ident = $tag:literal, $overflow:ident[$size:expr];)*) => {$(
        $(#[$doc])*
        pub struct $family;
        impl Calls for $family {
            const TAG: u64 = $tag;
            #[inline(always)]
            fn overflow() -> &'static HashMap<u64, Entry> {
                &$overflow
            }
        }
        #[map]
        static $overflow: HashMap<u64, Entry> = HashMap::with_max_entries($size, 0);
    )*};
}

calls! {
    /// `mmu_interval_notifier_insert{,_locked}` (kprobes only).
    Inserts = 1, INSERT_ENTRY[TASKS];
    /// `mmu_interval_read_begin`.
    ReadBegins = 2, READ_ENTRY[TASKS];
    /// `mmu_interval_notifier_remove`.
    Removes = 3, REMOVE_ENTRY[TASKS];
    /// `hmm_range_fault`.
    Faults = 4, FAULT_ENTRY[4096];
    /// `migrate_vma_setup`, `_pages`, `_finalize`.
    Migrations = 5, MIGRATE_ENTRY[4096];
    /// `migrate_device_range`, `_pages`, `_finalize`.
    Evictions = 6, EVICT_ENTRY[4096];
    /// `make_device_exclusive`.
    Exclusives = 7, EXCLUSIVE_ENTRY[4096];
}

/// A task's call in [`CALLS`]: `task` (its `pid_tgid`, 0 = free) and the family's tag.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct Slot {
    task: u64,
    tag: u64,
    entry: Entry,
}

/// Entry → return state, one slot per thread id modulo the size: an array slot is claimed
/// and freed with an atomic exchange each, where a hash map's insert, lookup and delete
/// cost about 600 instructions per call (kprobe mode's cycle paid that three times). A
/// task whose slot is held — by a task whose id collides with its own (or by such a
/// task's leftover: a return the kernel skipped), or by its own call of another family it
/// is nested in — uses the family's hash map instead, so no call's state is ever lost or
/// overwritten by another's. The hash maps are plain, not
/// LRU: a hash map's bucket lock detects a program re-entering it on the same CPU and
/// fails the call instead of spinning, while the LRU's free-list locks have no such guard
/// (with the rules' hooks on lock functions and the scheduler, a guest deadlocked once in
/// a few runs with LRU slots).
#[map]
static CALLS: Array<Slot> = Array::with_max_entries(TASKS, 0);

/// Compares `*word` with `old` and, if equal, sets it to `new`; returns what it held.
///
/// # Safety
/// `word` is a valid, aligned 8-byte map value word.
#[inline(always)]
unsafe fn cmpxchg(word: *mut u64, old: u64, new: u64) -> u64 {
    let mut held = old;
    // SAFETY: the caller's contract; BPF_ATOMIC | BPF_CMPXCHG (fully ordered).
    unsafe {
        core::arch::asm!(
            "r0 = cmpxchg_64({w} + 0, r0, {n})",
            w = in(reg) word,
            n = in(reg) new,
            inout("r0") held,
        )
    };
    held
}

/// Records the call of task `key` (its `pid_tgid`).
#[inline(always)]
pub fn stash<C: Calls>(key: u64, entry: &Entry) {
    if key != 0
        && let Some(slot) = CALLS.get_ptr_mut(key as u32 % TASKS)
    {
        // SAFETY: a valid map value; `task` is claimed atomically, and only the claimer
        // touches the rest until it frees the slot.
        unsafe {
            let held = cmpxchg(&raw mut (*slot).task, 0, key);
            // Free, or this task's own leftover of the same family (a return the kernel
            // skipped): a slot of its own held by another family is a call it is inside.
            if held == 0 || (held == key && (*slot).tag == C::TAG) {
                (*slot).tag = C::TAG;
                (*slot).entry = *entry;
                return;
            }
        }
    }
    let _ = C::overflow().insert(key, entry, 0);
}

/// Takes the call of task `key` out (None if no call was recorded: the tool attached in
/// the middle of it).
#[inline(always)]
pub fn take<C: Calls>(key: u64) -> Option<Entry> {
    if key != 0
        && let Some(slot) = CALLS.get_ptr_mut(key as u32 % TASKS)
    {
        // SAFETY: as in `stash`; the entry is copied out before the slot is freed (with
        // a fully ordered exchange, so no other task's claim can overtake the copy).
        unsafe {
            if read_volatile(&raw const (*slot).task) == key && (*slot).tag == C::TAG {
                let entry = (*slot).entry;
                cmpxchg(&raw mut (*slot).task, key, 0);
                return Some(entry);
            }
        }
    }
    let overflow = C::overflow();
    // SAFETY: the value is copied out before the entry is removed.
    let entry = unsafe { overflow.get(key) }.copied()?;
    let _ = overflow.remove(key);
    Some(entry)
}

/// A context map (see `enter_context`): a range start can make removes and read_begins
/// wait.
#[map]
pub static RANGE_ENTRY: HashMap<u64, Entry> = HashMap::with_max_entries(TASKS, 0);

/// Tasks inside a driver callback: presence is the state (see `enter_context`).
#[map]
pub static CALLBACK_ENTRY: HashMap<u64, Entry> = HashMap::with_max_entries(TASKS, 0);

/// How many entries CALLBACK_ENTRY, RANGE_ENTRY, OPEN_RANGE and HELD hold together
/// (index 0): tasks inside a callback, inside a range start, holding an invalidation open,
/// or holding a lock learned from a callback. Outside invalidations it is 0, and insert, remove, read_begin and the rules'
/// allocation hooks skip their three per-task lookups. A 0 never hides the asking task's
/// own entry: the task added it itself, earlier in its own program order.
#[map]
static IN_CONTEXT: Array<u64> = Array::with_max_entries(1, 0);

/// Adds `delta` (wrapping: u64::MAX is -1) to a one-slot counter.
#[inline(always)]
fn count(counter: &Array<u64>, delta: u64) {
    if let Some(n) = counter.get_ptr_mut(0) {
        // SAFETY: a valid, aligned 8-byte map value; every update is this atomic add.
        unsafe {
            core::arch::asm!("lock *(u64 *)({n} + 0) += {d}", n = in(reg) n, d = in(reg) delta)
        };
    }
}

/// Whether any task may be in a context the per-task maps record.
#[inline(always)]
pub fn any_in_context() -> bool {
    IN_CONTEXT.get(0).is_some_and(|&n| n != 0)
}

/// Sets the current task's entry in a context map, counting it if it is new.
#[inline(always)]
pub fn enter_context<V>(map: &HashMap<u64, V>, value: &V) {
    let key = task_key();
    if map.insert(key, value, BPF_NOEXIST as u64).is_ok() {
        count(&IN_CONTEXT, 1);
    } else {
        let _ = map.insert(key, value, BPF_EXIST as u64);
    }
}

/// Removes the current task's entry from a context map, if it has one.
#[inline(always)]
pub fn leave_context<V>(map: &HashMap<u64, V>) {
    if map.remove(task_key()).is_ok() {
        count(&IN_CONTEXT, u64::MAX); // -1
    }
}

/// Notifiers the kernel queued on `deferred_list` (pending inserts), value = their mm;
/// swept after every `mn_itree_inv_end`.
#[map]
pub static DEFERRED: HashMap<u64, u64> = HashMap::with_max_entries(4096, 0);

/// How many notifiers DEFERRED holds (index 0): the sweep after every `inv_end` (a walk of
/// every bucket) and the lookup in every remove run only while an insert is pending, which
/// is almost never. Exact, not a hint: it moves only with an insertion or deletion that
/// succeeded, so a notifier added on one CPU is never missed by a remove on another.
#[map]
static DEFERRED_COUNT: Array<u64> = Array::with_max_entries(1, 0);

/// Records a pending insert.
#[inline(always)]
pub fn deferred_add(sub: u64, mm: u64) {
    if DEFERRED.insert(sub, mm, BPF_NOEXIST as u64).is_ok() {
        count(&DEFERRED_COUNT, 1);
    } else {
        let _ = DEFERRED.insert(sub, mm, BPF_EXIST as u64);
    }
}

/// Forgets a pending insert (no-op if it is not pending).
#[inline(always)]
pub fn deferred_forget(sub: u64) {
    if any_deferred() && DEFERRED.remove(sub).is_ok() {
        deferred_forgotten();
    }
}

/// Counts a notifier deleted from DEFERRED.
#[inline(always)]
pub fn deferred_forgotten() {
    count(&DEFERRED_COUNT, u64::MAX); // -1
}

/// Whether DEFERRED may hold anything.
#[inline(always)]
pub fn any_deferred() -> bool {
    DEFERRED_COUNT.get(0).is_some_and(|&n| n != 0)
}

/// Per task, the locks learned from callbacks that it holds right now (outside callbacks),
/// maintained by the rules' lock hooks. Four slots: the chains in question nest one or two
/// driver locks deep.
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct Held {
    pub locks: [u64; 4],
}

#[map]
pub static HELD: HashMap<u64, Held> = HashMap::with_max_entries(TASKS, 0);
