//! A recording as a source: its records handed to a sink in the order the live session
//! handed them to its own.

use std::io::Read;

use crate::{
    record::{Cut, Record, RecordError, RecordingReader},
    stream::Sink,
};

/// Feeds every record to `sink` as a live session would. Returns where the recording was
/// cut, when its recorder did not finish it (everything before the cut was fed); a
/// corrupt record stops the replay with an error.
pub fn replay<R: Read>(
    reader: RecordingReader<R>,
    sink: &mut impl Sink,
) -> Result<Option<Cut>, RecordError> {
    let mut cut = None;
    for record in reader {
        match record? {
            Record::Events(evs) => evs.iter().for_each(|e| sink.event(e)),
            Record::Symbol(s) => sink.owner(&s),
            Record::Stack(s) => sink.stack(s.id, s.frames),
            Record::Lost(n) => sink.lost(n),
            Record::End { .. } => {}
            Record::Cut(c) => cut = Some(c),
        }
    }
    Ok(cut)
}
