//! The Perfetto trace messages `export perfetto` writes: a hand-written subset, each field
//! with the number Perfetto's own `.proto` files give it (paths below are in Perfetto's
//! repository), so no protoc runs at build time. Fields this exporter never sets are left
//! out; a decoder skips what it does not know, so the subset is a valid trace. The test
//! `tests/perfetto.rs` decodes the output with Perfetto's own Python classes.
//!
//! Enums are plain `int32`/`uint32` fields on the wire; their values are the constants
//! below, named as in the `.proto` files.

use prost::Message;

/// protos/perfetto/common/builtin_clock.proto: `BUILTIN_CLOCK_MONOTONIC`, the clock of
/// `bpf_ktime_get_ns`, which every event's `ts_ns` is read from.
pub const BUILTIN_CLOCK_MONOTONIC: u32 = 3;

/// protos/perfetto/trace/trace_packet.proto: `SequenceFlags.SEQ_INCREMENTAL_STATE_CLEARED`.
pub const SEQ_INCREMENTAL_STATE_CLEARED: u32 = 1;

/// protos/perfetto/trace/track_event/track_event.proto: `TrackEvent.Type`.
pub mod event_type {
    pub const SLICE_BEGIN: i32 = 1;
    pub const SLICE_END: i32 = 2;
    pub const INSTANT: i32 = 3;
    pub const COUNTER: i32 = 4;
}

/// protos/perfetto/trace/track_event/counter_descriptor.proto: `CounterDescriptor.Unit`.
pub const UNIT_COUNT: i32 = 2;

/// protos/perfetto/trace/track_event/track_descriptor.proto:
/// `TrackDescriptor.SiblingMergeBehavior.SIBLING_MERGE_BEHAVIOR_BY_SIBLING_MERGE_KEY`.
pub const MERGE_BY_SIBLING_MERGE_KEY: i32 = 3;

/// protos/perfetto/trace/trace.proto: `message Trace { repeated TracePacket packet = 1; }`.
/// Written a packet at a time (see [`frame`]); the whole message is for readers.
#[derive(Clone, PartialEq, Message)]
pub struct Trace {
    #[prost(message, repeated, tag = "1")]
    pub packet: Vec<TracePacket>,
}

/// protos/perfetto/trace/trace_packet.proto: `TracePacket`.
#[derive(Clone, PartialEq, Message)]
pub struct TracePacket {
    #[prost(uint64, optional, tag = "8")]
    pub timestamp: Option<u64>,
    #[prost(uint32, optional, tag = "58")]
    pub timestamp_clock_id: Option<u32>,
    #[prost(uint32, optional, tag = "10")]
    pub trusted_packet_sequence_id: Option<u32>,
    #[prost(uint32, optional, tag = "13")]
    pub sequence_flags: Option<u32>,
    #[prost(uint32, optional, tag = "42")]
    pub previous_packet_dropped: Option<u32>,
    #[prost(bool, optional, tag = "87")]
    pub first_packet_on_sequence: Option<bool>,
    #[prost(message, optional, tag = "6")]
    pub clock_snapshot: Option<ClockSnapshot>,
    #[prost(message, optional, tag = "60")]
    pub track_descriptor: Option<TrackDescriptor>,
    #[prost(message, optional, tag = "11")]
    pub track_event: Option<TrackEvent>,
}

/// protos/perfetto/trace/clock_snapshot.proto: `ClockSnapshot`.
#[derive(Clone, PartialEq, Message)]
pub struct ClockSnapshot {
    #[prost(message, repeated, tag = "1")]
    pub clocks: Vec<Clock>,
    /// A `BuiltinClock` value.
    #[prost(int32, optional, tag = "2")]
    pub primary_trace_clock: Option<i32>,
}

/// protos/perfetto/trace/clock_snapshot.proto: `ClockSnapshot.Clock`.
#[derive(Clone, PartialEq, Message)]
pub struct Clock {
    #[prost(uint32, optional, tag = "1")]
    pub clock_id: Option<u32>,
    #[prost(uint64, optional, tag = "2")]
    pub timestamp: Option<u64>,
}

/// protos/perfetto/trace/track_event/track_descriptor.proto: `TrackDescriptor`.
#[derive(Clone, PartialEq, Message)]
pub struct TrackDescriptor {
    #[prost(uint64, optional, tag = "1")]
    pub uuid: Option<u64>,
    #[prost(uint64, optional, tag = "5")]
    pub parent_uuid: Option<u64>,
    #[prost(string, optional, tag = "2")]
    pub name: Option<String>,
    #[prost(string, optional, tag = "14")]
    pub description: Option<String>,
    #[prost(message, optional, tag = "3")]
    pub process: Option<ProcessDescriptor>,
    #[prost(message, optional, tag = "8")]
    pub counter: Option<CounterDescriptor>,
    /// A `SiblingMergeBehavior` value.
    #[prost(int32, optional, tag = "15")]
    pub sibling_merge_behavior: Option<i32>,
    #[prost(string, optional, tag = "16")]
    pub sibling_merge_key: Option<String>,
}

/// protos/perfetto/trace/track_event/process_descriptor.proto: `ProcessDescriptor`.
#[derive(Clone, PartialEq, Message)]
pub struct ProcessDescriptor {
    #[prost(int32, optional, tag = "1")]
    pub pid: Option<i32>,
    #[prost(string, optional, tag = "6")]
    pub process_name: Option<String>,
}

/// protos/perfetto/trace/track_event/counter_descriptor.proto: `CounterDescriptor`.
#[derive(Clone, PartialEq, Message)]
pub struct CounterDescriptor {
    /// A `CounterDescriptor.Unit` value.
    #[prost(int32, optional, tag = "3")]
    pub unit: Option<i32>,
}

/// protos/perfetto/trace/track_event/track_event.proto: `TrackEvent`.
#[derive(Clone, PartialEq, Message)]
pub struct TrackEvent {
    /// A `TrackEvent.Type` value.
    #[prost(int32, optional, tag = "9")]
    pub r#type: Option<i32>,
    #[prost(uint64, optional, tag = "11")]
    pub track_uuid: Option<u64>,
    #[prost(string, repeated, tag = "22")]
    pub categories: Vec<String>,
    #[prost(string, optional, tag = "23")]
    pub name: Option<String>,
    #[prost(int64, optional, tag = "30")]
    pub counter_value: Option<i64>,
    #[prost(message, repeated, tag = "4")]
    pub debug_annotations: Vec<DebugAnnotation>,
    #[prost(message, optional, tag = "55")]
    pub callstack: Option<Callstack>,
}

/// protos/perfetto/trace/track_event/track_event.proto: `TrackEvent.Callstack`, frames
/// outermost first.
#[derive(Clone, PartialEq, Message)]
pub struct Callstack {
    #[prost(message, repeated, tag = "1")]
    pub frames: Vec<Frame>,
}

/// protos/perfetto/trace/track_event/track_event.proto: `TrackEvent.Callstack.Frame`.
#[derive(Clone, PartialEq, Message)]
pub struct Frame {
    #[prost(string, optional, tag = "1")]
    pub function_name: Option<String>,
}

/// protos/perfetto/trace/track_event/debug_annotation.proto: `DebugAnnotation`, a named
/// argument; one of the values is set.
#[derive(Clone, PartialEq, Message)]
pub struct DebugAnnotation {
    #[prost(string, optional, tag = "10")]
    pub name: Option<String>,
    #[prost(bool, optional, tag = "2")]
    pub bool_value: Option<bool>,
    #[prost(uint64, optional, tag = "3")]
    pub uint_value: Option<u64>,
    #[prost(int64, optional, tag = "4")]
    pub int_value: Option<i64>,
    #[prost(string, optional, tag = "6")]
    pub string_value: Option<String>,
}

impl DebugAnnotation {
    fn named(name: &str) -> DebugAnnotation {
        DebugAnnotation {
            name: Some(name.to_owned()),
            ..Default::default()
        }
    }

    pub fn uint(name: &str, v: u64) -> DebugAnnotation {
        DebugAnnotation {
            uint_value: Some(v),
            ..Self::named(name)
        }
    }

    pub fn int(name: &str, v: i64) -> DebugAnnotation {
        DebugAnnotation {
            int_value: Some(v),
            ..Self::named(name)
        }
    }

    pub fn bool(name: &str, v: bool) -> DebugAnnotation {
        DebugAnnotation {
            bool_value: Some(v),
            ..Self::named(name)
        }
    }

    pub fn string(name: &str, v: impl Into<String>) -> DebugAnnotation {
        DebugAnnotation {
            string_value: Some(v.into()),
            ..Self::named(name)
        }
    }
}

/// `packet` as one element of `Trace.packet`: field 1, length-delimited. A file of such
/// frames, one after another, is a whole `Trace`, so the trace is written as it goes.
pub fn frame(packet: &TracePacket, buf: &mut Vec<u8>) {
    buf.clear();
    prost::encoding::message::encode(1, packet, buf);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_concatenate_into_a_trace() {
        let packets = [
            TracePacket {
                timestamp: Some(5),
                ..Default::default()
            },
            TracePacket {
                track_event: Some(TrackEvent {
                    name: Some("x".into()),
                    debug_annotations: vec![DebugAnnotation::int("ret", -11)],
                    ..Default::default()
                }),
                ..Default::default()
            },
        ];
        let mut file = Vec::new();
        let mut buf = Vec::new();
        for p in &packets {
            frame(p, &mut buf);
            file.extend_from_slice(&buf);
        }
        let trace = Trace::decode(file.as_slice()).unwrap();
        assert_eq!(trace.packet, packets);
    }
}
