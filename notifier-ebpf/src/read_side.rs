//! `mmu_interval_read_begin`: the driver's read side. Time between entry and return is time
//! the driver was blocked because this very interval was being invalidated.

use aya_ebpf::{
    macros::{fentry, fexit, kprobe, kretprobe},
    programs::{FEntryContext, FExitContext, ProbeContext, RetProbeContext},
};
use notifier_common::EventKind;

use crate::{
    context::{held_callback_lock, task_flags},
    emit::{emit, is_self, now, task_key},
    filter,
    kernel::{off, read},
    maps::{Entry, READ_ENTRY},
};

#[fentry(function = "mmu_interval_read_begin")]
pub fn read_begin_fentry(ctx: FEntryContext) -> u32 {
    on_entry(ctx.arg(0));
    0
}

#[fexit(function = "mmu_interval_read_begin")]
pub fn read_begin_fexit(ctx: FExitContext) -> u32 {
    on_return(ctx.ret().unwrap_or(0));
    0
}

#[kprobe]
pub fn read_begin_kprobe(ctx: ProbeContext) -> u32 {
    if let Some(sub) = ctx.arg::<u64>(0) {
        on_entry(sub);
    }
    0
}

#[kretprobe]
pub fn read_begin_kretprobe(ctx: RetProbeContext) -> u32 {
    on_return(ctx.ret());
    0
}

fn on_entry(sub: u64) {
    if is_self() {
        return;
    }
    // Where read_begin is called from is only known at entry; it travels in arg1/arg2.
    let mm: u64 = read(sub, off!(sub_mm)).unwrap_or(0);
    if !filter::wanted(mm) {
        return;
    }
    let entry = Entry {
        ts: now(),
        arg0: sub,
        arg1: task_flags(mm) as u64,
        arg2: held_callback_lock(),
    };
    let _ = READ_ENTRY.insert(&task_key(), &entry, 0);
}

fn on_return(seq: u64) {
    let key = task_key();
    // SAFETY: value copied out before removal.
    let Some(entry) = (unsafe { READ_ENTRY.get(&key) }).copied() else {
        return;
    };
    let _ = READ_ENTRY.remove(&key);
    let dur = now() - entry.ts;
    let sub = entry.arg0;
    let mm: u64 = read(sub, off!(sub_mm)).unwrap_or(0);
    let start: u64 = read(sub, off!(sub_start)).unwrap_or(0);
    let last: u64 = read(sub, off!(sub_last)).unwrap_or(0);
    emit(EventKind::ReadBegin, |e| {
        e.sub = sub;
        e.mm = mm;
        e.start = start;
        e.last = last;
        e.seq = seq;
        e.dur_ns = dur;
        e.flags = entry.arg1 as u8;
        e.aux = entry.arg2;
    });
}
