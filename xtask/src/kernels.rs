//! The kernel matrix: Debian's own kernels, fetched through the private apt configuration,
//! unpacked (image, modules, headers and kbuild for building the fixture module) and cached.

use std::{
    fs,
    os::unix::fs::PermissionsExt as _,
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context as _, Result, bail};

use crate::{apt::PrivateApt, cmd, paths};

/// One kernel of the matrix.
pub struct Spec {
    pub id: &'static str,
    /// Suite whose `linux-image-amd64` meta package names the kernel.
    pub suite: &'static str,
    pub note: &'static str,
    /// Whether the kernel's objtool accepts objects built by bookworm's gcc-12/binutils
    /// (7.3's rejects their annotations: the fixture is then built without objtool).
    pub objtool_ok: bool,
}

pub const MATRIX: &[Spec] = &[
    Spec {
        id: "6.1",
        suite: "bookworm",
        note: "bookworm's own kernel",
        objtool_ok: true,
    },
    Spec {
        id: "6.12",
        suite: "bookworm-backports",
        note: "built for bookworm: its kbuild runs here",
        objtool_ok: true,
    },
    Spec {
        id: "7.3",
        suite: "trixie-backports",
        note: "generic flavour: rdma_rxe with ODP, two-pass ops",
        objtool_ok: false,
    },
];

pub fn spec(id: &str) -> Result<&'static Spec> {
    MATRIX.iter().find(|s| s.id == id).with_context(|| {
        let ids: Vec<_> = MATRIX.iter().map(|s| s.id).collect();
        format!("unknown kernel {id}; the matrix is {}", ids.join(", "))
    })
}

/// An unpacked kernel, ready to boot and to build modules against.
pub struct Kernel {
    pub id: &'static str,
    /// `uname -r` of the guest.
    pub release: String,
    pub root: PathBuf,
}

impl Kernel {
    pub fn vmlinuz(&self) -> PathBuf {
        let usr = self.modules_dir().join("vmlinuz");
        if usr.exists() {
            usr
        } else {
            self.root
                .join("boot")
                .join(format!("vmlinuz-{}", self.release))
        }
    }

    /// lib/modules/<release> (Debian 7.x ships it under /usr).
    pub fn modules_dir(&self) -> PathBuf {
        let usr = self.root.join("usr/lib/modules").join(&self.release);
        if usr.exists() {
            usr
        } else {
            self.root.join("lib/modules").join(&self.release)
        }
    }

    /// The directory `modprobe -d` wants (the one holding lib/modules).
    pub fn modprobe_root(&self) -> PathBuf {
        if self
            .root
            .join("usr/lib/modules")
            .join(&self.release)
            .exists()
        {
            self.root.join("usr")
        } else {
            self.root.clone()
        }
    }

    /// The headers tree to build out-of-tree modules against (KDIR).
    pub fn kdir(&self) -> PathBuf {
        self.root
            .join("usr/src")
            .join(format!("linux-headers-{}", self.release))
    }
}

/// The suites of the private apt view (`apt/` in the cache) every fetch shares.
pub const APT_SUITES: &[&str] = &[
    "bookworm",
    "bookworm-backports",
    "trixie",
    "trixie-backports",
];

/// Fetches and unpacks `id` unless the cache already holds it.
pub fn prepare(id: &str) -> Result<Kernel> {
    let spec = spec(id)?;
    let cache = paths::cache_dir()?.join("kernels");
    let marker = cache.join(format!("{}.release", spec.id));
    if let Ok(release) = fs::read_to_string(&marker) {
        let k = Kernel {
            id: spec.id,
            release: release.trim().to_owned(),
            root: cache.join(release.trim()),
        };
        if k.vmlinuz().exists() && k.kdir().exists() {
            relocate_headers(&k)?;
            make_kbuild_runnable(&k, &cache)?;
            return Ok(k);
        }
    }
    cmd::step(&format!("kernel {}: resolving in {}", spec.id, spec.suite));
    let apt = PrivateApt::fetch(&paths::cache_dir()?.join("apt"), APT_SUITES)?;
    let image = apt.resolve("linux-image-amd64", spec.suite, "linux-image-")?;
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
    fs::write(&marker, &release)?;
    eprintln!("    kernel {} = {release}", spec.id);
    Ok(k)
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
