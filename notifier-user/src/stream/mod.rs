//! The stream contract: what every source of events (the live ring buffer, a recording)
//! hands downstream, and what every consumer (the pipeline, the view, a recording writer)
//! accepts. It sits below both, so the model and the outputs never depend on where the
//! events come from.

mod hooks;

use anyhow::Result;
use notifier_common::Event;

pub use hooks::{Attach, Hook, HookStatus};

use crate::symbols::Symbol;

/// Where a stream goes (the pipeline: mirror, rules, printers, recorders).
pub trait Sink {
    fn event(&mut self, ev: &Event);
    /// A driver callback's symbol, before the first event that names it.
    fn owner(&mut self, sym: &Symbol);
    /// A hazard's symbolized kernel stack, before the event that refers to it.
    fn stack(&mut self, id: u64, frames: Vec<String>);
    /// The kernel's running totals of what it did not capture.
    fn lost(&mut self, loss: Loss);
    /// The end of a batch the reader drained: what was written reaches its reader now (a
    /// trace on a pipe is live). An error ends the stream (a closed pipe, for one).
    fn flush(&mut self) -> anyhow::Result<()> {
        Ok(())
    }
    /// The session's periodic upkeep, events or not: buffered outputs reach their files (a
    /// recording's open block is closed and written, so a killed recorder loses little).
    fn tick(&mut self) -> anyhow::Result<()> {
        self.flush()
    }
    /// The programs' own cost so far, at each upkeep of a live session whose kernel
    /// statistics are on (see `LiveSession::enable_cost_stats`).
    fn costs(&mut self, _costs: &[ProgramCost]) {}
}

/// Cost of one loaded program since it was loaded.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ProgramCost {
    pub program: String,
    pub run_count: u64,
    pub run_time_ns: u64,
}

/// What the kernel reports it did not capture, as running totals since the stream began.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Loss {
    /// Events dropped because the ring buffer was full.
    pub ring_full: u64,
    /// Program runs the kernel skipped (its `recursion_misses`): each may be an event that
    /// was never emitted.
    pub skipped: u64,
}

impl Loss {
    pub fn any(&self) -> bool {
        self.ring_full > 0 || self.skipped > 0
    }
}

/// `N lost`, plus the skipped runs when there were any.
impl std::fmt::Display for Loss {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} lost", self.ring_full)?;
        if self.skipped > 0 {
            write!(f, ", {} program runs skipped by the kernel", self.skipped)?;
        }
        Ok(())
    }
}

/// What a stream saw by its end.
#[derive(Debug, Default)]
pub struct StreamEnd {
    pub events: u64,
    pub loss: Loss,
    /// Records whose size did not match the ABI (a build mismatch: never expected).
    pub malformed: u64,
}

/// A live stream the interactive view drives: it waits for events, runs its own upkeep
/// between them, and can be asked to re-check the model against the kernel.
#[allow(
    async_fn_in_trait,
    reason = "used with concrete types only, never boxed"
)]
pub trait Feed {
    /// Waits for the next batch and hands it to `sink`. Cancel-safe.
    async fn next(&mut self, sink: &mut impl Sink) -> Result<usize>;
    /// Work that falls due without events (periodic walks of the kernel's trees).
    fn maintain(&mut self) -> Result<()>;
    /// Compares the model with the kernel at the next opportunity.
    fn request_audit(&mut self);
    /// The tool's own in-kernel cost, when the kernel measures it.
    fn cost_summary(&self) -> Option<String>;
    /// Hands `sink` what is still queued and reports what the stream saw.
    fn finish(&mut self, sink: &mut impl Sink) -> Result<StreamEnd>;
}
