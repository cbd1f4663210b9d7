//! A recording as a Perfetto trace (ui.perfetto.dev, trace_processor): the pipeline as a
//! sink that writes, as each event arrives, what the event shows on a timeline. The
//! mirror and the rules run as in every other command (the model names the tracks; the
//! findings are the rules' own); only per-track state is kept, so any length of recording
//! streams through in bounded memory.
//!
//! What each event becomes (the test `tests/perfetto.rs` counts the same from a
//! recording's events; the tracks are described in [`tracks`]):
//!
//! | event | becomes | on | category |
//! |---|---|---|---|
//! | `range_start` | slice from its entry to `range_end` (or to its return, -EAGAIN) | the task's `invalidations` lane | `invalidation` |
//! | `range_end` | the end of that slice; an instant when its start was not recorded | same | `invalidation` |
//! | `callback` | slice (its duration) | the interval's lane for the task | `callback` |
//! | `read_begin` | slice (its wait), an instant when not measured | the interval's lane, or track | `read_begin` |
//! | `remove_end` | slice (its duration), an instant when not measured | the interval's lane, or track | `interval` |
//! | `insert`, `existing`, `deferred_insert_applied` | instant | the interval's track (a failed insert: the mm's) | `interval` |
//! | `hmm_range_fault` | slice (pages, result) | the interval's lane | `hmm` |
//! | `migrate_vma_*`, `make_device_exclusive` | slice (direction, pages) | the task's `HMM migrations` lane | `hmm` |
//! | `migrate_device_*` | slice (pages) | `device memory evictions`, per task | `hmm` |
//! | `mm_register`, `mm_release`, `mm_destroy`, `mm_walked` | instant | the mm's process track | `mm` |
//! | a rule's hit | instant with its rule, detail and kernel stack | the interval's track, the mm's, or `findings` | `finding` |
//! | `remove_begin`, `hazard` | nothing of their own (the remove's slice; the findings) | | |
//!
//! Counters: live intervals per mm, at each change; events lost and program runs skipped,
//! at each change the recording carries.

mod nesting;
pub mod proto;
mod tracks;
mod writer;

use std::{collections::HashMap, io::Write};

use notifier_common::{Event, EventKind, NO_STACK, errno, flags};

use self::{
    proto::{Callstack, DebugAnnotation, Frame, TrackEvent, event_type},
    tracks::{Family, Loss, Names, Task, Tracks, Uuid},
    writer::Packets,
};
use super::{
    escape::Escaped,
    pointers::Pointers,
    trace::{direction, event_name, flag_names, human_size},
};
use crate::{
    mirror::{Mirror, READ_BEGIN_WAIT_NS},
    pipeline::Pipeline,
    rules::{self, Occurrence},
    stream::{self, Sink},
    symbols::Symbol,
};

/// The pipeline, writing a Perfetto trace to `W` as events arrive.
pub struct Timeline<W: Write> {
    pub pipeline: Pipeline,
    out: Packets<W>,
    tracks: Tracks,
    /// The loss totals last written.
    loss: stream::Loss,
    /// The mirror's audit repairs seen so far: a repair changes intervals no event names.
    drifted: u64,
}

/// The model, as it names tracks.
struct Model<'a> {
    mirror: &'a Mirror,
    owners: &'a HashMap<u64, Symbol>,
    pointers: &'a Pointers,
}

impl Model<'_> {
    fn owner(&self, func: u64) -> String {
        match self.owners.get(&func) {
            Some(sym) => Escaped::str(&sym.display()).to_string(),
            None => self.pointers.show(func),
        }
    }
}

impl Names for Model<'_> {
    fn mm(&self, mm: u64) -> (Option<(u32, String)>, String) {
        let process = self
            .mirror
            .mms
            .get(&mm)
            .and_then(|m| m.processes.iter().next())
            .map(|(&tgid, comm)| (tgid, Escaped::str(comm).to_string()));
        (process, self.pointers.show(mm))
    }

    fn interval(&self, mm: u64, sub: u64, func: u64) -> String {
        match self.mirror.mms.get(&mm).and_then(|m| m.intervals.get(&sub)) {
            Some(iv) => format!(
                "0x{:x}-0x{:x} ({}) {}",
                iv.start,
                iv.last.wrapping_add(1),
                human_size(iv.size()),
                self.owner(self.mirror.owner_addr(iv.owner))
            ),
            None if func != 0 => format!(
                "notifier {} of {} (inserted before the recording)",
                self.pointers.show(sub),
                self.owner(func)
            ),
            None => format!(
                "notifier {} (inserted before the recording)",
                self.pointers.show(sub)
            ),
        }
    }
}

/// A slice or instant to write: its name, category and arguments.
struct Mark {
    name: String,
    category: &'static str,
    args: Vec<DebugAnnotation>,
}

impl Mark {
    fn new(name: impl Into<String>, category: &'static str) -> Mark {
        Mark {
            name: name.into(),
            category,
            args: Vec::new(),
        }
    }

    fn arg(mut self, a: DebugAnnotation) -> Mark {
        self.args.push(a);
        self
    }

    fn event(self, kind: i32, track: Uuid) -> TrackEvent {
        TrackEvent {
            r#type: Some(kind),
            track_uuid: Some(track),
            categories: vec![self.category.to_owned()],
            name: Some(self.name),
            debug_annotations: self.args,
            ..Default::default()
        }
    }
}

fn hex(v: u64) -> String {
    format!("0x{v:x}")
}

/// The arguments every event's marks carry: the task, and what the probe flagged (but
/// blockable, an argument of its own where it matters).
fn common(ev: &Event, mut m: Mark) -> Mark {
    m = m.arg(DebugAnnotation::string(
        "task",
        format!("{} ({})", Escaped::bytes(ev.comm_bytes()), ev.tid()),
    ));
    let f = flag_names(ev.flags & !flags::BLOCKABLE);
    if !f.is_empty() {
        m = m.arg(DebugAnnotation::string("flags", f.join(",")));
    }
    m
}

/// The invalidated range of a bracket or callback.
fn range(ev: &Event, m: Mark) -> Mark {
    m.arg(DebugAnnotation::string("start", hex(ev.start)))
        .arg(DebugAnnotation::string("end", hex(ev.last.wrapping_add(1))))
        .arg(DebugAnnotation::uint(
            "bytes",
            ev.last.wrapping_sub(ev.start).wrapping_add(1),
        ))
        .arg(DebugAnnotation::string("event", event_name(ev.event)))
        .arg(DebugAnnotation::bool(
            "blockable",
            ev.flags & flags::BLOCKABLE != 0,
        ))
}

fn errno_name(ret: i32) -> String {
    match ret {
        errno::EAGAIN => "-EAGAIN".into(),
        errno::EBUSY => "-EBUSY".into(),
        errno::EFAULT => "-EFAULT".into(),
        errno::EPERM => "-EPERM".into(),
        errno::EINVAL => "-EINVAL".into(),
        r => r.to_string(),
    }
}

impl<W: Write> Timeline<W> {
    /// `pipeline` should have its rules: a timeline shows each of their hits.
    pub fn new(mut pipeline: Pipeline, out: W) -> Self {
        if let Some(rules) = &mut pipeline.rules {
            rules.keep_occurrences();
        }
        Timeline {
            pipeline,
            out: Packets::new(out),
            tracks: Tracks::default(),
            loss: stream::Loss::default(),
            drifted: 0,
        }
    }

    /// The end of the stream: the rules' last hits, what is still open ended at the last
    /// event's time (marked so), and the trace flushed. The first write error, if any.
    pub fn finish(&mut self) -> anyhow::Result<()> {
        self.pipeline.finish()?;
        self.findings();
        let now = self.pipeline.mirror.now_ns;
        self.repairs(now);
        for (lane, open) in self.tracks.close_all() {
            for _ in 0..open {
                self.end(now, lane, true);
            }
        }
        self.write_loss();
        Ok(self.out.finish()?)
    }

    /// The tracks, the output and the model, borrowed apart.
    fn parts(&mut self) -> (&mut Tracks, &mut Packets<W>, Model<'_>) {
        let model = Model {
            mirror: &self.pipeline.mirror,
            owners: &self.pipeline.owners,
            pointers: &self.pipeline.pointers,
        };
        (&mut self.tracks, &mut self.out, model)
    }

    /// The registration (generation) of `ev`'s notifier in the model, if it knows one.
    fn registration(&self, ev: &Event) -> Option<u32> {
        let m = self.pipeline.mirror.mms.get(&ev.mm)?;
        m.intervals.get(&ev.sub).map(|iv| iv.generation)
    }

    fn instant(&mut self, ts: u64, track: Uuid, m: Mark) {
        self.out.event(ts, m.event(event_type::INSTANT, track));
    }

    /// A slice from `begin` (placed by the lane's nesting) to `end` on `lane`.
    fn slice(&mut self, begin: u64, end: u64, lane: Uuid, m: Mark) {
        self.out
            .event(begin, m.event(event_type::SLICE_BEGIN, lane));
        self.end(end, lane, false);
    }

    fn end(&mut self, ts: u64, track: Uuid, unseen: bool) {
        let args = if unseen {
            // Ended here because the stream ended, or an outer one did, or too many
            // were open: the kernel's end was not recorded.
            vec![DebugAnnotation::bool("end_not_recorded", true)]
        } else {
            Vec::new()
        };
        self.out.event(
            ts,
            TrackEvent {
                r#type: Some(event_type::SLICE_END),
                track_uuid: Some(track),
                debug_annotations: args,
                ..Default::default()
            },
        );
    }

    /// A slice reported at its return on the interval lane of `ev`'s task.
    fn interval_slice(&mut self, ev: &Event, generation: Option<u32>, m: Mark) {
        let task = Task::of(ev);
        let begin = ev.ts_ns.saturating_sub(ev.duration().unwrap_or(0));
        let (tracks, out, model) = self.parts();
        let lane = tracks.interval_lane(
            out,
            begin,
            (ev.mm, ev.sub, ev.func),
            generation,
            &task,
            &model,
        );
        let begin = lane.nesting.complete(begin, ev.ts_ns);
        let uuid = lane.uuid;
        self.slice(begin, ev.ts_ns, uuid, m);
    }

    /// An instant on the track of `ev`'s interval.
    fn interval_instant(&mut self, ev: &Event, generation: Option<u32>, m: Mark) {
        let (tracks, out, model) = self.parts();
        let track = tracks.interval(out, ev.ts_ns, (ev.mm, ev.sub, ev.func), generation, &model);
        self.instant(ev.ts_ns, track, m);
    }

    fn mm_instant(&mut self, ev: &Event, m: Mark) {
        let (tracks, out, model) = self.parts();
        let track = tracks.mm(out, ev.ts_ns, ev.mm, &model);
        self.instant(ev.ts_ns, track, m);
    }

    /// A slice reported at its return on a per-task lane of `ev`'s mm.
    fn lane_slice(&mut self, ev: &Event, family: Family, m: Mark) {
        let task = Task::of(ev);
        let begin = ev.ts_ns.saturating_sub(ev.duration().unwrap_or(0));
        let (tracks, out, model) = self.parts();
        let lane = tracks.lane(out, begin, ev.mm, family, &task, &model);
        let begin = lane.nesting.complete(begin, ev.ts_ns);
        let uuid = lane.uuid;
        self.slice(begin, ev.ts_ns, uuid, m);
    }

    fn eviction_slice(&mut self, ev: &Event, m: Mark) {
        let task = Task::of(ev);
        let begin = ev.ts_ns.saturating_sub(ev.duration().unwrap_or(0));
        let lane = self.tracks.eviction_lane(&mut self.out, begin, &task);
        let begin = lane.nesting.complete(begin, ev.ts_ns);
        let uuid = lane.uuid;
        self.slice(begin, ev.ts_ns, uuid, m);
    }

    /// `range_start`: its bracket opens (a start refused with -EAGAIN is whole: no end
    /// follows it).
    fn range_start(&mut self, ev: &Event) {
        let m = range(
            ev,
            common(ev, Mark::new(event_name(ev.event), "invalidation")),
        )
        .arg(DebugAnnotation::uint("range_start_ns", ev.dur_ns))
        .arg(DebugAnnotation::int("ret", ev.ret.into()));
        if ev.ret == errno::EAGAIN {
            return self.lane_slice(ev, Family::Invalidations, m);
        }
        let task = Task::of(ev);
        let begin = ev.ts_ns.saturating_sub(ev.duration().unwrap_or(0));
        let (tracks, out, model) = self.parts();
        let lane = tracks.lane(out, begin, ev.mm, Family::Invalidations, &task, &model);
        let uuid = lane.uuid;
        // Ends lost: the stale brackets end where this one begins.
        let stale = if lane.nesting.open_count() >= nesting::MAX_OPEN {
            lane.nesting.close_all()
        } else {
            0
        };
        let begin = lane.nesting.open(ev.sub, begin);
        for _ in 0..stale {
            self.end(begin, uuid, true);
        }
        self.out
            .event(begin, m.event(event_type::SLICE_BEGIN, uuid));
    }

    /// `range_end`: the bracket of its range, on its task's lane, ends.
    fn range_end(&mut self, ev: &Event) {
        let task = Task::of(ev);
        let (tracks, out, model) = self.parts();
        let lane = tracks.lane(out, ev.ts_ns, ev.mm, Family::Invalidations, &task, &model);
        let uuid = lane.uuid;
        match lane.nesting.close(ev.sub, ev.ts_ns) {
            0 => {
                let m = range(
                    ev,
                    common(
                        ev,
                        Mark::new("range_end (start not recorded)", "invalidation"),
                    ),
                );
                self.instant(ev.ts_ns, uuid, m);
            }
            n => {
                // Brackets opened inside it whose ends were not recorded end first.
                for _ in 1..n {
                    self.end(ev.ts_ns, uuid, true);
                }
                self.end(ev.ts_ns, uuid, false);
            }
        }
    }

    fn callback(&mut self, ev: &Event, generation: Option<u32>) {
        let m = range(
            ev,
            common(
                ev,
                Mark::new(format!("invalidate {}", event_name(ev.event)), "callback"),
            ),
        )
        .arg(DebugAnnotation::bool("returned_true", ev.ret != 0))
        .arg(DebugAnnotation::uint("cur_seq", ev.aux));
        self.measured(ev, generation, m);
    }

    /// A call reported with its duration: a slice on the interval's lane; an instant on
    /// its track when the duration was not measured.
    fn measured(&mut self, ev: &Event, generation: Option<u32>, m: Mark) {
        match ev.duration() {
            None => {
                let m = m.arg(DebugAnnotation::bool("duration_unknown", true));
                self.interval_instant(ev, generation, m);
            }
            Some(d) => {
                let m = m.arg(DebugAnnotation::uint("duration_ns", d));
                self.interval_slice(ev, generation, m);
            }
        }
    }

    fn read_begin(&mut self, ev: &Event, generation: Option<u32>) {
        let waited = ev.duration().is_some_and(|d| d > READ_BEGIN_WAIT_NS);
        let name = if waited {
            "read_begin (waited)"
        } else {
            "read_begin"
        };
        let m = common(ev, Mark::new(name, "read_begin"))
            .arg(DebugAnnotation::uint("seq", ev.seq))
            .arg(DebugAnnotation::bool("waited", waited));
        self.measured(ev, generation, m);
    }

    fn remove(&mut self, ev: &Event, generation: Option<u32>) {
        let m = common(ev, Mark::new("remove", "interval"));
        self.measured(ev, generation, m);
        self.tracks.forget_interval(ev.mm, ev.sub);
    }

    fn insert(&mut self, ev: &Event, kind: EventKind) {
        let m = common(ev, Mark::new(kind.name(), "interval"))
            .arg(DebugAnnotation::string("start", hex(ev.start)))
            .arg(DebugAnnotation::string("end", hex(ev.last.wrapping_add(1))))
            .arg(DebugAnnotation::uint("seq", ev.seq));
        let generation = self.registration(ev);
        match (kind, generation) {
            (EventKind::Insert, _) if ev.ret != 0 => {
                let m = Mark {
                    name: "insert failed".into(),
                    ..m
                }
                .arg(DebugAnnotation::int("ret", ev.ret.into()));
                self.mm_instant(ev, m);
            }
            // A walk of an mm already complete is an audit: what it found is the
            // mirror's business (drift is counted there), not a registration.
            (EventKind::Existing, None) => self.mm_instant(ev, m),
            _ => self.interval_instant(ev, generation, m),
        }
    }

    fn fault(&mut self, ev: &Event, generation: Option<u32>) {
        let name = match ev.ret {
            0 => "hmm_range_fault".to_owned(),
            r => format!("hmm_range_fault {}", errno_name(r)),
        };
        let m = common(ev, Mark::new(name, "hmm"))
            .arg(DebugAnnotation::string("start", hex(ev.start)))
            .arg(DebugAnnotation::string("end", hex(ev.last.wrapping_add(1))))
            .arg(DebugAnnotation::uint("pages", ev.aux))
            .arg(DebugAnnotation::uint("notifier_seq", ev.seq))
            .arg(DebugAnnotation::int("ret", ev.ret.into()));
        self.measured(ev, generation, m);
    }

    fn migration(&mut self, ev: &Event, kind: EventKind) {
        let mut m = common(ev, Mark::new(kind.name(), "hmm"))
            .arg(DebugAnnotation::uint("pages", ev.aux))
            .arg(DebugAnnotation::int("ret", ev.ret.into()))
            .arg(DebugAnnotation::uint("duration_ns", ev.dur_ns));
        match kind {
            EventKind::MigrateVmaSetup | EventKind::MigrateDeviceRange => {
                m = m.arg(DebugAnnotation::uint("collected", ev.seq));
            }
            EventKind::MigrateVmaPages => m = m.arg(DebugAnnotation::uint("migrated", ev.seq)),
            EventKind::MigrateDevicePages => m = m.arg(DebugAnnotation::uint("moved", ev.seq)),
            _ => {}
        }
        if matches!(
            kind,
            EventKind::MigrateVmaSetup | EventKind::MigrateVmaPages | EventKind::MigrateVmaFinalize
        ) {
            m = m.arg(DebugAnnotation::string("direction", direction(ev.event)));
        }
        match kind {
            EventKind::MigrateDeviceRange
            | EventKind::MigrateDevicePages
            | EventKind::MigrateDeviceFinalize => self.eviction_slice(ev, m),
            _ => {
                let m = m
                    .arg(DebugAnnotation::string("start", hex(ev.start)))
                    .arg(DebugAnnotation::string("end", hex(ev.last.wrapping_add(1))));
                let m = if kind == EventKind::MakeDeviceExclusive {
                    let owner = self.pipeline.pointers.show(ev.func);
                    m.arg(DebugAnnotation::string("owner", owner))
                } else {
                    m
                };
                self.lane_slice(ev, Family::Migrations, m);
            }
        }
    }

    fn mm_event(&mut self, ev: &Event, kind: EventKind) {
        let mut m = common(ev, Mark::new(kind.name(), "mm"));
        if kind == EventKind::MmWalked {
            m = m
                .arg(DebugAnnotation::uint("intervals", ev.ret.max(0) as u64))
                .arg(DebugAnnotation::uint("invalidate_seq", ev.seq));
        }
        self.mm_instant(ev, m);
        if kind == EventKind::MmDestroy {
            self.live(ev.ts_ns, ev.mm);
            for (lane, open) in self.tracks.forget_mm(ev.mm) {
                for _ in 0..open {
                    self.end(ev.ts_ns, lane, true);
                }
            }
        }
    }

    /// The rules' hits since the last event, each an instant.
    fn findings(&mut self) {
        let Some(rules) = &mut self.pipeline.rules else {
            return;
        };
        for occ in rules.take_occurrences() {
            self.finding(occ);
        }
    }

    fn finding(&mut self, occ: Occurrence) {
        let info = rules::info(occ.rule);
        let mut m = Mark::new(format!("{} {}", info.code, info.name), "finding")
            .arg(DebugAnnotation::string("rule", occ.rule.name()))
            .arg(DebugAnnotation::string(
                "severity",
                format!("{:?}", info.severity).to_lowercase(),
            ))
            .arg(DebugAnnotation::string(
                "detail",
                Escaped::str(&occ.detail).to_string(),
            ))
            .arg(DebugAnnotation::string(
                "process",
                format!("{} ({})", Escaped::str(&occ.comm), occ.tgid),
            ));
        let frames = (occ.stack != NO_STACK)
            .then(|| self.pipeline.stacks.get(&occ.stack))
            .flatten()
            .map(|f| {
                f.iter()
                    .map(|s| Escaped::str(s).to_string())
                    .collect::<Vec<_>>()
            });
        let mut callstack = None;
        if let Some(frames) = frames {
            m = m.arg(DebugAnnotation::string("stack", frames.join("\n")));
            // Outermost first, as Perfetto reads them; the stack is innermost first.
            callstack = Some(Callstack {
                frames: frames
                    .into_iter()
                    .rev()
                    .map(|f| Frame {
                        function_name: Some(f),
                    })
                    .collect(),
            });
        }
        let track = match self.tracks.interval_if_known(occ.mm, occ.sub) {
            Some(t) if occ.sub != 0 => t,
            _ if occ.mm != 0 => {
                let (tracks, out, model) = self.parts();
                tracks.mm(out, occ.ts_ns, occ.mm, &model)
            }
            _ => self.tracks.findings(&mut self.out, occ.ts_ns),
        };
        let mut e = m.event(event_type::INSTANT, track);
        e.callstack = callstack;
        self.out.event(occ.ts_ns, e);
    }

    /// The live-interval count of `mm` at `ts`, written when it changed.
    fn live(&mut self, ts: u64, mm: u64) {
        let live = self
            .pipeline
            .mirror
            .mms
            .get(&mm)
            .map_or(0, |m| m.intervals.len());
        let (tracks, out, model) = self.parts();
        if let Some(track) = tracks.live_changed(out, ts, mm, live, &model) {
            self.counter(ts, track, live as i64);
        }
    }

    /// After the audit repaired the mirror (which no event names), every mm's count.
    fn repairs(&mut self, ts: u64) {
        let drifted = self.pipeline.mirror.audit.drifted();
        if drifted != self.drifted {
            self.drifted = drifted;
            for mm in self.tracks.mms() {
                self.live(ts, mm);
            }
        }
    }

    fn counter(&mut self, ts: u64, track: Uuid, value: i64) {
        self.out.event(
            ts,
            TrackEvent {
                r#type: Some(event_type::COUNTER),
                track_uuid: Some(track),
                counter_value: Some(value),
                ..Default::default()
            },
        );
    }

    /// The loss totals, written where they changed, at the latest event's time (none
    /// before the first event: they wait for it).
    fn write_loss(&mut self) {
        let ts = self.pipeline.mirror.now_ns;
        let c = &self.pipeline.mirror.counters;
        let now = stream::Loss {
            ring_full: c.lost,
            skipped: c.skipped,
        };
        if ts == 0 || now == self.loss {
            return;
        }
        for (which, before, after) in [
            (Loss::RingFull, self.loss.ring_full, now.ring_full),
            (Loss::Skipped, self.loss.skipped, now.skipped),
        ] {
            if before != after {
                let track = self.tracks.loss(&mut self.out, ts, which);
                self.counter(ts, track, after as i64);
            }
        }
        self.loss = now;
    }
}

impl<W: Write> Sink for Timeline<W> {
    fn event(&mut self, ev: &Event) {
        // Read before the event applies: a remove takes its interval away.
        let generation = self.registration(ev);
        self.pipeline.event(ev);
        if self.out.failed() {
            return;
        }
        if let Some(kind) = ev.kind() {
            match kind {
                EventKind::Insert | EventKind::Existing | EventKind::DeferredInsertApplied => {
                    self.insert(ev, kind)
                }
                EventKind::RemoveBegin | EventKind::Hazard => {}
                EventKind::RemoveEnd => self.remove(ev, generation),
                EventKind::RangeStart => self.range_start(ev),
                EventKind::RangeEnd => self.range_end(ev),
                EventKind::Callback => self.callback(ev, generation),
                EventKind::ReadBegin => self.read_begin(ev, generation),
                EventKind::HmmRangeFault => self.fault(ev, generation),
                EventKind::MigrateVmaSetup
                | EventKind::MigrateVmaPages
                | EventKind::MigrateVmaFinalize
                | EventKind::MakeDeviceExclusive
                | EventKind::MigrateDeviceRange
                | EventKind::MigrateDevicePages
                | EventKind::MigrateDeviceFinalize => self.migration(ev, kind),
                EventKind::MmRegister
                | EventKind::MmRelease
                | EventKind::MmDestroy
                | EventKind::MmWalked => self.mm_event(ev, kind),
            }
        }
        self.findings();
        if ev.mm != 0 && ev.kind() != Some(EventKind::MmDestroy) {
            self.live(ev.ts_ns, ev.mm);
        }
        self.repairs(ev.ts_ns);
        self.write_loss();
    }

    fn owner(&mut self, sym: &Symbol) {
        self.pipeline.owner(sym);
    }

    fn stack(&mut self, id: u64, frames: Vec<String>) {
        self.pipeline.stack(id, frames);
    }

    fn lost(&mut self, loss: stream::Loss) {
        self.pipeline.lost(loss);
        self.write_loss();
    }
}

impl<W: Write> AsRef<Pipeline> for Timeline<W> {
    fn as_ref(&self) -> &Pipeline {
        &self.pipeline
    }
}

#[cfg(test)]
mod tests;
