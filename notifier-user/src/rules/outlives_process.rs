//! Intervals that outlive their process (NT010).

use std::collections::HashMap;

use notifier_common::{Event, EventKind, NO_STACK};

use super::{Hit, Lockdep, Rule, RuleId, RuleInfo, Seen, Severity, Thresholds};
use crate::stream::Hook;

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

/// Intervals still registered `grace` after their mm's exit_mmap.
pub struct OutlivesProcess {
    grace: u64,
    /// mm -> (release time, tgid, comm)
    released: HashMap<u64, (u64, u32, String)>,
}

impl OutlivesProcess {
    pub fn new(t: &Thresholds) -> Self {
        OutlivesProcess {
            grace: t.outlive_grace_ns,
            released: HashMap::new(),
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
                    (
                        ev.ts_ns,
                        ev.tgid(),
                        String::from_utf8_lossy(ev.comm_bytes()).into_owned(),
                    ),
                );
            }
            Some(EventKind::MmDestroy) => {
                self.released.remove(&ev.mm);
            }
            _ => {}
        }
    }

    fn tick(&mut self, now: u64, final_tick: bool, seen: &Seen, out: &mut Vec<Hit>) {
        let grace = self.grace;
        self.released.retain(|mm, (at, tgid, comm)| {
            if !seen.per_mm.contains_key(mm) {
                return false;
            }
            let overdue = now.saturating_sub(*at) >= grace;
            if !overdue && !final_tick {
                return true;
            }
            if overdue {
                let left = seen
                    .subs
                    .iter()
                    .filter(|(_, k)| k.mm == *mm)
                    .map(|(s, _)| *s);
                for sub in left {
                    out.push(Hit {
                        rule: RuleId::OutlivesProcess,
                        sub,
                        stack: NO_STACK,
                        detail: format!(
                            "still registered {:.1} s after the process's exit_mmap",
                            now.saturating_sub(*at) as f64 / 1e9
                        ),
                        process: Some((*tgid, comm.clone())),
                    });
                }
            }
            false
        });
    }
}
