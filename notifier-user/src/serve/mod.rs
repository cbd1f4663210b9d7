//! `notifier-top serve`: a Prometheus exporter over the same pipeline as every command.

pub mod exporter;
pub mod metrics;
