//! `notifier-top export FORMAT RECORDING -o FILE`: a recording through the same pipeline as
//! `replay`, written for another tool as it goes.

use std::process::ExitCode;

use anyhow::{Context as _, Result};
use notifier_user::{
    export::{perfetto::Timeline, pointers::Pointers, write_output},
    pipeline::Pipeline,
    record::RecordingReader,
    source,
};

use super::recording_name;
use crate::cli::{ExportArgs, ExportFormat};

pub fn run(args: ExportArgs) -> Result<ExitCode> {
    let name = recording_name(&args.file, "export")?;
    let reader = RecordingReader::open(&args.file).with_context(|| format!("opening {name}"))?;
    let mut p = Pipeline::new(Pointers::new(args.raw_pointers));
    p.rules = Some(args.rules.engine());
    let mut cut = None;
    match args.format {
        ExportFormat::Perfetto => write_output(&args.output, |w| {
            let mut timeline = Timeline::new(p, w);
            cut = source::replay(reader, &mut timeline)
                .with_context(|| format!("exporting {name}"))?;
            timeline.finish()
        })?,
    }
    if let Some(cut) = cut {
        eprintln!("notifier-top: {name}: {cut} Everything before the cut was exported.");
    }
    Ok(ExitCode::SUCCESS)
}
