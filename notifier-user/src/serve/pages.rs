//! What each path serves: the model's metrics, a snapshot, health, and an index.

use std::{sync::Arc, time::Duration};

use hyper::StatusCode;

use super::{
    exporter::Shared,
    http::{Handler, Reply, ServerStats},
    metrics::{self, CONTENT_TYPE},
};

/// A snapshot waits at most this long for the capture's next upkeep (every 250 ms).
const SNAPSHOT_WAIT: Duration = Duration::from_secs(5);
/// The capture is healthy while its upkeep ran this recently.
const HEALTHY_WITHIN: Duration = Duration::from_secs(2);

const INDEX: &str = "notifier-top serve\n\n\
/metrics   Prometheus metrics: per-driver intervals, invalidations, callback latency, findings, loss\n\
/snapshot  every process's intervals right now (the `snapshot` JSON, docs/snapshot.schema.json)\n\
/healthz   200 while the capture runs\n";

pub struct Pages {
    pub shared: Arc<Shared>,
    pub stats: Arc<ServerStats>,
}

impl Handler for Pages {
    fn get(&self, path: &str) -> Reply {
        match path {
            "/metrics" => match self.shared.sample() {
                Some(sample) => Reply::ok(
                    CONTENT_TYPE,
                    metrics::render(&sample, &self.shared.build, self.stats.families()),
                ),
                None => Reply::text(StatusCode::SERVICE_UNAVAILABLE, "starting: no sample yet\n"),
            },
            "/snapshot" => match self.shared.snapshot(SNAPSHOT_WAIT) {
                Some(json) => Reply::ok("application/json", json),
                None => Reply::text(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the capture did not answer in time (ending, or stalled)\n",
                ),
            },
            "/healthz" => {
                if self.shared.healthy(HEALTHY_WITHIN) {
                    Reply::text(StatusCode::OK, "ok\n")
                } else {
                    Reply::text(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "the capture is not running (starting, stalled or ended)\n",
                    )
                }
            }
            "/" => Reply::text(StatusCode::OK, INDEX),
            _ => Reply::text(StatusCode::NOT_FOUND, "not found; see /\n"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        export::pointers::Pointers, pipeline::Pipeline, serve::exporter::Exporter,
        serve::metrics::BuildInfo, stream::Sink as _,
    };

    #[test]
    fn metrics_and_health_wait_for_the_first_upkeep() {
        let shared = Shared::new(BuildInfo {
            version: "0".into(),
            commit: "c".into(),
            kernel: "k".into(),
        });
        let pages = Pages {
            shared: shared.clone(),
            stats: Arc::default(),
        };
        assert_eq!(
            pages.get("/metrics").status,
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(
            pages.get("/healthz").status,
            StatusCode::SERVICE_UNAVAILABLE
        );
        let mut x = Exporter::new(Pipeline::new(Pointers::new(true)), shared, "all".into());
        x.tick().unwrap();
        let m = pages.get("/metrics");
        assert_eq!(m.status, StatusCode::OK);
        let text = std::str::from_utf8(&m.body).unwrap();
        assert!(text.contains("notifier_top_build_info{"), "{text}");
        assert!(
            text.contains("notifier_top_http_requests_total 0"),
            "{text}"
        );
        assert_eq!(pages.get("/healthz").status, StatusCode::OK);
        assert_eq!(pages.get("/nope").status, StatusCode::NOT_FOUND);
    }
}
