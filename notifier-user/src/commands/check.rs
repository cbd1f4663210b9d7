//! `notifier-top check`: the hazard rules, headless; exit status 1 when anything is found.

use std::{collections::HashSet, process::ExitCode};

use anyhow::Result;
use notifier_user::{
    export::{escape::Escaped, pointers::Pointers, text},
    pipeline::Pipeline,
    rules::{Explanation, RuleId, catalog, info},
    stream::HookStatus,
};

use super::Capture;
use crate::cli::CheckArgs;

pub async fn run(args: CheckArgs) -> Result<ExitCode> {
    if let Some(rule) = args.explain {
        let r = info(rule);
        if args.json {
            println!("{}", serde_json::to_string_pretty(&Explanation::of(r))?);
        } else {
            println!("{}", text::explanation(r));
        }
        return Ok(ExitCode::SUCCESS);
    }
    let enabled = args.rules.enabled();
    let mut p = Pipeline::new(Pointers::new(args.capture.raw_pointers));
    p.rules = Some(args.rules.engine());
    let mut capture = Capture::start(&args.capture.config(true))?;
    capture.adopt_owners(&mut p);
    report_unavailable_rules(capture.session.hook_status(), &enabled);
    capture.run(&mut p, args.capture.duration).await?;
    p.finish()?;
    let summary = capture.summary(&p);
    capture.write_summary(&p, args.capture.summary_json.as_deref())?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary.findings)?);
    } else {
        for f in &summary.findings {
            println!("{}", text::finding(f));
        }
        eprintln!("notifier-top check: {} finding(s)", summary.findings.len());
    }
    let c = &summary.counters;
    let missed = c.lost + c.skipped + c.callbacks_unobserved;
    if args.fail_on_loss && missed > 0 {
        eprintln!(
            "notifier-top check: --fail-on-loss: {} lost, {} skipped, {} callbacks unobserved",
            c.lost, c.skipped, c.callbacks_unobserved
        );
    }
    Ok(
        if summary.findings.is_empty() && !(args.fail_on_loss && missed > 0) {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(super::FOUND)
        },
    )
}

/// Rules whose hooks did not attach are reported, not silently skipped.
fn report_unavailable_rules(status: &[HookStatus], enabled: &HashSet<RuleId>) {
    for r in catalog().iter().filter(|r| enabled.contains(&r.id)) {
        for s in status
            .iter()
            .filter(|s| s.is_missing() && r.needs.contains(&s.hook))
        {
            eprintln!(
                "notifier-top check: {} {} unavailable: hook {} missing ({})",
                r.code,
                r.name,
                s.hook,
                Escaped::str(&s.detail)
            );
        }
    }
}
