//! The kernel's own HMM test driver (`lib/test_hmm.c`) and its selftest (`hmm-tests`) as a
//! real workload, for matrix kernels built with `CONFIG_DEVICE_PRIVATE` (Debian's 7.3; its
//! 6.1 and 6.12 have it off, so the unmodified driver cannot load there).
//!
//! The sources come from Debian's `linux-source-<id>` of the kernel's exact version, through
//! the private apt view; only the few files needed are extracted into the cache
//! (`src/linux-source-<version>/tree`), with the same version's `linux-libc-dev` (the uapi
//! headers the selftest compiles against) unpacked beside them (`.../libc-dev`). The
//! module is built through `fixtures/hmm/Makefile` with the same kbuild route as the fixture
//! module; the selftest with gcc-12.

use std::{
    fs,
    path::{Path, PathBuf},
    process::Command,
    time::SystemTime,
};

use anyhow::{Context as _, Result, bail};

use crate::{apt::PrivateApt, cmd, kernels, kernels::Kernel, paths};

/// What is extracted from the source tree (paths below its top directory): the driver, its
/// private uapi, and the selftest with the headers it includes (`-I <tree>` for `lib/` and
/// `mm/`, `-I tools/testing/selftests` for the harness). Changing this list re-fetches.
const FILES: &[&str] = &[
    "lib/test_hmm.c",
    "lib/test_hmm_uapi.h",
    "mm/gup_test.h",
    "tools/testing/selftests/kselftest.h",
    "tools/testing/selftests/kselftest_harness.h",
    "tools/testing/selftests/mm/hmm-tests.c",
    "tools/testing/selftests/mm/vm_util.c",
    "tools/testing/selftests/mm/vm_util.h",
    "tools/testing/selftests/mm/hugepage_settings.c",
    "tools/testing/selftests/mm/hugepage_settings.h",
];

/// The cached extraction for one kernel version.
struct Source {
    /// Holds FILES under their tree paths (SRC for fixtures/hmm/Makefile).
    tree: PathBuf,
    /// linux-libc-dev unpacked (UAPI: its usr/include).
    uapi: PathBuf,
    /// Written last; its mtime is when the extraction was made.
    marker: PathBuf,
}

/// `cargo xtask fixtures` for `k`: test_hmm.ko and hmm-tests where the kernel can run
/// them, one line saying why not elsewhere.
pub fn fixtures(k: &Kernel) -> Result<()> {
    if !device_private(k)? {
        cmd::step(&format!(
            "test_hmm for {}: skipped, {} is built without CONFIG_DEVICE_PRIVATE \
             (memremap_pages(MEMORY_DEVICE_PRIVATE) refuses, make_device_exclusive_range is not built)",
            k.id, k.release
        ));
        return Ok(());
    }
    let src = source(k)?;
    let ko = module(k, &src)?;
    println!("{}\t{}", k.id, ko.display());
    let bin = tests(k, &src)?;
    println!("{}\t{}", k.id, bin.display());
    Ok(())
}

fn device_private(k: &Kernel) -> Result<bool> {
    let config = k.kdir().join(".config");
    let text =
        fs::read_to_string(&config).with_context(|| format!("reading {}", config.display()))?;
    Ok(text.lines().any(|l| l.trim() == "CONFIG_DEVICE_PRIVATE=y"))
}

/// Fetches and extracts the sources for `k` unless the cache holds them.
fn source(k: &Kernel) -> Result<Source> {
    let kernels::SourcePackage { name: pkg, version } = kernels::source_of(k)?;
    let dir = paths::cache_dir()?
        .join("src")
        .join(format!("{pkg}_{version}"));
    let src = Source {
        tree: dir.join("tree"),
        uapi: dir.join("libc-dev"),
        marker: dir.join(".nt-files"),
    };
    let wanted = FILES.join("\n") + "\n";
    if fs::read_to_string(&src.marker).ok().as_deref() == Some(wanted.as_str()) {
        cmd::step(&format!("{pkg} {version}: cached ({})", dir.display()));
        return Ok(src);
    }
    cmd::step(&format!("{pkg} {version}: fetching"));
    let apt = PrivateApt::fetch(&paths::cache_dir()?.join("apt"), kernels::APT_SUITES)?;
    let debs_dir = dir.join("debs");
    let debs = apt.download(
        &[
            format!("{pkg}={version}"),
            format!("linux-libc-dev={version}"),
        ],
        &debs_dir,
    )?;
    for d in [&src.tree, &src.uapi] {
        if d.exists() {
            fs::remove_dir_all(d)?;
        }
        fs::create_dir_all(d)?;
    }
    cmd::step(&format!(
        "{pkg}: extracting {} files from {pkg}.tar.xz",
        FILES.len()
    ));
    // dpkg-deb streams the package's data, the first tar takes the tarball out of it, the
    // second extracts the named members only (it still decompresses the whole tree once).
    let top = format!("{pkg}/");
    cmd::quiet(
        Command::new("bash")
            .arg("-c")
            .arg(
                r#"set -o pipefail; deb=$1 inner=$2 dest=$3; shift 3
                dpkg-deb --fsys-tarfile "$deb" | tar -xO "$inner" \
                    | tar -xJ -C "$dest" --strip-components=1 "$@""#,
            )
            .arg("extract")
            .arg(&debs[0])
            .arg(format!("./usr/src/{pkg}.tar.xz"))
            .arg(&src.tree)
            .args(FILES.iter().map(|f| format!("{top}{f}"))),
    )
    .with_context(|| format!("extracting the test_hmm sources from {}", debs[0].display()))?;
    cmd::step("linux-libc-dev: unpacking the uapi headers");
    cmd::quiet(Command::new("dpkg").arg("-x").arg(&debs[1]).arg(&src.uapi))?;
    // Keep the few files, not the ~167 MB package: a new FILES list fetches it again.
    fs::remove_dir_all(&debs_dir)?;
    fs::write(&src.marker, wanted)?;
    Ok(src)
}

fn mtime(p: &Path) -> Option<SystemTime> {
    fs::metadata(p).and_then(|m| m.modified()).ok()
}

/// Whether `out` exists and is newer than every input.
fn up_to_date(out: &Path, inputs: &[PathBuf]) -> bool {
    let Some(t) = mtime(out) else { return false };
    inputs.iter().all(|i| mtime(i).is_some_and(|m| m <= t))
}

fn makefile() -> PathBuf {
    paths::project_root().join("fixtures/hmm/Makefile")
}

/// target/fixtures/<release>/test_hmm.ko, from the unmodified lib/test_hmm.c.
fn module(k: &Kernel, src: &Source) -> Result<PathBuf> {
    let out = paths::target_dir().join("fixtures").join(&k.release);
    let ko = out.join("test_hmm.ko");
    let fixtures = paths::project_root().join("fixtures");
    let inputs = [
        src.tree.join("lib/test_hmm.c"),
        src.tree.join("lib/test_hmm_uapi.h"),
        src.marker.clone(),
        makefile(),
        fixtures.join("hmm/Kbuild"),
        fixtures.join("kbuild-cc"),
        k.kdir().join("Makefile"),
    ];
    if up_to_date(&ko, &inputs) {
        cmd::step(&format!("test_hmm.ko for {}: up to date", k.id));
        return Ok(ko);
    }
    cmd::step(&format!("test_hmm.ko for {} ({})", k.id, k.release));
    fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let no_objtool = !kernels::spec(k.id)?.objtool_ok;
    cmd::quiet(
        Command::new("make")
            .arg("-f")
            .arg(makefile())
            .arg("module")
            .arg(format!("KDIR={}", k.kdir().display()))
            .arg(format!("SRC={}", src.tree.display()))
            .arg(format!("OUT={}", out.display()))
            // As for the fixture module: gcc-12 flag mapping, and for 7.x no objtool and
            // (hence) plain returns instead of return thunks.
            .arg(format!("CC={}", fixtures.join("kbuild-cc").display()))
            .arg(format!(
                "NF_NO_OBJTOOL={}",
                if no_objtool { "y" } else { "" }
            )),
    )
    .with_context(|| format!("building test_hmm.ko against {}", k.kdir().display()))?;
    check_module(k, &ko)?;
    Ok(ko)
}

/// The module must be for this release and need only what the kernel exports (modpost
/// already refuses undefined symbols; this also catches a stale Module.symvers).
fn check_module(k: &Kernel, ko: &Path) -> Result<()> {
    let vermagic = cmd::output(Command::new("modinfo").args(["-F", "vermagic"]).arg(ko))?;
    if vermagic.split_whitespace().next() != Some(k.release.as_str()) {
        bail!(
            "{} has vermagic {:?}, not {}",
            ko.display(),
            vermagic.trim(),
            k.release
        );
    }
    let symvers = k.kdir().join("Module.symvers");
    let exported =
        fs::read_to_string(&symvers).with_context(|| format!("reading {}", symvers.display()))?;
    let exported: std::collections::HashSet<&str> = exported
        .lines()
        .filter_map(|l| l.split('\t').nth(1))
        .collect();
    let undefined = cmd::output(Command::new("nm").arg("-u").arg(ko))?;
    let missing: Vec<&str> = undefined
        .lines()
        .filter_map(|l| l.split_whitespace().last())
        .filter(|s| !exported.contains(s))
        .collect();
    if !missing.is_empty() {
        bail!(
            "{} needs symbols {} does not export: {}",
            ko.display(),
            k.release,
            missing.join(", ")
        );
    }
    Ok(())
}

/// target/fixtures/bin/hmm-tests, against `k`'s uapi headers.
fn tests(k: &Kernel, src: &Source) -> Result<PathBuf> {
    let out = paths::target_dir().join("fixtures/bin");
    let bin = out.join("hmm-tests");
    let mut inputs: Vec<PathBuf> = FILES
        .iter()
        .filter(|f| f.starts_with("tools/") || f.ends_with(".h"))
        .map(|f| src.tree.join(f))
        .collect();
    inputs.extend([src.marker.clone(), makefile()]);
    if up_to_date(&bin, &inputs) {
        cmd::step("hmm-tests: up to date");
        return Ok(bin);
    }
    cmd::step(&format!("hmm-tests (uapi of {})", k.id));
    cmd::quiet(
        Command::new("make")
            .arg("-f")
            .arg(makefile())
            .arg("tests")
            .arg(format!("SRC={}", src.tree.display()))
            .arg(format!("UAPI={}", src.uapi.display()))
            .arg(format!("OUT={}", out.display())),
    )
    .context("building hmm-tests")?;
    Ok(bin)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_older_than_an_input_are_rebuilt() {
        let dir = std::env::temp_dir().join(format!("nt-hmm-test-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let (input, out) = (dir.join("in"), dir.join("out"));
        fs::write(&input, "a").unwrap();
        assert!(
            !up_to_date(&out, std::slice::from_ref(&input)),
            "missing output"
        );
        fs::write(&out, "b").unwrap();
        assert!(up_to_date(&out, std::slice::from_ref(&input)));
        let later = SystemTime::now() + std::time::Duration::from_secs(60);
        fs::File::options()
            .write(true)
            .open(&input)
            .unwrap()
            .set_modified(later)
            .unwrap();
        assert!(
            !up_to_date(&out, std::slice::from_ref(&input)),
            "newer input"
        );
        assert!(!up_to_date(&out, &[dir.join("gone")]), "missing input");
        fs::remove_dir_all(&dir).unwrap();
    }
}
