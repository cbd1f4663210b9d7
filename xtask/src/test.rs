//! `cargo xtask test`: clippy (host crates and the eBPF crate), host unit tests, `dist` (the
//! package the VM suite unpacks), then each kernel's VM suite of tests/vm/scenarios (see
//! `suite`), then the recordings those scenarios made read back as Perfetto traces.
//! Measurements are `cargo xtask bench`'s.

use std::{
    env, fs,
    io::{BufRead as _, BufReader},
    path::{Path, PathBuf},
    process::{Command, ExitCode, Stdio},
    time::Instant,
};

use anyhow::{Context as _, Result};

use crate::{
    cmd, dist, fixtures, paths,
    suite::{self, Report, Tally},
    vm,
};

/// The folder of the VM test scenarios.
pub const SCENARIOS: &str = "tests/vm/scenarios";

pub fn run(kernels: &[String], filter: Option<&str>, vm_only: bool) -> Result<ExitCode> {
    let mut report = Report::new();
    if !vm_only {
        let lint = clippy()?;
        report.add("clippy", lint, None);
        let unit = unit_tests()?;
        report.add("unit tests", unit, None);
    }
    build_release()?;
    report.add("dist", packaged(), None);
    let tools = fixtures::tools();
    if let Err(e) = &tools {
        eprintln!("fixture tools failed to build: {e:#}");
    }
    for id in kernels {
        let t0 = Instant::now();
        let (tally, release) = suite::run_kernel(id, SCENARIOS, filter)?;
        report.add(&format!("kernel {id} ({release})"), tally, Some(t0));
    }
    let t0 = Instant::now();
    report.add("perfetto read-back", perfetto_read_back(kernels)?, Some(t0));
    Ok(report.finish())
}

/// Every recording the kernels' scenarios left in their `$VM_OUT` (a killed recorder's cut
/// file among them), exported and read back with Perfetto's own classes by
/// notifier-user/tests/perfetto.rs: one test of the tally, skipped when the run made none.
fn perfetto_read_back(kernels: &[String]) -> Result<Tally> {
    let mut recordings = Vec::new();
    for id in kernels {
        recordings_in(&vm::default_out(id), &mut recordings)?;
    }
    if recordings.is_empty() {
        println!("NT-TEST perfetto read-back skip: the scenarios run made no recording");
        return Ok(Tally {
            skipped: 1,
            ..Tally::default()
        });
    }
    recordings.sort();
    cmd::step(&format!(
        "export perfetto of the VM suites' recordings ({}), read back by Perfetto's classes",
        recordings.len()
    ));
    let ok = Command::new("cargo")
        .args(["test", "-p", "notifier-user", "--test", "perfetto", "--"])
        .args(["--ignored", "--exact", READ_BACK_TEST, "--nocapture"])
        .env("NT_PERFETTO_RECORDINGS", env::join_paths(&recordings)?)
        .env("PATH", path_with_linker()?)
        .status()
        .context("running cargo test --test perfetto")?
        .success();
    println!(
        "NT-TEST perfetto read-back {}",
        if ok { "pass" } else { "fail" }
    );
    Ok(Tally {
        passed: u32::from(ok),
        failed: u32::from(!ok),
        ..Tally::default()
    })
}

/// The test in notifier-user/tests/perfetto.rs that reads `NT_PERFETTO_RECORDINGS`.
const READ_BACK_TEST: &str = "recordings_named_in_the_environment_read_back_as_their_events_say";

fn recordings_in(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Ok(()); // a kernel whose suite did not run
    };
    for entry in entries {
        let path = entry?.path();
        if path.is_dir() {
            recordings_in(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "ntrec") {
            // The test runs in notifier-user/: a relative CARGO_TARGET_DIR would not be found.
            out.push(std::path::absolute(&path)?);
        }
    }
    Ok(())
}

/// `cargo xtask dist`, one test of the tally: 12-packaged unpacks its .deb in the guest (and
/// skips, the failure already counted here, when there is none).
fn packaged() -> Tally {
    match dist::run() {
        Ok(()) => Tally {
            passed: 1,
            ..Tally::default()
        },
        Err(e) => {
            println!("NT-TEST dist fail: {e:#}");
            Tally {
                failed: 1,
                ..Tally::default()
            }
        }
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

pub fn path_with_linker() -> Result<String> {
    let path = std::env::var("PATH").unwrap_or_default();
    Ok(format!("{}:{path}", paths::bpf_linker_bin()?.display()))
}

/// Clippy with warnings denied, each run one test of the tally: the host crates, then the
/// eBPF crate, which only builds for bpfel-unknown-none with the pinned nightly (and core
/// built from rust-src; `cargo xtask setup` adds clippy to that toolchain).
fn clippy() -> Result<Tally> {
    let mut t = Tally::default();
    let path = path_with_linker()?;
    let host = [
        "clippy",
        "--workspace",
        "--exclude",
        "notifier-ebpf",
        "--all-targets",
    ];
    let mut runs = vec![(
        "host crates",
        format!("cargo {} -- -D warnings", host.join(" ")),
        {
            let mut c = Command::new("cargo");
            c.args(host).args(["--", "-D", "warnings"]);
            c
        },
    )];
    let toolchain = paths::ebpf_toolchain()?;
    let ebpf = [
        "clippy",
        "-p",
        "notifier-ebpf",
        "--target",
        "bpfel-unknown-none",
        "-Z",
        "build-std=core",
        "--release",
    ];
    runs.push((
        "eBPF crate",
        format!(
            "rustup run {toolchain} cargo {} -- -D warnings",
            ebpf.join(" ")
        ),
        {
            let mut c = Command::new("rustup");
            c.args(["run", &toolchain, "cargo"])
                .args(ebpf)
                .args(["--", "-D", "warnings"])
                .current_dir(paths::project_root().join("notifier-ebpf"));
            c
        },
    ));
    for (what, line, mut c) in runs {
        cmd::step(&line);
        let ok = c
            .env("PATH", &path)
            .status()
            .with_context(|| format!("running {line}"))?
            .success();
        if ok {
            t.passed += 1;
        } else {
            t.failed += 1;
            println!("NT-TEST clippy ({what}) fail: lints or build errors above ({line})");
        }
    }
    Ok(t)
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
