//! TUI state: the pipeline's model plus what the user is looking at. Input changes this;
//! drawing reads it; events only reach it through the pipeline (never drawn raw).

use std::{collections::VecDeque, path::Path};

use notifier_common::{Event, EventKind};

use super::{palette::Palette, table::Cursor};
use crate::{
    export::{snapshot::Meta, unix_now, write_atomically},
    pipeline::Pipeline,
    stream::{HookStatus, Loss, Sink},
    symbols::Symbol,
};

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

/// Each view's own place in its table, so that switching views neither loses nor borrows
/// another view's position.
struct Cursors {
    processes: Cursor,
    detail: Cursor,
    owners: Cursor,
    feed: Cursor,
    findings: Cursor,
}

impl Default for Cursors {
    fn default() -> Cursors {
        Cursors {
            processes: Cursor::default(),
            detail: Cursor::default(),
            owners: Cursor::default(),
            // The feed is read from its newest line, like a log being followed.
            feed: Cursor::following(),
            findings: Cursor::default(),
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
    cursors: Cursors,
    /// The mm shown by the detail view.
    pub detail_mm: Option<u64>,
    pub paused: bool,
    pub help: bool,
    /// The latest events, formatted only when drawn: formatting every event would cost
    /// more than the rest of ingest.
    pub feed: VecDeque<Event>,
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
    /// The in-kernel process filter in force (`pid 12 owner nouveau`), if any.
    pub kernel_filter: String,
    /// The user asked for an audit; the live loop passes it to the session.
    pub audit_requested: bool,
    /// The outcome of the last action (a snapshot written, or why not).
    pub status: Option<String>,
    pub quit: bool,
    /// Colours, unless NO_COLOR.
    pub palette: Palette,
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
            cursors: Cursors::default(),
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
            kernel_filter: String::new(),
            audit_requested: false,
            status: None,
            quit: false,
            palette: Palette::from_env(),
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

    /// Writes the snapshot of `mm` to `dir` (the TUI's `w`): the same schema as
    /// `notifier-top snapshot`, one process.
    pub fn write_snapshot(&mut self, mm: u64, dir: &Path) {
        let taken_unix = unix_now();
        let meta = Meta {
            kernel: self.kernel.clone(),
            taken_unix,
            filter: self.kernel_filter.clone(),
        };
        let snap = self.pipeline.snapshot(meta, Some(mm));
        let tgid = snap
            .processes
            .first()
            .and_then(|p| p.tgids.first().copied())
            .unwrap_or(0);
        let path = dir.join(format!("notifier-top-snapshot-{tgid}-{taken_unix}.json"));
        let result = write_atomically(&path, |w| {
            serde_json::to_writer_pretty(&mut *w, &snap)?;
            Ok(())
        });
        self.status = Some(match result {
            Ok(()) => format!("snapshot written to {}", path.display()),
            Err(e) => format!("snapshot failed: {e:#}"),
        });
    }

    pub fn cursor(&self, view: View) -> &Cursor {
        let c = &self.cursors;
        match view {
            View::Processes => &c.processes,
            View::Detail => &c.detail,
            View::Owners => &c.owners,
            View::Feed => &c.feed,
            View::Findings => &c.findings,
        }
    }

    pub fn cursor_mut(&mut self, view: View) -> &mut Cursor {
        let c = &mut self.cursors;
        match view {
            View::Processes => &mut c.processes,
            View::Detail => &mut c.detail,
            View::Owners => &mut c.owners,
            View::Feed => &mut c.feed,
            View::Findings => &mut c.findings,
        }
    }

    /// A new filter selects afresh in the lists it filters.
    pub fn filter_changed(&mut self) {
        self.cursors.processes = Cursor::default();
        self.cursors.feed = Cursor::following();
    }

    /// Shows `mm` in the detail view, at its first interval unless it is the one shown last.
    pub fn open_detail(&mut self, mm: u64) {
        if self.detail_mm != Some(mm) {
            self.cursors.detail = Cursor::default();
        }
        self.detail_mm = Some(mm);
        self.view = View::Detail;
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
            self.feed.push_back(*ev);
        }
    }

    fn owner(&mut self, sym: &Symbol) {
        self.pipeline.owner(sym);
    }

    fn stack(&mut self, id: u64, frames: Vec<String>) {
        self.pipeline.stack(id, frames);
    }

    fn lost(&mut self, loss: Loss) {
        self.pipeline.lost(loss);
    }
}
