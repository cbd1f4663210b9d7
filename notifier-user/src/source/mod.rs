//! Where events come from: the live ring buffer or a recording. Downstream code sees the
//! same [`Record`] stream either way.

pub mod live;

pub use notifier_common::Event;
