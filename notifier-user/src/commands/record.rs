//! `notifier-top record`: a capture to a recording `replay` can read back.

use std::{fs, io::IsTerminal as _, process::ExitCode};

use anyhow::{Context as _, Result, bail};
use notifier_common::EVENT_SIZE;
use notifier_user::{
    export::{escape::Escaped, is_stdio, pointers::Pointers, unix_now},
    pipeline::Pipeline,
    record::{Header, RecordingWriter},
};

use super::Capture;
use crate::cli::RecordArgs;

pub async fn run(args: RecordArgs) -> Result<ExitCode> {
    if is_stdio(&args.output) {
        if std::io::stdout().is_terminal() {
            bail!("-o -: stdout is a terminal; redirect it to a file or a pipe");
        }
        if args.capture.summary_json.as_deref().is_some_and(is_stdio) {
            bail!("-o - and --summary-json - would both write to stdout");
        }
    }
    // Probe first so that a refusal (no privileges, no BPF) leaves no file behind.
    let mut capture = Capture::start(&args.capture.config(false))?;
    let header = Header {
        tool_version: env!("CARGO_PKG_VERSION").into(),
        kernel: capture.session.kernel_release.clone(),
        hostname: fs::read_to_string("/proc/sys/kernel/hostname")
            .unwrap_or_default()
            .trim()
            .into(),
        started_unix: unix_now(),
        event_size: EVENT_SIZE,
        attach: capture.session.hook_status().to_vec(),
    };
    let mut p = Pipeline::new(Pointers::new(args.capture.raw_pointers));
    p.recording = Some(RecordingWriter::create(&args.output, &header)?);
    capture.adopt_owners(&mut p);
    let to = if is_stdio(&args.output) {
        "stdout".into()
    } else {
        args.output.display().to_string()
    };
    let end = capture.run(&mut p, args.capture.duration).await;
    let (written, end) = end
        .and_then(|end| Ok((p.finish()?.unwrap_or(0), end)))
        .with_context(|| format!("recording to {to} stopped; its complete blocks replay"))?;
    eprintln!(
        "notifier-top: {written} events recorded to {} ({})",
        Escaped::text(&to),
        end.loss
    );
    capture.write_summary(&p, args.capture.summary_json.as_deref())?;
    Ok(ExitCode::SUCCESS)
}
