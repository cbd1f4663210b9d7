//! The live source: drains the kernel ring buffer as it becomes readable.

use anyhow::{Context as _, Result};
use aya::maps::{MapData, PerCpuArray, RingBuf};
use notifier_common::{EVENT_SIZE, Event, names};
use tokio::io::unix::AsyncFd;

use crate::probe::Probes;

/// The ring buffer plus the kernel's count of events it had no room for.
pub struct LiveSource {
    ring: AsyncFd<RingBuf<MapData>>,
    drops: PerCpuArray<MapData, u64>,
    /// Records whose size did not match the ABI (a build mismatch: never expected).
    pub malformed: u64,
}

impl LiveSource {
    pub fn new(probes: &mut Probes) -> Result<Self> {
        let ring = probes
            .ebpf
            .take_map(names::EVENTS)
            .context("EVENTS map missing")?;
        let ring = RingBuf::try_from(ring).context("EVENTS is not a ring buffer")?;
        let drops = probes
            .ebpf
            .take_map(names::DROPS)
            .context("DROPS map missing")?;
        let drops = PerCpuArray::try_from(drops).context("DROPS is not a per-CPU array")?;
        #[allow(
            deprecated,
            reason = "the replacement API is not in the tokio versions we support"
        )]
        let ring = AsyncFd::new(ring).context("registering the ring buffer with tokio")?;
        Ok(LiveSource {
            ring,
            drops,
            malformed: 0,
        })
    }

    /// Waits until the ring buffer has data, then hands up to [`BATCH_MAX`] queued events
    /// to `sink`.
    pub async fn next_batch(&mut self, mut sink: impl FnMut(&Event)) -> Result<usize> {
        let mut guard = self
            .ring
            .readable_mut()
            .await
            .context("polling the ring buffer")?;
        let n = drain(
            guard.get_inner_mut(),
            &mut self.malformed,
            &mut sink,
            BATCH_MAX,
        );
        // Still ready when the batch was cut short: the rest comes with the next call.
        if n < BATCH_MAX {
            guard.clear_ready();
        }
        Ok(n)
    }

    /// Hands every event queued right now to `sink` without waiting (used at shutdown so
    /// nothing already captured is lost).
    pub fn drain_now(&mut self, mut sink: impl FnMut(&Event)) -> usize {
        drain(
            self.ring.get_mut(),
            &mut self.malformed,
            &mut sink,
            usize::MAX,
        )
    }

    /// Total events the kernel dropped because the ring buffer was full.
    pub fn dropped(&self) -> Result<u64> {
        let per_cpu = self.drops.get(&0, 0).context("reading the DROPS counter")?;
        Ok(per_cpu.iter().sum())
    }
}

/// Events handed over per wake-up at most: a full ring (~87k events) drained in one go
/// would keep a caller's select loop (keys, frames, signals) waiting for a second under
/// emulation.
pub const BATCH_MAX: usize = 4096;

fn drain(
    ring: &mut RingBuf<MapData>,
    malformed: &mut u64,
    sink: &mut impl FnMut(&Event),
    limit: usize,
) -> usize {
    let mut n = 0;
    while n < limit
        && let Some(item) = ring.next()
    {
        match (item.len() == EVENT_SIZE)
            .then(|| Event::from_bytes(&item))
            .flatten()
        {
            Some(ev) => sink(&ev),
            None => *malformed += 1,
        }
        n += 1;
    }
    n
}
