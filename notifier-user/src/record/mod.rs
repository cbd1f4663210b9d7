//! Recordings: a compact, versioned, self-describing file of a capture session, which
//! [`crate::source::replay`] feeds through the same mirror and rules.
//!
//! The file is written in place, under its final name, from its first byte: a block at a
//! time, each checksummed and decodable on its own, reaching the file at every upkeep tick.
//! A recorder killed, out of disk or cut off by a power failure leaves a file that replays
//! up to its last complete block; the reader reports the incomplete rest as a [`Cut`].
//!
//! Layout (little endian):
//! ```text
//! "NTREC\0" u16 format  u32 abi  u32 header_len  header (JSON)
//! record*: u8 tag  u32 payload_len  u32 crc32(payload)  u32 crc32(tag, payload_len,
//!          crc32(payload))  payload
//!   'E' events: u32 count, then lz4 block of count × EVENT_SIZE bytes
//!   'S' symbol: JSON {addr, name, module}      (an owner learned during capture)
//!   'K' stack:  JSON {id, frames}              (a hazard's kernel stack, symbolized)
//!   'L' lost:   u64 ring-buffer drops, u64 program runs skipped (totals so far;
//!               format 1 has the drops only)
//!   'Z' end:    u64 events written             (absent: the recorder did not finish)
//! ```
//! Formats 1 and 2 have no checksum of the record's head: there, a length damaged in the
//! middle of the file cannot be told from a file cut short.

mod reader;
mod writer;

use serde::{Deserialize, Serialize};

pub use reader::{RecordError, RecordingReader};
pub use writer::RecordingWriter;

use crate::{
    stream::{HookStatus, Loss},
    symbols::Symbol,
};

pub const MAGIC: &[u8; 6] = b"NTREC\0";
pub const FORMAT_VERSION: u16 = 3;

/// What the file says about itself.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Header {
    pub tool_version: String,
    pub kernel: String,
    pub hostname: String,
    /// Seconds since the Unix epoch when recording started.
    pub started_unix: u64,
    pub event_size: usize,
    pub attach: Vec<HookStatus>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StackRecord {
    pub id: u64,
    pub frames: Vec<String>,
}

/// One record read back.
#[derive(Clone, Debug, PartialEq)]
pub enum Record {
    Events(Vec<notifier_common::Event>),
    Symbol(Symbol),
    Stack(StackRecord),
    Lost(Loss),
    End {
        events: u64,
    },
    /// The file ends without its end record: always the last record, when there is one.
    Cut(Cut),
}

/// Where a recording whose recorder did not finish stops being readable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Cut {
    /// Byte offset of the end of the last complete record.
    pub at_byte: u64,
    /// The bytes after it: an incomplete record (or zeros a power cut left), ignored.
    pub ignored_bytes: u64,
}

impl std::fmt::Display for Cut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "recording cut at byte {} ({} bytes of an incomplete block ignored) — was the \
             recorder killed?",
            self.at_byte, self.ignored_bytes
        )
    }
}

#[cfg(test)]
mod tests;
