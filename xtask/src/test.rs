//! `cargo xtask test`: host unit tests, then each kernel's VM suite (tests/vm/suite.sh runs
//! the scenarios of tests/vm/scenarios, each under its own time limit, and prints one
//! `NT-SCENARIO <name> <pass|fail|skip> <detail>` line per scenario). One boot per kernel
//! and guest clock: scenarios that measure cost ask for the instruction clock
//! (`# clock: instructions`) and share a second boot.

use std::{
    fs,
    io::{BufRead as _, BufReader},
    path::Path,
    process::{Command, ExitCode, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result};

use crate::{cmd, fixtures, kernels, paths, vm};

#[derive(Default, Clone, Copy)]
struct Tally {
    passed: u32,
    failed: u32,
    skipped: u32,
}

impl Tally {
    fn add(&mut self, o: Tally) {
        self.passed += o.passed;
        self.failed += o.failed;
        self.skipped += o.skipped;
    }

    fn line(&self) -> String {
        format!(
            "{} passed, {} failed, {} skipped",
            self.passed, self.failed, self.skipped
        )
    }

    /// The run's last line, which CI and people grep for: exactly `N passed, M failed`.
    fn verdict(&self) -> String {
        format!("{} passed, {} failed", self.passed, self.failed)
    }
}

/// A whole suite (one boot) may not take longer than this (scenarios have their own limits;
/// 7.3's wall-clock suite took 730 s on the slowest host seen).
const SUITE_TIMEOUT: Duration = Duration::from_secs(2400);

pub fn run(kernels: &[String], filter: Option<&str>, vm_only: bool) -> Result<ExitCode> {
    let started = Instant::now();
    let mut lines = Vec::new();
    let mut total = Tally::default();
    if !vm_only {
        let unit = unit_tests()?;
        lines.push(format!("unit tests: {}", unit.line()));
        total.add(unit);
    }
    build_release()?;
    let tools = fixtures::tools();
    if let Err(e) = &tools {
        eprintln!("fixture tools failed to build: {e:#}");
    }
    for id in kernels {
        let t0 = Instant::now();
        let mut tally = Tally::default();
        let k = kernels::prepare(id)?;
        if let Err(e) = fixtures::module(&k) {
            println!("NT-SCENARIO fixture-build fail {e:#}");
            tally.failed += 1;
        }
        // Artifacts of earlier runs would be mistaken for this run's.
        empty_dir(&vm::default_out(k.id))?;
        for clock in [vm::Clock::Wall, vm::Clock::Instructions] {
            if !scenarios(clock, filter)? {
                continue;
            }
            let mut argv = vec![
                "sh".to_owned(),
                "tests/vm/suite.sh".to_owned(),
                k.release.clone(),
                clock.name().to_owned(),
            ];
            argv.extend(filter.map(str::to_owned));
            let opts = vm::Options {
                kernel: id.clone(),
                timeout: SUITE_TIMEOUT,
                out: None,
                echo: true,
                terminal: None,
                clock,
            };
            cmd::step(&format!(
                "VM suite on kernel {id} ({}), {} clock",
                k.release,
                clock.name()
            ));
            match vm::run(&opts, &argv) {
                Ok(outcome) => {
                    let t = scenario_tally(&outcome.output);
                    tally.add(t);
                    if outcome.status != 0 && t.failed == 0 {
                        tally.failed += 1;
                        println!("NT-SCENARIO suite fail exited {}", outcome.status);
                    }
                }
                Err(e) => {
                    println!("NT-SCENARIO suite fail {e:#}");
                    tally.failed += 1;
                }
            }
        }
        lines.push(format!(
            "kernel {id} ({}): {} in {:.0}s",
            k.release,
            tally.line(),
            t0.elapsed().as_secs_f64()
        ));
        total.add(tally);
    }
    println!();
    for l in &lines {
        println!("{l}");
    }
    println!(
        "total: {} in {:.0}s",
        total.line(),
        started.elapsed().as_secs_f64()
    );
    println!("{}", total.verdict());
    Ok(if total.failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Whether any scenario the filter selects runs under `clock` (suite.sh selects the same way).
fn scenarios(clock: vm::Clock, filter: Option<&str>) -> Result<bool> {
    let dir = paths::project_root().join("tests/vm/scenarios");
    for entry in fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        let name = path.file_stem().unwrap_or_default().to_string_lossy();
        if path.extension().is_none_or(|e| e != "sh") || !filter.is_none_or(|f| name.contains(f)) {
            continue;
        }
        let text =
            fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        let wants = text
            .lines()
            .find_map(|l| l.strip_prefix("# clock:"))
            .map_or(vm::Clock::Wall.name(), str::trim);
        if wants == clock.name() {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Removes `dir` and what it holds (`vm::run` creates it again).
fn empty_dir(dir: &Path) -> Result<()> {
    match fs::remove_dir_all(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(e).with_context(|| format!("removing {}", dir.display()))
        }
        _ => Ok(()),
    }
}

/// The release binary the guest runs.
pub fn build_release() -> Result<()> {
    cmd::step("cargo build --release -p notifier-user");
    cmd::run(
        Command::new("cargo")
            .args(["build", "--release", "-p", "notifier-user"])
            .env("PATH", path_with_linker()?),
    )
}

fn scenario_tally(output: &str) -> Tally {
    let mut t = Tally::default();
    for line in output.lines() {
        let mut w = line.split_whitespace();
        if w.next() != Some("NT-SCENARIO") {
            continue;
        }
        match w.nth(1) {
            Some("pass") => t.passed += 1,
            Some("fail") => t.failed += 1,
            Some("skip") => t.skipped += 1,
            _ => {}
        }
    }
    t
}

fn path_with_linker() -> Result<String> {
    let path = std::env::var("PATH").unwrap_or_default();
    Ok(format!("{}:{path}", paths::bpf_linker_bin()?.display()))
}

/// `cargo test` on every host crate (the eBPF crate only builds for BPF), streamed, with
/// its per-binary result lines summed.
fn unit_tests() -> Result<Tally> {
    cmd::step("cargo test --workspace --exclude notifier-ebpf");
    let mut child = Command::new("cargo")
        .args(["test", "--workspace", "--exclude", "notifier-ebpf"])
        .env("PATH", path_with_linker()?)
        .stdout(Stdio::piped())
        .spawn()
        .context("running cargo test")?;
    let mut t = Tally::default();
    for line in BufReader::new(child.stdout.take().context("stdout")?).lines() {
        let line = line?;
        println!("{line}");
        if let Some(rest) = line.strip_prefix("test result: ") {
            for part in rest.split(';') {
                let mut w = part
                    .split_whitespace()
                    .filter(|w| *w != "ok." && *w != "FAILED.");
                if let (Some(n), Some(what)) = (w.next(), w.next()) {
                    let n: u32 = n.parse().unwrap_or(0);
                    match what {
                        "passed" => t.passed += n,
                        "failed" => t.failed += n,
                        "ignored" => t.skipped += n,
                        _ => {}
                    }
                }
            }
        }
    }
    if !child.wait()?.success() && t.failed == 0 {
        t.failed += 1; // did not build, or a test binary crashed
    }
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_scenario_verdicts() {
        let out =
            "noise\nNT-SCENARIO boot pass\nNT-SCENARIO rxe skip no ODP\nNT-SCENARIO x fail why\n";
        let t = scenario_tally(out);
        assert_eq!((t.passed, t.failed, t.skipped), (1, 1, 1));
    }
}
