//! What to hook, and how, per hook family.
//!
//! Each family is a set of programs that only make sense together (an entry probe without
//! its return probe would leave entries dangling), so a family is attached whole in one mode
//! or not at all. The table is the single source of truth: the loader walks it, `probes`
//! prints it, and recordings store its outcome.

use std::fmt;

use serde::Serialize;

use crate::stream::{Attach, Hook};

/// How a program is attached to its kernel function.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// fentry/fexit (BPF trampolines): cheapest, needs BTF for the function and a kernel
    /// that allows BPF_PROG_TYPE_TRACING.
    Fentry,
    /// kprobe/kretprobe: works on any function in kallsyms, including module functions
    /// without BTF; costs a breakpoint per hit.
    Kprobe,
}

impl From<Mode> for Attach {
    fn from(m: Mode) -> Attach {
        match m {
            Mode::Fentry => Attach::Fentry,
            Mode::Kprobe => Attach::Kprobe,
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        Attach::from(*self).fmt(f)
    }
}

/// The program type of one table row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    FEntry,
    FExit,
    KProbe,
    KRetProbe,
    /// Classic tracepoint; `function` is `category:name`.
    TracePoint,
    /// BTF-enabled raw tracepoint; `function` is the tracepoint name.
    BtfTracePoint,
}

/// One program attached to one kernel function.
#[derive(Clone, Copy, Debug)]
pub struct Attachment {
    pub program: &'static str,
    pub kind: Kind,
    pub function: &'static str,
    pub debug_kernel: OnDebugKernel,
}

/// What an attachment's function is on a kernel built with CONFIG_DEBUG_LOCK_ALLOC (every
/// lockdep kernel).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnDebugKernel {
    /// The same function.
    Same,
    /// A macro over this function, with the same first argument: `mutex_lock(l)` is
    /// `mutex_lock_nested(l, 0)` there, and no `mutex_lock` exists.
    MacroOver(&'static str),
    /// A function only such kernels have; elsewhere it is a macro over another hooked one
    /// (`down_read_nested(s, n)` is `down_read(s)`), and the attachment is left out.
    Only,
}

const fn at(program: &'static str, kind: Kind, function: &'static str) -> Attachment {
    Attachment {
        program,
        kind,
        function,
        debug_kernel: OnDebugKernel::Same,
    }
}

/// `at`, for a function a debug kernel replaces with `debug`.
const fn or_debug(
    program: &'static str,
    kind: Kind,
    function: &'static str,
    debug: &'static str,
) -> Attachment {
    Attachment {
        debug_kernel: OnDebugKernel::MacroOver(debug),
        ..at(program, kind, function)
    }
}

/// `at`, for a function only debug kernels have.
const fn debug_only(program: &'static str, kind: Kind, function: &'static str) -> Attachment {
    Attachment {
        debug_kernel: OnDebugKernel::Only,
        ..at(program, kind, function)
    }
}

impl Attachment {
    /// This attachment on a kernel that has the functions `has` says it has: on a debug
    /// kernel, the function its macro expands to; None where it does not apply.
    pub fn on(self, has: impl Fn(&str) -> bool) -> Option<Attachment> {
        match self.debug_kernel {
            OnDebugKernel::MacroOver(debug) if !has(self.function) && has(debug) => {
                Some(Attachment {
                    function: debug,
                    ..self
                })
            }
            OnDebugKernel::Only => has(self.function).then_some(self),
            _ => Some(self),
        }
    }

    /// Whether it hooks what only a debug kernel has (after [`on`](Self::on)).
    pub fn is_debug_kernels(&self) -> bool {
        match self.debug_kernel {
            OnDebugKernel::Same => false,
            OnDebugKernel::MacroOver(debug) => debug == self.function,
            OnDebugKernel::Only => true,
        }
    }
}

/// A hook family: what the mirror learns from it, and its programs in each mode.
#[derive(Debug)]
pub struct Family {
    pub hook: Hook,
    pub purpose: &'static str,
    pub fentry: &'static [Attachment],
    pub kprobe: &'static [Attachment],
}

impl Family {
    pub fn attachments(&self, mode: Mode) -> &'static [Attachment] {
        match mode {
            Mode::Fentry => self.fentry,
            Mode::Kprobe => self.kprobe,
        }
    }
}

const INSERT: &str = "mmu_interval_notifier_insert";
const INSERT_LOCKED: &str = "mmu_interval_notifier_insert_locked";
const INV_END: &str = "mn_itree_inv_end";
const REMOVE: &str = "mmu_interval_notifier_remove";
const RANGE_START: &str = "__mmu_notifier_invalidate_range_start";
const RANGE_END: &str = "__mmu_notifier_invalidate_range_end";
const READ_BEGIN: &str = "mmu_interval_read_begin";
const REGISTER: &str = "__mmu_notifier_register";
const RELEASE: &str = "__mmu_notifier_release";
const DESTROY: &str = "__mmu_notifier_subscriptions_destroy";
const HMM_FAULT: &str = "hmm_range_fault";
const MIGRATE_SETUP: &str = "migrate_vma_setup";
const MIGRATE_PAGES: &str = "migrate_vma_pages";
const MIGRATE_FINALIZE: &str = "migrate_vma_finalize";
const EXCLUSIVE: &str = "make_device_exclusive";
const EVICT_RANGE: &str = "migrate_device_range";
const EVICT_PAGES: &str = "migrate_device_pages";
const EVICT_FINALIZE: &str = "migrate_device_finalize";

use Kind::*;

/// Every family the mirror needs, in dependency order. Driver callbacks are not here: their
/// targets are discovered at run time (see `probe::callbacks`).
pub const FAMILIES: &[Family] = &[
    Family {
        hook: Hook::Insert,
        purpose: "new intervals (insert / insert_locked), result, deferred or live",
        fentry: &[
            at("insert_fexit", FExit, INSERT),
            at("insert_locked_fexit", FExit, INSERT_LOCKED),
        ],
        kprobe: &[
            at("insert_kprobe", KProbe, INSERT),
            at("insert_locked_kprobe", KProbe, INSERT_LOCKED),
            at("insert_kretprobe", KRetProbe, INSERT),
            at("insert_kretprobe", KRetProbe, INSERT_LOCKED),
        ],
    },
    Family {
        hook: Hook::Deferred,
        purpose: "deferred inserts linked in by the final inv_end",
        fentry: &[at("inv_end_fexit", FExit, INV_END)],
        kprobe: &[at("inv_end_kretprobe", KRetProbe, INV_END)],
    },
    Family {
        hook: Hook::Remove,
        purpose: "interval removal (entry: removing, return: gone)",
        fentry: &[
            at("remove_fentry", FEntry, REMOVE),
            at("remove_fexit", FExit, REMOVE),
        ],
        kprobe: &[
            at("remove_kprobe", KProbe, REMOVE),
            at("remove_kretprobe", KRetProbe, REMOVE),
        ],
    },
    Family {
        hook: Hook::Invalidate,
        purpose: "invalidation bracket (range start with result, range end)",
        fentry: &[
            at("range_start_fentry", FEntry, RANGE_START),
            at("range_start_fexit", FExit, RANGE_START),
            at("range_end_fentry", FEntry, RANGE_END),
        ],
        kprobe: &[
            at("range_start_kprobe", KProbe, RANGE_START),
            at("range_start_kretprobe", KRetProbe, RANGE_START),
            at("range_end_kprobe", KProbe, RANGE_END),
        ],
    },
    Family {
        hook: Hook::ReadBegin,
        purpose: "driver read side: read_begin and the time blocked in it",
        fentry: &[
            at("read_begin_fentry", FEntry, READ_BEGIN),
            at("read_begin_fexit", FExit, READ_BEGIN),
        ],
        kprobe: &[
            at("read_begin_kprobe", KProbe, READ_BEGIN),
            at("read_begin_kretprobe", KRetProbe, READ_BEGIN),
        ],
    },
    Family {
        hook: Hook::Lifecycle,
        purpose: "mm registration, exit_mmap release, subscriptions destroy",
        fentry: &[
            at("register_fexit", FExit, REGISTER),
            at("release_fentry", FEntry, RELEASE),
            at("destroy_fentry", FEntry, DESTROY),
        ],
        kprobe: &[
            at("register_kprobe", KProbe, REGISTER),
            at("release_kprobe", KProbe, RELEASE),
            at("destroy_kprobe", KProbe, DESTROY),
        ],
    },
    Family {
        hook: Hook::HmmFault,
        purpose: "device faults on an interval (hmm_range_fault): pages, result, duration",
        fentry: &[
            at("hmm_fault_fentry", FEntry, HMM_FAULT),
            at("hmm_fault_fexit", FExit, HMM_FAULT),
        ],
        kprobe: &[
            at("hmm_fault_kprobe", KProbe, HMM_FAULT),
            at("hmm_fault_kretprobe", KRetProbe, HMM_FAULT),
        ],
    },
    Family {
        hook: Hook::HmmMigrate,
        purpose: "migrations to and from device memory (migrate_vma_setup/_pages/_finalize)",
        fentry: &[
            at("migrate_setup_fentry", FEntry, MIGRATE_SETUP),
            at("migrate_setup_fexit", FExit, MIGRATE_SETUP),
            at("migrate_pages_fentry", FEntry, MIGRATE_PAGES),
            at("migrate_pages_fexit", FExit, MIGRATE_PAGES),
            at("migrate_finalize_fentry", FEntry, MIGRATE_FINALIZE),
            at("migrate_finalize_fexit", FExit, MIGRATE_FINALIZE),
        ],
        kprobe: &[
            at("migrate_setup_kprobe", KProbe, MIGRATE_SETUP),
            at("migrate_setup_kretprobe", KRetProbe, MIGRATE_SETUP),
            at("migrate_pages_kprobe", KProbe, MIGRATE_PAGES),
            at("migrate_pages_kretprobe", KRetProbe, MIGRATE_PAGES),
            at("migrate_finalize_kprobe", KProbe, MIGRATE_FINALIZE),
            at("migrate_finalize_kretprobe", KRetProbe, MIGRATE_FINALIZE),
        ],
    },
    Family {
        hook: Hook::HmmExclusive,
        purpose: "device-exclusive grants (make_device_exclusive: 7.x, with CONFIG_DEVICE_PRIVATE)",
        fentry: &[
            at("exclusive_fentry", FEntry, EXCLUSIVE),
            at("exclusive_fexit", FExit, EXCLUSIVE),
        ],
        kprobe: &[
            at("exclusive_kprobe", KProbe, EXCLUSIVE),
            at("exclusive_kretprobe", KRetProbe, EXCLUSIVE),
        ],
    },
    Family {
        hook: Hook::HmmEvict,
        purpose: "evictions of device memory (migrate_device_range/_pages/_finalize)",
        fentry: &[
            at("evict_range_fentry", FEntry, EVICT_RANGE),
            at("evict_range_fexit", FExit, EVICT_RANGE),
            at("evict_pages_fentry", FEntry, EVICT_PAGES),
            at("evict_pages_fexit", FExit, EVICT_PAGES),
            at("evict_finalize_fentry", FEntry, EVICT_FINALIZE),
            at("evict_finalize_fexit", FExit, EVICT_FINALIZE),
        ],
        kprobe: &[
            at("evict_range_kprobe", KProbe, EVICT_RANGE),
            at("evict_range_kretprobe", KRetProbe, EVICT_RANGE),
            at("evict_pages_kprobe", KProbe, EVICT_PAGES),
            at("evict_pages_kretprobe", KRetProbe, EVICT_PAGES),
            at("evict_finalize_kprobe", KProbe, EVICT_FINALIZE),
            at("evict_finalize_kretprobe", KRetProbe, EVICT_FINALIZE),
        ],
    },
];

/// Hooks only the hazard rules need. They sit on hot paths (every allocation, every mutex
/// and rwsem operation, every context switch), so they are attached only when rules run;
/// each filters in the kernel on "inside a callback / holding a callback's lock".
pub const RULE_FAMILIES: &[Family] = &[
    Family {
        hook: Hook::RuleAlloc,
        purpose: "reclaim-capable allocations (kmem tracepoints)",
        fentry: &[
            at("rule_kmalloc", TracePoint, "kmem:kmalloc"),
            at("rule_cache_alloc", TracePoint, "kmem:kmem_cache_alloc"),
            at("rule_page_alloc", TracePoint, "kmem:mm_page_alloc"),
        ],
        kprobe: &[
            at("rule_kmalloc", TracePoint, "kmem:kmalloc"),
            at("rule_cache_alloc", TracePoint, "kmem:kmem_cache_alloc"),
            at("rule_page_alloc", TracePoint, "kmem:mm_page_alloc"),
        ],
    },
    Family {
        hook: Hook::RuleLocks,
        purpose: "sleeping locks taken in callbacks and held elsewhere (mutex, rwsem)",
        fentry: &[
            or_debug("rule_mutex_lock", FEntry, "mutex_lock", "mutex_lock_nested"),
            or_debug(
                "rule_mutex_lock_interruptible",
                FEntry,
                "mutex_lock_interruptible",
                "mutex_lock_interruptible_nested",
            ),
            or_debug(
                "rule_mutex_lock_killable",
                FEntry,
                "mutex_lock_killable",
                "_mutex_lock_killable",
            ),
            at("rule_down_read", FEntry, "down_read"),
            at("rule_down_write", FEntry, "down_write"),
            at("rule_down_read_killable", FEntry, "down_read_killable"),
            at("rule_down_write_killable", FEntry, "down_write_killable"),
            debug_only("rule_mutex_lock_nest_lock", FEntry, "_mutex_lock_nest_lock"),
            debug_only("rule_down_read_nested", FEntry, "down_read_nested"),
            debug_only("rule_down_write_nested", FEntry, "down_write_nested"),
            debug_only(
                "rule_down_read_killable_nested",
                FEntry,
                "down_read_killable_nested",
            ),
            debug_only(
                "rule_down_write_killable_nested",
                FEntry,
                "down_write_killable_nested",
            ),
            debug_only("rule_down_write_nest_lock", FEntry, "_down_write_nest_lock"),
            at("rule_mutex_unlock", FEntry, "mutex_unlock"),
            at("rule_up_read", FEntry, "up_read"),
            at("rule_up_write", FEntry, "up_write"),
        ],
        kprobe: &[
            or_debug(
                "rule_lock_kprobe",
                KProbe,
                "mutex_lock",
                "mutex_lock_nested",
            ),
            or_debug(
                "rule_lock_kprobe",
                KProbe,
                "mutex_lock_interruptible",
                "mutex_lock_interruptible_nested",
            ),
            or_debug(
                "rule_lock_kprobe",
                KProbe,
                "mutex_lock_killable",
                "_mutex_lock_killable",
            ),
            at("rule_lock_kprobe", KProbe, "down_read"),
            at("rule_lock_kprobe", KProbe, "down_write"),
            at("rule_lock_kprobe", KProbe, "down_read_killable"),
            at("rule_lock_kprobe", KProbe, "down_write_killable"),
            debug_only("rule_lock_kprobe", KProbe, "_mutex_lock_nest_lock"),
            debug_only("rule_lock_kprobe", KProbe, "down_read_nested"),
            debug_only("rule_lock_kprobe", KProbe, "down_write_nested"),
            debug_only("rule_lock_kprobe", KProbe, "down_read_killable_nested"),
            debug_only("rule_lock_kprobe", KProbe, "down_write_killable_nested"),
            debug_only("rule_lock_kprobe", KProbe, "_down_write_nest_lock"),
            at("rule_unlock_kprobe", KProbe, "mutex_unlock"),
            at("rule_unlock_kprobe", KProbe, "up_read"),
            at("rule_unlock_kprobe", KProbe, "up_write"),
        ],
    },
    Family {
        hook: Hook::RuleSleep,
        purpose: "voluntary context switches inside non-blockable callbacks (sched_switch)",
        fentry: &[at("rule_sched_switch", BtfTracePoint, "sched_switch")],
        kprobe: &[at("rule_sched_switch", BtfTracePoint, "sched_switch")],
    },
    Family {
        hook: Hook::RuleTeardown,
        purpose: "mmput / exit_mmap inside a callback",
        fentry: &[
            at("rule_exit_mmap", FEntry, "exit_mmap"),
            at("rule_mmput", FEntry, "mmput"),
        ],
        kprobe: &[
            at("rule_exit_mmap_kprobe", KProbe, "exit_mmap"),
            at("rule_mmput_kprobe", KProbe, "mmput"),
        ],
    },
];

/// The two programs attached to each driver callback.
pub const CALLBACK_ENTRY: &str = "callback_kprobe";
pub const CALLBACK_RETURN: &str = "callback_kretprobe";
