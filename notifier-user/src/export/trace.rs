//! One event as a line: for people (`notifier-top trace`) or as JSON (`--json`).

use std::{borrow::Cow, fmt::Write as _};

use notifier_common::{Event, EventKind, Hazard, MigrateSelect, MmuEvent, flags};
use serde::Serialize;

use super::{escape::Escaped, pointers::Pointers};
use crate::symbols::Symbol;

/// Names the `flags` bits set on an event.
pub fn flag_names(f: u8) -> Vec<&'static str> {
    [
        (flags::DEFERRED, "deferred"),
        (flags::LOCKED, "locked"),
        (flags::BLOCKABLE, "blockable"),
        (flags::TWO_PASS, "two-pass"),
        (flags::REMOVING, "removing"),
        (flags::IN_CALLBACK, "in-callback"),
        (flags::IN_RANGE, "in-range"),
        (flags::PARTIAL, "partial"),
    ]
    .into_iter()
    .filter(|(bit, _)| f & bit != 0)
    .map(|(_, n)| n)
    .collect()
}

/// An `mmu_notifier_event` byte by its kernel name; a value this build does not know
/// (a newer kernel's addition) shows as `?`.
pub fn event_name(e: u8) -> &'static str {
    MmuEvent::from_u8(e).map_or("?", MmuEvent::name)
}

fn hazard_name(code: u8) -> &'static str {
    Hazard::from_u8(code).map_or("?", Hazard::name)
}

/// A migration's direction from its `MIGRATE_VMA_SELECT_*` bits: the first one set.
pub fn direction(select: u8) -> &'static str {
    MigrateSelect::ALL
        .iter()
        .find(|s| select & **s as u8 != 0)
        .map_or("?", |s| s.name())
}

fn is_migration(k: EventKind) -> bool {
    matches!(
        k,
        EventKind::MigrateVmaSetup | EventKind::MigrateVmaPages | EventKind::MigrateVmaFinalize
    )
}

/// Pages an HMM-layer event covers (`aux`), and what came of them (`seq`): collected by a
/// migration's setup, migrated by its pages step.
fn pages(ev: &Event, k: EventKind) -> (Option<u64>, Option<u64>, Option<u64>) {
    match k {
        EventKind::HmmRangeFault
        | EventKind::MigrateVmaFinalize
        | EventKind::MigrateDeviceFinalize => (Some(ev.aux), None, None),
        EventKind::MigrateVmaSetup | EventKind::MigrateDeviceRange => {
            (Some(ev.aux), Some(ev.seq), None)
        }
        EventKind::MigrateVmaPages | EventKind::MigrateDevicePages => {
            (Some(ev.aux), None, Some(ev.seq))
        }
        _ => (None, None, None),
    }
}

#[derive(Serialize)]
struct JsonEvent<'a> {
    ts_ns: u64,
    kind: &'static str,
    tgid: u32,
    tid: u32,
    comm: Cow<'a, str>,
    mm: String,
    sub: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    start: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    event: Option<&'static str>,
    flags: Vec<&'static str>,
    ret: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    owner: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    hazard: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    direction: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pages: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    collected: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    migrated: Option<u64>,
    seq: u64,
    /// null: not measured (`DUR_UNKNOWN`).
    dur_ns: Option<u64>,
}

fn has_range(ev: &Event, k: EventKind) -> bool {
    match k {
        EventKind::MmRegister
        | EventKind::MmRelease
        | EventKind::MmDestroy
        | EventKind::MmWalked
        | EventKind::Hazard
        | EventKind::MigrateDeviceRange
        | EventKind::MigrateDevicePages
        | EventKind::MigrateDeviceFinalize => false,
        // Recordings made before removes carried their range have none.
        EventKind::RemoveEnd => ev.start != 0 || ev.last != 0,
        _ => true,
    }
}

fn has_event(k: EventKind) -> bool {
    matches!(
        k,
        EventKind::RangeStart | EventKind::RangeEnd | EventKind::Callback
    )
}

/// A JSON object for `ev`; `owner` names its callback when known.
pub fn json(ev: &Event, owner: Option<&Symbol>, ptr: &Pointers) -> String {
    let kind = ev.kind();
    let k = kind.unwrap_or(EventKind::Hazard);
    let (pages, collected, migrated) = pages(ev, k);
    let j = JsonEvent {
        ts_ns: ev.ts_ns,
        kind: kind.map_or("unknown", EventKind::name),
        tgid: ev.tgid(),
        tid: ev.tid(),
        // JSON strings hold text: bytes that are not UTF-8 become U+FFFD; control
        // characters are escaped by the encoder.
        comm: String::from_utf8_lossy(ev.comm_bytes()),
        mm: ptr.show(ev.mm),
        sub: ptr.show(ev.sub),
        start: has_range(ev, k).then(|| format!("0x{:x}", ev.start)),
        last: has_range(ev, k).then(|| format!("0x{:x}", ev.last)),
        event: has_event(k).then(|| event_name(ev.event)),
        flags: flag_names(ev.flags),
        ret: ev.ret,
        owner: owner.map(Symbol::display),
        hazard: (k == EventKind::Hazard).then(|| hazard_name(ev.event)),
        direction: is_migration(k).then(|| direction(ev.event)),
        pages,
        collected,
        migrated,
        seq: ev.seq,
        dur_ns: ev.duration(),
    };
    serde_json::to_string(&j).expect("plain data serializes")
}

/// `   12.345678 comm/tgid:tid kind  0x…-0x… (size) owner flags ret dur`
pub fn human(ev: &Event, t0_ns: u64, owner: Option<&Symbol>) -> String {
    let mut s = String::new();
    let kind = ev.kind();
    let k = kind.unwrap_or(EventKind::Hazard);
    let _ = write!(
        s,
        "{:>12.6} {:<16} {:>7}:{:<7} {:<24}",
        ev.ts_ns.saturating_sub(t0_ns) as f64 / 1e9,
        Escaped::bytes(ev.comm_bytes()),
        ev.tgid(),
        ev.tid(),
        kind.map_or("unknown", EventKind::name)
    );
    if has_range(ev, k) {
        let size = ev.last.wrapping_sub(ev.start).wrapping_add(1);
        let _ = write!(
            s,
            " 0x{:x}-0x{:x} ({})",
            ev.start,
            ev.last,
            human_size(size)
        );
    }
    if has_event(k) {
        let _ = write!(s, " {}", event_name(ev.event));
    }
    if k == EventKind::Hazard {
        let _ = write!(s, " {}", hazard_name(ev.event));
    }
    if is_migration(k) {
        let _ = write!(s, " {}", direction(ev.event));
    }
    match pages(ev, k) {
        (Some(p), Some(c), _) => {
            let _ = write!(s, " {c}/{p} pages collected");
        }
        (Some(p), _, Some(m)) => {
            let _ = write!(s, " {m}/{p} pages migrated");
        }
        (Some(p), _, _) => {
            let _ = write!(s, " {p} pages");
        }
        _ => {}
    }
    if let Some(o) = owner {
        let _ = write!(s, " {}", Escaped::str(&o.display()));
    }
    let f = flag_names(ev.flags);
    if !f.is_empty() {
        let _ = write!(s, " [{}]", f.join(","));
    }
    if ev.ret != 0 || k == EventKind::Callback {
        let _ = write!(s, " ret={}", ev.ret);
    }
    match ev.duration() {
        Some(0) => {}
        Some(d) => {
            let _ = write!(s, " {:.1}µs", d as f64 / 1e3);
        }
        None => s.push_str(" duration-unknown"),
    }
    s
}

pub fn human_size(b: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = b as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{b}B")
    } else {
        format!("{v:.1}{}", UNITS[u])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_line_is_one_object_with_names() {
        let e = Event {
            kind: EventKind::Insert as u8,
            flags: flags::DEFERRED | flags::LOCKED,
            start: 0x1000,
            last: 0x1fff,
            mm: 0x10,
            ..Default::default()
        };
        let j: serde_json::Value =
            serde_json::from_str(&json(&e, None, &Pointers::new(true))).unwrap();
        assert_eq!(j["kind"], "insert");
        assert_eq!(j["start"], "0x1000");
        assert_eq!(j["mm"], "0x10");
        assert_eq!(j["flags"], serde_json::json!(["deferred", "locked"]));
    }

    #[test]
    fn removes_show_their_range_unless_recorded_without_one() {
        let removed = Event {
            kind: EventKind::RemoveEnd as u8,
            start: 0x1000,
            last: 0x1fff,
            ..Default::default()
        };
        let j: serde_json::Value =
            serde_json::from_str(&json(&removed, None, &Pointers::new(true))).unwrap();
        assert_eq!(
            (&j["start"], &j["last"]),
            (&"0x1000".into(), &"0x1fff".into())
        );
        let old = Event {
            start: 0,
            last: 0,
            ..removed
        };
        let j: serde_json::Value =
            serde_json::from_str(&json(&old, None, &Pointers::new(true))).unwrap();
        assert!(j.get("start").is_none_or(|v| v.is_null()), "{j}");
        assert!(!human(&old, 0, None).contains("0x0-0x0"));
    }

    #[test]
    fn unmeasured_durations_are_named_not_shown_as_numbers() {
        let e = Event {
            kind: EventKind::ReadBegin as u8,
            dur_ns: notifier_common::DUR_UNKNOWN,
            ..Default::default()
        };
        let j: serde_json::Value =
            serde_json::from_str(&json(&e, None, &Pointers::new(true))).unwrap();
        assert!(j["dur_ns"].is_null(), "{j}");
        assert!(human(&e, 0, None).ends_with(" duration-unknown"));
        let measured = Event { dur_ns: 1500, ..e };
        let j: serde_json::Value =
            serde_json::from_str(&json(&measured, None, &Pointers::new(true))).unwrap();
        assert_eq!(j["dur_ns"], 1500);
        assert!(human(&measured, 0, None).ends_with(" 1.5µs"));
    }

    #[test]
    fn hmm_events_name_their_pages_and_direction() {
        let e = Event {
            kind: EventKind::MigrateVmaPages as u8,
            start: 0x1000,
            last: 0x40fff,
            event: MigrateSelect::System as u8,
            aux: 64,
            seq: 60,
            ..Default::default()
        };
        let j: serde_json::Value =
            serde_json::from_str(&json(&e, None, &Pointers::new(true))).unwrap();
        assert_eq!(j["kind"], "migrate_vma_pages");
        assert_eq!(j["direction"], "to_device");
        assert_eq!((&j["pages"], &j["migrated"]), (&64.into(), &60.into()));
        assert!(j.get("collected").is_none());
        let line = human(&e, 0, None);
        assert!(line.contains("to_device 60/64 pages migrated"), "{line}");
        let fault = Event {
            kind: EventKind::HmmRangeFault as u8,
            aux: 16,
            ret: notifier_common::errno::EBUSY,
            ..Default::default()
        };
        let line = human(&fault, 0, None);
        assert!(line.contains("16 pages ret=-16"), "{line}");
    }

    #[test]
    fn human_line_names_range_and_size() {
        let e = Event {
            kind: EventKind::RangeStart as u8,
            start: 0x1000,
            last: 0x2fff,
            event: 5,
            ..Default::default()
        };
        let line = human(&e, 0, None);
        assert!(line.contains("range_start"), "{line}");
        assert!(line.contains("0x1000-0x2fff (8.0KiB) release"), "{line}");
        assert_eq!(human_size(1536), "1.5KiB");
    }
}
