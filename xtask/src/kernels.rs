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
}

pub const MATRIX: &[Spec] = &[
    Spec {
        id: "6.1",
        suite: "bookworm",
        note: "bookworm's own kernel; statics inlined, no module BTF checks",
    },
    Spec {
        id: "6.12",
        suite: "bookworm-backports",
        note: "built for bookworm: its kbuild runs here",
    },
    Spec {
        id: "7.3",
        suite: "trixie-backports",
        note: "generic flavour: rdma_rxe with ODP, two-pass ops",
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

const APT_SUITES: &[&str] = &[
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
            return Ok(k);
        }
    }
    cmd::step(&format!("kernel {}: resolving in {}", spec.id, spec.suite));
    let apt = PrivateApt::new(&paths::cache_dir()?.join("apt"), APT_SUITES)?;
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
    make_kbuild_runnable(&apt, &k, &cache)?;
    fs::write(&marker, &release)?;
    eprintln!("    kernel {} = {release}", spec.id);
    Ok(k)
}

/// trixie's kbuild host programs (fixdep, modpost, objtool, ...) need a newer glibc than
/// bookworm's. Rather than rebuilding them, run each through trixie's own dynamic loader and
/// libraries, unpacked beside the kernel: a shell wrapper replaces each ELF binary.
fn make_kbuild_runnable(apt: &PrivateApt, k: &Kernel, cache: &Path) -> Result<()> {
    let kbuild = k.root.join("usr/lib");
    let Some(dir) = fs::read_dir(&kbuild)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("linux-kbuild-"))
        })
    else {
        bail!("no linux-kbuild-* tree under {}", kbuild.display());
    };
    let fixdep = dir.join("scripts/basic/fixdep");
    if Command::new(&fixdep)
        .output()
        .is_ok_and(|o| !String::from_utf8_lossy(&o.stderr).contains("GLIBC_"))
    {
        return Ok(());
    }
    cmd::step(&format!(
        "kernel {}: kbuild needs a newer glibc; wrapping it with trixie's",
        k.id
    ));
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
    for bin in elf_files(&dir)? {
        let real = bin.with_extension("real");
        fs::rename(&bin, &real)?;
        let script = format!(
            "#!/bin/sh\nexec {} --library-path {libpath} {} \"$@\"\n",
            loader.display(),
            real.display()
        );
        fs::write(&bin, script)?;
        fs::set_permissions(&bin, fs::Permissions::from_mode(0o755))?;
    }
    cmd::quiet(
        Command::new(&fixdep)
            .arg("/dev/null")
            .arg("x")
            .arg("y")
            .stdout(std::process::Stdio::null()),
    )
    .context("the wrapped fixdep still does not run")
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
