//! Checks done before touching BPF, so the common failures get a message naming the fix
//! instead of an errno from deep inside a syscall.

use anyhow::{Result, bail};
use log::warn;

/// Root (or CAP_BPF + CAP_PERFMON) is needed to load tracing programs and read kallsyms.
pub fn require_privileges() -> Result<()> {
    // SAFETY: geteuid has no preconditions.
    let euid = unsafe { libc::geteuid() };
    if euid != 0 {
        bail!(
            "notifier-top needs root to load BPF tracing programs (running as uid {euid}); \
             run it with sudo"
        );
    }
    Ok(())
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
