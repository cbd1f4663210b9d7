//! `cargo xtask`: the project's own set-up, kernel matrix, VM runner and test driver.

use std::{path::PathBuf, process::ExitCode, time::Duration};

use anyhow::{Context as _, Result};
use clap::{Parser, Subcommand};

mod apt;
mod bench;
mod cmd;
mod dist;
mod fixtures;
mod hmm;
mod initramfs;
mod kernels;
mod oracle;
mod paths;
mod setup;
mod suite;
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
    /// bpf-linker, the musl target). Idempotent.
    Setup {
        /// Only what building notifier-top needs (the pinned nightly with rust-src, and
        /// bpf-linker): no apt, no root. Then `cargo install --locked --path notifier-user`.
        #[arg(long)]
        build_only: bool,
    },
    /// The release files in target/dist/: the static binary (musl), man pages, shell
    /// completions, licences and a Debian package (checked by lintian), with .sha256 files.
    Dist,
    /// Fetch and unpack the matrix kernels (image, modules, headers) into the cache, or
    /// build one from source (7.3-lockdep: about 15 minutes on 2 cores).
    Kernels {
        /// One kernel (6.1, 6.12, 7.3, 7.3-lockdep); default Debian's three.
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
        /// Give the command this terminal (for interactive programs such as the TUI);
        /// the console is then not logged, and there is no timeout: the session lasts as
        /// long as the command.
        #[arg(long)]
        tty: bool,
        /// Guest time counts instructions, 1 ns each (QEMU's -icount): what the cost
        /// benchmark measures with.
        #[arg(long)]
        instruction_clock: bool,
        #[arg(trailing_var_arg = true, required = true)]
        command: Vec<String>,
    },
    /// The main job, on any Linux machine with QEMU: notifier-top tracing a real workload
    /// (rxe ODP, the fixture driver) on a real Debian kernel in the VM.
    ///
    /// On a terminal it opens the interactive view on the live workload (q quits);
    /// otherwise, or with --headless, it prints the trace and the final mirror.
    Demo {
        #[arg(long, default_value = "7.3")]
        kernel: String,
        /// The scriptable variant: trace and final mirror on stdout, no TUI.
        #[arg(long)]
        headless: bool,
    },
    /// Clippy, unit tests, `dist` (the VM suite unpacks its .deb), then the VM test suites
    /// (tests/vm/scenarios) on every kernel of the matrix.
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
    /// Lockdep as the oracle of the hazard rules: every fixture misbehaviour, clean
    /// traffic, rxe ODP and hmm-tests under `notifier-top check`, one boot each on the
    /// lockdep kernel (built on first use: about 15 minutes) and one boot for all on the
    /// production kernel; prints scenario × lockdep × notifier-top, fails on disagreement.
    Oracle {
        /// The debug kernel whose lockdep is the oracle.
        #[arg(long, default_value = "7.3-lockdep")]
        kernel: String,
        /// The production kernel notifier-top must agree on too.
        #[arg(long, default_value = "7.3")]
        production: String,
        /// Only the scenarios whose name contains this.
        #[arg(long)]
        filter: Option<String>,
        /// Judge the runs the last oracle left in target/oracle again, booting nothing.
        #[arg(long)]
        reuse: bool,
    },
    /// The measurements: host benchmarks (cargo bench), then the VM benchmark scenarios
    /// (tests/vm/bench) on every kernel of the matrix; prints their figures.
    Bench {
        #[arg(long)]
        kernel: Vec<String>,
        /// Only the benchmarks whose name contains this.
        #[arg(long)]
        filter: Option<String>,
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
        kernels::default_ids()
    } else {
        kernels.to_vec()
    }
}

fn run(task: Task) -> Result<ExitCode> {
    match task {
        Task::Setup { build_only } => setup::run(if build_only {
            setup::Scope::Build
        } else {
            setup::Scope::Full
        })?,
        Task::Dist => dist::run()?,
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
                hmm::fixtures(&k)?;
            }
        }
        Task::Vm {
            kernel,
            timeout,
            out,
            tty,
            instruction_clock,
            command,
        } => {
            let terminal = if tty {
                Some(
                    vm::Terminal::of_stdio()
                        .context("--tty needs a terminal on stdin and stdout")?,
                )
            } else {
                None
            };
            let opts = vm::Options {
                kernel,
                timeout: Duration::from_secs(timeout),
                out,
                echo: true,
                terminal,
                clock: if instruction_clock {
                    vm::Clock::Instructions
                } else {
                    vm::Clock::Wall
                },
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
        Task::Demo { kernel, headless } => {
            setup::run(setup::Scope::Full)?;
            test::build_release()?;
            fixtures::tools()?;
            let k = kernels::prepare(&kernel)?;
            fixtures::module(&k)?;
            hmm::fixtures(&k)?;
            let terminal = if headless {
                None
            } else {
                vm::Terminal::of_stdio()
            };
            let mode = if terminal.is_some() {
                "tui"
            } else {
                "headless"
            };
            if terminal.is_some() {
                eprintln!(
                    "xtask demo: booting Debian's {kernel} kernel under QEMU (about a minute), then \
                     notifier-top's interactive view on a live workload: ? lists the keys, q quits"
                );
            }
            let opts = vm::Options {
                kernel,
                // Headless only: on a terminal the demo lasts as long as the user watches.
                timeout: Duration::from_secs(600),
                out: None,
                echo: true,
                terminal,
                clock: vm::Clock::Wall,
            };
            let demo = paths::project_root().join("vm/guest/demo.sh");
            let argv = ["sh".to_owned(), demo.display().to_string(), mode.to_owned()];
            let outcome = vm::run(&opts, &argv)?;
            return Ok(ExitCode::from(outcome.status.clamp(0, 255) as u8));
        }
        Task::Test {
            kernel,
            filter,
            vm_only,
        } => {
            setup::run(setup::Scope::Full)?;
            return test::run(&ids(&kernel), filter.as_deref(), vm_only);
        }
        Task::Oracle {
            kernel,
            production,
            filter,
            reuse,
        } => {
            if !reuse {
                setup::run(setup::Scope::Full)?;
            }
            return oracle::run(&kernel, &production, filter.as_deref(), reuse);
        }
        Task::Bench { kernel, filter } => {
            setup::run(setup::Scope::Full)?;
            return bench::run(&ids(&kernel), filter.as_deref());
        }
    }
    Ok(ExitCode::SUCCESS)
}
