//! Values the kernel defines and the probes or the model compare against: its enums and
//! flag bits, spelled once, by their kernel names.

wire_enum! {
    /// `enum mmu_notifier_event` (include/linux/mmu_notifier.h; stable since 5.0, later
    /// additions at the end): why a range is invalidated.
    pub enum MmuEvent {
        Unmap = 0 => "unmap",
        Clear = 1 => "clear",
        ProtectionVma = 2 => "protection_vma",
        ProtectionPage = 3 => "protection_page",
        SoftDirty = 4 => "soft_dirty",
        Release = 5 => "release",
        Migrate = 6 => "migrate",
        Exclusive = 7 => "exclusive",
    }
}

/// `LIST_POISON1` on x86-64 (POISON_POINTER_DELTA 0xdead000000000000 + 0x100): what
/// `__mmu_notifier_subscriptions_destroy` leaves in `mm->notifier_subscriptions`.
pub const LIST_POISON1: u64 = 0xdead_0000_0000_0100;

/// `PF_MEMALLOC` (include/linux/sched.h): the task is in a no-reclaim scope
/// (`memalloc_noreclaim_save`), so its allocations cannot recurse into reclaim.
pub const PF_MEMALLOC: u32 = 0x0000_0800;

/// `MMU_NOTIFIER_RANGE_BLOCKABLE` (include/linux/mmu_notifier.h).
pub const MMU_NOTIFIER_RANGE_BLOCKABLE: u32 = 1;

/// `MIGRATE_PFN_MIGRATE` (include/linux/migrate.h): a `migrate_vma` source entry the kernel
/// is migrating; `migrate_vma_pages` clears it for every page it could not move.
pub const MIGRATE_PFN_MIGRATE: u64 = 1 << 1;

wire_enum! {
    /// `MIGRATE_VMA_SELECT_*` (include/linux/migrate.h): which pages a migration collects,
    /// i.e. its direction. A bit set: the name outputs use for the migration.
    pub enum MigrateSelect {
        System = 1 => "to_device",
        DevicePrivate = 2 => "from_device",
        DeviceCoherent = 4 => "from_coherent",
        Compound = 8 => "compound",
    }
}

/// Error codes the kernel returns on the hooked paths, negated as functions return them.
pub mod errno {
    pub const EAGAIN: i32 = -11;
    pub const EINVAL: i32 = -22;
    pub const EBUSY: i32 = -16;
    pub const EFAULT: i32 = -14;
    pub const EPERM: i32 = -1;
}
