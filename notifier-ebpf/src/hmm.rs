//! The HMM layer above the notifiers: device faults (`hmm_range_fault`), migrations to and
//! from device memory (`migrate_vma_setup` / `_pages` / `_finalize`), evictions of device
//! memory (`migrate_device_range` / `_pages` / `_finalize`) and device-exclusive grants
//! (`make_device_exclusive`). Each is one event at return, with its duration and
//! what it covered; userspace joins it to the interval (a fault names its notifier), the
//! process and the owner.
//!
//! Entry state lives in a map per function family: a fault can nest a migration (a device
//! page faulted back to system memory migrates inside `hmm_range_fault`).

use core::ffi::c_void;

use aya_ebpf::{
    helpers::bpf_loop,
    macros::{fentry, fexit, kprobe, kretprobe},
    programs::{FEntryContext, FExitContext, ProbeContext, RetProbeContext},
};
use notifier_common::{EventKind, MIGRATE_PFN_MIGRATE, MIGRATE_PFNS_COUNTED};

use crate::{
    emit::emit_as,
    filter,
    kernel::{Mem, Probed, Typed, off, read},
    maps::{Calls, Entry, Evictions, Exclusives, Faults, Migrations, stash, take},
    task::{is_self_task, now, task_key},
};

/// Notes the call's start; `args` are what the return needs that a kretprobe cannot read
/// back (the argument pointers).
#[inline(always)]
fn enter<C: Calls>(arg0: u64, arg1: u64, arg2: u64) {
    let task = task_key();
    if is_self_task(task) {
        return;
    }
    let entry = Entry {
        ts: now(),
        arg0,
        arg1,
        arg2,
        arg3: 0,
    };
    stash::<C>(task, &entry);
}

// ---- hmm_range_fault ---------------------------------------------------------------------

#[fentry(function = "hmm_range_fault")]
pub fn hmm_fault_fentry(ctx: FEntryContext) -> u32 {
    enter::<Faults>(ctx.arg(0), 0, 0);
    0
}

#[fexit(function = "hmm_range_fault")]
pub fn hmm_fault_fexit(ctx: FExitContext) -> u32 {
    let ret: i64 = ctx.ret().unwrap_or(0);
    on_fault_return::<Typed>(Some(ctx.arg(0)), ret as i32);
    0
}

#[kprobe]
pub fn hmm_fault_kprobe(ctx: ProbeContext) -> u32 {
    enter::<Faults>(ctx.arg::<u64>(0).unwrap_or(0), 0, 0);
    0
}

#[kretprobe]
pub fn hmm_fault_kretprobe(ctx: RetProbeContext) -> u32 {
    let ret: i64 = ctx.ret();
    on_fault_return::<Probed>(None, ret as i32);
    0
}

/// `range` is the fexit's own argument; a kretprobe reads the one noted at entry.
fn on_fault_return<M: Mem>(range: Option<u64>, ret: i32) {
    let task = task_key();
    let ts = now();
    let Some(entry) = take::<Faults>(task) else {
        return;
    };
    let range = range.unwrap_or(entry.arg0);
    let sub: u64 = M::read(range, off!(hmm_notifier)).unwrap_or(0);
    let mm: u64 = M::read(sub, off!(sub_mm)).unwrap_or(0);
    if !filter::wanted(mm) {
        return;
    }
    let start: u64 = M::read(range, off!(hmm_start)).unwrap_or(0);
    let end: u64 = M::read(range, off!(hmm_end)).unwrap_or(0);
    let seq: u64 = M::read(range, off!(hmm_notifier_seq)).unwrap_or(0);
    emit_as::<M>(EventKind::HmmRangeFault, task, ts, |e| {
        e.sub = sub;
        e.mm = mm;
        e.start = start;
        e.last = end.wrapping_sub(1);
        e.aux = end.saturating_sub(start) >> 12;
        e.seq = seq;
        e.ret = ret;
        e.dur_ns = ts - entry.ts;
    });
}

// ---- migrate_vma_setup / _pages / _finalize -----------------------------------------------

/// The four programs of one migration step: entry and return in either mode. A step's
/// return value is read only where it has one (`returns`: `migrate_vma_setup`; the others
/// are void, and their return register holds no result).
macro_rules! migrate_step {
    ($function:literal, $kind:expr, returns: $returns:literal,
     $fentry:ident, $fexit:ident, $kprobe:ident, $kretprobe:ident) => {
        #[fentry(function = $function)]
        pub fn $fentry(ctx: FEntryContext) -> u32 {
            enter::<Migrations>(ctx.arg(0), 0, 0);
            0
        }

        #[fexit(function = $function)]
        pub fn $fexit(ctx: FExitContext) -> u32 {
            let ret: i64 = if $returns { ctx.ret().unwrap_or(0) } else { 0 };
            on_migrate_return::<Typed>($kind, Some(ctx.arg(0)), ret as i32);
            0
        }

        #[kprobe]
        pub fn $kprobe(ctx: ProbeContext) -> u32 {
            enter::<Migrations>(ctx.arg::<u64>(0).unwrap_or(0), 0, 0);
            0
        }

        #[kretprobe]
        pub fn $kretprobe(ctx: RetProbeContext) -> u32 {
            let ret: i64 = if $returns { ctx.ret() } else { 0 };
            on_migrate_return::<Probed>($kind, None, ret as i32);
            0
        }
    };
}

migrate_step!(
    "migrate_vma_setup",
    EventKind::MigrateVmaSetup,
    returns: true,
    migrate_setup_fentry,
    migrate_setup_fexit,
    migrate_setup_kprobe,
    migrate_setup_kretprobe
);
migrate_step!(
    "migrate_vma_pages",
    EventKind::MigrateVmaPages,
    returns: false,
    migrate_pages_fentry,
    migrate_pages_fexit,
    migrate_pages_kprobe,
    migrate_pages_kretprobe
);
migrate_step!(
    "migrate_vma_finalize",
    EventKind::MigrateVmaFinalize,
    returns: false,
    migrate_finalize_fentry,
    migrate_finalize_fexit,
    migrate_finalize_kprobe,
    migrate_finalize_kretprobe
);

/// One `struct migrate_vma` at the return of a step: the range, the pages asked for
/// (`aux`), collected by setup or migrated by `migrate_vma_pages` (`seq`), the direction
/// (`event`: the `MIGRATE_VMA_SELECT_*` bits) and the device's pgmap owner (`func`).
fn on_migrate_return<M: Mem>(kind: EventKind, args: Option<u64>, ret: i32) {
    let task = task_key();
    let ts = now();
    let Some(entry) = take::<Migrations>(task) else {
        return;
    };
    let args = args.unwrap_or(entry.arg0);
    let vma: u64 = M::read(args, off!(mig_vma)).unwrap_or(0);
    let mm: u64 = M::read(vma, off!(vma_mm)).unwrap_or(0);
    if !filter::wanted(mm) {
        return;
    }
    let start: u64 = M::read(args, off!(mig_start)).unwrap_or(0);
    let end: u64 = M::read(args, off!(mig_end)).unwrap_or(0);
    let npages: u64 = M::read(args, off!(mig_npages)).unwrap_or(0);
    let flags: u64 = M::read(args, off!(mig_flags)).unwrap_or(0);
    let owner: u64 = M::read(args, off!(mig_owner)).unwrap_or(0);
    let pages = match kind {
        EventKind::MigrateVmaPages => {
            let src: u64 = M::read(args, off!(mig_src)).unwrap_or(0);
            migrated(src, npages)
        }
        _ => M::read(args, off!(mig_cpages)).unwrap_or(0),
    };
    emit_as::<M>(kind, task, ts, |e| {
        e.mm = mm;
        e.start = start;
        e.last = end.wrapping_sub(1);
        e.aux = npages;
        e.seq = pages;
        e.event = flags as u8;
        e.func = owner;
        e.ret = ret;
        e.dur_ns = ts - entry.ts;
    });
}

/// State of the count over a `src` array.
#[repr(C)]
struct Count {
    src: u64,
    migrated: u64,
}

/// Entries of `src` still marked `MIGRATE_PFN_MIGRATE` after `migrate_vma_pages`: the
/// pages that moved (the kernel clears the bit of every page it could not migrate). At
/// most [`MIGRATE_PFNS_COUNTED`] entries are read.
fn migrated(src: u64, npages: u64) -> u64 {
    if src == 0 {
        return 0;
    }
    let mut count = Count { src, migrated: 0 };
    let n = npages.min(MIGRATE_PFNS_COUNTED as u64) as u32;
    // SAFETY: the callback is `extern "C" fn(u64, *mut c_void) -> i64` and gets `count`
    // back, which outlives the loop.
    unsafe { bpf_loop(n, count_step as *mut c_void, (&raw mut count).cast(), 0) };
    count.migrated
}

extern "C" fn count_step(i: u64, ctx: *mut c_void) -> i64 {
    // SAFETY: `ctx` is the `Count` passed to bpf_loop.
    let c = unsafe { &mut *(ctx as *mut Count) };
    let mpfn: u64 = read(c.src + i * 8, 0).unwrap_or(0);
    if mpfn & MIGRATE_PFN_MIGRATE != 0 {
        c.migrated += 1;
    }
    0
}

// ---- migrate_device_range / _pages / _finalize: evicting device memory ----------------------

/// The four programs of one eviction step: `(src_pfns, start or dst_pfns, npages)`, the
/// source array and the page count noted at entry (a kretprobe has no arguments left).
macro_rules! evict_step {
    ($function:literal, $kind:expr, returns: $returns:literal,
     $fentry:ident, $fexit:ident, $kprobe:ident, $kretprobe:ident) => {
        #[fentry(function = $function)]
        pub fn $fentry(ctx: FEntryContext) -> u32 {
            enter::<Evictions>(ctx.arg(0), ctx.arg(2), 0);
            0
        }

        #[fexit(function = $function)]
        pub fn $fexit(ctx: FExitContext) -> u32 {
            let ret: i64 = if $returns { ctx.ret().unwrap_or(0) } else { 0 };
            on_evict_return($kind, ret as i32);
            0
        }

        #[kprobe]
        pub fn $kprobe(ctx: ProbeContext) -> u32 {
            let arg = |i| ctx.arg::<u64>(i).unwrap_or(0);
            enter::<Evictions>(arg(0), arg(2), 0);
            0
        }

        #[kretprobe]
        pub fn $kretprobe(ctx: RetProbeContext) -> u32 {
            let ret: i64 = if $returns { ctx.ret() } else { 0 };
            on_evict_return($kind, ret as i32);
            0
        }
    };
}

evict_step!(
    "migrate_device_range",
    EventKind::MigrateDeviceRange,
    returns: true,
    evict_range_fentry,
    evict_range_fexit,
    evict_range_kprobe,
    evict_range_kretprobe
);
evict_step!(
    "migrate_device_pages",
    EventKind::MigrateDevicePages,
    returns: false,
    evict_pages_fentry,
    evict_pages_fexit,
    evict_pages_kprobe,
    evict_pages_kretprobe
);
evict_step!(
    "migrate_device_finalize",
    EventKind::MigrateDeviceFinalize,
    returns: false,
    evict_finalize_fentry,
    evict_finalize_fexit,
    evict_finalize_kprobe,
    evict_finalize_kretprobe
);

/// An eviction concerns device memory, not an address space: no `mm`, so the process
/// filter cannot select it and it is reported only without one. `aux` = pages, `seq` =
/// pages still marked for migration in the source array (collected by the range step,
/// moved by the pages step).
fn on_evict_return(kind: EventKind, ret: i32) {
    let task = task_key();
    let ts = now();
    let Some(entry) = take::<Evictions>(task) else {
        return;
    };
    if filter::active() {
        return;
    }
    let pages = match kind {
        EventKind::MigrateDeviceFinalize => 0,
        _ => migrated(entry.arg0, entry.arg1),
    };
    emit_as::<Probed>(kind, task, ts, |e| {
        e.aux = entry.arg1;
        e.seq = pages;
        e.ret = ret;
        e.dur_ns = ts - entry.ts;
    });
}

// ---- make_device_exclusive ---------------------------------------------------------------

#[fentry(function = "make_device_exclusive")]
pub fn exclusive_fentry(ctx: FEntryContext) -> u32 {
    enter::<Exclusives>(ctx.arg(0), ctx.arg(1), ctx.arg(2));
    0
}

#[fexit(function = "make_device_exclusive")]
pub fn exclusive_fexit(ctx: FExitContext) -> u32 {
    let page: u64 = ctx.ret().unwrap_or(0);
    on_exclusive_return(page);
    0
}

#[kprobe]
pub fn exclusive_kprobe(ctx: ProbeContext) -> u32 {
    enter::<Exclusives>(
        ctx.arg::<u64>(0).unwrap_or(0),
        ctx.arg::<u64>(1).unwrap_or(0),
        ctx.arg::<u64>(2).unwrap_or(0),
    );
    0
}

#[kretprobe]
pub fn exclusive_kretprobe(ctx: RetProbeContext) -> u32 {
    on_exclusive_return(ctx.ret());
    0
}

/// `make_device_exclusive(mm, addr, owner, foliop)` returns the page or an `ERR_PTR`:
/// `ret` is 0 or the errno.
fn on_exclusive_return(page: u64) {
    let task = task_key();
    let ts = now();
    let Some(entry) = take::<Exclusives>(task) else {
        return;
    };
    let mm = entry.arg0;
    if !filter::wanted(mm) {
        return;
    }
    // ERR_PTR values are the top 4095 addresses.
    let ret = if page >= (-4095i64) as u64 {
        page as i64 as i32
    } else {
        0
    };
    emit_as::<Probed>(EventKind::MakeDeviceExclusive, task, ts, |e| {
        e.mm = mm;
        e.start = entry.arg1 & !0xfff;
        e.last = (entry.arg1 & !0xfff) + 0xfff;
        e.func = entry.arg2;
        e.ret = ret;
        e.dur_ns = ts - entry.ts;
    });
}
