//! `mmu_interval_read_begin`: the driver's read side. Time between entry and return is time
//! the driver was blocked because this very interval was being invalidated.

use aya_ebpf::{
    macros::{fentry, fexit, kprobe, kretprobe},
    programs::{
        FEntryContext, FExitContext, ProbeContext, RetProbeContext, tracing::StackIdContext,
    },
};
use notifier_common::{DUR_UNKNOWN, EventKind, Waiter};

use crate::{
    emit::emit_as,
    filter,
    kernel::{Mem, Probed, Typed, bounds, off},
    maps::{Entry, ReadBegins, stash, take},
    rules,
    task::{is_self_task, now, task_key},
};

#[fentry(function = "mmu_interval_read_begin")]
pub fn read_begin_fentry(ctx: FEntryContext) -> u32 {
    on_entry::<Typed, _>(&ctx, ctx.arg(0));
    0
}

#[fexit(function = "mmu_interval_read_begin")]
pub fn read_begin_fexit(ctx: FExitContext) -> u32 {
    on_return::<Typed>(ctx.ret().unwrap_or(0), Some(ctx.arg(0)));
    0
}

#[kprobe]
pub fn read_begin_kprobe(ctx: ProbeContext) -> u32 {
    if let Some(sub) = ctx.arg::<u64>(0) {
        on_entry::<Probed, _>(&ctx, sub);
    }
    0
}

#[kretprobe]
pub fn read_begin_kretprobe(ctx: RetProbeContext) -> u32 {
    on_return::<Probed>(ctx.ret(), None);
    0
}

fn on_entry<M: Mem, C: StackIdContext>(ctx: &C, sub: u64) {
    let task = task_key();
    if is_self_task(task) {
        return;
    }
    let mm: u64 = M::read(sub, off!(sub_mm)).unwrap_or(0);
    if !filter::wanted(mm) {
        return;
    }
    let ts = now();
    // Where read_begin is called from is only known at entry (outside invalidations it is
    // nowhere in particular, found without a lookup); it travels in arg1/arg2, the mm
    // (read here for the filter) in arg3.
    let (where_from, lock) = rules::where_called(ctx, Waiter::ReadBegin, sub, mm);
    let entry = Entry {
        ts,
        arg0: sub,
        arg1: where_from as u64,
        arg2: lock,
        arg3: mm,
    };
    stash::<ReadBegins>(task, &entry);
}

/// `sub` is the fexit's own argument; a kretprobe has none left, and reads the notifier
/// recorded at entry (a plain number, so probed).
fn on_return<M: Mem>(seq: u64, sub: Option<u64>) {
    let task = task_key();
    let ts = now();
    // An entry for another notifier is a leftover (a return the kernel skipped): dropped.
    let entry = take::<ReadBegins>(task).filter(|e| sub.is_none_or(|s| e.arg0 == s));
    let (sub, mm, dur, where_from, lock) = match (entry, sub) {
        (Some(entry), sub) => (
            sub.unwrap_or(entry.arg0),
            entry.arg3,
            ts - entry.ts,
            entry.arg1 as u8,
            entry.arg2,
        ),
        // A call under way when the tool attached: an fexit still knows the notifier.
        (None, Some(sub)) if M::DIRECT => {
            if is_self_task(task) {
                return;
            }
            let mm: u64 = M::read(sub, off!(sub_mm)).unwrap_or(0);
            if !filter::wanted(mm) {
                return;
            }
            (sub, mm, DUR_UNKNOWN, 0, 0)
        }
        (None, _) => return,
    };
    let (start, last) = bounds::<M>(sub).unwrap_or((0, 0));
    emit_as::<M>(EventKind::ReadBegin, task, ts, |e| {
        e.sub = sub;
        e.mm = mm;
        e.start = start;
        e.last = last;
        e.seq = seq;
        e.dur_ns = dur;
        e.flags = where_from;
        e.aux = lock;
    });
}
