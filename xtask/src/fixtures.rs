//! Builds the test fixtures through fixtures/Makefile (owned by the fixtures): the kernel
//! module for each matrix kernel (`make module`) and the userspace drivers (`make tools`).
//! Without that Makefile the steps are skipped with a note, not failed, so the test bed
//! works on a tree that has no fixtures yet.

use std::{fs, path::PathBuf, process::Command};

use anyhow::{Context as _, Result};

use crate::{cmd, kernels, kernels::Kernel, paths};

fn makefile_dir() -> Option<PathBuf> {
    let dir = paths::project_root().join("fixtures");
    dir.join("Makefile").is_file().then_some(dir)
}

fn skipped(what: &str) -> Option<PathBuf> {
    cmd::step(&format!(
        "{what}: skipped, there is no fixtures/Makefile (targets `module` and `tools`)"
    ));
    None
}

/// Builds target/fixtures/<release>/notifier_fixture.ko for `k` and returns its path, or
/// None if the tree has no fixtures.
pub fn module(k: &Kernel) -> Result<Option<PathBuf>> {
    let Some(dir) = makefile_dir() else {
        return Ok(skipped(&format!("fixture module for {}", k.id)));
    };
    let out = paths::target_dir().join("fixtures").join(&k.release);
    fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    cmd::step(&format!("fixture module for {} ({})", k.id, k.release));
    let mut make = Command::new("make");
    make.arg("-C")
        .arg(&dir)
        .arg("module")
        .arg(format!("KDIR={}", k.kdir().display()))
        .arg(format!("OUT={}", out.display()));
    // The matrix kernels may be built by a newer gcc than the host's (7.3: gcc-14); this
    // wrapper maps the flags gcc-12 rejects (`-fmin-function-alignment=N` to
    // `-falign-functions=N`, ...).
    let cc = dir.join("kbuild-cc");
    if cc.is_file() {
        make.arg(format!("CC={}", cc.display()));
    }
    cmd::quiet(make.arg(format!(
        "NF_NO_OBJTOOL={}",
        if kernels::spec(k.id)?.objtool_ok {
            ""
        } else {
            "y"
        }
    )))
    .with_context(|| {
        format!(
            "building the fixture module for kernel {} against {}",
            k.id,
            k.kdir().display()
        )
    })?;
    Ok(Some(out.join("notifier_fixture.ko")))
}

/// Builds target/fixtures/bin (nfctl, odp_workload, ...), or None without fixtures.
pub fn tools() -> Result<Option<PathBuf>> {
    let Some(dir) = makefile_dir() else {
        return Ok(skipped("fixture tools"));
    };
    let out = paths::target_dir().join("fixtures/bin");
    fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    cmd::step("fixture tools");
    cmd::quiet(
        Command::new("make")
            .arg("-C")
            .arg(&dir)
            .arg("tools")
            .arg(format!("OUT={}", out.display())),
    )
    .context("building the fixture tools (make -C fixtures tools)")?;
    Ok(Some(out))
}
