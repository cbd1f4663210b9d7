//! `notifier-top snapshot`: walks the kernel's trees once and writes what each process has
//! registered.

use std::{path::Path, process::ExitCode};

use anyhow::{Result, bail};
use notifier_user::{
    export::{
        pointers::Pointers,
        snapshot::{self, Meta},
        unix_now, write_output,
    },
    pipeline::Pipeline,
    stream::{Feed as _, Hook},
};

use super::{Capture, write_json};
use crate::cli::{SnapshotArgs, SnapshotFormat};

pub fn run(args: SnapshotArgs) -> Result<ExitCode> {
    let config = args.config();
    let mut capture = Capture::start(&config)?;
    // Without the walk a snapshot would be empty, not a snapshot.
    if let Some(walk) = capture
        .session
        .hook_status()
        .iter()
        .find(|s| s.hook == Hook::Bootstrap && s.is_missing())
    {
        bail!(
            "snapshots need the start-up walk, which this kernel cannot run: {}",
            walk.detail
        );
    }
    let mut p = Pipeline::new(Pointers::new(args.raw_pointers));
    capture.adopt_owners(&mut p);
    // The start-up walk has put every existing interval in the ring buffer: drain it.
    let end = capture.session.finish(&mut p)?;
    p.finish()?;
    let snap = p.snapshot(
        Meta {
            kernel: capture.session.kernel_release.clone(),
            taken_unix: unix_now(),
            filter: config.selection.describe(),
        },
        None,
    );
    let intervals: usize = snap.processes.iter().map(|p| p.intervals.len()).sum();
    let output = args.output.as_deref().unwrap_or(Path::new("-"));
    match args.format {
        SnapshotFormat::Json => write_json(output, &snap)?,
        SnapshotFormat::Csv => write_output(output, |w| snapshot::write_csv(&snap, w))?,
    }
    let exited = snap.processes.iter().filter(|p| p.exited).count();
    eprintln!(
        "notifier-top snapshot: {} processes ({exited} exited), {intervals} intervals{}{}",
        snap.processes.len(),
        match capture.session.deep_scan() {
            Some(scan) => format!("; deep scan: {scan}"),
            None => "; no deep scan (`notifier-top probes` says why)".to_owned(),
        },
        if end.loss.any() {
            format!(" — {}: the snapshot may be incomplete", end.loss)
        } else {
            String::new()
        }
    );
    Ok(ExitCode::SUCCESS)
}
