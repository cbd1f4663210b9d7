//! `mmu_interval_notifier_remove`: entry marks the interval "removing" (it may wait there
//! for an in-flight invalidation, and callbacks can still run); return means gone.

use aya_ebpf::{
    macros::{fentry, fexit, kprobe, kretprobe},
    programs::{FEntryContext, FExitContext, ProbeContext, RetProbeContext},
};
use notifier_common::{EventKind, flags};

use crate::{
    context::{held_callback_lock, task_flags},
    emit::{emit, is_self, now, task_key},
    filter,
    kernel::notifier,
    maps::{Entry, REMOVE_ENTRY, deferred_forget},
};

#[fentry(function = "mmu_interval_notifier_remove")]
pub fn remove_fentry(ctx: FEntryContext) -> u32 {
    on_entry(ctx.arg(0));
    0
}

#[fexit(function = "mmu_interval_notifier_remove")]
pub fn remove_fexit(_ctx: FExitContext) -> u32 {
    on_return();
    0
}

#[kprobe]
pub fn remove_kprobe(ctx: ProbeContext) -> u32 {
    if let Some(sub) = ctx.arg::<u64>(0) {
        on_entry(sub);
    }
    0
}

#[kretprobe]
pub fn remove_kretprobe(_ctx: RetProbeContext) -> u32 {
    on_return();
    0
}

fn on_entry(sub: u64) {
    if is_self() {
        return;
    }
    // A pending insert removed before it was applied is simply unhooked by the kernel.
    deferred_forget(sub);
    let n = notifier(sub);
    let mm = n.as_ref().map(|n| n.mm).unwrap_or(0);
    if !filter::wanted(mm) {
        return;
    }
    let _ = REMOVE_ENTRY.insert(
        &task_key(),
        &Entry {
            ts: now(),
            arg0: sub,
            arg1: mm,
            arg2: 0,
        },
        0,
    );
    let where_from = task_flags(mm);
    let lock = held_callback_lock();
    emit(EventKind::RemoveBegin, |e| {
        e.sub = sub;
        e.flags = where_from;
        e.aux = lock;
        match &n {
            Ok(n) => {
                e.mm = n.mm;
                e.start = n.start;
                e.last = n.last;
            }
            Err(_) => e.flags |= flags::PARTIAL,
        }
    });
}

fn on_return() {
    let key = task_key();
    // SAFETY: value copied out before removal.
    let Some(entry) = (unsafe { REMOVE_ENTRY.get(&key) }).copied() else {
        return;
    };
    let _ = REMOVE_ENTRY.remove(&key);
    let dur = now() - entry.ts;
    emit(EventKind::RemoveEnd, |e| {
        e.sub = entry.arg0;
        e.mm = entry.arg1;
        e.dur_ns = dur;
    });
}
