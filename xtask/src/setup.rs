//! Everything a fresh Debian 12 machine needs, installed by the project itself. Idempotent,
//! and fast when already done (checks before it installs).

use std::{fs, os::unix::fs::symlink, path::Path, process::Command};

use anyhow::{Context as _, Result, bail};

use crate::{cmd, paths};

/// Debian packages: QEMU and the initramfs tools, module tooling, the guest-side tools a
/// user reaches for (bpftrace, bpftool, rdma, ibverbs), and what builds the fixtures.
const PACKAGES: &[&str] = &[
    "qemu-system-x86",
    "busybox-static",
    "kmod",
    "cpio",
    "xz-utils",
    "zstd",
    "gcc",
    "make",
    "libc6-dev",
    "libelf-dev",
    "dwarves",
    "bc",
    "iproute2",
    "rdma-core",
    "ibverbs-providers",
    "ibverbs-utils",
    "libibverbs-dev",
    "bpftrace",
    "bpftool",
    "jq",
    "tmux",
];

const BPF_LINKER_VERSION: &str = "0.13.0";

pub fn run() -> Result<()> {
    apt_packages()?;
    nightly_rust_src()?;
    bpf_linker()?;
    // The guest mounts its kernel's modules over /usr/lib/modules, which must exist on the
    // (read-only shared) host root; containers often lack it.
    fs::create_dir_all("/usr/lib/modules").context("creating /usr/lib/modules (run as root)")?;
    cmd::step("setup complete");
    Ok(())
}

fn apt_packages() -> Result<()> {
    let missing: Vec<&str> = PACKAGES.iter().copied().filter(|p| !installed(p)).collect();
    if missing.is_empty() {
        cmd::step("apt packages: all present");
        return Ok(());
    }
    cmd::step(&format!("apt-get install {}", missing.join(" ")));
    cmd::quiet(Command::new("apt-get").args(["update", "-q"]))?;
    cmd::run(
        Command::new("apt-get")
            .args([
                "install",
                "-y",
                "-q",
                "--no-install-recommends",
                "-o",
                "DPkg::Lock::Timeout=600",
            ])
            .args(&missing)
            .env("DEBIAN_FRONTEND", "noninteractive"),
    )
}

fn installed(pkg: &str) -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f", "${Status}", pkg])
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("install ok installed"))
}

fn nightly_rust_src() -> Result<()> {
    let have = Command::new("rustup")
        .args(["component", "list", "--installed", "--toolchain", "nightly"])
        .output()
        .is_ok_and(|o| {
            o.status.success() && String::from_utf8_lossy(&o.stdout).contains("rust-src")
        });
    if have {
        cmd::step("nightly toolchain with rust-src: present");
        return Ok(());
    }
    cmd::step("rustup: nightly toolchain + rust-src (the eBPF crate builds core itself)");
    cmd::run(Command::new("rustup").args([
        "toolchain",
        "install",
        "nightly",
        "--profile",
        "minimal",
    ]))?;
    cmd::run(Command::new("rustup").args([
        "component",
        "add",
        "rust-src",
        "--toolchain",
        "nightly",
    ]))
}

/// bpf-linker linked against the nightly toolchain's own libLLVM (bookworm has no LLVM new
/// enough for the default build), cached per user.
fn bpf_linker() -> Result<()> {
    let bin = paths::bpf_linker_bin()?;
    let linker = bin.join("bpf-linker");
    if linker.exists()
        && Command::new(&linker)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    {
        cmd::step(&format!("bpf-linker: {}", linker.display()));
        return Ok(());
    }
    let sysroot = cmd::output(
        Command::new("rustup").args(["run", "nightly", "rustc", "--print", "sysroot"]),
    )?;
    let lib = Path::new(sysroot.trim()).join("lib");
    let llvm = fs::read_dir(&lib)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("libLLVM.so."))
        })
        .with_context(|| format!("no libLLVM.so.* in {}", lib.display()))?;
    let major = llvm
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.strip_prefix("libLLVM.so."))
        .and_then(|v| v.split('.').next())
        .context("cannot read the LLVM version")?
        .to_owned();
    let prefix = paths::cache_dir()?.join("llvm-prefix");
    let prefix_lib = prefix.join("lib");
    fs::create_dir_all(&prefix_lib)?;
    for name in [
        "libLLVM.so".to_owned(),
        llvm.file_name().unwrap().to_string_lossy().into_owned(),
    ] {
        let link = prefix_lib.join(&name);
        let _ = fs::remove_file(&link);
        symlink(&llvm, &link)?;
    }
    if major != "22" {
        bail!(
            "nightly's LLVM is {major}; bpf-linker {BPF_LINKER_VERSION} is built here with llvm-22"
        );
    }
    cmd::step(&format!(
        "cargo install bpf-linker {BPF_LINKER_VERSION} (against nightly's LLVM {major}, ~1 min)"
    ));
    cmd::run(
        Command::new("cargo")
            .args([
                "install",
                "bpf-linker",
                "--version",
                BPF_LINKER_VERSION,
                "--no-default-features",
            ])
            .args(["--features", &format!("llvm-{major}"), "--locked", "--root"])
            .arg(bin.parent().context("bin dir")?)
            .env("LLVM_PREFIX", &prefix),
    )
}
