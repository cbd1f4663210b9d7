//! `cargo xtask bench`: what measures, apart from what asserts (`cargo xtask test`). The host
//! benchmarks (`cargo bench -p notifier-user`: benches/ingest.rs, benches/tui_render.rs),
//! then each kernel's VM suite of tests/vm/bench (see `suite`), after which every bench
//! scenario's log — its figures — is printed, and the cost benchmark's
//! `target/vm/<kernel>/out/cost.txt`. A benchmark fails only when it could not measure (or a
//! property it measures, such as "a filter lowers the overhead", does not hold).

use std::{
    fs,
    process::{Command, ExitCode},
    time::Instant,
};

use anyhow::{Context as _, Result};

use crate::{
    cmd, fixtures,
    suite::{self, Report, Tally},
    test, vm,
};

/// The folder of the VM benchmark scenarios.
pub const BENCHES: &str = "tests/vm/bench";

/// notifier-user's `[[bench]]` targets (harness = false: each prints its figures).
const HOST_BENCHES: [&str; 2] = ["ingest", "tui_render"];

pub fn run(kernels: &[String], filter: Option<&str>) -> Result<ExitCode> {
    let mut report = Report::new();
    for bench in HOST_BENCHES
        .iter()
        .filter(|b| filter.is_none_or(|f| b.contains(f)))
    {
        let line = format!("cargo bench -p notifier-user --bench {bench}");
        cmd::step(&line);
        let t0 = Instant::now();
        let ok = Command::new("cargo")
            .args(["bench", "-p", "notifier-user", "--bench", bench])
            .env("PATH", test::path_with_linker()?)
            .status()
            .with_context(|| format!("running {line}"))?
            .success();
        let mut t = Tally::default();
        if ok {
            t.passed += 1;
        } else {
            t.failed += 1;
        }
        report.add(&format!("host bench {bench}"), t, Some(t0));
    }
    let scenarios = suite::selected(BENCHES, filter)?;
    if !scenarios.is_empty() {
        test::build_release()?;
        if let Err(e) = fixtures::tools() {
            eprintln!("fixture tools failed to build: {e:#}");
        }
    }
    for id in kernels.iter().filter(|_| !scenarios.is_empty()) {
        let t0 = Instant::now();
        let (tally, release) = suite::run_kernel(id, BENCHES, filter)?;
        let out = vm::default_out(id);
        for s in &scenarios {
            let log = out.join(format!("{}.log", s.name));
            if let Ok(text) = fs::read_to_string(&log) {
                println!("\n== {} on kernel {id} ({release}) ==", s.name);
                print!("{text}");
            }
        }
        let cost = out.join("cost.txt");
        if let Ok(text) = fs::read_to_string(&cost) {
            println!("\n== {} ==", cost.display());
            print!("{text}");
        }
        report.add(&format!("kernel {id} ({release})"), tally, Some(t0));
    }
    Ok(report.finish())
}
