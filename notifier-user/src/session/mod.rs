//! A live capture session: preflight, layout, probes, ring buffer, the walks that complete
//! and audit the picture, and the loop that feeds events downstream until the duration
//! ends or the user stops it.

mod walks;

use std::{
    collections::{HashMap, HashSet},
    path::Path,
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result};
use log::{debug, info, warn};
use notifier_common::{Event, EventKind, NO_STACK};
use tokio::signal::unix::{SignalKind, signal};

use crate::{
    probe::{self, Mode, Probes, deep_scan, filter::Selection},
    source::live::{self, LiveSource},
    stream::{Feed, HookStatus, Loss, Sink, StreamEnd},
    symbols::{KernelSymbols, Symbol},
};

/// Re-reading kallsyms costs ~100 ms; a stream of inserts from an unknown address must not
/// turn into a stream of re-reads.
const SYMBOL_REFRESH_INTERVAL: Duration = Duration::from_secs(1);

/// How often an idle session checks for due walks, and its outputs reach their files.
const UPKEEP_INTERVAL: Duration = Duration::from_millis(250);

/// How often a running session re-reads the kernel's counts of dropped events and skipped
/// program runs.
const LOSS_READ_INTERVAL: Duration = Duration::from_millis(250);

/// An audit repeats the deep scan only after this many times the last scan's duration has
/// passed: at most 1% of a CPU however large the machine (2 GiB scan in tens of ms).
const DEEP_SCAN_SPACING: u32 = 100;

pub struct LiveSession {
    probes: Probes,
    source: LiveSource,
    syms: KernelSymbols,
    refreshed: Instant,
    /// Callback addresses already resolved (or known unresolvable: `None`).
    owners: HashMap<u64, Option<Symbol>>,
    /// Callback addresses not in the symbols read last, seen before a re-read was allowed:
    /// resolved at the next upkeep that may re-read (a module loaded a moment ago).
    unresolved: Vec<u64>,
    /// Hazard stacks already handed downstream.
    stacks_sent: HashSet<u64>,
    batch: Vec<Event>,
    events: u64,
    loss_read: Instant,
    cost_stats: Option<crate::probe::cost::CostStats>,
    walks: walks::Walks,
    /// The last deep scan's report, and when an audit may scan again.
    deep_scan: Option<deep_scan::Report>,
    deep_scan_due: Instant,
    pub kernel_release: String,
}

/// What a live session captures and how.
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// Attach mode for every hook instead of the automatic choice.
    pub attach: Option<Mode>,
    /// Also attach the hazard rules' hooks.
    pub rules: bool,
    /// The in-kernel process filter.
    pub selection: Selection,
    /// Re-walk the kernel's trees this often and compare them with the mirror.
    pub audit_every: Option<Duration>,
    /// Skip the deep scan for address spaces no task uses (`--no-deep-scan`).
    pub no_deep_scan: bool,
}

impl LiveSession {
    pub fn start(config: &Config) -> Result<Self> {
        config.selection.validate(Path::new("/proc"))?;
        let (mut probes, syms) = probe::arm(config.attach, config.rules, &config.selection)?;
        if config.no_deep_scan {
            probes.disable_deep_scan();
        }
        let source = LiveSource::new(&mut probes)?;
        // Live hooks are armed: whatever the walk misses, they report.
        let walking = Instant::now();
        let scan = probes.deep_scan();
        let deep_scan_due = Instant::now() + spacing(scan.as_ref());
        probes
            .walk(true, &found_mms(scan.as_ref()))
            .context("walking existing intervals")?;
        info!("existing intervals walked in {:.2?}", walking.elapsed());
        Ok(LiveSession {
            probes,
            source,
            syms,
            refreshed: Instant::now(),
            owners: HashMap::new(),
            unresolved: Vec::new(),
            stacks_sent: HashSet::new(),
            batch: Vec::with_capacity(live::BATCH_MAX),
            events: 0,
            loss_read: Instant::now(),
            cost_stats: None,
            walks: walks::Walks::new(config.audit_every),
            deep_scan: scan,
            deep_scan_due,
            kernel_release: kernel_release(),
        })
    }

    /// The last deep scan's report (`None`: unavailable or turned off).
    pub fn deep_scan(&self) -> Option<&deep_scan::Report> {
        self.deep_scan.as_ref()
    }

    pub fn hook_status(&self) -> &[HookStatus] {
        &self.probes.status
    }

    /// Turns on the kernel's BPF run-time statistics for this session's lifetime, so
    /// `cost_summary` can report the tool's own cost.
    pub fn enable_cost_stats(&mut self) {
        match crate::probe::cost::CostStats::enable() {
            Ok(s) => self.cost_stats = Some(s),
            Err(e) => warn!("BPF run-time statistics unavailable: {e:#}"),
        }
    }

    /// Callback symbols hooked so far (known drivers are hooked at start).
    pub fn known_owners(&self) -> Vec<Symbol> {
        self.probes
            .callback_hooks()
            .map(|h| h.symbol.clone())
            .collect()
    }

    /// Runs until `duration` elapses, Ctrl-C or SIGTERM. The sink sees each callback symbol
    /// the first time an insert names it, and each hazard's stack, before the event itself,
    /// so downstream can always name an event's owner and proof.
    pub async fn run(
        &mut self,
        duration: Option<Duration>,
        sink: &mut impl Sink,
    ) -> Result<StreamEnd> {
        // Both streams live across the loop: a signal arriving while no listener exists (a
        // fresh `ctrl_c()` per iteration) would be lost under a steady stream of events.
        let mut sigterm = signal(SignalKind::terminate()).context("installing SIGTERM handler")?;
        let mut sigint = signal(SignalKind::interrupt()).context("installing SIGINT handler")?;
        let deadline = duration.map(|d| tokio::time::Instant::now() + d);
        let sleep = tokio::time::sleep_until(deadline.unwrap_or_else(far_future));
        tokio::pin!(sleep);
        // Walks fall due without events too (a periodic audit of an idle system).
        let mut upkeep = tokio::time::interval(UPKEEP_INTERVAL);
        loop {
            tokio::select! {
                r = self.next(sink) => { r?; }
                _ = upkeep.tick() => {
                    self.resolve_owners(sink, false);
                    self.maintain()?;
                    if self.cost_stats.is_some() {
                        sink.costs(&self.probes.costs());
                    }
                    sink.tick()?;
                }
                _ = &mut sleep, if deadline.is_some() => break,
                _ = sigint.recv() => break,
                _ = sigterm.recv() => break,
            }
        }
        self.finish(sink)
    }

    fn loss(&self) -> Result<Loss> {
        let skips = self
            .probes
            .skips()
            .context("reading skipped program runs")?;
        Ok(Loss {
            ring_full: self.source.dropped()?,
            skipped: skips.iter().map(|s| s.runs).sum(),
        })
    }

    fn deliver(&mut self, ev: &Event, sink: &mut impl Sink) {
        self.walks.observe(ev);
        match ev.kind() {
            Some(EventKind::Insert | EventKind::Existing) => self.learn_owner(ev, sink),
            Some(EventKind::Hazard) if ev.seq != NO_STACK && self.stacks_sent.insert(ev.seq) => {
                match self.probes.stack(ev.seq, &self.syms) {
                    Ok(frames) => sink.stack(ev.seq, frames),
                    Err(e) => warn!("hazard stack {}: {e:#}", ev.seq),
                }
            }
            _ => {}
        }
        sink.event(ev);
    }

    fn learn_owner(&mut self, ev: &Event, sink: &mut impl Sink) {
        if ev.func == 0 || self.owners.contains_key(&ev.func) {
            return;
        }
        if self.syms.exact(ev.func).is_none() {
            // A module loaded after the symbols were read: its callback is named once
            // they are read again, and hooked then (its callbacks until then are counted
            // as unobserved by the mirror).
            if self.refreshed.elapsed() < SYMBOL_REFRESH_INTERVAL {
                if !self.unresolved.contains(&ev.func) {
                    self.unresolved.push(ev.func);
                }
                return;
            }
            self.refresh_symbols();
        }
        self.resolve_owner(ev.func, sink);
    }

    /// Names (and hooks) the callbacks first seen while a re-read of the symbols had to
    /// wait, once it may happen (at the end of the session, at once: the summary names
    /// them).
    fn resolve_owners(&mut self, sink: &mut impl Sink, at_end: bool) {
        if self.unresolved.is_empty()
            || !at_end && self.refreshed.elapsed() < SYMBOL_REFRESH_INTERVAL
        {
            return;
        }
        self.refresh_symbols();
        for func in std::mem::take(&mut self.unresolved) {
            if !self.owners.contains_key(&func) {
                self.resolve_owner(func, sink);
            }
        }
    }

    fn refresh_symbols(&mut self) {
        match KernelSymbols::load() {
            Ok(fresh) => self.syms = fresh,
            Err(e) => warn!("re-reading kallsyms: {e:#}"),
        }
        self.refreshed = Instant::now();
    }

    /// Names `func` from the symbols as they are, for good: hooked and handed downstream,
    /// or remembered as no kernel text symbol.
    fn resolve_owner(&mut self, func: u64, sink: &mut impl Sink) {
        let sym = self.syms.exact(func).cloned();
        match &sym {
            Some(s) => {
                self.probes.hook_callback(s, &self.syms);
                sink.owner(s);
            }
            None => warn!("callback 0x{func:x} is not a known kernel text symbol"),
        }
        self.owners.insert(func, sym);
    }
}

impl Feed for LiveSession {
    /// `N ns/run over M runs` across all programs, when statistics are on.
    fn cost_summary(&self) -> Option<String> {
        self.cost_stats.as_ref()?;
        let (runs, ns) = self.probes.costs().iter().fold((0u64, 0u64), |(r, t), c| {
            (r + c.run_count, t + c.run_time_ns)
        });
        (runs > 0).then(|| format!("{:.0} ns/run ({runs} runs)", ns as f64 / runs as f64))
    }

    /// Waits for the next batch of events and hands it to `sink`. Cancel-safe: it only
    /// awaits before taking anything off the ring buffer.
    async fn next(&mut self, sink: &mut impl Sink) -> Result<usize> {
        let mut batch = std::mem::take(&mut self.batch);
        self.source.next_batch(|ev| batch.push(*ev)).await?;
        let n = batch.len();
        for ev in batch.drain(..) {
            self.deliver(&ev, sink);
        }
        self.batch = batch;
        sink.flush()?;
        self.events += n as u64;
        // The counters are a syscall per program and a per-CPU map read: not once per batch.
        if self.loss_read.elapsed() >= LOSS_READ_INTERVAL {
            self.loss_read = Instant::now();
            sink.lost(self.loss()?);
        }
        self.maintain()?;
        Ok(n)
    }

    /// Runs the walks that are due: mms the stream named without their intervals, and
    /// the periodic audit. Their results arrive through the ring buffer like any event.
    fn maintain(&mut self) -> Result<()> {
        let now = Instant::now();
        if let Some(mut order) = self.walks.next_order(now) {
            if order.all_tasks
                && now >= self.deep_scan_due
                && let Some(scan) = self.probes.deep_scan()
            {
                self.deep_scan_due = Instant::now() + spacing(Some(&scan));
                order.listed.extend(found_mms(Some(&scan)));
                order.listed.sort_unstable();
                order.listed.dedup();
                self.deep_scan = Some(scan);
            }
            debug!(
                "walk: all tasks {}, {} listed mms",
                order.all_tasks,
                order.listed.len()
            );
            self.probes
                .walk(order.all_tasks, &order.listed)
                .context("walking interval trees")?;
        }
        Ok(())
    }

    /// Audits the mirror against the kernel's trees at the next opportunity.
    fn request_audit(&mut self) {
        self.walks.request_audit();
    }

    /// Hands `sink` everything the kernel already queued (it belongs to this session) and
    /// reports what the session saw.
    fn finish(&mut self, sink: &mut impl Sink) -> Result<StreamEnd> {
        // Verdicts on exited address spaces (NT010) are given at the end of the stream, by
        // its clock: one more walk of them puts the end's time and what they still hold
        // in the stream, so an idle capture (and its recording) reaches the verdict too.
        let exited = self.walks.exited();
        if !exited.is_empty() {
            self.probes
                .walk(false, &exited)
                .context("walking exited address spaces at the end")?;
        }
        let mut batch = std::mem::take(&mut self.batch);
        self.source.drain_now(|ev| batch.push(*ev));
        self.events += batch.len() as u64;
        for ev in batch.drain(..) {
            self.deliver(&ev, sink);
        }
        self.resolve_owners(sink, true);
        let loss = self.loss()?;
        sink.lost(loss);
        if loss.ring_full > 0 {
            warn!(
                "{} events were lost: the ring buffer was full",
                loss.ring_full
            );
        }
        for s in self
            .probes
            .skips()
            .context("reading skipped program runs")?
        {
            warn!(
                "the kernel skipped {} runs of {} (it was already running on that CPU): up to as many events are missing",
                s.runs, s.program
            );
        }
        let malformed = self.source.malformed;
        if malformed > 0 {
            warn!(
                "{malformed} ring-buffer records had the wrong size and were skipped (eBPF object and binary from different builds?)"
            );
        }
        Ok(StreamEnd {
            events: self.events,
            loss,
            malformed,
        })
    }
}

/// The address spaces a deep scan found, for the walker to report.
fn found_mms(scan: Option<&deep_scan::Report>) -> Vec<u64> {
    scan.map_or_else(Vec::new, |r| r.found.iter().map(|f| f.mm).collect())
}

fn spacing(scan: Option<&deep_scan::Report>) -> Duration {
    scan.map_or(Duration::ZERO, |r| r.elapsed * DEEP_SCAN_SPACING)
}

fn far_future() -> tokio::time::Instant {
    tokio::time::Instant::now() + Duration::from_secs(86400 * 365)
}

pub fn kernel_release() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|_| "unknown".to_owned())
}
