//! `notifier-top`: parses the command line, sets up logging, runs the command.

use std::process::ExitCode;

use clap::Parser;
use notifier_user::export::escape::Escaped;

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
    let stamps = cli.verbose >= 2;
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(level))
        // Log records quote symbol names, kernel errors and file names: escaped, like
        // every other output (export::escape).
        .format(move |buf, record| {
            use std::io::Write as _;
            if stamps {
                write!(buf, "[{} ", buf.timestamp_millis())?;
            } else {
                write!(buf, "[")?;
            }
            writeln!(
                buf,
                "{:<5} {}] {}",
                record.level(),
                record.target(),
                Escaped::text(&record.args().to_string())
            )
        })
        .init();
    match commands::run(cli) {
        Ok(code) => code,
        // The reader went away (`trace | head`): nobody is left to tell.
        Err(e) if closed_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            // The chain names files and quotes the kernel and recordings.
            eprintln!("notifier-top: error: {}", Escaped::text(&format!("{e:#}")));
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
