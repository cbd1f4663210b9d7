//! Recordings: a compact, versioned, self-describing file of a capture session, which
//! [`crate::source::replay`] feeds through the same mirror and rules.
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
    stream::{HookStatus, Loss},
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
