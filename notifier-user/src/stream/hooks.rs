//! How each hook family attached, as `probes` prints it, the header shows it and
//! recordings carry it. Serialized as the plain strings recordings have always held, so
//! every recording replays and every JSON output keeps its shape.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A hook family: a set of programs attached (or not) as one, or a facility the capture
/// depends on (the driver callbacks, the start-up walk, the deep scan, the ring buffer).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Hook {
    Insert,
    Deferred,
    Remove,
    Invalidate,
    ReadBegin,
    Lifecycle,
    HmmFault,
    HmmMigrate,
    HmmExclusive,
    HmmEvict,
    RuleAlloc,
    RuleLocks,
    RuleSleep,
    RuleTeardown,
    Callback,
    Bootstrap,
    DeepScan,
    RingBuffer,
}

impl Hook {
    pub const fn name(self) -> &'static str {
        match self {
            Hook::Insert => "insert",
            Hook::Deferred => "deferred",
            Hook::Remove => "remove",
            Hook::Invalidate => "invalidate",
            Hook::ReadBegin => "read_begin",
            Hook::Lifecycle => "lifecycle",
            Hook::HmmFault => "hmm_fault",
            Hook::HmmMigrate => "hmm_migrate",
            Hook::HmmExclusive => "hmm_exclusive",
            Hook::HmmEvict => "hmm_evict",
            Hook::RuleAlloc => "rule_alloc",
            Hook::RuleLocks => "rule_locks",
            Hook::RuleSleep => "rule_sleep",
            Hook::RuleTeardown => "rule_teardown",
            Hook::Callback => "callback",
            Hook::Bootstrap => "bootstrap",
            Hook::DeepScan => "deep_scan",
            Hook::RingBuffer => "ring_buffer",
        }
    }
}

impl fmt::Display for Hook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How a hook family ended up attached.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Attach {
    #[serde(rename = "fentry")]
    Fentry,
    #[serde(rename = "kprobe")]
    Kprobe,
    /// A BPF iterator program run on demand (the start-up walk).
    #[serde(rename = "iter/task")]
    IterTask,
    /// Kernel memory read through `/proc/kcore` (the deep scan).
    #[serde(rename = "kcore")]
    Kcore,
    /// A BPF ring buffer map, sized for the machine (the ring buffer's own status).
    #[serde(rename = "ringbuf")]
    RingBuf,
    /// Not attached: the status's detail says why.
    #[serde(rename = "missing")]
    Missing,
}

impl Attach {
    pub const fn name(self) -> &'static str {
        match self {
            Attach::Fentry => "fentry",
            Attach::Kprobe => "kprobe",
            Attach::IterTask => "iter/task",
            Attach::Kcore => "kcore",
            Attach::RingBuf => "ringbuf",
            Attach::Missing => "missing",
        }
    }
}

impl fmt::Display for Attach {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The outcome for one hook family.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HookStatus {
    pub hook: Hook,
    pub mode: Attach,
    /// Why this mode (what failed before it), or why nothing works.
    pub detail: String,
}

impl HookStatus {
    pub fn new(hook: Hook, mode: Attach, detail: impl Into<String>) -> Self {
        HookStatus {
            hook,
            mode,
            detail: detail.into(),
        }
    }

    pub fn missing(hook: Hook, why: impl Into<String>) -> Self {
        HookStatus::new(hook, Attach::Missing, why)
    }

    pub fn is_missing(&self) -> bool {
        self.mode == Attach::Missing
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serialized_as_the_strings_recordings_hold() {
        let all = [
            Hook::Insert,
            Hook::Deferred,
            Hook::Remove,
            Hook::Invalidate,
            Hook::ReadBegin,
            Hook::Lifecycle,
            Hook::HmmFault,
            Hook::HmmMigrate,
            Hook::HmmExclusive,
            Hook::HmmEvict,
            Hook::RuleAlloc,
            Hook::RuleLocks,
            Hook::RuleSleep,
            Hook::RuleTeardown,
            Hook::Callback,
            Hook::Bootstrap,
            Hook::DeepScan,
            Hook::RingBuffer,
        ];
        for h in all {
            assert_eq!(serde_json::to_string(&h).unwrap(), format!("\"{h}\""));
        }
        for m in [
            Attach::Fentry,
            Attach::Kprobe,
            Attach::IterTask,
            Attach::Kcore,
            Attach::RingBuf,
            Attach::Missing,
        ] {
            let text = serde_json::to_string(&m).unwrap();
            assert_eq!(text, format!("\"{m}\""));
            assert_eq!(serde_json::from_str::<Attach>(&text).unwrap(), m);
        }
    }
}
