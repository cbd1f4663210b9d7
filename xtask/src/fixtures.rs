//! Builds the test fixtures: the kernel module for each matrix kernel and the userspace
//! drivers (fixtures/Makefile has the recipes).

use std::{fs, path::PathBuf, process::Command};

use anyhow::{Context as _, Result};

use crate::{cmd, kernels, kernels::Kernel, paths};

/// target/fixtures/<release>/notifier_fixture.ko for `k`.
pub fn module(k: &Kernel) -> Result<PathBuf> {
    let out = paths::target_dir().join("fixtures").join(&k.release);
    fs::create_dir_all(&out)?;
    cmd::step(&format!("fixture module for {} ({})", k.id, k.release));
    let root = paths::project_root();
    cmd::quiet(
        Command::new("make")
            .arg("-C")
            .arg(root.join("fixtures"))
            .arg("module")
            .arg(format!("KDIR={}", k.kdir().display()))
            .arg(format!("OUT={}", out.display()))
            .arg(format!("CC={}", root.join("fixtures/kbuild-cc").display()))
            .arg(format!(
                "NF_NO_OBJTOOL={}",
                if kernels::spec(k.id)?.objtool_ok {
                    ""
                } else {
                    "y"
                }
            )),
    )
    .with_context(|| format!("building the fixture module for kernel {}", k.id))?;
    Ok(out.join("notifier_fixture.ko"))
}

/// target/fixtures/bin: nfctl and the ODP workload.
pub fn tools() -> Result<PathBuf> {
    let out = paths::target_dir().join("fixtures/bin");
    fs::create_dir_all(&out)?;
    cmd::step("fixture tools");
    cmd::quiet(
        Command::new("make")
            .arg("-C")
            .arg(paths::project_root().join("fixtures"))
            .arg("tools")
            .arg(format!("OUT={}", out.display())),
    )?;
    Ok(out)
}
