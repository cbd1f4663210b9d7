use std::{
    collections::HashSet,
    fs,
    io::{IsTerminal as _, Write as _},
    path::Path,
    process::ExitCode,
};

use anyhow::{Context as _, Result, bail};
use clap::Parser;
use notifier_common::EVENT_SIZE;
use notifier_user::{
    export::{
        pointers::Pointers,
        snapshot::{self, Meta},
        unix_now, write_atomically,
    },
    pipeline::{Pipeline, TraceFormat},
    probe::{HookStatus, Probes, filter::Selection, layout, preflight},
    record::{self, Header, RecordingReader, RecordingWriter},
    rules::{Engine, RULES, RuleId, Thresholds, info},
    session::{Config, LiveSession, Sink as _},
    symbols::KernelSymbols,
    tui::{self, app::App},
};

mod cli;

use cli::{
    CaptureArgs, CheckArgs, Cli, Command, ProbesArgs, RecordArgs, ReplayArgs, SnapshotArgs,
    SnapshotFormat, TraceArgs,
};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let level = match cli.verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(level))
        .format_timestamp(None)
        .init();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("notifier-top: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let interactive = std::io::stdout().is_terminal();
    let default = if interactive {
        Command::Top(CaptureArgs::default())
    } else {
        Command::Trace(TraceArgs::default())
    };
    match cli.command.unwrap_or(default) {
        Command::Top(args) => rt.block_on(top(args)),
        Command::Probes(args) => probes(args),
        Command::Trace(args) => rt.block_on(trace(args)),
        Command::Record(args) => rt.block_on(record(args)),
        Command::Replay(args) => rt.block_on(replay(args, interactive)),
        Command::Check(args) => rt.block_on(check(args)),
        // The ring-buffer reader registers with the runtime even when only drained once.
        Command::Snapshot(args) => rt.block_on(async { snapshot(args) }),
    }
}

fn probes(args: ProbesArgs) -> Result<ExitCode> {
    preflight::require_privileges()?;
    preflight::raise_memlock();
    let btf = layout::open_vmlinux(Path::new(layout::VMLINUX_BTF))?;
    let layout = layout::resolve(&btf)?;
    let syms = KernelSymbols::load()?;
    let probes = Probes::attach(
        &layout,
        args.attach,
        &syms,
        args.rules,
        &Selection::default(),
    )?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&probes.status)?);
    } else {
        println!("{:<14} {:<10} detail", "hook", "mode");
        for s in &probes.status {
            println!("{:<14} {:<10} {}", s.hook, s.mode, s.detail);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// One line on stderr once every hook is armed: scripts wait for it before starting a
/// workload, people see what they got.
fn announce(session: &LiveSession) {
    let modes: Vec<String> = session
        .hook_status()
        .iter()
        .map(|s| format!("{}={}", s.hook, s.mode))
        .collect();
    eprintln!(
        "notifier-top: ready on {} ({})",
        session.kernel_release,
        modes.join(" ")
    );
}

/// Starts a live session, runs `pipeline` until the end, writes the summary.
async fn capture(capture: &CaptureArgs, mut pipeline: Pipeline, rules: bool) -> Result<Pipeline> {
    let mut session = LiveSession::start(&capture.config(rules))?;
    announce(&session);
    let end = session.run(capture.duration, &mut pipeline).await?;
    let written = pipeline.finish()?;
    eprintln!(
        "notifier-top: {} events, {}{}",
        end.events,
        end.loss,
        written
            .map(|n| format!(", {n} recorded"))
            .unwrap_or_default()
    );
    if let Some(path) = &capture.summary_json {
        write_json(
            path,
            &pipeline.summary(&session.kernel_release, session.hook_status()),
        )?;
    }
    Ok(pipeline)
}

async fn trace(args: TraceArgs) -> Result<ExitCode> {
    let mut p = Pipeline::new(Pointers::new(args.capture.raw_pointers));
    p.trace = Some(if args.json {
        TraceFormat::Json
    } else {
        TraceFormat::Human
    });
    capture(&args.capture, p, false).await?;
    Ok(ExitCode::SUCCESS)
}

async fn record(args: RecordArgs) -> Result<ExitCode> {
    // Probe first so that a refusal (no privileges, no BPF) leaves no file behind.
    let mut session = LiveSession::start(&args.capture.config(false))?;
    let header = Header {
        tool_version: env!("CARGO_PKG_VERSION").into(),
        kernel: session.kernel_release.clone(),
        hostname: fs::read_to_string("/proc/sys/kernel/hostname")
            .unwrap_or_default()
            .trim()
            .into(),
        started_unix: unix_now(),
        event_size: EVENT_SIZE,
        attach: session.hook_status().to_vec(),
    };
    let mut p = Pipeline::new(Pointers::new(args.capture.raw_pointers));
    p.recording = Some(RecordingWriter::create(&args.output, &header)?);
    for sym in session.known_owners() {
        p.owner(&sym);
    }
    announce(&session);
    let end = session.run(args.capture.duration, &mut p).await?;
    let written = p.finish()?.unwrap_or(0);
    eprintln!(
        "notifier-top: {written} events recorded to {} ({})",
        args.output.display(),
        end.loss
    );
    if let Some(path) = &args.capture.summary_json {
        write_json(
            path,
            &p.summary(&session.kernel_release, session.hook_status()),
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

async fn top(args: CaptureArgs) -> Result<ExitCode> {
    let mut p = Pipeline::new(Pointers::new(args.raw_pointers));
    p.rules = Some(Engine::new(None, Thresholds::default()));
    let config = args.config(false);
    let mut session = LiveSession::start(&config)?;
    session.enable_cost_stats();
    for sym in session.known_owners() {
        p.owner(&sym);
    }
    let mut app = App::new(
        p,
        session.kernel_release.clone(),
        session.hook_status().to_vec(),
        "live".into(),
    );
    app.kernel_filter = config.selection.describe();
    let (app, end) = tui::run_live(&mut session, app).await?;
    eprintln!("notifier-top: {} events, {}", end.events, end.loss);
    if let Some(path) = &args.summary_json {
        write_json(
            path,
            &app.pipeline
                .summary(&session.kernel_release, session.hook_status()),
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

async fn replay(args: ReplayArgs, interactive: bool) -> Result<ExitCode> {
    let reader = RecordingReader::open(&args.file)
        .with_context(|| format!("opening {}", args.file.display()))?;
    let header = reader.header().clone();
    let mut p = Pipeline::new(Pointers::new(args.raw_pointers));
    p.rules = Some(Engine::new(None, Thresholds::default()));
    if args.trace {
        p.trace = Some(if args.json {
            TraceFormat::Json
        } else {
            TraceFormat::Human
        });
    }
    let complete = record::replay(reader, &mut p)
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
        tui::run_replay(App::new(
            p,
            header.kernel.clone(),
            header.attach.clone(),
            label,
        ))
        .await?;
    }
    Ok(ExitCode::SUCCESS)
}

async fn check(args: CheckArgs) -> Result<ExitCode> {
    if let Some(rule) = args.explain {
        let r = info(rule);
        println!(
            "{} {} ({:?})\n\n{}\n\nneeds hooks: {}",
            r.code,
            r.name,
            r.severity,
            r.explain,
            if r.needs.is_empty() {
                "capture only".to_owned()
            } else {
                r.needs.join(", ")
            }
        );
        return Ok(ExitCode::SUCCESS);
    }
    let enabled: HashSet<RuleId> = RULES
        .iter()
        .map(|r| r.id)
        .filter(|id| !args.disable.contains(id))
        .collect();
    let defaults = Thresholds::default();
    let thresholds = Thresholds {
        slow_callback_ns: args
            .slow_callback
            .map_or(defaults.slow_callback_ns, |d| d.as_nanos() as u64),
        read_begin_wait_ns: args
            .read_begin_wait
            .map_or(defaults.read_begin_wait_ns, |d| d.as_nanos() as u64),
        ..defaults
    };
    let mut p = Pipeline::new(Pointers::new(args.capture.raw_pointers));
    p.rules = Some(Engine::new(Some(&enabled), thresholds));
    let mut session = LiveSession::start(&args.capture.config(true))?;
    report_unavailable_rules(session.hook_status(), &enabled);
    announce(&session);
    session.run(args.capture.duration, &mut p).await?;
    p.finish()?;
    let summary = p.summary(&session.kernel_release, session.hook_status());
    if let Some(path) = &args.capture.summary_json {
        write_json(path, &summary)?;
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary.findings)?);
    } else {
        for f in &summary.findings {
            let iv = f
                .finding
                .interval
                .map(|(s, l)| format!(" 0x{s:x}-0x{l:x}"))
                .unwrap_or_default();
            println!(
                "{} {:?} {} — {} (pid {}) owner {}{} ×{}: {}",
                f.finding.code,
                f.finding.severity,
                f.finding.name,
                f.finding.comm,
                f.finding.tgid,
                f.owner_name,
                iv,
                f.finding.count,
                f.finding.detail
            );
            for frames in &f.stack_frames {
                for fr in frames {
                    println!("    {fr}");
                }
            }
        }
        eprintln!("notifier-top check: {} finding(s)", summary.findings.len());
    }
    Ok(if summary.findings.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Walks the kernel's trees once and writes what each process has registered.
fn snapshot(args: SnapshotArgs) -> Result<ExitCode> {
    let selection = args.filter.selection();
    let config = Config {
        attach: args.attach,
        selection: selection.clone(),
        ..Config::default()
    };
    let mut session = LiveSession::start(&config)?;
    // Without the walk a snapshot would be empty, not a snapshot.
    if let Some(walk) = session
        .hook_status()
        .iter()
        .find(|s| s.hook == "bootstrap" && s.mode == "missing")
    {
        bail!(
            "snapshots need the start-up walk, which this kernel cannot run: {}",
            walk.detail
        );
    }
    let mut p = Pipeline::new(Pointers::new(args.raw_pointers));
    for sym in session.known_owners() {
        p.owner(&sym);
    }
    // The start-up walk has put every existing interval in the ring buffer: drain it.
    let end = session.finish(&mut p)?;
    p.finish()?;
    let snap = p.snapshot(
        Meta {
            kernel: session.kernel_release.clone(),
            taken_unix: unix_now(),
            filter: selection.describe(),
        },
        None,
    );
    let intervals: usize = snap.processes.iter().map(|p| p.intervals.len()).sum();
    match (&args.output, args.format) {
        (None, SnapshotFormat::Json) => {
            println!("{}", serde_json::to_string_pretty(&snap)?);
        }
        (None, SnapshotFormat::Csv) => snapshot::write_csv(&snap, std::io::stdout().lock())?,
        (Some(path), SnapshotFormat::Json) => write_json(path, &snap)?,
        (Some(path), SnapshotFormat::Csv) => {
            write_atomically(path, |w| snapshot::write_csv(&snap, w))?
        }
    }
    eprintln!(
        "notifier-top snapshot: {} processes, {intervals} intervals{}",
        snap.processes.len(),
        if end.loss.any() {
            format!(" — {}: the snapshot may be incomplete", end.loss)
        } else {
            String::new()
        }
    );
    Ok(ExitCode::SUCCESS)
}

/// Rules whose hooks did not attach are reported, not silently skipped.
fn report_unavailable_rules(status: &[HookStatus], enabled: &HashSet<RuleId>) {
    for r in RULES.iter().filter(|r| enabled.contains(&r.id)) {
        for need in r.needs {
            if let Some(s) = status
                .iter()
                .find(|s| s.hook == *need && s.mode == "missing")
            {
                eprintln!(
                    "notifier-top check: {} {} unavailable: hook {} missing ({})",
                    r.code, r.name, s.hook, s.detail
                );
            }
        }
    }
}

/// Writes JSON to `path` atomically (temp file + rename), or to stdout for `-`.
fn write_json(path: &Path, value: &impl serde::Serialize) -> Result<()> {
    if path.as_os_str() == "-" {
        println!("{}", serde_json::to_string_pretty(value)?);
        return Ok(());
    }
    write_atomically(path, |w| {
        serde_json::to_writer_pretty(&mut *w, value)?;
        writeln!(w)?;
        Ok(())
    })
}
