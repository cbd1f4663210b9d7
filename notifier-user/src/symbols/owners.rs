//! Which driver a callback belongs to. Module symbols carry their module name already; this
//! table adds the in-tree callbacks' human names (kernel-notes.md §3) so that built-in
//! drivers are recognised too, and lets the loader hook known callbacks at start-up instead
//! of after their first insert.

/// (callback function, driver) for the in-tree interval-notifier users.
pub const KNOWN_CALLBACKS: &[(&str, &str)] = &[
    ("nouveau_svm_range_invalidate", "nouveau"),
    ("amdgpu_hmm_invalidate_gfx", "amdgpu"),
    ("amdgpu_hmm_invalidate_hsa", "amdgpu"),
    ("svm_range_cpu_invalidate_pagetables", "amdgpu (kfd svm)"),
    ("i915_gem_userptr_invalidate", "i915"),
    ("vma_userptr_invalidate", "xe"),
    ("xe_vma_userptr_invalidate_start", "xe"),
    ("drm_gpusvm_notifier_invalidate", "drm_gpusvm"),
    ("radeon_mn_invalidate", "radeon"),
    ("mlx5_ib_invalidate_range", "mlx5_ib (RDMA ODP)"),
    ("rxe_ib_invalidate_range", "rdma_rxe (RDMA ODP)"),
    ("tid_rb_invalidate", "hfi1"),
    ("tid_cover_invalidate", "hfi1"),
    ("gntdev_invalidate", "xen gntdev"),
    ("dmirror_interval_invalidate", "test_hmm"),
    ("dmirror_snapshot_invalidate", "test_hmm"),
    ("amdxdna_hmm_invalidate", "amdxdna"),
];

/// The driver name for a callback symbol: the table's name for known callbacks, else the
/// module, else `None` (a built-in function notifier-top does not know).
pub fn driver_of(function: &str, module: Option<&str>) -> Option<String> {
    KNOWN_CALLBACKS
        .iter()
        .find(|(f, _)| *f == function)
        .map(|(_, d)| (*d).to_owned())
        .or_else(|| module.map(str::to_owned))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_callbacks_win_over_module_names() {
        assert_eq!(
            driver_of("rxe_ib_invalidate_range", Some("rdma_rxe")).as_deref(),
            Some("rdma_rxe (RDMA ODP)")
        );
        assert_eq!(
            driver_of("nf_invalidate", Some("notifier_fixture")).as_deref(),
            Some("notifier_fixture")
        );
        assert_eq!(driver_of("mystery", None), None);
    }
}
