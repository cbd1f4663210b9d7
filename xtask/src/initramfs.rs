//! The guest's initramfs: static busybox, the modules needed to mount the host root over
//! virtio-9p (in dependency order from modules.dep: on 6.1 even the virtio core is modular),
//! and vm/init.sh as /init.

use std::{
    collections::{HashMap, HashSet},
    fs,
    io::Write as _,
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

use anyhow::{Context as _, Result, bail};

use crate::{kernels::Kernel, paths};

/// Modules the init needs, by name; those built into a kernel are simply absent from its
/// modules.dep.
const WANTED: &[&str] = &["virtio_pci", "9pnet_virtio", "9p"];

/// Builds (or reuses) the initramfs for `k`, returning its path. It is rebuilt when the
/// kernel release changes (its modules are inside) or init.sh or xtask itself is newer.
pub fn build(k: &Kernel) -> Result<PathBuf> {
    let init = paths::project_root().join("vm/init.sh");
    let out = paths::target_dir()
        .join("vm")
        .join(k.id)
        .join(format!("initramfs-{}.cpio.gz", k.release));
    let newest_input = [init.clone(), std::env::current_exe()?]
        .iter()
        .filter_map(|p| fs::metadata(p).and_then(|m| m.modified()).ok())
        .max();
    if let (Ok(built), Some(input)) = (fs::metadata(&out).and_then(|m| m.modified()), newest_input)
        && built > input
    {
        return Ok(out);
    }
    let stage = paths::target_dir().join("vm").join(k.id).join("initramfs");
    if stage.exists() {
        fs::remove_dir_all(&stage)?;
    }
    for d in ["bin", "modules", "proc", "sys", "dev", "root"] {
        fs::create_dir_all(stage.join(d))?;
    }
    let busybox = Path::new("/bin/busybox");
    if !busybox.exists() {
        bail!("/bin/busybox missing: run `cargo xtask setup` (package busybox-static)");
    }
    fs::copy(busybox, stage.join("bin/busybox"))?;
    fs::copy(&init, stage.join("init"))?;
    let order = module_order(&k.modules_dir())?;
    let mut names = Vec::new();
    for rel in &order {
        let src = k.modules_dir().join(rel);
        let name = module_name(rel);
        decompress(&src, &stage.join("modules").join(format!("{name}.ko")))?;
        names.push(name);
    }
    fs::write(stage.join("modules.order"), names.join("\n") + "\n")?;
    cpio_gz(&stage, &out)?;
    Ok(out)
}

fn module_name(rel: &str) -> String {
    let file = rel.rsplit('/').next().unwrap_or(rel);
    file.split(".ko").next().unwrap_or(file).to_owned()
}

/// The WANTED modules present in modules.dep and their dependencies, dependencies first.
fn module_order(modules_dir: &Path) -> Result<Vec<String>> {
    let dep_file = modules_dir.join("modules.dep");
    let text =
        fs::read_to_string(&dep_file).with_context(|| format!("reading {}", dep_file.display()))?;
    let deps: HashMap<String, Vec<String>> = text
        .lines()
        .filter_map(|l| {
            let (m, d) = l.split_once(':')?;
            Some((
                m.to_owned(),
                d.split_whitespace().map(str::to_owned).collect(),
            ))
        })
        .collect();
    let by_name: HashMap<String, &String> = deps.keys().map(|k| (module_name(k), k)).collect();
    let mut order = Vec::new();
    let mut done = HashSet::new();
    fn visit(
        m: &str,
        deps: &HashMap<String, Vec<String>>,
        done: &mut HashSet<String>,
        order: &mut Vec<String>,
    ) {
        if !done.insert(m.to_owned()) {
            return;
        }
        // modules.dep lists a module's full dependency closure; the last entries are the
        // deepest, so visit them first.
        for d in deps.get(m).into_iter().flatten().rev() {
            visit(d, deps, done, order);
        }
        order.push(m.to_owned());
    }
    for w in WANTED {
        if let Some(path) = by_name.get(*w) {
            visit(path, &deps, &mut done, &mut order);
        }
    }
    Ok(order)
}

fn decompress(src: &Path, dst: &Path) -> Result<()> {
    let name = src.to_string_lossy();
    let tool = if name.ends_with(".xz") {
        Some("xz")
    } else if name.ends_with(".zst") {
        Some("zstd")
    } else if name.ends_with(".gz") {
        Some("gzip")
    } else {
        None
    };
    match tool {
        None => {
            fs::copy(src, dst)?;
        }
        Some(tool) => {
            let out = Command::new(tool)
                .arg("-dc")
                .arg(src)
                .output()
                .with_context(|| format!("running {tool}"))?;
            if !out.status.success() {
                bail!("{tool} -dc {} failed", src.display());
            }
            fs::write(dst, out.stdout)?;
        }
    }
    Ok(())
}

fn cpio_gz(stage: &Path, out: &Path) -> Result<()> {
    let mut files = Vec::new();
    collect(stage, stage, &mut files)?;
    let mut cpio = Command::new("cpio")
        .args(["-o", "-H", "newc", "--quiet"])
        .current_dir(stage)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .context("running cpio (package cpio)")?;
    {
        let mut stdin = cpio.stdin.take().context("cpio stdin")?;
        for f in &files {
            writeln!(stdin, "{f}")?;
        }
    }
    let archive = cpio.wait_with_output()?;
    if !archive.status.success() {
        bail!("cpio failed");
    }
    let mut gz = Command::new("gzip")
        .arg("-1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?;
    let mut stdin = gz.stdin.take().context("gzip stdin")?;
    let data = archive.stdout;
    let writer = std::thread::spawn(move || stdin.write_all(&data));
    let packed = gz.wait_with_output()?;
    writer
        .join()
        .map_err(|_| anyhow::anyhow!("gzip writer panicked"))??;
    fs::write(out, packed.stdout)?;
    Ok(())
}

fn collect(base: &Path, dir: &Path, out: &mut Vec<String>) -> Result<()> {
    for e in fs::read_dir(dir)? {
        let p = e?.path();
        let rel = p.strip_prefix(base)?.to_string_lossy().into_owned();
        out.push(rel);
        if p.is_dir() {
            collect(base, &p, out)?;
        }
    }
    Ok(())
}
