//! Insert locking discipline (NT006).

use notifier_common::{Event, EventKind, NO_STACK, errno, flags, mmap_lock};

use super::{Hit, Rule, RuleId, RuleInfo, Seen, Severity, hit};

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
};

/// insert vs insert_locked against the mmap_lock actually held; inserts on dying mms.
pub struct InsertDiscipline;

impl Rule for InsertDiscipline {
    fn info(&self) -> &'static RuleInfo {
        &INFO
    }

    fn observe(&mut self, ev: &Event, _seen: &Seen, out: &mut Vec<Hit>) {
        if ev.kind() != Some(EventKind::Insert) {
            return;
        }
        let locked = ev.flags & flags::LOCKED != 0;
        let detail = match (locked, ev.mmap_lock) {
            (false, mmap_lock::WRITE_HELD) => {
                "mmu_interval_notifier_insert called with mmap_lock held for write"
            }
            (true, mmap_lock::NOT_WRITE_HELD) => {
                "mmu_interval_notifier_insert_locked called without mmap_lock held for write"
            }
            _ if ev.ret == errno::EINVAL => {
                "insert on an mm with no users (mm_users == 0): -EINVAL"
            }
            _ => return,
        };
        out.push(hit(self.id(), ev.sub, NO_STACK, detail.into()));
    }
}
