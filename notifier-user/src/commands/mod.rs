//! One module per command, each `run(args)`, over one shared way to run a live capture.

mod check;
mod export;
mod generate;
mod probes;
mod record;
mod replay;
mod serve;
mod snapshot;
mod top;
mod trace;

use std::{io::IsTerminal as _, path::Path, process::ExitCode, time::Duration};

use anyhow::{Result, bail};
use notifier_user::{
    export::{is_stdio, summary::Summary, text, write_output},
    pipeline::Pipeline,
    session::{Config, LiveSession},
    stream::{Sink, StreamEnd},
};

use crate::cli::{Cli, Command, TopArgs, TraceArgs};

// Exit status 0: ran and found nothing (or the command does not look for findings).
/// Exit status: `check` found something (or, with `--fail-on-loss`, missed something).
pub const FOUND: u8 = 1;
/// Exit status: could not run: usage, privileges, attach, I/O (clap's usage errors are 2
/// too).
pub const COULD_NOT_RUN: u8 = 2;

pub fn run(cli: Cli) -> Result<ExitCode> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let interactive = std::io::stdout().is_terminal();
    let default = if interactive {
        Command::Top(TopArgs::default())
    } else {
        Command::Trace(TraceArgs::default())
    };
    match cli.command.unwrap_or(default) {
        Command::Top(args) => rt.block_on(top::run(args)),
        Command::Probes(args) => probes::run(args),
        Command::Trace(args) => rt.block_on(trace::run(args)),
        Command::Record(args) => rt.block_on(record::run(args)),
        Command::Replay(args) => rt.block_on(replay::run(args, interactive)),
        Command::Export(args) => export::run(args),
        Command::Check(args) => rt.block_on(check::run(args)),
        // The ring-buffer reader registers with the runtime even when only drained once.
        Command::Snapshot(args) => rt.block_on(async { snapshot::run(args) }),
        Command::Serve(args) => rt.block_on(serve::run(args)),
        Command::Generate(args) => generate::run(args),
    }
}

/// A live session as every capturing command uses it.
struct Capture {
    session: LiveSession,
}

impl Capture {
    /// Probes the kernel and arms every hook; a refusal (no privileges, no BPF) comes
    /// before anything is written.
    fn start(config: &Config) -> Result<Capture> {
        Ok(Capture {
            session: LiveSession::start(config)?,
        })
    }

    /// Hands `p` the drivers hooked at start-up, before any event names them.
    fn adopt_owners(&self, p: &mut Pipeline) {
        for sym in self.session.known_owners() {
            p.owner(&sym);
        }
    }

    /// One line on stderr once every hook is armed: scripts wait for it before starting a
    /// workload, people see what they got.
    fn announce(&self) {
        eprintln!(
            "notifier-top: ready on {} ({})",
            self.session.kernel_release,
            text::hook_modes(self.session.hook_status())
        );
    }

    /// Announces, runs `sink` (the pipeline, or a sink around it) until `duration`, Ctrl-C
    /// or SIGTERM, and finishes its outputs.
    async fn run(
        &mut self,
        sink: &mut (impl Sink + AsRef<Pipeline>),
        duration: Option<Duration>,
    ) -> Result<StreamEnd> {
        self.announce();
        let end = self.session.run(duration, sink).await?;
        let unobserved = sink.as_ref().mirror.counters.callbacks_unobserved;
        if unobserved > 0 {
            eprintln!("notifier-top: {}", text::unobserved_callbacks(unobserved));
        }
        Ok(end)
    }

    fn summary(&self, p: &Pipeline) -> Summary {
        p.summary(&self.session.kernel_release, self.session.hook_status())
    }

    /// `--summary-json FILE`, when asked for.
    fn write_summary(&self, p: &Pipeline, path: Option<&Path>) -> Result<()> {
        match path {
            Some(path) => write_json(path, &self.summary(p)),
            None => Ok(()),
        }
    }
}

/// How messages name the recording at `path` (`stdin` for `-`, which must not be a
/// terminal: a recording is binary and arrives through a pipe or a redirection).
fn recording_name(path: &Path, command: &str) -> Result<String> {
    if !is_stdio(path) {
        return Ok(path.display().to_string());
    }
    if std::io::stdin().is_terminal() {
        bail!("{command} -: stdin is a terminal; pipe or redirect a recording into it");
    }
    Ok("stdin".into())
}

/// Writes JSON to `path` atomically (temp file + rename), or to stdout for `-`.
fn write_json(path: &Path, value: &impl serde::Serialize) -> Result<()> {
    write_output(path, |w| {
        serde_json::to_writer_pretty(&mut *w, value)?;
        writeln!(w)?;
        Ok(())
    })
}
