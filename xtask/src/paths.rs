//! Where things live: the project tree, the per-user cache (survives clean clones, so CI on
//! the same machine reuses downloads), and build outputs under target/.

use std::{
    env,
    path::{Path, PathBuf},
};

use anyhow::{Context as _, Result};

pub fn project_root() -> PathBuf {
    // xtask's manifest dir is <root>/xtask.
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf()
}

pub fn cache_dir() -> Result<PathBuf> {
    if let Some(dir) = env::var_os("NOTIFIER_TOP_CACHE") {
        return Ok(PathBuf::from(dir));
    }
    let home = env::var_os("HOME").context("HOME is not set (or set NOTIFIER_TOP_CACHE)")?;
    Ok(PathBuf::from(home).join(".cache/notifier-top"))
}

pub fn target_dir() -> PathBuf {
    env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| project_root().join("target"))
}

/// bpf-linker as built by `setup` (notifier-user's build.rs looks in the same place).
pub fn bpf_linker_bin() -> Result<PathBuf> {
    Ok(cache_dir()?.join("bpf-linker/bin"))
}

/// The eBPF crate's pinned nightly (`channel` in notifier-ebpf/rust-toolchain.toml).
pub fn ebpf_toolchain() -> Result<String> {
    let file = project_root().join("notifier-ebpf/rust-toolchain.toml");
    let text =
        std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
    text.lines()
        .find_map(|l| l.trim().strip_prefix("channel")?.trim().strip_prefix('='))
        .map(|v| v.trim().trim_matches('"').to_owned())
        .with_context(|| format!("{} names no channel", file.display()))
}
