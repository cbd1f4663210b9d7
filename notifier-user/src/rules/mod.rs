//! Hazard rules over the event stream: each rule is a small type, in a file of its own,
//! that carries what it is (its [`RuleInfo`]: id, code, name, severity, the hooks it
//! needs, what it means and the fix) and looks at one event at a time (plus what it
//! remembers); the engine deduplicates hits into findings. The catalog `check --explain`
//! prints is derived from the registered rules: [`all`] is the one place a rule is added.
//!
//! Rules see only events, never the kernel: the kernel-side filtering and context capture
//! (inside a callback? holding a callback's lock? mmap_lock held?) happen in the probes, so
//! a recording replays to exactly the same findings.

mod insert_discipline;
mod kernel_hazard;
mod outlives_process;
mod read_begin_storm;
mod return_contract;
mod self_deadlock;
mod slow_callback;

use std::{
    collections::{BTreeMap, HashSet},
    sync::LazyLock,
};

use notifier_common::{Event, EventKind, Hazard, NO_STACK};
use rustc_hash::FxHashMap;
use serde::Serialize;

use crate::stream::Hook;

/// Every rule, with `t` for the tunable ones, in code order.
pub fn all(t: Thresholds) -> Vec<Box<dyn Rule>> {
    use kernel_hazard::*;
    vec![
        Box::new(KernelHazard::new(
            &ALLOC_IN_CALLBACK,
            Hazard::AllocInCallback,
        )),
        Box::new(KernelHazard::new(
            &LOCK_HELD_ACROSS_RECLAIM,
            Hazard::AllocUnderCallbackLock,
        )),
        Box::new(KernelHazard::new(
            &SLEEP_IN_NONBLOCKABLE,
            Hazard::SleepNonblockable,
        )),
        Box::new(return_contract::ReturnContract),
        Box::new(self_deadlock::SelfDeadlock),
        Box::new(insert_discipline::InsertDiscipline),
        Box::new(KernelHazard::new(
            &TEARDOWN_IN_CALLBACK,
            Hazard::TeardownInCallback,
        )),
        Box::new(slow_callback::SlowCallback::new(&t)),
        Box::new(read_begin_storm::ReadBeginStorm::new(&t)),
        Box::new(outlives_process::OutlivesProcess::new(&t)),
    ]
}

/// What each rule is, in code order (what `check --explain` and the docs list).
pub fn catalog() -> &'static [&'static RuleInfo] {
    static CATALOG: LazyLock<Vec<&'static RuleInfo>> = LazyLock::new(|| {
        all(Thresholds::default())
            .iter()
            .map(|r| r.info())
            .collect()
    });
    &CATALOG
}

/// The catalog entry of `id`.
pub fn info(id: RuleId) -> &'static RuleInfo {
    catalog()
        .iter()
        .find(|r| r.id == id)
        .expect("every RuleId has a registered rule")
}

/// The rules' names on the command line (`--disable`, `--explain`) and in JSON.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum RuleId {
    AllocInCallback,
    LockHeldAcrossReclaim,
    SleepInNonblockable,
    ReturnContract,
    SelfDeadlock,
    InsertDiscipline,
    TeardownInCallback,
    SlowCallback,
    ReadBeginStorm,
    OutlivesProcess,
}

impl RuleId {
    /// The name the command line and JSON use (`alloc-in-callback`).
    pub fn name(self) -> String {
        clap::ValueEnum::to_possible_value(&self)
            .map(|v| v.get_name().to_owned())
            .unwrap_or_default()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Error,
}

/// What a rule is: everything a person reads about it.
pub struct RuleInfo {
    pub id: RuleId,
    pub code: &'static str,
    pub name: &'static str,
    pub severity: Severity,
    /// Hook families beyond the capture families that the rule needs.
    pub needs: &'static [Hook],
    /// What the hazard is and why it matters.
    pub explain: &'static str,
    /// What the kernel community recommends instead.
    pub fix: &'static str,
    /// What lockdep says of the same hazard on a debug kernel.
    pub lockdep: Lockdep,
}

/// A rule's catalog entry as `check --explain RULE --json` prints it.
#[derive(Serialize)]
pub struct Explanation {
    pub rule: RuleId,
    pub code: &'static str,
    pub name: &'static str,
    pub severity: Severity,
    pub explain: &'static str,
    pub fix: &'static str,
    pub lockdep: Lockdep,
    pub needs: Vec<&'static str>,
}

impl Explanation {
    pub fn of(r: &RuleInfo) -> Explanation {
        Explanation {
            rule: r.id,
            code: r.code,
            name: r.name,
            severity: r.severity,
            explain: r.explain,
            fix: r.fix,
            lockdep: r.lockdep,
            needs: r.needs.iter().map(|h| h.name()).collect(),
        }
    }
}

/// What lockdep (CONFIG_PROVE_LOCKING) says of a rule's hazard on a debug kernel: the oracle
/// the rules are measured against (`cargo xtask oracle`, docs/rules.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "verdict", content = "why")]
pub enum Lockdep {
    /// Lockdep reports it: what its report says.
    Reports(&'static str),
    /// Lockdep cannot see it by construction: why.
    Blind(&'static str),
}

/// Tunables of the latency rules.
#[derive(Clone, Copy, Debug)]
pub struct Thresholds {
    /// A callback slower than this is reported.
    pub slow_callback_ns: u64,
    /// A read_begin blocked longer than this is reported.
    pub read_begin_wait_ns: u64,
    /// More read_begin calls than this on one interval within one second is a storm.
    pub read_begin_per_sec: u32,
    /// More device faults than this returning -EBUSY on one interval within one second is
    /// a retry storm.
    pub fault_busy_per_sec: u32,
    /// Intervals still registered this long after their process's exit_mmap outlived it.
    pub outlive_grace_ns: u64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            slow_callback_ns: 5_000_000,
            read_begin_wait_ns: 10_000_000,
            read_begin_per_sec: 1000,
            fault_busy_per_sec: 100,
            outlive_grace_ns: 10_000_000_000,
        }
    }
}

fn hit(rule: RuleId, sub: u64, stack: u64, detail: String) -> Hit {
    Hit {
        rule,
        sub,
        stack,
        detail,
        process: None,
    }
}

/// One occurrence of a hazard.
#[derive(Clone, Debug)]
pub struct Hit {
    pub rule: RuleId,
    /// The notifier involved (0 if none).
    pub sub: u64,
    /// Kernel stack id (`NO_STACK` if none).
    pub stack: u64,
    pub detail: String,
    /// The process to blame when it is not the task of the current event (rules reporting
    /// from `tick`).
    pub process: Option<(u32, String)>,
}

/// What the rules remember about a notifier: its interval and owner.
#[derive(Clone, Copy, Debug)]
pub struct Known {
    pub mm: u64,
    pub start: u64,
    pub last: u64,
    pub owner: u64,
}

/// Notifiers seen so far (from inserts and the start-up walk), shared by all rules.
#[derive(Default)]
pub struct Seen {
    pub subs: FxHashMap<u64, Known>,
    /// Live notifiers per mm.
    pub per_mm: FxHashMap<u64, u32>,
}

impl Seen {
    fn add(&mut self, sub: u64, known: Known) {
        if let Some(old) = self.subs.insert(sub, known) {
            self.drop_mm(old.mm);
        }
        *self.per_mm.entry(known.mm).or_default() += 1;
    }

    fn remove(&mut self, sub: u64) {
        if let Some(old) = self.subs.remove(&sub) {
            self.drop_mm(old.mm);
        }
    }

    fn drop_mm(&mut self, mm: u64) {
        if let Some(n) = self.per_mm.get_mut(&mm) {
            *n -= 1;
            if *n == 0 {
                self.per_mm.remove(&mm);
            }
        }
    }
}

pub trait Rule {
    fn info(&self) -> &'static RuleInfo;
    fn id(&self) -> RuleId {
        self.info().id
    }
    fn observe(&mut self, ev: &Event, seen: &Seen, out: &mut Vec<Hit>);
    /// Called with the stream's clock; rules about absence (something did not happen in
    /// time) report here. `final_tick` is the end of the stream.
    fn tick(&mut self, _now_ns: u64, _final_tick: bool, _seen: &Seen, _out: &mut Vec<Hit>) {}
}

/// A deduplicated finding: same rule, process, owner and stack.
#[derive(Clone, Debug, Serialize)]
pub struct Finding {
    pub rule: RuleId,
    pub code: &'static str,
    pub name: &'static str,
    pub severity: Severity,
    pub tgid: u32,
    pub comm: String,
    /// Raw kernel pointers: exports show `mm_id`/`owner_name` instead.
    #[serde(skip)]
    pub mm: u64,
    /// Callback function address of the interval's driver (0 if unknown).
    #[serde(skip)]
    pub owner: u64,
    /// The interval (start, last inclusive) when the hazard concerns one.
    pub interval: Option<(u64, u64)>,
    pub first_ns: u64,
    pub last_ns: u64,
    pub count: u64,
    /// Kernel stack ids proving it (resolved to frames by whoever holds the stack table).
    #[serde(skip)]
    pub stacks: Vec<u64>,
    pub detail: String,
}

type Key = (RuleId, u32, u64, u64);

/// One hit as it happened, for a timeline (findings count them; a timeline shows each).
#[derive(Clone, Debug)]
pub struct Occurrence {
    pub rule: RuleId,
    pub ts_ns: u64,
    pub tgid: u32,
    pub comm: String,
    pub mm: u64,
    /// The notifier involved (0 if none).
    pub sub: u64,
    /// Kernel stack id (`NO_STACK` if none).
    pub stack: u64,
    pub detail: String,
}

/// Event-clock interval between ticks.
const TICK_NS: u64 = 100_000_000;

pub struct Engine {
    rules: Vec<Box<dyn Rule>>,
    seen: Seen,
    findings: BTreeMap<Key, Finding>,
    /// Hits per rule and owner since the start: running totals that only grow (a
    /// finding's count is per process, and processes come and go).
    totals: BTreeMap<(RuleId, u64), u64>,
    hits: Vec<Hit>,
    /// Every hit since the last [`Engine::take_occurrences`], when a timeline asked for
    /// them ([`Engine::keep_occurrences`]); it takes them after each event.
    occurrences: Option<Vec<Occurrence>>,
    /// When rules last ticked, and the latest event time.
    last_ts: u64,
    now_ts: u64,
}

impl Engine {
    /// An engine running `enabled` rules (all when `None`).
    pub fn new(enabled: Option<&HashSet<RuleId>>, thresholds: Thresholds) -> Engine {
        let rules = all(thresholds)
            .into_iter()
            .filter(|r| enabled.is_none_or(|set| set.contains(&r.id())))
            .collect();
        Engine {
            rules,
            seen: Seen::default(),
            findings: BTreeMap::new(),
            totals: BTreeMap::new(),
            hits: Vec::new(),
            occurrences: None,
            last_ts: 0,
            now_ts: 0,
        }
    }

    pub fn observe(&mut self, ev: &Event) {
        let Some(kind) = ev.kind() else { return };
        if matches!(kind, EventKind::Insert | EventKind::Existing) && ev.ret == 0 {
            let known = Known {
                mm: ev.mm,
                start: ev.start,
                last: ev.last,
                owner: ev.func,
            };
            self.seen.add(ev.sub, known);
        }
        for rule in &mut self.rules {
            rule.observe(ev, &self.seen, &mut self.hits);
        }
        if !self.hits.is_empty() {
            self.record(
                ev.ts_ns,
                ev.tgid(),
                &String::from_utf8_lossy(ev.comm_bytes()),
                ev.mm,
            );
        }
        if kind == EventKind::RemoveEnd {
            self.seen.remove(ev.sub);
        }
        // Rules about absence work at second granularity: ticking on every event's
        // timestamp would cost each rule a call per event.
        self.now_ts = self.now_ts.max(ev.ts_ns);
        if ev.ts_ns >= self.last_ts.saturating_add(TICK_NS) {
            self.last_ts = ev.ts_ns;
            for rule in &mut self.rules {
                rule.tick(ev.ts_ns, false, &self.seen, &mut self.hits);
            }
            self.record(ev.ts_ns, 0, "", 0);
        }
    }

    /// End of stream: rules about absence report what is still pending.
    pub fn finish(&mut self) {
        for rule in &mut self.rules {
            rule.tick(self.now_ts, true, &self.seen, &mut self.hits);
        }
        self.record(self.now_ts, 0, "", 0);
    }

    fn record(&mut self, ts: u64, tgid: u32, comm: &str, mm: u64) {
        for hit in self.hits.drain(..) {
            let known = self.seen.subs.get(&hit.sub).copied();
            let mm = known.map_or(mm, |k| k.mm);
            let owner = known.map_or(0, |k| k.owner);
            let (tgid, comm) = hit
                .process
                .clone()
                .unwrap_or_else(|| (tgid, comm.to_owned()));
            *self.totals.entry((hit.rule, owner)).or_default() += 1;
            if let Some(kept) = &mut self.occurrences {
                kept.push(Occurrence {
                    rule: hit.rule,
                    ts_ns: ts,
                    tgid,
                    comm: comm.clone(),
                    mm,
                    sub: hit.sub,
                    stack: hit.stack,
                    detail: hit.detail.clone(),
                });
            }
            let key = (hit.rule, tgid, owner, hit.stack);
            let rule = info(hit.rule);
            let f = self.findings.entry(key).or_insert_with(|| Finding {
                rule: hit.rule,
                code: rule.code,
                name: rule.name,
                severity: rule.severity,
                tgid,
                comm,
                mm,
                owner,
                interval: known.map(|k| (k.start, k.last)),
                first_ns: ts,
                last_ns: ts,
                count: 0,
                stacks: Vec::new(),
                detail: hit.detail.clone(),
            });
            f.count += 1;
            f.last_ns = ts;
            if hit.stack != NO_STACK && !f.stacks.contains(&hit.stack) {
                f.stacks.push(hit.stack);
            }
        }
    }

    /// From now on, keeps each hit for [`Engine::take_occurrences`].
    pub fn keep_occurrences(&mut self) {
        self.occurrences.get_or_insert_default();
    }

    /// The hits since the last call (none unless [`Engine::keep_occurrences`] was called).
    pub fn take_occurrences(&mut self) -> Vec<Occurrence> {
        self.occurrences
            .as_mut()
            .map(std::mem::take)
            .unwrap_or_default()
    }

    pub fn findings(&self) -> impl Iterator<Item = &Finding> {
        self.findings.values()
    }

    /// Hits per (rule, owner callback address) since the start.
    pub fn totals(&self) -> impl Iterator<Item = (RuleId, u64, u64)> + '_ {
        self.totals
            .iter()
            .map(|(&(rule, owner), &n)| (rule, owner, n))
    }

    pub fn len(&self) -> usize {
        self.findings.len()
    }

    pub fn is_empty(&self) -> bool {
        self.findings.is_empty()
    }
}

#[cfg(test)]
mod tests;
