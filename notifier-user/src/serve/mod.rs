//! `notifier-top serve`: a Prometheus exporter over the same pipeline as every command.
//! The capture publishes copies (`exporter`), the HTTP thread (`http`, configured by
//! `web_config`) serves them (`pages`, `metrics`).

pub mod exporter;
pub mod http;
pub mod metrics;
pub mod pages;
pub mod web_config;
