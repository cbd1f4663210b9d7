//! `notifier-top probes`: how each hook attaches on this kernel, or why it cannot.

use std::{path::Path, process::ExitCode};

use anyhow::Result;
use notifier_user::{
    export::text,
    probe::{Probes, filter::Selection, layout, preflight},
    symbols::KernelSymbols,
};

use crate::cli::ProbesArgs;

pub fn run(args: ProbesArgs) -> Result<ExitCode> {
    preflight::require_privileges()?;
    preflight::raise_memlock();
    let btf = layout::open_vmlinux(Path::new(layout::VMLINUX_BTF))?;
    let layout = layout::resolve(&btf)?;
    let syms = KernelSymbols::load()?;
    let probes = Probes::attach(
        &layout,
        args.attach,
        &syms,
        args.rules,
        &Selection::default(),
    )?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&probes.status)?);
    } else {
        print!("{}", text::hook_table(&probes.status));
    }
    Ok(ExitCode::SUCCESS)
}
