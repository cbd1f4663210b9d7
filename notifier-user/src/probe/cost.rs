//! The programs' own in-kernel cost, from the kernel's BPF run-time statistics
//! (BPF_ENABLE_STATS, 5.8+): run count and total run time per program.

use std::os::fd::OwnedFd;

use anyhow::{Context as _, Result};
use aya::sys::{Stats, enable_stats};

use super::Probes;
use crate::stream::ProgramCost;

/// Keeps run-time statistics on for as long as it lives (the kernel turns them off when
/// the last such fd closes: they cost two clock reads per program run).
pub struct CostStats {
    _fd: OwnedFd,
}

impl CostStats {
    pub fn enable() -> Result<CostStats> {
        let fd = enable_stats(Stats::RunTime).context("BPF_ENABLE_STATS(RUN_TIME)")?;
        Ok(CostStats { _fd: fd })
    }
}

impl Probes {
    /// Cost of every loaded program, in the order the object defines them.
    pub fn costs(&self) -> Vec<ProgramCost> {
        self.ebpf
            .programs()
            .filter_map(|(name, p)| {
                let info = p.info().ok()?;
                Some(ProgramCost {
                    program: name.to_owned(),
                    run_count: info.run_count(),
                    run_time_ns: info.run_time().as_nanos() as u64,
                })
            })
            .collect()
    }
}
