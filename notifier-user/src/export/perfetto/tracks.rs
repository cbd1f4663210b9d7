//! Which track each thing goes on, each track described before its first event, and the
//! tracks' state kept only while what they show is alive.
//!
//! - an address space (an mm) is a process track: its process's pid and name when the
//!   model knows them (so Perfetto files it with that process's scheduling), else named
//!   by the mm; its lifecycle instants and findings go there;
//! - under it, each interval (a registration: a notifier reinserted is a new one) has a
//!   track named by its range and owner, for its lifecycle instants and findings, and a
//!   lane per task that acted on it for the slices: callbacks, read_begin, device faults,
//!   removes. Lanes of one interval share its name and a merge key, so the UI shows them
//!   as one row, while each lane holds one task's calls, which nest;
//! - also under it, per task, a lane of the invalidations it ran (`invalidations`) and of
//!   its HMM migrations (`HMM migrations`), and a counter of the live intervals;
//! - at the top: lanes of device-memory evictions (no address space), the loss counters,
//!   and findings that name no address space.
//!
//! State per mm goes when the mm is destroyed, per interval when it is removed; lanes
//! are per task that acted, so all of it is bounded by what is alive and who touched it.

use std::io::Write;

use notifier_common::Event;
use rustc_hash::FxHashMap;

use super::{
    nesting::Nesting,
    proto::{
        CounterDescriptor, MERGE_BY_SIBLING_MERGE_KEY, ProcessDescriptor, TrackDescriptor,
        UNIT_COUNT,
    },
    writer::Packets,
};
use crate::export::escape::Escaped;

pub type Uuid = u64;

/// Track uuids count up from here: distinct from the hashes Perfetto's SDKs use, so that a
/// trace opened beside a system trace keeps its own tracks, and the same recording always
/// makes the same file.
const UUID_BASE: u64 = 0x6e74_0000_0000_0000;

/// A track holding one task's slices, and what their nesting needs.
pub struct Lane {
    pub uuid: Uuid,
    pub nesting: Nesting,
}

/// Per-task lanes of an address space.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Family {
    /// Invalidation brackets: range start to range end.
    Invalidations,
    /// `migrate_vma_*` and `make_device_exclusive`.
    Migrations,
}

impl Family {
    pub fn name(self) -> &'static str {
        match self {
            Family::Invalidations => "invalidations",
            Family::Migrations => "HMM migrations",
        }
    }
}

/// The loss counters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Loss {
    RingFull = 0,
    Skipped = 1,
}

impl Loss {
    fn name(self) -> &'static str {
        match self {
            Loss::RingFull => "events lost (ring buffer full)",
            Loss::Skipped => "program runs skipped by the kernel",
        }
    }
}

/// What names a new track, read from the model by the caller.
pub trait Names {
    /// The process using `mm` (pid, name), if known, and how the mm is shown.
    fn mm(&self, mm: u64) -> (Option<(u32, String)>, String);
    /// The track name of interval `sub` of `mm` (`func`: the callback an event names, for
    /// an interval the model does not know).
    fn interval(&self, mm: u64, sub: u64, func: u64) -> String;
}

struct MmTracks {
    uuid: Uuid,
    lanes: FxHashMap<(Family, u32), Lane>,
    intervals: FxHashMap<u64, IntervalTracks>,
    counter: Option<Uuid>,
    /// The live-interval count last written.
    live: usize,
}

struct IntervalTracks {
    /// The model's registration (its generation), `None` for one it never saw inserted.
    generation: Option<u32>,
    main: Uuid,
    name: String,
    lanes: FxHashMap<u32, Lane>,
}

/// A task as lanes describe it.
pub struct Task {
    pub tid: u32,
    pub comm: String,
}

impl Task {
    /// The task of `ev`, its name escaped.
    pub fn of(ev: &Event) -> Task {
        Task {
            tid: ev.tid(),
            comm: Escaped::bytes(ev.comm_bytes()).to_string(),
        }
    }
}

/// Uuids handed out so far.
#[derive(Default)]
struct Ids(u64);

impl Ids {
    fn next(&mut self) -> Uuid {
        self.0 += 1;
        UUID_BASE + self.0
    }
}

#[derive(Default)]
pub struct Tracks {
    ids: Ids,
    mms: FxHashMap<u64, MmTracks>,
    evictions: FxHashMap<u32, Lane>,
    loss: [Option<Uuid>; 2],
    findings: Option<Uuid>,
}

/// A lane described by `d` (its parent, name and merge key), for `task`.
fn lane<W: Write>(
    ids: &mut Ids,
    out: &mut Packets<W>,
    ts: u64,
    d: TrackDescriptor,
    task: &Task,
) -> Lane {
    let uuid = ids.next();
    out.descriptor(
        ts,
        TrackDescriptor {
            uuid: Some(uuid),
            description: Some(format!("{} ({})", task.comm, task.tid)),
            sibling_merge_behavior: Some(MERGE_BY_SIBLING_MERGE_KEY),
            ..d
        },
    );
    Lane {
        uuid,
        nesting: Nesting::default(),
    }
}

/// The tracks of `mm`, its process track described on first sight.
fn mm_entry<'a, W: Write>(
    mms: &'a mut FxHashMap<u64, MmTracks>,
    ids: &mut Ids,
    out: &mut Packets<W>,
    ts: u64,
    mm: u64,
    names: &impl Names,
) -> &'a mut MmTracks {
    mms.entry(mm).or_insert_with(|| {
        let uuid = ids.next();
        let (process, id) = names.mm(mm);
        let d = match process {
            Some((pid, name)) => TrackDescriptor {
                process: Some(ProcessDescriptor {
                    pid: Some(pid as i32),
                    process_name: Some(name),
                }),
                description: Some(format!("address space {id}")),
                ..Default::default()
            },
            None => TrackDescriptor {
                name: Some(format!("address space {id}")),
                ..Default::default()
            },
        };
        out.descriptor(
            ts,
            TrackDescriptor {
                uuid: Some(uuid),
                ..d
            },
        );
        MmTracks {
            uuid,
            lanes: FxHashMap::default(),
            intervals: FxHashMap::default(),
            counter: None,
            live: 0,
        }
    })
}

/// A counter track described by `d` (its parent and name).
fn counter<W: Write>(ids: &mut Ids, out: &mut Packets<W>, ts: u64, d: TrackDescriptor) -> Uuid {
    let uuid = ids.next();
    out.descriptor(
        ts,
        TrackDescriptor {
            uuid: Some(uuid),
            counter: Some(CounterDescriptor {
                unit: Some(UNIT_COUNT),
            }),
            ..d
        },
    );
    uuid
}

impl Tracks {
    /// The process track of `mm`.
    pub fn mm<W: Write>(
        &mut self,
        out: &mut Packets<W>,
        ts: u64,
        mm: u64,
        names: &impl Names,
    ) -> Uuid {
        mm_entry(&mut self.mms, &mut self.ids, out, ts, mm, names).uuid
    }

    /// A per-task lane of `mm`.
    pub fn lane<W: Write>(
        &mut self,
        out: &mut Packets<W>,
        ts: u64,
        mm: u64,
        family: Family,
        task: &Task,
        names: &impl Names,
    ) -> &mut Lane {
        let m = mm_entry(&mut self.mms, &mut self.ids, out, ts, mm, names);
        let parent = m.uuid;
        m.lanes.entry((family, task.tid)).or_insert_with(|| {
            let d = TrackDescriptor {
                parent_uuid: Some(parent),
                name: Some(family.name().to_owned()),
                sibling_merge_key: Some(format!("{}:{parent}", family.name())),
                ..Default::default()
            };
            lane(&mut self.ids, out, ts, d, task)
        })
    }

    /// The tracks of interval `sub` of `mm`, for its registration `generation` (`None`:
    /// one the model never saw inserted); a registration other than the one they were
    /// made for gets tracks of its own. Also the mm's track.
    fn interval_entry<W: Write>(
        &mut self,
        out: &mut Packets<W>,
        ts: u64,
        (mm, sub, func): (u64, u64, u64),
        generation: Option<u32>,
        names: &impl Names,
    ) -> (&mut IntervalTracks, &mut Ids, Uuid) {
        let m = mm_entry(&mut self.mms, &mut self.ids, out, ts, mm, names);
        let parent = m.uuid;
        if m.intervals
            .get(&sub)
            .is_some_and(|iv| iv.generation != generation)
        {
            m.intervals.remove(&sub);
        }
        let ids = &mut self.ids;
        let iv = m.intervals.entry(sub).or_insert_with(|| {
            let main = ids.next();
            let name = names.interval(mm, sub, func);
            out.descriptor(
                ts,
                TrackDescriptor {
                    uuid: Some(main),
                    parent_uuid: Some(parent),
                    name: Some(name.clone()),
                    sibling_merge_behavior: Some(MERGE_BY_SIBLING_MERGE_KEY),
                    sibling_merge_key: Some(format!("interval:{main}")),
                    ..Default::default()
                },
            );
            IntervalTracks {
                generation,
                main,
                name,
                lanes: FxHashMap::default(),
            }
        });
        (iv, ids, parent)
    }

    /// The track of an interval (`notifier`: mm, notifier pointer, and the callback an
    /// event names): its lifecycle instants and findings.
    pub fn interval<W: Write>(
        &mut self,
        out: &mut Packets<W>,
        ts: u64,
        notifier: (u64, u64, u64),
        generation: Option<u32>,
        names: &impl Names,
    ) -> Uuid {
        self.interval_entry(out, ts, notifier, generation, names)
            .0
            .main
    }

    /// The lane of an interval for one task's slices.
    pub fn interval_lane<W: Write>(
        &mut self,
        out: &mut Packets<W>,
        ts: u64,
        notifier: (u64, u64, u64),
        generation: Option<u32>,
        task: &Task,
        names: &impl Names,
    ) -> &mut Lane {
        let (iv, ids, parent) = self.interval_entry(out, ts, notifier, generation, names);
        let (main, name) = (iv.main, &iv.name);
        iv.lanes.entry(task.tid).or_insert_with(|| {
            let d = TrackDescriptor {
                parent_uuid: Some(parent),
                name: Some(name.clone()),
                sibling_merge_key: Some(format!("interval:{main}")),
                ..Default::default()
            };
            lane(ids, out, ts, d, task)
        })
    }

    /// The interval's track if it has one (a finding about it goes there).
    pub fn interval_if_known(&self, mm: u64, sub: u64) -> Option<Uuid> {
        Some(self.mms.get(&mm)?.intervals.get(&sub)?.main)
    }

    /// The interval was removed: its next registration gets tracks of its own.
    pub fn forget_interval(&mut self, mm: u64, sub: u64) {
        if let Some(m) = self.mms.get_mut(&mm) {
            m.intervals.remove(&sub);
        }
    }

    /// The mm is gone: its lanes that still had slices open, with how many (now ended),
    /// and its state dropped.
    pub fn forget_mm(&mut self, mm: u64) -> Vec<(Uuid, usize)> {
        match self.mms.remove(&mm) {
            Some(mut m) => close_lanes(m.lanes.values_mut()),
            None => Vec::new(),
        }
    }

    /// Every lane that still has slices open, with how many, now ended (the stream
    /// ended).
    pub fn close_all(&mut self) -> Vec<(Uuid, usize)> {
        close_lanes(self.mms.values_mut().flat_map(|m| m.lanes.values_mut()))
    }

    /// A lane of device-memory evictions (no address space's).
    pub fn eviction_lane<W: Write>(
        &mut self,
        out: &mut Packets<W>,
        ts: u64,
        task: &Task,
    ) -> &mut Lane {
        let ids = &mut self.ids;
        self.evictions.entry(task.tid).or_insert_with(|| {
            let d = TrackDescriptor {
                name: Some("device memory evictions".to_owned()),
                sibling_merge_key: Some("evictions".to_owned()),
                ..Default::default()
            };
            lane(ids, out, ts, d, task)
        })
    }

    /// When `live` differs from the live-interval count last written for `mm`: the
    /// counter track to write it on (it is then the count last written).
    pub fn live_changed<W: Write>(
        &mut self,
        out: &mut Packets<W>,
        ts: u64,
        mm: u64,
        live: usize,
        names: &impl Names,
    ) -> Option<Uuid> {
        if self.mms.get(&mm).map_or(0, |m| m.live) == live {
            return None;
        }
        let m = mm_entry(&mut self.mms, &mut self.ids, out, ts, mm, names);
        m.live = live;
        let parent = m.uuid;
        let ids = &mut self.ids;
        Some(*m.counter.get_or_insert_with(|| {
            let d = TrackDescriptor {
                parent_uuid: Some(parent),
                name: Some("live intervals".to_owned()),
                ..Default::default()
            };
            counter(ids, out, ts, d)
        }))
    }

    /// The mms that have tracks.
    pub fn mms(&self) -> Vec<u64> {
        let mut mms: Vec<u64> = self.mms.keys().copied().collect();
        mms.sort_unstable();
        mms
    }

    /// A loss counter's track.
    pub fn loss<W: Write>(&mut self, out: &mut Packets<W>, ts: u64, which: Loss) -> Uuid {
        let ids = &mut self.ids;
        *self.loss[which as usize].get_or_insert_with(|| {
            let d = TrackDescriptor {
                name: Some(which.name().to_owned()),
                ..Default::default()
            };
            counter(ids, out, ts, d)
        })
    }

    /// The track of findings that name no address space.
    pub fn findings<W: Write>(&mut self, out: &mut Packets<W>, ts: u64) -> Uuid {
        let ids = &mut self.ids;
        *self.findings.get_or_insert_with(|| {
            let uuid = ids.next();
            out.descriptor(
                ts,
                TrackDescriptor {
                    uuid: Some(uuid),
                    name: Some("findings".to_owned()),
                    ..Default::default()
                },
            );
            uuid
        })
    }
}

/// Ends what is open on `lanes`: each lane that had slices open, with how many, in uuid
/// order (the file is the same from run to run).
fn close_lanes<'a>(lanes: impl Iterator<Item = &'a mut Lane>) -> Vec<(Uuid, usize)> {
    let mut open: Vec<(Uuid, usize)> = lanes
        .filter_map(|l| {
            let n = l.nesting.close_all();
            (n > 0).then_some((l.uuid, n))
        })
        .collect();
    open.sort_unstable();
    open
}
