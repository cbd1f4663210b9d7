//! Who and when: the current task's key, whether it is notifier-top itself, and the clock
//! durations are measured with.

use aya_ebpf::helpers::{bpf_get_current_pid_tgid, bpf_ktime_get_ns};

use crate::kernel::off;

/// True when the current task is notifier-top itself.
#[inline(always)]
pub fn is_self() -> bool {
    is_self_task(task_key())
}

/// True when `pid_tgid` is notifier-top's.
#[inline(always)]
pub fn is_self_task(pid_tgid: u64) -> bool {
    (pid_tgid >> 32) as u32 == off!(self_tgid)
}

/// Current time for durations measured between an entry and a return probe.
#[inline(always)]
pub fn now() -> u64 {
    // SAFETY: helper without preconditions.
    unsafe { bpf_ktime_get_ns() }
}

/// Key of per-task entry state.
#[inline(always)]
pub fn task_key() -> u64 {
    bpf_get_current_pid_tgid()
}
