//! Giving up privileges once the probes are armed (`serve --keep-capabilities`). A daemon
//! that listens on a socket should hold no more than its remaining work needs: hooking
//! the callbacks of a driver that registers its first interval later — CAP_PERFMON for
//! the kprobe's perf_event_open, CAP_SYSLOG to read its address from kallsyms, and
//! CAP_SYS_ADMIN too where `kernel.perf_event_paranoid` is 3 (Debian's default: its
//! patch lets only CAP_SYS_ADMIN open perf events then). The audits' re-walks need
//! nothing: their programs are loaded, and running an iterator or updating a map through
//! its fd checks no capability. Everything else a root process holds — CAP_BPF,
//! CAP_DAC_OVERRIDE, CAP_NET_ADMIN, … — goes.
//!
//! Capabilities belong to threads: this runs before any other thread exists, and
//! [`retain_only`] checks that none does, so every thread started later inherits the
//! reduced sets.

use std::{fmt, fs, str::FromStr};

use anyhow::{Context, Result, bail};
use caps::{CapSet, Capability, CapsHashSet};

/// `--keep-capabilities`: `auto` (what the capture still needs on this kernel), `none`,
/// `all`, or a comma-separated list (`perfmon,syslog`, with or without `cap_`, any case).
#[derive(Clone, Debug, PartialEq)]
pub enum Keep {
    Auto,
    All,
    Only(CapsHashSet),
}

impl Keep {
    /// The set `auto` stands for, and why it holds CAP_SYS_ADMIN when it does.
    pub fn needed(perf_event_paranoid: Option<i32>) -> (CapsHashSet, Option<&'static str>) {
        let mut set: CapsHashSet = [Capability::CAP_PERFMON, Capability::CAP_SYSLOG]
            .into_iter()
            .collect();
        let why = (perf_event_paranoid >= Some(3)).then(|| {
            set.insert(Capability::CAP_SYS_ADMIN);
            "CAP_SYS_ADMIN for kprobes: kernel.perf_event_paranoid is 3"
        });
        (set, why)
    }
}

/// `kernel.perf_event_paranoid`, if readable.
pub fn perf_event_paranoid() -> Option<i32> {
    fs::read_to_string("/proc/sys/kernel/perf_event_paranoid")
        .ok()?
        .trim()
        .parse()
        .ok()
}

impl FromStr for Keep {
    type Err = String;

    fn from_str(s: &str) -> Result<Keep, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" => return Ok(Keep::Auto),
            "all" => return Ok(Keep::All),
            "none" | "" => return Ok(Keep::Only(CapsHashSet::default())),
            _ => {}
        }
        s.split(',')
            .map(|name| {
                let name = name.trim().to_ascii_uppercase();
                let canonical = if name.starts_with("CAP_") {
                    name
                } else {
                    format!("CAP_{name}")
                };
                Capability::from_str(&canonical)
                    .map_err(|_| format!("unknown capability {canonical:?} (see capabilities(7))"))
            })
            .collect::<Result<_, _>>()
            .map(Keep::Only)
    }
}

impl fmt::Display for Keep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Keep::Auto => f.write_str("auto"),
            Keep::All => f.write_str("all"),
            Keep::Only(set) => f.write_str(&names(set)),
        }
    }
}

/// `CAP_A,CAP_B` sorted, or `none`.
pub fn names(set: &CapsHashSet) -> String {
    if set.is_empty() {
        return "none".into();
    }
    let mut names: Vec<_> = set.iter().map(|c| c.to_string()).collect();
    names.sort();
    names.join(",")
}

/// What [`retain_only`] left.
#[derive(Debug)]
pub struct Retained {
    pub effective: CapsHashSet,
    /// Whether the bounding set was reduced too (that needs CAP_SETPCAP).
    pub bounding: bool,
    /// Why `auto` kept more than its base set.
    pub because: Option<&'static str>,
}

/// Reduces this thread's (the only thread's) capabilities to `keep`: effective,
/// permitted and bounding sets to their intersection with it, inheritable and ambient
/// emptied, and no_new_privs set so that nothing can be regained through an exec.
pub fn retain_only(keep: &Keep) -> Result<Retained> {
    let (keep, because) = match keep {
        Keep::All => {
            return Ok(Retained {
                effective: caps::read(None, CapSet::Effective)?,
                bounding: false,
                because: None,
            });
        }
        Keep::Auto => Keep::needed(perf_event_paranoid()),
        Keep::Only(set) => (set.clone(), None),
    };
    let keep = &keep;
    let threads = thread_count()?;
    if threads > 1 {
        bail!("dropping capabilities with {threads} threads running: the others would keep theirs");
    }
    let effective = caps::read(None, CapSet::Effective).context("reading capabilities")?;
    let permitted = caps::read(None, CapSet::Permitted).context("reading capabilities")?;
    let bounding = effective.contains(&Capability::CAP_SETPCAP);
    if bounding {
        for cap in caps::read(None, CapSet::Bounding)?.difference(keep) {
            caps::drop(None, CapSet::Bounding, *cap)
                .with_context(|| format!("dropping {cap} from the bounding set"))?;
        }
    }
    caps::clear(None, CapSet::Ambient).context("clearing ambient capabilities")?;
    caps::clear(None, CapSet::Inheritable).context("clearing inheritable capabilities")?;
    let kept: CapsHashSet = effective.intersection(keep).copied().collect();
    caps::set(None, CapSet::Effective, &kept).context("reducing effective capabilities")?;
    let kept_permitted: CapsHashSet = permitted.intersection(keep).copied().collect();
    caps::set(None, CapSet::Permitted, &kept_permitted)
        .context("reducing permitted capabilities")?;
    // SAFETY: prctl with PR_SET_NO_NEW_PRIVS and constant arguments touches no memory.
    if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
        return Err(std::io::Error::last_os_error()).context("setting no_new_privs");
    }
    Ok(Retained {
        effective: caps::read(None, CapSet::Effective)?,
        bounding,
        because,
    })
}

fn thread_count() -> Result<usize> {
    Ok(fs::read_dir("/proc/self/task")
        .context("listing this process's threads")?
        .count())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_keep_list_like_ebpf_exporter() {
        assert_eq!("none".parse::<Keep>().unwrap().to_string(), "none");
        assert_eq!("ALL".parse::<Keep>().unwrap(), Keep::All);
        assert_eq!("auto".parse::<Keep>().unwrap(), Keep::Auto);
        assert_eq!(
            "bpf, cap_perfmon,SYSLOG"
                .parse::<Keep>()
                .unwrap()
                .to_string(),
            "CAP_BPF,CAP_PERFMON,CAP_SYSLOG"
        );
        let e = "bpf,teleport".parse::<Keep>().unwrap_err();
        assert!(e.contains("CAP_TELEPORT"), "{e}");
    }

    #[test]
    fn auto_keeps_sys_admin_only_where_perf_events_need_it() {
        let (set, why) = Keep::needed(Some(2));
        assert_eq!(
            (names(&set).as_str(), why),
            ("CAP_PERFMON,CAP_SYSLOG", None)
        );
        let (set, why) = Keep::needed(Some(3));
        assert_eq!(names(&set), "CAP_PERFMON,CAP_SYSLOG,CAP_SYS_ADMIN");
        assert!(why.is_some());
    }

    /// In a forked child (single-threaded by construction, and its loss of privileges
    /// ends with it), as whoever runs the tests: whatever it held, afterwards it holds at
    /// most the kept set, in every set.
    #[test]
    fn a_child_keeps_only_what_it_was_told_to() {
        // SAFETY: the child only makes syscalls and exits; it never returns into the
        // test harness.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0);
        if pid == 0 {
            let keep: CapsHashSet = [Capability::CAP_SYSLOG].into_iter().collect();
            let ok = retain_only(&Keep::Only(keep.clone())).is_ok()
                && [CapSet::Effective, CapSet::Permitted]
                    .iter()
                    .all(|s| caps::read(None, *s).is_ok_and(|got| got.is_subset(&keep)))
                && caps::read(None, CapSet::Ambient).is_ok_and(|a| a.is_empty())
                && unsafe { libc::prctl(libc::PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) } == 1;
            unsafe { libc::_exit(if ok { 0 } else { 1 }) };
        }
        let mut status = 0;
        assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
        assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0);
    }
}
