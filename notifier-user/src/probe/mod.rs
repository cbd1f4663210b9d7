//! Everything between the kernel and the event stream: the layout from BTF, the attach plan,
//! loading and attaching, and the capability checks that explain what cannot work and why.

pub mod attach;
pub mod callbacks;
pub mod capabilities;
pub mod cost;
pub mod deep_scan;
pub mod filter;
pub mod layout;
pub mod plan;
pub mod preflight;
pub mod ring;
pub mod skips;
pub mod stacks;
pub mod tracefs;
pub mod walk;

use std::{path::Path, time::Instant};

use anyhow::{Context as _, Result};
use log::{debug, info};

pub use attach::Probes;
pub use plan::Mode;

use crate::symbols::KernelSymbols;

/// From nothing to armed hooks: privileges, the layout from the running kernel's BTF,
/// kallsyms, then loading and attaching in `forced` mode or the best the kernel allows.
/// The symbols come back too: everything after needs them to name callbacks and stacks.
pub fn arm(
    forced: Option<Mode>,
    rules: bool,
    selection: &filter::Selection,
) -> Result<(Probes, KernelSymbols)> {
    preflight::require_privileges()?;
    preflight::raise_memlock();
    let reading = Instant::now();
    let btf = layout::open_vmlinux(Path::new(layout::VMLINUX_BTF))?;
    let layout = layout::resolve(&btf).context("resolving the kernel layout from BTF")?;
    debug!("kernel layout: {layout:?}");
    let syms = KernelSymbols::load()?;
    info!(
        "kernel layout and symbols read in {:.2?}",
        reading.elapsed()
    );
    let mut probes = Probes::attach(&layout, forced, &syms, rules, selection)?;
    probes.prepare_deep_scan(&btf, &layout, &syms);
    Ok((probes, syms))
}
