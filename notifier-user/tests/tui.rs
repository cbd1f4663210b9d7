//! Snapshot tests of every view, drawn with ratatui's TestBackend from a recording captured
//! in the VM (tests/data/vm-7.3.ntrec: rxe ODP and fixture traffic on Debian 7.3.4), so the
//! screens show real processes, drivers and intervals. Kernel pointers never appear on
//! screen; replaying a fixed recording makes every other value deterministic.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use notifier_common::{Event, EventKind};
use notifier_user::{
    export::pointers::Pointers,
    pipeline::Pipeline,
    record::RecordingReader,
    rules::{Engine, Thresholds},
    source,
    stream::Sink as _,
    tui::{
        app::{App, View},
        input,
        palette::Palette,
        views,
    },
};
use ratatui::{
    Terminal,
    backend::TestBackend,
    buffer::Buffer,
    style::{Color, Modifier},
};

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
    assert_eq!(
        source::replay(reader, &mut app).unwrap(),
        None,
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

fn draw(app: &App, w: u16, h: u16) -> Buffer {
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| views::draw(f, app)).unwrap();
    t.backend().buffer().clone()
}

fn line(buf: &Buffer, y: u16) -> String {
    (0..buf.area.width)
        .map(|x| buf[(x, y)].symbol())
        .collect::<String>()
        .trim_end()
        .to_owned()
}

fn screen(app: &App, w: u16, h: u16) -> String {
    let buf = draw(app, w, h);
    (0..h).map(|y| line(&buf, y)).collect::<Vec<_>>().join("\n")
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

/// 60 processes, process p with p + 1 intervals of its own driver (so the owners list is as
/// long, and sorted by p), and each callback returning false for a RELEASE: a finding per
/// process. Every list is longer than a 24-line screen.
fn busy_app() -> App {
    let mut p = Pipeline::new(Pointers::new(false));
    p.rules = Some(Engine::new(None, Thresholds::default()));
    let mut app = App::new(p, "test".into(), vec![], "test".into());
    let mut ts = 0;
    let mut next = |e: Event| {
        ts += 1000;
        Event { ts_ns: ts, ..e }
    };
    for proc_ in 0..60u64 {
        let base = Event {
            mm: 0x1000 + proc_,
            func: 0xf000 + proc_,
            pid_tgid: (proc_ + 100) << 32 | (proc_ + 100),
            ..Default::default()
        };
        for i in 0..=proc_ {
            let start = 0x7f00_0000_0000 + i * 0x10_0000;
            let ev = next(Event {
                kind: EventKind::Insert as u8,
                sub: proc_ << 32 | i,
                start,
                last: start + 0xf_ffff,
                ..base
            });
            app.event(&ev);
        }
        let ev = next(Event {
            kind: EventKind::Callback as u8,
            sub: proc_ << 32,
            event: 5, // MMU_NOTIFY_RELEASE
            ret: 0,
            ..base
        });
        app.event(&ev);
    }
    app.tick(1.0);
    app
}

/// The highlighted table row: its line on screen and its text.
fn highlighted(buf: &Buffer) -> Option<(u16, String)> {
    // Below the header's tab line, above the footer (both use reversed spans too).
    (4..buf.area.height - 1)
        .find(|&y| buf[(1, y)].modifier.contains(Modifier::REVERSED))
        .map(|y| (y, line(buf, y)))
}

/// Moves with `keys` on a 24-line screen, then checks that the selected row is on it, that
/// it is the row a screen tall enough for the whole list highlights, and returns its index
/// in the list.
fn moved_selection(app: &mut App, keys: &[KeyCode], first_row: u16) -> usize {
    draw(app, 120, 24); // PgUp/PgDn move by the page the last frame had room for
    for &k in keys {
        key(app, k);
    }
    let small = draw(app, 120, 24);
    let (_, text) = highlighted(&small).expect("the selected row is on screen");
    let tall = draw(app, 120, 2100);
    let (y, whole) = highlighted(&tall).unwrap();
    assert_eq!(text, whole, "a different row is highlighted when scrolled");
    (y - first_row) as usize
}

#[test]
fn every_table_scrolls_its_selection_into_view() {
    let mut app = busy_app();
    // 24 lines: 19 for the table, minus borders and its header, 16 rows a page.
    key(&mut app, KeyCode::Char('2'));
    assert_eq!(app.pipeline.mirror.owners.len(), 60);
    let i = moved_selection(&mut app, &[KeyCode::PageDown, KeyCode::PageDown], 6);
    assert_eq!(i, 32);
    let s = screen(&app, 120, 24);
    assert!(
        !s.contains("  60  "),
        "the first owners scrolled away:\n{s}"
    );

    key(&mut app, KeyCode::Char('4'));
    assert_eq!(app.findings_count(), 60);
    let i = moved_selection(
        &mut app,
        &[KeyCode::PageDown, KeyCode::Down, KeyCode::Char('j')],
        6,
    );
    assert_eq!(i, 18);
    assert_eq!(
        moved_selection(&mut app, &[KeyCode::End], 6),
        59,
        "End: the last finding"
    );

    // The feed starts on its newest line and has no header row.
    key(&mut app, KeyCode::Char('3'));
    let n = app.feed.len();
    assert!(n > 100);
    assert_eq!(moved_selection(&mut app, &[], 5), n - 1);
    let i = moved_selection(&mut app, &[KeyCode::PageUp, KeyCode::PageUp], 5);
    assert_eq!(i, n - 1 - 2 * 17);
    assert_eq!(moved_selection(&mut app, &[KeyCode::Home], 5), 0);
}

#[test]
fn the_detail_views_intervals_scroll() {
    let mut app = busy_app();
    // Sorted by intervals: the first process is the one with 60.
    key(&mut app, KeyCode::Enter);
    assert_eq!(app.view, View::Detail);
    // The map takes 11 of the 19 lines: 8 for the table, a page of 5 rows.
    let i = moved_selection(
        &mut app,
        &[KeyCode::PageDown, KeyCode::PageDown, KeyCode::Down],
        6,
    );
    assert_eq!(i, 11);
    let s = screen(&app, 120, 24);
    let selected = format!("{:x}", 0x7f00_0000_0000u64 + 11 * 0x10_0000);
    assert!(
        s.matches(&selected).count() == 2,
        "the selected interval is in the table and on the map:\n{s}"
    );
    // Reopening the same process keeps its place; another process's detail starts at its top.
    key(&mut app, KeyCode::Esc);
    key(&mut app, KeyCode::Enter);
    assert_eq!(moved_selection(&mut app, &[], 6), 11);
    key(&mut app, KeyCode::Esc);
    key(&mut app, KeyCode::Down);
    key(&mut app, KeyCode::Enter);
    assert_eq!(moved_selection(&mut app, &[], 6), 0);
}

#[test]
fn each_view_keeps_its_own_selection() {
    let mut app = busy_app();
    let row = |app: &App| highlighted(&draw(app, 120, 24)).unwrap().0 - 6;
    key(&mut app, KeyCode::Char('j'));
    key(&mut app, KeyCode::Char('j'));
    key(&mut app, KeyCode::Char('2'));
    assert_eq!(row(&app), 0, "owners start at their top");
    for _ in 0..5 {
        key(&mut app, KeyCode::Down);
    }
    key(&mut app, KeyCode::Tab);
    key(&mut app, KeyCode::Tab);
    key(&mut app, KeyCode::Tab);
    assert_eq!(app.view, View::Processes);
    assert_eq!(row(&app), 2);
    key(&mut app, KeyCode::Char('2'));
    assert_eq!(row(&app), 5);
    key(&mut app, KeyCode::Char('1'));
    key(&mut app, KeyCode::Enter);
    let s = screen(&app, 120, 24);
    // Sorted by intervals, the third process is tgid 157 with 58.
    assert!(
        s.contains("/157 · 58 intervals"),
        "the third process's detail:\n{s}"
    );
}

/// Every view's colours, in the buffer: (cells with a colour, cells reversed).
fn colours(app: &mut App) -> (usize, usize) {
    let (mut coloured, mut reversed) = (0, 0);
    for k in ['1', '2', '3', '4'] {
        key(app, KeyCode::Char(k));
        if k == '1' {
            key(app, KeyCode::Enter); // the detail view's address-space map
        }
        let buf = draw(app, 120, 32);
        coloured += buf
            .content()
            .iter()
            .filter(|c| c.fg != Color::Reset || c.bg != Color::Reset)
            .count();
        reversed += buf
            .content()
            .iter()
            .filter(|c| c.modifier.contains(Modifier::REVERSED))
            .count();
        key(app, KeyCode::Esc);
    }
    (coloured, reversed)
}

#[test]
fn no_color_draws_without_colours_but_keeps_the_selection_visible() {
    let mut app = app();
    app.palette = Palette::from_no_color(None);
    let (coloured, _) = colours(&mut app);
    assert!(coloured > 0, "the views use colours when allowed");
    app.palette = Palette::from_no_color(Some("1".as_ref()));
    let (coloured, reversed) = colours(&mut app);
    assert_eq!(
        coloured, 0,
        "NO_COLOR=1: no foreground or background colour"
    );
    assert!(reversed > 0, "the selection and the tabs stay reversed");
}
