//! Resolving the kernel layout the probes read with from the running kernel's BTF.
//!
//! Offsets differ between kernels (and between vendor configs of the same version), and
//! rustc emits no CO-RE relocations, so every offset is looked up here by name and handed to
//! the programs as a read-only global. A member this kernel lacks resolves to
//! [`MISSING`](notifier_common::MISSING) and the feature that needs it is reported degraded.

use std::path::Path;

use anyhow::{Context as _, Result, bail};
use btf_rs::{Btf, Type};
use notifier_common::{FieldOffset, KernelLayout, MISSING};

use crate::stream::Hook;

pub const VMLINUX_BTF: &str = "/sys/kernel/btf/vmlinux";

/// Opens the kernel's BTF, with an error that says what to do when it is absent.
pub fn open_vmlinux(path: &Path) -> Result<Btf> {
    Btf::from_file(path).with_context(|| {
        format!(
            "cannot read kernel BTF from {}: notifier-top needs a kernel built with \
             CONFIG_DEBUG_INFO_BTF=y (every Debian kernel since 5.10 is)",
            path.display()
        )
    })
}

/// Resolves every offset the programs need. Members present on all supported kernels are
/// required (a kernel without them is not one notifier-top understands); the 7.x two-pass
/// ops are optional.
pub fn resolve(btf: &Btf) -> Result<KernelLayout> {
    let sub = Struct::find(btf, "mmu_interval_notifier")?;
    let tree = sub.member(btf, "interval_tree")?;
    if tree != 0 {
        // The deferred-insert check reads the rb node at offset 0 of the notifier.
        bail!("mmu_interval_notifier.interval_tree is at offset {tree}, expected 0");
    }
    let node = Struct::find(btf, "interval_tree_node")?;
    if node.member(btf, "rb")? != 0 {
        bail!("interval_tree_node.rb is not at offset 0");
    }
    let ops = Struct::find(btf, "mmu_interval_notifier_ops")?;
    let range = Struct::find(btf, "mmu_notifier_range")?;
    let task = Struct::find(btf, "task_struct")?;
    let mm = Struct::find(btf, "mm_struct")?;
    let rb = Struct::find(btf, "rb_node")?;
    let walk = Walk::resolve(btf)?;
    let hmm = Hmm::resolve(btf)?;
    Ok(KernelLayout {
        sub_start: tree + node.member(btf, "start")?,
        sub_last: tree + node.member(btf, "last")?,
        sub_ops: sub.member(btf, "ops")?,
        sub_mm: sub.member(btf, "mm")?,
        sub_seq: sub.member(btf, "invalidate_seq")?,
        ops_invalidate: ops.member(btf, "invalidate")?,
        ops_invalidate_start: ops.optional(btf, "invalidate_start")?,
        range_mm: range.member(btf, "mm")?,
        range_start: range.member(btf, "start")?,
        range_end: range.member(btf, "end")?,
        range_flags: range.member(btf, "flags")?,
        range_event: range.member(btf, "event")?,
        task_mm: task.member(btf, "mm")?,
        task_tgid: task.member(btf, "tgid")?,
        task_comm: task.member(btf, "comm")?,
        mm_subs: mm.optional(btf, "notifier_subscriptions")?,
        mm_users: mm.optional(btf, "mm_users")?,
        subs_seq: walk.seq,
        subs_active: walk.active,
        subs_leftmost: walk.leftmost,
        subs_deferred: walk.deferred,
        sub_deferred_item: sub.member(btf, "deferred_item")?,
        rb_right: rb.member(btf, "rb_right")?,
        rb_left: rb.member(btf, "rb_left")?,
        mm_mmap_lock_owner: match mm.optional(btf, "mmap_lock")? {
            MISSING => MISSING,
            lock => match Struct::find(btf, "rw_semaphore")?.optional(btf, "owner")? {
                MISSING => MISSING,
                owner => lock + owner,
            },
        },
        task_flags: task.member(btf, "flags")?,
        // Bit 10 on every kernel since 4.4 (a macro before 6.10, an enum bit after: neither
        // is reachable by name in BTF). The fixture's allocation switch proves it per kernel.
        gfp_direct_reclaim: 0x400,
        tp_kmalloc_gfp: tracepoint_field("kmalloc", "gfp_flags"),
        tp_kmalloc_call_site: tracepoint_field("kmalloc", "call_site"),
        tp_cache_alloc_gfp: tracepoint_field("kmem_cache_alloc", "gfp_flags"),
        tp_cache_alloc_call_site: tracepoint_field("kmem_cache_alloc", "call_site"),
        tp_page_alloc_gfp: tracepoint_field("mm_page_alloc", "gfp_flags"),
        hmm_notifier: hmm.notifier,
        hmm_notifier_seq: hmm.notifier_seq,
        hmm_start: hmm.start,
        hmm_end: hmm.end,
        mig_vma: hmm.vma,
        mig_src: hmm.src,
        mig_cpages: hmm.cpages,
        mig_npages: hmm.npages,
        mig_start: hmm.mig_start,
        mig_end: hmm.mig_end,
        mig_owner: hmm.owner,
        mig_flags: hmm.flags,
        vma_mm: Struct::find(btf, "vm_area_struct")?.member(btf, "vm_mm")?,
        self_tgid: std::process::id(),
    })
}

/// `struct hmm_range` (CONFIG_HMM_MIRROR) and `struct migrate_vma` (CONFIG_MIGRATION with
/// ZONE_DEVICE): a kernel without them loses only the HMM layer's hooks, each reported
/// unavailable with the reason.
struct Hmm {
    notifier: FieldOffset,
    notifier_seq: FieldOffset,
    start: FieldOffset,
    end: FieldOffset,
    vma: FieldOffset,
    src: FieldOffset,
    cpages: FieldOffset,
    npages: FieldOffset,
    mig_start: FieldOffset,
    mig_end: FieldOffset,
    owner: FieldOffset,
    flags: FieldOffset,
}

impl Hmm {
    fn resolve(btf: &Btf) -> Result<Hmm> {
        let optional = |s: &Option<Struct>, field| {
            s.as_ref()
                .map_or(Ok(MISSING), |s: &Struct| s.optional(btf, field))
        };
        let range = Struct::find(btf, "hmm_range").ok();
        let mig = Struct::find(btf, "migrate_vma").ok();
        Ok(Hmm {
            notifier: optional(&range, "notifier")?,
            notifier_seq: optional(&range, "notifier_seq")?,
            start: optional(&range, "start")?,
            end: optional(&range, "end")?,
            vma: optional(&mig, "vma")?,
            src: optional(&mig, "src")?,
            cpages: optional(&mig, "cpages")?,
            npages: optional(&mig, "npages")?,
            mig_start: optional(&mig, "start")?,
            mig_end: optional(&mig, "end")?,
            owner: optional(&mig, "pgmap_owner")?,
            flags: optional(&mig, "flags")?,
        })
    }
}

/// Why a family of the HMM layer cannot run on this kernel, if it cannot.
pub fn hmm_unavailable(l: &KernelLayout, hook: Hook) -> Option<&'static str> {
    match hook {
        Hook::HmmFault if l.hmm_end == MISSING => {
            Some("kernel BTF has no struct hmm_range (a kernel without CONFIG_HMM_MIRROR)")
        }
        Hook::HmmMigrate | Hook::HmmEvict if l.mig_end == MISSING => {
            Some("kernel BTF has no struct migrate_vma (a kernel without device migration)")
        }
        _ => None,
    }
}

/// A kmem tracepoint field offset; MISSING when tracefs is absent (only the allocation
/// rule needs these, and it reports itself unavailable then).
fn tracepoint_field(name: &str, field: &str) -> FieldOffset {
    super::tracefs::field_offset("kmem", name, field).unwrap_or(MISSING)
}

/// Whether the start-up walk of existing intervals can run on this kernel, and if not why.
pub fn walk_unavailable(l: &KernelLayout) -> Option<&'static str> {
    if l.mm_subs == MISSING {
        Some("mm_struct has no notifier_subscriptions (kernel without CONFIG_MMU_NOTIFIER?)")
    } else if l.subs_leftmost == MISSING {
        Some(
            "struct mmu_notifier_subscriptions is not in this kernel's BTF (it is private to mm/mmu_notifier.c)",
        )
    } else {
        None
    }
}

/// `struct mmu_notifier_subscriptions` is private to mm/mmu_notifier.c; vmlinux BTF carries
/// it on the kernels checked (6.12, 6.18, 7.3), but a kernel without it only loses the
/// start-up walk, not live capture.
struct Walk {
    seq: FieldOffset,
    active: FieldOffset,
    leftmost: FieldOffset,
    deferred: FieldOffset,
}

impl Walk {
    fn resolve(btf: &Btf) -> Result<Walk> {
        let missing = Walk {
            seq: MISSING,
            active: MISSING,
            leftmost: MISSING,
            deferred: MISSING,
        };
        let Ok(subs) = Struct::find(btf, "mmu_notifier_subscriptions") else {
            return Ok(missing);
        };
        let cached = Struct::find(btf, "rb_root_cached")?;
        let itree = subs.optional(btf, "itree")?;
        if itree == MISSING {
            return Ok(missing);
        }
        Ok(Walk {
            seq: subs.member(btf, "invalidate_seq")?,
            active: subs.member(btf, "active_invalidate_ranges")?,
            leftmost: itree + cached.member(btf, "rb_leftmost")?,
            deferred: subs.member(btf, "deferred_list")?,
        })
    }
}

pub(super) struct Struct {
    name: &'static str,
    ty: btf_rs::Struct,
}

impl Struct {
    pub(super) fn find(btf: &Btf, name: &'static str) -> Result<Struct> {
        let types = btf
            .resolve_types_by_name(name)
            .with_context(|| format!("kernel BTF has no type `struct {name}`"))?;
        let ty = types
            .into_iter()
            .find_map(|t| match t {
                Type::Struct(s) => Some(s),
                _ => None,
            })
            .with_context(|| format!("kernel BTF has `{name}` but not as a struct"))?;
        Ok(Struct { name, ty })
    }

    pub(super) fn member(&self, btf: &Btf, field: &str) -> Result<FieldOffset> {
        match self.optional(btf, field)? {
            MISSING => bail!("kernel BTF: `struct {}` has no member `{field}`", self.name),
            off => Ok(off),
        }
    }

    /// Byte offset of `field`, looking through anonymous struct/union members (the kernel
    /// uses them, e.g. for randomized layouts), or `MISSING`.
    pub(super) fn optional(&self, btf: &Btf, field: &str) -> Result<FieldOffset> {
        Ok(self.bits(btf, field)?.map_or(MISSING, |(b, _)| b / 8))
    }

    /// Bit offset of `field` and, for a bitfield, its width.
    pub(super) fn bits(&self, btf: &Btf, field: &str) -> Result<Option<(u32, Option<u32>)>> {
        find_member(btf, &self.ty, field, 0)
            .with_context(|| format!("reading `struct {}` from kernel BTF", self.name))
    }

    pub(super) fn size(&self) -> usize {
        self.ty.size()
    }
}

fn find_member(
    btf: &Btf,
    s: &btf_rs::Struct,
    field: &str,
    base_bits: u32,
) -> Result<Option<(u32, Option<u32>)>> {
    for m in &s.members {
        let name = btf.resolve_name(m).unwrap_or_default();
        let bits = base_bits + m.bit_offset();
        if name == field {
            return Ok(Some((bits, m.bitfield_size().filter(|&w| w > 0))));
        }
        if name.is_empty()
            && let Type::Struct(inner) | Type::Union(inner) = btf.resolve_chained_type(m)?
            && let Some(found) = find_member(btf, &inner, field, bits)?
        {
            return Ok(Some(found));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs against the build machine's own kernel BTF when it has one: the layout of any
    /// kernel with CONFIG_MMU_NOTIFIER must resolve, and the well-known offsets hold.
    #[test]
    fn resolves_the_running_kernel() {
        let path = Path::new(VMLINUX_BTF);
        if !path.exists() {
            eprintln!("skipped: no {VMLINUX_BTF} on this machine");
            return;
        }
        let btf = open_vmlinux(path).unwrap();
        let l = resolve(&btf).unwrap();
        // interval_tree_node: rb_node (24 bytes) then start, last.
        assert_eq!(l.sub_start, 24);
        assert_eq!(l.sub_last, 32);
        assert!(l.sub_ops > l.sub_last && l.sub_mm > l.sub_ops);
        assert_eq!(l.ops_invalidate, 0);
        assert!(l.range_end == l.range_start + 8);
        assert_eq!((l.rb_right, l.rb_left), (8, 16));
        assert_eq!(
            walk_unavailable(&l),
            None,
            "6.12+ BTF carries the subscriptions struct"
        );
        assert_eq!(
            l.subs_leftmost, 40,
            "itree at 32, rb_leftmost 8 into it (kernel-notes §1)"
        );
    }

    #[test]
    fn missing_btf_names_the_cause() {
        let err = open_vmlinux(Path::new("/nonexistent/btf")).err().unwrap();
        assert!(format!("{err:#}").contains("CONFIG_DEBUG_INFO_BTF"));
    }
}
