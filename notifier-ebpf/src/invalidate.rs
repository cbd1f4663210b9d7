//! The invalidation bracket: `__mmu_notifier_invalidate_range_start` / `_end`.
//!
//! The start is reported at return, with the time spent in all callbacks and the result
//! (-EAGAIN from a non-blockable start means no end will follow). The range pointer keys the
//! pair. The first argument is the range on every kernel (5.10/6.1 add a second to `_end`,
//! which is never read).

use aya_ebpf::{
    macros::{fentry, fexit, kprobe, kretprobe},
    programs::{FEntryContext, FExitContext, ProbeContext, RetProbeContext},
};
use notifier_common::{EventKind, MMU_NOTIFIER_RANGE_BLOCKABLE, flags};

use crate::{
    context::OPEN_RANGE,
    emit::emit,
    filter,
    kernel::range,
    maps::{Entry, RANGE_ENTRY, enter_context, leave_context},
    task::{is_self, now, task_key},
};

#[fentry(function = "__mmu_notifier_invalidate_range_start")]
pub fn range_start_fentry(ctx: FEntryContext) -> u32 {
    on_start_entry(ctx.arg(0));
    0
}

#[fexit(function = "__mmu_notifier_invalidate_range_start")]
pub fn range_start_fexit(ctx: FExitContext) -> u32 {
    let ret: i64 = ctx.ret().unwrap_or(0);
    on_start_return(ret as i32);
    0
}

#[fentry(function = "__mmu_notifier_invalidate_range_end")]
pub fn range_end_fentry(ctx: FEntryContext) -> u32 {
    on_end(ctx.arg(0));
    0
}

#[kprobe]
pub fn range_start_kprobe(ctx: ProbeContext) -> u32 {
    if let Some(r) = ctx.arg::<u64>(0) {
        on_start_entry(r);
    }
    0
}

#[kretprobe]
pub fn range_start_kretprobe(ctx: RetProbeContext) -> u32 {
    let ret: i64 = ctx.ret();
    on_start_return(ret as i32);
    0
}

#[kprobe]
pub fn range_end_kprobe(ctx: ProbeContext) -> u32 {
    if let Some(r) = ctx.arg::<u64>(0) {
        on_end(r);
    }
    0
}

fn on_start_entry(r: u64) {
    if is_self() {
        return;
    }
    // A context from here on: the kernel marks the tree invalidating inside the call, and
    // a remove or read_begin meanwhile can wait for it (see `maps::any_in_context`).
    enter_context(
        &RANGE_ENTRY,
        &Entry {
            ts: now(),
            arg0: r,
            arg1: 0,
            arg2: 0,
            arg3: 0,
        },
    );
}

fn on_start_return(ret: i32) {
    // SAFETY: value copied out.
    let Some(entry) = (unsafe { RANGE_ENTRY.get(task_key()) }).copied() else {
        return;
    };
    let mm = report(EventKind::RangeStart, entry.arg0, ret, now() - entry.ts);
    // -EAGAIN: the core already ran inv_end and no range end will follow.
    if ret == 0 && mm != 0 {
        enter_context(&OPEN_RANGE, &mm);
    }
    // Left after the open range is entered: the context count never drops to 0 between.
    leave_context(&RANGE_ENTRY);
}

fn on_end(r: u64) {
    leave_context(&OPEN_RANGE);
    report(EventKind::RangeEnd, r, 0, 0);
}

/// Emits one bracket event; returns the range's mm (0 if unreadable).
fn report(kind: EventKind, r: u64, ret: i32, dur: u64) -> u64 {
    if is_self() {
        return 0;
    }
    let rg = range(r);
    let mm = rg.as_ref().map(|rg| rg.mm).unwrap_or(0);
    if !filter::wanted(mm) {
        return mm;
    }
    emit(kind, |e| {
        e.sub = r;
        e.ret = ret;
        e.dur_ns = dur;
        match &rg {
            Ok(rg) => {
                e.mm = rg.mm;
                e.start = rg.start;
                e.last = rg.end.wrapping_sub(1);
                e.event = rg.event as u8;
                if rg.flags & MMU_NOTIFIER_RANGE_BLOCKABLE != 0 {
                    e.flags = flags::BLOCKABLE;
                }
            }
            Err(_) => e.flags = flags::PARTIAL,
        }
    });
    mm
}
