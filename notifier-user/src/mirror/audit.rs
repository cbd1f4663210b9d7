//! The mirror audit: a re-walk of the kernel's trees, compared with the mirror.
//!
//! A walk of an mm whose intervals the mirror already claims to know (it saw the mm
//! registered, or walked it before) is a check, not news. Differences are only candidates
//! at first: the walk reads the tree without a lock, so an insert whose return event is
//! still on its way, or a remove between unlinking and returning, differs for a few
//! microseconds. An event for the same notifier clears its candidate; one still standing
//! after [`GRACE_NS`] of event time (or at the end of the session) is drift: counted,
//! logged with its likely cause, and repaired so the mirror matches the kernel again.

use notifier_common::Event;
use rustc_hash::FxHashMap;
use serde::Serialize;

use super::{Counters, Intervals};

/// How long a difference may be explained by an event still in flight.
pub const GRACE_NS: u64 = 1_000_000_000;

/// Drift records kept for the summary and the views (the counters keep counting).
const DRIFT_LOG: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DriftKind {
    /// In the kernel's tree, not in the mirror: an insert was missed.
    Missing,
    /// In the mirror, not in the kernel's tree: a remove was missed.
    Extra,
}

#[derive(Debug, Clone, Serialize)]
pub struct Drift {
    pub kind: DriftKind,
    #[serde(skip)]
    pub mm: u64,
    #[serde(skip)]
    pub sub: u64,
    pub start: u64,
    pub last: u64,
    pub cause: &'static str,
}

#[derive(Debug, Clone)]
pub(super) struct Candidate {
    pub kind: DriftKind,
    /// The walk's report (Missing) or the mirror's bounds (Extra, in `start`/`last`).
    pub ev: Event,
}

#[derive(Debug, Default, Clone, Serialize)]
pub struct Audit {
    /// Mm walks compared with the mirror.
    pub mms_checked: u64,
    pub intervals_checked: u64,
    /// Walks cut short (a tree changing under the walk, or bigger than its bound): not
    /// compared.
    pub partial: u64,
    pub missing: u64,
    pub extra: u64,
    /// The latest drift, oldest first.
    pub drift: Vec<Drift>,
    #[serde(skip)]
    pub(super) pending: FxHashMap<(u64, u64), Candidate>,
    #[serde(skip)]
    pub(super) oldest_pending_ns: u64,
}

impl Audit {
    pub fn drifted(&self) -> u64 {
        self.missing + self.extra
    }

    pub(super) fn candidate(&mut self, mm: u64, sub: u64, c: Candidate) {
        if self.pending.is_empty() {
            self.oldest_pending_ns = c.ev.ts_ns;
        }
        self.pending.insert((mm, sub), c);
    }

    /// An event about `sub` explains its candidate, whatever it was.
    #[inline]
    pub(super) fn explained(&mut self, mm: u64, sub: u64) {
        if !self.pending.is_empty() {
            self.pending.remove(&(mm, sub));
        }
    }

    pub(super) fn forget_mm(&mut self, mm: u64) {
        if !self.pending.is_empty() {
            self.pending.retain(|&(m, _), _| m != mm);
        }
    }

    /// Candidates due at `now_ns` (all of them with `None`), oldest first.
    pub(super) fn due(&mut self, now_ns: Option<u64>) -> Vec<((u64, u64), Candidate)> {
        let cutoff = now_ns.map(|n| n.saturating_sub(GRACE_NS));
        if self.pending.is_empty() || cutoff.is_some_and(|c| self.oldest_pending_ns > c) {
            return Vec::new();
        }
        let mut due = Vec::new();
        self.pending.retain(|&key, c| {
            let ripe = cutoff.is_none_or(|cut| c.ev.ts_ns <= cut);
            if ripe {
                due.push((key, c.clone()));
            }
            !ripe
        });
        self.oldest_pending_ns = self.pending.values().map(|c| c.ev.ts_ns).min().unwrap_or(0);
        due.sort_by_key(|(_, c)| c.ev.ts_ns);
        due
    }

    pub(super) fn record(&mut self, d: Drift) {
        match d.kind {
            DriftKind::Missing => self.missing += 1,
            DriftKind::Extra => self.extra += 1,
        }
        if self.drift.len() == DRIFT_LOG {
            self.drift.remove(0);
        }
        self.drift.push(d);
    }
}

impl Audit {
    /// One mm's walk against the mirror: what the walk reported (`seen`, by notifier) and
    /// what the mirror holds (`mirror`) at the walk's end, `at_ns`. Every difference
    /// becomes a candidate; it is drift only if no event explains it within [`GRACE_NS`].
    pub(super) fn compare(
        &mut self,
        mm: u64,
        at_ns: u64,
        mirror: &Intervals,
        seen: FxHashMap<u64, Event>,
    ) {
        self.mms_checked += 1;
        self.intervals_checked += seen.len() as u64;
        for (&sub, iv) in mirror {
            if !seen.contains_key(&sub) {
                let extra = Event {
                    ts_ns: at_ns,
                    mm,
                    sub,
                    start: iv.start,
                    last: iv.last,
                    ..Default::default()
                };
                self.candidate(
                    mm,
                    sub,
                    Candidate {
                        kind: DriftKind::Extra,
                        ev: extra,
                    },
                );
            }
        }
        for (sub, mut walked) in seen {
            match mirror.get(&sub) {
                Some(iv) if iv.start == walked.start && iv.last == walked.last => {}
                _ => {
                    // The grace period runs from the end of the walk.
                    walked.ts_ns = at_ns;
                    self.candidate(
                        mm,
                        sub,
                        Candidate {
                            kind: DriftKind::Missing,
                            ev: walked,
                        },
                    );
                }
            }
        }
    }
}

/// The likeliest reason for a difference the events never explained.
pub(super) fn cause(counters: &Counters, kind: DriftKind) -> &'static str {
    match (counters.lost > 0, counters.skipped > 0, kind) {
        (true, _, _) => "events were lost (the ring buffer was full)",
        (false, true, _) => "events were lost (the kernel skipped runs of notifier-top's programs)",
        (false, false, DriftKind::Missing) => "no insert event reached notifier-top for it",
        (false, false, DriftKind::Extra) => "no remove event reached notifier-top for it",
    }
}
