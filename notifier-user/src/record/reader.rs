use std::{
    fs::File,
    io::{BufReader, ErrorKind, Read},
    path::Path,
};

use notifier_common::{ABI_VERSION, EVENT_SIZE, Event, OLDEST_READABLE_ABI};

use super::{FORMAT_VERSION, Header, MAGIC, Record};
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
    #[error("truncated at byte {0}: the recording was cut short (no end record)")]
    Truncated(u64),
    #[error("corrupt record at byte {offset}: {what}")]
    Corrupt { offset: u64, what: String },
    #[error("reading the recording: {0}")]
    Io(#[from] std::io::Error),
}

/// Reads a recording record by record; never panics on bad input.
pub struct RecordingReader<R> {
    input: R,
    offset: u64,
    header: Header,
    done: bool,
    /// Reused across records: a fresh multi-hundred-KiB buffer per block costs more in
    /// page faults than decoding it.
    payload: Vec<u8>,
    raw: Vec<u8>,
}

impl RecordingReader<BufReader<File>> {
    pub fn open(path: &Path) -> Result<Self, RecordError> {
        Self::new(BufReader::new(File::open(path)?))
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

    fn next_record(&mut self) -> Result<Option<Record>, RecordError> {
        let start = self.offset;
        let mut head = [0u8; 9];
        match self.input.read(&mut head[..1]) {
            Ok(0) => return Err(RecordError::Truncated(start)),
            Ok(_) => {}
            Err(e) => return Err(e.into()),
        }
        read_exact(&mut self.input, &mut head[1..], start + 1)?;
        let tag = head[0];
        let len = u32::from_le_bytes(head[1..5].try_into().expect("4 bytes"));
        let crc = u32::from_le_bytes(head[5..9].try_into().expect("4 bytes"));
        let corrupt = |what: String| RecordError::Corrupt {
            offset: start,
            what,
        };
        if len > MAX_PAYLOAD {
            return Err(corrupt(format!("record length {len}")));
        }
        let mut payload = std::mem::take(&mut self.payload);
        payload.resize(len as usize, 0);
        let result = self.decode(tag, crc, &mut payload, start);
        self.payload = payload;
        result.map(Some)
    }

    fn decode(
        &mut self,
        tag: u8,
        crc: u32,
        payload: &mut [u8],
        start: u64,
    ) -> Result<Record, RecordError> {
        let len = payload.len();
        let corrupt = |what: String| RecordError::Corrupt {
            offset: start,
            what,
        };
        read_exact(&mut self.input, payload, start + 9)?;
        self.offset = start + 9 + len as u64;
        if crc32fast::hash(payload) != crc {
            return Err(corrupt("checksum mismatch".into()));
        }
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
                Record::Events(
                    self.raw
                        .chunks_exact(EVENT_SIZE)
                        .filter_map(Event::from_bytes)
                        .collect(),
                )
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
            Ok(r) => r.map(Ok),
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

/// Little-endian u64s; empty when the payload is not a whole number of them.
fn counters(payload: &[u8]) -> Vec<u64> {
    if !payload.len().is_multiple_of(8) {
        return Vec::new();
    }
    payload
        .chunks_exact(8)
        .map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes")))
        .collect()
}

fn read_exact(input: &mut impl Read, buf: &mut [u8], offset: u64) -> Result<(), RecordError> {
    input.read_exact(buf).map_err(|e| match e.kind() {
        ErrorKind::UnexpectedEof => RecordError::Truncated(offset),
        _ => RecordError::Io(e),
    })
}
