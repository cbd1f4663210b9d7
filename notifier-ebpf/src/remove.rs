//! `mmu_interval_notifier_remove`: an entry during an invalidation marks the interval
//! "removing" (it may wait there for the invalidation, and callbacks can still run);
//! return means gone.

use aya_ebpf::{
    macros::{fentry, fexit, kprobe, kretprobe},
    programs::{
        FEntryContext, FExitContext, ProbeContext, RetProbeContext, tracing::StackIdContext,
    },
};
use notifier_common::{DUR_UNKNOWN, EventKind, Waiter, flags};

use crate::{
    emit::emit_as,
    filter,
    kernel::{Mem, Probed, Typed, notifier},
    maps::{Entry, Removes, any_in_context, deferred_forget, stash, take},
    rules,
    task::{is_self_task, now, task_key},
};

#[fentry(function = "mmu_interval_notifier_remove")]
pub fn remove_fentry(ctx: FEntryContext) -> u32 {
    on_entry::<Typed, _>(&ctx, ctx.arg(0));
    0
}

#[fexit(function = "mmu_interval_notifier_remove")]
pub fn remove_fexit(ctx: FExitContext) -> u32 {
    on_return::<Typed>(Some(ctx.arg(0)));
    0
}

#[kprobe]
pub fn remove_kprobe(ctx: ProbeContext) -> u32 {
    if let Some(sub) = ctx.arg::<u64>(0) {
        on_entry::<Probed, _>(&ctx, sub);
    }
    0
}

#[kretprobe]
pub fn remove_kretprobe(_ctx: RetProbeContext) -> u32 {
    on_return::<Probed>(None);
    0
}

fn on_entry<M: Mem, C: StackIdContext>(ctx: &C, sub: u64) {
    let task = task_key();
    if is_self_task(task) {
        return;
    }
    // A pending insert removed before it was applied is simply unhooked by the kernel.
    deferred_forget(sub);
    // Plain scalars set on both paths (see insert.rs).
    let (mm, start, last, partial) = match notifier::<M>(sub) {
        Ok(n) => (n.mm, n.start, n.last, 0),
        Err(_) => (0, 0, 0, flags::PARTIAL),
    };
    if !filter::wanted(mm) {
        return;
    }
    let ts = now();
    stash::<Removes>(
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
    // kernel's own check shows in RemoveEnd's duration.)
    if !any_in_context() {
        return;
    }
    let (where_from, lock) = rules::where_called(ctx, Waiter::Remove, sub, mm);
    emit_as::<M>(EventKind::RemoveBegin, task, ts, |e| {
        e.sub = sub;
        e.mm = mm;
        e.start = start;
        e.last = last;
        e.flags = where_from | partial;
        e.aux = lock;
    });
}

/// `sub` is the fexit's own argument (a kretprobe has none left, and its entry always
/// recorded one).
fn on_return<M: Mem>(sub: Option<u64>) {
    let task = task_key();
    let ts = now();
    // An entry for another notifier is a leftover (a return the kernel skipped): dropped.
    let entry = take::<Removes>(task).filter(|e| sub.is_none_or(|s| e.arg0 == s));
    let Some(entry) = entry else {
        if M::DIRECT
            && let Some(sub) = sub
        {
            on_unrecorded_return::<M>(task, sub, ts);
        }
        return;
    };
    emit_as::<M>(EventKind::RemoveEnd, task, ts, |e| {
        e.sub = entry.arg0;
        e.mm = entry.arg1;
        e.start = entry.arg2;
        e.last = entry.arg3;
        // A notifier always has an mm: none means it could not be read at entry.
        if entry.arg1 == 0 {
            e.flags = flags::PARTIAL;
        }
        e.dur_ns = ts - entry.ts;
    });
}

/// The return of a remove under way when the tool attached: the notifier still holds its
/// mm and bounds (remove only unlinks it), only the duration is unknown.
fn on_unrecorded_return<M: Mem>(task: u64, sub: u64, ts: u64) {
    if is_self_task(task) {
        return;
    }
    let (mm, start, last, partial) = match notifier::<M>(sub) {
        Ok(n) => (n.mm, n.start, n.last, 0),
        Err(_) => (0, 0, 0, flags::PARTIAL),
    };
    if !filter::wanted(mm) {
        return;
    }
    emit_as::<M>(EventKind::RemoveEnd, task, ts, |e| {
        e.sub = sub;
        e.mm = mm;
        e.start = start;
        e.last = last;
        e.flags = partial;
        e.dur_ns = DUR_UNKNOWN;
    });
}
