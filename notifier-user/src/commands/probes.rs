//! `notifier-top probes`: how each hook attaches on this kernel, or why it cannot.

use std::process::ExitCode;

use anyhow::Result;
use notifier_user::{
    export::text,
    probe::{self, filter::Selection},
};

use crate::cli::ProbesArgs;

pub fn run(args: ProbesArgs) -> Result<ExitCode> {
    let (probes, _) = probe::arm(args.attach, args.rules, &Selection::default())?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&probes.status)?);
    } else {
        print!("{}", text::hook_table(&probes.status));
    }
    Ok(ExitCode::SUCCESS)
}
