//! Ingest throughput (recording decode + mirror) and memory per live interval.
//! `cargo bench -p notifier-user --bench ingest` prints the figures; docs/benchmarks.md
//! keeps them.

use std::{
    alloc::{GlobalAlloc, Layout, System},
    sync::atomic::{AtomicUsize, Ordering},
    time::Instant,
};

use notifier_common::{EVENT_SIZE, Event, EventKind, flags};
use notifier_user::{
    mirror::Mirror,
    record::{Header, Record, RecordingReader, RecordingWriter},
};

/// Counts live heap bytes, to measure the mirror's footprint.
struct Counting;
static LIVE: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator, only counting.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size(), Ordering::Relaxed);
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size(), Ordering::Relaxed);
        unsafe { System.dealloc(p, l) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// A churn-heavy stream over 1k processes: per process, a resident set of intervals plus
/// nouveau-like insert/read_begin/remove cycles on a few reused stack addresses, with
/// invalidations and callbacks mixed in.
fn workload(events: usize) -> Vec<Event> {
    let mut out = Vec::with_capacity(events);
    let mut ts = 0;
    let mut push = |mut e: Event, out: &mut Vec<Event>| {
        ts += 100;
        e.ts_ns = ts;
        out.push(e);
    };
    for p in 0..1000u64 {
        for i in 0..16u64 {
            let start = 0x7f00_0000_0000 + i * 0x10_0000;
            let e = Event {
                kind: EventKind::Insert as u8,
                mm: 0xffff_0000 + p,
                sub: (p << 20) | i,
                start,
                last: start + 0xf_ffff,
                func: 0xf00 + p % 4,
                pid_tgid: p << 32 | p,
                ..Default::default()
            };
            push(e, &mut out);
        }
    }
    let mut i = 0u64;
    while out.len() < events {
        let p = i % 1000;
        let mm = 0xffff_0000 + p;
        let sub = (p << 20) | (0x1000 + i % 3);
        let start = 0x7f00_0000_0000 + (i % 16) * 0x10_0000;
        let base = Event {
            mm,
            sub,
            start,
            last: start + 0xfff,
            pid_tgid: p << 32 | p,
            func: 0xf00,
            ..Default::default()
        };
        for kind in [
            EventKind::Insert,
            EventKind::ReadBegin,
            EventKind::RangeStart,
            EventKind::Callback,
            EventKind::RangeEnd,
            EventKind::RemoveEnd,
        ] {
            let mut e = base;
            e.kind = kind as u8;
            e.dur_ns = 2_000 + i % 5_000;
            e.flags = flags::BLOCKABLE;
            push(e, &mut out);
        }
        i += 1;
    }
    out
}

fn main() {
    let events = workload(5_000_000);
    let dir = std::env::temp_dir().join(format!("nt-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("bench.ntrec");
    let header = Header {
        tool_version: "bench".into(),
        kernel: "synthetic".into(),
        hostname: String::new(),
        started_unix: 0,
        event_size: EVENT_SIZE,
        attach: vec![],
    };
    let mut w = RecordingWriter::create(&path, &header).unwrap();
    for e in &events {
        w.event(e).unwrap();
    }
    w.finish().unwrap();
    let size = std::fs::metadata(&path).unwrap().len();

    // Best of 3 runs of decode + mirror on one core.
    let mut best = f64::MAX;
    let mut live = 0;
    for _ in 0..3 {
        let t = Instant::now();
        let mut m = Mirror::new();
        let mut n = 0usize;
        for r in RecordingReader::open(&path).unwrap() {
            if let Record::Events(evs) = r.unwrap() {
                n += evs.len();
                evs.iter().for_each(|e| m.apply(e));
            }
        }
        best = best.min(t.elapsed().as_secs_f64());
        assert_eq!(n, events.len());
        live = m.live_intervals();
    }
    println!(
        "ingest: {} events in {:.3} s = {:.2} M events/s (decode + mirror, one core, best of 3)",
        events.len(),
        best,
        events.len() as f64 / best / 1e6
    );
    println!(
        "recording: {:.1} bytes/event on disk ({} bytes raw)",
        size as f64 / events.len() as f64,
        EVENT_SIZE
    );

    // Memory per live interval: heap growth while 100k intervals are inserted, at three
    // densities (the hash tables' load factor differs with the count per mm). Then every
    // interval sees an invalidation, a callback and a read_begin wait: the per-interval
    // statistics are inline, so only per-mm aggregates (histograms allocated on first use)
    // grow, and that growth is reported per mm.
    for (mms, per_mm) in [(6250u64, 16u64), (1000, 100), (100, 1000)] {
        let before = LIVE.load(Ordering::Relaxed);
        let mut m = Mirror::new();
        let ev = |kind: EventKind, p: u64| Event {
            kind: kind as u8,
            mm: p + 1,
            func: 0xf00,
            pid_tgid: p << 32,
            ..Default::default()
        };
        for p in 0..mms {
            for i in 0..per_mm {
                let start = i * 0x10000;
                m.apply(&Event {
                    sub: (p << 32) | i,
                    start,
                    last: start + 0xffff,
                    ..ev(EventKind::Insert, p)
                });
            }
        }
        let inserted = LIVE.load(Ordering::Relaxed) - before;
        for p in 0..mms {
            m.apply(&Event {
                start: 0,
                last: per_mm * 0x10000 - 1,
                ..ev(EventKind::RangeStart, p)
            });
            for i in 0..per_mm {
                let sub = (p << 32) | i;
                m.apply(&Event {
                    sub,
                    dur_ns: 20_000,
                    ..ev(EventKind::Callback, p)
                });
                m.apply(&Event {
                    sub,
                    dur_ns: 50_000,
                    ..ev(EventKind::ReadBegin, p)
                });
            }
            m.apply(&ev(EventKind::RangeEnd, p));
        }
        let with_traffic = LIVE.load(Ordering::Relaxed) - before;
        let n = m.live_intervals();
        assert_eq!(n as u64, mms * per_mm);
        println!(
            "memory: {:.0} bytes per live interval ({n} intervals, {per_mm} per mm); \
             after traffic on each, +{:.0} bytes per mm (its latency histograms)",
            inserted as f64 / n as f64,
            (with_traffic - inserted) as f64 / mms as f64,
        );
    }
    println!("(mirror held {live} live intervals after the ingest run)");
    std::fs::remove_dir_all(&dir).ok();
}
