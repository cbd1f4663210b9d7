//! The Grafana dashboard in packaging/ asks only for what `serve` exports: every
//! `notifier_top_*` name in its PromQL is a family `/metrics` renders (a histogram's
//! `_bucket`, `_sum` and `_count` included), and every label it groups or filters by is
//! one those families carry (or one Prometheus adds to every target).

use std::collections::{BTreeMap, BTreeSet};

use notifier_user::{
    serve::metrics::{BuildInfo, DriverSample, Sample, render},
    stream::ProgramCost,
};

/// A sample in which every family has a series, so that every label shows.
fn everything() -> String {
    let driver = DriverSample {
        intervals: 1,
        inserts: 1,
        removes: 1,
        invalidations: [[1; 2]; notifier_user::mirror::MMU_EVENTS],
        callbacks_unobserved: 1,
        faults_ok: 1,
        faults_busy: 1,
        faults_failed: 1,
        pages_faulted: 1,
        migrations_to_device: 1,
        pages_to_device: 1,
        migrations_from_device: 1,
        pages_from_device: 1,
        exclusive_grants: 1,
        exclusive_failed: 1,
        ..DriverSample::default()
    };
    let sample = Sample {
        drivers: BTreeMap::from([("nouveau".to_owned(), driver)]),
        findings: BTreeMap::from([(("slow-callback".to_owned(), "nouveau".to_owned()), 1)]),
        programs: vec![ProgramCost {
            program: "insert".into(),
            run_count: 1,
            run_time_ns: 1,
        }],
        ..Sample::default()
    };
    let build = BuildInfo {
        version: "0".into(),
        commit: "c".into(),
        kernel: "k".into(),
    };
    render(&sample, &build, Vec::new())
}

fn exported() -> (BTreeSet<String>, BTreeSet<String>) {
    let text = everything();
    let mut names = BTreeSet::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("# TYPE ") else {
            continue;
        };
        let (name, kind) = rest.split_once(' ').unwrap();
        names.insert(name.to_owned());
        if kind == "histogram" {
            for suffix in ["_bucket", "_sum", "_count"] {
                names.insert(format!("{name}{suffix}"));
            }
        }
    }
    let mut labels: BTreeSet<String> = ["instance", "job"].map(str::to_owned).into();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        if let Some((_, rest)) = line.split_once('{') {
            for pair in rest.split("\",") {
                if let Some((label, _)) = pair.split_once('=') {
                    labels.insert(label.trim_start_matches(',').to_owned());
                }
            }
        }
    }
    (names, labels)
}

fn expressions(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, v) in m {
                match (k.as_str(), v) {
                    ("expr", serde_json::Value::String(e)) => out.push(e.clone()),
                    // Template variables' queries are PromQL too.
                    ("query", serde_json::Value::Object(q)) => {
                        if let Some(serde_json::Value::String(e)) = q.get("query") {
                            out.push(e.clone());
                        }
                    }
                    _ => expressions(v, out),
                }
            }
        }
        serde_json::Value::Array(a) => a.iter().for_each(|v| expressions(v, out)),
        _ => {}
    }
}

/// Words of a PromQL expression that are identifiers (metric, label or function names).
fn words(expr: &str) -> Vec<&str> {
    expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| !w.is_empty())
        .collect()
}

/// Label names in `by (…)`, `without (…)`, `{name=…}` and `label_values(…, name)`.
fn labels_used(expr: &str) -> Vec<String> {
    let mut out = Vec::new();
    for keyword in ["by (", "without ("] {
        for part in expr.split(keyword).skip(1) {
            let list = part.split(')').next().unwrap();
            out.extend(list.split(',').map(|l| l.trim().to_owned()));
        }
    }
    for part in expr.split('{').skip(1) {
        let matchers = part.split('}').next().unwrap();
        for m in matchers.split(',') {
            let name = m.split(['=', '!', '~']).next().unwrap().trim();
            if !name.is_empty() {
                out.push(name.to_owned());
            }
        }
    }
    if let Some(args) = expr.strip_prefix("label_values(") {
        out.push(
            args.rsplit(',')
                .next()
                .unwrap()
                .trim_end_matches(')')
                .trim()
                .to_owned(),
        );
    }
    out
}

#[test]
fn the_dashboard_asks_only_for_what_serve_exports() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../packaging/grafana-dashboard.json"
    );
    let dashboard: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let (names, labels) = exported();
    let mut exprs = Vec::new();
    expressions(&dashboard, &mut exprs);
    assert!(exprs.len() >= 10, "only {} expressions found", exprs.len());
    for expr in &exprs {
        let metrics: Vec<_> = words(expr)
            .into_iter()
            .filter(|w| w.starts_with("notifier_top_"))
            .collect();
        assert!(!metrics.is_empty(), "{expr:?} names no notifier-top metric");
        for m in metrics {
            assert!(names.contains(m), "{expr:?}: serve exports no {m}");
        }
        for l in labels_used(expr) {
            assert!(
                labels.contains(&l),
                "{expr:?}: no exported series has a label {l:?}"
            );
        }
    }
    // What the issue asks of it: rates per driver, the latency heatmap, findings, loss.
    let all = exprs.join("\n");
    for needed in [
        "rate(notifier_top_invalidations_total",
        "notifier_top_callback_duration_seconds_bucket",
        "notifier_top_findings_total",
        "notifier_top_events_lost_total",
    ] {
        assert!(all.contains(needed), "the dashboard lacks {needed}");
    }
    let heatmap = dashboard["panels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["type"] == "heatmap")
        .expect("a heatmap panel");
    assert!(
        heatmap["targets"][0]["expr"]
            .as_str()
            .unwrap()
            .contains("notifier_top_callback_duration_seconds_bucket"),
        "the heatmap is of callback durations"
    );
}

#[test]
fn the_checks_catch_a_misspelt_metric_and_label() {
    let (names, labels) = exported();
    assert!(!names.contains("notifier_top_invalidation_total"));
    assert!(labels_used("sum by (drivers) (x{instance=~\"a\"})").contains(&"drivers".to_owned()));
    assert!(!labels.contains("drivers"));
}
