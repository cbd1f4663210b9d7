//! `notifier-top` / `notifier-top top`: the interactive view on a live session.

use std::process::ExitCode;

use anyhow::Result;
use notifier_user::{
    export::pointers::Pointers,
    pipeline::Pipeline,
    tui::{self, app::App},
};

use super::Capture;
use crate::cli::TopArgs;

pub async fn run(
    TopArgs {
        capture: args,
        rules,
    }: TopArgs,
) -> Result<ExitCode> {
    let mut p = Pipeline::new(Pointers::new(args.raw_pointers));
    p.rules = Some(rules.engine());
    let config = args.config(false);
    let mut capture = Capture::start(&config)?;
    capture.session.enable_cost_stats();
    capture.adopt_owners(&mut p);
    let mut app = App::new(
        p,
        capture.session.kernel_release.clone(),
        capture.session.hook_status().to_vec(),
        "live".into(),
    );
    app.kernel_filter = config.selection.describe();
    let (app, end) = tui::run_live(&mut capture.session, app).await?;
    eprintln!("notifier-top: {} events, {}", end.events, end.loss);
    capture.write_summary(&app.pipeline, args.summary_json.as_deref())?;
    Ok(ExitCode::SUCCESS)
}
