//! notifier-top as a library: the binary, the benchmarks and the tests share it.
//!
//! Data flows one way: `probe` (kernel hooks) → `source` (events) → `mirror` (the model)
//! → `export` / `record` (outputs). `symbols` names kernel addresses for all of them.

pub mod export;
pub mod mirror;
pub mod pipeline;
pub mod probe;
pub mod record;
pub mod rules;
pub mod serve;
pub mod session;
pub mod source;
pub mod stream;
pub mod symbols;
#[cfg(test)]
mod test_support;
pub mod tui;
