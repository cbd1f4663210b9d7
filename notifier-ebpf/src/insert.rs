//! `mmu_interval_notifier_insert{,_locked}`: a new interval, live or deferred.
//!
//! Both wrappers are hooked rather than the static `__mmu_interval_notifier_insert`: they are
//! global on every kernel (the static has no BTF FUNC record before ~6.18, so no fentry), and
//! hooking them separately tells the two locking contracts apart. Everything is read from
//! the notifier at return, when the kernel has filled it in.

use aya_ebpf::{
    macros::{fexit, kprobe, kretprobe},
    programs::{FExitContext, ProbeContext, RetProbeContext, tracing::StackIdContext},
};
use notifier_common::{EventKind, Hazard, flags, insert_against_contract};

use crate::{
    context::{mmap_lock_state, task_flags},
    emit::emit_as,
    filter,
    kernel::{Mem, Probed, Typed, callback_of, inserted},
    maps::{self, Entry, Inserts, deferred_add, deferred_forget, take},
    rules,
    task::{is_self_task, now, task_key},
};

#[fexit(function = "mmu_interval_notifier_insert")]
pub fn insert_fexit(ctx: FExitContext) -> u32 {
    let ret: i64 = ctx.ret().unwrap_or(0);
    on_return::<Typed, _>(&ctx, task_key(), ctx.arg(0), ret as i32, 0);
    0
}

#[fexit(function = "mmu_interval_notifier_insert_locked")]
pub fn insert_locked_fexit(ctx: FExitContext) -> u32 {
    let ret: i64 = ctx.ret().unwrap_or(0);
    on_return::<Typed, _>(&ctx, task_key(), ctx.arg(0), ret as i32, flags::LOCKED);
    0
}

#[kprobe]
pub fn insert_kprobe(ctx: ProbeContext) -> u32 {
    stash(&ctx, 0);
    0
}

#[kprobe]
pub fn insert_locked_kprobe(ctx: ProbeContext) -> u32 {
    stash(&ctx, flags::LOCKED as u64);
    0
}

#[kretprobe]
pub fn insert_kretprobe(ctx: RetProbeContext) -> u32 {
    let task = task_key();
    let Some(entry) = take::<Inserts>(task) else {
        return 0;
    };
    let ret: i64 = ctx.ret();
    on_return::<Probed, _>(&ctx, task, entry.arg0, ret as i32, entry.arg1 as u8);
    0
}

fn stash(ctx: &ProbeContext, insert_flags: u64) {
    let task = task_key();
    if is_self_task(task) {
        return;
    }
    let Some(sub) = ctx.arg::<u64>(0) else { return };
    let entry = Entry {
        ts: now(),
        arg0: sub,
        arg1: insert_flags,
        arg2: 0,
        arg3: 0,
    };
    maps::stash::<Inserts>(task, &entry);
}

fn on_return<M: Mem, C: StackIdContext>(ctx: &C, task: u64, sub: u64, ret: i32, mut ev_flags: u8) {
    if is_self_task(task) {
        return;
    }
    // Plain scalars, set on both paths: with the `Result` kept alive across the function,
    // LLVM read a stack slot only one path had written, which 6.1's verifier refuses.
    let (mm, start, last, ops, seq, parent) = match inserted::<M>(sub) {
        Ok(n) => (n.mm, n.start, n.last, n.ops, n.seq, n.parent),
        Err(_) => {
            ev_flags |= flags::PARTIAL;
            (0, 0, 0, 0, 0, 0)
        }
    };
    let (func, two_pass) = callback_of::<M>(ops);
    if !filter::admit_insert(mm, (task >> 32) as u32, func) {
        return;
    }
    if two_pass {
        ev_flags |= flags::TWO_PASS;
    }
    if ret == 0 && parent == sub && still_deferred::<M>(sub, mm) {
        ev_flags |= flags::DEFERRED;
    }
    ev_flags |= task_flags(mm);
    let lock = mmap_lock_state::<M>(mm);
    if insert_against_contract(ev_flags & flags::LOCKED != 0, lock, ret) {
        rules::report_call(ctx, Hazard::InsertLocking, sub, mm, |e| {
            e.flags = ev_flags & flags::LOCKED;
            e.mmap_lock = lock;
            e.ret = ret;
        });
    }
    emit_as::<M>(EventKind::Insert, task, now(), |e| {
        e.flags = ev_flags;
        e.mmap_lock = lock;
        e.ret = ret;
        e.mm = mm;
        e.sub = sub;
        e.start = start;
        e.last = last;
        e.aux = ops;
        e.func = func;
        e.seq = seq;
    });
}

/// Whether `sub` sits on `deferred_list` rather than in the tree: a queued notifier keeps
/// the empty rb node `RB_CLEAR_NODE` left in it (parent pointer == the node itself; the rb
/// node is at offset 0 of the notifier).
fn queued<M: Mem>(sub: u64) -> bool {
    M::read::<u64>(sub, 0).is_ok_and(|parent| parent == sub)
}

/// For a notifier that looked queued when the insert returned: whether it still is,
/// recorded in `DEFERRED` for the sweep after `inv_end`.
///
/// A linked node stays linked, so the first look (the caller's) settles the common case
/// without touching `DEFERRED`. A node that looked queued is recorded and looked at again:
/// if another CPU's `inv_end` linked it in between, either the sweep after that `inv_end`
/// reported the application (the mirror ignores an application it has no insert for, and
/// this insert then reads as live) or the second look sees a linked node and removes the
/// entry; no ordering loses it.
fn still_deferred<M: Mem>(sub: u64, mm: u64) -> bool {
    deferred_add(sub, mm);
    if queued::<M>(sub) {
        true
    } else {
        deferred_forget(sub);
        false
    }
}
