//! The deep scan: address spaces no task uses any more, found where they live.
//!
//! A process that exited while a driver kept its intervals leaves an mm_struct that no
//! kernel list links: the task iterator cannot reach it, and until an event names it, which
//! for a leak may be never, nothing would show it. The scan finds it the way drgn's slab
//! helpers do: it reads every struct page of RAM through `/proc/kcore`, keeps the slabs of
//! the mm_struct cache (`mm_cachep`), and checks each of their objects' interval trees
//! (`scan.rs`). What it finds is handed to the walker by pointer, which reports it like any
//! mm; one with no users left is marked exited. Everything it reads comes from BTF offsets
//! and kallsyms; a kernel without what it needs loses only the scan, with the reason said.

mod kcore;
mod scan;

use std::{path::Path, time::Duration};

use anyhow::{Context as _, Result, bail};
use btf_rs::Btf;
use log::{info, warn};
use notifier_common::{KernelLayout, MISSING};

pub use scan::{Found, Rejected, Report};

use self::{
    kcore::Kcore,
    scan::{Layout, Memory as _, Plan},
};
use super::layout::{Struct, walk_unavailable};
use crate::{
    stream::{Attach, Hook, HookStatus},
    symbols::KernelSymbols,
};

/// A scan stops here and says how far it got (the next one goes on from there): 2 GiB take
/// about 150 ms in the test bed's emulated guest, so only a very large machine reaches it.
pub const BUDGET: Duration = Duration::from_secs(10);

/// Ready to scan: `/proc/kcore` open, and where everything is on this boot.
pub struct DeepScan {
    kcore: Kcore,
    plan: Plan,
    /// Where the next scan begins: where the last one ran out of budget.
    resume: u64,
}

impl DeepScan {
    pub fn prepare(btf: &Btf, layout: &KernelLayout, syms: &KernelSymbols) -> Result<DeepScan> {
        if let Some(why) = walk_unavailable(layout) {
            bail!("{why}");
        }
        let scan_layout = resolve(btf, layout)?;
        let var = |name: &str| {
            syms.variable(name).with_context(|| {
                format!(
                    "/proc/kallsyms has no `{name}` (data symbols need CONFIG_KALLSYMS_ALL; \
                     `{name}` itself needs CONFIG_RANDOMIZE_MEMORY for the two base addresses)"
                )
            })
        };
        let (cache_at, vmemmap_at, direct_at) = (
            var("mm_cachep")?,
            var("vmemmap_base")?,
            var("page_offset_base")?,
        );
        let kcore = Kcore::open(Path::new(kcore::KCORE))?;
        let u64_at = |at: u64, what: &str| -> Result<u64> {
            let mut b = [0u8; 8];
            kcore
                .read(at, &mut b)
                .with_context(|| format!("reading {what} at 0x{at:x} through /proc/kcore"))?;
            Ok(u64::from_le_bytes(b))
        };
        let cache = u64_at(cache_at, "mm_cachep")?;
        let vmemmap = u64_at(vmemmap_at, "vmemmap_base")?;
        let direct_map = u64_at(direct_at, "page_offset_base")?;
        let size_off = Struct::find(btf, "kmem_cache")?.member(btf, "size")?;
        let mut size = [0u8; 4];
        kcore
            .read(cache + size_off as u64, &mut size)
            .context("reading the mm_struct cache's object size")?;
        let object_size = u32::from_le_bytes(size);
        let mm_size = Struct::find(btf, "mm_struct")?.size() as u32;
        if object_size < mm_size || object_size > 1 << 16 {
            bail!(
                "the cache at mm_cachep holds {object_size}-byte objects, not mm_structs \
                 ({mm_size} bytes and up)"
            );
        }
        let ram = kcore.ram(direct_map);
        let Some(first) = ram.first() else {
            bail!("/proc/kcore shows no RAM at the direct map (0x{direct_map:x})");
        };
        let mut probe = vec![0u8; scan_layout.page_size as usize];
        kcore
            .read(
                vmemmap + (first.start >> scan::PAGE_SHIFT) * scan_layout.page_size as u64,
                &mut probe,
            )
            .context("/proc/kcore shows no struct pages (a kernel without SPARSEMEM_VMEMMAP?)")?;
        Ok(DeepScan {
            kcore,
            plan: Plan {
                layout: scan_layout,
                cache,
                object_size,
                vmemmap,
                direct_map,
                ram,
            },
            resume: 0,
        })
    }

    /// How the scan works on this kernel, for `probes`.
    pub fn describe(&self) -> String {
        let ram: u64 = self.plan.ram.iter().map(|r| r.end - r.start).sum();
        format!(
            "mm_struct slabs ({} B objects) among the struct pages ({} B) of {:.1} GiB of RAM \
             in {} ranges, through /proc/kcore",
            self.plan.object_size,
            self.plan.layout.page_size,
            ram as f64 / (1u64 << 30) as f64,
            self.plan.ram.len()
        )
    }

    pub fn run(&mut self) -> Report {
        let report = scan::scan(&self.kcore, &self.plan, BUDGET, self.resume);
        self.resume = report.resume;
        report
    }
}

/// The scan's offsets from BTF; every one is required.
fn resolve(btf: &Btf, l: &KernelLayout) -> Result<Layout> {
    let page = Struct::find(btf, "page")?;
    let slab = Struct::find(btf, "slab")?;
    let Some((objects_bit, Some(objects_bits))) = slab.bits(btf, "objects")? else {
        bail!("kernel BTF: `struct slab` has no `objects` bitfield");
    };
    let mm = Struct::find(btf, "mm_struct")?;
    let subs = Struct::find(btf, "mmu_notifier_subscriptions")?;
    let itree = subs.member(btf, "itree")?
        + Struct::find(btf, "rb_root_cached")?.member(btf, "rb_root")?
        + Struct::find(btf, "rb_root")?.member(btf, "rb_node")?;
    let page_size = page.size() as u32;
    let slab_cache = slab.member(btf, "slab_cache")?;
    if slab_cache + 8 > page_size || objects_bit / 8 + 4 > page_size {
        bail!("kernel BTF: `struct slab` does not fit in `struct page` ({page_size} bytes)");
    }
    if l.mm_users == MISSING {
        bail!("kernel BTF: `struct mm_struct` has no `mm_users`");
    }
    Ok(Layout {
        page_size,
        slab_cache,
        slab_objects_bit: objects_bit,
        slab_objects_bits: objects_bits,
        mm_subs: l.mm_subs,
        mm_users: l.mm_users,
        mm_count: mm.member(btf, "mm_count")?,
        subs_root: itree,
        subs_leftmost: l.subs_leftmost,
        rb_parent: Struct::find(btf, "rb_node")?.member(btf, "__rb_parent_color")?,
        rb_left: l.rb_left,
        rb_right: l.rb_right,
        sub_start: l.sub_start,
        sub_last: l.sub_last,
        sub_mm: l.sub_mm,
    })
}

impl super::Probes {
    /// Opens what the scan needs; on failure the status says why and the rest goes on.
    pub(super) fn prepare_deep_scan(
        &mut self,
        btf: &Btf,
        layout: &KernelLayout,
        syms: &KernelSymbols,
    ) {
        let status = match DeepScan::prepare(btf, layout, syms) {
            Ok(scan) => {
                let status = HookStatus::new(Hook::DeepScan, Attach::Kcore, scan.describe());
                self.deep_scan = Some(scan);
                status
            }
            Err(e) => {
                warn!(
                    "the deep scan cannot run ({e:#}): address spaces of exited processes are \
                     found only once an event names them"
                );
                HookStatus::missing(Hook::DeepScan, format!("{e:#}"))
            }
        };
        self.status.push(status);
    }

    /// `--no-deep-scan`.
    pub fn disable_deep_scan(&mut self) {
        self.deep_scan = None;
        for s in self.status.iter_mut().filter(|s| s.hook == Hook::DeepScan) {
            *s = HookStatus::missing(Hook::DeepScan, "turned off (--no-deep-scan)");
        }
    }

    /// Scans, when the scan is available and wanted.
    pub fn deep_scan(&mut self) -> Option<Report> {
        let report = self.deep_scan.as_mut()?.run();
        if report.complete && report.unreadable_pages == 0 {
            info!("deep scan: {report}");
        } else {
            warn!("deep scan: {report}");
        }
        Some(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::layout::{self, VMLINUX_BTF};

    /// On the build machine's own kernel BTF, when it has one: the scan's offsets resolve,
    /// and a kallsyms without the variables names the configuration it needs.
    #[test]
    fn resolves_the_running_kernel_and_names_what_is_missing() {
        let path = Path::new(VMLINUX_BTF);
        if !path.exists() {
            eprintln!("skipped: no {VMLINUX_BTF} on this machine");
            return;
        }
        let btf = layout::open_vmlinux(path).unwrap();
        let l = layout::resolve(&btf).unwrap();
        let s = resolve(&btf, &l).unwrap();
        assert!(s.page_size >= 64 && s.slab_cache < s.page_size, "{s:?}");
        assert_eq!(s.slab_objects_bits, 15, "struct slab's objects:15");
        assert_eq!((s.rb_parent, s.subs_leftmost), (0, s.subs_root + 8));
        let err = DeepScan::prepare(&btf, &l, &KernelSymbols::default())
            .err()
            .unwrap();
        assert!(
            format!("{err:#}").contains("CONFIG_KALLSYMS_ALL"),
            "{err:#}"
        );
    }
}
