//! The processes table as rows: computed from the mirror each frame, filtered and sorted.

use super::app::{App, SortKey};
use crate::export::summary::owner_name;

pub struct ProcessRow {
    pub mm: u64,
    pub pids: String,
    pub comm: String,
    pub live: usize,
    pub deferred: usize,
    pub bytes: u64,
    pub rate: u64,
    pub cb_p99_ns: Option<u64>,
    pub waits: u64,
    /// Device faults (`hmm_range_fault`) on the address space.
    pub faults: u64,
    pub findings: usize,
    pub exited: bool,
    owners: Vec<String>,
}

/// A filter term: `pid:N`, `comm:TEXT`, `owner:TEXT`, or plain text matching any of them.
fn matches(row: &ProcessRow, filter: &str) -> bool {
    filter.split_whitespace().all(|term| {
        let (key, value) = term.split_once(':').unwrap_or(("", term));
        let value = value.to_lowercase();
        let pid = || row.pids.split(',').any(|p| p == value);
        let comm = || row.comm.to_lowercase().contains(&value);
        let owner = || row.owners.iter().any(|o| o.to_lowercase().contains(&value));
        match key {
            "pid" => pid(),
            "comm" => comm(),
            "owner" => owner(),
            _ => pid() || comm() || owner(),
        }
    })
}

pub fn process_rows(app: &App) -> Vec<ProcessRow> {
    let m = &app.pipeline.mirror;
    let mut findings_per_mm = std::collections::HashMap::<u64, usize>::new();
    for f in app.pipeline.rules.iter().flat_map(|r| r.findings()) {
        *findings_per_mm.entry(f.mm).or_default() += 1;
    }
    let mut rows: Vec<ProcessRow> = m
        .mms
        .iter()
        .filter(|(_, mm)| !mm.intervals.is_empty() || mm.ranges > 0 || mm.inserts > 0)
        .map(|(&mm_ptr, mm)| {
            // Owner names only matter to a filter; a frame with 100k intervals must not
            // format one string per interval.
            let owners = if app.filter.is_empty() {
                Vec::new()
            } else {
                let mut addrs: Vec<u64> = mm
                    .intervals
                    .values()
                    .map(|iv| app.pipeline.mirror.owner_addr(iv.owner))
                    .collect();
                addrs.sort_unstable();
                addrs.dedup();
                addrs
                    .into_iter()
                    .map(|a| {
                        let (name, driver) = owner_name(a, &app.pipeline.owners);
                        driver.map_or(name.clone(), |d| format!("{name} {d}"))
                    })
                    .collect()
            };
            let deferred = mm.intervals.deferred();
            ProcessRow {
                mm: mm_ptr,
                pids: mm
                    .processes
                    .keys()
                    .map(u32::to_string)
                    .collect::<Vec<_>>()
                    .join(","),
                comm: mm.processes.values().next().cloned().unwrap_or_default(),
                live: mm.intervals.len() - deferred,
                deferred,
                bytes: mm.intervals.bytes(),
                rate: mm.rate.previous,
                cb_p99_ns: mm.callbacks.quantile_ns(0.99),
                waits: mm.read_begin_waits,
                faults: mm.hmm().faults,
                findings: findings_per_mm.get(&mm_ptr).copied().unwrap_or(0),
                exited: mm.released,
                owners,
            }
        })
        .filter(|r| app.filter.is_empty() || matches(r, &app.filter))
        .collect();
    match app.sort {
        SortKey::Intervals => rows.sort_by_key(|r| std::cmp::Reverse((r.live + r.deferred, r.mm))),
        SortKey::Bytes => rows.sort_by_key(|r| std::cmp::Reverse((r.bytes, r.mm))),
        SortKey::Rate => rows.sort_by_key(|r| std::cmp::Reverse((r.rate, r.mm))),
        SortKey::CallbackP99 => rows.sort_by_key(|r| std::cmp::Reverse((r.cb_p99_ns, r.mm))),
        SortKey::Waits => rows.sort_by_key(|r| std::cmp::Reverse((r.waits, r.mm))),
        SortKey::Pid => rows.sort_by(|a, b| a.pids.cmp(&b.pids)),
        SortKey::Comm => rows.sort_by(|a, b| a.comm.cmp(&b.comm).then(a.pids.cmp(&b.pids))),
    }
    rows
}
