use notifier_common::{EVENT_SIZE, Event, EventKind};
use proptest::prelude::*;

use super::*;

fn header() -> Header {
    Header {
        tool_version: "test".into(),
        kernel: "7.3.4".into(),
        hostname: "h".into(),
        started_unix: 1,
        event_size: EVENT_SIZE,
        attach: vec![],
    }
}

fn sample(dir: &std::path::Path, events: u64) -> std::path::PathBuf {
    let path = dir.join("rec.ntrec");
    let mut w = RecordingWriter::create(&path, &header()).unwrap();
    for i in 0..events {
        w.event(&Event {
            ts_ns: i,
            kind: EventKind::Insert as u8,
            sub: i,
            ..Default::default()
        })
        .unwrap();
        if i == 3 {
            w.symbol(&crate::symbols::Symbol {
                addr: 0xf00,
                name: "cb".into(),
                module: Some("m".into()),
            })
            .unwrap();
            w.stack(&StackRecord {
                id: 1,
                frames: vec!["a+0x1".into()],
            })
            .unwrap();
        }
    }
    w.lost(Loss {
        ring_full: 2,
        skipped: 5,
    })
    .unwrap();
    assert_eq!(w.finish().unwrap(), events);
    path
}

fn read_all(bytes: &[u8]) -> Result<Vec<Record>, RecordError> {
    RecordingReader::new(bytes)?.collect()
}

#[test]
fn round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let path = sample(dir.path(), 10_000);
    use std::os::unix::fs::PermissionsExt as _;
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let r = RecordingReader::open(&path).unwrap();
    assert_eq!(r.header(), &header());
    let records: Vec<Record> = r.collect::<Result<_, _>>().unwrap();
    let events: Vec<Event> = records
        .iter()
        .filter_map(|r| {
            if let Record::Events(e) = r {
                Some(e.clone())
            } else {
                None
            }
        })
        .flatten()
        .collect();
    assert_eq!(events.len(), 10_000);
    assert!(events.iter().enumerate().all(|(i, e)| e.sub == i as u64));
    assert!(records.contains(&Record::Lost(Loss {
        ring_full: 2,
        skipped: 5
    })));
    assert!(
        records
            .iter()
            .any(|r| matches!(r, Record::Symbol(s) if s.name == "cb"))
    );
    assert_eq!(records.last(), Some(&Record::End { events: 10_000 }));
}

#[test]
fn every_truncation_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = std::fs::read(sample(dir.path(), 50)).unwrap();
    for cut in 0..bytes.len() {
        assert!(
            read_all(&bytes[..cut]).is_err(),
            "truncated at {cut} read as complete"
        );
    }
    assert!(read_all(&bytes).is_ok());
}

#[test]
fn wrong_versions_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = std::fs::read(sample(dir.path(), 5)).unwrap();
    bytes[6] = 9;
    let err = read_all(&bytes).unwrap_err().to_string();
    assert!(err.contains("newer"), "{err}");
    bytes[6] = 1;
    bytes[8] = 99;
    assert!(read_all(&bytes).unwrap_err().to_string().contains("ABI 99"));
    bytes[8] = 0;
    assert!(read_all(&bytes).unwrap_err().to_string().contains("ABI 0"));
    bytes[8] = 1;
    assert!(read_all(&bytes).is_ok(), "ABI 1 recordings still replay");
    assert!(matches!(
        read_all(b"hello world, not a recording"),
        Err(RecordError::BadMagic)
    ));
}

/// A file as format 1 wrote it: its lost record carries the ring-buffer drops only.
fn format_1(lost_payload: &[u8]) -> Vec<u8> {
    let header = serde_json::to_vec(&header()).unwrap();
    let mut out = MAGIC.to_vec();
    out.extend(1u16.to_le_bytes());
    out.extend(notifier_common::ABI_VERSION.to_le_bytes());
    out.extend((header.len() as u32).to_le_bytes());
    out.extend(header);
    for (tag, payload) in [(b'L', lost_payload), (b'Z', &0u64.to_le_bytes()[..])] {
        out.push(tag);
        out.extend((payload.len() as u32).to_le_bytes());
        out.extend(crc32fast::hash(payload).to_le_bytes());
        out.extend(payload);
    }
    out
}

#[test]
fn format_1_lost_records_read_as_drops_only() {
    let records = read_all(&format_1(&7u64.to_le_bytes())).unwrap();
    assert_eq!(
        records[0],
        Record::Lost(Loss {
            ring_full: 7,
            skipped: 0
        })
    );
    let err = read_all(&format_1(&[0; 12])).unwrap_err().to_string();
    assert!(err.contains("12-byte lost record"), "{err}");
}

proptest! {
    #[test]
    fn byte_flips_never_panic(flips in prop::collection::vec((any::<usize>(), any::<u8>()), 1..8)) {
        let dir = tempfile::tempdir().unwrap();
        let mut bytes = std::fs::read(sample(dir.path(), 20)).unwrap();
        for (at, v) in flips {
            let i = at % bytes.len();
            bytes[i] ^= v | 1;
        }
        let _ = read_all(&bytes);
    }
}
