//! Everything a fresh Debian 12 machine needs, installed by the project itself. Idempotent,
//! and fast when already done (checks before it installs, refreshes apt lists only when a
//! package has no candidate or an install fails). Never removes a package. `--build-only`
//! installs just what building notifier-top needs, as the user, without apt.

use std::{
    fs,
    os::unix::fs::symlink,
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context as _, Result, bail};

use crate::{apt::PrivateApt, cmd, paths};

/// Debian packages: the initramfs tools, module tooling, the guest-side tools a user reaches
/// for (bpftrace, bpftool, rdma, ibverbs), what builds the fixtures, what `dist` needs
/// (musl-gcc for C code in a static build, lintian to check the .deb), what the VM
/// scenarios run beside notifier-top (prometheus scrapes `serve`), what building the lockdep
/// kernel from source adds (flex, bison), and the Python the Perfetto decoder's venv is made
/// from (see [`perfetto_python`]). QEMU is separate (see
/// [`qemu`]).
const PACKAGES: &[&str] = &[
    "busybox-static",
    "kmod",
    "cpio",
    "gzip",
    "xz-utils",
    "zstd",
    "gcc",
    "make",
    "libc6-dev",
    "libelf-dev",
    "dwarves",
    "bc",
    "flex",
    "bison",
    "iproute2",
    "rdma-core",
    "ibverbs-providers",
    "ibverbs-utils",
    "libibverbs-dev",
    "bpftrace",
    "bpftool",
    "jq",
    "tmux",
    "musl-tools",
    "lintian",
    "prometheus",
    "python3-venv",
];

/// Nice to have in the guest, but not in every Debian release's archive: skipped with a
/// note when apt has no candidate.
const OPTIONAL: &[&str] = &["bpftool"];

/// QEMU for x86 guests; all of one version.
const QEMU: &[&str] = &["qemu-system-x86", "qemu-system-common", "qemu-system-data"];

const BPF_LINKER_VERSION: &str = "0.13.0";

/// Perfetto's Python package, whose generated protobuf classes read `export perfetto`'s
/// traces in notifier-user/tests/perfetto.rs, and the protobuf runtime it was tested with.
const PERFETTO_PYTHON: &[(&str, &str)] = &[("perfetto", "0.59.1"), ("protobuf", "7.36.2")];

/// The target `cargo xtask dist` builds the static binary for.
pub const STATIC_TARGET: &str = "x86_64-unknown-linux-musl";

/// How much `setup` installs.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// What building and installing notifier-top needs: the pinned nightly with rust-src and
    /// bpf-linker, all under the user's home; no apt, no root.
    Build,
    /// Everything the test bed needs too: apt packages, QEMU, clippy for the eBPF crate, and
    /// the musl target `dist` builds for.
    Full,
}

pub fn run(scope: Scope) -> Result<()> {
    if scope == Scope::Build {
        nightly(scope)?;
        let linker = bpf_linker()?;
        cmd::step(&format!(
            "setup complete (build only). Next, to install notifier-top into ~/.cargo/bin: \
             cargo install --locked --path notifier-user (its build script finds bpf-linker in \
             {}; set the same NOTIFIER_TOP_CACHE if you set one here)",
            linker.parent().unwrap_or(&linker).display()
        ));
        return Ok(());
    }
    qemu()?;
    let missing: Vec<&str> = PACKAGES
        .iter()
        .copied()
        .filter(|p| installed_version(p).is_none())
        .collect();
    if missing.is_empty() {
        cmd::step("apt packages: all present");
    } else {
        apt_install(&missing)?;
    }
    nightly(scope)?;
    musl_target()?;
    let linker = bpf_linker()?;
    perfetto_python()?;
    // The guest mounts its kernel's modules over /usr/lib/modules, which must exist on the
    // (read-only shared) host root; containers often lack it.
    if !Path::new("/usr/lib/modules").is_dir() {
        cmd::run(cmd::privileged("mkdir").args(["-p", "/usr/lib/modules"]))
            .context("creating /usr/lib/modules (the guest mounts its modules there)")?;
    }
    cmd::step(&format!(
        "setup complete. bpf-linker: {} (cargo xtask puts it on PATH itself; for plain cargo: \
         export PATH={}:$PATH)",
        linker.display(),
        linker.parent().unwrap_or(&linker).display()
    ));
    Ok(())
}

/// `apt-get install` of `pkgs` through the host's configuration; `apt-get update` first only
/// when the lists are missing or lack one of them, and once more if the install fails
/// (stale lists point at files the mirror has dropped).
fn apt_install(pkgs: &[&str]) -> Result<()> {
    let mut updated = false;
    // An optional package apt does not know must not force an update on every run.
    if pkgs
        .iter()
        .any(|p| !OPTIONAL.contains(p) && !has_candidate(p))
    {
        apt_update()?;
        updated = true;
    }
    let (pkgs, unavailable): (Vec<&str>, Vec<&str>) = pkgs
        .iter()
        .partition(|p| !OPTIONAL.contains(p) || has_candidate(p));
    for p in unavailable {
        cmd::step(&format!(
            "{p}: not in this machine's archive, skipped (optional)"
        ));
    }
    if pkgs.is_empty() {
        return Ok(());
    }
    cmd::step(&format!("apt-get install {}", pkgs.join(" ")));
    let first = cmd::run(apt_get_install().args(&pkgs));
    match first {
        Ok(()) => Ok(()),
        Err(e) if updated => Err(e),
        Err(_) => {
            apt_update()?;
            cmd::run(apt_get_install().args(&pkgs))
        }
    }
    .context("installing Debian packages (run as root or with passwordless sudo)")
}

fn apt_update() -> Result<()> {
    cmd::step("apt-get update");
    cmd::quiet(cmd::privileged("apt-get").args(["update", "-q"])).context("apt-get update")
}

/// Non-interactive, no recommends, and never removing anything: a set-up that uninstalls
/// what the machine had (as a conflicting QEMU would) must fail loudly instead.
fn apt_get_install() -> Command {
    let mut c = cmd::privileged("apt-get");
    c.args(APT_INSTALL_ARGS)
        .env("DEBIAN_FRONTEND", "noninteractive");
    c
}

const APT_INSTALL_ARGS: &[&str] = &[
    "install",
    "-y",
    "-q",
    "--no-install-recommends",
    "--no-remove",
    "-o",
    "DPkg::Lock::Timeout=600",
];

/// QEMU has to coexist with a qemu-utils the machine may already have from backports:
/// qemu-utils 10 there `Breaks: qemu-system-common (<< 1:8.0)`, so a plain install of
/// bookworm's QEMU 7.2 would remove it. QEMU is therefore taken from the suite qemu-utils
/// came from: <codename>-backports through a private apt view (the host's sources plus
/// backports; /etc/apt untouched). `pkg/suite` selects only the named packages from the
/// suite, not their dependencies: the backported QEMU needs a newer seabios than bookworm
/// has, so that is named too.
fn qemu() -> Result<()> {
    let utils = installed_version("qemu-utils");
    let system = installed_version("qemu-system-x86");
    if let Some(v) = &system
        && utils.as_ref().is_none_or(|u| u == v)
    {
        cmd::step(&format!("qemu {v}: present"));
        return Ok(());
    }
    let Some(utils) = utils.filter(|u| u.contains("~bpo")) else {
        return apt_install(QEMU);
    };
    let suite = format!("{}-backports", host_codename()?);
    cmd::step(&format!(
        "qemu from {suite}, to match the installed qemu-utils {utils}"
    ));
    let apt = PrivateApt::with_host(&paths::cache_dir()?.join("apt-host"), &[&suite])?;
    let targets: Vec<String> = QEMU
        .iter()
        .chain(&["qemu-utils", "seabios"])
        .map(|p| format!("{p}/{suite}"))
        .collect();
    cmd::run(
        cmd::privileged("apt-get")
            .args(apt.options())
            .args(APT_INSTALL_ARGS)
            .args(&targets)
            .env("DEBIAN_FRONTEND", "noninteractive"),
    )
    .with_context(|| format!("installing QEMU from {suite} beside qemu-utils {utils}"))
}

/// The host's Debian codename (VERSION_CODENAME in /etc/os-release).
fn host_codename() -> Result<String> {
    let text = fs::read_to_string("/etc/os-release").context("reading /etc/os-release")?;
    text.lines()
        .find_map(|l| l.strip_prefix("VERSION_CODENAME="))
        .map(|v| v.trim_matches('"').to_owned())
        .filter(|v| !v.is_empty())
        .context("/etc/os-release has no VERSION_CODENAME (the test bed expects Debian)")
}

/// The installed version of `pkg`, if it is installed.
fn installed_version(pkg: &str) -> Option<String> {
    let out = Command::new("dpkg-query")
        .args(["-W", "-f", "${Status}\t${Version}", pkg])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let (status, version) = text.split_once('\t')?;
    status
        .contains("install ok installed")
        .then(|| version.trim().to_owned())
}

/// Whether apt knows a version of `pkg` to install (false when the lists are missing or
/// older than the package).
fn has_candidate(pkg: &str) -> bool {
    Command::new("apt-cache")
        .args(["policy", pkg])
        .output()
        .is_ok_and(|o| {
            let text = String::from_utf8_lossy(&o.stdout);
            text.lines()
                .find_map(|l| l.trim().strip_prefix("Candidate:"))
                .is_some_and(|c| c.trim() != "(none)")
        })
}

/// The pinned nightly with rust-src (the eBPF crate builds core itself), and for the full
/// scope clippy (`cargo xtask test` lints the eBPF crate with it).
fn nightly(scope: Scope) -> Result<()> {
    let toolchain = paths::ebpf_toolchain()?;
    let installed = Command::new("rustup")
        .args([
            "component",
            "list",
            "--installed",
            "--toolchain",
            &toolchain,
        ])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned());
    let has = |c: &str| {
        installed
            .as_deref()
            .is_some_and(|text| text.lines().any(|l| l.starts_with(c)))
    };
    if has("rust-src") {
        cmd::step(&format!("{toolchain} with rust-src: present"));
    } else {
        cmd::step(&format!(
            "rustup: {toolchain} + rust-src (the eBPF crate builds core itself)"
        ));
        cmd::run(Command::new("rustup").args([
            "toolchain",
            "install",
            &toolchain,
            "--profile",
            "minimal",
            "--component",
            "rust-src",
        ]))?;
    }
    if scope == Scope::Build {
        return Ok(());
    }
    if has("clippy") {
        cmd::step(&format!("{toolchain} with clippy: present"));
        return Ok(());
    }
    cmd::step(&format!(
        "rustup: clippy for {toolchain} (lints the eBPF crate)"
    ));
    cmd::run(Command::new("rustup").args(["component", "add", "clippy", "--toolchain", &toolchain]))
}

/// The static target `cargo xtask dist` builds for, added to the toolchain that builds
/// notifier-user (the project root's, i.e. the default: only the eBPF crate pins a nightly).
fn musl_target() -> Result<()> {
    let root = paths::project_root();
    let installed = cmd::output(
        Command::new("rustup")
            .args(["target", "list", "--installed"])
            .current_dir(&root),
    )?;
    if installed.lines().any(|l| l.trim() == STATIC_TARGET) {
        cmd::step(&format!("rust target {STATIC_TARGET}: present"));
        return Ok(());
    }
    cmd::step(&format!(
        "rustup target add {STATIC_TARGET} (cargo xtask dist)"
    ));
    cmd::run(
        Command::new("rustup")
            .args(["target", "add", STATIC_TARGET])
            .current_dir(&root),
    )
}

/// [`PERFETTO_PYTHON`] in a venv of its own in the cache (`perfetto-venv`, where the test
/// looks): nothing installed system-wide, made from Debian's python3 (python3-venv).
fn perfetto_python() -> Result<()> {
    let venv = paths::cache_dir()?.join("perfetto-venv");
    let python = venv.join("bin/python");
    let pins: Vec<String> = PERFETTO_PYTHON
        .iter()
        .map(|(name, version)| format!("{name}=={version}"))
        .collect();
    // The pinned versions, and the module the test imports.
    let check = format!(
        "import importlib.metadata as m, sys\n\
         from perfetto.protos.perfetto.trace import perfetto_trace_pb2\n\
         sys.exit(0 if [m.version(n) for n in {names:?}] == {versions:?} else 1)",
        names = PERFETTO_PYTHON.iter().map(|p| p.0).collect::<Vec<_>>(),
        versions = PERFETTO_PYTHON.iter().map(|p| p.1).collect::<Vec<_>>(),
    );
    let present = || {
        Command::new(&python)
            .args(["-c", &check])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if present() {
        cmd::step(&format!("{}: present ({})", pins.join(" "), venv.display()));
        return Ok(());
    }
    cmd::step(&format!(
        "python venv {} with {} (reads export perfetto's traces in the tests)",
        venv.display(),
        pins.join(" ")
    ));
    let system = if Path::new("/usr/bin/python3").exists() {
        "/usr/bin/python3"
    } else {
        "python3"
    };
    cmd::run(
        Command::new(system)
            .args(["-m", "venv", "--clear"])
            .arg(&venv),
    )
    .context("making the venv (Debian: python3-venv)")?;
    cmd::run(
        Command::new(venv.join("bin/pip"))
            .args(["install", "--quiet", "--disable-pip-version-check"])
            .args(&pins),
    )
    .context("installing Perfetto's Python package from PyPI")?;
    if !present() {
        bail!("{} cannot import what it just installed", python.display());
    }
    Ok(())
}

/// bpf-linker linked against the pinned nightly's own libLLVM (bookworm has no LLVM new
/// enough for the default build), cached per user.
fn bpf_linker() -> Result<PathBuf> {
    let bin = paths::bpf_linker_bin()?;
    let linker = bin.join("bpf-linker");
    if linker.exists()
        && Command::new(&linker)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    {
        cmd::step(&format!("bpf-linker: present ({})", linker.display()));
        return Ok(linker);
    }
    let toolchain = paths::ebpf_toolchain()?;
    let sysroot = cmd::output(
        Command::new("rustup").args(["run", &toolchain, "rustc", "--print", "sysroot"]),
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
    if major != "22" {
        bail!(
            "{toolchain}'s LLVM is {major}, but bpf-linker {BPF_LINKER_VERSION} is built here \
             with its llvm-22 feature: pin a nightly with LLVM 22 in \
             notifier-ebpf/rust-toolchain.toml or raise BPF_LINKER_VERSION in xtask/src/setup.rs"
        );
    }
    // bpf-linker finds libLLVM through its RUNPATH, i.e. this prefix: it has to stay, and
    // a new pin (new file name) breaks the link, which the check above then catches.
    let prefix = paths::cache_dir()?.join("llvm-prefix");
    let prefix_lib = prefix.join("lib");
    fs::create_dir_all(&prefix_lib)
        .with_context(|| format!("creating {}", prefix_lib.display()))?;
    let versioned = llvm.file_name().context("libLLVM file name")?;
    for name in [Path::new("libLLVM.so").as_os_str(), versioned] {
        let link = prefix_lib.join(name);
        let _ = fs::remove_file(&link);
        symlink(&llvm, &link).with_context(|| format!("linking {}", link.display()))?;
    }
    cmd::step(&format!(
        "cargo install bpf-linker {BPF_LINKER_VERSION} (against {toolchain}'s LLVM {major}, ~1 min)"
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
    .context("building bpf-linker (needs crates.io and gcc; see docs/testbed.md)")?;
    Ok(linker)
}
