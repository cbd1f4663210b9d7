//! `notifier-top replay FILE`: a recording through the same pipeline as a live session.

use std::process::ExitCode;

use anyhow::{Context as _, Result, bail};
use notifier_user::{
    export::pointers::Pointers,
    pipeline::Pipeline,
    record::RecordingReader,
    source,
    tui::{self, app::App},
};

use super::write_json;
use crate::cli::ReplayArgs;

pub async fn run(args: ReplayArgs, interactive: bool) -> Result<ExitCode> {
    let reader = RecordingReader::open(&args.file)
        .with_context(|| format!("opening {}", args.file.display()))?;
    let header = reader.header().clone();
    let mut p = Pipeline::new(Pointers::new(args.raw_pointers));
    p.rules = Some(args.rules.engine());
    p.trace = args.trace_format();
    let complete = source::replay(reader, &mut p)
        .with_context(|| format!("replaying {}", args.file.display()))?;
    if !complete {
        bail!("{}: recording has no end record", args.file.display());
    }
    p.finish()?;
    if let Some(path) = &args.summary_json {
        write_json(path, &p.summary(&header.kernel, &header.attach))?;
    }
    if interactive && !args.trace && args.summary_json.is_none() {
        let label = format!("replay of {}", args.file.display());
        tui::run_replay(App::new(p, header.kernel, header.attach, label)).await?;
    }
    Ok(ExitCode::SUCCESS)
}
