//! Deferred inserts becoming live.
//!
//! An insert made while an invalidation holds the tree frozen is queued on `deferred_list`
//! and linked in by the last `mn_itree_inv_end`. The insert hook records such notifiers in
//! `DEFERRED`; after every `mn_itree_inv_end` this sweep reports (and forgets) the ones
//! whose rb node is no longer empty. `mn_itree_inv_end` is static but out of line on every
//! kernel checked; the obvious alternative, the shared `interval_tree_insert`, lives in
//! lib/ and is neither ftrace- nor kprobe-able on 7.x.

use core::ffi::c_void;

use aya_ebpf::{
    helpers::{bpf_for_each_map_elem, bpf_map_delete_elem},
    macros::{fexit, kretprobe},
    programs::{FExitContext, RetProbeContext},
};
use notifier_common::EventKind;

use crate::{
    emit::emit,
    filter,
    kernel::{off, read},
    maps::{DEFERRED, any_deferred, deferred_forgotten},
};

#[fexit(function = "mn_itree_inv_end")]
pub fn inv_end_fexit(_ctx: FExitContext) -> u32 {
    sweep();
    0
}

#[kretprobe]
pub fn inv_end_kretprobe(_ctx: RetProbeContext) -> u32 {
    sweep();
    0
}

fn sweep() {
    if !any_deferred() {
        return;
    }
    // SAFETY: DEFERRED is a map definition (repr(transparent) over bpf_map_def); the
    // callback has the signature bpf_for_each_map_elem requires. (No callback context:
    // 6.12's verifier rejected a stack pointer there with EFAULT.)
    unsafe {
        bpf_for_each_map_elem(
            &raw const DEFERRED as *mut c_void,
            check_one as *mut c_void,
            core::ptr::null_mut(),
            0,
        )
    };
}

/// `long (*)(struct bpf_map *map, const void *key, void *value, void *ctx)`.
extern "C" fn check_one(
    map: *mut c_void,
    key: *const u64,
    value: *const u64,
    _ctx: *mut c_void,
) -> i64 {
    // SAFETY: the kernel passes valid key and value pointers of this map's types.
    let (sub, mm) = unsafe { (*key, *value) };
    // Still an empty rb node (RB_CLEAR_NODE: parent == itself): still pending.
    if read::<u64>(sub, 0).unwrap_or(sub) == sub {
        return 0;
    }
    // SAFETY: deleting the element being visited is allowed for hash maps. Only the
    // deleter of an entry counts it out (a remove on another CPU may race this one).
    if unsafe { bpf_map_delete_elem(map, key as *const c_void) } != 0 {
        return 0;
    }
    deferred_forgotten();
    if !filter::wanted(mm) {
        return 0;
    }
    let start: u64 = read(sub, off!(sub_start)).unwrap_or(0);
    let last: u64 = read(sub, off!(sub_last)).unwrap_or(0);
    emit(EventKind::DeferredInsertApplied, |e| {
        e.mm = mm;
        e.sub = sub;
        e.start = start;
        e.last = last;
    });
    0
}
