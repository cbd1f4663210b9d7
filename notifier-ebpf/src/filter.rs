//! The in-kernel process filter (`--pid`, `--comm`, `--owner`).
//!
//! The unit of selection is the address space: an mm is selected the first time a matching
//! task inserts into it (or the walk finds it), and from then on every event on it is
//! reported — so the mirror of a selected mm is complete, never a subset of its intervals.
//! Events on other mms stop before the ring buffer: unrelated processes cost a map lookup.

use aya_ebpf::{
    helpers::bpf_get_current_comm,
    macros::map,
    maps::{Array, HashMap, LruHashMap},
};
use notifier_common::filter::{
    BY_COMM, BY_OWNER, BY_PID, Config, MAX_COMMS, MAX_OWNER_RANGES, MAX_PIDS,
};

/// Which criteria are set and how many owner ranges `FILTER_OWNERS` holds; patched by the
/// loader like `LAYOUT`, so an unfiltered session pays nothing for the filter.
#[unsafe(no_mangle)]
pub static FILTER: Config = Config::NONE;
#[map]
static FILTER_PIDS: HashMap<u32, u8> = HashMap::with_max_entries(MAX_PIDS, 0);
#[map]
static FILTER_COMMS: HashMap<[u8; 16], u8> = HashMap::with_max_entries(MAX_COMMS, 0);
/// Text ranges `[first, last]` of the selected owners (a module's functions, or one
/// function): a callback (`ops->invalidate`) inside one belongs to a selected owner.
#[map]
static FILTER_OWNERS: Array<[u64; 2]> = Array::with_max_entries(MAX_OWNER_RANGES, 0);

/// Selected mms. LRU: a selected mm that is never destroyed under our eyes ages out rather
/// than filling the map.
#[map]
static SELECTED: LruHashMap<u64, u8> = LruHashMap::with_max_entries(65536, 0);

#[inline(always)]
fn criteria() -> u32 {
    // SAFETY: a plain read of our own global; volatile so the placeholder is not folded in.
    unsafe { core::ptr::read_volatile(&raw const FILTER.criteria) }
}

#[inline(always)]
fn selected(mm: u64) -> bool {
    // SAFETY: presence check only.
    unsafe { SELECTED.get(mm) }.is_some()
}

/// Whether events on `mm` are reported.
#[inline(always)]
pub fn wanted(mm: u64) -> bool {
    criteria() == 0 || selected(mm)
}

/// Whether a process filter is set (events of no address space are then not reported).
#[inline(always)]
pub fn active() -> bool {
    criteria() != 0
}

/// For an insert by the current task of an interval whose callback is `func`: whether it is
/// reported, selecting `mm` when the task and owner match.
#[inline(always)]
pub fn admit_insert(mm: u64, tgid: u32, func: u64) -> bool {
    let c = criteria();
    if c == 0 || selected(mm) {
        return true;
    }
    let comm = if c & BY_COMM != 0 {
        bpf_get_current_comm().unwrap_or_default()
    } else {
        [0; 16]
    };
    if task_matches(c, tgid, &comm) && owner_matches(c, func) {
        select(mm);
        return true;
    }
    false
}

/// For the walk: whether the task's mm needs looking at (selected already, or the task
/// matches the pid/comm criteria; the owner criterion is checked interval by interval).
#[inline(always)]
pub fn task_admissible(mm: u64, tgid: u32, comm: &[u8; 16]) -> bool {
    let c = criteria();
    c == 0 || selected(mm) || task_matches(c, tgid, comm)
}

/// Whether the walk must find an interval of a selected owner before reporting `mm`.
#[inline(always)]
pub fn needs_owner(mm: u64) -> bool {
    criteria() & BY_OWNER != 0 && !selected(mm)
}

#[inline(always)]
pub fn owner_matches(c: u32, func: u64) -> bool {
    if c & BY_OWNER == 0 {
        return true;
    }
    // SAFETY: as in `criteria`.
    let n = unsafe { core::ptr::read_volatile(&raw const FILTER.owner_ranges) };
    for i in 0..MAX_OWNER_RANGES {
        if i >= n {
            break;
        }
        if let Some(&[first, last]) = FILTER_OWNERS.get(i)
            && (first..=last).contains(&func)
        {
            return true;
        }
    }
    false
}

#[inline(always)]
pub fn owner_selected(func: u64) -> bool {
    owner_matches(criteria(), func)
}

#[inline(always)]
fn task_matches(c: u32, tgid: u32, comm: &[u8; 16]) -> bool {
    // SAFETY: presence checks only.
    (c & BY_PID == 0 || unsafe { FILTER_PIDS.get(tgid) }.is_some())
        && (c & BY_COMM == 0 || unsafe { FILTER_COMMS.get(comm) }.is_some())
}

#[inline(always)]
pub fn select(mm: u64) {
    if criteria() != 0 {
        let _ = SELECTED.insert(mm, 1, 0);
    }
}

/// The mm is gone: its address may come back as an unrelated mm.
#[inline(always)]
pub fn forget(mm: u64) {
    if criteria() != 0 {
        let _ = SELECTED.remove(mm);
    }
}
