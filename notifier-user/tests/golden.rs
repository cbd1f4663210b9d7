//! Every machine-readable output on one checked-in recording, byte for byte: `replay
//! --trace --json`, the human trace, `--summary-json`, a snapshot, `check --json`'s
//! findings, and `export perfetto` (as text: a line per packet). A change to any of them is a change to a format users parse; it must be
//! deliberate. `NT_UPDATE_GOLDEN=1 cargo test --test golden` rewrites the files.

use std::{path::Path, process::Command};

use notifier_user::{
    export::{perfetto::proto, pointers::Pointers, snapshot::Meta},
    pipeline::Pipeline,
    record::RecordingReader,
    rules::{Engine, Thresholds},
    source,
};

const RECORDING: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/vm-7.3.ntrec");
const GOLDEN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden");

fn check(name: &str, actual: &str) {
    let path = Path::new(GOLDEN).join(name);
    if std::env::var_os("NT_UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (NT_UPDATE_GOLDEN=1 writes it)", path.display()));
    if expected != actual {
        let line = expected
            .lines()
            .zip(actual.lines())
            .position(|(e, a)| e != a)
            .unwrap_or_else(|| expected.lines().count().min(actual.lines().count()));
        panic!(
            "{name} differs from {} at line {}:\n  expected: {:?}\n  actual:   {:?}",
            path.display(),
            line + 1,
            expected.lines().nth(line),
            actual.lines().nth(line)
        );
    }
}

fn replay(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_notifier-top"))
        .arg("replay")
        .arg(RECORDING)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "replay {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The recording through the pipeline `check` and the view use: mirror and rules.
fn pipeline() -> (Pipeline, String) {
    let reader = RecordingReader::open(Path::new(RECORDING)).unwrap();
    let kernel = reader.header().kernel.clone();
    let mut p = Pipeline::new(Pointers::new(true));
    p.rules = Some(Engine::new(None, Thresholds::default()));
    assert_eq!(source::replay(reader, &mut p).unwrap(), None, "not cut");
    p.finish().unwrap();
    (p, kernel)
}

#[test]
fn trace_json() {
    check(
        "trace.jsonl",
        &replay(&["--trace", "--json", "--raw-pointers"]),
    );
}

#[test]
fn trace_human() {
    check("trace.txt", &replay(&["--trace"]));
}

#[test]
fn summary_json() {
    check(
        "summary.json",
        &replay(&["--summary-json", "-", "--raw-pointers"]),
    );
}

#[test]
fn snapshot_json() {
    let (p, kernel) = pipeline();
    let meta = Meta {
        kernel,
        taken_unix: 1,
        filter: String::new(),
    };
    let snap = p.snapshot(meta, None);
    check(
        "snapshot.json",
        &serde_json::to_string_pretty(&snap).unwrap(),
    );
}

#[test]
fn check_json() {
    let (p, kernel) = pipeline();
    let summary = p.summary(&kernel, &[]);
    let findings = serde_json::to_string_pretty(&summary.findings).unwrap();
    assert!(findings.contains("\"code\""), "the recording has findings");
    check("check.json", &findings);
}

/// A Perfetto trace as text, a line per packet: `D` a track (uuids as `#n` in order of
/// description), `B`/`E`/`I` a slice's begin and end and an instant, `C` a counter
/// value; times relative to the first packet.
fn perfetto_text(bytes: &[u8]) -> String {
    use prost::Message as _;
    use std::fmt::Write as _;
    let trace = proto::Trace::decode(bytes).unwrap();
    let t0 = trace.packet[0].timestamp.unwrap_or(0) as i64;
    let mut ids = std::collections::HashMap::new();
    let mut id = |uuid: Option<u64>| {
        let n = ids.len() + 1;
        format!("#{}", ids.entry(uuid.unwrap()).or_insert(n))
    };
    let mut out = String::new();
    for p in &trace.packet {
        let ts = p.timestamp.map_or(0, |t| t as i64 - t0);
        if let Some(d) = &p.track_descriptor {
            let _ = write!(out, "{ts:>12} D {}", id(d.uuid));
            if d.parent_uuid.is_some() {
                let _ = write!(out, " in {}", id(d.parent_uuid));
            }
            if let Some(pr) = &d.process {
                let _ = write!(
                    out,
                    " process {} {:?}",
                    pr.pid.unwrap(),
                    pr.process_name.as_deref().unwrap()
                );
            }
            if let Some(n) = &d.name {
                let _ = write!(out, " {n:?}");
            }
            if d.counter.is_some() {
                out.push_str(" counter");
            }
            if let Some(desc) = &d.description {
                let _ = write!(out, " ({desc})");
            }
            out.push('\n');
        }
        if let Some(e) = &p.track_event {
            let kind = match e.r#type.unwrap() {
                proto::event_type::SLICE_BEGIN => "B",
                proto::event_type::SLICE_END => "E",
                proto::event_type::INSTANT => "I",
                _ => "C",
            };
            let _ = write!(out, "{ts:>12} {kind} {}", id(e.track_uuid));
            if let Some(v) = e.counter_value {
                let _ = write!(out, " = {v}");
            }
            if let Some(n) = &e.name {
                let _ = write!(out, " {}/{n:?}", e.categories.join(","));
            }
            for a in &e.debug_annotations {
                let _ = write!(out, " {}=", a.name.as_deref().unwrap());
                match (&a.string_value, a.uint_value, a.int_value, a.bool_value) {
                    (Some(s), ..) => {
                        let _ = write!(out, "{s:?}");
                    }
                    (_, Some(u), ..) => {
                        let _ = write!(out, "{u}");
                    }
                    (_, _, Some(i), _) => {
                        let _ = write!(out, "{i}");
                    }
                    (.., Some(b)) => {
                        let _ = write!(out, "{b}");
                    }
                    _ => out.push('?'),
                }
            }
            if let Some(c) = &e.callstack {
                let frames: Vec<_> = c
                    .frames
                    .iter()
                    .filter_map(|f| f.function_name.as_deref())
                    .collect();
                let _ = write!(out, " callstack={frames:?}");
            }
            out.push('\n');
        }
        if p.clock_snapshot.is_some() {
            let _ = writeln!(
                out,
                "{ts:>12} clock snapshot, sequence flags {:?}",
                p.sequence_flags
            );
        }
    }
    out
}

#[test]
fn perfetto_trace() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("trace.pftrace");
    let out = Command::new(env!("CARGO_BIN_EXE_notifier-top"))
        .args(["export", "perfetto", RECORDING, "--raw-pointers", "-o"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    check(
        "perfetto.txt",
        &perfetto_text(&std::fs::read(&path).unwrap()),
    );
}
