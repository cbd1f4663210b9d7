//! The JSON summary written at exit (`--summary-json`): the final mirror, per-owner
//! aggregates, counters and lost events. Versioned: consumers check `schema_version`.

use std::collections::HashMap;

use indexmap::IndexMap;
use serde::Serialize;

use super::{pointers::Pointers, trace::event_name};
use crate::{
    mirror::{Audit, Counters, HmmStats, Interval, Mirror, Mm, State},
    record::Cut,
    rules::Finding,
    stream::HookStatus,
    symbols::{Symbol, driver_of},
};

pub const SCHEMA_VERSION: u32 = 1;

#[derive(Serialize)]
pub struct Summary {
    pub schema_version: u32,
    pub tool_version: &'static str,
    pub kernel: String,
    pub duration_s: f64,
    pub attach: Vec<HookStatus>,
    pub counters: Counters,
    /// Re-walks of the kernel's trees compared with the mirror, and any drift found.
    pub audit: Audit,
    pub live_intervals: usize,
    pub processes: Vec<Process>,
    pub owners: Vec<OwnerSummary>,
    pub findings: Vec<FindingSummary>,
    /// A replayed recording whose recorder did not finish it: where it was cut and the
    /// bytes ignored after that. Absent for a live session or a complete recording.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recording_cut: Option<Cut>,
}

#[derive(Serialize)]
pub struct Process {
    pub mm: String,
    pub tgids: Vec<u32>,
    pub comms: Vec<String>,
    /// exit_mmap ran: the processes are gone, the intervals below outlived them.
    pub exited: bool,
    pub intervals: Vec<IntervalSummary>,
    pub invalidations: u64,
    /// In the kernel's `enum mmu_notifier_event` order, so the output is stable.
    pub invalidations_by_event: IndexMap<&'static str, u64>,
    pub eagain: u64,
    pub callbacks: u64,
    pub callback_p50_ns: Option<u64>,
    pub callback_p99_ns: Option<u64>,
    pub callback_max_ns: Option<u64>,
    pub read_begin_waits: u64,
    pub inserts: u64,
    pub removes: u64,
    /// The HMM layer's work for this address space; absent when it did none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hmm: Option<HmmSummary>,
}

#[derive(Serialize)]
pub struct IntervalSummary {
    pub notifier: String,
    pub generation: u32,
    pub start: String,
    pub last: String,
    pub size: u64,
    pub state: State,
    pub owner: String,
    pub driver: Option<String>,
    pub inserted_by: u32,
    pub invalidations: u32,
    pub unmap_invalidations: u32,
    pub bytes_invalidated: u64,
    pub last_event: Option<&'static str>,
    pub callbacks: u32,
    pub callback_p50_ns: Option<u64>,
    pub callback_p99_ns: Option<u64>,
    pub callback_max_ns: Option<u64>,
    pub read_begins: u32,
    pub read_begin_waits: u32,
    pub read_begin_wait_max_ns: u32,
    /// Device faults on this interval; absent when there were none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub faults: Option<FaultSummary>,
}

/// Device faults (`hmm_range_fault`) on one interval.
#[derive(Serialize)]
pub struct FaultSummary {
    pub faults: u64,
    /// Returned -EBUSY: invalidated while the device faulted; the driver retried.
    pub faults_busy: u64,
    pub fault_p50_ns: Option<u64>,
    pub fault_p99_ns: Option<u64>,
    pub fault_max_ns: Option<u64>,
}

#[derive(Serialize)]
pub struct OwnerSummary {
    pub owner: String,
    pub driver: Option<String>,
    pub live_intervals: usize,
    pub inserts: u64,
    pub removes: u64,
    pub invalidations: u64,
    pub callbacks: u64,
    pub callback_p50_ns: Option<u64>,
    pub callback_p99_ns: Option<u64>,
    pub callback_max_ns: Option<u64>,
    /// Calls the kernel made to this owner's callback that no event showed.
    pub callbacks_unobserved: u64,
    pub read_begin_waits: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hmm: Option<HmmSummary>,
}

#[derive(Serialize)]
pub struct FindingSummary {
    #[serde(flatten)]
    pub finding: Finding,
    pub owner_name: String,
    pub mm_id: String,
    pub stack_frames: Vec<Vec<String>>,
}

/// Names an owner address: `symbol [module]`, or the hex address when unknown.
pub fn owner_name(addr: u64, owners: &HashMap<u64, Symbol>) -> (String, Option<String>) {
    match owners.get(&addr) {
        Some(s) => (s.display(), driver_of(&s.name, s.module.as_deref())),
        None if addr == 0 => ("unknown".into(), None),
        None => (format!("0x{addr:x}"), None),
    }
}

pub struct Context<'a> {
    pub mirror: &'a Mirror,
    pub kernel: &'a str,
    pub attach: &'a [HookStatus],
    pub owners: &'a HashMap<u64, Symbol>,
    pub stacks: &'a HashMap<u64, Vec<String>>,
    pub pointers: &'a Pointers,
}

pub fn build<'a>(findings: impl Iterator<Item = &'a Finding>, cx: &Context<'_>) -> Summary {
    let m = cx.mirror;
    let ptr = cx.pointers;
    let mut processes: Vec<Process> = m
        .mms
        .iter()
        .filter(|(_, mm)| !mm.intervals.is_empty() || mm.ranges > 0 || mm.inserts > 0)
        .map(|(&mm_ptr, mm)| process(mm_ptr, mm, cx))
        .collect();
    processes.sort_by_key(|p| std::cmp::Reverse(p.intervals.len()));
    let mut owners: Vec<OwnerSummary> = m
        .owners
        .iter()
        .map(|(&addr, o)| {
            let (owner, driver) = owner_name(addr, cx.owners);
            OwnerSummary {
                owner,
                driver,
                live_intervals: o.live,
                inserts: o.inserts,
                removes: o.removes,
                invalidations: o.invalidations,
                callbacks: o.callbacks.count(),
                callback_p50_ns: o.callbacks.quantile_ns(0.5),
                callback_p99_ns: o.callbacks.quantile_ns(0.99),
                callback_max_ns: o.callbacks.max_ns(),
                callbacks_unobserved: o.callbacks_unobserved,
                read_begin_waits: o.read_begin_waits,
                hmm: hmm(&o.hmm),
            }
        })
        .collect();
    owners.sort_by(|a, b| {
        b.live_intervals
            .cmp(&a.live_intervals)
            .then(a.owner.cmp(&b.owner))
    });
    let findings = findings
        .map(|f| FindingSummary {
            owner_name: owner_name(f.owner, cx.owners).0,
            mm_id: ptr.show(f.mm),
            stack_frames: f
                .stacks
                .iter()
                .filter_map(|id| cx.stacks.get(id).cloned())
                .collect(),
            finding: f.clone(),
        })
        .collect();
    Summary {
        schema_version: SCHEMA_VERSION,
        tool_version: env!("CARGO_PKG_VERSION"),
        kernel: cx.kernel.to_owned(),
        duration_s: m.now_ns.saturating_sub(m.first_ns) as f64 / 1e9,
        attach: cx.attach.to_vec(),
        counters: m.counters.clone(),
        audit: m.audit.clone(),
        live_intervals: m.live_intervals(),
        processes,
        owners,
        findings,
        recording_cut: None,
    }
}

/// One mm as exports show it: its processes, intervals (by address) and aggregates.
pub fn process(mm_ptr: u64, mm: &Mm, cx: &Context<'_>) -> Process {
    let ptr = cx.pointers;
    let mut intervals: Vec<_> = mm
        .intervals
        .iter()
        .map(|(&sub, iv)| interval(sub, iv, mm, cx))
        .collect();
    intervals.sort_by(|a, b| {
        a.start
            .len()
            .cmp(&b.start.len())
            .then(a.start.cmp(&b.start))
    });
    Process {
        mm: ptr.show(mm_ptr),
        tgids: mm.processes.keys().copied().collect(),
        comms: mm.processes.values().cloned().collect(),
        exited: mm.released,
        intervals,
        invalidations: mm.ranges,
        invalidations_by_event: mm
            .ranges_by_event
            .iter()
            .enumerate()
            .filter(|(_, n)| **n > 0)
            .map(|(i, n)| (event_name(i as u8), *n))
            .collect(),
        eagain: mm.ranges_eagain,
        callbacks: mm.callbacks.count(),
        callback_p50_ns: mm.callbacks.quantile_ns(0.5),
        callback_p99_ns: mm.callbacks.quantile_ns(0.99),
        callback_max_ns: mm.callbacks.max_ns(),
        read_begin_waits: mm.read_begin_waits,
        inserts: mm.inserts,
        removes: mm.removes,
        hmm: hmm(mm.hmm()),
    }
}

/// [`HmmStats`] in the summary and snapshots (absent when the HMM layer did nothing).
#[derive(Debug, Serialize)]
pub struct HmmSummary {
    pub faults: u64,
    pub faults_busy: u64,
    pub faults_failed: u64,
    pub fault_p50_ns: Option<u64>,
    pub fault_p99_ns: Option<u64>,
    pub fault_max_ns: Option<u64>,
    pub pages_faulted: u64,
    pub migrations_to_device: u64,
    pub pages_to_device: u64,
    pub migrations_from_device: u64,
    pub pages_from_device: u64,
    pub exclusive_grants: u64,
    pub exclusive_failed: u64,
}

fn hmm(s: &HmmStats) -> Option<HmmSummary> {
    (!s.is_empty()).then(|| HmmSummary {
        faults: s.faults,
        faults_busy: s.faults_busy,
        faults_failed: s.faults_failed,
        fault_p50_ns: s.fault_latency.quantile_ns(0.5),
        fault_p99_ns: s.fault_latency.quantile_ns(0.99),
        fault_max_ns: s.fault_latency.max_ns(),
        pages_faulted: s.pages_faulted,
        migrations_to_device: s.migrations_to_device,
        pages_to_device: s.pages_to_device,
        migrations_from_device: s.migrations_from_device,
        pages_from_device: s.pages_from_device,
        exclusive_grants: s.exclusive_grants,
        exclusive_failed: s.exclusive_failed,
    })
}

fn interval(sub: u64, iv: &Interval, mm: &Mm, cx: &Context<'_>) -> IntervalSummary {
    let (owner, driver) = owner_name(cx.mirror.owner_addr(iv.owner), cx.owners);
    IntervalSummary {
        notifier: cx.pointers.show(sub),
        generation: iv.generation,
        start: format!("0x{:x}", iv.start),
        last: format!("0x{:x}", iv.last),
        size: iv.size(),
        state: iv.state,
        owner,
        driver,
        inserted_by: iv.tgid,
        invalidations: iv.invalidations,
        unmap_invalidations: iv.unmaps,
        bytes_invalidated: iv.bytes_invalidated,
        last_event: (iv.last_event != u8::MAX).then(|| event_name(iv.last_event)),
        callbacks: iv.callbacks.count,
        callback_p50_ns: iv.callbacks.quantile_ns(0.5),
        callback_p99_ns: iv.callbacks.quantile_ns(0.99),
        callback_max_ns: (iv.callbacks.count > 0).then_some(iv.callbacks.max_ns as u64),
        read_begins: iv.read_begins,
        read_begin_waits: iv.read_begin_waits,
        read_begin_wait_max_ns: iv.read_begin_wait_max_ns,
        faults: mm.faults(sub).map(|f| FaultSummary {
            faults: f.faults,
            faults_busy: f.faults_busy,
            fault_p50_ns: f.latency.quantile_ns(0.5),
            fault_p99_ns: f.latency.quantile_ns(0.99),
            fault_max_ns: (f.latency.count > 0).then_some(f.latency.max_ns as u64),
        }),
    }
}
