//! A kernel built here from Debian's source: `linux-source-<from>` of the upload the matrix
//! kernel `from` comes from, `make defconfig kvm_guest.config`, the repository's fragment
//! merged in and checked line by line, then `bzImage modules`, installed into the layout of
//! an unpacked Debian kernel: `<cache>/kernels/<release>/` with `boot/vmlinuz-<release>`,
//! `lib/modules/<release>/` and `usr/src/linux-headers-<release>` pointing at the build tree.
//! The build tree (`<cache>/build/<id>/`, about 3 GB) stays: it is what out-of-tree modules
//! are built against, and a changed fragment rebuilds it incrementally.

use std::{
    fs,
    io::{BufRead as _, BufReader, Write as _},
    os::unix::fs::symlink,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    sync::mpsc,
    thread,
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result, bail};

use super::{APT_SUITES, Kernel, SourcePackage, Spec, debian};
use crate::{apt::PrivateApt, cmd, paths};

/// Beside the installed kernel: which source package it was built from.
const SOURCE_FILE: &str = "nt-source";

pub(super) fn prepare(spec: &'static Spec, from: &str, fragment: &str) -> Result<Kernel> {
    let fragment_path = paths::project_root().join(fragment);
    let wanted = fs::read_to_string(&fragment_path)
        .with_context(|| format!("reading {}", fragment_path.display()))?;
    let dir = paths::cache_dir()?.join("build").join(spec.id);
    let stamp = dir.join("config.fragment");
    if let Some(k) = super::cached(spec)?
        && fs::read_to_string(&stamp).ok().as_deref() == Some(wanted.as_str())
    {
        return Ok(k);
    }
    check_build_tools(spec.id)?;
    let base = super::prepare(from)?;
    let source = SourcePackage {
        name: format!("linux-source-{from}"),
        version: debian::upload_version(&base)?,
    };
    let tree = unpack(&dir, &source)?;
    configure(spec.id, &tree, &fragment_path, &wanted, &stamp)?;
    compile(spec.id, &tree, &dir)?;
    let k = install(spec, &tree, &source)?;
    super::record(&k)?;
    Ok(k)
}

pub(super) fn source_of(k: &Kernel) -> Result<SourcePackage> {
    let file = k.root.join(SOURCE_FILE);
    let text = fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
    let (name, version) = text
        .trim()
        .split_once(' ')
        .with_context(|| format!("{} does not hold `<package> <version>`", file.display()))?;
    Ok(SourcePackage {
        name: name.to_owned(),
        version: version.to_owned(),
    })
}

/// What a kernel build needs beyond the fixture's toolchain; pahole ≥ 1.22 for 7.x's BTF.
fn check_build_tools(id: &str) -> Result<()> {
    let missing: Vec<&str> = ["flex", "bison", "bc", "pahole", "gcc", "make"]
        .into_iter()
        .filter(|t| {
            Command::new("sh")
                .args(["-c", &format!("command -v {t}")])
                .stdout(Stdio::null())
                .status()
                .map_or(true, |s| !s.success())
        })
        .collect();
    if !missing.is_empty() {
        bail!(
            "building kernel {id} needs {} (not found): run `cargo xtask setup`, which installs them",
            missing.join(", ")
        );
    }
    Ok(())
}

/// `<dir>/linux-source-<from>/`, extracted from the source package unless it already holds
/// that upload.
fn unpack(dir: &Path, source: &SourcePackage) -> Result<PathBuf> {
    let tree = dir.join(&source.name);
    let marker = dir.join("source");
    let want = format!("{} {}\n", source.name, source.version);
    if tree.join("Makefile").exists() && fs::read_to_string(&marker).ok().as_deref() == Some(&want)
    {
        return Ok(tree);
    }
    let apt = PrivateApt::fetch(&paths::cache_dir()?.join("apt"), APT_SUITES)?;
    let debs = apt.download(
        &[format!("{}={}", source.name, source.version)],
        &dir.join("debs"),
    )?;
    if tree.exists() {
        fs::remove_dir_all(&tree)?;
    }
    cmd::step(&format!(
        "{} {}: extracting the kernel tree (about 1.5 GB)",
        source.name, source.version
    ));
    cmd::quiet(
        Command::new("bash")
            .arg("-c")
            .arg(
                r#"set -o pipefail; deb=$1 inner=$2 dest=$3
                dpkg-deb --fsys-tarfile "$deb" | tar -xO "$inner" | tar -xJ -C "$dest""#,
            )
            .arg("extract")
            .arg(&debs[0])
            .arg(format!("./usr/src/{}.tar.xz", source.name))
            .arg(dir),
    )
    .with_context(|| format!("extracting the kernel tree from {}", debs[0].display()))?;
    fs::write(&marker, want)?;
    Ok(tree)
}

/// `defconfig kvm_guest.config` + the fragment, unless the tree's .config was made from
/// this fragment already (`stamp` holds the fragment it was made from).
fn configure(id: &str, tree: &Path, fragment: &Path, wanted: &str, stamp: &Path) -> Result<()> {
    if tree.join(".config").exists() && fs::read_to_string(stamp).ok().as_deref() == Some(wanted) {
        return Ok(());
    }
    cmd::step(&format!(
        "kernel {id}: configuring (defconfig kvm_guest.config + {})",
        fragment.display()
    ));
    let make = || {
        let mut c = Command::new("make");
        c.current_dir(tree);
        c
    };
    cmd::quiet(make().args(["defconfig", "kvm_guest.config"]))?;
    cmd::quiet(
        Command::new(tree.join("scripts/kconfig/merge_config.sh"))
            .current_dir(tree)
            .args(["-m", ".config"])
            .arg(fragment),
    )?;
    cmd::quiet(make().arg("olddefconfig"))?;
    let config = fs::read_to_string(tree.join(".config"))?;
    let dropped = dropped_options(wanted, &config);
    if !dropped.is_empty() {
        bail!(
            "kernel {id}: Kconfig did not keep {} of {} (a dependency is off or the option is \
             gone in this version; `make menuconfig` in {} shows why)",
            dropped.join(", "),
            fragment.display(),
            tree.display()
        );
    }
    fs::write(stamp, wanted)?;
    Ok(())
}

/// The fragment's settings the final .config does not have: `CONFIG_X=v` lines missing
/// verbatim, and `# CONFIG_X is not set` options that are set.
fn dropped_options(fragment: &str, config: &str) -> Vec<String> {
    let set: Vec<&str> = config
        .lines()
        .filter(|l| l.starts_with("CONFIG_"))
        .collect();
    fragment
        .lines()
        .map(str::trim)
        .filter_map(|l| {
            if l.starts_with("CONFIG_") {
                (!set.contains(&l)).then(|| l.to_owned())
            } else {
                let name = l.strip_prefix("# ")?.strip_suffix(" is not set")?;
                let prefix = format!("{name}=");
                set.iter()
                    .any(|s| s.starts_with(&prefix))
                    .then(|| format!("{name} off"))
            }
        })
        .collect()
}

/// `make -j<cores> bzImage modules`, its output in `<dir>/build.log`, with a progress line
/// every 20 s (objects compiled, out of the previous build's count when there was one).
fn compile(id: &str, tree: &Path, dir: &Path) -> Result<()> {
    let jobs = thread::available_parallelism().map_or(1, |n| n.get());
    let log_path = dir.join("build.log");
    let count_path = dir.join("objects");
    let previous: Option<u64> = fs::read_to_string(&count_path)
        .ok()
        .and_then(|s| s.trim().parse().ok());
    cmd::step(&format!(
        "kernel {id}: make -j{jobs} bzImage modules in {} (about 15 minutes on 2 cores from \
         scratch; log: {})",
        tree.display(),
        log_path.display()
    ));
    let mut child = Command::new("make")
        .current_dir(tree)
        .arg(format!("-j{jobs}"))
        .args(["bzImage", "modules"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("starting make")?;
    let (tx, rx) = mpsc::channel::<String>();
    let pipes: Vec<Box<dyn std::io::Read + Send>> = vec![
        Box::new(child.stdout.take().context("make's stdout")?),
        Box::new(child.stderr.take().context("make's stderr")?),
    ];
    let readers: Vec<_> = pipes
        .into_iter()
        .map(|p| {
            let tx = tx.clone();
            thread::spawn(move || {
                for line in BufReader::new(p).lines().map_while(Result::ok) {
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            })
        })
        .collect();
    drop(tx);
    let mut log =
        fs::File::create(&log_path).with_context(|| format!("creating {}", log_path.display()))?;
    let start = Instant::now();
    let mut last_report = start;
    let mut compiled = 0u64;
    let mut current = String::new();
    loop {
        match rx.recv_timeout(Duration::from_secs(1)) {
            Ok(line) => {
                writeln!(log, "{line}")?;
                if let Some(obj) = line.trim_start().strip_prefix("CC ") {
                    compiled += 1;
                    current = obj.trim_start().trim_start_matches("[M]").trim().to_owned();
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
        if last_report.elapsed() >= Duration::from_secs(20) {
            last_report = Instant::now();
            let of = previous.map_or(String::new(), |p| format!(" of ~{p}"));
            eprintln!(
                "    {:>4}s  {compiled}{of} objects compiled, at {current}",
                start.elapsed().as_secs()
            );
        }
    }
    for r in readers {
        let _ = r.join();
    }
    let status = child.wait()?;
    if !status.success() {
        let text = fs::read_to_string(&log_path).unwrap_or_default();
        let tail: Vec<&str> = text.lines().rev().take(25).collect();
        for l in tail.into_iter().rev() {
            eprintln!("    {l}");
        }
        bail!(
            "kernel {id}: make failed ({status}) after {}s; full log: {}",
            start.elapsed().as_secs(),
            log_path.display()
        );
    }
    eprintln!(
        "    built in {}s ({compiled} objects compiled)",
        start.elapsed().as_secs()
    );
    // An incremental build compiles a few objects: keep the full build's count.
    if previous.is_none_or(|p| compiled > p / 2) {
        fs::write(&count_path, compiled.to_string())?;
    }
    Ok(())
}

/// The built image and modules into `<cache>/kernels/<release>/`.
fn install(spec: &'static Spec, tree: &Path, source: &SourcePackage) -> Result<Kernel> {
    let release = cmd::output(
        Command::new("make")
            .current_dir(tree)
            .args(["-s", "kernelrelease"]),
    )?
    .trim()
    .to_owned();
    let root = paths::cache_dir()?.join("kernels").join(&release);
    if root.exists() {
        fs::remove_dir_all(&root)?;
    }
    cmd::step(&format!("kernel {}: installing {release}", spec.id));
    fs::create_dir_all(root.join("boot"))?;
    fs::create_dir_all(root.join("usr/src"))?;
    cmd::quiet(
        Command::new("make")
            .current_dir(tree)
            .arg("modules_install")
            .arg(format!("INSTALL_MOD_PATH={}", root.display()))
            .arg("INSTALL_MOD_STRIP=1"),
    )?;
    let k = Kernel {
        id: spec.id,
        release: release.clone(),
        root,
    };
    fs::copy(tree.join("arch/x86/boot/bzImage"), k.vmlinuz())
        .with_context(|| format!("copying the image to {}", k.vmlinuz().display()))?;
    symlink(tree, k.kdir())?;
    fs::write(
        k.root.join(SOURCE_FILE),
        format!("{} {}\n", source.name, source.version),
    )?;
    Ok(k)
}

#[cfg(test)]
mod tests {
    use super::dropped_options;

    #[test]
    fn options_kconfig_dropped_are_named() {
        let fragment = "# comment\nCONFIG_A=y\nCONFIG_B=m\n# CONFIG_C is not set\n\
                        # CONFIG_D is not set\nCONFIG_E=\"-x\"\n";
        let config = "CONFIG_A=y\nCONFIG_B=y\nCONFIG_C=y\n# CONFIG_D is not set\nCONFIG_E=\"-x\"\n";
        assert_eq!(
            dropped_options(fragment, config),
            ["CONFIG_B=m", "CONFIG_C off"]
        );
    }
}
