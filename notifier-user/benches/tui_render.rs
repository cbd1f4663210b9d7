//! Frame render time of the TUI with 100k intervals across 1k processes and with 1M across
//! 10k, and replay throughput with the TUI model attached (events through pipeline + feed
//! formatting).
//! `cargo bench -p notifier-user --bench tui_render`.

use std::time::Instant;

use notifier_common::{Event, EventKind};
use notifier_user::{
    export::pointers::Pointers,
    pipeline::Pipeline,
    rules::{Engine, Thresholds},
    stream::Sink as _,
    tui::{
        app::{App, View},
        views,
    },
};
use ratatui::{Terminal, backend::TestBackend};

fn main() {
    for procs in [1000, 10_000] {
        run(procs, 100);
    }
}

fn run(procs: u64, per: u64) {
    let scale = format!(
        "{}k intervals in {}k processes",
        procs * per / 1000,
        procs / 1000
    );
    let mut p = Pipeline::new(Pointers::new(false));
    p.rules = Some(Engine::new(None, Thresholds::default()));
    let mut app = App::new(p, "bench".into(), vec![], "bench".into());
    let t = Instant::now();
    let mut n = 0u64;
    for proc_ in 0..procs {
        for i in 0..per {
            let start = 0x7f00_0000_0000 + i * 0x10_0000;
            let e = Event {
                kind: EventKind::Insert as u8,
                ts_ns: n * 1000,
                mm: 0x1000 + proc_,
                sub: proc_ << 32 | i,
                start,
                last: start + 0xf_ffff,
                func: 0xf00,
                pid_tgid: (proc_ + 100) << 32 | (proc_ + 100),
                ..Default::default()
            };
            app.event(&e);
            let r = Event {
                kind: EventKind::RangeStart as u8,
                ts_ns: n * 1000 + 500,
                start,
                last: start + 0xfff,
                ..e
            };
            app.event(&r);
            n += 2;
        }
    }
    let ingest = t.elapsed().as_secs_f64();
    println!(
        "replay into the TUI model ({scale}): {n} events in {ingest:.3} s = {:.2} M events/s",
        n as f64 / ingest / 1e6
    );
    app.tick(1.0);
    for (view, name) in [
        (View::Processes, "processes"),
        (View::Owners, "owners"),
        (View::Feed, "events"),
    ] {
        app.view = view;
        let mut term = Terminal::new(TestBackend::new(160, 48)).unwrap();
        let frames = 50;
        let t = Instant::now();
        for _ in 0..frames {
            term.draw(|f| views::draw(f, &app)).unwrap();
        }
        let per = t.elapsed().as_secs_f64() / frames as f64 * 1e3;
        println!("frame ({name} view, {scale}, 160x48): {per:.2} ms");
    }
}
