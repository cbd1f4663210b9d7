//! The kernel layout the probes read with: every offset resolved from the running kernel's
//! BTF by userspace before the programs load.

/// Offset of a kernel struct member in bytes, or [`MISSING`] when this kernel has no such
/// member. Userspace resolves every one from the running kernel's BTF before loading.
pub type FieldOffset = u32;
pub const MISSING: FieldOffset = u32::MAX;

/// The kernel layout the probes read with, filled from BTF at start-up (rustc emits no
/// CO-RE relocations, so nothing layout-specific may be compiled into the programs).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KernelLayout {
    /// `struct mmu_interval_notifier`: `interval_tree.start`, `interval_tree.last`, `ops`,
    /// `mm`, `invalidate_seq`. `interval_tree.rb` is always at 0 (asserted at resolve time).
    pub sub_start: FieldOffset,
    pub sub_last: FieldOffset,
    pub sub_ops: FieldOffset,
    pub sub_mm: FieldOffset,
    pub sub_seq: FieldOffset,
    /// `struct mmu_interval_notifier_ops`: `invalidate`, and on 7.x `invalidate_start`.
    pub ops_invalidate: FieldOffset,
    pub ops_invalidate_start: FieldOffset,
    /// `struct mmu_notifier_range`: `mm`, `start`, `end`, `flags`, `event`.
    pub range_mm: FieldOffset,
    pub range_start: FieldOffset,
    pub range_end: FieldOffset,
    pub range_flags: FieldOffset,
    pub range_event: FieldOffset,
    /// Bootstrap walk: `task_struct.mm`, `.tgid`, `.comm`; `mm_struct.notifier_subscriptions`
    /// (MISSING without CONFIG_MMU_NOTIFIER); `struct mmu_notifier_subscriptions`:
    /// `invalidate_seq`, `active_invalidate_ranges`, `itree.rb_leftmost`,
    /// `deferred_list`; `mmu_interval_notifier.deferred_item`; `rb_node.rb_right/rb_left`.
    pub task_mm: FieldOffset,
    pub task_tgid: FieldOffset,
    pub task_comm: FieldOffset,
    pub mm_subs: FieldOffset,
    /// `mm_struct.mm_users`: 0 once every process using the mm has exited.
    pub mm_users: FieldOffset,
    pub subs_seq: FieldOffset,
    pub subs_active: FieldOffset,
    pub subs_leftmost: FieldOffset,
    pub subs_deferred: FieldOffset,
    pub sub_deferred_item: FieldOffset,
    pub rb_right: FieldOffset,
    pub rb_left: FieldOffset,
    /// Insert discipline: `mm_struct.mmap_lock.owner` (the rwsem's owner word).
    pub mm_mmap_lock_owner: FieldOffset,
    /// Rules: `task_struct.flags` (PF_MEMALLOC), the `__GFP_DIRECT_RECLAIM` bit value, and
    /// the `gfp_flags` / `call_site` offsets in the kmem tracepoint records (from their
    /// tracefs format files).
    pub task_flags: FieldOffset,
    pub gfp_direct_reclaim: u32,
    pub tp_kmalloc_gfp: FieldOffset,
    pub tp_kmalloc_call_site: FieldOffset,
    pub tp_cache_alloc_gfp: FieldOffset,
    pub tp_cache_alloc_call_site: FieldOffset,
    pub tp_page_alloc_gfp: FieldOffset,
    /// The HMM layer: `struct hmm_range` `notifier`, `notifier_seq`, `start`, `end`;
    /// `struct migrate_vma` `vma`, `src`, `cpages`, `npages`, `start`, `end`,
    /// `pgmap_owner`, `flags`; `vm_area_struct.vm_mm`. MISSING where the kernel has no
    /// such struct (its hooks then report themselves unavailable).
    pub hmm_notifier: FieldOffset,
    pub hmm_notifier_seq: FieldOffset,
    pub hmm_start: FieldOffset,
    pub hmm_end: FieldOffset,
    pub mig_vma: FieldOffset,
    pub mig_src: FieldOffset,
    pub mig_cpages: FieldOffset,
    pub mig_npages: FieldOffset,
    pub mig_start: FieldOffset,
    pub mig_end: FieldOffset,
    pub mig_owner: FieldOffset,
    pub mig_flags: FieldOffset,
    pub vma_mm: FieldOffset,
    /// Process id (tgid) of notifier-top itself, whose own activity is never traced.
    pub self_tgid: u32,
}

impl KernelLayout {
    pub const UNRESOLVED: KernelLayout = KernelLayout {
        sub_start: MISSING,
        sub_last: MISSING,
        sub_ops: MISSING,
        sub_mm: MISSING,
        sub_seq: MISSING,
        ops_invalidate: MISSING,
        ops_invalidate_start: MISSING,
        range_mm: MISSING,
        range_start: MISSING,
        range_end: MISSING,
        range_flags: MISSING,
        range_event: MISSING,
        task_mm: MISSING,
        task_tgid: MISSING,
        task_comm: MISSING,
        mm_subs: MISSING,
        mm_users: MISSING,
        subs_seq: MISSING,
        subs_active: MISSING,
        subs_leftmost: MISSING,
        subs_deferred: MISSING,
        sub_deferred_item: MISSING,
        rb_right: MISSING,
        rb_left: MISSING,
        mm_mmap_lock_owner: MISSING,
        task_flags: MISSING,
        gfp_direct_reclaim: 0,
        tp_kmalloc_gfp: MISSING,
        tp_kmalloc_call_site: MISSING,
        tp_cache_alloc_gfp: MISSING,
        tp_cache_alloc_call_site: MISSING,
        tp_page_alloc_gfp: MISSING,
        hmm_notifier: MISSING,
        hmm_notifier_seq: MISSING,
        hmm_start: MISSING,
        hmm_end: MISSING,
        mig_vma: MISSING,
        mig_src: MISSING,
        mig_cpages: MISSING,
        mig_npages: MISSING,
        mig_start: MISSING,
        mig_end: MISSING,
        mig_owner: MISSING,
        mig_flags: MISSING,
        vma_mm: MISSING,
        self_tgid: 0,
    };
}

#[cfg(feature = "user")]
// SAFETY: plain old data, repr(C), no padding holes.
unsafe impl aya::Pod for KernelLayout {}
