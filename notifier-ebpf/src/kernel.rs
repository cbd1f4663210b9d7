//! Reading kernel memory through the layout userspace resolved from BTF.
//!
//! rustc emits no CO-RE relocations, so no struct offset is compiled in: each read takes
//! its offset from the read-only `LAYOUT` global, which the loader fills before the
//! verifier sees the program (the verifier then treats the offsets as known constants).

use core::ffi::c_void;

use aya_ebpf::helpers::{
    bpf_get_current_task, bpf_get_current_task_btf, bpf_probe_read_kernel, generated,
};
use notifier_common::{FieldOffset, KernelLayout, MISSING};

#[unsafe(no_mangle)]
pub static LAYOUT: KernelLayout = KernelLayout::UNRESOLVED;

/// One field of the layout, read where it is used. Volatile, so LLVM cannot fold in the
/// compile-time placeholder instead of the value userspace patched in; field by field, so
/// no program copies the whole block onto its 512-byte stack (6.1's verifier refused the
/// combined stack of the call chains that did).
macro_rules! off {
    ($field:ident) => {
        // SAFETY: a plain read of our own global.
        unsafe { core::ptr::read_volatile(&raw const $crate::kernel::LAYOUT.$field) }
    };
}
pub(crate) use off;

/// Reads a `T` at `base + off` with `bpf_probe_read_kernel`. A missing field or a null
/// base is an error, never a read of some other field.
#[inline(always)]
pub fn read<T>(base: u64, off: FieldOffset) -> Result<T, i64> {
    if off == MISSING || base == 0 {
        return Err(-1);
    }
    // SAFETY: bpf_probe_read_kernel validates the address; a bad pointer yields an error.
    unsafe { bpf_probe_read_kernel((base + off as u64) as *const T) }.map_err(|e| e as i64)
}

/// How a hook reaches the structures its arguments point to.
pub trait Mem {
    /// Loads go straight through the pointer (see [`Typed`]).
    const DIRECT: bool;

    /// Reads a `T` at `base + off`; a missing field or a null base is an error.
    fn read<T>(base: u64, off: FieldOffset) -> Result<T, i64>;

    /// Writes the current task's `comm` to `dst` (8-byte aligned).
    ///
    /// # Safety
    /// `dst` must be valid for 16 bytes of writes and 8-byte aligned.
    unsafe fn comm(dst: *mut [u8; 16]);
}

/// A kprobe's arguments are plain numbers to the verifier: every read is a
/// `bpf_probe_read_kernel` call.
pub struct Probed;

impl Mem for Probed {
    const DIRECT: bool = false;

    #[inline(always)]
    fn read<T>(base: u64, off: FieldOffset) -> Result<T, i64> {
        read(base, off)
    }

    /// One read of the task's field: `bpf_get_current_comm` copies it with `strscpy_pad`,
    /// which under the kernel's run-time statistics costs about 270 instructions (7.3). A
    /// task renaming itself meanwhile may show parts of both names, as it may to the helper.
    #[inline(always)]
    unsafe fn comm(dst: *mut [u8; 16]) {
        // SAFETY: helper without preconditions.
        let src = unsafe { bpf_get_current_task() } + off!(task_comm) as u64;
        // SAFETY: `dst` is valid for 16 bytes (the caller's contract); the helper
        // validates the source and zeroes `dst` if the read fails.
        unsafe { generated::bpf_probe_read_kernel(dst.cast(), 16, src as *const c_void) };
    }
}

/// An fentry/fexit argument is a typed (BTF) pointer, and so is every pointer field loaded
/// through it: the verifier lets the program load through them directly, checking each
/// load against the struct's BTF (the offsets are constants to it, read from the frozen
/// `LAYOUT`), and the JIT guards the load so a fault reads 0 — one instruction where
/// `bpf_probe_read_kernel` is a helper call. Only for pointers that came from a typed
/// argument: a number from a map is refused.
pub struct Typed;

impl Mem for Typed {
    const DIRECT: bool = true;

    #[inline(always)]
    fn read<T>(base: u64, off: FieldOffset) -> Result<T, i64> {
        if off == MISSING || base == 0 {
            return Err(-1);
        }
        // SAFETY: a load the verifier checks against the kernel's BTF and the JIT guards.
        Ok(unsafe { core::ptr::read_volatile((base + off as u64) as *const T) })
    }

    /// Two loads from the task and two stores (see [`Probed`]'s).
    #[inline(always)]
    unsafe fn comm(dst: *mut [u8; 16]) {
        // SAFETY: helper without preconditions; a typed pointer in fentry/fexit programs.
        let task = unsafe { bpf_get_current_task_btf() } as u64;
        // `comm` is a required member of the layout: the reads cannot miss.
        let at = off!(task_comm);
        let lo = Self::read::<u64>(task, at).unwrap_or(0);
        let hi = Self::read::<u64>(task, at.wrapping_add(8)).unwrap_or(0);
        let words = dst as *mut u64;
        // SAFETY: 16 aligned bytes (the caller's contract).
        unsafe {
            words.write_volatile(lo);
            words.add(1).write_volatile(hi);
        }
    }
}

/// The interval bounds and mm a notifier carries.
pub struct Notifier {
    pub mm: u64,
    pub start: u64,
    pub last: u64,
}

/// The mm, then the bounds.
#[inline(always)]
pub fn notifier<M: Mem>(sub: u64) -> Result<Notifier, i64> {
    let mm = M::read(sub, off!(sub_mm))?;
    let (start, last) = bounds::<M>(sub)?;
    Ok(Notifier { mm, start, last })
}

/// A notifier's `interval_tree.start` and `.last`: adjacent on every kernel, so one 16-byte
/// helper call when probing (under the kernel's run-time statistics a probed read costs
/// per word copied about as much as per call).
#[inline(always)]
pub fn bounds<M: Mem>(sub: u64) -> Result<(u64, u64), i64> {
    let (start, last) = (off!(sub_start), off!(sub_last));
    if !M::DIRECT && last == start.wrapping_add(8) {
        let [s, l]: [u64; 2] = M::read(sub, start)?;
        Ok((s, l))
    } else {
        Ok((M::read(sub, start)?, M::read(sub, last)?))
    }
}

/// What an insert reads from its notifier.
pub struct Inserted {
    pub mm: u64,
    pub start: u64,
    pub last: u64,
    pub ops: u64,
    pub seq: u64,
    /// `interval_tree.rb.__rb_parent_color`, at offset 0: the node itself while queued on
    /// `deferred_list` (`RB_CLEAR_NODE`).
    pub parent: u64,
}

/// Words at the head of a notifier an insert may copy: the whole struct (88 bytes) on
/// every kernel checked.
const HEAD_WORDS: usize = 12;

/// Everything an insert reads from its notifier (the mm and bounds are required, the ops
/// and sequence read as 0 if missing): field by field when loads are direct, otherwise in
/// one copy of the struct's head up to the last field needed (never past it: stack
/// notifiers sit next to guard pages).
#[inline(always)]
pub fn inserted<M: Mem>(sub: u64) -> Result<Inserted, i64> {
    let fields = [
        off!(sub_mm),
        off!(sub_start),
        off!(sub_last),
        off!(sub_ops),
        off!(sub_seq),
    ];
    if M::DIRECT {
        return Ok(Inserted {
            mm: M::read(sub, fields[0])?,
            start: M::read(sub, fields[1])?,
            last: M::read(sub, fields[2])?,
            ops: M::read(sub, fields[3]).unwrap_or(0),
            seq: M::read(sub, fields[4]).unwrap_or(0),
            parent: M::read(sub, 0)?,
        });
    }
    let mut end = 8;
    for (i, o) in fields.into_iter().enumerate() {
        let aligned = o != MISSING && o % 8 == 0;
        if !aligned && i < 3 {
            return Err(-1);
        }
        if aligned {
            end = end.max(o + 8);
        }
    }
    if sub == 0 || end as usize > HEAD_WORDS * 8 {
        return Err(-1);
    }
    let mut head = [0u64; HEAD_WORDS];
    // SAFETY: `head` holds `end` bytes; the helper validates the source address.
    let ret = unsafe {
        generated::bpf_probe_read_kernel(head.as_mut_ptr().cast(), end, sub as *const c_void)
    };
    if ret != 0 {
        return Err(ret);
    }
    let word = |o: FieldOffset| {
        if o == MISSING || !o.is_multiple_of(8) {
            0
        } else {
            head.get(o as usize / 8).copied().unwrap_or(0)
        }
    };
    Ok(Inserted {
        mm: word(fields[0]),
        start: word(fields[1]),
        last: word(fields[2]),
        ops: word(fields[3]),
        seq: word(fields[4]),
        parent: head[0],
    })
}

/// The driver callback a notifier's ops name: `ops->invalidate`, or on 7.x the two-pass
/// `ops->invalidate_start` (second value true) when the driver registered only that.
#[inline(always)]
pub fn callback_of<M: Mem>(ops: u64) -> (u64, bool) {
    let func: u64 = M::read(ops, off!(ops_invalidate)).unwrap_or(0);
    if func != 0 || off!(ops_invalidate_start) == MISSING {
        return (func, false);
    }
    let start: u64 = M::read(ops, off!(ops_invalidate_start)).unwrap_or(0);
    (start, start != 0)
}

/// The fields of a `struct mmu_notifier_range` the events carry.
pub struct Range {
    pub mm: u64,
    pub start: u64,
    pub end: u64,
    pub flags: u32,
    pub event: u32,
}

#[inline(always)]
pub fn range(range: u64) -> Result<Range, i64> {
    Ok(Range {
        mm: read(range, off!(range_mm))?,
        start: read(range, off!(range_start))?,
        end: read(range, off!(range_end))?,
        flags: read(range, off!(range_flags))?,
        event: read(range, off!(range_event))?,
    })
}
