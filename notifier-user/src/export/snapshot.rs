//! Per-process interval snapshots (`notifier-top snapshot`, the TUI's `w` key): what each
//! process has registered, with per-interval statistics. JSON follows
//! docs/snapshot.schema.json (versioned by `schema_version`); CSV has one row per interval
//! with the process columns repeated, for spreadsheets and `sort`/`awk`. The CSV's text
//! from outside (comms, owners, drivers) is escaped as on a terminal, and defused for
//! spreadsheets (see `cell`); fields are quoted where they need it.

use std::io::Write;

use anyhow::Result;
use serde::Serialize;

use super::{
    escape::Escaped,
    summary::{self, Context, IntervalSummary, Process},
};
use crate::mirror::State;

/// 2: `hmm` per process and `faults` per interval (present only when the HMM layer did
/// any work).
pub const SCHEMA_VERSION: u32 = 2;

#[derive(Serialize)]
pub struct Snapshot {
    pub schema: &'static str,
    pub schema_version: u32,
    pub tool_version: &'static str,
    pub kernel: String,
    pub taken_unix: u64,
    /// The process filter in force (`pid 12 owner nouveau`), empty for all processes.
    pub filter: String,
    /// Whether kernel pointers are shown raw; otherwise they are per-run hashes.
    pub raw_pointers: bool,
    pub processes: Vec<Process>,
}

pub struct Meta {
    pub kernel: String,
    pub taken_unix: u64,
    pub filter: String,
}

/// The mms with intervals, most intervals first; `only` restricts to one mm.
pub fn build(cx: &Context<'_>, meta: Meta, only: Option<u64>) -> Snapshot {
    let m = cx.mirror;
    let mut processes: Vec<Process> = m
        .mms
        .iter()
        .filter(|(ptr, mm)| !mm.intervals.is_empty() && only.is_none_or(|o| o == **ptr))
        .map(|(&ptr, mm)| summary::process(ptr, mm, cx))
        .collect();
    processes.sort_by(|a, b| {
        b.intervals
            .len()
            .cmp(&a.intervals.len())
            .then(a.tgids.cmp(&b.tgids))
    });
    Snapshot {
        schema: "notifier-top/snapshot",
        schema_version: SCHEMA_VERSION,
        tool_version: env!("CARGO_PKG_VERSION"),
        kernel: meta.kernel,
        taken_unix: meta.taken_unix,
        filter: meta.filter,
        raw_pointers: cx.pointers.is_raw(),
        processes,
    }
}

/// One CSV row: an interval with its process's identity.
#[derive(Serialize)]
struct Row<'a> {
    mm: &'a str,
    tgids: String,
    comms: String,
    exited: bool,
    notifier: &'a str,
    start: &'a str,
    last: &'a str,
    size: u64,
    state: State,
    owner: String,
    driver: String,
    inserted_by: u32,
    invalidations: u32,
    unmap_invalidations: u32,
    bytes_invalidated: u64,
    last_event: &'a str,
    callbacks: u32,
    callback_p50_ns: Option<u64>,
    callback_p99_ns: Option<u64>,
    callback_max_ns: Option<u64>,
    read_begins: u32,
    read_begin_waits: u32,
    read_begin_wait_max_ns: u32,
}

pub fn write_csv(s: &Snapshot, out: impl Write) -> Result<()> {
    let mut w = csv::Writer::from_writer(out);
    for p in &s.processes {
        let tgids = p
            .tgids
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(" ");
        let comms = cell(&p.comms.join(" "));
        for iv in &p.intervals {
            w.serialize(row(p, iv, &tgids, &comms))?;
        }
    }
    w.flush()?;
    Ok(())
}

/// A text cell from outside notifier-top: escaped (no control character reaches a terminal
/// that shows the file), and with a leading `'` where it starts with `=`, `+`, `-`, `@`,
/// TAB or CR, which would make a spreadsheet read it as a formula (OWASP's "CSV
/// injection").
fn cell(s: &str) -> String {
    let formula = s.starts_with(['=', '+', '-', '@', '\t', '\r']);
    format!("{}{}", if formula { "'" } else { "" }, Escaped::str(s))
}

fn row<'a>(p: &'a Process, iv: &'a IntervalSummary, tgids: &str, comms: &str) -> Row<'a> {
    Row {
        mm: &p.mm,
        tgids: tgids.to_owned(),
        comms: comms.to_owned(),
        exited: p.exited,
        notifier: &iv.notifier,
        start: &iv.start,
        last: &iv.last,
        size: iv.size,
        state: iv.state,
        owner: cell(&iv.owner),
        driver: cell(iv.driver.as_deref().unwrap_or("")),
        inserted_by: iv.inserted_by,
        invalidations: iv.invalidations,
        unmap_invalidations: iv.unmap_invalidations,
        bytes_invalidated: iv.bytes_invalidated,
        last_event: iv.last_event.unwrap_or(""),
        callbacks: iv.callbacks,
        callback_p50_ns: iv.callback_p50_ns,
        callback_p99_ns: iv.callback_p99_ns,
        callback_max_ns: iv.callback_max_ns,
        read_begins: iv.read_begins,
        read_begin_waits: iv.read_begin_waits,
        read_begin_wait_max_ns: iv.read_begin_wait_max_ns,
    }
}

#[cfg(test)]
mod tests {
    use super::cell;

    #[test]
    fn cells_that_a_spreadsheet_would_evaluate_are_defused() {
        for s in ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx"] {
            assert!(cell(s).starts_with('\''), "{s:?}: {}", cell(s));
        }
        assert_eq!(cell("\t=x"), r"'\x09=x");
        assert_eq!(cell("nfctl"), "nfctl");
        assert_eq!(cell("a=b"), "a=b", "only a leading sign makes a formula");
    }
}
