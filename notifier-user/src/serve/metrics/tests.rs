use std::collections::HashMap;

use notifier_common::{Event, EventKind, MmuEvent, flags};

use super::*;
use crate::{export::pointers::Pointers, stream::Sink as _};

const FIXTURE_CB: u64 = 0xffff_a000;
const MYSTERY_CB: u64 = 0xffff_b000;

fn ev(kind: EventKind, sub: u64, f: impl FnOnce(&mut Event)) -> Event {
    let mut e = Event {
        kind: kind as u8,
        mm: 0xaa,
        sub,
        start: 0x1000,
        last: 0x1fff,
        pid_tgid: 7 << 32 | 7,
        ts_ns: 1,
        ..Default::default()
    };
    f(&mut e);
    e
}

fn build() -> BuildInfo {
    BuildInfo {
        version: "0.1.0".into(),
        commit: "abc".into(),
        kernel: "7.3.4".into(),
    }
}

/// The fixture's interval (named owner) and one of an owner nobody named: an insert each,
/// a blockable unmap with a 5 µs callback, a read_begin that waited 2 ms.
fn pipeline() -> Pipeline {
    let mut p = Pipeline::new(Pointers::new(true));
    p.owner(&Symbol {
        addr: FIXTURE_CB,
        name: "nf_invalidate".into(),
        module: Some("notifier_fixture".into()),
    });
    p.event(&ev(EventKind::Insert, 10, |e| e.func = FIXTURE_CB));
    p.event(&ev(EventKind::Insert, 11, |e| {
        e.func = MYSTERY_CB;
        e.start = 0x8000;
        e.last = 0x8fff;
    }));
    p.event(&ev(EventKind::Callback, 10, |e| {
        e.start = 0;
        e.last = 0xffff;
        e.dur_ns = 5_000;
        e.ret = 1;
    }));
    p.event(&ev(EventKind::RangeStart, 99, |e| {
        e.start = 0;
        e.last = 0xffff;
        e.event = MmuEvent::Unmap as u8;
        e.flags = flags::BLOCKABLE;
    }));
    p.event(&ev(EventKind::ReadBegin, 10, |e| e.dur_ns = 2_000_000));
    p
}

/// `name{labels}` → value, from the text format.
fn series(text: &str) -> HashMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (k, v) = l.rsplit_once(' ').unwrap();
            (k.to_owned(), v.parse().unwrap())
        })
        .collect()
}

#[test]
fn per_driver_counts_latencies_and_loss() {
    let mut p = pipeline();
    p.lost(crate::stream::Loss {
        ring_full: 3,
        skipped: 2,
    });
    let text = render(&Sample::of(&p, &[]), &build(), vec![]);
    let s = series(&text);
    let fx = r#"driver="notifier_fixture""#;
    for (k, v) in [
        (format!("notifier_top_intervals{{{fx}}}"), 1.0),
        (format!("notifier_top_inserts_total{{{fx}}}"), 1.0),
        (
            r#"notifier_top_inserts_total{driver="unknown"}"#.into(),
            1.0,
        ),
        (
            format!(r#"notifier_top_invalidations_total{{{fx},event="unmap",blockable="true"}}"#),
            1.0,
        ),
        (
            r#"notifier_top_invalidations_total{driver="unknown",event="unmap",blockable="true"}"#
                .into(),
            1.0,
        ),
        (
            format!("notifier_top_callback_duration_seconds_count{{{fx}}}"),
            1.0,
        ),
        (
            format!("notifier_top_callback_duration_seconds_sum{{{fx}}}"),
            5e-6,
        ),
        // 5 µs: above the 4 µs bound, within the 16 µs one.
        (
            format!(r#"notifier_top_callback_duration_seconds_bucket{{{fx},le="4e-06"}}"#),
            0.0,
        ),
        (
            format!(r#"notifier_top_callback_duration_seconds_bucket{{{fx},le="1.6e-05"}}"#),
            1.0,
        ),
        (
            format!(r#"notifier_top_callback_duration_seconds_bucket{{{fx},le="+Inf"}}"#),
            1.0,
        ),
        // The other interval was met, and its owner is not hooked.
        (
            r#"notifier_top_callbacks_unobserved_total{driver="unknown"}"#.into(),
            1.0,
        ),
        (
            format!("notifier_top_read_begin_wait_seconds_count{{{fx}}}"),
            1.0,
        ),
        (
            format!("notifier_top_read_begin_wait_seconds_sum{{{fx}}}"),
            0.002,
        ),
        ("notifier_top_events_lost_total".into(), 3.0),
        ("notifier_top_events_skipped_total".into(), 2.0),
        ("notifier_top_events_total".into(), 5.0),
        (
            r#"notifier_top_build_info{version="0.1.0",commit="abc",kernel="7.3.4"}"#.into(),
            1.0,
        ),
    ] {
        assert_eq!(s.get(&k), Some(&v), "{k} in\n{text}");
    }
}

#[test]
fn no_label_names_a_process_an_mm_or_an_address() {
    let p = pipeline();
    let text = render(&Sample::of(&p, &[]), &build(), vec![]);
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        for banned in ["pid=", "tgid=", "mm=", "comm=", "0x", "addr="] {
            assert!(!line.contains(banned), "{banned} in {line}");
        }
    }
}

#[test]
fn rule_hits_are_running_totals_per_rule_and_driver() {
    let mut p = pipeline();
    p.rules = Some(crate::rules::Engine::new(
        None,
        crate::rules::Thresholds::default(),
    ));
    // A callback slower than the slow-callback threshold, twice.
    for ts in [10, 20] {
        let slow = crate::rules::Thresholds::default().slow_callback_ns + 1;
        p.event(&ev(EventKind::Insert, 10, |e| e.func = FIXTURE_CB));
        p.event(&ev(EventKind::Callback, 10, |e| {
            e.dur_ns = slow;
            e.ts_ns = ts;
            e.ret = 1;
        }));
    }
    let s = series(&render(&Sample::of(&p, &[]), &build(), vec![]));
    assert_eq!(
        s.get(r#"notifier_top_findings_total{rule="slow-callback",driver="notifier_fixture"}"#),
        Some(&2.0)
    );
}

#[test]
fn program_costs_and_outside_counters_are_shown() {
    let p = pipeline();
    let costs = [ProgramCost {
        program: "nf_insert".into(),
        run_count: 4,
        run_time_ns: 2_000_000_000,
    }];
    let extra = vec![Family {
        name: "http_auth_failures",
        help: "Requests refused for bad credentials.",
        value: 7,
    }];
    let s = series(&render(&Sample::of(&p, &costs), &build(), extra));
    assert_eq!(
        s.get(r#"notifier_top_bpf_run_time_seconds_total{program="nf_insert"}"#),
        Some(&2.0)
    );
    assert_eq!(
        s.get(r#"notifier_top_bpf_runs_total{program="nf_insert"}"#),
        Some(&4.0)
    );
    assert_eq!(s.get("notifier_top_http_auth_failures_total"), Some(&7.0));
}

#[test]
fn a_known_driver_is_a_series_at_zero_before_its_first_insert() {
    let mut p = Pipeline::new(Pointers::new(true));
    p.owner(&Symbol {
        addr: FIXTURE_CB,
        name: "nf_invalidate".into(),
        module: Some("notifier_fixture".into()),
    });
    let text = render(&Sample::of(&p, &[]), &build(), Vec::new());
    assert!(
        text.contains("notifier_top_inserts_total{driver=\"notifier_fixture\"} 0\n"),
        "{text}"
    );
}
