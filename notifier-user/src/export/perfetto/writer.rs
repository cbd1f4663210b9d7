//! The packet stream: one trusted sequence, its first packet declaring the clock, every
//! packet framed as an element of `Trace.packet` and written as it is made.

use std::io::{self, Write};

use super::proto::{
    self, BUILTIN_CLOCK_MONOTONIC, Clock, ClockSnapshot, SEQ_INCREMENTAL_STATE_CLEARED,
    TracePacket, TrackDescriptor, TrackEvent,
};

/// The one packet sequence this writer emits (any non-zero id: a single writer).
pub const SEQUENCE: u32 = 0x6e74;

pub struct Packets<W: Write> {
    out: W,
    buf: Vec<u8>,
    started: bool,
    /// The first write error; nothing is written after it.
    error: Option<io::Error>,
}

impl<W: Write> Packets<W> {
    pub fn new(out: W) -> Self {
        Packets {
            out,
            buf: Vec::new(),
            started: false,
            error: None,
        }
    }

    /// The first packet: it starts the sequence (its incremental state cleared, though
    /// nothing here is interned) and declares the clock the timestamps are on.
    /// `bpf_ktime_get_ns` reads CLOCK_MONOTONIC; making it the trace's clock keeps the
    /// timestamps as the kernel took them, and naming it on every packet lets Perfetto
    /// place them against a system trace of the same boot, whose clock snapshots relate
    /// MONOTONIC to its own clock.
    fn start(&mut self, t0: u64) {
        self.started = true;
        self.write(TracePacket {
            timestamp: Some(t0),
            timestamp_clock_id: Some(BUILTIN_CLOCK_MONOTONIC),
            sequence_flags: Some(SEQ_INCREMENTAL_STATE_CLEARED),
            first_packet_on_sequence: Some(true),
            previous_packet_dropped: Some(1),
            clock_snapshot: Some(ClockSnapshot {
                clocks: vec![Clock {
                    clock_id: Some(BUILTIN_CLOCK_MONOTONIC),
                    timestamp: Some(t0),
                }],
                primary_trace_clock: Some(BUILTIN_CLOCK_MONOTONIC as i32),
            }),
            ..Default::default()
        });
    }

    /// A track's descriptor, written before its first event.
    pub fn descriptor(&mut self, ts: u64, d: TrackDescriptor) {
        self.timed(
            ts,
            TracePacket {
                track_descriptor: Some(d),
                ..Default::default()
            },
        );
    }

    pub fn event(&mut self, ts: u64, e: TrackEvent) {
        self.timed(
            ts,
            TracePacket {
                track_event: Some(e),
                ..Default::default()
            },
        );
    }

    fn timed(&mut self, ts: u64, mut p: TracePacket) {
        if !self.started {
            self.start(ts);
        }
        p.timestamp = Some(ts);
        p.timestamp_clock_id = Some(BUILTIN_CLOCK_MONOTONIC);
        self.write(p);
    }

    fn write(&mut self, mut p: TracePacket) {
        if self.error.is_some() {
            return;
        }
        p.trusted_packet_sequence_id = Some(SEQUENCE);
        proto::frame(&p, &mut self.buf);
        if let Err(e) = self.out.write_all(&self.buf) {
            self.error = Some(e);
        }
    }

    /// Whether writing failed: the rest is not worth computing.
    pub fn failed(&self) -> bool {
        self.error.is_some()
    }

    /// Flushes; the first write error, if any. A stream without events still gets its
    /// first packet, so that it is a trace.
    pub fn finish(&mut self) -> io::Result<()> {
        if !self.started {
            self.start(0);
        }
        match self.error.take() {
            Some(e) => Err(e),
            None => self.out.flush(),
        }
    }
}
