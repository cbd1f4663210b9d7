//! Checks done before touching BPF, so the common failures get a message naming the fix
//! instead of an errno from deep inside a syscall.

use anyhow::{Context as _, Result, bail};
use caps::Capability::{self, CAP_BPF, CAP_PERFMON, CAP_SYS_ADMIN, CAP_SYSLOG};
use log::warn;

/// Loading tracing programs and reading kernel memory needs CAP_BPF and CAP_PERFMON
/// (CAP_SYS_ADMIN stands for both, as on kernels before 5.8); kallsyms shows addresses
/// only with CAP_SYSLOG unless the sysctls say otherwise, which its own check reports.
/// Root has them all; so does a binary given them with setcap.
pub fn require_privileges() -> Result<()> {
    let status = std::fs::read_to_string("/proc/self/status")
        .context("reading /proc/self/status for this process's capabilities")?;
    let effective = effective_capabilities(&status)
        .context("no CapEff line in /proc/self/status: cannot tell this process's capabilities")?;
    let missing = missing_capabilities(effective, kallsyms_hides_addresses());
    if missing.is_empty() {
        return Ok(());
    }
    // SAFETY: geteuid has no preconditions.
    let euid = unsafe { libc::geteuid() };
    bail!(
        "notifier-top needs CAP_BPF and CAP_PERFMON to load BPF tracing programs, and \
         CAP_SYSLOG to read kernel addresses from kallsyms; running as uid {euid} without {}. \
         Run it with sudo, or give the binary those capabilities: \
         sudo setcap cap_bpf,cap_perfmon,cap_syslog+ep \"$(command -v notifier-top)\"",
        missing.join(", ")
    );
}

/// The effective set from a `/proc/<pid>/status` text (`CapEff:` in hex).
fn effective_capabilities(status: &str) -> Option<u64> {
    let hex = status.lines().find_map(|l| l.strip_prefix("CapEff:"))?;
    u64::from_str_radix(hex.trim(), 16).ok()
}

/// Whether kallsyms shows this process zero addresses (kernel.kptr_restrict, and
/// perf_event_paranoid above 1, hide them from all but CAP_SYSLOG).
fn kallsyms_hides_addresses() -> bool {
    let Ok(f) = std::fs::File::open("/proc/kallsyms") else {
        return false; // its own reader says what is wrong
    };
    let mut first = String::new();
    let _ = std::io::BufRead::read_line(&mut std::io::BufReader::new(f), &mut first);
    first
        .split_ascii_whitespace()
        .next()
        .is_some_and(|a| u64::from_str_radix(a, 16) == Ok(0))
}

/// The capabilities lacking from `effective`; CAP_SYSLOG only where kallsyms hides
/// addresses without it.
fn missing_capabilities(effective: u64, kallsyms_hidden: bool) -> Vec<String> {
    let has = |cap: Capability| effective & cap.bitmask() != 0;
    let admin = has(CAP_SYS_ADMIN);
    [
        (CAP_BPF, admin),
        (CAP_PERFMON, admin),
        (CAP_SYSLOG, !kallsyms_hidden),
    ]
    .into_iter()
    .filter(|&(cap, covered)| !has(cap) && !covered)
    .map(|(cap, _)| cap.to_string())
    .collect()
}

/// Kernels before 5.11 charge BPF memory to RLIMIT_MEMLOCK; later ones use memcg and ignore
/// it. Raising it can fail in containers without CAP_SYS_RESOURCE: warn, don't die.
pub fn raise_memlock() {
    let unlimited = libc::rlimit {
        rlim_cur: libc::RLIM_INFINITY,
        rlim_max: libc::RLIM_INFINITY,
    };
    // SAFETY: valid pointer to an initialised rlimit.
    if unsafe { libc::setrlimit(libc::RLIMIT_MEMLOCK, &unlimited) } != 0 {
        warn!(
            "could not raise RLIMIT_MEMLOCK ({}); fine on kernels >= 5.11, older ones may fail \
             to create maps",
            std::io::Error::last_os_error()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_effective_set() {
        let status = "Name:\tnotifier-top\nCapInh:\t0000000000000000\nCapEff:\t000000c400000000\n";
        assert_eq!(effective_capabilities(status), Some(0xc4_0000_0000));
        assert_eq!(effective_capabilities("Name:\tx\n"), None);
    }

    #[test]
    fn names_exactly_what_is_missing() {
        let bit = |c: Capability| c.bitmask();
        let needed = bit(CAP_BPF) | bit(CAP_PERFMON) | bit(CAP_SYSLOG);
        assert!(
            missing_capabilities(u64::MAX >> 23, true).is_empty(),
            "root: all 41"
        );
        assert!(missing_capabilities(needed, true).is_empty());
        assert!(missing_capabilities(bit(CAP_SYS_ADMIN) | bit(CAP_SYSLOG), true).is_empty());
        assert_eq!(
            missing_capabilities(0, true),
            ["CAP_BPF", "CAP_PERFMON", "CAP_SYSLOG"]
        );
        assert_eq!(missing_capabilities(0, false), ["CAP_BPF", "CAP_PERFMON"]);
        assert_eq!(
            missing_capabilities(bit(CAP_BPF) | bit(CAP_SYSLOG), true),
            ["CAP_PERFMON"]
        );
    }
}
