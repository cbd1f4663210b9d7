//! A recording as a source: its records handed to a sink in the order the live session
//! handed them to its own.

use std::io::Read;

use crate::{
    record::{Record, RecordError, RecordingReader},
    stream::Sink,
};

/// Feeds every record to `sink` as a live session would. Returns whether the recording
/// ended properly (its end record was read); a read error stops the replay.
pub fn replay<R: Read>(
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
