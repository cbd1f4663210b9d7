//! Where events come from: the live ring buffer or a recording. Both hand the same
//! [`crate::stream`] to a [`crate::stream::Sink`]; nothing downstream can tell which.

pub mod live;
mod replay;

pub use replay::replay;
