use std::{
    io::{BufWriter, Write},
    path::Path,
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result, bail};
use notifier_common::{ABI_VERSION, EVENT_SIZE, Event};

use super::{FORMAT_VERSION, Header, MAGIC, StackRecord};
use crate::{
    export::{Output, is_stdio},
    stream::Loss,
    symbols::Symbol,
};

/// Events are buffered and compressed in blocks of at most this many.
const BLOCK_EVENTS: usize = 4096;

/// What reached the file is also forced to the disk this often: what a power cut may take
/// is bounded by it, and the session's thread does not wait on the disk more often.
const SYNC_PERIOD: Duration = Duration::from_secs(1);

/// Writes a recording under its final name from the start (or to stdout for `-`), one
/// self-contained block at a time, so whatever stops the recorder leaves a file that
/// replays up to its last complete block. Mode 0600: recordings hold kernel pointers.
pub struct RecordingWriter {
    out: BufWriter<Output>,
    /// The file's name in errors.
    name: String,
    pending: Vec<u8>,
    pending_events: u32,
    events: u64,
    synced: Instant,
    /// After a failed write the file ends in a torn record: anything written after it
    /// would make a cut file look corrupt, so nothing more is.
    failed: bool,
}

impl RecordingWriter {
    /// Creates `path`, refusing an existing file, and writes the header through to it.
    pub fn create(path: &Path, header: &Header) -> Result<Self> {
        let name = if is_stdio(path) {
            "stdout".to_owned()
        } else {
            path.display().to_string()
        };
        let out = BufWriter::new(Output::create_new(path)?);
        let mut w = RecordingWriter {
            out,
            name,
            pending: Vec::with_capacity(BLOCK_EVENTS * EVENT_SIZE),
            pending_events: 0,
            events: 0,
            synced: Instant::now(),
            failed: false,
        };
        w.guard(|w| {
            let header_json = serde_json::to_vec(header)?;
            w.out.write_all(MAGIC)?;
            w.out.write_all(&FORMAT_VERSION.to_le_bytes())?;
            w.out.write_all(&ABI_VERSION.to_le_bytes())?;
            w.out.write_all(&(header_json.len() as u32).to_le_bytes())?;
            w.out.write_all(&header_json)?;
            w.out.flush()?;
            Ok(())
        })?;
        Ok(w)
    }

    pub fn event(&mut self, ev: &Event) -> Result<()> {
        self.pending.extend_from_slice(ev.as_bytes());
        self.pending_events += 1;
        self.events += 1;
        if self.pending_events as usize >= BLOCK_EVENTS {
            self.guard(Self::flush_events)?;
        }
        Ok(())
    }

    /// Symbols and stacks are written after the pending events, so a reader has them
    /// before any later event that needs them.
    pub fn symbol(&mut self, sym: &Symbol) -> Result<()> {
        self.guard(|w| {
            w.flush_events()?;
            w.record(b'S', &serde_json::to_vec(sym)?)
        })
    }

    pub fn stack(&mut self, stack: &StackRecord) -> Result<()> {
        self.guard(|w| {
            w.flush_events()?;
            w.record(b'K', &serde_json::to_vec(stack)?)
        })
    }

    pub fn lost(&mut self, loss: Loss) -> Result<()> {
        self.guard(|w| {
            w.flush_events()?;
            let mut payload = [0u8; 16];
            payload[..8].copy_from_slice(&loss.ring_full.to_le_bytes());
            payload[8..].copy_from_slice(&loss.skipped.to_le_bytes());
            w.record(b'L', &payload)
        })
    }

    /// Closes the open block and hands everything to the file: a recorder killed after
    /// this loses nothing written before it, and one whose machine loses power, at most
    /// [`SYNC_PERIOD`].
    pub fn flush(&mut self) -> Result<()> {
        self.guard(|w| {
            w.flush_events()?;
            w.out.flush()?;
            if w.synced.elapsed() >= SYNC_PERIOD {
                w.sync()?;
            }
            Ok(())
        })
    }

    /// Writes the end record and syncs the file; returns the events written.
    pub fn finish(mut self) -> Result<u64> {
        self.guard(|w| {
            w.flush_events()?;
            w.record(b'Z', &w.events.to_le_bytes())?;
            w.out.flush()?;
            w.sync()
        })?;
        Ok(self.events)
    }

    /// Runs one write; its error names the file, and ends the recording.
    fn guard(&mut self, write: impl FnOnce(&mut Self) -> Result<()>) -> Result<()> {
        if self.failed {
            bail!(
                "the recording {} stopped at an earlier write error",
                self.name
            );
        }
        let result = write(self);
        self.failed = result.is_err();
        result.with_context(|| format!("writing the recording {}", self.name))
    }

    fn sync(&mut self) -> Result<()> {
        self.synced = Instant::now();
        match self.out.get_ref() {
            Output::File(f) => Ok(f.sync_data()?),
            // A pipe or a device has no disk to reach.
            Output::Stdout(_) | Output::Stream(_) => Ok(()),
        }
    }

    fn flush_events(&mut self) -> Result<()> {
        if self.pending_events == 0 {
            return Ok(());
        }
        let mut payload = self.pending_events.to_le_bytes().to_vec();
        payload.extend_from_slice(&lz4_flex::block::compress_prepend_size(&self.pending));
        self.pending.clear();
        self.pending_events = 0;
        self.record(b'E', &payload)
    }

    fn record(&mut self, tag: u8, payload: &[u8]) -> Result<()> {
        let mut head = [0u8; 13];
        head[0] = tag;
        head[1..5].copy_from_slice(&(payload.len() as u32).to_le_bytes());
        head[5..9].copy_from_slice(&crc32fast::hash(payload).to_le_bytes());
        let head_crc = crc32fast::hash(&head[..9]);
        head[9..].copy_from_slice(&head_crc.to_le_bytes());
        self.out.write_all(&head)?;
        self.out.write_all(payload)?;
        Ok(())
    }
}
