//! `generate` (hidden): the man pages and shell completions, derived from the CLI's own
//! definition so that they cannot fall behind it. `cargo xtask dist` packages what it writes.

use std::{fs, path::Path, process::ExitCode};

use anyhow::{Context as _, Result};
use clap::CommandFactory as _;
use clap_complete::Shell;

use crate::cli::{Cli, GenerateArgs, Generated, VERSION};

pub fn run(args: GenerateArgs) -> Result<ExitCode> {
    let dir = &args.out;
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    match args.what {
        Generated::Man => man_pages(dir)?,
        Generated::CompleteBash => completion(Shell::Bash, dir)?,
        Generated::CompleteZsh => completion(Shell::Zsh, dir)?,
        Generated::CompleteFish => completion(Shell::Fish, dir)?,
    }
    Ok(ExitCode::SUCCESS)
}

/// A page for the command and one per visible subcommand, notifier-top-<sub>.1 (hidden ones,
/// and clap's `help`, get none), each footed with the tool's name and version (clap_mangen's
/// default would name the subcommand there).
fn man_pages(dir: &Path) -> Result<()> {
    let mut cli = Cli::command().disable_help_subcommand(true);
    // Built, each subcommand's display name is its page's: notifier-top-<sub>.
    cli.build();
    let source = format!("{} {}", cli.get_name(), VERSION.as_str());
    let pages = std::iter::once(&cli).chain(cli.get_subcommands().filter(|s| !s.is_hide_set()));
    for page in pages {
        clap_mangen::Man::new(page.clone())
            .source(source.clone())
            .generate_to(dir)
            .with_context(|| format!("writing man pages to {}", dir.display()))?;
    }
    Ok(())
}

/// The completion file clap_complete names for `shell` (notifier-top.bash, _notifier-top,
/// notifier-top.fish).
fn completion(shell: Shell, dir: &Path) -> Result<()> {
    clap_complete::generate_to(shell, &mut visible(), env!("CARGO_BIN_NAME"), dir)
        .with_context(|| format!("writing the {shell} completion to {}", dir.display()))?;
    Ok(())
}

/// The command as completions should offer it. clap_complete completes hidden subcommands
/// too (clap-rs/clap#1335) and a clap `Command` cannot drop one, so the root is put together
/// again from the CLI's own arguments and visible subcommands: nothing restated, nothing to
/// fall behind.
fn visible() -> clap::Command {
    let cli = Cli::command();
    let shown: Vec<clap::Command> = cli
        .get_subcommands()
        .filter(|s| !s.is_hide_set())
        .cloned()
        .collect();
    clap::Command::new(env!("CARGO_BIN_NAME"))
        .version(VERSION.as_str())
        .propagate_version(true)
        .args(cli.get_arguments().cloned())
        .subcommands(shown)
}
