//! Reading kernel memory through the layout userspace resolved from BTF.
//!
//! rustc emits no CO-RE relocations, so no struct offset is compiled in: each read takes
//! its offset from the read-only `LAYOUT` global, which the loader fills before the
//! verifier sees the program (the verifier then treats the offsets as known constants).

use aya_ebpf::helpers::bpf_probe_read_kernel;
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

/// Reads a `T` at `base + off`. A missing field or a null base is an error, never a read
/// of some other field.
#[inline(always)]
pub fn read<T>(base: u64, off: FieldOffset) -> Result<T, i64> {
    if off == MISSING || base == 0 {
        return Err(-1);
    }
    // SAFETY: bpf_probe_read_kernel validates the address; a bad pointer yields an error.
    unsafe { bpf_probe_read_kernel((base + off as u64) as *const T) }.map_err(|e| e as i64)
}

/// The interval bounds, mm and callback a notifier carries.
pub struct Notifier {
    pub mm: u64,
    pub start: u64,
    pub last: u64,
}

#[inline(always)]
pub fn notifier(sub: u64) -> Result<Notifier, i64> {
    Ok(Notifier {
        mm: read(sub, off!(sub_mm))?,
        start: read(sub, off!(sub_start))?,
        last: read(sub, off!(sub_last))?,
    })
}

/// The driver callback a notifier's ops name: `ops->invalidate`, or on 7.x the two-pass
/// `ops->invalidate_start` (second value true) when the driver registered only that.
#[inline(always)]
pub fn callback_of(ops: u64) -> (u64, bool) {
    let func: u64 = read(ops, off!(ops_invalidate)).unwrap_or(0);
    if func != 0 || off!(ops_invalidate_start) == MISSING {
        return (func, false);
    }
    let start: u64 = read(ops, off!(ops_invalidate_start)).unwrap_or(0);
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
