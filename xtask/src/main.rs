//! `cargo xtask`: the project's own set-up, kernel matrix, VM runner and test driver.

use std::{path::PathBuf, process::ExitCode, time::Duration};

use anyhow::Result;
use clap::{Parser, Subcommand};

mod apt;
mod cmd;
mod fixtures;
mod initramfs;
mod kernels;
mod paths;
mod setup;
mod test;
mod vm;

#[derive(Parser)]
#[command(about = "notifier-top development tasks")]
struct Cli {
    #[command(subcommand)]
    command: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Install what a fresh Debian 12 machine needs (apt packages, nightly rust-src,
    /// bpf-linker). Idempotent.
    Setup,
    /// Fetch and unpack the matrix kernels (image, modules, headers) into the cache.
    Kernels {
        /// One kernel (6.1, 6.12, 7.3); default all.
        #[arg(long)]
        kernel: Vec<String>,
    },
    /// Build the fixture module for each kernel, and the fixture tools.
    Fixtures {
        #[arg(long)]
        kernel: Vec<String>,
    },
    /// Run a command as root in a VM on a matrix kernel; exits with its status.
    Vm {
        #[arg(long, default_value = "7.3")]
        kernel: String,
        /// Seconds before the VM is killed.
        #[arg(long, default_value_t = 600)]
        timeout: u64,
        /// Host folder the guest sees as $VM_OUT.
        #[arg(long)]
        out: Option<PathBuf>,
        #[arg(trailing_var_arg = true, required = true)]
        command: Vec<String>,
    },
    /// The main job, on any Linux machine with QEMU: notifier-top tracing a real workload
    /// (rxe ODP, the fixture driver) on a real Debian kernel in the VM.
    Demo {
        #[arg(long, default_value = "7.3")]
        kernel: String,
    },
    /// Unit tests, then the VM suites on every kernel of the matrix.
    Test {
        #[arg(long)]
        kernel: Vec<String>,
        /// Only the scenarios whose name contains this.
        #[arg(long)]
        filter: Option<String>,
        /// Skip the host unit tests.
        #[arg(long)]
        vm_only: bool,
    },
}

fn main() -> ExitCode {
    match run(Cli::parse().command) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("xtask: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn ids(kernels: &[String]) -> Vec<String> {
    if kernels.is_empty() {
        kernels::MATRIX.iter().map(|s| s.id.to_owned()).collect()
    } else {
        kernels.to_vec()
    }
}

fn run(task: Task) -> Result<ExitCode> {
    match task {
        Task::Setup => setup::run()?,
        Task::Kernels { kernel } => {
            for id in ids(&kernel) {
                let k = kernels::prepare(&id)?;
                let note = kernels::spec(&id)?.note;
                println!("{}\t{}\t{}\t{note}", k.id, k.release, k.root.display());
            }
        }
        Task::Fixtures { kernel } => {
            fixtures::tools()?;
            for id in ids(&kernel) {
                let k = kernels::prepare(&id)?;
                if let Some(ko) = fixtures::module(&k)? {
                    println!("{}\t{}", k.id, ko.display());
                }
            }
        }
        Task::Vm {
            kernel,
            timeout,
            out,
            command,
        } => {
            let opts = vm::Options {
                kernel,
                timeout: Duration::from_secs(timeout),
                out,
                echo: true,
            };
            let outcome = vm::run(&opts, &command)?;
            eprintln!(
                "xtask vm: exit {} after {:.1}s (console: {})",
                outcome.status,
                outcome.elapsed.as_secs_f64(),
                outcome.console_log.display()
            );
            return Ok(ExitCode::from(outcome.status.clamp(0, 255) as u8));
        }
        Task::Demo { kernel } => {
            setup::run()?;
            test::build_release()?;
            fixtures::tools()?;
            fixtures::module(&kernels::prepare(&kernel)?)?;
            let opts = vm::Options {
                kernel,
                timeout: Duration::from_secs(600),
                out: None,
                echo: true,
            };
            let demo = paths::project_root().join("vm/guest/demo.sh");
            let outcome = vm::run(&opts, &["sh".to_owned(), demo.display().to_string()])?;
            return Ok(ExitCode::from(outcome.status.clamp(0, 255) as u8));
        }
        Task::Test {
            kernel,
            filter,
            vm_only,
        } => {
            setup::run()?;
            return test::run(&ids(&kernel), filter.as_deref(), vm_only);
        }
    }
    Ok(ExitCode::SUCCESS)
}
