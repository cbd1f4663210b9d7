//! Builds the eBPF object (crate notifier-ebpf) with aya-build and drops it in OUT_DIR, where
//! `probe::attach` embeds it.

use std::{
    env, fs,
    path::{Path, PathBuf},
};

use anyhow::{Context as _, anyhow};
use aya_build::Toolchain;

fn main() -> anyhow::Result<()> {
    // aya-build watches only the eBPF crate; the ABI crate is compiled into it too.
    println!("cargo:rerun-if-changed=../notifier-common/src");
    embed_commit();
    put_bpf_linker_on_path()?;

    let cargo_metadata::Metadata { packages, .. } = cargo_metadata::MetadataCommand::new()
        .no_deps()
        .exec()
        .context("MetadataCommand::exec")?;
    let ebpf = packages
        .into_iter()
        .find(|p| p.name.as_str() == "notifier-ebpf")
        .ok_or_else(|| anyhow!("notifier-ebpf package not found"))?;
    let root = ebpf
        .manifest_path
        .parent()
        .ok_or_else(|| anyhow!("no parent for {}", ebpf.manifest_path))?;
    let package = aya_build::Package {
        name: ebpf.name.as_str(),
        root_dir: root.as_str(),
        ..Default::default()
    };
    let toolchain = ebpf_toolchain(root.as_std_path())?;
    aya_build::build_ebpf([package], Toolchain::Custom(&toolchain))
}

/// The commit the binary is built from, for `--version` (`unknown` outside a git checkout,
/// e.g. from a source tarball).
fn embed_commit() {
    for f in ["../.git/HEAD", "../.git/refs/heads", "../.git/packed-refs"] {
        println!("cargo:rerun-if-changed={f}");
    }
    let commit = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rustc-env=NOTIFIER_TOP_COMMIT={commit}");
}

/// The nightly the eBPF crate pins in its rust-toolchain.toml (`cargo xtask setup`
/// installs it and builds bpf-linker against its LLVM).
fn ebpf_toolchain(ebpf_root: &Path) -> anyhow::Result<String> {
    let file = ebpf_root.join("rust-toolchain.toml");
    println!("cargo:rerun-if-changed={}", file.display());
    let text = fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
    text.lines()
        .find_map(|l| l.trim().strip_prefix("channel")?.trim().strip_prefix('='))
        .map(|v| v.trim().trim_matches('"').to_owned())
        .with_context(|| format!("{} names no channel", file.display()))
}

/// `cargo xtask setup` builds bpf-linker against the nightly toolchain's own LLVM into the
/// project cache; find it there when it is not on PATH, so a plain `cargo build` works.
fn put_bpf_linker_on_path() -> anyhow::Result<()> {
    println!("cargo:rerun-if-env-changed=PATH");
    println!("cargo:rerun-if-env-changed=NOTIFIER_TOP_CACHE");
    let path = env::var_os("PATH").unwrap_or_default();
    if env::split_paths(&path).any(|d| d.join("bpf-linker").is_file()) {
        return Ok(());
    }
    let cache = env::var_os("NOTIFIER_TOP_CACHE")
        .map(PathBuf::from)
        .or_else(|| env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/notifier-top")))
        .context("neither NOTIFIER_TOP_CACHE nor HOME is set")?;
    let bin = cache.join("bpf-linker/bin");
    if !bin.join("bpf-linker").is_file() {
        anyhow::bail!(
            "bpf-linker not found on PATH nor in {}: run `cargo xtask setup` first",
            bin.display()
        );
    }
    let joined = env::join_paths(std::iter::once(bin).chain(env::split_paths(&path)))?;
    // SAFETY: build scripts are single-threaded; the child cargo inherits this PATH.
    unsafe { env::set_var("PATH", joined) };
    Ok(())
}
