//! The programs' own in-kernel cost, from the kernel's BPF run-time statistics
//! (BPF_ENABLE_STATS, 5.8+): run count and total run time per program.

use std::os::fd::OwnedFd;

use anyhow::{Context as _, Result};
use aya::sys::{Stats, enable_stats};
use serde::{Deserialize, Serialize};

use super::Probes;

/// Cost of one loaded program since it was loaded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProgramCost {
    pub program: String,
    pub run_count: u64,
    pub run_time_ns: u64,
}

impl ProgramCost {
    pub fn ns_per_run(&self) -> Option<f64> {
        (self.run_count > 0).then(|| self.run_time_ns as f64 / self.run_count as f64)
    }
}

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
