//! Every machine-readable output on one checked-in recording, byte for byte: `replay
//! --trace --json`, the human trace, `--summary-json`, a snapshot and `check --json`'s
//! findings. A change to any of them is a change to a format users parse; it must be
//! deliberate. `NT_UPDATE_GOLDEN=1 cargo test --test golden` rewrites the files.

use std::{path::Path, process::Command};

use notifier_user::{
    export::{pointers::Pointers, snapshot::Meta},
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
