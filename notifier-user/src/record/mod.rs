//! Recordings: a compact, versioned, self-describing file of a capture session that
//! `replay` feeds through the same mirror and rules.
//!
//! Layout (little endian):
//! ```text
//! "NTREC\0" u16 format  u32 abi  u32 header_len  header (JSON)
//! record*: u8 tag  u32 payload_len  u32 crc32(payload)  payload
//!   'E' events: u32 count, then lz4 block of count × EVENT_SIZE bytes
//!   'S' symbol: JSON {addr, name, module}      (an owner learned during capture)
//!   'K' stack:  JSON {id, frames}              (a hazard's kernel stack, symbolized)
//!   'L' lost:   u64 ring-buffer drops, u64 program runs skipped (totals so far;
//!               format 1 has the drops only)
//!   'Z' end:    u64 events written             (absent: the file was truncated)
//! ```

mod reader;
mod writer;

use serde::{Deserialize, Serialize};

pub use reader::{RecordError, RecordingReader};
pub use writer::RecordingWriter;

use crate::{
    probe::HookStatus,
    session::{Loss, Sink},
    symbols::Symbol,
};

pub const MAGIC: &[u8; 6] = b"NTREC\0";
pub const FORMAT_VERSION: u16 = 2;

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
    End { events: u64 },
}

#[cfg(test)]
mod tests;

/// Feeds every record to `sink` as a live session would. Returns whether the recording
/// ended properly (its end record was read); a read error stops the replay.
pub fn replay<R: std::io::Read>(
    reader: RecordingReader<R>,
    sink: &mut impl Sink,
) -> Result<bool, RecordError> {
    let mut complete = false;
    for record in reader {
        match record? {
            Record::Events(evs) => evs.iter().for_each(|e| sink.event(e)),
            Record::Symbol(s) => sink.owner(&s),
            Record::Stack(s) => sink.stack(s.id, s.frames),
            Record::Lost(n) => sink.lost(n),
            Record::End { .. } => complete = true,
        }
    }
    Ok(complete)
}
