//! Debian's own kernels, fetched through the private apt configuration, unpacked (image,
//! modules, headers and kbuild for building the fixture module) and cached.

use std::{
    fs,
    os::unix::fs::PermissionsExt as _,
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context as _, Result, bail};

use super::{APT_SUITES, Kernel, Spec};
use crate::{apt::PrivateApt, cmd, paths};

/// Fetches and unpacks the kernel `suite`'s `linux-image-amd64` names, unless the cache
/// already holds it.
pub(super) fn prepare(spec: &'static Spec, suite: &str) -> Result<Kernel> {
    let cache = paths::cache_dir()?.join("kernels");
    if let Some(k) = super::cached(spec)? {
        relocate_headers(&k)?;
        make_kbuild_runnable(&k, &cache)?;
        return Ok(k);
    }
    cmd::step(&format!("kernel {}: resolving in {suite}", spec.id));
    let apt = PrivateApt::fetch(&paths::cache_dir()?.join("apt"), APT_SUITES)?;
    let image = apt.resolve("linux-image-amd64", suite, "linux-image-")?;
    let release = image
        .trim_start_matches("linux-image-")
        .trim_end_matches("-unsigned")
        .to_owned();
    let mut pkgs = vec![image.clone()];
    // 7.x splits the image into linux-binary (kernel) and linux-modules.
    pkgs.extend(
        apt.depends(&image)?
            .into_iter()
            .filter(|d| d.starts_with("linux-binary-") || d.starts_with("linux-modules-")),
    );
    let headers = format!("linux-headers-{release}");
    pkgs.push(headers.clone());
    pkgs.extend(
        apt.depends(&headers)?
            .into_iter()
            .filter(|d| d.starts_with("linux-headers-") || d.starts_with("linux-kbuild-")),
    );
    let debs = apt.download(&pkgs, &cache.join("debs"))?;
    let root = cache.join(&release);
    if root.exists() {
        fs::remove_dir_all(&root)?;
    }
    for deb in &debs {
        cmd::step(&format!(
            "unpack {}",
            deb.file_name().unwrap_or_default().to_string_lossy()
        ));
        cmd::quiet(Command::new("dpkg").arg("-x").arg(deb).arg(&root))?;
    }
    let k = Kernel {
        id: spec.id,
        release: release.clone(),
        root,
    };
    if !k.vmlinuz().exists() {
        bail!(
            "{} unpacked without a kernel image at {}",
            image,
            k.vmlinuz().display()
        );
    }
    // Debian's module packages ship no modules.dep.
    cmd::quiet(
        Command::new("depmod")
            .arg("-b")
            .arg(k.modprobe_root())
            .arg(&release),
    )?;
    relocate_headers(&k)?;
    make_kbuild_runnable(&k, &cache)?;
    super::record(&k)?;
    Ok(k)
}

/// The Debian version of `k`'s packages (e.g. 7.3.4-1~bpo13+1): the source must be the
/// same upload as the headers the module is built against.
pub(super) fn upload_version(k: &Kernel) -> Result<String> {
    let debs = paths::cache_dir()?.join("kernels/debs");
    let prefix = format!("linux-headers-{}_", k.release);
    if let Ok(entries) = fs::read_dir(&debs) {
        for e in entries {
            let p = e?.path();
            if p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with(&prefix))
            {
                let v = cmd::output(Command::new("dpkg-deb").arg("-f").arg(&p).arg("Version"))?;
                return Ok(v.trim().to_owned());
            }
        }
    }
    // The kernel's .debs were removed from the cache: ask the archive.
    let apt = PrivateApt::fetch(&paths::cache_dir()?.join("apt"), APT_SUITES)?;
    let out = cmd::output(apt.command("apt-cache").args([
        "show",
        "--no-all-versions",
        &format!("linux-headers-{}", k.release),
    ]))?;
    out.lines()
        .find_map(|l| l.strip_prefix("Version:"))
        .map(|v| v.trim().to_owned())
        .with_context(|| format!("no version for linux-headers-{} in the archive", k.release))
}

/// The flavour headers' Makefile includes the common headers by absolute path
/// (/usr/src/...); point it into the unpacked tree. Idempotent.
fn relocate_headers(k: &Kernel) -> Result<()> {
    let makefile = k.kdir().join("Makefile");
    let text =
        fs::read_to_string(&makefile).with_context(|| format!("reading {}", makefile.display()))?;
    let here = format!("{}/usr/src/", k.root.display());
    if text.contains(&here) {
        return Ok(());
    }
    fs::write(&makefile, text.replace("/usr/src/", &here))?;
    Ok(())
}

/// trixie's kbuild host programs (modpost, objtool, ...) need a newer glibc than
/// bookworm's. Rather than rebuilding them, run each through trixie's own dynamic loader and
/// libraries, unpacked beside the kernel: a shell wrapper replaces each such ELF binary.
/// Idempotent: wrapped binaries are scripts and no longer match.
fn make_kbuild_runnable(k: &Kernel, cache: &Path) -> Result<()> {
    let lib = k.root.join("usr/lib");
    let Some(dir) = fs::read_dir(&lib)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("linux-kbuild-"))
        })
    else {
        bail!("no linux-kbuild-* tree under {}", lib.display());
    };
    let host = host_glibc_minor()?;
    let needy: Vec<PathBuf> = elf_files(&dir)?
        .into_iter()
        .filter(|f| !f.to_string_lossy().ends_with(REAL_SUFFIX) && needs_glibc_newer_than(f, host))
        .collect();
    if needy.is_empty() {
        return Ok(());
    }
    cmd::step(&format!(
        "kernel {}: {} kbuild programs need a newer glibc; running them on trixie's",
        k.id,
        needy.len()
    ));
    let apt = PrivateApt::fetch(&paths::cache_dir()?.join("apt"), APT_SUITES)?;
    let libs = [
        "libc6",
        "libelf1t64",
        "zlib1g",
        "libzstd1",
        "libssl3t64",
        "libcrypt1",
    ]
    .map(String::from);
    let debs = apt.download(&libs, &cache.join("debs-trixie"))?;
    let sysroot = k.root.join("trixie-runtime");
    for deb in debs {
        cmd::quiet(Command::new("dpkg").arg("-x").arg(deb).arg(&sysroot))?;
    }
    let loader = sysroot.join("usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2");
    let libpath = format!(
        "{0}/usr/lib/x86_64-linux-gnu:{0}/lib/x86_64-linux-gnu",
        sysroot.display()
    );
    for bin in needy {
        let real = PathBuf::from(format!("{}{REAL_SUFFIX}", bin.display()));
        fs::rename(&bin, &real)?;
        let script = format!(
            "#!/bin/sh\nexec {} --library-path {libpath} {} \"$@\"\n",
            loader.display(),
            real.display()
        );
        fs::write(&bin, script)?;
        fs::set_permissions(&bin, fs::Permissions::from_mode(0o755))?;
    }
    Ok(())
}

/// Suffix of a wrapped kbuild binary's original (Debian's names already contain dots, e.g.
/// modpost.real-lsb-64).
const REAL_SUFFIX: &str = ".nt-trixie-elf";

/// The host's glibc minor version (2.N), from `ldd --version`.
fn host_glibc_minor() -> Result<u32> {
    let out = cmd::output(Command::new("ldd").arg("--version"))?;
    out.lines()
        .next()
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.strip_prefix("2."))
        .and_then(|m| m.parse().ok())
        .context("cannot read the glibc version from ldd --version")
}

/// Whether an ELF file references a GLIBC_2.N symbol version with N > `minor`.
fn needs_glibc_newer_than(file: &Path, minor: u32) -> bool {
    let Ok(bytes) = fs::read(file) else {
        return false;
    };
    bytes.windows(8).enumerate().any(|(i, w)| {
        w == b"GLIBC_2." && {
            let digits: String = bytes[i + 8..]
                .iter()
                .take(3)
                .take_while(|b| b.is_ascii_digit())
                .map(|&b| b as char)
                .collect();
            digits.parse::<u32>().is_ok_and(|n| n > minor)
        }
    })
}

fn elf_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for e in fs::read_dir(dir)? {
        let p = e?.path();
        let meta = fs::symlink_metadata(&p)?;
        if meta.is_dir() {
            out.extend(elf_files(&p)?);
        } else if meta.is_file() && meta.permissions().mode() & 0o111 != 0 {
            let mut magic = [0u8; 4];
            if fs::File::open(&p)
                .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut magic))
                .is_ok()
                && magic == *b"\x7fELF"
            {
                out.push(p);
            }
        }
    }
    Ok(out)
}
