//! `notifier-top trace`: decoded events on stdout as they come.

use std::process::ExitCode;

use anyhow::Result;
use notifier_user::{export::pointers::Pointers, pipeline::Pipeline};

use super::Capture;
use crate::cli::TraceArgs;

pub async fn run(args: TraceArgs) -> Result<ExitCode> {
    let mut p = Pipeline::new(Pointers::new(args.capture.raw_pointers));
    p.trace = Some(args.format());
    let mut capture = Capture::start(&args.capture.config(false))?;
    capture.adopt_owners(&mut p);
    let end = capture.run(&mut p, args.capture.duration).await?;
    p.finish()?;
    eprintln!("notifier-top: {} events, {}", end.events, end.loss);
    capture.write_summary(&p, args.capture.summary_json.as_deref())?;
    Ok(ExitCode::SUCCESS)
}
