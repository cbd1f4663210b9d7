//! Intervals that outlive their process (NT010).

use std::collections::{HashMap, HashSet};

use notifier_common::{Event, EventKind, NO_STACK};

use super::{Hit, Lockdep, Rule, RuleId, RuleInfo, Seen, Severity, Thresholds};
use crate::{mirror::shows_mm_exited, stream::Hook};

pub const INFO: RuleInfo = RuleInfo {
    id: RuleId::OutlivesProcess,
    code: "NT010",
    name: "intervals that outlive their process",
    severity: Severity::Warning,
    needs: &[Hook::Lifecycle],
    explain: "After exit_mmap every interval of the mm got a RELEASE callback; drivers \
        then remove their notifiers when their file descriptors close, a few milliseconds later. \
        Intervals still registered long after the process is gone pin the mm_struct (mmgrab) and \
        usually mean a leaked device object.",
    fix: "Remove the notifier in the driver's release path, or on the RELEASE callback via \
        a worker.",
    lockdep: Lockdep::Blind("a lifetime: intervals outliving their process take no lock"),
};

/// Intervals still registered `grace` after their mm's exit_mmap, or after a walk first
/// found the mm without users (its process exited before the capture began).
pub struct OutlivesProcess {
    grace: u64,
    /// mm -> when it was seen exited, and by whom.
    released: HashMap<u64, Exited>,
    /// Mms already reported: an audit's walk finds them without users again.
    reported: HashSet<u64>,
}

struct Exited {
    at: u64,
    /// Known from its release; a walk of an mm without users knows no process.
    process: Option<(u32, String)>,
}

impl OutlivesProcess {
    pub fn new(t: &Thresholds) -> Self {
        OutlivesProcess {
            grace: t.outlive_grace_ns,
            released: HashMap::new(),
            reported: HashSet::new(),
        }
    }
}

impl Rule for OutlivesProcess {
    fn info(&self) -> &'static RuleInfo {
        &INFO
    }

    fn observe(&mut self, ev: &Event, _seen: &Seen, _out: &mut Vec<Hit>) {
        match ev.kind() {
            Some(EventKind::MmRelease) => {
                self.released.insert(
                    ev.mm,
                    Exited {
                        at: ev.ts_ns,
                        process: Some((
                            ev.tgid(),
                            String::from_utf8_lossy(ev.comm_bytes()).into_owned(),
                        )),
                    },
                );
            }
            Some(EventKind::MmWalked) if shows_mm_exited(ev) && !self.reported.contains(&ev.mm) => {
                self.released.entry(ev.mm).or_insert(Exited {
                    at: ev.ts_ns,
                    process: None,
                });
            }
            Some(EventKind::MmDestroy) => {
                self.released.remove(&ev.mm);
                self.reported.remove(&ev.mm);
            }
            _ => {}
        }
    }

    fn tick(&mut self, now: u64, final_tick: bool, seen: &Seen, out: &mut Vec<Hit>) {
        let grace = self.grace;
        let reported = &mut self.reported;
        self.released.retain(|mm, exited| {
            if !seen.per_mm.contains_key(mm) {
                return false;
            }
            let since = now.saturating_sub(exited.at);
            let overdue = since >= grace;
            if !overdue && !final_tick {
                return true;
            }
            if overdue {
                reported.insert(*mm);
                let left = seen
                    .subs
                    .iter()
                    .filter(|(_, k)| k.mm == *mm)
                    .map(|(s, _)| *s);
                let detail = match exited.process {
                    Some(_) => format!(
                        "still registered {:.1} s after the process's exit_mmap",
                        since as f64 / 1e9
                    ),
                    None => format!(
                        "still registered {:.1} s after notifier-top found the address space \
                         without users (its process exited before notifier-top started)",
                        since as f64 / 1e9
                    ),
                };
                for sub in left {
                    out.push(Hit {
                        rule: RuleId::OutlivesProcess,
                        sub,
                        stack: NO_STACK,
                        detail: detail.clone(),
                        process: exited.process.clone(),
                    });
                }
            }
            false
        });
    }
}
