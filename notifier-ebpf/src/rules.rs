//! Hooks for the hazard rules (attached only when rules run: they sit on hot paths).
//!
//! Every hook filters in the kernel first — "is this task inside a driver callback?" (the
//! callback kprobe's entry map) or "does it hold a lock callbacks take?" — so the common
//! case costs one hash lookup and no event. What they catch are the bugs lockdep finds only
//! on debug kernels (kernel-notes.md §4): reclaim-capable allocation inside a callback, a
//! callback's lock held around such an allocation elsewhere (the nouveau svmm/vmm chain),
//! sleeping when the range is not blockable, and mm teardown inside a callback.

use aya_ebpf::{
    EbpfContext,
    helpers::bpf_get_current_task,
    macros::{btf_tracepoint, fentry, kprobe, map, tracepoint},
    maps::{HashMap, StackTrace},
    programs::{
        BtfTracePointContext, FEntryContext, ProbeContext, TracePointContext,
        tracing::StackIdContext,
    },
};
use notifier_common::{
    Event, EventKind, Hazard, MISSING, MMU_NOTIFIER_RANGE_BLOCKABLE, NO_STACK, PF_MEMALLOC,
    Teardown, Waiter,
};

use crate::{
    context::{held_callback_lock, task_flags},
    emit::emit,
    filter,
    kernel::{off, read},
    maps::{CALLBACK_ENTRY, Entry, HELD, any_in_context, enter_context, leave_context},
    task::{is_self, task_key},
};

/// Kernel stacks proving each hazard, referenced by id from the events.
#[map]
static STACKS: StackTrace = StackTrace::with_max_entries(16384, 0);

/// Sleeping locks seen taken inside callbacks: lock address → the callback's notifier.
#[map]
static CALLBACK_LOCKS: HashMap<u64, u64> = HashMap::with_max_entries(4096, 0);

fn stack_id<C: StackIdContext>(ctx: &C) -> u64 {
    ctx.get_stackid(&STACKS, 0)
        .map(|id| id as u64)
        .unwrap_or(NO_STACK)
}

fn report<C: StackIdContext>(ctx: &C, what: Hazard, cb: Option<&Entry>, aux: u64, func: u64) {
    let stack = stack_id(ctx);
    let (sub, mm) = match cb {
        Some(cb) => (cb.arg0, read::<u64>(cb.arg0, off!(sub_mm)).unwrap_or(0)),
        None => (0, 0),
    };
    if mm != 0 && !filter::wanted(mm) {
        return;
    }
    emit(EventKind::Hazard, |e| {
        e.event = what as u8;
        e.sub = sub;
        e.mm = mm;
        e.aux = aux;
        e.func = func;
        e.seq = stack;
    });
}

/// A hazard of a call the capture hooks see (read_begin, remove, insert): the caller
/// already filtered it; `fill` sets what the [`Hazard`] says its fields hold.
#[inline(always)]
pub fn report_call<C: StackIdContext>(
    ctx: &C,
    what: Hazard,
    sub: u64,
    mm: u64,
    fill: impl FnOnce(&mut Event),
) {
    let stack = stack_id(ctx);
    emit(EventKind::Hazard, |e| {
        e.event = what as u8;
        e.sub = sub;
        e.mm = mm;
        e.seq = stack;
        fill(e);
    });
}

/// Where a read_begin or remove is called from ([`task_flags`]) and the callback lock its
/// task holds, reported as a [`Hazard::WaitsForItself`] when either means the call can
/// wait for its own caller.
#[inline(always)]
pub fn where_called<C: StackIdContext>(ctx: &C, waiter: Waiter, sub: u64, mm: u64) -> (u8, u64) {
    let where_from = task_flags(mm);
    let lock = held_callback_lock();
    if where_from != 0 || lock != 0 {
        report_call(ctx, Hazard::WaitsForItself, sub, mm, |e| {
            e.aux = waiter as u64;
            e.flags = where_from;
            e.func = lock;
        });
    }
    (where_from, lock)
}

fn current_callback() -> Option<Entry> {
    if !any_in_context() {
        return None;
    }
    // SAFETY: value copied out.
    unsafe { CALLBACK_ENTRY.get(task_key()) }.copied()
}

fn in_noreclaim_scope() -> bool {
    // SAFETY: helper without preconditions.
    let task = unsafe { bpf_get_current_task() };
    read::<u32>(task, off!(task_flags)).is_ok_and(|f| f & PF_MEMALLOC != 0)
}

// ---- allocations -------------------------------------------------------------------------

fn on_alloc<C: StackIdContext>(ctx: &C, gfp: u32, call_site: u64) {
    if gfp & off!(gfp_direct_reclaim) == 0 || is_self() {
        return;
    }
    if let Some(cb) = current_callback() {
        if !in_noreclaim_scope() {
            report(
                ctx,
                Hazard::AllocInCallback,
                Some(&cb),
                gfp as u64,
                call_site,
            );
        }
        return;
    }
    if !any_in_context() {
        return;
    }
    // SAFETY: value copied out.
    let Some(held) = (unsafe { HELD.get(task_key()) }).copied() else {
        return;
    };
    for lock in held.locks {
        if lock != 0 {
            if !in_noreclaim_scope() {
                report(ctx, Hazard::AllocUnderCallbackLock, None, gfp as u64, lock);
            }
            return;
        }
    }
}

fn tp_field<T: Default>(ctx: &TracePointContext, off: u32) -> T {
    if off == MISSING {
        return T::default();
    }
    // SAFETY: the offset comes from the tracepoint's own format file.
    unsafe { ctx.read_at(off as usize) }.unwrap_or_default()
}

#[tracepoint(category = "kmem", name = "kmalloc")]
pub fn rule_kmalloc(ctx: TracePointContext) -> u32 {
    let gfp: u32 = tp_field(&ctx, off!(tp_kmalloc_gfp));
    let site: u64 = tp_field(&ctx, off!(tp_kmalloc_call_site));
    on_alloc(&ctx, gfp, site);
    0
}

#[tracepoint(category = "kmem", name = "kmem_cache_alloc")]
pub fn rule_cache_alloc(ctx: TracePointContext) -> u32 {
    let gfp: u32 = tp_field(&ctx, off!(tp_cache_alloc_gfp));
    let site: u64 = tp_field(&ctx, off!(tp_cache_alloc_call_site));
    on_alloc(&ctx, gfp, site);
    0
}

#[tracepoint(category = "kmem", name = "mm_page_alloc")]
pub fn rule_page_alloc(ctx: TracePointContext) -> u32 {
    let gfp: u32 = tp_field(&ctx, off!(tp_page_alloc_gfp));
    on_alloc(&ctx, gfp, 0);
    0
}

// ---- sleeping locks ----------------------------------------------------------------------

fn on_lock<C: StackIdContext>(ctx: &C, lock: u64) {
    if lock == 0 || is_self() {
        return;
    }
    if let Some(cb) = current_callback() {
        if CALLBACK_LOCKS.get_ptr(lock).is_none() {
            let _ = CALLBACK_LOCKS.insert(lock, cb.arg0, 0);
            report(ctx, Hazard::CallbackLock, Some(&cb), 0, lock);
        }
        return;
    }
    if CALLBACK_LOCKS.get_ptr(lock).is_none() {
        return;
    }
    let key = task_key();
    // SAFETY: value copied out.
    let mut held = unsafe { HELD.get(key) }.copied().unwrap_or_default();
    for slot in held.locks.iter_mut() {
        if *slot == 0 {
            *slot = lock;
            break;
        }
    }
    enter_context(&HELD, &held);
}

fn on_unlock(lock: u64) {
    if !any_in_context() {
        return;
    }
    let key = task_key();
    // SAFETY: value copied out.
    let Some(mut held) = (unsafe { HELD.get(key) }).copied() else {
        return;
    };
    let mut any = false;
    for slot in held.locks.iter_mut() {
        if *slot == lock {
            *slot = 0;
        }
        any |= *slot != 0;
    }
    if any {
        enter_context(&HELD, &held);
    } else {
        leave_context(&HELD);
    }
}

/// One fentry program per lock function (a fentry program serves one target).
macro_rules! lock_fentry {
    ($($prog:ident => $func:literal, $handler:ident;)*) => {$(
        #[fentry(function = $func)]
        pub fn $prog(ctx: FEntryContext) -> u32 {
            lock_dispatch!($handler, &ctx, ctx.arg::<u64>(0));
            0
        }
    )*};
}

macro_rules! lock_dispatch {
    (on_lock, $ctx:expr, $lock:expr) => {
        on_lock($ctx, $lock)
    };
    (on_unlock, $ctx:expr, $lock:expr) => {
        on_unlock($lock)
    };
}

lock_fentry! {
    rule_mutex_lock => "mutex_lock", on_lock;
    rule_mutex_lock_interruptible => "mutex_lock_interruptible", on_lock;
    rule_mutex_lock_killable => "mutex_lock_killable", on_lock;
    rule_down_read => "down_read", on_lock;
    rule_down_write => "down_write", on_lock;
    rule_down_read_killable => "down_read_killable", on_lock;
    rule_down_write_killable => "down_write_killable", on_lock;
    // Only lockdep kernels have these (elsewhere macros over the ones above).
    rule_mutex_lock_nest_lock => "_mutex_lock_nest_lock", on_lock;
    rule_down_read_nested => "down_read_nested", on_lock;
    rule_down_write_nested => "down_write_nested", on_lock;
    rule_down_read_killable_nested => "down_read_killable_nested", on_lock;
    rule_down_write_killable_nested => "down_write_killable_nested", on_lock;
    rule_down_write_nest_lock => "_down_write_nest_lock", on_lock;
    rule_mutex_unlock => "mutex_unlock", on_unlock;
    rule_up_read => "up_read", on_unlock;
    rule_up_write => "up_write", on_unlock;
}

/// kprobe fallback: one program serves every acquire function, one every release.
#[kprobe]
pub fn rule_lock_kprobe(ctx: ProbeContext) -> u32 {
    if let Some(lock) = ctx.arg::<u64>(0) {
        on_lock(&ctx, lock);
    }
    0
}

#[kprobe]
pub fn rule_unlock_kprobe(ctx: ProbeContext) -> u32 {
    if let Some(lock) = ctx.arg::<u64>(0) {
        on_unlock(lock);
    }
    0
}

// ---- sleeping in a non-blockable callback ------------------------------------------------

/// `sched_switch(bool preempt, struct task_struct *prev, struct task_struct *next,
/// unsigned int prev_state)` (5.18+): a voluntary switch away from a task that is inside a
/// callback of a non-blockable range.
#[btf_tracepoint(function = "sched_switch")]
pub fn rule_sched_switch(ctx: BtfTracePointContext) -> u32 {
    let preempt: u64 = ctx.arg(0);
    let prev_state: u64 = ctx.arg(3);
    if preempt & 0xff != 0 || prev_state & 0xffff_ffff == 0 {
        return 0;
    }
    let Some(cb) = current_callback() else {
        return 0;
    };
    let flags: u32 = read(cb.arg1, off!(range_flags)).unwrap_or(MMU_NOTIFIER_RANGE_BLOCKABLE);
    if flags & MMU_NOTIFIER_RANGE_BLOCKABLE == 0 {
        report(&ctx, Hazard::SleepNonblockable, Some(&cb), prev_state, 0);
    }
    0
}

// ---- mm teardown inside a callback -------------------------------------------------------

fn on_teardown<C: StackIdContext + EbpfContext>(ctx: &C, mm: u64, what: Teardown) {
    if let Some(cb) = current_callback() {
        report(ctx, Hazard::TeardownInCallback, Some(&cb), what as u64, mm);
    }
}

#[fentry(function = "exit_mmap")]
pub fn rule_exit_mmap(ctx: FEntryContext) -> u32 {
    on_teardown(&ctx, ctx.arg(0), Teardown::ExitMmap);
    0
}

#[kprobe]
pub fn rule_exit_mmap_kprobe(ctx: ProbeContext) -> u32 {
    on_teardown(&ctx, ctx.arg::<u64>(0).unwrap_or(0), Teardown::ExitMmap);
    0
}

/// `mmput` inside a callback tears the mm down whenever it drops the last reference (the
/// amdkfd deadlock), so the call itself is the finding, last reference or not.
#[fentry(function = "mmput")]
pub fn rule_mmput(ctx: FEntryContext) -> u32 {
    on_teardown(&ctx, ctx.arg(0), Teardown::Mmput);
    0
}

#[kprobe]
pub fn rule_mmput_kprobe(ctx: ProbeContext) -> u32 {
    on_teardown(&ctx, ctx.arg::<u64>(0).unwrap_or(0), Teardown::Mmput);
    0
}
