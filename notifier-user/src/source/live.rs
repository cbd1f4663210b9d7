//! The live source: drains the kernel ring buffer when it becomes readable, and while it
//! is busy, every `LINGER`.

use anyhow::{Context as _, Result};
use aya::maps::{MapData, PerCpuArray, RingBuf};
use notifier_common::{EVENT_SIZE, Event, names};
use std::time::Duration;
use tokio::{io::unix::AsyncFd, time::Instant};

use crate::probe::Probes;

/// The ring buffer plus the kernel's count of events it had no room for.
pub struct LiveSource {
    ring: AsyncFd<RingBuf<MapData>>,
    drops: PerCpuArray<MapData, u64>,
    /// Records whose size did not match the ABI (a build mismatch: never expected).
    pub malformed: u64,
    /// What the last drain found, which decides when to drain next.
    last: Last,
}

/// What the last drain found.
enum Last {
    /// Nothing: wait for the kernel's wake-up.
    Empty,
    /// Events, at this time: the ring is busy, let it gather until `LINGER` after.
    Busy(Instant),
    /// `BATCH_MAX` events with more left: the rest follows at once.
    Backlog,
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
            last: Last::Empty,
        })
    }

    /// Hands up to [`BATCH_MAX`] queued events to `sink`: at once after a batch cut short,
    /// [`LINGER`] after a drain that found events, otherwise when the kernel wakes us.
    /// Cancel-safe: nothing is drained before the last await.
    pub async fn next_batch(&mut self, mut sink: impl FnMut(&Event)) -> Result<usize> {
        loop {
            match self.last {
                Last::Backlog => tokio::task::yield_now().await,
                Last::Busy(since) => tokio::time::sleep_until(since + LINGER).await,
                // Cleared before draining: a record committed after the drain finds the
                // ring empty and wakes us again.
                Last::Empty => self
                    .ring
                    .readable_mut()
                    .await
                    .context("polling the ring buffer")?
                    .clear_ready(),
            }
            let n = drain(
                self.ring.get_mut(),
                &mut self.malformed,
                &mut sink,
                BATCH_MAX,
            );
            self.last = match n {
                0 => Last::Empty,
                BATCH_MAX => Last::Backlog,
                _ => Last::Busy(Instant::now()),
            };
            if n > 0 {
                return Ok(n);
            }
        }
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

/// Events handed over per drain at most: a full ring (~87k events) drained in one go
/// would keep a caller's select loop (keys, frames, signals) waiting for a second under
/// emulation.
pub const BATCH_MAX: usize = 4096;

/// How long a busy ring is left to fill between drains. The kernel wakes the reader only
/// for a record that finds the ring empty, and a wake-up is an irq_work inside the hook
/// that submitted it: a reader that drained every event as it came would be woken, and
/// each hook would pay for it, once per event. Lingering makes it once per `LINGER`
/// under load; an idle ring is waited on without any timer, so a lone event shows at
/// once. 10 ms is below what a person notices and, at a million events per second, an
/// eighth of the ring.
const LINGER: Duration = Duration::from_millis(10);

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
