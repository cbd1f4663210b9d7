//! One kernel's VM suite, shared by `cargo xtask test` (tests/vm/scenarios) and `cargo xtask
//! bench` (tests/vm/bench): tests/vm/suite.sh runs a folder's scenarios, each under its own
//! time limit, and prints one `NT-SCENARIO <name> <pass|fail|skip> <detail>` line per
//! scenario. One boot per guest clock the selected scenarios ask for (`# clock:
//! instructions`; wall otherwise).

use std::{
    fs,
    path::Path,
    process::ExitCode,
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result};

use crate::{cmd, fixtures, hmm, kernels, paths, vm};

#[derive(Default, Clone, Copy)]
pub struct Tally {
    pub passed: u32,
    pub failed: u32,
    pub skipped: u32,
}

impl Tally {
    pub fn add(&mut self, o: Tally) {
        self.passed += o.passed;
        self.failed += o.failed;
        self.skipped += o.skipped;
    }

    pub fn line(&self) -> String {
        format!(
            "{} passed, {} failed, {} skipped",
            self.passed, self.failed, self.skipped
        )
    }

    /// The run's last line, which CI and people grep for: exactly `N passed, M failed`.
    pub fn verdict(&self) -> String {
        format!("{} passed, {} failed", self.passed, self.failed)
    }
}

/// A whole suite (one boot) may not take longer than this (scenarios have their own limits;
/// 7.3's wall-clock suite took 730 s on the slowest host seen).
const SUITE_TIMEOUT: Duration = Duration::from_secs(2400);

/// A scenario file of a suite folder, as suite.sh selects it.
pub struct Scenario {
    pub name: String,
    pub clock: vm::Clock,
}

/// The scenarios of `dir` (relative to the project root) whose name contains the filter, in
/// name order (suite.sh selects the same way).
pub fn selected(dir: &str, filter: Option<&str>) -> Result<Vec<Scenario>> {
    let dir = paths::project_root().join(dir);
    let mut found = Vec::new();
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
        let clock = match wants {
            "wall" => vm::Clock::Wall,
            "instructions" => vm::Clock::Instructions,
            other => anyhow::bail!("{}: unknown `# clock: {other}`", path.display()),
        };
        found.push(Scenario {
            name: name.into_owned(),
            clock,
        });
    }
    found.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(found)
}

/// Kernel `id`'s suite of the scenarios of `dir` the filter selects: builds its fixture
/// module, empties its $VM_OUT (artifacts of earlier runs would be mistaken for this run's),
/// boots once per guest clock the scenarios ask for, and tallies the verdict lines. A
/// fixture that does not build, or a boot that dies, is one failure with the reason.
/// Returns the tally and the kernel's release.
pub fn run_kernel(id: &str, dir: &str, filter: Option<&str>) -> Result<(Tally, String)> {
    let mut tally = Tally::default();
    let scenarios = selected(dir, filter)?;
    let k = kernels::prepare(id)?;
    if let Err(e) = fixtures::module(&k) {
        println!("NT-SCENARIO fixture-build fail {e:#}");
        tally.failed += 1;
    }
    if let Err(e) = hmm::fixtures(&k) {
        println!("NT-SCENARIO test_hmm-build fail {e:#}");
        tally.failed += 1;
    }
    empty_dir(&vm::default_out(k.id))?;
    for clock in [vm::Clock::Wall, vm::Clock::Instructions] {
        if !scenarios.iter().any(|s| s.clock == clock) {
            continue;
        }
        let mut argv = vec![
            "sh".to_owned(),
            "tests/vm/suite.sh".to_owned(),
            k.release.clone(),
            clock.name().to_owned(),
            dir.to_owned(),
        ];
        argv.extend(filter.map(str::to_owned));
        let opts = vm::Options {
            kernel: id.to_owned(),
            timeout: SUITE_TIMEOUT,
            out: None,
            echo: true,
            terminal: None,
            clock,
        };
        cmd::step(&format!(
            "VM suite {dir} on kernel {id} ({}), {} clock",
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
    Ok((tally, k.release))
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

/// A run's results as they come (one line per part) and its closing lines.
pub struct Report {
    started: Instant,
    lines: Vec<String>,
    total: Tally,
}

impl Report {
    pub fn new() -> Report {
        Report {
            started: Instant::now(),
            lines: Vec::new(),
            total: Tally::default(),
        }
    }

    /// One part's tally, with how long it took when `since` is given.
    pub fn add(&mut self, what: &str, tally: Tally, since: Option<Instant>) {
        let took = since.map_or_else(String::new, |t| {
            format!(" in {:.0}s", t.elapsed().as_secs_f64())
        });
        self.lines.push(format!("{what}: {}{took}", tally.line()));
        self.total.add(tally);
    }

    /// The closing lines: one per part, the total, and the verdict CI reads (`N passed, M
    /// failed`); success unless something failed.
    pub fn finish(self) -> ExitCode {
        println!();
        for l in &self.lines {
            println!("{l}");
        }
        println!(
            "total: {} in {:.0}s",
            self.total.line(),
            self.started.elapsed().as_secs_f64()
        );
        println!("{}", self.total.verdict());
        if self.total.failed == 0 {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        }
    }
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

    /// `cargo xtask test` boots no instruction-clock VM: the scenarios that measure with it
    /// are benchmarks.
    #[test]
    fn tests_wall_clock_benches_apart() {
        let tests = selected("tests/vm/scenarios", None).unwrap();
        assert!(tests.iter().all(|s| s.clock == vm::Clock::Wall));
        assert!(tests.iter().any(|s| s.name == "70-attach"));
        let bench = selected("tests/vm/bench", None).unwrap();
        assert!(
            bench
                .iter()
                .any(|s| s.name == "60-cost" && s.clock == vm::Clock::Instructions)
        );
        assert!(selected("tests/vm/bench", Some("cost")).unwrap().len() >= 2);
    }
}
