use std::process::ExitCode;

use anyhow::Result;
use clap::Parser;
use notifier_user::{
    probe::{HookStatus, Probes, layout, preflight},
    session::LiveSession,
    symbols::KernelSymbols,
};

mod cli;

use cli::{Cli, Command, ProbesArgs, TraceArgs};

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
    match cli.command.unwrap_or(Command::Trace(TraceArgs::default())) {
        Command::Probes(args) => probes(args),
        Command::Trace(args) => rt.block_on(trace(args)),
        Command::Record(_) | Command::Replay(_) => anyhow::bail!("not wired yet"),
    }
}

fn probes(args: ProbesArgs) -> Result<ExitCode> {
    preflight::require_privileges()?;
    preflight::raise_memlock();
    let btf = layout::open_vmlinux(std::path::Path::new(layout::VMLINUX_BTF))?;
    let layout = layout::resolve(&btf)?;
    let syms = KernelSymbols::load()?;
    let probes = Probes::attach(&layout, args.attach, &syms, args.rules)?;
    print_status(&probes.status, args.json)?;
    Ok(ExitCode::SUCCESS)
}

fn print_status(status: &[HookStatus], json: bool) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(status)?);
    } else {
        println!("{:<12} {:<8} detail", "hook", "mode");
        for s in status {
            println!("{:<12} {:<8} {}", s.hook, s.mode, s.detail);
        }
    }
    Ok(())
}

async fn trace(args: TraceArgs) -> Result<ExitCode> {
    let mut session = LiveSession::start(args.capture.attach, false)?;
    announce(&session);
    let end = session
        .run(
            args.capture.duration,
            |ev| println!("{ev:?}"),
            |sym| eprintln!("owner {}", sym.display()),
        )
        .await?;
    eprintln!("{} events, {} lost", end.events, end.dropped);
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
