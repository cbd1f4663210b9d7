//! `mmu_interval_notifier_remove`: entry marks the interval "removing" (it may wait there
//! for an in-flight invalidation, and callbacks can still run); return means gone.

use aya_ebpf::{
    macros::{fentry, fexit, kprobe, kretprobe},
    programs::{FEntryContext, FExitContext, ProbeContext, RetProbeContext},
};
use notifier_common::{EventKind, flags};

use crate::{
    context::{held_callback_lock, task_flags},
    emit::{emit_as, is_self_task, now, task_key},
    filter,
    kernel::notifier,
    maps::{Entry, REMOVE_ENTRY, any_in_context, deferred_forget, stash, take},
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
    let task = task_key();
    if is_self_task(task) {
        return;
    }
    // A pending insert removed before it was applied is simply unhooked by the kernel.
    deferred_forget(sub);
    // Plain scalars set on both paths (see insert.rs).
    let (mm, start, last, partial) = match notifier(sub) {
        Ok(n) => (n.mm, n.start, n.last, 0),
        Err(_) => (0, 0, 0, flags::PARTIAL),
    };
    if !filter::wanted(mm) {
        return;
    }
    let ts = now();
    stash(
        &REMOVE_ENTRY,
        task,
        &Entry {
            ts,
            arg0: sub,
            arg1: mm,
            arg2: start,
            arg3: last,
        },
    );
    // Only a remove that can wait is announced at entry: one made while an invalidation
    // is in flight (some task holds a range open), or from inside a callback or an open
    // range — the self-deadlock the rules look for. Any other remove is one event, at
    // return, and half the cost. (An invalidation that starts between here and the
    // kernel's own check still shows, as RemoveEnd's duration.)
    if !any_in_context() {
        return;
    }
    let where_from = task_flags(mm);
    let lock = held_callback_lock();
    emit_as(EventKind::RemoveBegin, task, ts, |e| {
        e.sub = sub;
        e.mm = mm;
        e.start = start;
        e.last = last;
        e.flags = where_from | partial;
        e.aux = lock;
    });
}

fn on_return() {
    let task = task_key();
    let Some(entry) = take(&REMOVE_ENTRY, task) else {
        return;
    };
    let ts = now();
    let dur = ts - entry.ts;
    emit_as(EventKind::RemoveEnd, task, ts, |e| {
        e.sub = entry.arg0;
        e.mm = entry.arg1;
        e.start = entry.arg2;
        e.last = entry.arg3;
        // A notifier always has an mm: none means it could not be read at entry.
        if entry.arg1 == 0 {
            e.flags = flags::PARTIAL;
        }
        e.dur_ns = dur;
    });
}
