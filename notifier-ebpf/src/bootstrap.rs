//! The start-up walk: every interval that existed before notifier-top attached.
//!
//! A `iter/task` program visits each task; for each mm not seen yet in this walk it reads
//! `mm->notifier_subscriptions` and walks the interval tree in order (leftmost, then
//! parent-pointer successor) and the `deferred_list`, emitting one `Existing` event per
//! notifier and a closing `MmWalked`. Results go into the same ring buffer as live events,
//! so the two interleave in commit order and the mirror sees one consistent stream.
//!
//! Nothing is locked: the tree can change under the walk. Every read goes through
//! `bpf_probe_read_kernel` and every loop is bounded, so a concurrent change yields a
//! partial or stale answer, never a fault or a hang; the live hooks (armed before the walk)
//! report any change that races with it.

use core::ffi::c_void;

use aya_ebpf::{
    helpers::bpf_loop,
    macros::map,
    maps::{Array, LruHashMap, PerCpuArray},
};
use notifier_common::{
    Event, EventKind, LIST_POISON1, MISSING, WALK_MAX_INTERVALS, WALK_NO_USERS, flags,
    walk::{ALL_TASKS, CTL_WORDS, GENERATION, LISTED, MAX_LISTED},
};

use crate::{
    emit::emit,
    filter,
    kernel::{Probed, callback_of, off, read},
};

/// Set by userspace before each walk (`notifier_common::walk` indices): the generation,
/// bumped per walk so an mm is reported once however many threads use it; whether to visit
/// every task; how many `WALK_MMS` entries to walk after the last task.
#[map]
static WALK_CTL: Array<u64> = Array::with_max_entries(CTL_WORDS, 0);

/// Mms to walk by pointer: ones no task uses any more (a process exited, a driver still
/// holds its intervals), which the task iterator cannot reach. Userspace learns them from
/// their events and from the deep scan of the mm_struct cache.
#[map]
static WALK_MMS: Array<u64> = Array::with_max_entries(MAX_LISTED, 0);

#[map]
static WALKED: LruHashMap<u64, u64> = LruHashMap::with_max_entries(65536, 0);

/// Notifiers the current walk reported. Kept in a map, not in the walk's stack state: the
/// verifier knows a stack counter's value in each pass over a bpf_loop callback and checks
/// the callback again for every new value, while a value loaded from a map is unknown to
/// it, so far fewer passes are needed (a third less verification of the walk on 7.3).
#[map]
static WALK_REPORTED: PerCpuArray<u64> = PerCpuArray::with_max_entries(1, 0);

/// Height bound for the successor search: a red-black tree of 2^32 nodes is at most 64 high.
const RB_MAX_HEIGHT: u32 = 64;
/// Bound on `deferred_list` entries reported; the list only holds notifiers inserted or
/// removed during one invalidation.
const DEFERRED_MAX: u32 = 4096;

#[unsafe(no_mangle)]
#[unsafe(link_section = "iter/task")]
pub extern "C" fn bootstrap_task(ctx: *mut c_void) -> i32 {
    // struct bpf_iter__task { struct bpf_iter_meta *meta; struct task_struct *task; }
    // SAFETY: the verifier guarantees ctx points at that struct; `task` is NULL at the end.
    let task = unsafe { *(ctx as *const u64).add(1) };
    if off!(mm_subs) == MISSING || off!(subs_leftmost) == MISSING {
        return 0;
    }
    if task != 0 {
        if ctl(ALL_TASKS) != 0 {
            walk_task(task);
        }
    } else {
        let n = ctl(LISTED).min(MAX_LISTED as u64);
        // SAFETY: as for the tree walk below.
        unsafe {
            bpf_loop(
                n as u32,
                listed_step as *mut c_void,
                core::ptr::null_mut(),
                0,
            )
        };
    }
    0
}

fn ctl(word: u32) -> u64 {
    WALK_CTL.get(word).copied().unwrap_or(0)
}

/// State threaded through the bpf_loop callbacks.
#[repr(C)]
struct Walk {
    mm: u64,
    tgid: u32,
    comm: [u8; 16],
    node: u64,
    /// Only look for an interval of a selected owner (the `--owner` filter), report nothing.
    probing: bool,
}

fn walk_task(task: u64) {
    let Ok(mm) = read::<u64>(task, off!(task_mm)) else {
        return;
    };
    if mm == 0 {
        return; // kernel thread
    }
    let tgid = read(task, off!(task_tgid)).unwrap_or(0);
    let comm = read(task, off!(task_comm)).unwrap_or_default();
    if filter::task_admissible(mm, tgid, &comm) {
        walk_mm(mm, tgid, comm, true);
    }
}

/// One listed mm, no task to attribute it to: one an event named (so already selected
/// when a filter is set), or one the deep scan found, which matches no pid or comm and is
/// reported under an owner filter only with an interval of a selected owner.
extern "C" fn listed_step(i: u64, _ctx: *mut c_void) -> i64 {
    if let Some(&mm) = WALK_MMS.get(i as u32)
        && mm != 0
        && filter::task_admissible(mm, 0, &[0; 16])
    {
        walk_mm(mm, 0, [0; 16], true);
    }
    0
}

fn walk_mm(mm: u64, tgid: u32, comm: [u8; 16], filtered: bool) {
    let generation = ctl(GENERATION);
    // SAFETY: value copied out.
    if unsafe { WALKED.get(mm) }.copied() == Some(generation) {
        return;
    }
    let _ = WALKED.insert(mm, generation, 0);
    let Ok(subs) = read::<u64>(mm, off!(mm_subs)) else {
        return;
    };
    if subs == 0 || subs == LIST_POISON1 {
        return; // never registered, or being destroyed
    }
    // Without `has_itree` the tree is empty but initialised: the walk reports an mm with
    // no intervals, which still tells userspace it knows the whole mm.
    let leftmost = read(subs, off!(subs_leftmost)).unwrap_or(0);
    if let Some(n) = WALK_REPORTED.get_ptr_mut(0) {
        // SAFETY: per-CPU slot; one walk runs at a time on a CPU (iterators run with
        // migration disabled, and userspace reads one iterator at a time).
        unsafe { *n = 0 };
    }
    let mut w = Walk {
        mm,
        tgid,
        comm,
        node: leftmost,
        probing: filtered && filter::needs_owner(mm),
    };
    let ctx = &raw mut w as *mut c_void;
    if w.probing {
        // SAFETY: callbacks are `extern "C" fn(u64, *mut c_void) -> i64` and get `ctx` back.
        unsafe { bpf_loop(WALK_MAX_INTERVALS, tree_step as *mut c_void, ctx, 0) };
        if w.probing {
            return; // no interval of a selected owner
        }
        w.node = leftmost;
    }
    filter::select(mm);
    // SAFETY: as above.
    unsafe { bpf_loop(WALK_MAX_INTERVALS, tree_step as *mut c_void, ctx, 0) };
    let truncated = w.node != 0;
    w.node = read::<u64>(subs, off!(subs_deferred)).unwrap_or(0);
    // SAFETY: as above.
    unsafe { bpf_loop(DEFERRED_MAX, deferred_step as *mut c_void, ctx, 0) };
    let seq: u64 = read(subs, off!(subs_seq)).unwrap_or(0);
    let active: u64 = read(subs, off!(subs_active)).unwrap_or(0);
    let users: u32 = read(mm, off!(mm_users)).unwrap_or(1);
    let reported = WALK_REPORTED.get(0).copied().unwrap_or(0);
    emit(EventKind::MmWalked, |e| {
        stamp(e, &w);
        if users == 0 {
            e.event = WALK_NO_USERS;
        }
        e.seq = seq;
        e.aux = active;
        e.ret = reported as i32;
        e.dur_ns = generation;
        if truncated || w.node != 0 {
            e.flags = flags::PARTIAL;
        }
    });
}

/// Reports the current tree node, then moves to its in-order successor.
extern "C" fn tree_step(_i: u64, ctx: *mut c_void) -> i64 {
    // SAFETY: ctx is the Walk passed to bpf_loop.
    let w = unsafe { &mut *(ctx as *mut Walk) };
    if w.node == 0 {
        return 1;
    }
    if w.probing {
        let ops: u64 = read(w.node, off!(sub_ops)).unwrap_or(0);
        if filter::owner_selected(callback_of::<Probed>(ops).0) {
            w.probing = false;
            return 1;
        }
    } else {
        report(w, w.node, 0);
    }
    w.node = rb_next(w.node);
    0
}

/// Reports one `deferred_list` entry: an empty rb node is a pending insert, a linked one a
/// pending remove (already reported by the tree walk; this marks it removing).
extern "C" fn deferred_step(_i: u64, ctx: *mut c_void) -> i64 {
    // SAFETY: ctx is the Walk passed to bpf_loop.
    let w = unsafe { &mut *(ctx as *mut Walk) };
    if w.node == 0 {
        return 1;
    }
    let sub = w.node - off!(sub_deferred_item) as u64;
    let parent: u64 = read(sub, 0).unwrap_or(0);
    report(
        w,
        sub,
        if parent == sub {
            flags::DEFERRED
        } else {
            flags::REMOVING
        },
    );
    // hlist_node.next is the first word.
    w.node = read(w.node, 0).unwrap_or(0);
    0
}

fn report(w: &mut Walk, sub: u64, state: u8) {
    let start: u64 = read(sub, off!(sub_start)).unwrap_or(0);
    let last: u64 = read(sub, off!(sub_last)).unwrap_or(0);
    let ops: u64 = read(sub, off!(sub_ops)).unwrap_or(0);
    let seq: u64 = read(sub, off!(sub_seq)).unwrap_or(0);
    let mut ev_flags = state;
    let (func, two_pass) = callback_of::<Probed>(ops);
    if two_pass {
        ev_flags |= flags::TWO_PASS;
    }
    emit(EventKind::Existing, |e| {
        stamp(e, w);
        e.flags = ev_flags;
        e.sub = sub;
        e.start = start;
        e.last = last;
        e.aux = ops;
        e.func = func;
        e.seq = seq;
    });
    if let Some(n) = WALK_REPORTED.get_ptr_mut(0) {
        // SAFETY: as in `walk_mm`.
        unsafe { *n += 1 };
    }
}

/// Attributes a walk event to the walked task, not to the reader running the iterator.
fn stamp(e: &mut Event, w: &Walk) {
    e.mm = w.mm;
    e.pid_tgid = (w.tgid as u64) << 32 | w.tgid as u64;
    e.comm = w.comm;
}

/// In-order successor using parent pointers (lib/rbtree.c `rb_next`), bounded by height.
fn rb_next(node: u64) -> u64 {
    let right: u64 = read(node, off!(rb_right)).unwrap_or(0);
    if right != 0 {
        let mut n = right;
        for _ in 0..RB_MAX_HEIGHT {
            let left: u64 = read(n, off!(rb_left)).unwrap_or(0);
            if left == 0 {
                return n;
            }
            n = left;
        }
        return 0;
    }
    let mut n = node;
    for _ in 0..RB_MAX_HEIGHT {
        // __rb_parent_color: parent pointer with the colour in the low bits.
        let parent = read::<u64>(n, 0).unwrap_or(0) & !3;
        if parent == 0 {
            return 0;
        }
        if read::<u64>(parent, off!(rb_right)).unwrap_or(0) != n {
            return parent;
        }
        n = parent;
    }
    0
}
