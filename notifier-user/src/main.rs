//! `notifier-top`: parses the command line, sets up logging, runs the command.

use std::process::ExitCode;

use clap::Parser;

mod cli;
mod commands;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let level = match cli.verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    // Debug output carries times, so a slow start-up or exit shows where it spends them.
    let stamps = (cli.verbose >= 2).then_some(env_logger::TimestampPrecision::Millis);
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(level))
        .format_timestamp(stamps)
        .init();
    match commands::run(cli) {
        Ok(code) => code,
        // The reader went away (`trace | head`): nobody is left to tell.
        Err(e) if closed_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("notifier-top: error: {e:#}");
            ExitCode::from(commands::COULD_NOT_RUN)
        }
    }
}

fn closed_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
