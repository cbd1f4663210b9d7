//! `notifier-top replay FILE`: a recording through the same pipeline as a live session.

use std::process::ExitCode;

use anyhow::{Context as _, Result};
use notifier_user::{
    export::pointers::Pointers,
    pipeline::Pipeline,
    record::RecordingReader,
    source,
    tui::{self, app::App},
};

use super::{recording_name, write_json};
use crate::cli::ReplayArgs;

pub async fn run(args: ReplayArgs, interactive: bool) -> Result<ExitCode> {
    let name = recording_name(&args.file, "replay")?;
    let reader = RecordingReader::open(&args.file).with_context(|| format!("opening {name}"))?;
    let header = reader.header().clone();
    let mut p = Pipeline::new(Pointers::new(args.raw_pointers));
    p.rules = Some(args.rules.engine());
    p.trace = args.trace_format();
    let cut = source::replay(reader, &mut p).with_context(|| format!("replaying {name}"))?;
    p.finish()?;
    if let Some(cut) = cut {
        eprintln!("notifier-top: {name}: {cut} Everything before the cut was replayed.");
    }
    if let Some(path) = &args.summary_json {
        let mut summary = p.summary(&header.kernel, &header.attach);
        summary.recording_cut = cut;
        write_json(path, &summary)?;
    }
    if interactive && !args.trace && args.summary_json.is_none() {
        let label = format!("replay of {name}");
        tui::run_replay(App::new(p, header.kernel, header.attach, label)).await?;
    }
    Ok(ExitCode::SUCCESS)
}
