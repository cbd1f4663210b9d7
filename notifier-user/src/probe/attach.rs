//! Loading the programs and attaching each hook family in the best mode the kernel allows.

use std::time::Instant;

use anyhow::{Context as _, Result, anyhow, bail};
use aya::{
    Btf, Ebpf, EbpfLoader,
    programs::{BtfTracePoint, FEntry, FExit, KProbe, Program, ProgramError, TracePoint},
};
use log::{debug, info, warn};
use notifier_common::{KernelLayout, MISSING, names};

use super::{
    callbacks::{CallbackHook, Callbacks},
    filter::Selection,
    layout,
    plan::{Attachment, FAMILIES, Family, Kind, Mode, RULE_FAMILIES},
    ring::Ring,
};
use crate::{
    stream::{Hook, HookStatus},
    symbols::{KNOWN_CALLBACKS, KernelSymbols, Symbol},
};

/// The compiled eBPF object, built by build.rs (aya-build) from the notifier-ebpf crate.
static OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/notifier"));

/// Loaded and attached programs; dropping it detaches everything.
pub struct Probes {
    pub ebpf: Ebpf,
    pub status: Vec<HookStatus>,
    callbacks: Callbacks,
    /// The kernel's BTF as aya reads it (fentry targets, the task iterator); `Err` rules
    /// out what needs it, and says why.
    pub(super) btf: Result<Btf, String>,
    pub(super) walk_ready: bool,
    /// The deep scan, when this kernel allows it and the session wants it.
    pub(super) deep_scan: Option<super::deep_scan::DeepScan>,
}

impl Probes {
    /// Loads the object with `layout` patched in and attaches every family, in `forced` mode
    /// or, by default, fentry first and kprobe as the fallback.
    pub fn attach(
        layout: &KernelLayout,
        forced: Option<Mode>,
        syms: &KernelSymbols,
        rules: bool,
        selection: &Selection,
    ) -> Result<Probes> {
        let (filter, owner_ranges) = selection.resolve(syms)?;
        let loading = Instant::now();
        let ring = Ring::for_this_machine();
        let mut ebpf = EbpfLoader::new()
            .map_max_entries(names::EVENTS, ring.bytes)
            .override_global(names::LAYOUT, layout, true)
            .override_global(names::FILTER, &filter, true)
            .load(OBJECT)
            .context("loading the eBPF object into the kernel")?;
        info!("eBPF object loaded in {:.2?}", loading.elapsed());
        // Before any hook: unrelated processes must never reach the ring buffer.
        selection
            .install(&mut ebpf, &owner_ranges)
            .context("installing the process filter")?;
        // Only fentry needs BTF for attach targets; its absence just rules fentry out.
        let btf = Btf::from_sys_fs().map_err(|e| e.to_string());
        let mut status = Vec::new();
        for family in FAMILIES {
            let unavailable = layout::hmm_unavailable(layout, family.hook)
                .map(str::to_owned)
                .or_else(|| absent_function(family, syms));
            status.push(match unavailable {
                Some(why) => HookStatus::missing(family.hook, why),
                None => attach_family(&mut ebpf, btf.as_ref(), syms, family, forced),
            });
        }
        if status.iter().all(HookStatus::is_missing) {
            let why: Vec<String> = status
                .iter()
                .map(|s| format!("  {}: {}", s.hook, s.detail))
                .collect();
            bail!(
                "this kernel allows neither fentry nor kprobes on the mmu_interval_notifier \
                 functions:\n{}\nnotifier-top needs a kernel with CONFIG_BPF_SYSCALL, BTF and \
                 either BPF trampolines (fentry) or CONFIG_KPROBES, and root. To try it on any \
                 machine with QEMU, run it inside the project's VM: \
                 `cargo xtask vm --kernel 7.3 -- notifier-top trace`",
                why.join("\n")
            );
        }
        for s in status.iter().filter(|s| s.is_missing()) {
            warn!("hook {} unavailable: {}", s.hook, s.detail);
        }
        if rules {
            for family in RULE_FAMILIES {
                let missing_input = match family.hook {
                    Hook::RuleAlloc if layout.tp_kmalloc_gfp == MISSING => super::tracefs::root()
                        .err()
                        .map(|e| format!("{e:#}"))
                        .or(Some(
                            "kmem tracepoint formats have no gfp_flags field".into(),
                        )),
                    _ => None,
                };
                status.push(match missing_input {
                    Some(detail) => HookStatus::missing(family.hook, detail),
                    None => attach_family(&mut ebpf, btf.as_ref(), syms, family, forced),
                });
            }
        }
        let mut callbacks = Callbacks::default();
        let preparing = Instant::now();
        let cb_status = callbacks.prepare(&mut ebpf, forced);
        info!("callback programs loaded in {:.2?}", preparing.elapsed());
        status.push(cb_status);
        info!("ring buffer: {}", ring.status.detail);
        status.push(ring.status);
        let mut probes = Probes {
            ebpf,
            status,
            callbacks,
            btf,
            walk_ready: false,
            deep_scan: None,
        };
        let preparing = Instant::now();
        let walk = probes.prepare_walk(layout);
        info!("walker loaded in {:.2?}", preparing.elapsed());
        // A syscall per program: only when it is shown.
        if log::log_enabled!(log::Level::Debug) {
            probes.log_verified_instructions();
        }
        probes.status.push(walk);
        for (name, _) in KNOWN_CALLBACKS {
            for sym in syms.by_name(name).cloned().collect::<Vec<_>>() {
                probes.hook_callback(&sym, syms);
            }
        }
        Ok(probes)
    }

    /// Each loaded program's count of verified instructions (what its load cost the
    /// verifier), at debug level.
    fn log_verified_instructions(&self) {
        for (name, p) in self.ebpf.programs() {
            if let Ok(i) = p.info() {
                debug!(
                    "program {name}: {:?} instructions verified",
                    i.verified_instruction_count()
                );
            }
        }
    }

    /// Makes sure the driver callback `sym` is traced. Idempotent; failures are remembered
    /// and reported once.
    pub fn hook_callback(&mut self, sym: &Symbol, syms: &KernelSymbols) {
        self.callbacks.hook(&mut self.ebpf, sym, syms);
    }

    pub fn callback_hooks(&self) -> impl Iterator<Item = &CallbackHook> {
        self.callbacks.hooked()
    }
}

impl Drop for Probes {
    fn drop(&mut self) {
        // Detaching (the kernel's trampoline and RCU work) can take long under emulation.
        debug!("detaching every program");
    }
}

/// A kernel function the family hooks that this kernel does not have at all (not built in
/// its configuration): said plainly, instead of as the attach errors it would cause.
fn absent_function(family: &Family, syms: &KernelSymbols) -> Option<String> {
    family
        .attachments(Mode::Kprobe)
        .iter()
        .filter_map(|a| a.on(|f| syms.by_name(f).next().is_some()))
        .filter(|a| matches!(a.kind, Kind::KProbe | Kind::KRetProbe))
        .find(|a| syms.by_name(a.function).next().is_none())
        .map(|a| {
            format!(
                "{} is not in this kernel (not in kallsyms: its configuration does not build it)",
                a.function
            )
        })
}

fn attach_family(
    ebpf: &mut Ebpf,
    btf: Result<&Btf, &String>,
    syms: &KernelSymbols,
    family: &Family,
    forced: Option<Mode>,
) -> HookStatus {
    let modes: &[Mode] = match forced {
        Some(Mode::Fentry) => &[Mode::Fentry],
        Some(Mode::Kprobe) => &[Mode::Kprobe],
        None => &[Mode::Fentry, Mode::Kprobe],
    };
    let mut failures = Vec::new();
    let started = Instant::now();
    for &mode in modes {
        let atts: Vec<Attachment> = family
            .attachments(mode)
            .iter()
            .filter_map(|a| a.on(|f| syms.by_name(f).next().is_some()))
            .collect();
        match attach_all(ebpf, btf, &atts) {
            Ok(()) => {
                let mut detail = if failures.is_empty() {
                    if forced.is_some() {
                        "forced by --attach".to_owned()
                    } else {
                        "preferred mode".to_owned()
                    }
                } else {
                    format!("fallback: {}", failures.join("; "))
                };
                let debug: Vec<_> = atts
                    .iter()
                    .filter(|a| a.is_debug_kernels())
                    .map(|a| a.function)
                    .collect();
                if !debug.is_empty() {
                    detail.push_str(&format!(
                        "; lockdep kernel (CONFIG_DEBUG_LOCK_ALLOC): {}",
                        debug.join(", ")
                    ));
                }
                // Loading (the verifier) and attaching (trampolines) are most of start-up.
                info!(
                    "hook {}: {mode} ({detail}) in {:.2?}",
                    family.hook,
                    started.elapsed()
                );
                return HookStatus::new(family.hook, mode.into(), detail);
            }
            Err(e) => {
                debug!("hook {} in {mode} mode: {e:#}", family.hook);
                failures.push(format!("{mode} failed: {}", brief(&e)));
            }
        }
    }
    HookStatus::missing(family.hook, failures.join("; "))
}

/// Attaches every program of one family; on the first failure detaches what this attempt
/// attached, so a family is never half-attached.
fn attach_all(ebpf: &mut Ebpf, btf: Result<&Btf, &String>, atts: &[Attachment]) -> Result<()> {
    let mut done: Vec<(&'static str, Link)> = Vec::new();
    for att in atts {
        match attach_one(ebpf, btf, att) {
            Ok(link) => done.push((att.program, link)),
            Err(e) => {
                for (program, link) in done {
                    if let Some(p) = ebpf.program_mut(program) {
                        let _ = link.detach(p);
                    }
                }
                return Err(e.context(format!("{} on {}", att.program, att.function)));
            }
        }
    }
    Ok(())
}

enum Link {
    TracePoint(aya::programs::trace_point::TracePointLinkId),
    BtfTracePoint(aya::programs::tp_btf::BtfTracePointLinkId),
    FEntry(aya::programs::fentry::FEntryLinkId),
    FExit(aya::programs::fexit::FExitLinkId),
    KProbe(aya::programs::kprobe::KProbeLinkId),
}

impl Link {
    fn detach(self, program: &mut Program) -> Result<(), ProgramError> {
        match self {
            Link::TracePoint(id) => as_mut::<TracePoint>(program)?.detach(id),
            Link::BtfTracePoint(id) => as_mut::<BtfTracePoint>(program)?.detach(id),
            Link::FEntry(id) => as_mut::<FEntry>(program)?.detach(id),
            Link::FExit(id) => as_mut::<FExit>(program)?.detach(id),
            Link::KProbe(id) => as_mut::<KProbe>(program)?.detach(id),
        }
    }
}

pub(super) fn as_mut<'a, T>(program: &'a mut Program) -> Result<&'a mut T, ProgramError>
where
    &'a mut T: TryFrom<&'a mut Program, Error = ProgramError>,
{
    program.try_into()
}

fn attach_one(ebpf: &mut Ebpf, btf: Result<&Btf, &String>, att: &Attachment) -> Result<Link> {
    let program = ebpf
        .program_mut(att.program)
        .with_context(|| format!("program {} missing from the eBPF object", att.program))?;
    Ok(match att.kind {
        Kind::FEntry | Kind::FExit => {
            let btf = btf.map_err(|e| anyhow!("no kernel BTF for fentry: {e}"))?;
            if att.kind == Kind::FEntry {
                let p = as_mut::<FEntry>(program)?;
                if p.fd().is_err() {
                    p.load(att.function, btf)?;
                }
                Link::FEntry(p.attach()?)
            } else {
                let p = as_mut::<FExit>(program)?;
                if p.fd().is_err() {
                    p.load(att.function, btf)?;
                }
                Link::FExit(p.attach()?)
            }
        }
        Kind::TracePoint => {
            let (category, name) = att.function.split_once(':').context("tracepoint name")?;
            let p = as_mut::<TracePoint>(program)?;
            if p.fd().is_err() {
                p.load()?;
            }
            Link::TracePoint(p.attach(category, name)?)
        }
        Kind::BtfTracePoint => {
            let btf = btf.map_err(|e| anyhow!("no kernel BTF for tp_btf: {e}"))?;
            let p = as_mut::<BtfTracePoint>(program)?;
            if p.fd().is_err() {
                p.load(att.function, btf)?;
            }
            Link::BtfTracePoint(p.attach()?)
        }
        Kind::KProbe | Kind::KRetProbe => {
            let p = as_mut::<KProbe>(program)?;
            if p.fd().is_err() {
                p.load()?;
            }
            Link::KProbe(p.attach(att.function, 0)?)
        }
    })
}

/// The first line of an error chain's innermost cause, without the verifier log (printed
/// with `-v`), so a status line stays readable.
pub(super) fn brief(e: &anyhow::Error) -> String {
    let s = format!("{e:#}");
    let s = s.split(". Verifier output:").next().unwrap_or(&s);
    let s: String = s
        .lines()
        .next()
        .unwrap_or_default()
        .chars()
        .take(300)
        .collect();
    // Translate the two refusals every user of a locked-down or minimal kernel meets.
    if s.contains("devices/kprobe/type") {
        format!("{s} (this kernel has no kprobe PMU: CONFIG_KPROBES is off)")
    } else if s.contains("BPF_PROG_LOAD") && s.contains("Operation not permitted") {
        format!(
            "{s} (the kernel refuses BPF tracing programs: lockdown, an LSM or a vendor policy)"
        )
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use aya_obj::{Object, ProgramSection};

    use super::*;
    use crate::probe::{
        plan::{CALLBACK_ENTRY, CALLBACK_RETURN},
        walk,
    };

    fn matches(kind: Kind, section: &ProgramSection) -> bool {
        matches!(
            (kind, section),
            (Kind::FEntry, ProgramSection::FEntry { .. })
                | (Kind::FExit, ProgramSection::FExit { .. })
                | (Kind::KProbe, ProgramSection::KProbe)
                | (Kind::KRetProbe, ProgramSection::KRetProbe)
                | (Kind::TracePoint, ProgramSection::TracePoint)
                | (Kind::BtfTracePoint, ProgramSection::BtfTracePoint)
        )
    }

    /// A renamed or retyped program fails here, on the host, not at attach time in a VM.
    #[test]
    fn every_planned_program_is_in_the_object_with_its_type() {
        let object = Object::parse(OBJECT).expect("the embedded eBPF object parses");
        let section = |name: &str| {
            &object
                .programs
                .get(name)
                .unwrap_or_else(|| panic!("program {name} missing from the eBPF object"))
                .section
        };
        let mut checked = 0;
        for family in FAMILIES.iter().chain(RULE_FAMILIES) {
            for mode in [Mode::Fentry, Mode::Kprobe] {
                for att in family.attachments(mode) {
                    let s = section(att.program);
                    assert!(
                        matches(att.kind, s),
                        "{}: {} is planned as {:?} but the object has {s:?}",
                        family.hook,
                        att.program,
                        att.kind
                    );
                    checked += 1;
                }
            }
        }
        assert!(matches!(section(CALLBACK_ENTRY), ProgramSection::KProbe));
        assert!(matches!(
            section(CALLBACK_RETURN),
            ProgramSection::KRetProbe
        ));
        assert!(matches!(
            section(walk::PROGRAM),
            ProgramSection::Iter { .. }
        ));
        assert!(checked > 40, "only {checked} attachments planned");
    }

    /// On a lockdep kernel the mutex functions are macros over their `_nested` forms: the
    /// lock hooks attach to those instead, in both modes, and only there.
    #[test]
    fn lock_hooks_follow_a_debug_kernels_macros() {
        let production = KernelSymbols::parse(
            "ffffffff81000000 T mutex_lock\nffffffff81000100 T mutex_lock_interruptible\n\
             ffffffff81000200 T mutex_lock_killable\nffffffff81000300 T down_read\n",
        );
        // The lock functions of 7.3.4-nt-lockdep's System.map.
        let lockdep = KernelSymbols::parse(
            "ffffffff82131320 T mutex_lock_nested\n\
             ffffffff82131350 T _mutex_lock_nest_lock\n\
             ffffffff82131380 T _mutex_lock_killable\n\
             ffffffff821313b0 T mutex_lock_interruptible_nested\n\
             ffffffff8133e130 T down_read_nested\n\
             ffffffff8133e2a0 T down_read_killable_nested\n\
             ffffffff8133e450 T _down_write_nest_lock\n\
             ffffffff8133e530 T down_write_nested\n\
             ffffffff82133f00 T down_read\nffffffff82134c70 T down_write\n\
             ffffffff82134e40 T down_write_killable_nested\n",
        );
        let locks = RULE_FAMILIES
            .iter()
            .find(|f| f.hook == Hook::RuleLocks)
            .unwrap();
        for mode in [Mode::Fentry, Mode::Kprobe] {
            let on = |syms: &KernelSymbols| -> Vec<&str> {
                locks
                    .attachments(mode)
                    .iter()
                    .filter_map(|a| a.on(|f| syms.by_name(f).next().is_some()))
                    .map(|a| a.function)
                    .collect()
            };
            let (prod, debug) = (on(&production), on(&lockdep));
            assert!(prod.contains(&"mutex_lock"));
            assert!(
                !prod
                    .iter()
                    .any(|f| f.ends_with("_nested") || f.starts_with('_')),
                "{mode}: debug kernels' functions planned on production: {prod:?}"
            );
            for f in [
                "mutex_lock_nested",
                "mutex_lock_interruptible_nested",
                "_mutex_lock_killable",
                "_mutex_lock_nest_lock",
                "down_read_nested",
                "down_write_nested",
                "down_read_killable_nested",
                "down_write_killable_nested",
                "_down_write_nest_lock",
            ] {
                assert!(
                    debug.contains(&f),
                    "{mode}: {f} not hooked on a lockdep kernel"
                );
            }
            assert!(debug.contains(&"down_read"), "rwsems keep their functions");
            assert!(!debug.contains(&"mutex_lock"));
        }
    }
}
