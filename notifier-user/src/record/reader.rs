use std::{
    fs::File,
    io::{self, BufReader, ErrorKind, Read},
    path::Path,
};

use notifier_common::{
    ABI_VERSION, EVENT_SIZE, Event, EventKind, Hazard, NO_STACK, OLDEST_READABLE_ABI, Waiter,
    flags, insert_against_contract,
};

use super::{Cut, FORMAT_VERSION, Header, MAGIC, Record};
use crate::export::is_stdio;
use crate::stream::Loss;

/// Largest record accepted: a block of events compresses to far less; anything bigger is
/// corruption, and refusing it keeps a bad length from allocating gigabytes.
const MAX_PAYLOAD: u32 = 64 << 20;

#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("not a notifier-top recording (bad magic)")]
    BadMagic,
    #[error(
        "recording format {0} is newer than this notifier-top reads ({FORMAT_VERSION}); upgrade notifier-top"
    )]
    NewerFormat(u16),
    #[error(
        "recorded with event ABI {0}; this notifier-top reads ABI {OLDEST_READABLE_ABI} to {ABI_VERSION}"
    )]
    Abi(u32),
    #[error("corrupt header: {0}")]
    Header(String),
    #[error("truncated at byte {0}, inside the header: not a usable recording")]
    Truncated(u64),
    #[error("corrupt record at byte {offset}: {what}")]
    Corrupt { offset: u64, what: String },
    #[error("reading the recording: {0}")]
    Io(#[from] std::io::Error),
}

/// Reads a recording record by record; never panics on bad input.
pub struct RecordingReader<R> {
    input: R,
    format: u16,
    /// The event ABI the recorder wrote ([`upgrade`] brings older ones up to date).
    abi: u32,
    /// Where the next record starts: the end of the last complete one.
    offset: u64,
    header: Header,
    done: bool,
    /// Reused across records: a fresh multi-hundred-KiB buffer per block costs more in
    /// page faults than decoding it.
    payload: Vec<u8>,
    raw: Vec<u8>,
}

impl RecordingReader<Box<dyn Read>> {
    /// The file at `path`, or stdin for `-`.
    pub fn open(path: &Path) -> Result<Self, RecordError> {
        let input: Box<dyn Read> = if is_stdio(path) {
            Box::new(io::stdin().lock())
        } else {
            Box::new(BufReader::new(File::open(path)?))
        };
        Self::new(input)
    }
}

impl<R: Read> RecordingReader<R> {
    pub fn new(mut input: R) -> Result<Self, RecordError> {
        let mut fixed = [0u8; 16];
        read_exact(&mut input, &mut fixed, 0)?;
        if &fixed[..6] != MAGIC {
            return Err(RecordError::BadMagic);
        }
        let format = u16::from_le_bytes([fixed[6], fixed[7]]);
        if format > FORMAT_VERSION {
            return Err(RecordError::NewerFormat(format));
        }
        let abi = u32::from_le_bytes(fixed[8..12].try_into().expect("4 bytes"));
        if !(OLDEST_READABLE_ABI..=ABI_VERSION).contains(&abi) {
            return Err(RecordError::Abi(abi));
        }
        let len = u32::from_le_bytes(fixed[12..16].try_into().expect("4 bytes"));
        if len > MAX_PAYLOAD {
            return Err(RecordError::Header(format!("header length {len}")));
        }
        let mut json = vec![0u8; len as usize];
        read_exact(&mut input, &mut json, 16)?;
        let header: Header =
            serde_json::from_slice(&json).map_err(|e| RecordError::Header(e.to_string()))?;
        if header.event_size != EVENT_SIZE {
            return Err(RecordError::Header(format!(
                "event size {} != {EVENT_SIZE}",
                header.event_size
            )));
        }
        Ok(RecordingReader {
            input,
            format,
            abi,
            offset: 16 + len as u64,
            header,
            done: false,
            payload: Vec::new(),
            raw: Vec::new(),
        })
    }

    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The next record; a file that ends before its end record ends with a [`Record::Cut`].
    fn next_record(&mut self) -> Result<Record, RecordError> {
        let start = self.offset;
        let head_len = if self.format >= 3 { 13 } else { 9 };
        let mut head = [0u8; 13];
        let head = &mut head[..head_len];
        let got = read_full(&mut self.input, head)?;
        if got < head_len {
            return Ok(self.cut(start, got as u64));
        }
        let tag = head[0];
        let len = u32::from_le_bytes(head[1..5].try_into().expect("4 bytes"));
        let crc = u32::from_le_bytes(head[5..9].try_into().expect("4 bytes"));
        let corrupt = |what: &str| RecordError::Corrupt {
            offset: start,
            what: what.into(),
        };
        if self.format >= 3
            && crc32fast::hash(&head[..9]) != u32::from_le_bytes(head[9..].try_into().expect("4"))
        {
            // Nothing but zeros after it: the head was the last thing written, torn by a
            // power cut (the pages after the last one written read as zeros).
            return match zeros_to_end(&mut self.input)? {
                Some(rest) => Ok(self.cut(start, head_len as u64 + rest)),
                None => Err(corrupt("record head checksum mismatch")),
            };
        }
        if len > MAX_PAYLOAD {
            return Err(corrupt(&format!("record length {len}")));
        }
        let mut payload = std::mem::take(&mut self.payload);
        payload.resize(len as usize, 0);
        let result = self.payload_record(tag, crc, &mut payload, start, head_len as u64);
        self.payload = payload;
        result
    }

    fn payload_record(
        &mut self,
        tag: u8,
        crc: u32,
        payload: &mut [u8],
        start: u64,
        head_len: u64,
    ) -> Result<Record, RecordError> {
        let got = read_full(&mut self.input, payload)?;
        if got < payload.len() {
            return Ok(self.cut(start, head_len + got as u64));
        }
        let end = start + head_len + payload.len() as u64;
        if crc32fast::hash(payload) != crc {
            // The last record, torn by a power cut (its pages not all written), is a cut;
            // a damaged record with more after it is corruption.
            return match zeros_to_end(&mut self.input)? {
                Some(rest) => Ok(self.cut(start, end - start + rest)),
                None => Err(RecordError::Corrupt {
                    offset: start,
                    what: "checksum mismatch".into(),
                }),
            };
        }
        self.offset = end;
        self.decode(tag, payload, start)
    }

    fn cut(&mut self, at_byte: u64, ignored_bytes: u64) -> Record {
        self.done = true;
        Record::Cut(Cut {
            at_byte,
            ignored_bytes,
        })
    }

    fn decode(&mut self, tag: u8, payload: &[u8], start: u64) -> Result<Record, RecordError> {
        let len = payload.len();
        let corrupt = |what: String| RecordError::Corrupt {
            offset: start,
            what,
        };
        let record = match tag {
            b'E' => {
                let n = payload
                    .get(..4)
                    .ok_or_else(|| corrupt("short events record".into()))?;
                let n = u32::from_le_bytes(n.try_into().expect("4 bytes")) as usize;
                let (size, block) = lz4_flex::block::uncompressed_size(&payload[4..])
                    .map_err(|e| corrupt(format!("events block: {e}")))?;
                // Checked before allocating: the size comes from the file.
                if size != n * EVENT_SIZE || size > MAX_PAYLOAD as usize {
                    return Err(corrupt(format!("{size} bytes for {n} events")));
                }
                self.raw.resize(size, 0);
                let got = lz4_flex::block::decompress_into(block, &mut self.raw)
                    .map_err(|e| corrupt(format!("events block: {e}")))?;
                if got != size {
                    return Err(corrupt(format!("{got} bytes for {n} events")));
                }
                let events = self
                    .raw
                    .chunks_exact(EVENT_SIZE)
                    .filter_map(Event::from_bytes);
                Record::Events(if self.abi < 4 {
                    upgrade(events)
                } else {
                    events.collect()
                })
            }
            b'S' => Record::Symbol(
                serde_json::from_slice(payload).map_err(|e| corrupt(format!("symbol: {e}")))?,
            ),
            b'K' => Record::Stack(
                serde_json::from_slice(payload).map_err(|e| corrupt(format!("stack: {e}")))?,
            ),
            b'L' => {
                // Format 1 wrote the ring-buffer drops only.
                let loss = match counters(payload).as_slice() {
                    [ring_full] => Loss {
                        ring_full: *ring_full,
                        skipped: 0,
                    },
                    [ring_full, skipped] => Loss {
                        ring_full: *ring_full,
                        skipped: *skipped,
                    },
                    _ => return Err(corrupt(format!("{len}-byte lost record"))),
                };
                Record::Lost(loss)
            }
            b'Z' => match counters(payload).as_slice() {
                [events] => {
                    self.done = true;
                    Record::End { events: *events }
                }
                _ => return Err(corrupt(format!("{len}-byte end record"))),
            },
            other => return Err(corrupt(format!("unknown record tag 0x{other:02x}"))),
        };
        Ok(record)
    }
}

impl<R: Read> Iterator for RecordingReader<R> {
    type Item = Result<Record, RecordError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.next_record() {
            Ok(r) => Some(Ok(r)),
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

/// Little-endian u64s; empty when the payload is not a whole number of them.
/// The events of an ABI 1–3 recording as ABI 4 has them: the probes did not yet report
/// read_begin/remove waiting for their caller nor inserts against their contract as
/// `Hazard` records, so each is derived from the call's own event, placed before it, with
/// no stack (none was taken).
fn upgrade(events: impl Iterator<Item = Event>) -> Vec<Event> {
    let mut out = Vec::new();
    for ev in events {
        let hazard = match ev.kind() {
            Some(EventKind::ReadBegin | EventKind::RemoveBegin)
                if ev.flags & (flags::IN_CALLBACK | flags::IN_RANGE) != 0 || ev.aux != 0 =>
            {
                let waiter = if ev.kind() == Some(EventKind::ReadBegin) {
                    Waiter::ReadBegin
                } else {
                    Waiter::Remove
                };
                Some(Event {
                    event: Hazard::WaitsForItself as u8,
                    flags: ev.flags & (flags::IN_CALLBACK | flags::IN_RANGE),
                    aux: waiter as u64,
                    func: ev.aux,
                    ..derived(&ev)
                })
            }
            Some(EventKind::Insert)
                if insert_against_contract(ev.flags & flags::LOCKED != 0, ev.mmap_lock, ev.ret) =>
            {
                Some(Event {
                    event: Hazard::InsertLocking as u8,
                    flags: ev.flags & flags::LOCKED,
                    mmap_lock: ev.mmap_lock,
                    ret: ev.ret,
                    ..derived(&ev)
                })
            }
            _ => None,
        };
        out.extend(hazard);
        out.push(ev);
    }
    out
}

/// A stackless `Hazard` record about `ev`'s call: same task, time, mm and notifier.
fn derived(ev: &Event) -> Event {
    Event {
        ts_ns: ev.ts_ns,
        pid_tgid: ev.pid_tgid,
        kind: EventKind::Hazard as u8,
        flags: 0,
        event: 0,
        mmap_lock: 0,
        ret: 0,
        comm: ev.comm,
        mm: ev.mm,
        sub: ev.sub,
        start: 0,
        last: 0,
        aux: 0,
        func: 0,
        seq: NO_STACK,
        dur_ns: 0,
    }
}

fn counters(payload: &[u8]) -> Vec<u64> {
    if !payload.len().is_multiple_of(8) {
        return Vec::new();
    }
    payload
        .chunks_exact(8)
        .map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes")))
        .collect()
}

/// Reads until `buf` is full or the input ends; how many bytes it got.
fn read_full(input: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match input.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

/// Consumes the rest of the input: how many bytes, when all are zero.
fn zeros_to_end(input: &mut impl Read) -> io::Result<Option<u64>> {
    let mut buf = [0u8; 8192];
    let mut n = 0;
    loop {
        let got = read_full(input, &mut buf)?;
        if buf[..got].iter().any(|&b| b != 0) {
            return Ok(None);
        }
        n += got as u64;
        if got < buf.len() {
            return Ok(Some(n));
        }
    }
}

fn read_exact(input: &mut impl Read, buf: &mut [u8], offset: u64) -> Result<(), RecordError> {
    input.read_exact(buf).map_err(|e| match e.kind() {
        ErrorKind::UnexpectedEof => RecordError::Truncated(offset),
        _ => RecordError::Io(e),
    })
}
