//! Maps shared by the hook families.

use aya_ebpf::{
    macros::map,
    maps::{Array, HashMap, PerCpuArray, RingBuf},
};
use notifier_common::RING_BYTES;

/// Every event goes here; userspace drains it with an async reader.
#[map]
pub static EVENTS: RingBuf = RingBuf::with_byte_size(RING_BYTES, 0);

/// Events that found the ring buffer full (index 0), so losses are counted, never silent.
#[map]
pub static DROPS: PerCpuArray<u64> = PerCpuArray::with_max_entries(1, 0);

/// Entry state a return probe needs, keyed by `pid_tgid` (a task is in at most one call of
/// a given hook family at a time; families that nest — a callback inside a range start —
/// have their own map).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct Entry {
    pub ts: u64,
    pub arg0: u64,
    pub arg1: u64,
    pub arg2: u64,
}

const TASKS: u32 = 16384;

#[map]
pub static INSERT_ENTRY: HashMap<u64, Entry> = HashMap::with_max_entries(TASKS, 0);
#[map]
pub static REMOVE_ENTRY: HashMap<u64, Entry> = HashMap::with_max_entries(TASKS, 0);
#[map]
pub static RANGE_ENTRY: HashMap<u64, Entry> = HashMap::with_max_entries(TASKS, 0);
#[map]
pub static CALLBACK_ENTRY: HashMap<u64, Entry> = HashMap::with_max_entries(TASKS, 0);
#[map]
pub static READ_ENTRY: HashMap<u64, Entry> = HashMap::with_max_entries(TASKS, 0);

/// Notifiers the kernel queued on `deferred_list` (pending inserts), value = their mm;
/// swept after every `mn_itree_inv_end`.
#[map]
pub static DEFERRED: HashMap<u64, u64> = HashMap::with_max_entries(4096, 0);

/// Set when DEFERRED may hold something (index 0), so the sweep after every `inv_end` — a
/// walk of every bucket — runs only while an insert is pending, which is almost never. A
/// hint, not a count: the sweep clears it before walking and sets it again if anything is
/// still pending, so no insert can slip between (plain word stores; no atomics needed).
#[map]
pub static DEFERRED_HINT: Array<u64> = Array::with_max_entries(1, 0);

/// Records a pending insert.
#[inline(always)]
pub fn deferred_add(sub: u64, mm: u64) {
    if DEFERRED.insert(&sub, &mm, 0).is_ok() {
        set_deferred_hint(1);
    }
}

/// Forgets a pending insert (no-op if it is not pending).
#[inline(always)]
pub fn deferred_forget(sub: u64) {
    let _ = DEFERRED.remove(&sub);
}

#[inline(always)]
pub fn set_deferred_hint(v: u64) {
    if let Some(h) = DEFERRED_HINT.get_ptr_mut(0) {
        // SAFETY: a valid map value; an aligned 8-byte store is a single write.
        unsafe { core::ptr::write_volatile(h, v) };
    }
}

#[inline(always)]
pub fn deferred_hint() -> bool {
    DEFERRED_HINT.get(0).is_some_and(|&h| h != 0)
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
