//! Any byte string fed to the recording reader and on into the mirror: an error or a
//! replay, never a panic, a hang or an allocation blow-up.
//! `cargo +nightly fuzz run recording_reader` from notifier-user/.
#![no_main]

use libfuzzer_sys::fuzz_target;
use notifier_user::{
    mirror::Mirror,
    record::{Record, RecordingReader},
};

fuzz_target!(|data: &[u8]| {
    let Ok(reader) = RecordingReader::new(data) else { return };
    let mut mirror = Mirror::new();
    for record in reader {
        match record {
            Ok(Record::Events(evs)) => evs.iter().for_each(|e| mirror.apply(e)),
            Ok(_) => {}
            Err(_) => break,
        }
    }
});
