//! Text from outside notifier-top never reaches a terminal raw: a process that named itself
//! with escape sequences (`prctl(PR_SET_NAME)`, as any user can), and a driver whose symbol
//! and module do, recorded and replayed through every human-readable output: the trace,
//! `check`'s text, the CSV snapshot, the view, and error messages. JSON carries the text
//! unchanged, its encoder escaping the control characters.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use notifier_common::{EVENT_SIZE, Event, EventKind};
use notifier_user::{
    export::{
        pointers::Pointers,
        snapshot::{self, Meta},
        text,
    },
    pipeline::Pipeline,
    record::{Header, RecordingReader, RecordingWriter},
    rules::{Engine, Thresholds},
    source,
    stream::{Attach, Hook, HookStatus},
    symbols::Symbol,
    tui::{
        app::{App, View},
        input, views,
    },
};
use ratatui::{Terminal, backend::TestBackend};

/// Sets the window title and clears the screen: 13 bytes, a comm holds 15.
const HOSTILE: &[u8] = b"\x1b]0;PWNED\x07\x1b[2J";
/// How the outputs for people show it.
const SHOWN: &str = r"\x1b]0;PWNED\x07\x1b[2J";
const CALLBACK: u64 = 0xffff_ffff_c000_1000;

fn has_control(bytes: &[u8]) -> bool {
    bytes.iter().any(|&b| b == 0x1b || b == 0x07)
}

/// One process named `HOSTILE` with an interval of a driver named with escapes too, whose
/// callback returns false for a non-blockable release (a finding); a second process whose
/// name is not UTF-8.
fn recording(dir: &Path) -> PathBuf {
    let path = dir.join("hostile.ntrec");
    let header = Header {
        tool_version: "test".into(),
        kernel: "7.3\x1b[2J".into(),
        hostname: "h".into(),
        started_unix: 1,
        event_size: EVENT_SIZE,
        attach: vec![HookStatus::new(
            Hook::Insert,
            Attach::Missing,
            "no \x1b]0;x\x07",
        )],
    };
    let mut w = RecordingWriter::create(&path, &header).unwrap();
    w.symbol(&Symbol {
        addr: CALLBACK,
        name: "cb\x1b[31m".into(),
        module: Some("mod\x07".into()),
    })
    .unwrap();
    for (n, name) in [HOSTILE, b"bad\xff\xfe"].into_iter().enumerate() {
        let n = n as u64;
        let mut comm = [0; 16];
        comm[..name.len()].copy_from_slice(name);
        let base = Event {
            comm,
            mm: 0x1000 + n,
            func: CALLBACK,
            pid_tgid: (100 + n) << 32 | (100 + n),
            ..Default::default()
        };
        for (ts, ev) in [
            Event {
                kind: EventKind::Insert as u8,
                sub: 0x2000 + n,
                start: 0x7f00_0000_0000,
                last: 0x7f00_000f_ffff,
                ..base
            },
            Event {
                kind: EventKind::Callback as u8,
                sub: 0x2000 + n,
                event: 5, // MMU_NOTIFY_RELEASE, not blockable: returning false is a bug
                ret: 0,
                ..base
            },
        ]
        .into_iter()
        .enumerate()
        {
            w.event(&Event {
                ts_ns: 1000 * (2 * n + ts as u64 + 1),
                ..ev
            })
            .unwrap();
        }
    }
    w.finish().unwrap();
    path
}

fn top(args: &[&std::ffi::OsStr]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_notifier-top"))
        .args(args)
        .output()
        .unwrap()
}

fn replay(path: &Path, args: &[&str]) -> Vec<u8> {
    let mut all = vec!["replay".as_ref(), path.as_os_str()];
    all.extend(args.iter().map(std::ffi::OsStr::new));
    let out = top(&all);
    assert!(out.status.success(), "{args:?}: {out:?}");
    assert!(!has_control(&out.stderr), "{args:?}: {out:?}");
    out.stdout
}

fn pipeline(path: &Path) -> (Pipeline, Header) {
    let reader = RecordingReader::open(path).unwrap();
    let header = reader.header().clone();
    let mut p = Pipeline::new(Pointers::new(false));
    p.rules = Some(Engine::new(None, Thresholds::default()));
    assert_eq!(source::replay(reader, &mut p).unwrap(), None, "not cut");
    p.finish().unwrap();
    (p, header)
}

#[test]
fn the_human_trace_shows_names_escaped() {
    let dir = tempfile::tempdir().unwrap();
    let out = replay(&recording(dir.path()), &["--trace"]);
    assert!(!has_control(&out), "{}", String::from_utf8_lossy(&out));
    let out = String::from_utf8(out).unwrap();
    assert!(out.contains(SHOWN), "{out}");
    assert!(
        out.contains(r"bad\xff\xfe"),
        "not UTF-8, byte by byte: {out}"
    );
    assert!(out.contains(r"cb\x1b[31m [mod\x07]"), "{out}");
}

#[test]
fn json_carries_names_unchanged_with_controls_escaped_by_the_encoder() {
    let dir = tempfile::tempdir().unwrap();
    let path = recording(dir.path());
    let hostile = std::str::from_utf8(HOSTILE).unwrap();
    let trace = replay(&path, &["--trace", "--json"]);
    assert!(!has_control(&trace));
    let first: serde_json::Value =
        serde_json::from_slice(trace.split(|&b| b == b'\n').next().unwrap()).unwrap();
    assert_eq!(first["comm"], hostile);
    let summary = replay(&path, &["--summary-json", "-"]);
    assert!(!has_control(&summary));
    let summary: serde_json::Value = serde_json::from_slice(&summary).unwrap();
    let comms: Vec<&serde_json::Value> = summary["processes"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["comms"].as_array().unwrap())
        .collect();
    assert!(comms.contains(&&hostile.into()), "{comms:?}");
    assert!(comms.contains(&&"bad\u{fffd}\u{fffd}".into()), "{comms:?}");
    assert_eq!(summary["findings"][0]["comm"], hostile);
}

#[test]
fn check_text_and_the_hook_table_show_names_escaped() {
    let dir = tempfile::tempdir().unwrap();
    let (p, header) = pipeline(&recording(dir.path()));
    let summary = p.summary(&header.kernel, &header.attach);
    assert!(!summary.findings.is_empty(), "the release returning false");
    for f in &summary.findings {
        let line = text::finding(f);
        assert!(!has_control(line.as_bytes()), "{line:?}");
        assert!(line.contains(r"cb\x1b[31m [mod\x07]"), "{line}");
    }
    assert!(text::finding(&summary.findings[0]).contains(SHOWN));
    let table = text::hook_table(&header.attach);
    assert!(!has_control(table.as_bytes()), "{table:?}");
    assert!(table.contains(r"no \x1b]0;x\x07"), "{table}");
}

#[test]
fn the_csv_snapshot_shows_names_escaped_and_quoted() {
    let dir = tempfile::tempdir().unwrap();
    let (p, header) = pipeline(&recording(dir.path()));
    let meta = Meta {
        kernel: header.kernel,
        taken_unix: 1,
        filter: String::new(),
    };
    let mut csv = Vec::new();
    snapshot::write_csv(&p.snapshot(meta, None), &mut csv).unwrap();
    assert!(!has_control(&csv), "{}", String::from_utf8_lossy(&csv));
    let mut rows = csv::Reader::from_reader(csv.as_slice());
    let comms: Vec<String> = rows.records().map(|r| r.unwrap()[2].to_owned()).collect();
    assert!(comms.iter().any(|c| c == SHOWN), "{comms:?}");
}

#[test]
fn the_view_shows_names_escaped() {
    let dir = tempfile::tempdir().unwrap();
    let path = recording(dir.path());
    let reader = RecordingReader::open(&path).unwrap();
    let header = reader.header().clone();
    let mut p = Pipeline::new(Pointers::new(false));
    p.rules = Some(Engine::new(None, Thresholds::default()));
    let label = format!("replay of {}", dir.path().join("\x1b[2J.ntrec").display());
    let mut app = App::new(p, header.kernel, header.attach, label);
    assert_eq!(source::replay(reader, &mut app).unwrap(), None, "not cut");
    app.tick(1.0);
    app.status = Some("snapshot failed: \x1b[2J".into());
    let mut screens = String::new();
    let views = [
        KeyCode::Char('1'),
        KeyCode::Enter,
        KeyCode::Esc,
        KeyCode::Char('2'),
        KeyCode::Char('3'),
        KeyCode::Char('4'),
    ];
    for k in views {
        input::handle(&mut app, KeyEvent::new(k, KeyModifiers::NONE));
        let mut t = Terminal::new(TestBackend::new(160, 30)).unwrap();
        t.draw(|f| views::draw(f, &app)).unwrap();
        let buf = t.backend().buffer();
        let screen: String = buf.content().iter().map(|c| c.symbol()).collect();
        assert!(
            !has_control(screen.as_bytes()),
            "{:?}: {screen:?}",
            app.view
        );
        screens.push_str(&screen);
        if k == KeyCode::Enter {
            assert_eq!(app.view, View::Detail);
        }
    }
    for shown in [r"\x1b]0;PWNED", r"cb\x1b[31m", r"mod\x07", r"7.3\x1b[2J"] {
        assert!(screens.contains(shown), "{shown} on no screen");
    }
}

#[test]
fn error_messages_show_file_names_escaped() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("\x1b]0;PWNED\x07.ntrec");
    let out = top(&["replay".as_ref(), missing.as_os_str()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(!has_control(&out.stderr), "{out:?}");
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains(r"\x1b]0;PWNED\x07.ntrec"), "{stderr}");
}
