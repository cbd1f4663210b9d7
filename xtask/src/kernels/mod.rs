//! The kernel matrix: Debian's own kernels (`debian.rs`), and kernels built here from
//! Debian's source of one of them with a configuration fragment from the repository
//! (`build.rs`: the lockdep kernel). Either way the result is the same unpacked layout,
//! cached: an image to boot, its modules, and a tree to build out-of-tree modules against.

mod build;
mod debian;

use std::{fs, path::PathBuf};

use anyhow::{Context as _, Result};

use crate::paths;

/// One kernel of the matrix.
pub struct Spec {
    pub id: &'static str,
    pub origin: Origin,
    pub note: &'static str,
    /// Whether the kernel's objtool accepts objects built by bookworm's gcc-12/binutils
    /// (Debian's 7.3, built by gcc-14, rejects their annotations: the fixture is then built
    /// without objtool).
    pub objtool_ok: bool,
}

pub enum Origin {
    /// Debian's binary packages: the kernel `linux-image-amd64` names in `suite`.
    Debian { suite: &'static str },
    /// Built here from `linux-source-<from>` of the same Debian upload as the matrix kernel
    /// `from`, configured with `defconfig kvm_guest.config` plus `fragment` (a path in the
    /// repository). Not part of the default matrix: the build takes about 15 minutes.
    Built {
        from: &'static str,
        fragment: &'static str,
    },
}

pub const MATRIX: &[Spec] = &[
    Spec {
        id: "6.1",
        origin: Origin::Debian { suite: "bookworm" },
        note: "bookworm's own kernel",
        objtool_ok: true,
    },
    Spec {
        id: "6.12",
        origin: Origin::Debian {
            suite: "bookworm-backports",
        },
        note: "built for bookworm: its kbuild runs here",
        objtool_ok: true,
    },
    Spec {
        id: "7.3",
        origin: Origin::Debian {
            suite: "trixie-backports",
        },
        note: "generic flavour: rdma_rxe with ODP, two-pass ops",
        objtool_ok: false,
    },
    Spec {
        id: "7.3-lockdep",
        origin: Origin::Built {
            from: "7.3",
            fragment: "tests/vm/kernels/7.3-lockdep.config",
        },
        note: "7.3 from source with PROVE_LOCKING: the oracle for the lock rules",
        objtool_ok: true,
    },
];

impl Spec {
    /// Whether a command given no `--kernel` runs on this one.
    pub fn in_default_matrix(&self) -> bool {
        matches!(self.origin, Origin::Debian { .. })
    }
}

pub fn spec(id: &str) -> Result<&'static Spec> {
    MATRIX.iter().find(|s| s.id == id).with_context(|| {
        let ids: Vec<_> = MATRIX.iter().map(|s| s.id).collect();
        format!("unknown kernel {id}; the matrix is {}", ids.join(", "))
    })
}

/// The kernels a command given no `--kernel` runs on.
pub fn default_ids() -> Vec<String> {
    MATRIX
        .iter()
        .filter(|s| s.in_default_matrix())
        .map(|s| s.id.to_owned())
        .collect()
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

/// Debian's source package of a kernel, of the exact upload its headers come from.
pub struct SourcePackage {
    /// e.g. linux-source-7.3
    pub name: String,
    /// e.g. 7.3.4-1~bpo13+1
    pub version: String,
}

/// The source package `k` was built from (for a built kernel, the one it was built from).
pub fn source_of(k: &Kernel) -> Result<SourcePackage> {
    match spec(k.id)?.origin {
        Origin::Debian { .. } => Ok(SourcePackage {
            name: format!("linux-source-{}", k.id),
            version: debian::upload_version(k)?,
        }),
        Origin::Built { .. } => build::source_of(k),
    }
}

/// The suites of the private apt view (`apt/` in the cache) every fetch shares.
pub const APT_SUITES: &[&str] = &[
    "bookworm",
    "bookworm-backports",
    "trixie",
    "trixie-backports",
];

/// Fetches (or builds) and unpacks `id` unless the cache already holds it.
pub fn prepare(id: &str) -> Result<Kernel> {
    let spec = spec(id)?;
    match spec.origin {
        Origin::Debian { suite } => debian::prepare(spec, suite),
        Origin::Built { from, fragment } => build::prepare(spec, from, fragment),
    }
}

/// `<cache>/kernels/<id>.release`, written once a kernel is complete.
fn marker(spec: &Spec) -> Result<PathBuf> {
    Ok(paths::cache_dir()?
        .join("kernels")
        .join(format!("{}.release", spec.id)))
}

/// The cached kernel `spec`, if a complete one is there.
fn cached(spec: &'static Spec) -> Result<Option<Kernel>> {
    let Ok(release) = fs::read_to_string(marker(spec)?) else {
        return Ok(None);
    };
    let k = Kernel {
        id: spec.id,
        release: release.trim().to_owned(),
        root: paths::cache_dir()?.join("kernels").join(release.trim()),
    };
    Ok((k.vmlinuz().exists() && k.kdir().exists()).then_some(k))
}

/// Marks `k` complete in the cache.
fn record(k: &Kernel) -> Result<()> {
    let marker = marker(spec(k.id)?)?;
    fs::write(&marker, &k.release).with_context(|| format!("writing {}", marker.display()))?;
    eprintln!("    kernel {} = {}", k.id, k.release);
    Ok(())
}
