//! Where the current task is, relative to the invalidation machinery, when it calls into
//! it: inside a driver callback, or holding an invalidation of some mm open. Remove and
//! read_begin from such a place wait for an `inv_end` only this very task can perform (the
//! kernel documents "cannot be called from any ops callback"); lockdep would catch it only
//! on debug kernels.

use aya_ebpf::{helpers::bpf_get_current_task, macros::map, maps::HashMap};
use notifier_common::{MISSING, flags, mmap_lock};

use crate::{
    kernel::{Mem, off},
    maps::{CALLBACK_ENTRY, HELD, any_in_context},
    task::task_key,
};

/// Tasks between a successful range start and its end: value = the mm (a context map:
/// see `maps::enter_context`).
#[map]
pub static OPEN_RANGE: HashMap<u64, u64> = HashMap::with_max_entries(16384, 0);

/// IN_CALLBACK / IN_RANGE bits for the current task calling into `mm`.
#[inline(always)]
pub fn task_flags(mm: u64) -> u8 {
    if !any_in_context() {
        return 0;
    }
    let key = task_key();
    let mut f = 0;
    if CALLBACK_ENTRY.get_ptr(key).is_some() {
        f |= flags::IN_CALLBACK;
    }
    // SAFETY: value copied out.
    if mm != 0 && unsafe { OPEN_RANGE.get(key) }.copied() == Some(mm) {
        f |= flags::IN_RANGE;
    }
    f
}

/// A lock learned from callbacks that the current task holds (0 if none, or if the lock
/// hooks are not attached): held across read_begin or remove, it closes a wait cycle with
/// the callback that needs it.
#[inline(always)]
pub fn held_callback_lock() -> u64 {
    if !any_in_context() {
        return 0;
    }
    // SAFETY: value copied out.
    let Some(held) = (unsafe { HELD.get(task_key()) }).copied() else {
        return 0;
    };
    held.locks.into_iter().find(|&l| l != 0).unwrap_or(0)
}

/// Whether the current task holds `mm->mmap_lock` for write: the rwsem owner word holds the
/// writer's task pointer with flag bits in the low 3 bits (bit 0 = reader-owned).
#[inline(always)]
pub fn mmap_lock_state<M: Mem>(mm: u64) -> u8 {
    if off!(mm_mmap_lock_owner) == MISSING {
        return mmap_lock::UNKNOWN;
    }
    let Ok(owner) = M::read::<u64>(mm, off!(mm_mmap_lock_owner)) else {
        return mmap_lock::UNKNOWN;
    };
    // SAFETY: helper without preconditions.
    let current = unsafe { bpf_get_current_task() };
    if owner & 1 == 0 && owner & !7 == current {
        mmap_lock::WRITE_HELD
    } else {
        mmap_lock::NOT_WRITE_HELD
    }
}
