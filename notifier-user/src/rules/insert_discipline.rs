//! Insert locking discipline (NT006).

use notifier_common::{Event, EventKind, Hazard, flags, mmap_lock};

use super::{Hit, Lockdep, Rule, RuleId, RuleInfo, Seen, Severity, hit};

pub const INFO: RuleInfo = RuleInfo {
    id: RuleId::InsertDiscipline,
    code: "NT006",
    name: "insert locking discipline",
    severity: Severity::Error,
    needs: &[],
    explain: "mmu_interval_notifier_insert() may take mmap_lock for write (to register the \
        mm's notifier state), so calling it with mmap_lock held deadlocks on a first insert; \
        mmu_interval_notifier_insert_locked() requires mmap_lock held for write, checked only by \
        lockdep. Inserting on an mm without users (mm_users == 0, a process that is exiting) fails \
        with -EINVAL after a WARN.",
    fix: "Use the variant that matches the lock held, and take an mm reference with \
        mmget_not_zero() before inserting.",
    lockdep: Lockdep::Reports(
        "possible recursive locking of mmap_lock (insert with it held); insert_locked without it fails lockdep's rwsem assertion",
    ),
};

/// insert vs insert_locked against the mmap_lock actually held; inserts on dying mms; as
/// the probes report them (with the caller's stack).
pub struct InsertDiscipline;

impl Rule for InsertDiscipline {
    fn info(&self) -> &'static RuleInfo {
        &INFO
    }

    fn observe(&mut self, ev: &Event, _seen: &Seen, out: &mut Vec<Hit>) {
        if ev.kind() != Some(EventKind::Hazard) || ev.event != Hazard::InsertLocking as u8 {
            return;
        }
        let detail = match (ev.flags & flags::LOCKED != 0, ev.mmap_lock) {
            (false, mmap_lock::WRITE_HELD) => {
                "mmu_interval_notifier_insert called with mmap_lock held for write"
            }
            (true, mmap_lock::NOT_WRITE_HELD) => {
                "mmu_interval_notifier_insert_locked called without mmap_lock held for write"
            }
            _ => "insert on an mm with no users (mm_users == 0): -EINVAL",
        };
        out.push(hit(self.id(), ev.sub, ev.seq, detail.into()));
    }
}
