//! Snapshot exports from a recording captured in the VM: the JSON validates against the
//! documented schema (docs/snapshot.schema.json), the CSV reads back as a table, the
//! TUI's `w` writes one process privately, and kernel pointers stay hashed unless asked.

use std::{os::unix::fs::PermissionsExt as _, path::Path};

use notifier_user::{
    export::{
        pointers::Pointers,
        snapshot::{self, Meta, Snapshot},
    },
    pipeline::Pipeline,
    record::RecordingReader,
    source,
    tui::app::App,
};
use serde_json::Value;

const RECORDING: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/vm-7.3.ntrec");
const SCHEMA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/snapshot.schema.json");

fn pipeline(raw: bool) -> (Pipeline, String) {
    let reader = RecordingReader::open(Path::new(RECORDING)).unwrap();
    let kernel = reader.header().kernel.clone();
    let mut p = Pipeline::new(Pointers::new(raw));
    assert_eq!(
        source::replay(reader, &mut p).unwrap(),
        None,
        "a complete recording"
    );
    (p, kernel)
}

fn take(p: &Pipeline, kernel: &str) -> Snapshot {
    let meta = Meta {
        kernel: kernel.to_owned(),
        taken_unix: 1,
        filter: String::new(),
    };
    p.snapshot(meta, None)
}

fn validate(doc: &Value) {
    let schema: Value = serde_json::from_str(&std::fs::read_to_string(SCHEMA).unwrap()).unwrap();
    let validator = jsonschema::validator_for(&schema).expect("the schema itself is valid");
    let errors: Vec<String> = validator.iter_errors(doc).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "schema violations: {errors:#?}");
}

#[test]
fn json_matches_the_schema_and_the_mirror() {
    for raw in [false, true] {
        let (p, kernel) = pipeline(raw);
        let snap = take(&p, &kernel);
        let doc = serde_json::to_value(&snap).unwrap();
        validate(&doc);
        let intervals: usize = snap.processes.iter().map(|p| p.intervals.len()).sum();
        assert!(intervals > 0, "the recording leaves intervals registered");
        assert_eq!(intervals, p.mirror.live_intervals());
        let text = doc.to_string();
        assert_eq!(text.contains("\"h:"), !raw, "pointers hashed unless raw");
        assert_eq!(
            text.contains("\"0xff"),
            raw,
            "no kernel address leaks unless raw"
        );
    }
    // The schema is not a formality: a wrong state is refused.
    let (p, kernel) = pipeline(false);
    let mut doc = serde_json::to_value(take(&p, &kernel)).unwrap();
    doc["processes"][0]["intervals"][0]["state"] = "gone".into();
    let schema: Value = serde_json::from_str(&std::fs::read_to_string(SCHEMA).unwrap()).unwrap();
    assert!(!jsonschema::is_valid(&schema, &doc));
}

#[test]
fn csv_has_one_row_per_interval() {
    let (p, kernel) = pipeline(false);
    let snap = take(&p, &kernel);
    let mut buf = Vec::new();
    snapshot::write_csv(&snap, &mut buf).unwrap();
    let mut r = csv::Reader::from_reader(buf.as_slice());
    let headers = r.headers().unwrap().clone();
    for column in [
        "mm",
        "tgids",
        "start",
        "last",
        "size",
        "state",
        "owner",
        "invalidations",
    ] {
        assert!(headers.iter().any(|h| h == column), "no {column} column");
    }
    let rows: Vec<csv::StringRecord> = r.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), p.mirror.live_intervals());
    let size = headers.iter().position(|h| h == "size").unwrap();
    assert!(rows.iter().all(|row| row[size].parse::<u64>().unwrap() > 0));
}

#[test]
fn tui_key_writes_one_private_process_snapshot() {
    let (p, kernel) = pipeline(false);
    let mm = *p
        .mirror
        .mms
        .iter()
        .find(|(_, m)| !m.intervals.is_empty())
        .unwrap()
        .0;
    let expected = p.mirror.mms[&mm].intervals.len();
    let mut app = App::new(p, kernel, vec![], "replay".into());
    let dir = tempfile::tempdir().unwrap();
    app.write_snapshot(mm, dir.path());
    let status = app.status.clone().unwrap();
    assert!(status.starts_with("snapshot written to"), "{status}");
    let files: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "no temporary left behind: {files:?}");
    let mode = std::fs::metadata(&files[0]).unwrap().permissions().mode();
    assert_eq!(mode & 0o077, 0, "not readable by others");
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&files[0]).unwrap()).unwrap();
    validate(&doc);
    assert_eq!(doc["processes"].as_array().unwrap().len(), 1);
    assert_eq!(
        doc["processes"][0]["intervals"].as_array().unwrap().len(),
        expected
    );
}
