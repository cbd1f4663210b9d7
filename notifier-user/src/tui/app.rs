//! TUI state: the pipeline's model plus what the user is looking at. Input changes this;
//! drawing reads it; events only reach it through the pipeline (never drawn raw).

use std::collections::VecDeque;

use notifier_common::{Event, EventKind};

use crate::{export::trace, pipeline::Pipeline, probe::HookStatus, session::Sink, symbols::Symbol};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum View {
    Processes,
    Detail,
    Owners,
    Feed,
    Findings,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SortKey {
    Intervals,
    Bytes,
    Rate,
    CallbackP99,
    Waits,
    Pid,
    Comm,
}

impl SortKey {
    pub const ALL: [SortKey; 7] = [
        SortKey::Intervals,
        SortKey::Bytes,
        SortKey::Rate,
        SortKey::CallbackP99,
        SortKey::Waits,
        SortKey::Pid,
        SortKey::Comm,
    ];

    pub fn name(self) -> &'static str {
        match self {
            SortKey::Intervals => "intervals",
            SortKey::Bytes => "bytes",
            SortKey::Rate => "inval/s",
            SortKey::CallbackP99 => "cb p99",
            SortKey::Waits => "waits",
            SortKey::Pid => "pid",
            SortKey::Comm => "comm",
        }
    }
}

/// Lines kept for the event feed.
const FEED_LINES: usize = 2000;
/// Samples of the global invalidation rate kept for the sparkline (one per tick).
const RATE_SAMPLES: usize = 120;

pub struct App {
    pub pipeline: Pipeline,
    pub view: View,
    pub sort: SortKey,
    pub filter: String,
    pub editing_filter: bool,
    pub selected: usize,
    /// The mm shown by the detail view.
    pub detail_mm: Option<u64>,
    pub paused: bool,
    pub help: bool,
    pub feed: VecDeque<String>,
    pub kernel: String,
    pub attach: Vec<HookStatus>,
    pub source_label: String,
    /// Events per second and invalidations per second, per tick.
    pub events_per_sec: f64,
    pub rate_history: VecDeque<u64>,
    events_at_tick: u64,
    ranges_at_tick: u64,
    pub elapsed_s: f64,
    /// The tool's own in-kernel cost (ns per run, summed over programs), when known.
    pub bpf_cost: Option<String>,
    pub quit: bool,
}

impl App {
    pub fn new(
        pipeline: Pipeline,
        kernel: String,
        attach: Vec<HookStatus>,
        source_label: String,
    ) -> App {
        App {
            pipeline,
            view: View::Processes,
            sort: SortKey::Intervals,
            filter: String::new(),
            editing_filter: false,
            selected: 0,
            detail_mm: None,
            paused: false,
            help: false,
            feed: VecDeque::with_capacity(FEED_LINES),
            kernel,
            attach,
            source_label,
            events_per_sec: 0.0,
            rate_history: VecDeque::with_capacity(RATE_SAMPLES),
            events_at_tick: 0,
            ranges_at_tick: 0,
            elapsed_s: 0.0,
            bpf_cost: None,
            quit: false,
        }
    }

    /// Called once per second of wall time (live) or per refresh (replay).
    pub fn tick(&mut self, seconds: f64) {
        let events = self.pipeline.mirror.counters.events;
        let ranges = self.pipeline.mirror.counters.of(EventKind::RangeStart);
        self.events_per_sec = (events - self.events_at_tick) as f64 / seconds.max(1e-3);
        if self.rate_history.len() == RATE_SAMPLES {
            self.rate_history.pop_front();
        }
        self.rate_history.push_back(ranges - self.ranges_at_tick);
        self.events_at_tick = events;
        self.ranges_at_tick = ranges;
        self.elapsed_s += seconds;
    }

    pub fn findings_count(&self) -> usize {
        self.pipeline.rules.as_ref().map_or(0, |r| r.len())
    }
}

impl Sink for App {
    fn event(&mut self, ev: &Event) {
        self.pipeline.event(ev);
        if !self.paused {
            if self.feed.len() == FEED_LINES {
                self.feed.pop_front();
            }
            let owner = self.pipeline.owners.get(&ev.func);
            self.feed
                .push_back(trace::human(ev, self.pipeline.mirror.first_ns, owner));
        }
    }

    fn owner(&mut self, sym: &Symbol) {
        self.pipeline.owner(sym);
    }

    fn stack(&mut self, id: u64, frames: Vec<String>) {
        self.pipeline.stack(id, frames);
    }

    fn lost(&mut self, total: u64) {
        self.pipeline.lost(total);
    }
}
