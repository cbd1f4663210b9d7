//! Kernel stacks the hazard hooks recorded (by id, in the STACKS map).

use anyhow::{Context as _, Result};
use aya::maps::{MapData, StackTraceMap};
use notifier_common::names;

use super::Probes;
use crate::symbols::KernelSymbols;

impl Probes {
    /// The symbolized frames of stack `id`, innermost first.
    pub fn stack(&self, id: u64, syms: &KernelSymbols) -> Result<Vec<String>> {
        let map: StackTraceMap<&MapData> =
            StackTraceMap::try_from(self.ebpf.map(names::STACKS).context("STACKS map missing")?)?;
        let trace = map
            .get(&(id as u32), 0)
            .with_context(|| format!("stack {id}"))?;
        Ok(trace.frames().iter().map(|f| syms.frame(f.ip)).collect())
    }
}
