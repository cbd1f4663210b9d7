//! Snapshot tests of every view, drawn with ratatui's TestBackend from a recording captured
//! in the VM (tests/data/vm-7.3.ntrec: rxe ODP and fixture traffic on Debian 7.3.4), so the
//! screens show real processes, drivers and intervals. Kernel pointers never appear on
//! screen; replaying a fixed recording makes every other value deterministic.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use notifier_user::{
    export::pointers::Pointers,
    pipeline::Pipeline,
    record::RecordingReader,
    rules::{Engine, Thresholds},
    source,
    tui::{
        app::{App, View},
        input, views,
    },
};
use ratatui::{Terminal, backend::TestBackend};

const RECORDING: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/vm-7.3.ntrec");

fn app() -> App {
    let reader = RecordingReader::open(std::path::Path::new(RECORDING)).unwrap();
    let header = reader.header().clone();
    let mut p = Pipeline::new(Pointers::new(false));
    p.rules = Some(Engine::new(None, Thresholds::default()));
    let mut app = App::new(
        p,
        header.kernel.clone(),
        header.attach.clone(),
        "replay".into(),
    );
    assert!(
        source::replay(reader, &mut app).unwrap(),
        "a complete recording"
    );
    let m = &app.pipeline.mirror;
    let secs = m.now_ns.saturating_sub(m.first_ns) as f64 / 1e9;
    app.tick(secs.max(1.0));
    app
}

fn key(app: &mut App, code: KeyCode) {
    input::handle(app, KeyEvent::new(code, KeyModifiers::NONE));
}

fn screen(app: &App, w: u16, h: u16) -> String {
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| views::draw(f, app)).unwrap();
    let buf = t.backend().buffer();
    (0..h)
        .map(|y| {
            (0..w)
                .map(|x| buf[(x, y)].symbol())
                .collect::<String>()
                .trim_end()
                .to_owned()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn processes_view() {
    let app = app();
    assert!(app.pipeline.mirror.counters.events > 0);
    insta::assert_snapshot!("processes_80x24", screen(&app, 80, 24));
    insta::assert_snapshot!("processes_140x40", screen(&app, 140, 40));
}

#[test]
fn sorting_and_filtering() {
    let mut app = app();
    key(&mut app, KeyCode::Char('s'));
    key(&mut app, KeyCode::Char('s'));
    assert_eq!(app.sort.name(), "inval/s");
    key(&mut app, KeyCode::Char('/'));
    for c in "comm:nfctl".chars() {
        key(&mut app, KeyCode::Char(c));
    }
    key(&mut app, KeyCode::Enter);
    let s = screen(&app, 100, 30);
    assert!(s.contains("nfctl") && !s.contains("ibv_rc_pingpong"), "{s}");
    insta::assert_snapshot!("processes_filtered", s);
}

#[test]
fn detail_view_with_address_space_map() {
    let mut app = app();
    key(&mut app, KeyCode::Enter);
    assert_eq!(app.view, View::Detail);
    insta::assert_snapshot!("detail_120x32", screen(&app, 120, 32));
    key(&mut app, KeyCode::Esc);
    assert_eq!(app.view, View::Processes);
}

#[test]
fn owners_feed_findings_help() {
    let mut app = app();
    key(&mut app, KeyCode::Char('2'));
    insta::assert_snapshot!("owners", screen(&app, 120, 24));
    key(&mut app, KeyCode::Char('3'));
    key(&mut app, KeyCode::Char('p'));
    assert!(app.paused);
    insta::assert_snapshot!("feed", screen(&app, 120, 24));
    key(&mut app, KeyCode::Char('4'));
    insta::assert_snapshot!("findings", screen(&app, 120, 24));
    key(&mut app, KeyCode::Char('?'));
    insta::assert_snapshot!("help", screen(&app, 80, 24));
    key(&mut app, KeyCode::Char('x'));
    assert!(!app.help);
    key(&mut app, KeyCode::Char('q'));
    assert!(app.quit);
}
