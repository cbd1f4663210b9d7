//! Outputs read from the model: the JSON summary, trace lines, and pointer redaction.

pub mod pointers;
pub mod summary;
pub mod trace;
