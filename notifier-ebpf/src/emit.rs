//! Filling and submitting one event.

use core::mem::offset_of;

use notifier_common::{EVENT_SIZE, Event, EventKind};

use crate::{
    kernel::{Mem, Probed},
    maps::{DROPS, EVENTS},
    task::{now, task_key},
};

/// Reserves a record, lets `fill` set the kind-specific fields, and submits it.
#[inline(always)]
pub fn emit(kind: EventKind, fill: impl FnOnce(&mut Event)) {
    emit_as::<Probed>(kind, task_key(), now(), fill)
}

/// `emit` for a hit that already holds the task's `pid_tgid` and the time: each is a
/// helper call, and the hot hooks (insert, remove, read_begin) take them once per hit.
/// `M` reads the task's `comm` (directly where the program's task pointer is typed).
///
/// Submitted with the ring buffer's own wake-up policy: the reader is woken (an irq_work,
/// a self-interrupt inside the hook) only by a record that lands in an empty ring, and
/// the reader lets a busy ring fill for a while before draining it (source/live.rs), so
/// under load that is once per drain, not once per event. A full ring buffer bumps the
/// per-CPU drop counter.
#[inline(always)]
pub fn emit_as<M: Mem>(kind: EventKind, pid_tgid: u64, ts_ns: u64, fill: impl FnOnce(&mut Event)) {
    let Some(mut entry) = EVENTS.reserve::<Event>(0) else {
        if let Some(n) = DROPS.get_ptr_mut(0) {
            // SAFETY: per-CPU slot, no concurrent writer on this CPU with preemption off.
            unsafe { *n += 1 };
        }
        return;
    };
    let ev = entry.as_mut_ptr();
    // SAFETY: `ev` points at ring-buffer memory reserved for one Event (8-byte aligned,
    // EVENT_SIZE a multiple of 8), filled in place (a stack copy would eat into the
    // 512-byte BPF stack). The header is written here; the rest is zeroed with explicit
    // word stores (a memset becomes a byte loop the 6.1 verifier walks once per byte and
    // state) before `fill` sets the kind's fields.
    unsafe {
        (*ev).ts_ns = ts_ns;
        (*ev).pid_tgid = pid_tgid;
        let words = ev as *mut u64;
        words.add(offset_of!(Event, kind) / 8).write_volatile(0);
        (*ev).kind = kind as u8;
        M::comm(&raw mut (*ev).comm);
        for i in offset_of!(Event, mm) / 8..EVENT_SIZE / 8 {
            words.add(i).write_volatile(0);
        }
        fill(&mut *ev);
    }
    entry.submit(0);
}
