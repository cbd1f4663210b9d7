//! A private apt configuration for fetching packages from suites this machine does not list
//! (bookworm-backports, trixie-backports, ...). It reuses the mirror URIs and keyring the
//! machine already trusts (/etc/apt/sources.list.d/*.sources) and never touches /etc/apt:
//! adding suites there once upgraded libc from sid on a build machine.

use std::{
    fs,
    os::unix::fs::symlink,
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, SystemTime},
};

use anyhow::{Context as _, Result, bail};

use crate::cmd;

pub struct PrivateApt {
    dir: PathBuf,
    /// Whether the host's own sources and dpkg state are part of the view (for installing);
    /// otherwise only the private suites are seen, against an empty dpkg state (for
    /// downloading packages of other releases).
    with_host: bool,
}

impl PrivateApt {
    /// A download-only view of `suites` (each with main), state kept under `dir`.
    pub fn fetch(dir: &Path, suites: &[&str]) -> Result<PrivateApt> {
        PrivateApt::open(dir, suites, false)
    }

    /// The host's own sources plus `suites`, against the host's dpkg state: what installing a
    /// package from e.g. bookworm-backports needs, still without writing to /etc/apt.
    pub fn with_host(dir: &Path, suites: &[&str]) -> Result<PrivateApt> {
        PrivateApt::open(dir, suites, true)
    }

    fn open(dir: &Path, suites: &[&str], with_host: bool) -> Result<PrivateApt> {
        let (uri, keyring) = debian_mirror()?;
        for sub in ["lists/partial", "cache/archives/partial", "etc/parts"] {
            fs::create_dir_all(dir.join(sub))
                .with_context(|| format!("creating {}", dir.join(sub).display()))?;
        }
        let list: String = suites
            .iter()
            .map(|s| format!("deb [signed-by={keyring}] {uri} {s} main\n"))
            .collect();
        let path = dir.join("etc/sources.list");
        let mut changed = fs::read_to_string(&path).ok().as_deref() != Some(list.as_str());
        fs::write(&path, &list)?;
        if with_host {
            changed |= link_host_source_parts(&dir.join("etc/parts"))?;
        }
        let apt = PrivateApt {
            dir: dir.to_path_buf(),
            with_host,
        };
        if changed
            || apt
                .lists_age()
                .is_none_or(|age| age > Duration::from_secs(6 * 3600))
        {
            cmd::step(&format!("apt update (private: {})", suites.join(", ")));
            cmd::quiet(apt.command("apt-get").arg("update"))
                .context("updating the private apt lists (is the Debian mirror reachable?)")?;
        }
        Ok(apt)
    }

    fn lists_age(&self) -> Option<Duration> {
        let m = fs::metadata(self.dir.join("lists/lock"))
            .or_else(|_| fs::metadata(self.dir.join("lists")))
            .ok()?;
        SystemTime::now().duration_since(m.modified().ok()?).ok()
    }

    /// `program` (apt-get, apt-cache) with this view's options.
    pub fn command(&self, program: &str) -> Command {
        let mut c = Command::new(program);
        c.args(self.options());
        c
    }

    /// The `-o` options that select this view (for callers that wrap apt-get, e.g. in sudo).
    pub fn options(&self) -> Vec<String> {
        let d = self.dir.display();
        let mut o = vec![
            format!("-oDir::Etc::SourceList={d}/etc/sources.list"),
            format!("-oDir::State::Lists={d}/lists"),
            format!("-oDir::Cache={d}/cache"),
            "-oAPT::Sandbox::User=root".to_owned(),
        ];
        if self.with_host {
            o.push(format!("-oDir::Etc::SourceParts={d}/etc/parts"));
        } else {
            o.extend(
                [
                    "-oDir::Etc::SourceParts=/dev/null",
                    "-oDir::State::status=/dev/null",
                    "-oAPT::Architecture=amd64",
                ]
                .map(String::from),
            );
        }
        o
    }

    /// The package a meta package (e.g. `linux-image-amd64`) depends on whose name starts
    /// with `prefix`, in `suite`.
    pub fn resolve(&self, meta: &str, suite: &str, prefix: &str) -> Result<String> {
        let out = cmd::output(
            self.command("apt-cache")
                .args(["depends", &format!("{meta}/{suite}")]),
        )?;
        out.lines()
            .filter_map(|l| l.trim().strip_prefix("Depends: "))
            .map(str::trim)
            .find(|p| p.starts_with(prefix))
            .map(str::to_owned)
            .with_context(|| format!("{meta} in {suite} has no dependency starting with {prefix}"))
    }

    /// Direct dependencies of `pkg` (names only).
    pub fn depends(&self, pkg: &str) -> Result<Vec<String>> {
        let out = cmd::output(self.command("apt-cache").args(["depends", pkg]))?;
        Ok(out
            .lines()
            .filter_map(|l| l.trim().strip_prefix("Depends: "))
            .map(|p| {
                p.trim()
                    .trim_start_matches('<')
                    .trim_end_matches('>')
                    .to_owned()
            })
            .collect())
    }

    /// Downloads `pkgs` into `dest` (skipping those already there) and returns the .deb paths.
    /// A package may name its version (`linux-libc-dev=7.3.4-1~bpo13+1`); a .deb of the same
    /// name in `dest` counts as that version, so keep one `dest` per version.
    pub fn download(&self, pkgs: &[String], dest: &Path) -> Result<Vec<PathBuf>> {
        fs::create_dir_all(dest)?;
        let mut debs = Vec::new();
        for pkg in pkgs {
            let name = pkg.split('=').next().unwrap_or(pkg);
            let existing = find_deb(dest, name)?;
            let deb = match existing {
                Some(d) => d,
                None => {
                    cmd::step(&format!("download {pkg}"));
                    cmd::quiet(
                        self.command("apt-get")
                            .arg("download")
                            .arg(pkg)
                            .current_dir(dest),
                    )?;
                    find_deb(dest, name)?
                        .with_context(|| format!("apt-get download {pkg} left no .deb"))?
                }
            };
            debs.push(deb);
        }
        Ok(debs)
    }
}

/// Mirrors the host's own sources (/etc/apt/sources.list and sources.list.d) into `parts`
/// as symlinks, so they are read where they are; returns whether the set changed.
fn link_host_source_parts(parts: &Path) -> Result<bool> {
    let mut wanted: Vec<PathBuf> = match fs::read_dir("/etc/apt/sources.list.d") {
        Ok(entries) => entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "sources" || x == "list"))
            .collect(),
        Err(_) => Vec::new(),
    };
    let legacy = Path::new("/etc/apt/sources.list");
    if legacy.is_file() {
        wanted.push(legacy.to_path_buf());
    }
    let mut have: Vec<PathBuf> = fs::read_dir(parts)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter_map(|p| fs::read_link(p).ok())
        .collect();
    have.sort();
    let mut sorted = wanted.clone();
    sorted.sort();
    if have == sorted {
        return Ok(false);
    }
    for e in fs::read_dir(parts)? {
        fs::remove_file(e?.path())?;
    }
    for src in &wanted {
        symlink(
            src,
            parts.join(src.file_name().context("source file name")?),
        )?;
    }
    Ok(true)
}

fn find_deb(dir: &Path, pkg: &str) -> Result<Option<PathBuf>> {
    for e in fs::read_dir(dir)? {
        let p = e?.path();
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        if name.ends_with(".deb") && name.split('_').next() == Some(pkg) {
            return Ok(Some(p));
        }
    }
    Ok(None)
}

/// The Debian mirror URI and keyring this machine is configured with.
fn debian_mirror() -> Result<(String, String)> {
    let mut found = None;
    let dir = Path::new("/etc/apt/sources.list.d");
    if dir.is_dir() {
        for e in fs::read_dir(dir)? {
            let p = e?.path();
            if p.extension().is_some_and(|x| x == "sources") {
                let text = fs::read_to_string(&p)?;
                if let Some(f) = parse_deb822(&text) {
                    found = Some(f);
                    break;
                }
            }
        }
    }
    if found.is_none()
        && let Ok(text) = fs::read_to_string("/etc/apt/sources.list")
    {
        found = text.lines().find_map(|l| {
            let l = l.trim();
            let rest = l.strip_prefix("deb ")?;
            let uri = rest.split_whitespace().find(|w| w.starts_with("http"))?;
            (uri.ends_with("/debian") || uri.ends_with("/debian/"))
                .then(|| (uri.trim_end_matches('/').to_owned(), keyring_default()))
        });
    }
    match found {
        Some(f) => Ok(f),
        None => bail!(
            "no Debian mirror found in /etc/apt/sources.list.d/*.sources or /etc/apt/sources.list; \
             notifier-top's test bed fetches Debian kernels through the mirror this machine uses"
        ),
    }
}

fn keyring_default() -> String {
    "/usr/share/keyrings/debian-archive-keyring.gpg".to_owned()
}

/// The first stanza whose URI is a Debian archive (not debian-security).
fn parse_deb822(text: &str) -> Option<(String, String)> {
    for stanza in text.split("\n\n") {
        let field = |name: &str| {
            stanza
                .lines()
                .find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_owned()))
        };
        let Some(uris) = field("URIs:") else { continue };
        let Some(uri) = uris
            .split_whitespace()
            .find(|u| u.trim_end_matches('/').ends_with("/debian"))
        else {
            continue;
        };
        let keyring = field("Signed-By:").unwrap_or_else(keyring_default);
        return Some((uri.trim_end_matches('/').to_owned(), keyring));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deb822_picks_the_main_archive() {
        let text = "Types: deb\nURIs: http://deb.example.org/debian-security\nSuites: bookworm-security\n\n\
                    Types: deb\nURIs: http://deb.example.org/debian\nSuites: bookworm\nSigned-By: /k.gpg\n";
        assert_eq!(
            parse_deb822(text),
            Some(("http://deb.example.org/debian".into(), "/k.gpg".into()))
        );
    }
}
