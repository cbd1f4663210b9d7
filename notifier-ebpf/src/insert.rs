//! `mmu_interval_notifier_insert{,_locked}`: a new interval, live or deferred.
//!
//! Both wrappers are hooked rather than the static `__mmu_interval_notifier_insert`: they are
//! global on every kernel (the static has no BTF FUNC record before ~6.18, so no fentry), and
//! hooking them separately tells the two locking contracts apart. Everything is read from
//! the notifier at return, when the kernel has filled it in.

use aya_ebpf::{
    macros::{fexit, kprobe, kretprobe},
    programs::{FExitContext, ProbeContext, RetProbeContext},
};
use notifier_common::{EventKind, flags};

use crate::{
    context::{mmap_lock_state, task_flags},
    emit::{emit, is_self, now, task_key},
    filter,
    kernel::{callback_of, notifier, off, read},
    maps::{Entry, INSERT_ENTRY, deferred_add, deferred_forget},
};

#[fexit(function = "mmu_interval_notifier_insert")]
pub fn insert_fexit(ctx: FExitContext) -> u32 {
    let ret: i64 = ctx.ret().unwrap_or(0);
    on_return(ctx.arg(0), ret as i32, 0);
    0
}

#[fexit(function = "mmu_interval_notifier_insert_locked")]
pub fn insert_locked_fexit(ctx: FExitContext) -> u32 {
    let ret: i64 = ctx.ret().unwrap_or(0);
    on_return(ctx.arg(0), ret as i32, flags::LOCKED);
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
    let key = task_key();
    // SAFETY: the value is copied out before the entry is removed.
    let Some(entry) = (unsafe { INSERT_ENTRY.get(&key) }).copied() else {
        return 0;
    };
    let _ = INSERT_ENTRY.remove(&key);
    let ret: i64 = ctx.ret();
    on_return(entry.arg0, ret as i32, entry.arg1 as u8);
    0
}

fn stash(ctx: &ProbeContext, insert_flags: u64) {
    if is_self() {
        return;
    }
    let Some(sub) = ctx.arg::<u64>(0) else { return };
    let entry = Entry {
        ts: now(),
        arg0: sub,
        arg1: insert_flags,
        arg2: 0,
    };
    let _ = INSERT_ENTRY.insert(&task_key(), &entry, 0);
}

fn on_return(sub: u64, ret: i32, mut ev_flags: u8) {
    if is_self() {
        return;
    }
    // Plain scalars, set on both paths: with the `Result` kept alive across the function,
    // LLVM read a stack slot only one path had written, which 6.1's verifier refuses.
    let (mm, start, last) = match notifier(sub) {
        Ok(n) => (n.mm, n.start, n.last),
        Err(_) => {
            ev_flags |= flags::PARTIAL;
            (0, 0, 0)
        }
    };
    let ops: u64 = read(sub, off!(sub_ops)).unwrap_or(0);
    let (func, two_pass) = callback_of(ops);
    if !filter::admit_insert(mm, (task_key() >> 32) as u32, func) {
        return;
    }
    if two_pass {
        ev_flags |= flags::TWO_PASS;
    }
    if ret == 0 && is_deferred(sub, mm) {
        ev_flags |= flags::DEFERRED;
    }
    let seq: u64 = read(sub, off!(sub_seq)).unwrap_or(0);
    ev_flags |= task_flags(mm);
    let lock = mmap_lock_state(mm);
    emit(EventKind::Insert, |e| {
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

/// Whether the kernel queued `sub` on `deferred_list` instead of linking it into the tree.
///
/// A queued notifier keeps the empty rb node `RB_CLEAR_NODE` left in it (parent pointer ==
/// the node itself; the rb node is at offset 0 of the notifier). The notifier is recorded in
/// `DEFERRED` *before* looking, so that if another CPU's `inv_end` links it in between,
/// either the sweep after that `inv_end` reports the application (the mirror ignores an
/// application it has no insert for, and this insert then reads as live) or this read sees
/// a linked node and removes the entry; no ordering loses it.
fn is_deferred(sub: u64, mm: u64) -> bool {
    deferred_add(sub, mm);
    let parent: u64 = read(sub, 0).unwrap_or(0);
    if parent == sub {
        true
    } else {
        deferred_forget(sub);
        false
    }
}
