//! The human-readable text of the commands that are not a view: the hook table, the
//! ready line, findings and rule explanations. JSON goes through serde; this is the rest.

use crate::{
    export::{escape::Escaped, summary::FindingSummary},
    rules::{Lockdep, RuleInfo},
    stream::HookStatus,
};

/// `probes`: one row per hook family.
pub fn hook_table(status: &[HookStatus]) -> String {
    let mut s = format!("{:<14} {:<10} detail\n", "hook", "mode");
    for h in status {
        // A detail quotes the kernel's error, or a recording's header.
        s.push_str(&format!(
            "{:<14} {:<10} {}\n",
            h.hook,
            h.mode,
            Escaped::str(&h.detail)
        ));
    }
    s
}

/// `insert=fentry remove=kprobe …`: the attach mode of every family on one line.
pub fn hook_modes(status: &[HookStatus]) -> String {
    status
        .iter()
        .map(|s| format!("{}={}", s.hook, s.mode))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The closing warning of a session whose mirror counted calls it saw no callback event
/// for (`counters.callbacks_unobserved`).
pub fn unobserved_callbacks(n: u64) -> String {
    format!(
        "{n} callback(s) the kernel made were not observed (a driver's callback is hooked \
         when an insert first names it, so a new driver's first ones pass; or the kernel \
         skipped the program run): counters.callbacks_unobserved, per owner in owners[]"
    )
}

/// `check`: a finding on one line, then its stacks' frames indented.
pub fn finding(f: &FindingSummary) -> String {
    let iv = f
        .finding
        .interval
        .map(|(s, l)| format!(" 0x{s:x}-0x{l:x}"))
        .unwrap_or_default();
    let mut s = format!(
        "{} {:?} {} — {} (pid {}) owner {}{} ×{}: {}",
        f.finding.code,
        f.finding.severity,
        f.finding.name,
        Escaped::str(&f.finding.comm),
        f.finding.tgid,
        Escaped::str(&f.owner_name),
        iv,
        f.finding.count,
        f.finding.detail
    );
    for frame in f.stack_frames.iter().flatten() {
        s.push_str(&format!("\n    {}", Escaped::str(frame)));
    }
    s
}

/// `check --explain RULE`.
pub fn explanation(r: &RuleInfo) -> String {
    let needs = if r.needs.is_empty() {
        "capture only".to_owned()
    } else {
        r.needs
            .iter()
            .map(|h| h.name())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let lockdep = match r.lockdep {
        Lockdep::Reports(what) => format!("reports it: {what}"),
        Lockdep::Blind(why) => format!("cannot see it: {why}"),
    };
    format!(
        "{} {} ({:?})\n\n{}\n\nFix: {}\n\nLockdep {lockdep}.\n\nneeds hooks: {needs}",
        r.code, r.name, r.severity, r.explain, r.fix
    )
}
