//! Maps shared by the hook families.

use aya_ebpf::{
    bindings::{BPF_EXIST, BPF_NOEXIST},
    macros::map,
    maps::{Array, HashMap, PerCpuArray, RingBuf},
};
use notifier_common::{DUR_UNKNOWN, RING_BYTES};

use core::ptr::{read_volatile, write_volatile};

use crate::{filter, kernel::context_switches, task::task_key};

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
    pub arg3: u64,
}

const TASKS: u32 = 16384;

/// Entry → return state per task. Plain hash maps, not LRU: a hash map's bucket lock
/// detects a program re-entering it on the same CPU and fails the call instead of
/// spinning, while the LRU's free-list locks have no such guard — with the rules' hooks on
/// lock functions and the scheduler, a guest deadlocked once in a few runs with LRU slots.
#[map]
pub static INSERT_ENTRY: HashMap<u64, Entry> = HashMap::with_max_entries(TASKS, 0);
#[map]
pub static REMOVE_ENTRY: HashMap<u64, Entry> = HashMap::with_max_entries(TASKS, 0);
/// A context map (see `enter_context`): a range start can make removes and read_begins
/// wait.
#[map]
pub static RANGE_ENTRY: HashMap<u64, Entry> = HashMap::with_max_entries(TASKS, 0);
#[map]
pub static READ_ENTRY: HashMap<u64, Entry> = HashMap::with_max_entries(TASKS, 0);

/// A call's entry on one CPU, for a return hook that finds no per-task entry (see
/// `notifier_common::DUR_UNKNOWN`): an array slot costs a fraction of a hash map's
/// insert and delete. fentry/fexit only (they run preemptible on preemptible kernels, so
/// another task's call may take the slot meanwhile; `switches` tells).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct Quick {
    pub task: u64,
    pub sub: u64,
    pub ts: u64,
    /// The task's context switches at entry (`kernel::context_switches`).
    pub switches: u64,
}

#[map]
pub static READ_QUICK: PerCpuArray<Quick> = PerCpuArray::with_max_entries(1, 0);
#[map]
pub static REMOVE_QUICK: PerCpuArray<Quick> = PerCpuArray::with_max_entries(1, 0);

/// Notes this CPU's call of task `task` on `sub`, entered at `ts`; false when the task's
/// context switches cannot be read (the caller keeps a per-task entry instead).
#[inline(always)]
pub fn note_quick(slot: &PerCpuArray<Quick>, task: u64, sub: u64, ts: u64) -> bool {
    let (Some(switches), Some(q)) = (context_switches(), slot.get_ptr_mut(0)) else {
        return false;
    };
    // SAFETY: this CPU's slot, written field by field with the owner last: a task that
    // took the slot while this program was preempted leaves fields of its own, and then
    // either the owner or the switch count (this task's changed) fails the return's check.
    unsafe {
        write_volatile(&raw mut (*q).sub, sub);
        write_volatile(&raw mut (*q).ts, ts);
        write_volatile(&raw mut (*q).switches, switches);
        write_volatile(&raw mut (*q).task, task);
    }
    true
}

/// The entry time noted on this CPU for task `task`'s call on `sub`, taken out of the
/// slot: only if the task has not switched since it noted it, so the slot is the one it
/// wrote, on this CPU, and no other task wrote it since.
#[inline(always)]
pub fn take_quick(slot: &PerCpuArray<Quick>, task: u64, sub: u64) -> Option<u64> {
    let before = context_switches()?;
    let q = slot.get_ptr_mut(0)?;
    // SAFETY: as in `note_quick`; read back with the switch count checked again after, so
    // a preemption of this program mid-read fails the check.
    unsafe {
        let ts = read_volatile(&raw const (*q).ts);
        let mine = read_volatile(&raw const (*q).task) == task
            && read_volatile(&raw const (*q).sub) == sub
            && read_volatile(&raw const (*q).switches) == before;
        if !mine || context_switches()? != before {
            return None;
        }
        write_volatile(&raw mut (*q).task, 0);
        Some(ts)
    }
}

/// For a return that found no per-task entry: the call's duration from this CPU's slot,
/// `DUR_UNKNOWN` without one, or None when the call is not reported (the filter turned
/// it away at entry, which leaves no slot either).
#[inline(always)]
pub fn quick_duration(
    slot: &PerCpuArray<Quick>,
    task: u64,
    sub: u64,
    mm: u64,
    ts: u64,
) -> Option<u64> {
    match take_quick(slot, task, sub) {
        Some(t) => Some(ts.checked_sub(t).unwrap_or(DUR_UNKNOWN)),
        None => filter::wanted(mm).then_some(DUR_UNKNOWN),
    }
}

/// Records the call of task `key` (its `pid_tgid`).
#[inline(always)]
pub fn stash(slots: &HashMap<u64, Entry>, key: u64, entry: &Entry) {
    let _ = slots.insert(key, entry, 0);
}

/// Takes the call of task `key` out (None if no call was recorded: the tool attached in
/// the middle of it).
#[inline(always)]
pub fn take(slots: &HashMap<u64, Entry>, key: u64) -> Option<Entry> {
    // SAFETY: the value is copied out before the entry is removed.
    let entry = unsafe { slots.get(key) }.copied()?;
    let _ = slots.remove(key);
    Some(entry)
}

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

#[inline(always)]
fn count_context(delta: u64) {
    if let Some(n) = IN_CONTEXT.get_ptr_mut(0) {
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
        count_context(1);
    } else {
        let _ = map.insert(key, value, BPF_EXIST as u64);
    }
}

/// Removes the current task's entry from a context map, if it has one.
#[inline(always)]
pub fn leave_context<V>(map: &HashMap<u64, V>) {
    if map.remove(task_key()).is_ok() {
        count_context(u64::MAX); // -1
    }
}

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
    if DEFERRED.insert(sub, mm, 0).is_ok() {
        set_deferred_hint(1);
    }
}

/// Forgets a pending insert (no-op if it is not pending). Looked up first: a delete takes
/// the bucket lock even for an absent key, and almost no notifier is pending.
#[inline(always)]
pub fn deferred_forget(sub: u64) {
    if DEFERRED.get_ptr(sub).is_some() {
        let _ = DEFERRED.remove(sub);
    }
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
