//! What happens to each event, live or replayed: the mirror, the rules, and the chosen
//! outputs (trace lines, a recording). Both sources drive the same pipeline, so a replay
//! yields exactly what the live session showed.

use std::{
    collections::HashMap,
    io::{self, Write as _},
};

use anyhow::{Context as _, Result};
use notifier_common::Event;

use crate::{
    export::{pointers::Pointers, snapshot, summary, trace},
    mirror::Mirror,
    record::{RecordingWriter, StackRecord},
    rules::Engine,
    stream::{HookStatus, Loss, Sink},
    symbols::Symbol,
};

pub enum TraceFormat {
    Human,
    Json,
}

impl TraceFormat {
    /// JSON lines when `json`, human lines otherwise.
    pub fn of(json: bool) -> Self {
        if json {
            TraceFormat::Json
        } else {
            TraceFormat::Human
        }
    }
}

pub struct Pipeline {
    pub mirror: Mirror,
    pub rules: Option<Engine>,
    pub owners: HashMap<u64, Symbol>,
    pub stacks: HashMap<u64, Vec<String>>,
    pub trace: Option<TraceFormat>,
    pub recording: Option<RecordingWriter>,
    pub pointers: Pointers,
    /// The first write error of an output; reported at the end rather than per event.
    pub error: Option<anyhow::Error>,
    out: io::BufWriter<io::Stdout>,
}

impl Pipeline {
    pub fn new(pointers: Pointers) -> Self {
        Pipeline {
            mirror: Mirror::new(),
            rules: None,
            owners: HashMap::new(),
            stacks: HashMap::new(),
            trace: None,
            recording: None,
            pointers,
            error: None,
            out: io::BufWriter::new(io::stdout()),
        }
    }

    /// Keeps the first output error; the stream ends with it at the next flush, and it is
    /// reported there once (quietly, for a reader that went away).
    fn keep(&mut self, r: Result<()>) {
        if let Err(e) = r
            && self.error.is_none()
        {
            self.error = Some(e);
        }
    }

    /// Flushes outputs; finishes the recording; returns the first output error.
    pub fn finish(&mut self) -> Result<Option<u64>> {
        self.mirror.finish_audit();
        if let Some(rules) = &mut self.rules {
            rules.finish();
        }
        self.out.flush()?;
        let written = match self.recording.take() {
            Some(w) => Some(w.finish()?),
            None => None,
        };
        match self.error.take() {
            Some(e) => Err(e),
            None => Ok(written),
        }
    }

    fn context<'a>(&'a self, kernel: &'a str, attach: &'a [HookStatus]) -> summary::Context<'a> {
        summary::Context {
            mirror: &self.mirror,
            kernel,
            attach,
            owners: &self.owners,
            stacks: &self.stacks,
            pointers: &self.pointers,
        }
    }

    pub fn summary(&self, kernel: &str, attach: &[HookStatus]) -> summary::Summary {
        let findings = self.rules.iter().flat_map(|r| r.findings());
        summary::build(findings, &self.context(kernel, attach))
    }

    /// Per-process interval snapshot of the mirror; `only`: one mm.
    pub fn snapshot(&self, meta: snapshot::Meta, only: Option<u64>) -> snapshot::Snapshot {
        let kernel = meta.kernel.clone();
        snapshot::build(&self.context(&kernel, &[]), meta, only)
    }
}

/// So that a command can run the pipeline itself or a sink wrapping it, and read the model
/// afterwards either way.
impl AsRef<Pipeline> for Pipeline {
    fn as_ref(&self) -> &Pipeline {
        self
    }
}

impl Sink for Pipeline {
    fn event(&mut self, ev: &Event) {
        // Before the event applies: a remove takes its interval, and its owner, away.
        let owner = match &self.trace {
            Some(_) => self.mirror.owner_of(ev),
            None => 0,
        };
        self.mirror.apply(ev);
        if let Some(rules) = &mut self.rules {
            rules.observe(ev);
        }
        if let Some(fmt) = &self.trace {
            let owner = self.owners.get(&owner);
            let line = match fmt {
                TraceFormat::Human => trace::human(ev, self.mirror.first_ns, owner),
                TraceFormat::Json => trace::json(ev, owner, &self.pointers),
            };
            let r = writeln!(self.out, "{line}").map_err(anyhow::Error::from);
            self.keep(r);
        }
        if let Some(w) = &mut self.recording {
            let r = w.event(ev);
            self.keep(r);
        }
    }

    fn owner(&mut self, sym: &Symbol) {
        self.owners.insert(sym.addr, sym.clone());
        if let Some(w) = &mut self.recording {
            let r = w.symbol(sym);
            self.keep(r);
        }
    }

    fn stack(&mut self, id: u64, frames: Vec<String>) {
        if let Some(w) = &mut self.recording {
            let r = w.stack(&StackRecord {
                id,
                frames: frames.clone(),
            });
            self.keep(r);
        }
        self.stacks.insert(id, frames);
    }

    fn flush(&mut self) -> Result<()> {
        // An output that failed ends the stream now, not at its end: a recording that
        // cannot be written is not recording, and the user is told while it matters.
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        if self.trace.is_some() {
            self.out.flush().context("writing the trace to stdout")?;
            if stdout_reader_gone() {
                return Err(io::Error::from(io::ErrorKind::BrokenPipe))
                    .context("writing the trace to stdout");
            }
        }
        Ok(())
    }

    fn tick(&mut self) -> Result<()> {
        self.flush()?;
        match &mut self.recording {
            Some(w) => w.flush(),
            None => Ok(()),
        }
    }

    fn lost(&mut self, loss: Loss) {
        let c = &self.mirror.counters;
        if (loss.ring_full, loss.skipped) != (c.lost, c.skipped) {
            self.mirror.set_lost(loss);
            if let Some(w) = &mut self.recording {
                let r = w.lost(loss);
                self.keep(r);
            }
        }
    }
}

/// Whether stdout is a pipe whose reader has closed it: the write end then polls POLLERR,
/// so a quiet trace learns it without waiting for its next line to fail.
fn stdout_reader_gone() -> bool {
    let mut fd = libc::pollfd {
        fd: libc::STDOUT_FILENO,
        events: 0,
        revents: 0,
    };
    // SAFETY: one valid pollfd, no timeout.
    let n = unsafe { libc::poll(&mut fd, 1, 0) };
    n == 1 && fd.revents & libc::POLLERR != 0
}

#[cfg(test)]
mod tests {
    use notifier_common::EVENT_SIZE;

    use super::*;
    use crate::record::{Header, Record, RecordingReader};

    fn events_in(path: &std::path::Path) -> usize {
        RecordingReader::open(path)
            .unwrap()
            .map(|r| match r.unwrap() {
                Record::Events(evs) => evs.len(),
                _ => 0,
            })
            .sum()
    }

    #[test]
    fn every_tick_hands_the_recording_to_its_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ticks.ntrec");
        let header = Header {
            tool_version: "test".into(),
            kernel: "k".into(),
            hostname: "h".into(),
            started_unix: 0,
            event_size: EVENT_SIZE,
            attach: vec![],
        };
        let mut p = Pipeline::new(Pointers::new(true));
        p.recording = Some(RecordingWriter::create(&path, &header).unwrap());
        for tick in 1..=3 {
            for sub in 0..10 {
                p.event(&Event {
                    sub,
                    ..Default::default()
                });
            }
            p.flush().unwrap();
            assert_eq!(
                events_in(&path),
                10 * (tick - 1),
                "a batch's end is no tick"
            );
            p.tick().unwrap();
            assert_eq!(events_in(&path), 10 * tick);
        }
        assert_eq!(p.finish().unwrap(), Some(30));
        assert_eq!(events_in(&path), 30);
    }
}
