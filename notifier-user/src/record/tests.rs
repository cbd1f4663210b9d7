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
    bytes[6] = FORMAT_VERSION as u8;
    bytes[8] = 1;
    assert!(read_all(&bytes).is_ok(), "ABI 1 recordings still replay");
    assert!(matches!(
        read_all(b"hello world, not a recording"),
        Err(RecordError::BadMagic)
    ));
}

/// A file as formats 1 and 2 wrote it: record heads without their own checksum.
fn old_format(version: u16, records: &[(u8, &[u8])]) -> Vec<u8> {
    let header = serde_json::to_vec(&header()).unwrap();
    let mut out = MAGIC.to_vec();
    out.extend(version.to_le_bytes());
    out.extend(notifier_common::ABI_VERSION.to_le_bytes());
    out.extend((header.len() as u32).to_le_bytes());
    out.extend(header);
    for (tag, payload) in records {
        out.push(*tag);
        out.extend((payload.len() as u32).to_le_bytes());
        out.extend(crc32fast::hash(payload).to_le_bytes());
        out.extend(*payload);
    }
    out
}

/// A format-1 file: its lost record carries the ring-buffer drops only.
fn format_1(lost_payload: &[u8]) -> Vec<u8> {
    old_format(1, &[(b'L', lost_payload), (b'Z', &0u64.to_le_bytes())])
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

#[test]
fn format_2_recordings_still_replay_and_cut() {
    let events: Vec<Event> = (0..100)
        .map(|i| Event {
            sub: i,
            ..Default::default()
        })
        .collect();
    let raw: Vec<u8> = events.iter().flat_map(|e| e.as_bytes().to_vec()).collect();
    let mut block = 100u32.to_le_bytes().to_vec();
    block.extend(lz4_flex::block::compress_prepend_size(&raw));
    let bytes = old_format(2, &[(b'E', &block), (b'Z', &100u64.to_le_bytes())]);
    let records = read_all(&bytes).unwrap();
    assert_eq!(events_of(&records), events);
    assert_eq!(records.last(), Some(&Record::End { events: 100 }));
    // Cut inside its end record (9-byte head, 8-byte payload): the events block is whole.
    let cut = read_all(&bytes[..bytes.len() - 3]).unwrap();
    assert_eq!(events_of(&cut), events);
    assert_eq!(
        cut.last(),
        Some(&Record::Cut(Cut {
            at_byte: (bytes.len() - 17) as u64,
            ignored_bytes: 14,
        }))
    );
}

/// Where each record of a current-format file ends, and the events complete up to there.
fn record_ends(bytes: &[u8]) -> Vec<(usize, usize)> {
    let header_len = u32::from_le_bytes(bytes[12..16].try_into().unwrap()) as usize;
    let mut at = 16 + header_len;
    let mut events = 0;
    let mut ends = vec![(at, 0)];
    while at < bytes.len() {
        let len = u32::from_le_bytes(bytes[at + 1..at + 5].try_into().unwrap()) as usize;
        if bytes[at] == b'E' {
            events += u32::from_le_bytes(bytes[at + 13..at + 17].try_into().unwrap()) as usize;
        }
        at += 13 + len;
        ends.push((at, events));
    }
    assert_eq!(at, bytes.len());
    ends
}

fn events_of(records: &[Record]) -> Vec<Event> {
    records
        .iter()
        .filter_map(|r| match r {
            Record::Events(e) => Some(e.clone()),
            _ => None,
        })
        .flatten()
        .collect()
}

/// A recording as a recorder flushing at upkeep ticks writes it: many small blocks, with
/// symbols and loss totals between them.
fn ticked(dir: &std::path::Path, events: u64) -> std::path::PathBuf {
    let path = dir.join("ticked.ntrec");
    let mut w = RecordingWriter::create(&path, &header()).unwrap();
    for i in 0..events {
        w.event(&Event {
            ts_ns: i,
            kind: EventKind::Insert as u8,
            sub: i * 0x40,
            ..Default::default()
        })
        .unwrap();
        match i % 100 {
            17 => w.flush().unwrap(),
            50 => w
                .symbol(&crate::symbols::Symbol {
                    addr: i,
                    name: format!("cb{i}"),
                    module: None,
                })
                .unwrap(),
            75 => w
                .lost(Loss {
                    ring_full: i,
                    skipped: 0,
                })
                .unwrap(),
            _ => {}
        }
    }
    w.finish().unwrap();
    path
}

#[test]
fn a_recording_cut_anywhere_replays_its_complete_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = std::fs::read(ticked(dir.path(), 2000)).unwrap();
    let all = read_all(&bytes).unwrap();
    assert_eq!(all.last(), Some(&Record::End { events: 2000 }));
    let original = events_of(&all);
    let ends = record_ends(&bytes);
    assert!(
        ends.len() > 20,
        "{} records: too few to cut between",
        ends.len()
    );
    let header_end = ends[0].0;
    for len in 0..=bytes.len() {
        let result = read_all(&bytes[..len]);
        if len < header_end {
            assert!(result.is_err(), "{len}: a cut header read as a recording");
            continue;
        }
        let records = result.unwrap_or_else(|e| panic!("cut at {len}: {e}"));
        let (complete, events) = *ends.iter().rev().find(|(end, _)| *end <= len).unwrap();
        let mut replayed = 0;
        for r in &records {
            if let Record::Events(evs) = r {
                assert_eq!(
                    evs[..],
                    original[replayed..replayed + evs.len()],
                    "cut at {len}"
                );
                replayed += evs.len();
            }
        }
        assert_eq!(replayed, events, "cut at {len}");
        let expected = if len == bytes.len() {
            Record::End { events: 2000 }
        } else {
            Record::Cut(Cut {
                at_byte: complete as u64,
                ignored_bytes: (len - complete) as u64,
            })
        };
        assert_eq!(records.last(), Some(&expected), "cut at {len}");
    }
}

#[test]
fn the_zeros_a_power_cut_leaves_are_a_cut_not_corruption() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = std::fs::read(ticked(dir.path(), 1000)).unwrap();
    let ends = record_ends(&bytes);
    // An events block: its payload has no run of zeros a torn write could leave intact.
    let (complete, events) = *ends[ends.len() / 2..]
        .iter()
        .find(|(at, _)| bytes[*at] == b'E')
        .unwrap();
    // Torn in the head, just after it, and in the payload.
    for torn in [0, 5, 13, 20] {
        let mut file = bytes[..complete + torn].to_vec();
        file.resize(complete + 4096, 0);
        let records = read_all(&file).unwrap_or_else(|e| panic!("torn after {torn}: {e}"));
        assert_eq!(events_of(&records).len(), events);
        assert_eq!(
            records.last(),
            Some(&Record::Cut(Cut {
                at_byte: complete as u64,
                ignored_bytes: 4096,
            })),
            "torn after {torn} bytes"
        );
    }
}

#[test]
fn a_damaged_record_in_the_middle_is_an_error_at_its_offset() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = std::fs::read(ticked(dir.path(), 1000)).unwrap();
    let (at, _) = record_ends(&bytes)[3];
    // A flipped length (the head's checksum) and a flipped payload byte (the payload's).
    for (flip, what) in [
        (2, "record head checksum mismatch"),
        (20, "checksum mismatch"),
    ] {
        let mut damaged = bytes.clone();
        damaged[at + flip] ^= 0x40;
        match read_all(&damaged) {
            Err(RecordError::Corrupt { offset, what: w }) => {
                assert_eq!(offset, at as u64);
                assert_eq!(w, what);
            }
            other => panic!("damage at {}: {other:?}", at + flip),
        }
    }
}

#[test]
fn a_recording_is_readable_under_its_name_while_it_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("live.ntrec");
    let mut w = RecordingWriter::create(&path, &header()).unwrap();
    for i in 0..10 {
        w.event(&Event {
            sub: i,
            ..Default::default()
        })
        .unwrap();
    }
    w.flush().unwrap();
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["live.ntrec"], "no hidden temporary beside it");
    let records: Vec<Record> = RecordingReader::open(&path)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(events_of(&records).len(), 10);
    assert!(matches!(
        records.last(),
        Some(Record::Cut(Cut {
            ignored_bytes: 0,
            ..
        }))
    ));
    drop(w);
    let err = RecordingWriter::create(&path, &header()).err().unwrap();
    assert!(format!("{err:#}").contains("already exists"), "{err:#}");
}

#[test]
fn a_full_disk_is_an_error_naming_the_recording() {
    // Every write to /dev/full fails as a full disk's do (ENOSPC).
    let err = RecordingWriter::create(std::path::Path::new("/dev/full"), &header())
        .err()
        .unwrap();
    let err = format!("{err:#}");
    assert!(
        err.contains("writing the recording /dev/full") && err.contains("No space left"),
        "{err}"
    );
}

#[test]
fn after_a_failed_write_nothing_more_is_written() {
    use std::io::Read as _;
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo");
    crate::test_support::mkfifo(&fifo);
    // The reader takes the magic and goes away: the next write fails (EPIPE).
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || {
            let mut magic = [0u8; 6];
            std::fs::File::open(fifo)
                .unwrap()
                .read_exact(&mut magic)
                .unwrap();
            magic
        })
    };
    let mut w = RecordingWriter::create(&fifo, &header()).unwrap();
    assert_eq!(&reader.join().unwrap(), MAGIC);
    w.event(&Event::default()).unwrap();
    let err = format!("{:#}", w.flush().unwrap_err());
    assert!(err.contains("writing the recording"), "{err}");
    let err = format!("{:#}", w.flush().unwrap_err());
    assert!(err.contains("stopped at an earlier write error"), "{err}");
    assert!(w.finish().is_err(), "no end record after a torn one");
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

/// Recordings from before ABI 4 read with the hazard records the probes report today,
/// derived from the calls' own events (without a stack); ABI 4 recordings as written.
#[test]
fn older_abis_read_with_the_hazard_records_derived() {
    use notifier_common::{Hazard, NO_STACK, Waiter, flags, mmap_lock};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("abi3.ntrec");
    let calls = [
        Event {
            kind: EventKind::ReadBegin as u8,
            flags: flags::IN_CALLBACK,
            sub: 1,
            ..Default::default()
        },
        Event {
            kind: EventKind::RemoveBegin as u8,
            aux: 0x10c4,
            sub: 2,
            ..Default::default()
        },
        Event {
            kind: EventKind::Insert as u8,
            mmap_lock: mmap_lock::WRITE_HELD,
            sub: 3,
            ..Default::default()
        },
        // Fine: insert_locked with the lock held, read_begin outside any invalidation.
        Event {
            kind: EventKind::Insert as u8,
            flags: flags::LOCKED,
            mmap_lock: mmap_lock::WRITE_HELD,
            sub: 4,
            ..Default::default()
        },
        Event {
            kind: EventKind::ReadBegin as u8,
            sub: 5,
            ..Default::default()
        },
    ];
    let mut w = RecordingWriter::create(&path, &header()).unwrap();
    for e in &calls {
        w.event(e).unwrap();
    }
    w.finish().unwrap();
    let current = read_all(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(events_of(&current), calls, "ABI 4: as written");

    let mut bytes = std::fs::read(&path).unwrap();
    bytes[8..12].copy_from_slice(&3u32.to_le_bytes());
    let upgraded = events_of(&read_all(&bytes).unwrap());
    let hazards: Vec<(u64, u8, u64, u64, u64)> = upgraded
        .iter()
        .filter(|e| e.kind() == Some(EventKind::Hazard))
        .map(|e| (e.sub, e.event, e.aux, e.func, e.seq))
        .collect();
    let waits = Hazard::WaitsForItself as u8;
    assert_eq!(
        hazards,
        [
            (1, waits, Waiter::ReadBegin as u64, 0, NO_STACK),
            (2, waits, Waiter::Remove as u64, 0x10c4, NO_STACK),
            (3, Hazard::InsertLocking as u8, 0, 0, NO_STACK),
        ]
    );
    assert_eq!(
        upgraded.len(),
        calls.len() + 3,
        "the calls' own events stay"
    );
    assert_eq!(
        upgraded[1], calls[0],
        "each derived record precedes its call"
    );
}
