//! `cargo xtask dist`: what a release ships, in target/dist/: the static notifier-top (musl,
//! no program interpreter: it runs on any x86_64 distribution), its man pages and shell
//! completions (written by the binary's own hidden `generate`), the licences, and a Debian
//! package built with `dpkg-deb` from a staging tree and checked by lintian, each file with
//! its .sha256.

use std::{
    fs,
    os::unix::fs::PermissionsExt as _,
    path::{Path, PathBuf},
    process::Command,
    time::SystemTime,
};

use anyhow::{Context as _, Result, bail};

use crate::{cmd, paths, setup::STATIC_TARGET, test::path_with_linker};

const PACKAGE: &str = "notifier-top";
/// notifier-user's version: xtask shares the workspace's (`version.workspace = true`).
const VERSION: &str = env!("CARGO_PKG_VERSION");
/// The address the project's commits carry.
const MAINTAINER: &str =
    "The notifier-top developers <maintainers@users.noreply.r-seed-02a8bd3a.example>";
const LICENSES: &[&str] = &["LICENSE-GPL-2.0", "LICENSE-MIT"];
/// The package's one configuration file (DEBIAN/conffiles): dpkg keeps local edits.
const CONFFILE: &str = "etc/default/notifier-top";

/// Builds everything into target/dist/ (emptied first).
pub fn run() -> Result<()> {
    let root = paths::project_root();
    let dist = paths::target_dir().join("dist");
    // Files of an earlier version would ship beside this one's, and the VM suite takes the
    // one .deb it finds there.
    recreate(&dist)?;
    let built = build_static()?;
    check_static(&built)?;
    let bin = dist.join(PACKAGE);
    copy(&built, &bin, 0o755)?;
    generate(&bin, &dist)?;
    for l in LICENSES {
        copy(&root.join(l), &dist.join(l), 0o644)?;
    }
    let epoch = source_date()?;
    let stage = paths::target_dir().join("dist-staging");
    cmd::step(&format!(
        "staging the Debian package in {}",
        stage.display()
    ));
    stage_deb(&dist, &stage, epoch)?;
    verify_unit(&stage)?;
    let deb = dist.join(format!("{PACKAGE}_{VERSION}_amd64.deb"));
    cmd::step(&format!("dpkg-deb --build {}", deb.display()));
    cmd::quiet(
        Command::new("dpkg-deb")
            .args(["--root-owner-group", "--build"])
            .arg(&stage)
            .arg(&deb)
            // Member times from the commit, not from this build: the same tree, the same .deb.
            .env("SOURCE_DATE_EPOCH", epoch.to_string()),
    )
    .context("building the .deb (dpkg-deb)")?;
    for f in [&bin, &deb] {
        sha256(f)?;
    }
    lintian(&deb)?;
    cmd::step(&format!(
        "dist complete in {}: {PACKAGE} ({} KiB, static), {}, man/, completions/, licences, .sha256 \
         files. Install the package: sudo apt install ./{}",
        dist.display(),
        fs::metadata(&bin)?.len() / 1024,
        file_name(&deb),
        deb.strip_prefix(paths::project_root())
            .unwrap_or(&deb)
            .display()
    ));
    Ok(())
}

/// The release build for the musl target, symbols stripped (lintian refuses unstripped
/// binaries; the embedded eBPF object is data and keeps its BTF). The override names the
/// package so that host build scripts keep the profile a plain release build uses.
fn build_static() -> Result<PathBuf> {
    let args = [
        "build",
        "--release",
        "--locked",
        "-p",
        "notifier-user",
        "--target",
        STATIC_TARGET,
    ];
    cmd::step(&format!(
        "cargo {} (static; the first build takes several minutes)",
        args.join(" ")
    ));
    cmd::run(
        Command::new("cargo")
            .args(args)
            .args([
                "--config",
                "profile.release.package.notifier-user.strip=true",
            ])
            .env("PATH", path_with_linker()?),
    )
    .context("building the static binary (`cargo xtask setup` adds the musl target)")?;
    Ok(paths::target_dir()
        .join(STATIC_TARGET)
        .join("release")
        .join(PACKAGE))
}

/// A static binary has no program interpreter (PT_INTERP): no libc has to be installed.
fn check_static(bin: &Path) -> Result<()> {
    let headers = cmd::output(
        Command::new("readelf")
            .args(["--program-headers", "--wide"])
            .arg(bin),
    )
    .context("reading the binary's program headers (readelf, from binutils)")?;
    if let Some(interp) = headers.lines().find(|l| l.contains("program interpreter")) {
        bail!(
            "{} is not static: {}",
            bin.display(),
            interp.trim().trim_matches(['[', ']'])
        );
    }
    cmd::step(&format!(
        "{}: {} KiB, static (no program interpreter)",
        bin.display(),
        fs::metadata(bin)?.len() / 1024
    ));
    Ok(())
}

/// man/ (gzip -9n: no name or time in the header, so the same pages give the same bytes)
/// and completions/, from the binary itself.
fn generate(bin: &Path, dist: &Path) -> Result<()> {
    cmd::step("man pages and shell completions (notifier-top generate)");
    let man = dist.join("man");
    let completions = dist.join("completions");
    let jobs = [
        ("man", &man),
        ("complete-bash", &completions),
        ("complete-zsh", &completions),
        ("complete-fish", &completions),
    ];
    for (what, out) in jobs {
        cmd::run(Command::new(bin).args(["generate", what, "--out"]).arg(out))?;
    }
    for page in files_in(&man)? {
        gzip(&page)?;
    }
    Ok(())
}

/// The package's tree: the binary, its pages and completions where man and the shells look,
/// the documentation Debian requires, the systemd unit and its defaults (a conffile), the
/// lintian override a static-pie binary needs, and DEBIAN/.
fn stage_deb(dist: &Path, stage: &Path, epoch: u64) -> Result<()> {
    let root = paths::project_root();
    recreate(stage)?;
    let put = |from: &Path, to: &str, mode: u32| copy(from, &stage.join(to), mode);
    put(&dist.join(PACKAGE), "usr/bin/notifier-top", 0o755)?;
    for page in files_in(&dist.join("man"))? {
        put(
            &page,
            &format!("usr/share/man/man1/{}", file_name(&page)),
            0o644,
        )?;
    }
    let completions = dist.join("completions");
    for (from, to) in [
        (
            "notifier-top.bash",
            "usr/share/bash-completion/completions/notifier-top",
        ),
        (
            "_notifier-top",
            "usr/share/zsh/vendor-completions/_notifier-top",
        ),
        (
            "notifier-top.fish",
            "usr/share/fish/vendor_completions.d/notifier-top.fish",
        ),
    ] {
        put(&completions.join(from), to, 0o644)?;
    }
    let doc = stage.join("usr/share/doc").join(PACKAGE);
    write(&doc.join("copyright"), &copyright()?)?;
    write(&doc.join("changelog"), &changelog(epoch)?)?;
    gzip(&doc.join("changelog"))?;
    let packaging = root.join("packaging");
    for (from, to) in [
        (
            root.join("README.md"),
            "usr/share/doc/notifier-top/README.md",
        ),
        (
            packaging.join("grafana-dashboard.json"),
            "usr/share/doc/notifier-top/grafana-dashboard.json",
        ),
        // /usr/lib, where Debian's merged /usr (DEP 17, trixie) puts units; bookworm's
        // systemd and lintian take it too.
        (
            packaging.join("notifier-top.service"),
            "usr/lib/systemd/system/notifier-top.service",
        ),
        (packaging.join("notifier-top.default"), CONFFILE),
        (
            packaging.join("notifier-top.lintian-overrides"),
            "usr/share/lintian/overrides/notifier-top",
        ),
    ] {
        put(&from, to, 0o644)?;
    }
    directory_modes(stage)?;
    // What is installed, so before DEBIAN/.
    let size = installed_size_kib(stage)?;
    md5sums(stage)?;
    write(&stage.join("DEBIAN/conffiles"), &format!("/{CONFFILE}\n"))?;
    write(&stage.join("DEBIAN/control"), &control(size))?;
    directory_modes(&stage.join("DEBIAN"))
}

/// DEBIAN/md5sums as dh_md5sums writes it, for `dpkg --verify`: every installed file but
/// the conffile (dpkg keeps its checksum itself).
fn md5sums(stage: &Path) -> Result<()> {
    let files: Vec<PathBuf> = tree(stage)?
        .into_iter()
        .filter(|p| p.is_file())
        .filter_map(|p| p.strip_prefix(stage).ok().map(Path::to_path_buf))
        .filter(|p| p != Path::new(CONFFILE))
        .collect();
    let sums = cmd::output(Command::new("md5sum").args(&files).current_dir(stage))?;
    write(&stage.join("DEBIAN/md5sums"), &sums)
}

fn control(installed_size_kib: u64) -> String {
    format!(
        "Package: {PACKAGE}\n\
         Version: {VERSION}\n\
         Architecture: amd64\n\
         Maintainer: {MAINTAINER}\n\
         Installed-Size: {installed_size_kib}\n\
         Section: admin\n\
         Priority: optional\n\
         Description: live view of the kernel's mmu_interval_notifier trees\n \
         notifier-top hooks the kernel's mmu_interval_notifier paths (insert, remove,\n \
         invalidate, read_begin, release) with eBPF and keeps an exact mirror of every\n \
         address space's interval tree, attributing each interval to its process and to\n \
         the GPU or RDMA driver that registered it (nouveau and amdgpu SVM, amdkfd, xe,\n \
         RDMA On-Demand Paging).\n \
         .\n \
         It shows the trees live (a terminal view), streams and records events, runs\n \
         hazard rules that lockdep checks only on debug kernels (reclaim-capable\n \
         allocations and sleeping in invalidation callbacks, self-deadlocking removes)\n \
         and serves Prometheus metrics. It needs a kernel with BTF and runs as root or\n \
         with CAP_BPF, CAP_PERFMON and CAP_SYSLOG. The binary is static.\n"
    )
}

/// debian/copyright in the machine-readable format (DEP-5): either licence, at the user's
/// option. DEP-5 names them GPL-2 and Expat (its name for this MIT text); the GPL's text is
/// referred to in common-licenses, as Debian asks.
fn copyright() -> Result<String> {
    let mit = read(&paths::project_root().join("LICENSE-MIT"))?;
    let terms = mit
        .find("Permission is hereby granted")
        .map(|at| &mit[at..])
        .context("LICENSE-MIT lacks the MIT terms")?;
    Ok(format!(
        "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\
         Upstream-Name: {PACKAGE}\n\
         Upstream-Contact: {MAINTAINER}\n\
         \n\
         Files: *\n\
         Copyright: 2026 The notifier-top developers\n\
         License: GPL-2 or Expat\n\
         Comment: SPDX: GPL-2.0-only OR MIT. The eBPF programs it loads declare GPL to the\n \
         kernel, which lets them call its GPL-only helpers.\n\
         \n\
         License: GPL-2\n \
         This program is free software; you can redistribute it and/or modify it under\n \
         the terms of the GNU General Public License version 2 as published by the Free\n \
         Software Foundation.\n \
         .\n \
         On Debian systems, the complete text of the GNU General Public License version 2\n \
         can be found in /usr/share/common-licenses/GPL-2.\n\
         \n\
         License: Expat\n{}",
        continuation(terms)
    ))
}

/// Text as the lines of a control-file field's continuation: each indented by a space, an
/// empty line as ` .`.
fn continuation(text: &str) -> String {
    text.trim_end()
        .lines()
        .map(|l| {
            if l.trim().is_empty() {
                " .\n".to_owned()
            } else {
                format!(" {l}\n")
            }
        })
        .collect()
}

/// A native package's changelog (the version has no Debian revision), dated from the
/// commit.
fn changelog(epoch: u64) -> Result<String> {
    let date = cmd::output(Command::new("date").args(["-u", "-R", "-d", &format!("@{epoch}")]))
        .context("formatting the changelog date")?;
    Ok(format!(
        "{PACKAGE} ({VERSION}) unstable; urgency=medium\n\n  \
         * Version {VERSION}, packaged by cargo xtask dist.\n\n \
         -- {MAINTAINER}  {}\n",
        date.trim()
    ))
}

/// The time the package's files are dated from: SOURCE_DATE_EPOCH when set (the
/// reproducible-builds convention), else the commit's, else now (outside a checkout).
fn source_date() -> Result<u64> {
    if let Ok(v) = std::env::var("SOURCE_DATE_EPOCH") {
        return v
            .trim()
            .parse()
            .with_context(|| format!("SOURCE_DATE_EPOCH={v} is not a number of seconds"));
    }
    let commit = Command::new("git")
        .args(["log", "-1", "--format=%ct"])
        .current_dir(paths::project_root())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok());
    match commit {
        Some(t) => Ok(t),
        None => Ok(SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)?
            .as_secs()),
    }
}

/// `systemd-analyze verify` on the unit: on a copy whose ExecStart names the staged binary,
/// since it checks that the command exists and /usr/bin/notifier-top is not installed here
/// (nor is the man page it names, hence --man=no). Skipped, saying so, without systemd.
fn verify_unit(stage: &Path) -> Result<()> {
    let unit = read(&stage.join("usr/lib/systemd/system/notifier-top.service"))?;
    let bin = stage.join("usr/bin/notifier-top");
    let scratch = paths::target_dir().join("dist-verify");
    recreate(&scratch)?;
    let checked = scratch.join("notifier-top.service");
    write(
        &checked,
        &unit.replace("/usr/bin/notifier-top", &bin.display().to_string()),
    )?;
    let mut verify = Command::new("systemd-analyze");
    verify.args(["verify", "--man=no"]).arg(&checked);
    match verify.output() {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            cmd::step("systemd-analyze not found: the systemd unit is not verified");
            Ok(())
        }
        Err(e) => Err(e).context("running systemd-analyze verify"),
        Ok(out) if out.status.success() && out.stderr.is_empty() => {
            cmd::step("systemd-analyze verify notifier-top.service: clean");
            Ok(())
        }
        Ok(out) => bail!(
            "systemd-analyze verify notifier-top.service ({}):\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

/// lintian's verdict on the package: its warnings are printed, an error fails dist.
fn lintian(deb: &Path) -> Result<()> {
    cmd::step(&format!("lintian {}", file_name(deb)));
    let out = match Command::new("lintian").arg(deb).output() {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            cmd::step(
                "lintian is not installed, so the package is NOT checked: \
                 `cargo xtask setup` installs it",
            );
            return Ok(());
        }
        r => r.context("running lintian")?,
    };
    let report = String::from_utf8_lossy(&out.stdout);
    print!("{report}");
    let errors = report.lines().filter(|l| l.starts_with("E:")).count();
    if errors > 0 {
        bail!("lintian found {errors} error(s) in {}", deb.display());
    }
    if !out.status.success() {
        bail!(
            "lintian failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let warnings = report.lines().filter(|l| l.starts_with("W:")).count();
    cmd::step(&format!("lintian: no errors, {warnings} warning(s)"));
    Ok(())
}

/// `<file>.sha256` beside `file`, in sha256sum's format (`sha256sum -c` checks it there).
fn sha256(file: &Path) -> Result<()> {
    let dir = file.parent().context("file without a folder")?;
    let name = file_name(file);
    let line = cmd::output(Command::new("sha256sum").arg(&name).current_dir(dir))?;
    write(&dir.join(format!("{name}.sha256")), &line)
}

/// What dpkg-gencontrol would write: KiB per file rounded up, one per directory.
fn installed_size_kib(dir: &Path) -> Result<u64> {
    let mut kib = 0;
    for path in tree(dir)? {
        let meta = fs::symlink_metadata(&path)?;
        kib += if meta.is_dir() {
            1
        } else {
            meta.len().div_ceil(1024)
        };
    }
    Ok(kib)
}

/// `dir` and every directory under it 0755, whatever the umask (dpkg-deb keeps modes as
/// found).
fn directory_modes(dir: &Path) -> Result<()> {
    for d in std::iter::once(dir.to_path_buf()).chain(tree(dir)?) {
        if fs::symlink_metadata(&d)?.is_dir() {
            fs::set_permissions(&d, fs::Permissions::from_mode(0o755))
                .with_context(|| format!("setting the mode of {}", d.display()))?;
        }
    }
    Ok(())
}

/// Everything under `dir`, recursively, sorted.
fn tree(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut all = Vec::new();
    for entry in fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        if fs::symlink_metadata(&path)?.is_dir() {
            all.extend(tree(&path)?);
        }
        all.push(path);
    }
    all.sort();
    Ok(all)
}

fn gzip(file: &Path) -> Result<()> {
    cmd::run(Command::new("gzip").args(["-9n", "--force"]).arg(file))
}

/// The regular files of `dir`, sorted.
fn files_in(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        if path.is_file() {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

fn recreate(dir: &Path) -> Result<()> {
    match fs::remove_dir_all(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(e).with_context(|| format!("removing {}", dir.display()));
        }
        _ => {}
    }
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))
}

/// Copies `from` to `to` (creating its folder) with exactly `mode`.
fn copy(from: &Path, to: &Path, mode: u32) -> Result<()> {
    if let Some(parent) = to.parent() {
        fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    }
    fs::copy(from, to)
        .with_context(|| format!("copying {} to {}", from.display(), to.display()))?;
    fs::set_permissions(to, fs::Permissions::from_mode(mode))
        .with_context(|| format!("setting the mode of {}", to.display()))
}

/// Writes `text` to `to` (creating its folder), mode 0644.
fn write(to: &Path, text: &str) -> Result<()> {
    if let Some(parent) = to.parent() {
        fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    }
    fs::write(to, text).with_context(|| format!("writing {}", to.display()))?;
    fs::set_permissions(to, fs::Permissions::from_mode(0o644))
        .with_context(|| format!("setting the mode of {}", to.display()))
}

fn read(path: &Path) -> Result<String> {
    fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_continuations_mark_empty_lines() {
        assert_eq!(continuation("a\n\nb\n"), " a\n .\n b\n");
    }

    #[test]
    fn the_control_file_describes_the_package_in_short_lines() {
        let c = control(1234);
        assert!(c.contains("\nInstalled-Size: 1234\n"));
        // The description is the last field: its lines continue it, and stay readable in
        // 80 columns (what lintian asks).
        let description = c.split_once("Description: ").unwrap().1;
        assert!(description.lines().all(|l| l.len() <= 80), "{description}");
        assert!(
            description.lines().skip(1).all(|l| l.starts_with(' ')),
            "{description}"
        );
    }
}
