use notifier_common::{Event, EventKind, flags};
use prost::Message as _;

use super::{
    Timeline,
    proto::{Trace, TrackDescriptor, TrackEvent, event_type},
};
use crate::{
    export::pointers::Pointers,
    pipeline::Pipeline,
    rules::{Engine, Thresholds},
    stream::Sink,
    symbols::Symbol,
};

const MM: u64 = 0xffff_8880_0000_1000;
const DRIVER: u64 = 0xffff_ffff_c000_2000;

fn ev(kind: EventKind, ts_ns: u64, f: impl FnOnce(&mut Event)) -> Event {
    let mut e = Event {
        ts_ns,
        pid_tgid: (42 << 32) | 43,
        kind: kind as u8,
        mm: MM,
        ..Default::default()
    };
    e.comm[..3].copy_from_slice(b"gpu");
    f(&mut e);
    e
}

fn insert(ts: u64, sub: u64) -> Event {
    ev(EventKind::Insert, ts, |e| {
        (e.sub, e.start, e.last, e.func) = (sub, 0x7000_0000, 0x7000_3fff, DRIVER);
        e.flags = flags::LOCKED;
    })
}

fn callback(ts: u64, sub: u64, dur_ns: u64) -> Event {
    ev(EventKind::Callback, ts, |e| {
        (e.sub, e.start, e.last, e.func, e.ret, e.dur_ns) =
            (sub, 0x7000_0000, 0x7000_0fff, DRIVER, 1, dur_ns);
        e.flags = flags::BLOCKABLE;
    })
}

/// The trace `events` make, decoded.
fn trace(events: &[Event]) -> Trace {
    let mut p = Pipeline::new(Pointers::new(true));
    p.rules = Some(Engine::new(None, Thresholds::default()));
    let mut out = Vec::new();
    let mut t = Timeline::new(p, &mut out);
    t.owner(&Symbol {
        addr: DRIVER,
        name: "gpu_invalidate".into(),
        module: Some("gpu".into()),
    });
    events.iter().for_each(|e| t.event(e));
    t.finish().unwrap();
    drop(t);
    Trace::decode(out.as_slice()).unwrap()
}

fn descriptors(t: &Trace) -> Vec<&TrackDescriptor> {
    t.packet
        .iter()
        .filter_map(|p| p.track_descriptor.as_ref())
        .collect()
}

fn events(t: &Trace) -> Vec<(u64, &TrackEvent)> {
    t.packet
        .iter()
        .filter_map(|p| Some((p.timestamp?, p.track_event.as_ref()?)))
        .collect()
}

fn track(t: &Trace, uuid: u64) -> &TrackDescriptor {
    descriptors(t)
        .into_iter()
        .find(|d| d.uuid == Some(uuid))
        .unwrap()
}

#[test]
fn an_address_space_is_its_process_and_an_interval_is_named_by_range_and_owner() {
    let t = trace(&[insert(1_000, 0xa0), callback(2_000, 0xa0, 500)]);
    let d = descriptors(&t);
    let process = d[0].process.as_ref().unwrap();
    assert_eq!(
        (process.pid, process.process_name.as_deref()),
        (Some(42), Some("gpu"))
    );
    assert_eq!(
        d[0].description.as_deref(),
        Some("address space 0xffff888000001000")
    );
    let name = "0x70000000-0x70004000 (16.0KiB) gpu_invalidate [gpu]";
    let intervals: Vec<_> = d
        .iter()
        .filter(|d| d.name.as_deref() == Some(name))
        .collect();
    assert_eq!(intervals.len(), 2, "its track and one lane: {d:#?}");
    assert!(intervals.iter().all(|i| i.parent_uuid == d[0].uuid));
    assert_eq!(
        intervals[0].sibling_merge_key,
        intervals[1].sibling_merge_key
    );
    // The callback is a slice of its measured duration on the lane.
    let (b, begin) = events(&t)
        .into_iter()
        .find(|(_, e)| e.r#type == Some(event_type::SLICE_BEGIN))
        .unwrap();
    assert_eq!(b, 1_500);
    assert_eq!(begin.track_uuid, intervals[1].uuid);
    assert_eq!(begin.name.as_deref(), Some("invalidate unmap"));
}

#[test]
fn a_reinserted_notifier_is_a_new_registration_with_tracks_of_its_own() {
    let remove = ev(EventKind::RemoveEnd, 3_000, |e| {
        (e.sub, e.dur_ns) = (0xa0, 100);
    });
    let t = trace(&[
        insert(1_000, 0xa0),
        callback(2_000, 0xa0, 500),
        remove,
        insert(4_000, 0xa0),
        callback(5_000, 0xa0, 500),
    ]);
    let keys: Vec<_> = descriptors(&t)
        .into_iter()
        .filter_map(|d| d.sibling_merge_key.clone())
        .collect();
    assert_eq!(keys.len(), 4, "two tracks and two lanes: {keys:?}");
    assert_eq!(keys[0], keys[1]);
    assert_eq!(keys[2], keys[3]);
    assert_ne!(keys[0], keys[2]);
}

#[test]
fn a_finding_is_an_instant_on_its_intervals_track_with_its_rule() {
    // 6 ms: slower than NT008's 5 ms.
    let t = trace(&[insert(1_000, 0xa0), callback(10_000_000, 0xa0, 6_000_000)]);
    let (ts, finding) = events(&t)
        .into_iter()
        .find(|(_, e)| e.categories == ["finding"])
        .unwrap();
    assert_eq!(ts, 10_000_000);
    assert_eq!(finding.r#type, Some(event_type::INSTANT));
    assert_eq!(
        finding.name.as_deref(),
        Some("NT008 slow invalidate callback")
    );
    let rule = finding
        .debug_annotations
        .iter()
        .find(|a| a.name.as_deref() == Some("rule"))
        .unwrap();
    assert_eq!(rule.string_value.as_deref(), Some("slow-callback"));
    let on = track(&t, finding.track_uuid.unwrap());
    assert!(
        on.name.as_deref().unwrap().contains("gpu_invalidate"),
        "{on:?}"
    );
    assert!(
        on.description.is_none(),
        "the interval's own track, not a lane"
    );
}

#[test]
fn an_invalidation_left_open_ends_with_the_stream_and_says_so() {
    let start = ev(EventKind::RangeStart, 5_000, |e| {
        (e.sub, e.start, e.last, e.dur_ns) = (0x77, 0x7000_0000, 0x7000_0fff, 1_000);
    });
    let later = insert(9_000, 0xa0);
    let t = trace(&[start, later]);
    let evs = events(&t);
    let begin = evs
        .iter()
        .find(|(_, e)| e.r#type == Some(event_type::SLICE_BEGIN))
        .unwrap();
    assert_eq!(begin.0, 4_000, "from the start's entry");
    let end = evs
        .iter()
        .find(|(_, e)| e.r#type == Some(event_type::SLICE_END))
        .unwrap();
    assert_eq!(end.0, 9_000, "the last event's time");
    assert_eq!(
        end.1.debug_annotations[0].name.as_deref(),
        Some("end_not_recorded")
    );
    assert_eq!(
        track(&t, begin.1.track_uuid.unwrap()).name.as_deref(),
        Some("invalidations")
    );
}
