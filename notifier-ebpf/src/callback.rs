//! Driver invalidate callbacks (`ops->invalidate`, or 7.x `ops->invalidate_start`).
//!
//! The core's iteration over the tree is inlined on every kernel since 5.13, so the only
//! place to see each invocation is the driver's function itself. Userspace learns the
//! function from each insert's ops pointer and attaches these kprobes to it by name. One
//! kprobe program serves any number of targets, which fentry cannot (a fentry program is
//! verified against one target), hence kprobes here on every kernel. Arguments on every
//! version: (sub, range, cur_seq).

use aya_ebpf::{
    macros::{kprobe, kretprobe},
    programs::{ProbeContext, RetProbeContext},
};
use notifier_common::{EventKind, MMU_NOTIFIER_RANGE_BLOCKABLE, flags};

use crate::{
    emit::emit,
    filter,
    kernel::{off, range, read},
    maps::{CALLBACK_ENTRY, Entry, enter_context, leave_context},
    task::{is_self, now, task_key},
};

#[kprobe]
pub fn callback_kprobe(ctx: ProbeContext) -> u32 {
    if is_self() {
        return 0;
    }
    let (Some(sub), Some(r), Some(seq)) = (ctx.arg::<u64>(0), ctx.arg::<u64>(1), ctx.arg::<u64>(2))
    else {
        return 0;
    };
    let entry = Entry {
        ts: now(),
        arg0: sub,
        arg1: r,
        arg2: seq,
        arg3: 0,
    };
    enter_context(&CALLBACK_ENTRY, &entry);
    0
}

#[kretprobe]
pub fn callback_kretprobe(ctx: RetProbeContext) -> u32 {
    // SAFETY: value copied out before removal.
    let Some(entry) = (unsafe { CALLBACK_ENTRY.get(task_key()) }).copied() else {
        return 0;
    };
    leave_context(&CALLBACK_ENTRY);
    let dur = now() - entry.ts;
    let ret: u64 = ctx.ret();
    let sub = entry.arg0;
    let mm: u64 = read(sub, off!(sub_mm)).unwrap_or(0);
    if !filter::wanted(mm) {
        return 0;
    }
    let rg = range(entry.arg1);
    emit(EventKind::Callback, |e| {
        e.sub = sub;
        e.mm = mm;
        e.aux = entry.arg2;
        e.ret = (ret & 0xff) as i32;
        e.dur_ns = dur;
        match &rg {
            Ok(rg) => {
                e.start = rg.start;
                e.last = rg.end.wrapping_sub(1);
                e.event = rg.event as u8;
                if rg.flags & MMU_NOTIFIER_RANGE_BLOCKABLE != 0 {
                    e.flags |= flags::BLOCKABLE;
                }
            }
            Err(_) => e.flags |= flags::PARTIAL,
        }
    });
    0
}
