//! `notifier-top serve`: the capture as a Prometheus exporter, until SIGTERM.

use std::{process::ExitCode, sync::Arc};

use anyhow::{Context as _, Result};
use notifier_user::{
    export::pointers::Pointers,
    pipeline::Pipeline,
    probe::capabilities,
    serve::{
        exporter::{Exporter, Shared},
        http::{Bound, ServerStats},
        metrics::BuildInfo,
        pages::Pages,
        web_config::WebConfig,
    },
};

use super::Capture;
use crate::cli::ServeArgs;

pub async fn run(args: ServeArgs) -> Result<ExitCode> {
    // Everything that can be wrong with the configuration or the port is said before a
    // probe is loaded.
    let web = match &args.web_config {
        Some(path) => WebConfig::load(path)?,
        None => WebConfig::plain(),
    };
    let scheme = if web.tls.is_some() { "https" } else { "http" };
    let bound = Bound::bind(args.listen)?;
    let addr = bound.local_addr()?;

    let config = args.capture.config(true);
    let mut p = Pipeline::new(Pointers::new(args.capture.raw_pointers));
    p.rules = Some(args.rules.engine());
    let mut capture = Capture::start(&config)?;
    // Enabling needs CAP_SYS_ADMIN; without it the bpf_run_time family is left out.
    capture.session.enable_cost_stats();
    capture.adopt_owners(&mut p);

    // Before the HTTP thread exists: it inherits what is left.
    let retained = capabilities::retain_only(&args.keep_capabilities)
        .context("dropping capabilities (--keep-capabilities)")?;
    eprintln!(
        "notifier-top serve: capabilities kept: {}{}{}",
        capabilities::names(&retained.effective),
        retained
            .because
            .map(|why| format!(" ({why})"))
            .unwrap_or_default(),
        if retained.bounding || args.keep_capabilities == capabilities::Keep::All {
            ""
        } else {
            "; bounding set unchanged (no CAP_SETPCAP)"
        }
    );

    let shared = Shared::new(BuildInfo {
        version: env!("CARGO_PKG_VERSION").into(),
        commit: env!("NOTIFIER_TOP_COMMIT").into(),
        kernel: capture.session.kernel_release.clone(),
    });
    let stats = Arc::new(ServerStats::default());
    let server = bound.serve(
        web,
        Arc::new(Pages {
            shared: shared.clone(),
            stats: stats.clone(),
        }),
        stats,
    )?;
    eprintln!("notifier-top serve: serving {scheme}://{addr}/metrics, /snapshot, /healthz");

    let mut exporter = Exporter::new(p, shared.clone(), config.selection.describe());
    let ran = capture.run(&mut exporter, args.capture.duration).await;
    // Clients waiting on the capture give up, then the server stops, whatever ended the
    // capture.
    shared.end();
    let stopped = server.shutdown();
    ran?;
    stopped?;
    exporter.pipeline.finish()?;
    capture.write_summary(&exporter.pipeline, args.capture.summary_json.as_deref())?;
    Ok(ExitCode::SUCCESS)
}
