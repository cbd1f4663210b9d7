//! The mm's notifier lifecycle: registration (interval-tree mode when `sub` is NULL),
//! `exit_mmap` (release: every interval gets a RELEASE callback but stays registered), and
//! the final free of the subscriptions (any interval still mirrored then is a mirror bug).

use aya_ebpf::{
    macros::{fentry, fexit, kprobe},
    programs::{FEntryContext, FExitContext, ProbeContext},
};
use notifier_common::EventKind;

use crate::{emit::emit, filter, task::is_self};

#[fexit(function = "__mmu_notifier_register")]
pub fn register_fexit(ctx: FExitContext) -> u32 {
    let ret: i64 = ctx.ret().unwrap_or(0);
    report(EventKind::MmRegister, ctx.arg(1), ctx.arg(0), ret as i32);
    0
}

#[fentry(function = "__mmu_notifier_release")]
pub fn release_fentry(ctx: FEntryContext) -> u32 {
    report(EventKind::MmRelease, ctx.arg(0), 0, 0);
    0
}

#[fentry(function = "__mmu_notifier_subscriptions_destroy")]
pub fn destroy_fentry(ctx: FEntryContext) -> u32 {
    report(EventKind::MmDestroy, ctx.arg(0), 0, 0);
    0
}

/// kprobe mode reports registration at entry: without a return probe the result is
/// unknown, and a failed registration (-ENOMEM/-EINTR) is rare and harmless to the mirror.
#[kprobe]
pub fn register_kprobe(ctx: ProbeContext) -> u32 {
    if let (Some(sub), Some(mm)) = (ctx.arg::<u64>(0), ctx.arg::<u64>(1)) {
        report(EventKind::MmRegister, mm, sub, 0);
    }
    0
}

#[kprobe]
pub fn release_kprobe(ctx: ProbeContext) -> u32 {
    if let Some(mm) = ctx.arg::<u64>(0) {
        report(EventKind::MmRelease, mm, 0, 0);
    }
    0
}

#[kprobe]
pub fn destroy_kprobe(ctx: ProbeContext) -> u32 {
    if let Some(mm) = ctx.arg::<u64>(0) {
        report(EventKind::MmDestroy, mm, 0, 0);
    }
    0
}

fn report(kind: EventKind, mm: u64, sub: u64, ret: i32) {
    // The last mmdrop of an exited process's mm can run in any task: one that borrowed it
    // lazily (lazy TLB) drops it when it switches away, and that task may be notifier-top
    // itself. A destroy is about the mm, not the task: skipping it would keep a freed mm
    // in the mirror and merge the next mm allocated at its address into it.
    if (kind != EventKind::MmDestroy && is_self()) || !filter::wanted(mm) {
        return;
    }
    emit(kind, |e| {
        e.mm = mm;
        e.sub = sub;
        e.ret = ret;
    });
    if kind == EventKind::MmDestroy {
        filter::forget(mm);
    }
}
