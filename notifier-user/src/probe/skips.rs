//! Program runs the kernel skipped: `recursion_misses` in `bpf_prog_info` (5.12+).
//!
//! The kernel does not run a tracing program on a CPU where that same program is already
//! running. With a preemptible kernel (PREEMPT_LAZY on Debian's 7.x) a program can be
//! preempted mid-run, and the next task on that CPU to reach the hook is not traced. Since
//! 6.7 kprobe programs count the runs they skip because another BPF program held the CPU,
//! too; earlier kernels skip those silently. Each skipped run may be an event that never
//! reached the ring buffer, so the session reports them next to ring-buffer drops.

use std::{
    io,
    mem::{self, size_of},
    os::fd::{AsFd as _, AsRawFd as _, BorrowedFd},
};

use aya_obj::generated::{bpf_attr, bpf_cmd, bpf_prog_info};

use super::Probes;

/// One program's skipped runs since it was loaded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Skips {
    pub program: String,
    pub runs: u64,
}

impl Probes {
    /// Programs that skipped runs, in the order the object defines them.
    pub fn skips(&self) -> io::Result<Vec<Skips>> {
        let mut out = Vec::new();
        for (name, p) in self.ebpf.programs() {
            // Not loaded (a hook this kernel lacks): nothing to skip.
            let Ok(fd) = p.fd() else { continue };
            let runs = recursion_misses(fd.as_fd())?;
            if runs > 0 {
                out.push(Skips {
                    program: name.to_owned(),
                    runs,
                });
            }
        }
        Ok(out)
    }
}

/// The kernel's count for one program. aya's `ProgramInfo` does not expose this field, so
/// this asks the kernel directly. Older kernels fill in a shorter `bpf_prog_info`: the
/// field stays zero there.
fn recursion_misses(prog: BorrowedFd<'_>) -> io::Result<u64> {
    // SAFETY: both are plain C structs for which all-zero is the documented "unset" value.
    let mut info: bpf_prog_info = unsafe { mem::zeroed() };
    let mut attr: bpf_attr = unsafe { mem::zeroed() };
    attr.info.bpf_fd = prog.as_raw_fd() as u32;
    attr.info.info_len = size_of::<bpf_prog_info>() as u32;
    attr.info.info = (&raw mut info) as u64;
    // SAFETY: `attr` describes `info`, which outlives the call; the kernel writes at most
    // `info_len` bytes into it.
    let r = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            bpf_cmd::BPF_OBJ_GET_INFO_BY_FD as libc::c_long,
            &raw mut attr,
            size_of::<bpf_attr>(),
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(info.recursion_misses)
}
