//! The capture side of `serve`: the pipeline as a sink that, at each upkeep, publishes what
//! the server thread serves — a metrics [`Sample`], and a snapshot when a client asked for
//! one. The model stays on the capture's thread; the server only ever sees copies.

use std::{
    sync::{Arc, Condvar, Mutex, MutexGuard},
    time::{Duration, Instant},
};

use anyhow::Result;
use bytes::Bytes;
use notifier_common::Event;

use super::metrics::{BuildInfo, Sample};
use crate::{
    export::{snapshot::Meta, unix_now},
    pipeline::Pipeline,
    stream::{Loss, ProgramCost, Sink},
    symbols::Symbol,
};

/// A sample costs a pass over the live intervals: once a second is what a scraper needs.
const SAMPLE_EVERY: Duration = Duration::from_secs(1);

#[derive(Default)]
struct Published {
    sample: Option<Arc<Sample>>,
    /// When the capture last reached its upkeep: a stalled capture is unhealthy.
    upkeep: Option<Instant>,
    /// A client waits for a snapshot: the next upkeep takes one.
    snapshot_wanted: bool,
    snapshot: Option<(u64, Bytes)>,
    /// Snapshots taken so far (a waiting client wants one newer than it saw).
    snapshots: u64,
    /// The capture ended; nothing new will come.
    ended: bool,
}

/// What the capture publishes and the server reads.
pub struct Shared {
    pub build: BuildInfo,
    state: Mutex<Published>,
    fresh: Condvar,
}

impl Shared {
    pub fn new(build: BuildInfo) -> Arc<Shared> {
        Arc::new(Shared {
            build,
            state: Mutex::default(),
            fresh: Condvar::new(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Published> {
        // A panic elsewhere leaves plain data behind: still fine to read.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The latest sample; `None` until the capture's first upkeep.
    pub fn sample(&self) -> Option<Arc<Sample>> {
        self.lock().sample.clone()
    }

    /// Whether the capture reached its upkeep within `within` (it does every 250 ms).
    pub fn healthy(&self, within: Duration) -> bool {
        let p = self.lock();
        !p.ended && p.upkeep.is_some_and(|t| t.elapsed() <= within)
    }

    /// A snapshot taken after this call, as `snapshot` JSON; `None` when the capture did
    /// not reach an upkeep within `wait`.
    pub fn snapshot(&self, wait: Duration) -> Option<Bytes> {
        let deadline = Instant::now() + wait;
        let mut p = self.lock();
        let seen = p.snapshots;
        p.snapshot_wanted = true;
        loop {
            if let Some((n, json)) = &p.snapshot
                && *n > seen
            {
                return Some(json.clone());
            }
            let left = deadline.checked_duration_since(Instant::now())?;
            if p.ended {
                return None;
            }
            p = self
                .fresh
                .wait_timeout(p, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// The capture is over: waiting clients give up now.
    pub fn end(&self) {
        self.lock().ended = true;
        self.fresh.notify_all();
    }
}

/// The pipeline, publishing for the server at each upkeep.
pub struct Exporter {
    pub pipeline: Pipeline,
    shared: Arc<Shared>,
    costs: Vec<ProgramCost>,
    sampled: Option<Instant>,
    /// The snapshot's `filter`: what the kernel side keeps.
    filter: String,
}

impl Exporter {
    pub fn new(pipeline: Pipeline, shared: Arc<Shared>, filter: String) -> Exporter {
        Exporter {
            pipeline,
            shared,
            costs: Vec::new(),
            sampled: None,
            filter,
        }
    }

    fn publish(&mut self) -> Result<()> {
        let now = Instant::now();
        let sample = match self.sampled {
            Some(t) if now.duration_since(t) < SAMPLE_EVERY => None,
            _ => {
                self.sampled = Some(now);
                Some(Arc::new(Sample::of(&self.pipeline, &self.costs)))
            }
        };
        let wanted = self.shared.lock().snapshot_wanted;
        let snapshot = if wanted {
            let snap = self.pipeline.snapshot(
                Meta {
                    kernel: self.shared.build.kernel.clone(),
                    taken_unix: unix_now(),
                    filter: self.filter.clone(),
                },
                None,
            );
            Some(Bytes::from(serde_json::to_vec_pretty(&snap)?))
        } else {
            None
        };
        let mut p = self.shared.lock();
        p.upkeep = Some(now);
        if let Some(s) = sample {
            p.sample = Some(s);
        }
        if let Some(json) = snapshot {
            p.snapshots += 1;
            p.snapshot = Some((p.snapshots, json));
            p.snapshot_wanted = false;
            drop(p);
            self.shared.fresh.notify_all();
        }
        Ok(())
    }
}

impl AsRef<Pipeline> for Exporter {
    fn as_ref(&self) -> &Pipeline {
        &self.pipeline
    }
}

impl Sink for Exporter {
    fn event(&mut self, ev: &Event) {
        self.pipeline.event(ev);
    }

    fn owner(&mut self, sym: &Symbol) {
        self.pipeline.owner(sym);
    }

    fn stack(&mut self, id: u64, frames: Vec<String>) {
        self.pipeline.stack(id, frames);
    }

    fn lost(&mut self, loss: Loss) {
        self.pipeline.lost(loss);
    }

    fn flush(&mut self) -> Result<()> {
        self.pipeline.flush()
    }

    fn tick(&mut self) -> Result<()> {
        self.pipeline.tick()?;
        self.publish()
    }

    fn costs(&mut self, costs: &[ProgramCost]) {
        costs.clone_into(&mut self.costs);
    }
}

#[cfg(test)]
mod tests {
    use std::thread;

    use notifier_common::{EventKind, flags};

    use super::*;
    use crate::export::pointers::Pointers;

    fn build() -> BuildInfo {
        BuildInfo {
            version: "0".into(),
            commit: "c".into(),
            kernel: "k".into(),
        }
    }

    fn insert(sub: u64) -> Event {
        Event {
            kind: EventKind::Insert as u8,
            mm: 0x1000,
            sub,
            start: 0x10000,
            last: 0x1ffff,
            func: 0xffff_0000,
            flags: flags::LOCKED,
            ts_ns: 1,
            ..Default::default()
        }
    }

    #[test]
    fn an_upkeep_publishes_a_sample_and_answers_a_waiting_snapshot() {
        let shared = Shared::new(build());
        let mut x = Exporter::new(
            Pipeline::new(Pointers::new(true)),
            shared.clone(),
            "all".into(),
        );
        assert!(shared.sample().is_none() && !shared.healthy(Duration::from_secs(5)));
        x.event(&insert(1));
        x.tick().unwrap();
        assert_eq!(shared.sample().unwrap().drivers["unknown"].inserts, 1);
        assert!(shared.healthy(Duration::from_secs(5)));

        let client = {
            let shared = shared.clone();
            thread::spawn(move || shared.snapshot(Duration::from_secs(10)))
        };
        // The client's request reaches the state before an upkeep answers it.
        while !shared.lock().snapshot_wanted {
            thread::yield_now();
        }
        x.event(&insert(2));
        x.tick().unwrap();
        let json: serde_json::Value =
            serde_json::from_slice(&client.join().unwrap().expect("a snapshot")).unwrap();
        assert_eq!(
            json["processes"][0]["intervals"].as_array().unwrap().len(),
            2
        );
    }

    #[test]
    fn a_snapshot_request_gives_up_when_the_capture_ends() {
        let shared = Shared::new(build());
        let client = {
            let shared = shared.clone();
            thread::spawn(move || shared.snapshot(Duration::from_secs(30)))
        };
        while !shared.lock().snapshot_wanted {
            thread::yield_now();
        }
        shared.end();
        assert!(client.join().unwrap().is_none());
        assert!(!shared.healthy(Duration::from_secs(5)));
    }
}
