//! The kernel applying a deferred insert: the last `mn_itree_inv_end` of an invalidation
//! drains `deferred_list` and calls the shared `interval_tree_insert` for each queued
//! notifier. That function serves every interval tree in the kernel, so only nodes recorded
//! in `DEFERRED` by the insert hook are reported.

use aya_ebpf::{
    macros::{fentry, kprobe},
    programs::{FEntryContext, ProbeContext},
};
use notifier_common::EventKind;

use crate::{
    emit::emit,
    kernel::{layout, read},
    maps::DEFERRED,
};

#[fentry(function = "interval_tree_insert")]
pub fn tree_insert_fentry(ctx: FEntryContext) -> u32 {
    on_tree_insert(ctx.arg(0));
    0
}

#[kprobe]
pub fn tree_insert_kprobe(ctx: ProbeContext) -> u32 {
    if let Some(node) = ctx.arg::<u64>(0) {
        on_tree_insert(node);
    }
    0
}

fn on_tree_insert(node: u64) {
    // SAFETY: value copied out before removal.
    let Some(mm) = (unsafe { DEFERRED.get(&node) }).copied() else {
        return;
    };
    let _ = DEFERRED.remove(&node);
    let l = layout();
    let start: u64 = read(node, l.sub_start).unwrap_or(0);
    let last: u64 = read(node, l.sub_last).unwrap_or(0);
    emit(EventKind::DeferredInsertApplied, |e| {
        e.mm = mm;
        e.sub = node;
        e.start = start;
        e.last = last;
    });
}
