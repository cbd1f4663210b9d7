use std::{
    fs::{self, File},
    io::{BufWriter, Write},
    path::{Path, PathBuf},
};

use anyhow::{Context as _, Result};
use notifier_common::{ABI_VERSION, EVENT_SIZE, Event};

use super::{FORMAT_VERSION, Header, MAGIC, StackRecord};
use crate::{export::create_private, stream::Loss, symbols::Symbol};

/// Events are buffered and compressed in blocks of this many.
const BLOCK_EVENTS: usize = 4096;

/// Writes a recording to a temporary file beside the target and renames it into place on
/// `finish`, so a reader never sees a half-written file under the final name; mode 0600
/// (recordings hold kernel pointers).
pub struct RecordingWriter {
    out: BufWriter<File>,
    tmp: PathBuf,
    path: PathBuf,
    pending: Vec<u8>,
    pending_events: u32,
    events: u64,
}

impl RecordingWriter {
    pub fn create(path: &Path, header: &Header) -> Result<Self> {
        let dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let name = path
            .file_name()
            .context("recording path has no file name")?;
        let tmp = dir.join(format!(".{}.partial", name.to_string_lossy()));
        let file = create_private(&tmp)?;
        let mut out = BufWriter::new(file);
        let header_json = serde_json::to_vec(header)?;
        out.write_all(MAGIC)?;
        out.write_all(&FORMAT_VERSION.to_le_bytes())?;
        out.write_all(&ABI_VERSION.to_le_bytes())?;
        out.write_all(&(header_json.len() as u32).to_le_bytes())?;
        out.write_all(&header_json)?;
        Ok(RecordingWriter {
            out,
            tmp,
            path: path.to_path_buf(),
            pending: Vec::with_capacity(BLOCK_EVENTS * EVENT_SIZE),
            pending_events: 0,
            events: 0,
        })
    }

    pub fn event(&mut self, ev: &Event) -> Result<()> {
        self.pending.extend_from_slice(ev.as_bytes());
        self.pending_events += 1;
        self.events += 1;
        if self.pending_events as usize >= BLOCK_EVENTS {
            self.flush_events()?;
        }
        Ok(())
    }

    /// Symbols and stacks are written after the pending events, so a reader has them
    /// before any later event that needs them.
    pub fn symbol(&mut self, sym: &Symbol) -> Result<()> {
        self.flush_events()?;
        self.record(b'S', &serde_json::to_vec(sym)?)
    }

    pub fn stack(&mut self, stack: &StackRecord) -> Result<()> {
        self.flush_events()?;
        self.record(b'K', &serde_json::to_vec(stack)?)
    }

    pub fn lost(&mut self, loss: Loss) -> Result<()> {
        self.flush_events()?;
        let mut payload = [0u8; 16];
        payload[..8].copy_from_slice(&loss.ring_full.to_le_bytes());
        payload[8..].copy_from_slice(&loss.skipped.to_le_bytes());
        self.record(b'L', &payload)
    }

    /// Writes the end record and moves the file into place.
    pub fn finish(mut self) -> Result<u64> {
        self.flush_events()?;
        self.record(b'Z', &self.events.to_le_bytes())?;
        let file = self.out.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        fs::rename(&self.tmp, &self.path)
            .with_context(|| format!("renaming into {}", self.path.display()))?;
        Ok(self.events)
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
        self.out.write_all(&[tag])?;
        self.out.write_all(&(payload.len() as u32).to_le_bytes())?;
        self.out
            .write_all(&crc32fast::hash(payload).to_le_bytes())?;
        self.out.write_all(payload)?;
        Ok(())
    }
}
