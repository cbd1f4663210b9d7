//! `cargo xtask oracle`: lockdep as the oracle of the hazard rules. Every fixture
//! misbehaviour, the clean traffic, rxe ODP and hmm-tests run under `notifier-top check`
//! (tests/vm/oracle.sh): on the lockdep kernel one boot per scenario (lockdep turns itself
//! off after its first report), on the production kernel one boot for all. Lockdep's
//! reports are read from each scenario's kernel log; the table says, per scenario, what
//! lockdep said, what notifier-top found on each kernel, and whether they agree:
//! - recall: where lockdep reports, notifier-top on both kernels reports the scenario's
//!   rule with a stack naming a driver function lockdep's report names;
//! - precision: where lockdep is silent, every finding is of a rule lockdep cannot see
//!   (its `Lockdep::Blind` reason, from `check --explain RULE --json`), and on clean
//!   traffic neither says anything.

use std::{
    collections::{BTreeSet, HashMap},
    fs,
    path::Path,
    process::{Command, ExitCode},
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result, bail};
use serde::Deserialize;

use crate::{cmd, fixtures, hmm, kernels, paths, test, vm};

/// One scenario of tests/vm/oracle.sh and the rule notifier-top must report for it.
struct Scenario {
    name: &'static str,
    /// The rule code (docs/rules.md's table); None for clean traffic.
    expect: Option<&'static str>,
    /// How long one boot running it may take.
    timeout: Duration,
}

const fn scenario(name: &'static str, expect: Option<&'static str>) -> Scenario {
    Scenario {
        name,
        expect,
        timeout: Duration::from_secs(600),
    }
}

const SCENARIOS: &[Scenario] = &[
    scenario("alloc", Some("NT001")),
    scenario("lock-chain", Some("NT002")),
    scenario("sleep-nonblock", Some("NT003")),
    scenario("ret-false", Some("NT004")),
    scenario("read-in-cb", Some("NT005")),
    scenario("wrong-lock", Some("NT006")),
    scenario("mmput-in-cb", Some("NT007")),
    scenario("slow", Some("NT008")),
    scenario("read-wait", Some("NT009")),
    scenario("exit-with-intervals", Some("NT010")),
    scenario("clean", None),
    scenario("rxe", None),
    Scenario {
        name: "hmm-tests",
        expect: None,
        timeout: Duration::from_secs(2400),
    },
];

/// `reuse`: judge the runs the last oracle left in target/oracle, booting nothing.
pub fn run(debug: &str, production: &str, filter: Option<&str>, reuse: bool) -> Result<ExitCode> {
    let chosen: Vec<&Scenario> = SCENARIOS
        .iter()
        .filter(|s| filter.is_none_or(|f| s.name.contains(f)))
        .collect();
    if chosen.is_empty() {
        bail!("no oracle scenario matches {filter:?}");
    }
    if !reuse {
        test::build_release()?;
        fixtures::tools()?;
    }
    let mut kernels = Vec::new();
    for id in [debug, production] {
        let k = kernels::prepare(id)?;
        if !reuse {
            fixtures::module(&k)?;
            hmm::fixtures(&k)?;
        }
        kernels.push(k);
    }
    let started = Instant::now();
    let out = paths::target_dir().join("oracle");
    let (debug_out, production_out) = (out.join(debug), out.join(production));
    if reuse {
        return judge_all(&chosen, &kernels, &out, started);
    }
    for d in [&debug_out, &production_out] {
        if d.exists() {
            fs::remove_dir_all(d).with_context(|| format!("removing {}", d.display()))?;
        }
    }
    for (i, s) in chosen.iter().enumerate() {
        cmd::step(&format!(
            "[{}/{}] {} on {debug} (one boot)",
            i + 1,
            chosen.len(),
            s.name
        ));
        boot(debug, &debug_out, s.timeout, &[s.name])?;
    }
    cmd::step(&format!(
        "all {} scenarios on {production} (one boot)",
        chosen.len()
    ));
    let names: Vec<&str> = chosen.iter().map(|s| s.name).collect();
    let total = chosen.iter().map(|s| s.timeout).sum();
    boot(production, &production_out, total, &names)?;
    judge_all(&chosen, &kernels, &out, started)
}

/// The table of the runs under `out`, for the chosen scenarios on `kernels` (debug,
/// production).
fn judge_all(
    chosen: &[&Scenario],
    kernels: &[kernels::Kernel],
    out: &Path,
    started: Instant,
) -> Result<ExitCode> {
    let (debug, production) = (kernels[0].id, kernels[1].id);
    let (debug_out, production_out) = (out.join(debug), out.join(production));
    let mut views = RuleViews::default();
    let mut rows = Vec::new();
    for s in chosen {
        let debug_run = Run::read(&debug_out.join(s.name))?;
        let production_run = Run::read(&production_out.join(s.name))?;
        rows.push(judge(s, &debug_run, &production_run, &mut views)?);
    }
    let table = table(
        debug,
        &kernels[0].release,
        production,
        &kernels[1].release,
        &rows,
    );
    println!("\n{table}");
    let file = out.join("oracle.md");
    fs::write(&file, &table).with_context(|| format!("writing {}", file.display()))?;
    let failed = rows.iter().filter(|r| !r.ok).count();
    println!(
        "oracle: {} scenarios, {} agree, {failed} disagree, in {:.0}s (table: {}; runs: {})",
        rows.len(),
        rows.len() - failed,
        started.elapsed().as_secs_f64(),
        file.display(),
        out.display()
    );
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn boot(kernel: &str, out: &Path, timeout: Duration, scenarios: &[&str]) -> Result<()> {
    let t0 = Instant::now();
    let mut argv = vec!["sh".to_owned(), "tests/vm/oracle.sh".to_owned()];
    argv.extend(scenarios.iter().map(|s| (*s).to_owned()));
    let opts = vm::Options {
        kernel: kernel.to_owned(),
        timeout,
        out: Some(out.to_path_buf()),
        echo: false,
        terminal: None,
        clock: vm::Clock::Wall,
    };
    let outcome = vm::run(&opts, &argv)?;
    if outcome.status != 0 {
        bail!(
            "oracle.sh on {kernel} exited {} (console: {})",
            outcome.status,
            outcome.console_log.display()
        );
    }
    for s in scenarios {
        let status = fs::read_to_string(out.join(s).join("status")).unwrap_or_default();
        eprintln!("    {s}: {}", status.trim());
    }
    eprintln!("    {:.0}s", t0.elapsed().as_secs_f64());
    Ok(())
}

/// A finding of `check --json`, the fields the oracle reads.
#[derive(Deserialize)]
struct Finding {
    rule: String,
    code: String,
    #[serde(default)]
    stack_frames: Vec<Vec<String>>,
}

/// One scenario's outputs on one kernel.
struct Run {
    findings: Vec<Finding>,
    reports: Vec<Report>,
    /// oracle.sh's line: whether the workload ran, check's exit status.
    status: String,
}

impl Run {
    fn read(dir: &Path) -> Result<Run> {
        let status = fs::read_to_string(dir.join("status"))
            .with_context(|| format!("{}: the scenario did not run", dir.display()))?;
        let findings_file = dir.join("findings.json");
        let text = fs::read_to_string(&findings_file)
            .with_context(|| format!("reading {}", findings_file.display()))?;
        let findings = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a findings array", findings_file.display()))?;
        let dmesg = fs::read_to_string(dir.join("dmesg")).unwrap_or_default();
        Ok(Run {
            findings,
            reports: reports(&dmesg),
            status: status.trim().to_owned(),
        })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ReportKind {
    /// Lockdep (or DEBUG_ATOMIC_SLEEP): a lock-order, recursion or context report.
    Lockdep,
    /// A WARN_ON in kernel code: `WARNING: CPU: n PID: m at file:line function`.
    Warn,
    /// Anything else with a BUG/WARNING header: a crash, which fails the scenario.
    Other,
}

/// One report of the kernel log.
#[derive(Debug, PartialEq, Eq)]
struct Report {
    kind: ReportKind,
    /// Its headline, e.g. "possible circular locking dependency detected", or
    /// "WARNING at mm/mmu_notifier.c:305".
    title: String,
    /// Lock classes in the order the report names them (lockdep).
    locks: Vec<String>,
    /// The function the report's first `at:` (lockdep) or its WARN names.
    at: Option<String>,
    /// Functions of its stacks that live in modules, with the module: the driver code.
    driver_functions: BTreeSet<String>,
    /// Past the dependency chain (lockdep's "other info" and the locks held).
    past_chain: bool,
}

impl Report {
    fn summary(&self) -> String {
        let mut s = self.title.clone();
        if !self.locks.is_empty() {
            s += &format!(": {}", self.locks.join(" → "));
        }
        if let Some(at) = &self.at {
            s += &format!(", at {at}");
        }
        s
    }
}

/// Titles lockdep and the other lock debugging checks print after `WARNING: ` or `BUG: `.
const LOCKDEP_TITLES: &[&str] = &[
    "possible circular locking dependency detected",
    "possible recursive locking detected",
    "inconsistent lock state",
    "possible irq lock inversion dependency detected",
    "Invalid wait context",
    "bad unlock balance detected",
    "lock held when returning to user space",
    "held lock freed",
    "suspicious RCU usage",
    "sleeping function called from invalid context",
    "workqueue leaked lock or atomic",
];

/// The reports in a kernel log (`dmesg` text, with or without timestamps).
fn reports(log: &str) -> Vec<Report> {
    let mut out: Vec<Report> = Vec::new();
    let mut open = false;
    for raw in log.lines() {
        let line = strip_timestamp(raw);
        let header = line
            .strip_prefix("WARNING: ")
            .or_else(|| line.strip_prefix("BUG: "));
        if let Some(title) = header {
            out.push(header_report(title.trim()));
            open = true;
            continue;
        }
        if !open {
            continue;
        }
        let r = out.last_mut().expect("a report is open");
        if line.contains("</TASK>") || line.contains("---[ end trace") {
            open = false;
            continue;
        }
        if line.starts_with("other info that might help us debug this") {
            // What follows restates the locks, and lists others merely held.
            r.past_chain = true;
        }
        if r.kind == ReportKind::Lockdep && !r.past_chain {
            for lock in lock_classes(line) {
                if !r.locks.contains(&lock) {
                    r.locks.push(lock);
                }
            }
            if r.at.is_none()
                && let Some((_, at)) = line.split_once(", at: ")
            {
                r.at = Some(function_of(at).to_owned());
            }
        }
        if let Some((f, module)) = module_frame(line) {
            r.driver_functions.insert(format!("{f} [{module}]"));
        }
    }
    out
}

fn header_report(title: &str) -> Report {
    let title_only = title.trim_end_matches('!');
    let (kind, title, at) = if let Some((place, at)) = warn_site(title) {
        (
            ReportKind::Warn,
            format!("WARNING at {place}"),
            Some(function_of(at).to_owned()),
        )
    } else if LOCKDEP_TITLES.iter().any(|t| title_only.starts_with(t)) {
        (ReportKind::Lockdep, title_only.to_owned(), None)
    } else {
        (ReportKind::Other, title.to_owned(), None)
    };
    Report {
        kind,
        title,
        locks: Vec::new(),
        at,
        driver_functions: BTreeSet::new(),
        past_chain: false,
    }
}

/// The file:line and function of a WARN_ON's headline, in either kernel's format:
/// `CPU: 0 PID: 7 at mm/mmu_notifier.c:305 fn+0x1/0x2 [module]` (6.x) or
/// `mm/mmu_notifier.c:488 at fn+0x344/0x360, CPU#1: nfctl/177` (7.x).
fn warn_site(title: &str) -> Option<(&str, &str)> {
    if let Some(rest) = title.strip_prefix("CPU: ") {
        let (_, after) = rest.split_once(" at ")?;
        let mut w = after.split_whitespace();
        return Some((w.next()?, w.next()?));
    }
    let (place, after) = title.split_once(" at ")?;
    let is_site = place
        .rsplit_once(':')
        .is_some_and(|(file, line)| file.contains('.') && line.parse::<u32>().is_ok());
    is_site.then(|| (place, after.split([',', ' ']).next().unwrap_or(after)))
}

fn strip_timestamp(line: &str) -> &str {
    let t = line.trim_start();
    match t.strip_prefix('[').and_then(|r| r.split_once(']')) {
        Some((stamp, rest)) if stamp.trim().chars().all(|c| c.is_ascii_digit() || c == '.') => {
            rest.trim_start()
        }
        _ => t,
    }
}

/// Lock classes of a lockdep line: `(name){+.+.}-{0:0}` (names may hold spaces and
/// parentheses, e.g. `(work_completion)(&w->work)`, but not `){`).
fn lock_classes(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = line;
    while let Some(end) = rest.find("){") {
        let head = &rest[..end];
        if let Some(open) = head.find('(') {
            let name = &head[open + 1..];
            if !name.is_empty() {
                out.push(name.to_owned());
            }
        }
        rest = &rest[end + 2..];
    }
    out
}

/// `nf_invalidate+0x44/0x90 [notifier_fixture]` → ("nf_invalidate", "notifier_fixture").
fn module_frame(line: &str) -> Option<(&str, &str)> {
    let mut w = line.split_whitespace();
    let frame = w.next()?.trim_start_matches('?');
    let module = w.next()?.strip_prefix('[')?.strip_suffix(']')?;
    frame.contains("+0x").then(|| (function_of(frame), module))
}

/// The function of a frame (`name+0x1/0x2`), or the text itself.
fn function_of(frame: &str) -> &str {
    frame.split('+').next().unwrap_or(frame).trim()
}

/// What `notifier-top check --explain RULE --json` says lockdep sees of each rule.
#[derive(Default)]
struct RuleViews(HashMap<String, LockdepView>);

#[derive(Clone, Deserialize)]
#[serde(tag = "verdict", content = "why", rename_all = "kebab-case")]
enum LockdepView {
    Reports(serde::de::IgnoredAny),
    Blind(String),
}

#[derive(Deserialize)]
struct Explanation {
    lockdep: LockdepView,
}

impl RuleViews {
    fn of(&mut self, rule: &str) -> Result<LockdepView> {
        if let Some(v) = self.0.get(rule) {
            return Ok(v.clone());
        }
        let bin = paths::target_dir().join("release/notifier-top");
        let json = cmd::output(Command::new(&bin).args(["check", "--explain", rule, "--json"]))?;
        let e: Explanation = serde_json::from_str(&json)
            .with_context(|| format!("{} check --explain {rule} --json", bin.display()))?;
        self.0.insert(rule.to_owned(), e.lockdep.clone());
        Ok(e.lockdep)
    }
}

/// One line of the table.
struct Row {
    scenario: &'static str,
    lockdep: String,
    debug: String,
    production: String,
    verdict: String,
    ok: bool,
}

fn judge(s: &Scenario, debug: &Run, production: &Run, views: &mut RuleViews) -> Result<Row> {
    let lockdep: Vec<&Report> = debug
        .reports
        .iter()
        .filter(|r| r.kind == ReportKind::Lockdep)
        .collect();
    let crashes: Vec<String> = [debug, production]
        .iter()
        .flat_map(|r| r.reports.iter())
        .filter(|r| r.kind == ReportKind::Other)
        .map(|r| r.title.clone())
        .collect();
    let mut problems = Vec::new();
    if !crashes.is_empty() {
        problems.push(format!("kernel report: {}", crashes.join("; ")));
    }
    for (which, run) in [("debug", debug), ("production", production)] {
        if !run.status.starts_with("ran") {
            problems.push(format!("{which}: {}", run.status));
        }
    }
    let lockdep_functions: BTreeSet<&String> =
        lockdep.iter().flat_map(|r| &r.driver_functions).collect();
    for (which, run) in [("debug", debug), ("production", production)] {
        if let Some(code) = s.expect
            && !run.findings.iter().any(|f| f.code == code)
        {
            problems.push(format!("{which}: no {code}"));
        }
        for f in &run.findings {
            let view = views.of(&f.rule)?;
            let expected = s.expect == Some(f.code.as_str());
            match (&view, lockdep.is_empty()) {
                // Lockdep silent on a rule it would report: notifier-top's alone.
                (LockdepView::Reports(_), true) => {
                    problems.push(format!("{which}: {} where lockdep is silent", f.code))
                }
                (LockdepView::Reports(_), false) if expected => {
                    let named = f
                        .stack_frames
                        .iter()
                        .flatten()
                        .any(|fr| lockdep_functions.iter().any(|l| frame_names(fr, l)));
                    if !named {
                        problems.push(format!(
                            "{which}: {}'s stack names none of lockdep's driver functions",
                            f.code
                        ));
                    }
                }
                (LockdepView::Reports(_), false) if !expected => {
                    problems.push(format!("{which}: unexpected {}", f.code))
                }
                _ => {}
            }
            if s.expect.is_none() {
                problems.push(format!("{which}: {} on clean traffic", f.code));
            }
        }
    }
    if s.expect.is_none() && !lockdep.is_empty() {
        problems.push("lockdep reported on clean traffic".to_owned());
    }
    if let Some(code) = s.expect
        && let Some(f) = debug.findings.iter().find(|f| f.code == code)
    {
        let view = views.of(&f.rule)?;
        match (&view, lockdep.is_empty()) {
            (LockdepView::Reports(_), true) => {}
            (LockdepView::Blind(_), false) => problems.push(format!(
                "lockdep reported, but {code} is documented as invisible to it"
            )),
            _ => {}
        }
    }
    let verdict = if !problems.is_empty() {
        problems.join("; ")
    } else if !lockdep.is_empty() {
        "agree: same hazard, same driver function".to_owned()
    } else if let Some(code) = s.expect {
        match views.of(&rule_of(debug, code))? {
            LockdepView::Blind(why) => format!("beyond lockdep: {why}"),
            LockdepView::Reports(_) => unreachable!("a Reports rule without lockdep is a problem"),
        }
    } else {
        "both silent".to_owned()
    };
    let mut lockdep_cell: Vec<String> = debug
        .reports
        .iter()
        .filter(|r| r.kind != ReportKind::Other)
        .map(Report::summary)
        .collect();
    if lockdep_cell.is_empty() {
        lockdep_cell.push("nothing".to_owned());
    }
    Ok(Row {
        scenario: s.name,
        lockdep: lockdep_cell.join("; "),
        debug: findings_cell(debug, &lockdep_functions),
        production: findings_cell(production, &lockdep_functions),
        ok: problems.is_empty(),
        verdict,
    })
}

fn rule_of(run: &Run, code: &str) -> String {
    run.findings
        .iter()
        .find(|f| f.code == code)
        .map(|f| f.rule.clone())
        .unwrap_or_default()
}

/// Whether a notifier-top frame (`fn+0x1c [module]`) is the lockdep function `fn [module]`.
fn frame_names(frame: &str, lockdep: &str) -> bool {
    let Some((f, module)) = module_frame(frame) else {
        return false;
    };
    lockdep == format!("{f} [{module}]")
}

fn findings_cell(run: &Run, lockdep_functions: &BTreeSet<&String>) -> String {
    let mut codes: Vec<String> = Vec::new();
    for f in &run.findings {
        let shared: BTreeSet<&str> = f
            .stack_frames
            .iter()
            .flatten()
            .filter(|fr| lockdep_functions.iter().any(|l| frame_names(fr, l)))
            .map(|fr| function_of(fr))
            .collect();
        let cell = if shared.is_empty() {
            f.code.clone()
        } else {
            format!(
                "{} (stack: {})",
                f.code,
                shared.into_iter().collect::<Vec<_>>().join(", ")
            )
        };
        if !codes.contains(&cell) {
            codes.push(cell);
        }
    }
    if codes.is_empty() {
        "nothing".to_owned()
    } else {
        codes.join(", ")
    }
}

fn table(debug: &str, debug_rel: &str, production: &str, prod_rel: &str, rows: &[Row]) -> String {
    let mut s = format!(
        "| scenario | lockdep ({debug}, {debug_rel}) | notifier-top on {debug} | \
         notifier-top on {production} ({prod_rel}) | verdict |\n|---|---|---|---|---|\n"
    );
    for r in rows {
        s += &format!(
            "| {} | {} | {} | {} | {}{} |\n",
            r.scenario,
            r.lockdep.replace('|', "\\|"),
            r.debug,
            r.production,
            if r.ok { "" } else { "**DISAGREE** " },
            r.verdict.replace('|', "\\|")
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    const CIRCULAR: &str = "\
[   41.120001] ======================================================
[   41.120002] WARNING: possible circular locking dependency detected
[   41.120003] 7.3.4-nt-lockdep #1 Tainted: G           O
[   41.120004] ------------------------------------------------------
[   41.120005] nfctl/312 is trying to acquire lock:
[   41.120006] ffffffff8a4e1c40 (fs_reclaim){+.+.}-{0:0}, at: __kmalloc_cache_noprof+0x5d/0x3a0
[   41.120007] 
               but task is already holding lock:
[   41.120008] ffffffff8a4e2d00 (mmu_notifier_invalidate_range_start){+.+.}-{0:0}, at: __mmu_notifier_invalidate_range_start+0x1b/0x250
[   41.120009] Call Trace:
[   41.120010]  <TASK>
[   41.120011]  dump_stack_lvl+0x5b/0x80
[   41.120012]  nf_invalidate+0x9a/0x1e0 [notifier_fixture]
[   41.120013]  ? nf_invalidate+0x20/0x1e0 [notifier_fixture]
[   41.120014]  __mmu_notifier_invalidate_range_start+0x1b1/0x250
[   41.120015]  </TASK>
[   42.000000] WARNING: CPU: 1 PID: 320 at mm/mmu_notifier.c:305 mn_itree_invalidate+0x1a0/0x200
[   42.000001] Call Trace:
[   42.000002]  nf_ret_false+0x10/0x20 [notifier_fixture]
[   42.000003] ---[ end trace 0000000000000000 ]---
[   42.500000] WARNING: mm/mmu_notifier.c:488 at __mmu_notifier_invalidate_range_start+0x344/0x360, CPU#1: nfctl/177
[   42.500001]  </TASK>
[   43.000000] BUG: kernel NULL pointer dereference, address: 0000000000000008
";

    #[test]
    fn lockdep_reports_are_read_with_their_locks_and_driver_functions() {
        let r = reports(CIRCULAR);
        assert_eq!(r.len(), 4);
        assert_eq!(r[0].kind, ReportKind::Lockdep);
        assert_eq!(r[0].title, "possible circular locking dependency detected");
        assert_eq!(
            r[0].locks,
            ["fs_reclaim", "mmu_notifier_invalidate_range_start"]
        );
        assert_eq!(r[0].at.as_deref(), Some("__kmalloc_cache_noprof"));
        assert_eq!(
            r[0].driver_functions.iter().collect::<Vec<_>>(),
            ["nf_invalidate [notifier_fixture]"]
        );
        assert_eq!(r[1].kind, ReportKind::Warn);
        assert_eq!(r[1].title, "WARNING at mm/mmu_notifier.c:305");
        assert_eq!(r[1].at.as_deref(), Some("mn_itree_invalidate"));
        assert!(
            r[1].driver_functions
                .contains("nf_ret_false [notifier_fixture]")
        );
        assert_eq!(r[2].kind, ReportKind::Warn, "7.x's headline");
        assert_eq!(r[2].title, "WARNING at mm/mmu_notifier.c:488");
        assert_eq!(
            r[2].at.as_deref(),
            Some("__mmu_notifier_invalidate_range_start")
        );
        assert_eq!(r[3].kind, ReportKind::Other);
    }

    #[test]
    fn frames_match_by_function_and_module() {
        assert!(frame_names(
            "nf_invalidate+0x1c [notifier_fixture]",
            "nf_invalidate [notifier_fixture]"
        ));
        assert!(!frame_names(
            "nf_invalidate+0x1c [other]",
            "nf_invalidate [notifier_fixture]"
        ));
        assert!(!frame_names("kmalloc+0x1c", "kmalloc [notifier_fixture]"));
    }

    #[test]
    fn lock_class_names_may_hold_parentheses() {
        assert_eq!(
            lock_classes("ffff (work_completion)(&w->work){+.+.}-{0:0}, at: x"),
            ["work_completion)(&w->work"]
        );
    }
}
