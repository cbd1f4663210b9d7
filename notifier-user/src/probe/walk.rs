//! Running the start-up walk (the `iter/task` program in notifier-ebpf's bootstrap module):
//! every interval registered before notifier-top started reaches the ring buffer as an
//! `Existing` event, in order with live events.

use std::io::Read as _;

use anyhow::{Context as _, Result, anyhow};
use aya::{
    maps::{Array, MapData},
    programs::Iter,
};
use notifier_common::{
    KernelLayout, names,
    walk::{ALL_TASKS, GENERATION, LISTED, MAX_LISTED},
};

use super::{Probes, layout::walk_unavailable};
use crate::stream::{Attach, Hook, HookStatus};

pub(super) const PROGRAM: &str = "bootstrap_task";

impl Probes {
    /// Loads the walker; on failure the status says why and live capture goes on without it.
    pub(super) fn prepare_walk(&mut self, layout: &KernelLayout) -> HookStatus {
        let result = match walk_unavailable(layout) {
            Some(why) => Err(anyhow!(why)),
            None => self.load_walker(),
        };
        self.walk_ready = result.is_ok();
        match result {
            Ok(()) => HookStatus::new(
                Hook::Bootstrap,
                Attach::IterTask,
                "existing intervals walked at start-up",
            ),
            Err(e) => HookStatus::missing(Hook::Bootstrap, format!("{e:#}")),
        }
    }

    fn load_walker(&mut self) -> Result<()> {
        let btf = self
            .btf
            .as_ref()
            .map_err(|e| anyhow!("kernel BTF for the task iterator: {e}"))?;
        let iter: &mut Iter = self
            .ebpf
            .program_mut(PROGRAM)
            .context("bootstrap program missing from the eBPF object")?
            .try_into()?;
        iter.load("task", btf)
            .context("loading the iter/task walker (needs 5.8+)")?;
        Ok(())
    }

    /// Runs the walker: every task's mm when `all_tasks`, then each of `listed` (mms no
    /// task uses any more), [`MAX_LISTED`] per iterator run. Returns false when the walker
    /// is unavailable on this kernel.
    pub fn walk(&mut self, all_tasks: bool, listed: &[u64]) -> Result<bool> {
        if !self.walk_ready {
            return Ok(false);
        }
        let mut chunks: Vec<&[u64]> = listed.chunks(MAX_LISTED as usize).collect();
        if chunks.is_empty() {
            chunks.push(&[]);
        }
        for (i, chunk) in chunks.into_iter().enumerate() {
            self.walk_once(i == 0, all_tasks && i == 0, chunk)?;
        }
        Ok(true)
    }

    /// One iterator run. The generation is bumped once per walk, not per run, so an mm
    /// reported by one run (a task's, say) is not reported again by a later run's list.
    fn walk_once(&mut self, new_walk: bool, all_tasks: bool, listed: &[u64]) -> Result<()> {
        let mut mms: Array<&mut MapData, u64> = Array::try_from(
            self.ebpf
                .map_mut(names::WALK_MMS)
                .context("WALK_MMS map missing")?,
        )?;
        for (i, &mm) in listed.iter().enumerate() {
            mms.set(i as u32, mm, 0)?;
        }
        let mut ctl: Array<&mut MapData, u64> = Array::try_from(
            self.ebpf
                .map_mut(names::WALK_CTL)
                .context("WALK_CTL map missing")?,
        )?;
        if new_walk {
            let next = ctl.get(&GENERATION, 0)? + 1;
            ctl.set(GENERATION, next, 0)?;
        }
        ctl.set(ALL_TASKS, all_tasks as u64, 0)?;
        ctl.set(LISTED, listed.len() as u64, 0)?;
        let iter: &mut Iter = self
            .ebpf
            .program_mut(PROGRAM)
            .context("bootstrap program missing")?
            .try_into()?;
        let link = iter.attach()?;
        let link = iter.take_link(link)?;
        let mut file = link.into_file().context("creating the task iterator")?;
        // The program writes to the ring buffer, not to the seq_file: reading just runs it.
        let mut sink = Vec::new();
        file.read_to_end(&mut sink)
            .context("running the task iterator")?;
        Ok(())
    }
}
