//! What `serve` exports to Prometheus: a [`Sample`] of the model taken at each upkeep tick
//! (on the capture's thread, which owns the model), encoded on each scrape (on the server's
//! thread) in the Prometheus text format.
//!
//! Labels are bounded by the kernel's code, never by its workload: a driver (as the owners
//! view names it), an `mmu_notifier_event`, blockability, a rule, a program. Never a pid,
//! mm, comm or address: their cardinality grows with every process a fleet runs, and
//! per-process detail is what `/snapshot` is for.

use std::collections::{BTreeMap, HashMap};

use notifier_common::MmuEvent;
use prometheus_client::{
    collector::Collector,
    encoding::{DescriptorEncoder, EncodeMetric as _, MetricEncoder, NoLabelSet},
    metrics::{MetricType, counter::ConstCounter, gauge::ConstGauge},
    registry::Registry,
};

use crate::{
    export::summary::owner_name,
    mirror::{Latency, MMU_EVENTS, Owner},
    pipeline::Pipeline,
    stream::ProgramCost,
    symbols::Symbol,
};

/// Histogram bucket bounds: the per-interval sketch's log-4 scale from 1 µs to 4.2 s, so
/// the exporter's buckets and the TUI's bars mean the same.
const BOUNDS_NS: [u64; 12] = [
    1_000,
    4_000,
    16_000,
    64_000,
    256_000,
    1_024_000,
    4_096_000,
    16_384_000,
    65_536_000,
    262_144_000,
    1_048_576_000,
    4_194_304_000,
];

/// The driver label of an owner nobody could name (its address is not a label).
const UNKNOWN: &str = "unknown";

/// What the build and the kernel are: `notifier_top_build_info`.
#[derive(Clone, Debug)]
pub struct BuildInfo {
    pub version: String,
    pub commit: String,
    pub kernel: String,
}

/// A latency distribution as Prometheus wants it: cumulative bucket counts.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Histogram {
    pub count: u64,
    pub sum_ns: u64,
    /// Samples at most each of [`BOUNDS_NS`].
    pub at_most: [u64; BOUNDS_NS.len()],
}

impl Histogram {
    fn add(&mut self, l: &Latency) {
        self.count += l.count();
        self.sum_ns = self.sum_ns.saturating_add(l.sum_ns());
        for (n, bound) in self.at_most.iter_mut().zip(BOUNDS_NS) {
            *n += l.count_at_most(bound);
        }
    }

    fn encode(&self, encoder: &mut MetricEncoder<'_>) -> std::fmt::Result {
        // The encoder sums the buckets it is given, so it wants each bucket's own share.
        let mut below = 0;
        let buckets: Vec<(f64, u64)> = BOUNDS_NS
            .iter()
            .map(|&b| seconds(b))
            .chain([f64::INFINITY])
            .zip(self.at_most.iter().chain([&self.count]).map(|&n| {
                let share = n.saturating_sub(below);
                below = n;
                share
            }))
            .collect();
        encoder.encode_histogram::<NoLabelSet>(seconds(self.sum_ns), self.count, &buckets, None)
    }
}

/// One driver's share of the model (all its callbacks together).
#[derive(Clone, Debug, Default)]
pub struct DriverSample {
    pub intervals: u64,
    pub inserts: u64,
    pub removes: u64,
    /// `[event][blockable]`, as the mirror keeps them.
    pub invalidations: [[u64; 2]; MMU_EVENTS],
    pub callbacks: Histogram,
    pub callbacks_unobserved: u64,
    pub read_begin_wait: Histogram,
    pub faults_ok: u64,
    pub faults_busy: u64,
    pub faults_failed: u64,
    pub fault_duration: Histogram,
    pub pages_faulted: u64,
    pub migrations_to_device: u64,
    pub pages_to_device: u64,
    pub migrations_from_device: u64,
    pub pages_from_device: u64,
    pub exclusive_grants: u64,
    pub exclusive_failed: u64,
}

impl DriverSample {
    fn add(&mut self, o: &Owner) {
        self.intervals += o.live as u64;
        self.inserts += o.inserts;
        self.removes += o.removes;
        for (mine, theirs) in self.invalidations.iter_mut().zip(&o.invalidations_by) {
            mine[0] += theirs[0];
            mine[1] += theirs[1];
        }
        self.callbacks.add(&o.callbacks);
        self.callbacks_unobserved += o.callbacks_unobserved;
        self.read_begin_wait.add(&o.read_begin_wait);
        let h = &o.hmm;
        self.faults_ok += h.faults - h.faults_busy - h.faults_failed;
        self.faults_busy += h.faults_busy;
        self.faults_failed += h.faults_failed;
        self.fault_duration.add(&h.fault_latency);
        self.pages_faulted += h.pages_faulted;
        self.migrations_to_device += h.migrations_to_device;
        self.pages_to_device += h.pages_to_device;
        self.migrations_from_device += h.migrations_from_device;
        self.pages_from_device += h.pages_from_device;
        self.exclusive_grants += h.exclusive_grants;
        self.exclusive_failed += h.exclusive_failed;
    }
}

/// Everything `/metrics` shows, as of one upkeep tick.
#[derive(Clone, Debug, Default)]
pub struct Sample {
    pub drivers: BTreeMap<String, DriverSample>,
    /// Rule hits since the start, by (rule name, driver).
    pub findings: BTreeMap<(String, String), u64>,
    pub events: u64,
    pub lost: u64,
    pub skipped: u64,
    pub audit_drift: u64,
    pub audits: u64,
    pub evictions: u64,
    pub pages_evicted: u64,
    /// Per program: (run time ns, runs); empty when the kernel's statistics are off.
    pub programs: Vec<ProgramCost>,
}

impl Sample {
    /// Reads the model. Cost: one pass over the owners.
    pub fn of(p: &Pipeline, programs: &[ProgramCost]) -> Sample {
        let m = &p.mirror;
        let mut drivers: BTreeMap<String, DriverSample> = BTreeMap::new();
        for (&addr, owner) in &m.owners {
            drivers
                .entry(driver_label(addr, &p.owners))
                .or_default()
                .add(owner);
        }
        // A driver known but idle is a series at zero, not a missing one: Prometheus
        // sees a counter start (or, after a restart, reset) only at a sample before its
        // first increment.
        for &addr in p.owners.keys() {
            drivers.entry(driver_label(addr, &p.owners)).or_default();
        }
        let mut findings = BTreeMap::new();
        for (rule, owner, n) in p.rules.iter().flat_map(|r| r.totals()) {
            *findings
                .entry((rule.name(), driver_label(owner, &p.owners)))
                .or_default() += n;
        }
        let c = &m.counters;
        Sample {
            drivers,
            findings,
            events: c.events,
            lost: c.lost,
            skipped: c.skipped,
            audit_drift: m.audit.drifted(),
            audits: m.audit.mms_checked,
            evictions: c.evictions,
            pages_evicted: c.pages_evicted,
            programs: programs.to_vec(),
        }
    }
}

/// The owners view's name for an owner: its driver, else its callback's symbol, else
/// `unknown`.
fn driver_label(addr: u64, owners: &HashMap<u64, Symbol>) -> String {
    match owners.get(&addr) {
        Some(_) => {
            let (name, driver) = owner_name(addr, owners);
            driver.unwrap_or(name)
        }
        None => UNKNOWN.to_owned(),
    }
}

fn seconds(ns: u64) -> f64 {
    ns as f64 / 1e9
}

/// The text `/metrics` serves, in the Prometheus text format (0.0.4), which every
/// Prometheus and `promtool check metrics` read.
pub fn render(sample: &Sample, build: &BuildInfo, extra: Vec<Family>) -> String {
    let mut registry = Registry::with_prefix("notifier_top");
    registry.register_collector(Box::new(Exposition {
        sample: sample.clone(),
        build: build.clone(),
        extra,
    }));
    let mut out = String::new();
    // Writing to a String cannot fail.
    let _ = prometheus_client::encoding::prometheus_text::encode(&mut out, &registry);
    out
}

pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// A counter family from outside the model (the server's own counters), unlabelled.
#[derive(Clone, Debug)]
pub struct Family {
    pub name: &'static str,
    pub help: &'static str,
    pub value: u64,
}

#[derive(Debug)]
struct Exposition {
    sample: Sample,
    build: BuildInfo,
    extra: Vec<Family>,
}

type Labels<'a> = Vec<(&'static str, &'a str)>;

impl Exposition {
    /// One metric family, one series per label set.
    fn family<'a, T>(
        enc: &mut DescriptorEncoder<'_>,
        name: &str,
        help: &str,
        kind: MetricType,
        series: impl IntoIterator<Item = (Labels<'a>, T)>,
        mut write: impl FnMut(MetricEncoder<'_>, T) -> std::fmt::Result,
    ) -> std::fmt::Result {
        let mut family = enc.encode_descriptor(name, help, None, kind)?;
        for (labels, value) in series {
            write(family.encode_family(&labels)?, value)?;
        }
        Ok(())
    }

    fn counters<'a>(
        enc: &mut DescriptorEncoder<'_>,
        name: &str,
        help: &str,
        series: impl IntoIterator<Item = (Labels<'a>, u64)>,
    ) -> std::fmt::Result {
        Self::family(enc, name, help, MetricType::Counter, series, |m, v| {
            ConstCounter::new(v).encode(m)
        })
    }

    fn per_driver(
        &self,
        enc: &mut DescriptorEncoder<'_>,
        name: &str,
        help: &str,
        value: impl Fn(&DriverSample) -> u64,
    ) -> std::fmt::Result {
        let series = self
            .sample
            .drivers
            .iter()
            .map(|(d, s)| (vec![("driver", d.as_str())], value(s)));
        Self::counters(enc, name, help, series)
    }

    fn histograms(
        &self,
        enc: &mut DescriptorEncoder<'_>,
        name: &str,
        help: &str,
        of: impl Fn(&DriverSample) -> &Histogram,
    ) -> std::fmt::Result {
        let series = self
            .sample
            .drivers
            .iter()
            .map(|(d, s)| (vec![("driver", d.as_str())], of(s)));
        Self::family(
            enc,
            name,
            help,
            MetricType::Histogram,
            series,
            |mut m, h| h.encode(&mut m),
        )
    }

    fn single(
        enc: &mut DescriptorEncoder<'_>,
        name: &str,
        help: &str,
        value: u64,
    ) -> std::fmt::Result {
        let m = enc.encode_descriptor(name, help, None, MetricType::Counter)?;
        ConstCounter::new(value).encode(m)
    }
}

impl Collector for Exposition {
    fn encode(&self, mut enc: DescriptorEncoder) -> std::fmt::Result {
        let s = &self.sample;
        let e = &mut enc;
        {
            let m = e.encode_descriptor(
                "build_info",
                "The notifier-top build and the kernel it runs on.",
                None,
                MetricType::Gauge,
            )?;
            let labels: Labels = vec![
                ("version", &self.build.version),
                ("commit", &self.build.commit),
                ("kernel", &self.build.kernel),
            ];
            let mut family = m;
            ConstGauge::new(1i64).encode(family.encode_family(&labels)?)?;
        }
        {
            let series = s
                .drivers
                .iter()
                .map(|(d, v)| (vec![("driver", d.as_str())], v.intervals as i64));
            Self::family(
                e,
                "intervals",
                "Intervals registered now, per driver.",
                MetricType::Gauge,
                series,
                |m, v| ConstGauge::new(v).encode(m),
            )?;
        }
        self.per_driver(e, "inserts", "Interval inserts.", |d| d.inserts)?;
        self.per_driver(e, "removes", "Interval removes.", |d| d.removes)?;
        {
            let series = s.drivers.iter().flat_map(|(d, v)| {
                MmuEvent::ALL.iter().flat_map(move |ev| {
                    [("false", 0), ("true", 1)]
                        .into_iter()
                        .filter_map(move |(b, i)| {
                            let n = v.invalidations[*ev as usize][i];
                            (n > 0).then(|| {
                                (
                                    vec![
                                        ("driver", d.as_str()),
                                        ("event", ev.name()),
                                        ("blockable", b),
                                    ],
                                    n,
                                )
                            })
                        })
                })
            });
            Self::counters(
                e,
                "invalidations",
                "Invalidations that met a driver's interval, by mmu_notifier_event and whether the range could block.",
                series,
            )?;
        }
        self.histograms(
            e,
            "callback_duration_seconds",
            "Time in the drivers' invalidate callbacks.",
            |d| &d.callbacks,
        )?;
        self.per_driver(
            e,
            "callbacks_unobserved",
            "Callback calls the kernel made that no event showed (hooked late, or skipped runs).",
            |d| d.callbacks_unobserved,
        )?;
        self.histograms(
            e,
            "read_begin_wait_seconds",
            "mmu_interval_read_begin calls that waited for an invalidation to end, and how long.",
            |d| &d.read_begin_wait,
        )?;
        {
            let series = s.drivers.iter().flat_map(|(d, v)| {
                [
                    ("ok", v.faults_ok),
                    ("busy", v.faults_busy),
                    ("failed", v.faults_failed),
                ]
                .into_iter()
                .filter(|(_, n)| *n > 0)
                .map(move |(r, n)| (vec![("driver", d.as_str()), ("result", r)], n))
            });
            Self::counters(
                e,
                "hmm_faults",
                "hmm_range_fault calls; busy: invalidated during the fault (the driver retries).",
                series,
            )?;
        }
        self.histograms(
            e,
            "hmm_fault_duration_seconds",
            "Time in hmm_range_fault.",
            |d| &d.fault_duration,
        )?;
        self.per_driver(
            e,
            "hmm_pages_faulted",
            "Pages hmm_range_fault was asked for.",
            |d| d.pages_faulted,
        )?;
        {
            let series = s.drivers.iter().flat_map(|(d, v)| {
                [
                    ("to_device", v.migrations_to_device, v.pages_to_device),
                    ("from_device", v.migrations_from_device, v.pages_from_device),
                ]
                .into_iter()
                .map(move |(dir, calls, pages)| (d.as_str(), dir, calls, pages))
            });
            let (calls, pages): (Vec<_>, Vec<_>) = series
                .filter(|(_, _, calls, _)| *calls > 0)
                .map(|(d, dir, calls, pages)| {
                    let labels = vec![("driver", d), ("direction", dir)];
                    ((labels.clone(), calls), (labels, pages))
                })
                .unzip();
            Self::counters(e, "hmm_migrations", "migrate_vma_pages calls.", calls)?;
            Self::counters(
                e,
                "hmm_pages_migrated",
                "Pages migrate_vma_pages moved.",
                pages,
            )?;
        }
        {
            let series = s.drivers.iter().flat_map(|(d, v)| {
                [
                    ("granted", v.exclusive_grants),
                    ("failed", v.exclusive_failed),
                ]
                .into_iter()
                .filter(|(_, n)| *n > 0)
                .map(move |(r, n)| (vec![("driver", d.as_str()), ("result", r)], n))
            });
            Self::counters(e, "hmm_exclusive", "make_device_exclusive calls.", series)?;
        }
        Self::single(
            e,
            "hmm_evictions",
            "Evictions of device memory (migrate_device_pages), device-wide.",
            s.evictions,
        )?;
        Self::single(
            e,
            "hmm_pages_evicted",
            "Pages evictions moved back.",
            s.pages_evicted,
        )?;
        {
            let series = s.findings.iter().map(|((rule, driver), n)| {
                (
                    vec![("rule", rule.as_str()), ("driver", driver.as_str())],
                    *n,
                )
            });
            Self::counters(e, "findings", "Hazard rule hits.", series)?;
        }
        Self::single(e, "events", "Events the pipeline processed.", s.events)?;
        Self::single(
            e,
            "events_lost",
            "Events the kernel dropped: the ring buffer was full.",
            s.lost,
        )?;
        Self::single(
            e,
            "events_skipped",
            "Program runs the kernel skipped (each may be a missing event).",
            s.skipped,
        )?;
        Self::single(
            e,
            "audits",
            "Address spaces re-walked and compared with the mirror.",
            s.audits,
        )?;
        Self::single(
            e,
            "audit_drift",
            "Intervals a re-walk found missing from or extra in the mirror.",
            s.audit_drift,
        )?;
        if !s.programs.is_empty() {
            let runs = s
                .programs
                .iter()
                .map(|c| (vec![("program", c.program.as_str())], c.run_count));
            Self::counters(e, "bpf_runs", "Runs of each eBPF program.", runs)?;
            let time = s
                .programs
                .iter()
                .map(|c| (vec![("program", c.program.as_str())], c.run_time_ns));
            Self::family(
                e,
                "bpf_run_time_seconds",
                "Time the kernel spent in each eBPF program (BPF run-time statistics).",
                MetricType::Counter,
                time,
                |m, ns| ConstCounter::new(seconds(ns)).encode(m),
            )?;
        }
        for f in &self.extra {
            Self::single(e, f.name, f.help, f.value)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
